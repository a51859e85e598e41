package deploy

import (
	"context"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v3"

	"github.com/cardwatch/cardwatch/notifiers"
)

// loadCompose loads compose.yaml with the Compose Specification's own loader: the
// spec's JSON schema (no unknown key anywhere) and its consistency checks (every service,
// config, secret and volume named is defined). The env file is cardwatch.env.example, as
// a user copies it to cardwatch.env.
func loadCompose(t *testing.T) *types.Project {
	t.Helper()
	wd, err := os.Getwd()
	must(t, err)
	details := types.ConfigDetails{
		WorkingDir:  wd,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(wd, "compose.yaml")}},
		Environment: types.Mapping{},
	}
	p, err := loader.LoadWithContext(context.Background(), details, func(o *loader.Options) {
		o.SkipResolveEnvironment = true // cardwatch.env is the user's; read the example below
		o.ResolvePaths = true
	})
	if err != nil {
		t.Fatalf("the compose loader refuses compose.yaml: %v", err)
	}
	for name, svc := range p.Services {
		for i, f := range svc.EnvFiles {
			if filepath.Base(f.Path) != "cardwatch.env" || !f.Required {
				t.Errorf("%s: env_file %s (required %v), want the required cardwatch.env", name, f.Path, f.Required)
			}
			svc.EnvFiles[i].Path = filepath.Join(wd, "cardwatch.env.example")
		}
		p.Services[name] = svc
	}
	p, err = p.WithServicesEnvironmentResolved(false)
	if err != nil {
		t.Fatalf("resolve the environment with cardwatch.env.example: %v", err)
	}
	return p
}

// env returns a service's resolved variable, failing when it is not set.
func env(t *testing.T, svc types.ServiceConfig, name string) string {
	t.Helper()
	v, ok := svc.Environment[name]
	if !ok || v == nil {
		t.Fatalf("%s: %s is not set", svc.Name, name)
	}
	return *v
}

// The trial cluster: three NATS nodes that the config's routes name, two cardwatch
// instances that reach all three with the creds and rules mounted where their settings
// say, healthchecks, and Prometheus scraping what cardwatch serves.
func TestCompose(t *testing.T) {
	p := loadCompose(t)
	dir, _ := natsConfDir(t)
	routes := loadNATSNode(t, dir, "nats-1").Routes
	var natsNodes []string
	for _, r := range routes {
		natsNodes = append(natsNodes, r.Hostname())
	}

	for _, name := range natsNodes {
		svc, ok := p.Services[name]
		if !ok {
			t.Errorf("the NATS config routes to %s, which compose.yaml does not run", name)
			continue
		}
		if got := env(t, svc, "SERVER_NAME"); got != name {
			t.Errorf("%s: SERVER_NAME=%q: each node's name must be its own", name, got)
		}
		targets := map[string]string{}
		for _, c := range svc.Configs {
			targets[c.Target] = c.Source
		}
		if targets["/etc/nats/nats-server.conf"] != "nats_conf" || targets["/etc/nats/auth.conf"] != "nats_auth" {
			t.Errorf("%s: configs %v: want nats-server.conf with auth.conf beside it", name, targets)
		}
		if !slices.ContainsFunc(svc.Volumes, func(v types.ServiceVolumeConfig) bool { return v.Target == "/data" }) {
			t.Errorf("%s: no volume at /data, the JetStream store_dir's parent", name)
		}
		if svc.HealthCheck == nil || !strings.Contains(strings.Join(svc.HealthCheck.Test, " "), ":8222/healthz") {
			t.Errorf("%s: healthcheck %v, want the monitor's /healthz", name, svc.HealthCheck)
		}
	}

	cardwatches := 0
	for name, svc := range p.Services {
		if svc.Build == nil {
			continue
		}
		cardwatches++
		if filepath.Base(svc.Build.Context) != filepath.Base(filepath.Dir(mustGetwd(t))) || svc.Build.Dockerfile != "deploy/Dockerfile" {
			t.Errorf("%s: build %s with %s, want the repository's root with deploy/Dockerfile", name, svc.Build.Context, svc.Build.Dockerfile)
		}
		var hosts []string
		for _, u := range strings.Split(env(t, svc, "CARDWATCH_NATS_URL"), ",") {
			pu, err := url.Parse(u)
			if err != nil || pu.Port() != "4222" {
				t.Errorf("%s: NATS URL %q, want nats://NODE:4222", name, u)
				continue
			}
			hosts = append(hosts, pu.Hostname())
		}
		if !slices.Equal(hosts, natsNodes) {
			t.Errorf("%s: CARDWATCH_NATS_URL names %v, want every node %v", name, hosts, natsNodes)
		}
		for _, node := range natsNodes {
			if svc.DependsOn[node].Condition != types.ServiceConditionHealthy {
				t.Errorf("%s: does not wait for %s to be healthy", name, node)
			}
		}
		if env(t, svc, "CARDWATCH_STREAM_REPLICAS") != "3" {
			t.Errorf("%s: CARDWATCH_STREAM_REPLICAS is not 3 on a 3-node cluster", name)
		}
		if env(t, svc, "CARDWATCH_PARTITIONS") == "" {
			t.Errorf("%s: CARDWATCH_PARTITIONS is empty", name)
		}
		creds := env(t, svc, "CARDWATCH_NATS_CREDS")
		if !slices.ContainsFunc(svc.Secrets, func(s types.ServiceSecretConfig) bool {
			return path.Join("/run/secrets", s.Target) == creds && p.Secrets[s.Source].File != ""
		}) {
			t.Errorf("%s: CARDWATCH_NATS_CREDS=%s is no secret mounted from a file", name, creds)
		}
		rulesFile := env(t, svc, "CARDWATCH_RULES_FILE")
		if !slices.ContainsFunc(svc.Configs, func(c types.ServiceConfigObjConfig) bool {
			return c.Target == rulesFile && p.Configs[c.Source].File != ""
		}) {
			t.Errorf("%s: CARDWATCH_RULES_FILE=%s is no config mounted from a file", name, rulesFile)
		}
		if key := env(t, svc, "CARDWATCH_SIGNING_KEY"); len(key) >= notifiers.MinSigningKey {
			t.Errorf("%s: the example's signing key placeholder %q is long enough for cardwatch to take it", name, key)
		}
		if svc.HealthCheck == nil || !slices.Equal(svc.HealthCheck.Test, []string{"CMD", "cardwatch", "healthcheck"}) {
			t.Errorf("%s: healthcheck %v, want [CMD cardwatch healthcheck] (/healthz)", name, svc.HealthCheck)
		}
		shutdown, err := time.ParseDuration(env(t, svc, "CARDWATCH_SHUTDOWN_TIMEOUT"))
		must(t, err)
		if svc.StopGracePeriod == nil || time.Duration(*svc.StopGracePeriod) <= shutdown {
			t.Errorf("%s: stop_grace_period %v not above CARDWATCH_SHUTDOWN_TIMEOUT %s", name, svc.StopGracePeriod, shutdown)
		}
		vars := map[string]string{}
		for k, v := range svc.Environment {
			if v != nil {
				vars[k] = *v
			}
		}
		checkEnvNamesAreRead(t, vars)
		if !svc.ReadOnly {
			t.Errorf("%s: root filesystem not read-only", name)
		}
		if len(svc.Ports) != 1 || svc.Ports[0].Target != 8080 || svc.Ports[0].HostIP != "127.0.0.1" {
			t.Errorf("%s: ports %v, want 8080 published on loopback only", name, svc.Ports)
		}
	}
	if cardwatches != 2 {
		t.Errorf("%d cardwatch instances, want 2", cardwatches)
	}

	// Prometheus scrapes every cardwatch on the port of its CARDWATCH_METRICS_ADDR.
	var want []string
	for name, svc := range p.Services {
		if svc.Build != nil {
			_, port, err := net.SplitHostPort(env(t, svc, "CARDWATCH_METRICS_ADDR"))
			must(t, err)
			want = append(want, net.JoinHostPort(name, port))
		}
	}
	got := prometheusTargets(t, "cardwatch")
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("Prometheus scrapes %v, want %v", got, want)
	}
	// Prometheus reads its config and the alert rules it names from one folder.
	mounted := map[string]string{}
	for _, c := range p.Services["prometheus"].Configs {
		mounted[c.Target] = p.Configs[c.Source].File
	}
	for _, f := range []string{"prometheus.yml", "alerts.yml"} {
		if mounted["/etc/prometheus/"+f] != filepath.Join(mustGetwd(t), "prometheus", f) {
			t.Errorf("the prometheus service does not mount prometheus/%s as /etc/prometheus/%s (mounts %v)", f, f, mounted)
		}
	}

	// Every file the project mounts is in the repository, except what nats-auth writes.
	for name, c := range p.Configs {
		if strings.Contains(c.File, string(filepath.Separator)+"auth"+string(filepath.Separator)) {
			continue
		}
		if _, err := os.Stat(c.File); err != nil {
			t.Errorf("config %s: %v", name, err)
		}
	}
}

// mustGetwd is the test's folder, deploy/.
func mustGetwd(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	must(t, err)
	return wd
}

// prometheusTargets checks prometheus/prometheus.yml with promtool, Prometheus's own
// loader, and returns the static targets of one job. promtool comes from Debian's
// prometheus package, which .ci/run installs; without it the test is skipped, except in CI.
func prometheusTargets(t *testing.T, job string) []string {
	t.Helper()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool is missing in CI (apt-get install prometheus)")
		}
		t.Skip("promtool not installed (apt-get install prometheus)")
	}
	if out, err := exec.Command(promtool, "check", "config", "--syntax-only", "prometheus/prometheus.yml").CombinedOutput(); err != nil {
		t.Fatalf("promtool check config: %v\n%s", err, out)
	}
	// The alert rules it loads, with their unit tests: each alert fires when it should.
	test := exec.Command(promtool, "test", "rules", "alerts_test.yml")
	test.Dir = "prometheus"
	if out, err := test.CombinedOutput(); err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
	// promtool has validated the file; this reads only the targets, to compare.
	raw, err := os.ReadFile("prometheus/prometheus.yml")
	must(t, err)
	var conf struct {
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	must(t, yaml.Unmarshal(raw, &conf))
	var out []string
	for _, sc := range conf.ScrapeConfigs {
		if sc.JobName == job {
			for _, s := range sc.StaticConfigs {
				out = append(out, s.Targets...)
			}
		}
	}
	return out
}
