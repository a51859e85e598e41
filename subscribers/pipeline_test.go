package subscribers

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/cardwatch/cardwatch/rules"
)

// txnMsg is a transaction as the consumer hands it over, with the delivery count the
// test needs.
type txnMsg struct {
	jetstream.Msg // not called: the methods the pipeline uses are below
	subject       string
	data          []byte
	delivered     uint64
	seq           uint64 // in CARDWATCH_TXN, when the test stored it there
	acked, nakked bool
}

func (m *txnMsg) Subject() string      { return m.subject }
func (m *txnMsg) Data() []byte         { return m.data }
func (m *txnMsg) Headers() nats.Header { return nil }
func (m *txnMsg) Metadata() (*jetstream.MsgMetadata, error) {
	return &jetstream.MsgMetadata{NumDelivered: m.delivered, Timestamp: time.Now(),
		Sequence: jetstream.SequencePair{Stream: m.seq}}, nil
}
func (m *txnMsg) Ack() error                         { m.acked = true; return nil }
func (m *txnMsg) NakWithDelay(d time.Duration) error { m.nakked = true; return nil }

const pipelineRules = `
defaults:
  home_country: US
  currency: USD
  rules: {amount_over: 500.00, unknown_merchant: false, foreign_terminal: false}
cardholders:
  - {id: ch_1, bank: acme, notify: {sms: "+15555550100"}}
`

const pipelineTxn = `{"id":"t-1","cardholder_id":"ch_1","card":{"token":"tok_1","last4":"4821"},
 "amount":{"value":"900.00","currency":"USD"},"merchant":{"id":"M-1","name":"SHOP"},
 "terminal":{"country":"US"},"status":"approved","occurred_at":"2026-11-24T18:22:05Z"}`

func newTestPipeline(t *testing.T) (*Pipeline, jetstream.JetStream) {
	t.Helper()
	_, js := connectJS(t, startTestServer(t))
	return newPipelineOn(t, js, pipelineRules), js
}

// startTestServer starts a NATS server with JetStream on a free port, with cardwatch's
// streams, and returns its URL.
func startTestServer(t *testing.T) string {
	t.Helper()
	ns, err := StartEmbedded(EmbeddedConfig{Addr: "127.0.0.1:0", DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	_, js := connectJS(t, ns.ClientURL())
	if err := EnsureStreams(context.Background(), js, Subjects{Prefix: "cardwatch"}, testStore); err != nil {
		t.Fatal(err)
	}
	return ns.ClientURL()
}

// testStore is the tests' StoreConfig.
var testStore = StoreConfig{Retention: time.Hour}

// connectJS connects to a test server; the connection closes when the test ends.
func connectJS(t *testing.T, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// newPipelineOn is a pipeline over js under the rules in rulesYAML, with stores of its
// own (the buckets are the server's: a second pipeline on the same server sees what the
// first stored, as an instance started after a crash does).
func newPipelineOn(t *testing.T, js jetstream.JetStream, rulesYAML string) *Pipeline {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	seal, err := NewSealer([]byte("test key"))
	if err != nil {
		t.Fatal(err)
	}
	known, err := OpenKnownMerchants(ctx, js, testStore, seal, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = known.Close() })
	alerts, err := OpenAlertStore(ctx, js, testStore, seal)
	if err != nil {
		t.Fatal(err)
	}
	book, err := rules.Parse("rules.yaml", []byte(rulesYAML))
	if err != nil {
		t.Fatal(err)
	}
	var rp atomic.Pointer[rules.Book]
	rp.Store(book)
	return &Pipeline{JS: js, Subjects: Subjects{Prefix: "cardwatch"}, Rules: &rp, Known: known, Alerts: alerts,
		Metrics: NewMetrics(prometheus.NewRegistry()), Log: log}
}

func alertsOnFeed(t *testing.T, js jetstream.JetStream) uint64 {
	t.Helper()
	s, err := js.Stream(context.Background(), StreamAlerts)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// A normal run takes alertSteps in order, and nothing else; the same transaction sent
// again by the bank, later, finds the record and raises nothing (the amount alerts
// whether the merchant is known or not).
func TestPipelineStoresTheRecordBeforeTheAlert(t *testing.T) {
	url := newCrashServer(t)
	proc := startProcess(t, url, pipelineRules, time.Now())
	if got := proc.handleNext(t); got != OutcomeAlert {
		t.Fatalf("outcome %q, want %q", got, OutcomeAlert)
	}
	if got := proc.js.done(); !slices.Equal(got, alertSteps) {
		t.Fatalf("operations %q, want %q", got, alertSteps)
	}
	ctx := context.Background()
	id := rules.AlertID("acme", "t-1")
	rec, _, err := proc.p.Alerts.Get(ctx, id)
	if err != nil {
		t.Fatalf("no record for the alert: %v", err)
	}
	if rec.CardToken != "tok_1" || rec.Alert.ID != id {
		t.Errorf("record %+v", rec)
	}
	// The bank sends the same transaction again (a new stream message, first delivery).
	if _, err := proc.js.Publish(ctx, "cardwatch.txn.acme.tok_1", []byte(pipelineTxn)); err != nil {
		t.Fatal(err)
	}
	if got := proc.handleNext(t); got != OutcomeDuplicate {
		t.Fatalf("same transaction again: outcome %q, want %q", got, OutcomeDuplicate)
	}
	if n := len(feedAlerts(t, proc.js)); n != 1 {
		t.Fatalf("%d alerts on the feed after a repeat, want 1", n)
	}
}

func TestPipelinePublishesAnAlertWhoseRecordOutlivedACrash(t *testing.T) {
	p, js := newTestPipeline(t)
	ctx := context.Background()
	// An earlier attempt stored the record and died before publishing the alert.
	tx, err := rules.DecodeTransaction("acme", "tok_1", []byte(pipelineTxn))
	if err != nil {
		t.Fatal(err)
	}
	a := rules.NewAlert("acme", tx, []rules.Reason{{Rule: "amount_over", Detail: "over"}}, time.Now())
	if created, err := p.Alerts.Create(ctx, &AlertRecord{Alert: *a, CardToken: "tok_1"}); err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	redelivered := &txnMsg{subject: "cardwatch.txn.acme.tok_1", data: []byte(pipelineTxn), delivered: 2}
	p.Handle(ctx, redelivered)
	if n := alertsOnFeed(t, js); n != 1 {
		t.Fatalf("%d alerts on the feed after the redelivery, want 1", n)
	}
	// Redelivered once more (say the ack was lost): the feed's duplicate window keeps
	// it one alert.
	p.Handle(ctx, &txnMsg{subject: redelivered.subject, data: redelivered.data, delivered: 3})
	if n := alertsOnFeed(t, js); n != 1 {
		t.Fatalf("%d alerts on the feed after a second redelivery, want 1", n)
	}
	m, err := js.Stream(ctx, StreamAlerts)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := m.GetMsg(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	var published rules.Alert
	if err := json.Unmarshal(raw.Data, &published); err != nil || !sameAlert(&published, a) {
		t.Errorf("the alert on the feed is not the stored one (%v): %s", err, raw.Data)
	}
}

// A bank that made CARDWATCH_TXN itself with DenyDelete: the event with a card number is
// still refused to the DLQ and acknowledged (a retry would get the same no), and the
// failed erase is counted and logged for an operator, without the number.
func TestRefusedEventTheServerWillNotEraseIsCountedNotRetried(t *testing.T) {
	p, js := newTestPipeline(t)
	ctx := context.Background()
	s, err := js.Stream(ctx, StreamTxn)
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.CachedInfo().Config
	cfg.DenyDelete = true
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	p.Log = slog.New(slog.NewTextHandler(&logs, nil))
	data := []byte(strings.Replace(pipelineTxn, `"SHOP"`, `"SHOP 4111111111111111"`, 1))
	ack, err := js.Publish(ctx, "cardwatch.txn.acme.tok_1", data)
	if err != nil {
		t.Fatal(err)
	}
	msg := &txnMsg{subject: "cardwatch.txn.acme.tok_1", data: data, delivered: 1, seq: ack.Sequence}
	if got := p.Handle(ctx, msg); got != OutcomeDLQ || !msg.acked || msg.nakked {
		t.Fatalf("outcome %q, acked %v, nakked %v; want a DLQ outcome, acknowledged", got, msg.acked, msg.nakked)
	}
	if n := counterValue(p.Metrics.Erased.WithLabelValues(ErasedFailed)); n != 1 {
		t.Errorf("failed erases counted %v, want 1", n)
	}
	if !strings.Contains(logs.String(), "not erased") || strings.Contains(logs.String(), "4111111111111111") {
		t.Errorf("log should say the event was not erased, without the number:\n%s", logs.String())
	}
}

// A refused event is erased from the stream once its DLQ entry is stored; erasing it
// again (a redelivery) is no error.
func TestRefusedEventIsErasedFromTheStream(t *testing.T) {
	p, js := newTestPipeline(t)
	ctx := context.Background()
	s, err := js.Stream(ctx, StreamTxn)
	if err != nil {
		t.Fatal(err)
	}
	data := []byte(strings.Replace(pipelineTxn, `"SHOP"`, `"SHOP 4111 1111 1111 1111"`, 1))
	ack, err := js.Publish(ctx, "cardwatch.txn.acme.tok_1", data)
	if err != nil {
		t.Fatal(err)
	}
	msg := &txnMsg{subject: "cardwatch.txn.acme.tok_1", data: data, delivered: 1, seq: ack.Sequence}
	if got := p.Handle(ctx, msg); got != OutcomeDLQ || !msg.acked {
		t.Fatalf("outcome %q, acked %v", got, msg.acked)
	}
	if _, err := s.GetMsg(ctx, ack.Sequence); !errors.Is(err, jetstream.ErrMsgNotFound) {
		t.Errorf("the refused event is still in the stream: %v", err)
	}
	if n := counterValue(p.Metrics.Erased.WithLabelValues(ErasedOK)); n != 1 {
		t.Errorf("erases counted %v, want 1", n)
	}
	if got := p.Handle(ctx, &txnMsg{subject: msg.subject, data: data, delivered: 2, seq: ack.Sequence}); got != OutcomeDLQ {
		t.Errorf("the redelivered event: outcome %q", got)
	}
	if n := counterValue(p.Metrics.Erased.WithLabelValues(ErasedFailed)); n != 0 {
		t.Errorf("a second erase counted as failed")
	}
}

// counterValue reads a counter.
func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}
