package subscribers

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/time/rate"
)

// BucketFleet holds the fleet's membership (a heartbeat per instance) and the claims
// on its work units (partitions).
const BucketFleet = "CARDWATCH_FLEET"

// Fleet timings. A member that has not been heard from for MemberTTL is taken for dead
// and its units are resumed by others; a member stops working on its units as soon as
// its own last heartbeat is older than its Fence (shorter than MemberTTL), so that by
// the time anyone takes them over, it has stopped, even if it was only frozen and then
// woke up.
const (
	DefaultHeartbeat = 500 * time.Millisecond
	DefaultMemberTTL = 2 * time.Second
	DefaultFence     = 1500 * time.Millisecond
)

// Fleet is this instance's place among the cardwatch instances sharing the work. Each
// instance heartbeats into the CARDWATCH_FLEET bucket and watches it; every instance
// computes the same assignment of units to the live members (see assign); and before
// an instance works on a unit it claims it in the bucket by compare-and-set, and it
// gives the claim back only once it has finished what it had in hand. So a unit has
// one worker at a time: on a graceful stop the next owner starts where the last one
// finished (nothing is handled twice), and when an owner dies its units are claimed
// from it as soon as it has missed its heartbeats for MemberTTL.
type Fleet struct {
	kv      jetstream.KeyValue
	id      string
	log     *slog.Logger
	metrics *Metrics

	// Heartbeat, MemberTTL and Fence are the timings (the Default* constants when
	// zero); set them before Run.
	Heartbeat, MemberTTL, Fence time.Duration

	// epoch is when the fleet was opened; leaseUntil and selfSeen are durations since,
	// so that they are read on the monotonic clock: a wall clock stepped by NTP must not
	// stretch a lease.
	epoch      time.Time
	leaseUntil atomic.Int64 // this instance may work until then
	selfSeen   atomic.Int64 // when its own heartbeat last came back through the watch
	lapsed     atomic.Bool  // a worker found the lease run out: sticky until its units restart

	mu      sync.Mutex
	members map[string]time.Time // member → when its last heartbeat was seen here
	claims  map[string]claim     // unit → its claim
	changed chan struct{}
}

// claim is who works on a unit; rev is its revision in the bucket, for compare-and-set.
type claim struct {
	Owner string `json:"owner"`
	rev   uint64
}

// member is a heartbeat's value: for operators reading the bucket.
type member struct {
	Host    string    `json:"host"`
	PID     int       `json:"pid"`
	Started time.Time `json:"started"`
}

// OpenFleet opens the fleet bucket and gives this instance its member id: the host
// name and a random suffix, so that a restarted instance is a new member.
func OpenFleet(ctx context.Context, js jetstream.JetStream, cfg StoreConfig, m *Metrics, log *slog.Logger) (*Fleet, error) {
	kv, err := js.KeyValue(ctx, BucketFleet)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:      BucketFleet,
			Description: "cardwatch fleet: members' heartbeats and who works on which partition",
			Replicas:    cfg.replicas(),
			Storage:     jetstream.FileStorage,
		})
		if errors.Is(err, jetstream.ErrBucketExists) {
			kv, err = js.KeyValue(ctx, BucketFleet)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", BucketFleet, err)
	}
	host, _ := os.Hostname()
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	id := memberToken(host) + "-" + hex.EncodeToString(suffix)
	return &Fleet{kv: kv, id: id, log: log.With("member", id), metrics: m, epoch: time.Now(),
		members: map[string]time.Time{}, claims: map[string]claim{}, changed: make(chan struct{}, 1)}, nil
}

// memberToken keeps of a host name what a bucket key may hold.
func memberToken(host string) string {
	b := []byte(strings.ToLower(host))
	for i, c := range b {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			b[i] = '-'
		}
	}
	if len(b) == 0 || len(b) > 40 {
		b = append(b[:min(len(b), 40)], "x"...)
	}
	return string(b)
}

// ID is this instance's member id.
func (f *Fleet) ID() string { return f.id }

// Leased reports whether this instance may work on its units now: its last heartbeat
// was stored less than a Fence ago. Workers check it before each item, so an instance
// that was frozen (or cut off from NATS) does nothing once it wakes up, before it has
// even heard that others took over.
//
// Once a worker has found the lease out, Leased stays false until the units have been
// restarted, even if a heartbeat is stored again meanwhile: a card's transaction left
// unhandled must not be overtaken by the next one of the same card.
func (f *Fleet) Leased() bool {
	if !f.lapsed.Load() && f.leasedNow() {
		return true
	}
	// Whatever the worker leaves unhandled now must be had again: the units it was on
	// are restarted, which resumes them from where they were acknowledged.
	if !f.lapsed.Swap(true) {
		f.metrics.LeaseLapses.Inc()
	}
	return false
}

// leasedNow reports whether this instance's last heartbeat was stored less than a
// Fence ago.
func (f *Fleet) leasedNow() bool { return f.since() < time.Duration(f.leaseUntil.Load()) }

// since is the monotonic time since the fleet was opened.
func (f *Fleet) since() time.Duration { return time.Since(f.epoch) }

func (f *Fleet) timings() (hb, ttl, fence time.Duration) {
	return cmp.Or(f.Heartbeat, DefaultHeartbeat), cmp.Or(f.MemberTTL, DefaultMemberTTL), cmp.Or(f.Fence, DefaultFence)
}

// Start starts work on a unit (by its index in the units given to Run) and returns
// how to stop it: stop stops taking new work and returns once what was in hand is
// finished. resume is true when the unit's last worker may have left work unfinished
// (it died, was cut off, or this instance's own lease ran out); false when it was given
// back after finishing what it had in hand.
type Start func(ctx context.Context, unit int, resume bool) (stop func(), err error)

// Run takes part in the fleet until ctx ends: it works on the units the assignment gives
// this instance, and hands them over when it changes. When ctx ends it finishes what
// is in hand, gives back its claims and leaves the fleet, so that the others take its
// units at once.
func (f *Fleet) Run(ctx context.Context, units []string, start Start) error {
	hb, _, _ := f.timings()
	f.metrics.Partitions.Set(float64(len(units)))
	w, err := f.kv.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("watch bucket %s: %w", BucketFleet, err)
	}
	defer func() { _ = w.Stop() }()
	// The state as it is, before anything is decided on it.
	var initial []jetstream.KeyValueEntry
	var newest time.Time
	for e := range w.Updates() {
		if e == nil {
			break
		}
		initial = append(initial, e)
		if e.Created().After(newest) {
			newest = e.Created()
		}
	}
	for _, e := range initial {
		// A heartbeat stored before this instance looked is as old as it is, so that a
		// member that died just before is not taken for alive for a whole TTL. Its age
		// is measured against the newest entry, on the server's clock: this host's clock
		// may be off the server's.
		f.observe(e, newest.Sub(e.Created()))
	}
	go func() {
		for e := range w.Updates() {
			if e != nil {
				f.observe(e, 0)
			}
		}
	}()

	bg := context.WithoutCancel(ctx)
	f.beat(bg)
	// Heartbeats have a goroutine of their own: a slow handover must not delay them.
	beatCtx, stopBeats := context.WithCancel(bg)
	beats := make(chan struct{})
	go func() {
		defer close(beats)
		t := time.NewTicker(hb)
		defer t.Stop()
		for {
			select {
			case <-beatCtx.Done():
				return
			case <-t.C:
				f.beat(beatCtx)
			}
		}
	}()
	running := map[int]func(){}
	tick := time.NewTicker(hb / 2)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			f.leave(bg, units, running)
			stopBeats()
			<-beats
			return f.goodbye(bg)
		case <-tick.C:
		case <-f.changed:
		}
		f.reconcile(bg, units, running, start)
	}
}

// beat stores this instance's heartbeat, and extends its lease once stored.
func (f *Fleet) beat(ctx context.Context) {
	_, _, fence := f.timings()
	sent := time.Now()
	v, _ := json.Marshal(member{Host: strings.SplitN(f.id, "-", 2)[0], PID: os.Getpid(), Started: sent})
	ctx, cancel := context.WithTimeout(ctx, fence)
	defer cancel()
	if _, err := f.kv.Put(ctx, "member."+f.id, v); err != nil {
		beatWarn.Do(func() { f.log.Warn("fleet heartbeat not stored", "err", err) })
		return
	}
	// The lease runs from when the heartbeat was sent, not stored: the others' clocks
	// start from when they saw it, which is later.
	f.leaseUntil.Store(int64(sent.Sub(f.epoch) + fence))
}

var beatWarn = &rate.Sometimes{First: 1, Interval: 10 * time.Second}

// observe records an update of the bucket, age old when it is seen.
func (f *Fleet) observe(e jetstream.KeyValueEntry, age time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	gone := e.Operation() != jetstream.KeyValuePut
	switch key := e.Key(); {
	case strings.HasPrefix(key, "member."):
		id := strings.TrimPrefix(key, "member.")
		if id == f.id && !gone {
			f.selfSeen.Store(int64(f.since()))
		}
		if gone {
			delete(f.members, id)
		} else {
			f.members[id] = time.Now().Add(-age)
		}
	case strings.HasPrefix(key, "claim."):
		unit := strings.TrimPrefix(key, "claim.")
		var c claim
		if gone || json.Unmarshal(e.Value(), &c) != nil {
			c = claim{}
		}
		c.rev = e.Revision()
		f.claims[unit] = c
	}
	select {
	case f.changed <- struct{}{}:
	default:
	}
}

// alive are the members heard from within MemberTTL, sorted; this instance is one while
// its lease holds.
func (f *Fleet) alive(now time.Time) []string {
	_, ttl, _ := f.timings()
	var out []string
	for id, seen := range f.members {
		if id == f.id {
			continue
		}
		if now.Sub(seen) < ttl {
			out = append(out, id)
		}
	}
	if f.leasedNow() {
		out = append(out, f.id)
	}
	slices.Sort(out)
	return out
}

// reconcile starts the units this instance should work on and can claim, and stops
// (and gives back) those it should not.
func (f *Fleet) reconcile(ctx context.Context, units []string, running map[int]func(), start Start) {
	hb, _, _ := f.timings()
	now := time.Now()
	f.mu.Lock()
	alive := f.alive(now)
	owners := assign(units, alive)
	claims := maps.Clone(f.claims)
	f.mu.Unlock()
	isAlive := func(id string) bool { _, ok := slices.BinarySearch(alive, id); return ok }

	leased := f.leasedNow()
	// A worker that found the lease out has left work undone: every unit restarts.
	lapsed := f.lapsed.Load()
	// Members look dead to this instance when it stops hearing them, which is also what
	// a stalled watch looks like. Only while its own heartbeats come back through the
	// watch does it know that it would have heard theirs.
	seen := time.Duration(f.selfSeen.Load())
	fresh := seen != 0 && f.since()-seen < 2*hb
	var stopping sync.WaitGroup
	for i, unit := range units {
		c := claims[unit]
		stop, isRunning := running[i]
		switch {
		case isRunning && (!leased || lapsed || c.Owner != f.id && c.rev != 0):
			// Cut off, or someone took the unit (this instance was taken for dead):
			// stop at once, and leave the claim to whoever holds it.
			delete(running, i)
			f.log.Warn("stopped work on a partition: this instance's heartbeat ran out, or another instance holds the partition", "unit", unit, "leased", leased)
			stopping.Go(stop)
		case isRunning && owners[unit] != f.id:
			delete(running, i)
			stopping.Go(func() {
				stop()
				f.release(ctx, unit)
				f.log.Debug("handed a partition over", "unit", unit, "to", owners[unit])
			})
		case !isRunning && c.Owner == f.id && owners[unit] != f.id && leased:
			// A claim this instance holds without working on it: a give-back that failed,
			// or a claim written in its name. Its owner by the assignment waits for it.
			f.release(ctx, unit)
		case !isRunning && leased && !lapsed && owners[unit] == f.id:
			how := ""
			switch {
			case c.Owner == "":
				how = "free"
			case c.Owner == f.id:
				how = "own"
			case !isAlive(c.Owner) && fresh:
				how = "dead"
			default:
				continue // its owner is alive and will give it back
			}
			if !f.claim(ctx, unit, c) {
				continue
			}
			s, err := start(ctx, i, how != "free")
			if err != nil {
				f.log.Error("could not start work on a partition; will retry", "unit", unit, "err", err)
				f.release(ctx, unit)
				continue
			}
			running[i] = s
			f.log.Debug("working on a partition", "unit", unit, "how", how)
			f.metrics.Takeovers.WithLabelValues(how).Inc()
			if how == "dead" {
				f.log.Warn("resumed a partition whose owner stopped answering", "unit", unit, "owner", c.Owner)
			}
		}
	}
	stopping.Wait()
	if lapsed {
		// Every unit it was on has stopped: what it left is had again from the
		// acknowledged point once they start again.
		f.lapsed.Store(false)
	}
	if fresh && len(alive) > 0 && alive[0] == f.id {
		f.forget(ctx, now)
	}
	f.metrics.FleetMembers.Set(float64(len(alive)))
	f.metrics.PartitionsOwned.Set(float64(len(running)))
}

// staleMember is how long a member's heartbeat key stays after its last heartbeat:
// an instance killed never deletes its own.
const staleMember = time.Minute

// forget purges the heartbeat keys of members gone for staleMember, so that the bucket
// does not keep one for every instance that ever ran. One member does it: the first
// of those alive.
func (f *Fleet) forget(ctx context.Context, now time.Time) {
	f.mu.Lock()
	var stale []string
	for id, seen := range f.members {
		if now.Sub(seen) > staleMember {
			stale = append(stale, id)
		}
	}
	f.mu.Unlock()
	for _, id := range stale {
		if err := f.kv.Purge(ctx, "member."+id); err != nil {
			f.log.Debug("could not purge a gone member's heartbeat", "gone", id, "err", err)
			return
		}
	}
}

// claim takes a unit by compare-and-set on the claim seen; false when another instance
// changed it first.
func (f *Fleet) claim(ctx context.Context, unit string, seen claim) bool {
	v, _ := json.Marshal(claim{Owner: f.id})
	var rev uint64
	var err error
	if seen.rev == 0 {
		rev, err = f.kv.Create(ctx, "claim."+unit, v)
	} else {
		rev, err = f.kv.Update(ctx, "claim."+unit, v, seen.rev)
	}
	if err != nil {
		if !isRevisionConflict(err) {
			f.log.Warn("could not claim a partition", "unit", unit, "err", err)
		}
		return false
	}
	f.mu.Lock()
	if f.claims[unit].rev < rev {
		f.claims[unit] = claim{Owner: f.id, rev: rev}
	}
	f.mu.Unlock()
	return true
}

// release gives a unit back, unless someone else holds it by now.
func (f *Fleet) release(ctx context.Context, unit string) {
	f.mu.Lock()
	c := f.claims[unit]
	f.mu.Unlock()
	if c.Owner != f.id {
		return
	}
	v, _ := json.Marshal(claim{})
	if _, err := f.kv.Update(ctx, "claim."+unit, v, c.rev); err != nil && !isRevisionConflict(err) {
		f.log.Warn("could not give back a partition; others take it once this instance is gone", "unit", unit, "err", err)
	}
}

// leave stops every unit at once and gives their claims back, so that the others
// resume them without waiting for this instance's heartbeat to run out.
func (f *Fleet) leave(ctx context.Context, units []string, running map[int]func()) {
	var wg sync.WaitGroup
	for i, stop := range running {
		wg.Go(func() {
			stop()
			f.release(ctx, units[i])
		})
	}
	wg.Wait()
	f.metrics.PartitionsOwned.Set(0)
}

// goodbye takes this instance out of the fleet, once its heartbeats have stopped.
func (f *Fleet) goodbye(ctx context.Context) error {
	f.leaseUntil.Store(0)
	if err := f.kv.Delete(ctx, "member."+f.id); err != nil {
		f.log.Warn("could not leave the fleet; the others wait for the heartbeat to run out", "err", err)
	}
	return nil
}

// assign gives each unit an owner among members (sorted), the same on every instance
// that sees the same members: rendezvous hashing (each unit goes to the member that
// scores highest for it, so a member joining or leaving moves few units), bounded so
// that no member has more than its share rounded up.
func assign(units, members []string) map[string]string {
	if len(members) == 0 {
		return nil
	}
	limit := (len(units) + len(members) - 1) / len(members)
	load := make(map[string]int, len(members))
	out := make(map[string]string, len(units))
	for _, u := range units {
		best, bestScore := "", uint64(0)
		for _, m := range members {
			if load[m] >= limit {
				continue
			}
			if s := score(m, u); best == "" || s > bestScore {
				best, bestScore = m, s
			}
		}
		out[u] = best
		load[best]++
	}
	return out
}

func score(member, unit string) uint64 {
	h := sha256.Sum256([]byte(member + "\x00" + unit))
	return binary.BigEndian.Uint64(h[:8])
}
