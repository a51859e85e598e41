package main

import (
	"errors"
	"io"

	"github.com/cardwatch/cardwatch/notifiers"
	"github.com/cardwatch/cardwatch/notifiers/console"
	"github.com/cardwatch/cardwatch/notifiers/slack"
	"github.com/cardwatch/cardwatch/notifiers/twilio"
)

// channelsFromEnv is every channel cardwatch can send through, each reading its own
// CARDWATCH_<CHANNEL>_* settings. Adding a channel is its folder plus one line here.
var channelsFromEnv = []func(prefix string) (notifiers.Notifier, bool, error){
	fromEnv(twilio.FromEnv),
	fromEnv(slack.FromEnv),
}

// fromEnv adapts a channel package's FromEnv to the list's type.
func fromEnv[N notifiers.Notifier](f func(string) (N, bool, error)) func(string) (notifiers.Notifier, bool, error) {
	return func(prefix string) (notifiers.Notifier, bool, error) {
		n, ok, err := f(prefix)
		return n, ok, err
	}
}

// channels builds the notifiers the settings turn on, and reports every bad setting at
// once. With none configured, the console notifier prints each message, so the embedded
// default works with no provider account.
func channels(stdout io.Writer) ([]notifiers.Notifier, error) {
	var out []notifiers.Notifier
	var errs []error
	for _, build := range channelsFromEnv {
		n, ok, err := build(envPrefix)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ok {
			out = append(out, n)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(out) == 0 {
		out = append(out, console.New(stdout))
	}
	return out, nil
}
