package subscribers

import (
	"strings"

	"github.com/cardwatch/cardwatch/rules"
)

// Stream names, fixed by the contract.
const (
	StreamTxn        = "CARDWATCH_TXN"
	StreamAlerts     = "CARDWATCH_ALERTS"
	StreamReports    = "CARDWATCH_REPORTS"
	StreamDeliveries = "CARDWATCH_DELIVERIES"
	StreamDLQ        = "CARDWATCH_DLQ"
)

// Key-value buckets cardwatch keeps its state in, so that every instance shares it and it
// survives restarts.
const (
	BucketKnownMerchants = "CARDWATCH_KNOWN_MERCHANTS"
	BucketAlerts         = "CARDWATCH_ALERT_STATE"
	BucketSent           = "CARDWATCH_SENT"
	// BucketLimits holds the providers' pauses and the fleet's send slots (see Limits).
	BucketLimits = "CARDWATCH_LIMITS"
)

// UnroutedBank is the bank token of DLQ entries whose subject named no valid bank. It
// starts with '_' so it reads as cardwatch's own, though it is a valid bank token.
const UnroutedBank = "_unrouted"

// Subjects builds cardwatch's NATS subjects under a prefix ("cardwatch" by default).
type Subjects struct{ Prefix string }

// TxnAll is the filter of every transaction: cardwatch.txn.>.
func (s Subjects) TxnAll() string { return s.Prefix + ".txn.>" }

// Txn is where a bank publishes one card's transactions.
func (s Subjects) Txn(bank, card string) string { return s.Prefix + ".txn." + bank + "." + card }

// Alerts is a bank's alert feed.
func (s Subjects) Alerts(bank string) string { return s.Prefix + ".alerts." + bank }

// Reports is a bank's feed of cardholders' answers.
func (s Subjects) Reports(bank string) string { return s.Prefix + ".reports." + bank }

// Deliveries is a bank's feed of delivery outcomes.
func (s Subjects) Deliveries(bank string) string { return s.Prefix + ".deliveries." + bank }

// DLQ is where a bank's refused events go.
func (s Subjects) DLQ(bank string) string { return s.Prefix + ".dlq." + bank }

// all is the wildcard of one feed, "cardwatch.alerts.>".
func (s Subjects) all(feed string) string { return s.Prefix + "." + feed + ".>" }

// ParseTxn splits a transaction subject, as a bank publishes it
// (<prefix>.txn.<bank>.<card>) or as the stream stores it
// (<prefix>.ptxn.<P>.<p>.<bank>.<card>), into its bank and card tokens; ok is false when
// the subject does not have exactly that shape.
func (s Subjects) ParseTxn(subject string) (bank, card string, ok bool) {
	rest, found := strings.CutPrefix(subject, s.Prefix+".txn.")
	if !found {
		if rest, found = strings.CutPrefix(subject, s.Prefix+".ptxn."); !found {
			return "", "", false
		}
		// P and p, both numbers.
		for range 2 {
			var n string
			n, rest, found = strings.Cut(rest, ".")
			if !found || n == "" || strings.Trim(n, "0123456789") != "" {
				return "", "", false
			}
		}
	}
	bank, card, found = strings.Cut(rest, ".")
	if !found || bank == "" || card == "" || strings.Contains(card, ".") {
		return "", "", false
	}
	return bank, card, true
}

// ParseAlerts returns the bank token of an alert feed's subject; ok is false when the
// subject is not cardwatch.alerts.<bank> with a valid bank id.
func (s Subjects) ParseAlerts(subject string) (bank string, ok bool) {
	bank, found := strings.CutPrefix(subject, s.Prefix+".alerts.")
	if !found || !rules.ValidBankID(bank) {
		return "", false
	}
	return bank, true
}
