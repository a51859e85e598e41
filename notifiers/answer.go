package notifiers

import (
	"context"
	"errors"
	"time"

	"github.com/cardwatch/cardwatch/rules"
)

// Channels a cardholder answers an alert on, as the report's "channel" says.
const (
	ChannelSMS   = "sms"
	ChannelSlack = "slack"
	ChannelWeb   = "web"
)

// Outcome is what became of a cardholder's answer.
type Outcome struct {
	// Standing is the answer that counts: this one if it was the first or a correction,
	// else the earlier one.
	Standing rules.Report
	// First is true when this answer was the first and was published to the bank.
	First bool
	// Correction is true when this answer was a fraud report after an "it was me", and was
	// published to the bank as a correction.
	Correction bool
}

// Published reports whether this answer reached the bank (a first answer or a correction).
func (o Outcome) Published() bool { return o.First || o.Correction }

// PhoneAlert is one of the alerts sent by SMS to a number, as an SMS reply sees it.
type PhoneAlert struct {
	// Alert is the alert sent.
	Alert *rules.Alert
	// Code is the reply code its SMS carried ("7K"); "" for an alert sent before codes.
	Code string
	// Answer is its standing answer, nil while it is open.
	Answer *rules.Report
	// Closed is true once the alert is past the answer age limit: no answer is taken.
	Closed bool
}

// Answers records cardholders' answers to alerts. The first answer to an alert is
// published once to cardwatch.reports.<bank>; later ones change nothing and are
// acknowledged with the standing answer, except a fraud report after an "it was me",
// which is published too, marked as a correction. An answer given longer than the
// answer age limit after the alert is refused with ErrTooOld. The callback handlers of
// every channel use it.
type Answers interface {
	// Alert returns an alert and its standing answer (nil if none yet).
	Alert(ctx context.Context, alertID string) (*rules.Alert, *rules.Report, error)
	// Answer records verdict (rules.VerdictFraud or rules.VerdictLegit) given on channel.
	Answer(ctx context.Context, alertID, verdict, channel string) (Outcome, error)
	// PhoneAlerts returns the latest alerts sent by SMS to phone (E.164), newest first.
	PhoneAlerts(ctx context.Context, phone string) ([]PhoneAlert, error)
	// FirstMessage records a provider's id of an inbound message (a Twilio MessageSid)
	// and reports whether this is the first time it is seen, by any instance: a repeat,
	// a replayed request or a provider's retry, must change nothing.
	FirstMessage(ctx context.Context, channel, id string) (bool, error)
	// RecordDelivery publishes a provider's delivery receipt as a delivery event.
	RecordDelivery(ctx context.Context, d Delivery) error
}

// ErrUnknownAlert is returned for an alert cardwatch does not hold (never raised, or
// past the retention). Handlers answer it with a page that reveals nothing.
var ErrUnknownAlert = errors.New("unknown alert")

// ErrTooOld is returned by Answer for an alert raised longer ago than the answer age
// limit (CARDWATCH_ANSWER_MAX_AGE): an answer that late is more likely a replay or a
// mistake than news, and the cardholder should call the bank.
var ErrTooOld = errors.New("alert too old to answer")

// TooOldText is what a cardholder who answers too late is told, on every channel.
const TooOldText = "This alert is too old to answer here; please call your bank if something is wrong."

// AnsweredAt formats when an answer was given, in the cardholder's time zone, for
// "Reported as fraud at 18:24".
func AnsweredAt(r rules.Report, loc *time.Location) string {
	if loc == nil {
		loc = time.UTC
	}
	return r.ReportedAt.In(loc).Format("15:04")
}
