package subscribers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cardwatch/cardwatch/notifiers"
	"github.com/cardwatch/cardwatch/rules"
)

// Reports takes cardholders' answers to alerts to the bank: the first answer to an
// alert is published once to cardwatch.reports.<bank> with the card token, and recorded
// with the alert; "it was me" makes the merchant known for the card, and a fraud report
// on the transaction that made a merchant known makes it unknown again. A fraud report
// after an "it was me" is published too, once, marked as a correction; any other later
// answer changes nothing. Answers come at most MaxAge after the alert.
type Reports struct {
	// JS publishes the reports.
	JS jetstream.JetStream
	// Subjects builds the subjects under the configured prefix.
	Subjects Subjects
	// Alerts holds the alerts and their answers.
	Alerts *AlertStore
	// Known is updated by answers.
	Known *KnownMerchants
	// Record publishes delivery events (receipts from providers).
	Record func(context.Context, notifiers.Delivery) error
	// Metrics counts reports; Log gets one line per answer.
	Metrics *Metrics
	Log     *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// MaxAge is how long after an alert an answer is taken (CARDWATCH_ANSWER_MAX_AGE);
	// zero means no limit.
	MaxAge time.Duration
}

var _ notifiers.Answers = (*Reports)(nil)

func (r *Reports) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// closed reports whether an alert is past the answer age limit.
func (r *Reports) closed(a *rules.Alert) bool {
	return r.MaxAge > 0 && r.now().Sub(a.CreatedAt) > r.MaxAge
}

// Alert returns an alert and its standing answer.
func (r *Reports) Alert(ctx context.Context, alertID string) (*rules.Alert, *rules.Report, error) {
	rec, _, err := r.Alerts.Get(ctx, alertID)
	if errors.Is(err, ErrNoAlert) {
		return nil, nil, notifiers.ErrUnknownAlert
	}
	if err != nil {
		return nil, nil, err
	}
	return &rec.Alert, rec.Standing(), nil
}

// Answer records a verdict. The record decides which answer is first, or the one
// correction (a revision check, so two instances answering at once cannot both win);
// only then is it published, with an id of its own as Nats-Msg-Id. An answer recorded but
// not yet on the feed (the publish failed, or the process died) is published again by the
// next answer to that alert. An alert past MaxAge takes no answer: ErrTooOld.
func (r *Reports) Answer(ctx context.Context, alertID, verdict, channel string) (notifiers.Outcome, error) {
	if verdict != rules.VerdictFraud && verdict != rules.VerdictLegit {
		return notifiers.Outcome{}, fmt.Errorf("answer: verdict %q is not fraud or legit", verdict)
	}
	// A cardholder who closes the page must not leave an answer half done.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	for range 20 {
		rec, rev, err := r.Alerts.Get(ctx, alertID)
		if errors.Is(err, ErrNoAlert) {
			return notifiers.Outcome{}, notifiers.ErrUnknownAlert
		}
		if err != nil {
			return notifiers.Outcome{}, err
		}
		if unreported(rec) {
			// An earlier answer is owed to the bank, however late this one is.
			if rev, err = r.report(ctx, rec, rev); err != nil {
				return notifiers.Outcome{}, err
			}
		}
		if r.closed(&rec.Alert) {
			return notifiers.Outcome{}, notifiers.ErrTooOld
		}
		a := rec.Alert
		rep := rules.Report{AlertID: a.ID, TxnID: a.TxnID, Bank: a.Bank, CardholderID: a.CardholderID,
			CardToken: rec.CardToken, Verdict: verdict, Channel: channel, ReportedAt: r.now().UTC()}
		var out notifiers.Outcome
		switch {
		case rec.Answer == nil:
			rec.Answer = &rep
			out = notifiers.Outcome{Standing: rep, First: true}
		case rec.Correction == nil && rec.Answer.Verdict == rules.VerdictLegit && verdict == rules.VerdictFraud:
			// The cardholder found out later: the bank must hear it.
			rep.Correction = true
			rec.Correction = &rep
			out = notifiers.Outcome{Standing: rep, Correction: true}
		default:
			return notifiers.Outcome{Standing: *rec.Standing()}, nil
		}
		rev, err = r.Alerts.Update(ctx, rec, rev)
		if isRevisionConflict(err) {
			continue // another answer won; read it
		}
		if err != nil {
			return notifiers.Outcome{}, err
		}
		r.Metrics.Reports.WithLabelValues(verdict, channel).Inc()
		r.Log.Info("cardholder answered", "alert", a.ID, "bank", a.Bank, "verdict", verdict, "channel", channel,
			"correction", out.Correction)
		r.learn(ctx, rec, &rep)
		if _, err := r.report(ctx, rec, rev); err != nil {
			return notifiers.Outcome{}, err
		}
		return out, nil
	}
	return notifiers.Outcome{}, errors.New("answer: too much contention on the alert")
}

// unreported reports whether the record holds an answer not yet on the bank's feed.
func unreported(rec *AlertRecord) bool {
	return (rec.Answer != nil && !rec.Reported) || (rec.Correction != nil && !rec.CorrectionReported)
}

// report publishes the record's answers not yet on the bank's feed, the first answer
// before its correction, marks them reported, and returns the record's revision. A failed
// mark is harmless: the report would be published again with the same id, which the
// stream's duplicate window drops, and the stale revision makes the caller read again.
func (r *Reports) report(ctx context.Context, rec *AlertRecord, rev uint64) (uint64, error) {
	subject := r.Subjects.Reports(rec.Alert.Bank)
	if rec.Answer != nil && !rec.Reported {
		if err := publishJSON(ctx, r.JS, subject, "report."+rec.Alert.ID, rec.Answer); err != nil {
			return rev, fmt.Errorf("answer recorded, report not yet published: %w", err)
		}
		rec.Reported = true
	}
	if rec.Correction != nil && !rec.CorrectionReported {
		if err := publishJSON(ctx, r.JS, subject, "report."+rec.Alert.ID+".correction", rec.Correction); err != nil {
			return rev, fmt.Errorf("correction recorded, report not yet published: %w", err)
		}
		rec.CorrectionReported = true
	}
	next, err := r.Alerts.Update(ctx, rec, rev)
	if err != nil {
		if !isRevisionConflict(err) {
			r.Log.Warn("report published but not marked", "alert", rec.Alert.ID, "err", err)
		}
		return rev, nil
	}
	return next, nil
}

// learn applies an answer to the card's known merchants. A failure is logged, not
// returned: the bank has the report, which is what matters.
func (r *Reports) learn(ctx context.Context, rec *AlertRecord, answer *rules.Report) {
	a := rec.Alert
	merchant := a.Merchant.Key()
	var err error
	switch answer.Verdict {
	case rules.VerdictLegit:
		err = r.Known.Learn(ctx, a.Bank, rec.CardToken, merchant, "legit", a.TxnID)
	case rules.VerdictFraud:
		_, err = r.Known.Forget(ctx, a.Bank, rec.CardToken, merchant, a.TxnID)
	}
	if err != nil {
		r.Log.Error("answer recorded, but the card's known merchants were not updated", "alert", a.ID, "err", err)
	}
}

// PhoneAlerts returns the latest alerts sent to a phone number, newest first, with their
// reply codes and standing answers.
func (r *Reports) PhoneAlerts(ctx context.Context, phone string) ([]notifiers.PhoneAlert, error) {
	entries, err := r.Alerts.AlertsOfPhone(ctx, phone)
	if err != nil {
		return nil, err
	}
	var out []notifiers.PhoneAlert
	for _, e := range entries {
		rec, _, err := r.Alerts.Get(ctx, e.AlertID)
		if errors.Is(err, ErrNoAlert) || errors.Is(err, ErrUnsealed) {
			continue // expired, or not cardwatch's: no reply can answer it
		}
		if err != nil {
			return nil, err
		}
		out = append(out, notifiers.PhoneAlert{Alert: &rec.Alert, Code: e.Code, Answer: rec.Standing(), Closed: r.closed(&rec.Alert)})
	}
	return out, nil
}

// FirstMessage records an inbound message id and reports whether it is new.
func (r *Reports) FirstMessage(ctx context.Context, channel, id string) (bool, error) {
	return r.Alerts.FirstMessage(ctx, channel, id, r.now())
}

// RecordDelivery publishes a provider's receipt as a delivery event, completed from the
// alert's record: a receipt names only the alert.
func (r *Reports) RecordDelivery(ctx context.Context, d notifiers.Delivery) error {
	if rec, _, err := r.Alerts.Get(ctx, d.AlertID); err == nil {
		d.TxnID, d.CardholderID, d.AlertedAt = rec.Alert.TxnID, rec.Alert.CardholderID, rec.Alert.CreatedAt
		if d.Bank == "" {
			d.Bank = rec.Alert.Bank
		}
	}
	return r.Record(ctx, d)
}
