package notifiers

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"

	"github.com/cardwatch/cardwatch/rules"
)

// Text a bank or merchant sets (a merchant's name, id and city, and the rule sentences
// that quote them) is untrusted wherever it is shown: whoever runs a merchant account
// chooses its descriptor, and a notifier that banks ask their customers to trust is the
// best phishing channel there is. Each output has one function that makes such text safe
// for it, all built on CleanText:
//
//	terminal, HTML page       CleanText (html/template escapes the markup)
//	text a phone may linkify  InertText (plain text, Slack; slack.mrkdwn on top)
//	SMS                       SMSSafe (GSM-7)
//
// FactsOf applies InertText to every untrusted fact, so that a renderer built on Facts is
// safe without thinking about it.

// CleanText is the shared cleaner of untrusted text. It takes out every character that is
// not a visible one (controls, C0 and C1 with ESC, so that no terminal escape sequence
// survives; Unicode format characters such as the bidi overrides and isolates, zero-width
// spaces and joiners and the BOM; private-use, unassigned and default-ignorable code
// points), turns every run of white space (newlines, line and paragraph separators,
// no-break and other Unicode spaces) into one space, and trims the ends. Compatibility
// forms are folded (NFKC), so that full-width "８００" or "ｅｖｉｌ．ｅｘａｍｐｌｅ" reads, and is
// screened, as the ASCII it stands for.
func CleanText(s string) string {
	// Dropping a character can join a base letter to a mark that NFKC composes, and NFKC
	// can turn a character into a space: filter, fold, filter again, and the result is
	// stable (CleanText(CleanText(s)) == CleanText(s)).
	return filterText(norm.NFKC.String(filterText(s)))
}

// filterText keeps the visible characters of s, with single spaces between words.
func filterText(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false // a space is due before the next visible character
	for _, r := range s {
		switch {
		case unicode.IsSpace(r): // includes U+0085, U+00A0, U+2028 and U+2029
			space = true
		case !unicode.IsGraphic(r), unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r):
			// Cc, Cf, Co, Cs, Cn, and the invisible fillers: dropped, not spaced, so
			// that "800\u200b555\u200b0100" is screened as the number it shows.
		default:
			if space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = false
			b.WriteRune(r)
		}
	}
	return b.String()
}

// InertText is CleanText with nothing left that a phone, a chat client or a mail
// scanner turns into a link or a tap-to-call: runs that read as a phone number (seven
// digits or more, with the spaces, dashes, dots, slashes, brackets, tildes and other
// marks numbers are written with: see numberMark) become "#", and what reads as a URL, a host name or an
// address is broken ("http://evil.example/x" becomes "http evil example/x"). It is for
// text a cardholder reads: the only link in a message is cardwatch's own report link.
func InertText(s string) string { return inert(CleanText(s)) }

// SMSSafe is untrusted text as an SMS may carry it: CleanText in the GSM-7 alphabet,
// then screened as InertText is, on what the phone will get (the conversion drops
// accents, which could keep apart the digits of a number, and turns every dash into
// "-", which a number may be written with).
func SMSSafe(s string) string { return inert(ToGSM7(CleanText(s))) }

// inert breaks links and masks phone numbers in clean text. Links first: breaking one
// turns its dots and "://" into spaces, which can join digits into a number, and
// masking a number never makes a link.
func inert(s string) string {
	r := []rune(s)
	r = breakLinks(r)
	r = maskNumbers(r)
	return filterText(string(r))
}

// minPhoneDigits is the fewest digits that read as a phone number: seven, a local
// number in North America; shorter runs (store numbers, amounts) stay.
const minPhoneDigits = 7

// numberMark is a character phone numbers are written with between their digits: every
// one libphonenumber accepts (its VALID_PUNCTUATION and PLUS_CHARS, which Android's
// Linkify and most phones' number detection are built on: spaces, dots, slashes,
// parentheses and square brackets, tildes, the swung dash and the tilde operator, the
// letter x, full-width forms), and any dash (GSM-7 conversion turns "–" into "-"), the
// minus sign included. CleanText has already folded the full-width forms and dropped
// the invisible ones; they are listed all the same, so that the list can be checked
// against libphonenumber's whole.
func numberMark(r rune) bool {
	switch r {
	case ' ', '.', '/', '(', ')', '[', ']', '~', 'x', 'X', '+', '−', // x: the case is ignored
		'\u2053', '\u223c', '\u30fc', '\u3000', '\u00a0', '\u00ad', '\u200b', '\u2060',
		'\uff08', '\uff09', '\uff0b', '\uff0e', '\uff0f', '\uff3b', '\uff3d', '\uff5e':
		return true
	}
	return unicode.Is(unicode.Pd, r)
}

// maskNumbers replaces each run that reads as a phone number by "#".
func maskNumbers(r []rune) []rune {
	out := make([]rune, 0, len(r))
	for i := 0; i < len(r); {
		if !unicode.IsDigit(r[i]) && r[i] != '+' && r[i] != '(' && r[i] != '[' {
			out = append(out, r[i])
			i++
			continue
		}
		// The run: digits, the marks between them, and combining marks (which GSM-7
		// conversion drops, and which must not hide a digit from this screen).
		j, last, digits := i, -1, 0
		for ; j < len(r); j++ {
			c := r[j]
			if unicode.IsDigit(c) {
				digits++
				last = j
			} else if !numberMark(c) && !unicode.Is(unicode.M, c) {
				break
			}
		}
		if last < 0 { // a "+", "(" or "[" and marks, no digit
			out = append(out, r[i:j]...)
			i = j
			continue
		}
		end := last + 1
		for end < j && (unicode.Is(unicode.M, r[end]) || r[end] == ')' || r[end] == ']') {
			end++
		}
		if digits >= minPhoneDigits {
			out = append(out, '#')
		} else {
			out = append(out, r[i:end]...)
		}
		i = end
	}
	return out
}

// dot is a character that separates the labels of a host name: the full stop, and the
// ideographic one that IDNA maps to it (full-width and other dots NFKC has folded).
func dot(r rune) bool { return r == '.' || r == '。' }

// breakLinks breaks what reads as a URL or a host name: a scheme's "://", a dot between
// a character and a letter ("evil.example", "www.x") or between a letter and a digit
// ("www.123"), and the dots of a dotted number with more than one ("10.0.0.1"); each
// becomes a space. A dot before a space ("ST. LOUIS"), at the end ("ELECTR.") or in a
// decimal ("1.50") stays.
func breakLinks(r []rune) []rune {
	out := make([]rune, 0, len(r))
	for i := 0; i < len(r); i++ {
		c := r[i]
		switch {
		case c == ':' && i+1 < len(r) && (r[i+1] == '/' || r[i+1] == '\\'):
			for i+1 < len(r) && (r[i+1] == '/' || r[i+1] == '\\') {
				i++
			}
			out = append(out, ' ')
		case dot(c) && i > 0 && i+1 < len(r) && !unicode.IsSpace(r[i-1]) && (unicode.IsLetter(r[i+1]) || unicode.Is(unicode.M, r[i+1])),
			dot(c) && i > 0 && i+1 < len(r) && unicode.IsLetter(r[i-1]) && unicode.IsDigit(r[i+1]):
			out = append(out, ' ')
		case dot(c) && i > 0 && i+1 < len(r) && unicode.IsDigit(r[i-1]) && unicode.IsDigit(r[i+1]) && dottedNumber(r, i):
			out = append(out, ' ')
		default:
			out = append(out, c)
		}
	}
	return out
}

// dottedNumber reports whether the dot at i is in a run of digits and dots with more
// than one dot: an IP address, not a decimal.
func dottedNumber(r []rune, i int) bool {
	dots := 0
	for j := i; j >= 0 && (unicode.IsDigit(r[j]) || dot(r[j])); j-- {
		if dot(r[j]) {
			dots++
		}
	}
	for j := i + 1; j < len(r) && (unicode.IsDigit(r[j]) || dot(r[j])); j++ {
		if dot(r[j]) {
			dots++
		}
	}
	return dots > 1
}

// Quoted puts untrusted text in double quotes, so that the cardholder reads it as the
// merchant's words and not as cardwatch's: rules.Quote, which the rules' sentences quote
// with too. Every quotation mark inside (straight, curly, low, guillemets, corner
// brackets, primes and the like: rules.QuotationMark) becomes a single "'", so that the
// text cannot close the quotes and go on as if cardwatch spoke.
func Quoted(s string) string { return rules.Quote(s) }
