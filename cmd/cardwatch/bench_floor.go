package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cardwatch/cardwatch/rules"
	"github.com/cardwatch/cardwatch/subscribers"
)

// The floor's own streams and bucket, apart from cardwatch's, so that cardwatch never
// sees the floor's transactions.
const (
	floorTxnStream    = "BENCH_FLOOR_TXN"
	floorAlertsStream = "BENCH_FLOOR_ALERTS"
	floorRecords      = "BENCH_FLOOR_RECORDS"
)

var floorSubjects = subscribers.Subjects{Prefix: "benchfloor"}

// floorSteady measures the latency floor JetStream itself gives on this machine for
// cardwatch's pattern of work, as the raw ceiling does for throughput: transactions
// published at the same rate in the same steps, a bare consumer that decodes and acks
// each, and for each one that alerts (known here from how the generator made it: over
// the limit, abroad or at a new merchant) the two round trips an alert needs in
// cardwatch, a key-value create and a stream publish, before the ack. It returns each
// alert's latency, stream timestamp to stream timestamp as for cardwatch.
func floorSteady(ctx context.Context, stdout io.Writer, js jetstream.JetStream, rate float64, duration time.Duration,
	holders int, shares [3]float64) ([]time.Duration, error) {
	for _, sc := range []jetstream.StreamConfig{
		{Name: floorTxnStream, Subjects: []string{floorSubjects.TxnAll()}, Storage: jetstream.FileStorage},
		{Name: floorAlertsStream, Subjects: []string{floorSubjects.Alerts("*")}, Storage: jetstream.FileStorage},
	} {
		if _, err := js.CreateStream(ctx, sc); err != nil {
			return nil, fmt.Errorf("floor stream %s: %w", sc.Name, err)
		}
	}
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: floorRecords, Storage: jetstream.FileStorage})
	if err != nil {
		return nil, fmt.Errorf("floor bucket: %w", err)
	}
	cons, err := js.CreateConsumer(ctx, floorTxnStream, jetstream.ConsumerConfig{
		Durable: "bench_floor", AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 4096})
	if err != nil {
		return nil, err
	}
	var handled atomic.Int64
	var failed atomic.Pointer[error]
	cc, err := cons.Consume(func(m jetstream.Msg) {
		bank, card, _ := floorSubjects.ParseTxn(m.Subject())
		t, err := rules.DecodeTransaction(bank, card, m.Data())
		if err != nil || !floorAlerts(t) {
			_ = m.Ack()
			handled.Add(1)
			return
		}
		// Handed over, as cardwatch hands an alerting transaction to a worker.
		go func() {
			defer handled.Add(1)
			if _, err := kv.Create(ctx, "al."+t.ID, m.Data()); err != nil {
				failed.Store(&err)
				_ = m.Term() // the run fails: not again, and not counted twice
				return
			}
			body := `{"txn_id":"` + t.ID + `"}`
			if _, err := js.Publish(ctx, floorSubjects.Alerts(bank), []byte(body), jetstream.WithMsgID(t.ID)); err != nil {
				failed.Store(&err)
				_ = m.Term()
				return
			}
			_ = m.Ack()
		}()
	})
	if err != nil {
		return nil, err
	}
	defer cc.Stop()
	g := &txnGen{rnd: rand.New(rand.NewPCG(3, 5)), holders: holders, newShare: shares[0], foreign: shares[1], over: shares[2]}
	total := int(rate * duration.Seconds())
	fmt.Fprintf(stdout, "latency floor: bare JetStream consumer, %.0f transactions a second for %s\n", rate, duration)
	if err := publishPaced(js, g, floorSubjects, rate, total, nil); err != nil {
		return nil, err
	}
	if err := progress(ctx, stdout, "latency floor", total, handled.Load); err != nil {
		return nil, err
	}
	if e := failed.Load(); e != nil {
		return nil, fmt.Errorf("latency floor: %w", *e)
	}
	return alertLatencies(ctx, js, floorTxnStream, floorAlertsStream)
}

// floorAlerts reports whether the generator made t to alert.
func floorAlerts(t *rules.Transaction) bool {
	return t.Terminal.Country != "US" || strings.HasPrefix(t.Merchant.ID, "M-new-") || t.Amount.Decimal() == "900.00"
}

// publishPaced publishes total transactions at rate a second in millisecond steps, as a
// feed of many terminals arrives (bursts would measure the bench's own queueing); after
// each step it calls step, if given, with the number sent so far.
func publishPaced(js jetstream.JetStream, g *txnGen, subj subscribers.Subjects, rate float64, total int, step func(sent int)) error {
	start := time.Now()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for sent := 0; sent < total; {
		<-tick.C
		due := min(total, int(rate*time.Since(start).Seconds()))
		for ; sent < due; sent++ {
			subject, data := g.next(subj, sent)
			if _, err := js.PublishAsync(subject, data); err != nil {
				return err
			}
		}
		if step != nil {
			step(sent)
		}
	}
	<-js.PublishAsyncComplete()
	return nil
}
