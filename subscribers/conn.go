package subscribers

import (
	"fmt"
	"log/slog"
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
	nc, err := nats.Connect(cfg.URLs, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS: %w", err)
	}
	return nc, nil
}
