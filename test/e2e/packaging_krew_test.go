//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/plex-dev/plex/internal/testenv"
)

// krewEnv is a private Krew installation: its own KREW_ROOT and HOME, the real
// Krew and kubectl first on PATH, no network.
type krewEnv struct {
	root, kubectl string
	env           []string
}

// newKrewEnv builds (or reuses) Krew through hack/krew.sh and finds the
// harness's kubectl (PLEX_KUBECTL, else the one make artifacts builds).
func newKrewEnv(t *testing.T, h *testenv.Harness) *krewEnv {
	t.Helper()
	kubectl := os.Getenv("PLEX_KUBECTL")
	if kubectl == "" {
		kubectl = filepath.Join(h.Cache, "k8s", "v1.34.4", "bin", "kubectl")
	}
	if _, err := os.Stat(kubectl); err != nil {
		t.Fatalf("the harness's kubectl: %v; build it with make artifacts, or set PLEX_KUBECTL", err)
	}
	krewDir := strings.TrimSpace(mustRunTool(t, nil, filepath.Join(packagingRepoRoot(t), "hack", "krew.sh")))
	tmp := t.TempDir()
	root := filepath.Join(tmp, "krew")
	home := filepath.Join(tmp, "home")
	if err := os.MkdirAll(home, 0o755); err != nil {
		t.Fatal(err)
	}
	path := strings.Join([]string{krewDir, filepath.Dir(kubectl), filepath.Join(root, "bin"), "/usr/bin", "/bin"}, string(os.PathListSeparator))
	return &krewEnv{
		root:    root,
		kubectl: kubectl,
		// Krew creates KREW_ROOT, and reads HOME, on every command; the
		// upgrade check would reach github.com.
		env: []string{"KREW_ROOT=" + root, "HOME=" + home, "KREW_NO_UPGRADE_CHECK=1", "PATH=" + path, "KUBECONFIG=" + filepath.Join(home, "kubeconfig")},
	}
}

func (k *krewEnv) run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return runTool(t, k.env, k.kubectl, args...)
}

func (k *krewEnv) mustRun(t *testing.T, args ...string) string {
	t.Helper()
	return mustRunTool(t, k.env, k.kubectl, args...)
}

// TestPackagingKrew installs the kubectl-plex archive with the real Krew,
// runs `kubectl plex` through the real kubectl, and sets up completion the
// way the manifest's caveats tell the user to.
func TestPackagingKrew(t *testing.T) {
	h, rel := requirePackaging(t)
	k := newKrewEnv(t, h)
	manifest := filepath.Join(rel.dir, "plex.yaml")
	archive := rel.archive("kubectl-plex_" + runtime.GOOS + "_" + runtime.GOARCH)

	out := k.mustRun(t, "krew", "install", "--manifest="+manifest, "--archive="+archive)
	if !strings.Contains(out, `Installed plugin: plex`) {
		t.Errorf("krew install: want %q in its output", "Installed plugin: plex")
	}
	// Krew shows the caveats; they carry the completion set-up.
	if !strings.Contains(out, "kubectl_complete-plex") {
		t.Errorf("krew install did not show the caveats about kubectl_complete-plex")
	}

	out = k.mustRun(t, "plex", "version")
	for _, s := range []string{rel.info["version"], "commit " + rel.info["commit"]} {
		if !strings.Contains(out, s) {
			t.Errorf("kubectl plex version = %q, want %q in it", out, s)
		}
	}
	bin := filepath.Join(k.root, "bin", "kubectl-plex")
	if out := k.mustRun(t, "plugin", "list"); !strings.Contains(out, bin) {
		t.Errorf("kubectl plugin list does not show %s", bin)
	}
	store := filepath.Join(k.root, "store", "plex", rel.info["krew-version"])
	for _, f := range []string{"kubectl-plex", "kubectl_complete-plex", "LICENSE"} {
		if _, err := os.Stat(filepath.Join(store, f)); err != nil {
			t.Errorf("krew did not copy %s into its store: %v", f, err)
		}
	}

	// Completion: before the helper is on PATH kubectl offers nothing for
	// plex's verbs; after the caveats' one command, it asks kubectl-plex.
	if out := k.mustRun(t, "__complete", "plex", ""); strings.Contains(out, "drain") {
		t.Errorf("kubectl completed plex's verbs before kubectl_complete-plex was on PATH:\n%s", out)
	}
	caveat := regexp.MustCompile(`(?m)^\s*(install -m 0755 .*kubectl_complete-plex.*)$`).FindStringSubmatch(
		string(mustReadFile(t, manifest)))
	if caveat == nil {
		t.Fatalf("plex.yaml's caveats have no `install … kubectl_complete-plex` line")
	}
	mustRunTool(t, k.env, "/bin/sh", "-c", caveat[1])
	out = k.mustRun(t, "__complete", "plex", "")
	for _, verb := range []string{"up", "join", "drain", "down", "status", "version"} {
		if !regexp.MustCompile(`(?m)^` + verb + `\t`).MatchString(out) {
			t.Errorf("kubectl __complete plex '': want the verb %q among the completions", verb)
		}
	}
	if out := k.mustRun(t, "__complete", "pl"); !regexp.MustCompile(`(?m)^plex\b`).MatchString(out) {
		t.Errorf("kubectl __complete pl: want the plugin plex among the completions")
	}

	// A second install of the same plugin changes nothing.
	if out := k.mustRun(t, "krew", "install", "--manifest="+manifest, "--archive="+archive); !strings.Contains(out, "already installed") {
		t.Errorf("a second krew install: want %q", "already installed")
	}
}

// TestPackagingKrewWrongChecksum: Krew refuses an archive whose sha256 does
// not match the manifest and leaves nothing installed.
func TestPackagingKrewWrongChecksum(t *testing.T) {
	h, rel := requirePackaging(t)
	k := newKrewEnv(t, h)
	name := "kubectl-plex_" + runtime.GOOS + "_" + runtime.GOARCH
	good := fileSHA256(t, rel.archive(name))
	// All digits, quoted as the template quotes them: still a string.
	bad := strings.Repeat("0", 64)
	manifest := strings.Replace(string(mustReadFile(t, filepath.Join(rel.dir, "plex.yaml"))), good, bad, 1)
	path := filepath.Join(t.TempDir(), "plex.yaml")
	if err := os.WriteFile(path, []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := k.run(t, "krew", "install", "--manifest="+path, "--archive="+rel.archive(name))
	if err == nil {
		t.Fatalf("krew install with a wrong sha256 succeeded")
	}
	if !strings.Contains(out, "checksum does not match") {
		t.Errorf("krew install with a wrong sha256: want %q in the output", "checksum does not match")
	}
	for _, p := range []string{filepath.Join(k.root, "bin", "kubectl-plex"), filepath.Join(k.root, "store", "plex")} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s exists after a failed install", p)
		}
	}
}

func mustReadFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
