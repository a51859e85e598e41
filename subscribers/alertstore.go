package subscribers

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cardwatch/cardwatch/rules"
)

// AlertRecord is what cardwatch keeps of an alert, by alert id: the alert itself, the card
// token the bank needs to freeze the card once the cardholder answers, and the answer.
type AlertRecord struct {
	// Alert is the alert as published.
	Alert rules.Alert `json:"alert"`
	// CardToken is kept for the report, which the bank needs to block the card.
	CardToken string `json:"card_token"`
	// Answer is the cardholder's first answer, nil until there is one.
	Answer *rules.Report `json:"answer,omitempty"`
	// Reported is true once the answer is on the bank's report feed.
	Reported bool `json:"reported,omitempty"`
}

// AlertStore keeps AlertRecords in a JetStream key-value bucket, so that every instance
// sees them, they survive restarts, and they expire with the retention.
//
// Each record is sealed with a MAC under the signing key, and Get returns only records
// whose seal holds: whoever else can write to the bucket (an open embedded server, a user
// given too wide permissions) can write bytes there, never an alert that cardwatch will
// deliver, answer or report.
type AlertStore struct {
	kv  jetstream.KeyValue
	key []byte
}

// OpenAlertStore opens (or creates) the alert bucket. key keys the hashes that index
// alerts by phone number, so that the numbers cannot be recovered from the keys.
func OpenAlertStore(ctx context.Context, js jetstream.JetStream, cfg StoreConfig, key []byte) (*AlertStore, error) {
	if len(key) == 0 {
		return nil, errors.New("alert store: no signing key to seal records with")
	}
	kv, err := openBucket(ctx, js, BucketAlerts, "alerts and their answers", cfg)
	if err != nil {
		return nil, err
	}
	return &AlertStore{kv: kv, key: key}, nil
}

// ErrNoAlert is returned for an alert id cardwatch does not have (never raised, or expired).
var ErrNoAlert = errors.New("no such alert")

// ErrUnsealed is returned for a record in the bucket that cardwatch did not write: its
// seal is missing or wrong (forged, altered, or written under another signing key).
var ErrUnsealed = errors.New("alert record is not sealed with this signing key")

// sealedRecord is how a record is kept: its JSON exactly as sealed, and the seal.
type sealedRecord struct {
	Record json.RawMessage `json:"record"`
	Seal   []byte          `json:"seal"`
}

// sealMAC is the seal of a record's JSON.
func (s *AlertStore) sealMAC(record []byte) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte("cardwatch alert record v1\x00"))
	m.Write(record)
	return m.Sum(nil)
}

// seal encodes a record for the bucket.
func (s *AlertStore) seal(r *AlertRecord) ([]byte, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode alert record: %w", err)
	}
	out, err := json.Marshal(sealedRecord{Record: b, Seal: s.sealMAC(b)})
	if err != nil {
		return nil, fmt.Errorf("encode alert record: %w", err)
	}
	return out, nil
}

// open decodes a record from the bucket, if its seal holds and it is the record of id.
func (s *AlertStore) open(id string, v []byte) (*AlertRecord, error) {
	var sr sealedRecord
	if err := json.Unmarshal(v, &sr); err != nil || len(sr.Record) == 0 {
		return nil, ErrUnsealed
	}
	if !hmac.Equal(sr.Seal, s.sealMAC(sr.Record)) {
		return nil, ErrUnsealed
	}
	var r AlertRecord
	if err := json.Unmarshal(sr.Record, &r); err != nil {
		return nil, fmt.Errorf("decode alert record: %w", err)
	}
	// A sealed record copied under another alert's key is not that alert.
	if r.Alert.ID != id {
		return nil, ErrUnsealed
	}
	return &r, nil
}

// Get returns the record of an alert and its revision: ErrNoAlert when there is none,
// ErrUnsealed when what the bucket holds is not cardwatch's.
func (s *AlertStore) Get(ctx context.Context, alertID string) (*AlertRecord, uint64, error) {
	if _, ok := rules.ParseAlertID(alertID); !ok {
		// Not a key cardwatch makes (and maybe not a valid key at all).
		return nil, 0, ErrNoAlert
	}
	e, err := s.kv.Get(ctx, alertID)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, ErrNoAlert
	}
	if err != nil {
		return nil, 0, fmt.Errorf("get alert: %w", err)
	}
	r, err := s.open(alertID, e.Value())
	if err != nil {
		return nil, 0, err
	}
	return r, e.Revision(), nil
}

// Create stores a new record and reports whether it did; false, with no error, means
// a record for the alert was there already.
func (s *AlertStore) Create(ctx context.Context, r *AlertRecord) (bool, error) {
	b, err := s.seal(r)
	if err != nil {
		return false, err
	}
	if _, err := s.kv.Create(ctx, r.Alert.ID, b); err != nil {
		if isRevisionConflict(err) {
			return false, nil
		}
		return false, fmt.Errorf("store alert: %w", err)
	}
	return true, nil
}

// Update replaces a record if it is still at revision rev, so that two instances
// answering the same alert at once cannot both win.
func (s *AlertStore) Update(ctx context.Context, r *AlertRecord, rev uint64) (uint64, error) {
	b, err := s.seal(r)
	if err != nil {
		return 0, err
	}
	rev, err = s.kv.Update(ctx, r.Alert.ID, b, rev)
	if err != nil {
		return 0, fmt.Errorf("update alert: %w", err)
	}
	return rev, nil
}

// phonePrefix is the index prefix of a phone number: a keyed hash, so that the number
// is in no key (keys show up in listings and monitoring) and cannot be found by hashing
// every possible number.
func (s *AlertStore) phonePrefix(phone string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte("cardwatch phone\x00" + phone))
	return "phone." + hex.EncodeToString(m.Sum(nil)[:16])
}

// IndexPhone records that an alert goes to a phone number, so that an SMS reply can find
// it. Each alert is a key of its own under the number's prefix: one blind write, no
// read-modify-write that instances sending to one number would contend on.
func (s *AlertStore) IndexPhone(ctx context.Context, phone, alertID string) error {
	if _, err := s.kv.Put(ctx, s.phonePrefix(phone)+"."+alertID, []byte(alertID)); err != nil {
		return fmt.Errorf("write phone index: %w", err)
	}
	return nil
}

// phonesKept is how many of a number's alerts an SMS reply looks through, newest first:
// enough for a burst of fraud, few enough to read on every reply.
const phonesKept = 20

// AlertsOfPhone returns the ids of the latest alerts sent to a phone number, newest
// first.
func (s *AlertStore) AlertsOfPhone(ctx context.Context, phone string) ([]string, error) {
	prefix := s.phonePrefix(phone) + "."
	l, err := s.kv.ListKeysFiltered(ctx, prefix+"*")
	if err != nil {
		return nil, fmt.Errorf("read phone index: %w", err)
	}
	defer l.Stop()
	var ids []string
	for k := range l.Keys() {
		ids = append(ids, strings.TrimPrefix(k, prefix))
	}
	// Keys come in the order they were written.
	slices.Reverse(ids)
	ids = slices.Compact(ids)
	return ids[:min(len(ids), phonesKept)], nil
}

// isRevisionConflict reports whether a key-value write lost a race (Create of an
// existing key, Update at a stale revision).
func isRevisionConflict(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, jetstream.ErrKeyExists) ||
		(errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence)
}
