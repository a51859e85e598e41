package natsauth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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

	"github.com/cardwatch/cardwatch/subscribers"
)

const wait = 10 * time.Second

// provision runs Provision with the default prefix and fails the test on error.
func provision(t *testing.T, dir string, banks ...string) Report {
	t.Helper()
	rep, err := Provision(Config{Dir: dir, Prefix: "cardwatch", Banks: banks})
	if err != nil {
		t.Fatalf("Provision(%v): %v", banks, err)
	}
	return rep
}

// startServer starts nats-server from a config that includes authConf, the way an
// operator's config does, with JetStream on a temporary store. NATSAUTH_LOG=1 shows the
// server's log, which says why it refused an account or an import.
func startServer(t *testing.T, authConf string) *server.Server {
	t.Helper()
	confDir := t.TempDir()
	rel, err := filepath.Rel(confDir, authConf)
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(confDir, "server.conf")
	text := fmt.Sprintf("listen: 127.0.0.1:-1\nserver_name: test\njetstream { store_dir: %q }\ninclude %q\n", t.TempDir(), rel)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(conf)
	if err != nil {
		t.Fatalf("load %s: %v", conf, err)
	}
	opts.NoLog, opts.NoSigs = os.Getenv("NATSAUTH_LOG") == "", true
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	if !opts.NoLog {
		s.ConfigureLogger()
	}
	go s.Start()
	if !s.ReadyForConnections(wait) {
		t.Fatal("nats-server with the generated auth.conf did not start")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s
}

// client is a connection with the asynchronous errors the server sent it.
type client struct {
	*nats.Conn
	js   jetstream.JetStream
	errs chan error
}

func connect(t *testing.T, s *server.Server, creds string) *client {
	t.Helper()
	c := &client{errs: make(chan error, 64)}
	nc, err := nats.Connect(s.ClientURL(), nats.UserCredentials(creds), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case c.errs <- err:
		default:
		}
	}))
	if err != nil {
		t.Fatalf("connect with %s: %v", filepath.Base(creds), err)
	}
	t.Cleanup(nc.Close)
	c.Conn = nc
	if c.js, err = jetstream.New(nc); err != nil {
		t.Fatal(err)
	}
	return c
}

// permissionViolation waits for the server to refuse a publish on subject.
func (c *client) permissionViolation(t *testing.T, subject string) {
	t.Helper()
	timeout := time.After(wait)
	for {
		select {
		case err := <-c.errs:
			if errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(err.Error(), subject) {
				return
			}
		case <-timeout:
			t.Fatalf("no permissions violation for publishing on %s within %s", subject, wait)
		}
	}
}

// unrestrictedUser makes the creds of a user of the account with no permissions at all,
// signed with the account's seed in dir: what the account alone lets through.
func unrestrictedUser(t *testing.T, dir, bank string) string {
	t.Helper()
	seed, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(accountSeedFile(bank, true))))
	if err != nil {
		t.Fatal(err)
	}
	akp, err := nkeys.FromSeed(bytes.TrimSpace(seed))
	if err != nil {
		t.Fatal(err)
	}
	ukp, _ := nkeys.CreateUser()
	upub, _ := ukp.PublicKey()
	tok, err := jwt.NewUserClaims(upub).Encode(akp)
	if err != nil {
		t.Fatal(err)
	}
	useed, _ := ukp.Seed()
	creds, _ := jwt.FormatUserConfig(tok, useed)
	p := filepath.Join(t.TempDir(), bank+"-unrestricted.creds")
	if err := os.WriteFile(p, creds, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// collector keeps what a subscription receives. It is a channel subscription: the
// connection's reader puts each message in its channel as it reads it, so once a later
// message has come on one collector, an earlier one of the same connection is in its
// collector's channel already.
type collector struct {
	ch   chan *nats.Msg
	msgs []*nats.Msg
}

func subscribe(t *testing.T, c *client, subject string) *collector {
	t.Helper()
	col := &collector{ch: make(chan *nats.Msg, 1024)}
	sub, err := c.ChanSubscribe(subject, col.ch)
	if err != nil {
		t.Fatalf("subscribe %s: %v", subject, err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	return col
}

// waitFor waits for a message with that payload, and fails naming it when none comes.
func (col *collector) waitFor(t *testing.T, payload string) {
	t.Helper()
	timeout := time.After(wait)
	for {
		select {
		case m := <-col.ch:
			col.msgs = append(col.msgs, m)
			if string(m.Data) == payload {
				return
			}
		case <-timeout:
			t.Fatalf("%q did not arrive within %s", payload, wait)
		}
	}
}

// received is every message received so far.
func (col *collector) received() []*nats.Msg {
	for {
		select {
		case m := <-col.ch:
			col.msgs = append(col.msgs, m)
		default:
			return col.msgs
		}
	}
}

func msgCount(t *testing.T, js jetstream.JetStream, stream string) uint64 {
	t.Helper()
	s, err := js.Stream(context.Background(), stream)
	if err != nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	return info.State.Msgs
}

// publishAck publishes with JetStream and fails the test without an ack from stream.
func publishAck(t *testing.T, c *client, subject, payload, stream string) *jetstream.PubAck {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	ack, err := c.js.Publish(ctx, subject, []byte(payload))
	if err != nil {
		t.Fatalf("JetStream publish on %s: %v", subject, err)
	}
	if ack.Stream != stream {
		t.Fatalf("publish on %s acked by stream %s, want %s", subject, ack.Stream, stream)
	}
	return ack
}

var feeds = []string{"cardwatch.alerts.acme", "cardwatch.reports.acme", "cardwatch.deliveries.acme", "cardwatch.dlq.acme"}

func TestBanksAreIsolated(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "auth")
	provision(t, dir, "acme", "globex")
	s := startServer(t, filepath.Join(dir, AuthConfFile))
	cw := connect(t, s, filepath.Join(dir, "cardwatch.creds"))
	acme := connect(t, s, filepath.Join(dir, "acme.creds"))
	globex := connect(t, s, filepath.Join(dir, "globex.creds"))

	if err := subscribers.EnsureStreams(ctx, cw.js, subscribers.Subjects{Prefix: "cardwatch"}, subscribers.StoreConfig{}); err != nil {
		t.Fatalf("cardwatch creates its streams in its account: %v", err)
	}
	// Direct get answers only for streams that allow it: allow it, so that acme's
	// attempt below fails for the accounts, not for the stream's setting.
	alerts, err := cw.js.Stream(ctx, subscribers.StreamAlerts)
	if err != nil {
		t.Fatal(err)
	}
	acfg := alerts.CachedInfo().Config
	acfg.AllowDirect = true
	if _, err := cw.js.UpdateStream(ctx, acfg); err != nil {
		t.Fatal(err)
	}
	kv, err := cw.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: subscribers.BucketAlerts})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "alert-1", []byte("secret-kv")); err != nil {
		t.Fatal(err)
	}

	// acme keeps its feeds in a stream of its own account, with a durable consumer.
	acmeFeeds, err := acme.js.CreateStream(ctx, jetstream.StreamConfig{Name: "ACME_FEEDS", Subjects: feeds})
	if err != nil {
		t.Fatalf("acme creates a stream of its own on its feeds: %v", err)
	}
	if _, err := acmeFeeds.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: "acme-feeds", AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatalf("acme creates a durable consumer: %v", err)
	}

	t.Run("a bank's transaction is acked by CARDWATCH_TXN and cardwatch reads it", func(t *testing.T) {
		ack := publishAck(t, acme, "cardwatch.txn.acme.tok_1", `{"id":"t1"}`, subscribers.StreamTxn)
		txn, err := cw.js.Stream(ctx, subscribers.StreamTxn)
		if err != nil {
			t.Fatal(err)
		}
		m, err := txn.GetMsg(ctx, ack.Sequence)
		if err != nil {
			t.Fatalf("cardwatch reads message %d of %s: %v", ack.Sequence, subscribers.StreamTxn, err)
		}
		if string(m.Data) != `{"id":"t1"}` {
			t.Errorf("cardwatch read %q", m.Data)
		}
	})

	t.Run("a bank's cardholder profiles reach cardwatch", func(t *testing.T) {
		got := subscribe(t, cw, "cardwatch.cardholders.*")
		if err := acme.Publish("cardwatch.cardholders.acme", []byte(`{"id":"ch_1"}`)); err != nil {
			t.Fatal(err)
		}
		got.waitFor(t, `{"id":"ch_1"}`)
	})

	t.Run("a bank reads its feeds live and in a stream of its own", func(t *testing.T) {
		live := subscribe(t, acme, "cardwatch.*.acme")
		before := msgCount(t, acme.js, "ACME_FEEDS")
		stream := map[string]string{"cardwatch.alerts.acme": subscribers.StreamAlerts, "cardwatch.reports.acme": subscribers.StreamReports,
			"cardwatch.deliveries.acme": subscribers.StreamDeliveries, "cardwatch.dlq.acme": subscribers.StreamDLQ}
		for _, f := range feeds {
			publishAck(t, cw, f, "feed "+f, stream[f])
		}
		for _, f := range feeds {
			live.waitFor(t, "feed "+f)
		}
		cons, err := acme.js.Consumer(ctx, "ACME_FEEDS", "acme-feeds")
		if err != nil {
			t.Fatal(err)
		}
		var read []string
		for len(read) < len(feeds) {
			batch, err := cons.Fetch(len(feeds), jetstream.FetchMaxWait(wait))
			if err != nil {
				t.Fatal(err)
			}
			n := len(read)
			for m := range batch.Messages() {
				read = append(read, m.Subject())
				if err := m.Ack(); err != nil {
					t.Fatalf("acme acks its own consumer's message: %v", err)
				}
			}
			if batch.Error() != nil || len(read) == n {
				t.Fatalf("acme's durable consumer read %v, then %v", read, batch.Error())
			}
		}
		if !slices.Equal(read, feeds) {
			t.Errorf("acme's durable consumer read %v, want %v", read, feeds)
		}
		if got := msgCount(t, acme.js, "ACME_FEEDS") - before; got != uint64(len(feeds)) {
			t.Errorf("ACME_FEEDS kept %d new messages, want %d", got, len(feeds))
		}
	})

	t.Run("a bank cannot publish another bank's transactions", func(t *testing.T) {
		before := msgCount(t, cw.js, subscribers.StreamTxn)
		if err := acme.Publish("cardwatch.txn.globex.tok_9", []byte(`{"id":"forged"}`)); err != nil {
			t.Fatal(err)
		}
		acme.permissionViolation(t, "cardwatch.txn.globex.tok_9")
		// Even a user of acme's account with no permissions reaches nothing of globex's:
		// acme's account has no import of those subjects.
		free := connect(t, s, unrestrictedUser(t, dir, "acme"))
		if err := free.Publish("cardwatch.txn.globex.tok_9", []byte(`{"id":"forged"}`)); err != nil {
			t.Fatal(err)
		}
		if err := free.Flush(); err != nil {
			t.Fatal(err)
		}
		// Both connections' later publishes are stored after anything they sent before.
		publishAck(t, acme, "cardwatch.txn.acme.tok_1", `{"id":"t2"}`, subscribers.StreamTxn)
		publishAck(t, free, "cardwatch.txn.acme.tok_1", `{"id":"t3"}`, subscribers.StreamTxn)
		if got := msgCount(t, cw.js, subscribers.StreamTxn) - before; got != 2 {
			t.Errorf("CARDWATCH_TXN stored %d new messages, want only acme's own 2", got)
		}
		if _, err := globex.js.Publish(ctx, "cardwatch.txn.globex.tok_1", []byte(`{"id":"g1"}`)); err != nil {
			t.Errorf("globex publishes its own: %v", err)
		}
	})

	t.Run("a bank sees nothing of another bank or of cardwatch's own traffic", func(t *testing.T) {
		free := connect(t, s, unrestrictedUser(t, dir, "acme"))
		subs := []*collector{subscribe(t, acme, ">"), subscribe(t, acme, "cardwatch.>"), subscribe(t, free, ">")}
		publishAck(t, cw, "cardwatch.alerts.globex", "secret-alert", subscribers.StreamAlerts)
		publishAck(t, cw, "cardwatch.reports.globex", "secret-report", subscribers.StreamReports)
		publishAck(t, globex, "cardwatch.txn.globex.tok_2", "secret-txn", subscribers.StreamTxn)
		if err := cw.Publish("cardwatch.internal.state", []byte("secret-internal")); err != nil {
			t.Fatal(err)
		}
		if _, err := kv.Put(ctx, "alert-2", []byte("secret-kv")); err != nil {
			t.Fatal(err)
		}
		publishAck(t, cw, "cardwatch.alerts.acme", "barrier", subscribers.StreamAlerts)
		for i, col := range subs {
			col.waitFor(t, "barrier")
			for _, m := range col.received() {
				if strings.Contains(string(m.Data), "secret") || strings.Contains(m.Subject, "globex") || strings.Contains(m.Subject, "KV") {
					t.Errorf("subscriber %d of acme received %s %q", i, m.Subject, m.Data)
				}
			}
		}
	})

	t.Run("a bank cannot subscribe to another bank's feed", func(t *testing.T) {
		spy := subscribe(t, acme, "cardwatch.alerts.globex")
		own := subscribe(t, acme, "cardwatch.alerts.acme")
		globexOwn := subscribe(t, globex, "cardwatch.alerts.globex")
		publishAck(t, cw, "cardwatch.alerts.globex", "secret-alert", subscribers.StreamAlerts)
		publishAck(t, cw, "cardwatch.alerts.acme", "barrier", subscribers.StreamAlerts)
		globexOwn.waitFor(t, "secret-alert")
		own.waitFor(t, "barrier")
		if got := spy.received(); len(got) != 0 {
			t.Errorf("acme received %d messages of globex's alerts", len(got))
		}
	})

	t.Run("a bank's JetStream API reaches only its own account", func(t *testing.T) {
		for _, name := range []string{subscribers.StreamTxn, subscribers.StreamAlerts} {
			if _, err := acme.js.Stream(ctx, name); !errors.Is(err, jetstream.ErrStreamNotFound) {
				t.Errorf("acme looks up %s: %v, want stream not found", name, err)
			}
			_, err := acme.js.CreateOrUpdateConsumer(ctx, name, jetstream.ConsumerConfig{Durable: "spy"})
			if !errors.Is(err, jetstream.ErrStreamNotFound) {
				t.Errorf("acme creates a consumer on %s: %v, want stream not found", name, err)
			}
		}
		spy, err := acme.js.CreateStream(ctx, jetstream.StreamConfig{Name: "ACME_SPY",
			Subjects: []string{"cardwatch.alerts.globex", "cardwatch.reports.globex", "cardwatch.txn.globex.*", "_INBOX.spy"}})
		if err != nil {
			t.Fatalf("acme creates a stream of its own: %v", err)
		}
		before := msgCount(t, acme.js, "ACME_FEEDS")
		publishAck(t, cw, "cardwatch.alerts.globex", "secret-alert", subscribers.StreamAlerts)
		publishAck(t, cw, "cardwatch.reports.globex", "secret-report", subscribers.StreamReports)
		publishAck(t, globex, "cardwatch.txn.globex.tok_3", "secret-txn", subscribers.StreamTxn)
		publishAck(t, cw, "cardwatch.alerts.acme", "barrier", subscribers.StreamAlerts)
		deadline := time.Now().Add(wait)
		for msgCount(t, acme.js, "ACME_FEEDS") == before {
			if time.Now().After(deadline) {
				t.Fatalf("acme's alert did not reach ACME_FEEDS within %s", wait)
			}
			time.Sleep(10 * time.Millisecond)
		}
		// Anything that had reached ACME_SPY is stored before this.
		publishAck(t, acme, "_INBOX.spy", "spy barrier", "ACME_SPY")
		info, err := spy.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.State.Msgs != 1 {
			t.Errorf("ACME_SPY holds %d messages, want only acme's own barrier", info.State.Msgs)
		}
	})

	t.Run("a bank cannot read cardwatch's buckets or direct-get its streams", func(t *testing.T) {
		if _, err := acme.js.KeyValue(ctx, subscribers.BucketAlerts); !errors.Is(err, jetstream.ErrBucketNotFound) {
			t.Errorf("acme opens %s: %v, want bucket not found", subscribers.BucketAlerts, err)
		}
		gets := map[string]string{
			"$JS.API.DIRECT.GET." + subscribers.StreamAlerts:                                                      `{"last_by_subj":"cardwatch.alerts.globex"}`,
			"$JS.API.DIRECT.GET.KV_" + subscribers.BucketAlerts + ".$KV." + subscribers.BucketAlerts + ".alert-1": ``,
		}
		for subj, body := range gets {
			// cardwatch itself gets an answer: the request is right, only the account differs.
			if m, err := cw.Request(subj, []byte(body), wait); err != nil || len(m.Data) == 0 {
				t.Fatalf("cardwatch's own direct get %s: %v", subj, err)
			}
			m, err := acme.Request(subj, []byte(body), wait)
			if !errors.Is(err, nats.ErrNoResponders) {
				t.Errorf("acme's direct get %s: %v %v, want no responders", subj, m, err)
			}
		}
		if err := acme.Publish("$KV."+subscribers.BucketAlerts+".alert-1", []byte("forged")); err != nil {
			t.Fatal(err)
		}
		acme.permissionViolation(t, "$KV."+subscribers.BucketAlerts+".alert-1")
		free := connect(t, s, unrestrictedUser(t, dir, "acme"))
		if _, err := free.js.Publish(ctx, "$KV."+subscribers.BucketAlerts+".alert-1", []byte("forged")); !errors.Is(err, jetstream.ErrNoStreamResponse) {
			t.Errorf("acme's unrestricted user puts into cardwatch's bucket: %v, want no stream", err)
		}
		e, err := kv.Get(ctx, "alert-1")
		if err != nil || string(e.Value()) != "secret-kv" {
			t.Errorf("cardwatch's bucket holds %v, %v", e, err)
		}
	})

	t.Run("a bank cannot forge its own feeds", func(t *testing.T) {
		live := subscribe(t, connect(t, s, filepath.Join(dir, "acme.creds")), "cardwatch.alerts.acme")
		alertsBefore := msgCount(t, cw.js, subscribers.StreamAlerts)
		feedsBefore := msgCount(t, acme.js, "ACME_FEEDS")
		for _, f := range feeds {
			if err := acme.Publish(f, []byte("forged")); err != nil {
				t.Fatal(err)
			}
			acme.permissionViolation(t, f)
		}
		free := connect(t, s, unrestrictedUser(t, dir, "acme"))
		if err := free.Publish("cardwatch.alerts.acme", []byte("forged by the account")); err != nil {
			t.Fatal(err)
		}
		if err := free.Flush(); err != nil {
			t.Fatal(err)
		}
		publishAck(t, cw, "cardwatch.alerts.acme", "barrier", subscribers.StreamAlerts)
		live.waitFor(t, "barrier")
		for _, m := range live.received() {
			if string(m.Data) == "forged" {
				t.Errorf("acme's subscriber received acme's forged alert")
			}
		}
		// What acme's account itself publishes stays in it: never in cardwatch's stream.
		if got := msgCount(t, cw.js, subscribers.StreamAlerts) - alertsBefore; got != 1 {
			t.Errorf("CARDWATCH_ALERTS stored %d new messages, want only cardwatch's 1", got)
		}
		if got := msgCount(t, acme.js, "ACME_FEEDS") - feedsBefore; got > 2 {
			t.Errorf("ACME_FEEDS stored %d new messages, want at most cardwatch's and the account's own", got)
		}
	})
}

// forgeAuthConf writes an auth.conf whose acme account carries extra imports, signed by
// the operator: the server must still refuse what their tokens do not allow.
func forgeAuthConf(t *testing.T, folder string, imports func(ks *keys, acmePub string) []*jwt.Import) string {
	t.Helper()
	var rep Report
	ks, err := loadKeys(dir(folder), []string{"acme", "globex"}, &rep)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Written) != 0 {
		t.Fatalf("loading the keys wrote %v", rep.Written)
	}
	accts, err := ks.accounts("cardwatch", []string{"acme", "globex"})
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range accts {
		if a.Name != "acme" {
			continue
		}
		ac, err := jwt.DecodeAccountClaims(a.JWT)
		if err != nil {
			t.Fatal(err)
		}
		ac.Imports.Add(imports(ks, a.Pub)...)
		// Signed without the checks encode makes: a forger signs what it likes.
		if accts[i].JWT, err = ac.Encode(ks.operator); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(t.TempDir(), AuthConfFile)
	if err := os.WriteFile(p, renderAuthConf(ks.operatorJWT, ks.pub(ks.sys), accts), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func activationFor(t *testing.T, signer nkeys.KeyPair, importer, subject string, typ jwt.ExportType) string {
	t.Helper()
	act := jwt.NewActivationClaims(importer)
	act.ImportSubject = jwt.Subject(subject)
	act.ImportType = typ
	tok, err := act.Encode(signer)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestForgedImportsAreRefused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "auth")
	provision(t, dir, "acme", "globex")
	globexToken := func(ks *keys, subject string, typ jwt.ExportType) string {
		return activationFor(t, ks.cardwatch, ks.pub(ks.banks["globex"]), subject, typ)
	}
	// Each forged import on its own, so that one refused account hides no other.
	forged := map[string]func(ks *keys, acmePub string) *jwt.Import{
		"globex's activation copied into acme's account": func(ks *keys, _ string) *jwt.Import {
			return &jwt.Import{Subject: "cardwatch.alerts.globex", Account: ks.pub(ks.cardwatch), Type: jwt.Stream, Token: globexToken(ks, "cardwatch.alerts.globex", jwt.Stream)}
		},
		"an activation acme signs itself": func(ks *keys, acmePub string) *jwt.Import {
			return &jwt.Import{Subject: "cardwatch.reports.globex", Account: ks.pub(ks.cardwatch), Type: jwt.Stream, Token: activationFor(t, ks.banks["acme"], acmePub, "cardwatch.reports.globex", jwt.Stream)}
		},
		"no activation": func(ks *keys, _ string) *jwt.Import {
			return &jwt.Import{Subject: "cardwatch.deliveries.globex", Account: ks.pub(ks.cardwatch), Type: jwt.Stream}
		},
		"globex's activation of its transactions service": func(ks *keys, _ string) *jwt.Import {
			return &jwt.Import{Subject: "cardwatch.txn.globex.*", Account: ks.pub(ks.cardwatch), Type: jwt.Service, Token: globexToken(ks, "cardwatch.txn.globex.*", jwt.Service)}
		},
	}
	genuine := func(ks *keys, acmePub string) []*jwt.Import {
		return []*jwt.Import{{Subject: "cardwatch.alerts.globex", Account: ks.pub(ks.cardwatch), Type: jwt.Stream,
			Token: activationFor(t, ks.cardwatch, acmePub, "cardwatch.alerts.globex", jwt.Stream)}}
	}
	// run publishes globex's feeds and a forged transaction, then a barrier, and returns
	// what acme received of globex's and what cardwatch received of the transactions.
	// The server refuses an account whose activation tokens do not check out as a
	// whole (its users cannot connect); run says so with refused.
	run := func(t *testing.T, authConf string) (acmeGot []*nats.Msg, cwGot []*nats.Msg, refused bool) {
		s := startServer(t, authConf)
		cw := connect(t, s, filepath.Join(dir, "cardwatch.creds"))
		acmeCreds := unrestrictedUser(t, dir, "acme")
		if nc, err := nats.Connect(s.ClientURL(), nats.UserCredentials(acmeCreds)); errors.Is(err, nats.ErrAuthorization) {
			return nil, nil, true
		} else if err != nil {
			t.Fatal(err)
		} else {
			nc.Close()
		}
		acme := connect(t, s, acmeCreds)
		txns := subscribe(t, cw, "cardwatch.txn.>")
		spy := subscribe(t, acme, "cardwatch.*.globex")
		own := subscribe(t, acme, "cardwatch.alerts.acme")
		for _, f := range []string{"alerts", "reports", "deliveries"} {
			if err := cw.Publish("cardwatch."+f+".globex", []byte("globex "+f)); err != nil {
				t.Fatal(err)
			}
		}
		if err := acme.Publish("cardwatch.txn.globex.tok_1", []byte("forged")); err != nil {
			t.Fatal(err)
		}
		if err := acme.Publish("cardwatch.txn.acme.tok_1", []byte("barrier")); err != nil {
			t.Fatal(err)
		}
		if err := cw.Publish("cardwatch.alerts.acme", []byte("barrier")); err != nil {
			t.Fatal(err)
		}
		own.waitFor(t, "barrier")
		txns.waitFor(t, "barrier")
		return spy.received(), txns.received(), false
	}

	for name, imp := range forged {
		t.Run(name, func(t *testing.T) {
			acmeGot, cwGot, refused := run(t, forgeAuthConf(t, dir, func(ks *keys, acmePub string) []*jwt.Import { return []*jwt.Import{imp(ks, acmePub)} }))
			if refused {
				t.Log("the server refuses acme's account")
				return
			}
			for _, m := range acmeGot {
				t.Errorf("acme received %s %q", m.Subject, m.Data)
			}
			for _, m := range cwGot {
				if string(m.Data) != "barrier" {
					t.Errorf("cardwatch received acme's %s %q", m.Subject, m.Data)
				}
			}
		})
	}
	t.Run("control: an activation cardwatch issued to acme lets globex's alerts through", func(t *testing.T) {
		acmeGot, _, refused := run(t, forgeAuthConf(t, dir, genuine))
		if refused || len(acmeGot) != 1 || acmeGot[0].Subject != "cardwatch.alerts.globex" {
			t.Errorf("acme received %d messages, want globex's alert: the harness sees no leak", len(acmeGot))
		}
	})
}

func TestAddingABankKeepsCreds(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "auth")
	provision(t, dir, "acme", "globex")
	oldConf := filepath.Join(t.TempDir(), AuthConfFile)
	copyFile(t, filepath.Join(dir, AuthConfFile), oldConf)
	acmeCreds, err := os.ReadFile(filepath.Join(dir, "acme.creds"))
	if err != nil {
		t.Fatal(err)
	}
	// The running server's config includes its own copy of auth.conf, as on a node.
	nodeConf := filepath.Join(t.TempDir(), AuthConfFile)
	copyFile(t, oldConf, nodeConf)
	running := startServer(t, nodeConf)
	acmeBefore := connect(t, running, filepath.Join(dir, "acme.creds"))

	rep := provision(t, dir, "globex", "acme", "initech")
	if slices.Contains(rep.Written, "acme.creds") || !slices.Contains(rep.Kept, "acme.creds") || !slices.Contains(rep.Written, "initech.creds") {
		t.Errorf("second run wrote %v and kept %v", rep.Written, rep.Kept)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "acme.creds")); !bytes.Equal(after, acmeCreds) {
		t.Error("acme.creds changed")
	}

	check := func(t *testing.T, s *server.Server, banks ...string) {
		cw := connect(t, s, filepath.Join(dir, "cardwatch.creds"))
		txns := subscribe(t, cw, "cardwatch.txn.>")
		for _, b := range banks {
			c := connect(t, s, filepath.Join(dir, b+".creds"))
			if err := c.Publish("cardwatch.txn."+b+".tok_1", []byte(b)); err != nil {
				t.Fatal(err)
			}
			txns.waitFor(t, b)
		}
	}
	t.Run("the old auth.conf accepts the same creds", func(t *testing.T) { check(t, startServer(t, oldConf), "acme", "globex") })
	t.Run("the new auth.conf accepts old and new creds", func(t *testing.T) {
		check(t, startServer(t, filepath.Join(dir, AuthConfFile)), "acme", "globex", "initech")
	})
	t.Run("a running server takes the new bank on reload", func(t *testing.T) {
		if _, err := nats.Connect(running.ClientURL(), nats.UserCredentials(filepath.Join(dir, "initech.creds"))); err == nil {
			t.Fatal("initech connected before the reload")
		}
		copyFile(t, filepath.Join(dir, AuthConfFile), nodeConf)
		if err := running.Reload(); err != nil {
			t.Fatalf("reload with the new auth.conf: %v", err)
		}
		check(t, running, "acme", "globex", "initech")
		if !acmeBefore.IsConnected() {
			t.Error("acme's connection from before the reload was closed")
		}
	})
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestProvisionRefuses(t *testing.T) {
	tests := []struct {
		name   string
		prefix string
		banks  []string
		want   []string
	}{
		{"bad bank ids", "cardwatch", []string{"Acme", "glo.bex", "ini*", ""}, []string{`"Acme" is not a bank id`, `"glo.bex" is not a bank id`, `"ini*" is not a bank id`, `"" is not a bank id`}},
		{"duplicates", "cardwatch", []string{"acme", "globex", "acme"}, []string{`"acme" is listed twice`}},
		{"names of cardwatch's own accounts", "cardwatch", []string{"cardwatch", "sys", "_unrouted"}, []string{`"cardwatch" is a name`, `"sys" is a name`, `"_unrouted" is a name`}},
		{"no bank", "cardwatch", nil, []string{"no bank"}},
		{"bad prefix", "card watch.>", []string{"acme"}, []string{`prefix "card watch.>"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "auth")
			_, err := Provision(Config{Dir: dir, Prefix: tt.prefix, Banks: tt.banks})
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a refused run made %s", dir)
			}
		})
	}

	dir := filepath.Join(t.TempDir(), "auth")
	provision(t, dir, "acme", "globex")
	if _, err := Provision(Config{Dir: dir, Prefix: "cardwatch", Banks: []string{"acme"}}); err == nil || !strings.Contains(err.Error(), "already has bank(s) globex") {
		t.Errorf("dropping a bank: %v", err)
	}
	if _, err := Provision(Config{Dir: dir, Prefix: "other", Banks: []string{"acme", "globex"}}); err == nil || !strings.Contains(err.Error(), "--prefix cardwatch") {
		t.Errorf("another prefix: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "acme.creds"), []byte("not creds"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Provision(Config{Dir: dir, Prefix: "cardwatch", Banks: []string{"acme", "globex"}}); err == nil || !strings.Contains(err.Error(), "acme.creds is not a user of the acme account") {
		t.Errorf("a bad creds file: %v", err)
	}
}

func TestAnotherPrefix(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "auth")
	if _, err := Provision(Config{Dir: dir, Prefix: "cw.eu", Banks: []string{"acme"}}); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, filepath.Join(dir, AuthConfFile))
	cw := connect(t, s, filepath.Join(dir, "cardwatch.creds"))
	acme := connect(t, s, filepath.Join(dir, "acme.creds"))
	if err := subscribers.EnsureStreams(ctx, cw.js, subscribers.Subjects{Prefix: "cw.eu"}, subscribers.StoreConfig{}); err != nil {
		t.Fatal(err)
	}
	publishAck(t, acme, "cw.eu.txn.acme.tok_1", "txn", subscribers.StreamTxn)
	alerts := subscribe(t, acme, "cw.eu.alerts.acme")
	publishAck(t, cw, "cw.eu.alerts.acme", "alert", subscribers.StreamAlerts)
	alerts.waitFor(t, "alert")
	if err := acme.Publish("cardwatch.txn.acme.tok_1", []byte("txn")); err != nil {
		t.Fatal(err)
	}
	acme.permissionViolation(t, "cardwatch.txn.acme.tok_1")
}
