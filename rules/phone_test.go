package rules

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/nyaruka/phonenumbers"
)

// TestValidE164MatchesParser holds the direct check to libphonenumber's parser: for
// every country code, numbers of every length, with every leading digit, trunk
// prefixes and leading zeros, and each region's example numbers with and without a
// trunk prefix, both must give the same answer.
func TestValidE164MatchesParser(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	digits := func(n int) string {
		var b strings.Builder
		for range n {
			b.WriteByte(byte('0' + rnd.IntN(10)))
		}
		return b.String()
	}
	var inputs []string
	for cc := 1; cc < 1000; cc++ {
		if len(phonenumbers.GetRegionCodesForCountryCode(cc)) == 0 {
			continue
		}
		code := "+" + strconv.Itoa(cc)
		for n := max(1, 7-len(code)); len(code)+n <= 16; n++ {
			for lead := range 10 {
				inputs = append(inputs, code+strconv.Itoa(lead)+digits(n-1))
			}
			for _, prefix := range []string{"00", "01", "80", "90", "15", "1"} {
				if len(prefix) <= n {
					inputs = append(inputs, code+prefix+digits(n-len(prefix)))
				}
			}
		}
	}
	for region := range phonenumbers.GetSupportedRegions() {
		for _, typ := range []phonenumbers.PhoneNumberType{phonenumbers.MOBILE, phonenumbers.FIXED_LINE} {
			ex := phonenumbers.GetExampleNumberForType(region, typ)
			if ex == nil {
				continue
			}
			e164 := phonenumbers.Format(ex, phonenumbers.E164)
			code := "+" + strconv.Itoa(int(ex.GetCountryCode()))
			national := strings.TrimPrefix(e164, code)
			inputs = append(inputs, e164, code+"0"+national, code+"1"+national, code+"8"+national)
		}
	}
	inputs = append(inputs, "+15551230001", "+1 5551230001", "+1-555-123-0001", "+1555123000１",
		"+15551230001x12", "+0123456789", "+999123456789", "15551230001", "+", "+1", "+4407911123456")

	valid := 0
	for _, s := range inputs {
		got, want := ValidE164(s), len(s) >= 8 && len(s) <= 16 && s[0] == '+' && parsedE164(s)
		if got != want {
			t.Errorf("ValidE164(%q) = %v, libphonenumber's parser says %v", s, got, want)
		}
		if want {
			valid++
		}
	}
	// The comparison means something only if both answers are common.
	if valid < len(inputs)/10 || valid > len(inputs)*9/10 {
		t.Fatalf("%d of %d inputs valid: the inputs do not exercise both answers", valid, len(inputs))
	}
	t.Logf("%d inputs, %d valid", len(inputs), valid)
}

func BenchmarkValidE164(b *testing.B) {
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ValidE164("+1555" + strconv.Itoa(1000000+i%9000000))
	}
}
