package deploy

import (
	"bufio"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/cardwatch/cardwatch/notifiers"
	"github.com/cardwatch/cardwatch/rules"
)

// manifests are the Kubernetes objects of deploy/k8s, by kind and name.
type manifests struct {
	namespaces  map[string]*corev1.Namespace
	configMaps  map[string]*corev1.ConfigMap
	secrets     map[string]*corev1.Secret
	services    map[string]*corev1.Service
	deployments map[string]*appsv1.Deployment
	pdbs        map[string]*policyv1.PodDisruptionBudget
}

// loadManifests reads every document of every manifest in k8s/ with Kubernetes' own
// reader, and decodes each strictly into its API type: an unknown or misspelt field, a
// wrong type, or a kind not listed here fails the test.
func loadManifests(t *testing.T) manifests {
	t.Helper()
	m := manifests{map[string]*corev1.Namespace{}, map[string]*corev1.ConfigMap{}, map[string]*corev1.Secret{},
		map[string]*corev1.Service{}, map[string]*appsv1.Deployment{}, map[string]*policyv1.PodDisruptionBudget{}}
	files, err := filepath.Glob("k8s/*.yaml")
	must(t, err)
	for _, file := range files {
		if filepath.Base(file) == "nats-values.yaml" {
			continue // Helm values, not a manifest
		}
		f, err := os.Open(file)
		must(t, err)
		r := k8syaml.NewYAMLReader(bufio.NewReader(f))
		for n := 1; ; n++ {
			doc, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			must(t, err)
			var tm metav1.TypeMeta
			must(t, sigsyaml.Unmarshal(doc, &tm))
			var obj metav1.Object
			switch tm.APIVersion + " " + tm.Kind {
			case "v1 Namespace":
				obj = add(m.namespaces, &corev1.Namespace{})
			case "v1 ConfigMap":
				obj = add(m.configMaps, &corev1.ConfigMap{})
			case "v1 Secret":
				obj = add(m.secrets, &corev1.Secret{})
			case "v1 Service":
				obj = add(m.services, &corev1.Service{})
			case "apps/v1 Deployment":
				obj = add(m.deployments, &appsv1.Deployment{})
			case "policy/v1 PodDisruptionBudget":
				obj = add(m.pdbs, &policyv1.PodDisruptionBudget{})
			default:
				t.Fatalf("%s, document %d: %q %q is no kind this test knows", file, n, tm.APIVersion, tm.Kind)
			}
			if err := sigsyaml.UnmarshalStrict(doc, obj); err != nil {
				t.Fatalf("%s, document %d (%s): %v", file, n, tm.Kind, err)
			}
			if obj.GetNamespace() != "cardwatch" && tm.Kind != "Namespace" {
				t.Errorf("%s: %s %s in namespace %q, want cardwatch", file, tm.Kind, obj.GetName(), obj.GetNamespace())
			}
		}
		f.Close()
	}
	// add stored an empty object under ""; put each under its name now it is decoded.
	rekey(m.namespaces)
	rekey(m.configMaps)
	rekey(m.secrets)
	rekey(m.services)
	rekey(m.deployments)
	rekey(m.pdbs)
	return m
}

// add keeps obj to be decoded into; rekey files it under its name afterwards.
func add[T metav1.Object](into map[string]T, obj T) T {
	into[fmt.Sprintf("\x00%d", len(into))] = obj
	return obj
}

// rekey files every object under its decoded name.
func rekey[T metav1.Object](m map[string]T) {
	for k, v := range m {
		delete(m, k)
		m[v.GetName()] = v
	}
}

// The Deployment: 3 replicas, /healthz and /readyz probes, a grace period above the
// shutdown timeout, non-root with a read-only root, its settings from the ConfigMap and
// Secret that exist, the rules ConfigMap and the creds Secret mounted where the settings
// say; the PDB and the Service select its pods.
func TestKubernetesManifests(t *testing.T) {
	m := loadManifests(t)
	if _, ok := m.namespaces["cardwatch"]; !ok {
		t.Error("no cardwatch Namespace")
	}
	d := m.deployments["cardwatch"]
	if d == nil {
		t.Fatal("no cardwatch Deployment")
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 3 {
		t.Errorf("replicas %v, want 3", d.Spec.Replicas)
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	must(t, err)
	podLabels := labels.Set(d.Spec.Template.Labels)
	if !sel.Matches(podLabels) {
		t.Errorf("the Deployment's selector %s does not match its own pods %v", sel, podLabels)
	}
	pod := d.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want cardwatch alone", len(pod.Containers))
	}
	c := pod.Containers[0]

	// Its environment, as the kubelet would build it from envFrom.
	envs := map[string]string{}
	for _, from := range c.EnvFrom {
		switch {
		case from.ConfigMapRef != nil:
			cm := m.configMaps[from.ConfigMapRef.Name]
			if cm == nil {
				t.Fatalf("envFrom names ConfigMap %s, which is not in k8s/", from.ConfigMapRef.Name)
			}
			for k, v := range cm.Data {
				envs[k] = v
			}
		case from.SecretRef != nil:
			s := m.secrets[from.SecretRef.Name]
			if s == nil {
				t.Fatalf("envFrom names Secret %s, which is not in k8s/", from.SecretRef.Name)
			}
			for k, v := range s.StringData {
				envs[k] = v
			}
		}
	}
	if key, ok := envs["CARDWATCH_SIGNING_KEY"]; !ok || len(key) >= notifiers.MinSigningKey {
		t.Errorf("CARDWATCH_SIGNING_KEY placeholder %q: want one cardwatch refuses (under %d bytes)", key, notifiers.MinSigningKey)
	}
	if envs["CARDWATCH_STREAM_REPLICAS"] != "3" || envs["CARDWATCH_PARTITIONS"] == "" || !strings.HasPrefix(envs["CARDWATCH_NATS_URL"], "nats://") {
		t.Errorf("NATS settings: replicas %q, partitions %q, URL %q", envs["CARDWATCH_STREAM_REPLICAS"], envs["CARDWATCH_PARTITIONS"], envs["CARDWATCH_NATS_URL"])
	}
	checkEnvNamesAreRead(t, envs)

	// Probes on the port of CARDWATCH_METRICS_ADDR, the internal listener.
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	probe := func(what string, p *corev1.Probe, wantPath string) {
		t.Helper()
		if p == nil || p.HTTPGet == nil {
			t.Errorf("no %s HTTP probe", what)
			return
		}
		if p.HTTPGet.Path != wantPath {
			t.Errorf("%s probe on %s, want %s", what, p.HTTPGet.Path, wantPath)
		}
		if port := ports[p.HTTPGet.Port.StrVal]; !strings.HasSuffix(envs["CARDWATCH_METRICS_ADDR"], ":"+strconv.Itoa(int(port))) {
			t.Errorf("%s probe on port %s (%d), not the port of CARDWATCH_METRICS_ADDR %s", what, p.HTTPGet.Port.String(), port, envs["CARDWATCH_METRICS_ADDR"])
		}
	}
	probe("liveness", c.LivenessProbe, "/healthz")
	probe("readiness", c.ReadinessProbe, "/readyz")
	probe("startup", c.StartupProbe, "/healthz")
	if !strings.HasSuffix(envs["CARDWATCH_HTTP_ADDR"], ":"+strconv.Itoa(int(ports["http"]))) {
		t.Errorf("container port http %d is not CARDWATCH_HTTP_ADDR's %s", ports["http"], envs["CARDWATCH_HTTP_ADDR"])
	}

	// The grace period covers the preStop sleep and cardwatch's own shutdown.
	shutdown, err := time.ParseDuration(envs["CARDWATCH_SHUTDOWN_TIMEOUT"])
	if err != nil {
		t.Fatalf("CARDWATCH_SHUTDOWN_TIMEOUT: %v", err)
	}
	var preStop time.Duration
	if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Sleep != nil {
		preStop = time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
	}
	if g := pod.TerminationGracePeriodSeconds; g == nil || time.Duration(*g)*time.Second <= preStop+shutdown {
		if g == nil {
			g = new(int64)
		}
		t.Errorf("terminationGracePeriodSeconds %d not above the preStop sleep %s plus CARDWATCH_SHUTDOWN_TIMEOUT %s", *g, preStop, shutdown)
	}

	// Non-root, read-only, no privilege: the restricted Pod Security Standard.
	psc, sc := pod.SecurityContext, c.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Error("the pod does not run as a non-root user")
	}
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" {
		t.Error("the container's root filesystem is writable, or it may escalate, or it keeps capabilities")
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources %v: want CPU and memory requests and a memory limit", c.Resources)
	}
	if pod.EnableServiceLinks == nil || *pod.EnableServiceLinks {
		t.Error("service links on: a Service named cardwatch would set CARDWATCH_* variables")
	}

	// The rules file and the creds are files of what is mounted where the settings say.
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	mountedFile := func(setting string) (corev1.Volume, string) {
		t.Helper()
		file := envs[setting]
		for _, vm := range c.VolumeMounts {
			if rel, ok := strings.CutPrefix(file, vm.MountPath+"/"); ok && vm.SubPath == "" {
				return volumes[vm.Name], rel
			}
		}
		t.Fatalf("%s=%s is under no volume mount of the container", setting, file)
		return corev1.Volume{}, ""
	}
	rv, rkey := mountedFile("CARDWATCH_RULES_FILE")
	if rv.ConfigMap == nil || m.configMaps[rv.ConfigMap.Name] == nil {
		t.Fatalf("CARDWATCH_RULES_FILE is on volume %s, which is no ConfigMap in k8s/", rv.Name)
	}
	rulesText, ok := m.configMaps[rv.ConfigMap.Name].Data[rkey]
	if !ok {
		t.Fatalf("ConfigMap %s has no key %s, the file CARDWATCH_RULES_FILE names", rv.ConfigMap.Name, rkey)
	}
	// cardwatch checks the defaults through the cardholders that use them; with none in
	// the file, one is added here so that the defaults are checked too.
	withOne := strings.Replace(rulesText, "\ncardholders: []", "\ncardholders:\n  - {id: ch_check, bank: check, notify: {slack: U024BE7LH}}", 1)
	if withOne == rulesText && strings.Contains(rulesText, "cardholders: []") {
		t.Fatal("the rules' empty cardholder list is not at the top level")
	}
	if _, err := rules.Parse(rkey, []byte(withOne)); err != nil {
		t.Errorf("the rules in ConfigMap %s are refused by cardwatch: %v", rv.ConfigMap.Name, err)
	}
	cv, ckey := mountedFile("CARDWATCH_NATS_CREDS")
	if cv.Secret == nil || m.secrets[cv.Secret.SecretName] == nil {
		t.Fatalf("CARDWATCH_NATS_CREDS is on volume %s, which is no Secret in k8s/", cv.Name)
	}
	mapped := ckey
	for _, it := range cv.Secret.Items {
		if it.Path == ckey {
			mapped = it.Key
		}
	}
	if _, ok := m.secrets[cv.Secret.SecretName].StringData[mapped]; !ok {
		t.Errorf("Secret %s has no key %s, the file CARDWATCH_NATS_CREDS names", cv.Secret.SecretName, mapped)
	}
	if mode := cv.Secret.DefaultMode; mode == nil || *mode&0o040 == 0 || *mode&0o007 != 0 {
		t.Errorf("creds file mode %o: the files belong to root and fsGroup, so uid %d reads them by group only", derefMode(mode), *psc.RunAsUser)
	}

	// The PDB and the Service select exactly the Deployment's pods.
	pdb := m.pdbs["cardwatch"]
	if pdb == nil {
		t.Fatal("no cardwatch PodDisruptionBudget")
	}
	psel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
	must(t, err)
	if !psel.Matches(podLabels) || psel.Empty() {
		t.Errorf("the PDB's selector %s does not pick the Deployment's pods %v", psel, podLabels)
	}
	if mu := pdb.Spec.MaxUnavailable; mu == nil || mu.IntValue() != 1 {
		t.Errorf("PDB maxUnavailable %v, want 1", mu)
	}
	svc := m.services["cardwatch"]
	if svc == nil {
		t.Fatal("no cardwatch Service")
	}
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(podLabels) || len(svc.Spec.Selector) == 0 {
		t.Errorf("the Service's selector %v does not pick the Deployment's pods", svc.Spec.Selector)
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].TargetPort.StrVal != "http" {
		t.Errorf("the Service should expose the http port alone, not /metrics: %v", svc.Spec.Ports)
	}
}

// derefMode prints a missing mode as 0.
func derefMode(m *int32) int32 {
	if m == nil {
		return 0
	}
	return *m
}

// checkEnvNamesAreRead fails on a CARDWATCH_ variable that no envconfig tag in the
// module reads: a misspelt setting would otherwise be ignored without a word.
func checkEnvNamesAreRead(t *testing.T, envs map[string]string) {
	t.Helper()
	read := map[string]bool{}
	fset := token.NewFileSet()
	err := filepath.WalkDir("..", func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if field, ok := n.(*ast.Field); ok && field.Tag != nil {
				tag, _ := strconv.Unquote(field.Tag.Value)
				if name := reflect.StructTag(tag).Get("envconfig"); name != "" {
					read[name] = true
				}
			}
			return true
		})
		return nil
	})
	must(t, err)
	for name := range envs {
		if strings.HasPrefix(name, "CARDWATCH_") && !read[name] {
			t.Errorf("%s is set, but cardwatch reads no such setting", name)
		}
	}
}

// natsValues is the part of nats-values.yaml this test reads.
type natsValues struct {
	Config struct {
		Cluster struct {
			Enabled  bool
			Replicas int
		}
		JetStream struct {
			Enabled   bool
			FileStore struct{ Enabled bool } `yaml:"fileStore"`
		} `yaml:"jetstream"`
		Merge map[string]any
	}
	Container   struct{ Patch []jsonPatchOp }
	PodTemplate struct{ Patch []jsonPatchOp } `yaml:"podTemplate"`
}

// jsonPatchOp is one JSON Patch (RFC 6902) operation, as the chart applies them.
type jsonPatchOp struct {
	Op, Path string
	Value    yaml.Node
}

// The NATS chart's values: a 3-node cluster with a JetStream file store, and auth.conf
// from the nats-auth Secret, mounted where the include looks for it. The patches' values
// are decoded strictly as the Kubernetes objects they add.
func TestNATSHelmValues(t *testing.T) {
	raw, err := os.ReadFile("k8s/nats-values.yaml")
	must(t, err)
	var v natsValues
	must(t, yaml.Unmarshal(raw, &v))
	if !v.Config.Cluster.Enabled || v.Config.Cluster.Replicas != 3 || !v.Config.JetStream.Enabled || !v.Config.JetStream.FileStore.Enabled {
		t.Errorf("cluster %+v, jetstream %+v: want a 3-node cluster with a JetStream file store", v.Config.Cluster, v.Config.JetStream)
	}

	var include string
	for k, val := range v.Config.Merge {
		if strings.HasSuffix(k, "$include") {
			include, _ = val.(string)
		}
	}
	// The chart writes nats.conf in /etc/nats-config; an include is relative to it.
	authFile := path.Clean(path.Join("/etc/nats-config", include))

	decode := func(ops []jsonPatchOp, wantPath string, into any) {
		t.Helper()
		for _, op := range ops {
			if op.Op == "add" && op.Path == wantPath {
				var plain any
				must(t, op.Value.Decode(&plain))
				js, err := sigsyaml.Marshal(plain)
				must(t, err)
				if err := sigsyaml.UnmarshalStrict(js, into); err != nil {
					t.Fatalf("patch %s: %v", wantPath, err)
				}
				return
			}
		}
		t.Fatalf("no patch adds %s", wantPath)
	}
	var mount corev1.VolumeMount
	decode(v.Container.Patch, "/volumeMounts/-", &mount)
	var vol corev1.Volume
	decode(v.PodTemplate.Patch, "/spec/volumes/-", &vol)
	if mount.Name != vol.Name || vol.Secret == nil || vol.Secret.SecretName != "nats-auth" {
		t.Errorf("mount %q of volume %q (%+v): want the nats-auth Secret", mount.Name, vol.Name, vol.Secret)
	}
	if authFile != path.Join(mount.MountPath, "auth.conf") {
		t.Errorf("include %q resolves to %s, not auth.conf in the Secret's mount %s", include, authFile, mount.MountPath)
	}
	if !strings.HasPrefix(mount.MountPath, "/etc/") {
		t.Errorf("mount %s: the chart's reloader sees only mounts under /etc/, so a new auth.conf would not reload", mount.MountPath)
	}

	checkValuesAgainstChart(t, raw)
}

// chartValues is where the chart's own values.yaml is read from: $NATS_CHART_VALUES, or
// the steering repository's shared/ beside the checkout. It is not vendored here.
func chartValues() string {
	if p := os.Getenv("NATS_CHART_VALUES"); p != "" {
		return p
	}
	return "../../shared/charts/nats/values.yaml"
}

// checkValuesAgainstChart fails on a key of ours that the chart's values.yaml does not
// have (Helm would ignore it without a word), except under the chart's free-form maps
// and lists (merge, patch, env, resources, ...), which it leaves empty.
func checkValuesAgainstChart(t *testing.T, ours []byte) {
	t.Helper()
	chartRaw, err := os.ReadFile(chartValues())
	if errors.Is(err, fs.ErrNotExist) {
		t.Logf("the NATS chart's values.yaml is not at %s (set NATS_CHART_VALUES): key paths not checked", chartValues())
		return
	}
	must(t, err)
	var chart, mine map[string]any
	must(t, yaml.Unmarshal(chartRaw, &chart))
	must(t, yaml.Unmarshal(ours, &mine))
	var walk func(prefix string, chart, mine map[string]any)
	walk = func(prefix string, chart, mine map[string]any) {
		for k, v := range mine {
			cv, ok := chart[k]
			if !ok {
				t.Errorf("nats-values.yaml: %s%s is no value of the chart", prefix, k)
				continue
			}
			if cm, ok := cv.(map[string]any); ok && len(cm) > 0 {
				mm, ok := v.(map[string]any)
				if !ok {
					t.Errorf("nats-values.yaml: %s%s is a %T, the chart's is a map", prefix, k, v)
					continue
				}
				walk(prefix+k+".", cm, mm)
			}
		}
	}
	walk("", chart, mine)
}
