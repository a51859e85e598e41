package notifiers

import (
	"context"
	"errors"
	"time"

	"golang.org/x/time/rate"
)

// maxPaceWait is the longest a send waits in memory for its turn; past it the message
// goes back to JetStream (Throttled), where waiting costs nothing and survives a crash.
const maxPaceWait = time.Second

// Pace waits for l's next slot if it comes soon, and otherwise returns a Throttled error
// that says when to try again, so that a burst is queued, never dropped, and never
// held in memory past a consumer's AckWait.
func Pace(ctx context.Context, l *rate.Limiter, what string) error {
	r := l.Reserve()
	d := r.Delay()
	if d > maxPaceWait {
		r.Cancel()
		return Throttled(errors.New(what+" is at its rate"), d)
	}
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		r.Cancel()
		return ctx.Err()
	}
}
