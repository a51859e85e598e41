package rules

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Load reads and validates the rules file at path. A file with any problem gives no Book
// and an error listing every problem (errors.Join of *FieldError), so that a bad file is
// never half-applied.
func Load(path string) (*Book, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read rules file: %w", err)
	}
	return Parse(path, data)
}

// Parse validates a rules file held in memory; name is used in error messages.
func Parse(name string, data []byte) (*Book, error) {
	newLoader := func() *loader {
		return &loader{file: name, tz: map[string]*time.Location{}, shared: map[string]Rule{}, seen: map[string]bool{}}
	}
	l := newLoader()
	b, ok := l.parseInChunks(data)
	if !ok {
		// Not in the plain shape, or a piece did not parse alone: the whole file at
		// once, which gives every YAML error its usual message and line.
		l = newLoader()
		b = l.parse(data)
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
	rulesOrder                      []string
}

type loader struct {
	file   string
	errs   []error
	tz     map[string]*time.Location
	shared map[string]Rule // default rules built once per currency, shared by cardholders
	seen   map[string]bool // messages already reported, for errors in defaults
	// defaults is the file's defaults once parsed.
	defaults *profile
}

func (l *loader) add(err error) {
	if err == nil {
		return
	}
	var fe *FieldError
	if errors.As(err, &fe) {
		msg := fe.Error()
		if l.seen[msg] {
			return
		}
		l.seen[msg] = true
	}
	l.errs = append(l.errs, err)
}

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
	b := &Book{holders: make(map[holderKey]*Cardholder, len(chs.node.Content))}
	l.addCardholders(b, chs.node.Content, 0, &defaults)
	return b
}

// addCardholders adds the cardholders of the list's items from index first on.
func (l *loader) addCardholders(b *Book, items []*yaml.Node, first int, defaults *profile) {
	for j, n := range items {
		i := first + j
		h := l.cardholder(l.at(n, fmt.Sprintf("cardholders[%d]", i)), defaults)
		if h == nil {
			continue
		}
		k := holderKey{h.Bank, h.ID}
		if first, dup := b.holders[k]; dup {
			l.add(&FieldError{File: l.file, Line: h.Line, Path: fmt.Sprintf("cardholders[%d].id", i),
				Msg: fmt.Sprintf("%q of bank %q is already at line %d", h.ID, h.Bank, first.Line)})
			continue
		}
		b.holders[k] = h
		b.list = append(b.list, h)
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
		p.rules = rm
	}
	return p
}

var cardholderKeys = append([]string{"id", "bank", "name", "notify"}, profileKeys...)

func (l *loader) cardholder(v Value, d *profile) *Cardholder {
	fields := l.mapping(v, cardholderKeys...)
	if fields == nil {
		return nil
	}
	h := &Cardholder{Line: v.Line()}
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
		loc, ok := l.tz[name]
		if !ok {
			var err error
			if loc, err = time.LoadLocation(name); err != nil || name == "" || name == "Local" {
				loc = nil
			}
			l.tz[name] = loc
		}
		if loc == nil {
			// Reported at each place it is written; one in defaults is reported once.
			l.add(tzv.Errorf("%q is not an IANA time zone, like America/New_York", name))
		} else {
			h.Location = loc
		}
	}
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
			key := k.Name + "\x00" + h.Currency
			if r, ok := l.shared[key]; ok {
				if r != nil {
					h.Rules = append(h.Rules, r)
				}
				continue
			}
			r, err := k.Build(dv, h)
			l.add(ruleErr(dv, err))
			l.shared[key] = r
			if r != nil && err == nil {
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
