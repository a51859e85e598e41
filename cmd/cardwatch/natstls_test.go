package main

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cardwatch/cardwatch/rules"
)

// The CARDWATCH_NATS_TLS_* settings reach the connection: with any of them, cardwatch
// speaks only TLS to NATS (a server without TLS is refused, not used in the clear), and a
// file it cannot read is named with its setting. The handshake itself is tested against a
// TLS server in subscribers.
func TestNATSTLSSettingsReachTheConnection(t *testing.T) {
	e := newEnv(t)
	book, err := rules.Load(e.rules)
	if err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "ca.pem")
	for _, c := range []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"a CA file that is not there", map[string]string{"CARDWATCH_NATS_TLS_CA": missing}, []string{missing, "CARDWATCH_NATS_TLS_CA"}},
		{"a server without TLS", map[string]string{"CARDWATCH_NATS_TLS_SERVER_NAME": "nats.internal"}, []string{"secure connection not available"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("CARDWATCH_NATS_URL", e.url)
			t.Setenv("CARDWATCH_HTTP_ADDR", "127.0.0.1:0")
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			cfg, err := loadConfig()
			if err != nil {
				t.Fatal(err)
			}
			a := &app{cfg: cfg, book: book, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
			// Bounded, so that a cardwatch that connects anyway fails the test, not hangs it.
			ctx, cancel := context.WithTimeout(context.Background(), waitFor)
			defer cancel()
			err = a.run(ctx)
			if err == nil {
				t.Fatal("cardwatch ran without TLS")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestNATSTLSSettingsAreValidated(t *testing.T) {
	for _, c := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"a certificate without its key", map[string]string{"CARDWATCH_NATS_URL": "tls://nats:4222", "CARDWATCH_NATS_TLS_CERT": "c.pem"},
			"CARDWATCH_NATS_TLS_CERT: and CARDWATCH_NATS_TLS_KEY go together"},
		{"a key without its certificate", map[string]string{"CARDWATCH_NATS_URL": "tls://nats:4222", "CARDWATCH_NATS_TLS_KEY": "k.pem"},
			"CARDWATCH_NATS_TLS_CERT: and CARDWATCH_NATS_TLS_KEY go together"},
		{"TLS for the embedded server", map[string]string{"CARDWATCH_NATS_TLS_CA": "ca.pem"},
			"CARDWATCH_NATS_TLS_CA: the CARDWATCH_NATS_TLS_* settings are for CARDWATCH_NATS_URL"},
		{"a metrics address that is not host:port", map[string]string{"CARDWATCH_METRICS_ADDR": "9090"},
			`CARDWATCH_METRICS_ADDR: "9090" is not host:port`},
		{"no connections per client", map[string]string{"CARDWATCH_HTTP_MAX_CONNS_PER_CLIENT": "0"},
			"CARDWATCH_HTTP_MAX_CONNS_PER_CLIENT: must be 1 to CARDWATCH_HTTP_MAX_CONNS"},
		{"a report link TTL under a minute", map[string]string{"CARDWATCH_REPORT_TTL": "30s"},
			"CARDWATCH_REPORT_TTL: must be at least 1m"},
		{"a placeholder signing key", map[string]string{"CARDWATCH_SIGNING_KEY": strings.Repeat("a", 32)},
			"CARDWATCH_SIGNING_KEY: has fewer than 10 different characters"},
		{"a repeated word as the signing key", map[string]string{"CARDWATCH_SIGNING_KEY": strings.Repeat("change", 6)},
			"CARDWATCH_SIGNING_KEY: has fewer than 10 different characters"},
	} {
		t.Run(c.name, func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			_, err := loadConfig()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want %q", err, c.want)
			}
			if key := c.env["CARDWATCH_SIGNING_KEY"]; key != "" && err != nil && strings.Contains(err.Error(), key) {
				t.Errorf("the error shows the key: %v", err)
			}
		})
	}
	// A random key, in hex or in base64, is taken.
	for _, key := range []string{"9f86d081884c7d659a2feaa0c55ad015", "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg="} {
		t.Setenv("CARDWATCH_SIGNING_KEY", key)
		if _, err := loadConfig(); err != nil {
			t.Errorf("a random key refused: %v", err)
		}
	}
}
