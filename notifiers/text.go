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
	// Merchant is the merchant's name, or its id.
	Merchant string
	// City, Country and CountryCode say where the card was used; any may be empty.
	City, Country, CountryCode string
	// When is the local time of the transaction, "Nov 24, 1:22 PM".
	When string
	// Declined is true when the bank declined the transaction.
	Declined bool
	// Reasons are the sentences of the rules that fired.
	Reasons []string
	// Summaries are the short forms of the reasons, for SMS.
	Summaries []string
	// Link is the report link.
	Link string
}

// FactsOf gathers the facts of a message.
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
		Merchant: a.Merchant.Label(),
		City:     a.Merchant.City,
		When:     a.OccurredAt.In(loc).Format("Jan 2, 3:04 PM"),
		Declined: a.Status == rules.StatusDeclined,
		Link:     a.ReportURL,
	}
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
		f.Reasons = append(f.Reasons, r.Detail)
		f.Summaries = append(f.Summaries, r.Summary)
	}
	return f
}

// Place is "Lagos, Nigeria", "Nigeria", or "".
func (f Facts) Place() string {
	switch {
	case f.City != "" && f.Country != "":
		return f.City + ", " + f.Country
	case f.City != "":
		return f.City
	}
	return f.Country
}

// Headline is one line that says what happened: "$1,342.10 at ACME ELECTRONICS in Lagos,
// Nigeria on card ending 4821".
func (f Facts) Headline() string {
	var b strings.Builder
	if f.Declined {
		b.WriteString("Declined: ")
	}
	b.WriteString(f.Charged)
	if f.Original != "" {
		b.WriteString(" (" + f.Original + ")")
	}
	b.WriteString(" at " + f.Merchant)
	if p := f.Place(); p != "" {
		b.WriteString(" in " + p)
	}
	b.WriteString(" on " + f.Card)
	return b.String()
}

// PlainText is the alert as plain text, for Slack's notification fallback and the
// console.
func PlainText(m Message) string {
	f := FactsOf(m)
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
// currency, the merchant, the place, the local time, why, how to answer, and the link. It
// uses GSM-7 only and fits one 160-septet segment whenever the link leaves room: it
// first drops the city, then shortens the merchant's name, never the facts that matter.
// The reply words carry the message's reply code, so that an answer names its alert.
func SMSText(m Message) string {
	f := FactsOf(m)
	a := m.Alert
	amount := smsAmount(a.Charged())
	merchant := ToGSM7(f.Merchant)
	city := ToGSM7(f.City)
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
		if city != "" {
			place = strings.TrimSpace(city + " " + place)
		}
		var b strings.Builder
		b.WriteString(card + " " + amount + " at " + merchant)
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
	// Shorten the merchant's name as far as it takes, down to eight letters; past that
	// the SMS goes out in two segments rather than lose what the cardholder needs.
	r := []rune(merchant)
	// With a reply code, the compact reply is the last resort: before the merchant goes
	// below eight letters, but after it is shortened with the clearer short reply.
	replies := []string{short}
	if compact != short {
		replies = append(replies, compact)
	}
	for _, reply := range replies {
		// Cutting the name to n-1 letters and a dot saves at most two septets a letter
		// cut, less the dot: no n above this saves enough, so the search starts there.
		over := GSMSeptets(build(merchant, "", reply)) - SMSSegment
		for n := min(len(r)-1, len(r)+1-(over+1)/2); n >= 8; n-- {
			if s := build(string(r[:n-1])+".", "", reply); GSMSeptets(s) <= SMSSegment {
				return s
			}
		}
	}
	return build(merchant, "", compact)
}
