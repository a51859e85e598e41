package subscribers

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// ConnConfig says how to reach NATS.
type ConnConfig struct {
	// URLs is one URL or a comma-separated list of a cluster's URLs.
	URLs string
	// Creds is a NATS credentials file, or "".
	Creds string
	// Name is the connection's name as the server's monitoring shows it.
	Name string
	// TLSCA is a PEM file of the CA that signed the servers' certificates; "" trusts
	// the system's roots.
	TLSCA string
	// TLSCert and TLSKey are PEM files of cardwatch's client certificate and its key,
	// for servers that verify clients.
	TLSCert, TLSKey string
	// TLSServerName is the name the servers' certificates are checked against; ""
	// uses each URL's host.
	TLSServerName string
	// OnClosed is called when the connection is closed for good (not on a disconnect,
	// which reconnects): the process should stop and be restarted, not idle.
	OnClosed func()
}

// Connect connects to NATS and keeps reconnecting forever: losing the server must never
// stop cardwatch, only pause it (readiness tells load balancers meanwhile).
func Connect(cfg ConnConfig, log *slog.Logger) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name(cfg.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.RetryOnFailedConnect(false),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("NATS disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("NATS reconnected", "server", nc.ConnectedUrlRedacted())
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subj := ""
			if sub != nil {
				subj = sub.Subject
			}
			log.Error("NATS error", "subject", subj, "err", err)
		}),
	}
	if cfg.OnClosed != nil {
		opts = append(opts, nats.ClosedHandler(func(*nats.Conn) { cfg.OnClosed() }))
	}
	if cfg.Creds != "" {
		opts = append(opts, nats.UserCredentials(cfg.Creds))
	}
	if cfg.tls() {
		tc, err := cfg.tlsConfig()
		if err != nil {
			return nil, err
		}
		opts = append(opts, nats.Secure(tc))
	}
	nc, err := nats.Connect(cfg.URLs, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS: %w%s", err, tlsHint(cfg, err))
	}
	return nc, nil
}

// tlsHint says which setting a TLS failure points to.
func tlsHint(cfg ConnConfig, err error) string {
	var host x509.HostnameError
	var authority x509.UnknownAuthorityError
	switch {
	case errors.As(err, &host):
		return " (set CARDWATCH_NATS_TLS_SERVER_NAME to a name the server's certificate is for)"
	case errors.As(err, &authority):
		return " (set CARDWATCH_NATS_TLS_CA to the CA that signed the server's certificate)"
	case cfg.TLSCert == "" && strings.Contains(err.Error(), "certificate required"):
		return " (the server wants a client certificate: set CARDWATCH_NATS_TLS_CERT and CARDWATCH_NATS_TLS_KEY)"
	case cfg.TLSCert == "" && strings.Contains(err.Error(), "tls"):
		// A server that refuses a client without a certificate may just hang up (the
		// alert saying why is lost when our write comes first).
		return " (if the server verifies clients, set CARDWATCH_NATS_TLS_CERT and CARDWATCH_NATS_TLS_KEY)"
	}
	return ""
}

func (cfg ConnConfig) tls() bool {
	return cfg.TLSCA != "" || cfg.TLSCert != "" || cfg.TLSKey != "" || cfg.TLSServerName != ""
}

// tlsConfig reads the TLS files. Its errors name the files, never what is in them.
func (cfg ConnConfig) tlsConfig() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: cfg.TLSServerName}
	if cfg.TLSCA != "" {
		pem, err := os.ReadFile(cfg.TLSCA)
		if err != nil {
			return nil, fmt.Errorf("NATS TLS CA: %w (CARDWATCH_NATS_TLS_CA)", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("NATS TLS CA %s: no PEM certificate in it (CARDWATCH_NATS_TLS_CA)", cfg.TLSCA)
		}
		tc.RootCAs = pool
	}
	if cfg.TLSCert != "" || cfg.TLSKey != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("NATS TLS client certificate %s and key %s: %w (CARDWATCH_NATS_TLS_CERT, CARDWATCH_NATS_TLS_KEY)",
				cfg.TLSCert, cfg.TLSKey, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}
