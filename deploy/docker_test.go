package deploy

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// parseDockerfile parses deploy/Dockerfile with BuildKit's own parser, failing on any of
// the warnings its linter gives while parsing (the ones `docker build --check` shows).
func parseDockerfile(t *testing.T) []instructions.Stage {
	t.Helper()
	f, err := os.Open("Dockerfile")
	must(t, err)
	defer f.Close()
	ast, err := parser.Parse(f)
	if err != nil {
		t.Fatalf("BuildKit cannot parse the Dockerfile: %v", err)
	}
	for _, w := range ast.Warnings {
		t.Errorf("Dockerfile:%d: %s", w.Location.Start.Line, w.Short)
	}
	lint := linter.New(&linter.Config{Warn: func(rule, _, _, msg string, loc []parser.Range) {
		t.Errorf("Dockerfile:%d: %s: %s", loc[0].Start.Line, rule, msg)
	}})
	stages, _, err := instructions.Parse(ast.AST, lint)
	if err != nil {
		t.Fatalf("BuildKit refuses the Dockerfile: %v", err)
	}
	return stages
}

// commands returns a stage's commands of type T.
func commands[T instructions.Command](s instructions.Stage) []T {
	var out []T
	for _, c := range s.Commands {
		if v, ok := c.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

// stageEnv is what a stage's ENV lines set.
func stageEnv(s instructions.Stage) map[string]string {
	env := map[string]string{}
	for _, e := range commands[*instructions.EnvCommand](s) {
		for _, kv := range e.Env {
			env[kv.Key] = kv.Value
		}
	}
	return env
}

// The Dockerfile builds a static cardwatch in a Go stage and runs it in a small final
// stage as a numeric non-root user, with `cardwatch serve` as its entry point.
func TestDockerfile(t *testing.T) {
	stages := parseDockerfile(t)
	if len(stages) < 2 {
		t.Fatalf("%d stage(s): want a build stage and a final one", len(stages))
	}
	build, final := stages[0], stages[len(stages)-1]
	if !strings.HasPrefix(build.BaseName, "golang:1.26") {
		t.Errorf("build stage FROM %s, want golang:1.26 (go.mod's Go)", build.BaseName)
	}
	if env := stageEnv(build); env["CGO_ENABLED"] != "0" {
		t.Errorf("build stage CGO_ENABLED=%q, want 0 (a static binary)", env["CGO_ENABLED"])
	}
	lex := shell.NewLex(parser.DefaultEscapeToken)
	built := false
	for _, run := range commands[*instructions.RunCommand](build) {
		words, err := lex.ProcessWords(strings.Join(run.CmdLine, " "), shell.EnvsFromSlice(nil))
		must(t, err)
		if i := slices.Index(words, "go"); i >= 0 && i+1 < len(words) && words[i+1] == "build" {
			built = slices.Contains(words, "./cmd/cardwatch") && slices.Contains(words, "-o")
		}
	}
	if !built {
		t.Error("no RUN in the build stage runs `go build -o ... ./cmd/cardwatch`")
	}

	if base := final.BaseName; !strings.HasPrefix(base, "gcr.io/distroless/static") && base != "scratch" {
		t.Errorf("final stage FROM %s, want distroless/static or scratch", base)
	}
	copies := commands[*instructions.CopyCommand](final)
	if len(copies) != 1 || copies[0].From != build.Name {
		t.Errorf("final stage copies %d things, want the binary from the %q stage alone", len(copies), build.Name)
	}
	users := commands[*instructions.UserCommand](final)
	if len(users) == 0 {
		t.Fatal("final stage has no USER: it would run as root")
	}
	uid, _, _ := strings.Cut(users[len(users)-1].User, ":")
	if n, err := fmt.Sscan(uid, new(uint)); n != 1 || err != nil || uid == "0" {
		t.Errorf("final USER %q: want a numeric non-zero uid, which runAsNonRoot can check", users[len(users)-1].User)
	}
	var ports []string
	for _, e := range commands[*instructions.ExposeCommand](final) {
		ports = append(ports, e.Ports...)
	}
	if !slices.Contains(ports, "8080") {
		t.Errorf("EXPOSE %v, want 8080", ports)
	}
	if addr := stageEnv(final)["CARDWATCH_HTTP_ADDR"]; !strings.HasSuffix(addr, ":8080") {
		t.Errorf("CARDWATCH_HTTP_ADDR=%q in the image, want the exposed port 8080", addr)
	}
	eps := commands[*instructions.EntrypointCommand](final)
	if len(eps) != 1 || eps[0].PrependShell || !slices.Equal(eps[0].CmdLine, []string{"cardwatch", "serve"}) {
		t.Errorf("ENTRYPOINT: want exec form [\"cardwatch\", \"serve\"] (no shell in the image)")
	}
}

// goPackage is the part of `go list -json` this test reads.
type goPackage struct {
	Dir, ImportPath     string
	GoFiles, EmbedFiles []string
	Module              *struct{ Path, Dir string }
}

// The .dockerignore lets in every file the binary is built from (so the image builds) and
// keeps out what must never reach a build context: credentials, env files, auth.conf.
func TestDockerignore(t *testing.T) {
	f, err := os.Open("../.dockerignore")
	must(t, err)
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	must(t, err)
	pm, err := patternmatcher.New(patterns)
	must(t, err)
	excluded := func(path string) bool {
		t.Helper()
		ex, err := pm.MatchesOrParentMatches(path)
		must(t, err)
		return ex
	}

	out, err := exec.Command("go", "list", "-deps", "-json", "../cmd/cardwatch").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	need := []string{"go.mod", "go.sum"}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p goPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if p.Module == nil || p.Module.Path != "github.com/cardwatch/cardwatch" {
			continue
		}
		rel, err := filepath.Rel(p.Module.Dir, p.Dir)
		must(t, err)
		for _, name := range slices.Concat(p.GoFiles, p.EmbedFiles) {
			need = append(need, filepath.ToSlash(filepath.Join(rel, name)))
		}
	}
	if len(need) < 10 {
		t.Fatalf("go list found only %v", need)
	}
	for _, path := range need {
		if excluded(path) {
			t.Errorf(".dockerignore keeps out %s, which the build needs", path)
		}
	}
	for _, path := range []string{".git/config", "deploy/auth/auth.conf", "deploy/auth/cardwatch.creds",
		"deploy/auth/acme.creds", "deploy/cardwatch.env", "deploy/k8s/secret.yaml", "cardwatch", "cpu.prof"} {
		if !excluded(path) {
			t.Errorf(".dockerignore lets %s into the build context", path)
		}
	}
}
