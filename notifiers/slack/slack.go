// Package slack sends alerts to Slack as Block Kit messages with two answer buttons.
package slack

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/cardwatch/cardwatch/notifiers"
	"github.com/cardwatch/cardwatch/rules"
)

// DefaultAPIURL is Slack's Web API.
const DefaultAPIURL = "https://slack.com/api/"

// DefaultTimeout bounds one send when the HTTP client sets no Timeout of its own.
const DefaultTimeout = 10 * time.Second

// Config are the Slack settings.
type Config struct {
	// BotToken is the app's bot token, "xoxb-..."; a secret.
	BotToken string
	// APIURL is the Web API's base URL; a missing final "/" is added.
	APIURL string
	// HTTPClient is the client to send with; its Timeout is 10s when zero.
	HTTPClient *http.Client
}

// Validate reports every problem with the settings at once, by environment variable,
// without ever printing the token.
func (c Config) Validate() error {
	var errs []error
	switch {
	case c.BotToken == "":
		errs = append(errs, errors.New("CARDWATCH_SLACK_BOT_TOKEN is required"))
	case !strings.HasPrefix(c.BotToken, "xoxb-"):
		// A user token would post as that person, not as the app.
		errs = append(errs, errors.New("CARDWATCH_SLACK_BOT_TOKEN must be a bot token (xoxb-...)"))
	}
	if c.APIURL != "" {
		if u, err := url.Parse(c.APIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			// Not echoed: a URL with user info would print a password.
			errs = append(errs, errors.New("CARDWATCH_SLACK_API_URL must be an http(s) URL without user info"))
		}
	}
	return errors.Join(errs...)
}

// String prints the settings with the token as <secret>, for logs.
func (c Config) String() string { return fmt.Sprintf("{BotToken:<secret> APIURL:%s}", c.APIURL) }

// GoString is String, so that %#v does not print the token either.
func (c Config) GoString() string { return c.String() }

// Notifier posts alerts to Slack. It is safe for concurrent use.
type Notifier struct {
	api *slack.Client // a pointer: printing a Notifier shows an address, not the token
}

// RateChannel is the name of the per-channel rate in metrics.
const RateChannel = "slack_channel"

// perChannel is Slack's rate for posting to one channel: about one message a second,
// with short bursts.
const perChannel, perChannelBurst = 1, 3

var (
	_ notifiers.Notifier = (*Notifier)(nil)
	_ notifiers.Limited  = (*Notifier)(nil)
)

// Rates is Slack's pace for the channel or user the alert goes to, so that a burst of
// alerts to one channel is queued rather than refused.
func (n *Notifier) Rates(m notifiers.Message) []notifiers.Rate {
	if m.Cardholder == nil {
		return nil
	}
	return []notifiers.Rate{{Name: RateChannel, Key: m.Cardholder.Notify.Slack, Limit: perChannel, Burst: perChannelBurst}}
}

// New checks the settings and builds the notifier.
func New(cfg Config) (*Notifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("slack: %w", err)
	}
	apiURL := cfg.APIURL
	if apiURL == "" {
		apiURL = DefaultAPIURL
	}
	if !strings.HasSuffix(apiURL, "/") {
		apiURL += "/" // slack-go appends the method name as is
	}
	hc := &http.Client{Timeout: DefaultTimeout}
	if cfg.HTTPClient != nil {
		c := *cfg.HTTPClient
		if c.Timeout == 0 {
			c.Timeout = DefaultTimeout
		}
		hc = &c
	}
	return &Notifier{api: slack.New(cfg.BotToken, slack.OptionAPIURL(apiURL), slack.OptionHTTPClient(hc))}, nil
}

// Channel is "slack".
func (n *Notifier) Channel() string { return "slack" }

// Wants reports whether the cardholder gave a Slack user or channel id.
func (n *Notifier) Wants(h *rules.Cardholder) bool { return h != nil && h.Notify.Slack != "" }

// Send posts the alert with chat.postMessage: to a user id it is a direct message from
// the app, to a channel id a message in that channel. The receipt is "channel/ts", what
// chat.update needs to change the message once the cardholder has answered.
func (n *Notifier) Send(ctx context.Context, m notifiers.Message) (notifiers.Receipt, error) {
	if m.Alert == nil || !n.Wants(m.Cardholder) {
		return notifiers.Receipt{}, notifiers.Permanent(errors.New("slack: the cardholder has no Slack id"))
	}
	to := m.Cardholder.Notify.Slack
	channel, ts, err := n.api.PostMessageContext(ctx, to,
		slack.MsgOptionText(Text(m), false), // Text escapes what needs it, and only that
		slack.MsgOptionBlocks(Blocks(m)...),
		// An unfurl of the report link would only repeat the message.
		slack.MsgOptionDisableLinkUnfurl(),
		slack.MsgOptionDisableMediaUnfurl(),
	)
	if err != nil {
		return notifiers.Receipt{}, failure(ctx, err)
	}
	if channel == "" {
		channel = to
	}
	return notifiers.Receipt{ProviderID: channel + "/" + ts}, nil
}
