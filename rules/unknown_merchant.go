package rules

import (
	"slices"
	"strings"
	"unicode"
)

// unknownMerchant fires on the first use of the card at a merchant.
type unknownMerchant struct {
	// known is the cardholder's list of merchant ids, sorted: a few entries each, for up
	// to millions of cardholders, where a map apiece would cost several times the memory.
	known []string
}

var unknownMerchantKind = Kind{
	Name: "unknown_merchant",
	Build: func(v Value, _ *Cardholder) (Rule, error) {
		if off, err := v.Off(); off || err != nil {
			return nil, err
		}
		r := unknownMerchant{}
		if v.IsBool() {
			return r, nil
		}
		ids, err := v.List("known", func(item Value) (string, error) { return item.String() })
		if err != nil {
			return nil, err
		}
		if len(ids) > 0 {
			slices.Sort(ids)
			r.known = slices.Clip(slices.Compact(ids))
		}
		return r, nil
	},
}

func (unknownMerchant) Name() string { return "unknown_merchant" }

func (r unknownMerchant) Check(t *Transaction, _ *Cardholder, f Facts) (Reason, bool) {
	if f.MerchantKnown || r.lists(t.Merchant.ID) {
		return Reason{}, false
	}
	return Reason{
		Rule:    "unknown_merchant",
		Detail:  "first purchase at " + quotedLabel(t.Merchant) + " on this card",
		Summary: "new merchant",
	}, true
}

// lists reports whether the cardholder put the merchant on their known list.
func (r unknownMerchant) lists(id string) bool {
	if id == "" {
		return false
	}
	_, found := slices.BinarySearch(r.known, id)
	return found
}

// quotedLabel is the merchant as the reason names it, in the merchant's own words and so
// in quotes: `"ACME ELECTRONICS"`, or `merchant "M-77812"` when the name shows nothing
// (as the message's header names it), or "a merchant".
func quotedLabel(m Merchant) string {
	switch {
	case visible(m.Name):
		return Quote(m.Name)
	case visible(m.ID):
		return "merchant " + Quote(m.ID)
	}
	return "a merchant"
}

// visible reports whether s has a character a reader sees: not only spaces, controls,
// format characters (zero-width, bidi) and other invisible ones.
func visible(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return !invisible(r) && !unicode.IsSpace(r) }) >= 0
}

func invisible(r rune) bool {
	return !unicode.IsGraphic(r) || unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r)
}

// Quote puts text of the bank's or the merchant's in double quotes, so that a reader
// takes it for their words and not for cardwatch's. Every quotation mark inside
// (QuotationMark) becomes a single "'", and a run of them one "'", so that the text can
// neither close the quotes and go on as if cardwatch spoke, nor close them with two apostrophes.
func Quote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	apostrophe := false // the last visible character written is a "'"
	for _, r := range s {
		switch {
		case QuotationMark(r):
			if !apostrophe {
				b.WriteByte('\'')
			}
			apostrophe = true
		case invisible(r):
			b.WriteRune(r) // the renderer's cleaner takes it out; it must not split a run
		default:
			b.WriteRune(r)
			apostrophe = false
		}
	}
	b.WriteByte('"')
	return b.String()
}

// QuotationMark reports whether a reader may take r for a quotation mark: every
// character of Unicode's Quotation_Mark property ('"', "“", "„", "«", "「", "＂"...), of
// the initial and final punctuation categories (Pi, Pf: "‹", "›", "⸂"...), and the
// look-alikes outside both: primes, modifier letters, ditto marks, ornaments and the
// angle brackets that stand for guillemets.
func QuotationMark(r rune) bool {
	return unicode.In(r, unicode.Quotation_Mark, unicode.Pi, unicode.Pf) || strings.ContainsRune(quoteLookAlikes, r)
}

// quoteLookAlikes are the characters that read as a quotation mark and that neither
// Quotation_Mark nor Pi and Pf list.
const quoteLookAlikes = "`´ʹʺʻʼʽˈˊˋ˝ˮ˵˶״׳′″‴‵‶‷⁗〃〈〉《》❛❜❝❞❟❠❮❯⹂〝〞〟＇｀🙶🙷🙸"
