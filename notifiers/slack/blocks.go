package slack

import (
	"regexp"
	"strings"

	"github.com/slack-go/slack"

	"github.com/cardwatch/cardwatch/notifiers"
)

// The ids Slack sends back in a block_actions payload when the cardholder taps a button.
const (
	// AnswerBlockID is the block of the answer buttons.
	AnswerBlockID = "cardwatch_answer"
	// ActionFraud is "Report fraud"; its value is the alert id.
	ActionFraud = "report_fraud"
	// ActionLegit is "It was me"; its value is the alert id.
	ActionLegit = "report_legit"
	// ActionOpen is the link to the report page; Slack reports its taps too, to be acknowledged and ignored.
	ActionOpen = "open_report"
)

// The most characters Slack takes in a header block and in a section's text.
const (
	maxHeader  = 150
	maxSection = 3000
)

// Blocks is the alert as Block Kit: what happened, why, when, and the answers.
func Blocks(m notifiers.Message) []slack.Block {
	f := notifiers.FactsOf(m)
	id := m.Alert.ID

	var why strings.Builder
	why.WriteString("*Why you got this*")
	for _, r := range f.Reasons {
		why.WriteString("\n• " + mrkdwn(r))
	}
	if f.Declined {
		why.WriteString("\nYour bank declined it, so no money moved. If it was not you, someone may have your card details.")
	}

	fraud := slack.NewButtonBlockElement(ActionFraud, id, plain("Report fraud")).
		WithStyle(slack.StyleDanger).
		WithConfirm(slack.NewConfirmationBlockObject(
			plain("Report fraud?"),
			plain("We will tell your bank you did not make this payment, so that it can block the card."),
			plain("Report fraud"),
			plain("Cancel"),
		).WithStyle(slack.StyleDanger))
	legit := slack.NewButtonBlockElement(ActionLegit, id, plain("It was me")).WithStyle(slack.StylePrimary)
	buttons := []slack.BlockElement{fraud, legit}
	if link := m.Alert.ReportURL; link != "" { // Slack refuses a link button without a URL
		buttons = append(buttons, slack.NewButtonBlockElement(ActionOpen, "", plain("Open report page")).WithURL(link))
	}

	return []slack.Block{
		slack.NewHeaderBlock(plain(clip(f.Headline(), maxHeader))),
		// verbatim: Slack must not turn what a reason quotes into a link or a mention.
		slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, clip(why.String(), maxSection), false, true), nil, nil),
		slack.NewContextBlock("", plain(f.When+" · alert "+id)),
		slack.NewActionBlock(AnswerBlockID, buttons...),
	}
}

// Text is the message's plain-text fallback (what notifications and clients without
// blocks show): notifiers.PlainText, with every fact a bank or merchant set escaped for
// mrkdwn, which Slack applies to a message's text.
func Text(m notifiers.Message) string {
	return notifiers.FactsOf(m).Escaped(mrkdwn).PlainText()
}

// answeredText is the fallback of the message once answered: the headline, escaped as in
// Text, and the line that says what became of the answer.
func answeredText(m notifiers.Message, line string) string {
	return notifiers.FactsOf(m).Escaped(mrkdwn).Headline() + ". " + line
}

// mrkdwnFormat turns the characters Slack's mrkdwn gives a meaning into text: "&", "<"
// and ">" into the entities Slack documents (so no <!channel>, <@U…>, <#C…> or
// <url|text> can be written, and no "> " quote), and the formatting marks *, _, ~ and `,
// which mrkdwn has no escape for, into their full-width forms, which it leaves alone.
var mrkdwnFormat = strings.NewReplacer(
	"&", "&amp;", "<", "&lt;", ">", "&gt;",
	"*", "＊", "_", "＿", "~", "～", "`", "｀",
)

// shortcode is what Slack's mrkdwn turns into an emoji (verbatim or not): a word between
// two colons, ":lock:", ":sos:", ":+1:", ":wave::skin-tone-2:", custom names included.
var shortcode = regexp.MustCompile(`:[^\s:]+:`)

// shortcodeColon stands for each colon of a shortcode: the modifier letter colon, which
// reads as one and which Slack does not take for the start or end of an emoji's name (a
// zero-width character between would not do: CleanText takes those out).
const shortcodeColon = "\ua789"

// mrkdwn is untrusted text as a mrkdwn object (sent with verbatim) shows it as it is: the
// facts are already notifiers.InertText, with no link or number for Slack to detect, the
// markup is turned into text (mrkdwnFormat), and no ":word:" is left to show as a
// picture (a lock, a warning sign) that cardwatch did not put there.
func mrkdwn(s string) string {
	s = mrkdwnFormat.Replace(notifiers.InertText(s))
	return shortcode.ReplaceAllStringFunc(s, func(code string) string {
		return shortcodeColon + code[1:len(code)-1] + shortcodeColon
	})
}

// plain is a plain_text object, which Slack shows as is: no escaping needed. Its facts
// come from notifiers.FactsOf, which made them inert, and emoji is off, so that no
// ":shortcode:" in a merchant's name turns into a picture.
func plain(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, s, false, false)
}

// clip cuts s to n characters, the last an ellipsis, so that a long merchant name
// cannot make Slack refuse the whole message.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
