package cluster

import (
	"context"
	"encoding/json"
	"errors"
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

// clusterInfoServer serves kube-public/cluster-info, with the signature of
// token id abcdef from the signedAfter-th request on (never when negative).
func clusterInfoServer(t *testing.T, signedAfter int) (kubeconfig []byte, requests *atomic.Int32) {
	t.Helper()
	requests = &atomic.Int32{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/namespaces/kube-public/configmaps/cluster-info" {
			http.NotFound(w, r)
			return
		}
		n := int(requests.Add(1))
		cm := corev1.ConfigMap{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
			ObjectMeta: metav1.ObjectMeta{Name: "cluster-info", Namespace: "kube-public"},
			Data:       map[string]string{"kubeconfig": "…"},
		}
		if signedAfter >= 0 && n >= signedAfter {
			cm.Data["jws-kubeconfig-abcdef"] = "sig"
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(cm)
	}))
	t.Cleanup(srv.Close)
	return []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: %q}}]
users: [{name: u, user: {}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`, srv.URL)), requests
}

func TestWaitTokenSigned(t *testing.T) {
	kc, requests := clusterInfoServer(t, 3)
	if err := waitTokenSigned(context.Background(), kc, "abcdef.0123456789abcdef", 10*time.Second); err != nil {
		t.Fatalf("waitTokenSigned: %v", err)
	}
	if n := requests.Load(); n != 3 {
		t.Errorf("%d requests, want 3 (until the signature appeared)", n)
	}
}

func TestWaitTokenSignedTimeout(t *testing.T) {
	kc, _ := clusterInfoServer(t, -1)
	err := waitTokenSigned(context.Background(), kc, "abcdef.0123456789abcdef", 600*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "did not sign bootstrap token abcdef") || !strings.Contains(err.Error(), "kube-controller-manager") {
		t.Fatalf("err = %v, want one naming the token and the controller-manager", err)
	}
}

func TestWaitTokenSignedCancelled(t *testing.T) {
	kc, _ := clusterInfoServer(t, -1)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	if err := waitTokenSigned(ctx, kc, "abcdef.0123456789abcdef", time.Minute); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestWaitTokenSignedMalformed(t *testing.T) {
	kc, _ := clusterInfoServer(t, 0)
	if err := waitTokenSigned(context.Background(), kc, "abcdef", time.Second); err == nil {
		t.Fatal("a token without a dot was accepted")
	}
}
