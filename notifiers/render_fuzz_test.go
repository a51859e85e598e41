package notifiers_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/cardwatch/cardwatch/notifiers"
	"github.com/cardwatch/cardwatch/notifiers/console"
	"github.com/cardwatch/cardwatch/notifiers/notifiertest"
	"github.com/cardwatch/cardwatch/notifiers/slack"
	"github.com/cardwatch/cardwatch/rules"
)

// outputs is everything cardwatch shows of one alert: the SMS, the SMS replies, the
// plain text, Slack's blocks and fallback text, and the console's lines.
type outputs struct {
	sms, plain, slackText, console string
	replies                        []string
	blocks                         []byte
}

func render(t testing.TB, m rules.Merchant) outputs {
	t.Helper()
	msg := notifiers.Message{Alert: notifiertest.Alert(m), Cardholder: notifiertest.Cardholder()}
	blocks, err := json.Marshal(slack.Blocks(msg))
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if _, err := console.New(&out).Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	return outputs{
		sms: notifiers.SMSText(msg), plain: notifiers.PlainText(msg), slackText: slack.Text(msg), console: out.String(),
		replies: []string{notifiers.AnsweredSMS(msg.Alert, rules.VerdictFraud), notifiers.AnsweredSMS(msg.Alert, rules.VerdictLegit)},
		blocks:  blocks,
	}
}

// FuzzRendering renders an alert with a fuzzed merchant name, city and id through every
// output, and checks on each what the hostile-input tables check: no URL but the
// alert's own report link, nothing that reads as a phone number, no Slack mention, link
// or formatting or emoji, no control, format or bidi character, no line break but those
// of the format (none in an SMS), no quotation mark but cardwatch's, and no more of them
// than the same alert shows of a harmless merchant with the same fields set: nothing
// of the merchant's can close the quotes that say whose words it is.
func FuzzRendering(f *testing.F) {
	for _, h := range notifiertest.HostileInputs() {
		f.Add(h.Merchant.Name, h.Merchant.City, h.Merchant.ID)
	}
	f.Add("", "", "")
	f.Add("12://34 5678", "a1234567.b", "x.1")
	ref := render(f, rules.Merchant{ID: "M-1", Name: "ACME", City: "Lagos"})
	f.Fuzz(func(t *testing.T, name, city, id string) {
		got := render(t, rules.Merchant{ID: id, Name: name, City: city})
		notifiertest.Check(t, "SMS", got.sms, 0, notifiertest.Hostile{})
		for _, r := range got.replies {
			notifiertest.Check(t, "SMS reply", r, 0, notifiertest.Hostile{})
		}
		for what, s := range map[string]string{"SMS": got.sms, "SMS reply": got.replies[0]} {
			if notifiers.GSMSeptets(s) < 0 {
				t.Errorf("%s is not GSM-7: %q", what, s)
			}
		}
		if !strings.HasSuffix(got.sms, " "+notifiertest.Link) {
			t.Errorf("SMS does not end with its report link: %q", got.sms)
		}
		notifiertest.Check(t, "plain text", got.plain, strings.Count(ref.plain, "\n"), notifiertest.Hostile{})
		notifiertest.CheckSlackText(t, "Slack text", got.slackText, strings.Count(ref.slackText, "\n"), notifiertest.Hostile{})
		notifiertest.CheckSlackBlocks(t, "Slack blocks", got.blocks, ref.blocks, notifiertest.Hostile{})
		notifiertest.CheckConsole(t, got.console, strings.Count(ref.console, "\n"), notifiertest.Hostile{})

		// The harmless merchant of the same shape: one letter for each field set, so
		// that its SMS has room for the city whenever the fuzzed one's has.
		shape := func(s, stand string) string {
			if notifiers.CleanText(s) == "" {
				return ""
			}
			return stand
		}
		same := render(t, rules.Merchant{ID: shape(id, "M"), Name: shape(name, "A"), City: shape(city, "L")})
		for what, o := range map[string][2]string{
			"SMS": {got.sms, same.sms}, "plain text": {got.plain, same.plain}, "Slack text": {got.slackText, same.slackText},
			"console": {got.console, same.console}, "Slack blocks": {slackTexts(t, got.blocks), slackTexts(t, same.blocks)},
			"SMS reply": {got.replies[0], same.replies[0]}, "SMS legit reply": {got.replies[1], same.replies[1]},
		} {
			if n, want := notifiertest.QuoteMarks(o[0]), notifiertest.QuoteMarks(o[1]); n > want {
				t.Errorf("%s has %d quotation marks, more than cardwatch's %d: %q", what, n, want, o[0])
			}
		}

		for _, s := range []string{name, city, id} {
			c := notifiers.CleanText(s)
			if again := notifiers.CleanText(c); again != c {
				t.Errorf("CleanText is not stable: %q, then %q", c, again)
			}
			if strings.Contains(c, "  ") || strings.TrimSpace(c) != c {
				t.Errorf("CleanText(%q) = %q leaves extra spaces", s, c)
			}
			if i := notifiers.InertText(s); notifiers.InertText(i) != i {
				t.Errorf("InertText is not stable: %q, then %q", i, notifiers.InertText(i))
			}
		}
	})
}

// slackTexts is the text of every text object of a message's blocks, one a line.
func slackTexts(t *testing.T, blocks []byte) string {
	t.Helper()
	texts, _, err := notifiertest.SlackTexts(blocks)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, o := range texts {
		b.WriteString(o.Text + "\n")
	}
	return b.String()
}
