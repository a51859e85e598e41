package subscribers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cardwatch/cardwatch/notifiers"
)

// SentLog records which (alert, channel) pairs went out, in a JetStream key-value bucket,
// so that a redelivered alert, a restart or a second instance never sends again.
type SentLog struct{ kv jetstream.KeyValue }

var _ notifiers.SentLog = (*SentLog)(nil)

// OpenSentLog opens (or creates) the sent-log bucket.
func OpenSentLog(ctx context.Context, js jetstream.JetStream, cfg StoreConfig) (*SentLog, error) {
	kv, err := openBucket(ctx, js, BucketSent, "alerts sent, by alert and channel", cfg)
	if err != nil {
		return nil, err
	}
	return &SentLog{kv: kv}, nil
}

func sentKey(alertID, channel string) string { return alertID + "." + channel }

// Sent returns the receipt of an earlier send of the alert on the channel, if any.
func (s *SentLog) Sent(ctx context.Context, alertID, channel string) (notifiers.Receipt, bool, error) {
	e, err := s.kv.Get(ctx, sentKey(alertID, channel))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return notifiers.Receipt{}, false, nil
	}
	if err != nil {
		return notifiers.Receipt{}, false, fmt.Errorf("read sent-log: %w", err)
	}
	var r notifiers.Receipt
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		return notifiers.Receipt{}, false, fmt.Errorf("decode sent-log: %w", err)
	}
	return r, true, nil
}

// MarkSent records the alert's outcome on the channel: sent, or failed for good.
func (s *SentLog) MarkSent(ctx context.Context, alertID, channel string, r notifiers.Receipt) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if _, err := s.kv.Put(ctx, sentKey(alertID, channel), b); err != nil {
		return fmt.Errorf("write sent-log: %w", err)
	}
	return nil
}
