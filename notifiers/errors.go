package notifiers

import (
	"errors"
	"time"
)

// Class is what to do after a failed send.
type Class int

// The classes of a send's outcome.
const (
	// Done: the provider accepted the message.
	Done Class = iota
	// Retry: a transient failure; try again with backoff.
	Retry
	// RetryLater: the provider said how long to wait; wait that long, then try again.
	RetryLater
	// GiveUp: this message can never go out on this channel; fall back to another.
	GiveUp
)

func (c Class) String() string {
	switch c {
	case Done:
		return "done"
	case Retry:
		return "retry"
	case RetryLater:
		return "retry_after"
	case GiveUp:
		return "permanent"
	}
	return "unknown"
}

// PermanentError marks a failure that retrying cannot fix for this message and channel.
type PermanentError struct {
	// Err is the provider's error.
	Err error
}

func (e *PermanentError) Error() string { return "permanent: " + e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err as a PermanentError; it returns nil for nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// RetryAfterError is a failure the provider asked to retry after Wait, such as a 429
// with Retry-After. The wait applies to the provider account, not only the one message.
type RetryAfterError struct {
	// Err is the provider's error.
	Err error
	// Wait is what the provider asked for.
	Wait time.Duration
}

func (e *RetryAfterError) Error() string {
	return "retry after " + e.Wait.String() + ": " + e.Err.Error()
}
func (e *RetryAfterError) Unwrap() error { return e.Err }

// RetryAfter wraps err with the wait the provider asked for; it returns nil for nil.
func RetryAfter(err error, wait time.Duration) error {
	if err == nil {
		return nil
	}
	return &RetryAfterError{Err: err, Wait: wait}
}

// ThrottledError is a send cardwatch itself held back to keep to a provider's rate (a
// channel's pace, the account's messages per second): try again after Wait. Unlike a
// RetryAfterError it says nothing about the provider, so nothing else is paused, and the
// message waits in JetStream rather than in memory.
type ThrottledError struct {
	// Err says which rate was reached.
	Err error
	// Wait is when the next slot comes.
	Wait time.Duration
}

func (e *ThrottledError) Error() string {
	return "throttled for " + e.Wait.String() + ": " + e.Err.Error()
}
func (e *ThrottledError) Unwrap() error { return e.Err }

// Throttled wraps err as a ThrottledError.
func Throttled(err error, wait time.Duration) error { return &ThrottledError{Err: err, Wait: wait} }

// Classify says what to do after Send returned err, and how long to wait for RetryLater.
// Context cancellation is transient: the process is stopping, and the message will be
// retried by whoever picks the work up.
func Classify(err error) (Class, time.Duration) {
	if err == nil {
		return Done, 0
	}
	var p *PermanentError
	if errors.As(err, &p) {
		return GiveUp, 0
	}
	var r *RetryAfterError
	if errors.As(err, &r) {
		return RetryLater, r.Wait
	}
	var th *ThrottledError
	if errors.As(err, &th) {
		return RetryLater, th.Wait
	}
	return Retry, 0
}
