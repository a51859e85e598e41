package rules

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestParseMoney(t *testing.T) {
	tests := []struct {
		name     string
		value    string
		currency string
		want     int64  // Minor, when wantErr is ""
		wantErr  string // part of the error text, "" for success
	}{
		// JPY has no minor unit.
		{"JPY whole", "500", "JPY", 500, ""},
		{"JPY zero", "0", "JPY", 0, ""},
		{"JPY trailing zero fraction", "500.0", "JPY", 500, ""},
		{"JPY fraction", "500.5", "JPY", 0, "more than 0 decimal places"},

		// USD has two.
		{"USD two places", "1342.10", "USD", 134210, ""},
		{"USD one place", "1342.1", "USD", 134210, ""},
		{"USD no places", "1342", "USD", 134200, ""},
		{"USD extra zero", "1342.100", "USD", 134210, ""},
		{"USD third place", "1342.101", "USD", 0, "more than 2 decimal places"},
		{"USD leading zeros", "007.05", "USD", 705, ""},
		{"USD cents only", "0.05", "USD", 5, ""},

		// BHD has three.
		{"BHD three places", "1.234", "BHD", 1234, ""},
		{"BHD fourth place", "1.2345", "BHD", 0, "more than 3 decimal places"},

		// Not amounts.
		{"empty", "", "USD", 0, "empty"},
		{"negative", "-1", "USD", 0, "negative"},
		{"plus sign", "+1", "USD", 0, "not a decimal number"},
		{"exponent", "1e3", "USD", 0, "not a decimal number"},
		{"thousands separator", "1,000.00", "USD", 0, "not a decimal number"},
		{"no whole part", ".5", "USD", 0, "not a decimal number"},
		{"no fraction after dot", "5.", "USD", 0, "not a decimal number"},
		{"two dots", "1.2.3", "USD", 0, "not a decimal number"},
		{"letters", "abc", "USD", 0, "not a decimal number"},
		{"space", " 5", "USD", 0, "not a decimal number"},
		{"overflow", "99999999999999999999", "USD", 0, "too large"},
		{"overflow by scaling", "99999999999999999", "USD", 0, "too large"},
		{"overflow JPY", "99999999999999999999", "JPY", 0, "too large"},

		// Not currencies.
		{"unknown currency", "1", "XXY", 0, `"XXY" is not an ISO 4217 currency code`},
		{"lower case currency", "1", "usd", 0, `"usd" is not an ISO 4217 currency code`},
		{"empty currency", "1", "", 0, `"" is not an ISO 4217 currency code`},
		{"long currency", "1", "USDT", 0, `"USDT" is not an ISO 4217 currency code`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseMoney(tt.value, tt.currency)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("ParseMoney(%q, %q) = %+v, want an error with %q", tt.value, tt.currency, m, tt.wantErr)
				}
				if !errors.Is(err, ErrBadAmount) {
					t.Errorf("error %q does not wrap ErrBadAmount", err)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error %q does not say %q", err, tt.wantErr)
				}
				if m != (Money{}) {
					t.Errorf("ParseMoney returned %+v with its error, want the zero Money", m)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseMoney(%q, %q): %v", tt.value, tt.currency, err)
			}
			if want := (Money{Minor: tt.want, Currency: tt.currency}); m != want {
				t.Errorf("ParseMoney(%q, %q) = %+v, want %+v", tt.value, tt.currency, m, want)
			}
		})
	}
}

func TestParseMoneyLargeAmount(t *testing.T) {
	// A quadrillion dollars still fits; the overflow guard must not bite near real amounts.
	m, err := ParseMoney("999999999999999.99", "USD")
	if err != nil {
		t.Fatalf("large amount refused: %v", err)
	}
	if m.Minor != 99999999999999999 {
		t.Errorf("Minor = %d, want 99999999999999999", m.Minor)
	}
}

func TestCurrencyDigits(t *testing.T) {
	tests := []struct {
		code   string
		digits int
		ok     bool
	}{
		{"JPY", 0, true},
		{"USD", 2, true},
		{"EUR", 2, true},
		{"BHD", 3, true},
		{"XXY", 0, false},
		{"usd", 0, false},
		{"", 0, false},
		{"US", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			d, ok := CurrencyDigits(tt.code)
			if d != tt.digits || ok != tt.ok {
				t.Errorf("CurrencyDigits(%q) = %d, %v, want %d, %v", tt.code, d, ok, tt.digits, tt.ok)
			}
		})
	}
}

func TestMoneyUnmarshalJSON(t *testing.T) {
	tests := []struct {
		name    string
		json    string
		want    Money
		wantErr string
	}{
		{"string value", `{"value":"1250.00","currency":"EUR"}`, Money{125000, "EUR"}, ""},
		{"number value", `{"value":1250.00,"currency":"EUR"}`, Money{125000, "EUR"}, ""},
		{"number value whole", `{"value":1250,"currency":"EUR"}`, Money{125000, "EUR"}, ""},
		// 0.1 has no exact float64; read from its text it is exactly 10 cents.
		{"number 0.1", `{"value":0.1,"currency":"USD"}`, Money{10, "USD"}, ""},
		// 17 significant digits: a float64 holds about 15.9, so a float round trip would
		// give ...68 here.
		{"number 17 significant digits", `{"value":123456789012345.67,"currency":"USD"}`, Money{12345678901234567, "USD"}, ""},
		{"string 17 significant digits", `{"value":"123456789012345.67","currency":"USD"}`, Money{12345678901234567, "USD"}, ""},
		{"spaces around", ` { "currency" : "JPY" , "value" : 500 } `, Money{500, "JPY"}, ""},
		{"BHD", `{"value":"1.234","currency":"BHD"}`, Money{1234, "BHD"}, ""},

		{"exponent", `{"value":1e3,"currency":"USD"}`, Money{}, "plain decimal"},
		{"exponent upper", `{"value":1E3,"currency":"USD"}`, Money{}, "plain decimal"},
		{"exponent with fraction", `{"value":1.25e+3,"currency":"USD"}`, Money{}, "plain decimal"},
		{"exponent negative", `{"value":125e-2,"currency":"USD"}`, Money{}, "plain decimal"},
		{"exponent in a string", `{"value":"1e3","currency":"USD"}`, Money{}, "not a decimal number"},
		{"negative number", `{"value":-5,"currency":"USD"}`, Money{}, "negative"},
		{"too many decimals", `{"value":"12.345","currency":"USD"}`, Money{}, "more than 2 decimal places"},
		{"value missing", `{"currency":"USD"}`, Money{}, "value is missing"},
		{"value null", `{"value":null,"currency":"USD"}`, Money{}, "value is missing"},
		{"value empty string", `{"value":"","currency":"USD"}`, Money{}, "empty"},
		{"value bool", `{"value":true,"currency":"USD"}`, Money{}, "plain decimal"},
		{"value object", `{"value":{},"currency":"USD"}`, Money{}, "not a decimal number"},
		{"currency missing", `{"value":"1.00"}`, Money{}, "currency is missing"},
		{"currency empty", `{"value":"1.00","currency":""}`, Money{}, "currency is missing"},
		{"currency unknown", `{"value":"1.00","currency":"XXY"}`, Money{}, "not an ISO 4217 currency code"},
		{"not an object", `"1250.00"`, Money{}, "bad amount"},
		{"null", `null`, Money{}, "value is missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m Money
			err := json.Unmarshal([]byte(tt.json), &m)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("Unmarshal(%s) = %+v, want an error with %q", tt.json, m, tt.wantErr)
				}
				if !errors.Is(err, ErrBadAmount) {
					t.Errorf("error %q does not wrap ErrBadAmount", err)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error %q does not say %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Unmarshal(%s): %v", tt.json, err)
			}
			if m != tt.want {
				t.Errorf("Unmarshal(%s) = %+v, want %+v", tt.json, m, tt.want)
			}
		})
	}
}

func TestMoneyDecimalAndJSONRoundTrip(t *testing.T) {
	tests := []struct {
		money   Money
		decimal string
		json    string
	}{
		{Money{500, "JPY"}, "500", `{"value":"500","currency":"JPY"}`},
		{Money{0, "JPY"}, "0", `{"value":"0","currency":"JPY"}`},
		{Money{134210, "USD"}, "1342.10", `{"value":"1342.10","currency":"USD"}`},
		{Money{5, "USD"}, "0.05", `{"value":"0.05","currency":"USD"}`},
		{Money{50, "USD"}, "0.50", `{"value":"0.50","currency":"USD"}`},
		{Money{0, "USD"}, "0.00", `{"value":"0.00","currency":"USD"}`},
		{Money{100, "USD"}, "1.00", `{"value":"1.00","currency":"USD"}`},
		{Money{1234, "BHD"}, "1.234", `{"value":"1.234","currency":"BHD"}`},
		{Money{5, "BHD"}, "0.005", `{"value":"0.005","currency":"BHD"}`},
		{Money{99999999999999999, "USD"}, "999999999999999.99", `{"value":"999999999999999.99","currency":"USD"}`},
	}
	for _, tt := range tests {
		t.Run(tt.money.Decimal()+" "+tt.money.Currency, func(t *testing.T) {
			if got := tt.money.Decimal(); got != tt.decimal {
				t.Errorf("Decimal() = %q, want %q", got, tt.decimal)
			}
			if got, want := tt.money.String(), tt.decimal+" "+tt.money.Currency; got != want {
				t.Errorf("String() = %q, want %q", got, want)
			}
			b, err := json.Marshal(tt.money)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			if string(b) != tt.json {
				t.Errorf("Marshal = %s, want %s", b, tt.json)
			}
			var back Money
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatalf("Unmarshal(%s): %v", b, err)
			}
			if back != tt.money {
				t.Errorf("round trip gave %+v, want %+v", back, tt.money)
			}
			// Parsing the decimal text gives the same Money back too.
			p, err := ParseMoney(tt.decimal, tt.money.Currency)
			if err != nil || p != tt.money {
				t.Errorf("ParseMoney(%q) = %+v, %v, want %+v", tt.decimal, p, err, tt.money)
			}
		})
	}
}

func TestMoneyMarshalInsideStruct(t *testing.T) {
	// A *Money field (billing_amount) must use the same wire form as a Money one.
	v := struct {
		A Money  `json:"a"`
		B *Money `json:"b"`
	}{Money{125000, "EUR"}, &Money{134210, "USD"}}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"a":{"value":"1250.00","currency":"EUR"},"b":{"value":"1342.10","currency":"USD"}}`
	if string(b) != want {
		t.Errorf("Marshal = %s, want %s", b, want)
	}
}

func TestMoneyIsZero(t *testing.T) {
	if !(Money{}).IsZero() {
		t.Error("Money{}.IsZero() = false")
	}
	if (Money{0, "USD"}).IsZero() {
		t.Error("0.00 USD is a real amount, IsZero() = true")
	}
}

func TestMoneyFormat(t *testing.T) {
	// What bojanz/currency gives for the "en" locale, checked by hand: symbols for the
	// currencies English readers know by symbol, the code and a no-break space otherwise.
	tests := []struct {
		money Money
		want  string
	}{
		{Money{134210, "USD"}, "$1,342.10"},
		{Money{125000, "EUR"}, "€1,250.00"},
		{Money{50000, "EUR"}, "€500.00"},
		{Money{500, "JPY"}, "¥500"},
		{Money{1234567, "JPY"}, "¥1,234,567"},
		{Money{5, "USD"}, "$0.05"},
		{Money{100, "GBP"}, "£1.00"},
		{Money{100, "CAD"}, "CA$1.00"},
		{Money{1234, "BHD"}, "BHD\u00a01.234"},
	}
	for _, tt := range tests {
		t.Run(tt.money.String(), func(t *testing.T) {
			if got := tt.money.Format(); got != tt.want {
				t.Errorf("Format() = %q, want %q", got, tt.want)
			}
		})
	}
}
