package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cardwatch/cardwatch/subscribers"
)

// benchInstance is what one instance of the bench's fleet did in the drain.
type benchInstance struct {
	Handled    int64 `json:"handled"`
	Partitions int   `json:"partitions_at_end"`
}

// benchFleet is the cardwatch instances that drain the backlog together. Each has its
// own NATS connection and its own place in the fleet, as separate processes would, so
// they share the partitions the way a deployed fleet does; only the CPU is the bench
// process's.
type benchFleet struct {
	apps    []*app
	stops   []func()
	handled []atomic.Int64
	alerts  atomic.Int64
	// ready is when the first instance was ready: the drain's clock starts there, as
	// the fleet's work does.
	ready time.Time
}

// startBenchFleet starts n instances at once and returns when all are ready.
func startBenchFleet(ctx context.Context, n int, opts benchApp) (*benchFleet, error) {
	if opts.key == "" {
		key := make([]byte, 32)
		_, _ = rand.Read(key)
		opts.key = Secret(hex.EncodeToString(key))
	}
	f := &benchFleet{apps: make([]*app, n), stops: make([]func(), n), handled: make([]atomic.Int64, n)}
	var mu sync.Mutex
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			a, stop, err := startBenchApp(ctx, opts, func(_ string, outcome string) {
				f.handled[i].Add(1)
				if outcome == subscribers.OutcomeAlert {
					f.alerts.Add(1)
				}
			})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs[i] = fmt.Errorf("instance %d: %w", i+1, err)
				return
			}
			if f.ready.IsZero() {
				f.ready = time.Now()
			}
			f.apps[i], f.stops[i] = a, stop
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		f.stop()
		return nil, err
	}
	return f, nil
}

// total is the transactions handled by all instances, a transaction handled again
// after a handover counted again.
func (f *benchFleet) total() int64 {
	var n int64
	for i := range f.handled {
		n += f.handled[i].Load()
	}
	return n
}

// stop stops every instance, all at once.
func (f *benchFleet) stop() {
	var wg sync.WaitGroup
	for _, s := range f.stops {
		if s != nil {
			wg.Go(s)
		}
	}
	wg.Wait()
}

// claimWatch follows the claims in the fleet bucket: who holds each partition, and
// when the last claim was stored. The fleet has settled once claims stop changing.
type claimWatch struct {
	w      jetstream.KeyWatcher
	mu     sync.Mutex
	owners map[string]string // claim key → member id
	last   time.Time
}

// watchClaims starts following the fleet bucket's claims; the bucket's history comes
// first, with the times the claims were stored, so a late start misses nothing.
func watchClaims(ctx context.Context, js jetstream.JetStream) (*claimWatch, error) {
	kv, err := js.KeyValue(ctx, subscribers.BucketFleet)
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", subscribers.BucketFleet, err)
	}
	w, err := kv.Watch(ctx, "claim.>", jetstream.IncludeHistory())
	if err != nil {
		return nil, fmt.Errorf("watch bucket %s: %w", subscribers.BucketFleet, err)
	}
	c := &claimWatch{w: w, owners: map[string]string{}}
	go func() {
		for e := range w.Updates() {
			if e == nil {
				continue
			}
			var v struct {
				Owner string `json:"owner"`
			}
			_ = json.Unmarshal(e.Value(), &v)
			c.mu.Lock()
			c.owners[e.Key()] = v.Owner
			if v.Owner != "" && e.Created().After(c.last) {
				c.last = e.Created()
			}
			c.mu.Unlock()
		}
	}()
	return c, nil
}

// state is the partitions each member holds, and when the last claim was stored.
func (c *claimWatch) state() (held map[string]int, last time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	held = map[string]int{}
	for _, owner := range c.owners {
		if owner != "" {
			held[owner]++
		}
	}
	return held, c.last
}

func (c *claimWatch) stop() { _ = c.w.Stop() }

// countSample is the transactions handled by some time.
type countSample struct {
	at time.Time
	n  int64
}

// countAt is the count last sampled at or before t.
func countAt(samples []countSample, t time.Time) int64 {
	i := sort.Search(len(samples), func(i int) bool { return samples[i].at.After(t) })
	if i == 0 {
		return 0
	}
	return samples[i-1].n
}

// waitDrained waits until every partition's consumer has nothing left to deliver and
// nothing unacknowledged: a count of transactions handled reaches the backlog's size
// early when a handover had some handled twice.
func waitDrained(ctx context.Context, js jetstream.JetStream, stream string, consumers []string) error {
	deadline := time.Now().Add(time.Minute)
	for {
		var left []string
		for _, name := range consumers {
			c, err := js.Consumer(ctx, stream, name)
			if err != nil {
				left = append(left, fmt.Sprintf("%s: %v", name, err))
				continue
			}
			info := c.CachedInfo()
			if info.NumPending > 0 || info.NumAckPending > 0 {
				left = append(left, fmt.Sprintf("%s: %d pending, %d unacknowledged", name, info.NumPending, info.NumAckPending))
			}
		}
		if len(left) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the backlog was not drained a minute after the count reached it: %v", left)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// fleetFigures adds the fleet's figures to res: none for one instance on unreplicated
// streams, the bench's default, whose output stays as it was.
func fleetFigures(res *benchResult, f *benchFleet, claims *claimWatch, samples []countSample, start, end time.Time, instances, replicas int) {
	if instances == 1 && replicas == 1 {
		return
	}
	res.Instances, res.Replicas = instances, replicas
	held, last := claims.state()
	total := f.total()
	res.HandledTwice = total - int64(res.Transactions)
	for i, a := range f.apps {
		res.PerInstance = append(res.PerInstance, benchInstance{Handled: f.handled[i].Load(), Partitions: held[a.member]})
	}
	if last.Before(start) {
		last = start
	}
	res.SettledAfterMs = float64(last.Sub(start).Microseconds()) / 1000
	if end.After(last) {
		// Transactions left when the fleet settled, over the time it took to finish them.
		res.SettledPerSec = float64(int64(res.Transactions)-min(countAt(samples, last), int64(res.Transactions))) / end.Sub(last).Seconds()
	}
}

// printFleet prints the fleet's figures, when there are any.
func printFleet(w io.Writer, res benchResult) {
	if res.Instances == 0 {
		return
	}
	fmt.Fprintf(w, "%-34s %12s\n", "fleet", fmt.Sprintf("%d × R%d", res.Instances, res.Replicas))
	fmt.Fprintf(w, "%-34s %12.2f\n", "last partition claimed after, s", res.SettledAfterMs/1000)
	if res.SettledPerSec > 0 {
		fmt.Fprintf(w, "%-34s %12.0f\n", "cardwatch from then on, per second", res.SettledPerSec)
	}
	fmt.Fprintf(w, "%-34s %12d\n", "handled twice (handovers)", res.HandledTwice)
	for i, in := range res.PerInstance {
		fmt.Fprintf(w, "%-34s %12s\n", fmt.Sprintf("instance %d: handled, partitions", i+1), fmt.Sprintf("%d, %d", in.Handled, in.Partitions))
	}
}
