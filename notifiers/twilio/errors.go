package twilio

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/twilio/twilio-go/client"

	"github.com/cardwatch/cardwatch/notifiers"
)

// DefaultRetryAfter is the wait after a 429 that did not say how long to wait.
const DefaultRetryAfter = time.Second

// APIError is an answer from Twilio that refused the message. Its text is built from
// the status and code alone: Twilio's own message may repeat the phone number or the
// account SID, so it is never kept.
type APIError struct {
	// Status is the HTTP status.
	Status int
	// Code is Twilio's error code (https://www.twilio.com/docs/api/errors), 0 if none.
	Code int
}

// codes says in fixed words what the errors cardwatch expects mean.
var codes = map[int]string{
	20003: "authentication failed; check CARDWATCH_TWILIO_ACCOUNT_SID and CARDWATCH_TWILIO_AUTH_TOKEN",
	20404: "not found; check CARDWATCH_TWILIO_ACCOUNT_SID and CARDWATCH_TWILIO_API_URL",
	20429: "too many requests",
	21211: "the To number is not a valid phone number",
	21212: "the From number is not valid",
	21408: "the account may not send SMS to this region",
	21606: "the From number cannot send SMS to this destination",
	21610: "the recipient has opted out (replied STOP)",
	21611: "the From number has too many messages queued",
	21614: "the To number is not a mobile number",
	21659: "the From number is not a Twilio number of this account",
}

// Error is "twilio: HTTP 400, error 21211: the To number is not a valid phone number
// (https://www.twilio.com/docs/errors/21211)".
func (e *APIError) Error() string {
	s := fmt.Sprintf("twilio: HTTP %d %s", e.Status, http.StatusText(e.Status))
	if e.Code == 0 {
		return s
	}
	s += fmt.Sprintf(", error %d", e.Code)
	if d, ok := codes[e.Code]; ok {
		s += ": " + d
	}
	return s + fmt.Sprintf(" (https://www.twilio.com/docs/errors/%d)", e.Code)
}

// failure turns what twilio-go returned, and what the exchange saw, into Send's error
// (see notifiers.Notifier for the classes), or nil when Twilio accepted the message.
func failure(ctx context.Context, x *exchange, err error) error {
	status, code := x.status, 0
	var te *client.TwilioRestError
	if errors.As(err, &te) {
		code = te.Code
		if status == 0 { // twilio-go refused to send, before any exchange
			status = te.Status
		}
	}
	switch {
	case status >= 200 && status < 300:
		// Accepted, even if the answer could not be read: an error here would send the
		// cardholder a second SMS.
		return nil
	case status == 0 && ctx.Err() != nil:
		// The cause says whether the caller gave up or our own timeout went off.
		return fmt.Errorf("twilio: send: %w", context.Cause(ctx))
	case status == 0:
		// A *url.Error's text holds the request URL, which holds the account SID; the
		// error under it (a *net.OpError, say) does not, and keeps errors.Is and As.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("twilio: send: %w", err)
	}
	e := &APIError{Status: status, Code: code}
	switch {
	case status == http.StatusTooManyRequests || code == 20429:
		return notifiers.RetryAfter(e, retryAfter(x.retryAfter, time.Now()))
	case status >= 500 || code == 21611:
		// 21611 is a full queue on the sender: it drains, so this is worth retrying.
		return e
	default:
		// Any other 4xx, and a redirect (a wrong API URL), will answer the same again.
		return notifiers.Permanent(e)
	}
}

// retryAfter reads a Retry-After header, in seconds or as an HTTP date, as a wait from
// now; DefaultRetryAfter when it is absent, unreadable or not in the future, so that a
// 429 never turns into a tight loop.
func retryAfter(v string, now time.Time) time.Duration {
	if s, err := strconv.Atoi(v); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return DefaultRetryAfter
}
