// Package notifiertest holds what the tests of every channel share: the hostile inputs
// a bank or merchant can put in an alert, and the checks that no output lets them
// through. Each channel's tests run the same table, so that a new channel is tested
// against every known attack by writing one loop.
package notifiertest

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
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
	// Said are the merchant's words that an output may show only between a pair of
	// cardwatch's double quotes, where the cardholder reads them as the merchant's.
	Said []string
}

// HostileInputs are the attacks the review reproduced, and their disguises.
func HostileInputs() []Hostile {
	long := strings.Repeat("LONG NAME ", 20)
	return []Hostile{
		{"newlines", rules.Merchant{ID: "M-1", Name: "ACME\nBANK: card LOCKED\r\nReply\tnow"}, []string{"\r", "\t", "LOCKED\n"}, nil},
		{"fake bank and phone", rules.Merchant{ID: "M-1", Name: "ACME BANK: card LOCKED. Call +1 800 555 0100"}, []string{"555 0100", "800 555"}, nil},
		{"slack formatting and link", rules.Merchant{ID: "M-1", Name: "*URGENT* <https://evil.example|Verify>"}, []string{"evil.example", "https:"}, nil},
		{"slack channel mention", rules.Merchant{ID: "M-1", Name: "<!channel> card locked"}, nil, nil},
		{"slack user mention", rules.Merchant{ID: "M-1", Name: "<@U123> verify your card"}, nil, nil},
		{"slack emoji", rules.Merchant{ID: "M-1", Name: "ACME :lock: :warning::sos: :+1::skin-tone-2:", City: ":rotating_light:Lagos"}, nil, nil}, // Slack only: its checks refuse a ":word:"
		{"slack channel link", rules.Merchant{ID: "M-1", Name: "<#C123|general> _italic_ ~strike~ `code` > quote"}, nil, nil},
		{"URL before the real link", rules.Merchant{ID: "M-1", Name: "VERIFY AT https://acmebank-verify.example/r/login"}, []string{"acmebank-verify.example", "https://acmebank"}, nil},
		{"bare domain", rules.Merchant{ID: "M-1", Name: "evil.example/login"}, []string{"evil.example"}, nil},
		{"www", rules.Merchant{ID: "M-1", Name: "WWW.EVIL.EXAMPLE"}, []string{"WWW.", "EVIL.EXAMPLE"}, nil},
		{"email", rules.Merchant{ID: "M-1", Name: "help@evil.example"}, []string{"evil.example"}, nil},
		{"IP address", rules.Merchant{ID: "M-1", Name: "GO TO 5.6.7.8/x"}, []string{"5.6.7.8"}, nil},
		{"phone in the city", rules.Merchant{ID: "M-1", Name: "ACME", City: "REFUND DESK, call 8005550100"}, []string{"8005550100"}, nil},
		{"short phone in the city", rules.Merchant{ID: "M-1", Name: "ACME", City: "CALL 8005550100"}, []string{"8005550100"}, nil},
		{"bank's words in the city", rules.Merchant{ID: "M-1", Name: "ACME", City: "Lagos\n\nACME BANK: reply PIN to 8005550100"},
			[]string{"8005550100", "Lagos\n"}, []string{"Lagos", "BANK", "reply PIN"}},
		{"short bank's words in the city", rules.Merchant{ID: "M-1", Name: "ACME", City: "BANK: PIN now"}, nil, []string{"BANK", "PIN now"}},
		{"quotes in the city", rules.Merchant{ID: "M-1", Name: "ACME", City: "Lagos\" Card locked. \u201cReply PIN"},
			[]string{"\u201c"}, []string{"Lagos", "Card locked", "Reply PIN"}},
		{"newline in the city", rules.Merchant{ID: "M-1", Name: "ACME", City: "Lagos\nCALL\x1b[5m"}, []string{"\x1b", "Lagos\n"}, nil},
		{"phone as the id", rules.Merchant{ID: "CALL 800-555-0100"}, []string{"555-0100"}, nil},
		{"ANSI colour", rules.Merchant{ID: "M-1", Name: "ACME\x1b[31m RED\x1b[0m", City: "\x1b[2J\x1b[HLagos"}, []string{"\x1b"}, nil},
		{"OSC 8 hyperlink", rules.Merchant{ID: "M-1", Name: "\x1b]8;;http://evil\x07CLICK\x1b]8;;\x07"}, []string{"\x1b", "\x07", "http://evil"}, nil},
		{"C1 controls", rules.Merchant{ID: "M-1", Name: "ACME\u009b31m\u0085NEXT\u0000\u007f"}, []string{"\u009b", "\u0085", "\x00", "\x7f"}, nil},
		{"bidi override", rules.Merchant{ID: "M-1", Name: "ACME \u202eelpmaxe.live\u202c \u2066x\u2069"}, []string{"\u202e", "\u202c", "\u2066", "\u2069", "elpmaxe.live"}, nil},
		{"zero-width", rules.Merchant{ID: "M-1", Name: "evil\u200b.\u200dexample 800\u200b555\u2060\ufeff0100"}, []string{"\u200b", "\u200d", "\u2060", "\ufeff", "evil.example"}, nil},
		{"line and paragraph separators", rules.Merchant{ID: "M-1", Name: "ACME\u2028BANK\u2029NOTICE"}, []string{"\u2028", "\u2029"}, nil},
		{"dashes", rules.Merchant{ID: "M-1", Name: "CALL 800–555—0100 or 800‐555−0100"}, []string{"555"}, nil},
		{"no-break spaces", rules.Merchant{ID: "M-1", Name: "CALL\u00a0800\u00a0555\u202f0100"}, []string{"555\u00a0", "555 0100"}, nil},
		{"full-width", rules.Merchant{ID: "M-1", Name: "ｅｖｉｌ．ｅｘａｍｐｌｅ ８００５５５０１００"}, []string{"evil.example", "８００", "800555"}, nil},
		// Every separator libphonenumber (and so Android's Linkify) reads between digits.
		{"tilde", rules.Merchant{ID: "M-1", Name: "CALL 800~555~0100"}, []string{"555", "0100"}, nil},
		{"square brackets", rules.Merchant{ID: "M-1", Name: "CALL [800]555[0100]"}, []string{"555", "0100"}, nil},
		{"letter x", rules.Merchant{ID: "M-1", Name: "CALL 800x555x0100 or 800X555X0100"}, []string{"555", "0100"}, nil},
		{"tilde operator", rules.Merchant{ID: "M-1", Name: "CALL 800\u223c555\u223c0100"}, []string{"555", "0100"}, nil},
		{"swung dash", rules.Merchant{ID: "M-1", Name: "CALL 800\u2053555\u20530100"}, []string{"555", "0100"}, nil},
		{"full-width tilde", rules.Merchant{ID: "M-1", Name: "CALL 800\uff5e555\uff5e0100"}, []string{"555", "0100"}, nil},
		{"katakana long mark and ideographic space", rules.Merchant{ID: "M-1", Name: "CALL 800\u30fc555\u30000100"}, []string{"555", "0100"}, nil},
		{"full-width brackets and plus", rules.Merchant{ID: "M-1", Name: "CALL \uff0b1\uff08800\uff09555\uff3b0100\uff3d"}, []string{"555", "0100"}, nil},
		{"soft hyphen", rules.Merchant{ID: "M-1", Name: "CALL 800\u00ad555\u00ad0100"}, []string{"555", "0100"}, nil},
		{"marks over digits", rules.Merchant{ID: "M-1", Name: "CALL 8\u0301005\u0301550\u0301100"}, []string{"8005550100", "800555"}, nil},
		{"quote that closes the label", rules.Merchant{ID: "M-1", Name: `ACME" is not your bank. "CARDWATCH`}, nil, []string{"ACME", "not your bank", "CARDWATCH"}},
		{"curly quotes that close the label", rules.Merchant{ID: "M-1", Name: "ACME\u201d Card locked \u201c"}, []string{"\u201c", "\u201d"}, []string{"ACME", "Card locked"}},
		{"every kind of quotation mark", rules.Merchant{ID: "M-1", Name: "ACME \u201ea\u201f \u00abb\u00bb \u2039c\u203a \u300cd\u300d \u300ee\u300f \uff02f\uff02 \u2033g\u2033 \u301dh\u301e \u275di\u275e \u2e42j \u2018k\u2019 ''l''"},
			nil, []string{"ACME"}},
		{"very long", rules.Merchant{ID: strings.Repeat("9", 128), Name: long[:200], City: long[:100]}, []string{"9999999"}, nil},
	}
}

// unknownMerchant is a cardholder with the unknown_merchant rule on, to have the rule
// itself write its sentence about a hostile merchant.
var unknownMerchant = sync.OnceValue(func() *rules.Cardholder {
	book, err := rules.Parse("notifiertest", []byte(`cardholders:
  - id: ch_1001
    bank: acme
    home_country: US
    currency: USD
    notify: {sms: "+15551230001"}
    rules: {unknown_merchant: true}
`))
	if err != nil {
		panic(err)
	}
	return book.Lookup("acme", "ch_1001")
})

// Alert is a sample alert at merchant m, with the reasons the rules write for it (the
// unknown_merchant sentence, which quotes the merchant, is the rule's own).
func Alert(m rules.Merchant) *rules.Alert {
	at := time.Date(2026, 11, 24, 18, 22, 5, 0, time.UTC)
	billing := rules.Money{Minor: 134210, Currency: "USD"}
	m.Country = "NG"
	unknown := rules.Evaluate(&rules.Transaction{Merchant: m}, unknownMerchant(), rules.Facts{})
	if len(unknown) != 1 || unknown[0].Rule != "unknown_merchant" {
		panic(fmt.Sprintf("unknown_merchant gave %v", unknown))
	}
	return &rules.Alert{
		ID: "al_llpst6d3gbj3uq6q", TxnID: "t1", Bank: "acme", CardholderID: "ch_1001", CardLast4: "4821",
		Amount: rules.Money{Minor: 125000, Currency: "EUR"}, BillingAmount: &billing,
		Merchant: m, Terminal: rules.Terminal{Country: "NG", EntryMode: rules.EntryChip},
		Status: rules.StatusApproved, OccurredAt: at, CreatedAt: at.Add(time.Second), ReportURL: Link,
		Reasons: []rules.Reason{
			{Rule: "amount_over", Detail: "$1,342.10 is over your $200.00 limit", Summary: "over limit"},
			unknown[0],
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
// no URL but Link, nothing that reads as a phone number, no quotation mark but '"' and
// "'" (a merchant's own become "'", and cardwatch quotes with '"'), and ControlProblems'
// rules.
func Problems(out string, newlines int) []string {
	p := ControlProblems(out, newlines)
	rest := strings.ReplaceAll(out, Link, "")
	for _, r := range rest {
		if quoteLike(r) {
			p = append(p, fmt.Sprintf("quotation mark %q", r))
		}
	}
	if strings.Contains(rest, "''") {
		p = append(p, `two apostrophes, which read as '"'`)
	}
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

// Check fails t for each of out's Problems, each of h's Gone strings in it, and each of
// h's Said outside cardwatch's quotes.
func Check(t T, what, out string, newlines int, h Hostile) {
	t.Helper()
	for _, p := range Problems(out, newlines) {
		t.Errorf("%s: %s in %q", what, p, out)
	}
	checkGone(t, what, out, h.Gone)
	checkSaid(t, what, out, h.Said)
}

// CheckConsole fails t for each problem of a console notifier's output: every line, the
// console's own with the cardholder profile's words too, for ControlProblems, and the
// lines that stand for a message (indented) as that message is checked.
func CheckConsole(t T, out string, newlines int, h Hostile) {
	t.Helper()
	for _, p := range ControlProblems(out, newlines) {
		t.Errorf("console: %s in %q", p, out)
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "  ") {
			Check(t, "console message line", l, 0, h)
		}
	}
}

// checkSaid fails t for each of said that out shows outside a pair of double quotes:
// words of the merchant's that read as cardwatch's.
func checkSaid(t T, what, out string, said []string) {
	t.Helper()
	parts := strings.Split(strings.ReplaceAll(out, Link, ""), `"`)
	for i := 0; i < len(parts); i += 2 { // the even parts are outside the quotes
		for _, w := range said {
			if strings.Contains(parts[i], w) {
				t.Errorf("%s: the merchant's %q is outside the quotes, as cardwatch's words, in %q", what, w, out)
			}
		}
	}
}

// QuoteMarks counts the double quotation marks in s: '"' and every other mark that can
// close a quote ("”", "»", "„", "」", "″", two apostrophes...). Text of the merchant's
// adds none to a message: its own are neutralised to single "'".
func QuoteMarks(s string) int {
	n := strings.Count(s, "''")
	for _, r := range s {
		if r == '"' || quoteLike(r) {
			n++
		}
	}
	return n
}

// quoteLike is a quotation mark other than '"' and "'" (which cardwatch writes): every
// one Unicode lists (the Quotation_Mark property, Pi and Pf) and the look-alikes (a
// prime too: NFKC makes "″" two of them).
func quoteLike(r rune) bool {
	if r == '"' || r == '\'' {
		return false
	}
	return unicode.In(r, unicode.Quotation_Mark, unicode.Pi, unicode.Pf) || strings.ContainsRune("ʺ˝ˮ״′″‵‶〃❝❞❮❯《》〈〉🙶🙷🙸", r)
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
// mention, a link, formatting or an emoji: any "<" or ">" (escaped ones are entities),
// the formatting marks, and a ":shortcode:" (a word between colons).
var slackSyntax = regexp.MustCompile("[<>*_~`]|:[^\\s:]+:")

// SlackMarkup lists the Slack syntax in s, mrkdwn text whose trusted parts use none
// but for the given exceptions (cardwatch's own "*Why you got this*", a link's "_").
func SlackMarkup(s string, allowed ...string) []string {
	for _, a := range allowed {
		s = strings.ReplaceAll(s, a, "")
	}
	return slackSyntax.FindAllString(s, -1)
}
