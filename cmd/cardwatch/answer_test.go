package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/cardwatch/cardwatch/rules"
	"github.com/cardwatch/cardwatch/subscribers"
)

// alertOf waits for the one alert in the stream and returns it.
func (e *env) alertOf(t *testing.T) rules.Alert {
	t.Helper()
	eventually(t, "the alert", func() bool { return len(e.streamMsgs(subscribers.StreamAlerts)) == 1 })
	var a rules.Alert
	if err := json.Unmarshal(e.streamMsgs(subscribers.StreamAlerts)[0].Data, &a); err != nil {
		t.Fatal(err)
	}
	return a
}

// localLink is the alert's report link on the address this cardwatch listens on.
func localLink(t *testing.T, r *running, a rules.Alert) string {
	t.Helper()
	u, err := url.Parse(a.ReportURL)
	if err != nil {
		t.Fatal(err)
	}
	return r.app.httpURL + u.Path
}

func get(t *testing.T, u string) (int, string, http.Header) {
	t.Helper()
	res, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b), res.Header
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func postVerdict(t *testing.T, link, page, verdict string) (int, string) {
	t.Helper()
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no form on the page:\n%s", page)
	}
	res, err := http.PostForm(link, url.Values{"csrf": {m[1]}, "verdict": {verdict}})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func (e *env) reports(t *testing.T) []rules.Report {
	t.Helper()
	var out []rules.Report
	for _, m := range e.streamMsgs(subscribers.StreamReports) {
		var rep rules.Report
		if err := json.Unmarshal(m.Data, &rep); err != nil {
			t.Fatal(err)
		}
		if m.Subject != "cardwatch.reports."+rep.Bank {
			t.Errorf("report on %s for bank %s", m.Subject, rep.Bank)
		}
		out = append(out, rep)
	}
	return out
}

func TestReportLinkAnswersOnceAndSurvivesRestart(t *testing.T) {
	e := newEnv(t)
	r := e.start()
	e.publish("acme", testCardToken, []byte(exampleEvent))
	a := e.alertOf(t)
	link := localLink(t, r, a)

	// GETs change nothing, however many link previewers fetch the page.
	var page string
	for range 3 {
		code, body, hdr := get(t, link)
		if code != http.StatusOK || !strings.Contains(body, "ACME ELECTRONICS") || !strings.Contains(body, "Report fraud") {
			t.Fatalf("GET %s: %d\n%s", link, code, body)
		}
		for _, h := range []string{"Content-Security-Policy", "Referrer-Policy", "X-Frame-Options", "Cache-Control"} {
			if hdr.Get(h) == "" {
				t.Errorf("GET lacks %s", h)
			}
		}
		page = body
	}
	if n := len(e.reports(t)); n != 0 {
		t.Fatalf("GETs published %d reports", n)
	}

	code, body := postVerdict(t, link, page, "fraud")
	if code != http.StatusOK || !strings.Contains(body, "Your bank has been told; the card will be blocked") {
		t.Fatalf("POST fraud: %d\n%s", code, body)
	}
	reps := e.reports(t)
	if len(reps) != 1 {
		t.Fatalf("%d reports, want 1", len(reps))
	}
	got := reps[0]
	if got.AlertID != a.ID || got.TxnID != a.TxnID || got.Bank != "acme" || got.CardholderID != "ch_1001" ||
		got.CardToken != testCardToken || got.Verdict != "fraud" || got.Channel != "web" || got.ReportedAt.IsZero() {
		t.Errorf("report %+v", got)
	}

	// A second answer is acknowledged, not published.
	code, body = postVerdict(t, link, page, "legit")
	if code != http.StatusOK || !strings.Contains(body, "Already reported as fraud") {
		t.Errorf("second POST: %d\n%s", code, body)
	}
	r.stop()
	r2 := e.start()
	link = r2.app.httpURL + strings.TrimPrefix(link, r.app.httpURL)
	code, body, _ = get(t, link)
	if code != http.StatusOK || !strings.Contains(body, "Already reported as fraud") || strings.Contains(body, "<form") {
		t.Errorf("after a restart: %d\n%s", code, body)
	}
	if n := len(e.reports(t)); n != 1 {
		t.Errorf("%d reports after all that, want 1", n)
	}
}

func TestReportLinkRefusesForgeries(t *testing.T) {
	e := newEnv(t)
	r := e.start()
	e.publish("acme", testCardToken, []byte(exampleEvent))
	a := e.alertOf(t)
	link := localLink(t, r, a)
	token := link[strings.LastIndex(link, "/")+1:]
	flip := "A"
	if token[5] == 'A' {
		flip = "B"
	}
	altered := token[:5] + flip + token[6:]
	for name, u := range map[string]string{
		"altered": r.app.httpURL + "/r/" + altered,
		"garbage": r.app.httpURL + "/r/not-a-token",
	} {
		code, body, _ := get(t, u)
		if code != http.StatusNotFound || strings.Contains(body, "ACME") || strings.Contains(body, "4821") {
			t.Errorf("%s token: %d\n%s", name, code, body)
		}
	}
	res, err := http.PostForm(link, url.Values{"verdict": {"fraud"}, "csrf": {"forged"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("POST with a forged form value: %d, want 403", res.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodPost, link, strings.NewReader("verdict=fraud"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site POST: %d, want 403", res.StatusCode)
	}
	if n := len(e.reports(t)); n != 0 {
		t.Errorf("forgeries published %d reports", n)
	}
}

func TestAnswersTeachKnownMerchants(t *testing.T) {
	e := newEnv(t)
	r := e.start()
	// A declined purchase at a new merchant alerts and does not make it known; "it was
	// me" does, so the next purchase there is quiet.
	declined := event(t, map[string]any{"id": "d-1", "status": "declined", "billing_amount": nil,
		"amount":   map[string]any{"value": "20.00", "currency": "USD"},
		"merchant": map[string]any{"id": "M-42", "name": "TOY SHOP", "country": "US"},
		"terminal": map[string]any{"country": "US", "entry_mode": "chip"}})
	e.publish("acme", testCardToken, declined)
	a := e.alertOf(t)
	link := localLink(t, r, a)
	_, page, _ := get(t, link)
	if code, body := postVerdict(t, link, page, "legit"); code != http.StatusOK || !strings.Contains(body, "Noted that this was you") {
		t.Fatalf("POST legit: %d\n%s", code, body)
	}
	e.publish("acme", testCardToken, event(t, map[string]any{"id": "d-2", "billing_amount": nil,
		"amount":   map[string]any{"value": "20.00", "currency": "USD"},
		"merchant": map[string]any{"id": "M-42", "name": "TOY SHOP", "country": "US"},
		"terminal": map[string]any{"country": "US", "entry_mode": "chip"}}))
	eventually(t, "the second purchase", func() bool { return len(r.seen()) == 2 })
	if got := r.seen()[1]; got != subscribers.OutcomeNoAlert {
		t.Errorf("after \"it was me\", a purchase at the merchant gave %q, want no_alert", got)
	}
}

func TestFraudReportMakesTheMerchantUnknownAgain(t *testing.T) {
	e := newEnv(t)
	r := e.start()
	buy := func(id string) []byte {
		return event(t, map[string]any{"id": id, "billing_amount": nil,
			"amount":   map[string]any{"value": "20.00", "currency": "USD"},
			"merchant": map[string]any{"id": "M-43", "name": "GADGETS", "country": "US"},
			"terminal": map[string]any{"country": "US", "entry_mode": "chip"}})
	}
	e.publish("acme", testCardToken, buy("f-1")) // approved: alerts, and makes M-43 known
	a := e.alertOf(t)
	link := localLink(t, r, a)
	_, page, _ := get(t, link)
	if code, _ := postVerdict(t, link, page, "fraud"); code != http.StatusOK {
		t.Fatalf("POST fraud: %d", code)
	}
	e.publish("acme", testCardToken, buy("f-2"))
	eventually(t, "the next purchase", func() bool { return len(r.seen()) == 2 })
	if got := r.seen()[1]; got != subscribers.OutcomeAlert {
		t.Errorf("after a fraud report on the first purchase, the next one gave %q, want alert", got)
	}
}
