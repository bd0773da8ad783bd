package mirror_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/yaml"

	"github.com/plex-dev/plex/core/cloudinit"
	"github.com/plex-dev/plex/core/registry/engine"
	"github.com/plex-dev/plex/core/registry/internal/fixture"
	"github.com/plex-dev/plex/core/registry/mirror"
)

// cacheAddress is where the lab's cache is.
const cacheAddress = "10.212.0.30"

// labLayout is the lab's cache under an engine.
func labLayout(t *testing.T, eng string) engine.Layout {
	t.Helper()
	l, err := engine.NewLayout(eng, fixture.LabUpstreams(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestHostsTOMLPerEngine checks the file each node gets per upstream: a
// distribution proxy serves an upstream at its root on its own port; Zot
// serves every upstream on one port under a prefix, which containerd must
// use as is (override_path). The upstream itself stays as the fallback.
func TestHostsTOMLPerEngine(t *testing.T) {
	want := map[string]map[string]string{
		engine.EngineDistribution: {
			// labCache pulls registry.k8s.io from the lab registry, so
			// that is where nodes fall back to as well.
			"registry.k8s.io": "server = \"http://10.212.0.1:5000\"\n\n[host.\"http://10.212.0.30:5002\"]\n  capabilities = [\"pull\", \"resolve\"]\n",
			"docker.io":       "server = \"https://registry-1.docker.io\"\n\n[host.\"http://10.212.0.30:5001\"]\n  capabilities = [\"pull\", \"resolve\"]\n",
			"myreg.lab:5443":  "server = \"https://myreg.lab:5443\"\n\n[host.\"http://10.212.0.30:5010\"]\n  capabilities = [\"pull\", \"resolve\"]\n",
			// The lab namespace: the cache alone, over plain HTTP.
			"10.212.0.30:5050": "server = \"http://10.212.0.30:5050\"\n\n[host.\"http://10.212.0.30:5050\"]\n  capabilities = [\"pull\", \"resolve\"]\n",
		},
		engine.EngineZot: {
			"registry.k8s.io":  "server = \"http://10.212.0.1:5000\"\n\n[host.\"http://10.212.0.30:5000/v2/registry.k8s.io\"]\n  capabilities = [\"pull\", \"resolve\"]\n  override_path = true\n",
			"docker.io":        "server = \"https://registry-1.docker.io\"\n\n[host.\"http://10.212.0.30:5000/v2/docker.io\"]\n  capabilities = [\"pull\", \"resolve\"]\n  override_path = true\n",
			"myreg.lab:5443":   "server = \"https://myreg.lab:5443\"\n\n[host.\"http://10.212.0.30:5000/v2/myreg.lab_5443\"]\n  capabilities = [\"pull\", \"resolve\"]\n  override_path = true\n",
			"10.212.0.30:5000": "server = \"http://10.212.0.30:5000\"\n\n[host.\"http://10.212.0.30:5000\"]\n  capabilities = [\"pull\", \"resolve\"]\n",
		},
	}
	for eng, files := range want {
		got, err := mirror.HostsFiles(mirror.NodeMirrors(cacheAddress, labLayout(t, eng), ""))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(files) {
			t.Fatalf("%s: %d files, want %d", eng, len(got), len(files))
		}
		for _, f := range got {
			if f.Path != "/etc/containerd/certs.d/"+f.Upstream+"/hosts.toml" {
				t.Errorf("%s: path %s", eng, f.Path)
			}
			body := f.Content[strings.Index(f.Content, "\n")+1:] // after the comment line
			if body != files[f.Upstream] {
				t.Errorf("%s %s:\n%s\nwant:\n%s", eng, f.Upstream, body, files[f.Upstream])
			}
		}
	}
}

func TestNodeMirrorsExplicitWins(t *testing.T) {
	m := mirror.NodeMirrors(cacheAddress, labLayout(t, engine.EngineZot), "http://10.212.0.1:5000")
	if m["registry.k8s.io"] != (cloudinit.Mirror{URL: "http://10.212.0.1:5000"}) ||
		m["docker.io"] != (cloudinit.Mirror{URL: "http://10.212.0.30:5000/v2/docker.io", Server: "https://registry-1.docker.io"}) {
		t.Errorf("mirrors %v", m)
	}
	if m := mirror.NodeMirrors("", engine.Layout{}, ""); len(m) != 0 {
		t.Errorf("no cache, no mirror: %v", m)
	}
}

func TestHostingConfigMap(t *testing.T) {
	for eng, host := range map[string]string{engine.EngineZot: "10.212.0.30:5000", engine.EngineDistribution: "10.212.0.30:5050"} {
		cm, err := mirror.HostingConfigMap(cacheAddress, labLayout(t, eng))
		if err != nil {
			t.Fatal(err)
		}
		if cm.Name != "local-registry-hosting" || cm.Namespace != "kube-public" {
			t.Errorf("%s/%s", cm.Namespace, cm.Name)
		}
		var v mirror.LocalRegistryHostingV1
		if err := yaml.UnmarshalStrict([]byte(cm.Data["localRegistryHosting.v1"]), &v); err != nil {
			t.Fatalf("%s: %v\n%s", eng, err, cm.Data["localRegistryHosting.v1"])
		}
		if v.Host != host || v.HostFromContainerRuntime != host || v.HostFromClusterNetwork != host || v.Help != mirror.HelpURL {
			t.Errorf("%s: %+v", eng, v)
		}
	}
	got, _ := mirror.HostingConfigMap(cacheAddress, labLayout(t, engine.EngineDistribution))
	assertGolden(t, "local-registry-hosting.yaml", []byte(got.Data[mirror.HostingConfigMapKey]))
}

func TestPublishHosting(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewSimpleClientset()
	if err := mirror.PublishHosting(ctx, cs, cacheAddress, labLayout(t, engine.EngineZot)); err != nil {
		t.Fatal(err)
	}
	// Published again after the cache changed engine: updated in place.
	dist := labLayout(t, engine.EngineDistribution)
	if err := mirror.PublishHosting(ctx, cs, cacheAddress, dist); err != nil {
		t.Fatal(err)
	}
	cm, err := cs.CoreV1().ConfigMaps("kube-public").Get(ctx, "local-registry-hosting", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(cm.Data["localRegistryHosting.v1"], "host: 10.212.0.30:5050") || cm.Labels["app.kubernetes.io/managed-by"] != "plex-registry" {
		t.Errorf("ConfigMap %+v", cm)
	}
	// Somebody else's ConfigMap of that name is taken over, keeping its labels.
	cs = fake.NewSimpleClientset(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "local-registry-hosting", Namespace: "kube-public", Labels: map[string]string{"x": "y"}}})
	if err := mirror.PublishHosting(ctx, cs, cacheAddress, dist); err != nil {
		t.Fatal(err)
	}
	cm, _ = cs.CoreV1().ConfigMaps("kube-public").Get(ctx, "local-registry-hosting", metav1.GetOptions{})
	if cm.Labels["x"] != "y" || cm.Data["localRegistryHosting.v1"] == "" {
		t.Errorf("taken over: %+v", cm)
	}
}

func TestClusterClient(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	kubeconfig := `apiVersion: v1
kind: Config
clusters: [{name: lab, cluster: {server: "https://10.212.0.11:6443"}}]
users: [{name: lab, user: {token: x}}]
contexts: [{name: plex-lab, context: {cluster: lab, user: lab}}]
`
	if err := os.WriteFile(path, []byte(kubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := mirror.ClusterClient(path, "lab"); err != nil {
		t.Errorf("plex lab: %v", err)
	}
	_, err := mirror.ClusterClient(path, "other")
	if !errors.Is(err, mirror.ErrNoContext) || !strings.Contains(err.Error(), "plex-other") {
		t.Errorf("plex other: %v", err)
	}
}
