package slack

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the golden files must not depend on the machine's zoneinfo

	"github.com/slack-go/slack"

	"github.com/cardwatch/cardwatch/notifiers"
	"github.com/cardwatch/cardwatch/rules"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json from the current output")

// message returns one of the representative alerts the golden files hold.
func message(name string) notifiers.Message {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		panic(err)
	}
	h := &rules.Cardholder{ID: "ch_1001", Bank: "acme", Notify: rules.Notify{SMS: "+15551230001", Slack: userID}, Location: ny}
	txn := "9c1e5f0a-7d8b-4c1e-9a51-2f1d3e4b5a60"
	a := &rules.Alert{
		ID:           rules.AlertID("acme", txn),
		TxnID:        txn,
		Bank:         "acme",
		CardholderID: h.ID,
		CardLast4:    "4821",
		Status:       rules.StatusApproved,
		OccurredAt:   time.Date(2026, 11, 24, 18, 22, 5, 0, time.UTC),
		ReportURL:    "https://cardwatch.example/r/AbCdEf0123456789-link-token",
	}
	switch name {
	case "foreign_three_reasons":
		billing := rules.Money{Minor: 134210, Currency: "USD"}
		a.Amount, a.BillingAmount = rules.Money{Minor: 125000, Currency: "EUR"}, &billing
		a.Merchant = rules.Merchant{ID: "M-77812", Name: "ACME ELECTRONICS", City: "Lagos", Country: "NG"}
		a.Terminal = rules.Terminal{ID: "T-0042", Country: "NG", EntryMode: rules.EntryChip}
		a.Reasons = []rules.Reason{
			{Rule: "amount_over", Detail: "$1,342.10 is over your $200.00 limit", Summary: "over limit"},
			{Rule: "unknown_merchant", Detail: "this card has not been used at ACME ELECTRONICS before", Summary: "new merchant"},
			{Rule: "foreign_terminal", Detail: "the card was used in Nigeria, outside the United States", Summary: "abroad"},
		}
	case "single_reason":
		a.Amount = rules.Money{Minor: 6499, Currency: "USD"}
		a.Merchant = rules.Merchant{ID: "M-2001", Name: "B&H <PHOTO>", City: "New York", Country: "US"}
		a.Terminal = rules.Terminal{EntryMode: rules.EntryEcommerce}
		a.Reasons = []rules.Reason{
			{Rule: "unknown_merchant", Detail: "this card has not been used at B&H <PHOTO> before", Summary: "new merchant"},
		}
	case "declined":
		a.Status = rules.StatusDeclined
		a.Amount = rules.Money{Minor: 90000, Currency: "USD"}
		a.Merchant = rules.Merchant{ID: "M-5310", Name: "QUICKCASH ATM", Country: "MX"}
		a.Terminal = rules.Terminal{ID: "ATM-77", Country: "MX", EntryMode: rules.EntryATM}
		a.Reasons = []rules.Reason{
			{Rule: "amount_over", Detail: "$900.00 is over your $500.00 limit", Summary: "over limit"},
			{Rule: "foreign_terminal", Detail: "the card was used in Mexico, outside the United States", Summary: "abroad"},
		}
	default:
		panic("no test message " + name)
	}
	return notifiers.Message{Alert: a, Cardholder: h}
}

func TestBlocksGolden(t *testing.T) {
	for _, name := range []string{"foreign_three_reasons", "single_reason", "declined"} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false) // keep "&" and "<" legible in the golden files
			enc.SetIndent("", "  ")
			if err := enc.Encode(Blocks(message(name))); err != nil {
				t.Fatal(err)
			}
			got := buf.Bytes()
			path := filepath.Join("testdata", name+".golden.json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./notifiers/slack -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Blocks differ from %s (go test ./notifiers/slack -update rewrites it):\n%s", path, got)
			}
		})
	}
}

func TestBlocksClipsTheHeader(t *testing.T) {
	m := message("single_reason")
	m.Alert.Merchant.Name = string(bytes.Repeat([]byte("LONG MERCHANT NAME "), 10))
	b, err := json.Marshal(Blocks(m)[0])
	if err != nil {
		t.Fatal(err)
	}
	var header struct{ Text struct{ Text string } }
	if err := json.Unmarshal(b, &header); err != nil {
		t.Fatal(err)
	}
	if n := len([]rune(header.Text.Text)); n != maxHeader {
		t.Errorf("header is %d characters, want %d", n, maxHeader)
	}
}

// BenchmarkBlocks renders an alert's Slack message as it is posted: the blocks and their
// JSON.
func BenchmarkBlocks(b *testing.B) {
	for _, name := range []string{"foreign_three_reasons", "single_reason", "declined"} {
		m := message(name)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := json.Marshal(Blocks(m)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestBlocksClipsTheSection: however long the reasons (NFKC can make a 200-byte name
// ten times as long), Slack gets a section it accepts.
func TestBlocksClipsTheSection(t *testing.T) {
	m := message("single_reason")
	m.Alert.Reasons[0].Detail = "first purchase at " + strings.Repeat("\ufdfa", 300) + " on this card"
	s, ok := Blocks(m)[1].(*slack.SectionBlock)
	if !ok {
		t.Fatalf("block 1 is %T, want the reasons' section", Blocks(m)[1])
	}
	if n := len([]rune(s.Text.Text)); n > maxSection {
		t.Errorf("section is %d characters, over Slack's %d", n, maxSection)
	}
}
