package rules

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// aliasBomb is a small rules file whose aliases, expanded, are far larger than it is:
// a list of shops anchored once, inside a cardholder anchored once, aliased over and
// over (the cardholder's known list, times the cardholders). Read naively it is
// cardholders*shops merchant ids; the README's attack had 1 MB take over 4 GB.
func aliasBomb(shops, cardholders int) string {
	var b strings.Builder
	b.WriteString("defaults: {home_country: US, currency: USD}\ncardholders:\n")
	b.WriteString("  - &c {id: ch_0, bank: acme, notify: {sms: \"+15551230001\"}, rules: {unknown_merchant: {known: &k [")
	for i := range shops {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "M-%d", i)
	}
	b.WriteString("]}}}\n")
	// Nested: each of these cardholders is the first, and carries its known list again.
	b.WriteString("  - {id: ch_1, bank: acme, notify: {sms: \"+15551230001\"}, rules: {unknown_merchant: {known: *k}}}\n")
	for range cardholders {
		b.WriteString("  - *c\n")
	}
	return b.String()
}

// TestParseRefusesAliasBomb: the file is refused for its aliases, before anything is
// expanded, so memory stays about the file's own size.
func TestParseRefusesAliasBomb(t *testing.T) {
	data := []byte(aliasBomb(2000, 20000)) // 100 KB; 40 million merchant ids expanded
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b, err := Parse("bomb.yaml", data)
	runtime.ReadMemStats(&after)
	if b != nil || err == nil {
		t.Fatalf("the file was accepted (%d cardholders)", b.Len())
	}
	errs := errorList(err)
	if !strings.Contains(errs[0].Error(), "bomb.yaml:3: cardholders[0]: the anchor &c is not allowed") {
		t.Errorf("first error %q, want the anchor at line 3", errs[0])
	}
	for _, e := range errs {
		var fe *FieldError
		if !errors.As(e, &fe) || fe.Line == 0 || !strings.Contains(fe.Msg, "anchor") && !strings.Contains(fe.Msg, "alias") {
			t.Fatalf("error %q does not point at an anchor or alias with its line", e)
		}
	}
	// One error per alias up to a cap, then a count: the report stays small too.
	if len(errs) > maxAliasErrors+1 || !strings.Contains(errs[len(errs)-1].Error(), "more anchors or aliases") {
		t.Errorf("%d errors, the last %q; want at most %d and a count of the rest", len(errs), errs[len(errs)-1], maxAliasErrors+1)
	}
	// The YAML tree of 100 KB is a few MB; expanded, the ids would be over 600 MB.
	if got := after.TotalAlloc - before.TotalAlloc; got > 64<<20 {
		t.Errorf("refusing the file allocated %d MB", got>>20)
	}
}

// TestParseBoundsLists: a known or allow list past MaxListItems is refused at its line,
// so that no list multiplies a cardholder's memory.
func TestParseBoundsLists(t *testing.T) {
	ids := make([]string, MaxListItems+1)
	for i := range ids {
		ids[i] = fmt.Sprintf("M-%d", i)
	}
	countries := strings.TrimSuffix(strings.Repeat("CA, ", MaxListItems+1), ", ")
	file := "defaults: {home_country: US, currency: USD}\ncardholders:\n" +
		"  - id: ch_1\n    bank: acme\n    notify: {sms: \"+15551230001\"}\n    rules:\n" +
		"      unknown_merchant: {known: [" + strings.Join(ids, ", ") + "]}\n" +
		"      foreign_terminal: {allow: [" + countries + "]}\n"
	_, err := Parse("lists.yaml", []byte(file))
	want := []string{
		fmt.Sprintf("lists.yaml:7: cardholders[0].rules.unknown_merchant.known: has %d items; at most %d are allowed", MaxListItems+1, MaxListItems),
		fmt.Sprintf("lists.yaml:8: cardholders[0].rules.foreign_terminal.allow: has %d items; at most %d are allowed", MaxListItems+1, MaxListItems),
	}
	if got := fmt.Sprint(errorList(err)); got != fmt.Sprint(want) {
		t.Errorf("errors %s, want %s", got, want)
	}
	// At the limit, the lists load.
	file = strings.Replace(file, ", M-"+fmt.Sprint(MaxListItems)+"]", "]", 1)
	file = strings.Replace(file, "[CA, ", "[", 1)
	if _, err := Parse("lists.yaml", []byte(file)); err != nil {
		t.Errorf("lists of %d items refused: %v", MaxListItems, err)
	}
}

// TestParseBoundsListsWhateverElseIsWrong: the list limit is reported with the file's
// other problems, in whatever part of the file the list is: in a cardholder whose
// currency is missing or bad (whose rules are not built), in defaults that no
// cardholder can take, or in a file with no cardholders at all.
func TestParseBoundsListsWhateverElseIsWrong(t *testing.T) {
	ids := make([]string, MaxListItems+1)
	for i := range ids {
		ids[i] = fmt.Sprintf("M-%d", i)
	}
	known := "unknown_merchant: {known: [" + strings.Join(ids, ", ") + "]}"
	block := "unknown_merchant:\n        known:\n" + "        - " + strings.Join(ids, "\n        - ")
	const holder = "  - id: ch_1\n    bank: acme\n    notify: {sms: \"+15551230001\"}\n"
	limit := func(line int, path string) string {
		return fmt.Sprintf("lists.yaml:%d: %s: has %d items; at most %d are allowed", line, path, MaxListItems+1, MaxListItems)
	}
	const own = "cardholders[0].rules.unknown_merchant.known"
	const def = "defaults.rules.unknown_merchant.known"
	for _, tt := range []struct {
		name, file string
		want       []string // some of the errors, the limit's among them
	}{
		{"no home country",
			"defaults: {currency: USD}\ncardholders:\n" + holder + "    rules:\n      " + known + "\n",
			[]string{limit(7, own), "lists.yaml:3: cardholders[0]: home_country is missing (set it here or in defaults)"}},
		{"no currency",
			"defaults: {home_country: US}\ncardholders:\n" + holder + "    rules:\n      " + known + "\n",
			[]string{limit(7, own), "lists.yaml:3: cardholders[0]: currency is missing (set it here or in defaults)"}},
		{"no currency, the list in block form",
			"defaults: {home_country: US}\ncardholders:\n" + holder + "    rules:\n      " + block + "\n",
			[]string{limit(9, own), "lists.yaml:3: cardholders[0]: currency is missing (set it here or in defaults)"}},
		{"a bad currency",
			"defaults: {home_country: US, currency: XXY}\ncardholders:\n" + holder + "    rules:\n      " + known + "\n",
			[]string{limit(7, own), "lists.yaml:1: defaults.currency: \"XXY\" is not an ISO 4217 currency code"}},
		{"in defaults, a cardholder without a currency",
			"defaults:\n  home_country: US\n  rules:\n    " + known + "\ncardholders:\n" + holder,
			[]string{limit(4, def), "lists.yaml:6: cardholders[0]: currency is missing (set it here or in defaults)"}},
		{"in defaults, no cardholders",
			"defaults:\n  home_country: US\n  currency: USD\n  rules:\n    " + known + "\ncardholders: []\n",
			[]string{limit(5, def)}},
		{"in defaults that a cardholder overrides",
			"defaults:\n  home_country: US\n  currency: USD\n  rules:\n    " + known + "\ncardholders:\n" + holder + "    rules: {unknown_merchant: false}\n",
			[]string{limit(5, def)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			book, err := Parse("lists.yaml", []byte(tt.file))
			if book != nil {
				t.Fatal("the file was accepted")
			}
			got := map[string]int{}
			for _, e := range errorList(err) {
				got[e.Error()]++
			}
			for _, w := range tt.want {
				if got[w] != 1 {
					t.Errorf("%q reported %d times, want once; errors: %v", w, got[w], errorList(err))
				}
			}
		})
	}
}

// TestParseBoundsCardholders: a file of more than maxCardholders cardholders is refused,
// whether it is read piece by piece (plain form, or pieces yaml.v3 reads) or whole.
func TestParseBoundsCardholders(t *testing.T) {
	defer func(n int) { maxCardholders = n }(maxCardholders)
	maxCardholders = chunkItems + 10 // past the first piece
	for _, tt := range []struct {
		name  string
		item  func(i int) string
		whole bool // defaults last: the file is read whole
	}{
		{"plain form", func(i int) string {
			return fmt.Sprintf("  - id: ch_%d\n    bank: acme\n    notify: {sms: \"+15551230001\"}\n", i)
		}, false},
		{"yaml.v3", func(i int) string {
			return fmt.Sprintf("  - {id: \"ch_%d\", bank: acme, notify: {sms: \"+15551230001\"}} # a comment\n", i)
		}, false},
		{"whole file", func(i int) string {
			return fmt.Sprintf("  - {id: ch_%d, bank: acme, notify: {sms: \"+15551230001\"}}\n", i)
		}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			const defaults = "defaults: {home_country: US, currency: USD}\n"
			var b strings.Builder
			if !tt.whole {
				b.WriteString(defaults)
			}
			b.WriteString("cardholders:\n")
			for i := range maxCardholders + 1 {
				b.WriteString(tt.item(i))
			}
			items := b.String()
			if tt.whole {
				b.WriteString(defaults)
			}
			line := 3
			if tt.whole {
				line = 2
			}
			book, err := Parse("many.yaml", []byte(b.String()))
			want := fmt.Sprintf("many.yaml:%d: cardholders: has more than %d cardholders, the most a rules file may hold", line, maxCardholders)
			if book != nil || err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("error %v, want %q", err, want)
			}
			if n := len(errorList(err)); n != 1 {
				t.Errorf("%d errors, want the one", n)
			}
			// At the limit, the file loads.
			text := items[:strings.LastIndex(items, "  - ")]
			if tt.whole {
				text += defaults
			}
			if book, err := Parse("many.yaml", []byte(text)); err != nil || book.Len() != maxCardholders {
				t.Errorf("%d cardholders: %v", maxCardholders, err)
			}
		})
	}
}

// TestParseCapsErrors: a file of many mistakes lists the first MaxErrors, in the file's
// order, and one more error that counts the rest from the line of the first left out,
// whether the file is read whole or piece by piece; a problem of the defaults that
// every cardholder repeats is still counted once.
func TestParseCapsErrors(t *testing.T) {
	const extra = 500
	var keys strings.Builder
	for i := range MaxErrors + extra {
		fmt.Fprintf(&keys, "  k%d: 1\n", i)
	}
	var holders strings.Builder
	for i := range 3 * chunkItems / 2 {
		fmt.Fprintf(&holders, "  - id: ch_%d\n    bank: acme\n    notify: {sms: \"+15551230001\"}\n    color: blue\n", i)
	}
	for _, tt := range []struct {
		name, file string
		total      int
		line       int // of the first problem left out
	}{
		{"unknown keys in defaults", "defaults:\n  home_country: US\n  currency: USD\n" + keys.String() + "cardholders: []\n",
			MaxErrors + extra, 4 + MaxErrors},
		{"a mistake in each cardholder, in pieces", "defaults: {home_country: US, currency: USD}\ncardholders:\n" + holders.String(),
			3 * chunkItems / 2, 3 + 4*MaxErrors + 3},
		{"a mistake in each cardholder, read whole", "cardholders:\n" + holders.String() + "defaults: {home_country: US, currency: USD}\n",
			3 * chunkItems / 2, 2 + 4*MaxErrors + 3},
		{"and a time zone every cardholder takes", "defaults: {home_country: US, currency: USD, timezone: Mars/Olympus}\ncardholders:\n" + holders.String(),
			3*chunkItems/2 + 1, 3 + 4*(MaxErrors-1) + 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("many.yaml", []byte(tt.file))
			errs := errorList(err)
			if len(errs) != MaxErrors+1 {
				t.Fatalf("%d errors, want %d and a count", len(errs), MaxErrors)
			}
			for i, e := range errs[:MaxErrors] {
				var fe *FieldError
				if !errors.As(e, &fe) || fe.Omitted != 0 || i > 0 && fe.Line <= errs[i-1].(*FieldError).Line && fe.Line != 1 {
					t.Fatalf("error %d %q: not a FieldError in the file's order", i, e)
				}
			}
			var last *FieldError
			if !errors.As(errs[MaxErrors], &last) || last.Omitted != tt.total-MaxErrors {
				t.Fatalf("last error %q, Omitted %d; want %d left out", errs[MaxErrors], last.Omitted, tt.total-MaxErrors)
			}
			want := fmt.Sprintf("many.yaml:%d: and %d more problems from this line on, not listed", tt.line, tt.total-MaxErrors)
			if last.Error() != want {
				t.Errorf("last error %q, want %q", last, want)
			}
		})
	}
}
