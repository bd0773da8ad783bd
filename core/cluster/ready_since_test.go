package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// nodesServer serves one node n1, Ready, whose heartbeat is stale (an hour
// ago, as a restored etcd has it) until the freshAfter-th request.
func nodesServer(t *testing.T, freshAfter int) []byte {
	t.Helper()
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/nodes" {
			http.NotFound(w, r)
			return
		}
		beat := time.Now().Add(-time.Hour)
		if int(requests.Add(1)) >= freshAfter {
			beat = time.Now()
		}
		list := corev1.NodeList{
			TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "NodeList"},
			Items: []corev1.Node{{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{
				Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: metav1.NewTime(beat),
			}}}}},
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(list)
	}))
	t.Cleanup(srv.Close)
	return []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: %q}}]
users: [{name: u, user: {}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`, srv.URL))
}

func TestWaitReadySinceIgnoresStaleReady(t *testing.T) {
	ctx := context.Background()
	since := time.Now().Add(-time.Minute)
	// Stale for good: not Ready since.
	err := waitReadySince(ctx, nodesServer(t, 1<<30), []string{"n1"}, since, 1500*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "n1 not Ready") {
		t.Errorf("a node Ready only before since: %v, want not Ready", err)
	}
	// Without since, the same node is Ready.
	if err := waitReady(ctx, nodesServer(t, 1<<30), []string{"n1"}, time.Second); err != nil {
		t.Errorf("waitReady: %v", err)
	}
	// Fresh from the second look on.
	if err := waitReadySince(ctx, nodesServer(t, 2), []string{"n1"}, since, 10*time.Second); err != nil {
		t.Errorf("a node that reports after since: %v", err)
	}
}
