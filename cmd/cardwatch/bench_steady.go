package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime/metrics"
	"slices"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cardwatch/cardwatch/subscribers"
)

// benchSteady is the steady mode of the load command: cardwatch runs, transactions come
// at a fixed rate, and the latency of each alert is read from the streams' own
// timestamps (the transaction stored, its alert stored).
func benchSteady(ctx context.Context, stdout, stderr io.Writer, js jetstream.JetStream, opts benchApp,
	rate float64, duration time.Duration, holders int, shares [3]float64, floor []time.Duration, jsonOut string, measured func()) int {
	fail := func(err error) int { fmt.Fprintf(stderr, "cardwatch bench: %v\n", err); return 1 }
	var handled atomic.Int64
	_, stop, err := startBenchApp(ctx, opts, func(string, string) { handled.Add(1) })
	if err != nil {
		return fail(err)
	}
	defer stop()

	subj := subscribers.Subjects{Prefix: "cardwatch"}
	g := &txnGen{rnd: rand.New(rand.NewPCG(3, 5)), holders: holders, newShare: shares[0], foreign: shares[1], over: shares[2]}
	total := int(rate * duration.Seconds())
	fmt.Fprintf(stdout, "steady: %.0f transactions a second for %s (%d), %d cardholders\n", rate, duration, total, holders)
	cpu0 := cpuSeconds()
	start := time.Now()
	lastReport := start
	every := time.Second
	if duration > time.Minute {
		every = 10 * time.Second
	}
	var warm memSample // taken a tenth of the way in, once every part has warmed up
	err = publishPaced(js, g, subj, rate, total, func(sent int) {
		if warm.at == 0 && time.Since(start) >= duration/10 {
			warm = sampleMemory(sent)
		}
		if time.Since(lastReport) >= every {
			m := sampleMemory(sent)
			fmt.Fprintf(stdout, "  published %d, handled %d, live heap %.0f MiB, RSS %.0f MiB\n", sent, handled.Load(), m.heapMiB, m.rssMiB)
			lastReport = time.Now()
		}
	})
	if err != nil {
		return fail(err)
	}
	behind := int64(total) - handled.Load()
	endWait := time.Now()
	for handled.Load() < int64(total) && time.Since(endWait) < time.Minute {
		time.Sleep(5 * time.Millisecond)
	}
	res := benchResult{Transactions: total, Cardholders: holders, Rate: rate,
		CPUPer1k: (cpuSeconds() - cpu0) / float64(total) * 1000, PeakRSSMiB: peakRSSMiB(),
		BehindMs: float64(time.Since(endWait).Milliseconds())}
	// Kept up: at the end of publishing, no more than a tenth of a second's worth was
	// still waiting.
	res.KeptUp = float64(behind) <= rate/10
	end := sampleMemory(total)
	res.HeapWarmMiB, res.HeapEndMiB, res.RSSWarmMiB, res.RSSEndMiB = warm.heapMiB, end.heapMiB, warm.rssMiB, end.rssMiB
	if d := end.at - warm.at; d > 0 {
		res.HeapPerMillionMiB = (end.heapMiB - warm.heapMiB) / float64(d) * 1e6
	}
	measured() // what follows reads the streams back: no part of the profiles
	lat, err := alertLatencies(ctx, js, subscribers.StreamTxn, subscribers.StreamAlerts)
	if err != nil {
		return fail(err)
	}
	stop()
	if q := quantiles(lat); q != nil {
		res.P50ms, res.P90ms, res.P99ms, res.MaxMs = q[0], q[1], q[2], q[3]
		res.Alerts = int64(len(lat))
	}
	res.Floor = quantiles(floor)
	fmt.Fprintf(stdout, "\n%-38s %10s\n", fmt.Sprintf("steady %.0f/s for %s", rate, duration), "")
	fmt.Fprintf(stdout, "%-38s %10d\n", "alerts", res.Alerts)
	fmt.Fprintf(stdout, "%-38s %10.2f\n", "transaction to alert p50, ms", res.P50ms)
	fmt.Fprintf(stdout, "%-38s %10.2f\n", "p90, ms", res.P90ms)
	fmt.Fprintf(stdout, "%-38s %10.2f\n", "p99, ms", res.P99ms)
	fmt.Fprintf(stdout, "%-38s %10.2f\n", "max, ms", res.MaxMs)
	if res.Floor != nil {
		fmt.Fprintf(stdout, "%-38s %10s\n", "latency floor p50/p90/p99/max, ms",
			fmt.Sprintf("%.2f / %.2f / %.2f / %.2f", res.Floor[0], res.Floor[1], res.Floor[2], res.Floor[3]))
	}
	fmt.Fprintf(stdout, "%-38s %10v\n", "kept up", res.KeptUp)
	fmt.Fprintf(stdout, "%-38s %10.0f\n", "caught up after publishing ended, ms", res.BehindMs)
	fmt.Fprintf(stdout, "%-38s %10.3f\n", "CPU s per 1,000", res.CPUPer1k)
	fmt.Fprintf(stdout, "%-38s %10.0f\n", "peak RSS, MiB (process)", res.PeakRSSMiB)
	fmt.Fprintf(stdout, "%-38s %4.0f → %.0f\n", "live heap, MiB, warm → end", res.HeapWarmMiB, res.HeapEndMiB)
	fmt.Fprintf(stdout, "%-38s %4.0f → %.0f\n", "RSS, MiB, warm → end", res.RSSWarmMiB, res.RSSEndMiB)
	fmt.Fprintf(stdout, "%-38s %10.1f\n", "live heap growth, MiB per 1M transactions", res.HeapPerMillionMiB)
	fmt.Fprint(stdout, "(memory is the whole process: cardwatch, the publisher, and the embedded NATS server unless -nats)\n")
	if err := writeBenchJSON(jsonOut, res); err != nil {
		return fail(err)
	}
	return 0
}

// memSample is the process's memory after some number of transactions.
type memSample struct {
	at              int // transactions published
	heapMiB, rssMiB float64
}

// sampleMemory reads the live heap (as of the last collection: what is kept, not what
// is garbage yet) and the resident set.
func sampleMemory(at int) memSample {
	ms := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(ms)
	out := memSample{at: at}
	if ms[0].Value.Kind() == metrics.KindUint64 {
		out.heapMiB = float64(ms[0].Value.Uint64()) / (1 << 20)
	}
	if b, err := os.ReadFile("/proc/self/statm"); err == nil {
		var size, resident int64
		if _, err := fmt.Sscan(string(b), &size, &resident); err == nil {
			out.rssMiB = float64(resident*int64(os.Getpagesize())) / (1 << 20)
		}
	}
	return out
}

// quantiles returns p50, p90, p99 and max of lat in milliseconds, or nil for none.
func quantiles(lat []time.Duration) []float64 {
	if len(lat) == 0 {
		return nil
	}
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	return []float64{q(0.5), q(0.9), q(0.99), q(1)}
}

// alertLatencies reads every alert on alertStream and the transaction on txnStream it
// came from, and returns the time between the two being stored.
func alertLatencies(ctx context.Context, js jetstream.JetStream, txnStream, alertStream string) ([]time.Duration, error) {
	txns, err := js.Stream(ctx, txnStream)
	if err != nil {
		return nil, err
	}
	// The transactions' stream times, by id.
	stored := map[string]time.Time{}
	c, err := txns.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return nil, err
	}
	info, err := txns.Info(ctx)
	if err != nil {
		return nil, err
	}
	var probe struct {
		ID string `json:"id"`
	}
	it, err := c.Messages()
	if err != nil {
		return nil, err
	}
	defer it.Stop()
	for range info.State.Msgs {
		m, err := it.Next(jetstream.NextMaxWait(5 * time.Second))
		if err != nil {
			return nil, err
		}
		meta, err := m.Metadata()
		if err != nil {
			return nil, err
		}
		if json.Unmarshal(m.Data(), &probe) == nil {
			stored[probe.ID] = meta.Timestamp
		}
	}
	alerts, err := js.Stream(ctx, alertStream)
	if err != nil {
		return nil, err
	}
	ainfo, err := alerts.Info(ctx)
	if err != nil {
		return nil, err
	}
	ac, err := alerts.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return nil, err
	}
	var out []time.Duration
	var al struct {
		TxnID string `json:"txn_id"`
	}
	ait, err := ac.Messages()
	if err != nil {
		return nil, err
	}
	defer ait.Stop()
	for range ainfo.State.Msgs {
		m, err := ait.Next(jetstream.NextMaxWait(5 * time.Second))
		if err != nil {
			return nil, err
		}
		meta, err := m.Metadata()
		if err != nil {
			return nil, err
		}
		if json.Unmarshal(m.Data(), &al) == nil {
			if t, ok := stored[al.TxnID]; ok {
				out = append(out, meta.Timestamp.Sub(t))
			}
		}
	}
	return out, nil
}
