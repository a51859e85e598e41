package notifiers

import (
	"strings"
	"time"

	"github.com/bojanz/currency"

	"github.com/cardwatch/cardwatch/rules"
)

// Facts are the parts of an alert every channel shows, already in the cardholder's
// words and time zone.
type Facts struct {
	// Card is "card ending 4821", or "your card" when the bank sent no last four digits.
	Card string
	// Last4 is the card's last four digits, may be empty.
	Last4 string
	// Charged is the amount on the cardholder's statement, "$1,342.10".
	Charged string
	// Original is the merchant's amount when it is in another currency, "€1,250.00", else "".
	Original string
	// Merchant is the merchant's name, or "merchant " and its id.
	Merchant string
	// Labelled is the merchant as the merchant's own words, which a message must not
	// let pass for cardwatch's: its name in quotes, or "merchant" and its id in quotes.
	Labelled string
	// City, Country and CountryCode say where the card was used; any may be empty. The
	// city is the merchant's words, unquoted: Place quotes it.
	City, Country, CountryCode string
	// When is the local time of the transaction, "Nov 24, 1:22 PM".
	When string
	// Declined is true when the bank declined the transaction.
	Declined bool
	// Reasons are the sentences of the rules that fired; they may quote the merchant.
	Reasons []string
	// Summaries are the short forms of the reasons, for SMS.
	Summaries []string
	// Link is the report link.
	Link string
}

// FactsOf gathers the facts of a message. Every fact a bank or merchant set (the
// merchant's name, id and city, and the rule sentences that quote them) is passed
// through InertText, so that each rendering built on Facts shows it safely.
func FactsOf(m Message) Facts {
	a := m.Alert
	loc := time.UTC
	if m.Cardholder != nil && m.Cardholder.Location != nil {
		loc = m.Cardholder.Location
	}
	f := Facts{
		Card:     "your card",
		Last4:    a.CardLast4,
		Charged:  a.Charged().Format(),
		City:     InertText(a.Merchant.City),
		When:     a.OccurredAt.In(loc).Format("Jan 2, 3:04 PM"),
		Declined: a.Status == rules.StatusDeclined,
		Link:     a.ReportURL,
	}
	name, byID := merchantOf(a.Merchant, InertText)
	f.Merchant, f.Labelled = merchantLabel(name, byID, false), merchantLabel(name, byID, true)
	if a.CardLast4 != "" {
		f.Card = "card ending " + a.CardLast4
	}
	if a.BillingAmount != nil && a.BillingAmount.Currency != a.Amount.Currency {
		f.Original = a.Amount.Format()
	}
	f.CountryCode = a.CountryOfUse()
	if f.CountryCode != "" {
		f.Country = rules.CountryName(f.CountryCode)
	}
	for _, r := range a.Reasons {
		f.Reasons = append(f.Reasons, InertText(r.Detail))
		f.Summaries = append(f.Summaries, r.Summary) // cardwatch's own words: "new merchant"
	}
	return f
}

// merchantOf is the merchant's name made safe by clean, or its id when the name is
// empty (or nothing but characters clean takes out); byID says which.
func merchantOf(m rules.Merchant, clean func(string) string) (name string, byID bool) {
	if name := clean(m.Name); name != "" {
		return name, false
	}
	return clean(m.ID), true
}

// merchantLabel is how a message names the merchant: "ACME" or "merchant M-1", or with
// quoted, "\"ACME\"" or "merchant \"M-1\"".
func merchantLabel(name string, byID, quoted bool) string {
	switch {
	case name == "":
		return "a merchant"
	case quoted && byID:
		return "merchant " + Quoted(name)
	case quoted:
		return Quoted(name)
	case byID:
		return "merchant " + name
	}
	return name
}

// Escaped is f with every fact a bank or merchant set passed through esc, for an output
// with a markup of its own (Slack's mrkdwn). The amounts, the time and the link stay.
func (f Facts) Escaped(esc func(string) string) Facts {
	f.Merchant, f.Labelled, f.City = esc(f.Merchant), esc(f.Labelled), esc(f.City)
	reasons := make([]string, len(f.Reasons))
	for i, r := range f.Reasons {
		reasons[i] = esc(r)
	}
	f.Reasons = reasons
	return f
}

// Place is `"Lagos", Nigeria`, `"Lagos"`, "Nigeria", or "": the city is the merchant's
// words, in quotes like its name, so that it cannot pass for cardwatch's.
func (f Facts) Place() string {
	switch {
	case f.City != "" && f.Country != "":
		return Quoted(f.City) + ", " + f.Country
	case f.City != "":
		return Quoted(f.City)
	}
	return f.Country
}

// Headline is one line that says what happened: `$1,342.10 at "ACME ELECTRONICS" in
// "Lagos", Nigeria on card ending 4821`.
func (f Facts) Headline() string {
	var b strings.Builder
	if f.Declined {
		b.WriteString("Declined: ")
	}
	b.WriteString(f.Charged)
	if f.Original != "" {
		b.WriteString(" (" + f.Original + ")")
	}
	b.WriteString(" at " + f.Labelled)
	if p := f.Place(); p != "" {
		b.WriteString(" in " + p)
	}
	b.WriteString(" on " + f.Card)
	return b.String()
}

// PlainText is the alert as plain text, for Slack's notification fallback and the
// console.
func PlainText(m Message) string { return FactsOf(m).PlainText() }

// PlainText is the facts as plain text: three lines, the headline and when, why, and the
// report link.
func (f Facts) PlainText() string {
	var b strings.Builder
	b.WriteString(f.Headline())
	b.WriteString(", " + f.When + ".\n")
	b.WriteString("Why you got this: " + strings.Join(f.Reasons, "; ") + ".\n")
	b.WriteString("Not you? Report fraud: " + f.Link)
	return b.String()
}

// SMS answer words (the contract's; never YES/NO, which carriers treat as opt-in words).
const (
	ReplyFraud = "FRAUD"
	ReplyOK    = "OK"
)

// replyWords is how an SMS asks for an answer, in a long, a short and a compact form,
// with the alert's reply code when it has one ("Reply FRAUD 7K or OK 7K:"). Without a
// code, the compact form is the short one.
func replyWords(code string) (long, short, compact string) {
	if code == "" {
		short = "Reply " + ReplyFraud + " or " + ReplyOK + ":"
		return "Not you? Reply " + ReplyFraud + ". You? Reply " + ReplyOK + ".", short, short
	}
	fraud, ok := ReplyFraud+" "+code, ReplyOK+" "+code
	return "Not you? Reply " + fraud + ". You? Reply " + ok + ".", "Reply " + fraud + " or " + ok + ":",
		"Reply " + fraud + "/" + ok + ":"
}

// gsmSymbols formats amounts with their symbol when GSM-7 carries it ($, £, ¥, €) and
// with their code otherwise ("NGN 50,000.00" rather than "₦50,000.00").
var (
	smsSymbol = currency.NewFormatter(currency.NewLocale("en"))
	smsCode   = func() *currency.Formatter {
		f := currency.NewFormatter(currency.NewLocale("en"))
		f.CurrencyDisplay = currency.DisplayCode
		return f
	}()
)

func smsAmount(m rules.Money) string {
	if s := smsSymbol.Format(m.Amount()); GSMSeptets(s) >= 0 {
		return s
	}
	// CLDR puts a no-break space between code and number; GSM-7 has only the plain one.
	return ToGSM7(smsCode.Format(m.Amount()))
}

// SMSText is the alert as one SMS: the card's last four digits, the amount with its
// currency, the merchant and its city (each in quotes, as the merchant's words), the
// country, the local time, why, how to answer, and the link. It
// uses GSM-7 only and fits one 160-septet segment whenever the link leaves room: it
// first drops the city, then shortens the merchant's name, never the facts that matter.
// The reply words carry the message's reply code, so that an answer names its alert.
func SMSText(m Message) string {
	f := FactsOf(m)
	a := m.Alert
	amount := smsAmount(a.Charged())
	// The merchant's words from the event itself, made safe for SMS after the GSM-7
	// conversion, and quoted as the merchant's.
	merchant, byID := merchantOf(a.Merchant, SMSSafe)
	city := SMSSafe(a.Merchant.City)
	card := "Card"
	if f.Last4 != "" {
		card = "Card .." + f.Last4
	}
	if f.Declined {
		card = "Declined: " + card
	}
	// Alerts go out within seconds, so the date is noise unless the purchase was on
	// another day than the alert (a delayed feed).
	loc := time.UTC
	if m.Cardholder != nil && m.Cardholder.Location != nil {
		loc = m.Cardholder.Location
	}
	local := a.OccurredAt.In(loc)
	when := local.Format("15:04")
	if y, mo, d := a.CreatedAt.In(loc).Date(); y != local.Year() || mo != local.Month() || d != local.Day() {
		when = local.Format("2 Jan 15:04")
	}
	why := strings.Join(f.Summaries, ", ")
	if why != "" {
		why = strings.ToUpper(why[:1]) + why[1:] + ". "
	}
	build := func(merchant, city, reply string) string {
		place := f.CountryCode
		if city != "" { // the merchant's words, quoted as its name is
			place = strings.TrimSpace(Quoted(city) + " " + place)
		}
		var b strings.Builder
		b.WriteString(card + " " + amount + " at " + merchantLabel(merchant, byID, true))
		if place != "" {
			b.WriteString(", " + place)
		}
		b.WriteString(", " + when + ". " + why + reply + " " + f.Link)
		return b.String()
	}
	long, short, compact := replyWords(m.ReplyCode)
	for _, c := range []struct{ city, reply string }{{city, long}, {city, short}, {"", short}} {
		if s := build(merchant, c.city, c.reply); GSMSeptets(s) <= SMSSegment {
			return s
		}
	}
	// Shorten the merchant's name as far as it takes, down to eight letters, then to six
	// (with its quotes, still eight characters); past that the SMS goes out in two
	// segments rather than lose what the cardholder needs.
	r := []rune(merchant)
	// With a reply code, the compact reply is the last resort: before the merchant goes
	// below eight letters, but after it is shortened with the clearer short reply.
	replies := []string{short}
	if compact != short {
		replies = append(replies, compact)
	}
	shorten := func(floor int) (string, bool) {
		for _, reply := range replies {
			if s := build(merchant, "", reply); GSMSeptets(s) <= SMSSegment {
				return s, true
			}
			// Cutting the name to n-1 letters and a dot saves at most two septets a
			// letter cut, less the dot: no n above this saves enough, so the search
			// starts there.
			over := GSMSeptets(build(merchant, "", reply)) - SMSSegment
			for n := min(len(r)-1, len(r)+1-(over+1)/2); n >= floor; n-- {
				if s := build(cut(r, n-1), "", reply); GSMSeptets(s) <= SMSSegment {
					return s, true
				}
			}
		}
		return "", false
	}
	for _, floor := range []int{8, 6} {
		if s, ok := shorten(floor); ok {
			return s
		}
		if byID {
			// An id loses the word "merchant" before it is cut further: its quotes
			// still say whose words it is.
			byID = false
			if s, ok := shorten(floor); ok {
				return s
			}
		}
	}
	return build(merchant, "", compact)
}

// AnsweredSMS is the SMS reply that thanks the cardholder for the first answer to a,
// with the card, the amount and the merchant (quoted, and as safe as in SMSText), in
// one segment: the merchant's name is shortened first, down to eight letters.
func AnsweredSMS(a *rules.Alert, verdict string) string {
	amount := a.Charged().Format()
	if GSMSeptets(amount) < 0 {
		amount = a.Charged().String() // "50000.00 NGN" rather than a "₦" that GSM-7 lacks
	}
	card := ""
	if a.CardLast4 != "" {
		card = "Card .." + a.CardLast4 + ": "
	}
	name, byID := merchantOf(a.Merchant, SMSSafe)
	build := func(name string) string {
		merchant := merchantLabel(name, byID, true)
		if verdict == rules.VerdictFraud {
			return "Thanks. " + card + amount + " at " + merchant +
				" reported as fraud. Your bank has been told and will block the card."
		}
		return "Thanks, noted: the " + amount + " at " + merchant + " was you."
	}
	r := []rune(name)
	s := build(name)
	for n := len(r) - 1; GSMSeptets(s) > SMSSegment && n >= 8; n-- {
		s = build(cut(r, n-1))
	}
	return s
}

// SMSMerchant is the merchant as an SMS names it when it lists alerts, its own words
// cut to at most n letters: made safe by SMSSafe, and quoted as in SMSText.
func SMSMerchant(m rules.Merchant, n int) string {
	name, byID := merchantOf(m, SMSSafe)
	if r := []rune(name); len(r) > n {
		name = cut(r, n-1)
	}
	return merchantLabel(name, byID, true)
}

// cut is the first n letters of a name and a dot, "ACME ELEC.", with no space before
// the dot.
func cut(r []rune, n int) string { return strings.TrimRight(string(r[:n]), " ") + "." }
