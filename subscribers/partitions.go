package subscribers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// DefaultPartitions is the partition count of a new transaction stream when
// CARDWATCH_PARTITIONS is not set: enough for a fleet of up to 16 instances, each
// partition one consumer, few enough that a 3-node cluster carries their replicated
// state without effort.
const DefaultPartitions = 16

// MaxPartitions bounds CARDWATCH_PARTITIONS: every partition is a durable consumer,
// replicated on the cluster.
const MaxPartitions = 256

// Partitioning is how the transaction stream splits the cards: banks publish on
// <prefix>.txn.<bank>.<card>, and the stream stores each transaction, by a subject
// transform, as <prefix>.ptxn.<P>.<p>.<bank>.<card>, where p is a hash of the bank and
// the card token into P partitions. So one card is always in one partition, and one
// instance at a time consumes a partition: one card's transactions are handled in order,
// by one writer. P is in the subject so that a change of the partition count (see
// SetPartitions) leaves the transactions stored before it where they can still be told
// apart.
type Partitioning struct {
	Subjects Subjects
	// Partitions is P.
	Partitions int
}

// transform is the stream's subject transform for P partitions.
func (pt Partitioning) transform() *jetstream.SubjectTransformConfig {
	return &jetstream.SubjectTransformConfig{
		Source:      pt.Subjects.Prefix + ".txn.*.*",
		Destination: fmt.Sprintf("%s.ptxn.%d.{{partition(%d,1,2)}}.{{wildcard(1)}}.{{wildcard(2)}}", pt.Subjects.Prefix, pt.Partitions, pt.Partitions),
	}
}

// Filter is the stored subjects of partition p.
func (pt Partitioning) Filter(p int) string {
	return fmt.Sprintf("%s.ptxn.%d.%d.>", pt.Subjects.Prefix, pt.Partitions, p)
}

// Consumer is the durable consumer of partition p; it names P too, so that the
// consumers of an earlier partition count are never mistaken for the current ones.
func (pt Partitioning) Consumer(p int) string {
	return fmt.Sprintf("cardwatch_txn_%d_%d", pt.Partitions, p)
}

// Consumers are the durable consumers of every partition, in order.
func (pt Partitioning) Consumers() []string {
	out := make([]string, pt.Partitions)
	for p := range out {
		out[p] = pt.Consumer(p)
	}
	return out
}

// Unit is partition p's name in the fleet's assignment.
func (pt Partitioning) Unit(p int) string { return fmt.Sprintf("txn.%d.%d", pt.Partitions, p) }

// Units are the names of every partition, in order.
func (pt Partitioning) Units() []string {
	units := make([]string, pt.Partitions)
	for p := range units {
		units[p] = pt.Unit(p)
	}
	return units
}

// partitionOf reads P from a transaction stream's subject transform; 0 means the stream
// has none (it was made before cardwatch had partitions).
func (s Subjects) partitionOf(cfg jetstream.StreamConfig) int {
	if cfg.SubjectTransform == nil {
		return 0
	}
	rest, ok := strings.CutPrefix(cfg.SubjectTransform.Destination, s.Prefix+".ptxn.")
	if !ok {
		return 0
	}
	n, _, _ := strings.Cut(rest, ".")
	p, err := strconv.Atoi(n)
	if err != nil {
		return 0
	}
	return p
}

// ErrUnpartitioned is returned for a transaction stream made before cardwatch had
// partitions: `cardwatch partitions set N` gives it some, once.
var ErrUnpartitioned = errors.New("the transaction stream " + StreamTxn + " has no partitions (an earlier cardwatch made it); run `cardwatch partitions set N` once to give it some")

// StreamPartitioning reads the partitioning of the transaction stream as it is on the
// server: the count it was made with wins over the configured one, which only applies
// to a new stream.
func StreamPartitioning(ctx context.Context, js jetstream.JetStream, subj Subjects) (Partitioning, error) {
	s, err := js.Stream(ctx, StreamTxn)
	if err != nil {
		return Partitioning{}, fmt.Errorf("look up stream %s: %w", StreamTxn, err)
	}
	p := subj.partitionOf(s.CachedInfo().Config)
	if p == 0 {
		return Partitioning{}, ErrUnpartitioned
	}
	return Partitioning{Subjects: subj, Partitions: p}, nil
}

// legacyConsumer is the one consumer of a transaction stream made before cardwatch had
// partitions: it took every transaction, as <prefix>.txn.<bank>.<card>.
const legacyConsumer = "cardwatch"

// txnSource is a durable consumer of the transaction stream that a unit of work
// consumes: a partition of the current count, or one of an older count that is drained
// before any current partition starts.
type txnSource struct {
	Unit, Durable, Filter, Description string
	// Partitions is the count of the source's generation: the instance's bound on
	// transactions in flight is spread over them.
	Partitions int
	// Older: the consumer is bound as it is (never made or changed), and deleted once
	// nothing is left in it.
	Older bool
}

// sources are the current partitions' consumers, in order.
func (pt Partitioning) sources() []txnSource {
	out := make([]txnSource, pt.Partitions)
	for p := range out {
		out[p] = txnSource{Unit: pt.Unit(p), Durable: pt.Consumer(p), Filter: pt.Filter(p), Partitions: pt.Partitions,
			Description: fmt.Sprintf("cardwatch: transactions of partition %d of %d through the rules", p, pt.Partitions)}
	}
	return out
}

// olderConsumer reads a consumer's name: whether it is cardwatch's consumer of a
// partition count other than current (or the one from before partitions), and the
// count it belongs to (0 for the one from before partitions).
func olderConsumer(name string, current int) (count int, older bool) {
	if name == legacyConsumer {
		return 0, true
	}
	rest, ok := strings.CutPrefix(name, "cardwatch_txn_")
	if !ok {
		return 0, false
	}
	n, p, ok := strings.Cut(rest, "_")
	count, err := strconv.Atoi(n)
	if _, perr := strconv.Atoi(p); !ok || err != nil || perr != nil || count == current {
		return 0, false
	}
	return count, true
}

// olderSources are the partitions of earlier counts whose consumers are still on the
// transaction stream: the transactions stored before the count changed, which are
// handled before any stored after it, so that a card's transactions stay in order.
// Every partition of such a count is listed, its consumer there or already emptied and
// deleted, so that every instance works on the same list, and so agrees on who owns
// which (the assignment of one partition depends on the whole list).
func olderSources(ctx context.Context, js jetstream.JetStream, pt Partitioning) ([]txnSource, error) {
	s, err := js.Stream(ctx, StreamTxn)
	if err != nil {
		return nil, fmt.Errorf("look up stream %s: %w", StreamTxn, err)
	}
	counts := map[int]bool{}
	names := s.ConsumerNames(ctx)
	for name := range names.Name() {
		if count, ok := olderConsumer(name, pt.Partitions); ok {
			counts[count] = true
		}
	}
	if err := names.Err(); err != nil {
		return nil, fmt.Errorf("list consumers of %s: %w", StreamTxn, err)
	}
	const desc = "cardwatch: transactions stored before the partition count changed"
	var out []txnSource
	for _, count := range slices.Sorted(maps.Keys(counts)) {
		if count == 0 {
			out = append(out, txnSource{Unit: "txn.legacy", Durable: legacyConsumer, Partitions: 1, Older: true, Description: desc})
			continue
		}
		// A partition keeps the unit name it had as a current one: an instance that has
		// not yet seen the change still holds its claim under that name, and nobody may
		// empty the consumer while it consumes it.
		for _, src := range (Partitioning{Subjects: pt.Subjects, Partitions: count}).sources() {
			src.Older, src.Description = true, desc
			out = append(out, src)
		}
	}
	return out, nil
}

// partitionLock is the key in the fleet's bucket held while the partition count changes;
// one older than partitionLockStale is taken for left by a command that died.
const (
	partitionLock      = "partitions.change"
	partitionLockStale = time.Minute
)

// lockPartitionChange takes the partition-change lock and returns how to give it back.
func lockPartitionChange(ctx context.Context, js jetstream.JetStream) (func(), error) {
	kv, err := js.KeyValue(ctx, BucketFleet)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: BucketFleet, Storage: jetstream.FileStorage,
			Description: "cardwatch fleet: members' heartbeats and who works on which partition"})
		if errors.Is(err, jetstream.ErrBucketExists) {
			kv, err = js.KeyValue(ctx, BucketFleet)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", BucketFleet, err)
	}
	rev, err := kv.Create(ctx, partitionLock, []byte(time.Now().UTC().Format(time.RFC3339)))
	if isRevisionConflict(err) {
		e, gerr := kv.Get(ctx, partitionLock)
		if gerr != nil || time.Since(e.Created()) < partitionLockStale {
			return nil, errors.New("another change of the partition count is under way; try again in a minute")
		}
		rev, err = kv.Update(ctx, partitionLock, []byte(time.Now().UTC().Format(time.RFC3339)), e.Revision())
	}
	if err != nil {
		return nil, fmt.Errorf("take the partition-change lock: %w", err)
	}
	return func() { _ = kv.Delete(context.WithoutCancel(ctx), partitionLock, jetstream.LastRevision(rev)) }, nil
}

// ErrStillDraining is returned by SetPartitions while transactions stored under an
// earlier partition count are still being handled.
var ErrStillDraining = errors.New("the fleet is still handling transactions stored before the last change of the partition count; change it again once `cardwatch partitions` lists no older partitions")

// SetPartitions changes the transaction stream's partition count to n and returns the
// count it had (0: none). Transactions stored from then on go to the new partitions;
// those stored before stay where they are, with their consumers, and every instance
// (which checks the stream every second) handles them first, deletes each older
// consumer once it is empty, and only then starts on the new partitions: so a card's
// transactions stay in order, none is lost, and no instance needs to restart. Every
// consumer of the old count is made first, if missing, so that no stored transaction
// is left without one.
func SetPartitions(ctx context.Context, js jetstream.JetStream, subj Subjects, n int) (from int, err error) {
	if n < 1 || n > MaxPartitions {
		return 0, fmt.Errorf("partition count %d: want 1 to %d", n, MaxPartitions)
	}
	s, err := js.Stream(ctx, StreamTxn)
	if err != nil {
		return 0, fmt.Errorf("look up stream %s: %w", StreamTxn, err)
	}
	cfg := s.CachedInfo().Config
	from = subj.partitionOf(cfg)
	if from == n {
		return from, nil
	}
	// One change at a time: two at once could leave the count between them without
	// consumers. The lock is a key created by compare-and-set in the fleet's bucket.
	unlock, err := lockPartitionChange(ctx, js)
	if err != nil {
		return from, err
	}
	defer unlock()
	if s, err = js.Stream(ctx, StreamTxn); err != nil { // as it is now, under the lock
		return 0, fmt.Errorf("look up stream %s: %w", StreamTxn, err)
	}
	cfg = s.CachedInfo().Config
	if from = subj.partitionOf(cfg); from == n {
		return from, nil
	}
	old, err := olderSources(ctx, js, Partitioning{Subjects: subj, Partitions: from})
	if err != nil {
		return from, err
	}
	if len(old) > 0 {
		return from, ErrStillDraining
	}
	// A count used before, while the stream still holds what was stored under it: its
	// new consumers would take those old transactions again, after newer ones.
	if _, err := s.GetLastMsgForSubject(ctx, fmt.Sprintf("%s.ptxn.%d.>", subj.Prefix, n)); err == nil {
		return from, fmt.Errorf("the stream still holds transactions stored under %d partitions before; choose another count, or wait until they are past the retention", n)
	} else if !errors.Is(err, jetstream.ErrMsgNotFound) {
		return from, fmt.Errorf("look for transactions stored under %d partitions: %w", n, err)
	}
	var keep []jetstream.ConsumerConfig
	if from == 0 {
		keep = append(keep, jetstream.ConsumerConfig{Durable: legacyConsumer, FilterSubject: subj.TxnAll()})
	} else {
		for _, src := range (Partitioning{Subjects: subj, Partitions: from}).sources() {
			keep = append(keep, jetstream.ConsumerConfig{Durable: src.Durable, FilterSubject: src.Filter, Description: src.Description})
		}
	}
	for _, cc := range keep {
		if _, err := s.Consumer(ctx, cc.Durable); err == nil {
			continue
		} else if !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return from, fmt.Errorf("look up consumer %s: %w", cc.Durable, err)
		}
		cc.AckPolicy, cc.DeliverPolicy, cc.AckWait = jetstream.AckExplicitPolicy, jetstream.DeliverAllPolicy, ackWait(0)
		if _, err := s.CreateConsumer(ctx, cc); err != nil && !errors.Is(err, jetstream.ErrConsumerExists) {
			return from, fmt.Errorf("make consumer %s for the transactions stored so far: %w", cc.Durable, err)
		}
	}
	cfg.SubjectTransform = Partitioning{Subjects: subj, Partitions: n}.transform()
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		return from, fmt.Errorf("change the partition count of %s: %w", StreamTxn, err)
	}
	return from, nil
}

// PartitionState is one consumer of the transaction stream as an operator sees it.
type PartitionState struct {
	// Unit and Consumer name the partition in the fleet and on the stream.
	Unit, Consumer string
	// Older: a partition of an earlier count, being emptied.
	Older bool
	// Pending are stored transactions not yet handed out; InHand those handed out and
	// not yet acknowledged.
	Pending, InHand uint64
	// Owner is the member that works on it, empty when none does.
	Owner string
}

// FleetState is the partitioning and who works on what, for `cardwatch partitions`.
type FleetState struct {
	// Partitions is the current count.
	Partitions int
	// Members are the instances' heartbeats, by member id, with their age.
	Members map[string]time.Duration
	// Units are the older partitions still being emptied, then the current ones.
	Units []PartitionState
}

// DescribeFleet reads the partitioning, the consumers and the fleet's bucket.
func DescribeFleet(ctx context.Context, js jetstream.JetStream, subj Subjects) (FleetState, error) {
	pt, err := StreamPartitioning(ctx, js, subj)
	if err != nil {
		return FleetState{}, err
	}
	srcs, err := olderSources(ctx, js, pt)
	if err != nil {
		return FleetState{}, err
	}
	srcs = append(srcs, pt.sources()...)
	st := FleetState{Partitions: pt.Partitions, Members: map[string]time.Duration{}}
	claims := map[string]string{}
	if kv, err := js.KeyValue(ctx, BucketFleet); err == nil {
		keys, err := kv.ListKeys(ctx)
		if err != nil {
			return st, fmt.Errorf("list bucket %s: %w", BucketFleet, err)
		}
		for key := range keys.Keys() {
			e, err := kv.Get(ctx, key)
			if err != nil {
				continue // gone since listed
			}
			if id, ok := strings.CutPrefix(key, "member."); ok {
				st.Members[id] = time.Since(e.Created())
			} else if unit, ok := strings.CutPrefix(key, "claim."); ok {
				var c claim
				if json.Unmarshal(e.Value(), &c) == nil {
					claims[unit] = c.Owner
				}
			}
		}
	} else if !errors.Is(err, jetstream.ErrBucketNotFound) {
		return st, fmt.Errorf("open bucket %s: %w", BucketFleet, err)
	}
	for _, src := range srcs {
		ps := PartitionState{Unit: src.Unit, Consumer: src.Durable, Older: src.Older, Owner: claims[src.Unit]}
		if c, err := js.Consumer(ctx, StreamTxn, src.Durable); err == nil {
			if info, err := c.Info(ctx); err == nil {
				ps.Pending, ps.InHand = info.NumPending, uint64(info.NumAckPending)
			}
		} else if errors.Is(err, jetstream.ErrConsumerNotFound) && src.Older {
			continue // emptied and removed already
		} else if !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return st, fmt.Errorf("consumer %s: %w", src.Durable, err)
		}
		st.Units = append(st.Units, ps)
	}
	return st, nil
}
