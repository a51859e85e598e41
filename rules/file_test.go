package rules

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

const exampleRulesPath = "../deploy/rules.example.yaml"

func exampleRules(tb testing.TB) []byte {
	tb.Helper()
	data, err := os.ReadFile(exampleRulesPath)
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

// ruleSettings describes a cardholder's resolved rules by their settings, so that a test
// can compare them with what the file says.
func ruleSettings(h *Cardholder) []string {
	var out []string
	for _, r := range h.Rules {
		switch r := r.(type) {
		case amountOver:
			out = append(out, "amount_over "+r.limit.String())
		case unknownMerchant:
			out = append(out, "unknown_merchant known="+strings.Join(r.known, ","))
		case foreignTerminal:
			allow := make([]string, 0, len(r.allow))
			for c := range r.allow {
				allow = append(allow, c)
			}
			slices.Sort(allow)
			out = append(out, "foreign_terminal allow="+strings.Join(allow, ","))
		default:
			out = append(out, r.Name()+" (unknown type)")
		}
	}
	return out
}

func TestParseExampleFile(t *testing.T) {
	b, err := Parse("rules.example.yaml", exampleRules(t))
	if err != nil {
		t.Fatalf("the example rules file does not parse:\n%v", err)
	}
	if b.Len() != 3 || len(b.Cardholders()) != 3 {
		t.Fatalf("Len() = %d, Cardholders() = %d, want 3", b.Len(), len(b.Cardholders()))
	}
	tests := []struct {
		bank, id string
		name     string
		notify   Notify
		home     string
		currency string
		tz       string
		line     int
		rules    []string
	}{
		{"acme", "ch_1001", "Ana Souza", Notify{SMS: "+15551230001", Slack: "U024BE7LH"}, "US", "USD", "America/New_York", 12,
			[]string{"amount_over 200.00 USD", "unknown_merchant known=M-1001,M-1002", "foreign_terminal allow=CA,MX"}},
		{"acme", "ch_1002", "Ben Carter", Notify{SMS: "+15551230002"}, "US", "USD", "America/New_York", 22,
			[]string{"amount_over 500.00 USD", "foreign_terminal allow="}},
		{"globex", "ch_2001", "Clara Weber", Notify{Slack: "C0123ABCDEF"}, "DE", "EUR", "Europe/Berlin", 29,
			[]string{"amount_over 1000.00 EUR", "unknown_merchant known=", "foreign_terminal allow="}},
	}
	for i, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			h := b.Lookup(tt.bank, tt.id)
			if h == nil {
				t.Fatalf("Lookup(%s, %s) = nil", tt.bank, tt.id)
			}
			if b.Cardholders()[i] != h {
				t.Errorf("Cardholders()[%d] is not %s: file order lost", i, tt.id)
			}
			if h.ID != tt.id || h.Bank != tt.bank || h.Name != tt.name || h.Notify != tt.notify ||
				h.HomeCountry != tt.home || h.Currency != tt.currency || h.Line != tt.line {
				t.Errorf("got %+v\nwant id %s bank %s name %s notify %+v home %s currency %s line %d",
					*h, tt.id, tt.bank, tt.name, tt.notify, tt.home, tt.currency, tt.line)
			}
			if h.Location == nil || h.Location.String() != tt.tz {
				t.Errorf("Location = %v, want %s", h.Location, tt.tz)
			}
			if got := ruleSettings(h); !reflect.DeepEqual(got, tt.rules) {
				t.Errorf("rules = %q, want %q", got, tt.rules)
			}
		})
	}
	// Cardholder ids are per bank.
	if h := b.Lookup("globex", "ch_1001"); h != nil {
		t.Errorf("Lookup(globex, ch_1001) = %+v, want nil: ch_1001 is acme's", h)
	}
	if h := b.Lookup("acme", "ch_9999"); h != nil {
		t.Errorf("Lookup of an unknown cardholder = %+v, want nil", h)
	}
}

func TestParseDefaults(t *testing.T) {
	// No timezone anywhere: UTC. No defaults at all: everything on the cardholder.
	b := mustParse(t, "min.yaml", `
cardholders:
  - id: ch_1
    bank: acme
    home_country: GB
    currency: GBP
    notify: {sms: "+447700900123"}
`)
	h := holder(t, b, "acme", "ch_1")
	if h.Location != time.UTC {
		t.Errorf("Location = %v, want UTC", h.Location)
	}
	if len(h.Rules) != 0 {
		t.Errorf("rules = %v, want none (no defaults, no own rules)", ruleSettings(h))
	}
	if h.HomeCountry != "GB" || h.Currency != "GBP" || h.Name != "" {
		t.Errorf("got %+v", *h)
	}
}

func TestBookNil(t *testing.T) {
	var b *Book
	if b.Lookup("acme", "ch_1001") != nil || b.Cardholders() != nil || b.Len() != 0 {
		t.Error("a nil Book must be empty")
	}
}

// badFiles maps each testdata/bad-*.yaml to the exact errors Parse gives, in order.
var badFiles = map[string][]string{
	"bad-aliases.yaml": {
		`testdata/bad-aliases.yaml:5: defaults.rules.unknown_merchant.known: the anchor &shops is not allowed: a rules file has no anchors or aliases; write each value out`,
		`testdata/bad-aliases.yaml:7: cardholders[0]: the anchor &ana is not allowed: a rules file has no anchors or aliases; write each value out`,
		`testdata/bad-aliases.yaml:12: cardholders[0].rules.unknown_merchant.known: the alias *shops is not allowed: a rules file has no anchors or aliases; write each value out`,
		`testdata/bad-aliases.yaml:13: cardholders[1]: the alias *ana is not allowed: a rules file has no anchors or aliases; write each value out`,
		`testdata/bad-aliases.yaml:17: cardholders[2].<<: the alias *ana is not allowed: a rules file has no anchors or aliases; write each value out`,
	},
	"bad-sms.yaml": {
		`testdata/bad-sms.yaml:9: cardholders[0].notify.sms: "+1555" is not an E.164 number (like +15551230001)`,
	},
	"bad-top-key.yaml": {
		`testdata/bad-top-key.yaml:1: version: unknown key "version" (allowed: defaults, cardholders)`,
		`testdata/bad-top-key.yaml:6: cardholder: unknown key "cardholder" (allowed: defaults, cardholders)`,
		`testdata/bad-top-key.yaml:1: cardholders is missing`,
	},
	"bad-cardholder-key.yaml": {
		`testdata/bad-cardholder-key.yaml:7: cardholders[0].phone: unknown key "phone" (allowed: id, bank, name, notify, home_country, currency, timezone, rules)`,
		`testdata/bad-cardholder-key.yaml:10: cardholders[0].home-country: unknown key "home-country" (allowed: id, bank, name, notify, home_country, currency, timezone, rules)`,
	},
	"bad-rule-name.yaml": {
		`testdata/bad-rule-name.yaml:5: defaults.rules.amount_above: unknown key "amount_above" (allowed: amount_over, unknown_merchant, foreign_terminal)`,
		`testdata/bad-rule-name.yaml:13: cardholders[0].rules.foreign_terminals: unknown key "foreign_terminals" (allowed: amount_over, unknown_merchant, foreign_terminal)`,
	},
	"bad-rule-value.yaml": {
		`testdata/bad-rule-value.yaml:5: defaults.rules.amount_over: "true" is not an amount, like 500.00`,
		`testdata/bad-rule-value.yaml:6: defaults.rules.unknown_merchant: must be true, false or {known: [...]}`,
		`testdata/bad-rule-value.yaml:7: defaults.rules.foreign_terminal: must be true, false or {allow: [...]}`,
	},
	"bad-amount.yaml": {
		`testdata/bad-amount.yaml:12: cardholders[0].rules.amount_over: "five hundred" is not an amount in USD, like 500.00`,
		`testdata/bad-amount.yaml:18: cardholders[1].rules.amount_over: "199.999" has more decimals than USD's 2, like 500.00`,
		`testdata/bad-amount.yaml:27: cardholders[2].rules.amount_over: "20000.5" has decimals, but JPY amounts have none, like 500`,
	},
	"bad-default-amount.yaml": {
		`testdata/bad-default-amount.yaml:5: defaults.rules.amount_over: "500.50" has decimals, but JPY amounts have none, like 500 (in the currency of cardholder ch_3001, who does not set amount_over)`,
	},
	"bad-allow-country.yaml": {
		`testdata/bad-allow-country.yaml:12: cardholders[0].rules.foreign_terminal.allow[1]: "MEX" is not an ISO 3166-1 alpha-2 country code`,
		`testdata/bad-allow-country.yaml:12: cardholders[0].rules.foreign_terminal.allow[2]: "uk" is not an ISO 3166-1 alpha-2 country code`,
		`testdata/bad-allow-country.yaml:18: cardholders[1].rules.foreign_terminal.allowed: unknown key "allowed" (allowed: allow)`,
	},
	"bad-currency.yaml": {
		`testdata/bad-currency.yaml:7: cardholders[0].currency: "US$" is not an ISO 4217 currency code`,
		`testdata/bad-currency.yaml:12: cardholders[1].currency: "eur" is not an ISO 4217 currency code`,
	},
	// Reported once, at the defaults, not once per cardholder that takes them.
	"bad-default-currency.yaml": {
		`testdata/bad-default-currency.yaml:3: defaults.currency: "USDOLLAR" is not an ISO 4217 currency code`,
	},
	"bad-timezone.yaml": {
		`testdata/bad-timezone.yaml:4: defaults.timezone: "America/NewYork" is not an IANA time zone, like America/New_York`,
		`testdata/bad-timezone.yaml:12: cardholders[1].timezone: "CET+1" is not an IANA time zone, like America/New_York`,
	},
	"bad-bank.yaml": {
		`testdata/bad-bank.yaml:6: cardholders[0].bank: "Acme Bank" is not a bank id (lowercase letters, digits, '-' and '_')`,
		`testdata/bad-bank.yaml:10: cardholders[1].bank: "acme.eu" is not a bank id (lowercase letters, digits, '-' and '_')`,
	},
	"bad-missing-id.yaml": {
		`testdata/bad-missing-id.yaml:5: cardholders[0]: id is missing`,
		`testdata/bad-missing-id.yaml:9: cardholders[1].id: must not be empty`,
	},
	"bad-duplicate.yaml": {
		`testdata/bad-duplicate.yaml:13: cardholders[2].id: "ch_1001" of bank "acme" is already at line 5`,
	},
	"bad-twice.yaml": {
		`testdata/bad-twice.yaml:10: cardholders[0].home_country: set twice (first at line 9)`,
	},
	"bad-missing-notify.yaml": {
		`testdata/bad-missing-notify.yaml:5: cardholders[0]: notify is missing: give an sms number or a slack id`,
		`testdata/bad-missing-notify.yaml:10: cardholders[1].notify: give an sms number or a slack id`,
	},
	"bad-notify.yaml": {
		`testdata/bad-notify.yaml:7: cardholders[0].notify: must be a mapping of sms, slack`,
		`testdata/bad-notify.yaml:11: cardholders[1].notify.email: unknown key "email" (allowed: sms, slack)`,
	},
	"bad-slack.yaml": {
		`testdata/bad-slack.yaml:8: cardholders[0].notify.slack: "#fraud-alerts" is not a Slack user or channel id (like U024BE7LH)`,
	},
	"bad-syntax.yaml": {
		`testdata/bad-syntax.yaml:6: not valid YAML: could not find expected ':'`,
	},
	"bad-list.yaml": {
		`testdata/bad-list.yaml:1: the file must be a mapping of defaults, cardholders`,
	},
	"bad-cardholders.yaml": {
		`testdata/bad-cardholders.yaml:5: cardholders: must be a list of cardholders`,
	},
	"bad-empty.yaml": {
		`testdata/bad-empty.yaml:1: the file is empty; it needs defaults and cardholders`,
	},
	"bad-comments-only.yaml": {
		`testdata/bad-comments-only.yaml:1: the file is empty; it needs defaults and cardholders`,
	},
	// Several cardholders, each with its own mistake: all of them at once, in file order.
	"bad-several.yaml": {
		`testdata/bad-several.yaml:16: cardholders[0].rules.amount_over: "200.005" has more decimals than USD's 2, like 500.00`,
		`testdata/bad-several.yaml:20: cardholders[1].notify.sms: "555-123-0002" is not an E.164 number (like +15551230001)`,
		`testdata/bad-several.yaml:23: cardholders[2].home_country: "USA" is not an ISO 3166-1 alpha-2 country code`,
		`testdata/bad-several.yaml:31: cardholders[3].rules.foreign_terminal.allow[1]: "Mexico" is not an ISO 3166-1 alpha-2 country code`,
	},
	// One cardholder with two mistakes: both at once, not the second after the first is
	// fixed.
	"bad-one-cardholder-two-errors.yaml": {
		`testdata/bad-one-cardholder-two-errors.yaml:8: cardholders[0].notify.sms: "+1555" is not an E.164 number (like +15551230001)`,
		`testdata/bad-one-cardholder-two-errors.yaml:10: cardholders[0].rules.amount_over: "200.005" has more decimals than USD's 2, like 500.00`,
	},
	// Two cardholders without an id: each reported, and not duplicates of each other.
	"bad-missing-id-twice.yaml": {
		`testdata/bad-missing-id-twice.yaml:5: cardholders[0]: id is missing`,
		`testdata/bad-missing-id-twice.yaml:9: cardholders[1]: id is missing`,
	},
}

// loaderBugs are rules files the loader got wrong (at commit bfc970e): each case names
// what must hold, and stays as a regression test.
var loaderBugs = []struct {
	name string
	file string
	want []string
}{
	// The same bad time zone on two cardholders: both reported (a cached failed lookup
	// used to add no error).
	{"same bad time zone on two cardholders", "bad-timezone-twice.yaml", []string{
		`testdata/bad-timezone-twice.yaml:7: cardholders[0].timezone: "Europe/Lisboa" is not an IANA time zone, like America/New_York`,
		`testdata/bad-timezone-twice.yaml:12: cardholders[1].timezone: "Europe/Lisboa" is not an IANA time zone, like America/New_York`,
	}},
	// sms: "" is not "no number": the cardholder would have nowhere to be alerted.
	{"empty sms is not a channel", "bad-empty-sms.yaml", []string{
		`testdata/bad-empty-sms.yaml:8: cardholders[0].notify.sms: "" is not an E.164 number (like +15551230001)`,
	}},
	// UK is not an ISO 3166-1 code (the country is GB), though golang.org/x/text knows it:
	// a cardholder at home in "UK" would be alerted for every purchase at home, in GB.
	{"UK is not a country code", "bad-home-country-uk.yaml", []string{
		`testdata/bad-home-country-uk.yaml:8: cardholders[0].home_country: "UK" is not an ISO 3166-1 alpha-2 country code`,
	}},
}

// errorList flattens errors.Join's tree into its leaves, in order.
func errorList(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, errorList(e)...)
		}
		return out
	}
	return []error{err}
}

func TestParseBadFiles(t *testing.T) {
	files, err := filepath.Glob("testdata/bad-*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// Every file has its expected errors, here or in loaderBugs.
	for _, f := range files {
		name := filepath.Base(f)
		_, ok := badFiles[name]
		for _, b := range loaderBugs {
			ok = ok || b.file == name
		}
		if !ok {
			t.Errorf("%s has no expected errors", f)
		}
	}
	for name, want := range badFiles {
		t.Run(strings.TrimSuffix(name, ".yaml"), func(t *testing.T) { checkBadFile(t, name, want) })
	}
}

func TestParseReportsEveryProblem(t *testing.T) {
	for _, tt := range loaderBugs {
		t.Run(tt.name, func(t *testing.T) { checkBadFile(t, tt.file, tt.want) })
	}
}

// checkBadFile parses testdata/name and checks that it gives no Book and exactly the
// errors want, each a *FieldError that names the file and a line.
func checkBadFile(t *testing.T, name string, want []string) {
	t.Helper()
	path := "testdata/" + name
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Parse(path, data)
	if b != nil {
		t.Errorf("Parse returned a Book (%d cardholders) for a bad file: a bad file must never be half-applied", b.Len())
	}
	if err == nil {
		t.Fatalf("no error, want:\n%s", strings.Join(want, "\n"))
	}
	var got []string
	for _, e := range errorList(err) {
		got = append(got, e.Error())
		var fe *FieldError
		if !errors.As(e, &fe) {
			t.Errorf("error %q is a %T, want a *FieldError", e, e)
		} else if fe.File != path || fe.Line <= 0 {
			t.Errorf("error %q: File %q Line %d, want %q and a line", e, fe.File, fe.Line, path)
		}
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	} else if err.Error() != strings.Join(want, "\n") {
		t.Errorf("Error() = %q, want the lines joined by newlines", err.Error())
	}

	// Load gives the same, through the file system.
	lb, lerr := Load(path)
	if lb != nil || lerr == nil || lerr.Error() != err.Error() {
		t.Errorf("Load(%s) = %v, %v; want nil and Parse's error", path, lb, lerr)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(path, exampleRules(t), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if b.Len() != 3 {
		t.Errorf("Len() = %d, want 3", b.Len())
	}

	_, err = Load(filepath.Join(dir, "missing.yaml"))
	if err == nil || !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "read rules file") {
		t.Errorf("Load of a missing file: %v, want a wrapped not-exist error", err)
	}

	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("cardholders: 5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Load(bad)
	if err == nil || !strings.HasPrefix(err.Error(), bad+":1: ") {
		t.Errorf("Load(%s) error = %v, want it to start with the path and line", bad, err)
	}
}

func TestFieldErrorFormat(t *testing.T) {
	tests := []struct {
		err  FieldError
		want string
	}{
		{FieldError{File: "r.yaml", Line: 9, Path: "cardholders[0].notify.sms", Msg: "bad"}, "r.yaml:9: cardholders[0].notify.sms: bad"},
		{FieldError{File: "r.yaml", Line: 9, Msg: "bad"}, "r.yaml:9: bad"},
		{FieldError{File: "r.yaml", Msg: "bad"}, "r.yaml: bad"},
		{FieldError{Line: 9, Path: "p", Msg: "bad"}, "9: p: bad"},
		{FieldError{Msg: "bad"}, "bad"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestValidE164(t *testing.T) {
	tests := []struct {
		s    string
		want bool
	}{
		{"+15551230001", true},
		{"+447700900123", true},
		{"+4915112345678", true},
		{"+1555", false},
		{"15551230001", false},
		{"+1 555 123 0001", false},
		{"+1-555-123-0001", false},
		{"555-123-0002", false},
		{"+999123456789", false}, // no such country code
		{"+1555123000199999", false},
		{"", false},
	}
	for _, tt := range tests {
		t.Run(tt.s, func(t *testing.T) {
			if got := ValidE164(tt.s); got != tt.want {
				t.Errorf("ValidE164(%q) = %v, want %v", tt.s, got, tt.want)
			}
		})
	}
}

func TestRedact(t *testing.T) {
	if Redact(nil) != nil {
		t.Error("Redact(nil) != nil")
	}
	data, err := os.ReadFile("testdata/bad-several.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, perr := Parse("testdata/bad-several.yaml", data)
	if perr == nil {
		t.Fatal("bad-several.yaml parsed")
	}
	before := perr.Error()
	red := Redact(perr)
	want := []string{
		`testdata/bad-several.yaml:16: cardholders[0].rules.amount_over: "200.005" has more decimals than USD's 2, like 500.00`,
		`testdata/bad-several.yaml:20: cardholders[1].notify.sms: "**********02" is not an E.164 number (like +15551230001)`,
		`testdata/bad-several.yaml:23: cardholders[2].home_country: "USA" is not an ISO 3166-1 alpha-2 country code`,
		`testdata/bad-several.yaml:31: cardholders[3].rules.foreign_terminal.allow[1]: "Mexico" is not an ISO 3166-1 alpha-2 country code`,
	}
	var got []string
	for _, e := range errorList(red) {
		got = append(got, e.Error())
		var fe *FieldError
		if !errors.As(e, &fe) {
			t.Errorf("redacted error %q is a %T, want a *FieldError", e, e)
		}
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Redact:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if strings.Contains(red.Error(), "555-123-00") {
		t.Errorf("the phone number is still in %q", red)
	}
	if perr.Error() != before {
		t.Errorf("Redact changed the original error to %q", perr)
	}
	if !strings.Contains(perr.Error(), `"555-123-0002"`) {
		t.Errorf("the unredacted error lost the number the person must fix: %q", perr)
	}
	// An error that is not a FieldError passes through.
	plain := errors.New("read rules file: boom")
	if Redact(plain) != plain {
		t.Error("Redact changed an error without personal data")
	}
}
