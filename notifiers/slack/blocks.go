package slack

import (
	"strings"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackutilsx"

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

// maxHeader is the most characters Slack takes in a header block.
const maxHeader = 150

// Blocks is the alert as Block Kit: what happened, why, when, and the answers.
func Blocks(m notifiers.Message) []slack.Block {
	f := notifiers.FactsOf(m)
	id := m.Alert.ID

	var why strings.Builder
	why.WriteString("*Why you got this*")
	for _, r := range f.Reasons {
		why.WriteString("\n• " + slackutilsx.EscapeMessage(r))
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
		slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, why.String(), false, false), nil, nil),
		slack.NewContextBlock("", plain(f.When+" · alert "+id)),
		slack.NewActionBlock(AnswerBlockID, buttons...),
	}
}

// plain is a plain_text object, which Slack shows as is: no escaping needed.
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
