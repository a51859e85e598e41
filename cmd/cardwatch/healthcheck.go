package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// healthcheckCmd asks the cardwatch of this host for /healthz (/readyz with -ready) and
// succeeds on a 200: the check a container with no shell or curl (distroless) can run.
// It asks the internal listener when CARDWATCH_METRICS_ADDR is set, else the public one.
func healthcheckCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("cardwatch healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	ready := fs.Bool("ready", false, "ask /readyz (NATS connected, streams there, rules loaded) instead of /healthz")
	timeout := fs.Duration("timeout", 3*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil || fs.NArg() != 0 {
		fmt.Fprint(stderr, "usage: cardwatch healthcheck [-ready] [-timeout 3s]\n")
		return 2
	}
	c, err := loadConfig()
	if err != nil {
		fmt.Fprintf(stderr, "cardwatch healthcheck: %v\n", err)
		return 1
	}
	addr := c.HTTPAddr
	if c.MetricsAddr != "" {
		addr = c.MetricsAddr
	}
	path := "/healthz"
	if *ready {
		path = "/readyz"
	}
	url := "http://" + dialable(addr) + path
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		fmt.Fprintf(stderr, "cardwatch healthcheck: %v\n", err)
		return 1
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "cardwatch healthcheck: %v\n", err)
		return 1
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "cardwatch healthcheck: %s answered %s\n", url, resp.Status)
		return 1
	}
	fmt.Fprintf(stdout, "%s: ok\n", url)
	return 0
}

// dialable turns a listen address into one to connect to: a listener on every address
// (":8080", "0.0.0.0:8080", "[::]:8080") is reached on loopback.
func dialable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
