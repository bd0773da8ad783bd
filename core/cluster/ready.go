package cluster

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

// waitReady waits until every named node is registered and Ready.
func waitReady(ctx context.Context, kubeconfig []byte, names []string, timeout time.Duration) error {
	cs, err := clientFor(kubeconfig)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var notReady []string
	var lastErr error
	for {
		list, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err == nil {
			ready := map[string]bool{}
			for i := range list.Items {
				ready[list.Items[i].Name] = nodeReady(&list.Items[i])
			}
			notReady = notReady[:0]
			for _, n := range names {
				if !ready[n] {
					notReady = append(notReady, n)
				}
			}
			if len(notReady) == 0 {
				return nil
			}
		}
		lastErr = err
		select {
		case <-ctx.Done():
			if lastErr != nil {
				return fmt.Errorf("the API server did not answer within %s: %w", timeout, lastErr)
			}
			sort.Strings(notReady)
			return fmt.Errorf("node(s) %s not Ready within %s; look at `kubectl describe node` and `incus exec NODE -- journalctl -u kubelet`", strings.Join(notReady, ", "), timeout)
		case <-time.After(time.Second):
		}
	}
}
