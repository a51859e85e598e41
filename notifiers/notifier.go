// Package notifiers is cardwatch's way out to people: the Notifier contract every channel
// implements, how a channel says whether a failure is worth retrying, and the message
// texts shared by the channels. Each channel lives in its own subpackage (twilio, slack,
// console) with its inbound callbacks beside its outbound code.
package notifiers

import (
	"context"

	"github.com/cardwatch/cardwatch/rules"
)

// Message is one alert on its way to one cardholder.
type Message struct {
	// Alert is what happened; it holds no card token, PAN or phone number.
	Alert *rules.Alert
	// Cardholder is who gets it, with their contacts and time zone.
	Cardholder *rules.Cardholder
	// ReplyCode tells this alert apart from the number's other open alerts in an SMS
	// reply ("FRAUD 7K"); the phone index allots it before the SMS goes. "" leaves the
	// code out.
	ReplyCode string
}

// Notifier sends alerts over one channel.
//
// Lifecycle: a Notifier is built once at start from its settings and then Send is called
// from many goroutines at once until the process stops; it must be safe for that.
//
// Retry contract: Send returns nil once the provider has accepted the message. Otherwise
// its error says what to do next (see Classify): wrapped by Permanent when sending this
// message on this channel again can never work (invalid number, opted out, unknown
// channel, bad credentials); wrapped by RetryAfter when the provider said how long to wait
// (a 429's Retry-After, Slack's ratelimited); any other error is transient (5xx, timeout,
// connection refused) and is retried with backoff. Errors never carry a secret, a full
// phone number or a card token.
type Notifier interface {
	// Channel is the channel's name in delivery events and metrics: "sms", "slack", "console".
	Channel() string
	// Wants reports whether the cardholder can be reached on this channel.
	Wants(h *rules.Cardholder) bool
	// Send delivers one message and returns the provider's id for it.
	Send(ctx context.Context, m Message) (Receipt, error)
}

// Receipt is what a provider said when it accepted a message, or, in the sent-log, why a
// channel gave up on it.
type Receipt struct {
	// ProviderID is the provider's id for the message: a Twilio message SID, a Slack ts.
	ProviderID string `json:"provider_id,omitempty"`
	// Failed is set, with the reason, when the channel gave up on the message for good.
	Failed string `json:"failed,omitempty"`
}
