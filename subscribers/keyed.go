package subscribers

import "sync"

// keyedQueue runs work items on a fixed number of goroutines, those of one key one after
// another in arrival order and those of different keys at once. A key waiting on a slow
// round trip holds up only its own items: the consumer keeps handing work to the other
// goroutines, where a fixed shard per key would make every key that hashes to a busy
// shard wait too.
//
// It holds whatever it is given; the consumer's MaxAckPending is what bounds it.
type keyedQueue[T any] struct {
	mu      sync.Mutex
	cond    sync.Cond
	pending map[string][]T // per key, in arrival order; present while queued or in hand
	ready   []string       // keys with work and no goroutine on them
	closed  bool
}

// keyTurn is how many items of one key a goroutine handles before it lets other keys
// have their turn, so that a card with a burst cannot keep a goroutine to itself.
const keyTurn = 16

func newKeyedQueue[T any]() *keyedQueue[T] {
	q := &keyedQueue[T]{pending: make(map[string][]T)}
	q.cond.L = &q.mu
	return q
}

// push queues an item behind the other items of its key.
func (q *keyedQueue[T]) push(key string, item T) {
	q.mu.Lock()
	items, active := q.pending[key]
	q.pending[key] = append(items, item)
	if !active {
		q.ready = append(q.ready, key)
		q.cond.Signal()
	}
	q.mu.Unlock()
}

// busy reports whether a key has items queued or in hand. Only the one goroutine that
// pushes may act on a false answer: nothing but a push makes a key busy.
func (q *keyedQueue[T]) busy(key string) bool {
	q.mu.Lock()
	_, ok := q.pending[key]
	q.mu.Unlock()
	return ok
}

// close lets the goroutines return once everything queued is handled.
func (q *keyedQueue[T]) close() {
	q.mu.Lock()
	q.closed = true
	q.cond.Broadcast()
	q.mu.Unlock()
}

// run handles items until the queue is closed and empty; start one per goroutine.
func (q *keyedQueue[T]) run(handle func(T)) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		for len(q.ready) == 0 && !q.closed {
			q.cond.Wait()
		}
		if len(q.ready) == 0 {
			return
		}
		key := q.ready[0]
		q.ready[0] = ""
		q.ready = q.ready[1:]
		for n := 0; ; n++ {
			items := q.pending[key]
			if len(items) == 0 {
				delete(q.pending, key)
				break
			}
			if n == keyTurn {
				// Back of the line; the key stays in pending, so nothing else queues it.
				q.ready = append(q.ready, key)
				q.cond.Signal()
				break
			}
			item := items[0]
			var zero T
			items[0] = zero
			q.pending[key] = items[1:]
			q.mu.Unlock()
			handle(item)
			q.mu.Lock()
		}
	}
}
