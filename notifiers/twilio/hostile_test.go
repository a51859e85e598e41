package twilio

import (
	"context"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/cardwatch/cardwatch/notifiers"
	"github.com/cardwatch/cardwatch/notifiers/notifiertest"
)

// TestSendHostile sends every known attack to a fake Twilio: the Body on the wire has
// no link but the report link, no phone number, no line break, no control character.
func TestSendHostile(t *testing.T) {
	var mu sync.Mutex
	var body string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			t.Errorf("form: %v", err)
		}
		mu.Lock()
		body = r.PostForm.Get("Body")
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, accepted)
	}))
	t.Cleanup(srv.Close)
	n, err := New(config(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range notifiertest.HostileInputs() {
		t.Run(h.Name, func(t *testing.T) {
			for _, reasons := range []int{3, 1} { // with one reason, the city fits too
				m := notifiers.Message{Alert: notifiertest.Alert(h.Merchant), Cardholder: notifiertest.Cardholder()}
				m.Alert.Reasons = m.Alert.Reasons[:reasons]
				if _, err := n.Send(context.Background(), m); err != nil {
					t.Fatal(err)
				}
				mu.Lock()
				got := body
				mu.Unlock()
				notifiertest.Check(t, "SMS body", got, 0, h)
			}
		})
	}
}

// TestInboundReplyHostile answers every known attack's alert by SMS: the reply that
// repeats the merchant's name is as safe as the alert was.
func TestInboundReplyHostile(t *testing.T) {
	for _, h := range notifiertest.HostileInputs() {
		for _, word := range []string{"FRAUD", "OK"} {
			t.Run(h.Name+"/"+word, func(t *testing.T) {
				f := newFakeAnswers()
				f.open(to, notifiertest.Alert(h.Merchant), "7K")
				text := replyText(t, f, word)
				notifiertest.Check(t, "SMS reply", text, 0, h)
				if n := notifiers.GSMSeptets(text); n < 0 || n > notifiers.SMSSegment {
					t.Errorf("reply takes %d septets: %q", n, text)
				}
			})
		}
		// With two open alerts, a bare reply is answered with the list of them, which
		// names each merchant.
		t.Run(h.Name+"/which", func(t *testing.T) {
			f := newFakeAnswers()
			other := notifiertest.Alert(h.Merchant)
			other.ID = "al_aaaaaaaaaaaaaaaa"
			f.open(to, other, "X3")
			f.open(to, notifiertest.Alert(h.Merchant), "7K")
			text := replyText(t, f, "FRAUD")
			// "e.g." is cardwatch's own, and no phone links it.
			notifiertest.Check(t, "SMS which reply", strings.ReplaceAll(text, "e.g. ", ""), 0, h)
			if notifiers.GSMSeptets(text) < 0 {
				t.Errorf("reply is not GSM-7: %q", text)
			}
			if !strings.Contains(text, "7K") || !strings.Contains(text, "X3") {
				t.Errorf("reply does not list both alerts: %q", text)
			}
		})
	}
}

// replyText posts an SMS reply with body word and returns the message of the TwiML
// answer.
func replyText(t *testing.T, f *fakeAnswers, word string) string {
	t.Helper()
	srv := inboundServer(t, f, nil)
	form := reply(word)
	_, body := post(t, srv, InboundPath, form, sign(token, publicURL+InboundPath, form))
	var twiml struct {
		Message string `xml:"Message"`
	}
	if err := xml.Unmarshal([]byte(body), &twiml); err != nil || twiml.Message == "" {
		t.Fatalf("reply %q: %v", body, err)
	}
	return twiml.Message
}
