//go:build e2e

package e2e

// The placement tests run against the real two-member Incus cluster that
// hack/incus-cluster.sh brings up beside the standalone harness daemon:
// `make e2e-cluster` brings it up, runs them, and takes it down again.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/plex-dev/plex/internal/testenv"
)

// clusterEnv is the harness cluster as hack/incus-cluster.sh env describes
// it: INCUS_CONF holds remote "local" (the standalone daemon) and Remote.
type clusterEnv struct {
	*env
	Remote string
}

// requireCluster skips, loudly, without PLEX_TEST_CLUSTER, and fails when it
// is set but the cluster does not answer.
func requireCluster(t *testing.T) *clusterEnv {
	t.Helper()
	testenv.Require(t)
	if os.Getenv("PLEX_TEST_CLUSTER") == "" {
		t.Skip("SKIPPED: needs the two-member Incus cluster; run `make e2e-cluster` (hack/incus-cluster.sh up, then PLEX_TEST_CLUSTER=1 with its env)")
	}
	remote := os.Getenv("PLEX_CLUSTER_REMOTE")
	if remote == "" || os.Getenv("INCUS_CONF") == "" {
		t.Fatal("PLEX_TEST_CLUSTER is set but PLEX_CLUSTER_REMOTE or INCUS_CONF is not: eval \"$(hack/incus-cluster.sh env)\"")
	}
	bin, err := filepath.Abs("../../bin/kubectl-plex")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s missing: run `make build`", bin)
	}
	home := t.TempDir()
	ce := &clusterEnv{env: &env{t: t, bin: bin, kubeconfig: filepath.Join(home, "kubeconfig"), home: home}, Remote: remote}
	out := ce.incus("cluster", "list", remote+":", "-f", "csv", "-c", "ns")
	if strings.Count(out, ",ONLINE") < 2 {
		t.Fatalf("the harness cluster %s: is not two members online:\n%s", remote, out)
	}
	return ce
}

// incus runs the incus CLI with the harness's client config.
func (ce *clusterEnv) incus(args ...string) string {
	ce.t.Helper()
	out, err := exec.Command("incus", args...).CombinedOutput()
	if err != nil {
		ce.t.Fatalf("incus %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// locations maps the remote's instances whose names start with prefix to
// their member, as `incus list` says.
func (ce *clusterEnv) locations(remote, prefix string) map[string]string {
	ce.t.Helper()
	var list []struct{ Name, Location string }
	if err := json.Unmarshal([]byte(ce.incus("list", remote+":", "-f", "json")), &list); err != nil {
		ce.t.Fatalf("incus list %s: -f json: %v", remote, err)
	}
	out := map[string]string{}
	for _, in := range list {
		if strings.HasPrefix(in.Name, prefix) {
			out[in.Name] = in.Location // "none" on a standalone server
		}
	}
	return out
}

func (ce *clusterEnv) clientFor(plex string) *kubernetes.Clientset {
	ce.t.Helper()
	rc, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: ce.kubeconfig},
		&clientcmd.ConfigOverrides{CurrentContext: "plex-" + plex}).ClientConfig()
	if err != nil {
		ce.t.Fatalf("kubeconfig context plex-%s: %v", plex, err)
	}
	return kubernetes.NewForConfigOrDie(rc)
}

// plannedTargets runs plan -o json (against the live remotes unless offline
// is given) and returns node → target and node → how it was placed.
func (ce *clusterEnv) plannedTargets(spec string, extra ...string) (map[string]string, map[string]string) {
	ce.t.Helper()
	cmd := exec.Command(ce.bin, append([]string{"plan", "-f", spec, "-o", "json"}, extra...)...)
	cmd.Env = append(os.Environ(), "HOME="+ce.home)
	b, err := cmd.Output()
	if err != nil {
		ce.t.Fatalf("plan -f %s: %v", spec, err)
	}
	var res struct {
		Plan struct {
			Plexes []struct {
				Nodes []struct{ Name, Target, Placed string }
			}
		}
	}
	if err := json.Unmarshal(b, &res); err != nil {
		ce.t.Fatalf("plan -o json: %v\n%s", err, b)
	}
	targets, placed := map[string]string{}, map[string]string{}
	for _, px := range res.Plan.Plexes {
		for _, n := range px.Nodes {
			targets[n.Name], placed[n.Name] = n.Target, n.Placed
		}
	}
	return targets, placed
}

func sameMap(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestClusterSpread: one plex over both members of the cluster. plan
// spreads it (control plane on m1, workers on m2 and m1), up puts every node
// where plan said, every node is Ready, nodes on different members reach each
// other, and a pod on the m2 worker reaches a Service backed by a pod on the
// m1 worker.
func TestClusterSpread(t *testing.T) {
	ce := requireCluster(t)
	spec := "testdata/cluster.yaml"
	const px = "xplex"
	ce.mustPlex("down", "-f", spec)
	t.Cleanup(func() {
		if os.Getenv("PLEX_E2E_KEEP") == "" {
			_, _ = ce.plex("down", "-f", spec)
		}
	})

	// 1. plan shows the spread; offline, the spec's intent (no target).
	want := map[string]string{px + "1": "m1", px + "2": "m2", px + "3": "m1"}
	targets, placed := ce.plannedTargets(spec)
	if !sameMap(targets, want) {
		t.Fatalf("plan placed %v, want %v", targets, want)
	}
	for n, p := range placed {
		if p != "spread" {
			t.Errorf("plan: %s placed %q, want spread", n, p)
		}
	}
	if off, _ := ce.plannedTargets(spec, "--offline"); off[px+"1"] != "" {
		t.Errorf("offline plan has targets %v; want none (the spec names none)", off)
	}
	if out := ce.mustPlex("plan", "-f", spec); !strings.Contains(out, "m2 (spread)") {
		t.Errorf("plan table does not show the members:\n%s", out)
	}

	// 2. an unknown member is refused before anything is created.
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	b, err := os.ReadFile(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte(strings.Replace(string(b), `indices: "1-3"`, `indices: "1-3"`+"\n    target: m9", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := ce.plex("up", "-f", bad)
	if err == nil || !strings.Contains(out, `target "m9" is not a member`) {
		t.Fatalf("up with target m9: err %v, want a clear error naming m9:\n%s", err, out)
	}
	if left := ce.locations(ce.Remote, px); len(left) != 0 {
		t.Fatalf("a refused up created instances: %v", left)
	}

	// 3. up across the members, and each node where the plan said.
	start := time.Now()
	ce.mustPlex("up", "-f", spec)
	t.Logf("FIGURE up 1+2 across two members to all Ready: %s", time.Since(start).Round(100*time.Millisecond))
	if got := ce.locations(ce.Remote, px); !sameMap(got, want) {
		t.Fatalf("incus list shows %v, the plan said %v", got, want)
	}
	st := ce.mustPlex("status", "-f", spec)
	for n, m := range want {
		if !containsRow(st, n, m, "Running", "Ready") {
			t.Errorf("status has no line for %s on %s, Running and Ready:\n%s", n, m, st)
		}
	}
	ctx := context.Background()
	cs := ce.clientFor(px)
	expectReady(t, ctx, cs, px+"1", px+"2", px+"3")

	// 4. node to node across members, on the shared br0 segment.
	ce.incus("exec", ce.Remote+":"+px+"2", "--", "ping", "-c", "2", "-W", "3", "10.212.240.13")
	ce.incus("exec", ce.Remote+":"+px+"3", "--", "ping", "-c", "2", "-W", "3", "10.212.240.12")

	// 5. pod on the m2 worker → Service → pod on the m1 worker.
	serviceAcross(t, ctx, cs, px+"3", px+"2")

	// 6. a re-run changes nothing and keeps the placement.
	if out := ce.mustPlex("up", "-f", spec); !strings.Contains(out, "no changes") {
		t.Fatalf("second up did not say \"no changes\":\n%s", out)
	}
	if targets, placed := ce.plannedTargets(spec); !sameMap(targets, want) || placed[px+"2"] != "exists" {
		t.Errorf("plan after up: %v %v; want %v, each exists", targets, placed, want)
	}

	// 7. down leaves nothing on the cluster.
	start = time.Now()
	ce.mustPlex("down", "-f", spec)
	t.Logf("FIGURE down 1+2 across two members: %s", time.Since(start).Round(100*time.Millisecond))
	if left := ce.locations(ce.Remote, px); len(left) != 0 {
		t.Fatalf("instances left after down: %v", left)
	}
}

// TestClusterTwoRemotes: one file, one plex on the standalone daemon and one
// on the cluster (placed through a cluster group), brought up, shown and
// taken down in one run each.
func TestClusterTwoRemotes(t *testing.T) {
	ce := requireCluster(t)
	spec := "testdata/two-remotes.yaml"
	ce.mustPlex("down", "-f", spec)
	t.Cleanup(func() {
		if os.Getenv("PLEX_E2E_KEEP") == "" {
			_, _ = ce.plex("down", "-f", spec)
		}
	})

	targets, placed := ce.plannedTargets(spec)
	if targets["twinlocal1"] != "" || targets["twincl1"] != "m2" || placed["twincl1"] != "@plexg2" {
		t.Fatalf("plan: targets %v, placed %v; want twinlocal1 unplaced, twincl1 on m2 through @plexg2", targets, placed)
	}

	start := time.Now()
	out := ce.mustPlex("up", "-f", spec)
	t.Logf("FIGURE up two 1-node plexes on two remotes in one run: %s", time.Since(start).Round(100*time.Millisecond))
	for _, px := range []string{"twinlocal", "twincl"} {
		if !strings.Contains(out, px+": ready in") {
			t.Errorf("up did not report %s ready:\n%s", px, out)
		}
	}
	if got := ce.locations(ce.Remote, "twin"); !sameMap(got, map[string]string{"twincl1": "m2"}) {
		t.Errorf("on the cluster: %v, want only twincl1 on m2", got)
	}
	if got := ce.locations("local", "twin"); !sameMap(got, map[string]string{"twinlocal1": "none"}) {
		t.Errorf("on the standalone daemon: %v, want only twinlocal1", got)
	}
	ctx := context.Background()
	expectReady(t, ctx, ce.clientFor("twinlocal"), "twinlocal1")
	expectReady(t, ctx, ce.clientFor("twincl"), "twincl1")

	st := ce.mustPlex("status", "-f", spec)
	if !containsRow(st, "twinlocal", "local", "twinlocal1", "Ready") || !containsRow(st, "twincl", ce.Remote, "twincl1", "m2", "Ready") {
		t.Errorf("status -f does not show both plexes on their remotes:\n%s", st)
	}
	if strings.Index(st, "twinlocal1") > strings.Index(st, "twincl1") {
		t.Errorf("status -f is not in the file's order:\n%s", st)
	}

	start = time.Now()
	ce.mustPlex("down", "-f", spec)
	t.Logf("FIGURE down two plexes on two remotes: %s", time.Since(start).Round(100*time.Millisecond))
	if left := ce.locations(ce.Remote, "twin"); len(left) != 0 {
		t.Errorf("left on the cluster: %v", left)
	}
	if left := ce.locations("local", "twin"); len(left) != 0 {
		t.Errorf("left on the standalone daemon: %v", left)
	}
	if st := ce.mustPlex("status", "-f", spec); !containsRow(st, "twincl", "twincl1", "absent") {
		t.Errorf("status -f after down does not show twincl1 absent:\n%s", st)
	}
}

// containsRow reports whether one line of out has every field.
func containsRow(out string, fields ...string) bool {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		ok := true
		for _, want := range fields {
			found := false
			for _, got := range f {
				found = found || got == want
			}
			ok = ok && found
		}
		if ok {
			return true
		}
	}
	return false
}

// serviceAcross runs one echo replica on backend and a client pod on client
// that calls it through the Service's ClusterIP; the replica must answer.
func serviceAcross(t *testing.T, ctx context.Context, cs *kubernetes.Clientset, backend, client string) {
	t.Helper()
	ns := "default"
	dep := echoOn("echo-across", backend)
	labels := dep.Spec.Selector.MatchLabels
	if _, err := cs.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc, err := cs.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "echo-across"},
		Spec:       corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var pod string
	waitFor(t, "the echo replica running on "+backend, 3*time.Minute, func() (bool, error) {
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=echo-across"})
		if err != nil {
			return false, err
		}
		for _, p := range pods.Items {
			if p.Status.Phase == corev1.PodRunning && p.Spec.NodeName == backend {
				pod = p.Name
				return true, nil
			}
		}
		return false, fmt.Errorf("%d pod(s), none running on %s", len(pods.Items), backend)
	})
	url := fmt.Sprintf("http://%s/", svc.Spec.ClusterIP)
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "echo-across-client"},
		Spec: corev1.PodSpec{
			NodeName:      client,
			RestartPolicy: corev1.RestartPolicyNever,
			Containers:    []corev1.Container{{Name: "get", Image: echoImage, Args: []string{"get", url, "30"}}},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var phase corev1.PodPhase
	waitFor(t, "the client pod on "+client+" to finish", 2*time.Minute, func() (bool, error) {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, "echo-across-client", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		phase = p.Status.Phase
		return phase == corev1.PodSucceeded || phase == corev1.PodFailed, fmt.Errorf("phase %s", phase)
	})
	logs, err := cs.CoreV1().Pods(ns).GetLogs("echo-across-client", &corev1.PodLogOptions{}).DoRaw(ctx)
	if err != nil {
		t.Fatalf("client logs: %v", err)
	}
	if phase != corev1.PodSucceeded || !strings.Contains(string(logs), pod) {
		t.Fatalf("replica %s on %s never answered through %s from %s (client %s):\n%s", pod, backend, url, client, phase, logs)
	}
	t.Logf("pod on %s reached the Service %s backed by %s on %s", client, url, pod, backend)
}
