package rules

import (
	"errors"
	"fmt"
	"strings"
)

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
			return nil, v.Errorf("%s", amountProblem(v, s, h, err))
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

// amountProblem says what is wrong with a threshold in words that lead to the fix; for
// a default, it names the cardholder whose currency it failed in.
func amountProblem(v Value, s string, h *Cardholder, err error) string {
	digits, _ := CurrencyDigits(h.Currency)
	example := Money{Minor: 500 * pow10(digits), Currency: h.Currency}.Decimal()
	msg := fmt.Sprintf("%q is not an amount in %s, like %s", s, h.Currency, example)
	switch {
	case errors.Is(err, errTooPrecise) && digits == 0:
		msg = fmt.Sprintf("%q has decimals, but %s amounts have none, like %s", s, h.Currency, example)
	case errors.Is(err, errTooPrecise):
		msg = fmt.Sprintf("%q has more decimals than %s's %d, like %s", s, h.Currency, digits, example)
	}
	if strings.HasPrefix(v.Path(), "defaults.") {
		msg += fmt.Sprintf(" (in the currency of cardholder %s, who does not set amount_over)", h.ID)
	}
	return msg
}

func pow10(n int) int64 {
	p := int64(1)
	for range n {
		p *= 10
	}
	return p
}
