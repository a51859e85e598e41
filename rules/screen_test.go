package rules

import (
	"bytes"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// screenPAN is a Luhn-valid card number whose middle digits are not found elsewhere in
// the example event, so that a test can tell they are gone.
var screenPAN = luhnComplete("453914880343646")

// escapeDigits writes every digit of s as a JSON \u escape.
func escapeDigits(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteString(`\u003` + string(r))
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// mapDigits writes every ASCII digit of s as the digit of the same value that zero
// starts at in another script.
func mapDigits(s string, zero rune) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return zero + r - '0'
		}
		return r
	}, s)
}

// grouped writes pan in groups of four joined by sep.
func grouped(pan, sep string) string {
	var parts []string
	for i := 0; i < len(pan); i += 4 {
		parts = append(parts, pan[i:min(i+4, len(pan))])
	}
	return strings.Join(parts, sep)
}

// joinEach puts sep between every two digits.
func joinEach(pan, sep string) string { return strings.Join(strings.Split(pan, ""), sep) }

// hiddenForms are the ways of writing screenPAN that a scan of the raw bytes for ASCII
// digits misses, each as it appears inside a JSON string (escapes are JSON's), and
// whether the payload can keep it masked in place.
var hiddenForms = []struct {
	name    string
	text    string
	inPlace bool
	sep     string // the ASCII separator the masked number is reported with
}{
	{"JSON escapes", escapeDigits(screenPAN), false, ""},
	{"one digit escaped", screenPAN[:8] + `\u003` + screenPAN[8:9] + screenPAN[9:], false, ""},
	{"escaped full-width digits", strings.ReplaceAll(escapeDigits(screenPAN), `\u003`, `\uff1`), false, ""},
	{"escaped no-break spaces", grouped(screenPAN, `\u00a0`), false, " "},
	{"no-break spaces", grouped(screenPAN, "\u00a0"), true, " "},
	{"narrow no-break spaces", grouped(screenPAN, "\u202f"), true, " "},
	{"figure spaces", grouped(screenPAN, "\u2007"), true, " "},
	{"ideographic spaces", grouped(screenPAN, "\u3000"), true, " "},
	{"dots", grouped(screenPAN, "."), true, "."},
	{"escaped tabs", grouped(screenPAN, `\t`), false, " "},
	{"escaped line feeds", grouped(screenPAN, `\n`), false, " "},
	{"escaped carriage returns", grouped(screenPAN, `\r`), false, " "},
	{"escaped form feeds", grouped(screenPAN, `\f`), false, " "},
	{"escaped vertical tabs", grouped(screenPAN, `\u000b`), false, " "},
	{"escaped slashes", grouped(screenPAN, `\/`), false, "/"},
	{"next lines", grouped(screenPAN, "\u0085"), true, " "},
	{"slashes", grouped(screenPAN, "/"), true, "/"},
	{"underscores", grouped(screenPAN, "_"), true, "_"},
	{"colons", grouped(screenPAN, ":"), true, ":"},
	{"full-width solidi", grouped(screenPAN, "\uff0f"), true, "/"},
	{"full-width colons", grouped(screenPAN, "\uff1a"), true, ":"},
	{"full-width low lines", grouped(screenPAN, "\uff3f"), true, "_"},
	{"first group in parentheses", "(" + screenPAN[:4] + ") " + grouped(screenPAN[4:], " "), true, " "},
	{"every group in parentheses", "(" + grouped(screenPAN, ")-(") + ")", true, "-"},
	{"full-width parentheses", "\uff08" + screenPAN[:4] + "\uff09\u3000" + grouped(screenPAN[4:], "\u3000"), true, " "},
	{"middle dots", grouped(screenPAN, "\u00b7"), true, "."},
	{"en dashes", grouped(screenPAN, "\u2013"), true, "-"},
	{"non-breaking hyphens", grouped(screenPAN, "\u2011"), true, "-"},
	{"minus signs", grouped(screenPAN, "\u2212"), true, "-"},
	{"full-width hyphens", grouped(screenPAN, "\uff0d"), true, "-"},
	{"zero-width spaces between groups", grouped(screenPAN, "\u200b"), true, ""},
	{"zero-width space between every digit", joinEach(screenPAN, "\u200b"), true, ""},
	{"soft hyphens", grouped(screenPAN, "\u00ad"), true, ""},
	{"full-width digits", mapDigits(screenPAN, '\uff10'), true, ""},
	{"full-width, grouped by ideographic spaces", mapDigits(grouped(screenPAN, "\u3000"), '\uff10'), true, " "},
	{"Arabic-Indic digits", mapDigits(screenPAN, '\u0660'), true, ""},
	{"Devanagari digits", mapDigits(screenPAN, '\u0966'), true, ""},
	{"mathematical bold digits", mapDigits(screenPAN, '\U0001d7ce'), true, ""},
	{"superscript digits", superscript(screenPAN), true, ""},
	{"mixed scripts", screenPAN[:4] + mapDigits(screenPAN[4:5], '\uff10') + mapDigits(screenPAN[5:6], '\u0660') + mapDigits(screenPAN[6:7], '\u0966') + screenPAN[7:], true, ""},
}

// TestScreenEventFindsHiddenPANs puts each hidden form of a card number in a field
// DecodeTransaction skips, in a field it reads, and in a member name: the screen must
// refuse each, and keep no readable number in what it returns.
func TestScreenEventFindsHiddenPANs(t *testing.T) {
	ev := string(exampleEvent(t))
	for _, f := range hiddenForms {
		for _, place := range []struct{ name, event string }{
			{"skipped field", strings.Replace(ev, `"status"`, `"note": "card `+f.text+`", "status"`, 1)},
			{"merchant name", strings.Replace(ev, `"ACME ELECTRONICS"`, `"SHOP `+f.text+`"`, 1)},
			{"member name", strings.Replace(ev, `"status"`, `"`+f.text+`": true, "status"`, 1)},
			{"nested skipped field", strings.Replace(ev, `"status"`, `"extra": [{"x": ["`+f.text+`"]}], "status"`, 1)},
		} {
			t.Run(f.name+"/"+place.name, func(t *testing.T) {
				data := []byte(place.event)
				masked, pans := ScreenEvent(data)
				want := string(MaskPAN([]byte(screenPAN)))
				if f.sep != "" {
					want = string(MaskPAN([]byte(grouped(screenPAN, f.sep))))
				}
				if len(pans) != 1 || pans[0] != want {
					t.Fatalf("pans %q, want [%q]", pans, want)
				}
				if f.inPlace != (masked != nil) {
					t.Fatalf("masked in place: %v, want %v", masked != nil, f.inPlace)
				}
				if masked == nil {
					return
				}
				if again, p := ScreenEvent(masked); p != nil || !bytes.Equal(again, masked) {
					t.Fatalf("the masked payload still carries %q: %s", p, masked)
				}
				if !utf8.Valid(masked) {
					t.Fatalf("masking broke UTF-8: %q", masked)
				}
				if d := readableDigits(masked); strings.Contains(d, screenPAN[6:12]) {
					t.Fatalf("the masked payload shows the middle digits: %s", masked)
				}
			})
		}
	}
}

// superscript writes the digits of s as superscripts, which NFKC reads as digits.
func superscript(s string) string {
	sup := []rune("\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079")
	return strings.Map(func(r rune) rune { return sup[r-'0'] }, s)
}

// readableDigits is the digits of s as a reader sees them, everything else dropped.
func readableDigits(b []byte) string {
	var out []byte
	for _, c := range readView(norm.NFKC.Bytes(b)).text {
		if isDigit(c) {
			out = append(out, c)
		}
	}
	return string(out)
}

func TestScreenEventFindsNumbersWithAnExponent(t *testing.T) {
	ev := string(exampleEvent(t))
	p := screenPAN
	for _, n := range []string{p[:1] + "." + p[1:] + "e15", p + "E0", p + "0e-1", "0." + p + "e+16", "-" + p[:1] + "." + p[1:] + "e15", p[:1] + "." + p[1:] + "5e15", p[:15] + "7e0"} {
		t.Run(n, func(t *testing.T) {
			data := []byte(strings.Replace(ev, `"status"`, `"n": `+n+`, "status"`, 1))
			_, pans := ScreenEvent(data)
			if len(pans) != 1 || pans[0] != string(MaskPAN([]byte(p))) {
				t.Fatalf("pans %q, want one, masked", pans)
			}
		})
	}
}

// TestScreenEventPastTheJSON: what follows a syntax error is kept in the DLQ as it came,
// so its escapes are read too.
func TestScreenEventPastTheJSON(t *testing.T) {
	for _, s := range []string{
		`{"a":1,,"b":"` + escapeDigits(screenPAN) + `"}`,
		`{"a":"` + escapeDigits(screenPAN) + `\x"}`,
		`{"a":"` + escapeDigits(screenPAN),
	} {
		masked, pans := ScreenEvent([]byte(s))
		if masked != nil || len(pans) != 1 || pans[0] != string(MaskPAN([]byte(screenPAN))) {
			t.Errorf("ScreenEvent(%s) = %q, %q; want no payload and the masked number", s, masked, pans)
		}
	}
}

// TestScreenEventCountsANumberOnce: a number the bytes show is masked in place, even in
// a string with escapes, and the payload is kept.
func TestScreenEventCountsANumberOnce(t *testing.T) {
	data := []byte(`{"note":"card ` + screenPAN + `\n\u00e9","n":` + screenPAN + `e0}`)
	masked, pans := ScreenEvent(data)
	if masked == nil || len(pans) != 2 {
		t.Fatalf("masked %q, pans %q; want the payload masked, two numbers", masked, pans)
	}
	m := string(MaskPAN([]byte(screenPAN)))
	if want := `{"note":"card ` + m + `\n\u00e9","n":` + m + `e0}`; string(masked) != want {
		t.Errorf("masked %s, want %s", masked, want)
	}
}

// TestScreenEventLeavesNormalEvents: the screen must not refuse everyday events, with
// names in any script, numbers with exponents, escapes and UUIDs.
func TestScreenEventLeavesNormalEvents(t *testing.T) {
	ev := string(exampleEvent(t))
	for _, tt := range []struct{ name, event string }{
		{"the example", ev},
		{"accented names", strings.Replace(ev, `"ACME ELECTRONICS"`, `"Café Zürich – Bäckerei № 12"`, 1)},
		{"escaped accents", strings.Replace(ev, `"ACME ELECTRONICS"`, `"Caf\u00e9 \"Z\u00fcrich\" \\ 12\/24"`, 1)},
		{"Japanese name and full-width number", strings.Replace(ev, `"ACME ELECTRONICS"`, `"東京都　店舗１２３４"`, 1)},
		{"Arabic-Indic amount", strings.Replace(ev, `"status"`, `"note": "١٢٣٤٫٥٠", "status"`, 1)},
		{"no-break spaces in an amount", strings.Replace(ev, `"status"`, `"note": "1\u00a0342,10\u00a0€", "status"`, 1)},
		{"coordinates with exponents", strings.Replace(ev, `"status"`, `"terminal_lat": 6.5244e0, "terminal_lon": 3.3792E+0, "tiny": 1e-7, "big": 1.5e300, "huge": 1e999999999999999999999, "status"`, 1)},
		{"an amount with an exponent", strings.Replace(ev, `"status"`, `"fee": 1.34210e3, "status"`, 1)},
		{"escaped UUID", strings.Replace(ev, `"9c1e5f0a-7d8b-4c1e-9a51-2f1d3e4b5a60"`, `"1a7c2507-a634-4694-8174-51349b62a365\u0020"`, 1)},
		{"escaped timestamp", strings.Replace(ev, `"2026-11-24T18:22:05Z"`, `"2026-11-24T18:22:05.123456789\u002b01:00"`, 1)},
		{"dotted version and IP", strings.Replace(ev, `"status"`, `"ua": "app 10.4.1226 from 192.168.100.200", "status"`, 1)},
		{"IP addresses with ports", strings.Replace(ev, `"status"`, `"ip": "192.168.100.200:8080", "via": "[2001:4860:4860:0000:0000:0000:0000:8888]:443", "status"`, 1)},
		{"times and dates", strings.Replace(ev, `"status"`, `"at": "18:22:05", "on": "2026/11/24", "local": "24/11/2026 18:22:05.123456", "status"`, 1)},
		{"escaped line breaks between codes", strings.Replace(ev, `"status"`, `"note": "MCC 5732,\n5411,\n5812\t(5999)", "status"`, 1)},
		{"a token with underscores", strings.Replace(ev, `"tok_4f9a2c"`, `"tok_4821_2026_11"`, 1)},
		{"a pretty-printed list of codes", strings.Replace(ev, `"status"`, "\"mccs\": [\n    5732,\n    5411,\n    5812,\n    5999\n  ],\n  \"status\"", 1)},
		{"a list of codes", strings.Replace(ev, `"status"`, `"mccs": [5732, 5411, 5812, 5999], "status"`, 1)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			data := []byte(tt.event)
			masked, pans := ScreenEvent(data)
			if pans != nil {
				t.Fatalf("refused as carrying %q", pans)
			}
			if !bytes.Equal(masked, data) || &masked[0] != &data[0] {
				t.Fatalf("returned %q, want the payload itself", masked)
			}
		})
	}
}

// TestDigitValue checks what digitValue assumes of the Unicode table: decimal digits
// come in runs of ten from zero, so that "four" is four in every script; and it agrees
// with NFKC wherever NFKC maps a digit to ASCII.
func TestDigitValue(t *testing.T) {
	ranges := 0
	check := func(lo, hi, stride uint32) {
		ranges++
		if stride != 1 || (hi-lo+1)%10 != 0 {
			t.Errorf("Nd range %U-%U (stride %d) is not whole runs of ten", lo, hi, stride)
		}
	}
	for _, r := range unicode.Nd.R16 {
		check(uint32(r.Lo), uint32(r.Hi), uint32(r.Stride))
	}
	for _, r := range unicode.Nd.R32 {
		check(r.Lo, r.Hi, r.Stride)
	}
	if ranges < 50 {
		t.Fatalf("only %d Nd ranges: is this the table?", ranges)
	}
	agreed := 0
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if !unicode.Is(unicode.Nd, r) {
			continue
		}
		v := digitValue(r)
		if v > 9 {
			t.Fatalf("digitValue(%U) = %d", r, v)
		}
		if n := norm.NFKC.String(string(r)); len(n) == 1 && isDigit(n[0]) {
			agreed++
			if n[0]-'0' != v {
				t.Errorf("digitValue(%U) = %d, NFKC says %s", r, v, n)
			}
		}
	}
	if agreed < 60 {
		t.Errorf("NFKC confirmed only %d digits", agreed)
	}
	for zero, name := range map[rune]string{'0': "ASCII", '\u0660': "Arabic-Indic", '\u0966': "Devanagari", '\uff10': "full-width", '\U0001d7ce': "math bold"} {
		for k := rune(0); k < 10; k++ {
			if got := digitValue(zero + k); zero != '0' && got != byte(k) {
				t.Errorf("%s digit %d reads as %d", name, k, got)
			}
		}
	}
}
