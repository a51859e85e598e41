package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/cardwatch/cardwatch/subscribers/natsauth"
)

// natsAuthCmd writes NATS decentralized auth with one account per bank (see
// subscribers/natsauth), or adds the banks that are new to an existing folder.
func natsAuthCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("cardwatch nats-auth", flag.ContinueOnError)
	fs.SetOutput(stderr)
	banks := fs.String("banks", "", "comma-separated bank ids, every bank already in DIR included")
	out := fs.String("out", "", "folder for auth.conf, the credentials files and keys/")
	prefix := fs.String("prefix", "cardwatch", "subject prefix, as CARDWATCH_SUBJECT_PREFIX")
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: cardwatch nats-auth --banks acme,globex --out DIR [--prefix cardwatch]\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 || *out == "" || *banks == "" {
		fs.Usage()
		return 2
	}
	var list []string
	for _, b := range strings.Split(*banks, ",") {
		list = append(list, strings.TrimSpace(b))
	}
	rep, err := natsauth.Provision(natsauth.Config{Dir: *out, Prefix: *prefix, Banks: list})
	if err != nil {
		var joined interface{ Unwrap() []error }
		if errors.As(err, &joined) {
			for _, e := range joined.Unwrap() {
				fmt.Fprintf(stderr, "cardwatch nats-auth: %v\n", e)
			}
		} else {
			fmt.Fprintf(stderr, "cardwatch nats-auth: %v\n", err)
		}
		return 1
	}
	for _, f := range rep.Written {
		fmt.Fprintf(stdout, "wrote %s\n", filepath.Join(*out, f))
	}
	for _, f := range rep.Kept {
		fmt.Fprintf(stdout, "kept  %s\n", filepath.Join(*out, f))
	}
	fmt.Fprintf(stdout, `
Next (README.md, "NATS accounts"):
  copy %s to every NATS server, include it from its config, and reload the server;
  run cardwatch with CARDWATCH_NATS_CREDS=%s;
  give each bank its own <bank>.creds; keep %s private (its seeds add a bank later).
`, filepath.Join(*out, natsauth.AuthConfFile), filepath.Join(*out, natsauth.CredsFile(natsauth.AccountCardwatch)), filepath.Join(*out, "keys"))
	return 0
}
