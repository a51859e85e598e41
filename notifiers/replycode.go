package notifiers

import "strings"

// Reply codes tell apart the open alerts of one phone number in an SMS reply
// ("FRAUD 7K"). A code is one digit and one letter, in either order, from alphabets
// with no look-alikes (no 0/O/Q/D, 1/I/L/J, 2/Z, 5/S, 6/G, 8/B, U/V), so a cardholder
// copying it from a small screen cannot type another alert's code by mistake; and no
// code is a reply word or starts with one.
const (
	replyDigits  = "34679"
	replyLetters = "ACEFHKMNPRTWXY"
)

// NumReplyCodes is how many reply codes there are; ReplyCode numbers them 0 to
// NumReplyCodes-1.
const NumReplyCodes = 2 * len(replyDigits) * len(replyLetters)

// ReplyCode is the i-th reply code (i modulo NumReplyCodes).
func ReplyCode(i int) string {
	i %= NumReplyCodes
	if i < 0 {
		i += NumReplyCodes
	}
	half := len(replyDigits) * len(replyLetters)
	if i < half {
		return string(replyDigits[i/len(replyLetters)]) + string(replyLetters[i%len(replyLetters)])
	}
	i -= half
	return string(replyLetters[i/len(replyDigits)]) + string(replyDigits[i%len(replyDigits)])
}

// IsReplyCode reports whether s (upper case) is a reply code.
func IsReplyCode(s string) bool {
	if len(s) != 2 {
		return false
	}
	d, l := s[0], s[1]
	if !strings.ContainsRune(replyDigits, rune(d)) {
		d, l = l, d
	}
	return strings.ContainsRune(replyDigits, rune(d)) && strings.ContainsRune(replyLetters, rune(l))
}
