package registry

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/yaml"

	"github.com/plex-dev/plex/core/cloudinit"
	"github.com/plex-dev/plex/core/incus"
)

func labCache(t *testing.T, engine string) *Cache {
	t.Helper()
	l, err := NewLayout(engine, labUpstreams(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	return &Cache{Instance: "omniplex20", Plex: "omniplex", Address: "10.212.0.30", Status: "Running", Layout: l, Pool: "plex", Volume: "omniplex20-cache"}
}

// TestHostsTOMLPerEngine checks the file each node gets per upstream: a
// distribution proxy serves an upstream at its root on its own port; Zot
// serves every upstream on one port under a prefix, which containerd must
// use as is (override_path). The upstream itself stays as the fallback.
func TestHostsTOMLPerEngine(t *testing.T) {
	want := map[string]map[string]string{
		EngineDistribution: {
			// labCache pulls registry.k8s.io from the lab registry, so
			// that is where nodes fall back to as well.
			"registry.k8s.io": "server = \"http://10.212.0.1:5000\"\n\n[host.\"http://10.212.0.30:5002\"]\n  capabilities = [\"pull\", \"resolve\"]\n",
			"docker.io":       "server = \"https://registry-1.docker.io\"\n\n[host.\"http://10.212.0.30:5001\"]\n  capabilities = [\"pull\", \"resolve\"]\n",
			"myreg.lab:5443":  "server = \"https://myreg.lab:5443\"\n\n[host.\"http://10.212.0.30:5010\"]\n  capabilities = [\"pull\", \"resolve\"]\n",
		},
		EngineZot: {
			"registry.k8s.io": "server = \"http://10.212.0.1:5000\"\n\n[host.\"http://10.212.0.30:5000/v2/registry.k8s.io\"]\n  capabilities = [\"pull\", \"resolve\"]\n  override_path = true\n",
			"docker.io":       "server = \"https://registry-1.docker.io\"\n\n[host.\"http://10.212.0.30:5000/v2/docker.io\"]\n  capabilities = [\"pull\", \"resolve\"]\n  override_path = true\n",
			"myreg.lab:5443":  "server = \"https://myreg.lab:5443\"\n\n[host.\"http://10.212.0.30:5000/v2/myreg.lab_5443\"]\n  capabilities = [\"pull\", \"resolve\"]\n  override_path = true\n",
		},
	}
	for engine, files := range want {
		got, err := HostsFiles(NodeMirrors(labCache(t, engine), ""))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(files) {
			t.Fatalf("%s: %d files, want %d", engine, len(got), len(files))
		}
		for _, f := range got {
			if f.Path != "/etc/containerd/certs.d/"+f.Upstream+"/hosts.toml" {
				t.Errorf("%s: path %s", engine, f.Path)
			}
			body := f.Content[strings.Index(f.Content, "\n")+1:] // after the comment line
			if body != files[f.Upstream] {
				t.Errorf("%s %s:\n%s\nwant:\n%s", engine, f.Upstream, body, files[f.Upstream])
			}
		}
	}
}

func TestNodeMirrorsExplicitWins(t *testing.T) {
	m := NodeMirrors(labCache(t, EngineZot), "http://10.212.0.1:5000")
	if m["registry.k8s.io"] != (cloudinit.Mirror{URL: "http://10.212.0.1:5000"}) ||
		m["docker.io"] != (cloudinit.Mirror{URL: "http://10.212.0.30:5000/v2/docker.io", Server: "https://registry-1.docker.io"}) {
		t.Errorf("mirrors %v", m)
	}
	if m := NodeMirrors(nil, ""); len(m) != 0 {
		t.Errorf("no cache, no mirror: %v", m)
	}
}

func TestHostingConfigMap(t *testing.T) {
	for engine, host := range map[string]string{EngineZot: "10.212.0.30:5000", EngineDistribution: "10.212.0.30:5002"} {
		cm, err := HostingConfigMap(labCache(t, engine))
		if err != nil {
			t.Fatal(err)
		}
		if cm.Name != "local-registry-hosting" || cm.Namespace != "kube-public" {
			t.Errorf("%s/%s", cm.Namespace, cm.Name)
		}
		var v LocalRegistryHostingV1
		if err := yaml.UnmarshalStrict([]byte(cm.Data["localRegistryHosting.v1"]), &v); err != nil {
			t.Fatalf("%s: %v\n%s", engine, err, cm.Data["localRegistryHosting.v1"])
		}
		if v.Host != host || v.HostFromContainerRuntime != host || v.HostFromClusterNetwork != host || v.Help != HelpURL {
			t.Errorf("%s: %+v", engine, v)
		}
	}
	got, _ := HostingConfigMap(labCache(t, EngineDistribution))
	assertGolden(t, "local-registry-hosting.yaml", []byte(got.Data[HostingConfigMapKey]))
}

func TestPublishHosting(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewSimpleClientset()
	c := labCache(t, EngineZot)
	if err := PublishHosting(ctx, cs, c); err != nil {
		t.Fatal(err)
	}
	// Published again after the cache changed engine: updated in place.
	c = labCache(t, EngineDistribution)
	if err := PublishHosting(ctx, cs, c); err != nil {
		t.Fatal(err)
	}
	cm, err := cs.CoreV1().ConfigMaps("kube-public").Get(ctx, "local-registry-hosting", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(cm.Data["localRegistryHosting.v1"], "host: 10.212.0.30:5002") || cm.Labels["app.kubernetes.io/managed-by"] != "plex-registry" {
		t.Errorf("ConfigMap %+v", cm)
	}
	// Somebody else's ConfigMap of that name is taken over, keeping its labels.
	cs = fake.NewSimpleClientset(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "local-registry-hosting", Namespace: "kube-public", Labels: map[string]string{"x": "y"}}})
	if err := PublishHosting(ctx, cs, c); err != nil {
		t.Fatal(err)
	}
	cm, _ = cs.CoreV1().ConfigMaps("kube-public").Get(ctx, "local-registry-hosting", metav1.GetOptions{})
	if cm.Labels["x"] != "y" || cm.Data["localRegistryHosting.v1"] == "" {
		t.Errorf("taken over: %+v", cm)
	}
}

func TestCacheLabelsRoundTrip(t *testing.T) {
	c := labCache(t, EngineDistribution)
	labels, err := c.labels()
	if err != nil {
		t.Fatal(err)
	}
	cfg := map[string]string{incus.LabelManaged: "true", incus.LabelRole: "registry", incus.LabelPlex: "omniplex", incus.LabelAddress: "10.212.0.30"}
	for k, v := range labels {
		cfg[k] = v
	}
	in := incus.Instance{Name: "omniplex20", Status: "Running", Config: cfg}
	got, ok, err := FromInstance(in)
	if !ok || err != nil {
		t.Fatalf("ok=%v err=%v", ok, err)
	}
	if got.Engine != c.Engine || len(got.Endpoints) != 3 || got.Pool != "plex" || got.Volume != "omniplex20-cache" || got.Mirrors()["docker.io"] != "http://10.212.0.30:5001" {
		t.Errorf("read back %+v", got)
	}
	// Another plex's cache and a kube node are not this plex's cache.
	kube := incus.Instance{Name: "omniplex1", Config: map[string]string{incus.LabelManaged: "true", incus.LabelRole: "control-plane", incus.LabelPlex: "omniplex"}}
	other := incus.Instance{Name: "x20", Status: "Running", Config: map[string]string{}}
	for k, v := range cfg {
		other.Config[k] = v
	}
	other.Config[incus.LabelPlex] = "other"
	found, err := ForPlex([]incus.Instance{kube, other, in}, "omniplex")
	if err != nil || found == nil || found.Instance != "omniplex20" {
		t.Errorf("ForPlex: %+v %v", found, err)
	}
	if found, err := ForPlex([]incus.Instance{kube}, "omniplex"); found != nil || err != nil {
		t.Errorf("ForPlex without a cache: %+v %v", found, err)
	}
	delete(cfg, LabelEndpoints)
	if _, ok, err := FromInstance(incus.Instance{Name: "omniplex20", Config: cfg}); !ok || err == nil || !strings.Contains(err.Error(), "run it again") {
		t.Errorf("half-made cache: ok=%v err=%v", ok, err)
	}
}

func TestParseStorage(t *testing.T) {
	out := `size registry.k8s.io 1234
blob registry.k8s.io sha256:aaa
link registry.k8s.io pause sha256:aaa
link registry.k8s.io coredns/coredns sha256:bbb
repo registry.k8s.io pause
repo registry.k8s.io coredns/coredns
size docker.io 99
link docker.io library/nginx sha256:ccc
garbage line
`
	f := parseStorage(out)
	if f.size["registry.k8s.io"] != 1234 || !f.blobs["registry.k8s.io"]["sha256:aaa"] || len(f.blobs["registry.k8s.io"]) != 1 {
		t.Errorf("registry.k8s.io: %+v", f)
	}
	// Zot prints no blob lines: its blobs are those of its links.
	if !f.blobs["docker.io"]["sha256:ccc"] {
		t.Errorf("docker.io blobs: %v", f.blobs["docker.io"])
	}
	inv := Inventory(f.links)
	if !inv.Has("registry.k8s.io", "coredns/coredns", "sha256:bbb") || inv.Has("registry.k8s.io", "pause", "sha256:bbb") {
		t.Errorf("inventory %v", inv)
	}
	if r := f.repos["registry.k8s.io"]; len(r) != 2 || r[0] != "coredns/coredns" {
		t.Errorf("repos %v", r)
	}
}
