package main

import (
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/cardwatch/cardwatch/subscribers"
)

// TestAnyBytesBecomeADecisionOrADLQEntry pushes random and malformed bytes at cardwatch:
// it must not crash, and every message must come out as a decision or a DLQ entry.
func TestAnyBytesBecomeADecisionOrADLQEntry(t *testing.T) {
	e := newEnv(t)
	r := e.start()
	rnd := rand.New(rand.NewPCG(1, 2))
	good := []byte(exampleEvent)
	const n = 300
	for i := range n {
		var b []byte
		switch i % 3 {
		case 0: // random bytes
			b = make([]byte, rnd.IntN(300))
			for j := range b {
				b[j] = byte(rnd.UintN(256))
			}
		case 1: // the example with bytes flipped
			b = append([]byte(nil), good...)
			for range 1 + rnd.IntN(5) {
				b[rnd.IntN(len(b))] = byte(rnd.UintN(256))
			}
		default: // the example cut short
			b = good[:rnd.IntN(len(good))]
		}
		e.publish("acme", testCardToken, b)
	}
	eventually(t, "every message handled", func() bool { return len(r.seen()) == n })
	dlq := count(r.seen(), subscribers.OutcomeDLQ)
	if got := len(e.streamMsgs(subscribers.StreamDLQ)); got != dlq {
		t.Errorf("%d DLQ outcomes but %d DLQ entries", dlq, got)
	}
	if errs := count(r.seen(), subscribers.OutcomeError); errs != 0 {
		t.Errorf("%d messages failed to be handled", errs)
	}
	t.Logf("%d messages: %d to the DLQ, the rest decided (%d alerts)", n, dlq, count(r.seen(), subscribers.OutcomeAlert))
}

func TestCardNumberInAHeaderIsRefused(t *testing.T) {
	e := newEnv(t)
	r := e.start()
	msg := nats.NewMsg("cardwatch.txn.acme." + testCardToken)
	msg.Data = []byte(exampleEvent)
	msg.Header.Set("X-Debug-Card", testPAN)
	if _, err := e.js.PublishMsg(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the event handled", func() bool { return len(r.seen()) == 1 })
	if r.seen()[0] != subscribers.OutcomeDLQ {
		t.Fatalf("outcome %q, want dlq", r.seen()[0])
	}
	for _, name := range []string{subscribers.StreamDLQ, subscribers.StreamAlerts} {
		for _, m := range e.streamMsgs(name) {
			if strings.Contains(string(m.Data), testPAN) {
				t.Errorf("%s holds the card number", name)
			}
		}
	}
}

func TestSettingsPrintSecretsAsSecret(t *testing.T) {
	cfg, err := loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	cfg.SigningKey = Secret(strings.Repeat("z", 40))
	cfg.NatsURL = "nats://user:hunter2@127.0.0.1:4222"
	var b strings.Builder
	slog.New(slog.NewTextHandler(&b, nil)).Info("settings", "settings", cfg)
	out := b.String() + " " + cfg.SigningKey.String()
	for _, secret := range []string{string(cfg.SigningKey), "hunter2"} {
		if strings.Contains(out, secret) {
			t.Errorf("settings print a secret: %s", out)
		}
	}
	if !strings.Contains(out, "<secret>") {
		t.Errorf("no <secret> in %s", out)
	}
}

func TestMetricsShowLagAndLatency(t *testing.T) {
	e := newEnv(t)
	r := e.start()
	e.publish("acme", testCardToken, []byte(exampleEvent))
	eventually(t, "the SMS", func() bool { return len(e.twilio.messages()) == 1 })
	eventually(t, "the metrics", func() bool {
		res, err := http.Get(r.app.httpURL + "/metrics")
		if err != nil {
			return false
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		s := string(body)
		return strings.Contains(s, `cardwatch_alert_to_sent_seconds_count{channel="sms"} 1`) &&
			strings.Contains(s, `cardwatch_consumer_pending{consumer="cardwatch_txn_16_0"}`) &&
			strings.Contains(s, `cardwatch_txn_to_alert_seconds_count 1`) &&
			strings.Contains(s, `cardwatch_alerts_total{rule="foreign_terminal"} 1`) &&
			strings.Contains(s, `cardwatch_partitions_owned 16`) &&
			strings.Contains(s, `cardwatch_fleet_members 1`)
	})
}
