package rules

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
)

// Seed corpora beyond the f.Add calls below are checked in under testdata/fuzz/<FuzzName>/;
// a crasher found by `go test -fuzz` lands there too and stays as a regression test.

func FuzzDecodeTransaction(f *testing.F) {
	ev := exampleEvent(f)
	f.Add(exampleBank, exampleCard, ev)
	f.Add(exampleBank, "tok_other", ev)
	f.Add("globex", exampleCard, editEvent(f, func(ev map[string]any) { ev["bank"] = "acme" }))
	f.Add(exampleBank, exampleCard, editEvent(f, func(ev map[string]any) { delete(ev, "status") }))
	f.Add(exampleBank, exampleCard, editEvent(f, func(ev map[string]any) { obj(ev, "amount")["value"] = "1250.001" }))
	f.Add(exampleBank, exampleCard, []byte(`[]`))
	f.Add(exampleBank, exampleCard, []byte(`null`))
	f.Add(exampleBank, exampleCard, []byte(`{"amount":{"value":1e3,"currency":"USD"}}`))
	f.Add(exampleBank, exampleCard, []byte(`{"id":"e1","cardholder_id":"c","card":{"token":"tok_4f9a2c"},"amount":{"value":0.1,"currency":"JPY"},"merchant":{"name":"x"},"occurred_at":"2026-01-01T00:00:00Z"}`))

	f.Fuzz(func(t *testing.T, bank, card string, data []byte) {
		txn, err := DecodeTransaction(bank, card, data)
		if err != nil {
			if txn != nil {
				t.Fatalf("returned a transaction with the error %v", err)
			}
			if !errors.Is(err, ErrInvalidEvent) {
				t.Fatalf("error %v does not wrap ErrInvalidEvent", err)
			}
			return
		}
		if txn == nil {
			t.Fatal("nil transaction and nil error")
		}
		if err := txn.Validate(bank, card); err != nil {
			t.Fatalf("a decoded transaction does not validate again: %v", err)
		}
		if txn.Card.Token != card {
			t.Fatalf("card token %q, subject's %q", txn.Card.Token, card)
		}
		if !ValidCardToken(txn.Card.Token) {
			t.Fatalf("accepted the card token %q", txn.Card.Token)
		}
		if txn.Bank != "" && txn.Bank != bank {
			t.Fatalf("bank %q, subject's %q", txn.Bank, bank)
		}
		if txn.Amount.Minor < 0 || (txn.BillingAmount != nil && txn.BillingAmount.Minor < 0) {
			t.Fatalf("negative amount accepted: %+v %+v", txn.Amount, txn.BillingAmount)
		}
		if _, ok := CurrencyDigits(txn.Amount.Currency); !ok {
			t.Fatalf("accepted the currency %q", txn.Amount.Currency)
		}
		if txn.OccurredAt.IsZero() || txn.ID == "" || txn.CardholderID == "" {
			t.Fatalf("accepted without a required field: %+v", txn)
		}
		// The amounts survive their wire form exactly.
		for _, m := range []*Money{&txn.Amount, txn.BillingAmount} {
			if m == nil {
				continue
			}
			back, err := ParseMoney(m.Decimal(), m.Currency)
			if err != nil || back != *m {
				t.Fatalf("%+v: Decimal %q parses back to %+v, %v", *m, m.Decimal(), back, err)
			}
		}
	})
}

func FuzzParseRules(f *testing.F) {
	f.Add(exampleRules(f))
	f.Add([]byte(rulesYAML))
	files, err := filepath.Glob("testdata/bad-*.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("cardholders: &a [*a]\n"))
	f.Add([]byte("defaults: {rules: {amount_over: &x 5}}\ncardholders: [{id: a, bank: b, home_country: US, currency: USD, notify: {sms: '+15551230001'}, rules: {amount_over: *x}}]\n"))

	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := Parse("fuzz.yaml", data)
		if (b == nil) == (err == nil) {
			t.Fatalf("Parse gave Book %v and error %v: want exactly one", b != nil, err)
		}
		if err != nil {
			for _, e := range errorList(err) {
				var fe *FieldError
				if !errors.As(e, &fe) || fe.File != "fuzz.yaml" {
					t.Fatalf("error %q (%T) is not a *FieldError naming the file", e, e)
				}
			}
			return
		}
		if len(b.Cardholders()) != b.Len() {
			t.Fatalf("Len() %d, Cardholders() %d", b.Len(), len(b.Cardholders()))
		}
		for _, h := range b.Cardholders() {
			if h.ID == "" || !ValidBankID(h.Bank) {
				t.Fatalf("accepted a cardholder without an id or bank: %+v", *h)
			}
			if b.Lookup(h.Bank, h.ID) != h {
				t.Fatalf("Lookup(%q, %q) does not give the cardholder back", h.Bank, h.ID)
			}
			if _, ok := CurrencyDigits(h.Currency); !ok || !ValidCountry(h.HomeCountry) || h.Location == nil {
				t.Fatalf("accepted a cardholder with currency %q, home %q, location %v", h.Currency, h.HomeCountry, h.Location)
			}
			if h.Notify.SMS != "" && !ValidE164(h.Notify.SMS) {
				t.Fatalf("accepted the SMS number %q", h.Notify.SMS)
			}
			for _, r := range h.Rules {
				if r == nil {
					t.Fatal("nil rule in a cardholder")
				}
				// Rules must run on any valid transaction without panicking.
				r.Check(txn(nil), h, Facts{})
			}
		}
	})
}

func FuzzFindPANs(f *testing.F) {
	f.Add(exampleEvent(f))
	f.Add([]byte("4111111111111111"))
	f.Add([]byte("4111 1111 1111 1111"))
	f.Add([]byte("4111-1111-1111-1111"))
	f.Add([]byte(`{"n":378282246310005,"s":"card 4222222222222"}`))
	f.Add([]byte("12344111111111111111115678"))
	f.Add([]byte("9c1e5f0a-7d8b-4c1e-9a51-2f1d3e4b5a60 2026-11-24 1342.10"))
	f.Add([]byte(pan19 + " " + pan19))
	f.Add([]byte("4111\u00a01111\u202f1111\u20071111"))
	f.Add([]byte("\uff14\uff11\uff11\uff11\u200b\uff11\uff11\uff11\uff11.1111.1111"))
	f.Add([]byte("4111\t1111\n1111\r1111 4111\v1111\f1111/1111 4111_1111:1111:1111"))
	f.Add([]byte("(4111) 1111 1111 1111, 4111 (1111)-(1111)(1111) \uff084111\uff09\uff1a1111\uff0f1111\uff3f1111"))
	f.Add([]byte("cardwatch.txn.acme.4111_1111_1111_1111"))
	f.Add([]byte("2026-11-24T18:22:05Z 18:22:05 2026/11/24 [5732, 5411, 5812, 5999] 192.168.100.200:8080 [2001:4860:4860:0000:0000:0000:0000:8888]:443"))
	f.Add([]byte("100 100 100 100 100 100 100 100 100 4111 1111 1111 1111"))

	f.Fuzz(func(t *testing.T, data []byte) {
		hits := FindPANs(data)
		prevEnd := 0
		for _, h := range hits {
			if h[0] < prevEnd || h[0] >= h[1] || h[1] > len(data) {
				t.Fatalf("range %v out of order or bounds (previous end %d, len %d)", h, prevEnd, len(data))
			}
			prevEnd = h[1]
			s := data[h[0]:h[1]]
			_, lastSize := utf8.DecodeLastRune(s)
			if first, _ := panRuneAt(s, 0); !isDigit(first) {
				t.Fatalf("range %v = %q does not start with a digit", h, s)
			}
			if last, _ := panRuneAt(s, len(s)-lastSize); !isDigit(last) {
				t.Fatalf("range %v = %q does not end with a digit", h, s)
			}
			for i := 0; i < len(s); {
				c, size := panRuneAt(s, i)
				if c != 0 && !isGroupMark(c) {
					t.Fatalf("range %v = %q holds %q", h, s, s[i:i+size])
				}
				i += size
			}
			d := onlyDigits(string(readView(s).text))
			if len(d) < panMinDigits || len(d) > panMaxDigits || !luhnValid(d) {
				t.Fatalf("range %v = %q is not a 13-19 digit Luhn-valid number", h, s)
			}
		}

		masked, pans := MaskPANs(data)
		if len(hits) == 0 {
			if pans != nil || (len(data) > 0 && &masked[0] != &data[0]) {
				t.Fatalf("nothing to mask, but MaskPANs gave a copy or pans %q", pans)
			}
			return
		}
		if (len(masked) != len(data) && isASCII(data)) || len(pans) == 0 {
			t.Fatalf("masked %d bytes from %d, pans %q", len(masked), len(data), pans)
		}
		if again := FindPANs(masked); len(again) != 0 {
			t.Fatalf("MaskPANs(%q) = %q still holds %q", data, masked, masked[again[0][0]:again[0][1]])
		}
		for _, p := range pans {
			if len(onlyDigits(p)) > 10 {
				t.Fatalf("masked PAN %q shows more than 10 digits", p)
			}
		}
		if utf8.Valid(data) && !utf8.Valid(masked) {
			t.Fatalf("masking broke UTF-8: %q", masked)
		}
	})
}

// FuzzDecodeTransactionMatchesEncodingJSON: whatever DecodeTransaction accepts, encoding/json
// reads the same way into a Transaction. DecodeTransaction may be a hand-written decoder
// for speed; encoding/json is the reference for what the event means. (encoding/json
// matches member names case-insensitively, and the contract's names are exact, so inputs
// with a name that differs from a field's only by case are left out.)
func FuzzDecodeTransactionMatchesEncodingJSON(f *testing.F) {
	f.Add(exampleEvent(f))
	f.Add([]byte(`{"id":"e","cardholder_id":"c","card":{"token":"tok_4f9a2c"},"amount":{"value":1.5,"currency":"USD"},"merchant":{"name":"a\u00e9\"b"},"occurred_at":"2026-11-24T18:22:05.5+01:00","id":"e2"}`))
	f.Add([]byte(`{"id":"e","cardholder_id":"c","card":{"token":"tok_4f9a2c"},"amount":{"value":"7","currency":"JPY"},"billing_amount":null,"merchant":{"id":"m","x":[1,{"y":null}]},"terminal":null,"occurred_at":"2026-11-24T18:22:05Z"}`))

	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := DecodeTransaction(exampleBank, exampleCard, data)
		if err != nil || nameCaseVariant(data) {
			return
		}
		var want Transaction
		if err := json.Unmarshal(data, &want); err != nil {
			t.Fatalf("encoding/json refuses what DecodeTransaction accepts: %v", err)
		}
		a, b := *got, want
		if (a.BillingAmount == nil) != (b.BillingAmount == nil) || (a.BillingAmount != nil && *a.BillingAmount != *b.BillingAmount) {
			t.Fatalf("billing_amount %v, encoding/json reads %v", a.BillingAmount, b.BillingAmount)
		}
		if !a.OccurredAt.Equal(b.OccurredAt) {
			t.Fatalf("occurred_at %v, encoding/json reads %v", a.OccurredAt, b.OccurredAt)
		}
		a.BillingAmount, b.BillingAmount = nil, nil
		a.OccurredAt, b.OccurredAt = time.Time{}, time.Time{}
		if a != b {
			t.Fatalf("decoded\n%+v\nencoding/json reads\n%+v", a, b)
		}
	})
}

// contractNames are the member names of the event JSON.
var contractNames = []string{"id", "bank", "cardholder_id", "card", "token", "last4", "amount",
	"billing_amount", "value", "currency", "merchant", "name", "mcc", "city", "country",
	"terminal", "entry_mode", "status", "occurred_at"}

// nameCaseVariant reports whether data has a member name that equals a contract name
// only when case is ignored ("ID", "Amount").
func nameCaseVariant(data []byte) bool {
	d := json.NewDecoder(bytes.NewReader(data))
	for {
		tok, err := d.Token()
		if err != nil {
			return false
		}
		s, ok := tok.(string)
		if !ok {
			continue
		}
		for _, n := range contractNames {
			if s != n && strings.EqualFold(s, n) {
				return true
			}
		}
	}
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// FuzzScreenEvent writes a Luhn-valid number in any of the forms that hide it from a scan
// for ASCII digits (each digit in any script or as a JSON escape, grouped by any
// separator, or with none, or as a number with an exponent), puts it anywhere in an
// event (in a string, as a member name, as a member value or number), and asserts that
// the screen refuses it and keeps no readable number in the payload it returns.
func FuzzScreenEvent(f *testing.F) {
	ev := exampleEvent(f)
	for k := range uint16(8) {
		f.Add(ev, uint64(453914880343646), uint16(k), uint16(k), uint16(k*37))
	}
	f.Add([]byte(`[1, "x", {}]`), uint64(0), uint16(3), uint16(2), uint16(1))
	f.Add([]byte(`"just a string"`), uint64(378282246310005), uint16(5), uint16(9), uint16(0))
	f.Add([]byte(`{"a": {"b": []}}`), uint64(1), uint16(6), uint16(4), uint16(3))

	f.Fuzz(func(t *testing.T, data []byte, body uint64, look, sep, where uint16) {
		if !json.Valid(data) {
			data = ev
		}
		digits := strconv.FormatUint(body, 10)
		n := 12 + int(look%7) // a PAN of 13 to 19 digits
		digits = strings.Repeat("0", max(0, n-len(digits))) + digits
		pan := luhnComplete(digits[len(digits)-n:])
		event, form := injectPAN(t, data, pan, look/7, sep, where)
		masked, pans := ScreenEvent(event)
		if len(pans) == 0 {
			t.Fatalf("the number %s, written %s, passed the screen in %s", pan, form, event)
		}
		for _, p := range pans {
			if len(onlyDigits(p)) > 10 {
				t.Fatalf("masked number %q shows more than 10 digits", p)
			}
		}
		if masked == nil {
			return
		}
		if _, again := ScreenEvent(masked); again != nil {
			t.Fatalf("the masked payload %s still carries %q", masked, again)
		}
		if utf8.Valid(event) && !utf8.Valid(masked) {
			t.Fatalf("masking broke UTF-8: %q", masked)
		}
	})
}

// panDigitForms write one digit (its value added to each): ASCII, full-width,
// Arabic-Indic, extended Arabic-Indic, Devanagari, Bengali, Thai, mathematical bold,
// superscript (through NFKC), and the same as JSON escapes.
var panDigitForms = []func(d int) string{
	func(d int) string { return string(rune('0' + d)) },
	func(d int) string { return string(rune(0xff10 + d)) },
	func(d int) string { return string(rune(0x0660 + d)) },
	func(d int) string { return string(rune(0x06f0 + d)) },
	func(d int) string { return string(rune(0x0966 + d)) },
	func(d int) string { return string(rune(0x09e6 + d)) },
	func(d int) string { return string(rune(0x0e50 + d)) },
	func(d int) string { return string(rune(0x1d7ce + d)) },
	func(d int) string { return superscript(string(rune('0' + d))) },
	func(d int) string { return fmt.Sprintf(`\u%04x`, '0'+d) },
	func(d int) string { return fmt.Sprintf(`\u%04x`, 0xff10+d) },
}

// panSeparators go between groups (or, for the invisible ones, between digits): spaces,
// line breaks, dashes, dots, slashes, underscores and colons in any form, raw or as
// JSON escapes (a raw control character makes the event invalid JSON, which the screen
// reads all the same: the DLQ keeps such a payload).
var panSeparators = []string{"", " ", "-", ".", "\u00a0", "\u202f", "\u2007", "\u3000", "\u2009",
	"\u2013", "\u2011", "\u2212", "\uff0d", "\u00b7", "\uff0e", `\u00a0`, `\u2007`, "\u200b", "\u00ad", "\u2060", `\u200b`,
	"\t", "\n", "\r", "\v", "\f", "\u0085", "\u2028", `\t`, `\n`, `\r`, `\f`, `\u000b`, `\u0009`,
	"/", "\uff0f", `\/`, "_", "\uff3f", ":", "\uff1a", `\u003a`}

// groupForm is how writePAN writes the groups: with open and close around each (or the
// first only), joined by sep.
type groupForm struct {
	open, close, sep string
	each             bool
}

// panParens put groups in parentheses, ASCII or full-width, and join them; a sep past
// the end of panSeparators picks one.
var panParens = []groupForm{
	{"(", ")", " ", false},
	{"(", ")", "", true},
	{"(", ")", "-", true},
	{"\uff08", "\uff09", "\u3000", false},
	{`\u0028`, `\u0029`, `\t`, true},
}

// writePAN writes pan with each digit in a form chosen by look's bits and groups of four
// (the last group of at least three) written and joined in a way chosen by sep.
func writePAN(pan string, look, sep uint16) string {
	var groups []string
	for i := 0; i < len(pan); i += 4 {
		groups = append(groups, pan[i:min(i+4, len(pan))])
	}
	if last := groups[len(groups)-1]; len(last) < 3 {
		groups = append(groups[:len(groups)-2], groups[len(groups)-2]+last)
	}
	var gf groupForm
	if s := int(sep) % (len(panSeparators) + len(panParens)); s < len(panSeparators) {
		gf.sep = panSeparators[s]
	} else {
		gf = panParens[s-len(panSeparators)]
	}
	var b strings.Builder
	k := 0
	for g, group := range groups {
		open, close := "", ""
		if g == 0 || gf.each {
			open, close = gf.open, gf.close
		}
		if g > 0 {
			b.WriteString(gf.sep)
		}
		b.WriteString(open)
		for _, c := range group {
			// look picks one form for all, or a mix that changes digit by digit.
			form := int(look) % len(panDigitForms)
			if look&0x100 != 0 {
				form = (int(look) + k*int(look>>9|1)) % len(panDigitForms)
			}
			b.WriteString(panDigitForms[form](int(c - '0')))
			k++
		}
		b.WriteString(close)
	}
	return b.String()
}

// injectPAN puts pan into the JSON event data at a place chosen by where: inside a
// string (a value or a member name), as a new member name, as a new member value, or as
// a number with an exponent. It returns the event and a description of the form.
func injectPAN(t *testing.T, data []byte, pan string, look, sep, where uint16) (event []byte, form string) {
	t.Helper()
	var strs, objs []int // where each string token starts, where each object's '{' ends
	dec := jsontext.NewDecoder(bytes.NewReader(data), jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	for {
		k := dec.PeekKind()
		if k == 0 {
			break
		}
		if k == '"' {
			v, err := dec.ReadValue()
			if err != nil {
				t.Fatal(err)
			}
			strs = append(strs, int(dec.InputOffset())-len(v))
			continue
		}
		if _, err := dec.ReadToken(); err != nil {
			t.Fatal(err)
		}
		if k == '{' {
			objs = append(objs, int(dec.InputOffset()))
		}
	}
	if len(objs) == 0 {
		data = []byte(`{"x":` + string(data) + `}`)
		strs, objs = append([]int{1}, shift(strs, 5)...), []int{1}
	}
	text := writePAN(pan, look, sep)
	insert := func(at int, s string) []byte {
		return []byte(string(data[:at]) + s + string(data[at:]))
	}
	member := func(m string) []byte {
		at := objs[int(where/4)%len(objs)]
		if rest := bytes.TrimLeft(data[at:], " \t\r\n"); len(rest) > 0 && rest[0] != '}' {
			m += ","
		}
		return insert(at, m)
	}
	switch where % 4 {
	case 0:
		if len(strs) == 0 {
			return member(`"` + text + `": 1`), "as a member name " + text
		}
		at := strs[int(where/4)%len(strs)] + 1
		return insert(at, "|"+text+"|"), "in a string as " + text
	case 1:
		return member(`"` + text + `": 1`), "as a member name " + text
	case 2:
		return member(`"note": "` + text + `"`), "as a member value " + text
	}
	if pan[0] == '0' { // a JSON number has no leading zero, and no card number starts with one
		return member(`"note": "` + text + `"`), "as a member value " + text
	}
	num := fmt.Sprintf("%s.%se%d", pan[:1], pan[1:], len(pan)-1)
	return member(`"n": ` + num), "as the number " + num
}

func shift(offsets []int, by int) []int {
	for i := range offsets {
		offsets[i] += by
	}
	return offsets
}
