package subscribers

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

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
