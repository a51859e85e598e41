package rules

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// watchDeadline bounds every wait for the watcher; it only matters when the test fails.
const watchDeadline = 10 * time.Second

// generation is a valid rules file whose only cardholder is named after gen, so that a
// test can tell which write a Book came from.
func generation(gen string) []byte {
	return []byte(fmt.Sprintf(`defaults:
  home_country: US
  currency: USD
cardholders:
  - id: ch_1001
    bank: acme
    name: %s
    notify:
      sms: "+15551230001"
`, gen))
}

const badRules = `defaults:
  home_country: US
  currency: USD
cardholders:
  - id: ch_1001
    bank: acme
    notify:
      sms: "+1555"
`

func bookGen(b *Book) string {
	if b == nil || b.Len() != 1 {
		return fmt.Sprintf("<book with %d cardholders>", b.Len())
	}
	return b.Cardholders()[0].Name
}

// watcher runs Watch on path and hands its calls to the test through channels.
type watcher struct {
	applied  chan *Book
	rejected chan error
}

func startWatch(t *testing.T, path string) *watcher {
	t.Helper()
	w := &watcher{applied: make(chan *Book, 64), rejected: make(chan error, 64)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Watch(ctx, path,
			func(b *Book) {
				select {
				case w.applied <- b:
				case <-ctx.Done():
				}
			},
			func(err error) {
				select {
				case w.rejected <- err:
				case <-ctx.Done():
				}
			})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Watch returned %v after its context ended, want nil", err)
			}
		case <-time.After(watchDeadline):
			t.Error("Watch did not return after its context ended")
		}
	})
	return w
}

// prime writes gen until the watcher applies it. Watch gives no sign that it is watching,
// so the first write may come before it is: writing again on a tick (not sleeping and
// hoping) is what makes this deterministic. Stale applies of gen may follow; waitApply
// skips them.
func (w *watcher) prime(t *testing.T, path, gen string) {
	t.Helper()
	write(t, path, generation(gen))
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(watchDeadline)
	for {
		select {
		case b := <-w.applied:
			if bookGen(b) == gen {
				return
			}
			t.Fatalf("applied %s while priming with %s", bookGen(b), gen)
		case err := <-w.rejected:
			t.Fatalf("rejected the good file %s: %v", gen, err)
		case <-tick.C:
			write(t, path, generation(gen))
		case <-deadline:
			t.Fatalf("the watcher never applied %s", gen)
		}
	}
}

// waitApply waits for the Book of generation want. Applies of generations in stale (ones
// already seen, that a burst of events may repeat) are skipped; anything else fails.
func (w *watcher) waitApply(t *testing.T, want string, stale ...string) {
	t.Helper()
	deadline := time.After(watchDeadline)
	for {
		select {
		case b := <-w.applied:
			got := bookGen(b)
			if got == want {
				return
			}
			if !contains(stale, got) {
				t.Fatalf("applied %s, want %s", got, want)
			}
		case err := <-w.rejected:
			t.Fatalf("rejected while waiting for %s: %v", want, err)
		case <-deadline:
			t.Fatalf("%s was never applied", want)
		}
	}
}

func write(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestWatch(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rules.yaml")
	write(t, path, generation("gen0"))
	w := startWatch(t, path)
	w.prime(t, path, "gen1")

	// A new valid file: apply with the new Book.
	write(t, path, generation("gen2"))
	w.waitApply(t, "gen2", "gen1")

	// A bad file: reject with its errors, and no apply.
	write(t, path, []byte(badRules))
	deadline := time.After(watchDeadline)
wait:
	for {
		select {
		case err := <-w.rejected:
			if !strings.Contains(err.Error(), `cardholders[0].notify.sms: "+1555" is not an E.164 number`) {
				t.Errorf("reject got %q, want the file's error", err)
			}
			if !strings.Contains(err.Error(), path+":8:") {
				t.Errorf("reject got %q, want it to name %s and the line", err, path)
			}
			break wait
		case b := <-w.applied:
			if got := bookGen(b); got != "gen2" {
				t.Fatalf("applied %s after a bad file was written", got)
			}
		case <-deadline:
			t.Fatal("the bad file was never rejected")
		}
	}

	// Replaced by rename, the way editors and deploy tools write: seen, and applied. The
	// temporary file's own events must not trigger a load of anything else.
	tmp := filepath.Join(dir, ".rules.yaml.tmp")
	write(t, tmp, generation("gen3"))
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	w.waitApply(t, "gen3")

	// A file next to the rules file is not the rules file.
	write(t, filepath.Join(dir, "other.yaml"), []byte(badRules))
	write(t, path, generation("gen4"))
	w.waitApply(t, "gen4", "gen3")
	select {
	case err := <-w.rejected:
		t.Errorf("rejected %v: another file in the folder was loaded", err)
	default:
	}
}

// TestWatchConfigMap swaps the file the way Kubernetes updates a mounted ConfigMap: the
// rules file is a symlink through "..data", and "..data" is replaced by a rename.
func TestWatchConfigMap(t *testing.T) {
	dir := t.TempDir()
	version := func(n int, gen string) string {
		d := filepath.Join(dir, fmt.Sprintf("..2026_11_24_%d", n))
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(d, "rules.yaml"), generation(gen))
		return filepath.Base(d)
	}
	swap := func(target string) {
		tmp := filepath.Join(dir, "..data_tmp")
		if err := os.Symlink(target, tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(version(0, "gen0"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "rules.yaml")
	if err := os.Symlink(filepath.Join("..data", "rules.yaml"), path); err != nil {
		t.Fatal(err)
	}
	w := startWatch(t, path)

	// Prime by swapping to a fresh version on every tick until one is applied (see prime).
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(watchDeadline)
	var stale []string // every generation swapped in so far
	next := func() string {
		gen := fmt.Sprintf("gen%d", len(stale)+1)
		swap(version(len(stale)+1, gen))
		stale = append(stale, gen)
		return gen
	}
	next()
primed:
	for {
		select {
		case b := <-w.applied:
			if !contains(stale, bookGen(b)) {
				t.Fatalf("applied %s, never written", bookGen(b))
			}
			break primed
		case err := <-w.rejected:
			t.Fatalf("rejected: %v", err)
		case <-tick.C:
			next()
		case <-deadline:
			t.Fatal("the watcher never applied a ConfigMap update")
		}
	}
	old := append([]string(nil), stale...)
	w.waitApply(t, next(), old...)
}

func TestWatchMissingFolder(t *testing.T) {
	err := Watch(context.Background(), filepath.Join(t.TempDir(), "nope", "rules.yaml"),
		func(*Book) { t.Error("apply called") }, func(error) { t.Error("reject called") })
	if err == nil || !strings.Contains(err.Error(), "watch rules folder") {
		t.Errorf("Watch on a missing folder = %v, want an error naming the folder", err)
	}
}
