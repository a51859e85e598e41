package subscribers

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/time/rate"

	"github.com/cardwatch/cardwatch/notifiers"
)

// Limits are the providers' limits shared by every instance, in the key-value bucket
// CARDWATCH_LIMITS, so that a fleet keeps to them as one process would.
//
// Pauses ("pause.<channel>", sealed {"until": time}). A provider's 429 pauses its
// channel for every instance. Each instance holds the pauses in memory, loaded from the
// bucket before OpenLimits returns and kept up to date by a watch, so that checking one
// before a send costs no round trip and an instance started during a pause keeps it. A
// pause is written with a revision check, and only when it ends later than the one
// stored, so that no instance shortens another's later pause. Memory only extends too:
// a deleted value, an unsealed one (anyone may write to a bucket on the embedded
// default) or one that ends sooner changes nothing, and one that ends more than
// notifiers.MaxPause from now is cut to that and counted, since a forged day-long pause
// would otherwise stop the channel.
//
// Rates ("rate.<name>.<HMAC of the key>", sealed {"tat": Unix ns}). A rate is kept by
// the generic cell rate algorithm on one value per key, its theoretical arrival time
// (TAT): the time up to which the key's slots are taken. Taking a slot at now computes
// TAT' = max(TAT, now) + 1/limit; the slot is at TAT' - burst/limit (now, if that is
// past), and it is ours once TAT' is written with a revision check on the TAT read. Two
// instances that read the same TAT cannot both write it: the loser reads again and
// takes the next slot. So slots are 1/limit apart for the whole fleet, with bursts of
// at most burst, exactly as golang.org/x/time/rate spaces them in one process: any span
// of d seconds holds at most burst + d*limit slots. A send goes out at its slot, after
// the pause check, so the provider sees the same spacing give or take the latency of
// one request, and the fleet's clocks must agree to well under 1/limit (NTP does).
//
// Cost: each instance keeps the last TAT and revision it wrote, and under a lock per
// key writes the next one straight away: one KV write per send while it is the only
// writer, one read and one write more each time another instance wrote in between (a
// conflict). A slot more than a second off is not taken: the send goes back to
// JetStream as a Throttled retry at its turn, so nothing is dropped and nothing waits
// in memory. A value that is not cardwatch's counts as a full burst just taken: a
// forger can slow cardwatch down, not speed it up. The TAT an instance uses never goes
// back behind the latest it read or wrote, so deleting the key (or putting back an older
// sealed value) after every send at worst leaves each instance keeping the rate on its
// own, as before the fleet shared it; that needs write access to cardwatch's bucket.
type Limits struct {
	kv      jetstream.KeyValue
	seal    *Sealer
	metrics *Metrics
	log     *slog.Logger
	now     func() time.Time
	warn    *rate.Sometimes // capped pauses are logged now and then: a forger can write many

	mu     sync.Mutex
	paused map[string]time.Time // channel → end of its pause
	slots  map[string]*slotState

	watcher jetstream.KeyWatcher
	done    chan struct{}
}

var _ notifiers.Limits = (*Limits)(nil)

// slotState is what an instance knows of one rate key. Its lock is held across the
// key's KV round trips, so that the sends of one instance never conflict with each
// other, only with other instances'.
type slotState struct {
	mu    sync.Mutex
	tat   time.Time // the latest TAT this instance read or wrote
	rev   uint64    // the revision tat was read or written at; 0 with fresh: no value yet
	fresh bool      // rev is the latest this instance knows of; false: read first
}

// limitsTTL is how long the bucket keeps a value: longer than any pause (MaxPause), and
// a rate's TAT an hour old is in the past anyway.
const limitsTTL = time.Hour

// maxSlotTries bounds the conflicts one send may meet; past them it is throttled for
// one slot, which only happens when many instances send to one key at once.
const maxSlotTries = 5

// maxSlotKeys bounds the per-key memory (one Slack channel or user each).
const maxSlotKeys = 100_000

var channelName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// pauseValue is a pause as the bucket keeps it.
type pauseValue struct {
	Until time.Time `json:"until"`
}

// slotValue is a rate key's TAT as the bucket keeps it.
type slotValue struct {
	TAT int64 `json:"tat"` // Unix nanoseconds
}

// OpenLimits opens (or creates) the limits bucket and loads the pauses in force before
// returning. Close stops the watch.
func OpenLimits(ctx context.Context, js jetstream.JetStream, cfg StoreConfig, seal *Sealer, m *Metrics, log *slog.Logger) (*Limits, error) {
	if seal == nil {
		return nil, errors.New("limits: no sealer")
	}
	if m == nil {
		m = NewMetrics(nil)
	}
	kv, err := openBucket(ctx, js, BucketLimits, "providers' pauses and the fleet's send slots",
		StoreConfig{Retention: limitsTTL, Replicas: cfg.Replicas})
	if err != nil {
		return nil, err
	}
	l := &Limits{kv: kv, seal: seal, metrics: m, log: log, now: time.Now,
		warn:   &rate.Sometimes{First: 1, Interval: 10 * time.Second},
		paused: map[string]time.Time{}, slots: map[string]*slotState{}, done: make(chan struct{})}
	w, err := kv.Watch(context.WithoutCancel(ctx), "pause.*")
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", BucketLimits, err)
	}
	l.watcher = w
	// The watcher sends every current value, then nil, then live updates.
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return nil, fmt.Errorf("watch %s: closed while loading", BucketLimits)
			}
			if e == nil {
				go l.follow()
				return l, nil
			}
			l.apply(e)
		case <-ctx.Done():
			_ = w.Stop()
			return nil, fmt.Errorf("load %s: %w", BucketLimits, ctx.Err())
		}
	}
}

// Close stops following the bucket.
func (l *Limits) Close() error {
	err := l.watcher.Stop()
	<-l.done
	return err
}

// follow applies other instances' pauses for as long as the watch lives.
func (l *Limits) follow() {
	defer close(l.done)
	for e := range l.watcher.Updates() {
		if e != nil {
			l.apply(e)
		}
	}
}

// apply takes a pause from the bucket into memory, if it is cardwatch's; deletes and
// anything else change nothing, since memory only extends.
func (l *Limits) apply(e jetstream.KeyValueEntry) {
	if e.Operation() != jetstream.KeyValuePut {
		return
	}
	ch, ok := strings.CutPrefix(e.Key(), "pause.")
	var v pauseValue
	if !ok || !l.seal.openJSON(BucketLimits, e.Key(), e.Value(), &v) {
		return
	}
	l.extend(ch, v.Until)
}

// extend makes the pause of ch end at until, if that is later than now, capped at
// MaxPause from now.
func (l *Limits) extend(ch string, until time.Time) {
	now := l.now()
	until, capped := notifiers.CapPause(until, now)
	if capped {
		l.metrics.PausesCapped.WithLabelValues(ch).Inc()
		l.warn.Do(func() {
			l.log.Warn("a provider pause ending further off than cardwatch ever pauses was cut to the most: a clock far ahead on another instance, or someone with the signing key writes to the bucket",
				"channel", ch, "max", notifiers.MaxPause, "bucket", BucketLimits)
		})
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	cur := l.paused[ch]
	if !until.After(cur) || !until.After(now) {
		return
	}
	l.paused[ch] = until
	l.metrics.PausedSeconds.WithLabelValues(ch).Add(until.Sub(later(cur, now)).Seconds())
	l.metrics.PausedUntil.WithLabelValues(ch).Set(float64(until.UnixMilli()) / 1e3)
	l.log.Info("provider paused for the fleet", "channel", ch, "until", until.UTC(), "for", until.Sub(now).Round(time.Millisecond))
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// PausedFor is how long the channel's provider is still paused; memory only.
func (l *Limits) PausedFor(ch string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return max(l.paused[ch].Sub(now), 0)
}

// Pause pauses the channel's provider until until, in memory at once and then in the
// bucket for the fleet, where it only replaces a pause that ends sooner.
func (l *Limits) Pause(ctx context.Context, ch string, until time.Time) error {
	if !channelName.MatchString(ch) {
		return fmt.Errorf("pause: %q is not a channel name", ch)
	}
	until, _ = notifiers.CapPause(until, l.now())
	l.extend(ch, until)
	key := "pause." + ch
	b, err := l.seal.sealJSON(BucketLimits, key, pauseValue{Until: until.UTC()})
	if err != nil {
		return err
	}
	for range maxSlotTries {
		e, err := l.kv.Get(ctx, key)
		rev := uint64(0)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return fmt.Errorf("pause %s: %w", ch, err)
		default:
			rev = e.Revision()
			var v pauseValue
			if l.seal.openJSON(BucketLimits, key, e.Value(), &v) && !v.Until.Before(until) {
				return nil // a pause as long or longer is in force
			}
		}
		if rev == 0 {
			_, err = l.kv.Create(ctx, key, b)
		} else {
			_, err = l.kv.Update(ctx, key, b, rev)
		}
		if err == nil {
			return nil
		}
		if !isRevisionConflict(err) {
			return fmt.Errorf("pause %s: %w", ch, err)
		}
	}
	return fmt.Errorf("pause %s: the bucket value kept changing", ch)
}

// slotKey is the bucket key of a rate key: its name, and an HMAC of the key under the
// signing key, since the key may be a cardholder's (a Slack user id) and the bucket is
// readable by whoever reads cardwatch's streams.
func (l *Limits) slotKey(r notifiers.Rate) string {
	return "rate." + r.Name + "." + hex.EncodeToString(l.seal.mac(BucketLimits, "rate key", []byte(r.Key))[:16])
}

func (l *Limits) slot(key string) *slotState {
	l.mu.Lock()
	defer l.mu.Unlock()
	st, ok := l.slots[key]
	if !ok {
		if len(l.slots) >= maxSlotKeys {
			clear(l.slots) // bounded memory; each key then reads the bucket once again
		}
		st = &slotState{}
		l.slots[key] = st
	}
	return st
}

// Reserve takes r's next slot for the fleet if it comes within maxWait of now (see
// Limits for how). The wait it returns counts from now.
func (l *Limits) Reserve(ctx context.Context, r notifiers.Rate, now time.Time, maxWait time.Duration) (time.Duration, bool, error) {
	if !channelName.MatchString(r.Name) || r.Limit <= 0 {
		return 0, false, fmt.Errorf("rate %q: not a valid rate", r.Name)
	}
	key := l.slotKey(r)
	st := l.slot(key)
	st.mu.Lock()
	defer st.mu.Unlock()
	interval := r.Interval()
	burst := time.Duration(max(r.Burst, 1))
	start := time.Now()
	for range maxSlotTries {
		// The clock moves while we wait for NATS; a slot given at a stale now would
		// come less than an interval after the one before.
		at := now.Add(time.Since(start))
		if !st.fresh {
			if err := l.read(ctx, st, key, at, burst*interval); err != nil {
				return 0, false, fmt.Errorf("rate %s: %w", r.Name, err)
			}
		}
		t0 := later(st.tat, at)
		wait := t0.Add(-(burst - 1) * interval).Sub(at)
		if wait > maxWait {
			// What this instance knows is a lower bound of the TAT: the real one is as
			// late or later, so the slot is too far off either way.
			l.metrics.Throttled.WithLabelValues(r.Name).Inc()
			return wait, false, nil
		}
		next := t0.Add(interval)
		b, err := l.seal.sealJSON(BucketLimits, key, slotValue{TAT: next.UnixNano()})
		if err != nil {
			return 0, false, err
		}
		var rev uint64
		if st.rev == 0 {
			rev, err = l.kv.Create(ctx, key, b)
		} else {
			rev, err = l.kv.Update(ctx, key, b, st.rev)
		}
		l.metrics.LimitOps.WithLabelValues("write").Inc()
		if err == nil {
			st.tat, st.rev = next, rev
			return max(wait, 0), true, nil
		}
		if !isRevisionConflict(err) {
			st.fresh = false
			return 0, false, fmt.Errorf("rate %s: %w", r.Name, err)
		}
		l.metrics.LimitOps.WithLabelValues("conflict").Inc()
		st.fresh = false // another instance took a slot: read its TAT
	}
	// Many instances at once on one key: come back in a slot's time.
	l.metrics.Throttled.WithLabelValues(r.Name).Inc()
	return interval, false, nil
}

// read loads a rate key's TAT from the bucket into st. A value that is not cardwatch's
// counts as a full burst taken at now (fullBurst from now), and the TAT never goes back
// behind what this instance knew.
func (l *Limits) read(ctx context.Context, st *slotState, key string, now time.Time, fullBurst time.Duration) error {
	e, err := l.kv.Get(ctx, key)
	l.metrics.LimitOps.WithLabelValues("read").Inc()
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		st.rev = 0
	case err != nil:
		return err
	default:
		st.rev = e.Revision()
		var v slotValue
		tat := now.Add(fullBurst)
		if l.seal.openJSON(BucketLimits, key, e.Value(), &v) {
			tat = time.Unix(0, v.TAT)
		}
		st.tat = later(st.tat, tat)
	}
	st.fresh = true
	return nil
}
