package rules

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Watch reloads the rules file whenever it changes and calls apply with each good Book,
// or reject with the errors of a bad one (the caller keeps the last good Book). It
// watches the file's folder, not the file, because editors and Kubernetes ConfigMaps
// replace a file rather than write into it. It returns when ctx ends.
func Watch(ctx context.Context, path string, apply func(*Book), reject func(error)) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch rules file: %w", err)
	}
	defer w.Close()
	dir := filepath.Dir(path)
	if err := w.Add(dir); err != nil {
		return fmt.Errorf("watch rules folder %s: %w", dir, err)
	}
	name := filepath.Base(path)
	// Changes come in bursts (truncate, write, rename); wait for the burst to end so a
	// half-written file is not read.
	const settle = 100 * time.Millisecond
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			// ConfigMaps swap a "..data" symlink; any change in the folder may be ours.
			if filepath.Base(ev.Name) == name || filepath.Base(ev.Name) == "..data" {
				timer.Reset(settle)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			reject(fmt.Errorf("watch rules file: %w", err))
		case <-timer.C:
			b, err := Load(path)
			if err != nil {
				reject(err)
				continue
			}
			apply(b)
		}
	}
}
