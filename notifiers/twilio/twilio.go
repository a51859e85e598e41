// Package twilio sends alerts as SMS through Twilio's Messages API.
package twilio

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/twilio/twilio-go/client"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/cardwatch/cardwatch/notifiers"
	"github.com/cardwatch/cardwatch/rules"
)

// DefaultAPIURL is Twilio's REST API.
const DefaultAPIURL = "https://api.twilio.com"

// DefaultTimeout bounds one send when the HTTP client sets no Timeout of its own.
const DefaultTimeout = 10 * time.Second

// Config are the Twilio settings.
type Config struct {
	// AccountSID is the account's SID, "AC" and 32 hex digits.
	AccountSID string
	// AuthToken is the account's auth token; a secret.
	AuthToken string
	// From is the E.164 sender number or a messaging service SID ("MG...").
	From string
	// APIURL is Twilio's REST base URL; tests point it at a fake.
	APIURL string
	// StatusCallback, when set, is where Twilio posts each message's delivery status
	// (cardwatch's is the public URL and StatusPath). Send adds the alert's id and bank
	// to its query, "?alert=al_...&bank=acme", so that a receipt names its alert.
	StatusCallback string
	// MPS is how many messages a second the account may send (Twilio queues past its
	// limit and then refuses), for the whole fleet: the Dispatcher keeps to it through
	// its Limits (see Rates), and sends beyond it wait their turn. Zero means no pacing.
	MPS float64
	// HTTPClient is the client to send with; its Timeout, 10s when zero, bounds one send.
	HTTPClient *http.Client
}

var (
	accountSID = regexp.MustCompile(`^AC[0-9a-fA-F]{32}$`)
	alnum      = regexp.MustCompile(`^[0-9A-Za-z]+$`)
	e164       = regexp.MustCompile(`^\+[1-9][0-9]{1,14}$`)
	serviceSID = regexp.MustCompile(`^MG[0-9a-fA-F]{32}$`)
)

// Validate reports every problem with the settings at once, by environment variable,
// without ever printing the auth token.
func (c Config) Validate() error {
	var errs []error
	switch {
	case c.AccountSID == "":
		errs = append(errs, errors.New("CARDWATCH_TWILIO_ACCOUNT_SID is required"))
	case !accountSID.MatchString(c.AccountSID):
		errs = append(errs, errors.New(`CARDWATCH_TWILIO_ACCOUNT_SID must be "AC" and 32 hex digits`))
	}
	switch {
	case c.AuthToken == "":
		errs = append(errs, errors.New("CARDWATCH_TWILIO_AUTH_TOKEN is required"))
	case !alnum.MatchString(c.AuthToken):
		// twilio-go refuses such a token at every send; say so once, at start.
		errs = append(errs, errors.New("CARDWATCH_TWILIO_AUTH_TOKEN must be letters and digits only"))
	}
	switch {
	case c.From == "":
		errs = append(errs, errors.New("CARDWATCH_TWILIO_FROM is required"))
	case !e164.MatchString(c.From) && !serviceSID.MatchString(c.From):
		// Not an alphanumeric sender id either: cardholders must be able to reply FRAUD or OK.
		errs = append(errs, fmt.Errorf("CARDWATCH_TWILIO_FROM: %q is neither an E.164 number nor a messaging service SID (MG...)", c.From))
	}
	if c.APIURL != "" {
		if u, err := url.Parse(c.APIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.User != nil {
			// Not echoed: a URL with user info would print a password.
			errs = append(errs, errors.New("CARDWATCH_TWILIO_API_URL must be an http(s) URL with only a scheme and host"))
		}
	}
	if c.MPS < 0 {
		errs = append(errs, errors.New("CARDWATCH_TWILIO_MPS must not be negative"))
	}
	if c.StatusCallback != "" {
		if u, err := url.Parse(c.StatusCallback); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			u.Fragment != "" || u.Query().Has("alert") || u.Query().Has("bank") {
			errs = append(errs, errors.New("the Twilio status callback must be an absolute http(s) URL without alert or bank in its query"))
		}
	}
	return errors.Join(errs...)
}

// String prints the settings with the auth token as <secret>, for logs.
func (c Config) String() string {
	return fmt.Sprintf("{AccountSID:%s AuthToken:<secret> From:%s APIURL:%s StatusCallback:%s}",
		c.AccountSID, c.From, c.APIURL, c.StatusCallback)
}

// GoString is String, so that %#v does not print the token either.
func (c Config) GoString() string { return c.String() }

// Notifier sends alerts by SMS through Twilio. It is safe for concurrent use.
type Notifier struct {
	mps       float64 // 0: no pacing
	sid, from string
	callback  *url.URL // nil: no status callbacks
	// creds is a pointer so that printing a Notifier shows an address, not the token.
	creds      *client.Credentials
	api        *url.URL
	httpClient http.Client
	transport  http.RoundTripper
	timeout    time.Duration
	errTimeout error
}

var (
	_ notifiers.Notifier = (*Notifier)(nil)
	_ notifiers.Limited  = (*Notifier)(nil)
)

// New checks the settings and builds the notifier.
func New(cfg Config) (*Notifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("twilio: %w", err)
	}
	if cfg.APIURL == "" {
		cfg.APIURL = DefaultAPIURL
	}
	api, _ := url.Parse(cfg.APIURL) // checked by Validate
	n := &Notifier{
		mps:       cfg.MPS,
		sid:       cfg.AccountSID,
		from:      cfg.From,
		creds:     client.NewCredentials(cfg.AccountSID, cfg.AuthToken),
		api:       api,
		transport: http.DefaultTransport,
		timeout:   DefaultTimeout,
	}
	if cfg.HTTPClient != nil {
		n.httpClient = *cfg.HTTPClient
		if cfg.HTTPClient.Transport != nil {
			n.transport = cfg.HTTPClient.Transport
		}
		if cfg.HTTPClient.Timeout > 0 {
			n.timeout = cfg.HTTPClient.Timeout
		}
	}
	// Send moves the timeout onto its context (see exchange), so it goes off the client.
	n.httpClient.Timeout = 0
	// As twilio-go's own client does: a redirect is an answer to report, not to follow.
	n.httpClient.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if cfg.StatusCallback != "" {
		n.callback, _ = url.Parse(cfg.StatusCallback) // checked by Validate
	}
	n.errTimeout = fmt.Errorf("no answer within %s: %w", n.timeout, context.DeadlineExceeded)
	return n, nil
}

// Channel is "sms".
func (n *Notifier) Channel() string { return "sms" }

// Wants reports whether the cardholder gave a phone number.
func (n *Notifier) Wants(h *rules.Cardholder) bool { return h != nil && h.Notify.SMS != "" }

// RateAccount is the name of the account's rate, CARDWATCH_TWILIO_MPS, in metrics.
const RateAccount = "sms_account"

// Rates is the account's messages a second (MPS), with no burst: Twilio queues what
// comes faster and refuses once its queue is full, and an alert queued behind a burst is
// late. Every send counts against the one account, whoever it goes to.
func (n *Notifier) Rates(notifiers.Message) []notifiers.Rate {
	if n.mps <= 0 {
		return nil
	}
	return []notifiers.Rate{{Name: RateAccount, Key: "account", Limit: n.mps, Burst: 1}}
}

// Send texts the alert to the cardholder's phone and returns the message SID.
//
// twilio-go's requests take no context, so each Send gives twilio-go a client of its
// own whose transport carries Send's context (see exchange); the client is a few
// small structs, and the connection pool underneath is shared.
func (n *Notifier) Send(ctx context.Context, m notifiers.Message) (notifiers.Receipt, error) {
	if m.Alert == nil || !n.Wants(m.Cardholder) {
		return notifiers.Receipt{}, notifiers.Permanent(errors.New("twilio: the cardholder has no SMS number"))
	}
	ctx, cancel := context.WithTimeoutCause(ctx, n.timeout, n.errTimeout)
	defer cancel()

	x := &exchange{ctx: ctx, base: n.transport, api: n.api}
	hc := n.httpClient
	hc.Transport = x
	c := &client.Client{Credentials: n.creds, HTTPClient: &hc} // twilio-go only reads creds
	c.SetAccountSid(n.sid)
	// A RequestHandler of our own rather than twilio.NewRestClientWithParams: the same
	// Api service, without the 60 other products, and without the TWILIO_EDGE and
	// TWILIO_REGION variables, which would move the host away from CARDWATCH_TWILIO_API_URL.
	api := openapi.NewApiService(&client.RequestHandler{Client: c})

	params := (&openapi.CreateMessageParams{}).
		SetTo(m.Cardholder.Notify.SMS).
		SetBody(notifiers.SMSText(m))
	if strings.HasPrefix(n.from, "MG") {
		params.SetMessagingServiceSid(n.from)
	} else {
		params.SetFrom(n.from)
	}
	if n.callback != nil {
		params.SetStatusCallback(n.statusCallback(m.Alert))
	}

	msg, err := api.CreateMessage(params)
	if err := failure(ctx, x, err); err != nil {
		return notifiers.Receipt{}, err
	}
	var r notifiers.Receipt
	if msg != nil && msg.Sid != nil {
		r.ProviderID = *msg.Sid
	}
	return r, nil
}

// statusCallback is the status callback URL of a's message: the configured one with the
// alert's id and bank added to its query, which Twilio signs with the rest of the URL.
func (n *Notifier) statusCallback(a *rules.Alert) string {
	u := *n.callback
	q := url.Values{"alert": {a.ID}, "bank": {a.Bank}}.Encode()
	if u.RawQuery != "" {
		q = u.RawQuery + "&" + q
	}
	u.RawQuery = q
	return u.String()
}
