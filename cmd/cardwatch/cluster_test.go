package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cardwatch/cardwatch/subscribers"
)

// startCluster starts three clustered NATS servers in-process, each with its own store,
// and waits until JetStream has a meta leader.
func startCluster(t *testing.T) []*server.Server {
	t.Helper()
	ports := make([]int, 3)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
	}
	var routes []string
	for _, p := range ports {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", p))
	}
	var servers []*server.Server
	for i := range 3 {
		opts := &server.Options{
			ServerName: fmt.Sprintf("n%d", i+1), Host: "127.0.0.1", Port: -1,
			JetStream: true, StoreDir: t.TempDir(),
			Cluster: server.ClusterOpts{Name: "cardwatch-test", Host: "127.0.0.1", Port: ports[i]},
			Routes:  server.RoutesFromStr(strings.Join(routes, ",")),
			NoSigs:  true,
		}
		s, err := server.NewServer(opts)
		if err != nil {
			t.Fatal(err)
		}
		s.Start()
		servers = append(servers, s)
		t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	}
	for _, s := range servers {
		if !s.ReadyForConnections(10 * time.Second) {
			t.Fatal("a cluster node is not ready")
		}
	}
	eventually(t, "a JetStream meta leader", func() bool {
		for _, s := range servers {
			if s.JetStreamIsLeader() {
				return true
			}
		}
		return false
	})
	return servers
}

// TestFleetOnAClusterAlertsThroughHandoverAndNodeLoss runs two cardwatch instances on
// a three-node cluster with R3 streams. Transactions flow while one instance stops
// (its partitions handed over) and while the node leading the transaction stream is
// shut down: every transaction gets its alert, no alert is raised twice, and each SMS
// goes out once.
func TestFleetOnAClusterAlertsThroughHandoverAndNodeLoss(t *testing.T) {
	servers := startCluster(t)
	var urls []string
	for _, s := range servers {
		urls = append(urls, s.ClientURL())
	}
	e := &env{t: t, url: strings.Join(urls, ","), twilio: newFakeTwilio(t), slack: newFakeSlack(t), logs: &syncBuffer{}, replicas: 3}
	e.rules = filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(e.rules, []byte(testRules), 0o600); err != nil {
		t.Fatal(err)
	}
	var err error
	if e.nc, err = nats.Connect(e.url, nats.MaxReconnects(-1)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.nc.Close)
	e.js, _ = jetstream.New(e.nc)

	a, b := e.start(), e.start()
	sent := 0
	publish := func(n int) {
		t.Helper()
		for range n {
			sent++
			data := event(t, map[string]any{"id": fmt.Sprintf("cluster-%03d", sent)})
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			// Through a node's loss the publish is retried until the stream has a leader.
			for {
				_, err := e.js.Publish(ctx, subscribers.Subjects{Prefix: "cardwatch"}.Txn("acme", testCardToken), data,
					jetstream.WithMsgID(fmt.Sprintf("cluster-%03d", sent)))
				if err == nil {
					break
				}
				if ctx.Err() != nil {
					t.Fatalf("publish %d: %v", sent, err)
				}
				time.Sleep(50 * time.Millisecond)
			}
			cancel()
		}
	}
	publish(10)
	eventuallyLogs(t, e, "10 SMS from two instances", func() bool { return len(e.twilio.messages()) == 10 })

	// One instance stops: the other has every partition, and alerts on.
	a.stop()
	publish(10)
	eventuallyLogs(t, e, "20 SMS after a handover", func() bool { return len(e.twilio.messages()) == 20 })

	// The node leading the transaction stream goes: the cluster elects another leader.
	info, err := e.js.Stream(context.Background(), subscribers.StreamTxn)
	if err != nil {
		t.Fatal(err)
	}
	leader := info.CachedInfo().Cluster.Leader
	for _, s := range servers {
		if s.Name() == leader {
			s.Shutdown()
		}
	}
	publish(10)
	eventuallyLogs(t, e, "30 SMS after losing a node", func() bool { return len(e.twilio.messages()) == 30 })
	if len(b.seen()) == 0 {
		t.Error("the instance left running handled no transaction")
	}

	alerts := map[string]int{}
	for _, m := range e.streamMsgs(subscribers.StreamAlerts) {
		alerts[m.Header.Get(jetstream.MsgIDHeader)]++
	}
	if len(alerts) != 30 {
		t.Errorf("%d distinct alerts on the feed, want 30", len(alerts))
	}
	for id, n := range alerts {
		if n > 1 {
			t.Errorf("alert %s is on the feed %d times", id, n)
		}
	}
	bodies := map[string]int{}
	for _, m := range e.twilio.messages() {
		bodies[m.Get("Body")]++
	}
	if len(bodies) != 30 {
		t.Errorf("%d distinct SMS, want 30 (one per alert)", len(bodies))
	}
}

// eventuallyLogs is eventually, with cardwatch's warnings and errors in the failure.
func eventuallyLogs(t *testing.T, e *env, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			var lines []string
			for _, l := range strings.Split(e.logs.String(), "\n") {
				if strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") {
					lines = append(lines, l)
				}
			}
			t.Fatalf("timed out waiting for %s; cardwatch's warnings and errors:\n%s", what, strings.Join(lines[max(0, len(lines)-30):], "\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
