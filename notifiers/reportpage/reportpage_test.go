package reportpage

import (
	"bytes"
	"context"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cardwatch/cardwatch/notifiers"
	"github.com/cardwatch/cardwatch/notifiers/notifiertest"
	"github.com/cardwatch/cardwatch/rules"
)

// oneAlert is the alert store of one alert, unanswered.
type oneAlert struct{ a *rules.Alert }

func (o oneAlert) Alert(_ context.Context, id string) (*rules.Alert, *rules.Report, error) {
	if id != o.a.ID {
		return nil, nil, notifiers.ErrUnknownAlert
	}
	return o.a, nil, nil
}

func (oneAlert) Answer(context.Context, string, string, string) (notifiers.Outcome, error) {
	return notifiers.Outcome{}, nil
}

func (oneAlert) PhoneAlerts(context.Context, string) ([]notifiers.PhoneAlert, error) { return nil, nil }

func (oneAlert) FirstMessage(context.Context, string, string) (bool, error) { return true, nil }

func (oneAlert) RecordDelivery(context.Context, notifiers.Delivery) error { return nil }

// getPage renders the report page of a.
func getPage(t *testing.T, a *rules.Alert) string {
	t.Helper()
	key := bytes.Repeat([]byte("k"), notifiers.MinSigningKey)
	links, err := notifiers.NewLinks(key, "https://cw.acmebank.com", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Config{Links: links, Answers: oneAlert{a}, Key: key, Log: slog.New(slog.DiscardHandler),
		Cardholder: func(string, string) *rules.Cardholder { return notifiertest.Cardholder() }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	link := links.URL(a.ID)
	res, err := http.Get(srv.URL + link[strings.Index(link, "/r/"):])
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET = %d: %s", res.StatusCode, b)
	}
	return string(b)
}

// facts are the page's facts (the definitions and the reasons), as the browser shows them.
var facts = regexp.MustCompile(`<(dd|li)>([^<]*)</(?:dd|li)>`)

// TestPageHostile opens the report page of every known attack: it shows the merchant
// as the SMS does, with no control, bidi or format character, no line break inside a
// fact, and no link or number a phone would offer to open or call.
func TestPageHostile(t *testing.T) {
	for _, h := range notifiertest.HostileInputs() {
		t.Run(h.Name, func(t *testing.T) {
			a := notifiertest.Alert(h.Merchant)
			body := getPage(t, a)
			if !strings.Contains(body, `<meta name="format-detection" content="telephone=no`) {
				t.Error("the page lets the browser turn numbers into calls")
			}
			shown := facts.FindAllStringSubmatch(body, -1)
			if len(shown) < 5 {
				t.Fatalf("page shows %d facts: %s", len(shown), body)
			}
			for _, m := range shown {
				notifiertest.Check(t, "page fact", html.UnescapeString(m[2]), 0, h)
			}
			f := notifiers.FactsOf(notifiers.Message{Alert: a, Cardholder: notifiertest.Cardholder()})
			if !strings.Contains(html.UnescapeString(body), "<dd>"+f.Labelled+"</dd>") {
				t.Errorf("page does not show the merchant as %q", f.Labelled)
			}
			for _, c := range []string{"\x1b", "\u202e", "\u200b", "\u2028"} {
				if strings.Contains(body, c) {
					t.Errorf("page carries %q", c)
				}
			}
		})
	}
}
