package notifiers

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cardwatch/cardwatch/rules"
)

func TestLinksRoundTripAndRefusals(t *testing.T) {
	key := []byte(strings.Repeat("k", 32))
	l, err := NewLinks(key, "https://cw.example.com/", 7*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 24, 18, 0, 0, 0, time.UTC)
	l.now = func() time.Time { return now }
	id := rules.AlertID("acme", "txn-1")
	u := l.URL(id)
	token, ok := strings.CutPrefix(u, "https://cw.example.com/r/")
	if !ok {
		t.Fatalf("URL %q is not under the public URL", u)
	}
	if len(token) != 31 {
		t.Errorf("token is %d characters, want 31 (it must stay short for SMS)", len(token))
	}
	got, err := l.Verify(token)
	if err != nil || got != id {
		t.Fatalf("Verify = %q, %v; want %q", got, err, id)
	}

	raw, _ := base64.RawURLEncoding.DecodeString(token)
	flip := func(i int) string {
		b := append([]byte(nil), raw...)
		b[i] ^= 1
		return base64.RawURLEncoding.EncodeToString(b)
	}
	other, _ := NewLinks([]byte(strings.Repeat("x", 32)), "https://cw.example.com", time.Hour)
	otherToken := strings.TrimPrefix(other.URL(id), "https://cw.example.com/r/")
	for name, tok := range map[string]string{
		"altered alert id": flip(0),
		"altered expiry":   flip(rules.AlertIDBytes),
		"altered mac":      flip(len(raw) - 1),
		"other key":        otherToken,
		"truncated":        token[:20],
		"not base64":       "!!!!" + token[4:],
		"empty":            "",
	} {
		if _, err := l.Verify(tok); !errors.Is(err, ErrBadLink) {
			t.Errorf("%s: Verify err = %v, want ErrBadLink", name, err)
		}
	}

	now = now.Add(7*24*time.Hour + 2*time.Hour)
	if _, err := l.Verify(token); !errors.Is(err, ErrBadLink) {
		t.Errorf("expired token: err = %v, want ErrBadLink", err)
	}
}

func TestNewLinksRefusesShortKey(t *testing.T) {
	if _, err := NewLinks([]byte("short"), "http://x", time.Hour); err == nil {
		t.Fatal("a 5-byte key was accepted")
	}
}
