package rules

import "unicode/utf8"

// A PAN (primary account number) is 13 to 19 digits with a valid Luhn check digit.
// Banks must send card tokens, never PANs; cardwatch refuses any event that carries one
// and masks it before the event goes anywhere (DLQ included).

const (
	panMinDigits = 13
	panMaxDigits = 19
)

// FindPANs returns the byte ranges [start, end) of every PAN in b: a run of 13–19 digits
// with a valid Luhn check digit.
//
// A run is checked whole, never window by window: a 23-digit acquirer reference number
// or any long reference holds a "Luhn-valid" 13–19 digit window nine times in ten, and
// refusing such events would lose alerts. Digits grouped by single spaces, dashes or dots
// the way card numbers are written (groups of 3 to 6: "4111 1111 1111 1111", "3782
// 822463 10005") count as one run, and any such groups in a row that make 13–19 digits
// count, so a grouped PAN followed by more digits ("... 1111 2026") is still found; an
// 8-digit group, as in a UUID, breaks the grouping.
//
// Digits are read the way a person reads them, since that is what an SMS or a Slack
// message shows: any Unicode decimal digit ("４１１１", "٤١١١") or a character NFKC turns
// into one is a digit; any Unicode space (no-break, narrow, figure), dash or dot is a
// separator; a character that shows nothing (zero-width space, soft hyphen, a combining
// mark) is passed over, so "4111\u200b1111..." is one run.
func FindPANs(b []byte) [][2]int {
	if found, ascii := findASCII(b); ascii {
		return found
	}
	v := readView(b)
	found, _ := findASCII(v.text)
	for k, h := range found {
		last := v.at[h[1]-1]
		_, size := utf8.DecodeRune(b[last:])
		found[k] = [2]int{int(v.at[h[0]]), int(last) + size}
	}
	return found
}

// findASCII is FindPANs on text that is all ASCII; it gives up (ascii false) at the first
// byte that is not, since the quiet path is ASCII and must not pay for Unicode.
func findASCII(b []byte) (found [][2]int, ascii bool) {
	var groups [8][2]int // the card-like groups in a row being collected
	n := 0
	flush := func() {
		if n > 0 {
			found = appendPANGroups(found, b, groups[:n])
			n = 0
		}
	}
	for i := 0; i < len(b); {
		if i+uuidSize <= len(b) && b[i+8] == '-' && isUUID(b, i) {
			flush()
			i += uuidSize
			continue
		}
		if !isDigit(b[i]) {
			if b[i] >= utf8.RuneSelf {
				return nil, false
			}
			flush()
			i++
			continue
		}
		end := i
		for end < len(b) && isDigit(b[end]) {
			end++
		}
		switch size := end - i; {
		case size >= panMinDigits && size <= panMaxDigits:
			flush()
			if luhn(b[i:end]) {
				found = append(found, [2]int{i, end})
			}
		case size >= 3 && size <= 6 && (n == 0 || i == groups[n-1][1]+1) && n < len(groups):
			groups[n] = [2]int{i, end}
			n++
		default:
			flush()
		}
		// Grouping goes on only across a single separator followed by a digit.
		if end+1 < len(b) && isSeparator(b[end]) && isDigit(b[end+1]) {
			i = end + 1
			continue
		}
		flush()
		i = end
	}
	flush()
	return found, true
}

func isSeparator(c byte) bool { return c == ' ' || c == '-' || c == '.' }

const uuidSize = 36

// isUUID reports whether a UUID (8-4-4-4-12 hex digits) stands alone at i. Event ids are
// UUIDs, and about one random UUID in 1,350 has digit groups that read as a grouped
// card number ("1a7c2507-a634-4694-8174-51349b62a365").
func isUUID(b []byte, i int) bool {
	if (i > 0 && isAlnum(b[i-1])) || (len(b) > i+uuidSize && isAlnum(b[i+uuidSize])) {
		return false
	}
	for k := 0; k < uuidSize; k++ {
		c := b[i+k]
		switch k {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !isDigit(c) && (c|0x20 < 'a' || c|0x20 > 'f') {
				return false
			}
		}
	}
	return true
}

func isAlnum(c byte) bool { return isDigit(c) || c|0x20 >= 'a' && c|0x20 <= 'z' }

// appendPANGroups finds PANs among whole digit groups in a row, longest first, and skips
// past each hit so that one PAN is reported once.
func appendPANGroups(found [][2]int, b []byte, groups [][2]int) [][2]int {
	for first := 0; first < len(groups); {
		hit := -1
		digits := 0
		for last := first; last < len(groups); last++ {
			digits += groups[last][1] - groups[last][0]
			if digits > panMaxDigits {
				break
			}
			if digits >= panMinDigits && luhn(b[groups[first][0]:groups[last][1]]) {
				hit = last // keep looking: the longest valid run wins
			}
		}
		if hit < 0 {
			first++
			continue
		}
		found = append(found, [2]int{groups[first][0], groups[hit][1]})
		first = hit + 1
	}
	return found
}

// luhn checks the Luhn digit of the digits in b, skipping separators.
func luhn(b []byte) bool {
	sum := 0
	double := false
	for k := len(b) - 1; k >= 0; k-- {
		if !isDigit(b[k]) {
			continue
		}
		d := int(b[k] - '0')
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

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// MaskPAN masks a PAN the way PCI DSS allows it to be shown: the first six and last four
// digits at most, every other digit as '*'; separators are kept.
func MaskPAN(pan []byte) []byte { return appendMasked(nil, pan) }

// appendMasked appends pan masked to out. A digit written in more than one byte
// ("４") becomes one '*'.
func appendMasked(out, pan []byte) []byte {
	total := 0
	for i := 0; i < len(pan); {
		c, size := panRuneAt(pan, i)
		if isDigit(c) {
			total++
		}
		i += size
	}
	seen := 0
	for i := 0; i < len(pan); {
		c, size := panRuneAt(pan, i)
		switch {
		case !isDigit(c):
			out = append(out, pan[i:i+size]...)
		case seen >= 6 && seen < total-4:
			out = append(out, '*')
			seen++
		default:
			out = append(out, pan[i:i+size]...)
			seen++
		}
		i += size
	}
	return out
}

// MaskPANs returns a copy of b with every PAN masked, and the masked PANs themselves
// (for the DLQ reason, written with ASCII digits and separators). It returns b itself,
// and no PANs, when there is nothing to mask. The copy is as long as b unless a masked
// digit took more than one byte.
func MaskPANs(b []byte) (masked []byte, pans []string) {
	hits := FindPANs(b)
	if len(hits) == 0 {
		return b, nil
	}
	masked = maskHits(b, hits, func(pan []byte) {
		pans = append(pans, string(MaskPAN(readView(pan).text)))
	})
	// The digits a mask keeps can make, with groups beside them, a run that reads as
	// another number ("0000 000 00000000000000" masked is "0000 000 000000****0000"):
	// mask until none is left. Each round masks digits away, so it ends.
	for hits = FindPANs(masked); len(hits) > 0; hits = FindPANs(masked) {
		masked = maskHits(masked, hits, func([]byte) {})
	}
	return masked, pans
}

// maskHits returns a copy of b with the PANs at hits masked, calling found with each.
func maskHits(b []byte, hits [][2]int, found func(pan []byte)) []byte {
	masked := make([]byte, 0, len(b))
	prev := 0
	for _, h := range hits {
		masked = append(masked, b[prev:h[0]]...)
		masked = appendMasked(masked, b[h[0]:h[1]])
		found(b[h[0]:h[1]])
		prev = h[1]
	}
	return append(masked, b[prev:]...)
}
