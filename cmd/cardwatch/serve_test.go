package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cardwatch/cardwatch/notifiers"
	"github.com/cardwatch/cardwatch/notifiers/slack"
	"github.com/cardwatch/cardwatch/notifiers/twilio"
	"github.com/cardwatch/cardwatch/rules"
	"github.com/cardwatch/cardwatch/subscribers"
)

const (
	testSlackSecret = "8f742231b10e8888abcd99yyyzzz85a5"
	testSID         = "AC0123456789abcdef0123456789abcdef"
	testAuthToken   = "f00dfacecafe0123456789abcdef7f3a"
	testBotToken    = "xoxb-slack-bot-token-do-not-leak-91c2"
	testFrom        = "+15005550006"
	testPhone       = "+15551230001"
	testCardToken   = "tok_4f9a2c"
	testPAN         = "4111111111111111"
	waitFor         = 15 * time.Second
)

// The contract's example event.
const exampleEvent = `{
  "id": "9c1e5f0a-7d8b-4c1e-9a51-2f1d3e4b5a60",
  "cardholder_id": "ch_1001",
  "card": {"token": "tok_4f9a2c", "last4": "4821"},
  "amount": {"value": "1250.00", "currency": "EUR"},
  "billing_amount": {"value": "1342.10", "currency": "USD"},
  "merchant": {"id": "M-77812", "name": "ACME ELECTRONICS", "mcc": "5732", "city": "Lagos", "country": "NG"},
  "terminal": {"id": "T-0042", "country": "NG", "entry_mode": "chip"},
  "status": "approved",
  "occurred_at": "2026-11-24T18:22:05Z"
}`

const testRules = `defaults:
  home_country: US
  currency: USD
  timezone: America/New_York
  rules:
    amount_over: 500.00
    unknown_merchant: true
    foreign_terminal: true
cardholders:
  - id: ch_1001
    bank: acme
    name: Ana Souza
    notify:
      sms: "+15551230001"
      slack: "U024BE7LH"
    rules:
      amount_over: 200.00
      foreign_terminal: {allow: [CA, MX]}
      unknown_merchant: {known: [M-1001]}
`

// event returns the example event with fields replaced (top-level keys only).
func event(t *testing.T, changes map[string]any) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(exampleEvent), &m); err != nil {
		t.Fatal(err)
	}
	for k, v := range changes {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fakeTwilio speaks Twilio's Messages API: a form POST with basic auth, 201 and JSON.
type fakeTwilio struct {
	*httptest.Server
	mu       sync.Mutex
	msgs     []url.Values
	requests int
	// failFirst is how many requests get a 500 before the fake accepts messages.
	failFirst int
	// hang, when set, holds every request until the test ends.
	hang chan struct{}
	// failUntil, when set, answers 503 to every request before it.
	failUntil time.Time
	// tooMany is how many requests, from the next, get Twilio's 429 with Retry-After 3.
	tooMany int
	// log is every request that reached the messages API, in order of arrival.
	log []twilioRequest
}

// twilioRequest is one request as the fake Twilio saw it.
type twilioRequest struct {
	at     time.Time
	status int
}

func newFakeTwilio(t *testing.T) *fakeTwilio {
	f := &fakeTwilio{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if r.Method != http.MethodPost || r.URL.Path != "/2010-04-01/Accounts/"+testSID+"/Messages.json" ||
			!ok || user != testSID || pass != testAuthToken {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"code":20003,"message":"Authenticate","status":401}`)
			return
		}
		if err := r.ParseForm(); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		hang := f.hang
		f.requests++
		if f.tooMany > 0 {
			f.tooMany--
			f.log = append(f.log, twilioRequest{time.Now(), http.StatusTooManyRequests})
			f.mu.Unlock()
			w.Header().Set("Retry-After", "3")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = io.WriteString(w, `{"code":20429,"message":"Too Many Requests","more_info":"https://www.twilio.com/docs/errors/20429","status":429}`)
			return
		}
		if hang != nil {
			f.mu.Unlock()
			select {
			case <-hang:
			case <-r.Context().Done():
			}
			return
		}
		if f.requests <= f.failFirst || time.Now().Before(f.failUntil) {
			f.mu.Unlock()
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, `{"code":20500,"message":"Internal Server Error","status":500}`)
			return
		}
		f.msgs = append(f.msgs, r.PostForm)
		f.log = append(f.log, twilioRequest{time.Now(), http.StatusCreated})
		n := len(f.msgs)
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"sid":"SM%032d","status":"queued","to":%q,"from":%q,"body":%q,"account_sid":%q}`,
			n, r.PostForm.Get("To"), r.PostForm.Get("From"), r.PostForm.Get("Body"), testSID)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeTwilio) messages() []url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]url.Values(nil), f.msgs...)
}

// fakeSlack speaks Slack's chat.postMessage: bearer token, {"ok":true,...}.
type fakeSlack struct {
	*httptest.Server
	// refuse answers chat.postMessage with ok:false and this error, when set.
	refuse    string
	mu        sync.Mutex
	msgs      []map[string]string
	at        []time.Time // when each of msgs arrived
	responses []string    // bodies posted to response_url
}

func newFakeSlack(t *testing.T) *fakeSlack {
	f := &fakeSlack{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if strings.HasPrefix(r.URL.Path, "/response/") {
			b, _ := io.ReadAll(r.Body)
			f.mu.Lock()
			f.responses = append(f.responses, string(b))
			f.mu.Unlock()
			_, _ = io.WriteString(w, `{"ok":true}`)
			return
		}
		// slack-go sends the token as the form field "token"; Slack also takes a bearer header.
		// Any path that ends in the method: a test can tell instances apart by the
		// CARDWATCH_SLACK_API_URL it gives each (slackPathKey).
		if !strings.HasSuffix(r.URL.Path, "/chat.postMessage") || (r.Header.Get("Authorization") != "Bearer "+testBotToken && r.PostFormValue("token") != testBotToken) {
			_, _ = io.WriteString(w, `{"ok":false,"error":"invalid_auth"}`)
			return
		}
		got := map[string]string{}
		if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			var body map[string]any
			_ = json.NewDecoder(r.Body).Decode(&body)
			for k, v := range body {
				if s, ok := v.(string); ok {
					got[k] = s
				} else {
					b, _ := json.Marshal(v)
					got[k] = string(b)
				}
			}
		} else {
			_ = r.ParseForm()
			for k := range r.PostForm {
				got[k] = r.PostForm.Get(k)
			}
		}
		got[slackPathKey] = r.URL.Path
		f.mu.Lock()
		refuse := f.refuse
		f.mu.Unlock()
		if refuse != "" {
			fmt.Fprintf(w, `{"ok":false,"error":%q}`, refuse)
			return
		}
		f.mu.Lock()
		f.msgs = append(f.msgs, got)
		f.at = append(f.at, time.Now())
		n := len(f.msgs)
		f.mu.Unlock()
		fmt.Fprintf(w, `{"ok":true,"channel":%q,"ts":"1700000000.%06d"}`, got["channel"], n)
	}))
	t.Cleanup(f.Close)
	return f
}

// slackPathKey is where fakeSlack keeps the path a message was posted to.
const slackPathKey = "_path"

func (f *fakeSlack) responded() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.responses...)
}

func (f *fakeSlack) messages() []map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]map[string]string(nil), f.msgs...)
}

// env is one test's world: a NATS server of its own, fake providers, a rules file, and
// the log of every cardwatch run in it.
type env struct {
	t        *testing.T
	server   *server.Server
	storeDir string
	url      string
	rules    string
	twilio   *fakeTwilio
	slack    *fakeSlack
	logs     *syncBuffer
	nc       *nats.Conn
	js       jetstream.JetStream
	// limitMetrics are the metrics of each fleetInstance's Limits.
	limitMetrics []*subscribers.Metrics
	// replicas, when set, is CARDWATCH_STREAM_REPLICAS of the instances started.
	replicas int
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	ns, err := subscribers.StartEmbedded(subscribers.EmbeddedConfig{Addr: "127.0.0.1:0", DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, url: ns.ClientURL(), twilio: newFakeTwilio(t), slack: newFakeSlack(t), logs: &syncBuffer{},
		server: ns, storeDir: dir}
	t.Cleanup(func() { e.server.Shutdown(); e.server.WaitForShutdown() })
	e.rules = filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(e.rules, []byte(testRules), 0o600); err != nil {
		t.Fatal(err)
	}
	e.nc, err = nats.Connect(e.url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.nc.Close)
	e.js, _ = jetstream.New(e.nc)
	return e
}

// running is one cardwatch started by a test.
type running struct {
	app      *app
	stop     func()
	mu       sync.Mutex
	outcomes []string
}

func (r *running) seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.outcomes...)
}

// start runs cardwatch as `serve` does, with the real Twilio and Slack notifiers pointed
// at the fakes.
func (e *env) start() *running {
	t := e.t
	t.Helper()
	cfg, err := loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	cfg.NatsURL, cfg.RulesFile, cfg.HTTPAddr = e.url, e.rules, "127.0.0.1:0"
	cfg.SigningKey = Secret(strings.Repeat("s", 32))
	cfg.Workers = 4
	if e.replicas > 0 {
		cfg.StreamReplicas = e.replicas
	}
	book, err := rules.Load(e.rules)
	if err != nil {
		t.Fatal(err)
	}
	sms, err := twilio.New(twilio.Config{AccountSID: testSID, AuthToken: testAuthToken, From: testFrom, APIURL: e.twilio.URL})
	if err != nil {
		t.Fatal(err)
	}
	sl, err := slack.New(slack.Config{BotToken: testBotToken, APIURL: e.slack.URL + "/"})
	if err != nil {
		t.Fatal(err)
	}
	r := &running{}
	a := &app{cfg: cfg, book: book, ready: make(chan struct{}), mountChannels: testChannelRoutes(cfg.PublicURL),
		log:       slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		notifiers: []notifiers.Notifier{sms, sl},
		observe: func(_ string, outcome string) {
			r.mu.Lock()
			r.outcomes = append(r.outcomes, outcome)
			r.mu.Unlock()
		}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.run(ctx) }()
	select {
	case <-a.ready:
	case err := <-done:
		cancel()
		t.Fatalf("cardwatch did not start: %v", err)
	case <-time.After(waitFor):
		cancel()
		t.Fatal("cardwatch not ready in time")
	}
	var once sync.Once
	r.app = a
	r.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("cardwatch run: %v", err)
			}
		})
	}
	t.Cleanup(r.stop)
	return r
}

func (e *env) publish(bank, card string, data []byte) {
	e.t.Helper()
	subj := subscribers.Subjects{Prefix: "cardwatch"}.Txn(bank, card)
	if _, err := e.js.Publish(context.Background(), subj, data); err != nil {
		e.t.Fatal(err)
	}
}

// eventually waits for cond, failing the test with what after the deadline.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// streamMsgs returns every message stored in a stream.
func (e *env) streamMsgs(name string) []*jetstream.RawStreamMsg {
	e.t.Helper()
	ctx := context.Background()
	s, err := e.js.Stream(ctx, name)
	if err != nil {
		e.t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			e.t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func count(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}

func TestTransactionBecomesSMSAndSlackAlert(t *testing.T) {
	e := newEnv(t)
	r := e.start()
	e.publish("acme", testCardToken, []byte(exampleEvent))

	eventually(t, "one SMS and one Slack message", func() bool {
		return len(e.twilio.messages()) == 1 && len(e.slack.messages()) == 1
	})
	alerts := e.streamMsgs(subscribers.StreamAlerts)
	if len(alerts) != 1 || alerts[0].Subject != "cardwatch.alerts.acme" {
		t.Fatalf("alerts stream holds %d messages, want 1 on cardwatch.alerts.acme", len(alerts))
	}
	var a rules.Alert
	if err := json.Unmarshal(alerts[0].Data, &a); err != nil {
		t.Fatal(err)
	}
	if a.ID != rules.AlertID("acme", "9c1e5f0a-7d8b-4c1e-9a51-2f1d3e4b5a60") || alerts[0].Header.Get(nats.MsgIdHdr) != a.ID {
		t.Errorf("alert id %q / Nats-Msg-Id %q not derived from the transaction id", a.ID, alerts[0].Header.Get(nats.MsgIdHdr))
	}
	var rulesFired []string
	for _, reason := range a.Reasons {
		rulesFired = append(rulesFired, reason.Rule+": "+reason.Detail)
	}
	want := []string{
		"amount_over: $1,342.10 is over your $200.00 limit",
		`unknown_merchant: first purchase at "ACME ELECTRONICS" on this card`,
		"foreign_terminal: terminal in Nigeria",
	}
	if strings.Join(rulesFired, "\n") != strings.Join(want, "\n") {
		t.Errorf("reasons:\n%s\nwant:\n%s", strings.Join(rulesFired, "\n"), strings.Join(want, "\n"))
	}
	if a.CardLast4 != "4821" || a.Bank != "acme" || a.CardholderID != "ch_1001" || a.Amount.Minor != 125000 ||
		a.BillingAmount == nil || a.BillingAmount.Minor != 134210 || !strings.HasPrefix(a.ReportURL, "http://127.0.0.1:8080/r/") {
		t.Errorf("alert fields wrong: %+v", a)
	}
	if bytes.Contains(alerts[0].Data, []byte(testCardToken)) || bytes.Contains(alerts[0].Data, []byte(testPhone)) {
		t.Errorf("alert carries the card token or the phone number: %s", alerts[0].Data)
	}

	sms := e.twilio.messages()[0]
	if sms.Get("To") != testPhone || sms.Get("From") != testFrom {
		t.Errorf("SMS To/From = %q/%q", sms.Get("To"), sms.Get("From"))
	}
	code := replyCodeOf(t, sms.Get("Body"))
	if body := sms.Get("Body"); body != notifiers.SMSText(notifiers.Message{Alert: &a, Cardholder: r.app.book.Lookup("acme", "ch_1001"), ReplyCode: code}) {
		t.Errorf("SMS body %q is not the rendered alert", body)
	}
	sl := e.slack.messages()[0]
	if sl["channel"] != "U024BE7LH" || !strings.Contains(sl["blocks"], "report_fraud") || !strings.Contains(sl["text"], "ACME ELECTRONICS") {
		t.Errorf("Slack message wrong: %v", sl)
	}

	eventually(t, "two delivery events", func() bool { return len(e.streamMsgs(subscribers.StreamDeliveries)) == 2 })
	channels := map[string]string{}
	for _, m := range e.streamMsgs(subscribers.StreamDeliveries) {
		var d notifiers.Delivery
		if err := json.Unmarshal(m.Data, &d); err != nil {
			t.Fatal(err)
		}
		if m.Subject != "cardwatch.deliveries.acme" || d.AlertID != a.ID {
			t.Errorf("delivery event on %s for %s", m.Subject, d.AlertID)
		}
		channels[d.Channel] = d.Status
	}
	if channels["sms"] != "sent" || channels["slack"] != "sent" {
		t.Errorf("delivery events: %v", channels)
	}
}

func TestRepublishedTransactionAlertsOnce(t *testing.T) {
	e := newEnv(t)
	r := e.start()
	data := []byte(exampleEvent)
	e.publish("acme", testCardToken, data)
	eventually(t, "the first alert's messages", func() bool { return len(e.slack.messages()) == 1 })
	e.publish("acme", testCardToken, data) // the bank publishes it again, no Nats-Msg-Id
	eventually(t, "the republished transaction handled", func() bool { return len(r.seen()) == 2 })
	r.stop()

	// After a restart, and past JetStream's duplicate window as far as cardwatch's own
	// memory goes, the same transaction still gives nothing new.
	r2 := e.start()
	e.publish("acme", testCardToken, data)
	eventually(t, "the third copy handled", func() bool { return len(r2.seen()) == 1 })
	r2.stop()

	if got := count(append(r.seen(), r2.seen()...), subscribers.OutcomeAlert); got != 1 {
		t.Errorf("%d alerts raised, want 1 (outcomes %v %v)", got, r.seen(), r2.seen())
	}
	if n := len(e.streamMsgs(subscribers.StreamAlerts)); n != 1 {
		t.Errorf("alerts stream holds %d alerts, want 1", n)
	}
	if len(e.twilio.messages()) != 1 || len(e.slack.messages()) != 1 {
		t.Errorf("messages sent: %d SMS, %d Slack; want 1 each", len(e.twilio.messages()), len(e.slack.messages()))
	}
}

func TestKnownMerchantsSurviveRestart(t *testing.T) {
	e := newEnv(t)
	r := e.start()
	// $50 at home at a new merchant: only unknown_merchant fires.
	home := func(id string) []byte {
		return event(t, map[string]any{"id": id, "billing_amount": nil,
			"amount":   map[string]any{"value": "50.00", "currency": "USD"},
			"merchant": map[string]any{"id": "M-555", "name": "CORNER CAFE", "city": "Boston", "country": "US"},
			"terminal": map[string]any{"country": "US", "entry_mode": "chip"}})
	}
	e.publish("acme", testCardToken, home("t-1"))
	eventually(t, "first transaction", func() bool { return len(r.seen()) == 1 })
	if r.seen()[0] != subscribers.OutcomeAlert {
		t.Fatalf("first purchase at a new merchant: outcome %q, want alert", r.seen()[0])
	}
	r.stop()

	r2 := e.start()
	e.publish("acme", testCardToken, home("t-2"))
	eventually(t, "second transaction", func() bool { return len(r2.seen()) == 1 })
	if r2.seen()[0] != subscribers.OutcomeNoAlert {
		t.Errorf("second purchase after a restart: outcome %q, want no_alert (the merchant is known)", r2.seen()[0])
	}
}

func TestBadEventsGoToTheDLQ(t *testing.T) {
	e := newEnv(t)
	r := e.start()
	cases := []struct {
		bank, card string
		data       []byte
		kind, says string
	}{
		{"acme", testCardToken, []byte("not json"), "invalid", "not JSON"},
		{"acme", testCardToken, event(t, map[string]any{"id": nil}), "invalid", "id is missing"},
		{"acme", "tok_other", []byte(exampleEvent), "invalid", "does not match the subject's card token"},
		{"acme", testCardToken, event(t, map[string]any{"bank": "globex"}), "invalid", `bank "globex" does not match`},
		{"acme", testCardToken, event(t, map[string]any{"amount": map[string]any{"value": "1.001", "currency": "USD"}}), "invalid", "more than 2 decimal places"},
		{"ACME", testCardToken, []byte(exampleEvent), "subject", "bank id"},
		{"acme", testCardToken, bytes.Repeat([]byte("x"), rules.MaxEventSize+1), "oversize", "over the 65536 byte limit"},
		{"acme", testCardToken, event(t, map[string]any{"note": "card " + testPAN}), "pan", "411111******1111"},
		{"acme", testCardToken, event(t, map[string]any{"merchant": map[string]any{"name": strings.Repeat("A", 3500)}}), "invalid", "merchant.name is longer than 200 bytes"},
	}
	for _, c := range cases {
		e.publish(c.bank, c.card, c.data)
	}
	// A subject of another shape is no transaction: the stream does not take it, and the
	// bank's publish fails at once, with nothing stored.
	if _, err := e.js.Publish(context.Background(), "cardwatch.txn.acme.tok_x.extra", []byte(exampleEvent)); !errors.Is(err, jetstream.ErrNoStreamResponse) {
		t.Errorf("publish on a subject with an extra token: %v, want %v", err, jetstream.ErrNoStreamResponse)
	}
	eventually(t, "every bad event handled", func() bool { return len(r.seen()) == len(cases) })
	// Workers run cards in parallel, so entries need not be in publish order.
	dlq := e.streamMsgs(subscribers.StreamDLQ)
	if len(dlq) != len(cases) {
		t.Errorf("DLQ holds %d entries, want %d", len(dlq), len(cases))
	}
	entries := map[string]subscribers.DeadLetter{}
	for _, m := range dlq {
		var dl subscribers.DeadLetter
		if err := json.Unmarshal(m.Data, &dl); err != nil {
			t.Fatal(err)
		}
		entries[m.Subject+" "+dl.Kind+" "+dl.Reason] = dl
	}
	for i, c := range cases {
		wantSubj := "cardwatch.dlq.acme"
		if c.bank == "ACME" { // no valid bank in the subject
			wantSubj = "cardwatch.dlq._unrouted"
		}
		found := false
		for k := range entries {
			if strings.HasPrefix(k, wantSubj+" "+c.kind+" ") && strings.Contains(k, c.says) {
				found = true
				delete(entries, k)
				break
			}
		}
		if !found {
			t.Errorf("case %d: no DLQ entry on %s of kind %q saying %q; left: %v", i, wantSubj, c.kind, c.says, entries)
		}
	}
	if n := count(r.seen(), subscribers.OutcomeDLQ); n != len(cases) {
		t.Errorf("%d DLQ outcomes, want %d: %v", n, len(cases), r.seen())
	}
	// The consumer goes on after bad events: a good one still alerts.
	e.publish("acme", testCardToken, []byte(exampleEvent))
	eventually(t, "the good event's SMS", func() bool { return len(e.twilio.messages()) == 1 })
}

func TestCardNumberIsStoredAndLoggedNowhere(t *testing.T) {
	e := newEnv(t)
	r := e.start()
	grouped := "4111 1111 1111 1111"
	// Ordinary traffic around the numbers, so that the store does not compact their
	// block away: only a secure delete overwrites a message in a block that is kept.
	quiet := 200
	for i := range quiet {
		e.publish("acme", testCardToken, event(t, map[string]any{"id": fmt.Sprintf("quiet-%d", i), "cardholder_id": "ch_not_signed_up"}))
	}
	e.publish("acme", testCardToken, event(t, map[string]any{"card": map[string]any{"token": testCardToken, "last4": "1111", "pan": testPAN}}))
	e.publish("acme", testPAN, event(t, map[string]any{"card": map[string]any{"token": testPAN}}))
	// Where the bank should be: the DLQ entry must not be filed under the number.
	e.publish(testPAN, testCardToken, []byte(exampleEvent))
	e.publish("acme", testCardToken, event(t, map[string]any{"id": "t-pan-3", "merchant": map[string]any{"name": "SHOP " + grouped}}))
	// JSON escapes hide the digits from a scan of the raw bytes.
	e.publish("acme", testCardToken, []byte(strings.Replace(exampleEvent, `"ACME ELECTRONICS"`, `"CARD \u0034111111111111111"`, 1)))
	// Too large to screen, so erased too: it may hold a number.
	e.publish("acme", testCardToken, []byte(`{"note":"`+testPAN+strings.Repeat(" ", rules.MaxEventSize)+`"}`))
	eventually(t, "the events handled", func() bool { return len(r.seen()) == quiet+6 })
	// Also an alert and its deliveries, so every stream and bucket has data to scan.
	e.publish("acme", testCardToken, []byte(exampleEvent))
	eventually(t, "the good alert's deliveries", func() bool { return len(e.streamMsgs(subscribers.StreamDeliveries)) == 2 })
	r.stop()

	if got := count(r.seen(), subscribers.OutcomeDLQ); got != 6 {
		t.Fatalf("%d of 6 PAN events refused: %v", got, r.seen())
	}
	// The bank's publish stored the numbers in the transaction stream: cardwatch erased
	// them there once it had refused them, and kept the good event.
	if txns := e.streamMsgs(subscribers.StreamTxn); len(txns) != quiet+1 {
		t.Errorf("the transaction stream holds %d events, want only the %d good ones", len(txns), quiet+1)
	}
	streams := e.js.StreamNames(context.Background())
	scanned := 0
	for name := range streams.Name() {
		for _, m := range e.streamMsgs(name) {
			scanned++
			all := m.Subject + " " + string(m.Data) + " " + fmt.Sprint(m.Header)
			if strings.Contains(all, testPAN) || strings.Contains(all, grouped) {
				t.Errorf("stream %s holds the card number: %s", name, all)
			}
		}
	}
	if scanned < 6 {
		t.Errorf("scanned only %d messages; the scan proves nothing", scanned)
	}
	logs := e.logs.String()
	for _, secret := range []string{testPAN, grouped, testCardToken, testPhone, testAuthToken, testBotToken} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log holds %q", secret)
		}
	}
	if !strings.Contains(logs, "event refused to the DLQ") {
		t.Error("the log does not say an event was refused; was the log captured?")
	}
	// Nor on disk: a secure delete overwrites the message where it was stored.
	e.server.Shutdown()
	e.server.WaitForShutdown()
	files := 0
	err := filepath.WalkDir(e.storeDir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		for _, secret := range []string{testPAN, grouped} {
			if bytes.Contains(b, []byte(secret)) {
				t.Errorf("%s holds the card number on disk", strings.TrimPrefix(path, e.storeDir))
			}
		}
		return nil
	})
	if err != nil || files < 5 {
		t.Errorf("scanned %d files of the store (%v); the scan proves nothing", files, err)
	}
}

func TestUnknownCardholderIsAckedAndCounted(t *testing.T) {
	e := newEnv(t)
	r := e.start()
	e.publish("acme", testCardToken, event(t, map[string]any{"cardholder_id": "ch_not_signed_up"}))
	eventually(t, "the event handled", func() bool { return len(r.seen()) == 1 })
	if r.seen()[0] != subscribers.OutcomeUnknownCardholder {
		t.Errorf("outcome %q, want unknown_cardholder", r.seen()[0])
	}
	if n := len(e.streamMsgs(subscribers.StreamDLQ)); n != 0 {
		t.Errorf("an unknown cardholder made %d DLQ entries", n)
	}
	res, err := http.Get(r.app.httpURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(body), `cardwatch_transactions_total{outcome="unknown_cardholder"} 1`) {
		t.Errorf("metrics do not count the unknown cardholder:\n%s", body)
	}
}

func TestRulesReloadKeepsLastGoodFile(t *testing.T) {
	e := newEnv(t)
	r := e.start()
	small := func(id string) []byte {
		return event(t, map[string]any{"id": id, "billing_amount": nil,
			"amount":   map[string]any{"value": "300.00", "currency": "USD"},
			"merchant": map[string]any{"id": "M-1001", "name": "CORNER GROCERY", "country": "US"},
			"terminal": map[string]any{"country": "US", "entry_mode": "chip"}})
	}
	// $300 is over Ana's $200: an alert.
	e.publish("acme", testCardToken, small("r-1"))
	eventually(t, "r-1", func() bool { return len(r.seen()) == 1 })

	// A bad file is refused and the rules in force stay.
	if err := os.WriteFile(e.rules, []byte(strings.Replace(testRules, `"+15551230001"`, `"+1555"`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the bad file refused in the log", func() bool {
		return strings.Contains(e.logs.String(), "keeping the rules in force")
	})
	if strings.Contains(e.logs.String(), "+1555") {
		t.Error("the log repeats the phone number of the bad file")
	}
	e.publish("acme", testCardToken, small("r-2"))
	eventually(t, "r-2", func() bool { return len(r.seen()) == 2 })

	// A good file raising Ana's limit to $400 applies at once.
	if err := os.WriteFile(e.rules, []byte(strings.Replace(testRules, "amount_over: 200.00", "amount_over: 400.00", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the new rules applied", func() bool { return strings.Contains(e.logs.String(), "rules reloaded") })
	e.publish("acme", testCardToken, small("r-3"))
	eventually(t, "r-3", func() bool { return len(r.seen()) == 3 })
	want := []string{subscribers.OutcomeAlert, subscribers.OutcomeAlert, subscribers.OutcomeNoAlert}
	if strings.Join(r.seen(), ",") != strings.Join(want, ",") {
		t.Errorf("outcomes %v, want %v", r.seen(), want)
	}
}

func TestOneCardsTransactionsAreHandledInOrder(t *testing.T) {
	e := newEnv(t)
	r := e.start()
	// Pairs of transactions at a new merchant: in order, the first of each pair alerts
	// (unknown merchant) and the second does not (the first made it known); out of
	// order, the second would alert instead. Other cards' traffic keeps every worker busy.
	const pairs = 40
	for i := range pairs {
		m := map[string]any{"id": fmt.Sprintf("M-%d", i), "name": "SHOP", "country": "US"}
		for j := range 2 {
			e.publish("acme", testCardToken, event(t, map[string]any{"id": fmt.Sprintf("o-%d-%d", i, j), "billing_amount": nil,
				"amount": map[string]any{"value": "10.00", "currency": "USD"}, "merchant": m,
				"terminal": map[string]any{"country": "US", "entry_mode": "chip"}}))
		}
		other := fmt.Sprintf("tok_other_%d", i%7)
		e.publish("acme", other, event(t, map[string]any{"id": fmt.Sprintf("x-%d", i), "cardholder_id": "ch_9", "card": map[string]any{"token": other}}))
	}
	eventually(t, "every transaction handled", func() bool { return len(r.seen()) == 3*pairs })
	// In order, it is the first of each pair that alerts.
	var wrong []string
	alerts := e.streamMsgs(subscribers.StreamAlerts)
	for _, m := range alerts {
		var a rules.Alert
		if err := json.Unmarshal(m.Data, &a); err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(a.TxnID, "-0") {
			wrong = append(wrong, a.TxnID)
		}
	}
	if len(alerts) != pairs || len(wrong) > 0 {
		t.Errorf("%d alerts, want %d; alerts on the second of a pair (reordered): %v", len(alerts), pairs, wrong)
	}
}

// testChannelRoutes mounts the real Twilio and Slack callback handlers with the test's
// secrets, as channelRoutes does from the settings.
func testChannelRoutes(publicURL string) func(*http.ServeMux, routeDeps) error {
	return func(mux *http.ServeMux, d routeDeps) error {
		cfg := twilio.InboundConfig{AuthToken: testAuthToken, PublicURL: publicURL, Answers: d.answers, Log: d.log}
		in, err := twilio.NewInbound(cfg)
		if err != nil {
			return err
		}
		st, err := twilio.NewStatus(cfg)
		if err != nil {
			return err
		}
		sl, err := slack.NewInteractions(slack.InteractionsConfig{SigningSecret: testSlackSecret, Answers: d.answers,
			Cardholder: d.cardholder, Log: d.log})
		if err != nil {
			return err
		}
		d.mount(mux, map[string]http.Handler{"POST " + twilio.InboundPath: in,
			"POST " + twilio.StatusPath: st, "POST " + slack.InteractionsPath: sl})
		return nil
	}
}

func TestProviderErrorsThenSuccessDeliverOnce(t *testing.T) {
	e := newEnv(t)
	e.twilio.mu.Lock()
	e.twilio.failFirst = 3
	e.twilio.mu.Unlock()
	e.start()
	e.publish("acme", testCardToken, []byte(exampleEvent))
	eventually(t, "the SMS after three 500s", func() bool { return len(e.twilio.messages()) == 1 })
	eventually(t, "the sms sent event", func() bool {
		for _, m := range e.streamMsgs(subscribers.StreamDeliveries) {
			if strings.Contains(string(m.Data), `"channel":"sms","status":"sent"`) {
				return true
			}
		}
		return false
	})
	retrying := 0
	for _, m := range e.streamMsgs(subscribers.StreamDeliveries) {
		if strings.Contains(string(m.Data), `"channel":"sms","status":"retrying"`) {
			retrying++
		}
	}
	if retrying != 3 || len(e.twilio.messages()) != 1 || len(e.slack.messages()) != 1 {
		t.Errorf("%d retrying events (want 3), %d SMS, %d Slack messages (want 1 each)", retrying, len(e.twilio.messages()), len(e.slack.messages()))
	}
}

func TestUndeliverableAlertGoesToTheDLQ(t *testing.T) {
	e := newEnv(t)
	e.slack.mu.Lock()
	e.slack.refuse = "channel_not_found"
	e.slack.mu.Unlock()
	// Clara has Slack only.
	rules := testRules + `  - id: ch_2001
    bank: acme
    notify:
      slack: "C0123ABCDEF"
`
	if err := os.WriteFile(e.rules, []byte(rules), 0o600); err != nil {
		t.Fatal(err)
	}
	e.start()
	e.publish("acme", testCardToken, event(t, map[string]any{"cardholder_id": "ch_2001"}))
	eventually(t, "the DLQ entry", func() bool { return len(e.streamMsgs(subscribers.StreamDLQ)) == 1 })
	var dl subscribers.DeadLetter
	m := e.streamMsgs(subscribers.StreamDLQ)[0]
	if err := json.Unmarshal(m.Data, &dl); err != nil {
		t.Fatal(err)
	}
	if m.Subject != "cardwatch.dlq.acme" || dl.Kind != "undelivered" || !strings.Contains(dl.Reason, "channel_not_found") {
		t.Errorf("DLQ entry on %s: %+v", m.Subject, dl)
	}
	failed := false
	for _, m := range e.streamMsgs(subscribers.StreamDeliveries) {
		failed = failed || strings.Contains(string(m.Data), `"channel":"slack","status":"failed"`)
	}
	if !failed {
		t.Error("no failed delivery event")
	}
}

func TestPermanentFailureOnOneChannelStillReachesTheOther(t *testing.T) {
	e := newEnv(t)
	e.slack.mu.Lock()
	e.slack.refuse = "channel_not_found"
	e.slack.mu.Unlock()
	e.start()
	e.publish("acme", testCardToken, []byte(exampleEvent))
	eventually(t, "the SMS", func() bool { return len(e.twilio.messages()) == 1 })
	eventually(t, "two delivery events", func() bool { return len(e.streamMsgs(subscribers.StreamDeliveries)) >= 2 })
	if n := len(e.streamMsgs(subscribers.StreamDLQ)); n != 0 {
		t.Errorf("%d DLQ entries; the SMS went out, so the alert was delivered", n)
	}
}

func TestHungProviderHoldsBackNothingElse(t *testing.T) {
	e := newEnv(t)
	release := make(chan struct{})
	e.twilio.mu.Lock()
	e.twilio.hang = release
	e.twilio.mu.Unlock()
	e.start()
	t.Cleanup(func() { close(release) }) // after start's, so it runs before cardwatch stops
	for i := range 3 {
		e.publish("acme", testCardToken, event(t, map[string]any{"id": fmt.Sprintf("h-%d", i)}))
	}
	// Twilio answers nothing for 10 s per message; Slack must not wait for it.
	deadline := time.Now().Add(5 * time.Second)
	for len(e.slack.messages()) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("%d of 3 Slack messages while Twilio hangs", len(e.slack.messages()))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestProviderOutageHoldsBackNothingElse: with Twilio down, alerts waiting to retry their
// SMS must not take every place in the delivery queue, or the Slack messages of the
// alerts behind them would wait for Twilio too.
func TestProviderOutageHoldsBackNothingElse(t *testing.T) {
	t.Setenv("CARDWATCH_DELIVERY_WORKERS", "2")
	e := newEnv(t)
	e.twilio.mu.Lock()
	e.twilio.failFirst = 1 << 30 // down for the whole test
	e.twilio.mu.Unlock()
	e.start()
	const total = 12 // many more than the 2 workers and what they hold
	for i := range total {
		e.publish("acme", testCardToken, event(t, map[string]any{"id": fmt.Sprintf("o-%02d", i)}))
	}
	// One Slack channel takes about a message a second (burst 3), so all twelve take
	// some 10 s; before the fix, the Slack messages stopped at 4 for good.
	deadline := time.Now().Add(40 * time.Second)
	for len(e.slack.messages()) < total {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d Slack messages while Twilio is down", len(e.slack.messages()), total)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// restartNATS stops the NATS server, runs during while it is down, and starts it again
// on the same address and store, as an operator's restart or a network cut would look.
func (e *env) restartNATS(during func()) {
	e.t.Helper()
	u, _ := url.Parse(e.url)
	e.server.Shutdown()
	e.server.WaitForShutdown()
	during()
	ns, err := subscribers.StartEmbedded(subscribers.EmbeddedConfig{Addr: u.Host, DataDir: e.storeDir})
	if err != nil {
		e.t.Fatal(err)
	}
	e.server = ns
}

func TestNATSOutageLosesNothing(t *testing.T) {
	e := newEnv(t)
	r := e.start()
	const total = 40
	send := func(from, to int) {
		for i := from; i < to; i++ {
			e.publish("acme", testCardToken, event(t, map[string]any{"id": fmt.Sprintf("n-%02d", i)}))
		}
	}
	send(0, total/2)
	eventually(t, "some SMS before the outage", func() bool { return len(e.twilio.messages()) >= 5 })
	readyz := func() int {
		res, err := http.Get(r.app.httpURL + "/readyz")
		if err != nil {
			return 0
		}
		res.Body.Close()
		return res.StatusCode
	}
	e.restartNATS(func() {
		eventually(t, "not ready while NATS is down", func() bool { return readyz() == http.StatusServiceUnavailable })
		time.Sleep(2 * time.Second) // the rest of the outage, which is what is under test
	})
	eventually(t, "ready again", func() bool { return readyz() == http.StatusOK })
	send(total/2, total)
	eventually(t, "every SMS", func() bool { return len(e.twilio.messages()) >= total })
	seen := map[string]bool{}
	for _, m := range e.twilio.messages() {
		seen[m.Get("Body")] = true
	}
	t.Logf("NATS down 3 s mid-stream: %d of %d alerts sent by SMS, %d messages", len(seen), total, len(e.twilio.messages()))
	if len(seen) != total {
		t.Errorf("%d distinct SMS of %d", len(seen), total)
	}
}

// TestBacklogAfterProviderRecovery measures how long after Twilio comes back the alerts
// that piled up during its outage are all delivered. It reports the figure; the
// functional check is that every one is delivered, once.
func TestBacklogAfterProviderRecovery(t *testing.T) {
	e := newEnv(t)
	const outage, total = 5 * time.Second, 50
	recovery := time.Now().Add(outage)
	e.twilio.mu.Lock()
	e.twilio.failUntil = recovery
	e.twilio.mu.Unlock()
	e.start()
	for i := range total {
		e.publish("acme", testCardToken, event(t, map[string]any{"id": fmt.Sprintf("b-%02d", i)}))
	}
	deadline := time.Now().Add(outage + 60*time.Second)
	for len(e.twilio.messages()) < total && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	done := time.Now()
	if n := len(e.twilio.messages()); n != total {
		t.Fatalf("%d of %d SMS after the outage", n, total)
	}
	t.Logf("Twilio down %s with %d alerts waiting: all delivered %.1f s after it recovered", outage, total, done.Sub(recovery).Seconds())
}
