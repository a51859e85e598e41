package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/cardwatch/cardwatch/notifiers"
	"github.com/cardwatch/cardwatch/rules"
)

const (
	signingSecret = "5ec7e75ec7e7f00dcafe0123456789ab"
	// responsePath is the path of a response_url as Slack makes them; its last part is
	// the token that lets anyone post into the conversation.
	responsePath  = "/actions/T1DC2JH3J/397700885554/96rGlfmibIGlgcZRskXaIFfN"
	responseToken = "96rGlfmibIGlgcZRskXaIFfN"
)

var (
	// clock is the handler's now; answeredAt is 18:24 in New York, the test cardholder's zone.
	clock      = time.Date(2026, 11, 24, 23, 30, 0, 0, time.UTC)
	answeredAt = time.Date(2026, 11, 24, 23, 24, 0, 0, time.UTC)
)

// TestSignatureSlackExample checks the HMAC against the example in Slack's "Verifying
// requests from Slack" page.
func TestSignatureSlackExample(t *testing.T) {
	const (
		secret = "8f742231b10e8888abcd99yyyzzz85a5"
		ts     = "1531420618"
		body   = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
		want   = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
	)
	if got := Signature(secret, ts, []byte(body)); got != want {
		t.Errorf("Signature = %s, want %s", got, want)
	}
}

// fakeAnswers is notifiers.Answers holding one alert. result says how Answer goes; when
// release is not nil, Answer waits for it to be closed first.
type fakeAnswers struct {
	alert   *rules.Alert
	result  func(alertID, verdict string) (notifiers.Outcome, error)
	release chan struct{}

	mu    sync.Mutex
	calls []answerCall
}

type answerCall struct{ alertID, verdict, channel string }

var _ notifiers.Answers = (*fakeAnswers)(nil)

func (f *fakeAnswers) Alert(_ context.Context, id string) (*rules.Alert, *rules.Report, error) {
	if f.alert == nil || id != f.alert.ID {
		return nil, nil, notifiers.ErrUnknownAlert
	}
	return f.alert, nil, nil
}

func (f *fakeAnswers) Answer(_ context.Context, id, verdict, channel string) (notifiers.Outcome, error) {
	f.mu.Lock()
	f.calls = append(f.calls, answerCall{id, verdict, channel})
	f.mu.Unlock()
	if f.release != nil {
		<-f.release
	}
	return f.result(id, verdict)
}

func (f *fakeAnswers) PhoneAlerts(context.Context, string) ([]notifiers.PhoneAlert, error) {
	return nil, nil
}

func (f *fakeAnswers) FirstMessage(context.Context, string, string) (bool, error) { return true, nil }

func (f *fakeAnswers) RecordDelivery(context.Context, notifiers.Delivery) error { return nil }

func (f *fakeAnswers) Calls() []answerCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func report(id, verdict string) rules.Report {
	return rules.Report{AlertID: id, Verdict: verdict, Channel: notifiers.ChannelSlack, ReportedAt: answeredAt}
}

// first answers as for the first answer to an alert; standing as for a later one, when
// verdict was given first.
func first(id, verdict string) (notifiers.Outcome, error) {
	return notifiers.Outcome{Standing: report(id, verdict), First: true}, nil
}

func standing(verdict string) func(string, string) (notifiers.Outcome, error) {
	return func(id, _ string) (notifiers.Outcome, error) {
		return notifiers.Outcome{Standing: report(id, verdict)}, nil
	}
}

func failing(err error) func(string, string) (notifiers.Outcome, error) {
	return func(string, string) (notifiers.Outcome, error) { return notifiers.Outcome{}, err }
}

// posted is what the fake response_url got.
type posted struct {
	Text            string          `json:"text"`
	ReplaceOriginal bool            `json:"replace_original"`
	ResponseType    string          `json:"response_type"`
	Blocks          json.RawMessage `json:"blocks"`
}

// sink is Slack's response_url.
type sink struct {
	srv   *httptest.Server
	mu    sync.Mutex
	posts []posted
}

func newSink(t testing.TB, status int) *sink {
	s := &sink{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p posted
		if r.Method != http.MethodPost || r.URL.Path != responsePath {
			t.Errorf("response_url got %s %s, want POST %s", r.Method, r.URL.Path, responsePath)
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("response_url got Content-Type %q", ct)
		}
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
			t.Errorf("response_url got no JSON: %v", err)
		}
		s.mu.Lock()
		s.posts = append(s.posts, p)
		s.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *sink) url() string { return s.srv.URL + responsePath }

func (s *sink) Posts() []posted {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.posts)
}

// logBuffer takes the handler's log lines from any goroutine.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// rig is the handler behind an HTTP server, with the test alert and its cardholder.
type rig struct {
	h       *Interactions
	srv     *httptest.Server
	answers *fakeAnswers
	sink    *sink
	logs    *logBuffer
	alert   *rules.Alert
}

// newRig serves a handler. When the test ends it waits for the handler's work and checks
// that nothing secret reached the log.
func newRig(t *testing.T, fa *fakeAnswers, s *sink) *rig {
	t.Helper()
	m := message("foreign_three_reasons")
	if fa.alert == nil {
		fa.alert = m.Alert
	}
	if fa.result == nil {
		fa.result = first
	}
	logs := &logBuffer{}
	h, err := NewInteractions(InteractionsConfig{
		SigningSecret: signingSecret,
		Answers:       fa,
		Cardholder: func(bank, id string) *rules.Cardholder {
			if bank == m.Cardholder.Bank && id == m.Cardholder.ID {
				return m.Cardholder
			}
			return nil
		},
		Log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now: func() time.Time { return clock },
	})
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{h: h, answers: fa, sink: s, logs: logs, alert: fa.alert}
	t.Cleanup(func() {
		for _, secret := range []string{signingSecret, responseToken, "payload=", m.Cardholder.Notify.SMS} {
			if strings.Contains(logs.String(), secret) {
				t.Errorf("the log holds %q:\n%s", secret, logs)
			}
		}
	})
	t.Cleanup(h.Wait)
	r.srv = httptest.NewServer(h)
	t.Cleanup(r.srv.Close)
	return r
}

// tap is a button tap as Slack reports it.
func tap(actionID, alertID string) *slack.BlockAction {
	return &slack.BlockAction{ActionID: actionID, BlockID: AnswerBlockID, Type: "button", Value: alertID, ActionTs: "1795735800.123456"}
}

// form is the request body Slack sends for cb.
func form(t testing.TB, cb slack.InteractionCallback) []byte {
	t.Helper()
	p, err := json.Marshal(&cb)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(url.Values{"payload": {string(p)}}.Encode())
}

func blockActions(responseURL string, taps ...*slack.BlockAction) slack.InteractionCallback {
	return slack.InteractionCallback{
		Type:           slack.InteractionTypeBlockActions,
		ResponseURL:    responseURL,
		User:           slack.User{ID: userID},
		Channel:        slack.Channel{GroupConversation: slack.GroupConversation{Conversation: slack.Conversation{ID: dmID}}},
		ActionCallback: slack.ActionCallbacks{BlockActions: taps},
	}
}

// signed are the headers Slack sends with body at time at, signed with secret.
func signed(body []byte, at time.Time, secret string) http.Header {
	ts := strconv.FormatInt(at.Unix(), 10)
	return http.Header{
		"Content-Type":              {"application/x-www-form-urlencoded"},
		"X-Slack-Request-Timestamp": {ts},
		"X-Slack-Signature":         {Signature(secret, ts, body)},
	}
}

func (r *rig) do(t *testing.T, c *http.Client, method string, body []byte, h http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, r.srv.URL+"/slack/interactions", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = h
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func TestInteractionsRefusesBadRequests(t *testing.T) {
	s := newSink(t, http.StatusOK)
	alertID := message("foreign_three_reasons").Alert.ID
	body := form(t, blockActions(s.url(), tap(ActionFraud, alertID)))
	altered := bytes.Replace(body, []byte(ActionFraud), []byte(ActionLegit), 1)
	if bytes.Equal(altered, body) {
		t.Fatal("the altered body is the same")
	}
	oversize := append(slices.Clone(body), "&pad="+strings.Repeat("x", MaxInteractionBody)...)
	stale := signed(body, clock.Add(-6*time.Minute), signingSecret)
	early := signed(body, clock.Add(6*time.Minute), signingSecret)
	wrong := signed(body, clock, "not-the-signing-secret")
	v1 := signed(body, clock, signingSecret)
	v1.Set("X-Slack-Signature", "v1="+strings.TrimPrefix(v1.Get("X-Slack-Signature"), "v0="))
	noTS := signed(body, clock, signingSecret)
	noTS.Del("X-Slack-Request-Timestamp")
	notANumber := http.Header{"X-Slack-Request-Timestamp": {"soon"}, "X-Slack-Signature": {Signature(signingSecret, "soon", body)}}

	for _, c := range []struct {
		name   string
		method string
		body   []byte
		header http.Header
		status int
	}{
		{"no headers", http.MethodPost, body, http.Header{}, http.StatusUnauthorized},
		{"no timestamp", http.MethodPost, body, noTS, http.StatusUnauthorized},
		{"timestamp not a number", http.MethodPost, body, notANumber, http.StatusUnauthorized},
		{"signed with another secret", http.MethodPost, body, wrong, http.StatusUnauthorized},
		{"not a v0 signature", http.MethodPost, body, v1, http.StatusUnauthorized},
		{"body altered after signing", http.MethodPost, altered, signed(body, clock, signingSecret), http.StatusUnauthorized},
		{"timestamp 6 minutes old", http.MethodPost, body, stale, http.StatusUnauthorized},
		{"timestamp 6 minutes ahead", http.MethodPost, body, early, http.StatusUnauthorized},
		{"oversize body", http.MethodPost, oversize, signed(oversize, clock, signingSecret), http.StatusRequestEntityTooLarge},
		{"GET", http.MethodGet, nil, signed(nil, clock, signingSecret), http.StatusMethodNotAllowed},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t, &fakeAnswers{}, s)
			before := len(s.Posts())
			resp, got := r.do(t, http.DefaultClient, c.method, c.body, c.header)
			if resp.StatusCode != c.status {
				t.Errorf("status = %d, want %d", resp.StatusCode, c.status)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
				t.Errorf("Content-Type = %q, want text/plain", ct)
			}
			if strings.Contains(got, signingSecret) || strings.Contains(got, alertID) {
				t.Errorf("body = %q", got)
			}
			r.h.Wait()
			if calls := r.answers.Calls(); len(calls) != 0 {
				t.Errorf("Answers called: %v", calls)
			}
			if posts := s.Posts()[before:]; len(posts) != 0 {
				t.Errorf("response_url got %v", posts)
			}
		})
	}

	// The same request, signed now, goes through: the cases above fail for their reason only.
	t.Run("control", func(t *testing.T) {
		r := newRig(t, &fakeAnswers{}, s)
		if resp, _ := r.do(t, http.DefaultClient, http.MethodPost, body, signed(body, clock.Add(-5*time.Minute), signingSecret)); resp.StatusCode != http.StatusOK {
			t.Errorf("status = %d, want 200", resp.StatusCode)
		}
		r.h.Wait()
		if len(r.answers.Calls()) != 1 {
			t.Errorf("Answers calls = %v, want one", r.answers.Calls())
		}
	})
}

func TestInteractionsAnswers(t *testing.T) {
	for _, c := range []struct {
		name     string
		cb       func(responseURL, alertID string) slack.InteractionCallback
		result   func(string, string) (notifiers.Outcome, error)
		holderID string // the alert's cardholder, when not the one the rig knows
		tapID    string // the alert id on the button, when not the rig's alert
		verdict  string // the verdict Answers must get; "" when it must not be called
		text     string // what the post must say; "" when there must be no post
		replace  bool
		blocks   bool
		// fraudButton: "Report fraud" stays, since "it was me" stands
		fraudButton bool
		log         string
	}{
		{
			name:    "report fraud",
			cb:      func(u, id string) slack.InteractionCallback { return blockActions(u, tap(ActionFraud, id)) },
			verdict: rules.VerdictFraud,
			text:    "Reported as fraud at 18:24. Your bank has been told and will block the card.",
			replace: true, blocks: true,
		},
		{
			name:    "it was me",
			cb:      func(u, id string) slack.InteractionCallback { return blockActions(u, tap(ActionLegit, id)) },
			verdict: rules.VerdictLegit,
			text:    "You confirmed this was you at 18:24.",
			replace: true, blocks: true, fraudButton: true,
		},
		{
			name:    "fraud again",
			cb:      func(u, id string) slack.InteractionCallback { return blockActions(u, tap(ActionFraud, id)) },
			result:  standing(rules.VerdictFraud),
			verdict: rules.VerdictFraud,
			text:    "Already reported as fraud at 18:24.",
			replace: true, blocks: true,
		},
		{
			name:    "it was me after fraud",
			cb:      func(u, id string) slack.InteractionCallback { return blockActions(u, tap(ActionLegit, id)) },
			result:  standing(rules.VerdictFraud),
			verdict: rules.VerdictLegit,
			text:    "Already reported as fraud at 18:24. To change that, contact your bank.",
			replace: true, blocks: true,
		},
		{
			name:    "it was me again",
			cb:      func(u, id string) slack.InteractionCallback { return blockActions(u, tap(ActionLegit, id)) },
			result:  standing(rules.VerdictLegit),
			verdict: rules.VerdictLegit,
			text:    "You already confirmed this was you at 18:24.",
			replace: true, blocks: true, fraudButton: true,
		},
		{
			name: "fraud after it was me",
			cb:   func(u, id string) slack.InteractionCallback { return blockActions(u, tap(ActionFraud, id)) },
			result: func(id, _ string) (notifiers.Outcome, error) {
				r := report(id, rules.VerdictFraud)
				r.Correction = true
				return notifiers.Outcome{Standing: r, Correction: true}, nil
			},
			verdict: rules.VerdictFraud,
			text:    "Reported as fraud at 18:24, after you had confirmed it. Your bank has been told and will block the card.",
			replace: true, blocks: true,
		},
		{
			name:    "too old",
			cb:      func(u, id string) slack.InteractionCallback { return blockActions(u, tap(ActionLegit, id)) },
			result:  failing(notifiers.ErrTooOld),
			verdict: rules.VerdictLegit,
			text:    notifiers.TooOldText,
			replace: true,
		},
		{
			name:     "cardholder gone from the rules file",
			cb:       func(u, id string) slack.InteractionCallback { return blockActions(u, tap(ActionFraud, id)) },
			holderID: "ch_gone",
			verdict:  rules.VerdictFraud,
			text:     "Reported as fraud at 23:24 UTC.",
			replace:  true, blocks: true,
		},
		{
			name:    "unknown alert",
			cb:      func(u, id string) slack.InteractionCallback { return blockActions(u, tap(ActionFraud, id)) },
			tapID:   "al_aaaaaaaaaaaaaaaa",
			result:  failing(notifiers.ErrUnknownAlert),
			verdict: rules.VerdictFraud,
			text:    "This alert is no longer available.",
			replace: true,
		},
		{
			name:    "answers fail",
			cb:      func(u, id string) slack.InteractionCallback { return blockActions(u, tap(ActionLegit, id)) },
			result:  failing(errors.New("nats: timeout")),
			verdict: rules.VerdictLegit,
			text:    "Something went wrong; please try again",
			log:     "nats: timeout",
		},
		{
			name: "report page link",
			cb:   func(u, _ string) slack.InteractionCallback { return blockActions(u, tap(ActionOpen, "")) },
		},
		{
			name: "button of another block",
			cb: func(u, id string) slack.InteractionCallback {
				b := tap(ActionFraud, id)
				b.BlockID = "elsewhere"
				return blockActions(u, b)
			},
		},
		{
			name: "not block_actions",
			cb: func(u, id string) slack.InteractionCallback {
				cb := blockActions(u, tap(ActionFraud, id))
				cb.Type = slack.InteractionTypeViewSubmission
				return cb
			},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newSink(t, http.StatusOK)
			fa := &fakeAnswers{result: c.result}
			if c.holderID != "" {
				fa.alert = message("foreign_three_reasons").Alert
				fa.alert.CardholderID = c.holderID
			}
			r := newRig(t, fa, s)
			id := r.alert.ID
			if c.tapID != "" {
				id = c.tapID
			}
			body := form(t, c.cb(s.url(), id))
			resp, got := r.do(t, http.DefaultClient, http.MethodPost, body, signed(body, clock, signingSecret))
			if resp.StatusCode != http.StatusOK || got != "" {
				t.Errorf("answer = %d %q, want 200 and no body", resp.StatusCode, got)
			}
			r.h.Wait()

			calls := r.answers.Calls()
			switch {
			case c.verdict == "" && len(calls) != 0:
				t.Errorf("Answers called: %v", calls)
			case c.verdict != "":
				if want := []answerCall{{id, c.verdict, notifiers.ChannelSlack}}; !slices.Equal(calls, want) {
					t.Errorf("Answers calls = %v, want %v", calls, want)
				}
			}

			posts := s.Posts()
			if c.text == "" {
				if len(posts) != 0 {
					t.Errorf("response_url got %v", posts)
				}
				return
			}
			if len(posts) != 1 {
				t.Fatalf("response_url got %d posts, want 1: %v", len(posts), posts)
			}
			p := posts[0]
			if !strings.Contains(p.Text, c.text) {
				t.Errorf("text = %q, want it to say %q", p.Text, c.text)
			}
			if p.ReplaceOriginal != c.replace {
				t.Errorf("replace_original = %v, want %v", p.ReplaceOriginal, c.replace)
			}
			if !c.replace && p.ResponseType != slack.ResponseTypeEphemeral {
				t.Errorf("response_type = %q, want ephemeral", p.ResponseType)
			}
			checkBlocks(t, p.Blocks, c.blocks, c.text, c.fraudButton)
			if logs := r.logs.String(); !strings.Contains(logs, "alert="+id) || !strings.Contains(logs, c.log) {
				t.Errorf("log does not name the alert and %q:\n%s", c.log, logs)
			}
		})
	}
}

// checkBlocks checks a posted message shows the alert's facts with line in place of
// the buttons (and below it "Report fraud" alone when fraudButton), or has no blocks.
func checkBlocks(t *testing.T, raw json.RawMessage, want bool, line string, fraudButton bool) {
	t.Helper()
	if !want {
		if len(raw) != 0 {
			t.Errorf("blocks = %s, want none", raw)
		}
		return
	}
	var b slack.Blocks
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatalf("blocks: %v", err)
	}
	want4 := 4
	if fraudButton {
		want4 = 5
	}
	if n := len(b.BlockSet); n != want4 {
		t.Fatalf("%d blocks, want %d", n, want4)
	}
	if h, ok := b.BlockSet[0].(*slack.HeaderBlock); !ok || !strings.Contains(h.Text.Text, "ACME ELECTRONICS") {
		t.Errorf("first block = %#v, want the alert's header", b.BlockSet[0])
	}
	for i, blk := range b.BlockSet {
		if blk.BlockType() != slack.MBTAction {
			continue
		}
		ab := blk.(*slack.ActionBlock)
		if !fraudButton || i != 4 || len(ab.Elements.ElementSet) != 1 {
			t.Errorf("the answered message still has buttons: %s", raw)
		} else if be, ok := ab.Elements.ElementSet[0].(*slack.ButtonBlockElement); !ok || be.ActionID != ActionFraud {
			t.Errorf("the button left is not Report fraud: %s", raw)
		}
	}
	if s, ok := b.BlockSet[3].(*slack.SectionBlock); !ok || s.Text == nil || !strings.HasPrefix(s.Text.Text, line) {
		t.Errorf("last block = %s, want a section saying %q", raw, line)
	}
}

// TestInteractionsAnswersBeforeTheWork holds Answers until the HTTP answer is back:
// Slack gives up on an interaction after 3 seconds, whatever NATS is doing.
func TestInteractionsAnswersBeforeTheWork(t *testing.T) {
	s := newSink(t, http.StatusOK)
	fa := &fakeAnswers{release: make(chan struct{})}
	r := newRig(t, fa, s)
	released := false
	t.Cleanup(func() { // before the rig's Wait
		if !released {
			close(fa.release)
		}
	})
	body := form(t, blockActions(s.url(), tap(ActionFraud, r.alert.ID)))
	// The timeout only turns a handler that waits for Answers into a failure, not a hang.
	c := &http.Client{Timeout: 10 * time.Second}
	resp, _ := r.do(t, c, http.MethodPost, body, signed(body, clock, signingSecret))
	if resp.StatusCode != http.StatusOK {
		t.Errorf("status = %d, want 200", resp.StatusCode)
	}
	if posts := s.Posts(); len(posts) != 0 {
		t.Errorf("response_url got %v before Answers returned", posts)
	}
	close(fa.release)
	released = true
	r.h.Wait()
	if calls := r.answers.Calls(); len(calls) != 1 {
		t.Errorf("Answers calls = %v, want one", calls)
	}
	if posts := s.Posts(); len(posts) != 1 || !strings.Contains(posts[0].Text, "Reported as fraud at") {
		t.Errorf("response_url got %v, want the outcome", posts)
	}
}

// TestInteractionsPostFailures logs a response_url that fails without its token.
func TestInteractionsPostFailures(t *testing.T) {
	for _, c := range []struct {
		name string
		sink func(t *testing.T) *sink
		log  string
	}{
		{"404 expired_url", func(t *testing.T) *sink { return newSink(t, http.StatusNotFound) }, "HTTP 404"},
		{"connection refused", func(t *testing.T) *sink {
			s := newSink(t, http.StatusOK)
			s.srv.Close()
			return s
		}, "connection refused"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := c.sink(t)
			r := newRig(t, &fakeAnswers{}, s) // its cleanup checks the log for the token
			body := form(t, blockActions(s.url(), tap(ActionFraud, r.alert.ID)))
			if resp, _ := r.do(t, http.DefaultClient, http.MethodPost, body, signed(body, clock, signingSecret)); resp.StatusCode != http.StatusOK {
				t.Errorf("status = %d, want 200", resp.StatusCode)
			}
			r.h.Wait()
			if logs := r.logs.String(); !strings.Contains(logs, "response_url post failed") || !strings.Contains(logs, c.log) {
				t.Errorf("log does not say the post failed with %q:\n%s", c.log, logs)
			}
		})
	}
}

func TestNewInteractionsRefusesNoSecret(t *testing.T) {
	_, err := NewInteractions(InteractionsConfig{Answers: &fakeAnswers{}})
	if err == nil || !strings.Contains(err.Error(), "CARDWATCH_SLACK_SIGNING_SECRET") {
		t.Errorf("NewInteractions without a secret = %v, want an error naming CARDWATCH_SLACK_SIGNING_SECRET", err)
	}
	cfg := InteractionsConfig{SigningSecret: signingSecret, Answers: &fakeAnswers{}}
	h, err := NewInteractions(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if s := fmt.Sprintf("%v %+v %#v %v %+v %#v", cfg, cfg, cfg, h, h, h); strings.Contains(s, signingSecret) {
		t.Errorf("printed: %s", s)
	}
}

// TestAnsweredBlocksGolden keeps the answered message's look in a file a person can read.
func TestAnsweredBlocksGolden(t *testing.T) {
	m := message("foreign_three_reasons")
	line := outcomeLine(notifiers.Outcome{Standing: report(m.Alert.ID, rules.VerdictFraud), First: true}, rules.VerdictFraud, m.Cardholder)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(answeredBlocks(m, line, false)); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "answered_fraud.golden.json")
	if *update {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./notifiers/slack -update to create it)", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("answered blocks differ from %s (go test ./notifiers/slack -update rewrites it):\n%s", path, buf.Bytes())
	}
}

// TestAnsweredBlocksOfferFraudAfterItWasMe keeps a way back: once "it was me" stands,
// the answered message still has the "Report fraud" button, and only that one.
func TestAnsweredBlocksOfferFraudAfterItWasMe(t *testing.T) {
	m := message("foreign_three_reasons")
	for _, offer := range []bool{true, false} {
		var buttons []string
		for _, b := range answeredBlocks(m, "You confirmed this was you at 18:24.", offer) {
			if ab, ok := b.(*slack.ActionBlock); ok && ab.BlockID == AnswerBlockID {
				for _, e := range ab.Elements.ElementSet {
					if be, ok := e.(*slack.ButtonBlockElement); ok {
						buttons = append(buttons, be.ActionID+"="+be.Value)
					}
				}
			}
		}
		want := []string(nil)
		if offer {
			want = []string{ActionFraud + "=" + m.Alert.ID}
		}
		if !slices.Equal(buttons, want) {
			t.Errorf("offer %v: answer buttons %q, want %q", offer, buttons, want)
		}
	}
}

// refuse is a transport that sends nothing.
type refuse struct{}

func (refuse) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("no network in fuzzing")
}

// FuzzInteractions feeds signed payloads of any shape: the handler must not panic,
// answers only 200 or 400, and passes Answers only the two verdicts.
func FuzzInteractions(f *testing.F) {
	alertID := message("foreign_three_reasons").Alert.ID
	for _, cb := range []slack.InteractionCallback{
		blockActions("http://127.0.0.1:1"+responsePath, tap(ActionFraud, alertID)),
		blockActions("", tap(ActionLegit, alertID), tap(ActionOpen, "")),
		{Type: slack.InteractionTypeViewSubmission},
	} {
		p, err := json.Marshal(&cb)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(p))
	}
	f.Add(`{"type":"block_actions","actions":[null,{"block_id":"cardwatch_answer","action_id":"report_fraud"}],"state":{}}`)
	f.Add(`{"type":"block_actions","actions":{}}`)
	f.Add(`not json`)
	f.Fuzz(func(t *testing.T, payload string) {
		fa := &fakeAnswers{result: first}
		h, err := NewInteractions(InteractionsConfig{
			SigningSecret: signingSecret,
			Answers:       fa,
			HTTPClient:    &http.Client{Transport: refuse{}}, // whatever URL the fuzzer makes up
			Log:           slog.New(slog.DiscardHandler),
			Now:           func() time.Time { return clock },
		})
		if err != nil {
			t.Fatal(err)
		}
		body := []byte(url.Values{"payload": {payload}}.Encode())
		req := httptest.NewRequest(http.MethodPost, "/slack/interactions", bytes.NewReader(body))
		req.Header = signed(body, clock, signingSecret)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		h.Wait()
		if w.Code != http.StatusOK && w.Code != http.StatusBadRequest {
			t.Errorf("status = %d", w.Code)
		}
		for _, c := range fa.Calls() {
			if (c.verdict != rules.VerdictFraud && c.verdict != rules.VerdictLegit) || c.channel != notifiers.ChannelSlack {
				t.Errorf("Answers got %v", c)
			}
		}
	})
}
