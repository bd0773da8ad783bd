//go:build e2e

package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestDebian13 brings up a 1+2 plex from the Debian 13 (trixie) node image
// debian13_kube and checks what differs from a bookworm node: every node
// Ready and running trixie, booted from plex's files with its static address,
// SSH with the pinned host key, and a Service across the workers. It is not
// part of `make test`: `make test-debian13` builds the trixie base image
// (hack/harness.sh base debian13), bakes debian13_kube and runs it.
func TestDebian13(t *testing.T) {
	const name = "plextrix"
	e, h := newEnv(t, name, "testdata/debian13.yaml")
	if out := h.Incus(t, "image", "list", "debian13_kube", "-f", "csv", "-c", "l"); !strings.Contains(out, "debian13_kube") {
		t.Fatal("the node image debian13_kube is missing: run `make test-debian13`, which builds the debian13 base and bakes it")
	}
	ctx := context.Background()
	// up gives $HOME/.ssh/*.pub to root on every node, for the ssh check.
	if err := os.MkdirAll(filepath.Join(e.home, ".ssh"), 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "plex-e2e",
		"-f", filepath.Join(e.home, ".ssh", "id_ed25519")).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}

	start := time.Now()
	e.mustPlex("up", "-f", e.spec)
	t.Logf("FIGURE up 1+2 (debian13) to all Ready: %s", time.Since(start).Round(100*time.Millisecond))
	cs := e.client()
	nodes := []string{name + "1", name + "2", name + "3"}
	expectReady(t, ctx, cs, nodes...)
	for _, n := range nodes {
		node, err := cs.CoreV1().Nodes().Get(ctx, n, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if img := node.Status.NodeInfo.OSImage; !strings.Contains(img, "trixie") {
			t.Errorf("node %s runs %q, want Debian 13 (trixie)", n, img)
		}
	}
	checkSSH(t, e, name+"2")
	checkBootedFromFiles(t, h, name+"3", "10.212.0.243")
	checkService(t, ctx, cs, nodes[1:], nodes[0])
}
