package subscribers

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// consumeAgain is how long a consumption that the server stopped serving waits before
// it starts again.
const consumeAgain = 250 * time.Millisecond

// consume consumes from the consumer that create makes, until the returned stop is
// called; stop returns once the messages already pulled are handled. When the server
// answers that nothing serves the consumer (no responders: on a cluster, while its
// replicas elect a leader, as when it was just made or a node went), or that it is gone,
// the client would wait out its heartbeats (tens of seconds) before asking again; this
// makes the consumer again and starts over at once instead.
func consume(ctx context.Context, log *slog.Logger, what string, create func(context.Context) (jetstream.Consumer, error),
	handler jetstream.MessageHandler, opts ...jetstream.PullConsumeOpt) (stop func(), err error) {
	again := make(chan struct{}, 1)
	onErr := jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		switch {
		case errors.Is(err, nats.ErrNoResponders), errors.Is(err, jetstream.ErrConsumerDeleted), errors.Is(err, jetstream.ErrConsumerNotFound):
			select {
			case again <- struct{}{}:
			default:
			}
		case errors.Is(err, jetstream.ErrNoHeartbeat):
		default:
			log.Warn(what, "err", err)
		}
	})
	opts = append(opts, onErr)
	start := func() (jetstream.ConsumeContext, error) {
		cons, err := create(ctx)
		if err != nil {
			return nil, err
		}
		return cons.Consume(handler, opts...)
	}
	cc, err := start()
	if err != nil {
		return nil, err
	}
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-quit:
				cc.Drain()
				<-cc.Closed()
				return
			case <-again:
			}
			cc.Drain()
			<-cc.Closed()
			for {
				select {
				case <-quit:
					return
				case <-time.After(consumeAgain):
				}
				next, err := start()
				if err == nil {
					cc = next
					break
				}
				log.Warn(what+": starting again", "err", err)
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() { close(quit) })
		<-done
	}, nil
}
