package slack

import (
	"encoding/json"
	"net/http"
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
			notifiertest.CheckSlackBlocks(t, "blocks", blocksJSON(t, Blocks(m)), blocksJSON(t, Blocks(ref)), h)
			notifiertest.CheckSlackBlocks(t, "answered blocks", blocksJSON(t, answeredBlocks(m, line, true)), blocksJSON(t, answeredBlocks(ref, line, true)), h)
			notifiertest.CheckSlackText(t, "fallback", Text(m), strings.Count(Text(ref), "\n"), h)
			notifiertest.CheckSlackText(t, "answered fallback", answeredText(m, line), 0, h)
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
		// Emoji shortcodes lose their colons to a look-alike; a time keeps its own.
		{"ACME :lock: Card locked :sos:", "ACME \ua789lock\ua789 Card locked \ua789sos\ua789"},
		{":warning::skin-tone-2: x", "\ua789warning\ua789\ua789skin-tone-2\ua789 x"},
		{"ＡＣＭＥ：ｌｏｃｋ：", "ACME\ua789lock\ua789"}, // full-width colons fold to ":" first
		{"at 1:22 PM: ok", "at 1:22 PM: ok"},
	} {
		if got := mrkdwn(c.in); got != c.want {
			t.Errorf("mrkdwn(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// answeredPost taps "Report fraud" on a's message and returns what Slack's response_url
// got: the message once answered.
func answeredPost(t *testing.T, a *rules.Alert) posted {
	t.Helper()
	s := newSink(t, http.StatusOK)
	r := newRig(t, &fakeAnswers{alert: a}, s)
	body := form(t, blockActions(s.url(), tap(ActionFraud, a.ID)))
	if resp, _ := r.do(t, http.DefaultClient, http.MethodPost, body, signed(body, clock, signingSecret)); resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, want 200", resp.StatusCode)
	}
	r.h.Wait()
	posts := s.Posts()
	if len(posts) != 1 {
		t.Fatalf("response_url got %d posts, want 1", len(posts))
	}
	return posts[0]
}

// TestInteractionsHostile answers every known attack's alert in Slack: the message
// that replaces it, text and blocks, is as safe as the alert was.
func TestInteractionsHostile(t *testing.T) {
	ref := answeredPost(t, notifiertest.Alert(rules.Merchant{ID: "M-1", Name: "ACME", City: "Lagos"}))
	for _, h := range notifiertest.HostileInputs() {
		t.Run(h.Name, func(t *testing.T) {
			p := answeredPost(t, notifiertest.Alert(h.Merchant))
			notifiertest.CheckSlackText(t, "answered text", p.Text, 0, h)
			notifiertest.CheckSlackBlocks(t, "answered blocks", p.Blocks, ref.Blocks, h)
		})
	}
}
