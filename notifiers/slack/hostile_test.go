package slack

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/slack-go/slack"

	"github.com/cardwatch/cardwatch/notifiers"
	"github.com/cardwatch/cardwatch/notifiers/notifiertest"
	"github.com/cardwatch/cardwatch/rules"
)

func blocksJSON(t *testing.T, blocks []slack.Block) []byte {
	t.Helper()
	b, err := json.Marshal(blocks)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSlackHostile sends every known attack through the Slack message, its fallback
// text, and the message once answered: no mention, no link, no formatting of the
// merchant's, no line break, control or bidi character gets through.
func TestSlackHostile(t *testing.T) {
	holder := notifiertest.Cardholder()
	ref := notifiers.Message{Alert: notifiertest.Alert(rules.Merchant{ID: "M-1", Name: "ACME", City: "Lagos"}), Cardholder: holder}
	line := outcomeLine(notifiers.Outcome{First: true, Standing: rules.Report{Verdict: rules.VerdictFraud}}, rules.VerdictFraud, holder)
	for _, h := range notifiertest.HostileInputs() {
		t.Run(h.Name, func(t *testing.T) {
			m := notifiers.Message{Alert: notifiertest.Alert(h.Merchant), Cardholder: holder}
			notifiertest.CheckSlackBlocks(t, "blocks", blocksJSON(t, Blocks(m)), blocksJSON(t, Blocks(ref)), h.Gone)
			notifiertest.CheckSlackBlocks(t, "answered blocks", blocksJSON(t, answeredBlocks(m, line)), blocksJSON(t, answeredBlocks(ref, line)), h.Gone)
			notifiertest.CheckSlackText(t, "fallback", Text(m), strings.Count(Text(ref), "\n"), h.Gone)
			notifiertest.CheckSlackText(t, "answered fallback", answeredText(m, line), 0, h.Gone)
		})
	}
}

func TestMrkdwn(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"B&H <PHOTO>", "B&amp;H &lt;PHOTO&gt;"},
		{"<!channel> <@U123> <#C1|x>", "&lt;!channel&gt; &lt;@U123&gt; &lt;#C1|x&gt;"},
		{"*URGENT* <https://evil.example|Verify>", "＊URGENT＊ &lt;https evil example|Verify&gt;"},
		{"_a_ ~b~ `c` > d", "＿a＿ ～b～ ｀c｀ &gt; d"},
		{"ACME\n> quoted", "ACME &gt; quoted"},
	} {
		if got := mrkdwn(c.in); got != c.want {
			t.Errorf("mrkdwn(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
