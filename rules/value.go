package rules

import (
	"errors"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// FieldError is one problem in a rules file, with where it is.
type FieldError struct {
	// File is the file's name as given to the loader.
	File string
	// Line is the 1-based line of the offending value.
	Line int
	// Path is the field's path, "cardholders[3].notify.sms".
	Path string
	// Msg says what is wrong.
	Msg string
	// Sensitive is a part of Msg that is personal data (a phone number): people fixing
	// their file need to see it, logs must not keep it. See Redact.
	Sensitive string
	// Omitted, on the error that ends a list cut short (MaxErrors, or the anchors
	// and aliases past the first hundred), is how many problems it stands for.
	Omitted int
}

func (e *FieldError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteByte(':')
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, "%d:", e.Line)
	}
	if b.Len() > 0 {
		b.WriteByte(' ')
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Value is one YAML value in the rules file, with its path, so that a rule's Build can
// read its settings and report errors that point at the right line.
type Value struct {
	node *yaml.Node
	path string
	file string
}

// Path is the value's field path, "cardholders[0].rules.amount_over".
func (v Value) Path() string { return v.path }

// Line is the value's 1-based line in the file.
func (v Value) Line() int { return v.node.Line }

// Errorf returns a FieldError at v.
func (v Value) Errorf(format string, args ...any) error {
	return &FieldError{File: v.file, Line: v.node.Line, Path: v.path, Msg: fmt.Sprintf(format, args...)}
}

func (v Value) child(n *yaml.Node, path string) Value {
	return Value{node: resolve(n), path: path, file: v.file}
}

func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// IsBool reports whether v is true or false.
func (v Value) IsBool() bool { return v.node.Kind == yaml.ScalarNode && v.node.Tag == "!!bool" }

// Off reports whether v is `false`, which turns a rule off. `true` is not off; any other
// scalar is left to the rule to read.
func (v Value) Off() (bool, error) {
	if !v.IsBool() {
		return false, nil
	}
	var b bool
	if err := v.node.Decode(&b); err != nil {
		return false, v.Errorf("%q is not true or false", v.node.Value)
	}
	return !b, nil
}

// String returns v as a string; it must be a scalar.
func (v Value) String() (string, error) {
	if v.node.Kind != yaml.ScalarNode || v.node.Tag == "!!null" {
		return "", v.Errorf("must be a string")
	}
	return v.node.Value, nil
}

// Decimal returns v's text as written, for an exact amount: 500.00 stays "500.00".
func (v Value) Decimal() (string, error) {
	if v.node.Kind != yaml.ScalarNode {
		return "", v.Errorf("must be an amount, like 500.00")
	}
	switch v.node.Tag {
	case "!!int", "!!float", "!!str":
		return v.node.Value, nil
	}
	return "", v.Errorf("%q is not an amount, like 500.00", v.node.Value)
}

// Country returns v as an ISO 3166-1 alpha-2 code.
func (v Value) Country() (string, error) {
	s, err := v.String()
	if err != nil {
		return "", err
	}
	if !ValidCountry(s) {
		return "", v.Errorf("%q is not an ISO 3166-1 alpha-2 country code", s)
	}
	return s, nil
}

// List reads a mapping with the single key `key` holding a list, as in {allow: [CA, MX]},
// and converts each item with conv. Every bad item is reported.
func (v Value) List(key string, conv func(Value) (string, error)) ([]string, error) {
	if v.node.Kind != yaml.MappingNode {
		return nil, v.Errorf("must be true, false or {%s: [...]}", key)
	}
	var out []string
	var errs []error
	if len(v.node.Content) == 2 {
		out = make([]string, 0, len(v.node.Content[1].Content))
	}
	for i := 0; i+1 < len(v.node.Content); i += 2 {
		k, val := v.node.Content[i], resolve(v.node.Content[i+1])
		if k.Value != key {
			errs = append(errs, v.child(k, v.path+"."+k.Value).Errorf("unknown key %q (allowed: %s)", k.Value, key))
			continue
		}
		lv := v.child(val, v.path+"."+key)
		if val.Kind != yaml.SequenceNode {
			errs = append(errs, lv.Errorf("must be a list"))
			continue
		}
		if len(val.Content) > MaxListItems {
			errs = append(errs, lv.Errorf("has %d items; at most %d are allowed", len(val.Content), MaxListItems))
			continue
		}
		for j, item := range val.Content {
			s, err := conv(lv.child(item, fmt.Sprintf("%s[%d]", lv.path, j)))
			if err != nil {
				errs = append(errs, err)
				continue
			}
			out = append(out, s)
		}
	}
	return out, joinErrs(errs)
}

// Redact returns err with the personal data of every FieldError in it masked (all but the
// last two characters), for logs; rules check shows the unredacted errors to the person
// editing the file.
func Redact(err error) error {
	if err == nil {
		return nil
	}
	if list, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range list.Unwrap() {
			out = append(out, Redact(e))
		}
		return errors.Join(out...)
	}
	var fe *FieldError
	if errors.As(err, &fe) && fe.Sensitive != "" {
		c := *fe
		keep := min(2, len(c.Sensitive))
		masked := strings.Repeat("*", len(c.Sensitive)-keep) + c.Sensitive[len(c.Sensitive)-keep:]
		c.Msg = strings.ReplaceAll(c.Msg, c.Sensitive, masked)
		c.Sensitive = ""
		return &c
	}
	return err
}
