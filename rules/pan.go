package rules

// A PAN (primary account number) is 13 to 19 digits with a valid Luhn check digit.
// Banks must send card tokens, never PANs; cardwatch refuses any event that carries one
// and masks it before the event goes anywhere (DLQ included).

const (
	panMinDigits = 13
	panMaxDigits = 19
)

// FindPANs returns the byte ranges [start, end) of every Luhn-valid run of 13–19 digits in
// b. Digits may be grouped by single spaces or dashes ("4111 1111 1111 1111"), the way
// people paste card numbers. A longer run of digits is checked window by window, so a
// PAN glued to other digits is still found.
func FindPANs(b []byte) [][2]int {
	var found [][2]int
	for i := 0; i < len(b); {
		if !isDigit(b[i]) {
			i++
			continue
		}
		end, n := digitRun(b, i)
		if n >= panMinDigits {
			at := make([]int, 0, n)
			for k := i; k < end; k++ {
				if isDigit(b[k]) {
					at = append(at, k)
				}
			}
			found = appendPANWindows(found, b, at)
		}
		i = end
	}
	return found
}

// digitRun returns the end of the run of digits that starts at i (single spaces or
// dashes between digits belong to it) and the number of digits in it.
func digitRun(b []byte, i int) (end, digits int) {
	j := i
	for j < len(b) {
		switch {
		case isDigit(b[j]):
			digits++
			j++
		case (b[j] == ' ' || b[j] == '-') && j+1 < len(b) && isDigit(b[j+1]):
			j++
		default:
			return j, digits
		}
	}
	return j, digits
}

// appendPANWindows finds Luhn-valid windows in one run of digits, longest first, and
// skips past each hit so that one PAN is reported once.
func appendPANWindows(found [][2]int, b []byte, at []int) [][2]int {
	for s := 0; s+panMinDigits <= len(at); {
		hit := 0
		for l := min(panMaxDigits, len(at)-s); l >= panMinDigits; l-- {
			if luhn(b, at[s:s+l]) {
				hit = l
				break
			}
		}
		if hit == 0 {
			s++
			continue
		}
		found = append(found, [2]int{at[s], at[s+hit-1] + 1})
		s += hit
	}
	return found
}

func luhn(b []byte, at []int) bool {
	sum := 0
	double := false
	for k := len(at) - 1; k >= 0; k-- {
		d := int(b[at[k]] - '0')
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
