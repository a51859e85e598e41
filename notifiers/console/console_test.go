package console

import (
	"context"
	"strings"
	"testing"

	"github.com/cardwatch/cardwatch/notifiers"
	"github.com/cardwatch/cardwatch/notifiers/notifiertest"
	"github.com/cardwatch/cardwatch/rules"
)

func send(t *testing.T, m notifiers.Message) string {
	t.Helper()
	var b strings.Builder
	if _, err := New(&b).Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestConsoleHostile: whatever the bank or merchant sent, and whatever a cardholder
// profile says, the operator's terminal gets no escape sequence or control character,
// and the lines of a harmless alert.
func TestConsoleHostile(t *testing.T) {
	ref := send(t, notifiers.Message{Alert: notifiertest.Alert(rules.Merchant{ID: "M-1", Name: "ACME", City: "Lagos"}), Cardholder: notifiertest.Cardholder()})
	for _, h := range notifiertest.HostileInputs() {
		t.Run(h.Name, func(t *testing.T) {
			holder := notifiertest.Cardholder()
			holder.Name = h.Merchant.Name // a profile's name is the bank's text too
			out := send(t, notifiers.Message{Alert: notifiertest.Alert(h.Merchant), Cardholder: holder})
			notifiertest.CheckConsole(t, out, strings.Count(ref, "\n"), h)
			for _, c := range []string{"\x1b", "\x07", "\u009b", "\u202e"} {
				if strings.Contains(out, c) {
					t.Errorf("console output carries %q: %q", c, out)
				}
			}
		})
	}
}

func TestConsolePrintsBothChannels(t *testing.T) {
	out := send(t, notifiers.Message{Alert: notifiertest.Alert(rules.Merchant{ID: "M-1", Name: "ACME", City: "Lagos"}), Cardholder: notifiertest.Cardholder()})
	for _, want := range []string{
		"── alert al_llpst6d3gbj3uq6q for Ana Souza (ch_1001) at bank acme ──\n",
		"SMS to +1********01 (",
		"\n  Card ..4821 $1,342.10 at \"ACME\", NG,", // three reasons leave no room for the city
		"Slack to U024BE7LH, with buttons [Report fraud] [It was me]:\n  $1,342.10",
		` at "ACME" in "Lagos", Nigeria on card ending 4821`,
		"\n  Not you? Report fraud: " + notifiertest.Link + "\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("console output lacks %q:\n%s", want, out)
		}
	}
}
