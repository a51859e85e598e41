package main

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// cardwatch healthcheck asks the listener the settings name (the internal one first,
// reached on loopback when it listens on every address) for /healthz or /readyz, and
// succeeds only on a 200.
func TestHealthcheckCommand(t *testing.T) {
	answer := map[string]int{"/healthz": http.StatusOK, "/readyz": http.StatusServiceUnavailable}
	var asked atomic.Value // the handler runs on the server's goroutine
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Store(r.URL.Path)
		w.WriteHeader(answer[r.URL.Path])
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())

	for _, tc := range []struct {
		name              string
		httpAddr, metrics string
		args              []string
		want              int
		path              string
	}{
		{"public listener on every address", "0.0.0.0:" + port, "", nil, 0, "/healthz"},
		{"internal listener first", "127.0.0.1:1", ":" + port, nil, 0, "/healthz"},
		{"not ready", "127.0.0.1:" + port, "", []string{"-ready"}, 1, "/readyz"},
		{"nothing listening", "127.0.0.1:1", "", nil, 1, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			asked.Store("")
			t.Setenv("CARDWATCH_HTTP_ADDR", tc.httpAddr)
			t.Setenv("CARDWATCH_METRICS_ADDR", tc.metrics)
			var stderr strings.Builder
			if got := run(append([]string{"healthcheck"}, tc.args...), io.Discard, &stderr); got != tc.want {
				t.Errorf("exit %d, want %d (%s)", got, tc.want, stderr.String())
			}
			if got := asked.Load(); got != tc.path {
				t.Errorf("asked %q, want %q", got, tc.path)
			}
		})
	}
}
