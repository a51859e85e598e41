package twilio

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/kelseyhightower/envconfig"

	"github.com/cardwatch/cardwatch/notifiers"
)

// env is how the settings read from the environment (CARDWATCH_TWILIO_*).
type env struct {
	AccountSID string  `envconfig:"CARDWATCH_TWILIO_ACCOUNT_SID"`
	AuthToken  string  `envconfig:"CARDWATCH_TWILIO_AUTH_TOKEN"`
	From       string  `envconfig:"CARDWATCH_TWILIO_FROM"`
	APIURL     string  `envconfig:"CARDWATCH_TWILIO_API_URL" default:"https://api.twilio.com"`
	MPS        float64 `envconfig:"CARDWATCH_TWILIO_MPS" default:"10"`
	// PublicURL is the core setting; the webhooks are under it. Its default must stay
	// cmd/cardwatch's.
	PublicURL string `envconfig:"CARDWATCH_PUBLIC_URL" default:"http://127.0.0.1:8080"`
}

// readEnv reads the variables by their full names: with a prefix, envconfig would also
// take a bare TWILIO_AUTH_TOKEN, the name Twilio's own SDKs tell people to export, and
// turn SMS on with an account nobody meant for cardwatch.
func readEnv() (e env, on bool, err error) {
	if err := envconfig.Process("", &e); err != nil {
		return e, false, fmt.Errorf("twilio settings: %w", err)
	}
	return e, e.AccountSID != "" || e.AuthToken != "" || e.From != "", nil
}

// FromEnv builds the notifier from CARDWATCH_TWILIO_* variables. ok is false, with no
// error, when none of the account settings is set: SMS is off. Messages ask for
// delivery receipts at CARDWATCH_PUBLIC_URL + StatusPath unless that URL is on the
// loopback (the default), which Twilio cannot reach.
func FromEnv() (n *Notifier, ok bool, err error) {
	e, on, err := readEnv()
	if err != nil || !on {
		return nil, false, err
	}
	cfg := Config{AccountSID: e.AccountSID, AuthToken: e.AuthToken, From: e.From, APIURL: e.APIURL, MPS: e.MPS}
	if u, err := url.Parse(e.PublicURL); err == nil && !loopback(u.Hostname()) {
		// A malformed URL is left to the core settings' check, which names it.
		cfg.StatusCallback = strings.TrimRight(e.PublicURL, "/") + StatusPath
	}
	n, err = New(cfg)
	return n, err == nil, err
}

// RoutesFromEnv builds Twilio's webhooks from the same variables, keyed by the pattern
// to mount each on ("POST /twilio/inbound", "POST /twilio/status"). It returns none,
// with no error, when SMS is off.
func RoutesFromEnv(answers notifiers.Answers, log *slog.Logger) (map[string]http.Handler, error) {
	e, on, err := readEnv()
	if err != nil || !on {
		return nil, err
	}
	cfg := InboundConfig{AuthToken: e.AuthToken, PublicURL: e.PublicURL, Answers: answers, Log: log}
	in, err := NewInbound(cfg)
	if err != nil {
		return nil, err
	}
	st, err := NewStatus(cfg)
	if err != nil {
		return nil, err
	}
	return map[string]http.Handler{
		http.MethodPost + " " + InboundPath: in,
		http.MethodPost + " " + StatusPath:  st,
	}, nil
}

func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
