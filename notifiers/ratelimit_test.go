package notifiers

import (
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestLimitPerClient(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	h := LimitPerClient(ok, 1, 3)
	codes := map[string][]int{}
	for _, addr := range []string{"10.0.0.1:1", "10.0.0.1:2", "10.0.0.1:3", "10.0.0.1:4", "10.0.0.2:1"} {
		rec := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodPost, "/twilio/inbound", nil)
		r.RemoteAddr = addr
		h.ServeHTTP(rec, r)
		codes[addr[:8]] = append(codes[addr[:8]], rec.Code)
	}
	if got := codes["10.0.0.1"]; len(got) != 4 || got[0] != 204 || got[2] != 204 || got[3] != http.StatusTooManyRequests {
		t.Errorf("one address, 4 quick requests with a burst of 3: %v", got)
	}
	if got := codes["10.0.0.2"]; got[0] != 204 {
		t.Errorf("another address is limited by the first's flood: %v", got)
	}
	// One IPv6 /64 is one client, however many addresses it uses.
	last := 0
	for i := range 4 {
		rec := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodGet, "/r/x", nil)
		r.RemoteAddr = "[2001:db8:1:2::" + string(rune('a'+i)) + "]:443"
		h.ServeHTTP(rec, r)
		last = rec.Code
	}
	if last != http.StatusTooManyRequests {
		t.Errorf("4 requests from one /64 with a burst of 3: last answer %d, want 429", last)
	}
}

func TestClientAddrBehindATrustedProxy(t *testing.T) {
	_, proxies, _ := net.ParseCIDR("10.1.0.0/16")
	trusted := []*net.IPNet{proxies}
	for _, c := range []struct{ remote, xff, want string }{
		{"203.0.113.5:1234", "198.51.100.1", "203.0.113.5"},         // not from the proxy: the header is ignored
		{"10.1.2.3:1234", "198.51.100.1", "198.51.100.1"},           // from the proxy: the client it reports
		{"10.1.2.3:1234", "6.6.6.6, 198.51.100.1", "198.51.100.1"},  // the leftmost entry is the client's to forge
		{"10.1.2.3:1234", "198.51.100.1, 10.1.9.9", "198.51.100.1"}, // two proxies
		{"10.1.2.3:1234", "", "10.1.2.3"},                           // no header
	} {
		r := httptest.NewRequest(http.MethodGet, "/r/x", nil)
		r.RemoteAddr = c.remote
		if c.xff != "" {
			r.Header.Set("X-Forwarded-For", c.xff)
		}
		if got := ClientAddr(r, trusted); got != c.want {
			t.Errorf("ClientAddr(%s, XFF %q) = %s, want %s", c.remote, c.xff, got, c.want)
		}
	}
}
