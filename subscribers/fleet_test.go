package subscribers

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cardwatch/cardwatch/rules"
)

func TestAssignIsBalancedAndMovesLittle(t *testing.T) {
	units := Partitioning{Subjects: Subjects{Prefix: "cardwatch"}, Partitions: 16}.Units()
	for n := 1; n <= 5; n++ {
		var members []string
		for i := range n {
			members = append(members, fmt.Sprintf("host-%d", i))
		}
		owners := assign(units, members)
		load := map[string]int{}
		for _, u := range units {
			if owners[u] == "" {
				t.Fatalf("%d members: unit %s has no owner", n, u)
			}
			load[owners[u]]++
		}
		limit := (len(units) + n - 1) / n
		for m, l := range load {
			if l > limit {
				t.Errorf("%d members: %s has %d units, over its share %d", n, m, l, limit)
			}
		}
		// Every instance computes the same, whatever order it lists the members in.
		reversed := slices.Clone(members)
		slices.Reverse(reversed)
		slices.Sort(reversed)
		if again := assign(units, reversed); fmt.Sprint(again) != fmt.Sprint(owners) {
			t.Errorf("%d members: assignment depends on the order of the members", n)
		}
		if n > 1 {
			// One member leaving moves its own units, and few others.
			before := assign(units, members[:n-1])
			moved := 0
			for _, u := range units {
				if before[u] != owners[u] && owners[u] != members[n-1] {
					moved++
				}
			}
			if moved > len(units)/2 {
				t.Errorf("%d members: a member joining moved %d units between the others", n, moved)
			}
		}
	}
}

// units records which fleet members work on which unit, and fails the test when two do
// at once.
type unitLog struct {
	t      *testing.T
	mu     sync.Mutex
	active map[int]string // unit → member working on it
	starts int
}

func (l *unitLog) start(member string) Start {
	return func(_ context.Context, unit int, _ bool) (func(), error) {
		l.mu.Lock()
		defer l.mu.Unlock()
		if other, ok := l.active[unit]; ok {
			l.t.Errorf("unit %d started on %s while %s works on it", unit, member, other)
		}
		l.active[unit] = member
		l.starts++
		return func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			if l.active[unit] == member {
				delete(l.active, unit)
			}
		}, nil
	}
}

func (l *unitLog) owners() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]int{}
	for _, m := range l.active {
		out[m]++
	}
	return out
}

func (l *unitLog) waitFor(what string, d time.Duration, cond func(map[string]int) bool) time.Duration {
	l.t.Helper()
	start := time.Now()
	for !cond(l.owners()) {
		if time.Since(start) > d {
			l.t.Fatalf("after %v: still waiting for %s; units per member: %v", d, what, l.owners())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

func newFleetMember(t *testing.T, url string) (*Fleet, *nats.Conn) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	f, err := OpenFleet(context.Background(), js, StoreConfig{}, NewMetrics(prometheus.NewRegistry()), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return f, nc
}

// TestFleetHandsOverAndFailsOver runs three members over one bucket: the units spread,
// one member's graceful stop hands its units over at once, and a member cut off from
// NATS (as good as dead to the others) stops working before the others resume its
// units, within seconds. No unit ever has two workers.
func TestFleetHandsOverAndFailsOver(t *testing.T) {
	ns, err := StartEmbedded(EmbeddedConfig{Addr: "127.0.0.1:0", DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	units := Partitioning{Subjects: Subjects{Prefix: "cardwatch"}, Partitions: 16}.Units()
	l := &unitLog{t: t, active: map[int]string{}}
	type runner struct {
		f      *Fleet
		nc     *nats.Conn
		cancel context.CancelFunc
		done   chan struct{}
		err    error
	}
	run := func() *runner {
		f, nc := newFleetMember(t, ns.ClientURL())
		ctx, cancel := context.WithCancel(context.Background())
		r := &runner{f: f, nc: nc, cancel: cancel, done: make(chan struct{})}
		go func() { r.err = f.Run(ctx, units, l.start(f.ID())); close(r.done) }()
		t.Cleanup(func() { cancel(); <-r.done })
		return r
	}
	a := run()
	l.waitFor("one member working on every unit", 5*time.Second, func(o map[string]int) bool { return o[a.f.ID()] == len(units) })
	b, c := run(), run()
	l.waitFor("the units spread over three members", 5*time.Second, func(o map[string]int) bool {
		return len(o) == 3 && o[a.f.ID()] <= 6 && o[b.f.ID()] <= 6 && o[c.f.ID()] <= 6 && o[a.f.ID()]+o[b.f.ID()]+o[c.f.ID()] == len(units)
	})

	// A graceful stop: its units are the others' within half a second.
	a.cancel()
	if <-a.done; a.err != nil {
		t.Fatal(a.err)
	}
	handover := l.waitFor("the stopped member's units resumed", 2*time.Second, func(o map[string]int) bool {
		return o[b.f.ID()]+o[c.f.ID()] == len(units)
	})
	if handover > 500*time.Millisecond {
		t.Errorf("handover after a graceful stop took %v, want at most 500ms", handover)
	}

	// Cut off: it stops within its fence, and the other resumes within seconds.
	held := l.owners()[b.f.ID()]
	b.nc.Close()
	failover := l.waitFor("the cut-off member's units resumed", 5*time.Second, func(o map[string]int) bool {
		return o[c.f.ID()] == len(units)
	})
	if failover > 3*time.Second {
		t.Errorf("failover took %v, want at most 3s", failover)
	}
	t.Logf("handover %v, failover of %d units %v", handover, held, failover)
}

// TestFleetJudgesDeathOnlyOnAFreshView drives one member's reconcile by hand: a member
// that looks dead is taken over only while this member's own heartbeats come back
// through its watch (a stalled watch makes every other member look dead), the take-over
// says the units must be resumed, a claim held in this member's name for a unit that is
// another's is given back, and a lapsed lease stays lapsed until the units restart.
func TestFleetJudgesDeathOnlyOnAFreshView(t *testing.T) {
	ns, err := StartEmbedded(EmbeddedConfig{Addr: "127.0.0.1:0", DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	ctx := context.Background()
	f, _ := newFleetMember(t, ns.ClientURL())
	units := Partitioning{Subjects: Subjects{Prefix: "cardwatch"}, Partitions: 4}.Units()

	// A member last heard 3 s ago, a TTL and more, holding every unit.
	const dead = "gone-00000000"
	f.members[dead] = time.Now().Add(-3 * time.Second)
	for _, u := range units {
		v := fmt.Appendf(nil, `{"owner":%q}`, dead)
		rev, err := f.kv.Create(ctx, "claim."+u, v)
		if err != nil {
			t.Fatal(err)
		}
		f.claims[u] = claim{Owner: dead, rev: rev}
	}
	f.beat(ctx)
	if !f.Leased() {
		t.Fatal("no lease after a stored heartbeat")
	}
	resumed := map[int]bool{}
	start := func(_ context.Context, unit int, resume bool) (func(), error) {
		resumed[unit] = resume
		return func() {}, nil
	}
	running := map[int]func(){}
	f.reconcile(ctx, units, running, start)
	if len(running) != 0 {
		t.Fatalf("took %d units of a member that only looks dead: this member's own heartbeat never came back", len(running))
	}

	// Its own heartbeat seen just now: the view is fresh, the member is dead.
	f.selfSeen.Store(int64(f.since()))
	f.reconcile(ctx, units, running, start)
	if len(running) != len(units) {
		t.Fatalf("took %d of %d units of a dead member on a fresh view", len(running), len(units))
	}
	for u, r := range resumed {
		if !r {
			t.Errorf("unit %d taken from a dead member without resuming what it held", u)
		}
	}

	// A lapse: Leased stays false though the lease is renewed, until the units restart.
	f.leaseUntil.Store(0)
	if f.Leased() {
		t.Fatal("leased with the lease run out")
	}
	f.beat(ctx)
	if f.Leased() {
		t.Fatal("leased again before the units restarted after a lapse")
	}
	f.reconcile(ctx, units, running, start)
	if len(running) != 0 || !f.Leased() {
		t.Fatalf("after a lapse: %d units still running, leased %v; want all stopped and the lease back", len(running), f.Leased())
	}

	// A claim in this member's name on a unit another live member is given: released.
	const other = "zzzz-live"
	f.members[other] = time.Now()
	f.selfSeen.Store(int64(f.since()))
	owners := assign(units, []string{f.id, other})
	var theirs string
	for _, u := range units {
		if owners[u] == other {
			theirs = u
			break
		}
	}
	if theirs == "" {
		t.Fatal("the assignment gave the other member nothing")
	}
	e, err := f.kv.Get(ctx, "claim."+theirs)
	if err != nil {
		t.Fatal(err)
	}
	f.claims[theirs] = claim{Owner: f.id, rev: e.Revision()}
	f.reconcile(ctx, units, map[int]func(){}, start)
	if e, err = f.kv.Get(ctx, "claim."+theirs); err != nil {
		t.Fatal(err)
	}
	if string(e.Value()) != `{"owner":""}` {
		t.Errorf("claim of a unit assigned to another member is %s, want it given back", e.Value())
	}
}

// TestPipelineWritesNothingOutOfLease: an instance whose lease ran out (frozen, or cut
// off, while it held a transaction) stores no alert record, publishes no alert, and
// neither acknowledges the transaction nor asks for it again: whoever resumes the
// partition handles it.
func TestPipelineWritesNothingOutOfLease(t *testing.T) {
	p, js := newTestPipeline(t)
	f, _ := newFleetMember(t, startTestServer(t))
	p.Fleet = f // never beat: no lease
	msg := &txnMsg{subject: "cardwatch.txn.acme.tok_1", data: []byte(pipelineTxn), delivered: 1}
	if got := p.Handle(context.Background(), msg); got != OutcomeError {
		t.Errorf("outcome %q out of lease, want %q", got, OutcomeError)
	}
	if msg.acked || msg.nakked {
		t.Errorf("out of lease: acked %v, nakked %v; want neither", msg.acked, msg.nakked)
	}
	if n := alertsOnFeed(t, js); n != 0 {
		t.Errorf("%d alerts published out of lease", n)
	}
	if _, _, err := p.Alerts.Get(context.Background(), rules.AlertID("acme", "t-1")); err == nil {
		t.Errorf("an alert record stored out of lease")
	}
}
