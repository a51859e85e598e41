package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/cardwatch/cardwatch/notifiers"
	"github.com/cardwatch/cardwatch/rules"
)

func rulesCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, "usage: cardwatch rules check FILE | cardwatch rules test --rules FILE EVENT.json\n")
		return 2
	}
	switch args[0] {
	case "check":
		return rulesCheck(args[1:], stdout, stderr)
	case "test":
		return rulesTest(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "cardwatch rules: unknown command %q (check or test)\n", args[0])
	return 2
}

// rulesCheck validates a rules file and prints every problem, one a line, with its line.
func rulesCheck(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprint(stderr, "usage: cardwatch rules check FILE\n")
		return 2
	}
	b, err := rules.Load(args[0])
	if err != nil {
		n := printErrors(stderr, err)
		fmt.Fprintf(stderr, "%s: %d problem%s\n", args[0], n, plural(n))
		return 1
	}
	fmt.Fprintf(stdout, "%s: ok, %d cardholder%s\n", args[0], b.Len(), plural(b.Len()))
	return 0
}

// printErrors prints each joined error on its own line and returns how many problems
// there were: the loader lists the first rules.MaxErrors, and counts the rest in one.
func printErrors(w io.Writer, err error) int {
	var list interface{ Unwrap() []error }
	if errors.As(err, &list) {
		n := 0
		for _, e := range list.Unwrap() {
			n += printErrors(w, e)
		}
		return n
	}
	fmt.Fprintln(w, err)
	if fe := (*rules.FieldError)(nil); errors.As(err, &fe) && fe.Omitted > 0 {
		return fe.Omitted
	}
	return 1
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// rulesTest is a dry run: which of the cardholder's rules fire for one event, and why.
// It reads no state and changes none, so unknown_merchant sees only the known list.
func rulesTest(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("cardwatch rules test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("rules", os.Getenv("CARDWATCH_RULES_FILE"), "the rules `file` (default $CARDWATCH_RULES_FILE)")
	bank := fs.String("bank", "", "the bank `id`, when the event has no \"bank\" field")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *file == "" || fs.NArg() != 1 {
		fmt.Fprint(stderr, "usage: cardwatch rules test --rules FILE [--bank BANK] EVENT.json\n")
		return 2
	}
	book, err := rules.Load(*file)
	if err != nil {
		printErrors(stderr, err)
		return 1
	}
	data, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		fmt.Fprintf(stderr, "read event: %v\n", err)
		return 1
	}
	if _, pans := rules.ScreenEvent(data); len(pans) > 0 {
		fmt.Fprintf(stderr, "%s carries a card number (%s): cardwatch refuses such events; send card tokens\n", fs.Arg(0), strings.Join(pans, ", "))
		return 1
	}
	// Read the event once loosely to learn its bank and card; then validate it properly.
	var probe struct {
		Bank         string `json:"bank"`
		CardholderID string `json:"cardholder_id"`
		Card         struct {
			Token string `json:"token"`
		} `json:"card"`
	}
	_ = json.Unmarshal(data, &probe) // errors come from the real decode below
	b := *bank
	if b == "" {
		b = probe.Bank
	}
	if b == "" {
		var banks []string
		for _, h := range book.Cardholders() {
			if h.ID == probe.CardholderID {
				banks = append(banks, h.Bank)
			}
		}
		if len(banks) > 1 {
			fmt.Fprintf(stderr, "cardholder %q is at banks %s: say which with --bank\n", probe.CardholderID, strings.Join(banks, ", "))
			return 2
		}
		if len(banks) == 1 {
			b = banks[0]
		}
	}
	t, err := rules.DecodeTransaction(b, probe.Card.Token, data)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", fs.Arg(0), err)
		return 1
	}
	h := book.Lookup(b, t.CardholderID)
	if h == nil {
		fmt.Fprintf(stdout, "cardholder %q of bank %q is not in %s: cardwatch acknowledges the event and sends no alert\n", t.CardholderID, b, *file)
		return 0
	}
	reasons := rules.Evaluate(t, h, rules.Facts{})
	a := rules.NewAlert(b, t, reasons, t.OccurredAt)
	f := notifiers.FactsOf(notifiers.Message{Alert: a, Cardholder: h})
	// What the event says is untrusted on a terminal too: CleanText, as the console prints it.
	fmt.Fprintf(stdout, "event %s: %s, %s\n", notifiers.CleanText(t.ID), f.Headline(), f.When)
	fmt.Fprintf(stdout, "cardholder %s (%s) at bank %s: home %s, currency %s, time zone %s\n\n",
		h.ID, h.Name, h.Bank, h.HomeCountry, h.Currency, h.Location)
	fired := map[string]rules.Reason{}
	for _, r := range reasons {
		fired[r.Rule] = r
	}
	for _, k := range rules.Kinds() {
		switch r, ok := fired[k.Name]; {
		case ok:
			fmt.Fprintf(stdout, "  %-18s FIRES   %s\n", k.Name, notifiers.CleanText(r.Detail))
		case h.HasRule(k.Name):
			fmt.Fprintf(stdout, "  %-18s quiet\n", k.Name)
		default:
			fmt.Fprintf(stdout, "  %-18s off\n", k.Name)
		}
	}
	if h.HasRule("unknown_merchant") {
		fmt.Fprint(stdout, "\n  (a dry run reads no card history: a merchant not on the known list counts as new)\n")
	}
	if len(reasons) == 0 {
		fmt.Fprint(stdout, "\nresult: no alert\n")
	} else {
		fmt.Fprintf(stdout, "\nresult: one alert with %d reason%s\n", len(reasons), plural(len(reasons)))
	}
	return 0
}
