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
	_, proxies6, _ := net.ParseCIDR("fd00:1::/32")
	trusted := []*net.IPNet{proxies, proxies6}
	for _, c := range []struct{ remote, xff, want string }{
		{"203.0.113.5:1234", "198.51.100.1", "203.0.113.5"},         // not from the proxy: the header is ignored
		{"10.1.2.3:1234", "198.51.100.1", "198.51.100.1"},           // from the proxy: the client it reports
		{"10.1.2.3:1234", "6.6.6.6, 198.51.100.1", "198.51.100.1"},  // the leftmost entry is the client's to forge
		{"10.1.2.3:1234", "198.51.100.1, 10.1.9.9", "198.51.100.1"}, // two proxies
		{"10.1.2.3:1234", "10.1.9.9", "10.1.9.9"},                   // a machine of the proxies' network is the client
		{"[fd00:1::5]:443", "198.51.100.1", "198.51.100.1"},         // an IPv6 proxy
		{"[::ffff:10.1.2.3]:1234", "198.51.100.1", "198.51.100.1"},  // the proxy's address IPv4-mapped

		// Hops as proxies write them: ports, brackets, quotes, RFC 7239 style.
		{"10.1.2.3:1234", "203.0.113.7:4711", "203.0.113.7"},
		{"10.1.2.3:1234", "[2001:db8::1]:443", "2001:db8::1"},
		{"10.1.2.3:1234", "[2001:db8::1]", "2001:db8::1"},
		{"10.1.2.3:1234", "2001:db8::1", "2001:db8::1"},
		{"10.1.2.3:1234", `"[2001:db8::1]:443"`, "2001:db8::1"},
		{"10.1.2.3:1234", "for=203.0.113.7", "203.0.113.7"},
		{"10.1.2.3:1234", `For="[2001:db8::1]:443"`, "2001:db8::1"},
		{"10.1.2.3:1234", "::ffff:203.0.113.7", "203.0.113.7"},
		{"10.1.2.3:1234", "fe80::1%eth0", "fe80::1"},
		{"10.1.2.3:1234", "6.6.6.6, 203.0.113.7:4711, 10.1.9.9:80", "203.0.113.7"},

		// No usable address from a trusted proxy: a bucket of its own, never the proxy's.
		{"10.1.2.3:1234", "", UnknownClient},
		{"10.1.2.3:1234", "unknown", UnknownClient},
		{"10.1.2.3:1234", "_hidden", UnknownClient},
		{"10.1.2.3:1234", "for=203.0.113.7;proto=https", UnknownClient},
		{"10.1.2.3:1234", "203.0.113.7, garbage", UnknownClient},
		{"10.1.2.3:1234", "[203.0.113.7]", UnknownClient},
		{"10.1.2.3:1234", "[2001:db8::1", UnknownClient},
		{"10.1.2.3:1234", "2001:db8::1]", UnknownClient},
		{"10.1.2.3:1234", " , ", UnknownClient},
		{"10.1.2.3:1234", "10.1.2.3", "10.1.2.3"}, // the proxy naming itself as the client is its own business
	} {
		r := httptest.NewRequest(http.MethodGet, "/r/x", nil)
		r.RemoteAddr = c.remote
		if c.xff != "" {
			r.Header.Set("X-Forwarded-For", c.xff)
		}
		got := ClientAddr(r, trusted)
		if got != c.want {
			t.Errorf("ClientAddr(%s, XFF %q) = %s, want %s", c.remote, c.xff, got, c.want)
		}
		if host, _, _ := net.SplitHostPort(c.remote); c.want != host && got == host {
			t.Errorf("ClientAddr(%s, XFF %q) fell back to the proxy's address", c.remote, c.xff)
		}
	}
}

// One client hammering through the proxy must not lock out another client behind the
// same proxy, whatever form the proxy writes its hops in.
func TestOneClientBehindTheProxyLocksOutNoOther(t *testing.T) {
	_, proxies, _ := net.ParseCIDR("10.1.0.0/16")
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	for _, c := range []struct{ name, hammer, other string }{
		{"plain", "203.0.113.7", "198.51.100.1"},
		{"ports", "203.0.113.7:4711", "198.51.100.1:5000"},
		{"IPv6 with ports", "[2001:db8::1]:443", "[2001:db8:1::2]:443"},
		{"IPv6 in brackets", "[2001:db8::1]", "[2001:db8:1::2]"},
		{"junk against an address", "unknown", "198.51.100.1:5000"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := LimitPerClient(ok, 1, 3, proxies)
			send := func(xff string) int {
				rec := httptest.NewRecorder()
				r := httptest.NewRequest(http.MethodGet, "/r/x", nil)
				r.RemoteAddr = "10.1.2.3:40000"
				r.Header.Set("X-Forwarded-For", xff)
				h.ServeHTTP(rec, r)
				return rec.Code
			}
			last := 0
			for range 10 {
				last = send(c.hammer)
			}
			if last != http.StatusTooManyRequests {
				t.Fatalf("the hammering client was not limited: %d", last)
			}
			if code := send(c.other); code != http.StatusNoContent {
				t.Errorf("another client behind the proxy got %d after the first's flood", code)
			}
			// Nor is a machine of the proxies' network locked out by the flood.
			if code := send("10.1.2.3"); code != http.StatusNoContent {
				t.Errorf("the proxy's own request got %d after a client's flood", code)
			}
		})
	}
}
