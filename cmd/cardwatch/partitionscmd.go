package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cardwatch/cardwatch/subscribers"
)

const partitionsUsage = `usage:
  cardwatch partitions          the partition count, each partition's backlog and owner, the fleet's members
  cardwatch partitions set N    change the partition count, online: what is stored is handled first, in order
`

// partitionsCmd shows the transaction stream's partitions and the fleet working on
// them, or changes their count. It connects as serve does (CARDWATCH_NATS_URL and its
// credentials); the embedded server is serve's own, so it needs a NATS server.
func partitionsCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	set := len(args) == 2 && args[0] == "set"
	if len(args) != 0 && !set {
		fmt.Fprint(stderr, partitionsUsage)
		return 2
	}
	n := 0
	if set {
		var err error
		if n, err = strconv.Atoi(args[1]); err != nil || n < 1 || n > subscribers.MaxPartitions {
			fmt.Fprintf(stderr, "cardwatch partitions: the count must be a number from 1 to %d\n", subscribers.MaxPartitions)
			return 2
		}
	}
	fail := func(err error) int { fmt.Fprintf(stderr, "cardwatch partitions: %v\n", err); return 1 }
	cfg, err := loadConfig()
	if err != nil {
		return fail(err)
	}
	if cfg.NatsURL == "" {
		return fail(fmt.Errorf("set CARDWATCH_NATS_URL: the embedded NATS server runs inside cardwatch serve (on it, CARDWATCH_PARTITIONS applies when the store is new)"))
	}
	nc, err := subscribers.Connect(subscribers.ConnConfig{URLs: cfg.NatsURL, Creds: cfg.NatsCreds, Name: "cardwatch partitions",
		TLSCA: cfg.NatsTLSCA, TLSCert: cfg.NatsTLSCert, TLSKey: cfg.NatsTLSKey, TLSServerName: cfg.NatsTLSServerName},
		slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		return fail(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fail(err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	subj := subscribers.Subjects{Prefix: cfg.SubjectPrefix}
	if set {
		from, err := subscribers.SetPartitions(ctx, js, subj, n)
		if err != nil {
			return fail(err)
		}
		if from == n {
			fmt.Fprintf(stdout, "the transaction stream has %d partitions already; nothing changed\n", n)
			return 0
		}
		fmt.Fprintf(stdout, "partitions: %d → %d. Transactions stored from now on go to the %d new partitions; running instances\n"+
			"handle those stored before first (see `cardwatch partitions` until no older partition is listed).\n", from, n, n)
		return 0
	}
	st, err := subscribers.DescribeFleet(ctx, js, subj)
	if err != nil {
		return fail(err)
	}
	printFleetState(stdout, st)
	return 0
}

// printFleetState writes the fleet's state as an operator reads it.
func printFleetState(w io.Writer, st subscribers.FleetState) {
	ids := slices.Sorted(maps.Keys(st.Members))
	alive := func(id string) bool { age, ok := st.Members[id]; return ok && age < subscribers.DefaultMemberTTL }
	fmt.Fprintf(w, "partitions: %d\nmembers:\n", st.Partitions)
	for _, id := range ids {
		state := "alive"
		if !alive(id) {
			state = "gone"
		}
		fmt.Fprintf(w, "  %s  %s, last heartbeat %s ago\n", id, state, st.Members[id].Round(time.Millisecond))
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PARTITION\tCONSUMER\tPENDING\tIN HAND\tOWNER")
	var older int
	for _, u := range st.Units {
		owner := u.Owner
		switch {
		case owner == "":
			owner = "-"
		case !alive(owner):
			owner += " (gone: taken over within seconds)"
		}
		name := u.Unit
		if u.Older {
			name += " (older count, emptying)"
			older++
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\n", name, u.Consumer, u.Pending, u.InHand, owner)
	}
	_ = tw.Flush()
	if older > 0 {
		fmt.Fprintf(w, "%d partitions of an earlier count are still being emptied; the new ones start after them\n", older)
	}
}
