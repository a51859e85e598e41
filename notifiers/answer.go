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
	// Standing is the answer that counts: this one if it was the first, else the earlier one.
	Standing rules.Report
	// First is true when this answer was the first and was published to the bank.
	First bool
}

// Answers records cardholders' answers to alerts. The first answer to an alert is
// published once to cardwatch.reports.<bank>; later ones change nothing and are
// acknowledged with the standing answer. The callback handlers of every channel use it.
type Answers interface {
	// Alert returns an alert and its standing answer (nil if none yet).
	Alert(ctx context.Context, alertID string) (*rules.Alert, *rules.Report, error)
	// Answer records verdict (rules.VerdictFraud or rules.VerdictLegit) given on channel.
	Answer(ctx context.Context, alertID, verdict, channel string) (Outcome, error)
	// NewestOpen returns the newest unanswered alert sent by SMS to phone (E.164).
	NewestOpen(ctx context.Context, phone string) (*rules.Alert, error)
	// RecordDelivery publishes a provider's delivery receipt as a delivery event.
	RecordDelivery(ctx context.Context, d Delivery) error
}

// ErrUnknownAlert is returned for an alert cardwatch does not hold (never raised, or
// past the retention). Handlers answer it with a page that reveals nothing.
var ErrUnknownAlert = errors.New("unknown alert")

// ErrNoOpenAlert is returned by NewestOpen when the number has no unanswered alert.
var ErrNoOpenAlert = errors.New("no open alert")

// AnsweredAt formats when an answer was given, in the cardholder's time zone, for
// "Reported as fraud at 18:24".
func AnsweredAt(r rules.Report, loc *time.Location) string {
	if loc == nil {
		loc = time.UTC
	}
	return r.ReportedAt.In(loc).Format("15:04")
}
