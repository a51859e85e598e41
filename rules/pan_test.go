package rules

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// luhnComplete appends the Luhn check digit to digits, so that tests can build valid PANs
// of any length.
func luhnComplete(digits string) string {
	sum := 0
	double := true // the check digit will be last, so the digit before it is doubled
	for i := len(digits) - 1; i >= 0; i-- {
		d := int(digits[i] - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return digits + string(rune('0'+(10-sum%10)%10))
}

// luhnValid is an independent Luhn check over the digits of s, for assertions.
func luhnValid(s string) bool {
	sum, double := 0, false
	for i := len(s) - 1; i >= 0; i-- {
		d := int(s[i] - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

// onlyDigits drops everything but ASCII digits.
func onlyDigits(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
}

// luhnRunIn returns a Luhn-valid window of 13 to 19 consecutive digits in b, looking at
// every maximal run of ASCII digits (no separators), or "" when there is none. It is a
// brute-force oracle, independent of FindPANs.
func luhnRunIn(b []byte) string {
	for i := 0; i < len(b); {
		if b[i] < '0' || b[i] > '9' {
			i++
			continue
		}
		j := i
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		run := string(b[i:j])
		for s := 0; s < len(run); s++ {
			for l := panMinDigits; l <= panMaxDigits && s+l <= len(run); l++ {
				if luhnValid(run[s : s+l]) {
					return run[s : s+l]
				}
			}
		}
		i = j
	}
	return ""
}

func TestLuhnHelper(t *testing.T) {
	// The helper must agree with well-known test numbers, or the tests below prove nothing.
	for _, pan := range []string{"4111111111111111", "378282246310005", "4222222222222", "6011111111111117", "5555555555554444"} {
		if got := luhnComplete(pan[:len(pan)-1]); got != pan {
			t.Errorf("luhnComplete(%s) = %s, want %s", pan[:len(pan)-1], got, pan)
		}
		if !luhnValid(pan) {
			t.Errorf("luhnValid(%s) = false", pan)
		}
	}
	if luhnValid("4111111111111112") {
		t.Error("luhnValid(4111111111111112) = true")
	}
}

var pan19 = luhnComplete("621700000000000000") // a 19-digit UnionPay-style number

func TestFindPANsFinds(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  []string // the text of each range found
	}{
		{"16 digits Visa", "4111111111111111", []string{"4111111111111111"}},
		{"15 digits Amex", "378282246310005", []string{"378282246310005"}},
		{"13 digits Visa", "4222222222222", []string{"4222222222222"}},
		{"16 digits Discover", "6011111111111117", []string{"6011111111111117"}},
		{"19 digits", pan19, []string{pan19}},
		{"grouped by spaces", "4111 1111 1111 1111", []string{"4111 1111 1111 1111"}},
		{"grouped by dashes", "4111-1111-1111-1111", []string{"4111-1111-1111-1111"}},
		{"grouped by dots", "4111.1111.1111.1111", []string{"4111.1111.1111.1111"}},
		{"grouped by tabs", "4111\t1111\t1111\t1111", []string{"4111\t1111\t1111\t1111"}},
		{"grouped by line feeds", "4111\n1111\n1111\n1111", []string{"4111\n1111\n1111\n1111"}},
		{"grouped by carriage returns", "4111\r1111\r1111\r1111", []string{"4111\r1111\r1111\r1111"}},
		{"grouped by vertical tabs", "4111\v1111\v1111\v1111", []string{"4111\v1111\v1111\v1111"}},
		{"grouped by form feeds", "4111\f1111\f1111\f1111", []string{"4111\f1111\f1111\f1111"}},
		{"grouped by slashes", "4111/1111/1111/1111", []string{"4111/1111/1111/1111"}},
		{"grouped by underscores", "4111_1111_1111_1111", []string{"4111_1111_1111_1111"}},
		{"grouped by colons", "4111:1111:1111:1111", []string{"4111:1111:1111:1111"}},
		{"mixed separators", "4111\t1111/1111_1111", []string{"4111\t1111/1111_1111"}},
		{"first group in parentheses", "(4111) 1111 1111 1111", []string{"4111) 1111 1111 1111"}},
		{"a middle group in parentheses", "4111 (1111) 1111 1111", []string{"4111 (1111) 1111 1111"}},
		{"every group in parentheses", "(4111)(1111)-(1111) (1111)", []string{"4111)(1111)-(1111) (1111"}},
		{"in full-width parentheses and colons", "\uff084111\uff09\uff1a1111\uff1a1111\uff1a1111", []string{"4111\uff09\uff1a1111\uff1a1111\uff1a1111"}},
		{"in a subject, grouped by underscores", "cardwatch.txn.acme.4111_1111_1111_1111", []string{"4111_1111_1111_1111"}},
		{"in a subject, with a word before", "cardwatch.txn.acme.card_4111_1111_1111_1111", []string{"4111_1111_1111_1111"}},
		{"on lines of a note", "card:\n4111\n1111\n1111\n1111\nexp 11/28", []string{"4111\n1111\n1111\n1111"}},
		{"after a ten-digit group", "1234567890 4111 1111 1111 1111", []string{"4111 1111 1111 1111"}},
		{"grouped by no-break spaces", "4111\u00a01111\u00a01111\u00a01111", []string{"4111\u00a01111\u00a01111\u00a01111"}},
		{"full-width digits", "\uff14\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11", []string{"\uff14\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11"}},
		{"after a full-width letter", "\uff41 4111111111111111", []string{"4111111111111111"}},
		{"Amex grouping", "3782 822463 10005", []string{"3782 822463 10005"}},
		{"in a sentence", "card 4111 1111 1111 1111 declined", []string{"4111 1111 1111 1111"}},
		{"in a JSON string", `{"note":"4111111111111111"}`, []string{"4111111111111111"}},
		{"as a JSON number", `{"note":4111111111111111}`, []string{"4111111111111111"}},
		{"as a card token", `{"card":{"token":"4111111111111111"}}`, []string{"4111111111111111"}},
		{"two PANs", "4111111111111111 and 378282246310005", []string{"4111111111111111", "378282246310005"}},
		{"after a letter", "x4111111111111111", []string{"4111111111111111"}},
		{"before a letter", "4111111111111111x", []string{"4111111111111111"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := []byte(tt.input)
			var got []string
			for _, r := range FindPANs(b) {
				got = append(got, string(b[r[0]:r[1]]))
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("FindPANs(%q) found %q, want %q", tt.input, got, tt.want)
			}
		})
	}
}

func TestFindPANsIgnores(t *testing.T) {
	tests := []struct {
		name  string
		input string
	}{
		// 4111111111111112 fails Luhn, but its last 13 digits pass: a 16-digit number is
		// one number, not three candidates.
		{"Luhn-invalid 16 digits", "4111111111111112"},
		{"Luhn-invalid grouped", "4111 1111 1111 1112"},
		{"Luhn-invalid 15-digit merchant id", "490000123456782"}, // 0000123456782 passes
		{"date", "2026-11-24"},
		{"timestamp", "2026-11-24T18:22:05Z"},
		{"contract event id", "9c1e5f0a-7d8b-4c1e-9a51-2f1d3e4b5a60"},
		{"RFC 4122 example UUID", "123e4567-e89b-12d3-a456-426614174000"},
		{"amount", "1342.10"},
		{"large amount", "1234567890.12"},
		{"12 digits", "123456789012"},
		{"12 digits Luhn-valid", luhnComplete("12345678901")},
		{"phone number", "+15551230001"},
		{"groups apart by two spaces", "4111  1111  1111  1111"},
		{"trailing separator", "4111-1111-1111-111-"},
		{"groups apart by a comma", "4111,1111,1111,1111"}, // a JSON list of codes
		{"groups apart by a comma and a space", "[5732, 5411, 5812, 5999]"},
		{"groups apart by a tab and a space", "4111\t 1111\t 1111\t 1111"},
		{"groups apart by a line feed and indentation", "[\n  5732,\n  5411,\n  5812,\n  5999\n]"},
		{"time", "18:22:05"},
		{"time with fraction", "18:22:05.123456"},
		{"timestamp with fraction", "2026-11-24T18:22:05.123456789+01:00"},
		{"date with slashes", "2026/11/24"},
		{"date and time", "24/11/2026 18:22:05"},
		{"dates on lines", "2026/11/24\n2026/11/25\n2026/11/26"},
		{"IPv4 with a port", "192.168.100.200:8080"}, // 192168100200 8080 is Luhn-valid
		{"IPv4 with a port, 13 digits", "10.100.200.200:4567"},
		{"IPv4 with a port in a URL", "http://192.168.100.200:8080/pay"},
		{"IPv6", "2001:4860:4860:0000:0000:0000:0000:8888"},
		{"IPv6 in brackets with a port", "[2001:0db8:0000:0000:0000:0000:1428:5700]:443"},
		{"IPv6 compressed", "2001:db8::1008:5678:9012:3456"},
		{"IPv6 at the end of a sentence", "from 2001:4860:4860:0000:0000:0000:0000:8888."},
		{"amount with a thousands comma", "1,342.10"},
		{"version", "10.4.1226"},
		{"phone number in parentheses", "+1 (555) 123-4567"},
		{"a parenthesis not closed", "(4111 1111 1111 111"},
		{"full-width Luhn-invalid", "\uff14\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff12"},
		{"full-width 20 digits", "\uff14\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff10\uff10\uff10\uff10"},
		{"empty", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := FindPANs([]byte(tt.input)); len(got) != 0 {
				t.Errorf("FindPANs(%q) = %v, want nothing", tt.input, got)
			}
		})
	}
}

// TestFindPANsIgnoresRandomUUIDs uses version 4 UUIDs (the kind of event id the contract
// shows) whose digit groups, joined by their dashes, make a Luhn-valid 13 to 19 digits.
// Each would send a good event to the DLQ as "carries a card number": about one random
// UUID in 135 with windows checked, one in 1,350 with card-like groups only.
func TestFindPANsIgnoresRandomUUIDs(t *testing.T) {
	for _, id := range []string{
		"26443705-7022-498a-b453-504fe809259e", // 8+4+3 digits across two dashes
		"1a7c2507-a634-4694-8174-51349b62a365", // 3+4+4+5 digits, grouped like a card number
		"6ba7b810-9dad-11d1-80b4-00c04fd430c8", // not hit: control
	} {
		t.Run(id, func(t *testing.T) {
			if got := FindPANs([]byte(id)); len(got) != 0 {
				t.Errorf("FindPANs(%q) = %v: a UUID is taken for a card number", id, got)
			}
			if masked, _ := MaskPANs([]byte(id)); string(masked) != id {
				t.Errorf("MaskPANs(%q) = %q, want it unchanged", id, masked)
			}
			// In an event that is not all ASCII (an accented name), read rune by rune.
			if s := "Café " + id + " 192.168.100.200:8080"; len(FindPANs([]byte(s))) != 0 {
				t.Errorf("FindPANs(%q) = %v: a UUID or an IP address is taken for a card number", s, FindPANs([]byte(s)))
			}
		})
	}
}

// TestFindPANsGluedInLongerRun: a PAN with other digits stuck to it is still a PAN. (The
// windowed search this needs also finds a "PAN" in most long numeric references: a
// 23-digit acquirer reference number holds a Luhn-valid 13-19 digit window nine times in
// ten. Whether cardwatch looks inside longer runs is a product decision; these cases pin
// the one that says it must.)
// A run of more than 19 digits is not a card number, however it is cut: a 23-digit
// acquirer reference number holds a "Luhn-valid" 13-19 digit window nine times in ten,
// and refusing those events would lose alerts. Separated digits are another matter.
func TestFindPANsLeavesLongRunsWhole(t *testing.T) {
	for _, s := range []string{"41111111111111110000", "13574111111111111111", "123441111111111111115678", "74987654321098765432109"} {
		if hits := FindPANs([]byte(s)); len(hits) != 0 {
			t.Errorf("FindPANs(%q) = %v, want none: a run of %d digits is not a PAN", s, hits, len(s))
		}
	}
}

func TestFindPANsNextToOtherNumbers(t *testing.T) {
	const pan = "4111111111111111"
	for _, tt := range []struct{ name, before, pan, after string }{
		{"after a number and a space", "20261124 ", pan, ""},
		{"a year after a space", "", pan, " 2026"},
		{"grouped, a year after a slash", "", "4111 1111 1111 1111", "/2026"},
		// More groups in a row than the screen holds at once: the PAN at their end
		// must still be seen whole.
		{"grouped, after eight groups", "100 100 100 100 100 100 100 100 ", "4111 1111 1111 1111", ""},
		{"grouped by tabs, after ten groups", "1000\t1000\t1000\t1000\t1000\t1000\t1000\t1000\t1000\t1000\t", "4111\t1111\t1111\t1111", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.before + tt.pan + tt.after
			hits := FindPANs([]byte(s))
			start, end := len(tt.before), len(s)-len(tt.after)
			overlaps := false
			for _, h := range hits {
				overlaps = overlaps || h[0] < end && h[1] > start
				d := onlyDigits(s[h[0]:h[1]])
				if len(d) < panMinDigits || len(d) > panMaxDigits || !luhnValid(d) {
					t.Errorf("range %v = %q is not a 13-19 digit Luhn-valid number", h, d)
				}
			}
			if !overlaps {
				t.Errorf("FindPANs(%q) = %v, none covers the PAN at [%d, %d)", s, hits, start, end)
			}
		})
	}
}

func TestMaskPANs(t *testing.T) {
	tests := []struct {
		name   string
		input  string
		masked string
		pans   []string
	}{
		{"16 digits", "4111111111111111", "411111******1111", []string{"411111******1111"}},
		{"15 digits", "378282246310005", "378282*****0005", []string{"378282*****0005"}},
		{"13 digits", "4222222222222", "422222***2222", []string{"422222***2222"}},
		{"19 digits", pan19, pan19[:6] + "*********" + pan19[15:], []string{pan19[:6] + "*********" + pan19[15:]}},
		{"spaces kept", "4111 1111 1111 1111", "4111 11** **** 1111", []string{"4111 11** **** 1111"}},
		{"dashes kept", "4111-1111-1111-1111", "4111-11**-****-1111", []string{"4111-11**-****-1111"}},
		{"underscores kept", "4111_1111_1111_1111", "4111_11**_****_1111", []string{"4111_11**_****_1111"}},
		// The DLQ reason is one line, without the parentheses.
		{"tabs kept, reported as spaces", "4111\t1111\t1111\t1111", "4111\t11**\t****\t1111", []string{"4111 11** **** 1111"}},
		{"parentheses kept, not reported", "(4111) 1111 1111 1111", "(4111) 11** **** 1111", []string{"4111 11** **** 1111"}},
		{"inside JSON", `{"id":"e1","note":"card 4111111111111111 ok","n":378282246310005}`,
			`{"id":"e1","note":"card 411111******1111 ok","n":378282*****0005}`,
			[]string{"411111******1111", "378282*****0005"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := []byte(tt.input)
			masked, pans := MaskPANs(in)
			if string(masked) != tt.masked {
				t.Errorf("masked = %q, want %q", masked, tt.masked)
			}
			if strings.Join(pans, "|") != strings.Join(tt.pans, "|") {
				t.Errorf("pans = %q, want %q", pans, tt.pans)
			}
			if string(in) != tt.input {
				t.Errorf("MaskPANs changed its input to %q", in)
			}
			if len(masked) != len(in) {
				t.Errorf("masked length %d, want %d", len(masked), len(in))
			}
			if run := luhnRunIn(masked); run != "" {
				t.Errorf("masked output %q still holds the Luhn-valid run %s", masked, run)
			}
			if got := FindPANs(masked); len(got) != 0 {
				t.Errorf("FindPANs finds %v in the masked output %q", got, masked)
			}
		})
	}
}

func TestMaskPANsNothingToMask(t *testing.T) {
	data, err := os.ReadFile("testdata/event.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range [][]byte{data, []byte("123456789012"), []byte("no digits"), {}} {
		masked, pans := MaskPANs(in)
		if pans != nil {
			t.Errorf("MaskPANs(%q) pans = %q, want nil", in, pans)
		}
		// The very same slice, not a copy: the hot path must not allocate.
		if len(in) > 0 && &masked[0] != &in[0] {
			t.Errorf("MaskPANs(%q) returned a copy, want the input slice itself", in)
		}
		if !bytes.Equal(masked, in) {
			t.Errorf("MaskPANs(%q) = %q", in, masked)
		}
	}
}

func TestMaskPAN(t *testing.T) {
	tests := []struct{ in, want string }{
		{"4111111111111111", "411111******1111"},
		{"4111 1111 1111 1111", "4111 11** **** 1111"},
		{"4222222222222", "422222***2222"},
		// Never more than first six and last four, whatever the length.
		{"1234567890", "1234567890"},
		{"12345678901", "123456*8901"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := string(MaskPAN([]byte(tt.in))); got != tt.want {
				t.Errorf("MaskPAN(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
