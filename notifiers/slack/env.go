package slack

import (
	"fmt"

	"github.com/kelseyhightower/envconfig"
)

// env is how the settings read from the environment (CARDWATCH_SLACK_*).
type env struct {
	BotToken string `envconfig:"SLACK_BOT_TOKEN"`
	APIURL   string `envconfig:"SLACK_API_URL" default:"https://slack.com/api/"`
}

// FromEnv builds the notifier from <prefix>_SLACK_* variables. ok is false, with no
// error, when no bot token is set: Slack is off.
func FromEnv(prefix string) (n *Notifier, ok bool, err error) {
	var e env
	if err := envconfig.Process(prefix, &e); err != nil {
		return nil, false, fmt.Errorf("slack settings: %w", err)
	}
	if e.BotToken == "" {
		return nil, false, nil
	}
	n, err = New(Config{BotToken: e.BotToken, APIURL: e.APIURL})
	return n, err == nil, err
}
