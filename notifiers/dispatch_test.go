package notifiers

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cardwatch/cardwatch/rules"
)

type memSent struct {
	mu sync.Mutex
	m  map[string]Receipt
}

func (s *memSent) Sent(_ context.Context, id, ch string) (Receipt, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.m[id+"/"+ch]
	return r, ok, nil
}

func (s *memSent) MarkSent(_ context.Context, id, ch string, r Receipt) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[id+"/"+ch] = r
	return nil
}

// scripted is a channel whose answers are given in advance.
type scripted struct {
	name    string
	answers []error
	calls   int
}

func (s *scripted) Channel() string                { return s.name }
func (s *scripted) Wants(h *rules.Cardholder) bool { return true }
func (s *scripted) Send(context.Context, Message) (Receipt, error) {
	err := s.answers[min(s.calls, len(s.answers)-1)]
	s.calls++
	if err != nil {
		return Receipt{}, err
	}
	return Receipt{ProviderID: s.name + "-id"}, nil
}

func TestDispatchSendsOncePerChannelAndRetriesOnlyWhatFailed(t *testing.T) {
	sms := &scripted{name: "sms", answers: []error{errors.New("503"), nil}}
	slack := &scripted{name: "slack", answers: []error{nil}}
	var events []Delivery
	var mu sync.Mutex
	d := &Dispatcher{Notifiers: []Notifier{sms, slack}, Sent: &memSent{m: map[string]Receipt{}},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Record: func(_ context.Context, ev Delivery) error {
			mu.Lock()
			defer mu.Unlock()
			events = append(events, ev)
			return nil
		}}
	m := Message{Alert: &rules.Alert{ID: "al_x", Bank: "acme"}, Cardholder: &rules.Cardholder{}}

	err := d.Dispatch(context.Background(), m, 1)
	var re *RetryError
	if !errors.As(err, &re) {
		t.Fatalf("first dispatch: err = %v, want a RetryError", err)
	}
	if err := d.Dispatch(context.Background(), m, 2); err != nil {
		t.Fatalf("second dispatch: %v", err)
	}
	if err := d.Dispatch(context.Background(), m, 3); err != nil {
		t.Fatalf("third dispatch: %v", err)
	}
	if sms.calls != 2 || slack.calls != 1 {
		t.Errorf("calls: sms %d (want 2), slack %d (want 1)", sms.calls, slack.calls)
	}
	var got []string
	for _, ev := range events {
		got = append(got, ev.Channel+":"+ev.Status)
	}
	// Channels go out at once, so only each dispatch's set of events is fixed.
	for i := 0; i+1 < len(got); i += 2 {
		slices.Sort(got[i : i+2])
	}
	// A channel already sent is recorded "sent" again on each dispatch, in case the
	// earlier record was lost; its event id makes JetStream keep one.
	want := []string{"slack:sent", "sms:retrying", "slack:sent", "sms:sent", "slack:sent", "sms:sent"}
	if len(got) != len(want) {
		t.Fatalf("events = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("events = %v, want %v", got, want)
		}
	}
}

func TestDispatchPermanentIsNotRetried(t *testing.T) {
	sms := &scripted{name: "sms", answers: []error{Permanent(errors.New("21211 invalid number"))}}
	var events []Delivery
	var mu sync.Mutex
	d := &Dispatcher{Notifiers: []Notifier{sms}, Sent: &memSent{m: map[string]Receipt{}},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Record: func(_ context.Context, ev Delivery) error {
			mu.Lock()
			defer mu.Unlock()
			events = append(events, ev)
			return nil
		}}
	err := d.Dispatch(context.Background(), Message{Alert: &rules.Alert{ID: "al_y"}, Cardholder: &rules.Cardholder{}}, 1)
	if err != nil {
		t.Fatalf("permanent failure asked for a retry: %v", err)
	}
	if len(events) != 1 || events[0].Status != StatusFailed {
		t.Fatalf("events = %+v, want one failed", events)
	}
}

func TestClassify(t *testing.T) {
	base := errors.New("x")
	for _, c := range []struct {
		err   error
		class Class
		wait  time.Duration
	}{
		{nil, Done, 0},
		{base, Retry, 0},
		{Permanent(base), GiveUp, 0},
		{RetryAfter(base, 3*time.Second), RetryLater, 3 * time.Second},
		{errors.Join(errors.New("wrapped"), RetryAfter(base, time.Second)), RetryLater, time.Second},
		{context.DeadlineExceeded, Retry, 0},
	} {
		class, wait := Classify(c.err)
		if class != c.class || wait != c.wait {
			t.Errorf("Classify(%v) = %v, %v; want %v, %v", c.err, class, wait, c.class, c.wait)
		}
	}
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestDispatchPausesTheProviderForRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	sms := &scripted{name: "sms", answers: []error{RetryAfter(errors.New("429"), 3*time.Second), nil}}
	d := &Dispatcher{Notifiers: []Notifier{sms}, Sent: &memSent{m: map[string]Receipt{}}, Log: quietLog(),
		Record: func(context.Context, Delivery) error { return nil }, Now: func() time.Time { return now }}
	one := Message{Alert: &rules.Alert{ID: "al_1", CreatedAt: now}, Cardholder: &rules.Cardholder{}}
	other := Message{Alert: &rules.Alert{ID: "al_2", CreatedAt: now}, Cardholder: &rules.Cardholder{}}

	var re *RetryError
	if err := d.Dispatch(context.Background(), one, 1); !errors.As(err, &re) || re.Wait != 3*time.Second {
		t.Fatalf("429: err = %v, want a retry after 3s", err)
	}
	now = now.Add(time.Second)
	// Another cardholder's alert waits too: the pause is the account's.
	if err := d.Dispatch(context.Background(), other, 1); !errors.As(err, &re) || re.Wait != 2*time.Second {
		t.Fatalf("during the pause: err = %v, want a retry after the 2s left", err)
	}
	if sms.calls != 1 {
		t.Fatalf("%d calls to the provider during its pause, want 1", sms.calls)
	}
	now = now.Add(2*time.Second + time.Millisecond)
	if err := d.Dispatch(context.Background(), one, 2); err != nil {
		t.Fatalf("after the pause: %v", err)
	}
	if sms.calls != 2 {
		t.Errorf("%d calls, want 2", sms.calls)
	}
}

func TestDispatchGivesUpWhenEveryChannelFailed(t *testing.T) {
	sms := &scripted{name: "sms", answers: []error{Permanent(errors.New("21610 opted out"))}}
	slack := &scripted{name: "slack", answers: []error{errors.New("503"), Permanent(errors.New("channel_not_found"))}}
	var gaveUp []string
	d := &Dispatcher{Notifiers: []Notifier{sms, slack}, Sent: &memSent{m: map[string]Receipt{}}, Log: quietLog(),
		Record: func(context.Context, Delivery) error { return nil },
		GiveUp: func(_ context.Context, m Message, reason string) error { gaveUp = append(gaveUp, reason); return nil }}
	m := Message{Alert: &rules.Alert{ID: "al_3", CreatedAt: time.Now()}, Cardholder: &rules.Cardholder{}}
	if err := d.Dispatch(context.Background(), m, 1); err == nil || len(gaveUp) != 0 {
		t.Fatalf("one channel still retrying: err %v, gave up %v", err, gaveUp)
	}
	if err := d.Dispatch(context.Background(), m, 2); err != nil {
		t.Fatalf("second dispatch: %v", err)
	}
	if len(gaveUp) != 1 || !strings.Contains(gaveUp[0], "21610") || !strings.Contains(gaveUp[0], "channel_not_found") {
		t.Errorf("gave up %v, want once with both reasons", gaveUp)
	}
	if sms.calls != 1 {
		t.Errorf("the opted-out number was tried %d times, want 1", sms.calls)
	}
}

func TestDispatchStopsRetryingAfterMaxAge(t *testing.T) {
	created := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	now := created.Add(2 * time.Hour)
	sms := &scripted{name: "sms", answers: []error{errors.New("503")}}
	var events []Delivery
	var mu sync.Mutex
	d := &Dispatcher{Notifiers: []Notifier{sms}, Sent: &memSent{m: map[string]Receipt{}}, Log: quietLog(), MaxAge: time.Hour,
		Now: func() time.Time { return now },
		Record: func(_ context.Context, ev Delivery) error {
			mu.Lock()
			defer mu.Unlock()
			events = append(events, ev)
			return nil
		}}
	if err := d.Dispatch(context.Background(), Message{Alert: &rules.Alert{ID: "al_4", CreatedAt: created}, Cardholder: &rules.Cardholder{}}, 9); err != nil {
		t.Fatalf("past the max age a retry was asked for: %v", err)
	}
	if len(events) != 1 || events[0].Status != StatusFailed || !strings.Contains(events[0].Error, "no success within 1h0m0s") {
		t.Errorf("events %+v", events)
	}
}

func TestPacingNeverAgesAnAlertOut(t *testing.T) {
	created := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	sms := &scripted{name: "sms", answers: []error{Throttled(errors.New("at rate"), 2*time.Second)}}
	gaveUp := false
	d := &Dispatcher{Notifiers: []Notifier{sms}, Sent: &memSent{m: map[string]Receipt{}}, Log: quietLog(), MaxAge: time.Hour,
		Now:    func() time.Time { return created.Add(61 * time.Minute) },
		Record: func(context.Context, Delivery) error { return nil },
		GiveUp: func(context.Context, Message, string) error { gaveUp = true; return nil }}
	err := d.Dispatch(context.Background(), Message{Alert: &rules.Alert{ID: "al_5", CreatedAt: created}, Cardholder: &rules.Cardholder{}}, 3)
	var re *RetryError
	if !errors.As(err, &re) || !re.Paced || re.Wait != 2*time.Second || gaveUp {
		t.Errorf("an old alert held back by pacing: err %v, gave up %v; want a paced retry in 2s", err, gaveUp)
	}
}

func TestFailedGiveUpIsNotAPacedRetry(t *testing.T) {
	sms := &scripted{name: "sms", answers: []error{Permanent(errors.New("21610"))}}
	d := &Dispatcher{Notifiers: []Notifier{sms}, Sent: &memSent{m: map[string]Receipt{}}, Log: quietLog(),
		Record: func(context.Context, Delivery) error { return nil },
		GiveUp: func(context.Context, Message, string) error { return errors.New("DLQ down") }}
	err := d.Dispatch(context.Background(), Message{Alert: &rules.Alert{ID: "al_6", CreatedAt: time.Now()}, Cardholder: &rules.Cardholder{}}, 1)
	var re *RetryError
	if !errors.As(err, &re) || re.Paced {
		t.Errorf("err %v: a failed DLQ publish must back off, not retry at once", err)
	}
}

// limited is a scripted channel with a rate, as Twilio's and Slack's are.
type limited struct {
	scripted
	rate Rate
}

func (l *limited) Rates(Message) []Rate { return []Rate{l.rate} }

// TestDispatchKeepsAChannelsRate checks that the Dispatcher takes a slot of the channel's
// rate before each send, and that a send whose slot is far off goes back as a paced
// retry at its slot, the provider never asked.
func TestDispatchKeepsAChannelsRate(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	sms := &limited{scripted{name: "sms", answers: []error{nil}}, Rate{Name: "sms_account", Key: "account", Limit: 0.5, Burst: 1}}
	d := &Dispatcher{Notifiers: []Notifier{sms}, Sent: &memSent{m: map[string]Receipt{}}, Log: quietLog(),
		Record: func(context.Context, Delivery) error { return nil }, Now: func() time.Time { return now }}
	one := Message{Alert: &rules.Alert{ID: "al_1", CreatedAt: now}, Cardholder: &rules.Cardholder{}}
	other := Message{Alert: &rules.Alert{ID: "al_2", CreatedAt: now}, Cardholder: &rules.Cardholder{}}
	if err := d.Dispatch(context.Background(), one, 1); err != nil {
		t.Fatalf("first send: %v", err)
	}
	var re *RetryError
	if err := d.Dispatch(context.Background(), other, 1); !errors.As(err, &re) || !re.Paced || re.Wait != 2*time.Second {
		t.Fatalf("second send at once: err = %v, want a paced retry in 2s", err)
	}
	if sms.calls != 1 {
		t.Fatalf("%d calls to the provider, want 1: the second send had no slot", sms.calls)
	}
	now = now.Add(2 * time.Second)
	if err := d.Dispatch(context.Background(), other, 2); err != nil {
		t.Fatalf("at its slot: %v", err)
	}
}

// TestDispatchCapsAPause checks that a provider asking for a day's pause stops its
// channel for MaxPause at most.
func TestDispatchCapsAPause(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	sms := &scripted{name: "sms", answers: []error{RetryAfter(errors.New("429"), 24*time.Hour)}}
	lim := NewMemLimits()
	d := &Dispatcher{Notifiers: []Notifier{sms}, Sent: &memSent{m: map[string]Receipt{}}, Log: quietLog(), Limits: lim,
		Record: func(context.Context, Delivery) error { return nil }, Now: func() time.Time { return now }}
	var re *RetryError
	if err := d.Dispatch(context.Background(), Message{Alert: &rules.Alert{ID: "al_1", CreatedAt: now}, Cardholder: &rules.Cardholder{}}, 1); !errors.As(err, &re) || re.Wait != MaxPause {
		t.Fatalf("err = %v, want a retry after %v", err, MaxPause)
	}
	if got := lim.PausedFor("sms", now); got != MaxPause {
		t.Errorf("paused for %v, want %v", got, MaxPause)
	}
}
