package rules

import "fmt"

// amountOver fires when the amount in the cardholder's currency is above a threshold.
type amountOver struct{ limit Money }

var amountOverKind = Kind{
	Name: "amount_over",
	Build: func(v Value, h *Cardholder) (Rule, error) {
		if off, err := v.Off(); off || err != nil {
			return nil, err
		}
		s, err := v.Decimal()
		if err != nil {
			return nil, err
		}
		m, err := ParseMoney(s, h.Currency)
		if err != nil {
			return nil, fmt.Errorf("%s is not an amount in %s: %w", s, h.Currency, err)
		}
		return amountOver{limit: m}, nil
	},
}

func (amountOver) Name() string { return "amount_over" }

// Check compares the billing amount when the bank sent one in the cardholder's currency,
// else the amount when it is in that currency. An amount in another currency with no
// billing amount cannot be compared honestly, so the rule stays silent.
func (r amountOver) Check(t *Transaction, h *Cardholder, _ Facts) (Reason, bool) {
	var amt Money
	switch {
	case t.BillingAmount != nil && t.BillingAmount.Currency == r.limit.Currency:
		amt = *t.BillingAmount
	case t.Amount.Currency == r.limit.Currency:
		amt = t.Amount
	default:
		return Reason{}, false
	}
	if amt.Minor <= r.limit.Minor {
		return Reason{}, false
	}
	return Reason{
		Rule:    "amount_over",
		Detail:  fmt.Sprintf("%s is over your %s limit", amt.Format(), r.limit.Format()),
		Summary: "over limit",
	}, true
}
