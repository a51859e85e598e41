package notifiers

import (
	"regexp"
	"strings"
	"testing"
	"unicode"

	"github.com/nyaruka/phonenumbers"

	"github.com/cardwatch/cardwatch/notifiers/notifiertest"
	"github.com/cardwatch/cardwatch/rules"
)

func TestCleanText(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"ACME ELECTRONICS", "ACME ELECTRONICS"},
		{"  ACME\n\nBANK\r\n\tNOW  ", "ACME BANK NOW"},
		{"ACME\x1b[31m RED\x1b[0m", "ACME[31m RED[0m"},           // no ESC, so no sequence
		{"\x1b]8;;http://evil\x07CLICK", "]8;;http://evilCLICK"}, // OSC 8 loses ESC and BEL
		{"A\u009b31mB\u0085C", "A31mB C"},                        // C1: CSI dropped, NEL is a line break
		{"ACME \u202eelpmaxe\u202c", "ACME elpmaxe"},
		{"\u2066A\u2069\u200e\u200f\u061c", "A"},
		{"AC\u200bME\u200d\u2060\ufeff\u00ad", "ACME"},
		{"ACME\u2028BANK\u2029X", "ACME BANK X"},
		{"A\u00a0B\u202fC\u3000D\u2003E", "A B C D E"},
		{"ｅｖｉｌ．ｅｘａｍｐｌｅ ８００", "evil.example 800"},
		{"e\u200b\u0301", "é"}, // the mark joins the letter: stable on a second pass
		{"ŁÓDŹ ZEGARKI — LUXURY", "ŁÓDŹ ZEGARKI — LUXURY"},
		{"B&H <PHOTO>", "B&H <PHOTO>"},
		{"\u3164\u115fA\ue000\U000e0041", "A"}, // fillers, private use, tags
		{"\xff\xfe", "\ufffd\ufffd"},
		{"", ""},
	} {
		got := CleanText(c.in)
		if got != c.want {
			t.Errorf("CleanText(%q) = %q, want %q", c.in, got, c.want)
		}
		if again := CleanText(got); again != got {
			t.Errorf("CleanText is not stable on %q: %q, then %q", c.in, got, again)
		}
	}
}

func TestInertText(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"ACME BANK: card LOCKED. Call +1 800 555 0100", "ACME BANK: card LOCKED. Call #"},
		{"REFUND DESK, call 8005550100", "REFUND DESK, call #"},
		{"call (800) 555-0100.", "call #."},
		{"089/1234567", "#"},
		{"CALL 800\u00a0555\u00a00100", "CALL #"},
		{"８００５５５０１００", "#"},
		{"CALL 8\u0301005\u0301550\u0301100", "CALL #"},
		{"https://evil.example/x", "https evil example/x"},
		{"http:\\\\evil", "http evil"},
		{"www.evil.example", "www evil example"},
		{"evil.example/login", "evil example/login"},
		{"evil\u200b.\u200dexample", "evil example"},
		{"ｅｖｉｌ．ｅｘａｍｐｌｅ", "evil example"},
		{"evil。example", "evil example"},
		{"help@evil.example", "help@evil example"},
		{"GO TO 5.6.7.8/x", "GO TO 5 6 7 8/x"},
		{"12://34 5678", "#"}, // a broken link must not leave a number behind
		{"a1234567.b", "a# b"},
		{"www.123abc", "www 123abc"},
		{"A.0", "A 0"},
		// What is not a link or a number stays as the cardholder knows it.
		{"ACME ELECTR.", "ACME ELECTR."},
		{"ST. LOUIS BREAD", "ST. LOUIS BREAD"},
		{"WALGREENS #12345", "WALGREENS #12345"},
		{"7-ELEVEN 123456", "7-ELEVEN 123456"},
		{"$1,342.10 is over your $200.00 limit", "$1,342.10 is over your $200.00 limit"},
		{"$1,000,000.00 is over your $10,000.00 limit", "$1,000,000.00 is over your $10,000.00 limit"},
		{"first purchase at ACME ELECTRONICS on this card", "first purchase at ACME ELECTRONICS on this card"},
		{"merchant M-77812", "merchant M-77812"},
		{"PRICE 1.50", "PRICE 1.50"},
	} {
		if got := InertText(c.in); got != c.want {
			t.Errorf("InertText(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestNumberMarksAreLibphonenumbers: every character libphonenumber reads between the
// digits of a number (and so Android's Linkify, which is built on it) is a numberMark,
// in every form CleanText can leave of it, and stays one in GSM-7.
func TestNumberMarksAreLibphonenumbers(t *testing.T) {
	punct := regexp.MustCompile(`(?i)^[` + phonenumbers.VALID_PUNCTUATION + phonenumbers.PLUS_CHARS + `]$`)
	n := 0
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if !punct.MatchString(string(r)) {
			continue
		}
		n++
		if !numberMark(r) {
			t.Errorf("%U %q is not a numberMark", r, r)
		}
		for _, s := range []string{CleanText("1" + string(r) + "2"), ToGSM7(CleanText("1" + string(r) + "2"))} {
			if s == "12" {
				continue // CleanText dropped it: the digits are joined
			}
			if r := []rune(s); len(r) != 3 || !numberMark(r[1]) {
				t.Errorf("%U: %q does not keep a numberMark between the digits", r, s)
			}
		}
	}
	if n < 30 {
		t.Fatalf("only %d characters match libphonenumber's punctuation: the pattern is wrong", n)
	}
}

func TestSMSSafe(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"ŁÓDŹ\nZEGARKI", "?ODZ ZEGARKI"},
		{"CALL\u00a0800\u00a0555\u00a00100", "CALL #"},
		{"evil.ēxample", "evil example"},
		{"CALL 800–555–0100", "CALL #"},
		{"TEA — “BEST”", "TEA - \"BEST\""},
		{"CALL 800\u223c555\u20530100", "CALL #"}, // GSM-7 has neither: "?" would hide the number
		{"CALL 800\u30fc555\u30fc0100", "CALL #"},
	} {
		got := SMSSafe(c.in)
		if got != c.want {
			t.Errorf("SMSSafe(%q) = %q, want %q", c.in, got, c.want)
		}
		if GSMSeptets(got) < 0 {
			t.Errorf("SMSSafe(%q) = %q is not GSM-7", c.in, got)
		}
	}
}

func hostileMessage(m rules.Merchant) Message {
	return Message{Alert: notifiertest.Alert(m), Cardholder: notifiertest.Cardholder()}
}

// TestSMSHostile sends every known attack through the SMS and the SMS replies: none of
// them puts a link, a number or a line break in a cardholder's phone, and the merchant's
// words stay inside its quotes.
func TestSMSHostile(t *testing.T) {
	for _, h := range notifiertest.HostileInputs() {
		t.Run(h.Name, func(t *testing.T) {
			m := hostileMessage(h.Merchant)
			// With one reason the SMS has room for the city.
			short := hostileMessage(h.Merchant)
			short.Alert.Reasons = short.Alert.Reasons[1:2]
			notifiertest.Check(t, "SMS with one reason", SMSText(short), 0, h)
			s := SMSText(m)
			notifiertest.Check(t, "SMS", s, 0, h)
			if n := GSMSeptets(s); n < 0 || n > SMSSegment {
				t.Errorf("SMS takes %d septets: %q", n, s)
			}
			if !strings.HasSuffix(s, " "+notifiertest.Link) {
				t.Errorf("SMS does not end with its report link: %q", s)
			}
			if n := strings.Count(s, `"`); n != 2 && n != 4 {
				t.Errorf("the merchant's words are not in one pair of quotes, and its city's in one more: %q", s)
			}
			for _, verdict := range []string{rules.VerdictFraud, rules.VerdictLegit} {
				r := AnsweredSMS(m.Alert, verdict)
				notifiertest.Check(t, "SMS reply", r, 0, h)
				if n := GSMSeptets(r); n < 0 || n > SMSSegment {
					t.Errorf("SMS reply takes %d septets: %q", n, r)
				}
				if strings.Count(r, `"`) != 2 {
					t.Errorf("the merchant's words are not in one pair of quotes: %q", r)
				}
			}
		})
	}
}

// TestPlainTextHostile: the plain text (Slack's notification fallback, the console) has
// its three lines and nothing a phone turns into a link or a call.
func TestPlainTextHostile(t *testing.T) {
	for _, h := range notifiertest.HostileInputs() {
		t.Run(h.Name, func(t *testing.T) {
			m := hostileMessage(h.Merchant)
			notifiertest.Check(t, "plain text", PlainText(m), 2, h)
			f := FactsOf(m)
			for _, fact := range append([]string{f.Labelled, f.Place(), f.Headline()}, f.Reasons...) {
				notifiertest.Check(t, "fact", fact, 0, h)
			}
			// The merchant and the city alone, unquoted, for a renderer to quote.
			for _, fact := range []string{f.Merchant, f.City} {
				for _, p := range notifiertest.ControlProblems(fact, 0) {
					t.Errorf("fact: %s in %q", p, fact)
				}
			}
		})
	}
}

func TestSMSLabelsTheMerchant(t *testing.T) {
	for _, c := range []struct {
		merchant rules.Merchant
		want     string
	}{
		{rules.Merchant{ID: "M-1", Name: "JUMIA"}, ` at "JUMIA", `},
		{rules.Merchant{ID: "M-8080"}, ` at merchant "M-8080", `},
		{rules.Merchant{ID: "M-8080", Name: "\u200b\x1b"}, ` at merchant "M-8080", `}, // nothing visible in the name
		{rules.Merchant{Name: `ACME" OFFICIAL "NOTICE`}, ` at "ACME' O`},
	} {
		m := hostileMessage(c.merchant)
		m.Alert.Reasons = m.Alert.Reasons[2:] // room for the whole label
		for name, s := range map[string]string{"SMS": SMSText(m), "headline": FactsOf(m).Headline()} {
			if name == "headline" {
				s = strings.Replace(s, " in Nigeria", ", ", 1)
			}
			if !strings.Contains(s, c.want) {
				t.Errorf("%s %q lacks %q", name, s, c.want)
			}
		}
	}
}
