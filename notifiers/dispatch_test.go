package notifiers

import (
	"context"
	"errors"
	"io"
	"log/slog"
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
	d := &Dispatcher{Notifiers: []Notifier{sms, slack}, Sent: &memSent{m: map[string]Receipt{}},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Record: func(_ context.Context, ev Delivery) error {
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
	// A channel already sent is recorded "sent" again on each dispatch, in case the
	// earlier record was lost; its event id makes JetStream keep one.
	want := []string{"sms:retrying", "slack:sent", "sms:sent", "slack:sent", "sms:sent", "slack:sent"}
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
	d := &Dispatcher{Notifiers: []Notifier{sms}, Sent: &memSent{m: map[string]Receipt{}},
		Log:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		Record: func(_ context.Context, ev Delivery) error { events = append(events, ev); return nil }}
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
