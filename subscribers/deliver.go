package subscribers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cardwatch/cardwatch/notifiers"
	"github.com/cardwatch/cardwatch/rules"
)

// Deliverer reads the alert feed with its own durable consumer and hands each alert to
// the notifiers. The alert stream is the delivery queue: an alert not yet acknowledged
// is delivered again after a crash, and the sent-log keeps each channel to one message.
type Deliverer struct {
	// JS is the JetStream context of the alert consumer.
	JS jetstream.JetStream
	// Subjects builds the subjects under the configured prefix.
	Subjects Subjects
	// Rules is the rules book in force, for the cardholders' contacts.
	Rules *atomic.Pointer[rules.Book]
	// Dispatcher sends on the channels.
	Dispatcher *notifiers.Dispatcher
	// Alerts holds the sealed record of every alert cardwatch raised (stored before the
	// alert is published): what is delivered is the record, the message on the feed only
	// names it. It also indexes the phone number an alert goes to, before it goes, so
	// that an SMS reply finds its alert.
	Alerts *AlertStore
	// Metrics counts what the feed held that cardwatch did not raise.
	Metrics *Metrics
	// Log gets one line per event that matters.
	Log *slog.Logger
	// Durable is the consumer's name, shared by every instance.
	Durable string
	// Concurrency is how many alerts are sent at once, so a slow provider answer holds
	// up one slot, not the feed.
	Concurrency int
	// MaxAckPending bounds the alerts handed out and not yet acknowledged, those
	// waiting to retry included; at least four times Concurrency.
	MaxAckPending int
	// AckWait is how long an alert may be in hand before the server gives it to
	// another instance; after a crash, that is how long its alerts wait.
	AckWait time.Duration

	inHand sync.Map // alert id → true, while being delivered
}

// Run delivers alerts until ctx ends, then lets the sends in hand finish.
func (d *Deliverer) Run(ctx context.Context) error {
	n := max(d.Concurrency, 1)
	cfg := jetstream.ConsumerConfig{
		Durable:       d.Durable,
		Description:   "cardwatch: alerts to cardholders",
		FilterSubject: d.Subjects.all("alerts"),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait(d.AckWait),
		// Alerts waiting out a retry's backoff count as pending: with room for only
		// what is being worked on, a provider outage would fill it with alerts for that
		// provider, and the other channel's messages behind them would wait too. What
		// this process holds is bounded by the pull below instead.
		MaxAckPending: max(d.MaxAckPending, 4*n),
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
	create := func(ctx context.Context) (jetstream.Consumer, error) {
		cons, err := d.JS.CreateOrUpdateConsumer(ctx, StreamAlerts, cfg)
		if err != nil {
			return nil, fmt.Errorf("delivery consumer: %w", err)
		}
		return cons, nil
	}
	slots := make(chan struct{}, n)
	var wg sync.WaitGroup
	// The client asks for no more than it has workers, so a message does not wait
	// here long enough to run out its AckWait (and Handle restarts that when it might).
	stop, err := consume(ctx, d.Log, "delivery consumer", create, func(msg jetstream.Msg) {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			d.Handle(context.WithoutCancel(ctx), msg)
		})
	}, jetstream.PullMaxMessages(n))
	if err != nil {
		return fmt.Errorf("consume alerts: %w", err)
	}
	<-ctx.Done()
	stop()
	wg.Wait()
	return nil
}

// Handle delivers one alert and acknowledges it, or asks for it again after a backoff
// (or the wait a provider asked for) when a channel should be retried.
func (d *Deliverer) Handle(ctx context.Context, msg jetstream.Msg) {
	attempt := 1
	if meta, err := msg.Metadata(); err == nil {
		attempt = int(meta.NumDelivered)
		// It may have waited for a slot: restart its AckWait. It cannot have been in
		// hand longer than it has been stored, so a fresh alert (the usual case) needs
		// no word to the server.
		if time.Since(meta.Timestamp) > ackWait(d.AckWait)/4 {
			_ = msg.InProgress()
		}
	} else {
		_ = msg.InProgress()
	}
	a, err := d.raised(ctx, msg)
	if err != nil {
		var ref *refusal
		if errors.As(err, &ref) {
			d.refuse(ctx, msg, ref, attempt)
			return
		}
		d.Log.Warn("alert not sent yet: its record could not be read", "err", err)
		ackOrRetry(msg, err, attempt)
		return
	}
	// One copy of an alert at a time in this process: a redelivery that overtakes a slow
	// first copy would pass the sent-log check before the first marks it.
	if _, busy := d.inHand.LoadOrStore(a.ID, true); busy {
		_ = msg.NakWithDelay(ackWait(d.AckWait))
		return
	}
	defer d.inHand.Delete(a.ID)
	// Keep the server from giving it to another instance while it is in hand.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		t := time.NewTicker(ackWait(d.AckWait) / 3)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				_ = msg.InProgress()
			}
		}
	}()
	h := d.Rules.Load().Lookup(a.Bank, a.CardholderID)
	if h == nil {
		// The cardholder left the rules file between the alert and its delivery.
		err := d.Dispatcher.Record(ctx, notifiers.Delivery{AlertID: a.ID, TxnID: a.TxnID, Bank: a.Bank,
			CardholderID: a.CardholderID, Status: notifiers.StatusNoChannel, Attempt: attempt,
			Error: "the cardholder is no longer in the rules file", At: time.Now().UTC()})
		ackOrRetry(msg, err, attempt)
		return
	}
	code := ""
	if h.Notify.SMS != "" {
		// Before the SMS goes: the cardholder may reply at once, and the reply must find
		// this alert, by the reply code the SMS carries.
		c, err := d.Alerts.IndexPhone(ctx, h.Notify.SMS, a.ID)
		if err != nil {
			d.Log.Warn("alert not sent yet: phone index not written", "alert", a.ID, "err", err)
			ackOrRetry(msg, err, attempt)
			return
		}
		code = c
	}
	err = d.Dispatcher.Dispatch(ctx, notifiers.Message{Alert: a, Cardholder: h, ReplyCode: code}, attempt)
	ackOrRetry(msg, err, attempt)
}

// refusal is why a message on the alert feed is not an alert cardwatch raised.
type refusal struct {
	why    string // a RefusedAlerts label
	reason string // for the DLQ entry, in an operator's words
}

func (r *refusal) Error() string { return r.reason }

// raised returns the alert a message on the feed stands for, as cardwatch raised it. A
// message cardwatch published carries its seal (SealHeader, over subject and body): it
// is the alert. One without (an older cardwatch's) only names the alert: the alert is
// then the sealed record of the alert store, for the bank of the subject, with the same
// contents as the message. Either way its report link is the one cardwatch built from
// the id and the signing key when it raised the alert. Anything else on the feed is a
// *refusal.
func (d *Deliverer) raised(ctx context.Context, msg jetstream.Msg) (*rules.Alert, error) {
	var claimed rules.Alert
	if err := json.Unmarshal(msg.Data(), &claimed); err != nil || claimed.ID == "" {
		return nil, &refusal{RefusedUnreadable, "not an alert: the message has no alert id or is not an alert's JSON"}
	}
	if seal := msg.Headers().Get(SealHeader); seal != "" && d.Alerts.seal.sealedMessage(msg.Subject(), msg.Data(), seal) {
		// Exactly what cardwatch published, on that subject: delivered even when its
		// record has been deleted from the bucket since (by someone else: cardwatch
		// keeps records for the retention), since a genuine alert is never dropped.
		return &claimed, nil
	}
	rec, _, err := d.Alerts.Get(ctx, claimed.ID)
	switch {
	case errors.Is(err, ErrNoAlert):
		return nil, &refusal{RefusedUnknown, "cardwatch raised no alert " + quoteID(claimed.ID) + " (or it is past the retention): not delivered"}
	case errors.Is(err, ErrUnsealed):
		return nil, &refusal{RefusedUnsealed, "the record of alert " + quoteID(claimed.ID) +
			" is not sealed with this signing key (forged in the bucket, or raised under another CARDWATCH_SIGNING_KEY): not delivered"}
	case err != nil:
		return nil, err
	}
	a := rec.Alert
	if bank, _ := d.Subjects.ParseAlerts(msg.Subject()); bank != a.Bank || claimed.Bank != a.Bank {
		return nil, &refusal{RefusedBank, "alert " + a.ID + " is not this bank's, or the message names another bank: not delivered"}
	}
	if !sameAlert(&claimed, &a) {
		return nil, &refusal{RefusedAltered, "the message names alert " + a.ID + " but its contents are not the alert cardwatch raised: not delivered"}
	}
	return &a, nil
}

// sameAlert reports whether two alerts have the same contents, as cardwatch encodes them.
func sameAlert(x, y *rules.Alert) bool {
	bx, err1 := json.Marshal(x)
	by, err2 := json.Marshal(y)
	return err1 == nil && err2 == nil && bytes.Equal(bx, by)
}

// quoteID shows an id from a message in a DLQ reason: quoted, and cut when it is long,
// since anyone may have written it.
func quoteID(id string) string {
	if len(id) > 40 {
		id = id[:40] + "..."
	}
	return strconv.Quote(id)
}

// refuse keeps a message that is not one of cardwatch's alerts from any cardholder: it
// is counted, put on the DLQ of the subject's bank with why, and terminated.
func (d *Deliverer) refuse(ctx context.Context, msg jetstream.Msg, ref *refusal, attempt int) {
	bank, ok := d.Subjects.ParseAlerts(msg.Subject())
	if !ok {
		bank = UnroutedBank
	}
	seq := uint64(0)
	received := time.Time{}
	if meta, err := msg.Metadata(); err == nil {
		seq, received = meta.Sequence.Stream, meta.Timestamp
	}
	maskedSubj, _ := rules.MaskPANs([]byte(msg.Subject()))
	masked, _ := rules.MaskPANs(msg.Data())
	dl := &DeadLetter{Bank: bank, Subject: string(maskedSubj), Kind: KindForgedAlert, Reason: ref.reason,
		StreamSeq: seq, ReceivedAt: received, RefusedAt: time.Now().UTC()}
	dl.setPayload(masked)
	if err := publishJSON(ctx, d.JS, d.Subjects.DLQ(bank), fmt.Sprintf("dlq.%s.%d", StreamAlerts, seq), dl); err != nil {
		d.Log.Warn("refused alert not yet on the DLQ, will retry", "err", err)
		ackOrRetry(msg, err, attempt)
		return
	}
	d.Metrics.RefusedAlerts.WithLabelValues(ref.why).Inc()
	d.Metrics.DLQ.WithLabelValues(dl.Kind).Inc()
	d.Log.Warn("message on the alert feed refused: cardwatch did not raise it", "bank", bank, "why", ref.why, "stream_seq", seq)
	_ = msg.Term()
}

func ackOrRetry(msg jetstream.Msg, err error, attempt int) {
	if err == nil {
		_ = msg.Ack()
		return
	}
	var re *notifiers.RetryError
	wait := time.Duration(0)
	if errors.As(err, &re) {
		if re.Paced {
			_ = msg.NakWithDelay(re.Wait) // its turn, not a failure: no backoff
			return
		}
		wait = re.Wait
	}
	_ = msg.NakWithDelay(max(wait, Backoff(attempt)))
}

// maxBackoff caps the wait between retries. A fraud alert is worth little late: after a
// long provider outage, the backlog goes out at most this long after it recovers.
const maxBackoff = 30 * time.Second

// Backoff is the wait before the attempt-th retry: exponential from one second, capped at
// maxBackoff, with jitter (half to all of it) so that a provider coming back is not hit
// by every waiting message at once.
func Backoff(attempt int) time.Duration {
	ceil := time.Second << min(max(attempt-1, 0), 9)
	ceil = min(ceil, maxBackoff)
	return ceil/2 + rand.N(ceil/2+1)
}

// DeliveryRecorder returns the Dispatcher.Record function that publishes delivery events
// on the bank's feed and counts them.
func DeliveryRecorder(js jetstream.JetStream, subj Subjects, m *Metrics) func(context.Context, notifiers.Delivery) error {
	return func(ctx context.Context, ev notifiers.Delivery) error {
		m.Deliveries.WithLabelValues(ev.Channel, ev.Status).Inc()
		if ev.Status == notifiers.StatusSent && !ev.AlertedAt.IsZero() && ev.Attempt > 0 {
			m.AlertToSent.WithLabelValues(ev.Channel).Observe(ev.At.Sub(ev.AlertedAt).Seconds())
		}
		// A channel is sent once, so its "sent" event has one id whatever the attempt:
		// the dispatcher records it again when an earlier record was lost.
		id := fmt.Sprintf("%s.%s.%s.%d", ev.AlertID, ev.Channel, ev.Status, ev.Attempt)
		if ev.Status == notifiers.StatusSent {
			id = fmt.Sprintf("%s.%s.%s", ev.AlertID, ev.Channel, ev.Status)
		}
		return publishJSON(ctx, js, subj.Deliveries(ev.Bank), id, ev)
	}
}

// UndeliveredToDLQ returns the Dispatcher.GiveUp function: an alert no channel could
// deliver goes to its bank's DLQ with every channel's reason, for operators to act on.
func UndeliveredToDLQ(js jetstream.JetStream, subj Subjects, m *Metrics) func(context.Context, notifiers.Message, string) error {
	return func(ctx context.Context, msg notifiers.Message, reason string) error {
		a := msg.Alert
		b, err := json.Marshal(a)
		if err != nil {
			return err
		}
		dl := &DeadLetter{Bank: a.Bank, Subject: subj.Alerts(a.Bank), Kind: "undelivered",
			Reason: "alert " + a.ID + " reached the cardholder on no channel: " + reason, RefusedAt: time.Now().UTC()}
		dl.setPayload(b)
		m.DLQ.WithLabelValues(dl.Kind).Inc()
		return publishJSON(ctx, js, subj.DLQ(a.Bank), "dlq.undelivered."+a.ID, dl)
	}
}

// ackWait is the consumers' AckWait: 30 s unless set.
func ackWait(d time.Duration) time.Duration {
	if d <= 0 {
		return 30 * time.Second
	}
	return d
}

// WatchLag keeps the consumer lag gauge up to date for consumers of a stream until ctx
// ends; nil consumers means all of cardwatch's on the stream, as they are each time.
// Every instance reports every consumer: the lag of a partition is the fleet's, whoever
// owns it.
func WatchLag(ctx context.Context, js jetstream.JetStream, stream string, consumers []string, m *Metrics, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	shown := map[string]bool{}
	for {
		if consumers == nil {
			lagOfAll(ctx, js, stream, m, shown)
		}
		for _, consumer := range consumers {
			if c, err := js.Consumer(ctx, stream, consumer); err == nil {
				if info, err := c.Info(ctx); err == nil {
					m.Pending.WithLabelValues(consumer).Set(float64(info.NumPending))
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// lagOfAll sets the lag of every cardwatch consumer of stream: the partitions' come and
// go with the partition count. shown are those it set last time; the gone ones lose
// their series.
func lagOfAll(ctx context.Context, js jetstream.JetStream, stream string, m *Metrics, shown map[string]bool) {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return
	}
	list := s.ListConsumers(ctx)
	now := map[string]bool{}
	for info := range list.Info() {
		if info.Name == legacyConsumer || strings.HasPrefix(info.Name, "cardwatch_") {
			m.Pending.WithLabelValues(info.Name).Set(float64(info.NumPending))
			now[info.Name] = true
		}
	}
	if list.Err() != nil {
		return
	}
	for name := range shown {
		if !now[name] {
			m.Pending.DeleteLabelValues(name)
			delete(shown, name)
		}
	}
	maps.Copy(shown, now)
}
