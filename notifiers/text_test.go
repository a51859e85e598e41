package notifiers

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cardwatch/cardwatch/rules"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func mustMoney(t testing.TB, v, c string) rules.Money {
	t.Helper()
	m, err := rules.ParseMoney(v, c)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func mustZone(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// sampleMessages are the alerts the golden files hold, one per shape of message.
func sampleMessages(t testing.TB) map[string]Message {
	ny := mustZone(t, "America/New_York")
	at := time.Date(2026, 11, 24, 18, 22, 5, 0, time.UTC)
	link := "https://cw.acmebank.com/r/Wt8p-HswU7pD0Aec9k7wkTkXQT0gN9A"
	ana := &rules.Cardholder{ID: "ch_1001", Bank: "acme", Name: "Ana Souza", Notify: rules.Notify{SMS: "+15551230001", Slack: "U024BE7LH"},
		HomeCountry: "US", Currency: "USD", Location: ny}
	billing := mustMoney(t, "1342.10", "USD")
	all := &rules.Alert{ID: "al_llpst6d3gbj3uq6q", TxnID: "t1", Bank: "acme", CardholderID: "ch_1001", CardLast4: "4821",
		Amount: mustMoney(t, "1250.00", "EUR"), BillingAmount: &billing,
		Merchant: rules.Merchant{ID: "M-77812", Name: "ACME ELECTRONICS", City: "Lagos", Country: "NG"},
		Terminal: rules.Terminal{Country: "NG", EntryMode: "chip"},
		Status:   "approved", OccurredAt: at, CreatedAt: at.Add(time.Second), ReportURL: link,
		Reasons: []rules.Reason{
			{Rule: "amount_over", Detail: "$1,342.10 is over your $200.00 limit", Summary: "over limit"},
			{Rule: "unknown_merchant", Detail: `first purchase at "ACME ELECTRONICS" on this card`, Summary: "new merchant"},
			{Rule: "foreign_terminal", Detail: "terminal in Nigeria", Summary: "abroad"},
		}}
	one := *all
	one.Amount, one.BillingAmount = mustMoney(t, "35.00", "USD"), nil
	one.Merchant = rules.Merchant{ID: "M-2040", Name: "BLUE BOTTLE COFFEE", City: "Brooklyn", Country: "US"}
	one.Terminal = rules.Terminal{Country: "US", EntryMode: "contactless"}
	one.Reasons = all.Reasons[1:2]
	one.Reasons = []rules.Reason{{Rule: "unknown_merchant", Detail: `first purchase at "BLUE BOTTLE COFFEE" on this card`, Summary: "new merchant"}}
	declined := one
	declined.Status = "declined"
	declined.Amount = mustMoney(t, "900.00", "USD")
	declined.Merchant = rules.Merchant{Name: "ŁÓDŹ ZEGARKI — LUXURY WATCHES & JEWELLERY", City: "Łódź", Country: "PL"}
	declined.Terminal = rules.Terminal{Country: "PL", EntryMode: "magstripe"}
	declined.OccurredAt = at.Add(-30 * time.Hour) // a delayed feed: the date must show
	declined.Reasons = []rules.Reason{
		{Rule: "amount_over", Detail: "$900.00 is over your $200.00 limit", Summary: "over limit"},
		{Rule: "foreign_terminal", Detail: "terminal in Poland", Summary: "abroad"},
	}
	online := one
	online.Amount = mustMoney(t, "75000", "NGN")
	online.Merchant = rules.Merchant{ID: "M-8080", Name: "JUMIA", Country: "NG"}
	online.Terminal = rules.Terminal{EntryMode: "ecommerce"}
	online.Reasons = []rules.Reason{{Rule: "foreign_terminal", Detail: "online merchant in Nigeria", Summary: "abroad"}}
	return map[string]Message{
		"all-three-rules":            {Alert: all, Cardholder: ana, ReplyCode: "7K"},
		"one-rule":                   {Alert: &one, Cardholder: ana, ReplyCode: "7K"},
		"declined-long-name-non-gsm": {Alert: &declined, Cardholder: ana, ReplyCode: "7K"},
		"online-foreign-currency":    {Alert: &online, Cardholder: ana, ReplyCode: "7K"},
	}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file:\n got: %q\nwant: %q", name, got, want)
	}
}

func TestSMSTextGolden(t *testing.T) {
	for name, m := range sampleMessages(t) {
		t.Run(name, func(t *testing.T) {
			s := SMSText(m)
			golden(t, "sms-"+name+".txt", s)
			n := GSMSeptets(s)
			if n < 0 {
				t.Fatalf("SMS has characters outside GSM-7: %q", s)
			}
			if n > SMSSegment {
				t.Errorf("SMS is %d septets, over one %d-septet segment: %q", n, SMSSegment, s)
			}
			for _, must := range []string{"4821", m.Alert.ReportURL, ReplyFraud + " 7K", ReplyOK + " 7K"} {
				if !strings.Contains(s, must) {
					t.Errorf("SMS lacks %q: %q", must, s)
				}
			}
			if strings.Contains(s, m.Cardholder.Notify.SMS) {
				t.Errorf("SMS repeats the phone number: %q", s)
			}
		})
	}
}

func TestPlainTextGolden(t *testing.T) {
	for name, m := range sampleMessages(t) {
		t.Run(name, func(t *testing.T) {
			golden(t, "plain-"+name+".txt", PlainText(m))
		})
	}
}

func TestSMSKeepsFactsWhenTheLinkIsLong(t *testing.T) {
	m := sampleMessages(t)["all-three-rules"]
	a := *m.Alert
	a.ReportURL = "https://alerts.cardwatch.example-bank-with-a-long-name.com/r/Wt8p-HswU7pD0Aec9k7wkTkXQT0gN9A"
	m.Alert = &a
	s := SMSText(m)
	for _, must := range []string{"4821", "$1,342.10", "ACME", "NG", a.ReportURL, "Over limit", "abroad"} {
		if !strings.Contains(s, must) {
			t.Errorf("SMS lacks %q: %q", must, s)
		}
	}
}

func TestGSMSeptets(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int
	}{
		{"hello", 5}, {"€5", 3}, {"[x]", 5}, {"£$¥", 3}, {"Ünïcode", -1}, {"₦100", -1}, {"日本", -1}, {"", 0},
	} {
		if got := GSMSeptets(c.in); got != c.want {
			t.Errorf("GSMSeptets(%q) = %d, want %d", c.in, got, c.want)
		}
	}
}

func TestToGSM7(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"ACME", "ACME"},
		{"Café Müller", "Café Müller"}, // é and ü are GSM-7
		{"Łódź", "?odz"},               // Ł has no decomposition
		{"Señor Ćevapi", "Señor Cevapi"},
		{"TEA — “BEST”", "TEA - \"BEST\""},
		{"東京", "??"},
	} {
		got := ToGSM7(c.in)
		if got != c.want {
			t.Errorf("ToGSM7(%q) = %q, want %q", c.in, got, c.want)
		}
		if GSMSeptets(got) < 0 {
			t.Errorf("ToGSM7(%q) = %q is still not GSM-7", c.in, got)
		}
	}
}

// BenchmarkText renders each shape of message as an SMS and as plain text, as every
// alert is rendered once per channel.
func BenchmarkText(b *testing.B) {
	for kind, render := range map[string]func(Message) string{"sms": SMSText, "plain": PlainText} {
		for name, m := range sampleMessages(b) {
			b.Run(kind+"/"+name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if render(m) == "" {
						b.Fatal("empty text")
					}
				}
			})
		}
	}
}
