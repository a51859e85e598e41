package notifiers

import (
	"errors"
	"net"
	"sync"
	"testing"
)

// fakeListener hands out connections from the remote addresses it is given, then fails.
type fakeListener struct {
	mu    sync.Mutex
	queue []string
}

func (f *fakeListener) Accept() (net.Conn, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.queue) == 0 {
		return nil, net.ErrClosed
	}
	addr, _ := net.ResolveTCPAddr("tcp", f.queue[0])
	f.queue = f.queue[1:]
	return &fakeConn{remote: addr}, nil
}

func (f *fakeListener) push(addrs ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queue = append(f.queue, addrs...)
}

func (f *fakeListener) Close() error   { return nil }
func (f *fakeListener) Addr() net.Addr { return &net.TCPAddr{} }

type fakeConn struct {
	net.Conn // not called
	remote   net.Addr
	closed   bool
}

func (c *fakeConn) RemoteAddr() net.Addr { return c.remote }
func (c *fakeConn) Close() error         { c.closed = true; return nil }

// acceptAll accepts until the fake runs dry and returns the remote addresses let through.
func acceptAll(t *testing.T, ln net.Listener) []net.Conn {
	t.Helper()
	var out []net.Conn
	for {
		c, err := ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
}

func TestLimitConnsPerClientAndInTotal(t *testing.T) {
	_, proxies, _ := net.ParseCIDR("10.1.0.0/16")
	fake := &fakeListener{}
	ln := LimitConns(fake, 10, 2, proxies)

	// One client, three connections: the third is closed at once.
	fake.push("203.0.113.7:1", "203.0.113.7:2", "203.0.113.7:3")
	if got := acceptAll(t, ln); len(got) != 2 {
		t.Fatalf("one client got %d connections, want 2", len(got))
	}
	// One IPv6 /64 is one client, however many addresses it uses; the IPv4-mapped form
	// of an address is that address; another client is not held back by either.
	fake.push("[2001:db8:1:2::a]:1", "[2001:db8:1:2::b]:1", "[2001:db8:1:2::c]:1",
		"[::ffff:203.0.113.7]:4", "198.51.100.1:1")
	got := acceptAll(t, ln)
	if len(got) != 3 || got[2].RemoteAddr().String() != "198.51.100.1:1" {
		var addrs []string
		for _, c := range got {
			addrs = append(addrs, c.RemoteAddr().String())
		}
		t.Fatalf("let through %v, want two of the /64 and 198.51.100.1", addrs)
	}
	// Closing a connection gives its place back, once however often it is closed.
	first := got[0]
	_ = first.Close()
	_ = first.Close()
	fake.push("[2001:db8:1:2::d]:1", "[2001:db8:1:2::e]:1")
	if got := acceptAll(t, ln); len(got) != 1 {
		t.Fatalf("after one of the /64's connections closed, %d more were let in, want 1", len(got))
	}
	// The trusted proxy is not one client: only the total bounds it (5 open, 10 in all).
	for range 6 {
		fake.push("10.1.2.3:1")
	}
	if got := acceptAll(t, ln); len(got) != 5 {
		t.Fatalf("the proxy got %d connections with 5 places left in the total, want 5", len(got))
	}
	fake.push("192.0.2.1:1")
	if got := acceptAll(t, ln); len(got) != 0 {
		t.Fatalf("a new client got a connection past the total")
	}
}
