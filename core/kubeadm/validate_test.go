package kubeadm

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// kubeadmBinary is a real kubeadm to check the golden files with: $KUBEADM,
// or the one the harness builds under $PLEX_CACHE.
func kubeadmBinary() string {
	if k := os.Getenv("KUBEADM"); k != "" {
		return k
	}
	cache := os.Getenv("PLEX_CACHE")
	if cache == "" {
		cache = "/var/cache/plex-dev"
	}
	k := filepath.Join(cache, "k8s", "v1.34.4", "bin", "kubeadm")
	if _, err := os.Stat(k); err != nil {
		return ""
	}
	return k
}

// TestGoldenKubeadmValidate runs `kubeadm config validate`, which decodes
// strictly (unknown fields are errors) and validates every document, on each
// golden file.
func TestGoldenKubeadmValidate(t *testing.T) {
	k := kubeadmBinary()
	if k == "" {
		t.Skip("no kubeadm binary: set KUBEADM or build the harness's artifacts")
	}
	files, err := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			f := withDiscoveryFile(t, f)
			out, err := exec.Command(k, "config", "validate", "--config", f).CombinedOutput()
			if err != nil {
				t.Fatalf("kubeadm config validate --config %s: %v\n%s", f, err, out)
			}
		})
	}
}

// withDiscoveryFile returns f, or, when f names a discovery file
// (discovery.file.kubeConfigPath, which kubeadm wants on disk), a copy of f
// that names a DiscoveryKubeconfig written to a temporary file.
func withDiscoveryFile(t *testing.T, f string) string {
	t.Helper()
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	const key = "kubeConfigPath: "
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return f
	}
	end := i + len(key) + bytes.IndexByte(b[i+len(key):], '\n')
	ca, _ := testCA(t)
	kc, err := DiscoveryKubeconfig(omniplex(true), ca)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	disc := filepath.Join(dir, "discovery.conf")
	if err := os.WriteFile(disc, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	cp := append(append(append([]byte{}, b[:i+len(key)]...), disc...), b[end:]...)
	out := filepath.Join(dir, filepath.Base(f))
	if err := os.WriteFile(out, cp, 0o600); err != nil {
		t.Fatal(err)
	}
	return out
}
