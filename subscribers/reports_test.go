package subscribers

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cardwatch/cardwatch/notifiers"
	"github.com/cardwatch/cardwatch/rules"
)

// testReports is Reports on a real NATS server with a clock the test moves.
type testReports struct {
	*Reports
	js  jetstream.JetStream
	mu  sync.Mutex
	now time.Time
}

func (tr *testReports) advance(d time.Duration) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.now = tr.now.Add(d)
}

func newTestReports(t *testing.T, maxAge time.Duration) *testReports {
	t.Helper()
	p, js := newTestPipeline(t)
	tr := &testReports{js: js, now: time.Date(2026, 11, 24, 18, 22, 5, 0, time.UTC)}
	tr.Reports = &Reports{JS: js, Subjects: p.Subjects, Alerts: p.Alerts, Known: p.Known,
		Metrics: NewMetrics(prometheus.NewRegistry()), Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		MaxAge: maxAge, Now: func() time.Time {
			tr.mu.Lock()
			defer tr.mu.Unlock()
			return tr.now
		}}
	return tr
}

// raise stores an alert's record as the pipeline does, created now.
func (tr *testReports) raise(t *testing.T, txnID string) *rules.Alert {
	t.Helper()
	a := rules.Alert{ID: rules.AlertID("acme", txnID), TxnID: txnID, Bank: "acme", CardholderID: "ch_1",
		Amount: rules.Money{Minor: 2000, Currency: "USD"}, Merchant: rules.Merchant{ID: "M-" + txnID}, CreatedAt: tr.Now()}
	if ok, err := tr.Alerts.Create(context.Background(), &AlertRecord{Alert: a, CardToken: "tok_1"}); err != nil || !ok {
		t.Fatalf("store the alert: %v %v", ok, err)
	}
	return &a
}

func (tr *testReports) published(t *testing.T) []rules.Report {
	t.Helper()
	ctx := context.Background()
	s, err := tr.js.Stream(ctx, StreamReports)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []rules.Report
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		var r rules.Report
		if err := json.Unmarshal(m.Data, &r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// TestAnswerCorrectionsAndAgeLimit walks one alert through the contract's rule: the first
// answer stands, a fraud after a legit is published once as a correction, nothing else
// is published again, and past the age limit no answer is taken.
func TestAnswerCorrectionsAndAgeLimit(t *testing.T) {
	ctx := context.Background()
	tr := newTestReports(t, 30*24*time.Hour)
	a := tr.raise(t, "t-1")
	steps := []struct {
		after   time.Duration
		verdict string
		want    notifiers.Outcome // Standing's verdict and correction, First, Correction
		err     error
	}{
		{time.Minute, rules.VerdictLegit, notifiers.Outcome{Standing: rules.Report{Verdict: rules.VerdictLegit}, First: true}, nil},
		{time.Minute, rules.VerdictLegit, notifiers.Outcome{Standing: rules.Report{Verdict: rules.VerdictLegit}}, nil},
		// Within the limit, days later, the cardholder finds out.
		{20 * 24 * time.Hour, rules.VerdictFraud,
			notifiers.Outcome{Standing: rules.Report{Verdict: rules.VerdictFraud, Correction: true}, Correction: true}, nil},
		{time.Minute, rules.VerdictFraud, notifiers.Outcome{Standing: rules.Report{Verdict: rules.VerdictFraud, Correction: true}}, nil},
		{time.Minute, rules.VerdictLegit, notifiers.Outcome{Standing: rules.Report{Verdict: rules.VerdictFraud, Correction: true}}, nil},
		{10 * 24 * time.Hour, rules.VerdictFraud, notifiers.Outcome{}, notifiers.ErrTooOld},
	}
	for i, s := range steps {
		tr.advance(s.after)
		out, err := tr.Answer(ctx, a.ID, s.verdict, notifiers.ChannelSMS)
		if !errors.Is(err, s.err) {
			t.Fatalf("step %d: err %v, want %v", i, err, s.err)
		}
		if out.First != s.want.First || out.Correction != s.want.Correction ||
			out.Standing.Verdict != s.want.Standing.Verdict || out.Standing.Correction != s.want.Standing.Correction {
			t.Errorf("step %d (%s): %+v, want %+v", i, s.verdict, out, s.want)
		}
	}
	reps := tr.published(t)
	if len(reps) != 2 || reps[0].Verdict != rules.VerdictLegit || reps[0].Correction ||
		reps[1].Verdict != rules.VerdictFraud || !reps[1].Correction || reps[1].CardToken != "tok_1" {
		t.Errorf("published %+v, want legit then the fraud correction", reps)
	}

	// A fraud first stands against a later OK, and past the limit nothing is taken,
	// not even a first answer.
	b := tr.raise(t, "t-2")
	if out, err := tr.Answer(ctx, b.ID, rules.VerdictFraud, notifiers.ChannelWeb); err != nil || !out.First {
		t.Fatalf("fraud: %+v %v", out, err)
	}
	if out, err := tr.Answer(ctx, b.ID, rules.VerdictLegit, notifiers.ChannelWeb); err != nil || out.Published() || out.Standing.Verdict != rules.VerdictFraud {
		t.Errorf("OK after FRAUD: %+v %v", out, err)
	}
	c := tr.raise(t, "t-3")
	tr.advance(31 * 24 * time.Hour)
	if _, err := tr.Answer(ctx, c.ID, rules.VerdictFraud, notifiers.ChannelSlack); !errors.Is(err, notifiers.ErrTooOld) {
		t.Errorf("a first answer past the limit: %v, want ErrTooOld", err)
	}
	if n := len(tr.published(t)); n != 3 {
		t.Errorf("%d reports in all, want 3", n)
	}
}

// TestIndexPhoneCodes: each alert of a number gets a reply code of its own, the same
// one when indexed again, even when instances index alerts for one number at once.
func TestIndexPhoneCodes(t *testing.T) {
	ctx := context.Background()
	tr := newTestReports(t, 0)
	const phone = "+15555550100"
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		codes = map[string]string{} // alert → code
	)
	for i := range phonesKept {
		wg.Go(func() {
			id := rules.AlertID("acme", "t-"+string(rune('a'+i)))
			code, err := tr.Alerts.IndexPhone(ctx, phone, id)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			codes[id] = code
			mu.Unlock()
		})
	}
	wg.Wait()
	seen := map[string]string{}
	for id, code := range codes {
		if !notifiers.IsReplyCode(code) {
			t.Errorf("alert %s got %q, not a reply code", id, code)
		}
		if other, dup := seen[code]; dup {
			t.Errorf("alerts %s and %s share the code %s", id, other, code)
		}
		seen[code] = id
		if again, err := tr.Alerts.IndexPhone(ctx, phone, id); err != nil || again != code {
			t.Errorf("indexed again, alert %s got %q (%v), first %q", id, again, err, code)
		}
	}
	entries, err := tr.Alerts.AlertsOfPhone(ctx, phone)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != phonesKept {
		t.Fatalf("%d entries, want %d", len(entries), phonesKept)
	}
	for _, e := range entries {
		if codes[e.AlertID] != e.Code {
			t.Errorf("index says %s for %s, IndexPhone said %s", e.Code, e.AlertID, codes[e.AlertID])
		}
	}
	// Another number's codes are its own.
	other, err := tr.Alerts.AlertsOfPhone(ctx, "+15555550199")
	if err != nil || len(other) != 0 {
		t.Errorf("another number: %v %v", other, err)
	}
}

// TestFirstMessage: a message id counts once, across instances sharing the bucket.
func TestFirstMessage(t *testing.T) {
	ctx := context.Background()
	tr := newTestReports(t, 0)
	other := &Reports{Alerts: tr.Alerts}
	const sid = "SM0123456789abcdef0123456789abcdef"
	for i, r := range []*Reports{tr.Reports, other, tr.Reports} {
		first, err := r.FirstMessage(ctx, notifiers.ChannelSMS, sid)
		if err != nil || first != (i == 0) {
			t.Errorf("sight %d: %v %v", i+1, first, err)
		}
	}
	if _, err := tr.FirstMessage(ctx, notifiers.ChannelSMS, "SM.>"); err == nil {
		t.Error("a malformed id was recorded")
	}
}
