package twilio

import (
	"fmt"

	"github.com/kelseyhightower/envconfig"
)

// env is how the settings read from the environment (CARDWATCH_TWILIO_*).
type env struct {
	AccountSID string `envconfig:"TWILIO_ACCOUNT_SID"`
	AuthToken  string `envconfig:"TWILIO_AUTH_TOKEN"`
	From       string `envconfig:"TWILIO_FROM"`
	APIURL     string `envconfig:"TWILIO_API_URL" default:"https://api.twilio.com"`
}

// FromEnv builds the notifier from <prefix>_TWILIO_* variables. ok is false, with no
// error, when none of the account settings is set: SMS is off.
func FromEnv(prefix string) (n *Notifier, ok bool, err error) {
	var e env
	if err := envconfig.Process(prefix, &e); err != nil {
		return nil, false, fmt.Errorf("twilio settings: %w", err)
	}
	if e.AccountSID == "" && e.AuthToken == "" && e.From == "" {
		return nil, false, nil
	}
	n, err = New(Config{AccountSID: e.AccountSID, AuthToken: e.AuthToken, From: e.From, APIURL: e.APIURL})
	return n, err == nil, err
}
