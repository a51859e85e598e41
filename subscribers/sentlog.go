package subscribers

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cardwatch/cardwatch/notifiers"
)

// SentLog records which (alert, channel) pairs went out, in a JetStream key-value bucket,
// so that a redelivered alert, a restart or a second instance never sends again.
// Entries are sealed: an entry cardwatch did not write (someone on the bus marking
// alerts "sent" to silence them) counts as not sent.
type SentLog struct {
	kv   jetstream.KeyValue
	seal *Sealer
}

var _ notifiers.SentLog = (*SentLog)(nil)

// OpenSentLog opens (or creates) the sent-log bucket.
func OpenSentLog(ctx context.Context, js jetstream.JetStream, cfg StoreConfig, seal *Sealer) (*SentLog, error) {
	if seal == nil {
		return nil, errors.New("sent-log: no sealer")
	}
	kv, err := openBucket(ctx, js, BucketSent, "alerts sent, by alert and channel", cfg)
	if err != nil {
		return nil, err
	}
	return &SentLog{kv: kv, seal: seal}, nil
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
	if !s.seal.openJSON(BucketSent, e.Key(), e.Value(), &r) {
		return notifiers.Receipt{}, false, nil
	}
	return r, true, nil
}

// MarkSent records the alert's outcome on the channel: sent, or failed for good.
func (s *SentLog) MarkSent(ctx context.Context, alertID, channel string, r notifiers.Receipt) error {
	key := sentKey(alertID, channel)
	b, err := s.seal.sealJSON(BucketSent, key, r)
	if err != nil {
		return err
	}
	if _, err := s.kv.Put(ctx, key, b); err != nil {
		return fmt.Errorf("write sent-log: %w", err)
	}
	return nil
}
