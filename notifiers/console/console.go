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

// Send prints the message the cardholder would get on each of their channels. Every
// line is passed through terminal: the operator's terminal gets no escape sequence or
// control character from the event, or from a cardholder profile, whatever renders it.
func (n *Notifier) Send(_ context.Context, m notifiers.Message) (notifiers.Receipt, error) {
	var b strings.Builder
	h := m.Cardholder
	who := h.ID
	if h.Name != "" {
		who = h.Name + " (" + h.ID + ")"
	}
	line := func(format string, args ...any) {
		b.WriteString(terminal(fmt.Sprintf(format, args...)) + "\n")
	}
	b.WriteString("\n")
	line("── alert %s for %s at bank %s ──", m.Alert.ID, who, m.Alert.Bank)
	if h.Notify.SMS != "" {
		text := notifiers.SMSText(m)
		line("SMS to %s (%d/%d characters):", MaskPhone(h.Notify.SMS), notifiers.GSMSeptets(text), notifiers.SMSSegment)
		line("  %s", text)
	}
	if h.Notify.Slack != "" {
		line("Slack to %s, with buttons [Report fraud] [It was me]:", h.Notify.Slack)
		for _, l := range strings.Split(notifiers.PlainText(m), "\n") {
			line("  %s", l)
		}
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

// terminal is one line of text as the console prints it: notifiers.CleanText, with no
// control character (ESC above all, which starts the sequences that move the cursor,
// recolour, retitle the window or write a hyperlink), no format character and no line
// break, and the indent of the line kept.
func terminal(s string) string {
	rest := strings.TrimLeft(s, " ")
	return s[:len(s)-len(rest)] + notifiers.CleanText(rest)
}
