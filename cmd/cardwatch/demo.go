package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cardwatch/cardwatch/deploy"
	"github.com/cardwatch/cardwatch/notifiers"
	"github.com/cardwatch/cardwatch/notifiers/console"
	"github.com/cardwatch/cardwatch/rules"
	"github.com/cardwatch/cardwatch/subscribers"
)

// demoCmd runs cardwatch on the embedded default with the example rules, publishes
// sample transactions that show each rule firing and not firing, and keeps serving until
// Ctrl-C, so a newcomer can also publish their own.
func demoCmd(ctx context.Context, stdout, stderr io.Writer) int {
	cfg, err := loadConfig()
	log := newLogger(stderr, cfg.LogFormat)
	if err != nil {
		log.Error("bad settings", "err", err)
		return 2
	}
	book, err := demoRules(cfg.RulesFile)
	if err != nil {
		log.Error("rules file is not valid (cardwatch rules check shows the details)", "err", rules.Redact(err))
		return 2
	}
	if cfg.DataDir == "" && cfg.NatsURL == "" {
		// A fresh store each run, so every demo shows the same thing: with the store of an
		// earlier run, its merchants would be known and its alerts already sent.
		dir, err := os.MkdirTemp("", "cardwatch-demo-")
		if err != nil {
			log.Error("demo store", "err", err)
			return 1
		}
		defer os.RemoveAll(dir)
		cfg.DataDir = dir
	}
	out := &syncWriter{w: stdout}
	a := &app{cfg: cfg, log: log, book: book, ready: make(chan struct{}),
		notifiers: []notifiers.Notifier{console.New(out)}}
	d := newDemo(out, cfg.SubjectPrefix)
	a.observe = d.observed
	errc := make(chan error, 1)
	go func() { errc <- a.run(ctx) }()
	select {
	case err := <-errc:
		if err != nil {
			log.Error("cardwatch stopped", "err", err)
			return 1
		}
		return 0
	case <-a.ready:
	}
	if err := d.play(ctx, a.natsURL); err != nil {
		log.Error("demo", "err", err)
	}
	fmt.Fprintf(out, "\nOpen any report link above in a browser to answer as the cardholder would;\n"+
		"the answer goes to the bank's feed (nats --server %s sub '%s.reports.>').\n", a.natsURL, cfg.SubjectPrefix)
	fmt.Fprintf(out, "\nThe demo keeps running: publish your own transactions with the nats CLI, for example\n"+
		"  nats --server %s pub %s '%s'\n"+
		"and watch the alerts with\n  nats --server %s sub '%s.alerts.>'\nPress Ctrl-C to stop.\n",
		a.natsURL, subscribers.Subjects{Prefix: cfg.SubjectPrefix}.Txn("acme", "tok_4f9a2c"), demoOwnEvent, a.natsURL, cfg.SubjectPrefix)
	if err := <-errc; err != nil {
		log.Error("cardwatch stopped", "err", err)
		return 1
	}
	return 0
}

// demoOwnEvent is the sample event the demo suggests publishing by hand.
const demoOwnEvent = `{"id":"my-first-txn","cardholder_id":"ch_1001","card":{"token":"tok_4f9a2c","last4":"4821"},"amount":{"value":"640.00","currency":"USD"},"merchant":{"id":"M-9","name":"NIGHT OWL BAR","city":"Miami","country":"US"},"terminal":{"country":"US","entry_mode":"chip"},"occurred_at":"2026-11-24T23:50:00Z"}`

func demoRules(path string) (*rules.Book, error) {
	if path != "" {
		return rules.Load(path)
	}
	return rules.Parse("deploy/rules.example.yaml (embedded)", deploy.ExampleRules)
}

// syncWriter lets the console notifier and the demo's narration share stdout.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// sample is one transaction of the demo and what it shows.
type sample struct {
	bank, card string
	expect     string
	event      map[string]any
}

type demo struct {
	out    io.Writer
	subj   subscribers.Subjects
	waiter chan string
}

func newDemo(out io.Writer, prefix string) *demo {
	return &demo{out: out, subj: subscribers.Subjects{Prefix: prefix}, waiter: make(chan string, 16)}
}

func (d *demo) observed(_ string, outcome string) {
	select {
	case d.waiter <- outcome:
	default:
	}
}

// play publishes the samples one by one, as a bank would, and waits for each outcome so
// the narration and the alerts it causes print in order.
func (d *demo) play(ctx context.Context, url string) error {
	nc, err := nats.Connect(url, nats.Name("cardwatch-demo-bank"))
	if err != nil {
		return fmt.Errorf("demo publisher: %w", err)
	}
	defer nc.Close()
	dlq, err := nc.Subscribe(d.subj.DLQ("*"), func(m *nats.Msg) {
		var dl subscribers.DeadLetter
		if json.Unmarshal(m.Data, &dl) == nil {
			fmt.Fprintf(d.out, "   DLQ entry on %s: %s\n", m.Subject, dl.Reason)
		}
	})
	if err != nil {
		return err
	}
	defer func() { _ = dlq.Unsubscribe() }()

	fmt.Fprintf(d.out, "\ncardwatch demo: publishing sample transactions as banks acme and globex would, on %s\n", d.subj.TxnAll())
	for i, s := range demoSamples(time.Now()) {
		var data []byte
		if raw, ok := s.event["raw"].(string); ok {
			data = []byte(raw)
		} else if data, err = json.Marshal(s.event); err != nil {
			return err
		}
		fmt.Fprintf(d.out, "\n%2d. %s\n", i+1, s.expect)
		if _, err := nc.Request(d.subj.Txn(s.bank, s.card), data, 5*time.Second); err != nil {
			return fmt.Errorf("publish sample %d: %w", i+1, err)
		}
		select {
		case outcome := <-d.waiter:
			fmt.Fprintf(d.out, "   → %s\n", describeOutcome(outcome))
		case <-time.After(10 * time.Second):
			fmt.Fprint(d.out, "   → no outcome within 10s\n")
		case <-ctx.Done():
			return nil
		}
		// Let the alert's delivery print before the next sample's narration.
		time.Sleep(300 * time.Millisecond)
	}
	return nil
}

func describeOutcome(o string) string {
	switch o {
	case subscribers.OutcomeAlert:
		return "alert raised (the message below is what the cardholder gets)"
	case subscribers.OutcomeNoAlert:
		return "no alert"
	case subscribers.OutcomeDuplicate:
		return "already alerted: no second alert, no second message"
	case subscribers.OutcomeUnknownCardholder:
		return "cardholder has not signed up: acknowledged and counted, no alert"
	case subscribers.OutcomeDLQ:
		return "refused to the DLQ"
	}
	return o
}

func money(v, c string) map[string]any { return map[string]any{"value": v, "currency": c} }

func txn(id, holder, token, last4 string, amount map[string]any, merchant, terminal map[string]any, at time.Time) map[string]any {
	return map[string]any{"id": id, "cardholder_id": holder, "card": map[string]any{"token": token, "last4": last4},
		"amount": amount, "merchant": merchant, "terminal": terminal, "status": "approved", "occurred_at": at.UTC().Format(time.RFC3339)}
}

func demoSamples(now time.Time) []sample {
	run := now.Format("150405")
	id := func(n int) string { return fmt.Sprintf("demo-%s-%02d", run, n) }
	at := func(minAgo int) time.Time { return now.Add(-time.Duration(minAgo) * time.Minute) }
	const ana, anaCard, ben, benCard, clara, claraCard = "ch_1001", "tok_4f9a2c", "ch_1002", "tok_7d1e90", "ch_2001", "tok_c1a8a5"
	grocery := map[string]any{"id": "M-1001", "name": "CORNER GROCERY", "mcc": "5411", "city": "New York", "country": "US"}
	us := map[string]any{"id": "T-1", "country": "US", "entry_mode": "chip"}
	lagos := txn(id(2), ana, anaCard, "4821", money("1250.00", "EUR"),
		map[string]any{"id": "M-77812", "name": "ACME ELECTRONICS", "mcc": "5732", "city": "Lagos", "country": "NG"},
		map[string]any{"id": "T-0042", "country": "NG", "entry_mode": "chip"}, at(30))
	lagos["billing_amount"] = money("1342.10", "USD")
	coffee := map[string]any{"id": "M-2040", "name": "BLUE BOTTLE COFFEE", "mcc": "5814", "city": "Brooklyn", "country": "US"}
	toronto := txn(id(5), ana, anaCard, "4821", money("80.00", "CAD"),
		map[string]any{"id": "M-1002", "name": "MAPLE BOOKS", "city": "Toronto", "country": "CA"},
		map[string]any{"country": "CA", "entry_mode": "contactless"}, at(20))
	toronto["billing_amount"] = money("58.40", "USD")
	declined := txn(id(9), ana, anaCard, "4821", money("900.00", "USD"),
		map[string]any{"id": "M-3300", "name": "LUXE WATCHES", "city": "Cancun", "country": "MX"},
		map[string]any{"country": "MX", "entry_mode": "magstripe"}, at(12))
	declined["status"] = "declined"
	declined["billing_amount"] = money("900.00", "USD")
	pan := txn(id(12), ben, benCard, "1111", money("10.00", "USD"),
		map[string]any{"id": "M-1", "name": "CARD 4111 1111 1111 1111 SHOP"}, us, at(3))
	return []sample{
		{"acme", anaCard, "Ana: $42.50 at CORNER GROCERY, a merchant on her known list, at home. Expect no alert.",
			txn(id(1), ana, anaCard, "4821", money("42.50", "USD"), grocery, us, at(40))},
		{"acme", anaCard, "Ana: €1,250.00 ($1,342.10 on her statement) at a new merchant in Lagos. Expect one alert with all three rules.", lagos},
		{"acme", anaCard, "Ana: $35.00 at a coffee shop her card has never used. Expect unknown_merchant.",
			txn(id(3), ana, anaCard, "4821", money("35.00", "USD"), coffee, map[string]any{"country": "US", "entry_mode": "contactless"}, at(28))},
		{"acme", anaCard, "Ana: $12.00 at the same coffee shop. The card knows it now: expect no alert.",
			txn(id(4), ana, anaCard, "4821", money("12.00", "USD"), coffee, map[string]any{"country": "US", "entry_mode": "contactless"}, at(25))},
		{"acme", anaCard, "Ana: CA$80.00 in Toronto. Canada is on her allow list and the merchant is known: expect no alert.", toronto},
		{"acme", anaCard, "Ana: $250.00 at CORNER GROCERY. Over her own $200.00 limit: expect amount_over only.",
			txn(id(6), ana, anaCard, "4821", money("250.00", "USD"), grocery, us, at(18))},
		{"acme", benCard, "Ben: $480.00 at a new merchant in Chicago. Under the default $500 limit, and he turned unknown_merchant off: expect no alert.",
			txn(id(7), ben, benCard, "1234", money("480.00", "USD"), map[string]any{"id": "M-5150", "name": "WINDY CITY TOOLS", "city": "Chicago", "country": "US"}, us, at(16))},
		{"acme", benCard, "Ben: $75.00 online at a merchant in the United Kingdom. Expect foreign_terminal.",
			txn(id(8), ben, benCard, "1234", money("75.00", "USD"), map[string]any{"id": "M-8080", "name": "TEA & CO", "city": "London", "country": "GB"}, map[string]any{"entry_mode": "ecommerce"}, at(14))},
		{"acme", anaCard, "Ana: a declined $900.00 at a new merchant in Mexico (allowed). Expect an alert: over limit and new merchant, marked declined.", declined},
		{"globex", claraCard, "Clara (bank globex, home Germany, euros): €1,500.00 at a new merchant in Berlin. Expect amount_over and unknown_merchant.",
			txn(id(10), clara, claraCard, "7702", money("1500.00", "EUR"), map[string]any{"id": "M-DE-77", "name": "KAUFHAUS MITTE", "city": "Berlin", "country": "DE"}, map[string]any{"country": "DE", "entry_mode": "chip"}, at(10))},
		{"acme", "tok_000999", "A cardholder who has not signed up for alerts. Expect: acknowledged, counted, no alert.",
			txn(id(11), "ch_9999", "tok_000999", "0001", money("5000.00", "USD"), grocery, us, at(5))},
		{"acme", benCard, "An event with a full card number inside. Expect: refused to the DLQ, the number masked, stored nowhere.", pan},
		{"acme", anaCard, "The Lagos transaction again, republished by the bank. Expect no second alert.", lagos},
	}
}
