package notifiers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// SentLog remembers which alerts went out on which channel, so that an alert handled
// twice (a redelivery, a restart, a second instance) is sent once. The check comes before
// every send and the mark right after it; the only window left is a crash between a
// provider's acceptance and the mark.
type SentLog interface {
	// Sent returns the receipt of an earlier send, if there was one.
	Sent(ctx context.Context, alertID, channel string) (Receipt, bool, error)
	// MarkSent records a send.
	MarkSent(ctx context.Context, alertID, channel string, r Receipt) error
}

// Delivery statuses.
const (
	// StatusSent: the provider accepted the message.
	StatusSent = "sent"
	// StatusRetrying: the send failed and will be tried again.
	StatusRetrying = "retrying"
	// StatusFailed: the message can never go out on this channel.
	StatusFailed = "failed"
	// StatusNoChannel: the cardholder has no channel cardwatch can reach.
	StatusNoChannel = "no_channel"
)

// Delivery is one outcome of sending an alert on a channel, published to
// cardwatch.deliveries.<bank>. Like the alert, it carries no phone number or card token.
type Delivery struct {
	AlertID      string    `json:"alert_id"`
	TxnID        string    `json:"txn_id"`
	Bank         string    `json:"bank"`
	CardholderID string    `json:"cardholder_id"`
	Channel      string    `json:"channel"`
	Status       string    `json:"status"`
	ProviderID   string    `json:"provider_id,omitempty"`
	Error        string    `json:"error,omitempty"`
	Attempt      int       `json:"attempt"`
	At           time.Time `json:"at"`
}

// Dispatcher sends an alert on every channel the cardholder has, once per channel.
type Dispatcher struct {
	// Notifiers are the configured channels.
	Notifiers []Notifier
	// Sent is the sent-log.
	Sent SentLog
	// Record publishes a delivery event; an error makes the dispatch retry.
	Record func(ctx context.Context, d Delivery) error
	// Log gets one line per send.
	Log *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// RetryError is returned by Dispatch when at least one channel must be tried again; Wait
// is the longest wait a provider asked for (0: use backoff).
type RetryError struct {
	Err  error
	Wait time.Duration
}

func (e *RetryError) Error() string { return "retry: " + e.Err.Error() }
func (e *RetryError) Unwrap() error { return e.Err }

// Dispatch sends m on every channel that wants its cardholder and has not sent it yet.
// It returns nil when every channel is done (sent, or failed for good), and a *RetryError
// when some channel should be tried again later; channels already sent are skipped then.
// attempt is the how-manieth time this alert is dispatched, for the delivery events.
func (d *Dispatcher) Dispatch(ctx context.Context, m Message, attempt int) error {
	now := time.Now
	if d.Now != nil {
		now = d.Now
	}
	a := m.Alert
	base := Delivery{AlertID: a.ID, TxnID: a.TxnID, Bank: a.Bank, CardholderID: a.CardholderID, Attempt: attempt}
	var retry *RetryError
	reached := 0
	for _, n := range d.Notifiers {
		if !n.Wants(m.Cardholder) {
			continue
		}
		reached++
		ch := n.Channel()
		if r, done, err := d.Sent.Sent(ctx, a.ID, ch); err != nil {
			retry = joinRetry(retry, err, 0)
			continue
		} else if done {
			// Sent before; its "sent" event may be what failed then. Recording it again
			// is harmless: the event's id makes JetStream keep one.
			ev := base
			ev.Channel, ev.At, ev.Status, ev.ProviderID = ch, now().UTC(), StatusSent, r.ProviderID
			if err := d.Record(ctx, ev); err != nil {
				retry = joinRetry(retry, err, 0)
			}
			continue
		}
		r, err := n.Send(ctx, m)
		ev := base
		ev.Channel, ev.At = ch, now().UTC()
		class, wait := Classify(err)
		switch class {
		case Done:
			// Mark at once: it narrows the window in which a crash would send twice.
			if err := d.Sent.MarkSent(ctx, a.ID, ch, r); err != nil {
				d.Log.Error("alert sent but not marked; a redelivery may send it again", "alert", a.ID, "channel", ch, "err", err)
			}
			ev.Status, ev.ProviderID = StatusSent, r.ProviderID
			d.Log.Info("alert sent", "alert", a.ID, "bank", a.Bank, "channel", ch, "attempt", attempt)
		case GiveUp:
			ev.Status, ev.Error = StatusFailed, err.Error()
			d.Log.Warn("alert cannot go out on this channel", "alert", a.ID, "channel", ch, "err", err)
		default:
			ev.Status, ev.Error = StatusRetrying, err.Error()
			retry = joinRetry(retry, fmt.Errorf("%s: %w", ch, err), wait)
			d.Log.Warn("alert send failed, will retry", "alert", a.ID, "channel", ch, "attempt", attempt, "wait", wait, "err", err)
		}
		if err := d.Record(ctx, ev); err != nil {
			retry = joinRetry(retry, err, 0)
		}
	}
	if reached == 0 {
		ev := base
		ev.Status, ev.At, ev.Error = StatusNoChannel, now().UTC(), "the cardholder has no channel cardwatch is configured for"
		if err := d.Record(ctx, ev); err != nil {
			return &RetryError{Err: err}
		}
	}
	if retry != nil {
		return retry
	}
	return nil
}

func joinRetry(r *RetryError, err error, wait time.Duration) *RetryError {
	if r == nil {
		return &RetryError{Err: err, Wait: wait}
	}
	r.Err = errors.Join(r.Err, err)
	r.Wait = max(r.Wait, wait)
	return r
}
