package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/time/rate"

	"github.com/cardwatch/cardwatch/notifiers"
	"github.com/cardwatch/cardwatch/notifiers/reportpage"
	"github.com/cardwatch/cardwatch/rules"
	"github.com/cardwatch/cardwatch/subscribers"
)

func serveCmd(ctx context.Context, stdout, stderr io.Writer) int {
	cfg, err := loadConfig()
	log := newLogger(stderr, cfg.LogFormat)
	if err != nil {
		log.Error("bad settings", "err", err)
		return 2
	}
	if cfg.RulesFile == "" {
		log.Error("CARDWATCH_RULES_FILE is not set: cardwatch serve needs a rules file (deploy/rules.example.yaml is an example; cardwatch demo runs without one)")
		return 2
	}
	book, err := rules.Load(cfg.RulesFile)
	if err != nil {
		log.Error("rules file is not valid (cardwatch rules check shows the details)", "err", rules.Redact(err))
		return 2
	}
	chans, err := channels(stdout)
	if err != nil {
		log.Error("bad channel settings", "err", err)
		return 2
	}
	a := &app{cfg: cfg, log: log, book: book, notifiers: chans}
	if err := a.run(ctx); err != nil {
		log.Error("cardwatch stopped", "err", err)
		return 1
	}
	return 0
}

func newLogger(w io.Writer, format string) *slog.Logger {
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(slog.NewTextHandler(w, nil))
}

// app is one running cardwatch: the same code for serve, demo and the integration tests.
type app struct {
	cfg       Config
	log       *slog.Logger
	book      *rules.Book
	notifiers []notifiers.Notifier

	// ready is closed once cardwatch consumes; tests and the demo wait on it.
	ready     chan struct{}
	readyOnce sync.Once
	// observe, when set, hears every transaction's outcome (the demo prints them).
	observe func(subject, outcome string)
	// mountChannels mounts the channels' callbacks; nil means from the settings.
	mountChannels func(*http.ServeMux, routeDeps) error

	// Set while running, for the demo and tests.
	natsURL    string
	links      *notifiers.Links
	httpURL    string
	metricsURL string
	member     string // the fleet member id: the bench tells its instances apart by it
}

func (a *app) markReady() {
	a.readyOnce.Do(func() {
		if a.ready != nil {
			close(a.ready)
		}
	})
}

// run starts everything and blocks until ctx ends, then shuts down in order: stop taking
// work, finish what is in hand (bounded by the shutdown timeout), close NATS.
func (a *app) run(ctx context.Context) error {
	cfg, log := a.cfg, a.log
	log.Info("cardwatch starting", "settings", cfg)
	if u, err := url.Parse(cfg.PublicURL); err == nil && u.Scheme == "http" && !loopbackAddr(net.JoinHostPort(u.Hostname(), "0")) {
		log.Warn("CARDWATCH_PUBLIC_URL is plain http on a public host: report links and the answers they carry travel unencrypted; use https")
	}

	var current atomic.Pointer[rules.Book]
	current.Store(a.book)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := subscribers.NewMetrics(reg)
	metrics.RulesLoaded.Set(float64(a.book.Len()))

	natsURL := cfg.NatsURL
	key := []byte(cfg.SigningKey)
	if natsURL == "" {
		ns, err := subscribers.StartEmbedded(subscribers.EmbeddedConfig{Addr: cfg.EmbeddedNatsAddr, DataDir: cfg.DataDir})
		if err != nil {
			return err
		}
		defer shutdownEmbedded(ns)
		natsURL = ns.ClientURL()
		log.Info("embedded NATS server started", "url", natsURL, "store", ns.StoreDir())
		if !loopbackAddr(cfg.EmbeddedNatsAddr) {
			log.Warn("the embedded NATS server takes connections from other machines, with no authentication: anyone who reaches " +
				cfg.EmbeddedNatsAddr + " reads every bank's alerts and reports and can publish as a bank; for more than a laptop, run a NATS server with accounts (CARDWATCH_NATS_URL)")
		}
		if len(key) == 0 {
			// The store outlives the process, and so must the key its sealed values and
			// report links were made with.
			var made bool
			if key, made, err = storedSigningKey(filepath.Dir(ns.StoreDir())); err != nil {
				return err
			}
			log.Warn("CARDWATCH_SIGNING_KEY is not set: using a key kept beside the embedded store (set the same key on every instance of a fleet)")
			if _, err := os.Stat(filepath.Join(ns.StoreDir(), "$G", "streams", subscribers.StreamAlerts)); made && err == nil {
				log.Error("a new signing key was made for a store that already holds alerts (was signing.key deleted?): alerts raised before will not be delivered or answered, their report links are void, and the merchants cards have used are forgotten")
			}
		}
	}
	a.natsURL = natsURL
	closed := make(chan struct{})
	var closeOnce sync.Once
	nc, err := subscribers.Connect(subscribers.ConnConfig{URLs: natsURL, Creds: cfg.NatsCreds, Name: "cardwatch",
		TLSCA: cfg.NatsTLSCA, TLSCert: cfg.NatsTLSCert, TLSKey: cfg.NatsTLSKey, TLSServerName: cfg.NatsTLSServerName,
		OnClosed: func() { closeOnce.Do(func() { close(closed) }) }}, log)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}

	// The HTTP listener comes up first so that /healthz and /readyz answer while the rest
	// starts; /readyz says 503 until streams, buckets and rules are in place.
	var streamsReady atomic.Bool
	ln, err := listenPublic(cfg)
	if err != nil {
		return err
	}
	a.httpURL = "http://" + ln.Addr().String()
	timeouts := defaultHTTPTimeouts
	mux := a.routes(nc, &streamsReady, &current)
	metricsHandler := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	servers := []*http.Server{newHTTPServer(mux, timeouts)}
	if cfg.MetricsAddr == "" {
		mux.Handle("GET /metrics", metricsHandler)
		if !loopbackAddr(cfg.HTTPAddr) {
			log.Warn("/metrics is served on the public listener: set CARDWATCH_METRICS_ADDR to an internal address to move it there", "http", cfg.HTTPAddr)
		}
	} else {
		mln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			_ = ln.Close()
			return fmt.Errorf("metrics listener on %s: %w (set CARDWATCH_METRICS_ADDR)", cfg.MetricsAddr, err)
		}
		a.metricsURL = "http://" + mln.Addr().String()
		internal := a.routes(nc, &streamsReady, &current)
		internal.Handle("GET /metrics", metricsHandler)
		msrv := newHTTPServer(internal, timeouts)
		servers = append(servers, msrv)
		go serveHTTP(msrv, mln, log, "metrics")
	}
	go serveHTTP(servers[0], ln, log, "public")
	var inFlight []interface{ Wait() }
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		for _, srv := range servers {
			_ = srv.Shutdown(sctx)
		}
		// Answers taken but not yet recorded (Slack's are finished after the 200).
		for _, w := range inFlight {
			w.Wait()
		}
	}()

	store := subscribers.StoreConfig{Retention: cfg.Retention, Replicas: cfg.StreamReplicas, Partitions: cfg.Partitions}
	subj := subscribers.Subjects{Prefix: cfg.SubjectPrefix}
	if err := subscribers.EnsureStreams(ctx, js, subj, store); err != nil {
		return err
	}
	if len(key) == 0 {
		key = make([]byte, 32)
		_, _ = rand.Read(key)
		log.Warn("CARDWATCH_SIGNING_KEY is not set: alerts raised before a restart will not be delivered, their report links and SMS replies will stop working, and the merchants cards have used will be forgotten (set the same key on every instance)")
	}
	seal, err := subscribers.NewSealer(key)
	if err != nil {
		return err
	}
	// Counted one by one; logged now and then, since whoever writes junk can write a lot.
	warnUnsealed := &rate.Sometimes{First: 1, Interval: 10 * time.Second}
	seal.OnUnsealed = func(bucket string) {
		metrics.Unsealed.WithLabelValues(bucket).Inc()
		warnUnsealed.Do(func() {
			log.Warn("values in a bucket were not written by cardwatch (or under another signing key): ignored; see cardwatch_unsealed_values_total", "bucket", bucket)
		})
	}
	known, err := subscribers.OpenKnownMerchants(ctx, js, store, seal, log)
	if err != nil {
		return err
	}
	defer known.Close()
	alerts, err := subscribers.OpenAlertStore(ctx, js, store, seal)
	if err != nil {
		return err
	}
	sent, err := subscribers.OpenSentLog(ctx, js, store, seal)
	if err != nil {
		return err
	}
	// Always the fleet's: a second instance may join at any time, and a restarted one
	// must still keep the pause a provider asked of the one before.
	limits, err := subscribers.OpenLimits(ctx, js, store, seal, metrics, log)
	if err != nil {
		return err
	}
	defer limits.Close()
	links, err := notifiers.NewLinks(key, cfg.PublicURL, cfg.ReportTTL)
	if err != nil {
		return err
	}
	a.links = links
	record := subscribers.DeliveryRecorder(js, subj, metrics)
	reports := &subscribers.Reports{JS: js, Subjects: subj, Alerts: alerts, Known: known,
		Record: record, Metrics: metrics, Log: log, MaxAge: cfg.AnswerMaxAge}
	cardholder := func(bank, id string) *rules.Cardholder { return current.Load().Lookup(bank, id) }
	page, err := reportpage.New(reportpage.Config{Links: links, Answers: reports, Cardholder: cardholder, Key: key, Log: log})
	if err != nil {
		return err
	}
	// Callbacks are open to the internet, so each client address is rate-limited.
	callbacks := http.NewServeMux()
	callbacks.Handle("/r/", page)
	mount := a.mountChannels
	if mount == nil {
		mount = channelRoutes
	}
	if err := mount(callbacks, routeDeps{answers: reports, cardholder: cardholder, log: log, inFlight: &inFlight}); err != nil {
		return err
	}
	// People tap a link a few times; Twilio and Slack post from a few addresses for
	// every cardholder, so their routes allow far more.
	proxies := cfg.trustedNets()
	mux.Handle("/r/", notifiers.LimitPerClient(callbacks, 5, 20, proxies...))
	providers := notifiers.LimitPerClient(callbacks, 200, 400, proxies...)
	mux.Handle("/slack/", providers)
	mux.Handle("/twilio/", providers)
	mux.Handle("GET /static/report.css", page)
	streamsReady.Store(true)

	if cfg.RulesFile != "" {
		go func() {
			err := rules.Watch(ctx, cfg.RulesFile, func(b *rules.Book) {
				current.Store(b)
				metrics.RulesLoaded.Set(float64(b.Len()))
				log.Info("rules reloaded", "file", cfg.RulesFile, "cardholders", b.Len())
			}, func(err error) {
				log.Error("rules file changed but is not valid; keeping the rules in force", "file", cfg.RulesFile, "err", rules.Redact(err))
			})
			if err != nil {
				log.Error("rules file will not be reloaded", "err", err)
			}
		}()
	}

	parts, err := subscribers.StreamPartitioning(ctx, js, subj)
	if err != nil {
		return err
	}
	if cfg.Partitions != 0 && cfg.Partitions != parts.Partitions {
		log.Warn("CARDWATCH_PARTITIONS differs from the transaction stream's partition count, which is kept: it applies to a new stream; `cardwatch partitions set N` changes it",
			"CARDWATCH_PARTITIONS", cfg.Partitions, "stream", parts.Partitions)
	}
	fleet, err := subscribers.OpenFleet(ctx, js, store, metrics, log)
	if err != nil {
		return err
	}
	pipe := &subscribers.Pipeline{
		JS: js, Subjects: subj, Rules: &current, Known: known, Alerts: alerts, Fleet: fleet,
		ReportURL: links.URL, Metrics: metrics, Log: log,
		Workers: cfg.Workers, MaxAckPending: cfg.MaxAckPending, AckWait: cfg.AckWait, Observe: a.observe,
	}
	deliver := &subscribers.Deliverer{
		JS: js, Subjects: subj, Rules: &current, Log: log, Durable: "cardwatch_deliver", Alerts: alerts,
		Metrics:     metrics,
		Concurrency: cfg.DeliveryWorkers, AckWait: cfg.DeliveryAckWait, MaxAckPending: cfg.MaxAckPending,
		Dispatcher: &notifiers.Dispatcher{
			Notifiers: a.notifiers, Sent: sent, Log: log,
			Record: record, MaxAge: cfg.DeliveryMaxAge, Limits: limits,
			GiveUp: subscribers.UndeliveredToDLQ(js, subj, metrics),
		},
	}
	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	errc := make(chan error, 2)
	var wg sync.WaitGroup
	for _, r := range []interface{ Run(context.Context) error }{pipe, deliver} {
		wg.Go(func() {
			if err := r.Run(workCtx); err != nil {
				errc <- err
			}
		})
	}
	go subscribers.WatchLag(workCtx, js, subscribers.StreamTxn, nil, metrics, 2*time.Second)
	go subscribers.WatchLag(workCtx, js, subscribers.StreamAlerts, []string{deliver.Durable}, metrics, 2*time.Second)
	a.member = fleet.ID()
	log.Info("cardwatch ready", "http", a.httpURL, "cardholders", a.book.Len(), "known_merchants", known.Len(),
		"member", fleet.ID(), "partitions", parts.Partitions,
		"channels", channelNames(a.notifiers), "transactions", subj.TxnAll())
	a.markReady()

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("stopping: finishing the work in hand", "timeout", cfg.ShutdownTimeout)
	case runErr = <-errc:
	case <-closed:
		if ctx.Err() == nil {
			runErr = errors.New("the NATS connection was closed for good; exiting so that cardwatch is restarted")
		}
	}
	stopWork()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(cfg.ShutdownTimeout):
		log.Warn("shutdown timeout: unfinished work will be redelivered")
	}
	return runErr
}

func shutdownEmbedded(ns *server.Server) {
	ns.Shutdown()
	ns.WaitForShutdown()
}

func channelNames(ns []notifiers.Notifier) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.Channel()
	}
	return out
}

// routes are the health checks every listener answers; run adds the rest.
func (a *app) routes(nc *nats.Conn, streamsReady *atomic.Bool, book *atomic.Pointer[rules.Book]) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		var why string
		switch {
		case !nc.IsConnected():
			why = "NATS is not connected"
		case !streamsReady.Load():
			why = "streams are not ready"
		case book.Load() == nil:
			why = "rules are not loaded"
		}
		if why != "" {
			http.Error(w, "not ready: "+why, http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ready\n")
	})
	return mux
}

// storedSigningKey reads the signing key kept in dir, or makes one and keeps it there
// (readable by this user only); made says which.
func storedSigningKey(dir string) (key []byte, made bool, err error) {
	path := filepath.Join(dir, "signing.key")
	if b, err := os.ReadFile(path); err == nil {
		if len(b) < notifiers.MinSigningKey || distinctBytes(string(b)) < minKeyBytes {
			return nil, false, fmt.Errorf("signing key in %s is under %d bytes or a placeholder: delete it, or set CARDWATCH_SIGNING_KEY", path, notifiers.MinSigningKey)
		}
		return b, false, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, false, fmt.Errorf("read signing key %s: %w", path, err)
	}
	key = make([]byte, 32)
	_, _ = rand.Read(key)
	if err := os.WriteFile(path, key, 0o600); err != nil {
		return nil, false, fmt.Errorf("keep signing key in %s: %w (set CARDWATCH_SIGNING_KEY)", path, err)
	}
	return key, true, nil
}
