package deploy

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
)

// waitFor bounds every wait of these tests; one that runs out fails with what it waited for.
const waitFor = 30 * time.Second

// must fails the test on err.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// eventually waits for cond, failing the test with what after waitFor.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", waitFor, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// testAuth is a stand-in for what `cardwatch nats-auth` writes: an auth.conf with an
// operator, a system account and one JetStream account preloaded in a memory resolver, and
// a credentials file for a user of that account.
type testAuth struct {
	conf, creds      string
	operator, system string // public keys
}

// writeTestAuth writes auth.conf into dir and a credentials file beside it.
func writeTestAuth(t *testing.T, dir string) testAuth {
	t.Helper()
	okp, err := nkeys.CreateOperator()
	must(t, err)
	opub, _ := okp.PublicKey()
	account := func(name string, js bool) (nkeys.KeyPair, string, string) {
		kp, err := nkeys.CreateAccount()
		must(t, err)
		pub, _ := kp.PublicKey()
		c := jwt.NewAccountClaims(pub)
		c.Name = name
		if js {
			c.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
		}
		token, err := c.Encode(okp)
		must(t, err)
		return kp, pub, token
	}
	_, spub, sjwt := account("SYS", false)
	akp, apub, ajwt := account("cardwatch", true)

	oc := jwt.NewOperatorClaims(opub)
	oc.Name = "cardwatch-test"
	oc.SystemAccount = spub
	ojwt, err := oc.Encode(okp)
	must(t, err)

	ukp, err := nkeys.CreateUser()
	must(t, err)
	upub, _ := ukp.PublicKey()
	uc := jwt.NewUserClaims(upub)
	uc.IssuerAccount = apub
	ujwt, err := uc.Encode(akp)
	must(t, err)
	seed, err := ukp.Seed()
	must(t, err)
	creds, err := jwt.FormatUserConfig(ujwt, seed)
	must(t, err)

	a := testAuth{conf: filepath.Join(dir, "auth.conf"), creds: filepath.Join(dir, "cardwatch.creds"), operator: opub, system: spub}
	conf := fmt.Sprintf("operator: %s\nsystem_account: %s\nresolver: MEMORY\nresolver_preload: {\n  %s: %s\n  %s: %s\n}\n",
		ojwt, spub, spub, sjwt, apub, ajwt)
	must(t, os.WriteFile(a.conf, []byte(conf), 0o600))
	must(t, os.WriteFile(a.creds, creds, 0o600))
	return a
}

// loadNATSNode loads nats/nats-server.conf, as shipped, with nats-server's own loader for
// the node named name, next to a stand-in auth.conf so that its include resolves.
func loadNATSNode(t *testing.T, dir, name string) *server.Options {
	t.Helper()
	t.Setenv("SERVER_NAME", name)
	opts, err := server.ProcessConfigFile(filepath.Join(dir, "nats-server.conf"))
	if err != nil {
		t.Fatalf("nats-server refuses nats/nats-server.conf for %s: %v", name, err)
	}
	return opts
}

// natsConfDir copies nats/nats-server.conf into a fresh folder with a stand-in auth.conf.
func natsConfDir(t *testing.T) (string, testAuth) {
	t.Helper()
	dir := t.TempDir()
	raw, err := os.ReadFile("nats/nats-server.conf")
	must(t, err)
	must(t, os.WriteFile(filepath.Join(dir, "nats-server.conf"), raw, 0o600))
	return dir, writeTestAuth(t, dir)
}

// freePorts returns n TCP ports free on loopback (the kernel's picks, released for the
// caller to listen on).
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		must(t, err)
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// nodeNames are the three NATS nodes that compose.yaml runs and the routes name.
var nodeNames = []string{"nats-1", "nats-2", "nats-3"}

// The config, as nats-server reads it: a named cluster whose routes reach every node,
// JetStream with a store and limits, monitoring, and operator-mode auth from auth.conf.
func TestNATSConfigAsTheServerReadsIt(t *testing.T) {
	dir, auth := natsConfDir(t)
	for _, name := range nodeNames {
		opts := loadNATSNode(t, dir, name)
		if opts.ServerName != name {
			t.Errorf("server_name = %q, want %q from $SERVER_NAME", opts.ServerName, name)
		}
		if opts.Port != 4222 || opts.HTTPPort != 8222 || opts.Cluster.Port != 6222 {
			t.Errorf("%s: ports client %d, monitor %d, cluster %d; want 4222, 8222, 6222", name, opts.Port, opts.HTTPPort, opts.Cluster.Port)
		}
		if opts.Cluster.Name != "cardwatch" {
			t.Errorf("%s: cluster name %q", name, opts.Cluster.Name)
		}
		var routes []string
		for _, r := range opts.Routes {
			routes = append(routes, r.Host)
		}
		if want := []string{"nats-1:6222", "nats-2:6222", "nats-3:6222"}; !slices.Equal(routes, want) {
			t.Errorf("%s: routes %v, want %v", name, routes, want)
		}
		if !opts.JetStream || opts.StoreDir != "/data/jetstream" || opts.JetStreamMaxStore <= 0 || opts.JetStreamMaxMemory <= 0 {
			t.Errorf("%s: jetstream %v, store %q, max file %d, max memory %d", name, opts.JetStream, opts.StoreDir, opts.JetStreamMaxStore, opts.JetStreamMaxMemory)
		}
		if len(opts.TrustedOperators) != 1 || opts.TrustedOperators[0].Subject != auth.operator {
			t.Errorf("%s: the operator of auth.conf is not trusted: %d operators", name, len(opts.TrustedOperators))
		}
		if opts.SystemAccount != auth.system {
			t.Errorf("%s: system account %q, want %q", name, opts.SystemAccount, auth.system)
		}
		if _, ok := opts.AccountResolver.(*server.MemAccResolver); !ok {
			t.Errorf("%s: account resolver %T, want the memory resolver", name, opts.AccountResolver)
		}
		if opts.LameDuckDuration <= opts.LameDuckGracePeriod {
			t.Errorf("%s: lame duck duration %s not above its grace period %s", name, opts.LameDuckDuration, opts.LameDuckGracePeriod)
		}
	}
}

// The three nodes, started from the file (only the ports, the store and the seed route
// moved to this machine's loopback), form one JetStream cluster; an R3 stream keeps
// taking writes with one node down, as the README's runbook says.
func TestNATSClusterFormsFromTheConfig(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three NATS servers")
	}
	dir, auth := natsConfDir(t)
	// The file's routes name the hosts of the compose network; here they name the three
	// nodes' cluster ports on loopback, taken free just before the nodes start.
	clusterPorts := freePorts(t, len(nodeNames))
	var routes []*url.URL
	for _, p := range clusterPorts {
		routes = append(routes, &url.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", p)})
	}
	var servers []*server.Server
	for i, name := range nodeNames {
		opts := loadNATSNode(t, dir, name)
		opts.Host, opts.Port, opts.HTTPHost, opts.HTTPPort = "127.0.0.1", server.RANDOM_PORT, "127.0.0.1", server.RANDOM_PORT
		opts.Cluster.Host, opts.Cluster.Port = "127.0.0.1", clusterPorts[i]
		opts.Routes = routes
		opts.StoreDir = t.TempDir()
		opts.NoLog, opts.NoSigs = true, true
		s, err := server.NewServer(opts)
		must(t, err)
		go s.Start()
		t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
		servers = append(servers, s)
	}
	for i, s := range servers {
		if !s.ReadyForConnections(waitFor) {
			t.Fatalf("%s did not start", nodeNames[i])
		}
	}
	eventually(t, "every node to route to the two others", func() bool {
		for _, s := range servers {
			if s.NumRoutes() < 2 {
				return false
			}
		}
		return true
	})
	eventually(t, "a JetStream meta leader", func() bool {
		for _, s := range servers {
			if s.JetStreamIsLeader() {
				return true
			}
		}
		return false
	})

	var urls []string
	for _, s := range servers {
		urls = append(urls, s.ClientURL())
	}
	nc, err := nats.Connect(strings.Join(urls, ","), nats.UserCredentials(auth.creds), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatalf("connect with the account's credentials: %v", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	must(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "R3", Subjects: []string{"r3.>"}, Replicas: 3}); err != nil {
		t.Fatalf("create an R3 stream: %v", err)
	}
	if _, err := js.Publish(ctx, "r3.a", []byte("1")); err != nil {
		t.Fatalf("publish on the R3 stream: %v", err)
	}

	// Lose the node that leads the stream: the two left elect a new leader and go on.
	stream, err := js.Stream(ctx, "R3")
	must(t, err)
	info, err := stream.Info(ctx)
	must(t, err)
	i := slices.IndexFunc(servers, func(s *server.Server) bool { return s.Name() == info.Cluster.Leader })
	if i < 0 {
		t.Fatalf("the stream's leader %q is none of the nodes", info.Cluster.Leader)
	}
	servers[i].Shutdown()
	var last error
	eventually(t, "a publish acknowledged with one node of three down", func() bool {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		_, last = js.Publish(pctx, "r3.a", []byte("2"))
		return last == nil
	})
	info, err = stream.Info(ctx)
	must(t, err)
	if info.State.Msgs != 2 {
		t.Errorf("the R3 stream holds %d messages, want 2", info.State.Msgs)
	}
}
