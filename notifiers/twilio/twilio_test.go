package twilio

import (
	"context"
	"errors"
	"fmt"
	"io"
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
	sid        = "AC0123456789abcdef0123456789abcdef"
	token      = "f00dfacef00dfacef00dfacef00dface"
	from       = "+15005550006"
	to         = "+15551230001"
	callback   = "https://cardwatch.example/twilio/status"
	reportLink = "https://cardwatch.example/r/AbCdEf0123456789-link-token"
	messageSID = "SM0123456789abcdef0123456789abcdef"
)

// testMessage is an alert on a card used abroad, in another currency.
func testMessage() notifiers.Message {
	billing := rules.Money{Minor: 134210, Currency: "USD"}
	return notifiers.Message{
		Alert: &rules.Alert{
			ID:            rules.AlertID("acme", "9c1e5f0a-7d8b-4c1e-9a51-2f1d3e4b5a60"),
			TxnID:         "9c1e5f0a-7d8b-4c1e-9a51-2f1d3e4b5a60",
			Bank:          "acme",
			CardholderID:  "ch_1001",
			CardLast4:     "4821",
			Amount:        rules.Money{Minor: 125000, Currency: "EUR"},
			BillingAmount: &billing,
			Merchant:      rules.Merchant{ID: "M-77812", Name: "ACME ELECTRONICS", City: "Lagos", Country: "NG"},
			Terminal:      rules.Terminal{ID: "T-0042", Country: "NG", EntryMode: rules.EntryChip},
			Status:        rules.StatusApproved,
			OccurredAt:    time.Date(2026, 11, 24, 18, 22, 5, 0, time.UTC),
			Reasons: []rules.Reason{
				{Rule: "amount_over", Detail: "$1,342.10 is over your $200.00 limit", Summary: "over limit"},
				{Rule: "foreign_terminal", Detail: "the card was used in Nigeria", Summary: "abroad"},
			},
			ReportURL: reportLink,
		},
		Cardholder: &rules.Cardholder{ID: "ch_1001", Bank: "acme", Notify: rules.Notify{SMS: to}, Location: time.UTC},
	}
}

// answer is how the fake Twilio answers a request.
type answer struct {
	status  int
	header  http.Header
	body    string
	down    bool          // nothing listens: connection refused
	hang    bool          // no answer until the client gives up or the test ends
	arrived chan struct{} // closed when the request came in
}

// twilioError is Twilio's JSON error body.
func twilioError(code int, message string, status int) string {
	return fmt.Sprintf(`{"code":%d,"message":%q,"more_info":"https://www.twilio.com/docs/errors/%d","status":%d}`,
		code, message, code, status)
}

var accepted = `{"account_sid":"` + sid + `","api_version":"2010-04-01","body":"…","direction":"outbound-api",` +
	`"from":"` + from + `","num_segments":"1","sid":"` + messageSID + `","status":"queued","to":"` + to + `",` +
	`"uri":"/2010-04-01/Accounts/` + sid + `/Messages/` + messageSID + `.json","error_code":null,"price":null}`

// fakeTwilio is Twilio's Messages API: it fails the test unless the request is Twilio's
// real one with the form want, then answers a.
func fakeTwilio(t *testing.T, want url.Values, a answer) *httptest.Server {
	t.Helper()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			t.Errorf("method = %s, want POST", r.Method)
		}
		if want := "/2010-04-01/Accounts/" + sid + "/Messages.json"; r.URL.Path != want {
			t.Errorf("path = %s, want %s", r.URL.Path, want)
		}
		if u, p, ok := r.BasicAuth(); !ok || u != sid || p != token {
			t.Errorf("basic auth = %t, user %q, right password %t", ok, u, p == token)
		}
		if err := r.ParseForm(); err != nil {
			t.Errorf("form: %v", err)
		}
		if !reflect.DeepEqual(r.PostForm, want) {
			t.Errorf("form = %v\nwant %v", r.PostForm, want)
		}
		if a.arrived != nil {
			close(a.arrived)
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
		w.Header().Set("Content-Type", "application/json")
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

func wantForm(m notifiers.Message) url.Values {
	// The alert's id and bank in the callback's query map Twilio's receipts to the alert.
	cb := callback + "?alert=" + m.Alert.ID + "&bank=acme"
	return url.Values{"To": {to}, "From": {from}, "Body": {notifiers.SMSText(m)}, "StatusCallback": {cb}}
}

func config(apiURL string) Config {
	return Config{AccountSID: sid, AuthToken: token, From: from, APIURL: apiURL, StatusCallback: callback}
}

var sendCases = []struct {
	name   string
	answer answer
	class  notifiers.Class
	wait   time.Duration
	is     error // the cause Send's error must still match, if any
}{
	{"accepted", answer{status: 201, body: accepted}, notifiers.Done, 0, nil},
	{"invalid To", answer{status: 400, body: twilioError(21211, "The 'To' number "+to+" is not a valid phone number.", 400)}, notifiers.GiveUp, 0, nil},
	{"opted out", answer{status: 400, body: twilioError(21610, "Attempt to send to unsubscribed recipient "+to, 400)}, notifiers.GiveUp, 0, nil},
	{"not mobile", answer{status: 400, body: twilioError(21614, "'To' number "+to+" is not a valid mobile number", 400)}, notifiers.GiveUp, 0, nil},
	{"region", answer{status: 400, body: twilioError(21408, "Permission to send an SMS has not been enabled for the region indicated by the 'To' number: "+to, 400)}, notifiers.GiveUp, 0, nil},
	{"bad From", answer{status: 400, body: twilioError(21606, "The From phone number "+from+" is not a valid, SMS-capable inbound phone number or short code for your account.", 400)}, notifiers.GiveUp, 0, nil},
	{"auth failed", answer{status: 401, body: twilioError(20003, "Authenticate", 401)}, notifiers.GiveUp, 0, nil},
	{"not found", answer{status: 404, body: twilioError(20404, "The requested resource /2010-04-01/Accounts/"+sid+"/Messages.json was not found", 404)}, notifiers.GiveUp, 0, nil},
	{"echoes the body", answer{status: 400, body: twilioError(21617, "Body too long: "+reportLink, 400)}, notifiers.GiveUp, 0, nil},
	{"429 Retry-After 3", answer{status: 429, header: http.Header{"Retry-After": {"3"}}, body: twilioError(20429, "Too Many Requests", 429)}, notifiers.RetryLater, 3 * time.Second, nil},
	{"429 no Retry-After", answer{status: 429, body: twilioError(20429, "Too Many Requests", 429)}, notifiers.RetryLater, time.Second, nil},
	{"queue full", answer{status: 400, body: twilioError(21611, "This 'From' number has exceeded the maximum number of queued messages", 400)}, notifiers.Retry, 0, nil},
	{"500", answer{status: 500, body: twilioError(20500, "Internal Server Error", 500)}, notifiers.Retry, 0, nil},
	{"502 HTML", answer{status: 502, body: "<html><body>Bad Gateway</body></html>"}, notifiers.Retry, 0, nil},
	{"503 empty", answer{status: 503}, notifiers.Retry, 0, nil},
	{"connection refused", answer{down: true}, notifiers.Retry, 0, syscall.ECONNREFUSED},
	{"timeout", answer{hang: true}, notifiers.Retry, 0, context.DeadlineExceeded},
}

func TestSendClassifies(t *testing.T) {
	for _, c := range sendCases {
		t.Run(c.name, func(t *testing.T) {
			m := testMessage()
			srv := fakeTwilio(t, wantForm(m), c.answer)
			cfg := config(srv.URL)
			if c.answer.hang {
				cfg.HTTPClient = &http.Client{Timeout: 50 * time.Millisecond}
			}
			n, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			r, err := n.Send(context.Background(), m)
			class, wait := notifiers.Classify(err)
			if class != c.class || wait != c.wait {
				t.Errorf("Classify = %v, %v; want %v, %v (error: %v)", class, wait, c.class, c.wait, err)
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("error %v does not match %v", err, c.is)
			}
			if class == notifiers.Done && r.ProviderID != messageSID {
				t.Errorf("ProviderID = %q, want %q", r.ProviderID, messageSID)
			}
		})
	}
}

// TestSendLeaksNoSecret holds every failure to the rule that errors never carry a
// secret, the account SID, a full phone number or the report link.
func TestSendLeaksNoSecret(t *testing.T) {
	secrets := []string{token, sid, to, strings.TrimPrefix(to, "+"), reportLink}
	for _, c := range sendCases {
		if c.class == notifiers.Done {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			m := testMessage()
			srv := fakeTwilio(t, wantForm(m), c.answer)
			cfg := config(srv.URL)
			cfg.HTTPClient = &http.Client{Timeout: 50 * time.Millisecond}
			n, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			_, err = n.Send(context.Background(), m)
			if err == nil {
				t.Fatal("Send succeeded")
			}
			for _, s := range secrets {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error %q contains %q", err, s)
				}
			}
		})
	}
}

func TestSendStopsWhenCancelled(t *testing.T) {
	m := testMessage()
	arrived := make(chan struct{})
	srv := fakeTwilio(t, wantForm(m), answer{hang: true, arrived: arrived})
	cfg := config(srv.URL)
	cfg.HTTPClient = &http.Client{Timeout: time.Hour}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-arrived
		cancel()
	}()
	done := make(chan error, 1)
	go func() {
		_, err := n.Send(ctx, m)
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error = %v, want context.Canceled", err)
		}
		if class, _ := notifiers.Classify(err); class != notifiers.Retry {
			t.Errorf("class = %v, want retry", class)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Send still running 10s after its context was cancelled")
	}
}

// TestSendConcurrently gives the race detector many Sends at once, each with its own
// exchange, half of them refused.
func TestSendConcurrently(t *testing.T) {
	m := testMessage()
	ok := fakeTwilio(t, wantForm(m), answer{status: 201, body: accepted})
	limited := fakeTwilio(t, wantForm(m), answer{status: 429, header: http.Header{"Retry-After": {"7"}}})
	okN, err := New(config(ok.URL))
	if err != nil {
		t.Fatal(err)
	}
	limitedN, err := New(config(limited.URL))
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 20)
	for i := range cap(errs) {
		n, want := okN, notifiers.Done
		if i%2 == 1 {
			n, want = limitedN, notifiers.RetryLater
		}
		go func() {
			_, err := n.Send(context.Background(), m)
			if class, _ := notifiers.Classify(err); class != want {
				err = fmt.Errorf("class %v, want %v: %w", class, want, err)
			} else {
				err = nil
			}
			errs <- err
		}()
	}
	for range cap(errs) {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

func TestSendWithMessagingService(t *testing.T) {
	const service = "MG0123456789abcdef0123456789abcdef"
	m := testMessage()
	want := url.Values{"To": {to}, "MessagingServiceSid": {service}, "Body": {notifiers.SMSText(m)}}
	srv := fakeTwilio(t, want, answer{status: 201, body: accepted})
	n, err := New(Config{AccountSID: sid, AuthToken: token, From: service, APIURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
}

func TestNewValidates(t *testing.T) {
	_, err := New(Config{})
	for _, v := range []string{"CARDWATCH_TWILIO_ACCOUNT_SID", "CARDWATCH_TWILIO_AUTH_TOKEN", "CARDWATCH_TWILIO_FROM"} {
		if err == nil || !strings.Contains(err.Error(), v) {
			t.Errorf("New(Config{}) = %v, want it to name %s", err, v)
		}
	}
	const badToken = "s3cret-with-dash"
	_, err = New(Config{AccountSID: sid, AuthToken: badToken, From: "CardWatch", APIURL: "ftp://x/y"})
	if err == nil {
		t.Fatal("New accepted a bad config")
	}
	for _, v := range []string{"CARDWATCH_TWILIO_AUTH_TOKEN", "CARDWATCH_TWILIO_FROM", "CARDWATCH_TWILIO_API_URL"} {
		if !strings.Contains(err.Error(), v) {
			t.Errorf("error %q does not name %s", err, v)
		}
	}
	if strings.Contains(err.Error(), badToken) {
		t.Errorf("error %q prints the token", err)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 24, 18, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		header string
		want   time.Duration
	}{
		{"3", 3 * time.Second},
		{"", time.Second},
		{"0", time.Second},
		{"soon", time.Second},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), time.Second},
	} {
		if got := retryAfter(c.header, now); got != c.want {
			t.Errorf("retryAfter(%q) = %v, want %v", c.header, got, c.want)
		}
	}
}

func TestPrintingHidesTheToken(t *testing.T) {
	cfg := config(DefaultAPIURL)
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if s := fmt.Sprintf("%v %+v %#v %v %+v %#v", cfg, cfg, cfg, n, n, n); strings.Contains(s, token) {
		t.Errorf("printed: %s", s)
	}
}

// TestRatesAreTheAccountsMPS checks that the account's rate is what the Dispatcher paces
// every SMS by, with no burst, and that MPS 0 means no pacing.
func TestRatesAreTheAccountsMPS(t *testing.T) {
	cfg := config(DefaultAPIURL)
	cfg.MPS = 20
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := []notifiers.Rate{{Name: RateAccount, Key: "account", Limit: 20, Burst: 1}}
	if got := n.Rates(testMessage()); !reflect.DeepEqual(got, want) {
		t.Errorf("Rates = %+v, want %+v", got, want)
	}
	cfg.MPS = 0
	if n, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	if got := n.Rates(testMessage()); len(got) != 0 {
		t.Errorf("MPS 0: Rates = %+v, want none", got)
	}
}
