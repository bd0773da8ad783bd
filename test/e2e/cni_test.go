//go:build e2e

package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestE2ECNIManifest brings up a one-node plex with `cni: manifest`: up
// applies testdata/cni-manifest.yaml after kubeadm init, the controller-manager
// hands out the node's pod CIDR, the manifest's DaemonSet writes the CNI
// config, and the node becomes Ready. A pod then gets an address from that
// CIDR and reaches the harness registry.
func TestE2ECNIManifest(t *testing.T) {
	const name = "plexcni"
	e, h := newEnv(t, name, "testdata/cni.yaml")
	ctx := context.Background()

	start := time.Now()
	out := e.mustPlex("up", "-f", e.spec)
	t.Logf("FIGURE up 1 node with cni: manifest to Ready: %s", time.Since(start).Round(100*time.Millisecond))
	if !strings.Contains(out, "applying CNI manifest") {
		t.Errorf("up did not apply the CNI manifest:\n%s", out)
	}
	cs := e.client()
	node, err := cs.CoreV1().Nodes().Get(ctx, name+"1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if node.Spec.PodCIDR == "" {
		t.Fatalf("node %s has no pod CIDR: the controller-manager does not allocate them with cni: manifest", node.Name)
	}
	// plex's own bridge CNI stays out of the way.
	if conf := h.Incus(t, "exec", name+"1", "--", "ls", "/etc/cni/net.d"); strings.Contains(conf, "10-plex.conflist") || !strings.Contains(conf, "10-e2e-manifest.conflist") {
		t.Fatalf("/etc/cni/net.d on %s holds:\n%s", node.Name, conf)
	}
	checkLeavesPlex(t, ctx, cs, name+"1")
}
