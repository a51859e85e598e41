package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/kelseyhightower/envconfig"

	"github.com/cardwatch/cardwatch/notifiers"
	"github.com/cardwatch/cardwatch/subscribers"
)

// Secret is a setting that must never be printed; it prints as <secret>.
type Secret string

func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "<secret>"
}

// GoString keeps %#v from printing the value either.
func (s Secret) GoString() string { return s.String() }

// LogValue keeps slog from printing the value.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// Config is cardwatch's core settings. Each channel reads its own settings in its own
// package (see channels.go), so adding a channel does not grow this struct.
type Config struct {
	NatsURL          string        `envconfig:"CARDWATCH_NATS_URL"`
	NatsCreds        string        `envconfig:"CARDWATCH_NATS_CREDS"`
	EmbeddedNatsAddr string        `envconfig:"CARDWATCH_EMBEDDED_NATS_ADDR" default:"127.0.0.1:4222"`
	DataDir          string        `envconfig:"CARDWATCH_DATA_DIR"`
	SubjectPrefix    string        `envconfig:"CARDWATCH_SUBJECT_PREFIX" default:"cardwatch"`
	RulesFile        string        `envconfig:"CARDWATCH_RULES_FILE"`
	HTTPAddr         string        `envconfig:"CARDWATCH_HTTP_ADDR" default:"127.0.0.1:8080"`
	PublicURL        string        `envconfig:"CARDWATCH_PUBLIC_URL" default:"http://127.0.0.1:8080"`
	SigningKey       Secret        `envconfig:"CARDWATCH_SIGNING_KEY"`
	ReportTTL        time.Duration `envconfig:"CARDWATCH_REPORT_TTL" default:"168h"`
	AnswerMaxAge     time.Duration `envconfig:"CARDWATCH_ANSWER_MAX_AGE" default:"720h"`
	Retention        time.Duration `envconfig:"CARDWATCH_RETENTION" default:"4320h"`
	StreamReplicas   int           `envconfig:"CARDWATCH_STREAM_REPLICAS" default:"1"`
	Partitions       int           `envconfig:"CARDWATCH_PARTITIONS"`
	Workers          int           `envconfig:"CARDWATCH_WORKERS" default:"64"`
	MaxAckPending    int           `envconfig:"CARDWATCH_MAX_ACK_PENDING" default:"4096"`
	DeliveryWorkers  int           `envconfig:"CARDWATCH_DELIVERY_WORKERS" default:"32"`
	DeliveryMaxAge   time.Duration `envconfig:"CARDWATCH_DELIVERY_MAX_AGE" default:"1h"`
	AckWait          time.Duration `envconfig:"CARDWATCH_ACK_WAIT" default:"30s"`
	DeliveryAckWait  time.Duration `envconfig:"CARDWATCH_DELIVERY_ACK_WAIT" default:"2s"`
	ShutdownTimeout  time.Duration `envconfig:"CARDWATCH_SHUTDOWN_TIMEOUT" default:"20s"`
	LogFormat        string        `envconfig:"CARDWATCH_LOG_FORMAT" default:"text"`
	// TrustedProxies are the CIDRs of the proxies in front of cardwatch, whose
	// X-Forwarded-For is believed for rate limits.
	TrustedProxies []string `envconfig:"CARDWATCH_TRUSTED_PROXIES"`

	// NatsTLSCA, NatsTLSCert and NatsTLSKey are PEM files: the CA that signed the NATS
	// servers' certificates, and cardwatch's client certificate and key for servers that
	// verify clients. Any NATS TLS setting makes TLS required.
	NatsTLSCA         string `envconfig:"CARDWATCH_NATS_TLS_CA"`
	NatsTLSCert       string `envconfig:"CARDWATCH_NATS_TLS_CERT"`
	NatsTLSKey        string `envconfig:"CARDWATCH_NATS_TLS_KEY"`
	NatsTLSServerName string `envconfig:"CARDWATCH_NATS_TLS_SERVER_NAME"`
	// MetricsAddr, when set, is an internal listener for /metrics (and /healthz,
	// /readyz), and /metrics leaves the public one.
	MetricsAddr string `envconfig:"CARDWATCH_METRICS_ADDR"`
	// HTTPMaxConns and HTTPMaxConnsPerClient bound the open connections of the public
	// listener, in all and per client address (an IPv6 /64 is one client).
	HTTPMaxConns          int `envconfig:"CARDWATCH_HTTP_MAX_CONNS" default:"1024"`
	HTTPMaxConnsPerClient int `envconfig:"CARDWATCH_HTTP_MAX_CONNS_PER_CLIENT" default:"64"`
}

// trustedNets parses TrustedProxies; Validate has checked them.
func (c Config) trustedNets() []*net.IPNet {
	var out []*net.IPNet
	for _, s := range c.TrustedProxies {
		if _, n, err := net.ParseCIDR(strings.TrimSpace(s)); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// natsTLS says whether any NATS TLS setting is given.
func (c Config) natsTLS() bool {
	return c.NatsTLSCA != "" || c.NatsTLSCert != "" || c.NatsTLSKey != "" || c.NatsTLSServerName != ""
}

// loadConfig reads the core settings from the environment.
func loadConfig() (Config, error) {
	var c Config
	// Full names, no prefix: with a prefix, envconfig also reads the bare name
	// (WORKERS, DATA_DIR), which other software may have set.
	if err := envconfig.Process("", &c); err != nil {
		return c, fmt.Errorf("settings: %w", err)
	}
	return c, c.Validate()
}

// Validate reports every bad setting at once, naming its variable.
func (c Config) Validate() error {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("CARDWATCH_%s: %s", name, fmt.Sprintf(format, args...)))
	}
	for _, tok := range strings.Split(c.SubjectPrefix, ".") {
		if tok == "" || strings.ContainsAny(tok, " *>\t") {
			bad("SUBJECT_PREFIX", "%q is not a NATS subject prefix", c.SubjectPrefix)
			break
		}
	}
	if c.NatsURL == "" {
		if _, _, err := net.SplitHostPort(c.EmbeddedNatsAddr); err != nil {
			bad("EMBEDDED_NATS_ADDR", "%q is not host:port", c.EmbeddedNatsAddr)
		}
	}
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		bad("HTTP_ADDR", "%q is not host:port", c.HTTPAddr)
	}
	if c.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			bad("METRICS_ADDR", "%q is not host:port", c.MetricsAddr)
		}
	}
	if c.HTTPMaxConns < 1 {
		bad("HTTP_MAX_CONNS", "must be at least 1")
	}
	if c.HTTPMaxConnsPerClient < 1 || c.HTTPMaxConnsPerClient > c.HTTPMaxConns {
		bad("HTTP_MAX_CONNS_PER_CLIENT", "must be 1 to CARDWATCH_HTTP_MAX_CONNS")
	}
	if (c.NatsTLSCert == "") != (c.NatsTLSKey == "") {
		bad("NATS_TLS_CERT", "and CARDWATCH_NATS_TLS_KEY go together: set both or neither")
	}
	if c.NatsURL == "" && c.natsTLS() {
		bad("NATS_TLS_CA", "the CARDWATCH_NATS_TLS_* settings are for CARDWATCH_NATS_URL; the embedded server (no URL) listens without TLS")
	}
	if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("PUBLIC_URL", "%q is not an http(s) URL", c.PublicURL)
	}
	if c.SigningKey != "" && len(c.SigningKey) < notifiers.MinSigningKey {
		bad("SIGNING_KEY", "is %d bytes; it must be at least %d", len(c.SigningKey), notifiers.MinSigningKey)
	} else if c.SigningKey != "" && distinctBytes(string(c.SigningKey)) < minKeyBytes {
		// A placeholder ("aaaa…", "0000…", "changeme changeme …") is a key anyone can guess.
		bad("SIGNING_KEY", "has fewer than %d different characters: it looks like a placeholder; use a random key (openssl rand -base64 32)", minKeyBytes)
	}
	if c.ReportTTL < time.Minute {
		bad("REPORT_TTL", "must be at least 1m (links expire to the minute)")
	}
	if c.Retention <= 0 {
		bad("RETENTION", "must be positive")
	}
	if c.AnswerMaxAge <= 0 {
		bad("ANSWER_MAX_AGE", "must be positive")
	}
	if c.Partitions < 0 || c.Partitions > subscribers.MaxPartitions {
		bad("PARTITIONS", "must be 1 to %d (empty: %d for a new stream, else the stream's own)", subscribers.MaxPartitions, subscribers.DefaultPartitions)
	}
	if c.StreamReplicas < 1 || c.StreamReplicas > 5 {
		bad("STREAM_REPLICAS", "must be 1 to 5")
	}
	if c.Workers < 1 {
		bad("WORKERS", "must be at least 1")
	}
	if c.MaxAckPending < c.Workers {
		bad("MAX_ACK_PENDING", "must be at least CARDWATCH_WORKERS")
	}
	if c.DeliveryWorkers < 1 {
		bad("DELIVERY_WORKERS", "must be at least 1")
	}
	if c.AckWait < time.Second {
		bad("ACK_WAIT", "must be at least 1s")
	}
	if c.DeliveryAckWait < time.Second {
		bad("DELIVERY_ACK_WAIT", "must be at least 1s")
	}
	if c.DeliveryMaxAge <= 0 {
		bad("DELIVERY_MAX_AGE", "must be positive")
	}
	if c.ShutdownTimeout <= 0 {
		bad("SHUTDOWN_TIMEOUT", "must be positive")
	}
	for _, p := range c.TrustedProxies {
		if _, _, err := net.ParseCIDR(strings.TrimSpace(p)); err != nil {
			bad("TRUSTED_PROXIES", "%q is not a CIDR like 10.0.0.0/8", p)
		}
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		bad("LOG_FORMAT", "must be text or json")
	}
	return errors.Join(errs...)
}

// LogValue lists the settings for the start-up log line, secrets as <secret>.
func (c Config) LogValue() slog.Value {
	nats := c.NatsURL
	if nats == "" {
		nats = "embedded on " + c.EmbeddedNatsAddr
	} else {
		nats = redactURLs(nats)
	}
	return slog.GroupValue(
		slog.String("nats", nats),
		slog.String("subject_prefix", c.SubjectPrefix),
		slog.String("rules_file", c.RulesFile),
		slog.Bool("nats_tls", c.natsTLS()),
		slog.String("http_addr", c.HTTPAddr),
		slog.String("metrics_addr", c.MetricsAddr),
		slog.String("public_url", c.PublicURL),
		slog.Any("signing_key", c.SigningKey),
		slog.Duration("retention", c.Retention),
		slog.Int("workers", c.Workers),
	)
}

// redactURLs hides passwords and tokens in NATS URLs ("nats://u:p@host").
func redactURLs(list string) string {
	parts := strings.Split(list, ",")
	for i, p := range parts {
		if u, err := url.Parse(strings.TrimSpace(p)); err == nil && u.User != nil {
			u.User = url.User("<secret>")
			parts[i] = u.String()
		}
	}
	return strings.Join(parts, ",")
}

// minKeyBytes is the fewest different bytes a signing key may have: a random 32-byte key
// in hex has about 14, in base64 about 25; a placeholder has a few.
const minKeyBytes = 10

// distinctBytes counts the different bytes of s.
func distinctBytes(s string) int {
	var seen [256]bool
	n := 0
	for i := range len(s) {
		if !seen[s[i]] {
			seen[s[i]] = true
			n++
		}
	}
	return n
}
