package rules

import (
	"sort"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// panView is text as the card-number screen reads it: one ASCII byte a visible rune (an
// ASCII rune as it is, but for a space in any form: ' '; for another rune, the digit it
// is, the separator or parenthesis it reads as, or 'x' for anything else), invisible
// runes left out, and where in the original each byte came from.
type panView struct {
	text []byte
	at   []int32 // at[i] is the offset in the original of the rune text[i] stands for
}

// readView reads b (UTF-8; a byte that is not is read as U+FFFD) into a panView.
func readView(b []byte) panView {
	v := panView{text: make([]byte, 0, len(b)), at: make([]int32, 0, len(b))}
	for i := 0; i < len(b); {
		c, size := panRuneAt(b, i)
		if c != 0 {
			v.text = append(v.text, c)
			v.at = append(v.at, int32(i))
		}
		i += size
	}
	return v
}

// panRuneAt reads the rune at b[i] as the screen sees it (see panView; 0 for a rune that
// shows nothing) and its size in bytes.
func panRuneAt(b []byte, i int) (c byte, size int) {
	if b[i] < utf8.RuneSelf {
		switch c = b[i]; c {
		case '\t', '\n', '\r', '\v', '\f':
			c = ' ' // so that a masked number is reported on one line
		}
		return c, 1
	}
	r, size := utf8.DecodeRune(b[i:])
	return panRune(r), size
}

// panRune classifies a rune that is not ASCII.
func panRune(r rune) byte {
	switch {
	case unicode.Is(unicode.Nd, r):
		return '0' + digitValue(r)
	case unicode.IsLetter(r):
		return 'x' // the common case (names, cities): no letter reads as a digit
	case unicode.In(r, unicode.Zs, unicode.Zl, unicode.Zp), r == '\u0085':
		return ' '
	case unicode.Is(unicode.Pd, r), r == '\u2212', r == '\ufe63', r == '\uff0d':
		return '-'
	case r == '\u00b7', r == '\u0387', r == '\u2027', r == '\u2219', r == '\u22c5', r == '\u30fb',
		r == '\uff65', r == '\u3002', r == '\uff61':
		return '.' // middle dots and ideographic full stops, which NFKC leaves alone
	case unicode.In(r, unicode.Cf, unicode.Mn, unicode.Me):
		return 0 // zero-width, bidi, soft hyphen, combining marks: nothing to see
	}
	// Superscripts, the one-dot leader, full-width colons, solidi and parentheses and
	// the like: NFKC says what they are compatible with (its decomposition; no digit or
	// separator composes).
	var in [utf8.UTFMax]byte
	d := norm.NFKC.Properties(in[:utf8.EncodeRune(in[:], r)]).Decomposition()
	if len(d) == 1 && isGroupMark(d[0]) {
		return d[0]
	}
	return 'x'
}

// digitValue is the value of a Unicode decimal digit (category Nd). Unicode assigns them
// in runs of ten from zero to nine, so the value is the offset from the start of its run
// (TestDigitValue checks the table keeps to that).
func digitValue(r rune) byte {
	t := unicode.Nd
	if r <= 0xFFFF {
		k := sort.Search(len(t.R16), func(k int) bool { return rune(t.R16[k].Hi) >= r })
		return byte((r - rune(t.R16[k].Lo)) % 10)
	}
	k := sort.Search(len(t.R32), func(k int) bool { return rune(t.R32[k].Hi) >= r })
	return byte((r - rune(t.R32[k].Lo)) % 10)
}
