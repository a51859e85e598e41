package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var res benchResult
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	// About 5 % of the transactions alert (2 % new merchant, 2 % abroad, 1 % over).
	if res.Transactions != 3000 || res.CardwatchPerSec <= 0 || res.RawPerSec <= 0 || res.Alerts < 60 || res.Alerts > 300 {
		t.Errorf("figures %+v", res)
	}
}

func TestBenchSteadyModeReportsLatency(t *testing.T) {
	out := filepath.Join(t.TempDir(), "steady.json")
	var stdout, stderr bytes.Buffer
	code := benchCmd(context.Background(), []string{"-rate", "1000", "-duration", "1s", "-cardholders", "200", "-json", out}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var res benchResult
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if res.Transactions != 1000 || res.Alerts == 0 || res.P50ms <= 0 || res.P99ms < res.P50ms || res.MaxMs < res.P99ms {
		t.Errorf("figures %+v", res)
	}
}
