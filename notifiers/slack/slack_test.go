package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cardwatch/cardwatch/notifiers"
	"github.com/cardwatch/cardwatch/rules"
)

const (
	token  = "xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOpQrStUvWx"
	userID = "U024BE7LH"
	dmID   = "D024BE91L"
	ts     = "1700000000.000100"
)

// answer is how the fake Slack answers a request.
type answer struct {
	status int
	header http.Header
	body   string
	down   bool // nothing listens: connection refused
	hang   bool // no answer until the client gives up or the test ends
}

func okBody(channel string) string {
	return `{"ok":true,"channel":"` + channel + `","ts":"` + ts + `","message":{"type":"message","subtype":"bot_message",` +
		`"text":"…","ts":"` + ts + `","bot_id":"B0CARDWATCH","app_id":"A0CARDWATCH"}}`
}

func slackError(name string) string { return `{"ok":false,"error":"` + name + `"}` }

// fakeSlack is Slack's Web API: it fails the test unless the request is chat.postMessage
// as slack-go sends it (a form with the token in it) carrying m, then answers a.
func fakeSlack(t *testing.T, m notifiers.Message, a answer) *httptest.Server {
	t.Helper()
	blocks, err := json.Marshal(Blocks(m))
	if err != nil {
		t.Fatal(err)
	}
	want := url.Values{
		"token":        {token},
		"channel":      {m.Cardholder.Notify.Slack},
		"text":         {Text(m)},
		"blocks":       {string(blocks)},
		"unfurl_links": {"false"},
		"unfurl_media": {"false"},
	}
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/api/chat.postMessage" {
			t.Errorf("request = %s %s, want POST /api/chat.postMessage", r.Method, r.URL.Path)
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
			t.Errorf("Content-Type = %q", ct)
		}
		if err := r.ParseForm(); err != nil {
			t.Errorf("form: %v", err)
		}
		if r.URL.RawQuery != "" {
			t.Errorf("query = %q, want none (the token must not be in the URL)", r.URL.RawQuery)
		}
		if !reflect.DeepEqual(r.PostForm, want) {
			t.Errorf("form = %v\nwant %v", r.PostForm, want)
		}
		if a.hang {
			select {
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		for k, v := range a.header {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(a.status)
		io.WriteString(w, a.body)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // before srv.Close, which waits for handlers
	if a.down {
		srv.Close()
	}
	return srv
}

// clientTimeout is the HTTP client's timeout for a case: short only where the fake hangs,
// so that a loaded machine cannot turn a slow answer into a timeout.
func clientTimeout(a answer) time.Duration {
	if a.hang {
		return 50 * time.Millisecond
	}
	return 10 * time.Second
}

func newNotifier(t *testing.T, srv *httptest.Server, timeout time.Duration) *Notifier {
	t.Helper()
	n, err := New(Config{BotToken: token, APIURL: srv.URL + "/api", HTTPClient: &http.Client{Timeout: timeout}})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

var sendCases = []struct {
	name   string
	answer answer
	class  notifiers.Class
	wait   time.Duration
}{
	{"ok", answer{status: 200, body: okBody(dmID)}, notifiers.Done, 0},
	{"ok:false ratelimited", answer{status: 200, body: slackError("ratelimited")}, notifiers.RetryLater, time.Second},
	{"429 Retry-After 3", answer{status: 429, header: http.Header{"Retry-After": {"3"}}, body: slackError("ratelimited")}, notifiers.RetryLater, 3 * time.Second},
	{"429 no Retry-After", answer{status: 429}, notifiers.RetryLater, time.Second},
	{"429 Retry-After date", answer{status: 429, header: http.Header{"Retry-After": {"Wed, 21 Oct 2026 07:28:00 GMT"}}}, notifiers.RetryLater, time.Second},
	{"channel_not_found", answer{status: 200, body: slackError("channel_not_found")}, notifiers.GiveUp, 0},
	{"invalid_auth", answer{status: 200, body: slackError("invalid_auth")}, notifiers.GiveUp, 0},
	{"missing_scope", answer{status: 200, body: `{"ok":false,"error":"missing_scope","needed":"chat:write","provided":"users:read"}`}, notifiers.GiveUp, 0},
	{"internal_error", answer{status: 200, body: slackError("internal_error")}, notifiers.Retry, 0},
	{"unknown error", answer{status: 200, body: slackError("something_new")}, notifiers.Retry, 0},
	{"404", answer{status: 404, body: "<html>Not Found</html>"}, notifiers.GiveUp, 0},
	{"500", answer{status: 500, body: "<html>oops</html>"}, notifiers.Retry, 0},
	{"503", answer{status: 503}, notifiers.Retry, 0},
	{"connection refused", answer{down: true}, notifiers.Retry, 0},
	{"timeout", answer{hang: true}, notifiers.Retry, 0},
}

func TestSendClassifies(t *testing.T) {
	for _, c := range sendCases {
		t.Run(c.name, func(t *testing.T) {
			m := message("foreign_three_reasons")
			n := newNotifier(t, fakeSlack(t, m, c.answer), clientTimeout(c.answer))
			r, err := n.Send(context.Background(), m)
			class, wait := notifiers.Classify(err)
			if class != c.class || wait != c.wait {
				t.Errorf("Classify = %v, %v; want %v, %v (error: %v)", class, wait, c.class, c.wait, err)
			}
			if class == notifiers.Done && r.ProviderID != dmID+"/"+ts {
				t.Errorf("ProviderID = %q, want %q", r.ProviderID, dmID+"/"+ts)
			}
		})
	}
}

func TestSendKeepsTheCause(t *testing.T) {
	m := message("single_reason")

	_, err := newNotifier(t, fakeSlack(t, m, answer{down: true}), time.Minute).Send(context.Background(), m)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("connection refused: error %v does not match ECONNREFUSED", err)
	}

	_, err = newNotifier(t, fakeSlack(t, m, answer{hang: true}), 50*time.Millisecond).Send(context.Background(), m)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("timeout: error %v is not a net.Error timeout", err)
	}
}

// TestSendLeaksNoSecret holds every failure to the rule that errors never carry the token.
func TestSendLeaksNoSecret(t *testing.T) {
	secret := strings.TrimPrefix(token, "xoxb-")
	for _, c := range sendCases {
		if c.class == notifiers.Done {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			m := message("foreign_three_reasons")
			_, err := newNotifier(t, fakeSlack(t, m, c.answer), clientTimeout(c.answer)).Send(context.Background(), m)
			if err == nil {
				t.Fatal("Send succeeded")
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q contains the token", err)
			}
		})
	}
}

func TestSendToChannel(t *testing.T) {
	m := message("single_reason")
	m.Cardholder.Notify.Slack = "C0FRAUDOPS"
	n := newNotifier(t, fakeSlack(t, m, answer{status: 200, body: okBody("C0FRAUDOPS")}), time.Minute)
	r, err := n.Send(context.Background(), m)
	if err != nil || r.ProviderID != "C0FRAUDOPS/"+ts {
		t.Errorf("Send = %q, %v; want %q", r.ProviderID, err, "C0FRAUDOPS/"+ts)
	}
}

func TestNewValidates(t *testing.T) {
	if _, err := New(Config{}); err == nil || !strings.Contains(err.Error(), "CARDWATCH_SLACK_BOT_TOKEN") {
		t.Errorf("New(Config{}) = %v, want it to name CARDWATCH_SLACK_BOT_TOKEN", err)
	}
	const userToken = "xoxp-1234-5678-secret"
	_, err := New(Config{BotToken: userToken, APIURL: "slack.com/api"})
	if err == nil || !strings.Contains(err.Error(), "CARDWATCH_SLACK_API_URL") || !strings.Contains(err.Error(), "xoxb-") {
		t.Errorf("New with a user token and a relative URL = %v", err)
	}
	if err != nil && strings.Contains(err.Error(), userToken) {
		t.Errorf("error %q prints the token", err)
	}
}

func TestWants(t *testing.T) {
	n := &Notifier{}
	if n.Wants(&rules.Cardholder{}) || !n.Wants(&rules.Cardholder{Notify: rules.Notify{Slack: userID}}) {
		t.Error("Wants does not follow Notify.Slack")
	}
}

func TestPrintingHidesTheToken(t *testing.T) {
	cfg := Config{BotToken: token}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if s := fmt.Sprintf("%v %+v %#v %v %+v %#v", cfg, cfg, cfg, n, n, n); strings.Contains(s, token) {
		t.Errorf("printed: %s", s)
	}
}

// TestRatesArePerChannel checks that Slack's pace is counted per channel or user: one
// message a second, in bursts of three.
func TestRatesArePerChannel(t *testing.T) {
	n, err := New(Config{BotToken: token})
	if err != nil {
		t.Fatal(err)
	}
	m := message("foreign_three_reasons")
	want := []notifiers.Rate{{Name: RateChannel, Key: m.Cardholder.Notify.Slack, Limit: 1, Burst: 3}}
	if got := n.Rates(m); !reflect.DeepEqual(got, want) {
		t.Errorf("Rates = %+v, want %+v", got, want)
	}
}
