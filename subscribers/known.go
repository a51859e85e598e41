package subscribers

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// KnownMerchants is the set of (card, merchant) pairs cardwatch has seen, for the
// unknown_merchant rule. The truth is a JetStream key-value bucket, shared by every
// instance and kept across restarts; each instance holds a copy in memory, fed by a
// watch on the bucket, so that checking a transaction costs no network round trip.
//
// Entries are sealed: one cardwatch did not write (someone on the bus making a merchant
// "known" to a card, so that its next use there raises nothing) makes nothing known.
type KnownMerchants struct {
	kv   jetstream.KeyValue
	seal *Sealer
	log  *slog.Logger

	mu sync.RWMutex
	m  map[merchantKey]string // value: the txn that made the merchant known, "" if not by a txn

	watcher jetstream.KeyWatcher
}

type merchantKey struct{ bank, card, merchant string }

// knownRecord is a bucket value: why the merchant is known.
type knownRecord struct {
	// Source is "txn" (first approved transaction), "legit" (an "it was me" answer).
	Source string    `json:"source"`
	TxnID  string    `json:"txn_id,omitempty"`
	At     time.Time `json:"at"`
}

var keyEncoding = base64.RawURLEncoding

// knownKey is the bucket key: bank.card.<merchant key in base64url>, since merchant ids
// and names may hold characters a key cannot.
func knownKey(bank, card, merchant string) string {
	return bank + "." + card + "." + keyEncoding.EncodeToString([]byte(merchant))
}

func parseKnownKey(k string) (merchantKey, bool) {
	parts := strings.SplitN(k, ".", 3)
	if len(parts) != 3 {
		return merchantKey{}, false
	}
	m, err := keyEncoding.DecodeString(parts[2])
	if err != nil {
		return merchantKey{}, false
	}
	return merchantKey{parts[0], parts[1], string(m)}, true
}

// OpenKnownMerchants opens the bucket and loads it into memory before returning, so that
// the first transaction is already checked against everything known.
func OpenKnownMerchants(ctx context.Context, js jetstream.JetStream, cfg StoreConfig, seal *Sealer, log *slog.Logger) (*KnownMerchants, error) {
	if seal == nil {
		return nil, errors.New("known merchants: no sealer")
	}
	kv, err := openBucket(ctx, js, BucketKnownMerchants, "merchants each card has used", cfg)
	if err != nil {
		return nil, err
	}
	k := &KnownMerchants{kv: kv, seal: seal, log: log, m: make(map[merchantKey]string)}
	w, err := kv.WatchAll(context.WithoutCancel(ctx))
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", BucketKnownMerchants, err)
	}
	k.watcher = w
	// The watcher sends every current value, then nil, then live updates.
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return nil, fmt.Errorf("watch %s: closed while loading", BucketKnownMerchants)
			}
			if e == nil {
				go k.follow()
				return k, nil
			}
			k.apply(e)
		case <-ctx.Done():
			_ = w.Stop()
			return nil, fmt.Errorf("load %s: %w", BucketKnownMerchants, ctx.Err())
		}
	}
}

// follow applies other instances' changes for as long as the watch lives.
func (k *KnownMerchants) follow() {
	for e := range k.watcher.Updates() {
		if e != nil {
			k.apply(e)
		}
	}
}

func (k *KnownMerchants) apply(e jetstream.KeyValueEntry) {
	mk, ok := parseKnownKey(e.Key())
	if !ok {
		k.log.Warn("known merchants: ignoring a key cardwatch did not write", "bucket", BucketKnownMerchants)
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	switch e.Operation() {
	case jetstream.KeyValuePut:
		var r knownRecord
		if !k.seal.openJSON(BucketKnownMerchants, e.Key(), e.Value(), &r) {
			// Not cardwatch's: it makes nothing known, and replaces what was.
			delete(k.m, mk)
			return
		}
		k.m[mk] = r.TxnID
	default: // delete, purge
		delete(k.m, mk)
	}
}

// Known reports whether the card has used the merchant before. It reads memory only.
func (k *KnownMerchants) Known(bank, card, merchant string) bool {
	k.mu.RLock()
	_, ok := k.m[merchantKey{bank, card, merchant}]
	k.mu.RUnlock()
	return ok
}

// Len is how many (card, merchant) pairs are known.
func (k *KnownMerchants) Len() int {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return len(k.m)
}

// Learn records that the card used the merchant: in the bucket first, so that a restart
// or another instance knows it too, then in memory.
func (k *KnownMerchants) Learn(ctx context.Context, bank, card, merchant, source, txnID string) error {
	key := knownKey(bank, card, merchant)
	b, err := k.seal.sealJSON(BucketKnownMerchants, key, knownRecord{Source: source, TxnID: txnID, At: time.Now().UTC()})
	if err != nil {
		return err
	}
	if _, err := k.kv.Put(ctx, key, b); err != nil {
		// Memory stays as it was, so the redelivered transaction learns it again.
		return fmt.Errorf("learn merchant: %w", err)
	}
	k.mu.Lock()
	k.m[merchantKey{bank, card, merchant}] = txnID
	k.mu.Unlock()
	return nil
}

// Forget makes the merchant unknown again for the card if it became known through the
// transaction txnID, or through an "it was me" answer about it (a fraud report on it, or
// its correction), and reports whether it did.
func (k *KnownMerchants) Forget(ctx context.Context, bank, card, merchant, txnID string) (bool, error) {
	e, err := k.kv.Get(ctx, knownKey(bank, card, merchant))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("forget merchant: %w", err)
	}
	var r knownRecord
	if !k.seal.openJSON(BucketKnownMerchants, e.Key(), e.Value(), &r) || (r.Source != "txn" && r.Source != "legit") || r.TxnID != txnID {
		return false, nil
	}
	if err := k.kv.Delete(ctx, e.Key(), jetstream.LastRevision(e.Revision())); err != nil {
		return false, fmt.Errorf("forget merchant: %w", err)
	}
	k.mu.Lock()
	delete(k.m, merchantKey{bank, card, merchant})
	k.mu.Unlock()
	return true, nil
}

// Close stops following the bucket.
func (k *KnownMerchants) Close() error { return k.watcher.Stop() }
