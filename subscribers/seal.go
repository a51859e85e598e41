package subscribers

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
)

// Sealer seals what cardwatch writes to its key-value buckets with an HMAC under the
// signing key, over the bucket, the key and the value. A bucket is a stream that anyone
// allowed to publish on its subjects can write to (on the embedded default, anyone): a
// sealed value proves that cardwatch wrote it, for that key, so a write of anyone else's,
// or a value copied from another key, is taken for what it is, nothing. What an unsealed
// value would have meant is decided by each store on the safe side: an alert is not
// delivered or answered, a message counts as not sent, a merchant as not known.
type Sealer struct {
	key []byte
	// OnUnsealed, when set, hears each unsealed value read, by bucket (never its key,
	// which may hold a card token): operators should know that someone writes there.
	OnUnsealed func(bucket string)
}

// NewSealer returns a Sealer with the signing key.
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) == 0 {
		return nil, errors.New("no signing key to seal bucket values with")
	}
	return &Sealer{key: key}, nil
}

// sealedValue is how a sealed value is stored: the value's JSON exactly as sealed, and
// the seal.
type sealedValue struct {
	V    json.RawMessage `json:"v"`
	Seal []byte          `json:"seal"`
}

func (s *Sealer) mac(bucket, key string, v []byte) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte("cardwatch sealed v1\x00" + bucket + "\x00" + key + "\x00"))
	m.Write(v)
	return m.Sum(nil)
}

// sealJSON marshals x and encodes it as the sealed value of key in bucket.
func (s *Sealer) sealJSON(bucket, key string, x any) ([]byte, error) {
	b, err := json.Marshal(x)
	if err != nil {
		return nil, err
	}
	return json.Marshal(sealedValue{V: b, Seal: s.mac(bucket, key, b)})
}

// open returns the value cardwatch sealed for key in bucket, or false (and a word to
// OnUnsealed) when stored is anything else.
func (s *Sealer) open(bucket, key string, stored []byte) ([]byte, bool) {
	var sv sealedValue
	if json.Unmarshal(stored, &sv) != nil || len(sv.V) == 0 || !hmac.Equal(sv.Seal, s.mac(bucket, key, sv.V)) {
		if s.OnUnsealed != nil {
			s.OnUnsealed(bucket)
		}
		return nil, false
	}
	return sv.V, true
}

// openJSON opens a sealed value into x.
func (s *Sealer) openJSON(bucket, key string, stored []byte, x any) bool {
	v, ok := s.open(bucket, key, stored)
	return ok && json.Unmarshal(v, x) == nil
}

// SealHeader carries the seal of a message cardwatch publishes on its alert feed, over
// the subject and the body: a message that has it, and whose seal holds, is cardwatch's
// own alert as raised, whatever has become of its record in the bucket.
const SealHeader = "Cardwatch-Seal"

// messageBucket is the seal's domain for feed messages; bucket names are CARDWATCH_*.
const messageBucket = "message"

// messageSeal is the SealHeader value of a message.
func (s *Sealer) messageSeal(subject string, body []byte) string {
	return base64.RawURLEncoding.EncodeToString(s.mac(messageBucket, subject, body))
}

// sealedMessage reports whether seal is cardwatch's seal of the message.
func (s *Sealer) sealedMessage(subject string, body []byte, seal string) bool {
	got, err := base64.RawURLEncoding.DecodeString(seal)
	return err == nil && hmac.Equal(got, s.mac(messageBucket, subject, body))
}
