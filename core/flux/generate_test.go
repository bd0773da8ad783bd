package flux

import (
	"bytes"
	"github.com/plex-dev/plex/core/internal/golden"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// assertGolden compares got with the golden file name (go test -update
// rewrites it).
func assertGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	golden.Assert(t, filepath.Join("testdata", "golden", name), got)
}

func testKey(t *testing.T) *DeployKey {
	t.Helper()
	read := func(n string) []byte {
		b, err := os.ReadFile(filepath.Join("testdata", n))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	k, err := ParseDeployKey(read("identity"), read("identity.pub"), read("known_hosts"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// The fixture in testdata/manifests is the harness's offline build of Flux
// v2.7.3 with the CRD schemas cut down; rendering it exercises
// install.Generate's kustomization (namespace, labels, image rewrite, arg
// patches) and sync.Generate without the network.
func TestGenerateGolden(t *testing.T) {
	base := filepath.Join("testdata", "manifests")
	for _, tc := range []struct {
		name string
		o    Options
		s    *Sync
		key  bool
	}{
		{name: "http.yaml",
			o: Options{ManifestsDir: base, Registry: "registry.k8s.io/fluxcd"},
			s: &Sync{URL: "http://10.212.0.1:8080/fleet.git", Path: "clusters/omniplex"}},
		{name: "ssh.yaml",
			o:   Options{ManifestsDir: base},
			s:   &Sync{URL: "ssh://git@git.example.com:2222/you/fleet.git", Branch: "lab", Path: "./clusters/omniplex", Interval: 5 * time.Minute},
			key: true},
		{name: "components-only.yaml",
			o: Options{ManifestsDir: base, Components: []string{SourceController}, Namespace: "gitops"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var key *DeployKey
			if tc.key {
				key = testKey(t)
			}
			m, err := Generate(tc.o, tc.s, key)
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			if err := m.WriteYAML(&b); err != nil {
				t.Fatal(err)
			}
			assertGolden(t, tc.name, b.Bytes())
			// Generate must not write into the caller's directory.
			entries, _ := os.ReadDir(base)
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			if got := strings.Join(names, " "); got != "kustomize-controller.yaml policies.yaml rbac.yaml source-controller.yaml" {
				t.Fatalf("%s holds %s after Generate; it must be left alone", base, got)
			}
		})
	}
}

func TestGenerateDetails(t *testing.T) {
	m, err := Generate(Options{ManifestsDir: filepath.Join("testdata", "manifests"), Registry: "registry.k8s.io/fluxcd/"},
		&Sync{URL: "https://example.com/fleet", Path: "clusters/x"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	images := map[string]string{}
	for _, o := range m.Components {
		if o.GetKind() == "Deployment" {
			cs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
			images[o.GetName()] = cs[0].(map[string]any)["image"].(string)
		}
		if o.GetKind() != "Namespace" && o.GetKind() != "CustomResourceDefinition" && !strings.HasPrefix(o.GetKind(), "Cluster") && o.GetNamespace() != DefaultNamespace {
			t.Errorf("%s is not in namespace %s", describe(o), DefaultNamespace)
		}
	}
	want, _ := Images(DefaultVersion, "registry.k8s.io/fluxcd", nil)
	for i, c := range DefaultComponents {
		if images[c] != want[i] {
			t.Errorf("deployment %s runs %q, want %q (the image Images lists)", c, images[c], want[i])
		}
	}
	if m.Secret != nil {
		t.Error("an https source got a secret")
	}
	var gr *unstructured.Unstructured
	for _, o := range m.Sync {
		if o.GetKind() == "GitRepository" {
			gr = o
		}
	}
	if gr == nil {
		t.Fatal("no GitRepository")
	}
	if _, ok, _ := unstructured.NestedMap(gr.Object, "spec", "secretRef"); ok {
		t.Error("the GitRepository of a public source references a secret")
	}
}

func TestGenerateErrors(t *testing.T) {
	empty := t.TempDir()
	for _, tc := range []struct {
		name string
		o    Options
		s    *Sync
		want string
	}{
		{"missing files", Options{ManifestsDir: empty}, nil, "lacks source-controller.yaml, kustomize-controller.yaml, rbac.yaml, policies.yaml"},
		{"unknown component", Options{ManifestsDir: filepath.Join("testdata", "manifests"), Components: []string{"helm-controller"}}, nil, "lacks helm-controller.yaml"},
		{"no url", Options{ManifestsDir: filepath.Join("testdata", "manifests")}, &Sync{Path: "x"}, "no Git URL"},
		{"scp url", Options{ManifestsDir: filepath.Join("testdata", "manifests")}, &Sync{URL: "git@github.com:you/fleet.git", Path: "x"}, "ssh://git@github.com/you/fleet.git"},
		{"bad scheme", Options{ManifestsDir: filepath.Join("testdata", "manifests")}, &Sync{URL: "ftp://example.com/fleet", Path: "x"}, "scheme must be"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Generate(tc.o, tc.s, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// TestGenerateHarnessManifests renders the harness's real offline build
// (hack/flux-artifacts.sh), CRD schemas and all, and compares a summary of
// every object with a golden file. It needs that build: it skips loudly
// without it, and fails when PLEX_TEST_FLUX=1 (make e2e-flux) says it must be
// there.
func TestGenerateHarnessManifests(t *testing.T) {
	cache := os.Getenv("PLEX_CACHE")
	if cache == "" {
		cache = "/var/cache/plex-dev"
	}
	dir := filepath.Join(cache, "flux", DefaultVersion, "manifests")
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv("PLEX_TEST_FLUX") == "" {
			t.Skipf("SKIPPED: %s missing; run `make flux-artifacts` (make e2e-flux requires it)", dir)
		}
		t.Fatalf("%s missing with PLEX_TEST_FLUX set: run `make flux-artifacts`", dir)
	}
	m, err := Generate(Options{ManifestsDir: dir, Registry: "registry.k8s.io/fluxcd"}, &Sync{URL: "http://10.212.0.1:8080/fleet.git", Path: "clusters/plexflux"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, o := range m.All() {
		l := describe(o)
		if o.GetKind() == "Deployment" {
			cs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
			l += " image=" + cs[0].(map[string]any)["image"].(string)
		}
		if o.GetKind() == "CustomResourceDefinition" {
			vs, _, _ := unstructured.NestedSlice(o.Object, "spec", "versions")
			var names []string
			for _, v := range vs {
				names = append(names, v.(map[string]any)["name"].(string))
			}
			l += " versions=" + strings.Join(names, ",")
		}
		lines = append(lines, l)
	}
	sort.Strings(lines)
	assertGolden(t, "harness-v2.7.3-objects.txt", []byte(strings.Join(lines, "\n")+"\n"))
}

func TestImages(t *testing.T) {
	got, err := Images("v2.7.3", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"ghcr.io/fluxcd/source-controller:v1.7.3", "ghcr.io/fluxcd/kustomize-controller:v1.7.2"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("Images = %v, want %v", got, want)
	}
	got, _ = Images("v2.7.3", "registry.k8s.io/fluxcd/", []string{HelmController, NotificationController})
	if got[0] != "registry.k8s.io/fluxcd/helm-controller:v1.4.3" || got[1] != "registry.k8s.io/fluxcd/notification-controller:v1.7.4" {
		t.Fatalf("Images with registry and components = %v", got)
	}
	if _, err := Images("v2.0.0", "", nil); err == nil || !strings.Contains(err.Error(), "v2.7.3") {
		t.Fatalf("unknown version: error %v, want it to name the known ones", err)
	}
	if _, err := Images("v2.7.3", "", []string{"nope"}); err == nil {
		t.Fatal("unknown component: no error")
	}
}

func TestPhases(t *testing.T) {
	mk := func(kind, name string) *unstructured.Unstructured {
		o := &unstructured.Unstructured{}
		o.SetAPIVersion("v1")
		o.SetKind(kind)
		o.SetName(name)
		return o
	}
	first, rest := phases([]*unstructured.Unstructured{mk("ServiceAccount", "a"), mk("CustomResourceDefinition", "b"), mk("Namespace", "c"), mk("Deployment", "d")})
	if len(first) != 2 || first[0].GetName() != "b" || first[1].GetName() != "c" || len(rest) != 2 || rest[0].GetName() != "a" {
		t.Fatalf("phases: first %v rest %v", first, rest)
	}
}
