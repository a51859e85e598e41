package rules

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

// The subject the contract's example event is published on: cardwatch.txn.acme.tok_4f9a2c.
const (
	exampleBank = "acme"
	exampleCard = "tok_4f9a2c"
)

func exampleEvent(tb testing.TB) []byte {
	tb.Helper()
	data, err := os.ReadFile("testdata/event.json")
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

// editEvent returns the example event with edit applied to its decoded form. Numbers stay
// as their text (json.Number), so an edit never goes through a float.
func editEvent(tb testing.TB, edit func(ev map[string]any)) []byte {
	tb.Helper()
	d := json.NewDecoder(bytes.NewReader(exampleEvent(tb)))
	d.UseNumber()
	var ev map[string]any
	if err := d.Decode(&ev); err != nil {
		tb.Fatal(err)
	}
	edit(ev)
	b, err := json.Marshal(ev)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func obj(ev map[string]any, key string) map[string]any { return ev[key].(map[string]any) }

func TestDecodeTransactionExample(t *testing.T) {
	txn, err := DecodeTransaction(exampleBank, exampleCard, exampleEvent(t))
	if err != nil {
		t.Fatalf("the contract's example event is refused: %v", err)
	}
	want := Transaction{
		ID:            "9c1e5f0a-7d8b-4c1e-9a51-2f1d3e4b5a60",
		CardholderID:  "ch_1001",
		Card:          Card{Token: "tok_4f9a2c", Last4: "4821"},
		Amount:        Money{125000, "EUR"},
		BillingAmount: &Money{134210, "USD"},
		Merchant:      Merchant{ID: "M-77812", Name: "ACME ELECTRONICS", MCC: "5732", City: "Lagos", Country: "NG"},
		Terminal:      Terminal{ID: "T-0042", Country: "NG", EntryMode: EntryChip},
		Status:        StatusApproved,
		OccurredAt:    time.Date(2026, 11, 24, 18, 22, 5, 0, time.UTC),
	}
	if txn.ID != want.ID || txn.CardholderID != want.CardholderID || txn.Card != want.Card ||
		txn.Amount != want.Amount || txn.Merchant != want.Merchant || txn.Terminal != want.Terminal ||
		txn.Status != want.Status || txn.Bank != "" {
		t.Errorf("decoded\n%+v\nwant\n%+v", *txn, want)
	}
	if txn.BillingAmount == nil || *txn.BillingAmount != *want.BillingAmount {
		t.Errorf("BillingAmount = %v, want %v", txn.BillingAmount, want.BillingAmount)
	}
	if !txn.OccurredAt.Equal(want.OccurredAt) {
		t.Errorf("OccurredAt = %v, want %v", txn.OccurredAt, want.OccurredAt)
	}
	if !txn.Approved() {
		t.Error("Approved() = false for status approved")
	}
	if got := txn.CountryOfUse(); got != "NG" {
		t.Errorf("CountryOfUse() = %q, want NG", got)
	}
}

func TestDecodeTransactionAccepts(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(ev map[string]any)
		check func(t *testing.T, txn *Transaction)
	}{
		{"missing status means approved", func(ev map[string]any) { delete(ev, "status") },
			func(t *testing.T, txn *Transaction) {
				if txn.Status != "" || !txn.Approved() {
					t.Errorf("Status %q, Approved() = %v, want \"\", true", txn.Status, txn.Approved())
				}
			}},
		{"declined", func(ev map[string]any) { ev["status"] = "declined" },
			func(t *testing.T, txn *Transaction) {
				if txn.Approved() {
					t.Error("Approved() = true for a declined transaction")
				}
			}},
		{"bank matching the subject", func(ev map[string]any) { ev["bank"] = "acme" },
			func(t *testing.T, txn *Transaction) {
				if txn.Bank != "acme" {
					t.Errorf("Bank = %q", txn.Bank)
				}
			}},
		{"no billing amount", func(ev map[string]any) { delete(ev, "billing_amount") },
			func(t *testing.T, txn *Transaction) {
				if txn.BillingAmount != nil {
					t.Errorf("BillingAmount = %v, want nil", txn.BillingAmount)
				}
			}},
		{"billing amount null", func(ev map[string]any) { ev["billing_amount"] = nil },
			func(t *testing.T, txn *Transaction) {
				if txn.BillingAmount != nil {
					t.Errorf("BillingAmount = %v, want nil", txn.BillingAmount)
				}
			}},
		{"amount as a JSON number", func(ev map[string]any) {
			obj(ev, "amount")["value"] = json.Number("1250.00")
		}, func(t *testing.T, txn *Transaction) {
			if txn.Amount != (Money{125000, "EUR"}) {
				t.Errorf("Amount = %v", txn.Amount)
			}
		}},
		{"merchant with name only", func(ev map[string]any) { delete(obj(ev, "merchant"), "id") },
			func(t *testing.T, txn *Transaction) {
				if txn.Merchant.Key() != "name:ACME ELECTRONICS" {
					t.Errorf("Merchant.Key() = %q", txn.Merchant.Key())
				}
			}},
		{"merchant with id only", func(ev map[string]any) { delete(obj(ev, "merchant"), "name") },
			func(t *testing.T, txn *Transaction) {
				if txn.Merchant.Label() != "merchant M-77812" {
					t.Errorf("Merchant.Label() = %q", txn.Merchant.Label())
				}
			}},
		{"no terminal", func(ev map[string]any) { delete(ev, "terminal") },
			func(t *testing.T, txn *Transaction) {
				if txn.CountryOfUse() != "NG" {
					t.Errorf("CountryOfUse() = %q, want the merchant's NG", txn.CountryOfUse())
				}
			}},
		{"no last4", func(ev map[string]any) { delete(obj(ev, "card"), "last4") }, nil},
		{"unknown fields are ignored", func(ev map[string]any) { ev["acquirer"] = map[string]any{"id": "A1"} }, nil},
		{"time with offset", func(ev map[string]any) { ev["occurred_at"] = "2026-11-24T19:22:05+01:00" },
			func(t *testing.T, txn *Transaction) {
				if !txn.OccurredAt.Equal(time.Date(2026, 11, 24, 18, 22, 5, 0, time.UTC)) {
					t.Errorf("OccurredAt = %v", txn.OccurredAt)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			txn, err := DecodeTransaction(exampleBank, exampleCard, editEvent(t, tt.edit))
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if tt.check != nil {
				tt.check(t, txn)
			}
		})
	}
}

func TestDecodeTransactionRefuses(t *testing.T) {
	ed := func(edit func(ev map[string]any)) func(testing.TB) []byte {
		return func(tb testing.TB) []byte { return editEvent(tb, edit) }
	}
	raw := func(s string) func(testing.TB) []byte { return func(testing.TB) []byte { return []byte(s) } }
	tests := []struct {
		name       string
		bank, card string // the subject's; the example's when empty
		data       func(testing.TB) []byte
		want       []string // each must be in the error text; "a || b": either
	}{
		{name: "not JSON", data: raw(`id: 1`), want: []string{"not JSON", "at byte"}},
		{name: "truncated JSON", data: raw(`{"id": "e1", `), want: []string{"not JSON"}},
		{name: "empty", data: raw(``), want: []string{"not JSON"}},
		{name: "JSON array", data: raw(`[{"id": "e1"}]`), want: []string{"expected a JSON object", "array"}},
		{name: "JSON string", data: raw(`"hello"`), want: []string{"expected a JSON object", "string"}},
		// Either "expected a JSON object" or the list of missing fields says it.
		{name: "JSON null", data: raw(`null`), want: []string{"expected a JSON object || id is missing"}},
		{name: "missing id", data: ed(func(ev map[string]any) { delete(ev, "id") }), want: []string{"id is missing"}},
		{name: "id too long", data: ed(func(ev map[string]any) { ev["id"] = strings.Repeat("x", 129) }), want: []string{"id is longer than 128 characters"}},
		{name: "id a number", data: ed(func(ev map[string]any) { ev["id"] = json.Number("42") }), want: []string{"id: expected a string", "number"}},
		{name: "missing cardholder_id", data: ed(func(ev map[string]any) { delete(ev, "cardholder_id") }), want: []string{"cardholder_id is missing"}},
		{name: "missing card", data: ed(func(ev map[string]any) { delete(ev, "card") }), want: []string{"card.token is missing"}},
		{name: "missing card.token", data: ed(func(ev map[string]any) { delete(obj(ev, "card"), "token") }), want: []string{"card.token is missing"}},
		{name: "card a string", data: ed(func(ev map[string]any) { ev["card"] = "tok_4f9a2c" }), want: []string{"card: expected an object", "string"}},
		{name: "missing amount", data: ed(func(ev map[string]any) { delete(ev, "amount") }), want: []string{"amount is missing"}},
		{name: "missing merchant id and name", data: ed(func(ev map[string]any) {
			delete(obj(ev, "merchant"), "id")
			delete(obj(ev, "merchant"), "name")
		}), want: []string{"merchant.id or merchant.name is required"}},
		{name: "missing merchant", data: ed(func(ev map[string]any) { delete(ev, "merchant") }), want: []string{"merchant.id or merchant.name is required"}},
		{name: "missing occurred_at", data: ed(func(ev map[string]any) { delete(ev, "occurred_at") }), want: []string{"occurred_at is missing"}},
		{name: "bank mismatch", data: ed(func(ev map[string]any) { ev["bank"] = "globex" }),
			want: []string{`bank "globex" does not match the subject's bank "acme"`}},
		{name: "card token mismatch", card: "tok_other", data: ed(func(ev map[string]any) {}),
			want: []string{"card.token does not match the subject's card token"}},
		{name: "token with a dot", card: "tok.4f9a2c", data: ed(func(ev map[string]any) { obj(ev, "card")["token"] = "tok.4f9a2c" }),
			want: []string{"card.token must be 1-64 letters, digits, '_' or '-'"}},
		{name: "token with a space", card: "tok 4f9a2c", data: ed(func(ev map[string]any) { obj(ev, "card")["token"] = "tok 4f9a2c" }),
			want: []string{"card.token must be 1-64 letters, digits, '_' or '-'"}},
		{name: "token too long", card: strings.Repeat("t", 65), data: ed(func(ev map[string]any) { obj(ev, "card")["token"] = strings.Repeat("t", 65) }),
			want: []string{"card.token must be 1-64 letters, digits, '_' or '-'"}},
		{name: "last4 five digits", data: ed(func(ev map[string]any) { obj(ev, "card")["last4"] = "48211" }), want: []string{"card.last4 must be four digits"}},
		{name: "last4 letters", data: ed(func(ev map[string]any) { obj(ev, "card")["last4"] = "48a1" }), want: []string{"card.last4 must be four digits"}},
		{name: "last4 three digits", data: ed(func(ev map[string]any) { obj(ev, "card")["last4"] = "482" }), want: []string{"card.last4 must be four digits"}},
		{name: "bad currency", data: ed(func(ev map[string]any) { obj(ev, "amount")["currency"] = "EURO" }),
			want: []string{`"EURO" is not an ISO 4217 currency code`}},
		{name: "lower case currency", data: ed(func(ev map[string]any) { obj(ev, "amount")["currency"] = "eur" }),
			want: []string{`"eur" is not an ISO 4217 currency code`}},
		{name: "merchant country ZZ", data: ed(func(ev map[string]any) { obj(ev, "merchant")["country"] = "ZZ" }),
			want: []string{`merchant.country "ZZ" is not an ISO 3166-1 alpha-2 code`}},
		{name: "merchant country lower case", data: ed(func(ev map[string]any) { obj(ev, "merchant")["country"] = "ng" }),
			want: []string{`merchant.country "ng" is not an ISO 3166-1 alpha-2 code`}},
		{name: "terminal country alpha-3", data: ed(func(ev map[string]any) { obj(ev, "terminal")["country"] = "USA" }),
			want: []string{`terminal.country "USA" is not an ISO 3166-1 alpha-2 code`}},
		{name: "bad entry_mode", data: ed(func(ev map[string]any) { obj(ev, "terminal")["entry_mode"] = "swipe" }),
			want: []string{`terminal.entry_mode "swipe" is not one of chip, contactless, magstripe, manual, ecommerce, atm`}},
		{name: "bad status", data: ed(func(ev map[string]any) { ev["status"] = "pending" }),
			want: []string{`status "pending" is not approved or declined`}},
		{name: "bad mcc", data: ed(func(ev map[string]any) { obj(ev, "merchant")["mcc"] = "57" }), want: []string{"merchant.mcc must be four digits"}},
		{name: "amount with too many decimals", data: ed(func(ev map[string]any) { obj(ev, "amount")["value"] = "1250.001" }),
			want: []string{`"1250.001" has more than 2 decimal places`}},
		{name: "amount negative", data: ed(func(ev map[string]any) { obj(ev, "amount")["value"] = "-1250.00" }),
			want: []string{`"-1250.00" is negative`}},
		{name: "amount in exponent form", data: ed(func(ev map[string]any) { obj(ev, "amount")["value"] = json.Number("1.25e3") }),
			want: []string{"must be a plain decimal"}},
		{name: "occurred_at not a time", data: ed(func(ev map[string]any) { ev["occurred_at"] = "yesterday" }),
			want: []string{"yesterday"}},
		{name: "occurred_at without a zone", data: ed(func(ev map[string]any) { ev["occurred_at"] = "2026-11-24T18:22:05" }),
			want: []string{"2026-11-24T18:22:05"}},
		{name: "occurred_at a date", data: ed(func(ev map[string]any) { ev["occurred_at"] = "2026-11-24" }),
			want: []string{"2026-11-24"}},
		{name: "oversize", data: ed(func(ev map[string]any) { ev["note"] = strings.Repeat("x", MaxEventSize) }),
			want: []string{"over the 65536 byte limit"}},
		{name: "every problem at once", data: ed(func(ev map[string]any) {
			delete(ev, "id")
			ev["status"] = "pending"
			obj(ev, "terminal")["country"] = "USA"
		}), want: []string{"id is missing", `status "pending"`, `terminal.country "USA"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bank, card := tt.bank, tt.card
			if bank == "" {
				bank = exampleBank
			}
			if card == "" {
				card = exampleCard
			}
			txn, err := DecodeTransaction(bank, card, tt.data(t))
			if err == nil {
				t.Fatalf("accepted: %+v", txn)
			}
			if txn != nil {
				t.Errorf("returned a transaction with its error: %+v", txn)
			}
			if !errors.Is(err, ErrInvalidEvent) {
				t.Errorf("error %q does not wrap ErrInvalidEvent", err)
			}
			for _, w := range tt.want {
				found := false
				for _, alt := range strings.Split(w, " || ") {
					found = found || strings.Contains(err.Error(), alt)
				}
				if !found {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestDecodeTransactionSizeLimit(t *testing.T) {
	// Exactly MaxEventSize is read; one byte more is refused before decoding.
	base := exampleEvent(t)
	pad := func(n int) []byte { // the example padded with trailing spaces to n bytes
		return append(append([]byte(nil), base...), bytes.Repeat([]byte(" "), n-len(base))...)
	}
	if _, err := DecodeTransaction(exampleBank, exampleCard, pad(MaxEventSize)); err != nil {
		t.Errorf("event of exactly MaxEventSize bytes refused: %v", err)
	}
	_, err := DecodeTransaction(exampleBank, exampleCard, pad(MaxEventSize+1))
	if err == nil || !errors.Is(err, ErrInvalidEvent) || !strings.Contains(err.Error(), "65537 bytes") {
		t.Errorf("event of MaxEventSize+1 bytes: err = %v, want the size limit", err)
	}
}

// TestDecodeTransactionErrorsNameTheField: an operator reading the DLQ must see which field
// is wrong, in words, without Go type names. encoding/json does not add the field's name to
// an error returned by an UnmarshalJSON method (Money, time.Time), and Money.UnmarshalJSON
// wraps encoding/json's own error text, which names rules.moneyJSON.
func TestDecodeTransactionErrorsNameTheField(t *testing.T) {
	tests := []struct {
		name string
		edit func(ev map[string]any)
		want string // the field's name, which must be in the error
	}{
		{"billing_amount with too many decimals", func(ev map[string]any) { obj(ev, "billing_amount")["value"] = "1342.101" }, "billing_amount"},
		{"billing_amount with a bad currency", func(ev map[string]any) { obj(ev, "billing_amount")["currency"] = "XXY" }, "billing_amount"},
		{"amount as a string", func(ev map[string]any) { ev["amount"] = "1250.00" }, "amount"},
		{"amount null", func(ev map[string]any) { ev["amount"] = nil }, "amount"},
		{"occurred_at not a time", func(ev map[string]any) { ev["occurred_at"] = "yesterday" }, "occurred_at"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeTransaction(exampleBank, exampleCard, editEvent(t, tt.edit))
			if err == nil {
				t.Fatal("accepted")
			}
			msg := strings.TrimPrefix(err.Error(), ErrInvalidEvent.Error()+": ")
			// "bad amount: ..." is the sentinel's text, not the field's name.
			msg = strings.ReplaceAll(msg, ErrBadAmount.Error(), "")
			if !strings.Contains(msg, tt.want) {
				t.Errorf("error %q does not name the field %s", err, tt.want)
			}
			for _, goName := range []string{"Go value", "rules.", "moneyJSON", "time.Time"} {
				if strings.Contains(err.Error(), goName) {
					t.Errorf("error %q shows the Go name %q", err, goName)
				}
			}
		})
	}
}

func TestValidateAgainstSubject(t *testing.T) {
	txn, err := DecodeTransaction(exampleBank, exampleCard, exampleEvent(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := txn.Validate(exampleBank, exampleCard); err != nil {
		t.Errorf("Validate on a decoded event: %v", err)
	}
	// The event has no "bank", so any subject bank is fine; the card token must match.
	if err := txn.Validate("globex", exampleCard); err != nil {
		t.Errorf("Validate with another bank and no bank in the event: %v", err)
	}
	if err := txn.Validate(exampleBank, "tok_other"); err == nil {
		t.Error("Validate with another card token: no error")
	}
}

func TestValidCountry(t *testing.T) {
	tests := []struct {
		code string
		want bool
	}{
		{"US", true}, {"NG", true}, {"GB", true}, {"DE", true}, {"CA", true}, {"MX", true},
		{"AQ", true}, {"HK", true},
		{"ZZ", false}, // "unknown region"
		{"ng", false}, {"Ng", false}, {"USA", false}, {"U", false}, {"", false},
		{"EU", false}, {"AA", false}, {"XA", false}, {"QO", false}, {"12", false},
		// Not assigned in ISO 3166-1, though CLDR (golang.org/x/text) knows them: a
		// home_country of UK would never equal the GB that terminals send, and every
		// purchase at home would alert "terminal in United Kingdom".
		{"UK", false}, // exceptionally reserved; the country is GB
		{"UN", false}, // United Nations
		{"EZ", false}, // Eurozone
		{"SU", false}, // USSR, withdrawn 1992
		{"YU", false}, // Yugoslavia, withdrawn 2003
		{"DD", false}, // East Germany, withdrawn 1990
		{"FX", false}, // Metropolitan France, withdrawn 1997
		{"AC", false}, // Ascension Island (reserved; part of SH)
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			if got := ValidCountry(tt.code); got != tt.want {
				t.Errorf("ValidCountry(%q) = %v, want %v", tt.code, got, tt.want)
			}
		})
	}
}

func TestValidBankID(t *testing.T) {
	tests := []struct {
		id   string
		want bool
	}{
		{"acme", true}, {"acme-eu", true}, {"bank_1", true}, {"1", true}, {strings.Repeat("a", 64), true},
		{"", false}, {"Acme", false}, {"acme.eu", false}, {"acme eu", false}, {"acme*", false},
		{"acme>", false}, {"bänk", false}, {strings.Repeat("a", 65), false},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			if got := ValidBankID(tt.id); got != tt.want {
				t.Errorf("ValidBankID(%q) = %v, want %v", tt.id, got, tt.want)
			}
		})
	}
}

func TestValidCardToken(t *testing.T) {
	tests := []struct {
		token string
		want  bool
	}{
		{"tok_4f9a2c", true}, {"TOK-1", true}, {"a", true}, {strings.Repeat("t", 64), true},
		{"", false}, {strings.Repeat("t", 65), false}, {"tok.1", false}, {"tok 1", false},
		{"tok*", false}, {"tok>", false}, {"tók", false}, {"tok/1", false},
	}
	for _, tt := range tests {
		t.Run(tt.token, func(t *testing.T) {
			if got := ValidCardToken(tt.token); got != tt.want {
				t.Errorf("ValidCardToken(%q) = %v, want %v", tt.token, got, tt.want)
			}
		})
	}
}

func TestCountryOfUse(t *testing.T) {
	tests := []struct {
		name     string
		merchant string // merchant country
		terminal string // terminal country
		mode     string
		want     string
	}{
		{"chip uses the terminal", "US", "NG", EntryChip, "NG"},
		{"ecommerce uses the merchant", "NG", "US", EntryEcommerce, "NG"},
		{"ecommerce without merchant country uses the terminal", "", "US", EntryEcommerce, "US"},
		{"no terminal country uses the merchant", "FR", "", EntryContactless, "FR"},
		{"nothing known", "", "", EntryChip, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			txn := &Transaction{Merchant: Merchant{Country: tt.merchant}, Terminal: Terminal{Country: tt.terminal, EntryMode: tt.mode}}
			if got := txn.CountryOfUse(); got != tt.want {
				t.Errorf("CountryOfUse() = %q, want %q", got, tt.want)
			}
		})
	}
}
