package rules

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Transaction is one card transaction as a bank publishes it on cardwatch.txn.<bank>.<card>.
type Transaction struct {
	// ID is the bank's event id; alerts and idempotency hang on it.
	ID string `json:"id"`
	// Bank is optional in the event; when present it must match the subject's bank.
	Bank string `json:"bank,omitempty"`
	// CardholderID names the cardholder in the rules file.
	CardholderID string `json:"cardholder_id"`
	// Card is the card token and last four digits, never the card number.
	Card Card `json:"card"`
	// Amount is what the merchant charged, in the merchant's currency.
	Amount Money `json:"amount"`
	// BillingAmount is the amount in the cardholder's currency (ISO 8583 field 6), if known.
	BillingAmount *Money `json:"billing_amount,omitempty"`
	// Merchant is where the card was used.
	Merchant Merchant `json:"merchant"`
	// Terminal is the device that read the card; empty for some card-not-present cases.
	Terminal Terminal `json:"terminal"`
	// Status is "approved" or "declined"; a missing status means approved.
	Status string `json:"status,omitempty"`
	// OccurredAt is when the card was used.
	OccurredAt time.Time `json:"occurred_at"`
}

// Card identifies a card without its number.
type Card struct {
	// Token is the bank's token for the card, 1–64 letters, digits, '_' or '-'.
	Token string `json:"token"`
	// Last4 is the last four digits, what a cardholder recognises their card by.
	Last4 string `json:"last4,omitempty"`
}

// Merchant is the business the card was used at.
type Merchant struct {
	// ID is the acquirer's merchant id; it identifies the merchant for unknown_merchant.
	ID string `json:"id,omitempty"`
	// Name is what the cardholder sees on the statement.
	Name string `json:"name,omitempty"`
	// MCC is the four-digit merchant category code.
	MCC string `json:"mcc,omitempty"`
	// City is where the merchant is.
	City string `json:"city,omitempty"`
	// Country is the merchant's ISO 3166-1 alpha-2 country.
	Country string `json:"country,omitempty"`
}

// Key identifies the merchant for the unknown_merchant rule: its id, or its name when the
// bank sends no id.
func (m Merchant) Key() string {
	if m.ID != "" {
		return m.ID
	}
	return "name:" + strings.ToUpper(m.Name)
}

// Label is how a cardholder recognises the merchant: its name, else its id.
func (m Merchant) Label() string {
	if m.Name != "" {
		return m.Name
	}
	return "merchant " + m.ID
}

// Terminal is the device that read the card.
type Terminal struct {
	// ID is the terminal's id at the acquirer.
	ID string `json:"id,omitempty"`
	// Country is where the terminal is (ISO 3166-1 alpha-2), for foreign_terminal.
	Country string `json:"country,omitempty"`
	// EntryMode is how the card was read: one of the Entry constants.
	EntryMode string `json:"entry_mode,omitempty"`
}

// Entry modes a bank may send in terminal.entry_mode.
const (
	EntryChip        = "chip"
	EntryContactless = "contactless"
	EntryMagstripe   = "magstripe"
	EntryManual      = "manual"
	EntryEcommerce   = "ecommerce"
	EntryATM         = "atm"
)

// Transaction statuses.
const (
	StatusApproved = "approved"
	StatusDeclined = "declined"
)

// Approved reports whether the transaction went through (a missing status counts as approved).
func (t *Transaction) Approved() bool { return t.Status != StatusDeclined }

// CountryOfUse is the country the card was used in: the terminal's, or for an online
// purchase the merchant's, since an e-commerce "terminal" is the merchant's server.
func (t *Transaction) CountryOfUse() string { return countryOfUse(t.Terminal, t.Merchant) }

func countryOfUse(term Terminal, m Merchant) string {
	if term.EntryMode == EntryEcommerce && m.Country != "" {
		return m.Country
	}
	if term.Country != "" {
		return term.Country
	}
	return m.Country
}

// MaxEventSize is the largest event cardwatch reads; a bigger one goes to the DLQ.
const MaxEventSize = 64 << 10

// ErrInvalidEvent is wrapped by every reason an event is refused.
var ErrInvalidEvent = errors.New("invalid event")

// ErrPAN is wrapped when an event carries a card number; the error text holds only the
// masked number.
var ErrPAN = errors.New("event carries a card number")

// Validate checks t against the contract and against the subject it came on. It reports
// every problem at once.
func (t *Transaction) Validate(bank, card string) error {
	var p []string
	bad := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	if t.ID == "" {
		bad("id is missing")
	} else if len(t.ID) > 128 {
		bad("id is longer than 128 characters")
	}
	if t.CardholderID == "" {
		bad("cardholder_id is missing")
	}
	if t.Bank != "" && t.Bank != bank {
		bad("bank %q does not match the subject's bank %q", t.Bank, bank)
	}
	switch {
	case t.Card.Token == "":
		bad("card.token is missing")
	case !ValidCardToken(t.Card.Token):
		bad("card.token must be 1-64 letters, digits, '_' or '-'")
	case t.Card.Token != card:
		bad("card.token does not match the subject's card token")
	}
	if t.Card.Last4 != "" && !isDigits(t.Card.Last4, 4) {
		bad("card.last4 must be four digits")
	}
	if t.Amount.Currency == "" {
		bad("amount is missing")
	}
	if t.Merchant.ID == "" && t.Merchant.Name == "" {
		bad("merchant.id or merchant.name is required")
	}
	// Bounds keep every key and message built from these fields small: NATS refuses a
	// subject or key past a few kilobytes, and closes the connection that sent it.
	for _, f := range []struct {
		name, value string
		max         int
	}{
		{"cardholder_id", t.CardholderID, 128}, {"bank", t.Bank, 64},
		{"merchant.id", t.Merchant.ID, 128}, {"merchant.name", t.Merchant.Name, 200},
		{"merchant.city", t.Merchant.City, 100}, {"terminal.id", t.Terminal.ID, 128},
	} {
		if len(f.value) > f.max {
			bad("%s is longer than %d bytes", f.name, f.max)
		}
	}
	if t.Merchant.MCC != "" && !isDigits(t.Merchant.MCC, 4) {
		bad("merchant.mcc must be four digits")
	}
	if t.Merchant.Country != "" && !ValidCountry(t.Merchant.Country) {
		bad("merchant.country %q is not an ISO 3166-1 alpha-2 code", t.Merchant.Country)
	}
	if t.Terminal.Country != "" && !ValidCountry(t.Terminal.Country) {
		bad("terminal.country %q is not an ISO 3166-1 alpha-2 code", t.Terminal.Country)
	}
	switch t.Terminal.EntryMode {
	case "", EntryChip, EntryContactless, EntryMagstripe, EntryManual, EntryEcommerce, EntryATM:
	default:
		bad("terminal.entry_mode %q is not one of chip, contactless, magstripe, manual, ecommerce, atm", t.Terminal.EntryMode)
	}
	switch t.Status {
	case "", StatusApproved, StatusDeclined:
	default:
		bad("status %q is not approved or declined", t.Status)
	}
	if t.OccurredAt.IsZero() {
		bad("occurred_at is missing")
	}
	if len(p) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrInvalidEvent, strings.Join(p, "; "))
}

// ValidCardToken reports whether s is a card token the contract allows in a subject.
func ValidCardToken(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// ValidBankID reports whether s is a bank id: lowercase letters, digits, '-' and '_'.
func ValidBankID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// ValidCountry reports whether s is an assigned ISO 3166-1 alpha-2 country code (or XK,
// Kosovo's user-assigned code, which card networks use).
func ValidCountry(s string) bool {
	_, ok := countryCodes[s]
	return ok
}

func isDigits(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}
