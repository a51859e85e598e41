package subscribers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cardwatch/cardwatch/rules"
)

// AlertRecord is what cardwatch keeps of an alert, by alert id: the alert itself, the card
// token the bank needs to freeze the card once the cardholder answers, and the answer.
type AlertRecord struct {
	Alert     rules.Alert   `json:"alert"`
	CardToken string        `json:"card_token"`
	Answer    *rules.Report `json:"answer,omitempty"`
}

// AlertStore keeps AlertRecords in a JetStream key-value bucket, so that every instance
// sees them, they survive restarts, and they expire with the retention.
type AlertStore struct{ kv jetstream.KeyValue }

// OpenAlertStore opens (or creates) the alert bucket.
func OpenAlertStore(ctx context.Context, js jetstream.JetStream, cfg StoreConfig) (*AlertStore, error) {
	kv, err := openBucket(ctx, js, BucketAlerts, "alerts and their answers", cfg)
	if err != nil {
		return nil, err
	}
	return &AlertStore{kv: kv}, nil
}

// ErrNoAlert is returned for an alert id cardwatch does not have (never raised, or expired).
var ErrNoAlert = errors.New("no such alert")

// Get returns the record of an alert and its revision.
func (s *AlertStore) Get(ctx context.Context, alertID string) (*AlertRecord, uint64, error) {
	e, err := s.kv.Get(ctx, alertID)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, ErrNoAlert
	}
	if err != nil {
		return nil, 0, fmt.Errorf("get alert: %w", err)
	}
	var r AlertRecord
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		return nil, 0, fmt.Errorf("decode alert record: %w", err)
	}
	return &r, e.Revision(), nil
}

// Create stores a new record; it is not an error if it exists already (a redelivery).
func (s *AlertStore) Create(ctx context.Context, r *AlertRecord) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode alert record: %w", err)
	}
	if _, err := s.kv.Create(ctx, r.Alert.ID, b); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("store alert: %w", err)
	}
	return nil
}

// Update replaces a record if it is still at revision rev, so that two instances
// answering the same alert at once cannot both win.
func (s *AlertStore) Update(ctx context.Context, r *AlertRecord, rev uint64) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode alert record: %w", err)
	}
	if _, err := s.kv.Update(ctx, r.Alert.ID, b, rev); err != nil {
		return fmt.Errorf("update alert: %w", err)
	}
	return nil
}
