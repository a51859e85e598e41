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
// on the transaction that made a merchant known makes it unknown again.
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
}

var _ notifiers.Answers = (*Reports)(nil)

func (r *Reports) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
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
	return &rec.Alert, rec.Answer, nil
}

// Answer records a verdict. The record decides which answer is first (a revision check,
// so two instances answering at once cannot both win); only then is it published, with
// the alert id as Nats-Msg-Id. An answer recorded but not yet on the feed (the publish
// failed, or the process died) is published again by the next answer to that alert.
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
		if rec.Answer != nil {
			if !rec.Reported {
				if err := r.report(ctx, rec, rev); err != nil {
					return notifiers.Outcome{}, err
				}
			}
			return notifiers.Outcome{Standing: *rec.Answer}, nil
		}
		a := rec.Alert
		rep := rules.Report{AlertID: a.ID, TxnID: a.TxnID, Bank: a.Bank, CardholderID: a.CardholderID,
			CardToken: rec.CardToken, Verdict: verdict, Channel: channel, ReportedAt: r.now().UTC()}
		rec.Answer = &rep
		rev, err = r.Alerts.Update(ctx, rec, rev)
		if isRevisionConflict(err) {
			continue // another answer won; read it
		}
		if err != nil {
			return notifiers.Outcome{}, err
		}
		r.Metrics.Reports.WithLabelValues(verdict, channel).Inc()
		r.Log.Info("cardholder answered", "alert", a.ID, "bank", a.Bank, "verdict", verdict, "channel", channel)
		r.learn(ctx, rec)
		if err := r.report(ctx, rec, rev); err != nil {
			return notifiers.Outcome{}, err
		}
		return notifiers.Outcome{Standing: rep, First: true}, nil
	}
	return notifiers.Outcome{}, errors.New("answer: too much contention on the alert")
}

// report publishes the record's answer to the bank's feed and marks it reported. A
// failed mark is harmless: the report would be published again with the same id.
func (r *Reports) report(ctx context.Context, rec *AlertRecord, rev uint64) error {
	if err := publishJSON(ctx, r.JS, r.Subjects.Reports(rec.Alert.Bank), "report."+rec.Alert.ID, rec.Answer); err != nil {
		return fmt.Errorf("answer recorded, report not yet published: %w", err)
	}
	rec.Reported = true
	if _, err := r.Alerts.Update(ctx, rec, rev); err != nil && !isRevisionConflict(err) {
		r.Log.Warn("report published but not marked", "alert", rec.Alert.ID, "err", err)
	}
	return nil
}

// learn applies an answer to the card's known merchants. A failure is logged, not
// returned: the bank has the report, which is what matters.
func (r *Reports) learn(ctx context.Context, rec *AlertRecord) {
	a := rec.Alert
	merchant := a.Merchant.Key()
	var err error
	switch rec.Answer.Verdict {
	case rules.VerdictLegit:
		err = r.Known.Learn(ctx, a.Bank, rec.CardToken, merchant, "legit", a.TxnID)
	case rules.VerdictFraud:
		_, err = r.Known.Forget(ctx, a.Bank, rec.CardToken, merchant, a.TxnID)
	}
	if err != nil {
		r.Log.Error("answer recorded, but the card's known merchants were not updated", "alert", a.ID, "err", err)
	}
}

// NewestOpen returns the newest unanswered alert sent to a phone number.
func (r *Reports) NewestOpen(ctx context.Context, phone string) (*rules.Alert, error) {
	ids, err := r.Alerts.AlertsOfPhone(ctx, phone)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		rec, _, err := r.Alerts.Get(ctx, id)
		if errors.Is(err, ErrNoAlert) {
			continue // expired
		}
		if err != nil {
			return nil, err
		}
		if rec.Answer == nil {
			return &rec.Alert, nil
		}
	}
	return nil, notifiers.ErrNoOpenAlert
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
