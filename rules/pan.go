package rules

import (
	"bytes"
	"net/netip"
	"unicode/utf8"
)

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
// refusing such events would lose alerts. Digits grouped the way card numbers are
// written (groups of 3 to 6: "4111 1111 1111 1111", "3782 822463 10005") count as one
// run, and any such groups in a row that make 13–19 digits count, so a grouped PAN
// followed by more digits ("... 1111 2026") is still found; an 8-digit group, as in a
// UUID, breaks the grouping. Groups are joined by one separator (a space, tab, line
// break, vertical tab, form feed, '-', '.', '/', '_' or ':'), and a group may stand in
// parentheses ("(4111) 1111 1111 1111"); a comma, or two separators, is not a join,
// so lists of codes ("5732, 5411, 5812, 5999") stay apart. Dates and times have groups
// of two digits and never join; a UUID, or an IP address (with a port or not), is
// passed over whole.
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

// maxGroups is how many card-like groups in a row are held at once. A PAN spans six at
// most (19 digits in groups of three or more), so with eight held every run that starts
// at the first is in view when it is checked.
const maxGroups = 8

// findASCII is FindPANs on text that is all ASCII; it gives up (ascii false) at the first
// byte that is not, since the quiet path is ASCII and must not pay for Unicode.
func findASCII(b []byte) (found [][2]int, ascii bool) {
	var groups [maxGroups][2]int // the card-like groups in a row being collected
	n := 0
	// drop checks the runs that start at the first group held and lets go of it (and of
	// the groups of a PAN found there).
	drop := func() {
		k := firstPAN(b, groups[:n])
		if k > 0 {
			found = append(found, [2]int{groups[0][0], groups[k-1][1]})
		} else {
			k = 1
		}
		n = copy(groups[:], groups[k:n])
	}
	flush := func() {
		for n > 0 {
			drop()
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
		next := groupGap(b, i, end)
		if next >= 0 && b[end] == ':' {
			// Groups joined by ':' may be an IP address ("192.168.100.200:8080",
			// "2001:4860:4860:0:0:0:0:8888"), which is passed over whole.
			if start, stop, ok := ipAddress(b, i, end); ok {
				for n > 0 && groups[n-1][0] >= start {
					n--
				}
				flush()
				i = stop
				continue
			}
		}
		switch size := end - i; {
		case size >= panMinDigits && size <= panMaxDigits:
			flush()
			if luhn(b[i:end]) {
				found = append(found, [2]int{i, end})
			}
		case size >= 3 && size <= 6:
			if n == maxGroups {
				drop()
			}
			groups[n] = [2]int{i, end}
			n++
		default:
			flush()
		}
		if next < 0 {
			flush()
			i = end
			continue
		}
		i = next // grouping goes on
	}
	flush()
	return found, true
}

// groupGap returns where the next group of digits starts when the group b[start:end] is
// joined to it the way card numbers are written, or -1: one separator, with either
// group in parentheses or not ("4111 1111", "(4111) 1111", "4111-(1111)", "(4111)(1111)").
func groupGap(b []byte, start, end int) int {
	j := end
	if j < len(b) && b[j] == ')' {
		if start == 0 || b[start-1] != '(' {
			return -1
		}
		j++
	}
	if j < len(b) && isSeparator(b[j]) {
		j++
	}
	if j < len(b) && b[j] == '(' {
		k := j + 1
		for k < len(b) && isDigit(b[k]) {
			k++
		}
		if k == j+1 || k == len(b) || b[k] != ')' {
			return -1 // a group in parentheses, or none
		}
		j++
	}
	if j == end || j == len(b) || !isDigit(b[j]) {
		return -1
	}
	return j
}

// isSeparator reports whether c joins two groups of a card number: what people and
// programs put between them, but not a comma, which separates the items of a list.
func isSeparator(c byte) bool {
	switch c {
	case ' ', '-', '.', '\t', '\n', '\r', '\v', '\f', '/', '_', ':':
		return true
	}
	return false
}

// isGroupMark reports whether c can be inside a PAN's range: a digit, a separator or a
// group's parenthesis.
func isGroupMark(c byte) bool { return isDigit(c) || isSeparator(c) || c == '(' || c == ')' }

// ipAddress reports whether the digits b[start:end], followed by ':', are part of an IP
// address standing alone (an IPv6 address, or an IPv4 address with a port), and where
// that address starts and stops. It is asked only when groups are joined by ':', which
// is rare, so the parse it costs is paid rarely. (The parse is handed b itself: it keeps
// no part of its input but in the error, which is dropped.)
func ipAddress(b []byte, start, end int) (from, to int, ok bool) {
	// IPv6: hex digits and colons around the group (and the dots of an IPv4 tail). The
	// scan stops one past the longest address, which no address parses from, so that a
	// long run of such groups costs no more than a short one.
	from, to = start, end
	for from > 0 && end-from <= maxIPv6 && inIPv6(b[from-1]) {
		from--
	}
	for to < len(b) && to-from <= maxIPv6 && inIPv6(b[to]) {
		to++
	}
	for to > end && (b[to-1] == ':' || b[to-1] == '.') {
		to-- // the colon or full stop that ends a sentence is not the address's
	}
	// The counts first: a parse that fails allocates its error.
	if colons := bytes.Count(b[from:to], []byte(":")); to-from <= maxIPv6 && colons >= 2 && colons <= 8 && alone(b, from, to) {
		if a, err := netip.ParseAddr(unsafeString(b[from:to])); err == nil && a.Is6() {
			return from, to, true
		}
	}
	// IPv4 with a port: the dotted quad ends at this group, the port follows the colon.
	from, to = start, end+1
	for from > 0 && end-from <= len("255.255.255.255") && (isDigit(b[from-1]) || b[from-1] == '.') {
		from--
	}
	for to < len(b) && to-end <= len(":65535") && isDigit(b[to]) {
		to++
	}
	if bytes.Count(b[from:end], []byte(".")) == 3 && alone(b, from, to) {
		if _, err := netip.ParseAddrPort(unsafeString(b[from:to])); err == nil {
			return from, to, true
		}
	}
	return 0, 0, false
}

// maxIPv6 is the length of the longest IPv6 address without a zone
// ("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255").
const maxIPv6 = 45

// alone reports whether b[from:to] is not a piece of a longer word or number.
func alone(b []byte, from, to int) bool {
	return (from == 0 || !isAlnum(b[from-1])) && (to == len(b) || !isAlnum(b[to]))
}

func inIPv6(c byte) bool { return isHex(c) || c == ':' || c == '.' }

func isHex(c byte) bool { return isDigit(c) || c|0x20 >= 'a' && c|0x20 <= 'f' }

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
			if !isHex(c) {
				return false
			}
		}
	}
	return true
}

func isAlnum(c byte) bool { return isDigit(c) || c|0x20 >= 'a' && c|0x20 <= 'z' }

// firstPAN returns how many of the digit groups in a row make the longest PAN that
// starts with the first (0 for none): the longest, so that one PAN is reported once.
func firstPAN(b []byte, groups [][2]int) int {
	hit, digits := 0, 0
	for last := range groups {
		digits += groups[last][1] - groups[last][0]
		if digits > panMaxDigits {
			break
		}
		if digits >= panMinDigits && luhn(b[groups[0][0]:groups[last][1]]) {
			hit = last + 1 // keep looking: the longest valid run wins
		}
	}
	return hit
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
		pans = append(pans, string(MaskPAN(reportForm(pan))))
	})
	// The digits a mask keeps can make, with groups beside them, a run that reads as
	// another number ("0000 000 00000000000000" masked is "0000 000 000000****0000"):
	// mask until none is left. Each round masks digits away, so it ends.
	for hits = FindPANs(masked); len(hits) > 0; hits = FindPANs(masked) {
		masked = maskHits(masked, hits, func([]byte) {})
	}
	return masked, pans
}

// reportForm is a PAN as the DLQ reason shows it: ASCII digits, one line, the separators
// but not the parentheses.
func reportForm(pan []byte) []byte {
	text := readView(pan).text
	out := text[:0]
	for _, c := range text {
		if c != '(' && c != ')' {
			out = append(out, c)
		}
	}
	return out
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
