package notifiers

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// maxClients bounds the limiter's memory under a flood from many addresses: past it,
// the table starts again (every client gets a fresh allowance, which is harmless).
const maxClients = 100_000

// LimitPerClient answers 429 to a client address that sends more than rps requests a
// second (with bursts of burst), so that a flood of bad or forged callbacks costs
// little. The address is the connection's, or, from a trusted proxy, the client's the
// proxy reports (see ClientAddr).
func LimitPerClient(h http.Handler, rps float64, burst int, trusted ...*net.IPNet) http.Handler {
	l := &limiter{next: h, rps: rate.Limit(rps), burst: burst, clients: map[string]*client{}, trusted: trusted}
	return l
}

// UnknownClient is the bucket of requests that a trusted proxy forwarded without a usable
// client address (no X-Forwarded-For, or a hop that is not an address, such as RFC 7239's
// "unknown" or "_hidden"). It is never an address, so such requests never share the
// proxy's own bucket, nor any real client's: a broken or hostile hop costs only the
// requests that carry one.
const UnknownClient = "unknown"

// ClientAddr is the address of the client a request came from. When the connection is
// from a trusted proxy, it is the rightmost address in X-Forwarded-For that is not one
// of the trusted proxies (the leftmost entries are the client's to write, so never
// believed). A hop may carry a port ("203.0.113.7:4711", "[2001:db8::1]:443"), brackets,
// quotes or a "for=" prefix, as proxies write them; IPv4-mapped IPv6 addresses are read
// as IPv4. From a trusted proxy, a request with no usable address is UnknownClient,
// never the proxy's address.
func ClientAddr(r *http.Request, trusted []*net.IPNet) string {
	remote, ok := parseHop(r.RemoteAddr)
	if !ok {
		// Not a TCP peer (a test, a unix socket): nothing to trust, keep it as it is.
		return r.RemoteAddr
	}
	if !inNets(remote, trusted) {
		return remote.String()
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(v, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		ip, ok := parseHop(hops[i])
		if !ok {
			// Whatever is left of a hop we cannot read was written by someone we
			// cannot vouch for.
			return UnknownClient
		}
		if !inNets(ip, trusted) {
			return ip.String()
		}
	}
	// Only trusted hops, or none: either the proxy forwarded without saying for whom,
	// or a machine of the proxies' own network is the client. The first is the flood
	// case and must not take the proxy's bucket; the second is rare enough to share it.
	if len(hops) == 0 {
		return UnknownClient
	}
	ip, _ := parseHop(hops[0])
	return ip.String()
}

// parseHop reads one address as proxies and servers write it: "ip", "ip:port",
// "[ipv6]", "[ipv6]:port", optionally quoted or after "for=" (RFC 7239 style). The zone
// of a link-local address is dropped and an IPv4-mapped address unmapped, so that one
// client is one key.
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if len(s) >= 4 && strings.EqualFold(s[:4], "for=") {
		s = s[4:]
	}
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	var ip netip.Addr
	if ap, err := netip.ParseAddrPort(s); err == nil {
		ip = ap.Addr()
	} else if inner, ok := strings.CutPrefix(s, "["); ok {
		inner, ok = strings.CutSuffix(inner, "]")
		a, err := netip.ParseAddr(inner)
		if !ok || err != nil || !a.Is6() {
			return netip.Addr{}, false
		}
		ip = a
	} else if a, err := netip.ParseAddr(s); err == nil {
		ip = a
	} else {
		return netip.Addr{}, false
	}
	return ip.WithZone("").Unmap(), true
}

func inNets(ip netip.Addr, nets []*net.IPNet) bool {
	for _, n := range nets {
		if n.Contains(ip.AsSlice()) {
			return true
		}
	}
	return false
}

// clientKey is the key a client is counted under: its address, or for IPv6 its /64,
// which one client usually holds whole.
func clientKey(host string) string {
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.Is6() {
		return host
	}
	p, _ := ip.Prefix(64)
	return p.String()
}

type limiter struct {
	trusted []*net.IPNet
	next    http.Handler
	rps     rate.Limit
	burst   int
	mu      sync.Mutex
	clients map[string]*client
	swept   time.Time
}

type client struct {
	lim  *rate.Limiter
	seen time.Time
}

func (l *limiter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !l.allow(clientKey(ClientAddr(r, l.trusted)), time.Now()) {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "too many requests", http.StatusTooManyRequests)
		return
	}
	l.next.ServeHTTP(w, r)
}

func (l *limiter) allow(host string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > time.Minute {
		for k, c := range l.clients {
			if now.Sub(c.seen) > 3*time.Minute {
				delete(l.clients, k)
			}
		}
		l.swept = now
	}
	c, ok := l.clients[host]
	if !ok {
		if len(l.clients) >= maxClients {
			clear(l.clients)
		}
		c = &client{lim: rate.NewLimiter(l.rps, l.burst)}
		l.clients[host] = c
	}
	c.seen = now
	return c.lim.AllowN(now, 1)
}
