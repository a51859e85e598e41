package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cardwatch/cardwatch/rules"
)

func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRulesCheck(t *testing.T) {
	code, out, _ := runCmd(t, "rules", "check", "../../deploy/rules.example.yaml")
	if code != 0 || !strings.Contains(out, "ok, 3 cardholders") {
		t.Errorf("example rules: exit %d, %q", code, out)
	}
	bad := strings.Replace(strings.Replace(testRules, `"+15551230001"`, `"+1555"`, 1), "[CA, MX]", "[CA, XX]", 1)
	p := writeFile(t, "bad.yaml", bad)
	code, _, errs := runCmd(t, "rules", "check", p)
	if code != 1 {
		t.Errorf("bad file: exit %d, want 1", code)
	}
	want := []string{
		p + `:14: cardholders[0].notify.sms: "+1555" is not an E.164 number (like +15551230001)`,
		p + `:18: cardholders[0].rules.foreign_terminal.allow[1]: "XX" is not an ISO 3166-1 alpha-2 country code`,
		p + ": 2 problems",
	}
	if got := strings.TrimSpace(errs); got != strings.Join(want, "\n") {
		t.Errorf("rules check said:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
}

func TestRulesTestExplainsWithoutState(t *testing.T) {
	rulesFile := writeFile(t, "rules.yaml", testRules)
	ev := writeFile(t, "event.json", exampleEvent)
	code, out, errs := runCmd(t, "rules", "test", "--rules", rulesFile, ev)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{
		`$1,342.10 (€1,250.00) at "ACME ELECTRONICS" in "Lagos", Nigeria on card ending 4821`,
		"amount_over        FIRES   $1,342.10 is over your $200.00 limit",
		`unknown_merchant   FIRES   first purchase at "ACME ELECTRONICS" on this card`,
		"foreign_terminal   FIRES   terminal in Nigeria",
		"result: one alert with 3 reasons",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	quiet := writeFile(t, "quiet.json", strings.NewReplacer(`"NG"`, `"MX"`, `"M-77812"`, `"M-1001"`, `"1342.10"`, `"150.00"`).Replace(exampleEvent))
	_, out, _ = runCmd(t, "rules", "test", "--rules", rulesFile, quiet)
	if !strings.Contains(out, "result: no alert") || strings.Contains(out, "FIRES") {
		t.Errorf("quiet event:\n%s", out)
	}
	pan := writeFile(t, "pan.json", strings.Replace(exampleEvent, `"T-0042"`, `"4111111111111111"`, 1))
	code, out, errs = runCmd(t, "rules", "test", "--rules", rulesFile, pan)
	if code != 1 || !strings.Contains(errs, "411111******1111") || strings.Contains(out+errs, "4111111111111111") {
		t.Errorf("PAN event: exit %d, stdout %q, stderr %q", code, out, errs)
	}
}

func TestServeNeedsRulesFile(t *testing.T) {
	t.Setenv("CARDWATCH_RULES_FILE", "")
	code, _, errs := runCmd(t, "serve")
	if code != 2 || !strings.Contains(errs, "CARDWATCH_RULES_FILE is not set") {
		t.Errorf("exit %d, stderr %q", code, errs)
	}
}

func TestChannelsFromEnv(t *testing.T) {
	t.Setenv("CARDWATCH_TWILIO_ACCOUNT_SID", "")
	t.Setenv("CARDWATCH_SLACK_BOT_TOKEN", "")
	// The names Twilio's and Slack's own tools use must not turn a channel on.
	t.Setenv("TWILIO_ACCOUNT_SID", testSID)
	t.Setenv("TWILIO_AUTH_TOKEN", testAuthToken)
	t.Setenv("TWILIO_FROM", testFrom)
	t.Setenv("SLACK_BOT_TOKEN", testBotToken)
	t.Setenv("WORKERS", "0")
	if _, err := loadConfig(); err != nil {
		t.Errorf("a bare WORKERS=0 was read as CARDWATCH_WORKERS: %v", err)
	}
	chans, err := channels(&bytes.Buffer{})
	if err != nil || len(chans) != 1 || chans[0].Channel() != "console" {
		t.Fatalf("no settings: %v, %v; want the console alone", chans, err)
	}
	t.Setenv("CARDWATCH_TWILIO_ACCOUNT_SID", testSID)
	t.Setenv("CARDWATCH_TWILIO_AUTH_TOKEN", testAuthToken)
	t.Setenv("CARDWATCH_TWILIO_FROM", testFrom)
	t.Setenv("CARDWATCH_SLACK_BOT_TOKEN", testBotToken)
	t.Setenv("CARDWATCH_SLACK_SIGNING_SECRET", "8f742231b10e8888abcd99yyyzzz85a5")
	chans, err = channels(&bytes.Buffer{})
	if err != nil || len(chans) != 2 || chans[0].Channel() != "sms" || chans[1].Channel() != "slack" {
		t.Fatalf("both set: %v, %v; want sms and slack", chans, err)
	}
	t.Setenv("CARDWATCH_TWILIO_FROM", "")
	t.Setenv("CARDWATCH_SLACK_BOT_TOKEN", "not-a-bot-token")
	_, err = channels(&bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "CARDWATCH_TWILIO_FROM") || !strings.Contains(err.Error(), "SLACK") {
		t.Fatalf("half-set Twilio and a bad Slack token: err %v; want both named", err)
	}
	for _, secret := range []string{testAuthToken, "not-a-bot-token"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("settings error shows a secret: %v", err)
		}
	}
}

// TestRulesTestCleansTheEvent: a dry run prints what the event says to the operator's
// terminal, which must get no escape sequence or line break from it.
func TestRulesTestCleansTheEvent(t *testing.T) {
	rulesFile := writeFile(t, "rules.yaml", testRules)
	hostile := strings.Replace(exampleEvent, `"ACME ELECTRONICS"`, `"ACME\u001b[2J\u001b]0;pwned\u0007\nFAKE LINE\u202e"`, 1)
	if hostile == exampleEvent {
		t.Fatal("the example event has no ACME ELECTRONICS to replace")
	}
	code, out, errs := runCmd(t, "rules", "test", "--rules", rulesFile, writeFile(t, "event.json", hostile))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, bad := range []string{"\x1b", "\x07", "\u202e", "\nFAKE LINE"} {
		if strings.Contains(out, bad) {
			t.Errorf("output carries %q:\n%s", bad, out)
		}
	}
	if !strings.Contains(out, `first purchase at "ACME[2J]0;pwned FAKE LINE" on this card`) {
		t.Errorf("output does not show the cleaned name:\n%s", out)
	}
}

// TestRulesCheckRefusesAliases: a small file whose aliases expand to gigabytes (the
// known list of the first cardholder, repeated by aliasing the cardholder) is refused
// at once with each anchor's and alias's line, before anything is expanded.
func TestRulesCheckRefusesAliases(t *testing.T) {
	var b strings.Builder
	b.WriteString("defaults: {home_country: US, currency: USD}\ncardholders:\n")
	b.WriteString("  - &c {id: ch_0, bank: acme, notify: {sms: \"+15551230001\"}, rules: {unknown_merchant: {known: [")
	for i := range 5000 {
		fmt.Fprintf(&b, "M-%d, ", i)
	}
	b.WriteString("M-x]}}}\n")
	for range 100000 {
		b.WriteString("  - *c\n")
	}
	p := writeFile(t, "bomb.yaml", b.String())
	code, _, errs := runCmd(t, "rules", "check", p)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	for _, want := range []string{
		p + ":3: cardholders[0]: the anchor &c is not allowed",
		p + ":4: cardholders[1]: the alias *c is not allowed",
		p + ":103: and 99901 more anchors or aliases from this line on",
	} {
		if !strings.Contains(errs, want) {
			t.Errorf("rules check said:\n%.600s\nwant a line %q", errs, want)
		}
	}
}

// TestRulesCheckCapsErrors: a file of thousands of mistakes prints the first
// rules.MaxErrors, a line that counts the rest, and the total.
func TestRulesCheckCapsErrors(t *testing.T) {
	const keys = 5000
	var b strings.Builder
	b.WriteString("defaults: {home_country: US, currency: USD}\ncardholders:\n  - id: ch_1\n    bank: acme\n    notify: {sms: \"+15551230001\"}\n")
	for i := range keys {
		fmt.Fprintf(&b, "    k%d: 1\n", i)
	}
	p := writeFile(t, "keys.yaml", b.String())
	code, _, errs := runCmd(t, "rules", "check", p)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	lines := strings.Split(strings.TrimSpace(errs), "\n")
	if len(lines) != rules.MaxErrors+2 {
		t.Fatalf("%d lines, want %d problems, a count of the rest and the total", len(lines), rules.MaxErrors)
	}
	for i, want := range map[int]string{
		0:                   p + `:6: cardholders[0].k0: unknown key "k0"`,
		rules.MaxErrors - 1: fmt.Sprintf(`%s:%d: cardholders[0].k%d: unknown key`, p, 5+rules.MaxErrors, rules.MaxErrors-1),
		rules.MaxErrors:     fmt.Sprintf("%s:%d: and %d more problems from this line on, not listed", p, 6+rules.MaxErrors, keys-rules.MaxErrors),
		rules.MaxErrors + 1: fmt.Sprintf("%s: %d problems", p, keys),
	} {
		if !strings.HasPrefix(lines[i], want) {
			t.Errorf("line %d %q, want %q", i+1, lines[i], want)
		}
	}
}
