package notifiers

import (
	"context"
	"fmt"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// MaxPause is the longest a provider is paused, whatever it asked for or a bucket says:
// Twilio and Slack ask for seconds, so anything longer is a broken proxy or a forged
// value, and would stop a channel for hours.
const MaxPause = 15 * time.Minute

// Rate is a limit on how fast a provider may be called: Limit sends a second, with
// bursts of at most Burst, for each Key.
//
// Its meaning is that of golang.org/x/time/rate's token bucket (the generic cell rate
// algorithm): slots are 1/Limit apart, and a key unused for a while may take Burst of
// them at once. So any span of d seconds holds at most Burst + d*Limit sends; with a
// Burst of 1, any one second holds at most Limit.
type Rate struct {
	// Name is the limit's name in metrics and errors, a fixed word ("sms_account",
	// "slack_channel"): never a number or an id.
	Name string
	// Key is what the limit is counted per, within Name: "account", a Slack channel id.
	// It may be a cardholder's: implementations keep it out of metrics, logs and errors.
	Key string
	// Limit is sends a second.
	Limit float64
	// Burst is how many sends may go at once; at least 1.
	Burst int
}

// Interval is the time between two slots.
func (r Rate) Interval() time.Duration { return time.Duration(float64(time.Second) / r.Limit) }

// Limited is a Notifier whose provider caps how fast it may be called. The Dispatcher
// takes a slot of each of its rates before each Send, so that a channel says what its
// limits are and the fleet's Limits keep them.
type Limited interface {
	// Rates are the rates sending m keeps to; none when unlimited.
	Rates(m Message) []Rate
}

// Limits keep the providers' limits: the pauses they ask for (a 429's Retry-After,
// Slack's ratelimited) and the rates cardwatch keeps to. One process can keep them in
// memory (MemLimits); a fleet must share them (subscribers.Limits, on NATS), or N
// instances send N times the rate, and one that did not see a 429 calls the provider
// during its pause. Implementations are safe for concurrent use.
type Limits interface {
	// PausedFor is how long provider (a channel name) is still paused at now. It is
	// asked before every send, so it reads memory only.
	PausedFor(provider string, now time.Time) time.Duration
	// Pause holds every send to provider until until, for the whole fleet. A pause only
	// ever extends: a shorter one than in force changes nothing. The Dispatcher asks
	// for MaxPause at most. An error says the pause may not be shared; it is in force in
	// this process whatever happens.
	Pause(ctx context.Context, provider string, until time.Time) error
	// Reserve takes the next slot of r if it comes within maxWait of now, and says how
	// long to wait for it (ok). Otherwise it takes nothing and says when to try again.
	Reserve(ctx context.Context, r Rate, now time.Time, maxWait time.Duration) (wait time.Duration, ok bool, err error)
}

// maxPaceWait is the longest a send waits in memory for its turn; past it the message
// goes back to JetStream (Throttled), where waiting costs nothing and survives a crash.
const maxPaceWait = time.Second

// Pace waits for r's next slot if it comes soon, and otherwise returns a Throttled error
// that says when to try again, so that a burst is queued, never dropped, and never held
// in memory past a consumer's AckWait. A slot taken and then not used (ctx ended during
// the wait) is lost, which only slows the rate down.
func Pace(ctx context.Context, l Limits, r Rate, now time.Time) error {
	wait, ok, err := l.Reserve(ctx, r, now, maxPaceWait)
	if err != nil {
		return fmt.Errorf("%s: take a send slot: %w", r.Name, err)
	}
	if !ok {
		return Throttled(fmt.Errorf("%s is at its rate of %g a second", r.Name, r.Limit), wait)
	}
	if wait <= 0 {
		return nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// CapPause caps a pause ending at until to MaxPause from now, and says whether it did.
func CapPause(until, now time.Time) (time.Time, bool) {
	if limit := now.Add(MaxPause); until.After(limit) {
		return limit, true
	}
	return until, false
}

// maxKeys bounds the memory of per-key state under many destinations: past it, the
// table starts again, which gives each key a fresh allowance (a burst more, once).
const maxKeys = 100_000

// MemLimits keeps the limits in this process's memory: right for one process (tests,
// a single instance), wrong for a fleet (see Limits).
type MemLimits struct {
	mu     sync.Mutex
	paused map[string]time.Time
	rates  map[Rate]*rate.Limiter
}

var _ Limits = (*MemLimits)(nil)

// NewMemLimits returns empty in-memory limits.
func NewMemLimits() *MemLimits {
	return &MemLimits{paused: map[string]time.Time{}, rates: map[Rate]*rate.Limiter{}}
}

// PausedFor is how long provider is still paused at now.
func (l *MemLimits) PausedFor(provider string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return max(l.paused[provider].Sub(now), 0)
}

// Pause holds provider until until; it only extends.
func (l *MemLimits) Pause(_ context.Context, provider string, until time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if until.After(l.paused[provider]) {
		l.paused[provider] = until
	}
	return nil
}

// Reserve takes r's next slot if it comes within maxWait.
func (l *MemLimits) Reserve(_ context.Context, r Rate, now time.Time, maxWait time.Duration) (time.Duration, bool, error) {
	l.mu.Lock()
	lim, ok := l.rates[r]
	if !ok {
		if len(l.rates) >= maxKeys {
			clear(l.rates)
		}
		lim = rate.NewLimiter(rate.Limit(r.Limit), max(r.Burst, 1))
		l.rates[r] = lim
	}
	l.mu.Unlock()
	res := lim.ReserveN(now, 1)
	wait := res.DelayFrom(now)
	if wait > maxWait {
		res.CancelAt(now)
		return wait, false, nil
	}
	return wait, true, nil
}
