//go:build e2e

package e2e

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
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/plex-dev/plex/internal/testenv"
)

// TestE2ESnapshot saves a 1+2 plex with a Deployment, a Service, a
// ConfigMap and a namespace in it, breaks it (the Deployment and the
// namespace deleted, a Node object deleted), restores it, and finds all of
// it back, every node Ready and the Service answering across nodes. Bad
// input changes nothing: an unknown snapshot, a plex that does not exist,
// and a snapshot from before a worker joined (refused, then --force). down
// takes the snapshots with the nodes.
func TestE2ESnapshot(t *testing.T) {
	const name = "snapplex"
	e, h := newEnv(t, name, "testdata/snapshot.yaml")
	ctx := context.Background()
	n1, n2, n3 := name+"1", name+"2", name+"3"

	// 1. A plex with things in it. An SSH key first, for up to give to the
	// nodes: ssh after the restore shows known_hosts still holds.
	if err := os.MkdirAll(filepath.Join(e.home, ".ssh"), 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "plex-e2e",
		"-f", filepath.Join(e.home, ".ssh", "id_ed25519")).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	e.mustPlex("up", "-f", e.spec)
	cs := e.client()
	expectReady(t, ctx, cs, n1, n2, n3)
	checkService(t, ctx, cs, []string{n2, n3}, n1) // Deployment and Service "echo"
	if _, err := cs.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "snap-kept"}, Data: map[string]string{"state": "saved"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "scratch"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// 2. Snapshot.
	start := time.Now()
	if out := e.mustPlex("snapshot", name, "before"); !strings.Contains(out, "kubectl plex restore "+name+" before") {
		t.Fatalf("snapshot does not say how to restore:\n%s", out)
	}
	t.Logf("FIGURE snapshot 1+2: %s", time.Since(start).Round(100*time.Millisecond))
	list := snapshotList(t, e)
	if len(list) != 1 || list[0].Name != "before" || len(list[0].Nodes) != 3 || len(list[0].SpecHash) != 16 {
		t.Fatalf("snapshot list after one snapshot: %+v", list)
	}
	for _, n := range []string{n1, n2, n3} {
		out := h.Incus(t, "snapshot", "list", n, "-c", "n", "-f", "csv")
		if strings.TrimSpace(out) != "before" {
			t.Fatalf("incus snapshot list %s: %q, want before", n, out)
		}
	}

	// 3. Break it.
	if err := cs.AppsV1().Deployments("default").Delete(ctx, "echo", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cs.CoreV1().Nodes().Delete(ctx, n3, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cs.CoreV1().ConfigMaps("default").Delete(ctx, "snap-kept", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cs.CoreV1().Namespaces().Delete(ctx, "scratch", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "namespace scratch to be gone", 2*time.Minute, func() (bool, error) {
		_, err := cs.CoreV1().Namespaces().Get(ctx, "scratch", metav1.GetOptions{})
		return apierrors.IsNotFound(err), err
	})

	// 4. Bad input changes nothing.
	pids := instancePIDs(t, h, name)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"restore", name, "nope"}, `has no snapshot "nope" (it has before)`},
		{[]string{"restore", "snapnosuch", "before"}, `no instances of plex "snapnosuch"`},
		{[]string{"snapshot", "list", "snapnosuch"}, `no instances of plex "snapnosuch"`},
		{[]string{"snapshot", "delete", name, "nope"}, `has no snapshot "nope"`},
		{[]string{"snapshot", name, "before"}, "already have a snapshot before"},
	} {
		out, err := e.plex(c.args...)
		if err == nil || !strings.Contains(out, c.want) {
			t.Errorf("kubectl plex %s: %v, want an error saying %q:\n%s", strings.Join(c.args, " "), err, c.want, out)
		}
	}
	if got := instancePIDs(t, h, name); got != pids {
		t.Fatalf("bad input restarted nodes: %s, was %s", got, pids)
	}

	// 5. Restore: everything back, every node Ready, the Service answers.
	start = time.Now()
	e.mustPlex("restore", name, "before")
	t.Logf("FIGURE restore 1+2 to all Ready: %s", time.Since(start).Round(100*time.Millisecond))
	cs = e.client() // the kubeconfig is still valid
	expectReady(t, ctx, cs, n1, n2, n3)
	if cm, err := cs.CoreV1().ConfigMaps("default").Get(ctx, "snap-kept", metav1.GetOptions{}); err != nil || cm.Data["state"] != "saved" {
		t.Errorf("ConfigMap snap-kept after restore: %v, %v", cm, err)
	}
	if ns, err := cs.CoreV1().Namespaces().Get(ctx, "scratch", metav1.GetOptions{}); err != nil || ns.Status.Phase != corev1.NamespaceActive {
		t.Errorf("namespace scratch after restore: %v, %v", ns, err)
	}
	if _, err := cs.AppsV1().Deployments("default").Get(ctx, "echo", metav1.GetOptions{}); err != nil {
		t.Fatalf("Deployment echo after restore: %v", err)
	}
	serviceAnswersAcross(t, ctx, cs, n1, "echo-client-restored", start)
	checkSSH(t, e, n2) // known_hosts still holds

	// 6. A worker joined since: refused, naming it, and nothing changes;
	// then --force restores the three that hold the snapshot. The join
	// itself, after a restore, makes a fresh token.
	e.mustPlex("join", "-f", e.spec, name, "4")
	pids = instancePIDs(t, h, name)
	out, err := e.plex("restore", name, "before")
	if err == nil || !strings.Contains(out, name+"4 added since") || !strings.Contains(out, "--force") || !strings.Contains(out, "nothing was changed") {
		t.Fatalf("restore after a join: %v, want it refused naming %s4 and --force:\n%s", err, name, out)
	}
	if got := instancePIDs(t, h, name); got != pids {
		t.Fatalf("a refused restore restarted nodes: %s, was %s", got, pids)
	}
	if l := snapshotList(t, e); len(l) != 1 || strings.Join(l[0].Added, ",") != name+"4" {
		t.Errorf("snapshot list after the join: %+v, want %s4 added", l, name)
	}
	e.mustPlex("restore", name, "before", "--force")
	expectReady(t, ctx, cs, n1, n2, n3)

	// 7. Delete the snapshot, and down.
	e.mustPlex("snapshot", "delete", name, "before")
	if l := snapshotList(t, e); len(l) != 0 {
		t.Fatalf("snapshot list after delete: %+v", l)
	}
	e.mustPlex("snapshot", name) // one more, for down to take
	e.mustPlex("down", name)
	if left := h.Incus(t, "list", "user.plex.plex="+name, "-c", "n", "-f", "csv"); strings.TrimSpace(left) != "" {
		t.Fatalf("instances (and so snapshots) left after down: %s", left)
	}
}

// plexSnapshot is one row of `kubectl plex snapshot list -o json`.
type plexSnapshot struct {
	Name     string   `json:"name"`
	SpecHash string   `json:"specHash"`
	Nodes    []string `json:"nodes"`
	Added    []string `json:"added"`
	Missing  []string `json:"missing"`
}

func snapshotList(t *testing.T, e *env) []plexSnapshot {
	t.Helper()
	out, err := e.plex("snapshot", "list", e.name, "-o", "json")
	if err != nil {
		t.Fatalf("snapshot list: %v", err)
	}
	var l []plexSnapshot
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		t.Fatalf("snapshot list -o json: %v\n%s", err, out)
	}
	return l
}

// instancePIDs are the init PIDs of the plex's instances: a node restarted
// has a new one.
func instancePIDs(t *testing.T, h *testenv.Harness, plex string) string {
	t.Helper()
	return strings.TrimSpace(h.Incus(t, "list", "user.plex.plex="+plex, "-c", "np", "-f", "csv"))
}

// serviceAnswersAcross waits for the echo Deployment's two replicas to run
// again and has a client pod on clientNode reach both through the Service.
func serviceAnswersAcross(t *testing.T, ctx context.Context, cs *kubernetes.Clientset, clientNode, client string, since time.Time) {
	t.Helper()
	svc, err := cs.CoreV1().Services("default").Get(ctx, "echo", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("Service echo: %v", err)
	}
	// etcd comes back with the pods' status as it was saved: a replica
	// counts once its kubelet has reported it Ready since the restore.
	since = since.Truncate(time.Second)
	var names []string
	waitFor(t, "two echo replicas ready on two nodes, as reported since the restore", 3*time.Minute, func() (bool, error) {
		pods, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=echo"})
		if err != nil {
			return false, err
		}
		names = names[:0]
		nodes := map[string]bool{}
		for _, p := range pods.Items {
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue && p.Status.Phase == corev1.PodRunning && !c.LastTransitionTime.Time.Before(since) {
					names = append(names, p.Name)
					nodes[p.Spec.NodeName] = true
				}
			}
		}
		return len(names) == 2 && len(nodes) == 2, fmt.Errorf("ready since the restore: %v on %v", names, nodes)
	})
	// The Service's endpoints follow the kubelets' reports a moment later:
	// a replica that does not answer yet gets a few more tries.
	url := fmt.Sprintf("http://%s/", svc.Spec.ClusterIP)
	for attempt := 1; ; attempt++ {
		logs, _ := runPod(t, ctx, cs, fmt.Sprintf("%s-%d", client, attempt), clientNode, "get", url, "30")
		var missing []string
		for _, n := range names {
			if !strings.Contains(logs, n) {
				missing = append(missing, n)
			}
		}
		if len(missing) == 0 {
			return
		}
		if attempt == 4 {
			t.Fatalf("replica(s) %v never answered through %s from %s after the restore (4 clients); the last said:\n%s", missing, url, clientNode, logs)
		}
		t.Logf("after the restore, replica(s) %v did not answer client %d yet; trying again", missing, attempt)
		time.Sleep(5 * time.Second)
	}
}
