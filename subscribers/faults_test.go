package subscribers

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// faultyJS is the JetStream of a real server, as the pipeline sees it, that records the
// operations that change or read state (key-value writes and reads by bucket, publishes
// by subject, and, through msg, acknowledgements) and can be told to fail one of them,
// or to crash there: that operation and every later one fail, as if the process had died
// just before it.
type faultyJS struct {
	jetstream.JetStream

	mu    sync.Mutex
	ops   []string
	match func(i int, op string) bool // where the fault is; nil: nowhere
	crash bool                        // the fault kills the process, else it fails one op
	dead  bool
}

// errFault is what an operation the fault hit returns.
var errFault = errors.New("injected fault")

// failAt makes the first operation that match picks fail, once.
func (f *faultyJS) failAt(match func(i int, op string) bool) { f.match, f.crash = match, false }

// crashAt makes the first operation that match picks, and every one after it, fail.
func (f *faultyJS) crashAt(match func(i int, op string) bool) { f.match, f.crash = match, true }

// firstOp picks the first operation that matches pattern (path.Match: "publish
// cardwatch.alerts.*").
func firstOp(pattern string) func(int, string) bool {
	return func(_ int, op string) bool { ok, _ := path.Match(pattern, op); return ok }
}

// opIndex picks the n-th operation, from 0.
func opIndex(n int) func(int, string) bool {
	return func(i int, _ string) bool { return i == n }
}

// do records op and says whether it may go ahead.
func (f *faultyJS) do(op string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dead {
		return fmt.Errorf("%s: %w (the process is dead)", op, errFault)
	}
	i := len(f.ops)
	f.ops = append(f.ops, op)
	if f.match == nil || !f.match(i, op) {
		return nil
	}
	f.match, f.dead = nil, f.crash
	f.ops[i] += " !" // it did not happen
	return fmt.Errorf("%s: %w", op, errFault)
}

// done returns the operations recorded so far; one the fault hit ends in " !".
func (f *faultyJS) done() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.ops)
}

// PublishMsg is the operation "publish <subject>".
func (f *faultyJS) PublishMsg(ctx context.Context, msg *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	if err := f.do("publish " + msg.Subject); err != nil {
		return nil, err
	}
	return f.JetStream.PublishMsg(ctx, msg, opts...)
}

// Publish is PublishMsg.
func (f *faultyJS) Publish(ctx context.Context, subject string, data []byte, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	return f.PublishMsg(ctx, &nats.Msg{Subject: subject, Data: data}, opts...)
}

// KeyValue opens a bucket whose operations are recorded.
func (f *faultyJS) KeyValue(ctx context.Context, bucket string) (jetstream.KeyValue, error) {
	return f.kv(f.JetStream.KeyValue(ctx, bucket))
}

// CreateKeyValue creates a bucket whose operations are recorded.
func (f *faultyJS) CreateKeyValue(ctx context.Context, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	return f.kv(f.JetStream.CreateKeyValue(ctx, cfg))
}

// CreateOrUpdateKeyValue opens a bucket whose operations are recorded.
func (f *faultyJS) CreateOrUpdateKeyValue(ctx context.Context, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	return f.kv(f.JetStream.CreateOrUpdateKeyValue(ctx, cfg))
}

func (f *faultyJS) kv(kv jetstream.KeyValue, err error) (jetstream.KeyValue, error) {
	if err != nil {
		return nil, err
	}
	return &faultyKV{KeyValue: kv, js: f}, nil
}

// msg wraps a transaction fetched from the server, so that its acknowledgement is an
// operation too.
func (f *faultyJS) msg(m jetstream.Msg) jetstream.Msg { return &faultyMsg{Msg: m, js: f} }

// faultyKV is a bucket opened through a faultyJS.
type faultyKV struct {
	jetstream.KeyValue
	js *faultyJS
}

func (k *faultyKV) op(name string) error { return k.js.do("kv." + name + " " + k.Bucket()) }

// Get is the operation "kv.get <bucket>".
func (k *faultyKV) Get(ctx context.Context, key string) (jetstream.KeyValueEntry, error) {
	if err := k.op("get"); err != nil {
		return nil, err
	}
	return k.KeyValue.Get(ctx, key)
}

// Create is the operation "kv.create <bucket>".
func (k *faultyKV) Create(ctx context.Context, key string, v []byte, opts ...jetstream.KVCreateOpt) (uint64, error) {
	if err := k.op("create"); err != nil {
		return 0, err
	}
	return k.KeyValue.Create(ctx, key, v, opts...)
}

// Update is the operation "kv.update <bucket>".
func (k *faultyKV) Update(ctx context.Context, key string, v []byte, rev uint64) (uint64, error) {
	if err := k.op("update"); err != nil {
		return 0, err
	}
	return k.KeyValue.Update(ctx, key, v, rev)
}

// Put is the operation "kv.put <bucket>".
func (k *faultyKV) Put(ctx context.Context, key string, v []byte) (uint64, error) {
	if err := k.op("put"); err != nil {
		return 0, err
	}
	return k.KeyValue.Put(ctx, key, v)
}

// Delete is the operation "kv.delete <bucket>".
func (k *faultyKV) Delete(ctx context.Context, key string, opts ...jetstream.KVDeleteOpt) error {
	if err := k.op("delete"); err != nil {
		return err
	}
	return k.KeyValue.Delete(ctx, key, opts...)
}

// faultyMsg is a transaction whose acknowledgement goes through a faultyJS.
type faultyMsg struct {
	jetstream.Msg
	js *faultyJS
}

// Ack is the operation "ack".
func (m *faultyMsg) Ack() error {
	if err := m.js.do("ack"); err != nil {
		return err
	}
	return m.Msg.Ack()
}

// NakWithDelay is the operation "nak".
func (m *faultyMsg) NakWithDelay(d time.Duration) error {
	if err := m.js.do("nak"); err != nil {
		return err
	}
	return m.Msg.NakWithDelay(d)
}
