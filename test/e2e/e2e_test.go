//go:build e2e

// Package e2e drives the built kubectl-plex binary against the harness
// incusd: up a 1+2 plex, prove CNI and kube-proxy with a Service reached
// across nodes, re-run up, join a worker, drain one behind a
// PodDisruptionBudget, and take it all down. Run it with `make e2e`.
package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/plex-dev/plex/internal/testenv"
)

const (
	plexName  = "plexe2e"
	echoImage = "registry.k8s.io/plex-e2e/echo:v1"
)

type env struct {
	t          *testing.T
	name       string // the plex
	bin        string
	spec       string
	kubeconfig string
	home       string
}

// plex runs the kubectl-plex binary and returns its combined output.
func (e *env) plex(args ...string) (string, error) {
	e.t.Helper()
	start := time.Now()
	argv := append([]string{}, args...)
	switch args[0] {
	case "up", "join", "down", "kubeconfig": // the verbs that take --kubeconfig
		argv = append(argv, "--kubeconfig", e.kubeconfig)
	}
	cmd := exec.Command(e.bin, argv...)
	cmd.Env = append(os.Environ(), "HOME="+e.home, "XDG_CONFIG_HOME="+filepath.Join(e.home, ".config"))
	out, err := cmd.CombinedOutput()
	e.t.Logf("kubectl plex %s (%s):\n%s", strings.Join(args, " "), time.Since(start).Round(100*time.Millisecond), out)
	return string(out), err
}

func (e *env) mustPlex(args ...string) string {
	e.t.Helper()
	out, err := e.plex(args...)
	if err != nil {
		e.t.Fatalf("kubectl plex %s: %v; it ended with:\n%s", strings.Join(args, " "), err, lastLines(out, 12))
	}
	return out
}

// lastLines is the end of a command's output, for a failure message that
// says why without the log lines above it.
func lastLines(out string, n int) string {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (e *env) client() *kubernetes.Clientset {
	e.t.Helper()
	rc, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: e.kubeconfig},
		&clientcmd.ConfigOverrides{CurrentContext: "plex-" + e.name}).ClientConfig()
	if err != nil {
		e.t.Fatalf("kubeconfig: %v", err)
	}
	return kubernetes.NewForConfigOrDie(rc)
}

// newEnv prepares a test of plex name with spec: the built kubectl-plex, a
// HOME of its own, and the plex taken down first (a killed earlier run may
// have left it) and again when the test ends, unless PLEX_E2E_KEEP is set.
func newEnv(t *testing.T, name, spec string) (*env, *testenv.Harness) {
	t.Helper()
	h := testenv.Require(t)
	bin, err := filepath.Abs("../../bin/kubectl-plex")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s missing: run `make build` (make e2e does)", bin)
	}
	home := t.TempDir()
	e := &env{t: t, name: name, bin: bin, spec: spec, kubeconfig: filepath.Join(home, "kubeconfig"), home: home}
	e.mustPlex("down", name)
	t.Cleanup(func() {
		if os.Getenv("PLEX_E2E_KEEP") == "" {
			_, _ = e.plex("down", name)
		}
	})
	return e, h
}

func TestE2E(t *testing.T) {
	e, h := newEnv(t, plexName, "testdata/e2e.yaml")
	home := e.home
	ctx := context.Background()

	// An SSH key for `kubectl plex ssh` below; up gives $HOME/.ssh/*.pub to
	// root on every node.
	if err := os.MkdirAll(filepath.Join(home, ".ssh"), 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "plex-e2e",
		"-f", filepath.Join(home, ".ssh", "id_ed25519")).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}

	// 1. up 1+2 and every node Ready.
	start := time.Now()
	e.mustPlex("up", "-f", e.spec)
	t.Logf("FIGURE up 1+2 to all Ready: %s", time.Since(start).Round(100*time.Millisecond))
	st, err := os.Stat(e.kubeconfig)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("kubeconfig %s: mode %v, err %v; want 0600", e.kubeconfig, st.Mode().Perm(), err)
	}
	cs := e.client()
	expectReady(t, ctx, cs, plexName+"1", plexName+"2", plexName+"3")

	// ssh logs in with the host key plex generated, pinned in the
	// known_hosts it wrote: no trust on first use.
	checkSSH(t, e, plexName+"2")

	// The node booted from the files plex wrote before its first start:
	// cloud-init did not run, and eth0 is plex's static address, not the
	// image's DHCP.
	checkBootedFromFiles(t, h, plexName+"3", "10.212.0.103")

	// 2. a Service across nodes.
	checkService(t, ctx, cs, []string{plexName + "2", plexName + "3"}, plexName+"1")

	// A pod reaches beyond the plex: pod traffic is masqueraded as it leaves.
	checkLeavesPlex(t, ctx, cs, plexName+"3")

	// 3. up again: no changes.
	if out := e.mustPlex("up", "-f", e.spec); !strings.Contains(out, "no changes") {
		t.Fatalf("second up did not say \"no changes\":\n%s", out)
	}

	// 4. join a fourth node.
	start = time.Now()
	e.mustPlex("join", "-f", e.spec, plexName, "4")
	t.Logf("FIGURE join one worker: %s", time.Since(start).Round(100*time.Millisecond))
	expectReady(t, ctx, cs, plexName+"1", plexName+"2", plexName+"3", plexName+"4")

	// 5. drain a worker holding a PDB-protected pod: blocked, then allowed.
	drainBehindPDB(t, ctx, e, cs, plexName+"4")

	// status shows what is left.
	out := e.mustPlex("status", plexName)
	if !strings.Contains(out, plexName+"3") || strings.Contains(out, plexName+"4") {
		t.Fatalf("status after drain --delete:\n%s", out)
	}
	// Each node's container runtime, as its kubelet reports it.
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) >= 9 && f[0] == plexName && !strings.HasPrefix(f[len(f)-1], "containerd://") {
			t.Errorf("status shows no container runtime for a node: %q", line)
		}
	}
	t.Logf("status after drain --delete:\n%s", out)

	// up --recreate builds the plex anew, control plane first: a new cluster
	// (kube-system gets a new UID, the CA is new) under the same context.
	before := namespaceUID(t, ctx, cs, "kube-system")
	start = time.Now()
	e.mustPlex("up", "-f", e.spec, "--recreate")
	t.Logf("FIGURE up --recreate 1+2 to all Ready: %s", time.Since(start).Round(100*time.Millisecond))
	cs = e.client()
	expectReady(t, ctx, cs, plexName+"1", plexName+"2", plexName+"3")
	if after := namespaceUID(t, ctx, cs, "kube-system"); after == before {
		t.Fatalf("kube-system has the same UID %s after up --recreate: the cluster was not built anew", after)
	}

	// 6. down, and nothing labelled is left.
	e.mustPlex("down", plexName)
	left := h.Incus(t, "list", "user.plex.plex="+plexName, "-c", "n", "-f", "csv")
	if strings.TrimSpace(left) != "" {
		t.Fatalf("instances left after down: %s", left)
	}
}

// checkSSH runs hostname on node through `kubectl plex ssh`, in a session of
// its own with no terminal, so that a rejected key or host key fails instead
// of prompting.
func checkSSH(t *testing.T, e *env, node string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.bin, "ssh", node, "--", "hostname")
	cmd.Env = append(os.Environ(), "HOME="+e.home, "XDG_CONFIG_HOME="+filepath.Join(e.home, ".config"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	got, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(got)) != node {
		t.Fatalf("kubectl plex ssh %s -- hostname: %v\n%s", node, err, got)
	}
}

func expectReady(t *testing.T, ctx context.Context, cs *kubernetes.Clientset, names ...string) {
	t.Helper()
	// A few tries: a connection to an HA plex's VIP is reset when it moves.
	waitFor(t, fmt.Sprintf("nodes %v to be Ready", names), 30*time.Second, func() (bool, error) {
		nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		ready := map[string]bool{}
		for _, n := range nodes.Items {
			for _, c := range n.Status.Conditions {
				if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
					ready[n.Name] = true
				}
			}
		}
		for _, n := range names {
			if !ready[n] {
				return false, fmt.Errorf("node %s not Ready (ready: %v)", n, ready)
			}
		}
		return true, nil
	})
}

// waitFor calls f every second until it reports true, and fails the test
// after timeout with f's last error.
func waitFor(t *testing.T, what string, timeout time.Duration, f func() (bool, error)) {
	t.Helper()
	waitEvery(t, time.Second, what, timeout, f)
}

// waitEvery is waitFor at another interval (100 ms where a figure is taken).
func waitEvery(t *testing.T, interval time.Duration, what string, timeout time.Duration, f func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var lastErr error
	for time.Now().Before(deadline) {
		ok, err := f()
		if ok {
			return
		}
		lastErr = err
		time.Sleep(interval)
	}
	t.Fatalf("timed out after %s waiting for %s (last error: %v)", timeout, what, lastErr)
}

// checkService runs two echo replicas, one on each worker, and a client pod
// on the control plane that calls them through the Service's ClusterIP; both
// replicas must answer.
func checkService(t *testing.T, ctx context.Context, cs *kubernetes.Clientset, workers []string, clientNode string) {
	t.Helper()
	ns := "default"
	labels := map[string]string{"app": "echo"}
	replicas := int32(2)
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "echo"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					Affinity: &corev1.Affinity{
						NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
							NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{
								Key: "kubernetes.io/hostname", Operator: corev1.NodeSelectorOpIn, Values: workers,
							}}}},
						}},
						PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
							LabelSelector: &metav1.LabelSelector{MatchLabels: labels}, TopologyKey: "kubernetes.io/hostname",
						}}},
					},
					Containers: []corev1.Container{{Name: "echo", Image: echoImage, Args: []string{"serve", ":8080"}}},
				},
			},
		},
	}
	if _, err := cs.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc, err := cs.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "echo"},
		Spec:       corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var podNames []string
	waitFor(t, "two echo replicas running on two workers", 3*time.Minute, func() (bool, error) {
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=echo"})
		if err != nil {
			return false, err
		}
		podNames = podNames[:0]
		nodes := map[string]bool{}
		for _, p := range pods.Items {
			if p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" {
				podNames = append(podNames, p.Name)
				nodes[p.Spec.NodeName] = true
			}
		}
		return len(podNames) == 2 && len(nodes) == 2, fmt.Errorf("running: %v on %v", podNames, nodes)
	})
	url := fmt.Sprintf("http://%s/", svc.Spec.ClusterIP)
	logs, _ := runPod(t, ctx, cs, "echo-client", clientNode, "get", url, "30")
	for _, name := range podNames {
		if !strings.Contains(string(logs), name) {
			t.Fatalf("replica %s never answered through %s from %s; client said:\n%s", name, url, clientNode, logs)
		}
	}
}

func namespaceUID(t *testing.T, ctx context.Context, cs *kubernetes.Clientset, name string) string {
	t.Helper()
	ns, err := cs.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("namespace %s: %v", name, err)
	}
	return string(ns.UID)
}

// runPod runs the echo image with args on node in a pod of its own, waits
// until it ends, and returns its log and whether it succeeded.
func runPod(t *testing.T, ctx context.Context, cs *kubernetes.Clientset, name, node string, args ...string) (string, bool) {
	t.Helper()
	ns := "default"
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			NodeName:      node,
			RestartPolicy: corev1.RestartPolicyNever,
			Tolerations:   []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
			Containers:    []corev1.Container{{Name: "run", Image: echoImage, Args: args}},
		},
	}
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var phase corev1.PodPhase
	waitFor(t, "pod "+name+" to finish", 2*time.Minute, func() (bool, error) {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		phase = p.Status.Phase
		return phase == corev1.PodSucceeded || phase == corev1.PodFailed, fmt.Errorf("phase %s", phase)
	})
	logs, err := cs.CoreV1().Pods(ns).GetLogs(name, &corev1.PodLogOptions{}).DoRaw(ctx)
	if err != nil {
		t.Fatalf("logs of pod %s: %v", name, err)
	}
	return string(logs), phase == corev1.PodSucceeded
}

// checkLeavesPlex has a pod on node talk to the harness registry on the
// host's bridge address. The host has no route to the pod CIDRs (only the
// supernet's unreachable route), so the answer comes back only because the
// node masquerades pod traffic that leaves the plex.
func checkLeavesPlex(t *testing.T, ctx context.Context, cs *kubernetes.Clientset, node string) {
	t.Helper()
	url := "http://10.212.0.1:5000/v2/" // the harness registry (hack/registry.sh)
	if logs, ok := runPod(t, ctx, cs, "leave-plex", node, "get", url, "3"); !ok || strings.Contains(logs, "error") {
		t.Fatalf("a pod on %s could not reach %s outside the plex:\n%s", node, url, logs)
	}
}

// echoOn is a Deployment of one echo server named name, labelled app=name,
// pinned to node.
func echoOn(name, node string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	one := int32(1)
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &one,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					NodeSelector: map[string]string{"kubernetes.io/hostname": node},
					Containers:   []corev1.Container{{Name: "echo", Image: echoImage, Args: []string{"serve", ":8080"}}},
				},
			},
		},
	}
}

// drainBehindPDB puts a pod protected by a PodDisruptionBudget on node, checks
// that drain --delete is refused with a clear error and keeps the node, then
// relaxes the budget and drains it away.
func drainBehindPDB(t *testing.T, ctx context.Context, e *env, cs *kubernetes.Clientset, node string) {
	t.Helper()
	ns := "default"
	dep := echoOn("guarded", node)
	labels := dep.Spec.Selector.MatchLabels
	if _, err := cs.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	minAvail := intstr.FromInt32(1)
	if _, err := cs.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "guarded"},
		Spec:       policyv1.PodDisruptionBudgetSpec{MinAvailable: &minAvail, Selector: &metav1.LabelSelector{MatchLabels: labels}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the guarded pod to run on "+node, 2*time.Minute, func() (bool, error) {
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=guarded"})
		if err != nil || len(pods.Items) != 1 {
			return false, err
		}
		return pods.Items[0].Status.Phase == corev1.PodRunning, nil
	})
	waitFor(t, "the budget to be computed", time.Minute, func() (bool, error) {
		pdb, err := cs.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, "guarded", metav1.GetOptions{})
		return err == nil && pdb.Status.ObservedGeneration >= pdb.Generation && pdb.Status.CurrentHealthy == 1, err
	})

	out, err := e.plex("drain", node, "--ignore-daemonsets", "--delete", "--timeout", "15s")
	if err == nil {
		t.Fatalf("drain of %s succeeded although a budget protects its only guarded pod:\n%s", node, out)
	}
	if !strings.Contains(out, "drain blocked by a PodDisruptionBudget: evicting "+ns+"/guarded-") || !strings.Contains(out, node+" stays cordoned") {
		t.Fatalf("drain blocked without a clear error naming the budget and pod:\n%s", out)
	}
	if _, err := cs.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{}); err != nil {
		t.Fatalf("blocked drain removed node %s: %v", node, err)
	}

	zero := intstr.FromInt32(0)
	pdb, err := cs.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, "guarded", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pdb.Spec.MinAvailable = &zero
	if _, err := cs.PolicyV1().PodDisruptionBudgets(ns).Update(ctx, pdb, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the relaxed budget to allow a disruption", time.Minute, func() (bool, error) {
		p, err := cs.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, "guarded", metav1.GetOptions{})
		return err == nil && p.Status.DisruptionsAllowed >= 1, err
	})
	e.mustPlex("drain", node, "--ignore-daemonsets", "--delete", "--timeout", "2m")
	if _, err := cs.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{}); err == nil {
		t.Fatalf("node %s still registered after drain --delete", node)
	}
}

// checkBootedFromFiles checks that node booted without cloud-init, with eth0
// configured by plex's networkd file (nodefiles) at address, statically.
func checkBootedFromFiles(t *testing.T, h *testenv.Harness, node, address string) {
	t.Helper()
	ci := h.Incus(t, "exec", node, "--", "sh", "-c", "cloud-init status 2>&1 || true")
	if !strings.Contains(ci, "disabled") {
		t.Errorf("%s: cloud-init status says %q, want disabled", node, strings.TrimSpace(ci))
	}
	nw := h.Incus(t, "exec", node, "--", "networkctl", "status", "eth0")
	if !strings.Contains(nw, "/etc/systemd/network/05-plex-eth0.network") || !strings.Contains(nw, address) {
		t.Errorf("%s: eth0 is not configured by plex's network file with %s:\n%s", node, address, nw)
	}
	routes := h.Incus(t, "exec", node, "--", "ip", "-4", "route", "show", "default")
	if !strings.Contains(routes, "proto static") || strings.Contains(routes, "dhcp") {
		t.Errorf("%s: default route %q, want a static one", node, strings.TrimSpace(routes))
	}
}
