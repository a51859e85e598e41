package rules

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/bojanz/currency"
	"github.com/go-json-experiment/json/jsontext"
)

// DecodeTransaction decodes and validates one event published on cardwatch.txn.<bank>.<card>.
// The error says every problem found, in words an operator reading the DLQ can act on.
// Callers must look for PANs first (ScreenEvent on the payload, MaskPANs on the subject
// and headers): DecodeTransaction only refuses a number that escapes hide in a field it
// reads, so that the guard covers the whole event in one place.
//
// It runs for every transaction, so it reads the JSON token by token (jsontext, the
// tokenizer of encoding/json/v2) into the transaction and one string that backs all its
// text fields, a handful of allocations per event instead of some forty through
// reflection (BenchmarkDecode has the figure).
// Unknown fields are skipped, so banks can send more than the contract asks.
func DecodeTransaction(bank, card string, data []byte) (*Transaction, error) {
	if len(data) > MaxEventSize {
		return nil, fmt.Errorf("%w: %d bytes is over the %d byte limit", ErrInvalidEvent, len(data), MaxEventSize)
	}
	d := decoders.Get().(*decoder)
	defer d.release()
	d.buf.Reset()
	d.buf.Write(data)
	d.dec.Reset(&d.buf, decodeOptions)
	x := new(txnBox)
	if err := d.transaction(x); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalidEvent, err)
	}
	if len(d.pans) > 0 {
		return nil, fmt.Errorf("%w (%s) written with JSON escapes; send card tokens, never card numbers", ErrPAN, strings.Join(d.pans, ", "))
	}
	if err := x.t.Validate(bank, card); err != nil {
		return nil, err
	}
	return &x.t, nil
}

// txnBox allocates a transaction and its billing amount together.
type txnBox struct {
	t       Transaction
	billing Money
}

// decoder is one decoding's scratch space, pooled: the tokenizer, its reader, and the
// bytes of every text field, turned into one string at the end.
type decoder struct {
	// buf holds a copy of the event: jsontext reads a *bytes.Buffer in place, where it
	// would copy from any other reader.
	buf   bytes.Buffer
	dec   *jsontext.Decoder
	arena []byte
	spans []span
	name  []byte   // an escaped member name, unquoted
	pans  []string // card numbers, masked, that JSON escapes hid from the raw scan
	num   []byte   // an amount's text
	when  span
}

// span is where one text field's bytes are in the arena.
type span struct {
	dst        *string
	start, end int
}

// decodeOptions lets a repeated member name through: the last one wins and is validated
// like any other, and tracking names costs a tenth of the decoding time.
var decodeOptions = jsontext.AllowDuplicateNames(true)

var decoders = sync.Pool{New: func() any {
	d := &decoder{}
	d.dec = jsontext.NewDecoder(&d.buf, decodeOptions)
	return d
}}

func (d *decoder) release() {
	if cap(d.arena) > MaxEventSize*2 {
		return // an unusual event; let the memory go
	}
	d.arena, d.spans, d.name, d.num, d.when, d.pans = d.arena[:0], d.spans[:0], d.name[:0], d.num[:0], span{}, nil
	d.buf.Reset()
	decoders.Put(d)
}

// problem is a decoding error in the words of the DLQ reason.
func problem(format string, args ...any) error { return fmt.Errorf(format, args...) }

func (d *decoder) syntax(err error) error {
	var se *jsontext.SyntacticError
	if errors.As(err, &se) {
		return problem("not JSON: %s (at byte %d)", strings.TrimPrefix(se.Err.Error(), "jsontext: "), se.ByteOffset)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return problem("not JSON: unexpected end of input")
	}
	return problem("not JSON: %v", err)
}

func (d *decoder) transaction(x *txnBox) error {
	if err := d.open("", "a JSON object"); err != nil {
		return err
	}
	for d.dec.PeekKind() == '"' {
		name, err := d.readName()
		if err != nil {
			return err
		}
		t := &x.t
		switch name {
		case "id":
			err = d.text(&t.ID, "id")
		case "bank":
			err = d.text(&t.Bank, "bank")
		case "cardholder_id":
			err = d.text(&t.CardholderID, "cardholder_id")
		case "card":
			err = d.card(&t.Card)
		case "amount":
			err = d.money(&t.Amount, amountPaths)
		case "billing_amount":
			if d.dec.PeekKind() == 'n' {
				err = d.dec.SkipValue()
				break
			}
			if err = d.money(&x.billing, billingPaths); err == nil {
				t.BillingAmount = &x.billing
			}
		case "merchant":
			err = d.merchant(&t.Merchant)
		case "terminal":
			err = d.terminal(&t.Terminal)
		case "status":
			err = d.enum(&t.Status, "status", StatusApproved, StatusDeclined)
		case "occurred_at":
			d.when = span{}
			err = d.text(nil, "occurred_at")
		default:
			err = d.dec.SkipValue()
		}
		if err != nil {
			return d.wrap(err)
		}
	}
	if err := d.close(); err != nil {
		return err
	}
	if _, err := d.dec.ReadToken(); err != io.EOF {
		return problem("not JSON: data after the event's object")
	}
	s := string(d.arena)
	for _, sp := range d.spans {
		*sp.dst = s[sp.start:sp.end]
	}
	if d.when.end > d.when.start {
		at, err := time.Parse(time.RFC3339Nano, s[d.when.start:d.when.end])
		if err != nil {
			return problem("occurred_at %q is not an RFC 3339 time", s[d.when.start:d.when.end])
		}
		x.t.OccurredAt = at
	}
	return nil
}

// wrap passes field problems on, and turns tokenizer errors into "not JSON".
func (d *decoder) wrap(err error) error {
	if err == nil {
		return nil // errors.As below would allocate its target on every call
	}
	var se *jsontext.SyntacticError
	if errors.As(err, &se) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return d.syntax(err)
	}
	return err
}

// open reads the '{' of an object (or a null, which leaves the field empty: ok=false).
func (d *decoder) open(path, what string) error {
	switch k := d.dec.PeekKind(); k {
	case '{':
		_, err := d.dec.ReadToken()
		return d.wrap(err)
	case 0:
		_, err := d.dec.ReadToken()
		return d.syntax(err)
	default:
		if path == "" {
			return d.unexpected("", "a JSON object", k)
		}
		return d.unexpected(path+": ", "an object", k)
	}
}

// unexpected reads the value of the wrong kind, so that a malformed one ("nul", "tru")
// is reported as not JSON, and says what was expected.
func (d *decoder) unexpected(prefix, want string, k jsontext.Kind) error {
	if _, err := d.dec.ReadValue(); err != nil {
		return d.syntax(err)
	}
	return problem("%sexpected %s, got %s", prefix, want, kindName(k))
}

func (d *decoder) close() error {
	_, err := d.dec.ReadToken()
	return d.wrap(err)
}

// readName reads an object member's name. Names are compared without allocating.
func (d *decoder) readName() (string, error) {
	v, err := d.dec.ReadValue()
	if err != nil {
		return "", d.wrap(err)
	}
	if bytes.IndexByte(v, '\\') < 0 {
		return unsafeString(v[1 : len(v)-1]), nil
	}
	d.name, err = jsontext.AppendUnquote(d.name[:0], v)
	if err != nil {
		return "", d.syntax(err)
	}
	return unsafeString(d.name), nil
}

// text reads a string field into the arena; dst nil means the occurred_at span. A null
// leaves the field empty, as encoding/json would.
func (d *decoder) text(dst *string, path string) error {
	start, end, null, err := d.stringValue(path)
	if err != nil || null {
		return err
	}
	if dst == nil {
		d.when = span{start: start, end: end}
		return nil
	}
	d.spans = append(d.spans, span{dst: dst, start: start, end: end})
	return nil
}

// stringValue unquotes a JSON string onto the arena and returns where it landed. It
// reads the value first and looks at its first byte, which costs one call into the
// tokenizer rather than two.
func (d *decoder) stringValue(path string) (start, end int, null bool, err error) {
	v, err := d.dec.ReadValue()
	if err != nil {
		return 0, 0, false, d.wrap(err)
	}
	switch k := v.Kind(); k {
	case '"':
	case 'n':
		return 0, 0, true, nil
	default:
		return 0, 0, false, problem("%s: expected a string, got %s", path, kindName(k))
	}
	start = len(d.arena)
	if bytes.IndexByte(v, '\\') < 0 {
		d.arena = append(d.arena, v[1:len(v)-1]...)
		return start, len(d.arena), false, nil
	}
	if d.arena, err = jsontext.AppendUnquote(d.arena, v); err != nil {
		return 0, 0, false, problem("%s: %v", path, err)
	}
	// The PAN guard reads the raw bytes, where "\u0034111..." hides a card number
	// that unquoting brings back.
	if _, pans := MaskPANs(d.arena[start:]); len(pans) > 0 {
		d.pans = append(d.pans, pans...)
	}
	return start, len(d.arena), false, nil
}

// enum reads a string that must be one of a few constants, and stores the constant, so
// that it costs no allocation.
func (d *decoder) enum(dst *string, path string, allowed ...string) error {
	start, end, null, err := d.stringValue(path)
	if err != nil || null {
		return err
	}
	v := d.arena[start:end]
	for _, a := range allowed {
		if string(v) == a {
			*dst = a
			d.arena = d.arena[:start]
			return nil
		}
	}
	d.spans = append(d.spans, span{dst: dst, start: start, end: end}) // Validate names it
	return nil
}

// code reads a currency or country code, interned from table when it is a known one.
func (d *decoder) code(dst *string, path string, table map[string]string) error {
	start, end, null, err := d.stringValue(path)
	if err != nil || null {
		return err
	}
	if c, ok := table[string(d.arena[start:end])]; ok {
		*dst = c
		d.arena = d.arena[:start]
		return nil
	}
	d.spans = append(d.spans, span{dst: dst, start: start, end: end})
	return nil
}

// object reads a nested object (or a null, which leaves it empty), handing each member
// to field by name; field skips the names it does not know.
func (d *decoder) object(path string, field func(name string) error) error {
	if d.dec.PeekKind() == 'n' {
		return d.dec.SkipValue()
	}
	if err := d.open(path, ""); err != nil {
		return err
	}
	for d.dec.PeekKind() == '"' {
		name, err := d.readName()
		if err != nil {
			return err
		}
		if err := field(name); err != nil {
			return d.wrap(err)
		}
	}
	return d.close()
}

func (d *decoder) card(c *Card) error {
	return d.object("card", func(name string) error {
		switch name {
		case "token":
			return d.text(&c.Token, "card.token")
		case "last4":
			return d.text(&c.Last4, "card.last4")
		}
		return d.dec.SkipValue()
	})
}

func (d *decoder) merchant(m *Merchant) error {
	return d.object("merchant", func(name string) error {
		switch name {
		case "id":
			return d.text(&m.ID, "merchant.id")
		case "name":
			return d.text(&m.Name, "merchant.name")
		case "mcc":
			return d.text(&m.MCC, "merchant.mcc")
		case "city":
			return d.text(&m.City, "merchant.city")
		case "country":
			return d.code(&m.Country, "merchant.country", countryCodes)
		}
		return d.dec.SkipValue()
	})
}

func (d *decoder) terminal(t *Terminal) error {
	return d.object("terminal", func(name string) error {
		switch name {
		case "id":
			return d.text(&t.ID, "terminal.id")
		case "country":
			return d.code(&t.Country, "terminal.country", countryCodes)
		case "entry_mode":
			return d.enum(&t.EntryMode, "terminal.entry_mode",
				EntryChip, EntryContactless, EntryMagstripe, EntryManual, EntryEcommerce, EntryATM)
		}
		return d.dec.SkipValue()
	})
}

// money reads {"value": "1250.00" or 1250.00, "currency": "EUR"} exactly: the value is
// read from its text, never through a float.
func (d *decoder) money(m *Money, p moneyPaths) error {
	path := p.self
	if d.dec.PeekKind() == 'n' {
		return d.dec.SkipValue()
	}
	if err := d.open(path, ""); err != nil {
		return err
	}
	var code string
	var value []byte
	valueSet := false
	for d.dec.PeekKind() == '"' {
		name, err := d.readName()
		if err != nil {
			return err
		}
		switch name {
		case "value":
			valueSet = true
			switch k := d.dec.PeekKind(); k {
			case '0':
				v, err := d.dec.ReadValue()
				if err != nil {
					return d.wrap(err)
				}
				if bytes.ContainsAny(v, "eE+") {
					return fmt.Errorf("%s: %w: %s must be a plain decimal", path, ErrBadAmount, v)
				}
				value = append(d.num[:0], v...)
				d.num = value
			case '"':
				start, end, _, err := d.stringValue(p.value)
				if err != nil {
					return err
				}
				value = append(d.num[:0], d.arena[start:end]...)
				d.num = value
				d.arena = d.arena[:start]
			case 'n':
				valueSet = false
				err = d.dec.SkipValue()
			default:
				return d.unexpected(path+".value: ", "a decimal string", k)
			}
		case "currency":
			var start, end int
			var null bool
			start, end, null, err = d.stringValue(p.currency)
			if err == nil && !null {
				var ok bool
				if code, ok = currencyCodes[string(d.arena[start:end])]; !ok {
					code = string(d.arena[start:end]) // refused below, with its text
				}
				d.arena = d.arena[:start]
			}
		default:
			err = d.dec.SkipValue()
		}
		if err != nil {
			return d.wrap(err)
		}
	}
	if err := d.close(); err != nil {
		return err
	}
	if !valueSet {
		return fmt.Errorf("%s: %w: value is missing", path, ErrBadAmount)
	}
	if code == "" {
		return fmt.Errorf("%s: %w: currency is missing", path, ErrBadAmount)
	}
	digits, ok := CurrencyDigits(code)
	if !ok {
		return fmt.Errorf("%s: %w: %q is not an ISO 4217 currency code", path, ErrBadAmount, code)
	}
	minor, err := parseMinor(unsafeString(value), digits)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	*m = Money{Minor: minor, Currency: code}
	return nil
}

// moneyPaths are the field paths of one amount, spelled out so that no path is built
// by concatenation on every event.
type moneyPaths struct{ self, value, currency string }

var (
	amountPaths  = moneyPaths{"amount", "amount.value", "amount.currency"}
	billingPaths = moneyPaths{"billing_amount", "billing_amount.value", "billing_amount.currency"}
)

func kindName(k jsontext.Kind) string {
	switch k {
	case '"':
		return "a string"
	case '0':
		return "a number"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "nothing"
}

// currencyCodes and countryCodes intern the codes events carry, so that reading one
// allocates nothing and checking one is a map lookup.
var (
	currencyCodes = func() map[string]string {
		m := map[string]string{}
		for _, c := range currency.GetCurrencyCodes() {
			m[c] = c
		}
		return m
	}()
	countryCodes = func() map[string]string {
		m := map[string]string{"AQ": "AQ"} // Antarctica: a country code with no currency
		for a := 'A'; a <= 'Z'; a++ {
			for b := 'A'; b <= 'Z'; b++ {
				c := string([]rune{a, b})
				if _, ok := currency.ForCountryCode(c); ok && !notISOCountry[c] {
					m[c] = c
				}
			}
		}
		return m
	}()
)

// CLDR gives currencies to a few codes ISO 3166-1 only reserves (Ascension, Diego Garcia,
// the Canary Islands, Tristan da Cunha). XK (Kosovo) stays: it is user-assigned, but card
// networks use it.
var notISOCountry = map[string]bool{"AC": true, "DG": true, "IC": true, "TA": true}
