package notifiers

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cardwatch/cardwatch/rules"
)

// MinSigningKey is the shortest signing key cardwatch accepts: 256 bits.
const MinSigningKey = 32

// A report link token is base64url(alert id (10 bytes) | expiry in minutes since
// linkEpoch (3 bytes) | HMAC-SHA256 of both, cut to 10 bytes): 31 characters, short enough
// for a one-segment SMS. The MAC is what cannot be guessed: 80 bits, keyed with the
// 256-bit signing key, checked online only. 2^24 minutes is 31.9 years: links can be
// issued until November 2056.
const (
	tokenExpiryBytes = 3
	tokenMACBytes    = 10
	tokenBytes       = rules.AlertIDBytes + tokenExpiryBytes + tokenMACBytes
)

// linkEpoch is where a token's minutes count from.
var linkEpoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// maxExpiry is the last minute 3 bytes can name.
const maxExpiry = 1<<(8*tokenExpiryBytes) - 1

// ErrBadLink is returned for a report link token that is forged, altered, malformed or
// expired. It says nothing more, on purpose.
var ErrBadLink = errors.New("report link is not valid")

// Links signs and checks report links.
type Links struct {
	key  []byte
	base string
	ttl  time.Duration
	now  func() time.Time
}

// NewLinks returns a signer of links under publicURL that expire after ttl, to the minute
// and never later: the expiry is rounded down.
func NewLinks(key []byte, publicURL string, ttl time.Duration) (*Links, error) {
	if len(key) < MinSigningKey {
		return nil, fmt.Errorf("signing key is %d bytes; it must be at least %d", len(key), MinSigningKey)
	}
	if ttl < time.Minute {
		return nil, errors.New("report link lifetime must be at least a minute")
	}
	return &Links{key: key, base: strings.TrimRight(publicURL, "/"), ttl: ttl, now: time.Now}, nil
}

// URL returns the report link of an alert.
func (l *Links) URL(alertID string) string {
	id, ok := rules.ParseAlertID(alertID)
	if !ok {
		return ""
	}
	exp := int64(l.now().Add(l.ttl).Sub(linkEpoch) / time.Minute)
	exp = max(0, min(exp, maxExpiry))
	var b [tokenBytes]byte
	copy(b[:], id)
	putUint24(b[rules.AlertIDBytes:], uint32(exp))
	copy(b[rules.AlertIDBytes+tokenExpiryBytes:], l.mac(b[:rules.AlertIDBytes+tokenExpiryBytes]))
	return l.base + "/r/" + base64.RawURLEncoding.EncodeToString(b[:])
}

// Verify returns the alert id a token names, or ErrBadLink.
func (l *Links) Verify(token string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) != tokenBytes {
		return "", ErrBadLink
	}
	signed := b[:rules.AlertIDBytes+tokenExpiryBytes]
	if !hmac.Equal(b[len(signed):], l.mac(signed)) {
		return "", ErrBadLink
	}
	exp := linkEpoch.Add(time.Duration(uint24(b[rules.AlertIDBytes:])) * time.Minute)
	if !l.now().Before(exp) {
		return "", ErrBadLink
	}
	return rules.FormatAlertID(b[:rules.AlertIDBytes]), nil
}

func (l *Links) mac(msg []byte) []byte {
	m := hmac.New(sha256.New, l.key)
	// v2: the expiry counts minutes since linkEpoch (v1 counted hours since 1970). The
	// label keeps a v1 token from being read with the v2 clock: it is refused instead.
	m.Write([]byte("cardwatch report link v2\x00"))
	m.Write(msg)
	return m.Sum(nil)[:tokenMACBytes]
}

func putUint24(b []byte, v uint32) {
	var tmp [4]byte
	binary.BigEndian.PutUint32(tmp[:], v)
	copy(b, tmp[1:])
}

func uint24(b []byte) uint32 { return uint32(b[0])<<16 | uint32(b[1])<<8 | uint32(b[2]) }
