package rules

import "slices"

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
		Detail:  "first purchase at " + t.Merchant.Label() + " on this card",
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
