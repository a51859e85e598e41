package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/cardwatch/cardwatch/notifiers"
)

// httpTimeouts bound how long one connection may take over each part of its life, so
// that a slow client (slowloris, a trickled body, an idle keep-alive) cannot hold a
// connection for ever.
type httpTimeouts struct {
	ReadHeader, Read, Write, Idle time.Duration
}

// defaultHTTPTimeouts suit what the listener serves: webhooks from Twilio and Slack and a
// form POST, all a few kilobytes, and pages rendered from memory. Slack wants its answer
// within 3 seconds and Twilio within 15, so no honest request comes near these.
var defaultHTTPTimeouts = httpTimeouts{
	ReadHeader: 5 * time.Second,
	Read:       15 * time.Second,
	Write:      15 * time.Second,
	Idle:       30 * time.Second,
}

// newHTTPServer is an HTTP server with the timeouts set; the same for the public and the
// metrics listener.
func newHTTPServer(h http.Handler, t httpTimeouts) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: t.ReadHeader,
		ReadTimeout:       t.Read,
		WriteTimeout:      t.Write,
		IdleTimeout:       t.Idle,
		// The largest honest request header is Twilio's, well under this.
		MaxHeaderBytes: 64 << 10,
	}
}

// listenPublic opens the public listener, with its open connections bounded per client
// and in total (connections from the trusted proxies count only in the total).
func listenPublic(cfg Config) (net.Listener, error) {
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("HTTP listener on %s: %w (set CARDWATCH_HTTP_ADDR)", cfg.HTTPAddr, err)
	}
	return notifiers.LimitConns(ln, cfg.HTTPMaxConns, cfg.HTTPMaxConnsPerClient, cfg.trustedNets()...), nil
}

// serveHTTP serves srv on ln until srv is shut down.
func serveHTTP(srv *http.Server, ln net.Listener, log *slog.Logger, name string) {
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("HTTP server", "listener", name, "err", err)
	}
}

// loopbackAddr says whether host:port listens on loopback only (so its /metrics is not
// on the network).
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
