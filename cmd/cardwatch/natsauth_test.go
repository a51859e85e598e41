package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/nats-io/jwt/v2"
)

// anySeed matches an nkey seed of an operator, an account or a user.
var anySeed = regexp.MustCompile(`S[OAU][A-Z2-7]{50,}`)

func TestNatsAuthCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "auth")
	code, out, errs := runCmd(t, "nats-auth", "--banks", "acme,globex", "--out", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	files := []string{"auth.conf", "cardwatch.creds", "sys.creds", "acme.creds", "globex.creds",
		"keys/operator.nk", "keys/operator.jwt", "keys/account.sys.nk", "keys/account.cardwatch.nk",
		"keys/bank.acme.nk", "keys/bank.globex.nk", "keys/subject-prefix"}
	var seeds []string
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f))
		fi, err := os.Stat(p)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, fi.Mode().Perm())
		}
		b, _ := os.ReadFile(p)
		switch {
		case strings.HasSuffix(f, ".nk"):
			seeds = append(seeds, strings.TrimSpace(string(b)))
		case strings.HasSuffix(f, ".creds"):
			kp, err := jwt.ParseDecoratedNKey(b)
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			seed, _ := kp.Seed()
			seeds = append(seeds, string(seed))
		default:
			if anySeed.Match(b) {
				t.Errorf("%s holds a seed", f)
			}
		}
	}
	for _, d := range []string{".", "keys"} {
		if fi, err := os.Stat(filepath.Join(dir, d)); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("folder %s: %v, %v, want mode 0700", d, fi.Mode().Perm(), err)
		}
	}

	code, out2, errs2 := runCmd(t, "nats-auth", "--banks", "acme,globex,initech", "--out", dir)
	if code != 0 || !strings.Contains(out2, "wrote "+filepath.Join(dir, "initech.creds")) || !strings.Contains(out2, "kept  "+filepath.Join(dir, "acme.creds")) {
		t.Errorf("adding a bank: exit %d, %q %q", code, out2, errs2)
	}
	code, out3, errs3 := runCmd(t, "nats-auth", "--banks", "acme,Globex,acme,cardwatch", "--out", dir)
	if code != 1 {
		t.Errorf("bad banks: exit %d, want 1", code)
	}
	for _, want := range []string{`bank "Globex" is not a bank id`, `bank "acme" is listed twice`, `bank "cardwatch" is a name cardwatch keeps`} {
		if !strings.Contains(errs3, want) {
			t.Errorf("stderr %q does not say %s", errs3, want)
		}
	}
	all := out + errs + out2 + errs2 + out3 + errs3
	for _, s := range seeds {
		if s == "" || strings.Contains(all, s) {
			t.Fatalf("a seed was printed, or none was read: %q", s)
		}
	}
	if anySeed.MatchString(all) {
		t.Error("the command printed something that looks like a seed")
	}

	for _, args := range [][]string{{"nats-auth"}, {"nats-auth", "--banks", "acme"}, {"nats-auth", "--out", dir}} {
		if code, _, errs := runCmd(t, args...); code != 2 || !strings.Contains(errs, "usage: cardwatch nats-auth") {
			t.Errorf("%v: exit %d, %q", args, code, errs)
		}
	}
}
