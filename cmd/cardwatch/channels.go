package main

import (
	"errors"
	"io"
	"log/slog"
	"net/http"

	"github.com/cardwatch/cardwatch/notifiers"
	"github.com/cardwatch/cardwatch/notifiers/console"
	"github.com/cardwatch/cardwatch/notifiers/slack"
	"github.com/cardwatch/cardwatch/notifiers/twilio"
	"github.com/cardwatch/cardwatch/rules"
)

// channelsFromEnv is every channel cardwatch can send through, each reading its own
// CARDWATCH_<CHANNEL>_* settings, with the callbacks it serves. Adding a channel is its
// folder plus one line here.
var channelsFromEnv = []channel{
	{fromEnv(twilio.FromEnv), func(d routeDeps) (map[string]http.Handler, error) {
		return twilio.RoutesFromEnv(d.answers, d.log)
	}},
	{fromEnv(slack.FromEnv), func(d routeDeps) (map[string]http.Handler, error) {
		return slack.RoutesFromEnv(d.answers, d.cardholder, d.log)
	}},
}

// channel is one way to reach cardholders: its notifier and its callback routes.
type channel struct {
	notifier func() (notifiers.Notifier, bool, error)
	routes   func(routeDeps) (map[string]http.Handler, error)
}

// routeDeps is what callback handlers need from the running cardwatch.
type routeDeps struct {
	answers    notifiers.Answers
	cardholder func(bank, id string) *rules.Cardholder
	log        *slog.Logger
	// inFlight collects handlers that finish work after answering (Slack's), to be
	// waited for at shutdown before NATS closes.
	inFlight *[]interface{ Wait() }
}

// mount adds a channel's routes to mux, keeping those that work after answering.
func (d routeDeps) mount(mux *http.ServeMux, routes map[string]http.Handler) {
	for pattern, h := range routes {
		mux.Handle(pattern, h)
		if w, ok := h.(interface{ Wait() }); ok && d.inFlight != nil {
			*d.inFlight = append(*d.inFlight, w)
		}
	}
}

// fromEnv adapts a channel package's FromEnv to the list's type.
func fromEnv[N notifiers.Notifier](f func() (N, bool, error)) func() (notifiers.Notifier, bool, error) {
	return func() (notifiers.Notifier, bool, error) {
		n, ok, err := f()
		return n, ok, err
	}
}

// channelRoutes mounts every configured channel's callbacks on mux.
func channelRoutes(mux *http.ServeMux, d routeDeps) error {
	var errs []error
	for _, c := range channelsFromEnv {
		routes, err := c.routes(d)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		d.mount(mux, routes)
	}
	return errors.Join(errs...)
}

// channels builds the notifiers the settings turn on, and reports every bad setting at
// once. With none configured, the console notifier prints each message, so the embedded
// default works with no provider account.
func channels(stdout io.Writer) ([]notifiers.Notifier, error) {
	var out []notifiers.Notifier
	var errs []error
	for _, c := range channelsFromEnv {
		n, ok, err := c.notifier()
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
