package notifiers

import (
	"crypto/hmac"
	"crypto/sha256"
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

// A link works until its TTL has passed, to the minute, and not a minute longer: the
// expiry is rounded down, never up (it used to be rounded up to the next hour).
func TestLinkExpiresAtItsTTL(t *testing.T) {
	const ttl = 7 * 24 * time.Hour
	l, err := NewLinks([]byte(strings.Repeat("k", 32)), "https://cw.example.com", ttl)
	if err != nil {
		t.Fatal(err)
	}
	for _, issued := range []time.Time{
		time.Date(2026, 11, 24, 18, 0, 0, 0, time.UTC),  // on the minute and the hour
		time.Date(2026, 11, 24, 18, 0, 30, 0, time.UTC), // half a minute past the hour
		time.Date(2026, 11, 24, 18, 59, 59, 0, time.UTC),
		time.Date(2055, 6, 1, 12, 34, 56, 0, time.UTC), // decades on, within 3 bytes
	} {
		now := issued
		l.now = func() time.Time { return now }
		id := rules.AlertID("acme", "txn-"+issued.String())
		token := strings.TrimPrefix(l.URL(id), "https://cw.example.com/r/")
		if len(token) != 31 {
			t.Fatalf("token is %d characters, want 31", len(token))
		}
		for _, c := range []struct {
			at time.Time
			ok bool
		}{
			{issued, true},
			{issued.Add(ttl - time.Minute), true},
			{issued.Add(ttl).Truncate(time.Minute).Add(-time.Nanosecond), true},
			{issued.Add(ttl).Truncate(time.Minute), false},
			{issued.Add(ttl), false},
			{issued.Add(ttl + 30*time.Minute), false},
		} {
			now = c.at
			got, err := l.Verify(token)
			if c.ok && (err != nil || got != id) {
				t.Errorf("issued %s: at %s (%s after) refused: %v", issued, c.at, c.at.Sub(issued), err)
			}
			if !c.ok && !errors.Is(err, ErrBadLink) {
				t.Errorf("issued %s: at %s (%s after, past the TTL of %s) still works", issued, c.at, c.at.Sub(issued), ttl)
			}
		}
	}
}

// Past what 3 bytes of minutes can say, a link expires at the last minute they can, not
// at a wrapped-around one in the past or far future.
func TestLinkExpiryIsClampedTo3Bytes(t *testing.T) {
	l, err := NewLinks([]byte(strings.Repeat("k", 32)), "https://cw.example.com", 40*365*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l.now = func() time.Time { return now }
	token := strings.TrimPrefix(l.URL(rules.AlertID("acme", "t")), "https://cw.example.com/r/")
	last := linkEpoch.Add(maxExpiry * time.Minute)
	for _, c := range []struct {
		at time.Time
		ok bool
	}{{now, true}, {last.Add(-time.Minute), true}, {last, false}} {
		now = c.at
		if _, err := l.Verify(token); (err == nil) != c.ok {
			t.Errorf("at %s: err %v, want ok=%v", c.at, err, c.ok)
		}
	}
}

// A link issued before the minute format (hours since 1970, MAC label v1) is refused,
// not read with the new clock as some other expiry.
func TestOldFormatLinkIsRefused(t *testing.T) {
	key := []byte(strings.Repeat("k", 32))
	l, err := NewLinks(key, "https://cw.example.com", 7*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 24, 18, 0, 0, 0, time.UTC)
	l.now = func() time.Time { return now }
	var b [tokenBytes]byte
	copy(b[:], mustAlertID(t, rules.AlertID("acme", "txn-1")))
	putUint24(b[rules.AlertIDBytes:], uint32(now.Add(7*24*time.Hour).Unix()/3600+1))
	m := hmac.New(sha256.New, key)
	m.Write([]byte("cardwatch report link v1\x00"))
	m.Write(b[:rules.AlertIDBytes+tokenExpiryBytes])
	copy(b[rules.AlertIDBytes+tokenExpiryBytes:], m.Sum(nil)[:tokenMACBytes])
	if _, err := l.Verify(base64.RawURLEncoding.EncodeToString(b[:])); !errors.Is(err, ErrBadLink) {
		t.Errorf("a v1 token: err = %v, want ErrBadLink", err)
	}
}

func mustAlertID(t *testing.T, id string) []byte {
	t.Helper()
	b, ok := rules.ParseAlertID(id)
	if !ok {
		t.Fatalf("alert id %q does not parse", id)
	}
	return b
}
