package main

import (
	"context"
	"crypto/hmac"
	crand "crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cardwatch/cardwatch/notifiers"
	"github.com/cardwatch/cardwatch/notifiers/slack"
	"github.com/cardwatch/cardwatch/rules"
	"github.com/cardwatch/cardwatch/subscribers"
)

// alertOf waits for the one alert in the stream, and for the transaction that raised
// it to be handled (so its record is stored), and returns it.
func (e *env) alertOf(t *testing.T) rules.Alert {
	t.Helper()
	eventually(t, "the alert", func() bool { return len(e.streamMsgs(subscribers.StreamAlerts)) == 1 })
	ctx := context.Background()
	eventually(t, "the alert's record", func() bool {
		kv, err := e.js.KeyValue(ctx, subscribers.BucketAlerts)
		if err != nil {
			return false
		}
		keys, err := kv.ListKeys(ctx)
		if err != nil {
			return false
		}
		defer func() { _ = keys.Stop() }()
		for k := range keys.Keys() {
			if strings.HasPrefix(k, "al_") {
				return true
			}
		}
		return false
	})
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

var replyCodeField = regexp.MustCompile(`Reply FRAUD (\w+)[ /]`)

// replyCodeOf is the reply code an SMS asks the cardholder to answer with.
func replyCodeOf(t *testing.T, sms string) string {
	t.Helper()
	m := replyCodeField.FindStringSubmatch(sms)
	if m == nil || !notifiers.IsReplyCode(m[1]) {
		t.Fatalf("no reply code in the SMS %q", sms)
	}
	return m[1]
}

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

// twilioSign signs a webhook the way Twilio does: HMAC-SHA1 over the URL and the sorted
// POST parameters, base64.
func twilioSign(u string, form url.Values) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(u)
	for _, k := range keys {
		b.WriteString(k + form.Get(k))
	}
	m := hmac.New(sha1.New, []byte(testAuthToken))
	m.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// smsReply posts an SMS reply as Twilio would, signed for the public URL, with a
// MessageSid of its own.
func smsReply(t *testing.T, r *running, from, body string) (int, string) {
	t.Helper()
	return smsReplySid(t, r, from, body, newMessageSid())
}

// newMessageSid is a fresh Twilio message SID: SM and 32 hex digits.
func newMessageSid() string {
	b := make([]byte, 16)
	_, _ = crand.Read(b)
	return "SM" + hex.EncodeToString(b)
}

// smsReplySid posts an SMS reply with the given MessageSid: the same sid twice is the
// same signed request, as a replay would post it.
func smsReplySid(t *testing.T, r *running, from, body, sid string) (int, string) {
	t.Helper()
	form := url.Values{"From": {from}, "To": {testFrom}, "Body": {body}, "MessageSid": {sid}, "AccountSid": {testSID}}
	req, _ := http.NewRequest(http.MethodPost, r.app.httpURL+"/twilio/inbound", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", twilioSign(r.app.cfg.PublicURL+"/twilio/inbound", form))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func TestSMSReplyReportsFraudOnce(t *testing.T) {
	e := newEnv(t)
	r := e.start()
	e.publish("acme", testCardToken, []byte(exampleEvent))
	a := e.alertOf(t)

	// Unsigned: refused, nothing published.
	form := url.Values{"From": {testPhone}, "Body": {"FRAUD"}}
	res, err := http.PostForm(r.app.httpURL+"/twilio/inbound", form)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("unsigned reply: %d, want 403", res.StatusCode)
	}

	code, body := smsReply(t, r, testPhone, " fraud ")
	if code != http.StatusOK || !strings.Contains(body, "<Response>") || !strings.Contains(body, "reported as fraud") {
		t.Fatalf("FRAUD reply: %d %s", code, body)
	}
	code, body = smsReply(t, r, testPhone, "OK")
	if code != http.StatusOK || !strings.Contains(body, "No open alert") {
		t.Errorf("second reply: %d %s", code, body)
	}
	reps := e.reports(t)
	if len(reps) != 1 || reps[0].AlertID != a.ID || reps[0].Verdict != "fraud" || reps[0].Channel != "sms" || reps[0].CardToken != testCardToken {
		t.Errorf("reports: %+v", reps)
	}
	// Another number has no alert to answer.
	if _, body := smsReply(t, r, "+15559990000", "9"); !strings.Contains(body, "No open alert") {
		t.Errorf("a stranger's reply: %s", body)
	}
}

func TestSlackButtonReportsFraudOnce(t *testing.T) {
	e := newEnv(t)
	r := e.start()
	e.publish("acme", testCardToken, []byte(exampleEvent))
	a := e.alertOf(t)
	click := func(action string, user ...string) int {
		who := "U024BE7LH" // the cardholder's own Slack user
		if len(user) > 0 {
			who = user[0]
		}
		payload, _ := json.Marshal(map[string]any{
			"type":         "block_actions",
			"user":         map[string]any{"id": who},
			"response_url": e.slack.URL + "/response/T1/123/abc",
			"actions": []map[string]any{{"type": "button", "block_id": "cardwatch_answer",
				"action_id": action, "value": a.ID}},
		})
		body := url.Values{"payload": {string(payload)}}.Encode()
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		req, _ := http.NewRequest(http.MethodPost, r.app.httpURL+"/slack/interactions", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Slack-Request-Timestamp", ts)
		req.Header.Set("X-Slack-Signature", slack.Signature(testSlackSecret, ts, []byte(body)))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	// Someone else in the workspace cannot answer the cardholder's DM alert.
	if code := click("report_legit", "U0OTHER99"); code != http.StatusOK {
		t.Fatalf("stranger's click: %d", code)
	}
	eventually(t, "the stranger answered", func() bool { return len(e.slack.responded()) == 1 })
	if got := e.slack.responded()[0]; !strings.Contains(got, "Only the cardholder") {
		t.Errorf("stranger's answer: %s", got)
	}
	if code := click("report_fraud"); code != http.StatusOK {
		t.Fatalf("click: %d", code)
	}
	eventually(t, "the message replaced", func() bool { return len(e.slack.responded()) == 2 })
	if got := e.slack.responded()[1]; !strings.Contains(got, "Reported as fraud at") || !strings.Contains(got, `"replace_original":true`) {
		t.Errorf("replacement: %s", got)
	}
	if code := click("report_legit"); code != http.StatusOK {
		t.Fatalf("second click: %d", code)
	}
	eventually(t, "the second click answered", func() bool { return len(e.slack.responded()) == 3 })
	if got := e.slack.responded()[2]; !strings.Contains(got, "Already reported as fraud") {
		t.Errorf("second replacement: %s", got)
	}
	reps := e.reports(t)
	if len(reps) != 1 || reps[0].Verdict != "fraud" || reps[0].Channel != "slack" {
		t.Errorf("reports: %+v", reps)
	}
}

func TestTwilioReceiptBecomesADeliveryEvent(t *testing.T) {
	e := newEnv(t)
	r := e.start()
	e.publish("acme", testCardToken, []byte(exampleEvent))
	a := e.alertOf(t)
	cb := r.app.cfg.PublicURL + "/twilio/status?alert=" + a.ID + "&bank=acme"
	form := url.Values{"MessageSid": {"SM0001"}, "MessageStatus": {"delivered"}, "AccountSid": {testSID}}
	req, _ := http.NewRequest(http.MethodPost, r.app.httpURL+"/twilio/status?alert="+a.ID+"&bank=acme", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", twilioSign(cb, form))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode/100 != 2 {
		t.Fatalf("receipt: %d", res.StatusCode)
	}
	eventually(t, "the delivered event", func() bool {
		for _, m := range e.streamMsgs(subscribers.StreamDeliveries) {
			s := string(m.Data)
			if strings.Contains(s, `"status":"delivered"`) && strings.Contains(s, `"txn_id":"`+a.TxnID+`"`) &&
				strings.Contains(s, `"provider_id":"SM0001"`) && strings.Contains(s, `"cardholder_id":"ch_1001"`) {
				return true
			}
		}
		return false
	})
}

func TestAnswerRecordedWhileTheFeedIsDownIsReportedLater(t *testing.T) {
	e := newEnv(t)
	r := e.start()
	e.publish("acme", testCardToken, []byte(exampleEvent))
	a := e.alertOf(t)
	link := localLink(t, r, a)
	_, page, _ := get(t, link)
	ctx := context.Background()
	if err := e.js.DeleteStream(ctx, subscribers.StreamReports); err != nil {
		t.Fatal(err)
	}
	if code, _ := postVerdict(t, link, page, "fraud"); code != http.StatusServiceUnavailable {
		t.Fatalf("POST with the report feed gone: %d, want 503", code)
	}
	if err := subscribers.EnsureStreams(ctx, e.js, subscribers.Subjects{Prefix: "cardwatch"}, subscribers.StoreConfig{Retention: time.Hour}); err != nil {
		t.Fatal(err)
	}
	// The first answer stands; the next one publishes it.
	code, body := postVerdict(t, link, page, "legit")
	if code != http.StatusOK || !strings.Contains(body, "Already reported as fraud") {
		t.Fatalf("second POST: %d\n%s", code, body)
	}
	reps := e.reports(t)
	if len(reps) != 1 || reps[0].Verdict != "fraud" || reps[0].Channel != "web" {
		t.Errorf("reports %+v, want the one fraud report", reps)
	}
}
