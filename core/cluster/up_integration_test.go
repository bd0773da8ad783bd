package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plex-dev/plex/internal/testenv"
)

// TestUpRefusesBeforeCreatingAnything checks that up's preflight stops on a
// missing image and on a name conflict with an instance plex did not make,
// and that nothing is created in either case.
func TestUpRefusesBeforeCreatingAnything(t *testing.T) {
	h := testenv.Require(t)
	ctx := context.Background()
	suffix := make([]byte, 3)
	_, _ = rand.Read(suffix)
	name := "up" + hex.EncodeToString(suffix)

	write := func(base string) string {
		f := filepath.Join(t.TempDir(), "plex.yaml")
		spec := fmt.Sprintf(`apiVersion: plex.dev/v1alpha1
kind: PlexConfig
plexes:
- name: %s
  storagePool: %s
  network: %s
  nodeSubnet: 10.212.0.0/24
  addressOffset: 180
  podSubnet: 10.212.192.0/18
  serviceSubnet: 10.212.160.0/20
  nodes:
  - base: %s
    indices: "1-2"
`, name, h.Pool, h.Network, base)
		if err := os.WriteFile(f, []byte(spec), 0o644); err != nil {
			t.Fatal(err)
		}
		return f
	}
	count := func() int {
		out := h.Incus(t, "list", "^"+name, "-c", "n", "-f", "csv")
		return len(strings.Fields(out))
	}

	err := Up(ctx, UpOptions{File: write("nosuchbase"), Kubeconfig: filepath.Join(t.TempDir(), "kc")})
	if err == nil || !strings.Contains(err.Error(), "image nosuchbase_kube is not on remote") || !strings.Contains(err.Error(), "incus plexbake") {
		t.Fatalf("up with a missing image: err = %v", err)
	}
	if n := count(); n != 0 {
		t.Fatalf("up with a missing image created %d instance(s)", n)
	}

	// An instance named like node 2 that plex did not make.
	h.Incus(t, "init", h.Image, name+"2", "--storage", h.Pool, "--network", h.Network)
	t.Cleanup(func() { _ = exec.Command("incus", "delete", "--force", name+"2").Run() })
	err = Up(ctx, UpOptions{File: write("debian12"), Kubeconfig: filepath.Join(t.TempDir(), "kc")})
	if err == nil || !strings.Contains(err.Error(), name+"2 exists but plex did not create it") {
		t.Fatalf("up over a foreign instance: err = %v", err)
	}
	if n := count(); n != 1 {
		t.Fatalf("up over a foreign instance: %d instance(s) named %s*, want only the foreign one", n, name)
	}
}
