package subscribers

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cardwatch/cardwatch/notifiers"
)

// limitsFleet is a NATS server and a way to start cardwatch instances' Limits on it,
// each with a connection of its own, as separate processes would have.
type limitsFleet struct {
	t    testing.TB
	url  string
	seal *Sealer
	js   jetstream.JetStream // an outsider's connection, for writing to the bucket
}

func newLimitsFleet(t testing.TB) *limitsFleet {
	t.Helper()
	ns, err := StartEmbedded(EmbeddedConfig{Addr: "127.0.0.1:0", DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	seal, err := NewSealer([]byte("test key"))
	if err != nil {
		t.Fatal(err)
	}
	f := &limitsFleet{t: t, url: ns.ClientURL(), seal: seal}
	f.js = f.conn()
	return f
}

func (f *limitsFleet) conn() jetstream.JetStream {
	f.t.Helper()
	nc, err := nats.Connect(f.url)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		f.t.Fatal(err)
	}
	return js
}

// instance opens one instance's Limits, with metrics of its own.
func (f *limitsFleet) instance() (*Limits, *Metrics) {
	f.t.Helper()
	m := NewMetrics(prometheus.NewRegistry())
	l, err := OpenLimits(context.Background(), f.conn(), StoreConfig{}, f.seal, m, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { _ = l.Close() })
	return l, m
}

// waitPaused waits until l sees ch paused for more than least.
func waitPaused(t *testing.T, l *Limits, ch string, least time.Duration) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for l.PausedFor(ch, time.Now()) <= least {
		if time.Now().After(deadline) {
			t.Fatalf("%s never seen paused for more than %v (now %v)", ch, least, l.PausedFor(ch, time.Now()))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestLimitsPauseIsTheFleetsAndOnlyExtends(t *testing.T) {
	f := newLimitsFleet(t)
	a, _ := f.instance()
	b, _ := f.instance()
	ctx := context.Background()
	if err := a.Pause(ctx, "sms", time.Now().Add(3*time.Second)); err != nil {
		t.Fatal(err)
	}
	if got := a.PausedFor("sms", time.Now()); got < 2*time.Second {
		t.Errorf("the instance that paused: paused for %v, want about 3s", got)
	}
	waitPaused(t, b, "sms", 2*time.Second) // through the watch
	// An instance started during the pause has it before its first send.
	c, _ := f.instance()
	if got := c.PausedFor("sms", time.Now()); got < 2*time.Second {
		t.Errorf("an instance started during the pause: paused for %v, want about 3s", got)
	}
	if got := c.PausedFor("slack", time.Now()); got != 0 {
		t.Errorf("slack paused for %v: a pause is its channel's only", got)
	}
	// A shorter pause of another instance's shortens nothing, in memory or the bucket.
	if err := b.Pause(ctx, "sms", time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	d, _ := f.instance()
	for name, l := range map[string]*Limits{"a": a, "b": b, "d (started after)": d} {
		if got := l.PausedFor("sms", time.Now()); got < 2*time.Second {
			t.Errorf("%s: paused for %v after a shorter pause, want about 3s still", name, got)
		}
	}
}

// TestLimitsForgedPausesCountForNothing checks that what others write to the bucket can
// lengthen no pause past the cap and shorten none: an unsealed pause is ignored, a delete
// changes nothing in memory, and a sealed pause of a day stops the channel 15 minutes.
func TestLimitsForgedPausesCountForNothing(t *testing.T) {
	f := newLimitsFleet(t)
	var unsealed sync.Map
	f.seal.OnUnsealed = func(bucket string) { unsealed.Store(bucket, true) }
	a, m := f.instance()
	ctx := context.Background()
	kv, err := f.js.KeyValue(ctx, BucketLimits)
	if err != nil {
		t.Fatal(err)
	}
	put := func(key string, v []byte) {
		t.Helper()
		if _, err := kv.Put(ctx, key, v); err != nil {
			t.Fatal(err)
		}
	}
	sealed := func(key string, until time.Time) []byte {
		t.Helper()
		b, err := f.seal.sealJSON(BucketLimits, key, pauseValue{Until: until})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	forged, _ := json.Marshal(pauseValue{Until: time.Now().Add(time.Hour)})
	put("pause.sms", forged)
	// One started after reads the bucket before it opens.
	if b, _ := f.instance(); b.PausedFor("sms", time.Now()) != 0 {
		t.Errorf("an unsealed pause holds sms for %v", b.PausedFor("sms", time.Now()))
	}
	if _, ok := unsealed.Load(BucketLimits); !ok {
		t.Errorf("the unsealed pause was not reported")
	}
	if err := a.Pause(ctx, "slack", time.Now().Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := kv.Delete(ctx, "pause.slack"); err != nil {
		t.Fatal(err)
	}
	// A pause put after the delete, once seen, shows the delete was seen too.
	put("pause.console", sealed("pause.console", time.Now().Add(3*time.Second)))
	waitPaused(t, a, "console", time.Second)
	if got := a.PausedFor("slack", time.Now()); got < time.Second {
		t.Errorf("a deleted pause: slack paused for %v, want about 2s still", got)
	}
	// Someone with the signing key (or a clock a day ahead): cut to the most.
	put("pause.sms", sealed("pause.sms", time.Now().Add(24*time.Hour)))
	waitPaused(t, a, "sms", time.Minute)
	if got := a.PausedFor("sms", time.Now()); got > notifiers.MaxPause {
		t.Errorf("a day-long pause holds sms for %v, want %v at most", got, notifiers.MaxPause)
	}
	if got := counterValue(m.PausesCapped.WithLabelValues("sms")); got != 1 {
		t.Errorf("capped pauses counted: %v, want 1", got)
	}
}

// TestLimitsForgedSlotsOnlySlowDown checks that a rate value someone else wrote counts
// as a burst just taken: the next slot is an interval off, never at once.
func TestLimitsForgedSlotsOnlySlowDown(t *testing.T) {
	f := newLimitsFleet(t)
	a, _ := f.instance()
	ctx := context.Background()
	r := notifiers.Rate{Name: "sms_account", Key: "account", Limit: 2, Burst: 1}
	if _, ok, err := a.Reserve(ctx, r, time.Now(), time.Second); err != nil || !ok {
		t.Fatalf("first slot: ok %v, err %v", ok, err)
	}
	kv, err := f.js.KeyValue(ctx, BucketLimits)
	if err != nil {
		t.Fatal(err)
	}
	// A TAT long past would give a slot at once, if it were believed.
	past, _ := json.Marshal(slotValue{TAT: time.Now().Add(-time.Hour).UnixNano()})
	if _, err := kv.Put(ctx, a.slotKey(r), past); err != nil {
		t.Fatal(err)
	}
	b, _ := f.instance()
	wait, ok, err := b.Reserve(ctx, r, time.Now(), time.Second)
	if err != nil || !ok || wait < 400*time.Millisecond {
		t.Errorf("after a forged value: wait %v, ok %v, err %v; want a slot half a second off", wait, ok, err)
	}
}

// BenchmarkReserve takes send slots on the in-process server: alone (one KV write a
// slot) and with two instances taking slots of one key as fast as they can, far faster
// than any provider's rate, so that nearly every write meets the other's (a read and a
// write more each time; past maxSlotTries the send would be throttled for a slot).
// kv_ops/slot is what a send costs the bucket.
func BenchmarkReserve(b *testing.B) {
	r := notifiers.Rate{Name: "sms_account", Key: "account", Limit: 1e9, Burst: 1}
	for _, n := range []int{1, 2} {
		b.Run(fmt.Sprintf("instances=%d", n), func(b *testing.B) {
			f := newLimitsFleet(b)
			var ls []*Limits
			var ms []*Metrics
			for range n {
				l, m := f.instance()
				ls, ms = append(ls, l), append(ms, m)
			}
			ctx := context.Background()
			b.ResetTimer()
			var wg sync.WaitGroup
			for i, l := range ls {
				wg.Go(func() {
					for j := i; j < b.N; j += n {
						for {
							_, ok, err := l.Reserve(ctx, r, time.Now(), time.Second)
							if err != nil {
								b.Errorf("reserve: %v", err)
								return
							}
							if ok {
								break
							}
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			ops := 0.0
			for _, m := range ms {
				for _, op := range []string{"read", "write"} {
					ops += counterValue(m.LimitOps.WithLabelValues(op))
				}
			}
			b.ReportMetric(ops/float64(b.N), "kv_ops/slot")
		})
	}
}
