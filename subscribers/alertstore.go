package subscribers

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
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

// open decodes a record from the bucket, if cardwatch sealed it for id.
func (s *AlertStore) open(id string, v []byte) (*AlertRecord, error) {
	b, ok := s.seal.open(BucketAlerts, id, v)
	if !ok {
		return nil, ErrUnsealed
	}
	var r AlertRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("decode alert record: %w", err)
	}
	if r.Alert.ID != id {
		return nil, ErrUnsealed // cannot happen with the key in the seal; cheap to be sure
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

// phonePrefix is the index prefix of a phone number: a keyed hash, so that the number
// is in no key (keys show up in listings and monitoring) and cannot be found by hashing
// every possible number.
func (s *AlertStore) phonePrefix(phone string) string {
	m := hmac.New(sha256.New, s.seal.key)
	m.Write([]byte("cardwatch phone\x00" + phone))
	return "phone." + hex.EncodeToString(m.Sum(nil)[:16])
}

// PhoneEntry is one alert of a phone number's index: the alert and the reply code its
// SMS carries.
type PhoneEntry struct {
	// AlertID is the alert sent to the number.
	AlertID string
	// Code is its reply code; "" for an entry written before reply codes.
	Code string
}

// phoneValue is a phone index entry's value, sealed for its key.
type phoneValue struct {
	AlertID string `json:"alert_id"`
	Code    string `json:"code"`
}

// decodePhoneValue reads the entry under key. One cardwatch did not seal for that key is
// no entry (an empty AlertID): else anyone could point a number's replies at an alert of
// their choice.
func (s *AlertStore) decodePhoneValue(key string, b []byte) PhoneEntry {
	var v phoneValue
	if !s.seal.openJSON(BucketAlerts, key, b, &v) || !strings.HasSuffix(key, "."+v.AlertID) {
		return PhoneEntry{}
	}
	return PhoneEntry{AlertID: v.AlertID, Code: v.Code}
}

// IndexPhone records that an alert goes to a phone number, so that an SMS reply can find
// it, and returns the alert's reply code, to be put in the SMS. Each alert is a key of its
// own under the number's prefix: one write, no read-modify-write that instances sending
// to one number would contend on. Called again for the same alert (a redelivery), it
// returns the code already given.
//
// The code differs from those of the number's phonesKept latest alerts, the ones a reply
// looks through. Two instances indexing alerts for one number at once may pick the same
// code; each reads the index back after its write, and the later write (the higher
// revision) picks again, before its SMS has gone.
func (s *AlertStore) IndexPhone(ctx context.Context, phone, alertID string) (string, error) {
	prefix := s.phonePrefix(phone)
	key := prefix + "." + alertID
	if e, err := s.kv.Get(ctx, key); err == nil {
		if got := s.decodePhoneValue(key, e.Value()); got.Code != "" {
			return got.Code, nil
		}
	} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", fmt.Errorf("read phone index: %w", err)
	}
	taken := map[string]bool{}
	for attempt := range 10 {
		entries, err := s.phoneEntries(ctx, prefix)
		if err != nil {
			return "", err
		}
		for _, e := range entries[max(0, len(entries)-phonesKept):] {
			if e.AlertID != alertID {
				taken[e.Code] = true
			}
		}
		code := s.pickCode(alertID, attempt, taken)
		b, err := s.seal.sealJSON(BucketAlerts, key, phoneValue{AlertID: alertID, Code: code})
		if err != nil {
			return "", err
		}
		rev, err := s.kv.Put(ctx, key, b)
		if err != nil {
			return "", fmt.Errorf("write phone index: %w", err)
		}
		entries, err = s.phoneEntries(ctx, prefix)
		if err != nil {
			return "", err
		}
		if !codeClash(entries, alertID, code, rev) {
			return code, nil
		}
		taken[code] = true
	}
	return "", errors.New("write phone index: no reply code left free after 10 tries")
}

// pickCode is the first code free of taken, from a start derived from the alert id and
// the attempt (a keyed hash, like the phone prefix), so that two instances indexing the
// same alert pick the same code, two alerts rarely start on the same one, and two alerts
// that clashed do not walk into each other again.
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

// phoneRev is a phone index entry and the revision it was written at.
type phoneRev struct {
	PhoneEntry
	rev uint64
}

// codeClash reports whether an alert written before ours (at revision rev), among the
// phonesKept-1 before it, has our code: the earlier write keeps it.
func codeClash(entries []phoneRev, alertID, code string, rev uint64) bool {
	var before []phoneRev
	for _, e := range entries {
		if e.rev < rev && e.AlertID != alertID {
			before = append(before, e)
		}
	}
	for _, e := range before[max(0, len(before)-(phonesKept-1)):] {
		if e.Code == code {
			return true
		}
	}
	return false
}

// phoneEntries reads a number's index, oldest write first.
func (s *AlertStore) phoneEntries(ctx context.Context, prefix string) ([]phoneRev, error) {
	w, err := s.kv.Watch(ctx, prefix+".*", jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("read phone index: %w", err)
	}
	defer func() { _ = w.Stop() }()
	var out []phoneRev
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return nil, errors.New("read phone index: watch closed")
			}
			if e == nil { // every current entry has been sent
				// The watch sends the latest value of each key in the order they were
				// written; sort anyway, the clash check depends on it.
				slices.SortFunc(out, func(a, b phoneRev) int { return cmp.Compare(a.rev, b.rev) })
				return out, nil
			}
			if pe := s.decodePhoneValue(e.Key(), e.Value()); pe.AlertID != "" {
				out = append(out, phoneRev{pe, e.Revision()})
			}
		case <-ctx.Done():
			return nil, fmt.Errorf("read phone index: %w", ctx.Err())
		}
	}
}

// phonesKept is how many of a number's alerts an SMS reply looks through, newest first:
// enough for a burst of fraud, few enough to read on every reply, and far fewer than
// the reply codes, so that they all have codes of their own.
const phonesKept = 20

// AlertsOfPhone returns the latest alerts sent to a phone number, newest first, with
// their reply codes.
func (s *AlertStore) AlertsOfPhone(ctx context.Context, phone string) ([]PhoneEntry, error) {
	entries, err := s.phoneEntries(ctx, s.phonePrefix(phone))
	if err != nil {
		return nil, err
	}
	slices.Reverse(entries)
	var out []PhoneEntry
	seen := map[string]bool{}
	for _, e := range entries {
		if len(out) == phonesKept {
			break
		}
		if e.AlertID == "" || seen[e.AlertID] {
			continue
		}
		seen[e.AlertID] = true
		out = append(out, e.PhoneEntry)
	}
	return out, nil
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
	return errors.Is(err, jetstream.ErrKeyExists) ||
		(errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence)
}
