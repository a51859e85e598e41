package main

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// dialFrom opens a TCP connection to addr from the loopback address local.
func dialFrom(t *testing.T, local, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: waitFor}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, local, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// waitClosed waits until the server closes c, and fails if it is still open after waitFor.
func waitClosed(t *testing.T, c net.Conn, what string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(waitFor))
	_, err := io.Copy(io.Discard, c)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("%s: the connection is still open after %s", what, waitFor)
	}
}

type answer struct {
	code int
	err  error
}

// readAnswer reads one HTTP response from c in the background.
func readAnswer(c net.Conn) <-chan answer {
	out := make(chan answer, 1)
	go func() {
		_ = c.SetReadDeadline(time.Now().Add(2 * waitFor))
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			out <- answer{err: err}
			return
		}
		_ = res.Body.Close()
		out <- answer{code: res.StatusCode}
	}()
	return out
}

// One client opening many slow connections gets only its share: the rest are closed at
// once, the ones it keeps still work, and another client is served all along.
func TestSlowConnectionsAreBoundedPerClient(t *testing.T) {
	const perClient, opened = 4, 12
	t.Setenv("CARDWATCH_HTTP_MAX_CONNS_PER_CLIENT", "4")
	e := newEnv(t)
	r := e.start()
	addr := strings.TrimPrefix(r.app.httpURL, "http://")

	conns := make([]net.Conn, opened)
	answers := make([]<-chan answer, opened)
	for i := range conns {
		conns[i] = dialFrom(t, "127.0.0.1", addr)
		// Headers started, never finished: a slowloris holding its connection.
		if _, err := io.WriteString(conns[i], "GET /healthz HTTP/1.1\r\nHost: cardwatch\r\n"); err != nil {
			t.Fatal(err)
		}
		answers[i] = readAnswer(conns[i])
	}
	var kept []int
	deadline := time.After(waitFor)
	for closed := 0; closed < opened-perClient; {
		select {
		case <-deadline:
			t.Fatalf("%d of %d slow connections from one client are still open after %s, want %d",
				opened-closed, opened, waitFor, perClient)
		default:
		}
		for i := range answers {
			select {
			case a := <-answers[i]:
				if a.err == nil {
					t.Fatalf("connection %d answered %d to an unfinished request", i, a.code)
				}
				closed++
				answers[i] = nil
			default:
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	for i := range answers {
		if answers[i] != nil {
			kept = append(kept, i)
		}
	}
	if len(kept) != perClient {
		t.Fatalf("%d connections kept, want %d", len(kept), perClient)
	}

	// Another client is not held back by the first one's connections.
	other := dialFrom(t, "127.0.0.2", addr)
	_, _ = io.WriteString(other, "GET /healthz HTTP/1.1\r\nHost: cardwatch\r\nConnection: close\r\n\r\n")
	if a := <-readAnswer(other); a.err != nil || a.code != http.StatusOK {
		t.Fatalf("another client: %d, %v", a.code, a.err)
	}
	// The connections the first client kept are served once it finishes its requests.
	for _, i := range kept {
		_, _ = io.WriteString(conns[i], "\r\n")
		if a := <-answers[i]; a.err != nil || a.code != http.StatusOK {
			t.Fatalf("kept connection %d: %d, %v", i, a.code, a.err)
		}
	}
	// Once it closes them, it may connect again.
	for _, i := range kept {
		_ = conns[i].Close()
	}
	eventually(t, "a new connection from the first client once its others closed", func() bool {
		c := dialFrom(t, "127.0.0.1", addr)
		defer c.Close()
		_, _ = io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: cardwatch\r\nConnection: close\r\n\r\n")
		a := <-readAnswer(c)
		return a.err == nil && a.code == http.StatusOK
	})
}

// A slow client is cut off once a timeout passes, whatever part of the request it is
// slow at, and an idle keep-alive connection does not stay open for ever.
func TestSlowClientsAreTimedOut(t *testing.T) {
	cfg, err := loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	cfg.HTTPAddr = "127.0.0.1:0"
	ln, err := listenPublic(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	short := httpTimeouts{ReadHeader: 200 * time.Millisecond, Read: 400 * time.Millisecond,
		Write: 400 * time.Millisecond, Idle: 200 * time.Millisecond}
	srv := newHTTPServer(h, short)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	addr := ln.Addr().String()

	for _, c := range []struct {
		name string
		send func(net.Conn)
	}{
		{"headers never finished", func(c net.Conn) {
			_, _ = io.WriteString(c, "POST /twilio/inbound HTTP/1.1\r\nHost: cardwatch\r\n")
		}},
		{"headers trickled a byte at a time", func(c net.Conn) {
			_, _ = io.WriteString(c, "POST /twilio/inbound HTTP/1.1\r\nHost: cardwatch\r\n")
			go func() {
				for {
					time.Sleep(20 * time.Millisecond)
					if _, err := io.WriteString(c, "X"); err != nil {
						return
					}
				}
			}()
		}},
		{"body never finished", func(c net.Conn) {
			_, _ = io.WriteString(c, "POST /twilio/inbound HTTP/1.1\r\nHost: cardwatch\r\n"+
				"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nBody=FRAUD")
		}},
		{"idle after an answer", func(c net.Conn) {
			_, _ = io.WriteString(c, "POST /twilio/inbound HTTP/1.1\r\nHost: cardwatch\r\nContent-Length: 0\r\n\r\n")
			if a := <-readAnswer(c); a.err != nil || a.code != http.StatusNoContent {
				t.Errorf("first request: %d, %v", a.code, a.err)
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			conn := dialFrom(t, "127.0.0.1", addr)
			c.send(conn)
			waitClosed(t, conn, c.name)
		})
	}
}

// The timeouts cardwatch runs with are all set.
func TestDefaultHTTPTimeoutsAreSet(t *testing.T) {
	srv := newHTTPServer(http.NotFoundHandler(), defaultHTTPTimeouts)
	for name, d := range map[string]time.Duration{"ReadHeaderTimeout": srv.ReadHeaderTimeout,
		"ReadTimeout": srv.ReadTimeout, "WriteTimeout": srv.WriteTimeout, "IdleTimeout": srv.IdleTimeout} {
		if d <= 0 || d > time.Minute {
			t.Errorf("%s = %s, want a bound of a minute at most", name, d)
		}
	}
}

func getCode(t *testing.T, u string) (int, string) {
	t.Helper()
	res, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

// With CARDWATCH_METRICS_ADDR, /metrics is served there and not on the public listener;
// the health checks answer on both.
func TestMetricsOnTheInternalListenerOnly(t *testing.T) {
	t.Setenv("CARDWATCH_METRICS_ADDR", "127.0.0.1:0")
	e := newEnv(t)
	r := e.start()
	if r.app.metricsURL == "" || r.app.metricsURL == r.app.httpURL {
		t.Fatalf("no listener of its own for metrics: %q", r.app.metricsURL)
	}
	if code, _ := getCode(t, r.app.httpURL+"/metrics"); code != http.StatusNotFound {
		t.Errorf("public /metrics: %d, want 404", code)
	}
	if code, body := getCode(t, r.app.metricsURL+"/metrics"); code != http.StatusOK || !strings.Contains(body, "cardwatch_rules_cardholders 1") {
		t.Errorf("internal /metrics: %d\n%s", code, body)
	}
	for _, base := range []string{r.app.httpURL, r.app.metricsURL} {
		for _, path := range []string{"/healthz", "/readyz"} {
			if code, _ := getCode(t, base+path); code != http.StatusOK {
				t.Errorf("%s%s: %d", base, path, code)
			}
		}
	}
	// The report page and the callbacks are not on the internal listener.
	if code, _ := getCode(t, r.app.metricsURL+"/r/x"); code != http.StatusNotFound {
		t.Errorf("internal /r/: %d, want 404", code)
	}
}

// Without it, /metrics stays on the one listener, as before.
func TestMetricsOnTheOneListenerByDefault(t *testing.T) {
	e := newEnv(t)
	r := e.start()
	if r.app.metricsURL != "" {
		t.Errorf("a metrics listener without CARDWATCH_METRICS_ADDR: %s", r.app.metricsURL)
	}
	if code, body := getCode(t, r.app.httpURL+"/metrics"); code != http.StatusOK || !strings.Contains(body, "cardwatch_rules_cardholders 1") {
		t.Errorf("/metrics: %d\n%s", code, body)
	}
	if strings.Contains(e.logs.String(), "CARDWATCH_METRICS_ADDR") {
		t.Errorf("a warning about metrics on a loopback listener:\n%s", e.logs.String())
	}
}

func TestLoopbackAddr(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8080": true, "[::1]:8080": true, "localhost:8080": true, "127.9.9.9:1": true,
		":8080": false, "0.0.0.0:8080": false, "[::]:8080": false, "10.0.0.5:8080": false, "cardwatch.internal:80": false,
	} {
		if got := loopbackAddr(addr); got != want {
			t.Errorf("loopbackAddr(%q) = %v, want %v", addr, got, want)
		}
	}
}
