package rules

import (
	"bytes"
	"errors"
	"fmt"
	"hash/maphash"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"
)

// Limits on what a rules file holds. cardwatch reads the whole file at start and on
// every change, so what the file makes in memory must be bounded by its size: the file
// has no anchors or aliases (an alias repeats a value without repeating its bytes, and
// a small file of them expands to gigabytes), and lists are bounded.
const (
	// MaxCardholders is the most cardholders a rules file may hold: twice the
	// million the loader is measured with (README, Performance).
	MaxCardholders = 2_000_000
	// MaxListItems is the most items of any list in a rule's value (unknown_merchant's
	// known, foreign_terminal's allow), in defaults or for a cardholder, reported
	// whatever else is wrong in the file.
	MaxListItems = 1000
	// MaxErrors is the most problems of a file listed one by one; the rest are counted
	// in one more error (FieldError.Omitted), so that the report of a file of a million
	// mistakes, and what it takes in memory, stays small.
	MaxErrors = 1000
)

// maxErrors is MaxErrors, lowered by tests.
var maxErrors = MaxErrors

// maxCardholders is MaxCardholders, lowered by tests.
var maxCardholders = MaxCardholders

// maxAliasErrors is how many anchors and aliases are reported one by one; the rest are
// counted in one more error, so that the report of a file of aliases stays small too.
const maxAliasErrors = 100

// Load reads and validates the rules file at path. A file with any problem gives no Book
// and an error listing every problem (errors.Join of *FieldError), so that a bad file is
// never half-applied.
func Load(path string) (*Book, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read rules file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read rules file: %w", err)
	}
	l := newLoader(path)
	if b, ok := l.parseInChunks(f, st.Size()); ok {
		return l.result(b)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read rules file: %w", err)
	}
	return parseWhole(path, data)
}

// Parse validates a rules file held in memory; name is used in error messages.
func Parse(name string, data []byte) (*Book, error) {
	l := newLoader(name)
	if b, ok := l.parseInChunks(bytes.NewReader(data), int64(len(data))); ok {
		return l.result(b)
	}
	return parseWhole(name, data)
}

// parseWhole parses a file not in the plain shape, or with a piece that does not parse
// alone, all at once, which gives every YAML error its usual message and line.
func parseWhole(name string, data []byte) (*Book, error) {
	l := newLoader(name)
	return l.result(l.parse(data))
}

// result is the book loaded, or every problem found.
func (l *loader) result(b *Book) (*Book, error) {
	if l.omitted > 0 {
		l.errs = append(l.errs, &FieldError{File: l.file, Line: l.omittedLine, Omitted: l.omitted,
			Msg: fmt.Sprintf("and %d more problems from this line on, not listed", l.omitted)})
	}
	if len(l.errs) > 0 {
		return nil, errors.Join(l.errs...)
	}
	return b, nil
}

// profile holds the keys that defaults and a cardholder share.
type profile struct {
	homeCountry, currency, timezone Value
	rules                           fields
}

type loader struct {
	file  string
	errs  []error
	seen  map[uint64]bool // hashes of the messages already reported, for errors in defaults
	cache *loadCache
	strs  map[string]string // for intern
	// defaults is the file's defaults once parsed.
	defaults *profile
	// omitted counts the problems past maxErrors, not kept; omittedLine is the first's.
	omitted, omittedLine int
}

// loadCache is what the goroutines building one file's cardholders share.
type loadCache struct {
	mu     sync.Mutex
	tz     map[string]*time.Location
	shared map[sharedKey]Rule // default rules built once per currency, shared by cardholders
	// defaultFailed is set when a default rule did not build.
	defaultFailed bool
}

// failedDefault reports whether a default rule did not build.
func (c *loadCache) failedDefault() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.defaultFailed
}

// sharedKey is a default rule's kind and currency.
type sharedKey struct{ kind, currency string }

func newLoader(file string) *loader {
	return &loader{file: file, seen: map[uint64]bool{},
		cache: &loadCache{tz: map[string]*time.Location{}, shared: map[sharedKey]Rule{}}}
}

// forPiece is a loader for building some of the file's cardholders on another
// goroutine: its own errors, the same caches.
func (l *loader) forPiece() *loader {
	return &loader{file: l.file, seen: map[uint64]bool{}, cache: l.cache, defaults: l.defaults}
}

func (l *loader) add(err error) {
	if err == nil {
		return
	}
	var fe *FieldError
	line := 0
	if errors.As(err, &fe) {
		h := maphash.String(seenSeed, fe.Error())
		if l.seen[h] {
			return
		}
		l.seen[h] = true
		line = fe.Line
	}
	if len(l.errs) >= maxErrors {
		l.omit(1, line)
		return
	}
	l.errs = append(l.errs, err)
}

// omit counts n problems not kept, the first of them at line.
func (l *loader) omit(n, line int) {
	if l.omitted == 0 {
		l.omittedLine = line
	}
	l.omitted += n
}

// seenSeed seeds the hashes of the messages a loader has reported.
var seenSeed = maphash.MakeSeed()

func (l *loader) at(n *yaml.Node, path string) Value {
	return Value{node: resolve(n), path: path, file: l.file}
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func (l *loader) parse(data []byte) *Book {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			line = strings.TrimSpace(line)
			if m := yamlLine.FindStringSubmatch(line); m != nil {
				n, _ := strconv.Atoi(m[1])
				l.add(&FieldError{File: l.file, Line: n, Msg: "not valid YAML: " + m[2]})
			} else if line != "" && line != "yaml: unmarshal errors:" {
				l.add(&FieldError{File: l.file, Msg: "not valid YAML: " + strings.TrimPrefix(line, "yaml: ")})
			}
		}
		return nil
	}
	if len(doc.Content) == 0 {
		l.add(&FieldError{File: l.file, Line: 1, Msg: "the file is empty; it needs defaults and cardholders"})
		return nil
	}
	if l.refuseAliases(doc.Content[0]) {
		return nil // reading on would expand them
	}
	root := l.at(doc.Content[0], "")
	fields := l.mapping(root, "defaults", "cardholders")
	if fields == nil {
		return nil
	}
	var defaults profile
	if v, ok := fields.get("defaults"); ok {
		defaults = l.profile(v, nil)
	}
	l.defaults = &defaults
	chs, ok := fields.get("cardholders")
	if !ok {
		l.add(root.Errorf("cardholders is missing"))
		return nil
	}
	if chs.node.Kind != yaml.SequenceNode {
		l.add(chs.Errorf("must be a list of cardholders"))
		return nil
	}
	if len(chs.node.Content) > maxCardholders {
		l.add(tooManyCardholders(l.file, chs.Line()))
		return nil
	}
	b := &Book{sizeHint: len(chs.node.Content)}
	l.addBuilt(b, l.forPiece().build(chs.node.Content, 0), 0)
	return b
}

func tooManyCardholders(file string, line int) error {
	return &FieldError{File: file, Line: line, Path: "cardholders",
		Msg: fmt.Sprintf("has more than %d cardholders, the most a rules file may hold", maxCardholders)}
}

// refuseAliases reports every anchor and alias in the tree under n, with its line and
// path, and whether there was any. yaml.v3 keeps an alias as a pointer to its anchor,
// so the tree is as small as the file; it is reading the tree, which follows aliases,
// that would multiply it. The walk does not follow them.
func (l *loader) refuseAliases(n *yaml.Node) bool {
	var path []string // the path's parts, joined only for an error
	found, nextLine := 0, 0
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		what := ""
		switch {
		case n.Kind == yaml.AliasNode:
			what = "the alias *" + n.Value
		case n.Anchor != "":
			what = "the anchor &" + n.Anchor
		}
		if what != "" {
			found++
			if found == maxAliasErrors+1 {
				nextLine = n.Line
			}
			if found <= maxAliasErrors {
				l.add(&FieldError{File: l.file, Line: n.Line, Path: strings.Join(path, ""),
					Msg: what + " is not allowed: a rules file has no anchors or aliases; write each value out"})
			}
		}
		if n.Kind == yaml.AliasNode {
			return
		}
		for i, c := range n.Content {
			switch n.Kind {
			case yaml.MappingNode:
				if i%2 == 0 {
					walk(c) // a key may carry an anchor too
					continue
				}
				key := n.Content[i-1].Value
				if len(path) > 0 {
					key = "." + key
				}
				path = append(path, key)
			case yaml.SequenceNode:
				path = append(path, fmt.Sprintf("[%d]", i))
			default:
				path = append(path, "")
			}
			walk(c)
			path = path[:len(path)-1]
		}
	}
	walk(n)
	if found > maxAliasErrors {
		l.add(&FieldError{File: l.file, Line: nextLine, Omitted: found - maxAliasErrors,
			Msg: fmt.Sprintf("and %d more anchors or aliases from this line on", found-maxAliasErrors)})
	}
	return found > 0
}

// hasAliases reports whether the tree under n holds an anchor or an alias.
func hasAliases(n *yaml.Node) bool {
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		return true
	}
	for _, c := range n.Content {
		if hasAliases(c) {
			return true
		}
	}
	return false
}

// built is the cardholders of a run of the list's items, nil where an item has errors,
// and the errors, errs[errEnd[j-1]:errEnd[j]] those of item j.
type built struct {
	holders []*Cardholder
	errs    []error
	errEnd  []int
	// omitted and omittedLine are the building loader's, for the problems past its
	// maxErrors (which came after all of errs).
	omitted, omittedLine int
}

// build reads the cardholders of the list's items, item first on; the items' own
// checks, not those across the file (duplicates), which addBuilt makes. Pieces of a
// large file are built at once on several goroutines, each with its own forPiece.
func (l *loader) build(items []*yaml.Node, first int) built {
	out := built{holders: make([]*Cardholder, len(items)), errEnd: make([]int, len(items))}
	for j, n := range items {
		out.holders[j] = l.cardholder(l.at(n, fmt.Sprintf("cardholders[%d]", first+j)), l.defaults)
		out.errEnd[j] = len(l.errs)
	}
	out.errs, out.omitted, out.omittedLine = l.errs, l.omitted, l.omittedLine
	return out
}

// addBuilt adds built cardholders, list items from first on, to the book, with their
// errors and those of duplicates, in the file's order.
func (l *loader) addBuilt(b *Book, p built, first int) {
	from := 0
	for j, h := range p.holders {
		for _, err := range p.errs[from:p.errEnd[j]] {
			l.add(err)
		}
		from = p.errEnd[j]
		if h == nil {
			continue
		}
		if prev := b.add(h); prev != nil {
			l.add(&FieldError{File: l.file, Line: h.Line, Path: fmt.Sprintf("cardholders[%d].id", first+j),
				Msg: fmt.Sprintf("%q of bank %q is already at line %d", h.ID, h.Bank, prev.Line)})
		}
	}
	if p.omitted > 0 {
		l.omit(p.omitted, p.omittedLine)
	}
}

// mapping checks that v is a mapping with only the allowed keys, each once.
func (l *loader) mapping(v Value, allowed ...string) fields {
	if v.node.Kind != yaml.MappingNode {
		msg := fmt.Sprintf("must be a mapping of %s", strings.Join(allowed, ", "))
		if v.path == "" {
			msg = "the file " + msg
		}
		l.add(&FieldError{File: l.file, Line: v.node.Line, Path: v.path, Msg: msg})
		return nil
	}
	out := make(fields, 0, len(v.node.Content)/2)
	for i := 0; i+1 < len(v.node.Content); i += 2 {
		k := v.node.Content[i]
		path := k.Value
		if v.path != "" {
			path = v.path + "." + k.Value
		}
		if !contains(allowed, k.Value) {
			l.add(l.at(k, path).Errorf("unknown key %q (allowed: %s)", k.Value, strings.Join(allowed, ", ")))
			continue
		}
		if prev, dup := out.get(k.Value); dup {
			l.add(l.at(k, path).Errorf("set twice (first at line %d)", prev.node.Line))
			continue
		}
		out = append(out, field{k.Value, l.at(v.node.Content[i+1], path)})
	}
	return out
}

// fields are a mapping's values by key, in the file's order. A mapping in a rules file
// has a handful of keys: a list looked through costs less than a map built for each of
// a million cardholders.
type fields []field

type field struct {
	key string
	val Value
}

// get returns the value at key, and whether there is one.
func (fs fields) get(key string) (Value, bool) {
	for _, f := range fs {
		if f.key == key {
			return f.val, true
		}
	}
	return Value{}, false
}

// at returns the value at key, or the zero Value (no node) when there is none.
func (fs fields) at(key string) Value {
	v, _ := fs.get(key)
	return v
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

var profileKeys = []string{"home_country", "currency", "timezone", "rules"}

// profile reads the keys shared by defaults and cardholders out of fields (or out of v
// when fields is nil, for defaults).
func (l *loader) profile(v Value, fields fields) profile {
	if fields == nil {
		fields = l.mapping(v, profileKeys...)
	}
	p := profile{
		homeCountry: fields.at("home_country"),
		currency:    fields.at("currency"),
		timezone:    fields.at("timezone"),
	}
	if r, ok := fields.get("rules"); ok {
		names := make([]string, 0, len(kinds))
		for _, k := range kinds {
			names = append(names, k.Name)
		}
		rm := l.mapping(r, names...)
		for _, f := range rm {
			l.boundLists(f.val)
		}
		p.rules = rm
	}
	return p
}

// boundLists reports every list in a rule's value longer than MaxListItems, as written:
// whether or not the rule is built (a cardholder without a currency has none built, and
// the default rules are built only for the cardholders that take them), the limit is
// the file's. A rule's Build that reads the list reports the same error, which add
// keeps once.
func (l *loader) boundLists(v Value) {
	n := v.node
	switch n.Kind {
	case yaml.SequenceNode:
		if len(n.Content) > MaxListItems {
			l.add(v.Errorf("has %d items; at most %d are allowed", len(n.Content), MaxListItems))
			return
		}
		for j, c := range n.Content {
			if c = resolve(c); c.Kind == yaml.SequenceNode || c.Kind == yaml.MappingNode {
				l.boundLists(l.at(c, fmt.Sprintf("%s[%d]", v.path, j)))
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			l.boundLists(l.at(n.Content[i+1], v.path+"."+n.Content[i].Value))
		}
	}
}

var cardholderKeys = append([]string{"id", "bank", "name", "notify"}, profileKeys...)

func (l *loader) cardholder(v Value, d *profile) *Cardholder {
	fields := l.mapping(v, cardholderKeys...)
	if fields == nil {
		return nil
	}
	h := &Cardholder{Line: v.Line(), Rules: make([]Rule, 0, len(kinds))}
	h.ID = l.required(v, fields, "id", func(s string) string {
		if len(s) > 128 {
			return "is longer than 128 characters"
		}
		return ""
	})
	h.Bank = l.required(v, fields, "bank", func(s string) string {
		if !ValidBankID(s) {
			return fmt.Sprintf("%q is not a bank id (lowercase letters, digits, '-' and '_')", s)
		}
		return ""
	})
	if n, ok := fields.get("name"); ok {
		h.Name = l.str(n)
	}
	h.Notify = l.notify(v, fields.at("notify"))

	p := l.profile(v, fields)
	h.Currency = l.resolved(v, "currency", p.currency, d.currency, func(s string) string {
		if _, ok := CurrencyDigits(s); !ok {
			return fmt.Sprintf("%q is not an ISO 4217 currency code", s)
		}
		return ""
	})
	h.HomeCountry = l.resolved(v, "home_country", p.homeCountry, d.homeCountry, func(s string) string {
		if !ValidCountry(s) {
			return fmt.Sprintf("%q is not an ISO 3166-1 alpha-2 country code", s)
		}
		return ""
	})
	h.Location = time.UTC
	tzv := p.timezone
	if tzv.node == nil {
		tzv = d.timezone
	}
	if tzv.node != nil {
		name := l.str(tzv)
		l.cache.mu.Lock()
		loc, ok := l.cache.tz[name]
		if !ok {
			var err error
			if loc, err = time.LoadLocation(name); err != nil || name == "" || name == "Local" {
				loc = nil
			}
			l.cache.tz[name] = loc
		}
		l.cache.mu.Unlock()
		if loc == nil {
			// Reported at each place it is written; one in defaults is reported once.
			l.add(tzv.Errorf("%q is not an IANA time zone, like America/New_York", name))
		} else {
			h.Location = loc
		}
	}
	// Most cardholders share these: one string each, not one per cardholder.
	h.Bank, h.Currency, h.HomeCountry = l.intern(h.Bank), l.intern(h.Currency), l.intern(h.HomeCountry)
	if h.Currency == "" {
		// Rules need the currency; without it their errors would only be noise.
		return nil
	}
	for _, k := range kinds {
		val, own := p.rules.get(k.Name)
		if !own {
			dv, ok := d.rules.get(k.Name)
			if !ok {
				continue
			}
			// A default rule is the same for every cardholder with the same currency:
			// build it once and share it, which keeps a million cardholders small.
			if r := l.sharedRule(k, dv, h); r != nil {
				h.Rules = append(h.Rules, r)
			}
			continue
		}
		r, err := k.Build(val, h)
		if err != nil {
			l.add(ruleErr(val, err))
			continue
		}
		if r != nil {
			h.Rules = append(h.Rules, r)
		}
	}
	if h.ID == "" || h.Bank == "" {
		return nil // already reported; a duplicate check on it would only add noise
	}
	return h
}

// intern returns s, or an equal string it returned before.
func (l *loader) intern(s string) string {
	if v, ok := l.strs[s]; ok {
		return v
	}
	if l.strs == nil {
		l.strs = map[string]string{}
	}
	if len(l.strs) < 1024 {
		l.strs[s] = s
	}
	return s
}

// sharedRule is the default rule of kind k for cardholders in h's currency, built by
// the first to need it; nil when it is off or does not build (which that first build
// reports).
func (l *loader) sharedRule(k Kind, dv Value, h *Cardholder) Rule {
	key := sharedKey{k.Name, h.Currency}
	l.cache.mu.Lock()
	defer l.cache.mu.Unlock()
	if r, ok := l.cache.shared[key]; ok {
		return r
	}
	r, err := k.Build(dv, h)
	l.add(ruleErr(dv, err))
	if err != nil {
		r = nil
		// Its message may name the cardholder it was built for: the first in the
		// file, read whole, not whichever goroutine came first.
		l.cache.defaultFailed = true
	}
	l.cache.shared[key] = r
	return r
}

// ruleErr puts a rule's error at its value unless it already points somewhere.
func ruleErr(v Value, err error) error {
	if err == nil {
		return nil
	}
	var fe *FieldError
	if errors.As(err, &fe) {
		return err
	}
	return v.Errorf("%v", err)
}

func (l *loader) str(v Value) string {
	s, err := v.String()
	if err != nil {
		l.add(err)
	}
	return s
}

// required reads a string field that must be present and pass check (which returns a
// problem, or "").
func (l *loader) required(parent Value, fields fields, key string, check func(string) string) string {
	v, ok := fields.get(key)
	if !ok {
		l.add(parent.Errorf("%s is missing", key))
		return ""
	}
	s := l.str(v)
	if s == "" {
		l.add(v.Errorf("must not be empty"))
		return ""
	}
	if msg := check(s); msg != "" {
		l.add(v.Errorf("%s", msg))
		return ""
	}
	return s
}

// resolved reads a key a cardholder may set or take from defaults.
func (l *loader) resolved(parent Value, key string, own, def Value, check func(string) string) string {
	v := own
	if v.node == nil {
		v = def
	}
	if v.node == nil {
		l.add(parent.Errorf("%s is missing (set it here or in defaults)", key))
		return ""
	}
	s := l.str(v)
	if msg := check(s); msg != "" {
		l.add(v.Errorf("%s", msg))
		return ""
	}
	return s
}

var slackID = regexp.MustCompile(`^[UWCGD][A-Z0-9]{2,20}$`)

func (l *loader) notify(parent Value, v Value) Notify {
	if v.node == nil {
		l.add(parent.Errorf("notify is missing: give an sms number or a slack id"))
		return Notify{}
	}
	fields := l.mapping(v, "sms", "slack")
	if fields == nil {
		return Notify{}
	}
	var n Notify
	if s, ok := fields.get("sms"); ok {
		var err error
		if n.SMS, err = s.String(); err != nil {
			l.add(err)
		} else if !ValidE164(n.SMS) {
			l.add(&FieldError{File: l.file, Line: s.Line(), Path: s.Path(), Sensitive: n.SMS,
				Msg: fmt.Sprintf("%q is not an E.164 number (like +15551230001)", n.SMS)})
			n.SMS = ""
		}
	}
	if s, ok := fields.get("slack"); ok {
		var err error
		if n.Slack, err = s.String(); err != nil {
			l.add(err)
		} else if !slackID.MatchString(n.Slack) {
			l.add(s.Errorf("%q is not a Slack user or channel id (like U024BE7LH)", n.Slack))
			n.Slack = ""
		}
	}
	if len(fields) == 0 {
		l.add(v.Errorf("give an sms number or a slack id"))
	}
	return n
}

// joinErrs is errors.Join that gives a nil error for an empty list.
func joinErrs(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	return errors.Join(errs...)
}
