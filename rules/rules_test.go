package rules

import (
	"encoding/json"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode"
)

// rulesYAML exercises defaults and every kind of override: one cardholder on the defaults,
// one overriding each rule, one turning each off, and cardholders in other currencies who
// take the default threshold in their own currency.
const rulesYAML = `
defaults:
  home_country: US
  currency: USD
  timezone: America/New_York
  rules:
    amount_over: 500.00
    unknown_merchant: true
    foreign_terminal: true
cardholders:
  - id: ch_default
    bank: acme
    notify: {sms: "+15551230001"}
  - id: ch_override
    bank: acme
    notify: {sms: "+15551230002"}
    rules:
      amount_over: 200.00
      unknown_merchant: {known: [M-1001, M-1002]}
      foreign_terminal: {allow: [CA, MX]}
  - id: ch_off
    bank: acme
    notify: {sms: "+15551230003"}
    rules:
      amount_over: false
      unknown_merchant: false
      foreign_terminal: false
  - id: ch_eur
    bank: globex
    home_country: DE
    currency: EUR
    timezone: Europe/Berlin
    notify: {slack: U0EUR0001}
  - id: ch_jpy
    bank: initech
    home_country: JP
    currency: JPY
    notify: {slack: U0JPY0001}
    rules:
      amount_over: 50000
  - id: ch_string_amount
    bank: acme
    notify: {sms: "+15551230004"}
    rules:
      amount_over: "300"
      unknown_merchant: true
`

func mustParse(tb testing.TB, name, src string) *Book {
	tb.Helper()
	b, err := Parse(name, []byte(src))
	if err != nil {
		tb.Fatalf("Parse(%s): %v", name, err)
	}
	return b
}

func holder(tb testing.TB, b *Book, bank, id string) *Cardholder {
	tb.Helper()
	h := b.Lookup(bank, id)
	if h == nil {
		tb.Fatalf("cardholder %s/%s not in the book", bank, id)
	}
	return h
}

func usd(minor int64) *Money { return &Money{minor, "USD"} }
func eur(minor int64) Money  { return Money{minor, "EUR"} }

// txn is a transaction at a known merchant's kind of place, at home in the US, for small
// amounts: each test changes what it is about.
func txn(edit func(t *Transaction)) *Transaction {
	t := &Transaction{
		ID:           "e1",
		CardholderID: "ch_default",
		Card:         Card{Token: "tok_1", Last4: "4821"},
		Amount:       Money{1000, "USD"},
		Merchant:     Merchant{ID: "M-77812", Name: "ACME ELECTRONICS", Country: "US"},
		Terminal:     Terminal{ID: "T-1", Country: "US", EntryMode: EntryChip},
		OccurredAt:   time.Date(2026, 11, 24, 18, 22, 5, 0, time.UTC),
	}
	if edit != nil {
		edit(t)
	}
	return t
}

// reasonOf returns the reason the named rule gave, if it fired.
func reasonOf(rs []Reason, rule string) (Reason, bool) {
	for _, r := range rs {
		if r.Rule == rule {
			return r, true
		}
	}
	return Reason{}, false
}

func TestAmountOver(t *testing.T) {
	b := mustParse(t, "rules.yaml", rulesYAML)
	known := Facts{MerchantKnown: true}
	tests := []struct {
		name   string
		bank   string
		holder string
		txn    *Transaction
		want   string // the reason's Detail, "" when the rule must stay quiet
	}{
		{"billing amount above the limit", "acme", "ch_default",
			txn(func(t *Transaction) { t.Amount = eur(125000); t.BillingAmount = usd(134210) }),
			"$1,342.10 is over your $500.00 limit"},
		{"billing amount equal to the limit", "acme", "ch_default",
			txn(func(t *Transaction) { t.Amount = eur(46000); t.BillingAmount = usd(50000) }), ""},
		{"billing amount one cent above", "acme", "ch_default",
			txn(func(t *Transaction) { t.Amount = eur(46001); t.BillingAmount = usd(50001) }),
			"$500.01 is over your $500.00 limit"},
		{"billing amount wins over the amount", "acme", "ch_default",
			txn(func(t *Transaction) { t.Amount = Money{90000, "USD"}; t.BillingAmount = usd(40000) }), ""},
		{"no billing amount, amount in the cardholder's currency", "acme", "ch_default",
			txn(func(t *Transaction) { t.Amount = Money{60000, "USD"} }),
			"$600.00 is over your $500.00 limit"},
		{"billing amount in another currency, amount in the cardholder's", "acme", "ch_default",
			txn(func(t *Transaction) { t.Amount = Money{60000, "USD"}; t.BillingAmount = &Money{47000, "GBP"} }),
			"$600.00 is over your $500.00 limit"},
		{"neither in the cardholder's currency", "acme", "ch_default",
			txn(func(t *Transaction) { t.Amount = eur(9999900); t.BillingAmount = &Money{9999900, "GBP"} }), ""},
		{"amount in another currency and no billing amount", "acme", "ch_default",
			txn(func(t *Transaction) { t.Amount = eur(9999900) }), ""},
		{"override: above 200", "acme", "ch_override",
			txn(func(t *Transaction) { t.BillingAmount = usd(25000) }),
			"$250.00 is over your $200.00 limit"},
		{"override: the default 500 is gone", "acme", "ch_override",
			txn(func(t *Transaction) { t.BillingAmount = usd(20000) }), ""},
		{"override written as a string", "acme", "ch_string_amount",
			txn(func(t *Transaction) { t.BillingAmount = usd(30001) }),
			"$300.01 is over your $300.00 limit"},
		{"false turns it off", "acme", "ch_off",
			txn(func(t *Transaction) { t.BillingAmount = usd(99999999) }), ""},
		{"EUR cardholder: default 500.00 is €500.00", "globex", "ch_eur",
			txn(func(t *Transaction) { t.Amount = eur(60000) }),
			"€600.00 is over your €500.00 limit"},
		{"EUR cardholder: dollars are not compared", "globex", "ch_eur",
			txn(func(t *Transaction) { t.Amount = Money{60000, "USD"} }), ""},
		{"EUR cardholder: at the limit", "globex", "ch_eur",
			txn(func(t *Transaction) { t.Amount = Money{90000, "USD"}; t.BillingAmount = &Money{50000, "EUR"} }), ""},
		{"JPY cardholder above ¥50,000", "initech", "ch_jpy",
			txn(func(t *Transaction) { t.Amount = Money{50001, "JPY"} }),
			"¥50,001 is over your ¥50,000 limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := holder(t, b, tt.bank, tt.holder)
			rs := Evaluate(tt.txn, h, known)
			got, fired := reasonOf(rs, "amount_over")
			if tt.want == "" {
				if fired {
					t.Errorf("fired: %+v", got)
				}
				return
			}
			want := Reason{Rule: "amount_over", Detail: tt.want, Summary: "over limit"}
			if got != want {
				t.Errorf("reason = %+v (fired %v), want %+v", got, fired, want)
			}
		})
	}
}

func TestUnknownMerchant(t *testing.T) {
	b := mustParse(t, "rules.yaml", rulesYAML)
	tests := []struct {
		name   string
		holder string
		facts  Facts
		txn    *Transaction
		want   string
	}{
		{"first purchase", "ch_default", Facts{}, txn(nil), `first purchase at "ACME ELECTRONICS" on this card`},
		{"known by facts", "ch_default", Facts{MerchantKnown: true}, txn(nil), ""},
		{"in the known list", "ch_override", Facts{}, txn(func(t *Transaction) { t.Merchant.ID = "M-1002" }), ""},
		{"not in the known list", "ch_override", Facts{}, txn(nil), `first purchase at "ACME ELECTRONICS" on this card`},
		{"known list is by id, not name", "ch_override", Facts{},
			txn(func(t *Transaction) { t.Merchant = Merchant{Name: "M-1001"} }), `first purchase at "M-1001" on this card`},
		{"merchant with a name only", "ch_default", Facts{},
			txn(func(t *Transaction) { t.Merchant = Merchant{Name: "Corner Shop"} }), `first purchase at "Corner Shop" on this card`},
		{"merchant with an id only", "ch_default", Facts{},
			txn(func(t *Transaction) { t.Merchant = Merchant{ID: "M-9"} }), `first purchase at merchant "M-9" on this card`},
		// The name is the merchant's words: its quotation marks cannot close cardwatch's.
		{"quotes in the name", "ch_default", Facts{},
			txn(func(t *Transaction) { t.Merchant.Name = `ACME" reported. Call "` }), `first purchase at "ACME' reported. Call '" on this card`},
		{"curly and other quotes in the name", "ch_default", Facts{},
			txn(func(t *Transaction) {
				t.Merchant.Name = "ACME\u201d Card locked \u201c \u00abx\u00bb \u300cy\u300f \uff02z\u2033"
			}),
			`first purchase at "ACME' Card locked ' 'x' 'y' 'z'" on this card`},
		{"a run of quotes is one", "ch_default", Facts{},
			txn(func(t *Transaction) { t.Merchant.Name = "A''B'\u200b'\u201d\"C" }), "first purchase at \"A'B'\u200bC\" on this card"},
		// A name with nothing to see names the merchant by its id, as the message does.
		{"invisible name", "ch_default", Facts{},
			txn(func(t *Transaction) { t.Merchant = Merchant{ID: "M-WS", Name: " \u200b\u202e\t\u3000\x1b"} }), `first purchase at merchant "M-WS" on this card`},
		{"nothing visible at all", "ch_default", Facts{},
			txn(func(t *Transaction) { t.Merchant = Merchant{ID: "\u200b", Name: " "} }), "first purchase at a merchant on this card"},
		{"false turns it off", "ch_off", Facts{}, txn(nil), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := holder(t, b, "acme", tt.holder)
			got, fired := reasonOf(Evaluate(tt.txn, h, tt.facts), "unknown_merchant")
			if tt.want == "" {
				if fired {
					t.Errorf("fired: %+v", got)
				}
				return
			}
			want := Reason{Rule: "unknown_merchant", Detail: tt.want, Summary: "new merchant"}
			if got != want {
				t.Errorf("reason = %+v (fired %v), want %+v", got, fired, want)
			}
		})
	}
}

func TestForeignTerminal(t *testing.T) {
	b := mustParse(t, "rules.yaml", rulesYAML)
	at := func(terminal, merchant, mode string) *Transaction {
		return txn(func(t *Transaction) {
			t.Terminal.Country, t.Merchant.Country, t.Terminal.EntryMode = terminal, merchant, mode
		})
	}
	tests := []struct {
		name   string
		bank   string
		holder string
		txn    *Transaction
		want   string
	}{
		{"home country", "acme", "ch_default", at("US", "US", EntryChip), ""},
		{"abroad", "acme", "ch_default", at("NG", "NG", EntryChip), "terminal in Nigeria"},
		{"abroad at an ATM", "acme", "ch_default", at("FR", "", EntryATM), "terminal in France"},
		{"allow list CA", "acme", "ch_override", at("CA", "CA", EntryContactless), ""},
		{"allow list MX", "acme", "ch_override", at("MX", "US", EntryChip), ""},
		{"outside the allow list", "acme", "ch_override", at("NG", "NG", EntryChip), "terminal in Nigeria"},
		{"ecommerce: merchant abroad", "acme", "ch_default", at("US", "NG", EntryEcommerce), "online merchant in Nigeria"},
		{"ecommerce: merchant at home", "acme", "ch_default", at("NG", "US", EntryEcommerce), ""},
		{"no terminal country: the merchant's", "acme", "ch_default", at("", "GB", EntryChip), "terminal in United Kingdom"},
		{"no country at all", "acme", "ch_default", at("", "", EntryChip), ""},
		{"false turns it off", "acme", "ch_off", at("NG", "NG", EntryChip), ""},
		{"other home country", "globex", "ch_eur", at("DE", "DE", EntryChip), ""},
		{"other home country, in the US", "globex", "ch_eur", at("US", "US", EntryChip), "terminal in United States"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := holder(t, b, tt.bank, tt.holder)
			got, fired := reasonOf(Evaluate(tt.txn, h, Facts{MerchantKnown: true}), "foreign_terminal")
			if tt.want == "" {
				if fired {
					t.Errorf("fired: %+v", got)
				}
				return
			}
			want := Reason{Rule: "foreign_terminal", Detail: tt.want, Summary: "abroad"}
			if got != want {
				t.Errorf("reason = %+v (fired %v), want %+v", got, fired, want)
			}
		})
	}
}

func TestEvaluateOrderAndNil(t *testing.T) {
	b := mustParse(t, "rules.yaml", rulesYAML)
	ev, err := DecodeTransaction(exampleBank, exampleCard, exampleEvent(t))
	if err != nil {
		t.Fatal(err)
	}

	t.Run("all three, in rule order", func(t *testing.T) {
		got := Evaluate(ev, holder(t, b, "acme", "ch_default"), Facts{})
		want := []Reason{
			{Rule: "amount_over", Detail: "$1,342.10 is over your $500.00 limit", Summary: "over limit"},
			{Rule: "unknown_merchant", Detail: `first purchase at "ACME ELECTRONICS" on this card`, Summary: "new merchant"},
			{Rule: "foreign_terminal", Detail: "terminal in Nigeria", Summary: "abroad"},
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Evaluate =\n%+v\nwant\n%+v", got, want)
		}
	})
	t.Run("rules off gives nil", func(t *testing.T) {
		if got := Evaluate(ev, holder(t, b, "acme", "ch_off"), Facts{}); got != nil {
			t.Errorf("Evaluate = %#v, want nil", got)
		}
	})
	t.Run("nothing fires gives nil", func(t *testing.T) {
		quiet := txn(nil) // $10.00 at home
		if got := Evaluate(quiet, holder(t, b, "acme", "ch_default"), Facts{MerchantKnown: true}); got != nil {
			t.Errorf("Evaluate = %#v, want nil", got)
		}
	})
	t.Run("quiet evaluation does not allocate", func(t *testing.T) {
		quiet, h := txn(nil), holder(t, b, "acme", "ch_default")
		if n := testing.AllocsPerRun(100, func() { Evaluate(quiet, h, Facts{MerchantKnown: true}) }); n != 0 {
			t.Errorf("Evaluate allocates %v times when nothing fires, want 0", n)
		}
	})
}

func TestKinds(t *testing.T) {
	var names []string
	for _, k := range Kinds() {
		names = append(names, k.Name)
	}
	if got := strings.Join(names, ","); got != "amount_over,unknown_merchant,foreign_terminal" {
		t.Errorf("Kinds() = %s", got)
	}
	ks := Kinds()
	ks[0] = Kind{Name: "changed"}
	if Kinds()[0].Name != "amount_over" {
		t.Error("changing Kinds()'s result changed the package's kinds")
	}
}

func TestCardholderRulesResolved(t *testing.T) {
	b := mustParse(t, "rules.yaml", rulesYAML)
	tests := []struct {
		holder string
		bank   string
		rules  []string
	}{
		{"ch_default", "acme", []string{"amount_over", "unknown_merchant", "foreign_terminal"}},
		{"ch_override", "acme", []string{"amount_over", "unknown_merchant", "foreign_terminal"}},
		{"ch_off", "acme", nil},
		{"ch_eur", "globex", []string{"amount_over", "unknown_merchant", "foreign_terminal"}},
	}
	for _, tt := range tests {
		t.Run(tt.holder, func(t *testing.T) {
			h := holder(t, b, tt.bank, tt.holder)
			var got []string
			for _, r := range h.Rules {
				got = append(got, r.Name())
			}
			if !reflect.DeepEqual(got, tt.rules) {
				t.Errorf("rules = %v, want %v", got, tt.rules)
			}
			for _, name := range []string{"amount_over", "unknown_merchant", "foreign_terminal"} {
				want := false
				for _, r := range tt.rules {
					want = want || r == name
				}
				if h.HasRule(name) != want {
					t.Errorf("HasRule(%s) = %v, want %v", name, h.HasRule(name), want)
				}
			}
		})
	}
}

func TestCountryName(t *testing.T) {
	for code, want := range map[string]string{"NG": "Nigeria", "US": "United States", "DE": "Germany", "GB": "United Kingdom", "??": "??"} {
		if got := CountryName(code); got != want {
			t.Errorf("CountryName(%q) = %q, want %q", code, got, want)
		}
	}
}

var alertIDPattern = regexp.MustCompile(`^al_[a-z2-7]{16}$`)

func TestAlertID(t *testing.T) {
	const txnID = "9c1e5f0a-7d8b-4c1e-9a51-2f1d3e4b5a60"
	id := AlertID("acme", txnID)
	if !alertIDPattern.MatchString(id) {
		t.Fatalf("AlertID = %q, want al_ and 16 lower-case base32 letters", id)
	}
	// Pinned, computed independently (base32 of sha256("acme\x00" + id)[:10]): alert ids
	// are stored and sent in links, so the derivation must never change between releases
	// or a redelivered transaction would alert twice.
	if id != "al_55h4ynjazvdnoo5u" {
		t.Errorf("AlertID(acme, %s) = %q, want al_55h4ynjazvdnoo5u", txnID, id)
	}
	if again := AlertID("acme", txnID); again != id {
		t.Errorf("AlertID is not deterministic: %q then %q", id, again)
	}
	for _, other := range []struct{ bank, txn string }{
		{"globex", txnID},     // another bank, same transaction id
		{"acme", txnID + "x"}, // another transaction
		{"acm", "e" + txnID},  // the separator keeps bank and id apart
		{"acme" + txnID[:1], txnID[1:]},
	} {
		if got := AlertID(other.bank, other.txn); got == id {
			t.Errorf("AlertID(%q, %q) = %q, the same as acme's", other.bank, other.txn, got)
		}
	}
}

func TestParseAlertID(t *testing.T) {
	id := AlertID("acme", "e1")
	b, ok := ParseAlertID(id)
	if !ok || len(b) != AlertIDBytes {
		t.Fatalf("ParseAlertID(%q) = %x, %v", id, b, ok)
	}
	if back := FormatAlertID(b); back != id {
		t.Errorf("FormatAlertID(ParseAlertID(%q)) = %q", id, back)
	}
	raw := []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 255}
	s := FormatAlertID(raw)
	if got, ok := ParseAlertID(s); !ok || string(got) != string(raw) {
		t.Errorf("ParseAlertID(FormatAlertID(%x)) = %x, %v", raw, got, ok)
	}

	for _, bad := range []struct{ name, s string }{
		{"empty", ""},
		{"prefix only", "al_"},
		{"15 letters", id[:len(id)-1]},
		{"17 letters", id + "a"}, // decodes to the same 10 bytes as id
		{"20 letters", "al_aaaaaaaaaaaaaaaaaaaa"},
		{"wrong prefix", "xx_" + id[3:]},
		{"no prefix", id[3:]},
		{"digit 0", "al_0000000000000000"}, // not in the base32 alphabet
		{"digit 1", "al_1111111111111111"},
		{"padding", "al_aaaaaaaaaaaaaaa="},
		{"space", "al_aaaaaaaa aaaaaaa"},
	} {
		t.Run(bad.name, func(t *testing.T) {
			if b, ok := ParseAlertID(bad.s); ok {
				t.Errorf("ParseAlertID(%q) = %x, true; want false", bad.s, b)
			}
		})
	}
}

func TestNewAlert(t *testing.T) {
	ev, err := DecodeTransaction(exampleBank, exampleCard, exampleEvent(t))
	if err != nil {
		t.Fatal(err)
	}
	reasons := []Reason{{Rule: "foreign_terminal", Detail: "terminal in Nigeria", Summary: "abroad"}}
	now := time.Date(2026, 11, 24, 19, 22, 6, 0, time.FixedZone("CET", 3600))
	a := NewAlert("acme", ev, reasons, now)

	want := &Alert{
		ID:            AlertID("acme", ev.ID),
		TxnID:         ev.ID,
		Bank:          "acme",
		CardholderID:  "ch_1001",
		CardLast4:     "4821",
		Amount:        Money{125000, "EUR"},
		BillingAmount: &Money{134210, "USD"},
		Merchant:      ev.Merchant,
		Terminal:      ev.Terminal,
		Status:        "approved",
		OccurredAt:    ev.OccurredAt,
		Reasons:       reasons,
		CreatedAt:     now.UTC(),
	}
	if !reflect.DeepEqual(a, want) {
		t.Errorf("NewAlert =\n%+v\nwant\n%+v", a, want)
	}
	if a.CreatedAt.Location() != time.UTC {
		t.Errorf("CreatedAt in %v, want UTC", a.CreatedAt.Location())
	}
	if got := a.Charged(); got != (Money{134210, "USD"}) {
		t.Errorf("Charged() = %v, want the billing amount", got)
	}
	if got := a.Place(); got != "Lagos, Nigeria" {
		t.Errorf("Place() = %q, want Lagos, Nigeria", got)
	}

	data, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{exampleCard, "token"} {
		if strings.Contains(string(data), secret) {
			t.Errorf("alert JSON carries %q: %s", secret, data)
		}
	}
	for _, key := range []string{`"id":`, `"txn_id":`, `"bank":`, `"cardholder_id":`, `"card_last4":"4821"`,
		`"amount":{"value":"1250.00","currency":"EUR"}`, `"billing_amount":{"value":"1342.10","currency":"USD"}`,
		`"merchant":`, `"terminal":`, `"occurred_at":"2026-11-24T18:22:05Z"`,
		`"reasons":[{"rule":"foreign_terminal","detail":"terminal in Nigeria"`, `"report_url":`, `"created_at":"2026-11-24T18:22:06Z"`} {
		if !strings.Contains(string(data), key) {
			t.Errorf("alert JSON lacks %s: %s", key, data)
		}
	}

	t.Run("missing status is approved", func(t *testing.T) {
		ev2 := *ev
		ev2.Status = ""
		if a := NewAlert("acme", &ev2, reasons, now); a.Status != StatusApproved {
			t.Errorf("Status = %q, want approved", a.Status)
		}
	})
	t.Run("declined stays declined", func(t *testing.T) {
		ev2 := *ev
		ev2.Status = StatusDeclined
		if a := NewAlert("acme", &ev2, reasons, now); a.Status != StatusDeclined {
			t.Errorf("Status = %q, want declined", a.Status)
		}
	})
	t.Run("charged without billing amount", func(t *testing.T) {
		ev2 := *ev
		ev2.BillingAmount = nil
		a := NewAlert("acme", &ev2, reasons, now)
		if got := a.Charged(); got != (Money{125000, "EUR"}) {
			t.Errorf("Charged() = %v, want the amount", got)
		}
		data, _ := json.Marshal(a)
		if strings.Contains(string(data), "billing_amount") {
			t.Errorf("alert JSON has billing_amount without one: %s", data)
		}
	})
}

// TestAlertPlaceAgreesWithCountryOfUse: the alert's place and the foreign_terminal sentence
// must name the same country, or a cardholder reads "online merchant in United States"
// next to a place that says nothing (or somewhere else).
func TestAlertPlaceAgreesWithCountryOfUse(t *testing.T) {
	tests := []struct {
		name     string
		merchant Merchant
		terminal Terminal
		want     string
	}{
		{"chip abroad", Merchant{Name: "A", City: "Lagos", Country: "NG"}, Terminal{Country: "NG", EntryMode: EntryChip}, "Lagos, Nigeria"},
		{"ecommerce", Merchant{Name: "A", City: "Dublin", Country: "IE"}, Terminal{Country: "US", EntryMode: EntryEcommerce}, "Dublin, Ireland"},
		{"no terminal country", Merchant{Name: "A", Country: "FR"}, Terminal{EntryMode: EntryChip}, "France"},
		{"nothing known", Merchant{Name: "A"}, Terminal{}, ""},
		{"ecommerce, no merchant country", Merchant{Name: "A"}, Terminal{Country: "US", EntryMode: EntryEcommerce}, "United States"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tx := txn(func(t *Transaction) { t.Merchant, t.Terminal = tt.merchant, tt.terminal })
			a := NewAlert("acme", tx, nil, time.Now())
			if got := a.Place(); got != tt.want {
				t.Errorf("Place() = %q, want %q", got, tt.want)
			}
			if c := tx.CountryOfUse(); c != "" && !strings.Contains(a.Place(), CountryName(c)) {
				t.Errorf("Place() = %q does not name %s, the country the rules used", a.Place(), CountryName(c))
			}
		})
	}
}

// TestQuotationMark: every mark a reader may take for the close of a quote is one, and
// the letters, digits and punctuation of merchants' names are not.
func TestQuotationMark(t *testing.T) {
	for _, r := range "\"'“”„‟‘’‚‛«»‹›「」『』＂＇〝〞〟″‶〃❝❞⹂🙶🙷🙸" {
		if !QuotationMark(r) {
			t.Errorf("%U %q is not a QuotationMark", r, r)
		}
	}
	for _, table := range []*unicode.RangeTable{unicode.Pi, unicode.Pf, unicode.Quotation_Mark} {
		for r := rune(0); r <= unicode.MaxRune; r++ {
			if unicode.Is(table, r) && !QuotationMark(r) {
				t.Errorf("%U %q is not a QuotationMark", r, r)
			}
		}
	}
	for _, r := range "AZaz09 .,-&#()/!?:;@$€ÄÖÜßéñ東京" {
		if QuotationMark(r) {
			t.Errorf("%U %q is a QuotationMark", r, r)
		}
	}
}
