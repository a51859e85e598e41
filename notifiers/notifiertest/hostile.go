// Package notifiertest holds what the tests of every channel share: the hostile inputs
// a bank or merchant can put in an alert, and the checks that no output lets them
// through. Each channel's tests run the same table, so that a new channel is tested
// against every known attack by writing one loop.
package notifiertest

import (
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"

	"github.com/nyaruka/phonenumbers"
	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"

	"github.com/cardwatch/cardwatch/rules"
)

// Link is the report link of the alerts Alert builds: the only URL a message may carry.
const Link = "https://cw.acmebank.com/r/Wt8p-HswU7pD0Aec9k7wkTkXQT0gN9A"

// Hostile is one attack through the fields of a merchant.
type Hostile struct {
	// Name says what the attack is.
	Name string
	// Merchant is what the bank sent.
	Merchant rules.Merchant
	// Gone are strings that must be in no output (the attacker's host, number or escape).
	Gone []string
}

// HostileInputs are the attacks the review reproduced, and their disguises.
func HostileInputs() []Hostile {
	long := strings.Repeat("LONG NAME ", 20)
	return []Hostile{
		{"newlines", rules.Merchant{ID: "M-1", Name: "ACME\nBANK: card LOCKED\r\nReply\tnow"}, []string{"\r", "\t", "LOCKED\n"}},
		{"fake bank and phone", rules.Merchant{ID: "M-1", Name: "ACME BANK: card LOCKED. Call +1 800 555 0100"}, []string{"555 0100", "800 555"}},
		{"slack formatting and link", rules.Merchant{ID: "M-1", Name: "*URGENT* <https://evil.example|Verify>"}, []string{"evil.example", "https:"}},
		{"slack channel mention", rules.Merchant{ID: "M-1", Name: "<!channel> card locked"}, nil},
		{"slack user mention", rules.Merchant{ID: "M-1", Name: "<@U123> verify your card"}, nil},
		{"slack channel link", rules.Merchant{ID: "M-1", Name: "<#C123|general> _italic_ ~strike~ `code` > quote"}, nil},
		{"URL before the real link", rules.Merchant{ID: "M-1", Name: "VERIFY AT https://acmebank-verify.example/r/login"}, []string{"acmebank-verify.example", "https://acmebank"}},
		{"bare domain", rules.Merchant{ID: "M-1", Name: "evil.example/login"}, []string{"evil.example"}},
		{"www", rules.Merchant{ID: "M-1", Name: "WWW.EVIL.EXAMPLE"}, []string{"WWW.", "EVIL.EXAMPLE"}},
		{"email", rules.Merchant{ID: "M-1", Name: "help@evil.example"}, []string{"evil.example"}},
		{"IP address", rules.Merchant{ID: "M-1", Name: "GO TO 5.6.7.8/x"}, []string{"5.6.7.8"}},
		{"phone in the city", rules.Merchant{ID: "M-1", Name: "ACME", City: "REFUND DESK, call 8005550100"}, []string{"8005550100"}},
		{"short phone in the city", rules.Merchant{ID: "M-1", Name: "ACME", City: "CALL 8005550100"}, []string{"8005550100"}},
		{"newline in the city", rules.Merchant{ID: "M-1", Name: "ACME", City: "Lagos\nCALL\x1b[5m"}, []string{"\x1b", "Lagos\n"}},
		{"phone as the id", rules.Merchant{ID: "CALL 800-555-0100"}, []string{"555-0100"}},
		{"ANSI colour", rules.Merchant{ID: "M-1", Name: "ACME\x1b[31m RED\x1b[0m", City: "\x1b[2J\x1b[HLagos"}, []string{"\x1b"}},
		{"OSC 8 hyperlink", rules.Merchant{ID: "M-1", Name: "\x1b]8;;http://evil\x07CLICK\x1b]8;;\x07"}, []string{"\x1b", "\x07", "http://evil"}},
		{"C1 controls", rules.Merchant{ID: "M-1", Name: "ACME\u009b31m\u0085NEXT\u0000\u007f"}, []string{"\u009b", "\u0085", "\x00", "\x7f"}},
		{"bidi override", rules.Merchant{ID: "M-1", Name: "ACME \u202eelpmaxe.live\u202c \u2066x\u2069"}, []string{"\u202e", "\u202c", "\u2066", "\u2069", "elpmaxe.live"}},
		{"zero-width", rules.Merchant{ID: "M-1", Name: "evil\u200b.\u200dexample 800\u200b555\u2060\ufeff0100"}, []string{"\u200b", "\u200d", "\u2060", "\ufeff", "evil.example"}},
		{"line and paragraph separators", rules.Merchant{ID: "M-1", Name: "ACME\u2028BANK\u2029NOTICE"}, []string{"\u2028", "\u2029"}},
		{"dashes", rules.Merchant{ID: "M-1", Name: "CALL 800–555—0100 or 800‐555−0100"}, []string{"555"}},
		{"no-break spaces", rules.Merchant{ID: "M-1", Name: "CALL\u00a0800\u00a0555\u202f0100"}, []string{"555\u00a0", "555 0100"}},
		{"full-width", rules.Merchant{ID: "M-1", Name: "ｅｖｉｌ．ｅｘａｍｐｌｅ ８００５５５０１００"}, []string{"evil.example", "８００", "800555"}},
		// Every separator libphonenumber (and so Android's Linkify) reads between digits.
		{"tilde", rules.Merchant{ID: "M-1", Name: "CALL 800~555~0100"}, []string{"555", "0100"}},
		{"square brackets", rules.Merchant{ID: "M-1", Name: "CALL [800]555[0100]"}, []string{"555", "0100"}},
		{"letter x", rules.Merchant{ID: "M-1", Name: "CALL 800x555x0100 or 800X555X0100"}, []string{"555", "0100"}},
		{"tilde operator", rules.Merchant{ID: "M-1", Name: "CALL 800\u223c555\u223c0100"}, []string{"555", "0100"}},
		{"swung dash", rules.Merchant{ID: "M-1", Name: "CALL 800\u2053555\u20530100"}, []string{"555", "0100"}},
		{"full-width tilde", rules.Merchant{ID: "M-1", Name: "CALL 800\uff5e555\uff5e0100"}, []string{"555", "0100"}},
		{"katakana long mark and ideographic space", rules.Merchant{ID: "M-1", Name: "CALL 800\u30fc555\u30000100"}, []string{"555", "0100"}},
		{"full-width brackets and plus", rules.Merchant{ID: "M-1", Name: "CALL \uff0b1\uff08800\uff09555\uff3b0100\uff3d"}, []string{"555", "0100"}},
		{"soft hyphen", rules.Merchant{ID: "M-1", Name: "CALL 800\u00ad555\u00ad0100"}, []string{"555", "0100"}},
		{"marks over digits", rules.Merchant{ID: "M-1", Name: "CALL 8\u0301005\u0301550\u0301100"}, []string{"8005550100", "800555"}},
		{"quote that closes the label", rules.Merchant{ID: "M-1", Name: `ACME" is not your bank. "CARDWATCH`}, nil},
		{"very long", rules.Merchant{ID: strings.Repeat("9", 128), Name: long[:200], City: long[:100]}, []string{"9999999"}},
	}
}

// Alert is a sample alert at merchant m, with the reasons the rules write for it (the
// unknown_merchant sentence quotes the merchant as the rule does).
func Alert(m rules.Merchant) *rules.Alert {
	at := time.Date(2026, 11, 24, 18, 22, 5, 0, time.UTC)
	billing := rules.Money{Minor: 134210, Currency: "USD"}
	label := m.Name
	if label == "" {
		label = "merchant " + m.ID
	}
	m.Country = "NG"
	return &rules.Alert{
		ID: "al_llpst6d3gbj3uq6q", TxnID: "t1", Bank: "acme", CardholderID: "ch_1001", CardLast4: "4821",
		Amount: rules.Money{Minor: 125000, Currency: "EUR"}, BillingAmount: &billing,
		Merchant: m, Terminal: rules.Terminal{Country: "NG", EntryMode: rules.EntryChip},
		Status: rules.StatusApproved, OccurredAt: at, CreatedAt: at.Add(time.Second), ReportURL: Link,
		Reasons: []rules.Reason{
			{Rule: "amount_over", Detail: "$1,342.10 is over your $200.00 limit", Summary: "over limit"},
			{Rule: "unknown_merchant", Detail: "first purchase at " + label + " on this card", Summary: "new merchant"},
			{Rule: "foreign_terminal", Detail: "terminal in Nigeria", Summary: "abroad"},
		},
	}
}

// Cardholder is the cardholder of Alert's alerts, with both channels.
func Cardholder() *rules.Cardholder {
	return &rules.Cardholder{ID: "ch_1001", Bank: "acme", Name: "Ana Souza",
		Notify: rules.Notify{SMS: "+15551230001", Slack: "U024BE7LH"}, Location: time.UTC}
}

var (
	// A scheme, a dot between a character and a letter or a letter and a digit (a host
	// name, "www.x"), a dotted number with two dots or more (an IP address), with the
	// dots IDNA reads.
	urlLike = regexp.MustCompile(`(?i)[a-z][a-z0-9+.-]*:[/\\]|\S[.。][\pL\pM]|\pL[.。]\p{Nd}|\p{Nd}[.。]\p{Nd}+[.。]\p{Nd}`)
	// Seven digits or more, with the characters phone numbers are written with between:
	// libphonenumber's own list (VALID_PUNCTUATION and PLUS_CHARS, case ignored), and
	// every dash.
	phoneLike = regexp.MustCompile(`(?i)\p{Nd}(?:[` + phonenumbers.VALID_PUNCTUATION + phonenumbers.PLUS_CHARS + `\p{Pd}]*\p{Nd}){6}`)
	// Marks are dropped before the phone check: an SMS's GSM-7 conversion drops them.
	dropMarks = transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
)

// Problems lists how out, one output of a channel, breaks the rules every output keeps:
// no URL but Link, nothing that reads as a phone number, and ControlProblems' rules.
func Problems(out string, newlines int) []string {
	p := ControlProblems(out, newlines)
	rest := strings.ReplaceAll(out, Link, "")
	if m := urlLike.FindString(rest); m != "" {
		p = append(p, fmt.Sprintf("reads as a URL: %q", m))
	}
	plain, _, _ := transform.String(dropMarks, norm.NFKC.String(rest))
	if m := phoneLike.FindString(plain); m != "" {
		p = append(p, fmt.Sprintf("reads as a phone number: %q", m))
	}
	return p
}

// ControlProblems lists how out breaks the rules of every output, a terminal's too: no
// control, format or other invisible character, and exactly newlines line breaks (the
// ones the format puts between its own lines; none inside a fact).
func ControlProblems(out string, newlines int) []string {
	var p []string
	if n := strings.Count(out, "\n"); n != newlines {
		p = append(p, fmt.Sprintf("%d line breaks, want %d", n, newlines))
	}
	for _, r := range out {
		if r == '\n' {
			continue
		}
		if !unicode.IsGraphic(r) || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp) ||
			unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r) {
			p = append(p, fmt.Sprintf("invisible or control character %U", r))
		}
	}
	return p
}

// T is what the checks need of a *testing.T or *testing.F.
type T interface {
	Helper()
	Errorf(string, ...any)
}

// Check fails t for each of out's Problems and each of the gone strings in it.
func Check(t T, what, out string, newlines int, gone []string) {
	t.Helper()
	for _, p := range Problems(out, newlines) {
		t.Errorf("%s: %s in %q", what, p, out)
	}
	checkGone(t, what, out, gone)
}

// CheckConsole fails t for each problem of a console notifier's output: every line, the
// console's own with the cardholder profile's words too, for ControlProblems, and the
// lines that stand for a message (indented) as that message is checked.
func CheckConsole(t T, out string, newlines int, gone []string) {
	t.Helper()
	for _, p := range ControlProblems(out, newlines) {
		t.Errorf("console: %s in %q", p, out)
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "  ") {
			Check(t, "console message line", l, 0, gone)
		}
	}
}

func checkGone(t T, what, out string, gone []string) {
	t.Helper()
	rest := strings.ReplaceAll(out, Link, "")
	for _, g := range gone {
		if strings.Contains(rest, g) {
			t.Errorf("%s: %q survived in %q", what, g, out)
		}
	}
}

// slackSyntax is what Slack's mrkdwn (a mrkdwn object, a message's text) reads as a
// mention, a link or formatting: any "<" or ">" (escaped ones are entities), and the
// formatting marks.
var slackSyntax = regexp.MustCompile("[<>*_~`]")

// SlackMarkup lists the Slack syntax in s, mrkdwn text whose trusted parts use none
// but for the given exceptions (cardwatch's own "*Why you got this*", a link's "_").
func SlackMarkup(s string, allowed ...string) []string {
	for _, a := range allowed {
		s = strings.ReplaceAll(s, a, "")
	}
	return slackSyntax.FindAllString(s, -1)
}
