package rules

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// checkPlainYAML fails when the parser accepts text that yaml.v3 refuses or reads as a
// different tree. One parser can be given text after text, as a load's workers do.
func checkPlainYAML(t *testing.T, p *plainParser, text string) (accepted bool) {
	t.Helper()
	got, ok := p.parse([]byte(text), 1)
	if !ok {
		return false
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		t.Fatalf("accepted what yaml.v3 refuses (%v):\n%s", err, text)
	}
	if len(doc.Content) != 1 {
		t.Fatalf("accepted a text yaml.v3 reads as %d documents:\n%s", len(doc.Content), text)
	}
	if diff := diffNodes(got, doc.Content[0], "$"); diff != "" {
		t.Fatalf("tree differs from yaml.v3's at %s:\n%s", diff, text)
	}
	return true
}

// diffNodes returns where two trees first differ, or "".
func diffNodes(a, b *yaml.Node, path string) string {
	switch {
	case a.Kind != b.Kind:
		return fmt.Sprintf("%s: kind %v, yaml.v3 %v", path, a.Kind, b.Kind)
	case a.Tag != b.Tag:
		return fmt.Sprintf("%s: tag %q, yaml.v3 %q", path, a.Tag, b.Tag)
	case a.Value != b.Value:
		return fmt.Sprintf("%s: value %q, yaml.v3 %q", path, a.Value, b.Value)
	case a.Style != b.Style:
		return fmt.Sprintf("%s: style %v, yaml.v3 %v", path, a.Style, b.Style)
	case a.Line != b.Line || a.Column != b.Column:
		return fmt.Sprintf("%s: at %d:%d, yaml.v3 %d:%d", path, a.Line, a.Column, b.Line, b.Column)
	case a.Anchor != b.Anchor || a.Alias != b.Alias:
		return path + ": anchor or alias"
	case a.HeadComment != b.HeadComment || a.LineComment != b.LineComment || a.FootComment != b.FootComment:
		return path + ": comments"
	case len(a.Content) != len(b.Content):
		return fmt.Sprintf("%s: %d children, yaml.v3 %d", path, len(a.Content), len(b.Content))
	}
	for i := range a.Content {
		if d := diffNodes(a.Content[i], b.Content[i], fmt.Sprintf("%s[%d]", path, i)); d != "" {
			return d
		}
	}
	return ""
}

// usualScalars are values as rules files have them; trickyScalars the rest.
var usualScalars = []string{
	"ch_000001", "bench", "+15551230001", "500.00", "500", "true", "US", "America/New_York", "M-000001-a",
	"[CA, MX]", "{known: [M-1, M-2]}", `{sms: "+15551230001"}`, "{sms: '+15551230001', slack: U024BE7LH}",
	"José Núñez", "a b", `"quoted"`, "'single'", "[]", "{allow: []}", "-5", "ch-1",
}

var trickyScalars = []string{
	"False", "no", "~", "null", "",
	"José Núñez", "a b", "a:b", "http://x.example/y", "-5", "-x", "- x", "?x", ":x", "0x1F", "0o17",
	"1e3", ".inf", ".NaN", "2001-12-14", "2001-12-14T21:59:43Z", "<<", "a, b", "a ,b", "[a]", "{a: b}",
	"a: b", "a:", "x #y", "'q'", `"q"`, `"a\"b"`, `"a\\b"`, "'it''s'", "'unterminated", `"a" b`,
	"[a, b]", "[ a ,b ]", "[]", "[a,]", `["x", 'y']`, `{sms: "+1"}`, "{a: 1, b: c}", "{a}", "{a: }",
	"{ }", "{a:1}", "[a, [b]]", "[a b, c]", "[-a]", "[a: b]", "é", "\u2028", "\ufeff", "a\tb", "\x01",
	"M-000001-a", "&a x", "*a", "!!str 5", "|", ">", "%x", "@x", "`x", "'a' ", `""`, "''", "[\"\"]",
	"{a: [b]}", "[{a: b}]", "[a, 'b, c']", "{'a': b}", "{a: 'b'}", "5 ", "x  y", "\u00a0x", "\u0085",
}

var plainKeys = []string{"id", "bank", "name", "notify", "rules", "sms", "known", "home_country", "x-y", "_k", "a1"}

var trickyKeys = []string{"true", "null", "Yes", "-k", "1k", "k k", "k:", "<<", "id", "'id'", "? id"}

// randomPlainDoc writes a random list in, and around, the plain form.
func randomPlainDoc(rnd *rand.Rand) string {
	scalar := func() string {
		if rnd.IntN(12) == 0 {
			return trickyScalars[rnd.IntN(len(trickyScalars))]
		}
		return usualScalars[rnd.IntN(len(usualScalars))]
	}
	key := func() string {
		if rnd.IntN(12) == 0 {
			return trickyKeys[rnd.IntN(len(trickyKeys))]
		}
		return plainKeys[rnd.IntN(len(plainKeys))]
	}
	var b strings.Builder
	var value func(indent, depth int)
	mapping := func(indent, depth int, first bool) {
		for k := range 1 + rnd.IntN(4) {
			if k > 0 || !first {
				b.WriteString(strings.Repeat(" ", indent))
			}
			b.WriteString(key())
			b.WriteString(":")
			value(indent, depth+1)
		}
	}
	value = func(indent, depth int) {
		switch r := rnd.IntN(10); {
		case r < 6 || depth > 3:
			b.WriteString(strings.Repeat(" ", 1+rnd.IntN(2)*rnd.IntN(3)))
			b.WriteString(scalar())
			b.WriteString(strings.Repeat(" ", rnd.IntN(2)))
			b.WriteString("\n")
		case r < 8:
			b.WriteString("\n")
			mapping(indent+1+rnd.IntN(3), depth, false)
		default:
			b.WriteString("\n")
			in := indent + rnd.IntN(4)
			for range 1 + rnd.IntN(3) {
				b.WriteString(strings.Repeat(" ", in) + "- ")
				if rnd.IntN(2) == 0 {
					b.WriteString(scalar() + "\n")
				} else {
					mapping(in+2, depth+1, true)
				}
			}
		}
	}
	indent := rnd.IntN(3)
	for range 1 + rnd.IntN(3) {
		b.WriteString(strings.Repeat(" ", indent) + "-" + strings.Repeat(" ", 1+rnd.IntN(2)*rnd.IntN(2)))
		mapping(indent+2, 0, true)
		if rnd.IntN(4) == 0 {
			b.WriteString("\n")
		}
	}
	doc := []byte(b.String())
	// Now and then, a character changed, added or taken away.
	for range rnd.IntN(3) / 2 {
		if len(doc) == 0 {
			break
		}
		at := rnd.IntN(len(doc))
		chars := " -:#\t\"'[]{},\n&*!|>x0é"
		c := chars[rnd.IntN(len(chars))]
		switch rnd.IntN(3) {
		case 0:
			doc[at] = c
		case 1:
			doc = append(doc[:at], append([]byte{c}, doc[at:]...)...)
		default:
			doc = append(doc[:at], doc[at+1:]...)
		}
	}
	return string(doc)
}

func TestPlainYAMLMatchesYAMLv3(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	n, accepted := 30000, 0
	if testing.Short() {
		n = 3000
	}
	var p plainParser
	for range n {
		if checkPlainYAML(t, &p, randomPlainDoc(rnd)) {
			accepted++
		}
	}
	// Both ways must be well travelled for the comparison to mean something.
	if accepted < n/20 || accepted > n*19/20 {
		t.Fatalf("%d of %d texts accepted", accepted, n)
	}
	t.Logf("%d of %d random texts in the plain form, each the same tree as yaml.v3's", accepted, n)
}

func TestPlainYAMLReadsABenchFile(t *testing.T) {
	text := "  - id: ch_000001\n    bank: bench\n    notify: {sms: \"+15550000001\"}\n    rules:\n      unknown_merchant: {known: [M-000001-a, M-000001-b, M-000001-c]}\n" +
		"  - id: ch_000002\n    name: José Núñez\n    bank: bench\n    notify:\n      slack: U024BE7LH\n    rules:\n      amount_over: 250.00\n      foreign_terminal: {allow: [CA, MX]}\n"
	if !checkPlainYAML(t, new(plainParser), text) {
		t.Fatal("refused the plain form")
	}
}

func FuzzPlainYAML(f *testing.F) {
	rnd := rand.New(rand.NewPCG(5, 6))
	for range 50 {
		f.Add(randomPlainDoc(rnd))
	}
	f.Fuzz(func(t *testing.T, text string) { checkPlainYAML(t, new(plainParser), text) })
}
