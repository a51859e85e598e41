package slack

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/kelseyhightower/envconfig"

	"github.com/cardwatch/cardwatch/notifiers"
	"github.com/cardwatch/cardwatch/rules"
)

// env is how the settings read from the environment, by their full names: with a
// prefix, envconfig would also take a bare SLACK_BOT_TOKEN, the name Slack's own tools
// use, and post with a bot nobody meant for cardwatch.
type env struct {
	BotToken      string `envconfig:"CARDWATCH_SLACK_BOT_TOKEN"`
	SigningSecret string `envconfig:"CARDWATCH_SLACK_SIGNING_SECRET"`
	APIURL        string `envconfig:"CARDWATCH_SLACK_API_URL" default:"https://slack.com/api/"`
}

func readEnv() (env, error) {
	var e env
	if err := envconfig.Process("", &e); err != nil {
		return e, fmt.Errorf("slack settings: %w", err)
	}
	return e, nil
}

// FromEnv builds the notifier from CARDWATCH_SLACK_* variables. ok is false, with no
// error, when no bot token is set: Slack is off.
func FromEnv() (n *Notifier, ok bool, err error) {
	e, err := readEnv()
	if err != nil || e.BotToken == "" {
		return nil, false, err
	}
	if e.SigningSecret == "" {
		// Without it the buttons in every message would be refused.
		return nil, false, errors.New("CARDWATCH_SLACK_SIGNING_SECRET is required with CARDWATCH_SLACK_BOT_TOKEN: the alert buttons need it")
	}
	n, err = New(Config{BotToken: e.BotToken, APIURL: e.APIURL})
	return n, err == nil, err
}

// RoutesFromEnv builds the interactions webhook ("POST /slack/interactions") for the
// alert buttons; none, with no error, when Slack is off.
func RoutesFromEnv(answers notifiers.Answers, cardholder func(bank, id string) *rules.Cardholder, log *slog.Logger) (map[string]http.Handler, error) {
	e, err := readEnv()
	if err != nil || e.BotToken == "" {
		return nil, err
	}
	h, err := NewInteractions(InteractionsConfig{SigningSecret: e.SigningSecret, Answers: answers, Cardholder: cardholder, Log: log})
	if err != nil {
		return nil, err
	}
	return map[string]http.Handler{http.MethodPost + " " + InteractionsPath: h}, nil
}
