package subscribers

import (
	"net"
	"strings"
	"testing"
	"time"
)

func TestEmbeddedPortTakenSaysWhatToSet(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, err = StartEmbedded(EmbeddedConfig{Addr: l.Addr().String(), DataDir: t.TempDir()})
	if err == nil {
		t.Fatal("started on a taken port")
	}
	for _, want := range []string{l.Addr().String(), "CARDWATCH_EMBEDDED_NATS_ADDR", "CARDWATCH_NATS_URL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

func TestEmbeddedServesJetStream(t *testing.T) {
	ns, err := StartEmbedded(EmbeddedConfig{Addr: "127.0.0.1:0", DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Shutdown()
	if !ns.JetStreamEnabled() {
		t.Fatal("JetStream is off")
	}
	if !strings.HasPrefix(ns.ClientURL(), "nats://127.0.0.1:") {
		t.Errorf("client URL %q", ns.ClientURL())
	}
}

func TestParseTxnSubject(t *testing.T) {
	s := Subjects{Prefix: "cardwatch"}
	for _, c := range []struct {
		subj, bank, card string
		ok               bool
	}{
		{"cardwatch.txn.acme.tok_1", "acme", "tok_1", true},
		{"cardwatch.txn.acme", "", "", false},
		{"cardwatch.txn.acme.tok.extra", "", "", false},
		{"other.txn.acme.tok", "", "", false},
		{"cardwatch.alerts.acme", "", "", false},
	} {
		bank, card, ok := s.ParseTxn(c.subj)
		if bank != c.bank || card != c.card || ok != c.ok {
			t.Errorf("ParseTxn(%q) = %q, %q, %v", c.subj, bank, card, ok)
		}
	}
	if got := (Subjects{Prefix: "cw.prod"}).Txn("acme", "t"); got != "cw.prod.txn.acme.t" {
		t.Errorf("Txn with a two-token prefix = %q", got)
	}
}

func TestBackoffGrowsAndIsCapped(t *testing.T) {
	for attempt := 1; attempt <= 40; attempt++ {
		ceil := min(time.Second<<min(attempt-1, 9), maxBackoff)
		for range 20 {
			if d := Backoff(attempt); d < ceil/2 || d > ceil {
				t.Fatalf("Backoff(%d) = %v, want within [%v, %v]", attempt, d, ceil/2, ceil)
			}
		}
	}
}
