package rules

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
)

// ScreenEvent finds the card numbers in an event's payload the way anyone who reads the
// event would see them: in the raw bytes (MaskPANs), in every JSON string, member names
// included, once its escapes are decoded ("\u0034\u0031..."), and in every JSON number
// written with an exponent (4.111111111111111e15). It returns the masked numbers, and the
// payload with them masked, or a nil payload when a number shows only once the JSON is
// decoded: such a number cannot be masked in the bytes, so the payload must not be kept.
//
// It returns data itself, and no numbers, when there are none. An event with no
// backslash and no exponent costs one scan of its bytes (BenchmarkScreenEvent).
func ScreenEvent(data []byte) (masked []byte, pans []string) {
	masked, pans = MaskPANs(data)
	if bytes.IndexByte(data, '\\') < 0 && !hasExponent(data) {
		return masked, pans // every string and number reads as its bytes do
	}
	if hidden := hiddenPANs(data); len(hidden) > 0 {
		return nil, append(pans, hidden...)
	}
	return masked, pans
}

// hasExponent reports whether b may hold a JSON number with an exponent: an 'e' or 'E'
// after digits that stand where a number can (after ':', ',', '[' or a space), not inside
// a word or a UUID ("9c1e5f0a"). It may say yes for text inside a string; the tokenizer
// then settles it.
func hasExponent(b []byte) bool {
	for i := 1; i < len(b); i++ {
		if b[i]|0x20 != 'e' || !isDigit(b[i-1]) {
			continue
		}
		j := i - 1
		for j >= 0 && (isDigit(b[j]) || b[j] == '.') {
			j--
		}
		if j >= 0 && b[j] == '-' {
			j--
		}
		if j < 0 {
			return true
		}
		switch b[j] {
		case ':', ',', '[', '{', ' ', '\t', '\r', '\n':
			return true
		}
	}
	return false
}

// screener is one hiddenPANs run's scratch space, pooled: the slow path is rare, but a
// flood of escaped events must not allocate a tokenizer each.
type screener struct {
	buf  bytes.Buffer
	dec  *jsontext.Decoder
	text []byte
}

// screenOptions read what a lenient reader would: a repeated name and invalid UTF-8 do
// not stop the screen before the end of the event.
var screenOptions = []jsontext.Options{jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true)}

var screeners = sync.Pool{New: func() any {
	s := &screener{}
	s.dec = jsontext.NewDecoder(&s.buf, screenOptions...)
	return s
}}

// hiddenPANs returns, masked, the card numbers that show only in the decoded JSON: in a
// string once unescaped, or in a number's value. Numbers the raw bytes show are left
// to MaskPANs. Past the point where data stops being JSON, escapes are read leniently.
func hiddenPANs(data []byte) (pans []string) {
	s := screeners.Get().(*screener)
	defer func() {
		if s.buf.Cap() <= 2*MaxEventSize {
			s.buf.Reset()
			s.text = s.text[:0]
			screeners.Put(s)
		}
	}()
	s.buf.Reset()
	s.buf.Write(data)
	s.dec.Reset(&s.buf, screenOptions...)
	for {
		switch s.dec.PeekKind() {
		case '"', '0':
			v, err := s.dec.ReadValue()
			if err != nil {
				return append(pans, s.tail(data, err)...)
			}
			pans = append(pans, s.value(v)...)
		default:
			if _, err := s.dec.ReadToken(); err != nil {
				return append(pans, s.tail(data, err)...)
			}
		}
	}
}

// value screens one string or number token.
func (s *screener) value(v jsontext.Value) []string {
	// A number the bytes show is MaskPANs's to mask in place; the rest of the token is
	// read with it masked, so that it is not counted twice.
	masked, raw := MaskPANs(v)
	if v.Kind() == '0' {
		if d := exponentDigits(v); raw == nil && d != nil && luhn(d) {
			return []string{string(MaskPAN(d))}
		}
		return nil
	}
	if bytes.IndexByte(v, '\\') < 0 {
		return nil
	}
	var err error
	if s.text, err = jsontext.AppendUnquote(s.text[:0], masked); err != nil {
		// Masking keeps the first six digits of a run, so the four hex digits of a
		// \u escape stay; should that ever fail, read the token unmasked.
		s.text, _ = jsontext.AppendUnquote(s.text[:0], v)
	}
	_, pans := MaskPANs(s.text)
	return pans
}

// tail screens what follows a tokenizer error: nothing when the event was read to its
// end, else the rest with each escape read the way a JSON string's would be, since the
// DLQ keeps a payload that is not JSON as it came.
func (s *screener) tail(data []byte, err error) []string {
	if errors.Is(err, io.EOF) {
		return nil // the whole event was read
	}
	// From the end of the last token read: the one that failed may hold escapes
	// before the point where it stops being JSON.
	rest := data[min(max(int(s.dec.InputOffset()), 0), len(data)):]
	if bytes.IndexByte(rest, '\\') < 0 {
		return nil
	}
	rest, _ = MaskPANs(rest) // what the bytes show is masked in place
	s.text = s.text[:0]
	for i := 0; i < len(rest); i++ {
		if rest[i] != '\\' || i+1 == len(rest) {
			s.text = append(s.text, rest[i])
			continue
		}
		i++
		if rest[i] == 'u' && i+4 < len(rest) {
			if r, err := strconv.ParseUint(string(rest[i+1:i+5]), 16, 16); err == nil {
				s.text = utf8.AppendRune(s.text, rune(r))
				i += 4
				continue
			}
		}
		s.text = append(s.text, rest[i])
	}
	_, pans := MaskPANs(s.text)
	return pans
}

// exponentDigits returns the decimal digits of the integer part of a JSON number written
// with an exponent, when it has 13 to 19 of them (nil otherwise, and for a number with
// no exponent, whose digits the raw bytes show).
func exponentDigits(v []byte) []byte {
	e := bytes.IndexAny(v, "eE")
	if e < 0 {
		return nil
	}
	exp, err := strconv.Atoi(string(v[e+1:]))
	if err != nil {
		return nil // beyond any int: nothing of 13-19 digits
	}
	mant := bytes.TrimPrefix(v[:e], []byte("-"))
	intPart, frac, _ := bytes.Cut(mant, []byte("."))
	digits := append(append([]byte(nil), intPart...), frac...)
	digits = bytes.TrimLeft(digits, "0")
	shift := exp - len(frac)
	switch {
	case shift >= 0:
		if n := len(digits) + shift; len(digits) == 0 || n < panMinDigits || n > panMaxDigits {
			return nil
		}
		return append(digits, bytes.Repeat([]byte("0"), shift)...)
	case -shift < len(digits):
		digits = digits[:len(digits)+shift]
		if len(digits) < panMinDigits || len(digits) > panMaxDigits {
			return nil
		}
		return digits
	}
	return nil
}
