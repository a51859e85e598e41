package rules

// unknownMerchant fires on the first use of the card at a merchant.
type unknownMerchant struct{ known map[string]bool }

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
			r.known = make(map[string]bool, len(ids))
			for _, id := range ids {
				r.known[id] = true
			}
		}
		return r, nil
	},
}

func (unknownMerchant) Name() string { return "unknown_merchant" }

func (r unknownMerchant) Check(t *Transaction, _ *Cardholder, f Facts) (Reason, bool) {
	if f.MerchantKnown || (t.Merchant.ID != "" && r.known[t.Merchant.ID]) {
		return Reason{}, false
	}
	return Reason{
		Rule:    "unknown_merchant",
		Detail:  "first purchase at " + t.Merchant.Label() + " on this card",
		Summary: "new merchant",
	}, true
}

// lists reports whether the cardholder put the merchant on their known list.
func (r unknownMerchant) lists(id string) bool { return id != "" && r.known[id] }
