//go:build e2e

package e2e

import (
	"context"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestHA proves the highly available control plane by losing a master:
// three control planes behind the keepalived VIP and one worker; one control
// plane is stopped hard, and the API (through the VIP) keeps answering and
// schedules a new Deployment; it comes back with all of etcd healthy; one
// control plane is drained and deleted, leaving etcd with two members; and
// it is joined back; a snapshot and a restore bring it back with all three
// etcd members healthy.
func TestHA(t *testing.T) {
	e, h := newEnv(t, "plexha", "testdata/ha.yaml")
	ctx := context.Background()

	// 1. 3 control planes + 1 worker, all Ready.
	start := time.Now()
	e.mustPlex("up", "-f", e.spec)
	t.Logf("FIGURE HA up 3+1 to all Ready: %s", time.Since(start).Round(100*time.Millisecond))
	cs := e.client()
	expectReady(t, ctx, cs, "plexha1", "plexha2", "plexha3", "plexha4")
	if out := e.mustPlex("status", e.name); !strings.Contains(out, "https://10.212.0.60:6443") || !strings.Contains(out, "etcd 3/3 healthy, quorum holds") {
		t.Fatalf("status of a healthy HA plex:\n%s", out)
	}

	// 2. Stop the first control plane (the VIP's holder) hard, with a probe
	// loop on the API through the VIP measuring the downtime.
	var (
		mu       sync.Mutex
		downtime time.Duration
		downFrom time.Time
	)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		probe := e.client()
		for {
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
			pctx, cancel := context.WithTimeout(ctx, time.Second)
			_, err := probe.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(pctx)
			cancel()
			mu.Lock()
			now := time.Now()
			switch {
			case err != nil && downFrom.IsZero():
				downFrom = now
			case err == nil && !downFrom.IsZero():
				downtime += now.Sub(downFrom)
				downFrom = time.Time{}
			}
			mu.Unlock()
		}
	}()
	time.Sleep(time.Second)
	h.Incus(t, "stop", "--force", "plexha1")

	waitFor(t, "the API to take a Deployment after losing plexha1", 2*time.Minute, func() (bool, error) {
		_, err := cs.AppsV1().Deployments("default").Create(ctx, echoOn("after-loss", "plexha4"), metav1.CreateOptions{})
		return err == nil, err
	})
	waitFor(t, "the new Deployment's pod to run", 2*time.Minute, func() (bool, error) {
		d, err := cs.AppsV1().Deployments("default").Get(ctx, "after-loss", metav1.GetOptions{})
		return err == nil && d.Status.AvailableReplicas == 1, err
	})
	close(stop)
	<-done
	mu.Lock()
	if !downFrom.IsZero() {
		downtime += time.Since(downFrom)
	}
	t.Logf("FIGURE API downtime through the VIP after stopping plexha1: %s", downtime.Round(10*time.Millisecond))
	mu.Unlock()
	waitForStatus(t, e, "etcd 2/3 healthy, quorum holds", 30*time.Second)

	// 3. Start it again: all three etcd members healthy.
	h.Incus(t, "start", "plexha1")
	waitForStatus(t, e, "etcd 3/3 healthy, quorum holds", 3*time.Minute)

	// 4. Drain and delete one control plane: etcd has two members, and the
	// cluster works.
	e.mustPlex("drain", "plexha3", "--ignore-daemonsets", "--delete-emptydir-data", "--delete", "--timeout", "3m")
	waitForStatus(t, e, "etcd 2/2 healthy, quorum holds", time.Minute)
	// Connections open to the VIP are reset when it moves between control
	// planes; a client retries, so does this check.
	waitFor(t, "the API to take a write after removing a control plane", time.Minute, func() (bool, error) {
		_, err := cs.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "plexha-probe"}}, metav1.CreateOptions{})
		return err == nil, err
	})

	// 5. Join the third control plane back.
	start = time.Now()
	e.mustPlex("join", "-f", e.spec, e.name, "3")
	t.Logf("FIGURE join a control plane back: %s", time.Since(start).Round(100*time.Millisecond))
	waitForStatus(t, e, "etcd 3/3 healthy, quorum holds", 2*time.Minute)
	expectReady(t, ctx, cs, "plexha1", "plexha2", "plexha3", "plexha4")

	// 6. Snapshot and restore: etcd comes back with its three members.
	e.mustPlex("snapshot", e.name, "ha")
	start = time.Now()
	e.mustPlex("restore", e.name, "ha")
	t.Logf("FIGURE HA restore 3+1 to all Ready: %s", time.Since(start).Round(100*time.Millisecond))
	waitForStatus(t, e, "etcd 3/3 healthy, quorum holds", 2*time.Minute)
	expectReady(t, ctx, cs, "plexha1", "plexha2", "plexha3", "plexha4")
}

// waitForStatus waits until `kubectl plex status` says want.
func waitForStatus(t *testing.T, e *env, want string, timeout time.Duration) {
	t.Helper()
	var last string
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		out, _ := exec.Command(e.bin, "status", e.name).CombinedOutput()
		last = string(out)
		if strings.Contains(last, want) {
			return
		}
		time.Sleep(2 * time.Second)
	}
	t.Fatalf("status never said %q within %s; last:\n%s", want, timeout, last)
}
