package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

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
// alert must reach the cardholder on each channel, and a message goes out twice only
// when its send was in flight at a kill (the provider had taken it, the sent-log did not
// say so yet): sent first by the instance killed, then by a later one, and no more such
// alerts per channel and kill than there are delivery workers. Each instance sends with
// a Twilio number and a Slack API path of its own, so that the test knows who sent what.
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
		"CARDWATCH_TWILIO_API_URL="+e.twilio.URL,
		"CARDWATCH_TWILIO_MPS=0",
		"CARDWATCH_SLACK_BOT_TOKEN="+testBotToken,
		"CARDWATCH_SLACK_SIGNING_SECRET="+testSlackSecret,
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
	// start runs instance i, killed at the end of the test if it still runs.
	start := func(i int) *instance {
		cmd := exec.Command(bin, "serve")
		cmd.Env = append(env, "CARDWATCH_TWILIO_FROM="+instanceFrom(i),
			"CARDWATCH_SLACK_API_URL="+e.slack.URL+instanceSlackPath(i))
		cmd.Stdout, cmd.Stderr = logs, logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		in := &instance{cmd: cmd, done: make(chan struct{})}
		go func() { in.err = cmd.Wait(); close(in.done) }()
		t.Cleanup(func() { _ = cmd.Process.Kill(); <-in.done })
		return in
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
	sent := func() (sms, slack channelSends) { return smsSends(e.twilio.messages()), slackSends(e.slack.messages()) }
	// marks is how many writes the sent-log has had (none before cardwatch made it).
	marks := func() uint64 {
		ctx := context.Background()
		kv, err := e.js.KeyValue(ctx, subscribers.BucketSent)
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			return 0
		}
		if err != nil {
			t.Fatal(err)
		}
		status, err := kv.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return status.(*jetstream.KeyValueBucketStatus).StreamInfo().State.LastSeq
	}
	seen := func() string {
		sms, slack := sent()
		return fmt.Sprintf("%d alerts by SMS (%d messages) and %d by Slack (%d messages), %d sent-log marks",
			len(sms), sms.messages(), len(slack), slack.messages(), marks())
	}
	for k := range kills {
		in := start(k)
		target := (k + 1) * total / (kills + 1)
		awaitSeen(t, 60*time.Second, fmt.Sprintf("%d alerts sent by SMS before kill %d", target, k+1), in, logs, seen,
			func() bool { sms, _ := sent(); return len(sms) >= target })
		_ = in.cmd.Process.Signal(syscall.SIGKILL)
		<-in.done
	}
	last := start(kills)
	// Every alert on both channels, and every send marked: an alert a kill caught in
	// flight, already at the provider, goes again only once it is redelivered.
	awaitSeen(t, 90*time.Second, fmt.Sprintf("all %d alerts on both channels, each marked in the sent-log", total), last, logs, seen,
		func() bool {
			sms, slack := sent()
			return len(sms) == total && len(slack) == total && marks() >= 2*total
		})

	sms, slack := sent()
	for _, ch := range []struct {
		name  string
		sends channelSends
	}{{"SMS", sms}, {"Slack", slack}} {
		perKill := make([]int, kills)
		for link, by := range ch.sends {
			for j := 1; j < len(by); j++ {
				if by[j] <= by[j-1] {
					t.Errorf("%s: alert %s sent twice by instance %d, with no kill in between (senders %v)", ch.name, link, by[j], by)
				} else {
					perKill[by[j-1]]++
				}
			}
		}
		t.Logf("%s: %d alerts, %d messages, %d duplicates; by kill %v", ch.name, len(ch.sends), ch.sends.messages(), ch.sends.messages()-len(ch.sends), perKill)
		for k, n := range perKill {
			// At a kill, at most `workers` alerts are in hand, each with one send in
			// flight per channel.
			if n > workers {
				t.Errorf("%s: %d alerts sent again after kill %d, with %d delivery workers", ch.name, n, k+1, workers)
			}
		}
	}
	if n := len(e.streamMsgs(subscribers.StreamAlerts)); n != total {
		t.Errorf("%d alerts on the bank's feed, want %d", n, total)
	}
	// SIGTERM: finish what is in hand and exit 0.
	_ = last.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-last.done:
		if last.err != nil {
			t.Errorf("after SIGTERM: %v (want exit 0)", last.err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("still running 30s after SIGTERM")
	}
	// Each channel of each alert is marked in the sent-log once, by the send that the
	// sent-log then stopped: the first copy of a duplicate was never marked, it was the
	// one in flight at a kill. (A mark written twice is a send the sent-log let through.)
	if n := marks(); n != 2*total {
		t.Errorf("%d marks written to the sent-log, want one per alert and channel, %d", n, 2*total)
	}
}

// instance is one cardwatch process of a test; done closes when it has exited, with err.
type instance struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// instanceFrom is the Twilio number instance i of a test sends from.
func instanceFrom(i int) string { return fmt.Sprintf("+1500555%04d", i) }

// instanceSlackPath is the Slack API path instance i of a test posts under.
func instanceSlackPath(i int) string { return fmt.Sprintf("/instance%d/", i) }

// channelSends is, for each alert (by its report link) sent on a channel, the instances
// that sent it, in the order the provider took the messages.
type channelSends map[string][]int

func (c channelSends) messages() int {
	n := 0
	for _, by := range c {
		n += len(by)
	}
	return n
}

// reportLink finds an alert's report link in a message: one alert, one link, whatever
// else of the text (the reply code) a resend could change.
var reportLink = regexp.MustCompile(`/r/[A-Za-z0-9_-]+`)

func smsSends(msgs []url.Values) channelSends {
	c := channelSends{}
	for _, m := range msgs {
		var i int
		if _, err := fmt.Sscanf(m.Get("From"), "+1500555%04d", &i); err == nil {
			link := reportLink.FindString(m.Get("Body"))
			if link == "" {
				link = m.Get("Body") // then the message is its own alert
			}
			c[link] = append(c[link], i)
		}
	}
	return c
}

func slackSends(msgs []map[string]string) channelSends {
	c := channelSends{}
	for _, m := range msgs {
		var i int
		if _, err := fmt.Sscanf(m[slackPathKey], "/instance%d/", &i); err == nil {
			link := reportLink.FindString(m["text"])
			if link == "" {
				link = m["text"] // then the message is its own alert
			}
			c[link] = append(c[link], i)
		}
	}
	return c
}

// awaitSeen polls cond until it holds. It fails the test, with what it waited for and
// what it saw, when d runs out or the instance exits first.
func awaitSeen(t *testing.T, d time.Duration, what string, in *instance, logs *syncBuffer, seen func() string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		select {
		case <-in.done:
			t.Fatalf("cardwatch exited (%v) while waiting for %s; saw %s\n%s", in.err, what, seen(), logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s; saw %s", d, what, seen())
		}
		time.Sleep(2 * time.Millisecond)
	}
}
