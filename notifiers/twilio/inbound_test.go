package twilio

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twilio/twilio-go/client"

	"github.com/cardwatch/cardwatch/notifiers"
	"github.com/cardwatch/cardwatch/rules"
)

// publicURL is where Twilio is told cardwatch is; the test servers listen elsewhere.
const publicURL = "https://cw.example.com"

var answeredAt = time.Date(2026, 11, 24, 18, 24, 30, 0, time.UTC)

// fakeAnswers is notifiers.Answers over maps: the open alert of each phone, and the
// standing answer of each alert.
type fakeAnswers struct {
	mu         sync.Mutex
	open       map[string]*rules.Alert
	standing   map[string]rules.Report
	err        error // returned by every call when set
	calls      int
	answers    []string // "alert verdict channel" of each Answer
	deliveries []notifiers.Delivery
}

func newFakeAnswers() *fakeAnswers {
	return &fakeAnswers{open: map[string]*rules.Alert{}, standing: map[string]rules.Report{}}
}

func (f *fakeAnswers) Alert(_ context.Context, id string) (*rules.Alert, *rules.Report, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return nil, nil, errors.New("not used by the Twilio handlers")
}

func (f *fakeAnswers) Answer(_ context.Context, id, verdict, channel string) (notifiers.Outcome, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return notifiers.Outcome{}, f.err
	}
	f.answers = append(f.answers, id+" "+verdict+" "+channel)
	if r, ok := f.standing[id]; ok {
		return notifiers.Outcome{Standing: r}, nil
	}
	r := rules.Report{AlertID: id, Verdict: verdict, Channel: channel, ReportedAt: answeredAt}
	f.standing[id] = r
	return notifiers.Outcome{Standing: r, First: true}, nil
}

func (f *fakeAnswers) NewestOpen(_ context.Context, phone string) (*rules.Alert, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	a, ok := f.open[phone]
	if !ok {
		return nil, notifiers.ErrNoOpenAlert
	}
	return a, nil
}

func (f *fakeAnswers) RecordDelivery(_ context.Context, d notifiers.Delivery) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return f.err
	}
	f.deliveries = append(f.deliveries, d)
	return nil
}

func (f *fakeAnswers) snapshot() (calls int, answers []string, deliveries []notifiers.Delivery) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls, slices.Clone(f.answers), slices.Clone(f.deliveries)
}

// syncBuffer is a log sink the handler's goroutine writes and the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// sign is Twilio's signature, written out here as Twilio documents it rather than
// through the validator under test: HMAC-SHA1 with the auth token over the URL and each
// POST parameter's name and value, sorted by name, in base64.
func sign(authToken, u string, form url.Values) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	s := u
	for _, k := range keys {
		s += k + form.Get(k)
	}
	mac := hmac.New(sha1.New, []byte(authToken))
	mac.Write([]byte(s))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// post sends form to srv's path (with its query), signed with sig unless sig is empty.
func post(t *testing.T, srv *httptest.Server, path string, form url.Values, sig string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if sig != "" {
		req.Header.Set("X-Twilio-Signature", sig)
	}
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(b)
}

// TestValidatorTwilioExample checks the validator cardwatch relies on against the
// example of Twilio's security docs (https://www.twilio.com/docs/usage/security).
func TestValidatorTwilioExample(t *testing.T) {
	const (
		u   = "https://mycompany.com/myapp.php?foo=1&bar=2"
		sig = "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
	)
	params := func() map[string]string {
		return map[string]string{
			"CallSid": "CA1234567890ABCDE", "Caller": "+12349013030", "Digits": "1234",
			"From": "+12349013030", "To": "+18005551212",
		}
	}
	v := client.NewRequestValidator("12345")
	if !v.Validate(u, params(), sig) {
		t.Error("Twilio's example is not valid")
	}
	form := url.Values{}
	for k, val := range params() {
		form.Set(k, val)
	}
	if got := sign("12345", u, form); got != sig {
		t.Errorf("the test's sign = %s, want %s", got, sig)
	}
	altered := params()
	altered["Digits"] = "1235"
	if v.Validate(u, altered, sig) {
		t.Error("an altered parameter is valid")
	}
	if v.Validate("https://mycompany.com/myapp.php?foo=1&bar=3", params(), sig) {
		t.Error("an altered URL is valid")
	}
	if other := client.NewRequestValidator("12346"); other.Validate(u, params(), sig) {
		t.Error("another token's signature is valid")
	}
}

func inboundServer(t *testing.T, f *fakeAnswers, log *slog.Logger) *httptest.Server {
	t.Helper()
	h, err := NewInbound(InboundConfig{AuthToken: token, PublicURL: publicURL, Answers: f, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// reply is a Twilio inbound SMS webhook's form.
func reply(body string) url.Values {
	return url.Values{
		"MessageSid": {"SM" + strings.Repeat("a", 32)}, "AccountSid": {sid}, "From": {to}, "To": {from},
		"Body": {body}, "NumMedia": {"0"},
	}
}

func twimlOf(text string) string {
	if text == "" {
		return `<?xml version="1.0" encoding="UTF-8"?><Response/>`
	}
	return `<?xml version="1.0" encoding="UTF-8"?><Response><Message>` + text + `</Message></Response>`
}

func TestInbound(t *testing.T) {
	a := testMessage().Alert
	const (
		fraud   = "Thanks. Card ..4821: $1,342.10 at &#34;ACME ELECTRONICS&#34; reported as fraud. Your bank has been told and will block the card."
		legit   = "Thanks, noted: the $1,342.10 at &#34;ACME ELECTRONICS&#34; was you."
		help    = "Reply FRAUD if a purchase was not you, or OK if it was."
		noAlert = "No open alert for this number. Reply FRAUD or OK to an alert."
	)
	for _, c := range []struct {
		name     string
		body     string
		open     bool          // the phone has an open alert
		standing *rules.Report // an earlier answer to the alert
		form     url.Values    // more parameters
		want     string        // the TwiML message, "" for none
		verdict  string        // the verdict recorded, "" for none
	}{
		{"FRAUD", "FRAUD", true, nil, nil, fraud, rules.VerdictFraud},
		{"fraud and a space", "fraud ", true, nil, nil, fraud, rules.VerdictFraud},
		{"9", "9", true, nil, nil, fraud, rules.VerdictFraud},
		{"Fraud!", "  Fraud!", true, nil, nil, fraud, rules.VerdictFraud},
		{"ok", "ok", true, nil, nil, legit, rules.VerdictLegit},
		{"1", "1", true, nil, nil, legit, rules.VerdictLegit},
		{"Ok.", "Ok.", true, nil, nil, legit, rules.VerdictLegit},
		{"unknown word", "maybe", true, nil, nil, help, ""},
		{"YES", "yes", true, nil, nil, "", ""}, // Twilio's opt-in word, Twilio replies
		{"NO", "NO", true, nil, nil, help, ""},
		{"two words", "FRAUD OK", true, nil, nil, help, ""},
		{"empty", "", true, nil, nil, help, ""},
		{"STOP", "STOP", true, nil, nil, "", ""},
		{"stop.", " stop.", true, nil, nil, "", ""},
		{"UNSUBSCRIBE", "Unsubscribe", true, nil, nil, "", ""},
		{"START", "START", true, nil, nil, "", ""},
		{"HELP", "help", true, nil, nil, "", ""},
		{"INFO", "INFO", true, nil, nil, "", ""},
		{"custom opt-out keyword", "ARRET", true, nil, url.Values{"OptOutType": {"STOP"}}, "", ""},
		{"no open alert", "FRAUD", false, nil, nil, noAlert, ""},
		{"not first, fraud stands", "OK", true, &rules.Report{Verdict: rules.VerdictFraud, ReportedAt: answeredAt}, nil,
			"This alert was already answered (reported as fraud at 18:24 UTC).", rules.VerdictLegit},
		{"not first, legit stands", "9", true, &rules.Report{Verdict: rules.VerdictLegit, ReportedAt: answeredAt}, nil,
			"This alert was already answered (confirmed as you at 18:24 UTC).", rules.VerdictFraud},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeAnswers()
			if c.open {
				f.open[to] = a
			}
			if c.standing != nil {
				f.standing[a.ID] = *c.standing
			}
			srv := inboundServer(t, f, nil)
			form := reply(c.body)
			for k, v := range c.form {
				form[k] = v
			}
			res, body := post(t, srv, InboundPath, form, sign(token, publicURL+InboundPath, form))
			if res.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", res.StatusCode, body)
			}
			if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/xml") {
				t.Errorf("Content-Type = %q, want text/xml", ct)
			}
			if body != twimlOf(c.want) {
				t.Errorf("reply = %s\nwant    %s", body, twimlOf(c.want))
			}
			if c.want != "" && notifiers.GSMSeptets(c.want) < 0 {
				t.Errorf("reply %q is not GSM-7", c.want)
			}
			_, answers, _ := f.snapshot()
			var want []string
			if c.verdict != "" {
				want = []string{a.ID + " " + c.verdict + " sms"}
			}
			if !slices.Equal(answers, want) {
				t.Errorf("answers = %q, want %q", answers, want)
			}
		})
	}
}

func TestInboundEscapesAndFits(t *testing.T) {
	a := *testMessage().Alert
	a.Merchant.Name = "TOM & JERRY'S <DINER> ŁÓDŹ " + strings.Repeat("EXTRA LONG NAME ", 6)
	a.BillingAmount = &rules.Money{Minor: 5000000, Currency: "NGN"}
	f := newFakeAnswers()
	f.open[to] = &a
	srv := inboundServer(t, f, nil)
	form := reply("FRAUD")
	_, body := post(t, srv, InboundPath, form, sign(token, publicURL+InboundPath, form))
	if !strings.Contains(body, "TOM &amp; JERRY&#39;S &lt;DINER&gt; ?ODZ") {
		t.Errorf("reply is not XML-escaped GSM-7: %s", body)
	}
	text := answeredText(&a, rules.VerdictFraud)
	if n := notifiers.GSMSeptets(text); n < 0 || n > notifiers.SMSSegment {
		t.Errorf("reply takes %d septets: %q", n, text)
	}
	if !strings.Contains(text, "50000.00 NGN") {
		t.Errorf("reply %q does not give the amount in GSM-7", text)
	}
}

// TestInboundInternalError answers the cardholder, and logs neither the number nor
// the message.
func TestInboundInternalError(t *testing.T) {
	f := newFakeAnswers()
	f.err = errors.New("alert store: phone " + to + ": nats: timeout")
	var logs syncBuffer
	srv := inboundServer(t, f, slog.New(slog.NewTextHandler(&logs, nil)))
	const secretBody = "FRAUD"
	form := reply(secretBody)
	res, body := post(t, srv, InboundPath, form, sign(token, publicURL+InboundPath, form))
	if res.StatusCode != http.StatusOK || body != twimlOf("Sorry, something went wrong. Please try again.") {
		t.Errorf("status %d, reply %s", res.StatusCode, body)
	}
	l := logs.String()
	if !strings.Contains(l, "nats: timeout") {
		t.Errorf("the error is not logged: %s", l)
	}
	for _, s := range []string{to, strings.TrimPrefix(to, "+"), "Body", secretBody} {
		if strings.Contains(l, s) {
			t.Errorf("log contains %q: %s", s, l)
		}
	}
}

// TestInboundRefuses checks that only Twilio's signature over the public URL gets in,
// and that nothing is recorded otherwise.
func TestInboundRefuses(t *testing.T) {
	form := reply("FRAUD")
	big := reply("FRAUD " + strings.Repeat("x", MaxWebhookBody))
	for _, c := range []struct {
		name string
		form url.Values
		sig  func(srv *httptest.Server) string
		want int
	}{
		{"unsigned", form, func(*httptest.Server) string { return "" }, http.StatusForbidden},
		{"signed over the listen address", form, func(srv *httptest.Server) string {
			return sign(token, srv.URL+InboundPath, form)
		}, http.StatusForbidden},
		{"another token", form, func(*httptest.Server) string {
			return sign(strings.Repeat("0", 32), publicURL+InboundPath, form)
		}, http.StatusForbidden},
		{"another path", form, func(*httptest.Server) string {
			return sign(token, publicURL+StatusPath, form)
		}, http.StatusForbidden},
		{"a parameter added after signing", url.Values{"From": {to}, "Body": {"FRAUD"}, "To": {from}}, func(*httptest.Server) string {
			return sign(token, publicURL+InboundPath, url.Values{"From": {to}, "Body": {"FRAUD"}})
		}, http.StatusForbidden},
		{"a repeated parameter", url.Values{"From": {to, "+15550000000"}, "Body": {"FRAUD"}}, func(*httptest.Server) string {
			return sign(token, publicURL+InboundPath, url.Values{"From": {to}, "Body": {"FRAUD"}})
		}, http.StatusForbidden},
		{"oversize body", big, func(*httptest.Server) string {
			return sign(token, publicURL+InboundPath, big)
		}, http.StatusRequestEntityTooLarge},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeAnswers()
			f.open[to] = testMessage().Alert
			srv := inboundServer(t, f, slog.New(slog.DiscardHandler))
			res, body := post(t, srv, InboundPath, c.form, c.sig(srv))
			if res.StatusCode != c.want {
				t.Errorf("status = %d, want %d (%s)", res.StatusCode, c.want, body)
			}
			if strings.Contains(body, "<Response") {
				t.Errorf("refused request got TwiML: %s", body)
			}
			if calls, _, _ := f.snapshot(); calls != 0 {
				t.Errorf("Answers called %d times", calls)
			}
		})
	}
}

func TestNewInboundValidates(t *testing.T) {
	const badToken = "s3cret"
	for _, cfg := range []InboundConfig{
		{PublicURL: publicURL, Answers: newFakeAnswers()},
		{AuthToken: badToken, PublicURL: "cw.example.com", Answers: newFakeAnswers()},
		{AuthToken: badToken, PublicURL: publicURL + "/?x=1", Answers: newFakeAnswers()},
		{AuthToken: badToken, PublicURL: publicURL},
	} {
		if _, err := NewInbound(cfg); err == nil {
			t.Errorf("NewInbound(%+v) succeeded", cfg)
		} else if strings.Contains(err.Error(), badToken) {
			t.Errorf("error %q prints the token", err)
		}
		if _, err := NewStatus(cfg); err == nil {
			t.Errorf("NewStatus(%+v) succeeded", cfg)
		}
	}
}

func TestStatus(t *testing.T) {
	a := testMessage().Alert
	now := time.Date(2026, 11, 24, 18, 23, 0, 0, time.UTC)
	path := StatusPath + "?alert=" + a.ID + "&bank=acme"
	receipt := func(status, code string) url.Values {
		v := url.Values{"MessageSid": {messageSID}, "MessageStatus": {status}, "AccountSid": {sid}, "To": {to}, "From": {from}}
		if code != "" {
			v.Set("ErrorCode", code)
		}
		return v
	}
	for _, c := range []struct {
		name   string
		path   string
		form   url.Values
		signed bool
		want   int
		record *notifiers.Delivery
	}{
		{"delivered", path, receipt("delivered", ""), true, http.StatusNoContent, &notifiers.Delivery{
			AlertID: a.ID, Bank: "acme", Channel: "sms", Status: "delivered", ProviderID: messageSID, At: now}},
		{"failed", path, receipt("failed", "30006"), true, http.StatusNoContent, &notifiers.Delivery{
			AlertID: a.ID, Bank: "acme", Channel: "sms", Status: "failed", ProviderID: messageSID, Error: "twilio error 30006", At: now}},
		{"undelivered", path, receipt("undelivered", "30003"), true, http.StatusNoContent, &notifiers.Delivery{
			AlertID: a.ID, Bank: "acme", Channel: "sms", Status: "undelivered", ProviderID: messageSID, Error: "twilio error 30003", At: now}},
		{"sent is ignored", path, receipt("sent", ""), true, http.StatusNoContent, nil},
		{"queued is ignored", path, receipt("queued", ""), true, http.StatusNoContent, nil},
		{"no alert in the URL", StatusPath, receipt("delivered", ""), true, http.StatusBadRequest, nil},
		{"bad bank in the URL", StatusPath + "?alert=" + a.ID + "&bank=ACME.x", receipt("delivered", ""), true, http.StatusBadRequest, nil},
		{"unsigned", path, receipt("delivered", ""), false, http.StatusForbidden, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeAnswers()
			// With a trailing "/", which the handler drops before adding the route.
			h, err := NewStatus(InboundConfig{AuthToken: token, PublicURL: publicURL + "/", Answers: f, Log: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			h.now = func() time.Time { return now }
			srv := httptest.NewServer(h)
			defer srv.Close()
			sig := ""
			if c.signed {
				sig = sign(token, publicURL+c.path, c.form)
			}
			res, body := post(t, srv, c.path, c.form, sig)
			if res.StatusCode != c.want {
				t.Errorf("status = %d, want %d (%s)", res.StatusCode, c.want, body)
			}
			_, _, got := f.snapshot()
			var want []notifiers.Delivery
			if c.record != nil {
				want = []notifiers.Delivery{*c.record}
			}
			if !slices.Equal(got, want) {
				t.Errorf("recorded %+v\nwant     %+v", got, want)
			}
		})
	}
}

func TestStatusRecordError(t *testing.T) {
	a := testMessage().Alert
	f := newFakeAnswers()
	f.err = errors.New("nats: timeout")
	h, err := NewStatus(InboundConfig{AuthToken: token, PublicURL: publicURL, Answers: f, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	path := StatusPath + "?alert=" + a.ID + "&bank=acme"
	form := url.Values{"MessageSid": {messageSID}, "MessageStatus": {"delivered"}}
	if res, _ := post(t, srv, path, form, sign(token, publicURL+path, form)); res.StatusCode != http.StatusInternalServerError {
		t.Errorf("status = %d, want 500", res.StatusCode)
	}
}

// TestSendStatusCallbackQuery keeps a query the configured callback already has.
func TestSendStatusCallbackQuery(t *testing.T) {
	m := testMessage()
	want := wantForm(m)
	want.Set("StatusCallback", callback+"?tenant=eu&alert="+m.Alert.ID+"&bank=acme")
	srv := fakeTwilio(t, want, answer{status: 201, body: accepted})
	cfg := config(srv.URL)
	cfg.StatusCallback = callback + "?tenant=eu"
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	cfg.StatusCallback = callback + "?alert=x"
	if _, err := New(cfg); err == nil {
		t.Error("New accepted a callback with alert in its query")
	}
}

// TestSendSignedCallbackMapsBack sends a message and posts its receipt to the status
// handler at the callback URL Send gave Twilio, signed as Twilio signs it.
func TestSendSignedCallbackMapsBack(t *testing.T) {
	m := testMessage()
	callbacks := make(chan string, 1)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		callbacks <- r.PostForm.Get("StatusCallback")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(201)
		io.WriteString(w, accepted)
	}))
	defer api.Close()
	cfg := config(api.URL)
	cfg.StatusCallback = publicURL + StatusPath
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	got := <-callbacks
	u, err := url.Parse(got)
	if err != nil || !strings.HasPrefix(got, publicURL+StatusPath+"?") {
		t.Fatalf("StatusCallback = %q", got)
	}
	f := newFakeAnswers()
	h, err := NewStatus(InboundConfig{AuthToken: token, PublicURL: publicURL, Answers: f})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	form := url.Values{"MessageSid": {messageSID}, "MessageStatus": {"delivered"}}
	if res, body := post(t, srv, u.RequestURI(), form, sign(token, got, form)); res.StatusCode != http.StatusNoContent {
		t.Fatalf("status %d: %s", res.StatusCode, body)
	}
	if _, _, d := f.snapshot(); len(d) != 1 || d[0].AlertID != m.Alert.ID || d[0].Bank != "acme" {
		t.Errorf("recorded %+v", d)
	}
}

func TestFromEnvStatusCallback(t *testing.T) {
	for _, c := range []struct {
		publicURL string // "" leaves CARDWATCH_PUBLIC_URL unset
		want      string
	}{
		{"", ""},
		{"http://localhost:8080", ""},
		{"https://cw.example.com/", "https://cw.example.com/twilio/status"},
		{"https://example.com/cardwatch", "https://example.com/cardwatch/twilio/status"},
	} {
		t.Run(c.publicURL, func(t *testing.T) {
			t.Setenv("CARDWATCH_TWILIO_ACCOUNT_SID", sid)
			t.Setenv("CARDWATCH_TWILIO_AUTH_TOKEN", token)
			t.Setenv("CARDWATCH_TWILIO_FROM", from)
			t.Setenv("CARDWATCH_PUBLIC_URL", c.publicURL)
			if c.publicURL == "" {
				os.Unsetenv("CARDWATCH_PUBLIC_URL") // restored by t.Setenv's cleanup
			}
			n, ok, err := FromEnv()
			if err != nil || !ok {
				t.Fatalf("FromEnv = %v, %v", ok, err)
			}
			got := ""
			if n.callback != nil {
				got = n.callback.String()
			}
			if got != c.want {
				t.Errorf("status callback = %q, want %q", got, c.want)
			}
			routes, err := RoutesFromEnv(newFakeAnswers(), nil)
			if err != nil {
				t.Fatal(err)
			}
			var patterns []string
			for p := range routes {
				patterns = append(patterns, p)
			}
			slices.Sort(patterns)
			if want := []string{"POST /twilio/inbound", "POST /twilio/status"}; !slices.Equal(patterns, want) {
				t.Errorf("routes = %q, want %q", patterns, want)
			}
		})
	}
}

func TestRoutesFromEnvOff(t *testing.T) {
	for _, k := range []string{"CARDWATCH_TWILIO_ACCOUNT_SID", "CARDWATCH_TWILIO_AUTH_TOKEN", "CARDWATCH_TWILIO_FROM"} {
		t.Setenv(k, "")
	}
	t.Setenv("TWILIO_ACCOUNT_SID", sid) // Twilio's own name for it must not turn SMS on
	routes, err := RoutesFromEnv(newFakeAnswers(), nil)
	if err != nil || routes != nil {
		t.Errorf("RoutesFromEnv = %v, %v; want none", routes, err)
	}
}
