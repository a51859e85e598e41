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

// A report link token is base64url(alert id (10 bytes) | expiry in hours since the Unix
// epoch (3 bytes) | HMAC-SHA256 of both, cut to 10 bytes): 31 characters, short enough
// for a one-segment SMS. The MAC is what cannot be guessed: 80 bits, keyed with the
// 256-bit signing key, checked online only.
const (
	tokenExpiryBytes = 3
	tokenMACBytes    = 10
	tokenBytes       = rules.AlertIDBytes + tokenExpiryBytes + tokenMACBytes
)

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

// NewLinks returns a signer of links under publicURL that expire after ttl.
func NewLinks(key []byte, publicURL string, ttl time.Duration) (*Links, error) {
	if len(key) < MinSigningKey {
		return nil, fmt.Errorf("signing key is %d bytes; it must be at least %d", len(key), MinSigningKey)
	}
	if ttl <= 0 {
		return nil, errors.New("report link lifetime must be positive")
	}
	return &Links{key: key, base: strings.TrimRight(publicURL, "/"), ttl: ttl, now: time.Now}, nil
}

// URL returns the report link of an alert.
func (l *Links) URL(alertID string) string {
	id, ok := rules.ParseAlertID(alertID)
	if !ok {
		return ""
	}
	exp := uint32(l.now().Add(l.ttl).Unix()/3600 + 1)
	var b [tokenBytes]byte
	copy(b[:], id)
	putUint24(b[rules.AlertIDBytes:], exp)
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
	exp := time.Unix(int64(uint24(b[rules.AlertIDBytes:]))*3600, 0)
	if !l.now().Before(exp) {
		return "", ErrBadLink
	}
	return rules.FormatAlertID(b[:rules.AlertIDBytes]), nil
}

func (l *Links) mac(msg []byte) []byte {
	m := hmac.New(sha256.New, l.key)
	m.Write([]byte("cardwatch report link v1\x00"))
	m.Write(msg)
	return m.Sum(nil)[:tokenMACBytes]
}

func putUint24(b []byte, v uint32) {
	var tmp [4]byte
	binary.BigEndian.PutUint32(tmp[:], v)
	copy(b, tmp[1:])
}

func uint24(b []byte) uint32 { return uint32(b[0])<<16 | uint32(b[1])<<8 | uint32(b[2]) }
