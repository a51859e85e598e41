package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cardwatch/cardwatch/subscribers"
)

// TestBenchCommandRuns runs the load command on a small backlog: it must drain it, raise
// the alerts the shares call for, and write its figures. The figures themselves are
// not asserted: they belong to the machine.
func TestBenchCommandRuns(t *testing.T) {
	out := filepath.Join(t.TempDir(), "bench.json")
	var stdout, stderr bytes.Buffer
	code := benchCmd(context.Background(), []string{"-n", "3000", "-cardholders", "200", "-json", out}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "raw ceiling") || !strings.Contains(stdout.String(), "ratio") {
		t.Errorf("output:\n%s", stdout.String())
	}
	res := readBenchJSON(t, out)
	// About 5 % of the transactions alert (2 % new merchant, 2 % abroad, 1 % over).
	if res.Transactions != 3000 || res.CardwatchPerSec <= 0 || res.RawPerSec <= 0 || res.Alerts < 60 || res.Alerts > 300 {
		t.Errorf("figures %+v", res)
	}
}

func TestBenchSteadyModeReportsLatency(t *testing.T) {
	out := filepath.Join(t.TempDir(), "steady.json")
	var stdout, stderr bytes.Buffer
	code := benchCmd(context.Background(), []string{"-rate", "1000", "-duration", "1s", "-cardholders", "200", "-floor", "-json", out}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	res := readBenchJSON(t, out)
	if res.Transactions != 1000 || res.Alerts == 0 || res.P50ms <= 0 || res.P99ms < res.P50ms || res.MaxMs < res.P99ms {
		t.Errorf("figures %+v", res)
	}
	if f := res.Floor; len(f) != 4 || f[0] <= 0 || f[2] < f[0] || f[3] < f[2] {
		t.Errorf("latency floor %v", f)
	}
}

func TestBenchRulesLoadMode(t *testing.T) {
	out := filepath.Join(t.TempDir(), "rules.json")
	var stdout, stderr bytes.Buffer
	code := benchCmd(context.Background(), []string{"-rules-load", "-cardholders", "500", "-json", out}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	res := readBenchJSON(t, out)
	if res.Cardholders != 500 || res.LoadSeconds <= 0 || res.HeapMiB <= 0 {
		t.Errorf("figures %+v", res)
	}
}

// TestBenchRefusesAServerWithCardwatchStreams keeps the bench away from a deployment:
// given a NATS server that already has cardwatch's streams, it stops before touching
// them.
func TestBenchRefusesAServerWithCardwatchStreams(t *testing.T) {
	ns, err := subscribers.StartEmbedded(subscribers.EmbeddedConfig{Addr: "127.0.0.1:0", DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Shutdown()
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	if err := subscribers.EnsureStreams(ctx, js, subscribers.Subjects{Prefix: "cardwatch"}, subscribers.StoreConfig{}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "cardwatch.txn.acme.tok_1", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := benchCmd(ctx, []string{"-nats", ns.ClientURL(), "-n", "10"}, &stdout, &stderr); code == 0 {
		t.Fatalf("ran on a server with cardwatch's streams:\n%s", stdout.String())
	}
	if !strings.Contains(stderr.String(), "of its own") {
		t.Errorf("stderr: %s", stderr.String())
	}
	s, err := js.Stream(ctx, subscribers.StreamTxn)
	if err != nil {
		t.Fatalf("the deployment's stream is gone: %v", err)
	}
	if info, _ := s.Info(ctx); info == nil || info.State.Msgs != 1 {
		t.Errorf("the deployment's stream was changed: %+v", info)
	}
}

// readBenchJSON reads the figures a bench run wrote with -json.
func readBenchJSON(t *testing.T, path string) benchResult {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var res benchResult
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	return res
}

// TestBenchFleetDrainsOnce drains a backlog with two instances sharing the partitions:
// everything is handled, the partitions are all held between them at the end, and each
// transaction that calls for an alert raised exactly one, handovers or not.
func TestBenchFleetDrainsOnce(t *testing.T) {
	const n, holders = 3000, 200
	out := filepath.Join(t.TempDir(), "fleet.json")
	var stdout, stderr bytes.Buffer
	code := benchCmd(context.Background(), []string{"-n", strconv.Itoa(n), "-cardholders", strconv.Itoa(holders), "-instances", "2", "-json", out}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "instance 2:") {
		t.Errorf("output:\n%s", stdout.String())
	}
	res := readBenchJSON(t, out)
	if res.Instances != 2 || len(res.PerInstance) != 2 || res.CardwatchPerSec <= 0 {
		t.Fatalf("figures %+v", res)
	}
	var handled int64
	partitions := 0
	for _, in := range res.PerInstance {
		handled += in.Handled
		partitions += in.Partitions
	}
	if handled < n {
		t.Errorf("%d handled (%d twice), want %d", handled, res.HandledTwice, n)
	}
	if partitions != subscribers.DefaultPartitions {
		t.Errorf("%d partitions held at the end, want %d: %+v", partitions, subscribers.DefaultPartitions, res.PerInstance)
	}
	// The transactions that call for an alert, from the bench's own generator: each at a
	// merchant new to its card, abroad, or over the limit.
	g := &txnGen{rnd: rand.New(rand.NewPCG(7, 11)), holders: holders, newShare: 0.02, foreign: 0.02, over: 0.01}
	want := int64(0)
	for i := range n {
		_, data := g.next(subscribers.Subjects{Prefix: "cardwatch"}, i)
		if bytes.Contains(data, []byte(`"M-new-`)) || bytes.Contains(data, []byte(`"country":"FR"`)) || bytes.Contains(data, []byte(`"900.00"`)) {
			want++
		}
	}
	if res.Alerts != want {
		t.Errorf("%d alerts raised, want %d (one per alerting transaction)", res.Alerts, want)
	}
}
