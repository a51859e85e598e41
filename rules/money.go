package rules

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/bojanz/currency"
)

// Money is an exact amount: minor units (cents, yen, fils) of an ISO 4217 currency.
// It is never a float, so 0.1 + 0.2 is exactly 0.3 and a threshold compares exactly.
type Money struct {
	// Minor is the amount in the currency's minor unit (1342.10 USD is 134210).
	Minor int64
	// Currency is the ISO 4217 code, upper case.
	Currency string
}

// ErrBadAmount is wrapped by every amount parsing error.
var ErrBadAmount = errors.New("bad amount")

// errTooPrecise marks an amount with more decimals than its currency; its text is empty
// so that it only classifies.
var errTooPrecise = errors.New("")

// CurrencyDigits returns the number of minor-unit digits of an ISO 4217 currency
// (0 for JPY, 2 for USD, 3 for BHD) and whether the code is a known currency.
func CurrencyDigits(code string) (int, bool) {
	if len(code) != 3 || !currency.IsValid(code) {
		return 0, false
	}
	d, ok := currency.GetDigits(code)
	return int(d), ok
}

// ParseMoney parses a decimal string ("1342.10", "1342.1", "1342") in a currency.
// It refuses more fraction digits than the currency has unless they are zeros,
// because an amount that cannot be held exactly is a bank's bug, not a rounding case.
func ParseMoney(value, code string) (Money, error) {
	digits, ok := CurrencyDigits(code)
	if !ok {
		return Money{}, fmt.Errorf("%w: %q is not an ISO 4217 currency code", ErrBadAmount, code)
	}
	minor, err := parseMinor(value, digits)
	if err != nil {
		return Money{}, err
	}
	return Money{Minor: minor, Currency: code}, nil
}

func parseMinor(s string, digits int) (int64, error) {
	if s == "" {
		return 0, fmt.Errorf("%w: empty", ErrBadAmount)
	}
	if s[0] == '-' {
		return 0, fmt.Errorf("%w: %q is negative", ErrBadAmount, s)
	}
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" || (hasDot && frac == "") {
		return 0, fmt.Errorf("%w: %q is not a decimal number", ErrBadAmount, s)
	}
	var n int64
	for i := 0; i < len(whole); i++ {
		c := whole[i]
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%w: %q is not a decimal number", ErrBadAmount, s)
		}
		if n > (math.MaxInt64-9)/10 {
			return 0, fmt.Errorf("%w: %q is too large", ErrBadAmount, s)
		}
		n = n*10 + int64(c-'0')
	}
	for i := 0; i < len(frac); i++ {
		c := frac[i]
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%w: %q is not a decimal number", ErrBadAmount, s)
		}
		if i >= digits {
			if c != '0' {
				return 0, fmt.Errorf("%w: %q has more than %d decimal places%w", ErrBadAmount, s, digits, errTooPrecise)
			}
			continue
		}
		if n > (math.MaxInt64-9)/10 {
			return 0, fmt.Errorf("%w: %q is too large", ErrBadAmount, s)
		}
		n = n*10 + int64(c-'0')
	}
	for i := len(frac); i < digits; i++ {
		if n > math.MaxInt64/10 {
			return 0, fmt.Errorf("%w: %q is too large", ErrBadAmount, s)
		}
		n *= 10
	}
	return n, nil
}

// Decimal returns the amount as a plain decimal string with the currency's digits,
// "1342.10" for 134210 USD, "500" for 500 JPY.
func (m Money) Decimal() string {
	digits, _ := CurrencyDigits(m.Currency)
	sign, n := "", m.Minor
	if n < 0 {
		sign, n = "-", -n // a refund, should one ever be held
	}
	s := strconv.FormatInt(n, 10)
	if digits == 0 {
		return sign + s
	}
	if len(s) <= digits {
		s = strings.Repeat("0", digits-len(s)+1) + s
	}
	return sign + s[:len(s)-digits] + "." + s[len(s)-digits:]
}

// IsZero reports whether m is the zero Money (no currency).
func (m Money) IsZero() bool { return m.Currency == "" && m.Minor == 0 }

// String returns "1342.10 USD".
func (m Money) String() string { return m.Decimal() + " " + m.Currency }

// Amount returns m as a bojanz/currency Amount, for CLDR formatting.
func (m Money) Amount() currency.Amount {
	a, err := currency.NewAmount(m.Decimal(), m.Currency)
	if err != nil {
		// Money is only ever built from a valid currency, so this cannot happen
		// short of memory corruption; an empty amount formats as nothing.
		return currency.Amount{}
	}
	return a
}

// moneyJSON is the wire form: {"value": "1342.10", "currency": "USD"}.
type moneyJSON struct {
	Value    json.RawMessage `json:"value"`
	Currency string          `json:"currency"`
}

// UnmarshalJSON accepts {"value": "1250.00", "currency": "EUR"}; the value may also be a
// JSON number, which is read from its text, never through a float.
func (m *Money) UnmarshalJSON(b []byte) error {
	var w moneyJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return fmt.Errorf("%w: %v", ErrBadAmount, err)
	}
	v := bytes.TrimSpace(w.Value)
	if len(v) == 0 || string(v) == "null" {
		return fmt.Errorf("%w: value is missing", ErrBadAmount)
	}
	var s string
	if v[0] == '"' {
		if err := json.Unmarshal(v, &s); err != nil {
			return fmt.Errorf("%w: %v", ErrBadAmount, err)
		}
	} else {
		s = string(v)
		if strings.ContainsAny(s, "eE+") {
			return fmt.Errorf("%w: %q must be a plain decimal", ErrBadAmount, s)
		}
	}
	if w.Currency == "" {
		return fmt.Errorf("%w: currency is missing", ErrBadAmount)
	}
	p, err := ParseMoney(s, w.Currency)
	if err != nil {
		return err
	}
	*m = p
	return nil
}

// MarshalJSON writes {"value": "1342.10", "currency": "USD"}.
func (m Money) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 48)
	b = append(b, `{"value":"`...)
	b = append(b, m.Decimal()...)
	b = append(b, `","currency":`...)
	b = strconv.AppendQuote(b, m.Currency)
	return append(b, '}'), nil
}

var formatter = currency.NewFormatter(currency.NewLocale("en"))

// Format returns the amount as people read it in English, "$1,342.10", "€1,250.00", "¥500".
func (m Money) Format() string { return formatter.Format(m.Amount()) }
