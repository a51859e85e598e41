package notifiertest

import (
	"encoding/json"
	"strings"
)

// SlackText is a Block Kit text object as Slack receives it.
type SlackText struct {
	Type     string `json:"type"`
	Text     string `json:"text"`
	Emoji    *bool  `json:"emoji"`
	Verbatim bool   `json:"verbatim"`
}

// SlackTexts returns every text object of a Block Kit message's blocks JSON, in order,
// and every URL in it (link buttons).
func SlackTexts(blocks []byte) (texts []SlackText, urls []string, err error) {
	var tree any
	if err := json.Unmarshal(blocks, &tree); err != nil {
		return nil, nil, err
	}
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case []any:
			for _, e := range v {
				walk(e)
			}
		case map[string]any:
			if typ, _ := v["type"].(string); typ == "plain_text" || typ == "mrkdwn" {
				o := SlackText{Type: typ}
				o.Text, _ = v["text"].(string)
				if e, ok := v["emoji"].(bool); ok {
					o.Emoji = &e
				}
				o.Verbatim, _ = v["verbatim"].(bool)
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
	return texts, urls, nil
}

// CheckSlackBlocks fails t for each problem of got, a message's blocks JSON, against
// ref, the blocks of a harmless alert of the same shape: every text object has its
// Problems (with as many line breaks as ref's), plain_text turns emoji off, mrkdwn is
// verbatim (Slack links nothing in it) and carries no Slack syntax but cardwatch's own
// "*Why you got this*", and no button links anywhere but Link.
func CheckSlackBlocks(t T, what string, got, ref []byte, h Hostile) {
	t.Helper()
	texts, urls, err := SlackTexts(got)
	if err != nil {
		t.Errorf("%s: %v", what, err)
		return
	}
	want, _, err := SlackTexts(ref)
	if err != nil {
		t.Errorf("%s: reference: %v", what, err)
		return
	}
	if len(texts) != len(want) {
		t.Errorf("%s: %d text objects, want %d", what, len(texts), len(want))
		return
	}
	for i, o := range texts {
		Check(t, what+" "+o.Type, o.Text, strings.Count(want[i].Text, "\n"), h)
		switch o.Type {
		case "plain_text":
			if o.Emoji == nil || *o.Emoji {
				t.Errorf("%s: plain_text %q does not turn emoji off", what, o.Text)
			}
		case "mrkdwn":
			if !o.Verbatim {
				t.Errorf("%s: mrkdwn %q is not verbatim: Slack would link what it quotes", what, o.Text)
			}
			if m := SlackMarkup(o.Text, "*Why you got this*"); len(m) > 0 {
				t.Errorf("%s: mrkdwn %q carries Slack syntax %q", what, o.Text, m)
			}
		}
	}
	for _, u := range urls {
		if u != Link {
			t.Errorf("%s: a button links to %q", what, u)
		}
	}
}

// CheckSlackText fails t for each problem of a Slack message's text (the fallback, which
// Slack reads as mrkdwn): its Problems, and any Slack syntax outside Link.
func CheckSlackText(t T, what, text string, newlines int, h Hostile) {
	t.Helper()
	Check(t, what, text, newlines, h)
	if m := SlackMarkup(strings.ReplaceAll(text, Link, "")); len(m) > 0 {
		t.Errorf("%s %q carries Slack syntax %q", what, text, m)
	}
}
