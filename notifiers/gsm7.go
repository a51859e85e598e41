package notifiers

import (
	"strings"
	"unicode"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// SMSSegment is how many GSM-7 septets fit in one SMS.
const SMSSegment = 160

// The GSM 03.38 default alphabet, and its extension table whose characters take two
// septets. A single character outside both turns the whole SMS into UCS-2, which fits
// only 70 characters a segment.
const (
	gsmBasic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
		"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
	gsmExtended = "^{}\\[~]|€\f"
)

// GSMSeptets returns how many septets s takes in GSM-7, or -1 if it has a character that
// GSM-7 cannot carry.
func GSMSeptets(s string) int {
	n := 0
	for _, r := range s {
		switch {
		case strings.ContainsRune(gsmBasic, r):
			n++
		case strings.ContainsRune(gsmExtended, r):
			n += 2
		default:
			return -1
		}
	}
	return n
}

var stripMarks = transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)

// ToGSM7 makes s sendable in GSM-7: accents GSM-7 lacks are dropped ("Łódź" → "Lodz"
// where it can, "Ł" has no decomposition and becomes "?"), and any other character is
// replaced by '?', so that a merchant's name cannot push an SMS into UCS-2. What a
// phone number is written with (numberMark) becomes a mark GSM-7 has: "-" or "~".
func ToGSM7(s string) string {
	if GSMSeptets(s) >= 0 {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(gsmBasic, r) || strings.ContainsRune(gsmExtended, r) {
			b.WriteRune(r)
			continue
		}
		plain, _, err := transform.String(stripMarks, string(r))
		if err == nil && GSMSeptets(plain) >= 0 && plain != "" {
			b.WriteString(plain)
			continue
		}
		switch {
		case unicode.IsSpace(r):
			b.WriteByte(' ')
		case r == '‘' || r == '’':
			b.WriteByte('\'')
		case r == '“' || r == '”':
			b.WriteByte('"')
		case unicode.Is(unicode.Pd, r) || r == '−': // dashes, hyphens and the minus sign
			b.WriteByte('-')
		case r == '\u223c' || r == '\u2053': // the tilde operator and the swung dash
			b.WriteByte('~')
		case numberMark(r):
			// Any other mark a phone number is written with stays one, so that the
			// screen after the conversion still sees the number ("?" would hide it).
			b.WriteByte('-')
		default:
			b.WriteByte('?')
		}
	}
	return b.String()
}
