package subscribers

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestKeyedQueueKeepsEachKeyInOrder(t *testing.T) {
	q := newKeyedQueue[int]()
	var mu sync.Mutex
	seen := map[string][]int{}
	running := map[string]bool{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			q.run(func(item int) {
				key := fmt.Sprint(item % 5)
				mu.Lock()
				if running[key] {
					t.Errorf("two items of key %s handled at once", key)
				}
				running[key] = true
				mu.Unlock()
				mu.Lock()
				seen[key] = append(seen[key], item)
				running[key] = false
				mu.Unlock()
			})
		})
	}
	const n = 5000
	for i := range n {
		q.push(fmt.Sprint(i%5), i)
	}
	q.close()
	wg.Wait()
	total := 0
	for key, items := range seen {
		total += len(items)
		for j := 1; j < len(items); j++ {
			if items[j] < items[j-1] {
				t.Fatalf("key %s: %d handled before %d", key, items[j-1], items[j])
			}
		}
	}
	if total != n {
		t.Fatalf("handled %d items, want %d", total, n)
	}
	if len(q.pending) != 0 || len(q.ready) != 0 {
		t.Fatalf("queue not empty at the end: %d keys pending, %d ready", len(q.pending), len(q.ready))
	}
}

func TestKeyedQueueSlowKeyHoldsUpNoOther(t *testing.T) {
	q := newKeyedQueue[string]()
	release := make(chan struct{})
	fastDone := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			q.run(func(item string) {
				switch item {
				case "slow":
					<-release
				case "fast-last":
					close(fastDone)
				}
			})
		})
	}
	q.push("a", "slow")
	q.push("a", "after-slow")
	for i := range 100 {
		q.push(fmt.Sprint("b", i%7), "fast")
	}
	q.push("c", "fast-last")
	select {
	case <-fastDone:
	case <-time.After(10 * time.Second):
		t.Fatal("other keys waited for the slow one")
	}
	close(release)
	q.close()
	wg.Wait()
}
