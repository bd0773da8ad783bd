//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/plex-dev/plex/core/spec"
	"github.com/plex-dev/plex/internal/testenv"
	"github.com/plex-dev/plex/test/e2e/flannelrender"
)

// flannel as the e2e builds it: hack/flannel-artifacts.sh, and the images
// `make images` pushes (hack/imagebuild --flannel-bin-dir).
const (
	flannelVersion   = "v0.28.10"
	flannelImage     = "registry.k8s.io/plex-e2e/flannel:" + flannelVersion
	flannelCNIPlugin = "registry.k8s.io/plex-e2e/flannel-cni-plugin:v0.9.1"
)

// TestE2EFlannel brings up plexflan (1+2) with `cni: manifest` set to
// flannel's upstream manifest, rendered for the plex (test/e2e/flannelrender),
// and proves its vxlan pod network with real traffic: pod to pod across nodes
// both ways, a ClusterIP Service whose backend is on another node, a Service
// name resolved through CoreDNS, and a pod reaching the host, which has no
// route to the pods, through flannel's masquerade.
func TestE2EFlannel(t *testing.T) {
	const name = "plexflan"
	ctx := context.Background()
	specFile := writeFlannelSpec(t, ctx, "testdata/flannel.yaml")
	e, h := newEnv(t, name, specFile)

	start := time.Now()
	out := e.mustPlex("up", "-f", e.spec)
	t.Logf("FIGURE up 1+2 with flannel (cni: manifest) to all Ready: %s", time.Since(start).Round(100*time.Millisecond))
	if !strings.Contains(out, "applying CNI manifest") {
		t.Errorf("up did not apply the CNI manifest:\n%s", out)
	}
	cp, w1, w2 := name+"1", name+"2", name+"3"
	cs := e.client()
	expectReady(t, ctx, cs, cp, w1, w2)
	flannelReady(t, ctx, cs, 3)
	for _, n := range []string{cp, w1, w2} {
		checkFlannelNode(t, h, n, "10.212.80.0/20")
	}

	// Pod to pod across the workers, both ways.
	ipA, podA := echoPod(t, ctx, cs, "flan-a", w1)
	ipB, podB := echoPod(t, ctx, cs, "flan-b", w2)
	for _, c := range []struct{ from, ip, pod string }{{w2, ipA, podA}, {w1, ipB, podB}} {
		url := "http://" + netip.AddrPortFrom(netip.MustParseAddr(c.ip), 8080).String() + "/"
		logs, ok := runPod(t, ctx, cs, "flan-get-"+c.pod[:6]+"-from-"+c.from[len(name):], c.from, "get", url, "3")
		if !ok || !strings.Contains(logs, c.pod) {
			t.Fatalf("pod %s (%s) did not answer a pod on %s:\n%s", c.pod, url, c.from, logs)
		}
		t.Logf("a pod on %s reached pod %s at %s", c.from, c.pod, url)
	}

	// A ClusterIP Service whose backend is on a worker, called from the
	// control plane.
	serviceAcross(t, ctx, cs, w1, cp)

	// DNS: the Service's name, resolved by CoreDNS (itself on the flannel
	// network) from a pod on the other worker.
	backends, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=echo-across"})
	if err != nil || len(backends.Items) != 1 {
		t.Fatalf("echo-across pods: %v, %v", backends, err)
	}
	logs, ok := runPod(t, ctx, cs, "flan-dns", w2, "get", "http://echo-across.default.svc.cluster.local/", "3")
	if !ok || !strings.Contains(logs, backends.Items[0].Name) {
		t.Fatalf("echo-across.default.svc.cluster.local did not answer from %s through CoreDNS:\n%s", w2, logs)
	}
	t.Logf("a pod on %s reached echo-across.default.svc.cluster.local (%s) by name", w2, backends.Items[0].Name)

	// The host: it has no route to the pod CIDR (only the harness's
	// unreachable supernet route), so the registry's answer comes back only
	// because flanneld (--ip-masq) masquerades pod traffic leaving the network.
	if out, err := exec.Command("ip", "route", "get", ipB).CombinedOutput(); err == nil && !strings.Contains(string(out), "unreachable") {
		t.Fatalf("the host has a route to pod %s with cni: manifest, so this would not prove masquerading:\n%s", ipB, out)
	}
	checkLeavesPlex(t, ctx, cs, w2)
	t.Logf("a pod on %s reached the harness registry on the host, which has no route to pod %s", w2, ipB)
	if v := h.Incus(t, "exec", w2, "--", "containerd", "--version"); v != "" {
		t.Logf("%s runs %s", w2, strings.TrimSpace(v))
	}

	e.mustPlex("down", name)
	if left := h.Incus(t, "list", "user.plex.plex="+name, "-c", "n", "-f", "csv"); strings.TrimSpace(left) != "" {
		t.Fatalf("instances left after down: %s", left)
	}
}

// writeFlannelSpec copies the spec into a temporary directory and renders
// flannel's manifest beside it, with the spec's podSubnet, as the
// flannel-manifest.yaml its cniManifest names.
func writeFlannelSpec(t *testing.T, ctx context.Context, src string) string {
	t.Helper()
	cfg, err := spec.Load(src)
	if err != nil {
		t.Fatal(err)
	}
	px := cfg.Plexes[0]
	b, err := flannelrender.RenderFile(ctx, flannelVersion, flannelrender.Options{
		Network:        px.PodSubnet,
		Image:          flannelImage,
		CNIPluginImage: flannelCNIPlugin,
		CNIVersion:     "0.4.0",
	})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, filepath.Base(px.CNIManifest)), b, 0o644); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, filepath.Base(src))
	if err := os.WriteFile(dst, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

// flannelReady waits for flannel's DaemonSet to be ready on n nodes.
func flannelReady(t *testing.T, ctx context.Context, cs *kubernetes.Clientset, n int32) {
	t.Helper()
	waitFor(t, "kube-flannel-ds ready on every node", 3*time.Minute, func() (bool, error) {
		ds, err := cs.AppsV1().DaemonSets("kube-flannel").Get(ctx, "kube-flannel-ds", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return ds.Status.NumberReady == n, fmt.Errorf("%d of %d ready", ds.Status.NumberReady, n)
	})
}

// checkFlannelNode checks what flannel made on node: its subnet lease in the
// plex's pod network with an MTU 50 below eth0's (the vxlan header), the
// flannel.1 vxlan device, flannel's conflist and not plex's own.
func checkFlannelNode(t *testing.T, h *testenv.Harness, node, network string) {
	t.Helper()
	env := h.Incus(t, "exec", node, "--", "cat", "/run/flannel/subnet.env")
	if !strings.Contains(env, "FLANNEL_NETWORK="+network+"\n") {
		t.Errorf("%s: /run/flannel/subnet.env is not for %s:\n%s", node, network, env)
	}
	eth0, err := strconv.Atoi(strings.TrimSpace(h.Incus(t, "exec", node, "--", "cat", "/sys/class/net/eth0/mtu")))
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("FLANNEL_MTU=%d\n", eth0-50); !strings.Contains(env, want) {
		t.Errorf("%s: eth0 MTU %d, want %s in subnet.env:\n%s", node, eth0, strings.TrimSpace(want), env)
	}
	if link := h.Incus(t, "exec", node, "--", "ip", "-d", "link", "show", "flannel.1"); !strings.Contains(link, "vxlan id 1") {
		t.Errorf("%s: flannel.1 is not flannel's vxlan device:\n%s", node, link)
	}
	if conf := h.Incus(t, "exec", node, "--", "ls", "/etc/cni/net.d"); strings.Contains(conf, "10-plex.conflist") || !strings.Contains(conf, "10-flannel.conflist") {
		t.Errorf("%s: /etc/cni/net.d holds:\n%s", node, conf)
	}
	t.Logf("%s: eth0 MTU %d; %s", node, eth0, strings.ReplaceAll(strings.TrimSpace(env), "\n", " "))
}

// echoPod runs one echo server on node and returns its pod IP and name once
// it is running; the IP must be in the node's pod CIDR.
func echoPod(t *testing.T, ctx context.Context, cs *kubernetes.Clientset, name, node string) (string, string) {
	t.Helper()
	if _, err := cs.AppsV1().Deployments("default").Create(ctx, echoOn(name, node), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var ip, pod string
	waitFor(t, name+" running on "+node, 3*time.Minute, func() (bool, error) {
		pods, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=" + name})
		if err != nil {
			return false, err
		}
		for _, p := range pods.Items {
			if p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" {
				ip, pod = p.Status.PodIP, p.Name
				return true, nil
			}
		}
		return false, fmt.Errorf("%d pod(s), none running", len(pods.Items))
	})
	n, err := cs.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cidr, err := netip.ParsePrefix(n.Spec.PodCIDR)
	if err != nil || !cidr.Contains(netip.MustParseAddr(ip)) {
		t.Fatalf("pod %s on %s has IP %s, outside the node's pod CIDR %q (%v)", pod, node, ip, n.Spec.PodCIDR, err)
	}
	return ip, pod
}
