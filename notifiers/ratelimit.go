package notifiers

import (
	"net"
	"net/http"
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

// ClientAddr is the address of the client a request came from. When the connection is
// from a trusted proxy, it is the rightmost address in X-Forwarded-For that is not one
// of the trusted proxies (the leftmost entries are the client's to write, so never
// believed).
func ClientAddr(r *http.Request, trusted []*net.IPNet) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if !inNets(net.ParseIP(host), trusted) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		ip := net.ParseIP(strings.TrimSpace(hops[i]))
		if ip == nil {
			break
		}
		if !inNets(ip, trusted) {
			return ip.String()
		}
	}
	return host
}

func inNets(ip net.IP, nets []*net.IPNet) bool {
	if ip == nil {
		return false
	}
	for _, n := range nets {
		if n.Contains(ip) {
			return true
		}
	}
	return false
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
	host := ClientAddr(r, l.trusted)
	// One IPv6 client usually holds a whole /64: count it as one.
	if ip := net.ParseIP(host); ip != nil && ip.To4() == nil {
		host = ip.Mask(net.CIDRMask(64, 128)).String()
	}
	if !l.allow(host, time.Now()) {
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
