package twilio

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
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

// fakeAnswers is notifiers.Answers over maps: the alerts of each phone, newest first,
// the standing answer of each alert, and the message ids seen.
type fakeAnswers struct {
	mu         sync.Mutex
	phones     map[string][]notifiers.PhoneAlert
	standing   map[string]rules.Report
	closed     map[string]bool // alerts past the age limit
	seen       map[string]bool
	err        error // returned by every call when set
	calls      int
	answers    []string // "alert verdict channel" of each Answer
	deliveries []notifiers.Delivery
}

func newFakeAnswers() *fakeAnswers {
	return &fakeAnswers{phones: map[string][]notifiers.PhoneAlert{}, standing: map[string]rules.Report{},
		closed: map[string]bool{}, seen: map[string]bool{}}
}

// open adds an alert sent to phone, newer than those there, with its reply code.
func (f *fakeAnswers) open(phone string, a *rules.Alert, code string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.phones[phone] = append([]notifiers.PhoneAlert{{Alert: a, Code: code}}, f.phones[phone]...)
}

func (f *fakeAnswers) Alert(_ context.Context, id string) (*rules.Alert, *rules.Report, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return nil, nil, errors.New("not used by the Twilio handlers")
}

// Answer follows the contract: the first answer stands, but for one fraud correction
// after a legit one.
func (f *fakeAnswers) Answer(_ context.Context, id, verdict, channel string) (notifiers.Outcome, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return notifiers.Outcome{}, f.err
	}
	if f.closed[id] {
		return notifiers.Outcome{}, notifiers.ErrTooOld
	}
	f.answers = append(f.answers, id+" "+verdict+" "+channel)
	r := rules.Report{AlertID: id, Verdict: verdict, Channel: channel, ReportedAt: answeredAt}
	if old, ok := f.standing[id]; ok {
		if old.Verdict == rules.VerdictLegit && !old.Correction && verdict == rules.VerdictFraud {
			r.Correction = true
			f.standing[id] = r
			return notifiers.Outcome{Standing: r, Correction: true}, nil
		}
		return notifiers.Outcome{Standing: old}, nil
	}
	f.standing[id] = r
	return notifiers.Outcome{Standing: r, First: true}, nil
}

func (f *fakeAnswers) PhoneAlerts(_ context.Context, phone string) ([]notifiers.PhoneAlert, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	var out []notifiers.PhoneAlert
	for _, pa := range f.phones[phone] {
		if r, ok := f.standing[pa.Alert.ID]; ok {
			pa.Answer = &r
		}
		pa.Closed = f.closed[pa.Alert.ID]
		out = append(out, pa)
	}
	return out, nil
}

func (f *fakeAnswers) FirstMessage(_ context.Context, channel, id string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return false, f.err
	}
	if f.seen[channel+" "+id] {
		return false, nil
	}
	f.seen[channel+" "+id] = true
	return true, nil
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
		fraud     = "Thanks. Card ..4821: $1,342.10 at &#34;ACME ELECTRONICS&#34; reported as fraud. Your bank has been told and will block the card."
		legit     = "Thanks, noted: the $1,342.10 at &#34;ACME ELECTRONICS&#34; was you."
		help      = "Reply FRAUD if a purchase was not you, or OK if it was, with the code from the alert."
		noAlert   = "No open alert for this number. Reply FRAUD or OK to an alert."
		confirmed = noAlert + " To report fraud on an alert you confirmed, reply FRAUD and its code."
	)
	legitStands := &rules.Report{Verdict: rules.VerdictLegit, ReportedAt: answeredAt}
	fraudStands := &rules.Report{Verdict: rules.VerdictFraud, ReportedAt: answeredAt}
	for _, c := range []struct {
		name     string
		body     string
		open     bool          // the phone has an alert, with reply code 7K
		standing *rules.Report // an earlier answer to the alert
		closed   bool          // the alert is past the answer age limit
		form     url.Values    // more parameters
		want     string        // the TwiML message, "" for none
		verdict  string        // the verdict recorded, "" for none
	}{
		{"FRAUD", "FRAUD", true, nil, false, nil, fraud, rules.VerdictFraud},
		{"fraud and a space", "fraud ", true, nil, false, nil, fraud, rules.VerdictFraud},
		{"9", "9", true, nil, false, nil, fraud, rules.VerdictFraud},
		{"Fraud!", "  Fraud!", true, nil, false, nil, fraud, rules.VerdictFraud},
		{"ok", "ok", true, nil, false, nil, legit, rules.VerdictLegit},
		{"1", "1", true, nil, false, nil, legit, rules.VerdictLegit},
		{"Ok.", "Ok.", true, nil, false, nil, legit, rules.VerdictLegit},
		{"FRAUD 7K", "FRAUD 7K", true, nil, false, nil, fraud, rules.VerdictFraud},
		{"9 7k", "9 7k", true, nil, false, nil, fraud, rules.VerdictFraud},
		{"code first", " 7k  Fraud.", true, nil, false, nil, fraud, rules.VerdictFraud},
		{"fraud7k", "fraud7k", true, nil, false, nil, fraud, rules.VerdictFraud},
		{"97K", "97K", true, nil, false, nil, fraud, rules.VerdictFraud},
		{"OK 7K", "OK 7K", true, nil, false, nil, legit, rules.VerdictLegit},
		{"1 7K", "1 7K!", true, nil, false, nil, legit, rules.VerdictLegit},
		{"ok7k", "ok7k", true, nil, false, nil, legit, rules.VerdictLegit},
		{"unknown code", "FRAUD 3A", true, nil, false, nil,
			"No alert of yours has the code 3A. Open alerts: 7K $1,342.10 at &#34;ACME ELECTRON.&#34;; reply FRAUD or OK with the code, e.g. FRAUD 7K.", ""},
		{"unknown code, nothing open", "OK 3A", false, nil, false, nil, "No alert of yours has the code 3A.", ""},
		{"unknown word", "maybe", true, nil, false, nil, help, ""},
		{"YES", "yes", true, nil, false, nil, "", ""}, // Twilio's opt-in word, Twilio replies
		{"NO", "NO", true, nil, false, nil, help, ""},
		{"two words", "FRAUD OK", true, nil, false, nil, help, ""},
		{"a code too long", "FRAUD 7KAA", true, nil, false, nil, help, ""},
		{"three words", "FRAUD 7K now", true, nil, false, nil, help, ""},
		{"empty", "", true, nil, false, nil, help, ""},
		{"STOP", "STOP", true, nil, false, nil, "", ""},
		{"stop.", " stop.", true, nil, false, nil, "", ""},
		{"UNSUBSCRIBE", "Unsubscribe", true, nil, false, nil, "", ""},
		{"START", "START", true, nil, false, nil, "", ""},
		{"HELP", "help", true, nil, false, nil, "", ""},
		{"INFO", "INFO", true, nil, false, nil, "", ""},
		{"custom opt-out keyword", "ARRET", true, nil, false, url.Values{"OptOutType": {"STOP"}}, "", ""},
		{"no open alert", "FRAUD", false, nil, false, nil, noAlert, ""},
		{"bare OK, only an answered alert", "OK", true, fraudStands, false, nil, noAlert, ""},
		{"bare FRAUD, only a confirmed alert", "FRAUD", true, legitStands, false, nil, confirmed, ""},
		{"code, fraud stands", "OK 7K", true, fraudStands, false, nil,
			"This alert was already answered (reported as fraud at 18:24 UTC).", rules.VerdictLegit},
		{"code, legit stands", "1 7K", true, legitStands, false, nil,
			"This alert was already answered (confirmed as you at 18:24 UTC).", rules.VerdictLegit},
		{"correction: FRAUD after OK", "FRAUD 7K", true, legitStands, false, nil, fraud, rules.VerdictFraud},
		{"too old, bare", "OK", true, nil, true, nil, notifiers.TooOldText, ""},
		{"too old, code", "FRAUD 7K", true, nil, true, nil, notifiers.TooOldText, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeAnswers()
			if c.open {
				f.open(to, a, "7K")
			}
			if c.standing != nil {
				f.standing[a.ID] = *c.standing
			}
			f.closed[a.ID] = c.closed
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

// twoAlerts are two alerts of one number: the older $12.00 at a coffee shop with code
// 7K, the newer the test message's with code X3.
func twoAlerts(f *fakeAnswers) (older, newer *rules.Alert) {
	o := *testMessage().Alert
	o.ID = rules.AlertID("acme", "older")
	o.BillingAmount = &rules.Money{Minor: 1200, Currency: "USD"}
	o.Merchant = rules.Merchant{Name: "BLUE BOTTLE COFFEE"}
	n := testMessage().Alert
	f.open(to, &o, "7K")
	f.open(to, n, "X3")
	return &o, n
}

// TestInboundSeveralOpenAlerts: a bare answer with two alerts open asks which and
// records nothing; the code answers the alert it names, whichever is newer.
func TestInboundSeveralOpenAlerts(t *testing.T) {
	const ask = "You have 2 open alerts: X3 $1,342.10 at &#34;ACME ELECTRON.&#34;, 7K $12.00 at &#34;BLUE BOTTLE C.&#34;; reply FRAUD or OK with the code, e.g. FRAUD X3."
	for _, body := range []string{"OK", "1", "FRAUD", "9"} {
		t.Run(body, func(t *testing.T) {
			f := newFakeAnswers()
			twoAlerts(f)
			srv := inboundServer(t, f, nil)
			form := reply(body)
			_, got := post(t, srv, InboundPath, form, sign(token, publicURL+InboundPath, form))
			if got != twimlOf(ask) {
				t.Errorf("reply = %s\nwant    %s", got, twimlOf(ask))
			}
			if _, answers, _ := f.snapshot(); len(answers) != 0 {
				t.Errorf("a bare %s with two alerts open answered %q", body, answers)
			}
		})
	}
	for _, c := range []struct {
		body, code, verdict string
	}{
		{"ok 7k", "7K", rules.VerdictLegit},
		{"FRAUD 7K", "7K", rules.VerdictFraud},
		{"9 x3", "X3", rules.VerdictFraud},
		{"X3 OK", "X3", rules.VerdictLegit},
	} {
		t.Run(c.body, func(t *testing.T) {
			f := newFakeAnswers()
			older, newer := twoAlerts(f)
			want := older.ID
			if c.code == "X3" {
				want = newer.ID
			}
			srv := inboundServer(t, f, nil)
			form := reply(c.body)
			_, got := post(t, srv, InboundPath, form, sign(token, publicURL+InboundPath, form))
			if !strings.Contains(got, "Thanks") {
				t.Errorf("reply = %s", got)
			}
			if _, answers, _ := f.snapshot(); !slices.Equal(answers, []string{want + " " + c.verdict + " sms"}) {
				t.Errorf("answers = %q, want %s answered %s", answers, c.code, c.verdict)
			}
		})
	}
	// Once one of the two is answered, a bare word answers the other.
	f := newFakeAnswers()
	older, _ := twoAlerts(f)
	srv := inboundServer(t, f, nil)
	for i, body := range []string{"OK X3", "FRAUD"} {
		form := reply(body)
		form.Set("MessageSid", fmt.Sprintf("SM%032x", i))
		post(t, srv, InboundPath, form, sign(token, publicURL+InboundPath, form))
	}
	if _, answers, _ := f.snapshot(); len(answers) != 2 || answers[1] != older.ID+" fraud sms" {
		t.Errorf("answers = %q, want the bare FRAUD on the one left open", answers)
	}
}

// TestInboundReplayCountsOnce posts one signed OK three times, each time with another
// single alert open (the attack answered all three): the first answers its alert, the
// replays get an empty TwiML and answer nothing.
func TestInboundReplayCountsOnce(t *testing.T) {
	f := newFakeAnswers()
	srv := inboundServer(t, f, slog.New(slog.DiscardHandler))
	form := reply("OK")
	sig := sign(token, publicURL+InboundPath, form)
	for i := range 3 {
		a := *testMessage().Alert
		a.ID = rules.AlertID("acme", fmt.Sprint("txn-", i))
		f.open(to, &a, notifiers.ReplyCode(i))
		res, body := post(t, srv, InboundPath, form, sig)
		want := twimlOf("Thanks, noted: the $1,342.10 at &#34;ACME ELECTRONICS&#34; was you.")
		if i > 0 {
			want = twimlOf("")
		}
		if res.StatusCode != http.StatusOK || body != want {
			t.Errorf("post %d: %d %s, want %s", i+1, res.StatusCode, body, want)
		}
	}
	if _, answers, _ := f.snapshot(); len(answers) != 1 {
		t.Errorf("one signed reply answered %d alerts: %q", len(answers), answers)
	}
}

// TestInboundRefusesMalformedMessageSid: no once-only record without a real id, so no
// answer either.
func TestInboundRefusesMalformedMessageSid(t *testing.T) {
	for name, sid := range map[string]string{
		"missing":      "",
		"short":        "SMreply",
		"31 hex":       "SM" + strings.Repeat("a", 31),
		"33 hex":       "SM" + strings.Repeat("a", 33),
		"not hex":      "SM" + strings.Repeat("g", 32),
		"other prefix": "CA" + strings.Repeat("a", 32),
		"a key token":  "SM" + strings.Repeat("a", 30) + ".>",
	} {
		t.Run(name, func(t *testing.T) {
			f := newFakeAnswers()
			f.open(to, testMessage().Alert, "7K")
			srv := inboundServer(t, f, slog.New(slog.DiscardHandler))
			form := reply("FRAUD")
			if sid == "" {
				form.Del("MessageSid")
			} else {
				form.Set("MessageSid", sid)
			}
			res, body := post(t, srv, InboundPath, form, sign(token, publicURL+InboundPath, form))
			if res.StatusCode != http.StatusBadRequest || strings.Contains(body, "<Response") {
				t.Errorf("status %d, body %s; want 400 and no TwiML", res.StatusCode, body)
			}
			if calls, _, _ := f.snapshot(); calls != 0 {
				t.Errorf("Answers called %d times", calls)
			}
		})
	}
	// An MMS reply's id is a real one.
	f := newFakeAnswers()
	f.open(to, testMessage().Alert, "7K")
	srv := inboundServer(t, f, nil)
	form := reply("FRAUD")
	form.Set("MessageSid", "MM"+strings.Repeat("0F", 16))
	if res, _ := post(t, srv, InboundPath, form, sign(token, publicURL+InboundPath, form)); res.StatusCode != http.StatusOK {
		t.Errorf("MMS reply: status %d", res.StatusCode)
	}
}

func TestInboundEscapesAndFits(t *testing.T) {
	a := *testMessage().Alert
	a.Merchant.Name = "TOM & JERRY'S <DINER> ŁÓDŹ " + strings.Repeat("EXTRA LONG NAME ", 6)
	a.BillingAmount = &rules.Money{Minor: 5000000, Currency: "NGN"}
	f := newFakeAnswers()
	f.open(to, &a, "7K")
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
			f.open(to, testMessage().Alert, "7K")
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
