package subscribers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cardwatch/cardwatch/rules"
)

// Pipeline takes each transaction on CARDWATCH_TXN through the cardholder's rules and
// publishes one alert when any rule fires, before it acknowledges the transaction.
type Pipeline struct {
	// JS is the JetStream context the consumer and publishers use.
	JS jetstream.JetStream
	// Subjects builds the subjects under the configured prefix.
	Subjects Subjects
	// Rules is the rules book in force; reloads swap it.
	Rules *atomic.Pointer[rules.Book]
	// Known is the known-merchants cache.
	Known *KnownMerchants
	// Alerts keeps every alert raised, for idempotency past JetStream's duplicate window
	// and for the cardholder's answer.
	Alerts *AlertStore
	// ReportURL builds an alert's report link.
	ReportURL func(alertID string) string
	// Metrics counts outcomes; Log gets one line per event that matters.
	Metrics *Metrics
	Log     *slog.Logger
	// Fleet, when set, says which partitions this instance works on; nil means all.
	Fleet *Fleet
	// Workers is how many transactions are handled at once. One card's transactions
	// are handled one after another, in order; a card waiting on NATS holds up no other.
	Workers int
	// MaxAckPending bounds the transactions in flight, and with it memory, whatever the
	// backlog.
	MaxAckPending int
	// AckWait is how long a transaction may be in hand before it is redelivered; after
	// a crash, that is how long the transactions it held wait.
	AckWait time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Observe, when set, hears each transaction's subject and outcome once handled.
	Observe func(subject, outcome string)

	txnMu     sync.Mutex
	txnStream jetstream.Stream // CARDWATCH_TXN, to erase refused events from
}

func (p *Pipeline) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

// Run consumes transactions until ctx ends, then finishes the ones in hand. With a
// Fleet it works on the partitions the fleet gives this instance; without one, on all.
// When the partition count changes (SetPartitions), it first handles what was stored
// under the older count, then moves on to the new partitions, without a restart.
func (p *Pipeline) Run(ctx context.Context) error {
	workers := max(p.Workers, 1)
	queue := newKeyedQueue[txnWork]()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			queue.run(func(w txnWork) {
				defer w.done()
				if p.Fleet != nil && !p.Fleet.Leased() {
					// Queued before this instance was cut off: left unacknowledged, it is
					// had again, in order, by whoever resumes the partition.
					return
				}
				p.Handle(context.WithoutCancel(ctx), w.msg)
			})
		})
	}
	defer func() {
		queue.close()
		wg.Wait()
	}()
	for first := true; ctx.Err() == nil; first = false {
		err := p.nextPhase(ctx, queue)
		if err == nil || ctx.Err() != nil {
			continue
		}
		if first {
			return err // at start: a setup problem, for the operator to see at once
		}
		// Between phases (a change of the partition count), under load or while a
		// cluster elects a leader: try again rather than stop consuming.
		p.Log.Warn("could not move on to the next partitions; trying again", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(generationCheck):
		}
	}
	return nil
}

// nextPhase works on the partitions to work on now until they change: those of older
// counts while any is left, else the current ones.
func (p *Pipeline) nextPhase(ctx context.Context, queue *keyedQueue[txnWork]) error {
	pt, err := StreamPartitioning(ctx, p.JS, p.Subjects)
	if err != nil {
		return err
	}
	srcs, err := olderSources(ctx, p.JS, pt)
	if err != nil {
		return err
	}
	// over reports whether this phase's sources are no longer the ones to work on.
	over := func(ctx context.Context) bool {
		now, err := StreamPartitioning(ctx, p.JS, p.Subjects)
		return err == nil && now.Partitions != pt.Partitions
	}
	if len(srcs) > 0 {
		p.Log.Info("handling the transactions stored before the partition count changed, before the new partitions", "older_partitions", len(srcs), "partitions", pt.Partitions)
		over = func(ctx context.Context) bool {
			left, err := olderSources(ctx, p.JS, pt)
			return err == nil && len(left) == 0
		}
	} else {
		srcs = pt.sources()
	}
	return p.phase(ctx, srcs, queue, over)
}

// generationCheck is how often a running pipeline looks for a change of the partition
// count, or for the older partitions it drains to be empty.
const generationCheck = time.Second

// phase works on srcs (this instance's share of them, with a fleet) until ctx ends or
// over says the sources have changed.
func (p *Pipeline) phase(ctx context.Context, srcs []txnSource, queue *keyedQueue[txnWork], over func(context.Context) bool) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		t := time.NewTicker(generationCheck)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if over(ctx) {
					cancel()
					return
				}
			}
		}
	}()
	start := func(ctx context.Context, i int, resume bool) (func(), error) {
		return p.consume(ctx, srcs[i], resume, queue)
	}
	if p.Fleet != nil {
		units := make([]string, len(srcs))
		for i, src := range srcs {
			units[i] = src.Unit
		}
		return p.Fleet.Run(ctx, units, start)
	}
	var stops []func()
	defer func() {
		var sw sync.WaitGroup
		for _, s := range stops {
			sw.Go(s)
		}
		sw.Wait()
	}()
	for i := range srcs {
		stop, err := start(ctx, i, true)
		if err != nil {
			return err
		}
		stops = append(stops, stop)
	}
	<-ctx.Done()
	return nil
}

// txnWork is a transaction handed to a worker, and what to call once it is handled.
type txnWork struct {
	msg  jetstream.Msg
	done func()
}

// consume starts work on a source and returns how to stop it: the returned function
// stops taking transactions and returns once those in hand are handled and
// acknowledged, so that the next owner starts where this one finished. resume says
// the last owner may have left transactions in hand (see Start).
func (p *Pipeline) consume(ctx context.Context, src txnSource, resume bool, queue *keyedQueue[txnWork]) (func(), error) {
	workers := max(p.Workers, 1)
	// The bound is the instance's: spread over the partitions, as one instance may own
	// them all.
	perPartition := max(p.MaxAckPending/src.Partitions, workers, 16)
	cfg := jetstream.ConsumerConfig{
		Durable:       src.Durable,
		Description:   src.Description,
		FilterSubject: src.Filter,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait(p.AckWait),
		MaxAckPending: perPartition,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
	log := p.Log.With("consumer", src.Durable)
	create := func(ctx context.Context) (jetstream.Consumer, error) {
		var cons jetstream.Consumer
		var err error
		if src.Older {
			cons, err = p.JS.Consumer(ctx, StreamTxn, src.Durable)
		} else {
			missing, err := p.stillCurrent(ctx, src)
			if err != nil {
				return nil, err
			}
			if missing {
				cons, err = p.JS.CreateConsumer(ctx, StreamTxn, cfg)
			} else {
				cons, err = p.JS.CreateOrUpdateConsumer(ctx, StreamTxn, cfg)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("consumer %s: %w", src.Durable, err)
		}
		// Transactions handed out and not acknowledged are those a previous owner had
		// in hand when it stopped without finishing them (it died, or was cut off):
		// have them again now rather than after their AckWait. Those past the ack floor
		// that were acknowledged come again too; handling a transaction twice raises
		// one alert. A partition given back gracefully was finished first, and its
		// last acknowledgements may still be on their way: they are waited for, so
		// that nothing is handled twice.
		info, err := cons.Info(ctx)
		for wait := time.Now().Add(handoverAcks); err == nil && !resume && info.NumAckPending > 0 && time.Now().Before(wait); {
			time.Sleep(10 * time.Millisecond)
			info, err = cons.Info(ctx)
		}
		if err != nil {
			return nil, fmt.Errorf("consumer %s: %w", src.Durable, err)
		}
		if info.NumAckPending > 0 {
			if _, err := p.JS.ResetConsumer(ctx, StreamTxn, src.Durable); err != nil {
				return nil, fmt.Errorf("reset consumer %s: %w", src.Durable, err)
			}
			log.Info("partition resumed where its last owner stopped", "in_hand", info.NumAckPending)
		}
		return cons, nil
	}
	if src.Older {
		if _, err := p.JS.Consumer(ctx, StreamTxn, src.Durable); errors.Is(err, jetstream.ErrConsumerNotFound) {
			// Emptied and deleted by its last owner, since this instance listed it.
			return func() {}, nil
		}
	}
	var inHand sync.WaitGroup
	stop, err := consume(ctx, log, "transaction consumer", create, func(msg jetstream.Msg) {
		if p.Fleet != nil && !p.Fleet.Leased() {
			// Cut off from the fleet: another instance may have this partition by now.
			// Left unacknowledged, the transaction is had again by whoever resumes.
			return
		}
		card := cardOf(msg.Subject())
		// Most transactions raise nothing and teach nothing: those are judged and
		// acknowledged right here, with no hand-over to a worker, which under load
		// costs more than the judging. A card with a transaction queued or in hand
		// keeps its order: this one queues behind it.
		if !queue.busy(card) {
			if j := p.judge(msg); j.quiet() {
				p.finish(msg, j.outcome, nil)
				return
			}
		}
		inHand.Add(1)
		queue.push(card, txnWork{msg: msg, done: inHand.Done})
	}, jetstream.PullMaxMessages(min(perPartition, 500)))
	if err != nil {
		return nil, fmt.Errorf("consume %s: %w", src.Durable, err)
	}
	stopAll := func() {
		stop()
		inHand.Wait()
	}
	if src.Older {
		stopAll = p.drain(ctx, src, stopAll, log)
	}
	return stopAll, nil
}

// stillCurrent checks, before a partition's consumer is made, that its partition count
// is still the stream's, and reports whether the consumer is missing (then it is made
// with a create that fails if another made it meanwhile). An instance that has not yet seen a change of the count must
// not make again the consumer of an older partition that another instance has just
// emptied and deleted: it would hand out every transaction stored under that count
// once more.
func (p *Pipeline) stillCurrent(ctx context.Context, src txnSource) (missing bool, err error) {
	if _, err := p.JS.Consumer(ctx, StreamTxn, src.Durable); !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return false, nil // there: updated, not made
	}
	pt, err := StreamPartitioning(ctx, p.JS, p.Subjects)
	if err != nil {
		return true, err
	}
	if pt.Partitions != src.Partitions {
		return true, fmt.Errorf("consumer %s not made: the stream has %d partitions now", src.Durable, pt.Partitions)
	}
	return true, nil
}

// drain watches an older partition's consumer while it is consumed: once nothing is
// left in it (no transaction pending, none in hand), it stops consuming and deletes the
// consumer, which ends the older partition. It returns the stop to call instead of
// stop.
func (p *Pipeline) drain(ctx context.Context, src txnSource, stop func(), log *slog.Logger) func() {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(generationCheck / 2)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
			}
			cons, err := p.JS.Consumer(ctx, StreamTxn, src.Durable)
			if err != nil {
				continue
			}
			if info, err := cons.Info(ctx); err != nil || info.NumPending > 0 || info.NumAckPending > 0 {
				continue
			}
			// Nothing pending and nothing handed out and unacknowledged: it is empty, and
			// stays so, as the stream stores new transactions under the new count.
			// Stopped before it is deleted, so that the deletion is not taken for a
			// consumer lost.
			stop()
			if p.fenced() != nil {
				return // another instance may hold the partition by now: its call
			}
			if err := p.JS.DeleteConsumer(ctx, StreamTxn, src.Durable); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
				// Tried again next tick: until it is gone, no instance moves on to the
				// new partitions.
				log.Warn("could not delete an emptied older partition's consumer; trying again", "err", err)
				continue
			}
			log.Info("older partition emptied and removed")
			return
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() { close(quit) })
		<-done
		stop()
	}
}

// handoverAcks is how long a partition given back waits for its last owner's
// acknowledgements to reach the server before what is still unacknowledged is had again.
const handoverAcks = 500 * time.Millisecond

// cardOf is the card token of a transaction's subject (its last token): one card's
// transactions are handled in order.
func cardOf(subject string) string {
	return subject[strings.LastIndexByte(subject, '.')+1:]
}

// Handle takes one transaction through the rules and acknowledges it, or asks for it
// again later when NATS could not store what it produced. It returns the outcome.
func (p *Pipeline) Handle(ctx context.Context, msg jetstream.Msg) string {
	outcome, err := p.act(ctx, p.judge(msg))
	return p.finish(msg, outcome, err)
}

// finish acknowledges a handled transaction, or asks for it again after a failure, and
// counts it.
func (p *Pipeline) finish(msg jetstream.Msg, outcome string, err error) string {
	if errors.Is(err, errLeaseLost) {
		// Neither acknowledged nor asked for again: the partition is restarted, or
		// resumed by another instance, from the last acknowledged transaction.
		return OutcomeError
	}
	if err != nil {
		outcome = OutcomeError
		// Never log the subject: it holds the card token.
		p.Log.Error("transaction not handled, will retry", "err", err)
		_ = msg.NakWithDelay(time.Second)
	} else {
		_ = msg.Ack()
	}
	p.Metrics.Transactions.WithLabelValues(outcome).Inc()
	if p.Observe != nil {
		p.Observe(msg.Subject(), outcome)
	}
	return outcome
}

// judgement is what cardwatch makes of a transaction before it stores anything.
type judgement struct {
	outcome     string      // when there is nothing to store
	dl          *DeadLetter // refused: to the DLQ
	t           *rules.Transaction
	bank, card  string
	reasons     []rules.Reason // the rules that fired: an alert
	learn       string         // a merchant new to the card, to remember
	received    time.Time
	seq         uint64 // in CARDWATCH_TXN
	redelivered bool
}

// quiet reports whether the transaction is done once acknowledged: no alert, no dead
// letter, nothing to learn.
func (j *judgement) quiet() bool { return j.dl == nil && len(j.reasons) == 0 && j.learn == "" }

// judge screens, decodes and evaluates a transaction, in memory only.
func (p *Pipeline) judge(msg jetstream.Msg) *judgement {
	j := &judgement{}
	var seq uint64
	if meta, err := msg.Metadata(); err == nil {
		j.received, seq, j.redelivered = meta.Timestamp, meta.Sequence.Stream, meta.NumDelivered > 1
	}
	j.seq = seq
	subject, data := msg.Subject(), msg.Data()

	if dl := p.screen(subject, msg.Headers(), data); dl != nil {
		dl.StreamSeq, dl.ReceivedAt = seq, j.received
		j.dl = dl
		return j
	}
	j.bank, j.card, _ = p.Subjects.ParseTxn(subject)
	t, err := rules.DecodeTransaction(j.bank, j.card, data)
	if err != nil {
		dl := &DeadLetter{Bank: j.bank, Subject: subject, Kind: "invalid", Reason: err.Error(), StreamSeq: seq, ReceivedAt: j.received}
		if errors.Is(err, rules.ErrPAN) {
			// The escaped number is still in the payload: keep none of it.
			dl.Kind, dl.Size = "pan", len(data)
		} else {
			dl.setPayload(data)
		}
		j.dl = dl
		return j
	}
	j.t = t
	h := p.Rules.Load().Lookup(j.bank, t.CardholderID)
	if h == nil {
		j.outcome = OutcomeUnknownCardholder
		return j
	}
	merchant := t.Merchant.Key()
	known := p.Known.Known(j.bank, j.card, merchant)
	j.reasons = rules.Evaluate(t, h, rules.Facts{MerchantKnown: known})
	j.outcome = OutcomeNoAlert
	if !known && t.Approved() && !h.ListsMerchant(t.Merchant) {
		j.learn = merchant
	}
	return j
}

// act stores what a judgement calls for: the dead letter, the alert, the merchant
// learned.
func (p *Pipeline) act(ctx context.Context, j *judgement) (string, error) {
	if err := p.fenced(); err != nil {
		return "", err
	}
	if j.dl != nil {
		if err := p.deadLetter(ctx, j.dl); err != nil {
			return "", err
		}
		// Only once its DLQ entry is stored: an event erased and then lost would be a
		// bank's event refused without a word.
		if j.dl.erase() {
			if err := p.erase(ctx, j.dl); err != nil {
				return "", err
			}
		}
		return OutcomeDLQ, nil
	}
	outcome := j.outcome
	if len(j.reasons) > 0 {
		var err error
		if outcome, err = p.raise(ctx, j.bank, j.t, j.reasons, j.received, j.seq, j.redelivered); err != nil {
			return "", err
		}
	}
	// Learn only after the alert is safely published: if cardwatch dies in between, the
	// redelivered transaction must still find the merchant unknown and raise the alert.
	if j.learn != "" {
		if err := p.fenced(); err != nil {
			return "", err
		}
		if err := p.Known.Learn(ctx, j.bank, j.card, j.learn, "txn", j.t.ID); err != nil {
			return "", err
		}
	}
	return outcome, nil
}

// errLeaseLost is the failure of a transaction whose instance lost its place in the
// fleet while handling it: whoever resumes the partition handles it again.
var errLeaseLost = errors.New("this instance's fleet lease ran out: another instance may work on the partition now")

// fenced returns errLeaseLost when this instance may no longer work on its partitions.
// It is checked before each write, so that an instance frozen in the middle of a
// transaction (a SIGSTOP, a long GC pause, a VM migration) writes nothing more once it
// wakes up past its lease. What it cannot stop is a freeze between the check and the
// write; the writes are idempotent for that (the alert record is created once, a
// merchant learned twice is one merchant).
func (p *Pipeline) fenced() error {
	if p.Fleet != nil && !p.Fleet.Leased() {
		return errLeaseLost
	}
	return nil
}

// raise publishes the alert for t unless it was raised before. The alert's record is
// stored first: it is what keeps a transaction to one alert past JetStream's duplicate
// window, and it is there for an answer before the alert can reach anyone.
func (p *Pipeline) raise(ctx context.Context, bank string, t *rules.Transaction, reasons []rules.Reason, received time.Time, seq uint64, redelivered bool) (string, error) {
	a := rules.NewAlert(bank, t, reasons, p.now())
	if p.ReportURL != nil {
		a.ReportURL = p.ReportURL(a.ID)
	}
	created, err := p.Alerts.Create(ctx, &AlertRecord{Alert: *a, CardToken: t.Card.Token, TxnSeq: seq})
	if err != nil {
		return "", err
	}
	if !created {
		// An earlier attempt at this very message stored the record and may have
		// stopped before publishing: publish the stored alert. Its Nats-Msg-Id makes a
		// copy already on the feed one alert. The delivery count alone does not tell:
		// a consumer reset to its ack floor (a fleet takeover) counts from 1 again.
		rec, _, err := p.Alerts.Get(ctx, a.ID)
		switch {
		case err != nil && !redelivered && (errors.Is(err, ErrNoAlert) || errors.Is(err, ErrUnsealed)):
			return OutcomeDuplicate, nil
		case err != nil:
			return "", err
		case !redelivered && (seq == 0 || rec.TxnSeq != seq):
			// A bank sent the same transaction again, maybe days later: another
			// message in the stream.
			return OutcomeDuplicate, nil
		}
		a = &rec.Alert
	}
	if err := p.fenced(); err != nil {
		return "", err
	}
	if err := publishSealed(ctx, p.JS, p.Alerts.seal, p.Subjects.Alerts(bank), a.ID, a); err != nil {
		return "", err
	}
	if !created {
		return OutcomeDuplicate, nil
	}
	for _, r := range reasons {
		p.Metrics.Alerts.WithLabelValues(r.Rule).Inc()
	}
	if !received.IsZero() {
		p.Metrics.TxnToAlert.Observe(p.now().Sub(received).Seconds())
	}
	p.Log.Info("alert raised", "alert", a.ID, "bank", bank, "cardholder", t.CardholderID, "rules", len(reasons))
	return OutcomeAlert, nil
}

// screen refuses what must not go further: a card number anywhere (subject, headers,
// payload), a subject without a bank and a card, an event over the size limit. The
// dead letter it returns carries only masked numbers.
func (p *Pipeline) screen(subject string, headers map[string][]string, data []byte) *DeadLetter {
	// The bank is read from the masked subject: a card number where the bank should be
	// must not become a DLQ subject, a "bank" field or a log line.
	maskedSubj, subjPANs := rules.MaskPANs([]byte(subject))
	bank, _, ok := p.Subjects.ParseTxn(string(maskedSubj))
	routed := ok && rules.ValidBankID(bank)
	if !routed {
		bank = UnroutedBank
		// A subject of the wrong shape may still name its bank: its DLQ is where the
		// bank's operators look.
		// Not a token with a long run of digits, though: it may be the start of a card
		// number split across tokens, which the screen cannot tell from a card token.
		rest, found := strings.CutPrefix(string(maskedSubj), p.Subjects.Prefix+".txn.")
		if b, _, _ := strings.Cut(rest, "."); rules.ValidBankID(b) && found && b == maskDigitRuns(b) {
			bank = b
		}
	}
	var where []string
	var pans []string
	if len(subjPANs) > 0 {
		where, pans = append(where, "subject"), append(pans, subjPANs...)
	}
	for k, vs := range headers {
		for _, v := range vs {
			// Joined by a comma, which breaks a run, so that a name that ends in digits
			// does not join its value's first digit group.
			if _, hp := rules.MaskPANs([]byte(k + ", " + v)); len(hp) > 0 {
				name, _ := rules.MaskPANs([]byte(k))
				where, pans = append(where, "header "+string(name)), append(pans, hp...)
			}
		}
	}
	if len(data) > rules.MaxEventSize {
		// The payload is not kept: a cut could split a card number past recognition.
		return &DeadLetter{Bank: bank, Subject: string(maskedSubj), Kind: "oversize", Size: len(data),
			Reason: fmt.Sprintf("event is %d bytes, over the %d byte limit", len(data), rules.MaxEventSize)}
	}
	masked, payloadPANs := rules.ScreenEvent(data)
	if len(payloadPANs) > 0 {
		where, pans = append(where, "payload"), append(pans, payloadPANs...)
	}
	if len(pans) > 0 {
		dl := &DeadLetter{Bank: bank, Subject: string(maskedSubj), Kind: "pan",
			Reason: fmt.Sprintf("event carries a card number (%s) in its %s; send card tokens, never card numbers",
				strings.Join(pans, ", "), strings.Join(where, ", "))}
		if masked != nil { // nil: a number JSON escapes hide cannot be masked in place
			dl.setPayload(masked)
		}
		dl.Size = len(data) // the event's: masking a digit of several bytes shortens it
		return dl
	}
	if !routed {
		dl := &DeadLetter{Bank: bank, Subject: maskDigitRuns(subject), Kind: "subject",
			Reason: "subject must be " + p.Subjects.Prefix + ".txn.<bank>.<card token> with a bank id of lowercase letters, digits, '-' and '_'"}
		dl.setPayload(data)
		return dl
	}
	return nil
}

// erase removes a refused event from CARDWATCH_TXN, where the bank's publish stored it,
// with JetStream's secure delete (the message is overwritten on disk, and deleted on
// every replica). A server that refuses the delete (a stream made by the bank with
// DenyDelete, an account without the permission) is logged and counted, and the event
// acknowledged: its DLQ entry is stored, and retrying would not change the answer.
func (p *Pipeline) erase(ctx context.Context, dl *DeadLetter) error {
	if dl.StreamSeq == 0 {
		p.Metrics.Erased.WithLabelValues(ErasedFailed).Inc()
		p.Log.Error("refused event not erased from the transaction stream: its stream sequence is unknown", "bank", dl.Bank, "kind", dl.Kind)
		return nil
	}
	s, err := p.txn(ctx)
	if err != nil {
		return err
	}
	err = s.SecureDeleteMsg(ctx, dl.StreamSeq)
	if errors.Is(err, jetstream.ErrMsgDeleteUnsuccessful) {
		// The server answered no; the client keeps only its words. No message there is
		// an earlier attempt's erase (or its age): done.
		if _, gerr := s.GetMsg(ctx, dl.StreamSeq); errors.Is(gerr, jetstream.ErrMsgNotFound) {
			return nil
		}
		p.Metrics.Erased.WithLabelValues(ErasedFailed).Inc()
		p.Log.Error("refused event not erased from the transaction stream: the server refused the delete; erase it by hand",
			"bank", dl.Bank, "kind", dl.Kind, "stream", StreamTxn, "stream_seq", dl.StreamSeq, "err", err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("erase refused event %d from %s: %w", dl.StreamSeq, StreamTxn, err)
	}
	p.Metrics.Erased.WithLabelValues(ErasedOK).Inc()
	return nil
}

// txn returns the transaction stream, looked up once.
func (p *Pipeline) txn(ctx context.Context) (jetstream.Stream, error) {
	p.txnMu.Lock()
	defer p.txnMu.Unlock()
	if p.txnStream == nil {
		s, err := p.JS.Stream(ctx, StreamTxn)
		if err != nil {
			return nil, fmt.Errorf("look up stream %s: %w", StreamTxn, err)
		}
		p.txnStream = s
	}
	return p.txnStream, nil
}

// maskDigitRuns masks every run of more than six digits in a malformed subject but its
// last four: a card number split across subject tokens (4111111111.111111) is not one
// the screen can find, and at most six digits of one are fit to show.
func maskDigitRuns(s string) string {
	b := []byte(s)
	for i := 0; i < len(b); {
		j := i
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		if j-i > 6 {
			for k := i; k < j-4; k++ {
				b[k] = '*'
			}
		}
		i = max(j, i+1)
	}
	return string(b)
}

// deadLetter publishes a refused event to its bank's DLQ. The Nats-Msg-Id is the event's
// stream sequence, so a redelivered bad event is one DLQ entry.
func (p *Pipeline) deadLetter(ctx context.Context, dl *DeadLetter) error {
	dl.RefusedAt = p.now().UTC()
	p.Metrics.DLQ.WithLabelValues(dl.Kind).Inc()
	p.Log.Warn("event refused to the DLQ", "bank", dl.Bank, "kind", dl.Kind, "stream_seq", dl.StreamSeq)
	// The id holds a hash of the entry too: a stream recreated, or metadata missing,
	// must not make two different bad events one.
	sum := sha256.Sum256([]byte(dl.Subject + "\x00" + dl.Reason + "\x00" + dl.Payload + string(dl.PayloadBase64)))
	id := fmt.Sprintf("dlq.%s.%d.%s", StreamTxn, dl.StreamSeq, hex.EncodeToString(sum[:8]))
	return publishJSON(ctx, p.JS, p.Subjects.DLQ(dl.Bank), id, dl)
}
