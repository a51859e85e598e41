package subscribers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// TestPartitionCountChangeKeepsEachCardInOrder changes the partition count twice, with
// transactions stored before and after each change: from 4 to 8 before any instance
// runs, then from 8 to 16 under two running instances. Every transaction raises its
// alert once, each card's alerts are on the feed in the order of its transactions
// (those stored under the older count first), the older partitions' consumers are gone
// once emptied, and nobody restarted.
func TestPartitionCountChangeKeepsEachCardInOrder(t *testing.T) {
	ns, err := StartEmbedded(EmbeddedConfig{Addr: "127.0.0.1:0", DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	ctx := context.Background()
	subj := Subjects{Prefix: "cardwatch"}
	_, js := connectJS(t, ns.ClientURL())
	if err := EnsureStreams(ctx, js, subj, StoreConfig{Retention: time.Hour, Partitions: 4}); err != nil {
		t.Fatal(err)
	}
	const cards, batch = 24, 10
	next := 0
	// publish stores the next batch of transactions of every card.
	publish := func() {
		for range batch {
			for c := range cards {
				txn := fmt.Sprintf(`{"id":"t-%02d-%03d","cardholder_id":"ch_1","card":{"token":"tok_%02d","last4":"4821"},
 "amount":{"value":"900.00","currency":"USD"},"merchant":{"id":"M-1","name":"SHOP"},
 "terminal":{"country":"US"},"status":"approved","occurred_at":"2026-11-24T18:22:05Z"}`, c, next, c)
				if _, err := js.Publish(ctx, fmt.Sprintf("cardwatch.txn.acme.tok_%02d", c), []byte(txn)); err != nil {
					t.Fatal(err)
				}
			}
			next++
		}
	}
	setPartitions := func(from, to int) {
		t.Helper()
		if was, err := SetPartitions(ctx, js, subj, to); err != nil || was != from {
			t.Fatalf("SetPartitions(%d): from %d, %v; want from %d", to, was, err, from)
		}
	}
	s, err := js.Stream(ctx, StreamTxn)
	if err != nil {
		t.Fatal(err)
	}
	consumersAre := func(p int) func() bool {
		return func() bool {
			var names []string
			for n := range s.ConsumerNames(ctx).Name() {
				names = append(names, n)
			}
			slices.Sort(names)
			var want []string
			for _, src := range (Partitioning{Subjects: subj, Partitions: p}).sources() {
				want = append(want, src.Durable)
			}
			slices.Sort(want)
			return slices.Equal(names, want)
		}
	}

	// A backlog under 4 partitions, the change, and more under 8, before anyone runs.
	publish()
	setPartitions(4, 8)
	publish()

	for range 2 {
		_, ijs := connectJS(t, ns.ClientURL())
		p := newPipelineOn(t, ijs, pipelineRules)
		p.Workers, p.MaxAckPending = 4, 64
		p.Fleet, err = OpenFleet(ctx, ijs, StoreConfig{}, NewMetrics(prometheus.NewRegistry()), slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- p.Run(runCtx) }()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("pipeline: %v", err)
			}
		})
	}
	waitAlerts(t, js, 2*cards*batch, 20*time.Second)
	eventuallyTrue(t, "the 4 partitions' consumers removed", 10*time.Second, consumersAre(8))

	// Under running instances: more under 8, the change, more under 16.
	publish()
	setPartitions(8, 16)
	// The older consumers are there until the instances have emptied them.
	if _, err := SetPartitions(ctx, js, subj, 32); !errors.Is(err, ErrStillDraining) {
		t.Fatalf("a second change while the first drains: %v, want ErrStillDraining", err)
	}
	publish()
	waitAlerts(t, js, 4*cards*batch, 20*time.Second)
	eventuallyTrue(t, "the 8 partitions' consumers removed", 10*time.Second, consumersAre(16))
	perCard := next

	// Back to a count whose transactions the stream still holds: refused, as its new
	// consumers would take them again, after newer ones.
	if _, err := SetPartitions(ctx, js, subj, 8); err == nil || !strings.Contains(err.Error(), "still holds transactions stored under 8") {
		t.Errorf("back to 8 partitions with their transactions still stored: %v, want a refusal", err)
	}
	// While another change holds the lock: refused.
	unlock, err := lockPartitionChange(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := SetPartitions(ctx, js, subj, 32); err == nil || !strings.Contains(err.Error(), "under way") {
		t.Errorf("a change while another holds the lock: %v, want a refusal", err)
	}
	unlock()
	if was, err := SetPartitions(ctx, js, subj, 32); err != nil || was != 16 {
		t.Errorf("a change once the lock is given back: from %d, %v", was, err)
	}

	byCard := map[string][]string{}
	for _, m := range feedAlerts(t, js) {
		var a struct {
			TxnID string `json:"txn_id"`
		}
		if err := json.Unmarshal(m.Data, &a); err != nil {
			t.Fatal(err)
		}
		card := a.TxnID[len("t-") : len("t-")+2]
		byCard[card] = append(byCard[card], a.TxnID)
	}
	if len(byCard) != cards {
		t.Fatalf("alerts for %d cards, want %d", len(byCard), cards)
	}
	for card, ids := range byCard {
		if len(ids) != perCard {
			t.Errorf("card %s: %d alerts, want %d", card, len(ids), perCard)
		}
		if !slices.IsSorted(ids) {
			t.Errorf("card %s: alerts out of the order of its transactions: %v", card, ids)
		}
	}
}

// waitAlerts waits until the feed holds at least n alerts, and fails loudly when d runs out.
func waitAlerts(t *testing.T, js jetstream.JetStream, n uint64, d time.Duration) {
	t.Helper()
	eventuallyTrue(t, fmt.Sprintf("%d alerts on the feed", n), d, func() bool { return alertsOnFeed(t, js) >= n })
}

// eventuallyTrue polls cond until it holds, and fails the test when d runs out.
func eventuallyTrue(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
