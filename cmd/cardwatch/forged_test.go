package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cardwatch/cardwatch/rules"
	"github.com/cardwatch/cardwatch/subscribers"
)

// Anyone who can publish on the bus (the embedded default lets every client) tries to
// make cardwatch send a cardholder words of theirs: none of it reaches a cardholder, and
// each attempt is counted and put on the DLQ with why.
func TestForgedAlertsReachNoCardholder(t *testing.T) {
	e := newEnv(t)
	r := e.start()
	ctx := context.Background()
	e.publish("acme", testCardToken, []byte(exampleEvent))
	eventually(t, "the genuine alert's SMS and Slack message", func() bool {
		return len(e.twilio.messages()) == 1 && len(e.slack.messages()) == 1
	})
	genuine := e.streamMsgs(subscribers.StreamAlerts)[0]
	var real rules.Alert
	if err := json.Unmarshal(genuine.Data, &real); err != nil {
		t.Fatal(err)
	}
	kv, err := e.js.KeyValue(ctx, subscribers.BucketAlerts)
	if err != nil {
		t.Fatal(err)
	}
	realRecord, err := kv.Get(ctx, real.ID)
	if err != nil {
		t.Fatal(err)
	}

	// A phishing alert, as the review wrote it: an acme cardholder, a link of its own.
	phish := func(bank, txnID string) rules.Alert {
		a := real
		a.ID, a.TxnID, a.Bank = rules.AlertID(bank, txnID), txnID, bank
		a.Merchant.Name = "ACME BANK: card suspended, verify at link"
		a.ReportURL = "https://acmebank-verify.example/r/login"
		return a
	}
	encode := func(a rules.Alert) []byte {
		b, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	put := func(key string, value []byte) {
		if _, err := kv.Put(ctx, key, value); err != nil {
			t.Fatal(err)
		}
	}
	// A record written straight into the bucket, as cardwatch's were before they were sealed.
	inBucket := phish("acme", "forged-in-bucket")
	raw, _ := json.Marshal(map[string]any{"alert": inBucket, "card_token": testCardToken})
	put(inBucket.ID, raw)
	// The same with a seal made up by the forger.
	badSeal := phish("acme", "forged-seal")
	raw, _ = json.Marshal(map[string]any{"record": map[string]any{"alert": badSeal, "card_token": testCardToken},
		"seal": strings.Repeat("A", 43) + "="})
	put(badSeal.ID, raw)
	// The genuine sealed record copied under another alert's key.
	copied := phish("acme", "copied-record")
	put(copied.ID, realRecord.Value())
	altered := real
	altered.Merchant.Name, altered.ReportURL = "REFUND DESK", "https://evil.example/r/x"

	cases := []struct {
		subject string
		data    []byte
		why     string
		says    string
	}{
		{"cardwatch.alerts.globex", encode(phish("globex", "made-up-1")), subscribers.RefusedUnknown, "raised no alert"},
		{"cardwatch.alerts.acme", encode(phish("acme", "made-up-2")), subscribers.RefusedUnknown, "raised no alert"},
		{"cardwatch.alerts.acme", []byte(`{"id":"al_*.>","bank":"acme"}`), subscribers.RefusedUnknown, "raised no alert"},
		{"cardwatch.alerts.acme", encode(inBucket), subscribers.RefusedUnsealed, "not sealed"},
		{"cardwatch.alerts.acme", encode(badSeal), subscribers.RefusedUnsealed, "not sealed"},
		{"cardwatch.alerts.acme", encode(copied), subscribers.RefusedUnsealed, "not sealed"},
		{"cardwatch.alerts.globex", genuine.Data, subscribers.RefusedBank, "not this bank's"},
		{"cardwatch.alerts.acme", encode(altered), subscribers.RefusedAltered, "contents are not the alert cardwatch raised"},
		{"cardwatch.alerts.acme", []byte("Card suspended, call +1 800 555 0100"), subscribers.RefusedUnreadable, "not an alert"},
	}
	for _, c := range cases {
		// No Nats-Msg-Id, or the forger's own: JetStream's duplicate window is no defence.
		if _, err := e.js.Publish(ctx, c.subject, c.data); err != nil {
			t.Fatal(err)
		}
	}
	// The genuine message with its seal, on another bank's subject: the seal names the
	// subject it was published on.
	if genuine.Header.Get(subscribers.SealHeader) == "" {
		t.Fatal("the genuine alert carries no seal")
	}
	if _, err := e.js.PublishMsg(ctx, &nats.Msg{Subject: "cardwatch.alerts.globex", Data: genuine.Data,
		Header: nats.Header{subscribers.SealHeader: genuine.Header.Values(subscribers.SealHeader)}}); err != nil {
		t.Fatal(err)
	}
	cases = append(cases, struct {
		subject string
		data    []byte
		why     string
		says    string
	}{"cardwatch.alerts.globex", genuine.Data, subscribers.RefusedBank, "not this bank's"})
	forged := func() []jetstream.RawStreamMsg {
		var out []jetstream.RawStreamMsg
		for _, m := range e.streamMsgs(subscribers.StreamDLQ) {
			var dl subscribers.DeadLetter
			if err := json.Unmarshal(m.Data, &dl); err == nil && dl.Kind == subscribers.KindForgedAlert {
				out = append(out, *m)
			}
		}
		return out
	}
	eventually(t, "every forged alert refused to the DLQ", func() bool { return len(forged()) == len(cases) })

	if n := len(e.twilio.messages()); n != 1 {
		t.Errorf("%d SMS sent, want only the genuine alert's", n)
	}
	if n := len(e.slack.messages()); n != 1 {
		t.Errorf("%d Slack messages sent, want only the genuine alert's", n)
	}
	for _, m := range e.twilio.messages() {
		if strings.Contains(m.Get("Body"), "example") || strings.Contains(m.Get("Body"), "REFUND") {
			t.Errorf("SMS carries the forger's words: %s", m.Get("Body"))
		}
	}
	left := forged()
	for i, c := range cases {
		want := "cardwatch.dlq." + strings.TrimPrefix(c.subject, "cardwatch.alerts.")
		found := false
		for j, m := range left {
			var dl subscribers.DeadLetter
			_ = json.Unmarshal(m.Data, &dl)
			if m.Subject == want && dl.Subject == c.subject && strings.Contains(dl.Reason, c.says) {
				left = append(left[:j], left[j+1:]...)
				found = true
				break
			}
		}
		if !found {
			t.Errorf("case %d (%s): no DLQ entry on %s saying %q", i, c.why, want, c.says)
		}
	}

	resp, err := http.Get(r.app.httpURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	counts := map[string]int{}
	for _, c := range cases {
		counts[c.why]++
	}
	for why, n := range counts {
		line := `cardwatch_alerts_refused_total{why="` + why + `"} ` + strconv.Itoa(n)
		if !strings.Contains(string(body), line+"\n") {
			t.Errorf("metrics lack %q", line)
		}
	}
}

// Anyone who can publish on the bus can also write to cardwatch's buckets (a bucket is a
// stream). Writes there that are not cardwatch's silence no alert and move no answer: a
// message marked "sent" is still sent, a merchant made "known" still alerts, an alert
// record put first under a computed alert id still leaves the transaction its alert, and
// a phone index entry pointing a cardholder's reply code at another alert answers nothing.
func TestForgedBucketValuesSilenceNothing(t *testing.T) {
	e := newEnv(t)
	r := e.start()
	ctx := context.Background()
	bucket := func(name string) jetstream.KeyValue {
		kv, err := e.js.KeyValue(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		return kv
	}
	sentKV, knownKV, alertsKV := bucket(subscribers.BucketSent), bucket(subscribers.BucketKnownMerchants), bucket(subscribers.BucketAlerts)
	put := func(kv jetstream.KeyValue, key, value string) {
		t.Helper()
		if _, err := kv.Put(ctx, key, []byte(value)); err != nil {
			t.Fatal(err)
		}
	}
	// Alert ids are computed from the bank and the transaction id, which anyone reading
	// cardwatch.txn.> sees.
	silenced := rules.AlertID("acme", "t-sent")
	put(sentKV, silenced+".sms", `{}`)
	put(sentKV, silenced+".slack", `{"provider_id":"x"}`)
	put(knownKV, "acme."+testCardToken+"."+base64.RawURLEncoding.EncodeToString([]byte("M-EVIL")), `{"source":"txn"}`)
	put(alertsKV, rules.AlertID("acme", "t-rec"), `garbage`)

	e.publish("acme", testCardToken, event(t, map[string]any{"id": "t-sent"}))
	eventually(t, "the first SMS", func() bool { return len(e.twilio.messages()) == 1 })
	first, _ := e.alertSent(t, 2, "t-known", "M-EVIL")
	e.publish("acme", testCardToken, event(t, map[string]any{"id": "t-rec"}))
	eventually(t, "every alert sent on both channels", func() bool {
		return len(e.twilio.messages()) == 3 && len(e.slack.messages()) == 3
	})
	if got := count(r.seen(), subscribers.OutcomeAlert); got != 3 {
		t.Errorf("outcomes %v, want three alerts", r.seen())
	}
	if len(first.Reasons) != 1 || first.Reasons[0].Rule != "unknown_merchant" {
		t.Errorf("the purchase at the merchant made known by a forger: reasons %+v, want unknown_merchant", first.Reasons)
	}

	// A reply code of the forger's, in the cardholder's own phone index (its key shows
	// in the bucket's keys), pointing at the first alert.
	keys, err := alertsKV.ListKeysFiltered(ctx, "phone.*")
	if err != nil {
		t.Fatal(err)
	}
	phoneKey := ""
	for k := range keys.Keys() {
		phoneKey = k
	}
	if phoneKey == "" {
		t.Fatal("no phone index in the bucket")
	}
	target := rules.AlertID("acme", "t-sent")
	put(alertsKV, phoneKey, `{"alerts":[{"alert_id":"`+target+`","code":"9X"}]}`)
	if code, reply := smsReply(t, r, testPhone, "OK 9X"); code != http.StatusOK || strings.Contains(reply, "noted") {
		t.Errorf("the forged code answered: %d %s", code, reply)
	}
	if reps := e.reports(t); len(reps) != 0 {
		t.Errorf("reports published after the forged code: %+v", reps)
	}

	// Deleting a genuine alert's record does not make the alert a forgery: its message
	// carries cardwatch's seal. (Its sent-log entries are deleted too, and the message
	// published again, so that the deliverer meets it without a record.)
	var genuine *jetstream.RawStreamMsg
	for _, m := range e.streamMsgs(subscribers.StreamAlerts) {
		if strings.Contains(string(m.Data), `"t-rec"`) {
			genuine = m
		}
	}
	if genuine == nil {
		t.Fatal("no alert for t-rec on the feed")
	}
	id := rules.AlertID("acme", "t-rec")
	for _, k := range []string{id + ".sms", id + ".slack"} {
		if err := sentKV.Delete(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	if err := alertsKV.Purge(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := e.js.PublishMsg(ctx, &nats.Msg{Subject: genuine.Subject, Data: genuine.Data, Header: nats.Header{
		subscribers.SealHeader: genuine.Header.Values(subscribers.SealHeader)}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the alert whose record was deleted sent again", func() bool { return len(e.twilio.messages()) == 4 })

	resp, err := http.Get(r.app.httpURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	for _, b := range []string{subscribers.BucketSent, subscribers.BucketKnownMerchants, subscribers.BucketAlerts} {
		if !strings.Contains(string(body), `cardwatch_unsealed_values_total{bucket="`+b+`"}`) {
			t.Errorf("metrics do not count the unsealed values of %s", b)
		}
	}
}
