package notifiers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// SentLog remembers which alerts went out on which channel, or failed there for good, so
// that an alert handled twice (a redelivery, a restart, a second instance) is sent once.
// The check comes before every send and the mark right after it; the only window left
// is a crash between a provider's acceptance and the mark.
type SentLog interface {
	// Sent returns the receipt of an earlier outcome (a send, or a Failed one), if any.
	Sent(ctx context.Context, alertID, channel string) (Receipt, bool, error)
	// MarkSent records an outcome.
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
	// AlertID, TxnID, Bank and CardholderID say which alert this is about.
	AlertID      string `json:"alert_id"`
	TxnID        string `json:"txn_id"`
	Bank         string `json:"bank"`
	CardholderID string `json:"cardholder_id"`
	// Channel is "sms", "slack" or "console"; empty for a no_channel event.
	Channel string `json:"channel"`
	// Status is one of the Status constants, or a provider's receipt status.
	Status string `json:"status"`
	// ProviderID is the provider's message id (Twilio SID, Slack channel/ts).
	ProviderID string `json:"provider_id,omitempty"`
	// Error says why, for retrying and failed; it never holds a secret or a full number.
	Error string `json:"error,omitempty"`
	// Attempt is the how-manieth delivery of the alert this was.
	Attempt int `json:"attempt"`
	// At is when this happened.
	At time.Time `json:"at"`
	// AlertedAt is when the alert was raised, so At - AlertedAt is how long it took.
	AlertedAt time.Time `json:"alerted_at"`
}

// Dispatcher sends an alert on every channel the cardholder has, once per channel.
type Dispatcher struct {
	// Notifiers are the configured channels.
	Notifiers []Notifier
	// Sent is the sent-log.
	Sent SentLog
	// Record publishes a delivery event; an error makes the dispatch retry. Channels go
	// out at once, so it must be safe for concurrent use, as Notifiers' Send is.
	Record func(ctx context.Context, d Delivery) error
	// Log gets one line per send.
	Log *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// MaxAge is how long after the alert a channel keeps trying; then it gives up.
	// Zero means no limit.
	MaxAge time.Duration
	// GiveUp, when set, is told of an alert that no channel could deliver (the deliverer
	// puts it on the DLQ for operators); an error makes the dispatch retry.
	GiveUp func(ctx context.Context, m Message, reason string) error

	// Limits keep the providers' pauses and rates; nil means in this process's memory,
	// which is right for one process only.
	Limits Limits

	limitsOnce sync.Once
}

// limits returns the Limits in use, made in memory on first use when none was given.
func (d *Dispatcher) limits() Limits {
	d.limitsOnce.Do(func() {
		if d.Limits == nil {
			d.Limits = NewMemLimits()
		}
	})
	return d.Limits
}

// RetryError is returned by Dispatch when at least one channel must be tried again; Wait
// is the longest wait a provider asked for (0: use backoff).
type RetryError struct {
	// Err is every channel's error, joined.
	Err error
	// Wait is the longest wait a provider or our pacing asked for.
	Wait time.Duration
	// Paced is true when only cardwatch's own pacing held the alert back: Wait is then
	// the whole wait, with no backoff on top.
	Paced bool
}

func (e *RetryError) Error() string { return "retry: " + e.Err.Error() }
func (e *RetryError) Unwrap() error { return e.Err }

// Dispatch sends m on every channel that wants its cardholder and has no outcome yet,
// all channels at once, so that a slow provider does not hold back the other one.
// It returns nil when every channel is done (sent, or failed for good), and a
// *RetryError when some channel should be tried again later; channels already done are
// skipped then. attempt is the how-manieth time this alert is dispatched, for the events.
func (d *Dispatcher) Dispatch(ctx context.Context, m Message, attempt int) error {
	a := m.Alert
	base := Delivery{AlertID: a.ID, TxnID: a.TxnID, Bank: a.Bank, CardholderID: a.CardholderID, Attempt: attempt, AlertedAt: a.CreatedAt}
	var wanted []Notifier
	for _, n := range d.Notifiers {
		if n.Wants(m.Cardholder) {
			wanted = append(wanted, n)
		}
	}
	if len(wanted) == 0 {
		ev := base
		ev.Status, ev.At, ev.Error = StatusNoChannel, d.now().UTC(), "the cardholder has no channel cardwatch is configured for"
		if err := d.Record(ctx, ev); err != nil {
			return &RetryError{Err: err}
		}
		return nil
	}
	results := make([]outcome, len(wanted))
	var wg sync.WaitGroup
	for i, n := range wanted {
		wg.Go(func() { results[i] = d.deliver(ctx, n, m, base) })
	}
	wg.Wait()

	var retry *RetryError
	sent, pending := 0, 0
	paced, held := true, false // held: some channel was held back by pacing
	var failures []string
	for _, o := range results {
		if o.retry != nil && !o.paced {
			paced = false
		}
		held = held || o.paced
		switch {
		case o.sent:
			sent++
		case o.failed != "":
			failures = append(failures, o.failed)
		default:
			pending++
		}
		if o.retry != nil {
			retry = joinRetry(retry, o.retry, o.wait)
		}
	}
	if sent == 0 && pending == 0 && d.GiveUp != nil {
		// Every channel the cardholder has failed for good: operators must know.
		if err := d.GiveUp(ctx, m, strings.Join(failures, "; ")); err != nil {
			retry, paced = joinRetry(retry, err, 0), false
		}
	}
	if retry != nil {
		retry.Paced = paced && held
		return retry
	}
	return nil
}

// outcome is what became of one channel in one dispatch.
type outcome struct {
	paced  bool // held back by our own pacing
	sent   bool
	failed string // for good, with the reason
	retry  error  // try the dispatch again (the channel, or only its event)
	wait   time.Duration
}

func (d *Dispatcher) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

// deliver takes the alert through one channel: the sent-log, the provider's pause, the
// send, its classification, the mark and the delivery event.
func (d *Dispatcher) deliver(ctx context.Context, n Notifier, m Message, base Delivery) outcome {
	a, ch := m.Alert, n.Channel()
	ev := base
	ev.Channel = ch
	if r, done, err := d.Sent.Sent(ctx, a.ID, ch); err != nil {
		return outcome{retry: err}
	} else if done && r.Failed != "" {
		return outcome{failed: ch + ": " + r.Failed}
	} else if done {
		// Sent before; its "sent" event may be what failed then. Recording it again
		// is harmless: the event's id makes JetStream keep one.
		ev.At, ev.Status, ev.ProviderID = d.now().UTC(), StatusSent, r.ProviderID
		return outcome{sent: true, retry: d.Record(ctx, ev)}
	}
	if o, held := d.hold(ctx, n, m); held {
		return o
	}
	r, err := n.Send(ctx, m)
	ev.At = d.now().UTC()
	class, wait := Classify(err)
	var th *ThrottledError
	paced := errors.As(err, &th)
	// Our own pacing is no failure of the provider's: it never ages an alert out.
	if (class == Retry || class == RetryLater) && !paced && d.MaxAge > 0 && d.now().Sub(a.CreatedAt) > d.MaxAge {
		err, class = fmt.Errorf("no success within %s: %w", d.MaxAge, err), GiveUp
	}
	var o outcome
	switch class {
	case Done:
		// Mark at once: it narrows the window in which a crash would send twice.
		if err := d.Sent.MarkSent(ctx, a.ID, ch, r); err != nil {
			d.Log.Error("alert sent but not marked; a redelivery may send it again", "alert", a.ID, "channel", ch, "err", err)
		}
		o.sent = true
		ev.Status, ev.ProviderID = StatusSent, r.ProviderID
		d.Log.Info("alert sent", "alert", a.ID, "bank", a.Bank, "channel", ch, "attempt", ev.Attempt)
	case GiveUp:
		o.retry = d.Sent.MarkSent(ctx, a.ID, ch, Receipt{Failed: err.Error()})
		o.failed = ch + ": " + err.Error()
		ev.Status, ev.Error = StatusFailed, err.Error()
		d.Log.Warn("alert cannot go out on this channel", "alert", a.ID, "channel", ch, "err", err)
	default:
		if paced {
			// Held back by our own pacing: no provider was asked, nothing to record.
			return outcome{retry: fmt.Errorf("%s: %w", ch, err), wait: wait, paced: true}
		}
		if class == RetryLater {
			wait = d.pause(ctx, ch, wait)
		}
		o.retry, o.wait = fmt.Errorf("%s: %w", ch, err), wait
		ev.Status, ev.Error = StatusRetrying, err.Error()
		d.Log.Warn("alert send failed, will retry", "alert", a.ID, "channel", ch, "attempt", ev.Attempt, "wait", wait, "err", err)
	}
	if err := d.Record(ctx, ev); err != nil {
		o.retry = errors.Join(o.retry, err)
	}
	return o
}

// hold keeps a send from the provider while it is paused, and until it has a slot of
// each of the channel's rates. The pause is checked again after waiting for the slots,
// since another instance may have been told to pause meanwhile.
func (d *Dispatcher) hold(ctx context.Context, n Notifier, m Message) (outcome, bool) {
	ch, lim := n.Channel(), d.limits()
	if wait := lim.PausedFor(ch, d.now()); wait > 0 {
		// The provider asked for a pause: no call until it is over.
		return outcome{retry: fmt.Errorf("%s: provider paused", ch), wait: wait}, true
	}
	ln, ok := n.(Limited)
	if !ok {
		return outcome{}, false
	}
	for _, r := range ln.Rates(m) {
		if err := Pace(ctx, lim, r, d.now()); err != nil {
			var th *ThrottledError
			if errors.As(err, &th) {
				return outcome{retry: fmt.Errorf("%s: %w", ch, err), wait: th.Wait, paced: true}, true
			}
			// The limits cannot be read: wait rather than risk the provider's limit.
			return outcome{retry: fmt.Errorf("%s: %w", ch, err)}, true
		}
	}
	if wait := lim.PausedFor(ch, d.now()); wait > 0 {
		return outcome{retry: fmt.Errorf("%s: provider paused", ch), wait: wait}, true
	}
	return outcome{}, false
}

// pause holds every send on a channel for wait, capped at MaxPause: a 429 speaks for the
// provider account, not for the one message. It returns the wait in force.
func (d *Dispatcher) pause(ctx context.Context, ch string, wait time.Duration) time.Duration {
	now := d.now()
	until, capped := CapPause(now.Add(wait), now)
	if capped {
		d.Log.Warn("a provider asked for a longer pause than cardwatch keeps; pausing for the most", "channel", ch, "asked", wait, "max", MaxPause)
	}
	if err := d.limits().Pause(ctx, ch, until); err != nil {
		d.Log.Warn("provider pause not shared with the fleet; this instance keeps it", "channel", ch, "err", err)
	}
	return until.Sub(now)
}

func joinRetry(r *RetryError, err error, wait time.Duration) *RetryError {
	if r == nil {
		return &RetryError{Err: err, Wait: wait}
	}
	r.Err = errors.Join(r.Err, err)
	r.Wait = max(r.Wait, wait)
	return r
}
