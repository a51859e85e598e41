package rules

import (
	"golang.org/x/text/language"
	"golang.org/x/text/language/display"
)

// foreignTerminal fires when the card is used outside the cardholder's home country and
// the countries they allowed.
type foreignTerminal struct{ allow map[string]bool }

var foreignTerminalKind = Kind{
	Name: "foreign_terminal",
	Build: func(v Value, _ *Cardholder) (Rule, error) {
		if off, err := v.Off(); off || err != nil {
			return nil, err
		}
		r := foreignTerminal{}
		if v.IsBool() {
			return r, nil
		}
		countries, err := v.List("allow", func(item Value) (string, error) { return item.Country() })
		if err != nil {
			return nil, err
		}
		if len(countries) > 0 {
			r.allow = make(map[string]bool, len(countries))
			for _, c := range countries {
				r.allow[c] = true
			}
		}
		return r, nil
	},
}

func (foreignTerminal) Name() string { return "foreign_terminal" }

func (r foreignTerminal) Check(t *Transaction, h *Cardholder, _ Facts) (Reason, bool) {
	c := t.CountryOfUse()
	if c == "" || c == h.HomeCountry || r.allow[c] {
		return Reason{}, false
	}
	what := "terminal in "
	if t.Terminal.EntryMode == EntryEcommerce {
		what = "online merchant in "
	}
	return Reason{Rule: "foreign_terminal", Detail: what + CountryName(c), Summary: "abroad"}, true
}

var regionNames = display.English.Regions()

// CountryName returns the English name of an ISO 3166-1 alpha-2 code, "Nigeria" for NG,
// or the code itself when it has none.
func CountryName(code string) string {
	r, err := language.ParseRegion(code)
	if err != nil {
		return code
	}
	if n := regionNames.Name(r); n != "" {
		return n
	}
	return code
}
