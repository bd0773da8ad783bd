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

	"github.com/plex-dev/plex/core/incus"
	"github.com/plex-dev/plex/core/plan"
	"github.com/plex-dev/plex/internal/testenv"
)

// TestPlanAgainstIncus runs plan against the harness incusd through a real
// incus client configuration, with instances made by the incus CLI.
func TestPlanAgainstIncus(t *testing.T) {
	h := testenv.Require(t)
	ctx := context.Background()

	suffix := make([]byte, 3)
	_, _ = rand.Read(suffix)
	name := "it" + hex.EncodeToString(suffix)

	// A client config of our own, with the harness daemon as its default
	// remote under a name that is not "local".
	confDir := t.TempDir()
	conf := fmt.Sprintf("default-remote: harness\nremotes:\n  harness:\n    addr: unix://%s\n    protocol: incus\n    public: false\n", h.Socket)
	if err := os.WriteFile(filepath.Join(confDir, "config.yml"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	confPath := filepath.Join(confDir, "config.yml")

	srv, err := incus.Connect(ctx, incus.ConnectOptions{ConfigPath: confPath})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	if srv.Remote != "harness" || srv.Project != "default" {
		t.Fatalf("connected to %q/%q, want harness/default", srv.Remote, srv.Project)
	}

	// node 1 exists and is plex's; node 2 exists but is not plex's; node 9 is
	// plex's and not in the spec.
	h.Incus(t, "init", h.Image, name+"1", "--storage", h.Pool, "--network", h.Network,
		"-c", incus.LabelManaged+"=true", "-c", incus.LabelPlex+"="+name)
	h.Incus(t, "init", h.Image, name+"2", "--storage", h.Pool, "--network", h.Network)
	h.Incus(t, "init", h.Image, name+"9", "--storage", h.Pool, "--network", h.Network,
		"-c", incus.LabelManaged+"=true", "-c", incus.LabelPlex+"="+name)
	for _, n := range []string{"1", "2", "9"} {
		inst := name + n
		t.Cleanup(func() { _ = exec.Command("incus", "delete", "--force", inst).Run() })
	}

	found, err := srv.ListInstances(ctx)
	if err != nil {
		t.Fatal(err)
	}
	labelled := 0
	for _, in := range found {
		if in.Plex() == name {
			labelled++
		}
	}
	if labelled != 2 {
		t.Fatalf("found %d instances labelled for %s, want 2", labelled, name)
	}

	specFile := filepath.Join(t.TempDir(), "plex.yaml")
	spec := fmt.Sprintf(`apiVersion: plex.dev/v1alpha1
kind: PlexConfig
plexes:
- name: %s
  storagePool: %s
  network: %s
  nodeSubnet: 10.212.0.0/24
  nodes:
  - base: debian12
    indices: "1-3"
`, name, h.Pool, h.Network)
	if err := os.WriteFile(specFile, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := Plan(ctx, PlanOptions{File: specFile, Target: Target{IncusConfig: confPath}})
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	got := map[string]string{}
	for _, c := range res.Changes[name] {
		got[c.Node] = c.Action
	}
	want := map[string]string{name + "1": plan.ActionExists, name + "2": plan.ActionConflict, name + "3": plan.ActionCreate, name + "9": plan.ActionRemove}
	for n, a := range want {
		if got[n] != a {
			t.Errorf("%s: action %q, want %q (all: %v)", n, got[n], a, got)
		}
	}

	// plan changed nothing: still exactly the three instances, all stopped.
	out := h.Incus(t, "list", name, "-c", "ns", "-f", "csv")
	if strings.Count(out, "STOPPED") != 3 || strings.Contains(out, name+"3") {
		t.Fatalf("plan changed Incus; incus list says:\n%s", out)
	}

	// A remote that the config does not have is a clear error.
	if _, err := Plan(ctx, PlanOptions{File: specFile, Target: Target{IncusConfig: confPath, Remote: "nosuch"}}); err == nil || !strings.Contains(err.Error(), `"nosuch"`) {
		t.Fatalf("plan against an unknown remote: err = %v", err)
	}
}
