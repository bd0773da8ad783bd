package cluster

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// clientFor builds a clientset from kubeconfig bytes.
func clientFor(kubeconfig []byte) (*kubernetes.Clientset, error) {
	rc, err := clientcmd.RESTConfigFromKubeConfig(kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("reading the admin kubeconfig: %w", err)
	}
	rc.Timeout = 10 * time.Second
	return kubernetes.NewForConfig(rc)
}

// nodeReady reports whether a Node has condition Ready=True.
func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// readySince is when the node's kubelet last reported its Ready
// condition.
func readySince(n *corev1.Node) time.Time {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.LastHeartbeatTime.Time
		}
	}
	return time.Time{}
}

// waitReady waits until every named node is registered and Ready.
func waitReady(ctx context.Context, kubeconfig []byte, names []string, timeout time.Duration) error {
	return waitReadySince(ctx, kubeconfig, names, time.Time{}, timeout)
}

// readyPoll is how often waitReadySince lists the nodes.
const readyPoll = 250 * time.Millisecond

// waitReadySince is waitReady where Ready counts only if the node's kubelet
// reported it at or after since. After a restore, etcd still shows every
// node Ready as it was at the snapshot, until the node controller's grace
// period runs out; a kubelet that starts reports at once.
func waitReadySince(ctx context.Context, kubeconfig []byte, names []string, since time.Time, timeout time.Duration) error {
	// The heartbeat is kept to the second.
	since = since.Truncate(time.Second)
	cs, err := clientFor(kubeconfig)
	if err != nil {
		return err
	}
	var notReady []string
	// A node turns Ready about a second after its join; a list of the
	// nodes four times a second costs the API server little.
	return pollAPI(ctx, timeout, readyPoll, func(ctx context.Context) (bool, error) {
		list, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		ready := map[string]bool{}
		for i := range list.Items {
			n := &list.Items[i]
			ready[n.Name] = nodeReady(n) && !readySince(n).Before(since)
		}
		notReady = notReady[:0]
		for _, n := range names {
			if !ready[n] {
				notReady = append(notReady, n)
			}
		}
		return len(notReady) == 0, nil
	}, func() error {
		sort.Strings(notReady)
		return fmt.Errorf("node(s) %s not Ready within %s; look at `kubectl describe node` and `incus exec NODE -- journalctl -u kubelet`", strings.Join(notReady, ", "), timeout)
	})
}

// pollAPI calls check every interval, first at once, until it reports done
// or timeout passes (wait.PollUntilContextTimeout). A check's error is
// retried. When ctx is cancelled, that is the error; at the timeout, the
// error says the API server did not answer if the last check failed, and is
// notDone's otherwise.
//
// A check that the timeout itself cut short says nothing of the API server:
// a tick can fall on the deadline (interval divides timeout), and client-go's
// rate limiter then refuses the call ("would exceed context deadline"). Its
// error counts only when no check has answered yet.
func pollAPI(ctx context.Context, timeout, interval time.Duration, check func(context.Context) (bool, error), notDone func() error) error {
	var lastErr error
	answered := false
	err := wait.PollUntilContextTimeout(ctx, interval, timeout, true, func(ctx context.Context) (bool, error) {
		done, err := check(ctx)
		switch {
		case err == nil:
			answered, lastErr = true, nil
		case !cutShort(ctx):
			lastErr = err
		case !answered && lastErr == nil:
			lastErr = err
		}
		return err == nil && done, nil
	})
	switch {
	case err == nil:
		return nil
	case errors.Is(ctx.Err(), context.Canceled):
		return ctx.Err()
	case lastErr != nil:
		return fmt.Errorf("the API server did not answer within %s: %w", timeout, lastErr)
	default:
		return notDone()
	}
}

// cutShort reports whether ctx has ended or its deadline has passed: a
// deadline can pass a moment before ctx.Done is closed.
func cutShort(ctx context.Context) bool {
	d, ok := ctx.Deadline()
	return ctx.Err() != nil || ok && !time.Now().Before(d)
}

// waitNodesReady waits until every Kubernetes node of the plex is Ready.
func (r *run) waitNodesReady(ctx context.Context) error {
	return r.seams.nodesReady(ctx, r.admin, nodeNames(r.kube), r.opts.ReadyTimeout)
}
