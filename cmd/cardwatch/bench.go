package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cardwatch/cardwatch/notifiers"
	"github.com/cardwatch/cardwatch/notifiers/console"
	"github.com/cardwatch/cardwatch/rules"
	"github.com/cardwatch/cardwatch/subscribers"
)

// benchResult is what `cardwatch bench` measures, for people and for -json.
type benchResult struct {
	Transactions    int     `json:"transactions"`
	Cardholders     int     `json:"cardholders"`
	RawPerSec       float64 `json:"raw_ceiling_per_sec"`
	CardwatchPerSec float64 `json:"cardwatch_per_sec"`
	Ratio           float64 `json:"ratio"`
	Alerts          int64   `json:"alerts"`
	RawCPUPer1k     float64 `json:"raw_cpu_seconds_per_1k"`
	CPUPer1k        float64 `json:"cardwatch_cpu_seconds_per_1k"`
	PeakRSSMiB      float64 `json:"peak_rss_mib"`
	// Steady mode.
	Rate  float64 `json:"rate,omitempty"`
	P50ms float64 `json:"p50_ms,omitempty"`
	P90ms float64 `json:"p90_ms,omitempty"`
	P99ms float64 `json:"p99_ms,omitempty"`
	MaxMs float64 `json:"max_ms,omitempty"`
	// Floor is the latency floor's quantiles (-floor): p50, p90, p99, max.
	Floor    []float64 `json:"floor_p50_p90_p99_max_ms,omitempty"`
	KeptUp   bool      `json:"kept_up,omitempty"`
	BehindMs float64   `json:"caught_up_after_ms,omitempty"`
	// Steady mode's memory: the live heap and resident set a tenth of the way in and at
	// the end, and the heap's growth per million transactions between the two.
	HeapWarmMiB       float64 `json:"live_heap_warm_mib,omitempty"`
	HeapEndMiB        float64 `json:"live_heap_end_mib,omitempty"`
	RSSWarmMiB        float64 `json:"rss_warm_mib,omitempty"`
	RSSEndMiB         float64 `json:"rss_end_mib,omitempty"`
	HeapPerMillionMiB float64 `json:"live_heap_growth_mib_per_million,omitempty"`
	// Backlog mode with -instances or -replicas: the fleet.
	Instances int `json:"instances,omitempty"`
	Replicas  int `json:"replicas,omitempty"`
	// SettledAfterMs is when the last partition was claimed, from the drain's start;
	// SettledPerSec the rate from then on, once every instance had its share.
	SettledAfterMs float64         `json:"settled_after_ms,omitempty"`
	SettledPerSec  float64         `json:"settled_per_sec,omitempty"`
	HandledTwice   int64           `json:"handled_twice,omitempty"`
	PerInstance    []benchInstance `json:"per_instance,omitempty"`
	// Rules-load mode.
	LoadSeconds float64 `json:"load_seconds,omitempty"`
	HeapMiB     float64 `json:"heap_mib,omitempty"`
}

// benchCmd is the backlog mode of the load command: it fills a fresh stream with
// realistic transactions, measures the raw ceiling (a bare consumer that decodes and
// acks each event), then lets cardwatch drain the same backlog, and prints both rates
// and their ratio. It runs on an embedded NATS server of its own, so it never touches a
// real deployment's streams. With -instances, several cardwatch instances drain the
// backlog together as a fleet, and -replicas makes the streams for a cluster.
func benchCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("cardwatch bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("n", 100_000, "transactions in the backlog")
	holders := fs.Int("cardholders", 10_000, "cardholders in the generated rules file")
	newShare := fs.Float64("new", 0.02, "share of transactions at a merchant new to the card")
	foreign := fs.Float64("foreign", 0.02, "share of transactions at a terminal abroad")
	over := fs.Float64("over", 0.01, "share of transactions over the amount threshold")
	jsonOut := fs.String("json", "", "also write the figures as JSON to this `file`")
	steady := fs.Float64("rate", 0, "steady mode: publish this many transactions a `second` and measure transaction-to-alert latency (0: backlog mode)")
	duration := fs.Duration("duration", 10*time.Second, "steady mode: how long to publish")
	floor := fs.Bool("floor", false, "steady mode: first measure the latency floor, a bare JetStream consumer doing an alert's two round trips for the same transactions, for comparison")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of cardwatch's part of the run (not the raw ceiling) to this `file`, for go tool pprof")
	natsURL := fs.String("nats", "", "use the NATS server at this `URL` (JetStream on, no CARDWATCH_ streams yet; they are deleted at the end) instead of an embedded one")
	loadRules := fs.Bool("rules-load", false, "rules mode: write a rules file of -cardholders cardholders and measure loading it")
	traceFile := fs.String("trace", "", "write a runtime execution trace of cardwatch's part of the run to this `file` (go tool trace; -pprof=sched shows where goroutines waited for a CPU)")
	instances := fs.Int("instances", 1, "backlog mode: cardwatch instances draining the backlog, each with its own NATS connection, sharing the partitions as a fleet does (in this process)")
	replicas := fs.Int("replicas", 1, "copies of each stream and bucket (3 on a 3-node cluster given with -nats)")
	memProfile := fs.String("memprofile", "", "write the allocations of cardwatch's part of the run to this `file` (and those before it to file.base: go tool pprof -diff_base file.base file)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *instances < 1 || *replicas < 1 {
		fmt.Fprintln(stderr, "cardwatch bench: -instances and -replicas must be at least 1")
		return 2
	}
	if *instances > 1 && (*steady > 0 || *loadRules) {
		fmt.Fprintln(stderr, "cardwatch bench: -instances is for the backlog mode")
		return 2
	}
	if *loadRules {
		return benchRulesLoad(stdout, stderr, *holders, *jsonOut,
			func() (func(), error) { return startProfiles(*cpuProfile, *memProfile, *traceFile) })
	}
	dir, err := os.MkdirTemp("", "cardwatch-bench-")
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	fail := func(err error) int { fmt.Fprintf(stderr, "cardwatch bench: %v\n", err); return 1 }

	rulesFile := filepath.Join(dir, "rules.yaml")
	if err := writeBenchRules(rulesFile, *holders); err != nil {
		return fail(err)
	}
	url := *natsURL
	if url == "" {
		ns, err := subscribers.StartEmbedded(subscribers.EmbeddedConfig{Addr: "127.0.0.1:0", DataDir: filepath.Join(dir, "nats")})
		if err != nil {
			return fail(err)
		}
		defer shutdownEmbedded(ns)
		url = ns.ClientURL()
	}
	nc, err := nats.Connect(url)
	if err != nil {
		return fail(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if *natsURL != "" {
		cleanup, err := claimBenchStreams(ctx, js)
		if err != nil {
			return fail(err)
		}
		defer cleanup()
	}
	subj := subscribers.Subjects{Prefix: "cardwatch"}
	if err := subscribers.EnsureStreams(ctx, js, subj, subscribers.StoreConfig{Retention: time.Hour, Replicas: *replicas}); err != nil {
		return fail(err)
	}
	if *steady > 0 {
		shares := [3]float64{*newShare, *foreign, *over}
		var floorLat []time.Duration
		if *floor {
			if floorLat, err = floorSteady(ctx, stdout, js, *steady, *duration, *holders, shares); err != nil {
				return fail(err)
			}
		}
		stopProfile, err := startProfiles(*cpuProfile, *memProfile, *traceFile)
		if err != nil {
			return fail(err)
		}
		defer stopProfile()
		return benchSteady(ctx, stdout, stderr, js, benchApp{natsURL: url, rulesFile: rulesFile, replicas: *replicas}, *steady, *duration, *holders,
			shares, floorLat, *jsonOut, stopProfile)
	}
	fmt.Fprintf(stdout, "filling the backlog: %d transactions for %d cardholders (new merchant %.0f%%, abroad %.0f%%, over the limit %.0f%%)\n",
		*n, *holders, *newShare*100, *foreign*100, *over*100)
	if err := publishBacklog(js, subj, *n, *holders, *newShare, *foreign, *over); err != nil {
		return fail(err)
	}

	res := benchResult{Transactions: *n, Cardholders: *holders}
	// The raw ceiling: what a consumer that only decodes and acks gets out of this
	// stream on this machine.
	cpu0 := cpuSeconds()
	rawTime, err := rawDrain(ctx, js, *n, stdout)
	if err != nil {
		return fail(err)
	}
	res.RawPerSec = float64(*n) / rawTime.Seconds()
	res.RawCPUPer1k = (cpuSeconds() - cpu0) / float64(*n) * 1000

	stopProfile, err := startProfiles(*cpuProfile, *memProfile, *traceFile)
	if err != nil {
		return fail(err)
	}
	defer stopProfile()
	parts, err := subscribers.StreamPartitioning(ctx, js, subj)
	if err != nil {
		return fail(err)
	}
	cpu0 = cpuSeconds()
	fleet, err := startBenchFleet(ctx, *instances, benchApp{natsURL: url, rulesFile: rulesFile, replicas: *replicas})
	if err != nil {
		return fail(err)
	}
	defer fleet.stop()
	claims, err := watchClaims(ctx, js)
	if err != nil {
		return fail(err)
	}
	defer claims.stop()
	start := fleet.ready
	var samples []countSample
	count := func() int64 {
		v := fleet.total()
		samples = append(samples, countSample{time.Now(), v})
		return v
	}
	if err := progress(ctx, stdout, "cardwatch", *n, count); err != nil {
		return fail(err)
	}
	if err := waitDrained(ctx, js, subscribers.StreamTxn, parts.Consumers()); err != nil {
		return fail(err)
	}
	end := time.Now()
	took := end.Sub(start)
	res.CPUPer1k = (cpuSeconds() - cpu0) / float64(*n) * 1000
	res.CardwatchPerSec = float64(*n) / took.Seconds()
	res.Ratio = res.CardwatchPerSec / res.RawPerSec
	res.Alerts = fleet.alerts.Load()
	res.PeakRSSMiB = peakRSSMiB()
	fleetFigures(&res, fleet, claims, samples, start, end, *instances, *replicas)
	stopProfile()
	claims.stop()
	fleet.stop()

	fmt.Fprintf(stdout, "\n%-34s %12s\n", "backlog of "+strconv.Itoa(*n)+" transactions", "per second")
	fmt.Fprintf(stdout, "%-34s %12.0f\n", "raw ceiling (decode + ack)", res.RawPerSec)
	fmt.Fprintf(stdout, "%-34s %12.0f\n", "cardwatch (rules, alerts, learning)", res.CardwatchPerSec)
	fmt.Fprintf(stdout, "%-34s %12.2f\n", "ratio", res.Ratio)
	fmt.Fprintf(stdout, "%-34s %12d\n", "alerts raised", res.Alerts)
	fmt.Fprintf(stdout, "%-34s %12.3f\n", "CPU s per 1,000 (raw)", res.RawCPUPer1k)
	fmt.Fprintf(stdout, "%-34s %12.3f\n", "CPU s per 1,000 (cardwatch)", res.CPUPer1k)
	fmt.Fprintf(stdout, "%-34s %12.0f\n", "peak RSS, MiB (process)", res.PeakRSSMiB)
	printFleet(stdout, res)
	if *natsURL == "" {
		fmt.Fprint(stdout, "(CPU and memory are the whole process, embedded NATS server included.)\n")
	}
	if err := writeBenchJSON(*jsonOut, res); err != nil {
		return fail(err)
	}
	return 0
}

// benchApp is how the bench runs a cardwatch instance.
type benchApp struct {
	natsURL, rulesFile string
	// replicas is CARDWATCH_STREAM_REPLICAS.
	replicas int
	// key is the fleet's signing key: instances sharing the buckets must read each
	// other's sealed values. Empty: a random one of the instance's own.
	key Secret
}

// startBenchApp runs cardwatch as serve does, on the bench's NATS and rules, with the
// console notifier writing nowhere; stop ends it and waits.
func startBenchApp(ctx context.Context, opts benchApp, observe func(subject, outcome string)) (a *app, stop func(), err error) {
	cfg, err := loadConfig()
	if err != nil {
		return nil, nil, err
	}
	cfg.NatsURL, cfg.RulesFile, cfg.HTTPAddr = opts.natsURL, opts.rulesFile, "127.0.0.1:0"
	cfg.StreamReplicas = max(opts.replicas, 1)
	if opts.key != "" {
		cfg.SigningKey = opts.key
	}
	book, err := rules.Load(opts.rulesFile)
	if err != nil {
		return nil, nil, err
	}
	a = &app{cfg: cfg, log: slog.New(slog.NewTextHandler(io.Discard, nil)), book: book, ready: make(chan struct{}),
		notifiers: []notifiers.Notifier{console.New(io.Discard)}, observe: observe}
	runCtx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- a.run(runCtx) }()
	select {
	case <-a.ready:
	case err := <-errc:
		cancel()
		return nil, nil, err
	}
	var once sync.Once
	return a, func() { once.Do(func() { cancel(); <-errc }) }, nil
}

// benchStreams are the streams cardwatch makes, key-value buckets included.
var benchStreams = []string{subscribers.StreamTxn, subscribers.StreamAlerts, subscribers.StreamReports,
	subscribers.StreamDeliveries, subscribers.StreamDLQ, "KV_" + subscribers.BucketKnownMerchants,
	"KV_" + subscribers.BucketAlerts, "KV_" + subscribers.BucketSent, "KV_" + subscribers.BucketLimits, "KV_" + subscribers.BucketFleet,
	floorTxnStream, floorAlertsStream, "KV_" + floorRecords}

// claimBenchStreams makes sure a NATS server given to the bench holds none of
// cardwatch's streams, so that the bench can never touch a deployment's data, and
// returns the function that deletes the streams the bench made.
func claimBenchStreams(ctx context.Context, js jetstream.JetStream) (cleanup func(), err error) {
	for _, name := range benchStreams {
		if _, err := js.Stream(ctx, name); err == nil {
			return nil, fmt.Errorf("the NATS server already has stream %s: give the bench a server (or account) of its own", name)
		} else if !errors.Is(err, jetstream.ErrStreamNotFound) {
			return nil, fmt.Errorf("look up stream %s: %w", name, err)
		}
	}
	return func() {
		for _, name := range benchStreams {
			_ = js.DeleteStream(context.WithoutCancel(ctx), name)
		}
	}, nil
}

// startProfiles profiles the process until stop is called: CPU into cpuPath, an
// execution trace into tracePath, and
// allocations into memPath, with those made before the start in memPath.base, so that
// pprof's -diff_base shows only the measured part. An empty path is no profile.
func startProfiles(cpuPath, memPath, tracePath string) (stop func(), err error) {
	writeAllocs := func(path string) error {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		runtime.GC() // the profile is as of the last collection
		if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	if memPath != "" {
		if err := writeAllocs(memPath + ".base"); err != nil {
			return nil, err
		}
	}
	// open starts a profile writing to a new file at path; no path, no profile.
	open := func(path string, start func(io.Writer) error) (*os.File, error) {
		if path == "" {
			return nil, nil
		}
		f, err := os.Create(path)
		if err != nil {
			return nil, err
		}
		if err := start(f); err != nil {
			f.Close()
			return nil, err
		}
		return f, nil
	}
	cpu, err := open(cpuPath, pprof.StartCPUProfile)
	if err != nil {
		return nil, err
	}
	tr, err := open(tracePath, trace.Start)
	if err != nil {
		if cpu != nil {
			pprof.StopCPUProfile()
			cpu.Close()
		}
		return nil, err
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			if tr != nil {
				trace.Stop()
				tr.Close()
			}
			if cpu != nil {
				pprof.StopCPUProfile()
				cpu.Close()
			}
			if memPath != "" {
				if err := writeAllocs(memPath); err != nil {
					fmt.Fprintln(os.Stderr, "cardwatch bench: memory profile:", err)
				}
			}
		})
	}, nil
}

// writeBenchJSON writes the figures for -json; no file, nothing to do.
func writeBenchJSON(path string, res benchResult) error {
	if path == "" {
		return nil
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// writeBenchRules writes k cardholders, each with three usual merchants on the known
// list, so that their everyday purchases are quiet.
func writeBenchRules(path string, k int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	fmt.Fprint(w, "defaults:\n  home_country: US\n  currency: USD\n  timezone: America/New_York\n  rules:\n    amount_over: 500.00\n    unknown_merchant: true\n    foreign_terminal: true\ncardholders:\n")
	for i := range k {
		fmt.Fprintf(w, "  - id: ch_%06d\n    bank: bench\n    notify: {sms: \"+1555%07d\"}\n    rules:\n      unknown_merchant: {known: [M-%06d-a, M-%06d-b, M-%06d-c]}\n", i, i%10_000_000, i, i, i)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}

// txnGen makes realistic transactions: each cardholder's card at one of their usual
// merchants, at home, under the limit, but for the given shares.
type txnGen struct {
	rnd                     *rand.Rand
	holders                 int
	newShare, foreign, over float64
	b                       strings.Builder
}

// next returns the i-th transaction's subject and event.
func (g *txnGen) next(subj subscribers.Subjects, i int) (string, []byte) {
	h := g.rnd.IntN(g.holders)
	merchant := fmt.Sprintf("M-%06d-%c", h, 'a'+rune(g.rnd.IntN(3)))
	if g.rnd.Float64() < g.newShare {
		merchant = fmt.Sprintf("M-new-%d", i)
	}
	country := "US"
	if g.rnd.Float64() < g.foreign {
		country = "FR"
	}
	amount := fmt.Sprintf("%d.%02d", 5+g.rnd.IntN(195), g.rnd.IntN(100))
	if g.rnd.Float64() < g.over {
		amount = "900.00"
	}
	g.b.Reset()
	fmt.Fprintf(&g.b, `{"id":"b-%d","cardholder_id":"ch_%06d","card":{"token":"tok_%06d","last4":"%04d"},"amount":{"value":%q,"currency":"USD"},"merchant":{"id":%q,"name":"SHOP %d","city":"Springfield","country":%q},"terminal":{"country":%q,"entry_mode":"chip"},"status":"approved","occurred_at":"2026-11-24T18:22:05Z"}`,
		i, h, h, h%10000, amount, merchant, h%97, country, country)
	return subj.Txn("bench", fmt.Sprintf("tok_%06d", h)), []byte(g.b.String())
}

// publishBacklog publishes n transactions spread over the cardholders.
func publishBacklog(js jetstream.JetStream, subj subscribers.Subjects, n, holders int, newShare, foreign, over float64) error {
	g := &txnGen{rnd: rand.New(rand.NewPCG(7, 11)), holders: holders, newShare: newShare, foreign: foreign, over: over}
	for i := range n {
		subject, data := g.next(subj, i)
		if _, err := js.PublishAsync(subject, data); err != nil {
			return err
		}
	}
	select {
	case <-js.PublishAsyncComplete():
		return nil
	case <-time.After(5 * time.Minute):
		return fmt.Errorf("backlog not stored within 5 minutes")
	}
}

// rawDrain consumes the backlog with a bare consumer that decodes each event and acks
// it, and returns how long that took.
func rawDrain(ctx context.Context, js jetstream.JetStream, n int, stdout io.Writer) (time.Duration, error) {
	cons, err := js.CreateConsumer(ctx, subscribers.StreamTxn, jetstream.ConsumerConfig{
		Durable: "bench_raw", AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 4096})
	if err != nil {
		return 0, err
	}
	var done atomic.Int64
	start := time.Now()
	cc, err := cons.Consume(func(m jetstream.Msg) {
		bank, card, _ := (subscribers.Subjects{Prefix: "cardwatch"}).ParseTxn(m.Subject())
		_, _ = rules.DecodeTransaction(bank, card, m.Data())
		_ = m.Ack()
		done.Add(1)
	})
	if err != nil {
		return 0, err
	}
	defer cc.Stop()
	if err := progress(ctx, stdout, "raw ceiling", n, func() int64 { return done.Load() }); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// progress shows progress once a second until count reaches n.
func progress(ctx context.Context, w io.Writer, what string, n int, count func() int64) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	last := time.Now()
	for count() < int64(n) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		if time.Since(last) >= time.Second {
			fmt.Fprintf(w, "  %s: %d/%d\n", what, count(), n)
			last = time.Now()
		}
	}
	return nil
}

// cpuSeconds is the process's user and system CPU time so far.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// peakRSSMiB is the process's peak resident memory.
func peakRSSMiB() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Maxrss) / 1024 // Linux reports KiB
}
