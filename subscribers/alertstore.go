package subscribers

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cardwatch/cardwatch/notifiers"
	"github.com/cardwatch/cardwatch/rules"
)

// AlertRecord is what cardwatch keeps of an alert, by alert id: the alert itself, the card
// token the bank needs to freeze the card once the cardholder answers, and the answer.
type AlertRecord struct {
	// Alert is the alert as published.
	Alert rules.Alert `json:"alert"`
	// CardToken is kept for the report, which the bank needs to block the card.
	CardToken string `json:"card_token"`
	// TxnSeq is the transaction's sequence in CARDWATCH_TXN (0 when unknown): the same
	// message again is a redelivery, whatever its delivery count says.
	TxnSeq uint64 `json:"txn_seq,omitempty"`
	// Answer is the cardholder's first answer, nil until there is one.
	Answer *rules.Report `json:"answer,omitempty"`
	// Reported is true once the answer is on the bank's report feed.
	Reported bool `json:"reported,omitempty"`
	// Correction is a fraud report given after an "it was me" Answer, nil until there is
	// one; there is at most one, and it stands over the Answer.
	Correction *rules.Report `json:"correction,omitempty"`
	// CorrectionReported is true once the correction is on the bank's report feed.
	CorrectionReported bool `json:"correction_reported,omitempty"`
}

// Standing is the answer that counts: the correction if there is one, else the first
// answer, else nil.
func (r *AlertRecord) Standing() *rules.Report {
	if r.Correction != nil {
		return r.Correction
	}
	return r.Answer
}

// AlertStore keeps AlertRecords in a JetStream key-value bucket, so that every instance
// sees them, they survive restarts, and they expire with the retention.
//
// Each record and phone index entry is sealed (see Sealer), and only sealed ones are
// read: whoever else can write to the bucket (an open embedded server, a user given too
// wide permissions) can write bytes there, never an alert that cardwatch will deliver,
// answer or report, nor point a cardholder's reply at another alert.
type AlertStore struct {
	kv   jetstream.KeyValue
	seal *Sealer
}

// OpenAlertStore opens (or creates) the alert bucket. The sealer's key also keys the
// hashes that index alerts by phone number, so that the numbers cannot be recovered from
// the keys.
func OpenAlertStore(ctx context.Context, js jetstream.JetStream, cfg StoreConfig, seal *Sealer) (*AlertStore, error) {
	if seal == nil {
		return nil, errors.New("alert store: no sealer")
	}
	kv, err := openBucket(ctx, js, BucketAlerts, "alerts and their answers", cfg)
	if err != nil {
		return nil, err
	}
	return &AlertStore{kv: kv, seal: seal}, nil
}

// ErrNoAlert is returned for an alert id cardwatch does not have (never raised, or expired).
var ErrNoAlert = errors.New("no such alert")

// ErrUnsealed is returned for a record in the bucket that cardwatch did not write: its
// seal is missing or wrong (forged, altered, or written under another signing key).
var ErrUnsealed = errors.New("alert record is not sealed with this signing key")

// open decodes a record from the bucket, if cardwatch sealed it for id (the key is in
// the seal, so a record copied under another alert's id does not open).
func (s *AlertStore) open(id string, v []byte) (*AlertRecord, error) {
	var r AlertRecord
	if !s.seal.openJSON(BucketAlerts, id, v, &r) {
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
	b, err := s.seal.sealJSON(BucketAlerts, r.Alert.ID, r)
	if err != nil {
		return false, fmt.Errorf("encode alert record: %w", err)
	}
	if _, err := s.kv.Create(ctx, r.Alert.ID, b); err != nil {
		if !isRevisionConflict(err) {
			return false, fmt.Errorf("store alert: %w", err)
		}
		// Alert ids can be computed from a bank and a transaction id: someone may have
		// put bytes under the id first, to pass the transaction off as a duplicate. What
		// cardwatch did not seal does not hold the key against it.
		e, err := s.kv.Get(ctx, r.Alert.ID)
		if err != nil {
			return false, fmt.Errorf("store alert: %w", err)
		}
		if _, ok := s.seal.open(BucketAlerts, r.Alert.ID, e.Value()); ok {
			return false, nil
		}
		if _, err := s.kv.Update(ctx, r.Alert.ID, b, e.Revision()); err != nil {
			if isRevisionConflict(err) {
				return false, nil // another instance won; it stored the same alert
			}
			return false, fmt.Errorf("store alert over an unsealed record: %w", err)
		}
	}
	return true, nil
}

// Update replaces a record if it is still at revision rev, so that two instances
// answering the same alert at once cannot both win.
func (s *AlertStore) Update(ctx context.Context, r *AlertRecord, rev uint64) (uint64, error) {
	b, err := s.seal.sealJSON(BucketAlerts, r.Alert.ID, r)
	if err != nil {
		return 0, fmt.Errorf("encode alert record: %w", err)
	}
	rev, err = s.kv.Update(ctx, r.Alert.ID, b, rev)
	if err != nil {
		return 0, fmt.Errorf("update alert: %w", err)
	}
	return rev, nil
}

// phoneKey is the index key of a phone number: a keyed hash, so that the number is in no
// key (keys show up in listings and monitoring) and cannot be found by hashing every
// possible number.
func (s *AlertStore) phoneKey(phone string) string {
	m := hmac.New(sha256.New, s.seal.key)
	m.Write([]byte("cardwatch phone\x00" + phone))
	return "phone." + hex.EncodeToString(m.Sum(nil)[:16])
}

// PhoneEntry is one alert of a phone number's index: the alert and the reply code its
// SMS carries.
type PhoneEntry struct {
	// AlertID is the alert sent to the number.
	AlertID string `json:"alert_id"`
	// Code is its reply code.
	Code string `json:"code"`
}

// phoneIndex is a phone number's index, one sealed value: its latest alerts, oldest first.
type phoneIndex struct {
	Alerts []PhoneEntry `json:"alerts"`
}

// readPhone reads a number's index and its revision (0 when there is none). An index
// cardwatch did not seal is read as empty: else anyone could point a number's replies at
// an alert of their choice.
func (s *AlertStore) readPhone(ctx context.Context, key string) (phoneIndex, uint64, error) {
	e, err := s.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return phoneIndex{}, 0, nil
	}
	if err != nil {
		return phoneIndex{}, 0, fmt.Errorf("read phone index: %w", err)
	}
	var ix phoneIndex
	if !s.seal.openJSON(BucketAlerts, key, e.Value(), &ix) {
		ix = phoneIndex{}
	}
	return ix, e.Revision(), nil
}

// IndexPhone records that an alert goes to a phone number, so that an SMS reply can find
// it, and returns the alert's reply code, to be put in the SMS. Called again for the same
// alert (a redelivery), it returns the code already given.
//
// A number's index is one key, written with a revision check: two instances indexing
// alerts for one number at once cannot both win, so the loser reads again and picks a
// code the winner did not take. The code differs from those of the number's phonesKept
// latest alerts, the ones a reply looks through. One key, read once and written once, is
// also what keeps this cheap: no consumer per alert.
func (s *AlertStore) IndexPhone(ctx context.Context, phone, alertID string) (string, error) {
	key := s.phoneKey(phone)
	for attempt := range 100 {
		ix, rev, err := s.readPhone(ctx, key)
		if err != nil {
			return "", err
		}
		taken := map[string]bool{}
		for _, e := range ix.Alerts {
			if e.AlertID == alertID {
				return e.Code, nil
			}
			taken[e.Code] = true
		}
		code := s.pickCode(alertID, attempt, taken)
		ix.Alerts = append(ix.Alerts, PhoneEntry{AlertID: alertID, Code: code})
		ix.Alerts = ix.Alerts[max(0, len(ix.Alerts)-phonesKept):]
		b, err := s.seal.sealJSON(BucketAlerts, key, ix)
		if err != nil {
			return "", err
		}
		if rev == 0 {
			_, err = s.kv.Create(ctx, key, b)
		} else {
			_, err = s.kv.Update(ctx, key, b, rev)
		}
		if isRevisionConflict(err) {
			continue // another alert of this number was indexed meanwhile: read it
		}
		if err != nil {
			return "", fmt.Errorf("write phone index: %w", err)
		}
		return code, nil
	}
	return "", errors.New("write phone index: too much contention on the number's index")
}

// pickCode is the first code free of taken, from a start derived from the alert id and
// the attempt (a keyed hash, like the phone key), so that two alerts rarely start on the
// same one, and two alerts that clashed do not walk into each other again.
func (s *AlertStore) pickCode(alertID string, attempt int, taken map[string]bool) string {
	m := hmac.New(sha256.New, s.seal.key)
	fmt.Fprintf(m, "cardwatch reply code\x00%s\x00%d", alertID, attempt)
	start := int(binary.BigEndian.Uint32(m.Sum(nil)) % uint32(notifiers.NumReplyCodes))
	for i := range notifiers.NumReplyCodes {
		if c := notifiers.ReplyCode(start + i); !taken[c] {
			return c
		}
	}
	return notifiers.ReplyCode(start) // unreachable while phonesKept < NumReplyCodes
}

// phonesKept is how many of a number's alerts the index keeps and an SMS reply looks
// through: enough for a burst of fraud, and far fewer than the reply codes, so that they
// all have codes of their own.
const phonesKept = 20

// AlertsOfPhone returns the latest alerts sent to a phone number, newest first, with
// their reply codes.
func (s *AlertStore) AlertsOfPhone(ctx context.Context, phone string) ([]PhoneEntry, error) {
	ix, _, err := s.readPhone(ctx, s.phoneKey(phone))
	if err != nil {
		return nil, err
	}
	slices.Reverse(ix.Alerts)
	return ix.Alerts, nil
}

// inboundKey is the key that records an inbound message by its provider's id. Ids are
// checked by the channel (Twilio's are SM or MM and 32 hex digits); a key holds no more
// than letters and digits either way.
func inboundKey(channel, id string) (string, bool) {
	if id == "" || len(id) > 64 {
		return "", false
	}
	for _, c := range id {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return "", false
		}
	}
	return "inbound." + channel + "." + id, true
}

// FirstMessage records an inbound message's provider id and reports whether it is new:
// a key-value create, which only the first of any number of instances can win, kept as
// long as the bucket keeps anything (the retention).
func (s *AlertStore) FirstMessage(ctx context.Context, channel, id string, at time.Time) (bool, error) {
	key, ok := inboundKey(channel, id)
	if !ok {
		return false, errors.New("record inbound message: malformed message id")
	}
	if _, err := s.kv.Create(ctx, key, []byte(at.UTC().Format(time.RFC3339))); err != nil {
		if isRevisionConflict(err) {
			return false, nil
		}
		return false, fmt.Errorf("record inbound message: %w", err)
	}
	return true, nil
}

// isRevisionConflict reports whether a key-value write lost a race (Create of an
// existing key, Update at a stale revision).
func isRevisionConflict(err error) bool {
	var apiErr *jetstream.APIError
	// A replicated bucket (a cluster) says so with another code than a single server.
	return errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) ||
		(errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
			apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant))
}
