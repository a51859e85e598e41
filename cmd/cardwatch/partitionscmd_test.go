package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestPartitionsCommandShowsTheFleetAndChangesTheCount runs `cardwatch partitions` as an
// operator would, against a running cardwatch: it lists the partitions with their owner,
// `set` changes the count, the running instance empties the older partitions and moves
// on to the new ones, and a transaction published after the change still alerts.
func TestPartitionsCommandShowsTheFleetAndChangesTheCount(t *testing.T) {
	e := newEnv(t)
	r := e.start()
	defer r.stop()
	t.Setenv("CARDWATCH_NATS_URL", e.url)
	partitions := func(args ...string) (string, int) {
		var out, errs bytes.Buffer
		code := run(append([]string{"partitions"}, args...), &out, &errs)
		return out.String() + errs.String(), code
	}
	// owned counts the partitions of count p listed with an owner.
	owned := func(out string, p int) int {
		n := 0
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(line, fmt.Sprintf("txn.%d.", p)) && !strings.HasSuffix(strings.TrimSpace(line), "-") {
				n++
			}
		}
		return n
	}
	var out string
	// await runs the status until cond holds of it, and fails with the last one.
	await := func(what string, cond func(string) bool) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			var code int
			if out, code = partitions(); code == 0 && cond(out) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("waited 15s for %s; last status:\n%s", what, out)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	await("every partition owned", func(out string) bool { return owned(out, 16) == 16 })
	if !strings.Contains(out, "partitions: 16") || !strings.Contains(out, "alive") {
		t.Fatalf("status:\n%s", out)
	}

	if out, code := partitions("set", "4"); code != 0 || !strings.Contains(out, "16 → 4") {
		t.Fatalf("set 4: exit %d\n%s", code, out)
	}
	await("the new partitions owned and the older ones gone", func(out string) bool {
		return owned(out, 4) == 4 && !strings.Contains(out, "older count")
	})
	if out, code := partitions("set", "4"); code != 0 || !strings.Contains(out, "nothing changed") {
		t.Errorf("set to the same count: exit %d\n%s", code, out)
	}
	if out, code := partitions("set", "0"); code != 2 {
		t.Errorf("set 0: exit %d, want 2\n%s", code, out)
	}

	// A transaction after the change alerts, from one of the 4 new partitions.
	e.publish("acme", "tok_4f9a2c", event(t, map[string]any{"id": "after-change"}))
	eventually(t, "the alert of a transaction published after the change", func() bool {
		return len(e.streamMsgs("CARDWATCH_ALERTS")) == 1
	})
}
