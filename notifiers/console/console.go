// Package console is the notifier of the embedded default: it prints each alert as the
// SMS and the Slack message would say it, so that cardwatch works end to end on a laptop
// with no provider account.
package console

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/cardwatch/cardwatch/notifiers"
	"github.com/cardwatch/cardwatch/rules"
)

// Notifier prints messages to a writer.
type Notifier struct {
	mu sync.Mutex
	w  io.Writer
}

var _ notifiers.Notifier = (*Notifier)(nil)

// New returns a console notifier that prints to w.
func New(w io.Writer) *Notifier { return &Notifier{w: w} }

// Channel is "console".
func (*Notifier) Channel() string { return "console" }

// Wants is true for everyone: the console stands in for every channel.
func (*Notifier) Wants(*rules.Cardholder) bool { return true }

// Send prints the message the cardholder would get on each of their channels.
func (n *Notifier) Send(_ context.Context, m notifiers.Message) (notifiers.Receipt, error) {
	var b strings.Builder
	h := m.Cardholder
	who := h.ID
	if h.Name != "" {
		who = h.Name + " (" + h.ID + ")"
	}
	fmt.Fprintf(&b, "\n── alert %s for %s at bank %s ──\n", m.Alert.ID, who, m.Alert.Bank)
	if h.Notify.SMS != "" {
		text := notifiers.SMSText(m)
		fmt.Fprintf(&b, "SMS to %s (%d/%d characters):\n  %s\n", MaskPhone(h.Notify.SMS), notifiers.GSMSeptets(text), notifiers.SMSSegment, text)
	}
	if h.Notify.Slack != "" {
		fmt.Fprintf(&b, "Slack to %s, with buttons [Report fraud] [It was me]:\n  %s\n", h.Notify.Slack,
			strings.ReplaceAll(notifiers.PlainText(m), "\n", "\n  "))
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, err := io.WriteString(n.w, b.String()); err != nil {
		return notifiers.Receipt{}, fmt.Errorf("console: %w", err)
	}
	return notifiers.Receipt{ProviderID: "console"}, nil
}

// MaskPhone shows the country code and the last two digits of a phone number only.
func MaskPhone(p string) string {
	if len(p) < 6 {
		return strings.Repeat("*", len(p))
	}
	return p[:2] + strings.Repeat("*", len(p)-4) + p[len(p)-2:]
}
