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

// textObject is a Block Kit text object as Slack receives it.
type textObject struct {
	Type     string `json:"type"`
	Text     string `json:"text"`
	Emoji    *bool  `json:"emoji"`
	Verbatim bool   `json:"verbatim"`
}

// textObjects returns every text object in blocks' JSON, in order, and every URL.
func textObjects(t *testing.T, blocks []slack.Block) (texts []textObject, urls []string) {
	t.Helper()
	b, err := json.Marshal(blocks)
	if err != nil {
		t.Fatal(err)
	}
	var tree any
	if err := json.Unmarshal(b, &tree); err != nil {
		t.Fatal(err)
	}
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case []any:
			for _, e := range v {
				walk(e)
			}
		case map[string]any:
			if typ, _ := v["type"].(string); typ == slack.PlainTextType || typ == slack.MarkdownType {
				var o textObject
				raw, _ := json.Marshal(v)
				if err := json.Unmarshal(raw, &o); err != nil {
					t.Fatal(err)
				}
				texts = append(texts, o)
				return
			}
			if u, ok := v["url"].(string); ok {
				urls = append(urls, u)
			}
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(tree)
	return texts, urls
}

// checkHostileBlocks checks every text object of blocks against the same objects of want,
// the blocks of a harmless alert: as many line breaks, plain_text without emoji,
// mrkdwn verbatim and with no Slack syntax of the merchant's, and no URL but the link.
func checkHostileBlocks(t *testing.T, what string, blocks, want []slack.Block, gone []string) {
	t.Helper()
	got, urls := textObjects(t, blocks)
	ref, _ := textObjects(t, want)
	if len(got) != len(ref) {
		t.Fatalf("%s: %d text objects, want %d", what, len(got), len(ref))
	}
	for i, o := range got {
		notifiertest.Check(t, what+" "+o.Type, o.Text, strings.Count(ref[i].Text, "\n"), gone)
		switch o.Type {
		case slack.PlainTextType:
			if o.Emoji == nil || *o.Emoji {
				t.Errorf("%s: plain_text %q does not turn emoji off", what, o.Text)
			}
		case slack.MarkdownType:
			if !o.Verbatim {
				t.Errorf("%s: mrkdwn %q is not verbatim: Slack would link what it quotes", what, o.Text)
			}
			if m := notifiertest.SlackMarkup(o.Text, "*Why you got this*"); len(m) > 0 {
				t.Errorf("%s: mrkdwn %q carries Slack syntax %q", what, o.Text, m)
			}
		}
	}
	for _, u := range urls {
		if u != notifiertest.Link {
			t.Errorf("%s: a button links to %q", what, u)
		}
	}
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
			checkHostileBlocks(t, "blocks", Blocks(m), Blocks(ref), h.Gone)
			checkHostileBlocks(t, "answered blocks", answeredBlocks(m, line), answeredBlocks(ref, line), h.Gone)
			for what, text := range map[string]string{"fallback": Text(m), "answered fallback": answeredText(m, line)} {
				notifiertest.Check(t, what, text, strings.Count(map[string]string{"fallback": Text(ref), "answered fallback": answeredText(ref, line)}[what], "\n"), h.Gone)
				if s := notifiertest.SlackMarkup(strings.ReplaceAll(text, notifiertest.Link, "")); len(s) > 0 {
					t.Errorf("%s %q carries Slack syntax %q", what, text, s)
				}
			}
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
