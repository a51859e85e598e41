// Command cardwatch watches card transactions on NATS and alerts cardholders by SMS and
// Slack, with a one-tap way to say "that wasn't me".
//
//	cardwatch serve                              the service
//	cardwatch demo                               the service on an embedded NATS, with sample transactions
//	cardwatch rules check FILE                   validate a rules file
//	cardwatch rules test --rules FILE EVENT.json dry run of the rules on one event
//	cardwatch bench                              backlog throughput against the raw ceiling
//	cardwatch nats-auth --banks B,... --out DIR  NATS accounts: one per bank, and cardwatch's
//	cardwatch healthcheck [-ready]               exit 0 when this host's cardwatch is healthy (for containers)
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // cardholders' time zones must resolve even on a bare container
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

const usage = `cardwatch: card transaction alerts for cardholders

Usage:
  cardwatch serve                               consume transactions, alert, serve the callbacks
  cardwatch demo                                the same on an embedded NATS server, with sample transactions
  cardwatch rules check FILE                    validate a rules file; every error with its line
  cardwatch rules test --rules FILE EVENT.json  which rules fire for that event, and why (changes nothing)
  cardwatch bench [-n N] [-cardholders K]       load: drain a backlog, against the raw JetStream ceiling
  cardwatch nats-auth --banks B,B --out DIR     NATS auth: an account per bank, seeing only its own subjects
  cardwatch healthcheck [-ready]                exit 0 when this host's cardwatch answers /healthz (/readyz)
  cardwatch partitions [set N]                  the fleet's partitions and who works on them; change their count

Settings come from CARDWATCH_* environment variables; see README.md.
`

// run is the whole program, so tests can run it in-process; it returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch args[0] {
	case "serve":
		return serveCmd(ctx, stdout, stderr)
	case "demo":
		return demoCmd(ctx, stdout, stderr)
	case "rules":
		return rulesCmd(args[1:], stdout, stderr)
	case "bench":
		return benchCmd(ctx, args[1:], stdout, stderr)
	case "nats-auth":
		return natsAuthCmd(args[1:], stdout, stderr)
	case "partitions":
		return partitionsCmd(ctx, args[1:], stdout, stderr)
	case "healthcheck":
		return healthcheckCmd(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "cardwatch: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}
