package subscribers

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cardwatch/cardwatch/rules"
)

// alertSteps are the operations of an alerting transaction at a merchant new to the
// card, in the order that keeps the promises: the record first (it keeps the transaction
// to one alert past JetStream's duplicate window), then the alert, then the merchant
// learned (learned before the alert is out, a crash in between would lose the alert: the
// redelivery finds the merchant known), then the acknowledgement.
var alertSteps = []string{
	"kv.create " + BucketAlerts,
	"publish cardwatch.alerts.acme",
	"kv.put " + BucketKnownMerchants,
	"ack",
}

// newMerchantRules alert on a merchant new to the card and on nothing else: a merchant
// learned too early takes the only reason for the alert away.
const newMerchantRules = `
defaults:
  home_country: US
  currency: USD
  rules: {unknown_merchant: true, foreign_terminal: false}
cardholders:
  - {id: ch_1, bank: acme, notify: {sms: "+15555550100"}}
`

// crashConsumer is the durable consumer the tests take transactions from; what a crashed
// process held comes back after its AckWait.
const crashConsumer = "crash-test"

// testProcess is one cardwatch instance of a test: its own connection, a faultyJS over
// it, and a pipeline with stores of its own, on a clock the test sets.
type testProcess struct {
	nc  *nats.Conn
	js  *faultyJS
	p   *Pipeline
	now time.Time
}

// startProcess starts an instance on the server at url, under the rules in rulesYAML.
func startProcess(t *testing.T, url, rulesYAML string, now time.Time) *testProcess {
	t.Helper()
	nc, js := connectJS(t, url)
	proc := &testProcess{nc: nc, js: &faultyJS{JetStream: js}, now: now}
	proc.p = newPipelineOn(t, proc.js, rulesYAML)
	proc.p.Now = func() time.Time { return proc.now }
	// Like the real link, whose expiry counts from when it is made, the link depends on
	// when the alert was built.
	proc.p.ReportURL = func(id string) string { return reportLink(id, proc.now) }
	return proc
}

func reportLink(id string, at time.Time) string {
	return fmt.Sprintf("https://cardwatch.test/r/%s?made=%d", id, at.UnixNano())
}

// handleNext fetches the next transaction for this instance (a redelivery waits out
// the consumer's AckWait or the nak's delay) and takes it through the pipeline.
func (proc *testProcess) handleNext(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	cons, err := proc.js.Consumer(ctx, StreamTxn, crashConsumer)
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for msg := range batch.Messages() {
		return proc.p.Handle(ctx, proc.js.msg(msg))
	}
	t.Fatalf("no transaction delivered within 10s (%v); operations so far: %q", batch.Error(), proc.js.done())
	return ""
}

// newCrashServer is a server holding one alerting transaction of a merchant new to the
// card, and the consumer to take it from.
func newCrashServer(t *testing.T) string {
	t.Helper()
	url := startTestServer(t)
	_, js := connectJS(t, url)
	ctx := context.Background()
	if _, err := js.CreateConsumer(ctx, StreamTxn, jetstream.ConsumerConfig{Durable: crashConsumer,
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: 300 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "cardwatch.txn.acme.tok_1", []byte(pipelineTxn)); err != nil {
		t.Fatal(err)
	}
	return url
}

// TestACrashAtEachStepKeepsThePromises kills the pipeline (or fails one operation) at
// each step of an alerting transaction, then lets an instance started afterwards (or
// the same one, after a failure) handle the redelivered transaction: the feed must hold
// one alert, the stored one, and the steps that happened must be in the order of a
// normal run.
func TestACrashAtEachStepKeepsThePromises(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 18, 23, 0, 0, time.UTC)
	later := t0.Add(time.Hour) // a freshly built alert would differ from the stored one
	for _, step := range alertSteps {
		for _, crash := range []bool{true, false} {
			name := "fail at " + step
			if crash {
				name = "crash at " + step
			}
			t.Run(name, func(t *testing.T) {
				url := newCrashServer(t)
				first := startProcess(t, url, newMerchantRules, t0)
				again := first
				if crash {
					first.js.crashAt(firstOp(step))
				} else {
					first.js.failAt(firstOp(step))
				}
				first.handleNext(t)
				if !slices.Contains(first.js.done(), step+" !") {
					t.Fatalf("the fault at %q was never hit; operations: %q", step, first.js.done())
				}
				if crash {
					first.nc.Close() // what a dead process held is the server's to redeliver
					again = startProcess(t, url, newMerchantRules, later)
				} else {
					first.now = later
				}
				if got := again.handleNext(t); got == OutcomeError {
					t.Fatalf("the redelivered transaction was not handled; operations: %q", again.js.done())
				}
				ops := first.js.done()
				if crash {
					ops = append(ops, again.js.done()...)
				}
				created := t0 // the record the first attempt stored stands
				if step == alertSteps[0] {
					created = later // the first attempt stored nothing
				}
				checkPromises(t, again, ops, created)
			})
		}
	}
}

// TestATakeoverAfterTheRecordStillPublishes crashes the pipeline once the alert's record
// is stored and before the alert is published, and resumes the transaction as the fleet
// does when it takes a dead owner's partition: the consumer reset to its ack floor,
// which counts deliveries from 1 again. The redelivered transaction is the same message,
// not a bank's repeat, and must publish the stored alert.
func TestATakeoverAfterTheRecordStillPublishes(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 18, 23, 0, 0, time.UTC)
	url := newCrashServer(t)
	first := startProcess(t, url, newMerchantRules, t0)
	first.js.crashAt(firstOp(alertSteps[1]))
	first.handleNext(t)
	first.nc.Close()
	again := startProcess(t, url, newMerchantRules, t0.Add(time.Hour))
	if _, err := again.js.ResetConsumer(context.Background(), StreamTxn, crashConsumer); err != nil {
		t.Fatal(err)
	}
	if got := again.handleNext(t); got != OutcomeDuplicate {
		t.Errorf("outcome %q, want %q (the alert was raised before)", got, OutcomeDuplicate)
	}
	checkPromises(t, again, append(first.js.done(), again.js.done()...), t0)
}

// checkPromises checks what a transaction of alertSteps left, after ops: one alert on the
// feed, the stored record's (created at created), and the steps in order, acknowledged.
func checkPromises(t *testing.T, proc *testProcess, ops []string, created time.Time) {
	t.Helper()
	ctx := context.Background()
	id := rules.AlertID("acme", "t-1")
	rec, _, err := proc.p.Alerts.Get(ctx, id)
	if err != nil {
		t.Fatalf("the alert's record: %v", err)
	}
	if !rec.Alert.CreatedAt.Equal(created) || rec.Alert.ReportURL != reportLink(id, created) {
		t.Errorf("record created at %v with link %s, want %v and the link made then", rec.Alert.CreatedAt, rec.Alert.ReportURL, created)
	}
	feed := feedAlerts(t, proc.js)
	if len(feed) != 1 || feed[0].Header.Get(jetstream.MsgIDHeader) != id {
		t.Fatalf("%d alerts on the feed, want one with Nats-Msg-Id %s; operations: %q", len(feed), id, ops)
	}
	var published rules.Alert
	if err := json.Unmarshal(feed[0].Data, &published); err != nil {
		t.Fatal(err)
	}
	if !sameAlert(&published, &rec.Alert) {
		t.Errorf("the alert on the feed is not the stored one:\nfeed   %s\nrecord %+v", feed[0].Data, rec.Alert)
	}
	if !proc.p.Known.Known("acme", "tok_1", "M-1") {
		t.Errorf("the merchant is not known once the transaction is handled")
	}
	checkOrder(t, ops)
}

// checkOrder checks that the first time each of alertSteps happened in ops is in their
// order, and that the transaction ends acknowledged.
func checkOrder(t *testing.T, ops []string) {
	t.Helper()
	last := -1
	for _, step := range alertSteps {
		i := slices.Index(ops, step) // a faulted op ends in " !": it did not happen
		switch {
		case i < 0:
			t.Errorf("%q never happened; operations: %q", step, ops)
		case i < last:
			t.Errorf("%q happened before %q; operations: %q", step, ops[last], ops)
		}
		last = max(last, i)
	}
	if len(ops) == 0 || ops[len(ops)-1] != "ack" {
		t.Errorf("the transaction does not end acknowledged; operations: %q", ops)
	}
}

// feedAlerts returns the messages on the alert feed.
func feedAlerts(t *testing.T, js jetstream.JetStream) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx := context.Background()
	s, err := js.Stream(ctx, StreamAlerts)
	if err != nil {
		t.Fatal(err)
	}
	var msgs []*jetstream.RawStreamMsg
	for seq := uint64(1); seq <= s.CachedInfo().State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("alert %d of the feed: %v", seq, err)
		}
		msgs = append(msgs, m)
	}
	return msgs
}

// The fault injector itself: what it records, and that a crash stops everything after.
func TestFaultyJSRecordsAndCrashes(t *testing.T) {
	url := newCrashServer(t)
	proc := startProcess(t, url, newMerchantRules, time.Now())
	proc.js.crashAt(opIndex(2))
	if got := proc.handleNext(t); got != OutcomeError {
		t.Errorf("outcome %q, want %q", got, OutcomeError)
	}
	want := []string{alertSteps[0], alertSteps[1], alertSteps[2] + " !"}
	if got := proc.js.done(); !slices.Equal(got, want) {
		t.Errorf("operations %q, want %q", got, want)
	}
	if _, err := proc.js.Publish(context.Background(), "cardwatch.alerts.acme", []byte("{}")); err == nil ||
		!strings.Contains(err.Error(), "dead") {
		t.Errorf("a publish after the crash: %v, want an error", err)
	}
}
