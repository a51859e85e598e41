package rules

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
// refusing such events would lose alerts. Digits grouped by single spaces or dashes the
// way card numbers are written (groups of 3 to 6: "4111 1111 1111 1111", "3782 822463
// 10005") count as one run, and any such groups in a row that make 13–19 digits count,
// so a grouped PAN followed by more digits ("... 1111 2026") is still found; an 8-digit
// group, as in a UUID, breaks the grouping.
func FindPANs(b []byte) [][2]int {
	var found [][2]int
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
		if end+1 < len(b) && (b[end] == ' ' || b[end] == '-') && isDigit(b[end+1]) {
			i = end + 1
			continue
		}
		flush()
		i = end
	}
	flush()
	return found
}

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
func MaskPAN(pan []byte) []byte {
	out := append([]byte(nil), pan...)
	total := 0
	for _, c := range out {
		if isDigit(c) {
			total++
		}
	}
	seen := 0
	for i, c := range out {
		if !isDigit(c) {
			continue
		}
		if seen >= 6 && seen < total-4 {
			out[i] = '*'
		}
		seen++
	}
	return out
}

// MaskPANs returns a copy of b with every PAN masked, and the masked PANs themselves
// (for the DLQ reason). It returns b itself, and no PANs, when there is nothing to mask.
func MaskPANs(b []byte) (masked []byte, pans []string) {
	hits := FindPANs(b)
	if len(hits) == 0 {
		return b, nil
	}
	masked = append([]byte(nil), b...)
	for _, h := range hits {
		m := MaskPAN(b[h[0]:h[1]])
		copy(masked[h[0]:h[1]], m)
		pans = append(pans, string(m))
	}
	return masked, pans
}
