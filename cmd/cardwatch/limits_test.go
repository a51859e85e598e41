package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	dto "github.com/prometheus/client_model/go"

	"github.com/cardwatch/cardwatch/notifiers"
	"github.com/cardwatch/cardwatch/notifiers/slack"
	"github.com/cardwatch/cardwatch/notifiers/twilio"
	"github.com/cardwatch/cardwatch/rules"
	"github.com/cardwatch/cardwatch/subscribers"
)

// The fleet tests run instances' delivery sides as separate processes would have them:
// each a NATS connection, a sent-log and the fleet's Limits of its own, and the real
// Twilio and Slack notifiers, all pointed at one NATS server and one fake of each
// provider. What they assert is read from the fakes' own logs of request times.

// fleetKey is the signing key of every instance, e.start()'s too: a pause sealed under
// another key would count for nothing.
var fleetKey = strings.Repeat("s", 32)

// fleetInstance is one instance's Dispatcher; its Limits count their KV operations in
// e.limitMetrics.
func (e *env) fleetInstance(mps float64) *notifiers.Dispatcher {
	t := e.t
	t.Helper()
	ctx := context.Background()
	nc, err := nats.Connect(e.url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	seal, err := subscribers.NewSealer([]byte(fleetKey))
	if err != nil {
		t.Fatal(err)
	}
	store := subscribers.StoreConfig{Retention: time.Hour}
	sent, err := subscribers.OpenSentLog(ctx, js, store, seal)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	m := subscribers.NewMetrics(nil)
	e.limitMetrics = append(e.limitMetrics, m)
	limits, err := subscribers.OpenLimits(ctx, js, store, seal, m, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = limits.Close() })
	sms, err := twilio.New(twilio.Config{AccountSID: testSID, AuthToken: testAuthToken, From: testFrom, APIURL: e.twilio.URL, MPS: mps})
	if err != nil {
		t.Fatal(err)
	}
	sl, err := slack.New(slack.Config{BotToken: testBotToken, APIURL: e.slack.URL + "/"})
	if err != nil {
		t.Fatal(err)
	}
	return &notifiers.Dispatcher{Notifiers: []notifiers.Notifier{sms, sl}, Sent: sent, Limits: limits, Log: log,
		Record: func(context.Context, notifiers.Delivery) error { return nil }}
}

// fleetMessage is an alert of its own (by name) to a phone or a Slack channel.
func fleetMessage(name, sms, slackTo string) notifiers.Message {
	now := time.Now().UTC()
	return notifiers.Message{
		Alert: &rules.Alert{ID: rules.AlertID("acme", name), TxnID: name, Bank: "acme", CardholderID: "ch_fleet", CardLast4: "4821",
			Amount: rules.Money{Minor: 125000, Currency: "EUR"}, Merchant: rules.Merchant{ID: "M-" + name, Name: "SHOP " + name, Country: "NG"},
			Status: rules.StatusApproved, OccurredAt: now, CreatedAt: now, ReportURL: "https://cardwatch.example/r/" + name,
			Reasons: []rules.Reason{{Rule: "foreign_terminal", Detail: "the card was used in Nigeria", Summary: "abroad"}}},
		Cardholder: &rules.Cardholder{ID: "ch_fleet", Bank: "acme", Notify: rules.Notify{SMS: sms, Slack: slackTo}, Location: time.UTC},
	}
}

// deliverAll dispatches every message until it is sent, at once and concurrently, as a
// deliverer with a worker each would: a retry waits what the dispatcher asked for (the
// NakWithDelay), or a tenth of a second. It returns how many dispatches found the
// provider paused.
func deliverAll(t *testing.T, d *notifiers.Dispatcher, msgs []notifiers.Message) (paused int) {
	t.Helper()
	var mu sync.Mutex
	var wg sync.WaitGroup
	deadline := time.Now().Add(30 * time.Second)
	for _, m := range msgs {
		wg.Go(func() {
			for attempt := 1; ; attempt++ {
				err := d.Dispatch(context.Background(), m, attempt)
				if err == nil {
					return
				}
				var re *notifiers.RetryError
				if !errors.As(err, &re) {
					t.Errorf("dispatch %s: %v", m.Alert.ID, err)
					return
				}
				if strings.Contains(err.Error(), "provider paused") {
					mu.Lock()
					paused++
					mu.Unlock()
				}
				if time.Now().After(deadline) {
					t.Errorf("alert %s not sent within 30s: %v", m.Alert.ID, err)
					return
				}
				time.Sleep(max(re.Wait, 100*time.Millisecond))
			}
		})
	}
	wg.Wait()
	return paused
}

// TestProviderPauseIsTheFleets checks that a 429 one instance gets pauses the provider
// for every instance: one running, once its watch has brought it the pause, and one
// started during the pause (1.4 s into 3 s, as when a reviewer restarted an instance and
// it sent 26 SMS inside the pause). No request reaches the fake from the 429 until its
// Retry-After is over, and every message goes out after it.
func TestProviderPauseIsTheFleets(t *testing.T) {
	e := newEnv(t)
	e.twilio.mu.Lock()
	e.twilio.tooMany = 1
	e.twilio.mu.Unlock()
	a, b := e.fleetInstance(0), e.fleetInstance(0)
	if err := a.Dispatch(context.Background(), fleetMessage("first", testPhone, ""), 1); err == nil {
		t.Fatal("the fake's 429 did not come back as a retry")
	}
	e.twilio.mu.Lock()
	limited := e.twilio.log[0]
	e.twilio.mu.Unlock()
	if limited.status != http.StatusTooManyRequests {
		t.Fatalf("first request answered %d, want 429", limited.status)
	}
	end := limited.at.Add(3 * time.Second)

	msgs := func(who string, n int) []notifiers.Message {
		var out []notifiers.Message
		for i := range n {
			out = append(out, fleetMessage(fmt.Sprintf("%s-%d", who, i), testPhone, ""))
		}
		return out
	}
	// B hears of the pause through its watch on the bucket, a moment after A wrote it:
	// until then a send of B's would race A's 429 as it would without any pause.
	heard := time.Now()
	for b.Limits.PausedFor("sms", time.Now()) == 0 {
		if time.Since(heard) > 5*time.Second {
			t.Fatal("the other instance never saw the pause")
		}
		time.Sleep(time.Millisecond)
	}
	t.Logf("the other instance saw the pause %v after the 429", time.Since(limited.at).Round(100*time.Microsecond))
	var wg sync.WaitGroup
	var pausedB, pausedC int
	wg.Go(func() { pausedB = deliverAll(t, b, msgs("b", 5)) })
	wg.Go(func() {
		time.Sleep(time.Until(limited.at.Add(1400 * time.Millisecond)))
		if time.Now().After(end) {
			t.Errorf("the machine is too slow: the instance would start after the pause")
			return
		}
		c := e.fleetInstance(0)
		pausedC = deliverAll(t, c, msgs("c", 5))
	})
	wg.Go(func() { deliverAll(t, a, []notifiers.Message{fleetMessage("first", testPhone, "")}) })
	wg.Wait()

	e.twilio.mu.Lock()
	log := append([]twilioRequest(nil), e.twilio.log...)
	e.twilio.mu.Unlock()
	for _, r := range log[1:] {
		if r.at.Before(end) {
			t.Errorf("a request %v after the 429, inside its 3 s pause", r.at.Sub(limited.at).Round(time.Millisecond))
		}
	}
	if n := len(e.twilio.messages()); n != 11 {
		t.Errorf("%d SMS sent, want 11", n)
	}
	if pausedB == 0 || pausedC == 0 {
		t.Errorf("dispatches held by the pause: %d on the running instance, %d on the new one; want some on each", pausedB, pausedC)
	}
}

// rateKept fails t unless request times keep a rate of limit a second in bursts of
// burst, the semantics of notifiers.Rate: any span [ti, tj] holds at most burst +
// (tj-ti)*limit requests. slack is the request latency allowed on top of a slot.
func rateKept(t *testing.T, what string, at []time.Time, limit float64, burst int, slack time.Duration) {
	t.Helper()
	for i := range at {
		for j := i + 1; j < len(at); j++ {
			span := at[j].Sub(at[i])
			if n := j - i + 1; float64(n) > float64(burst)+(span+slack).Seconds()*limit {
				t.Errorf("%s: %d requests within %v, more than %d a second (burst %d)", what, n, span.Round(time.Millisecond), int(limit), burst)
				return
			}
		}
	}
}

// logLimitOps reports the KV operations the instances' limits made per message sent.
func logLimitOps(t *testing.T, e *env, sent int) {
	t.Helper()
	ops := map[string]float64{}
	for _, m := range e.limitMetrics {
		for _, op := range []string{"read", "write", "conflict"} {
			var v dto.Metric
			if err := m.LimitOps.WithLabelValues(op).Write(&v); err != nil {
				t.Fatal(err)
			}
			ops[op] += v.GetCounter().GetValue()
		}
	}
	t.Logf("per message sent: %.2f KV reads, %.2f writes (%.2f of them lost to another instance's)",
		ops["read"]/float64(sent), ops["write"]/float64(sent), ops["conflict"]/float64(sent))
}

// TestTwilioMPSIsTheFleets checks that CARDWATCH_TWILIO_MPS holds for three instances
// together, each sending a burst at once, and that every message is sent.
func TestTwilioMPSIsTheFleets(t *testing.T) {
	e := newEnv(t)
	const mps, instances, each = 5, 3, 6
	var wg sync.WaitGroup
	for i := range instances {
		d := e.fleetInstance(mps)
		var msgs []notifiers.Message
		for j := range each {
			msgs = append(msgs, fleetMessage(fmt.Sprintf("i%d-m%d", i, j), testPhone, ""))
		}
		wg.Go(func() { deliverAll(t, d, msgs) })
	}
	wg.Wait()
	e.twilio.mu.Lock()
	var at []time.Time
	for _, r := range e.twilio.log {
		at = append(at, r.at)
	}
	e.twilio.mu.Unlock()
	rateKept(t, "SMS", at, mps, 1, 100*time.Millisecond)
	logLimitOps(t, e, len(at))
	bodies := map[string]bool{}
	for _, m := range e.twilio.messages() {
		bodies[m.Get("Body")] = true
	}
	if len(bodies) != instances*each || len(at) != instances*each {
		t.Errorf("%d SMS sent, %d different, want %d: nothing dropped, nothing twice", len(at), len(bodies), instances*each)
	}
}

// TestSlackPaceIsTheFleets checks that Slack's pace of one message a second per channel
// (bursts of three) holds for two instances together, each channel counted apart.
func TestSlackPaceIsTheFleets(t *testing.T) {
	e := newEnv(t)
	const busy, quiet = "C0LIMBUSY", "C0LIMQUIET"
	var wg sync.WaitGroup
	for i := range 2 {
		d := e.fleetInstance(0)
		var msgs []notifiers.Message
		for j := range 4 {
			msgs = append(msgs, fleetMessage(fmt.Sprintf("i%d-busy%d", i, j), "", busy))
		}
		msgs = append(msgs, fleetMessage(fmt.Sprintf("i%d-quiet", i), "", quiet))
		wg.Go(func() { deliverAll(t, d, msgs) })
	}
	wg.Wait()
	e.slack.mu.Lock()
	per := map[string][]time.Time{}
	for i, m := range e.slack.msgs {
		per[m["channel"]] = append(per[m["channel"]], e.slack.at[i])
	}
	e.slack.mu.Unlock()
	if len(per[busy]) != 8 || len(per[quiet]) != 2 {
		t.Fatalf("sent %d to the busy channel and %d to the quiet one, want 8 and 2", len(per[busy]), len(per[quiet]))
	}
	rateKept(t, "the busy channel", per[busy], 1, 3, 100*time.Millisecond)
	logLimitOps(t, e, len(per[busy])+len(per[quiet]))
	// The busy channel's pace held nobody else up: the quiet one's two went in its burst.
	if span := per[quiet][1].Sub(per[busy][0]); span > 2*time.Second {
		t.Errorf("the quiet channel's messages went %v after the busy one's first: paced by another channel", span.Round(time.Millisecond))
	}
}

// TestInstanceStartedDuringAPauseKeepsIt runs cardwatch as serve does, started while
// another instance's 429 pause is on: the alerts it raises wait for the pause's end.
func TestInstanceStartedDuringAPauseKeepsIt(t *testing.T) {
	e := newEnv(t)
	e.twilio.mu.Lock()
	e.twilio.tooMany = 1
	e.twilio.mu.Unlock()
	other := e.fleetInstance(0)
	if err := other.Dispatch(context.Background(), fleetMessage("first", testPhone, ""), 1); err == nil {
		t.Fatal("the fake's 429 did not come back as a retry")
	}
	e.twilio.mu.Lock()
	end := e.twilio.log[0].at.Add(3 * time.Second)
	e.twilio.mu.Unlock()
	e.start()
	if time.Now().After(end) {
		t.Skip("cardwatch took longer to start than the pause lasts")
	}
	for i := range 3 {
		e.publish("acme", testCardToken, event(t, map[string]any{"id": fmt.Sprintf("pause-%d", i)}))
	}
	eventually(t, "3 SMS after the pause", func() bool { return len(e.twilio.messages()) == 3 })
	e.twilio.mu.Lock()
	defer e.twilio.mu.Unlock()
	for _, r := range e.twilio.log[1:] {
		if r.at.Before(end) {
			t.Errorf("an SMS %v before the pause's end", end.Sub(r.at).Round(time.Millisecond))
		}
	}
}
