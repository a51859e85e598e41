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
	"{a: [b]}", "[{a: b}]", "[a?b]", "{a: b?}", "[a, 'b, c']", "{'a': b}", "{a: 'b'}", "5 ", "x  y", "\u00a0x", "\u0085",
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
	for _, text := range plainCornerCases {
		if len(text) < 200 { // the long ones would slow every mutation down
			f.Add(text)
		}
	}
	f.Fuzz(func(t *testing.T, text string) { checkPlainYAML(t, new(plainParser), text) })
}

// plainCornerCases are texts at the edges of the plain form.
var plainCornerCases = func() []string {
	long := func(n int) string { return strings.Repeat("k", n) }
	return []string{
		// Plain scalars with indicators in them or in front.
		"- k: a:b\n", "- k: a::b\n", "- k: a :b\n", "- k: :x\n", "- k: ?x\n", "- k: -x\n", "- k: --x\n",
		"- k: ---\n", "- ---\n", "- ...\n", "- k: ...\n", "- k: a - b\n", "- k: a, b]\n", "- k: a]\n",
		"- k: a{b\n", "- k: a'b\"c\n", "- k: a&b *c !d\n", "- k: 190:20:30\n", "- :x\n", "- ?x\n",
		"- -x\n", "- k: -\n", "- k: ?\n", "- k: :\n", "- k: a:\n", "- k: a: b\n", "- k: - x\n",
		"- k: ? x\n", "- k: <<\n", "- <<: a\n", "- k: a<<\n", "- k : v\n", "- a:b: c\n", "- :a: b\n",
		"- k: %x\n", "- k: a%\n", "- k: @x\n", "- k: `x\n", "- k: a@b`c\n", "- k: |x\n", "- k: >x\n",
		// Tags that plain values resolve to.
		"- k: 0b1010\n", "- k: 0o17\n", "- k: 0x_1F\n", "- k: 1_000\n", "- k: +12\n", "- k: -0\n",
		"- k: 1e3\n", "- k: 6.8523015e+5\n", "- k: 685.230_15e+03\n", "- k: .inf\n", "- k: -.Inf\n",
		"- k: +.INF\n", "- k: .nan\n", "- k: .5\n", "- k: 5.\n", "- k: ~\n", "- k: Null\n", "- k: NULL\n",
		"- k: nULL\n", "- k: yes\n", "- k: On\n", "- k: y\n", "- k: TRUE\n", "- k: tRUE\n",
		"- k: 2001-12-14\n", "- k: 2001-12-14t21:59:43.10-05:00\n", "- k: 2001-12-14 21:59:43.10 -5\n",
		"- k: 2001-12-14T21:59:43Z\n", "- k: 2002-1-1\n", "- true: 1\n", "- null: 1\n", "- Yes: 1\n",
		"- y: n\n", "- e1: 1\n", "- NaN: 1\n",
		// Quoted scalars.
		"- k: ''\n", `- k: ""` + "\n", "- k: 'it''s'\n", "- k: '''\n", "- k: 'a'b'\n", "- k: 'a\\b'\n",
		`- k: "a\"b"` + "\n", `- k: "a\\b"` + "\n", `- k: "it's"` + "\n", `- k: 'say "x"'` + "\n",
		`- k: " a b "` + "\n", "- k: ' a '  \n", `- k: "a" b` + "\n", `- k: "a":` + "\n", `- "a": b` + "\n",
		`- k: "a: b"` + "\n", "- k: 'a, [b]'\n", `- k: "é"` + "\n", "- 'q'\n", `- "q"` + "\n", `- "a"'` + "\n",
		"- k: 'unterminated\n", `- k: "x` + "\n",
		// Flow collections.
		"- k: []\n", "- k: {}\n", "- k: [ ]\n", "- k: { }\n", "- k: [a,b]\n", "- k: [a ,b ]\n",
		"- k: [a,]\n", "- k: [a, ]\n", "- k: [,]\n", "- k: [a,,b]\n", "- k: {a: b,}\n", "- k: {a}\n",
		"- k: {a: }\n", "- k: {a:b}\n", "- k: {a :b}\n", "- k: {a : b}\n", "- k: {a: b: c}\n", "- k: [a: b]\n",
		"- k: [a:b]\n", "- k: {a: b:c}\n", "- k: {a: http://x}\n", "- k: [a b, c  d]\n", "- k: [a - b]\n",
		"- k: [a, -b]\n", "- k: [-]\n", "- k: [?a]\n", "- k: [a?b]\n", "- k: [a ?b]\n", "- k: [a?]\n",
		"- k: {a: b?c}\n", "- k: {a?: b}\n", "- k: {a ? b: c}\n", "- k: [:a]\n", "- k: [a]]\n",
		"- k: [a}]\n", "- k: [a{b]\n", "- k: {a: b]\n", "- k: [[a], [b, [c]]]\n", "- k: [{a: b}, {}]\n",
		"- k: {a: {b: [c]}}\n", "- k: {[a]: b}\n", "- k: {{a: b}: c}\n", `- k: {"a": b}` + "\n",
		`- k: {"a":b}` + "\n", `- k: {a: "b"}` + "\n", `- k: ["a" b]` + "\n", "- k: ['a', 'b''c']\n",
		"- k: [a, 'b, c']\n", "- k: {a: 'b': c}\n", "- k: [a] b\n", "- k: [a]: b\n", "- k: [a],\n",
		"- k: [a, b]  \n", "- [a]\n", "- {a: b}\n", "- {a: b}: c\n", "- k: {true: null, 1: 2.5}\n",
		"- k: [é, ñ: x]\n", "- k: {é: ñ, ü: ö}\n", "- k: {a b: c d}\n", "- k: [a&b, c*d, e!f]\n",
		"- k: [<<]\n", "- k: {<<: a}\n", "- k: [a'b]\n", "- k: [a,\n   b]\n", "- k: [a\n",
		"- k: [|]\n", "- k: [>]\n", "- k: [%a]\n", "- k: [@a]\n", "- k: [a%, b@, c`]\n",
		"- k: ['a' , b]\n", "- k: {a: 'b' , c: d}\n", "- k: [a, ?b]\n", "- k: [? a]\n", "- k: {? a: b}\n",
		"- k: {a: ?b}\n", "- k: [a, b?]\n", "- k: {a: -1}\n", "- k: [a:, b]\n", "- k: {a: b, c}\n",
		// Indentation.
		"- a\n- b\n", "  - a\n  - b\n", "  - a\n - b\n", "- a\n  - b\n", "- a\n  b\n", "- -\n",
		"- - a\n", "-  - a\n", "-\n", "- \n", "-   \n- a\n", "-a\n", "- k: v\n  j: w\n", "- k: v\n   j: w\n",
		"- k: v\n j: w\n", "-   k: v\n    j: w\n", "-   k: v\n  j: w\n", "- k:\n  - a\n  - b\n  j: c\n",
		"- k:\n  - a\n- b\n", "- k:\n    - a\n    j: b\n", "- k:\n   - a\n", "- k:\n    a: b\n  j: c\n",
		"- k:\n  j: c\n", "- k:\n", "- k: \n", "- k:\n\n  - a\n", "- k:\n  - j:\n    - x\n    m: 1\n  n: 2\n",
		"- k:\n  - a: 1\n    b: 2\n  j: 3\n", "- k:\n  - x\n    y: z\n", "- k: v\n  - x\n", "- k:\n- a\n",
		"- k:\n  a\n", "- k:\n    a\n", "- a\n\n\n- b\n", "- a\n   \n- b\n", "\n\n- a\n", "  \n- a\n  ",
		"- a\n \n", "- a", "- k: v", "- k:\n  - a", "- a\n-\n", "- a\n- \n", "- k: v\n  k: w\n",
		"- k: v\n  j: w\n  k: x\n", "- a\n---\n- b\n", "--- \n- a\n", "---\n- a\n", "- a\n...\n",
		"- a\n... \n- b\n", "%YAML 1.2\n---\n- a\n", "- a\n%x\n", "- k: v\n- k: v\n",
		// Characters.
		"- é\n", "- k: José Núñez\n", "- {é: a, b: c}\n", "- k: [é, b]\n", "- é: a\n", "- k: \u00a0x\n",
		"- k: x\u00a0\n", "- \u00a0x\n", "\u00a0- a\n", "- a\n  \u00a0\n", "- k: v\n  \u00a0j: w\n",
		"- k: a\u0085b\n", "- k: a\u2028b\n", "- k: a\u2029b\n", "\ufeff- a\n", "- k: a\ufeffb\n",
		"- k: a\ufffeb\n", "- k: a\uffffb\n", "- k: a\ufffdb\n", "- k: a\ue000b\n", "- k: a\ufdd0b\n",
		"- k: 😀\n", "- {😀: 😀, b: c}\n", "- k: [😀, x]\n", "- k: a\x00b\n", "- k: a\x7fb\n",
		"- k: a\x80b\n", "- k: a\xc2\x80b\n", "- k: a\xffb\n", "- k: a\xed\xa0\x80b\n", "- k: a\rb\n",
		"- a\r\n- b\r\n", "- k:\tv\n", "-\tk: v\n", "- k: a\tb\n", "\t- a\n", "- k: a\u3000b\n",
		"- k: a\u2003\n", "- k: a #b\n", "- k: a#b\n", "- k: 'a#b'\n",
		// Long lines and keys: yaml.v3 wants a key's ':' within 1024 characters of its start.
		"- " + long(1024) + ": v\n", "- " + long(1025) + ": v\n", "- a: 1\n  " + long(1024) + ": v\n",
		"- a: 1\n  " + long(1025) + ": v\n", "- k: {" + long(1024) + ": v}\n", "- k: {" + long(1025) + ": v}\n",
		"- k: {a: b, " + long(1025) + ": v}\n", "- k: {" + strings.Repeat("é", 1025) + ": v}\n",
		"- k: {" + strings.Repeat("é", 1000) + ": v}\n", "- k: {" + long(1020) + "    : v}\n",
		"- k: {" + long(1020) + " k k k: v}\n", "- k: " + long(100000) + "\n", "- " + long(100000) + "\n",
		"- k: [" + strings.Repeat("a, ", 50000) + "b]\n", "- k: '" + long(5000) + "'\n",
		"- k: {a: " + long(5000) + "}\n",
		// Many nodes on a long line with multi-byte characters, for the columns.
		"- k: {é: [" + strings.Repeat("ñ, ab, ", 5000) + "ü], b: {ö: x}}\n", "- k: [é, [a], {b: ñ}, 'ü', \"ö\"]\n",
		"- é: [ñ]\n  ü: {ö: [é, 'ñ']}\n- k: [ü]\n",
		// Deep nesting: yaml.v3 stops at 10000 levels.
		"- " + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + "\n",
		"- " + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + "\n",
		"- k: " + strings.Repeat("{a: ", 10001) + "b" + strings.Repeat("}", 10001) + "\n",
		"- " + strings.Repeat("[", 200) + "a" + strings.Repeat("]", 200) + "\n",
	}
}()

// TestPlainYAMLCornerCases holds the parser to yaml.v3 on texts at the edges of the
// plain form: each either is refused or reads as yaml.v3 reads it.
func TestPlainYAMLCornerCases(t *testing.T) {
	var p plainParser
	for i, text := range plainCornerCases {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			// Each text alone, and after the others with the same parser.
			checkPlainYAML(t, new(plainParser), text)
			checkPlainYAML(t, &p, text)
		})
	}
}
