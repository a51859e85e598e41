package subscribers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// StoreConfig is how long cardwatch keeps data and how many copies a cluster keeps.
type StoreConfig struct {
	// Retention is how long alerts, reports, deliveries, DLQ entries and card state are
	// kept (stream MaxAge, bucket TTL): 180 days by default.
	Retention time.Duration
	// Replicas is the number of copies in a JetStream cluster (1 on a single server).
	Replicas int
	// DuplicateWindow is how long JetStream itself drops a republished message with the
	// same Nats-Msg-Id; cardwatch's own state covers the time after.
	DuplicateWindow time.Duration
	// Partitions is the partition count a new transaction stream is made with
	// (DefaultPartitions when 0); an existing stream keeps its own.
	Partitions int
}

func (c StoreConfig) partitions() int {
	if c.Partitions < 1 {
		return DefaultPartitions
	}
	return c.Partitions
}

func (c StoreConfig) replicas() int {
	if c.Replicas < 1 {
		return 1
	}
	return c.Replicas
}

// EnsureStreams creates every stream cardwatch uses that is missing. Existing streams
// are left as they are: a bank or operator may have made them with its own limits.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, subj Subjects, cfg StoreConfig) error {
	dup := cfg.DuplicateWindow
	if dup <= 0 {
		dup = 10 * time.Minute
	}
	streams := []jetstream.StreamConfig{
		{Name: StreamTxn, Description: "card transactions published by banks, stored by partition", Subjects: []string{subj.Prefix + ".txn.*.*"},
			SubjectTransform: Partitioning{Subjects: subj, Partitions: cfg.partitions()}.transform(), MaxAge: cfg.Retention},
		{Name: StreamAlerts, Description: "alerts cardwatch raised", Subjects: []string{subj.all("alerts")}, MaxAge: cfg.Retention, Duplicates: dup},
		{Name: StreamReports, Description: "cardholders' answers to alerts", Subjects: []string{subj.all("reports")}, MaxAge: cfg.Retention, Duplicates: dup},
		{Name: StreamDeliveries, Description: "alert delivery outcomes", Subjects: []string{subj.all("deliveries")}, MaxAge: cfg.Retention, Duplicates: dup},
		{Name: StreamDLQ, Description: "events cardwatch refused, with the reason", Subjects: []string{subj.all("dlq")}, MaxAge: cfg.Retention, Duplicates: dup},
	}
	for _, sc := range streams {
		sc.Replicas = cfg.replicas()
		sc.Storage = jetstream.FileStorage
		if sc.Duplicates > sc.MaxAge && sc.MaxAge > 0 {
			sc.Duplicates = sc.MaxAge
		}
		if _, err := js.Stream(ctx, sc.Name); err == nil {
			continue
		} else if !errors.Is(err, jetstream.ErrStreamNotFound) {
			return fmt.Errorf("look up stream %s: %w", sc.Name, err)
		}
		if _, err := js.CreateStream(ctx, sc); err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return fmt.Errorf("create stream %s: %w", sc.Name, err)
		}
	}
	return nil
}

// openBucket opens a key-value bucket, creating it when missing.
func openBucket(ctx context.Context, js jetstream.JetStream, name, what string, cfg StoreConfig) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, name)
	if err == nil {
		return kv, nil
	}
	if !errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, fmt.Errorf("open bucket %s: %w", name, err)
	}
	kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      name,
		Description: what,
		TTL:         cfg.Retention,
		Replicas:    cfg.replicas(),
		Storage:     jetstream.FileStorage,
	})
	if errors.Is(err, jetstream.ErrBucketExists) {
		return js.KeyValue(ctx, name)
	}
	if err != nil {
		return nil, fmt.Errorf("create bucket %s: %w", name, err)
	}
	return kv, nil
}
