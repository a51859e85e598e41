package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cardwatch/cardwatch/notifiers"
	"github.com/cardwatch/cardwatch/notifiers/slack"
	"github.com/cardwatch/cardwatch/rules"
	"github.com/cardwatch/cardwatch/subscribers"
)

// purchase is a $20.00 chip purchase in the US at a merchant the card has not used: it
// alerts on unknown_merchant alone, and makes the merchant known.
func purchase(t *testing.T, id, merchant string) []byte {
	return event(t, map[string]any{"id": id, "billing_amount": nil,
		"amount":   map[string]any{"value": "20.00", "currency": "USD"},
		"merchant": map[string]any{"id": merchant, "name": "SHOP " + merchant, "country": "US"},
		"terminal": map[string]any{"country": "US", "entry_mode": "chip"}})
}

// alertSent publishes a purchase and waits for its SMS, the n-th; it returns the alert
// and the reply code the SMS carries.
func (e *env) alertSent(t *testing.T, n int, id, merchant string) (rules.Alert, string) {
	t.Helper()
	e.publish("acme", testCardToken, purchase(t, id, merchant))
	eventually(t, "SMS "+strconv.Itoa(n), func() bool { return len(e.twilio.messages()) == n })
	var a rules.Alert
	for _, m := range e.streamMsgs(subscribers.StreamAlerts) {
		if err := json.Unmarshal(m.Data, &a); err != nil {
			t.Fatal(err)
		}
		if a.TxnID == id {
			return a, replyCodeOf(t, e.twilio.messages()[n-1].Get("Body"))
		}
	}
	t.Fatalf("no alert for %s", id)
	return a, ""
}

// legitMerchants counts the merchants an "it was me" made known.
func (e *env) legitMerchants(t *testing.T) int {
	t.Helper()
	ctx := context.Background()
	kv, err := e.js.KeyValue(ctx, subscribers.BucketKnownMerchants)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := kv.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = keys.Stop() }()
	n := 0
	for k := range keys.Keys() {
		if ent, err := kv.Get(ctx, k); err == nil && strings.Contains(string(ent.Value()), `"source":"legit"`) {
			n++
		}
	}
	return n
}

// TestSMSReplayAnswersOnce replays one signed OK as the review did: each time another
// alert is the number's only open one. Before MessageSids were recorded, the three posts
// closed three alerts as legit and taught three merchants; now the replays do nothing.
// With several alerts open, the same replayed OK answers none at all.
func TestSMSReplayAnswersOnce(t *testing.T) {
	e := newEnv(t)
	r := e.start()
	sid := newMessageSid()
	first, _ := e.alertSent(t, 1, "replay-1", "M-R1")
	if code, body := smsReplySid(t, r, testPhone, "OK", sid); code != http.StatusOK || !strings.Contains(body, "was you") {
		t.Fatalf("the reply: %d %s", code, body)
	}
	for i, m := range []string{"M-R2", "M-R3"} {
		e.alertSent(t, i+2, "replay-"+strconv.Itoa(i+2), m)
		code, body := smsReplySid(t, r, testPhone, "OK", sid)
		if code != http.StatusOK || strings.Contains(body, "<Message>") {
			t.Errorf("replay %d: %d %s, want an empty TwiML", i+1, code, body)
		}
	}
	// Two alerts are open now: a fresh bare OK, posted three times, asks once.
	sid2 := newMessageSid()
	for i := range 3 {
		_, body := smsReplySid(t, r, testPhone, "OK", sid2)
		if asks := strings.Contains(body, "You have 2 open alerts"); asks != (i == 0) {
			t.Errorf("post %d of a bare OK with two alerts open: %s", i+1, body)
		}
	}
	reps := e.reports(t)
	if len(reps) != 1 || reps[0].AlertID != first.ID || reps[0].Verdict != rules.VerdictLegit {
		t.Errorf("reports %+v, want the one legit answer to the first alert", reps)
	}
	if n := e.legitMerchants(t); n != 1 {
		t.Errorf("one signed OK taught %d merchants", n)
	}
	// A sid that is not Twilio's is refused before anything is recorded.
	if code, _ := smsReplySid(t, r, testPhone, "FRAUD", "SMreply"); code != http.StatusBadRequest {
		t.Errorf("malformed MessageSid: %d, want 400", code)
	}
	if n := len(e.reports(t)); n != 1 {
		t.Errorf("%d reports after a malformed sid", n)
	}
}

// TestSMSReplyCodesNameTheAlert: with two alerts open, a bare OK asks which and answers
// neither; each SMS carries a code of its own, and a reply with a code answers that
// alert, the older one included.
func TestSMSReplyCodesNameTheAlert(t *testing.T) {
	e := newEnv(t)
	r := e.start()
	older, olderCode := e.alertSent(t, 1, "codes-1", "M-C1")
	newer, newerCode := e.alertSent(t, 2, "codes-2", "M-C2")
	if olderCode == newerCode {
		t.Fatalf("both SMS carry the code %s", olderCode)
	}
	_, body := smsReply(t, r, testPhone, "ok")
	if !strings.Contains(body, "You have 2 open alerts: "+newerCode+" $20.00 at &#34;SHOP M-C2&#34;, "+olderCode+" $20.00 at &#34;SHOP M-C1&#34;") {
		t.Errorf("a bare OK with two alerts open: %s", body)
	}
	if n := len(e.reports(t)); n != 0 {
		t.Fatalf("a bare OK with two alerts open published %d reports", n)
	}
	unknown := notifiers.ReplyCode(0)
	for i := 1; unknown == olderCode || unknown == newerCode; i++ {
		unknown = notifiers.ReplyCode(i)
	}
	if _, body := smsReply(t, r, testPhone, "OK "+unknown); !strings.Contains(body, "No alert of yours has the code "+unknown) {
		t.Errorf("an unknown code: %s", body)
	}
	if n := len(e.reports(t)); n != 0 {
		t.Fatalf("an unknown code published %d reports", n)
	}
	if _, body := smsReply(t, r, testPhone, "fraud "+strings.ToLower(olderCode)); !strings.Contains(body, "reported as fraud") {
		t.Errorf("FRAUD with the older alert's code: %s", body)
	}
	// One left open: a bare word answers it.
	if _, body := smsReply(t, r, testPhone, "1"); !strings.Contains(body, "was you") {
		t.Errorf("a bare 1 with one alert left open: %s", body)
	}
	reps := e.reports(t)
	if len(reps) != 2 || reps[0].AlertID != older.ID || reps[0].Verdict != rules.VerdictFraud ||
		reps[1].AlertID != newer.ID || reps[1].Verdict != rules.VerdictLegit {
		t.Errorf("reports %+v, want fraud on the older alert, then legit on the newer", reps)
	}
}

// TestFraudAfterOKIsACorrection: a cardholder who said OK and finds out later reaches
// the bank: the FRAUD is a second report, marked as a correction, and the merchant is
// unknown again. Repeats, and an OK after it, publish nothing.
func TestFraudAfterOKIsACorrection(t *testing.T) {
	e := newEnv(t)
	r := e.start()
	a, code := e.alertSent(t, 1, "corr-1", "M-K1")
	if _, body := smsReply(t, r, testPhone, "OK"); !strings.Contains(body, "was you") {
		t.Fatalf("OK: %s", body)
	}
	// No alert is open: a bare FRAUD is told to name the alert.
	if _, body := smsReply(t, r, testPhone, "FRAUD"); !strings.Contains(body, "reply FRAUD and its code") {
		t.Errorf("a bare FRAUD after the OK: %s", body)
	}
	if _, body := smsReply(t, r, testPhone, "FRAUD "+code); !strings.Contains(body, "reported as fraud. Your bank has been told") {
		t.Errorf("FRAUD with the code after the OK: %s", body)
	}
	for _, again := range []string{"FRAUD " + code, "OK " + code} {
		if _, body := smsReply(t, r, testPhone, again); !strings.Contains(body, "already answered (reported as fraud") {
			t.Errorf("%s after the correction: %s", again, body)
		}
	}
	msgs := e.streamMsgs(subscribers.StreamReports)
	if len(msgs) != 2 {
		t.Fatalf("%d reports, want the OK and its correction", len(msgs))
	}
	if s := string(msgs[0].Data); strings.Contains(s, "correction") || !strings.Contains(s, `"verdict":"legit"`) {
		t.Errorf("first report: %s", s)
	}
	var corr map[string]any
	if err := json.Unmarshal(msgs[1].Data, &corr); err != nil {
		t.Fatal(err)
	}
	if corr["correction"] != true || corr["verdict"] != "fraud" || corr["alert_id"] != a.ID || corr["card_token"] != testCardToken ||
		corr["channel"] != "sms" || msgs[1].Subject != "cardwatch.reports.acme" {
		t.Errorf("correction on %s: %v", msgs[1].Subject, corr)
	}
	// The merchant the OK made known is unknown again.
	e.publish("acme", testCardToken, purchase(t, "corr-2", "M-K1"))
	eventually(t, "the next purchase", func() bool { return len(r.seen()) == 2 })
	if got := r.seen()[1]; got != subscribers.OutcomeAlert {
		t.Errorf("after the correction, a purchase at the merchant gave %q, want alert", got)
	}
}

// TestReportPageOffersFraudAfterItWasMe: the page of an alert answered "It was me" still
// has "Report fraud" (it "offered no way back"), and tapping it reaches the bank.
func TestReportPageOffersFraudAfterItWasMe(t *testing.T) {
	e := newEnv(t)
	r := e.start()
	e.publish("acme", testCardToken, []byte(exampleEvent))
	a := e.alertOf(t)
	link := localLink(t, r, a)
	_, page, _ := get(t, link)
	code, body := postVerdict(t, link, page, "legit")
	if code != http.StatusOK || !strings.Contains(body, "Noted that this was you") || !strings.Contains(body, `value="fraud">Report fraud`) ||
		strings.Contains(body, `value="legit"`) {
		t.Fatalf("after It was me: %d\n%s", code, body)
	}
	_, page, _ = get(t, link)
	if !strings.Contains(page, "Already confirmed as you") || !strings.Contains(page, `value="fraud">Report fraud`) {
		t.Fatalf("the page after It was me:\n%s", page)
	}
	code, body = postVerdict(t, link, page, "fraud")
	if code != http.StatusOK || !strings.Contains(body, "Your bank has been told it was not you after all") {
		t.Errorf("Report fraud after It was me: %d\n%s", code, body)
	}
	_, page, _ = get(t, link)
	if !strings.Contains(page, "Already reported as fraud") || strings.Contains(page, "<form") {
		t.Errorf("the page after the correction:\n%s", page)
	}
	reps := e.reports(t)
	if len(reps) != 2 || reps[0].Verdict != rules.VerdictLegit || reps[0].Correction ||
		reps[1].Verdict != rules.VerdictFraud || !reps[1].Correction || reps[1].Channel != "web" {
		t.Errorf("reports %+v, want legit, then a fraud correction", reps)
	}
}

// slackClick posts a tap on an alert's button as Slack does, signed.
func slackClick(t *testing.T, e *env, r *running, alertID, action string) {
	t.Helper()
	payload, _ := json.Marshal(map[string]any{
		"type":         "block_actions",
		"user":         map[string]any{"id": "U024BE7LH"},
		"response_url": e.slack.URL + "/response/T1/123/abc",
		"actions": []map[string]any{{"type": "button", "block_id": slack.AnswerBlockID,
			"action_id": action, "value": alertID}},
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
	if res.StatusCode != http.StatusOK {
		t.Fatalf("click: %d", res.StatusCode)
	}
}

// TestSlackFraudAfterItWasMe: Slack's answered message keeps "Report fraud" after "It
// was me", and tapping it is published as a correction.
func TestSlackFraudAfterItWasMe(t *testing.T) {
	e := newEnv(t)
	r := e.start()
	e.publish("acme", testCardToken, []byte(exampleEvent))
	a := e.alertOf(t)
	slackClick(t, e, r, a.ID, slack.ActionLegit)
	eventually(t, "the message replaced", func() bool { return len(e.slack.responded()) == 1 })
	if got := e.slack.responded()[0]; !strings.Contains(got, "You confirmed this was you") || !strings.Contains(got, slack.ActionFraud) ||
		strings.Contains(got, slack.ActionLegit) {
		t.Errorf("after It was me: %s", got)
	}
	slackClick(t, e, r, a.ID, slack.ActionFraud)
	eventually(t, "the second click answered", func() bool { return len(e.slack.responded()) == 2 })
	if got := e.slack.responded()[1]; !strings.Contains(got, "after you had confirmed it. Your bank has been told") || strings.Contains(got, slack.ActionFraud) {
		t.Errorf("after Report fraud: %s", got)
	}
	reps := e.reports(t)
	if len(reps) != 2 || reps[1].Verdict != rules.VerdictFraud || !reps[1].Correction || reps[1].Channel != "slack" {
		t.Errorf("reports %+v, want legit, then a fraud correction", reps)
	}
}

// TestAnswersPastTheAgeLimitAreRefused: past CARDWATCH_ANSWER_MAX_AGE no channel takes
// an answer, and each says so kindly.
func TestAnswersPastTheAgeLimitAreRefused(t *testing.T) {
	t.Setenv("CARDWATCH_ANSWER_MAX_AGE", "1ns") // every alert is past it by the time it is answered
	e := newEnv(t)
	r := e.start()
	e.publish("acme", testCardToken, []byte(exampleEvent))
	a := e.alertOf(t)
	eventually(t, "the SMS", func() bool { return len(e.twilio.messages()) == 1 })
	if _, body := smsReply(t, r, testPhone, "OK"); !strings.Contains(body, notifiers.TooOldText) {
		t.Errorf("a late SMS reply: %s", body)
	}
	if _, body := smsReply(t, r, testPhone, "FRAUD "+replyCodeOf(t, e.twilio.messages()[0].Get("Body"))); !strings.Contains(body, notifiers.TooOldText) {
		t.Errorf("a late SMS reply with the code: %s", body)
	}
	slackClick(t, e, r, a.ID, slack.ActionFraud)
	eventually(t, "the Slack answer", func() bool { return len(e.slack.responded()) == 1 })
	if got := e.slack.responded()[0]; !strings.Contains(got, "too old to answer") {
		t.Errorf("a late Slack answer: %s", got)
	}
	link := localLink(t, r, a)
	_, page, _ := get(t, link)
	if code, body := postVerdict(t, link, page, "fraud"); code != http.StatusGone || !strings.Contains(body, "too old to answer") {
		t.Errorf("a late web answer: %d\n%s", code, body)
	}
	if n := len(e.reports(t)); n != 0 {
		t.Errorf("late answers published %d reports", n)
	}
}
