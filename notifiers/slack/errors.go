package slack

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/slack-go/slack"

	"github.com/cardwatch/cardwatch/notifiers"
)

// DefaultRetryAfter is the wait after a rate limit that did not say how long to wait.
const DefaultRetryAfter = time.Second

// permanent are the chat.postMessage errors that the same message to the same place
// will meet again: a wrong id, an app not allowed there, a bad token, a refused message.
// Any other error Slack names is taken as passing (internal_error, fatal_error,
// service_unavailable, request_timeout, and those not listed here).
var permanent = map[string]bool{
	"account_inactive":        true,
	"cannot_dm_bot":           true,
	"channel_not_found":       true,
	"ekm_access_denied":       true,
	"invalid_arguments":       true,
	"invalid_auth":            true,
	"invalid_blocks":          true,
	"is_archived":             true,
	"messages_tab_disabled":   true,
	"missing_scope":           true,
	"msg_too_long":            true,
	"no_permission":           true,
	"not_allowed_token_type":  true,
	"not_authed":              true,
	"not_in_channel":          true,
	"restricted_action":       true,
	"team_access_not_granted": true,
	"token_expired":           true,
	"token_revoked":           true,
	"user_not_found":          true,
}

var errRateLimited = errors.New("slack: rate limited")

// failure turns what slack-go returned into Send's error (see notifiers.Notifier for the
// classes). Texts are Slack's error names and HTTP statuses, never the request: the
// token travels in the form body, and no text here is built from it.
func failure(ctx context.Context, err error) error {
	var (
		limited  *slack.RateLimitedError
		api      slack.SlackErrorResponse
		status   slack.StatusCodeError
		badDelay *strconv.NumError
		ue       *url.Error
	)
	switch {
	case errors.As(err, &limited):
		wait := limited.RetryAfter
		if wait <= 0 {
			wait = DefaultRetryAfter
		}
		return notifiers.RetryAfter(errRateLimited, wait)
	case errors.As(err, &api):
		e := fmt.Errorf("slack: %w", api)
		if api.Needed != "" {
			e = fmt.Errorf("slack: %w (the app needs the %s scope)", api, api.Needed)
		}
		switch {
		case api.Err == "ratelimited":
			return notifiers.RetryAfter(e, DefaultRetryAfter)
		case permanent[api.Err]:
			return notifiers.Permanent(e)
		}
		return e
	case errors.As(err, &status):
		e := fmt.Errorf("slack: HTTP %s", status.Status)
		switch {
		case status.Code == http.StatusTooManyRequests: // with no Retry-After
			return notifiers.RetryAfter(e, DefaultRetryAfter)
		case status.Code >= 500:
			return e
		}
		return notifiers.Permanent(e)
	case errors.As(err, &badDelay):
		// slack-go reads a 429's Retry-After as seconds only, and returns the parse
		// error for an HTTP date; nothing else in chat.postMessage parses numbers.
		return notifiers.RetryAfter(errRateLimited, DefaultRetryAfter)
	case ctx.Err() != nil:
		return fmt.Errorf("slack: send: %w", context.Cause(ctx))
	case errors.As(err, &ue):
		// The URL holds no secret today, but what is under it is all that matters.
		return fmt.Errorf("slack: send: %w", ue.Err)
	}
	return fmt.Errorf("slack: send: %w", err)
}
