package subscribers

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// EmbeddedConfig is where the embedded NATS server listens and keeps its store.
type EmbeddedConfig struct {
	// Addr is host:port; port 0 picks a free one (tests).
	Addr string
	// DataDir is the JetStream store; empty uses DefaultDataDir().
	DataDir string
}

// DefaultDataDir is the embedded server's store when CARDWATCH_DATA_DIR is not set: a
// folder under the user's cache dir, so a laptop keeps its state between runs.
func DefaultDataDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "cardwatch", "nats")
}

// StartEmbedded starts a NATS server with JetStream in this process, so that cardwatch
// runs with nothing else installed and the nats CLI or a bank's publisher can connect.
func StartEmbedded(cfg EmbeddedConfig) (*server.Server, error) {
	host, portText, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS address %q: %w (set CARDWATCH_EMBEDDED_NATS_ADDR to host:port)", cfg.Addr, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 0 || port > 65535 {
		return nil, fmt.Errorf("embedded NATS address %q: bad port (set CARDWATCH_EMBEDDED_NATS_ADDR to host:port)", cfg.Addr)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	} else if err := portFree(cfg.Addr); err != nil {
		return nil, err
	}
	dir := cfg.DataDir
	if dir == "" {
		dir = DefaultDataDir()
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("embedded NATS store %s: %w (set CARDWATCH_DATA_DIR)", dir, err)
	}
	opts := &server.Options{
		ServerName: "cardwatch-embedded",
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   dir,
		NoSigs:     true, // cardwatch handles signals itself
		NoLog:      true,
		MaxPayload: 1 << 20,
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(15 * time.Second) {
		ns.Shutdown()
		return nil, fmt.Errorf("embedded NATS on %s did not start within 15s (store %s)", cfg.Addr, dir)
	}
	return ns, nil
}

// portFree turns "address already in use" into an error that says what to set, which
// the server itself would only log.
func portFree(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("embedded NATS cannot listen on %s: the port is taken (another cardwatch or nats-server?); "+
				"set CARDWATCH_EMBEDDED_NATS_ADDR to a free address such as 127.0.0.1:4223, "+
				"or CARDWATCH_NATS_URL to use the server that is running", addr)
		}
		return fmt.Errorf("embedded NATS cannot listen on %s: %w (set CARDWATCH_EMBEDDED_NATS_ADDR)", addr, err)
	}
	return l.Close()
}
