package rules

import (
	"regexp"
	"sync"

	"github.com/nyaruka/phonenumbers"
)

// ValidE164 reports whether s is a phone number written in E.164 ("+15551230001") that
// could exist: a country code and a length that country's numbers have.
//
// The answer is libphonenumber's: s parses, is a possible number, and formats back to
// itself in E.164. Parsing a string is most of the cost of loading a large rules file
// (a run of regular expressions meant for free-form input, extensions and all), so a
// string that is already "+" and digits is answered from the same metadata directly;
// only a national number that starts like a trunk prefix, which the parser might strip
// (and then the number would not format back to itself), goes through the parser.
// TestValidE164MatchesParser holds the two ways to the same answers.
func ValidE164(s string) bool {
	if len(s) < 8 || len(s) > 16 || s[0] != '+' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return parsedE164(s)
		}
	}
	digits := s[1:]
	if digits[0] == '0' {
		return false // no country code starts with 0
	}
	// The country code is the shortest prefix that is one, as the parser takes it.
	cc, ccLen := 0, 0
	for i := 1; i <= 3; i++ {
		n := 0
		for _, c := range digits[:i] {
			n = n*10 + int(c-'0')
		}
		if len(phonenumbers.GetRegionCodesForCountryCode(n)) > 0 {
			cc, ccLen = n, i
			break
		}
	}
	if cc == 0 {
		return false
	}
	national := digits[ccLen:]
	if trunk := trunkPrefixes()[cc]; trunk != nil && trunk.MatchString(national) {
		return parsedE164(s)
	}
	num := &phonenumbers.PhoneNumber{}
	num.CountryCode = new(int32(cc))
	var nn uint64
	for _, c := range national {
		nn = nn*10 + uint64(c-'0')
	}
	num.NationalNumber = &nn
	if len(national) > 1 && national[0] == '0' {
		// As the parser keeps leading zeros (Italian numbers have one).
		num.ItalianLeadingZero = new(true)
		zeros := 1
		for zeros < len(national)-1 && national[zeros] == '0' {
			zeros++
		}
		if zeros != 1 {
			num.NumberOfLeadingZeros = new(int32(zeros))
		}
	}
	return phonenumbers.IsPossibleNumber(num)
}

// parsedE164 is ValidE164 through libphonenumber's parser.
func parsedE164(s string) bool {
	num, err := phonenumbers.Parse(s, "")
	if err != nil || !phonenumbers.IsPossibleNumber(num) {
		return false
	}
	return phonenumbers.Format(num, phonenumbers.E164) == s
}

// trunkPrefixes maps each country calling code to the pattern of the national prefix
// the parser strips from its numbers ("0" in the UK, "1" in the US), from the metadata
// of the code's main region, as the parser picks it; a code with none is absent.
var trunkPrefixes = sync.OnceValue(func() map[int]*regexp.Regexp {
	out := map[int]*regexp.Regexp{}
	coll, err := phonenumbers.MetadataCollection()
	if err != nil {
		// Never with the embedded data; were it so, every number would go through the
		// parser, which is slower but gives the same answers.
		for cc := 1; cc < 1000; cc++ {
			out[cc] = regexp.MustCompile(``)
		}
		return out
	}
	for _, md := range coll.GetMetadata() {
		cc := int(md.GetCountryCode())
		if phonenumbers.GetRegionCodeForCountryCode(cc) != md.GetId() || md.GetNationalPrefixForParsing() == "" {
			continue
		}
		out[cc] = regexp.MustCompile("^(?:" + md.GetNationalPrefixForParsing() + ")")
	}
	return out
})
