package subscribers

import (
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cardwatch/cardwatch/rules"
)

// TestScreenRefusesHiddenCardNumbers: a card number written so that a scan for ASCII
// digits misses it (no-break spaces, which GSM-7 turns into readable spaces in an SMS;
// dots; full-width digits; JSON escapes in a field the decoder skips or in a member
// name) must be refused to the DLQ before it can reach an alert, with no readable number
// in the entry.
func TestScreenRefusesHiddenCardNumbers(t *testing.T) {
	// No cardholder in the rules: an event the screen misses is judged no further than
	// "unknown cardholder", which the test reports.
	book, err := rules.Parse("rules.yaml", []byte("defaults: {home_country: US, currency: USD}\ncardholders: []\n"))
	if err != nil {
		t.Fatal(err)
	}
	p := &Pipeline{Subjects: Subjects{Prefix: "cardwatch"}, Rules: new(atomic.Pointer[rules.Book])}
	p.Rules.Store(book)
	const pan = "4111111111111111"
	nbsp := "4111\u00a01111\u00a01111\u00a01111"
	fullWidth := strings.Map(func(r rune) rune { return r - '0' + '\uff10' }, pan)
	escaped := ""
	for _, c := range pan {
		escaped += `\u003` + string(c)
	}
	for _, tt := range []struct {
		name, event  string
		keepsPayload bool
	}{
		{"no-break spaces in the merchant name", strings.Replace(pipelineTxn, `"SHOP"`, `"SHOP `+nbsp+`"`, 1), true},
		{"narrow no-break spaces", strings.Replace(pipelineTxn, `"SHOP"`, "\"SHOP 4111\u202f1111\u202f1111\u202f1111\"", 1), true},
		{"escaped no-break spaces", strings.Replace(pipelineTxn, `"SHOP"`, `"SHOP 4111\u00a01111\u00a01111\u00a01111"`, 1), false},
		{"dots", strings.Replace(pipelineTxn, `"SHOP"`, `"SHOP 4111.1111.1111.1111"`, 1), true},
		{"full-width digits", strings.Replace(pipelineTxn, `"SHOP"`, `"SHOP `+fullWidth+`"`, 1), true},
		{"escapes in a skipped field", strings.Replace(pipelineTxn, `"status"`, `"note":"`+escaped+`","status"`, 1), false},
		{"escapes in a member name", strings.Replace(pipelineTxn, `"status"`, `"`+escaped+`":1,"status"`, 1), false},
		{"a number with an exponent", strings.Replace(pipelineTxn, `"status"`, `"n":4.111111111111111e15,"status"`, 1), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			j := p.judge(&txnMsg{subject: "cardwatch.txn.acme.tok_1", data: []byte(tt.event), delivered: 1})
			if j.dl == nil {
				t.Fatalf("passed the screen (outcome %q)", j.outcome)
			}
			dl := j.dl
			if dl.Kind != "pan" || !strings.Contains(dl.Reason, "411111******1111") && !strings.Contains(dl.Reason, "4111 11** **** 1111") && !strings.Contains(dl.Reason, "4111.11**.****.1111") {
				t.Fatalf("kind %q, reason %q; want pan with the masked number", dl.Kind, dl.Reason)
			}
			if dl.Size != len(tt.event) {
				t.Errorf("size %d, want %d", dl.Size, len(tt.event))
			}
			if tt.keepsPayload != (dl.Payload != "") || dl.PayloadBase64 != nil {
				t.Fatalf("payload %q (base64 %d bytes), want it kept: %v", dl.Payload, len(dl.PayloadBase64), tt.keepsPayload)
			}
			if _, pans := rules.ScreenEvent([]byte(dl.Payload)); pans != nil {
				t.Errorf("the DLQ payload still carries %q: %s", pans, dl.Payload)
			}
			for _, s := range []string{pan, nbsp, fullWidth, escaped} {
				if strings.Contains(dl.Reason+dl.Payload, s) {
					t.Errorf("the DLQ entry holds the number as %q", s)
				}
			}
		})
	}
}

// A card number split across subject tokens in runs the screen cannot join is refused for
// its subject: the DLQ entry is filed under no part of the number, shows at most its last
// four digits, and the event is erased from the stream.
func TestSplitCardNumberInTheSubjectIsMaskedAndErased(t *testing.T) {
	p := &Pipeline{Subjects: Subjects{Prefix: "cardwatch"}, Rules: new(atomic.Pointer[rules.Book])}
	for _, subject := range []string{
		"cardwatch.txn.411111111111.1111.tok",
		"cardwatch.txn.41111111.11111111.tok",
		"cardwatch.txn.acme.411111111111.1111",
	} {
		dl := p.screen(subject, nil, []byte(pipelineTxn))
		if dl == nil || dl.Kind != "subject" || !dl.erase() {
			t.Fatalf("%s: %+v, want a refused subject, erased", subject, dl)
		}
		for _, part := range []string{"411111111111", "41111111", "11111111"} {
			if strings.Contains(dl.Subject, part) || strings.Contains(dl.Bank, part) {
				t.Errorf("%s: DLQ entry shows %s: bank %q, subject %q", subject, part, dl.Bank, dl.Subject)
			}
		}
	}
	if got := p.screen("cardwatch.txn.acme.tok.extra", nil, []byte(pipelineTxn)); got.Bank != "acme" || got.Subject != "cardwatch.txn.acme.tok.extra" {
		t.Errorf("an ordinary malformed subject: bank %q, subject %q", got.Bank, got.Subject)
	}
}
