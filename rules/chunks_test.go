package rules

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// bigRules is a rules file of n cardholders; bad, when not empty, is the sms number of
// the last one. With comments, a comment between items takes every piece through
// yaml.v3; without, through the plain-form parser.
func bigRules(n int, bad string, comments bool) string {
	var w strings.Builder
	w.WriteString("defaults:\n  home_country: US\n  currency: USD\n  rules:\n    amount_over: 500.00\n    unknown_merchant: true\ncardholders:\n")
	for i := range n {
		sms := fmt.Sprintf("+1555%07d", i)
		if i == n-1 && bad != "" {
			sms = bad
		}
		if comments {
			fmt.Fprintf(&w, "  # cardholder %d\n", i)
		} else {
			w.WriteString("\n")
		}
		fmt.Fprintf(&w, "  - id: ch_%06d\n    bank: acme\n    notify: {sms: %q}\n    rules:\n      unknown_merchant: {known: [M-%d-b, M-%d-a]}\n", i, sms, i, i)
	}
	return w.String()
}

func TestChunkedLoadMatchesTheWholeFile(t *testing.T) {
	for _, comments := range []bool{false, true} {
		t.Run(fmt.Sprintf("comments=%v", comments), func(t *testing.T) {
			data := []byte(bigRules(3*chunkItems+7, "", comments))
			if pieces, ok := split(data); !ok || len(pieces) != 4 {
				t.Fatalf("split: ok %v, %d pieces, want 4", ok, len(pieces))
			}
			chunked, err := Parse("big.yaml", data)
			if err != nil {
				t.Fatal(err)
			}
			sameAsWhole(t, chunked, data)
		})
	}
}

// sameAsWhole fails unless b holds the cardholders of data, in order, as the whole-file
// parse reads them.
func sameAsWhole(t *testing.T, b *Book, data []byte) {
	t.Helper()
	whole := newLoader("big.yaml")
	want := whole.parse(data)
	if len(whole.errs) > 0 {
		t.Fatal(whole.errs)
	}
	if b.Len() != want.Len() {
		t.Fatalf("%d cardholders, %d read whole", b.Len(), want.Len())
	}
	for i, h := range want.Cardholders() {
		g := b.Cardholders()[i]
		if g.ID != h.ID || g.Name != h.Name || g.Line != h.Line || g.Notify != h.Notify ||
			strings.Join(ruleSettings(g), ";") != strings.Join(ruleSettings(h), ";") {
			t.Fatalf("cardholder %d: %+v, %+v read whole", i, g, h)
		}
		if b.Lookup(h.Bank, h.ID) != g {
			t.Fatalf("cardholder %d not found by bank and id", i)
		}
	}
}

// TestLoadReadsLargeFilesOfEveryShape loads large files from disk, as serve does: one
// the streamed read finds irregular only near its end, one with Windows line ends (every
// piece through yaml.v3), one with names in many scripts. Each must give the cardholders
// the whole-file parse gives.
func TestLoadReadsLargeFilesOfEveryShape(t *testing.T) {
	n := 2*chunkItems + 5
	plain := bigRules(n, "", false)
	head, list, _ := strings.Cut(plain, "cardholders:\n")
	var named strings.Builder
	for i, line := range strings.SplitAfter(plain, "\n") {
		named.WriteString(line)
		if strings.HasPrefix(line, "  - id: ") {
			fmt.Fprintf(&named, "    name: José Ñúñez Łódź 山田 %d\n", i)
		}
	}
	for name, text := range map[string]string{
		"the list first, defaults after it": "cardholders:\n" + list + head,
		"Windows line ends":                 strings.ReplaceAll(plain, "\n", "\r\n"),
		"names in many scripts":             named.String(),
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "rules.yaml")
			if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
			b, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if b.Len() != n {
				t.Fatalf("%d cardholders, want %d", b.Len(), n)
			}
			sameAsWhole(t, b, []byte(text))
		})
	}
}

func TestChunkedLoadReportsTheFileLine(t *testing.T) {
	for _, comments := range []bool{false, true} {
		n := 2*chunkItems + 3
		_, err := Parse("big.yaml", []byte(bigRules(n, "+1", comments)))
		if err == nil {
			t.Fatal("a bad number was taken")
		}
		// 7 lines of head, then 6 lines a cardholder; the number is on the 4th.
		line := 7 + 6*(n-1) + 4
		if want := fmt.Sprintf("big.yaml:%d: cardholders[%d].notify.sms", line, n-1); !strings.Contains(err.Error(), want) {
			t.Errorf("comments %v: error %q does not say %q", comments, err, want)
		}
	}
}

func TestUnusualFilesAreReadWhole(t *testing.T) {
	for name, text := range map[string]string{
		"a key after the list": "cardholders:\n  - id: a\ndefaults: {}\n",
		"a flow list":          "cardholders: [{id: a}]\n",
		"no list":              "defaults: {}\n",
	} {
		if _, ok := split([]byte(text)); ok {
			t.Errorf("%s: split into pieces", name)
		}
	}
}

// split cuts data as a load does, into the pieces of its cardholder list.
func split(data []byte) ([]piece, bool) {
	sp := newSplitter(bytes.NewReader(data))
	if _, ok := sp.head(); !ok {
		return nil, false
	}
	var pieces []piece
	for {
		p, more, ok := sp.next()
		if !ok {
			return nil, false
		}
		pieces = append(pieces, p)
		if !more {
			return pieces, true
		}
	}
}

// TestChunkedLoadErrorsAsTheWholeFile: whatever a large file holds, the piecewise load
// reports the same errors, in the same order, as the whole-file parse, every time.
func TestChunkedLoadErrorsAsTheWholeFile(t *testing.T) {
	n := 2*chunkItems + 3
	item := func(w *strings.Builder, i int, extra string) {
		fmt.Fprintf(w, "  - id: ch_%06d\n    bank: acme\n    notify: {sms: \"+1555%07d\"}\n%s", i, i, extra)
	}
	file := func(each func(w *strings.Builder, i int)) []byte {
		var w strings.Builder
		w.WriteString("defaults:\n  home_country: US\n  currency: USD\n  rules:\n    amount_over: 500.001\ncardholders:\n")
		for i := range n {
			each(&w, i)
		}
		return []byte(w.String())
	}
	// oddNameEarlyErrorLate is a file with the name given to an early cardholder and
	// an error in the last: the error's place must not move.
	oddNameEarlyErrorLate := func(name string) []byte {
		return file(func(w *strings.Builder, i int) {
			extra := "    rules: {amount_over: 100.00}\n"
			if i == 10 {
				extra += "    name: " + name + "\n"
			}
			if i == n-1 {
				extra = "    rules: {amount_over: 1.234}\n"
			}
			item(w, i, extra)
		})
	}
	cases := map[string][]byte{
		// The default rule fails for USD; the first USD cardholder is the last of the
		// first piece, and the goroutine on the second piece gets to one first.
		"a default rule that does not build": file(func(w *strings.Builder, i int) {
			if i < chunkItems-1 {
				item(w, i, "    currency: EUR\n    rules: {amount_over: 100.00}\n")
			} else {
				item(w, i, "")
			}
		}),
		// A quoted name runs on to a line that looks like the next item.
		"an item hidden in a quoted string": oddNameEarlyErrorLate("\"Bob\n  - Smith\""),
		// YAML reads U+2028 as a line break.
		"a Unicode line break": oddNameEarlyErrorLate("\"Bob\u2028Smith\""),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			_, want := parseWhole("big.yaml", data)
			if want == nil {
				t.Fatal("the file has no error")
			}
			for range 5 {
				if _, err := Parse("big.yaml", data); err == nil || err.Error() != want.Error() {
					t.Fatalf("errors:\n%v\nread whole:\n%v", err, want)
				}
			}
		})
	}
}
