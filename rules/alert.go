package rules

import (
	"crypto/sha256"
	"encoding/base32"
	"strings"
	"time"
)

// Alert tells a cardholder about one transaction. It is published to
// cardwatch.alerts.<bank> and carries no card token, PAN or phone number.
type Alert struct {
	// ID is derived from the bank and transaction id, so a redelivered transaction gives
	// the same alert.
	ID string `json:"id"`
	// TxnID is the bank's id of the transaction.
	TxnID string `json:"txn_id"`
	// Bank is the bank id of the subject the transaction came on.
	Bank string `json:"bank"`
	// CardholderID is the cardholder alerted.
	CardholderID string `json:"cardholder_id"`
	// CardLast4 is how the cardholder recognises the card; never the token or number.
	CardLast4 string `json:"card_last4"`
	// Amount is what the merchant charged.
	Amount Money `json:"amount"`
	// BillingAmount is the amount in the cardholder's currency, when the bank sent it.
	BillingAmount *Money `json:"billing_amount,omitempty"`
	// Merchant is where the card was used.
	Merchant Merchant `json:"merchant"`
	// Terminal is what read the card.
	Terminal Terminal `json:"terminal"`
	// Status is the transaction's: approved or declined.
	Status string `json:"status"`
	// OccurredAt is when the card was used.
	OccurredAt time.Time `json:"occurred_at"`
	// Reasons are the rules that fired, in rule order, each with a sentence.
	Reasons []Reason `json:"reasons"`
	// ReportURL is the one-tap answer link.
	ReportURL string `json:"report_url"`
	// CreatedAt is when cardwatch raised the alert.
	CreatedAt time.Time `json:"created_at"`
}

var alertIDEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// AlertIDBytes is the length of an alert id's binary form.
const AlertIDBytes = 10

// AlertID derives the alert id of a transaction: 80 bits of SHA-256 over the bank and the
// transaction id, so that two banks' ids never collide and a replay maps to the same alert.
// It is short because it travels inside the report link of a 160-character SMS.
func AlertID(bank, txnID string) string {
	sum := sha256.Sum256([]byte(bank + "\x00" + txnID))
	return FormatAlertID(sum[:AlertIDBytes])
}

// FormatAlertID writes an alert id's binary form as text, "al_" and 16 base32 letters.
func FormatAlertID(b []byte) string {
	return "al_" + strings.ToLower(alertIDEncoding.EncodeToString(b))
}

// ParseAlertID returns the binary form of an alert id, or false if s is not one.
func ParseAlertID(s string) ([]byte, bool) {
	rest, ok := strings.CutPrefix(s, "al_")
	if !ok {
		return nil, false
	}
	if len(rest) != alertIDEncoding.EncodedLen(AlertIDBytes) {
		return nil, false
	}
	b, err := alertIDEncoding.DecodeString(strings.ToUpper(rest))
	if err != nil || len(b) != AlertIDBytes {
		return nil, false
	}
	return b, true
}

// NewAlert builds the alert for a transaction that fired reasons.
func NewAlert(bank string, t *Transaction, reasons []Reason, now time.Time) *Alert {
	status := t.Status
	if status == "" {
		status = StatusApproved
	}
	return &Alert{
		ID:            AlertID(bank, t.ID),
		TxnID:         t.ID,
		Bank:          bank,
		CardholderID:  t.CardholderID,
		CardLast4:     t.Card.Last4,
		Amount:        t.Amount,
		BillingAmount: t.BillingAmount,
		Merchant:      t.Merchant,
		Terminal:      t.Terminal,
		Status:        status,
		OccurredAt:    t.OccurredAt,
		Reasons:       reasons,
		CreatedAt:     now.UTC(),
	}
}

// Charged is the amount the cardholder will see on their statement: the billing amount
// when the bank sent one, else the amount.
func (a *Alert) Charged() Money {
	if a.BillingAmount != nil {
		return *a.BillingAmount
	}
	return a.Amount
}

// CountryOfUse is the country the card was used in; see Transaction.CountryOfUse.
func (a *Alert) CountryOfUse() string { return countryOfUse(a.Terminal, a.Merchant) }

// Place is where the card was used, "Lagos, Nigeria", or "" when the bank did not say.
func (a *Alert) Place() string {
	country := countryOfUse(a.Terminal, a.Merchant)
	var parts []string
	if a.Merchant.City != "" {
		parts = append(parts, a.Merchant.City)
	}
	if country != "" {
		parts = append(parts, CountryName(country))
	}
	return strings.Join(parts, ", ")
}

// Verdicts a cardholder can give.
const (
	VerdictFraud = "fraud"
	VerdictLegit = "legit"
)

// Report is a cardholder's answer to an alert, published to cardwatch.reports.<bank> so
// that the bank can freeze the card.
type Report struct {
	// AlertID is the alert answered.
	AlertID string `json:"alert_id"`
	// TxnID is the transaction the alert was about.
	TxnID string `json:"txn_id"`
	// Bank is the bank to tell.
	Bank string `json:"bank"`
	// CardholderID is who answered.
	CardholderID string `json:"cardholder_id"`
	// CardToken is here, and only here, because the bank needs it to block the card.
	CardToken string `json:"card_token"`
	// Verdict is VerdictFraud or VerdictLegit.
	Verdict string `json:"verdict"`
	// Channel is where the answer came from: sms, slack or web.
	Channel string `json:"channel"`
	// ReportedAt is when the cardholder answered.
	ReportedAt time.Time `json:"reported_at"`
	// Correction is true on a fraud report that follows an "it was me" to the same alert:
	// a cardholder who finds out later must still reach the bank, and the bank must know
	// that this report overrides the legit one it already has.
	Correction bool `json:"correction,omitempty"`
}
