package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Without CARDWATCH_SIGNING_KEY, the embedded default makes a key once and keeps it
// beside its store, so that a restart still delivers, answers and knows what it sealed
// before; a kept key that is short or a placeholder is refused, not used.
func TestStoredSigningKeyOutlivesARestart(t *testing.T) {
	dir := t.TempDir()
	first, made, err := storedSigningKey(dir)
	if err != nil || !made || len(first) != 32 {
		t.Fatalf("first start: %d bytes, made %v, %v", len(first), made, err)
	}
	info, err := os.Stat(filepath.Join(dir, "signing.key"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("kept key: %v, mode %v; want readable by this user only", err, info.Mode().Perm())
	}
	again, made, err := storedSigningKey(dir)
	if err != nil || made || !bytes.Equal(first, again) {
		t.Fatalf("second start: made %v, same %v, %v", made, bytes.Equal(first, again), err)
	}
	for _, bad := range []string{"short", strings.Repeat("a", 40)} {
		if err := os.WriteFile(filepath.Join(dir, "signing.key"), []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := storedSigningKey(dir); err == nil || strings.Contains(err.Error(), bad) {
			t.Errorf("kept key %q: error %v, want a refusal that does not show it", bad, err)
		}
	}
}
