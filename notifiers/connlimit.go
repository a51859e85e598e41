package notifiers

import (
	"net"
	"net/netip"
	"sync"
)

// LimitConns wraps a listener so that at most perClient connections from one client (an
// address, or for IPv6 its /64, as the rate limiter counts them) and at most total
// connections in all are open at once. A connection past either limit is closed as soon
// as it is accepted, so a client holding many slow connections costs one file descriptor
// per allowed connection and keeps no other client out. Connections from the trusted
// proxies count only in the total: every client behind them shares their addresses.
// A limit of 0 or less is no limit.
func LimitConns(ln net.Listener, total, perClient int, trusted ...*net.IPNet) net.Listener {
	return &connLimiter{Listener: ln, total: total, perClient: perClient, trusted: trusted, open: map[string]int{}}
}

type connLimiter struct {
	net.Listener
	total, perClient int
	trusted          []*net.IPNet

	mu   sync.Mutex
	all  int
	open map[string]int
}

// Accept returns the next connection within the limits, closing those past them.
func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key := l.key(c.RemoteAddr())
		if !l.take(key) {
			_ = c.Close()
			continue
		}
		return &limitedConn{Conn: c, release: func() { l.release(key) }}, nil
	}
}

// key is the client a connection counts for, or "" when it counts only in the total.
func (l *connLimiter) key(a net.Addr) string {
	var ip netip.Addr
	switch a := a.(type) {
	case *net.TCPAddr:
		ip = a.AddrPort().Addr()
	default:
		ip, _ = parseHop(a.String())
	}
	ip = ip.WithZone("").Unmap()
	if !ip.IsValid() || inNets(ip, l.trusted) {
		return ""
	}
	return clientKey(ip.String())
}

func (l *connLimiter) take(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.total > 0 && l.all >= l.total {
		return false
	}
	if key != "" && l.perClient > 0 && l.open[key] >= l.perClient {
		return false
	}
	l.all++
	if key != "" {
		l.open[key]++
	}
	return true
}

func (l *connLimiter) release(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all--
	if key == "" {
		return
	}
	// Deleting at zero keeps the map as large as the clients connected now, not as
	// every client ever seen.
	if l.open[key]--; l.open[key] <= 0 {
		delete(l.open, key)
	}
}

// limitedConn gives its place back once, however often it is closed.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
