package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cardwatch/cardwatch/subscribers"
)

// buildCardwatch builds the real binary once per test run.
func buildCardwatch(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "cardwatch")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestKilledMidStreamLosesNothing runs `cardwatch serve` as a process, SIGKILLs it at
// several points while a few hundred alerting transactions flow, and restarts it: every
// alert must reach the cardholder, and a message sent twice can only be one that was in
// flight at a kill (sent, not yet marked in the sent-log). The test reports the count.
func TestKilledMidStreamLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildCardwatch(t)
	e := newEnv(t)
	const total, kills, workers = 300, 3, 4
	env := append(os.Environ(),
		"CARDWATCH_NATS_URL="+e.url,
		"CARDWATCH_RULES_FILE="+e.rules,
		"CARDWATCH_HTTP_ADDR=127.0.0.1:0",
		"CARDWATCH_SIGNING_KEY=kill-test-key-0123456789abcdefghij",
		"CARDWATCH_TWILIO_ACCOUNT_SID="+testSID,
		"CARDWATCH_TWILIO_AUTH_TOKEN="+testAuthToken,
		"CARDWATCH_TWILIO_FROM="+testFrom,
		"CARDWATCH_TWILIO_API_URL="+e.twilio.URL,
		"CARDWATCH_TWILIO_MPS=0",
		"CARDWATCH_SLACK_BOT_TOKEN="+testBotToken,
		"CARDWATCH_SLACK_SIGNING_SECRET="+testSlackSecret,
		"CARDWATCH_SLACK_API_URL="+e.slack.URL+"/",
		fmt.Sprintf("CARDWATCH_DELIVERY_WORKERS=%d", workers),
		// What a killed instance held comes back after this; the default 30 s would
		// only make the test slow.
		"CARDWATCH_ACK_WAIT=2s",
	)
	// Thirty cardholders, each with a phone and a Slack channel of their own, since
	// Slack is paced per channel.
	const holders = 30
	var rb strings.Builder
	rb.WriteString("defaults:\n  home_country: US\n  currency: USD\n  rules:\n    foreign_terminal: true\ncardholders:\n")
	for h := range holders {
		fmt.Fprintf(&rb, "  - id: ch_k%02d\n    bank: acme\n    notify:\n      sms: \"+1555123%04d\"\n      slack: \"C0K%02dABC\"\n", h, h, h)
	}
	if err := os.WriteFile(e.rules, []byte(rb.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "serve")
		cmd.Env, cmd.Stdout, cmd.Stderr = env, logs, logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	// The bank's backlog is there before cardwatch first starts.
	store := subscribers.StoreConfig{Retention: time.Hour}
	if err := subscribers.EnsureStreams(context.Background(), e.js, subscribers.Subjects{Prefix: "cardwatch"}, store); err != nil {
		t.Fatal(err)
	}
	for i := range total {
		// Each one alerts: a terminal abroad.
		card := fmt.Sprintf("tok_k%02d", i%holders)
		e.publish("acme", card, event(t, map[string]any{"id": fmt.Sprintf("k-%03d", i),
			"cardholder_id": fmt.Sprintf("ch_k%02d", i%holders), "card": map[string]any{"token": card, "last4": "0000"}}))
	}
	distinct := func() int {
		seen := map[string]bool{}
		for _, m := range e.twilio.messages() {
			seen[m.Get("Body")] = true
		}
		return len(seen)
	}
	for k := range kills {
		cmd := start()
		target := (k + 1) * total / (kills + 1)
		deadline := time.Now().Add(60 * time.Second)
		for distinct() < target && time.Now().Before(deadline) {
			time.Sleep(2 * time.Millisecond)
		}
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
	}
	cmd := start()
	stopped := false
	defer func() {
		if !stopped {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()
	deadline := time.Now().Add(90 * time.Second)
	distinctSlack := func() int {
		seen := map[string]bool{}
		for _, m := range e.slack.messages() {
			seen[m["text"]] = true
		}
		return len(seen)
	}
	for (distinct() < total || distinctSlack() < total) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	sms, slackMsgs := len(e.twilio.messages()), len(e.slack.messages())
	seenSlack := distinctSlack()
	t.Logf("%d kills: %d of %d alerts delivered by SMS (%d messages, %d duplicates), %d by Slack (%d messages, %d duplicates)",
		kills, distinct(), total, sms, sms-distinct(), seenSlack, slackMsgs, slackMsgs-seenSlack)
	if distinct() != total || seenSlack != total {
		t.Fatalf("lost alerts: %d SMS and %d Slack of %d", distinct(), seenSlack, total)
	}
	// A duplicate needs a send in flight at a kill; at most `workers` are.
	if d := sms - distinct() + slackMsgs - seenSlack; d > kills*workers*2 {
		t.Errorf("%d duplicates from %d kills with %d delivery workers", d, kills, workers)
	}
	if n := len(e.streamMsgs(subscribers.StreamAlerts)); n != total {
		t.Errorf("%d alerts on the bank's feed, want %d", n, total)
	}
	// SIGTERM: finish what is in hand and exit 0.
	_ = cmd.Process.Signal(syscall.SIGTERM)
	err := cmd.Wait()
	stopped = true
	if err != nil {
		t.Errorf("after SIGTERM: %v (want exit 0)", err)
	}
}
