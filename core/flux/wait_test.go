package flux

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestDeploymentAvailable(t *testing.T) {
	one := int32(1)
	mk := func(gen, observed int64, replicas, updated, available int32) *appsv1.Deployment {
		return &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Generation: gen},
			Spec:       appsv1.DeploymentSpec{Replicas: &one},
			Status:     appsv1.DeploymentStatus{ObservedGeneration: observed, Replicas: replicas, UpdatedReplicas: updated, AvailableReplicas: available},
		}
	}
	for _, tc := range []struct {
		d    *appsv1.Deployment
		want bool
	}{
		{mk(2, 1, 1, 1, 1), false}, // new spec not observed
		{mk(2, 2, 1, 0, 1), false}, // old replica still serving
		{mk(2, 2, 2, 1, 1), false}, // old replica terminating
		{mk(2, 2, 1, 1, 0), false}, // not available yet
		{mk(2, 2, 1, 1, 1), true},
	} {
		if got, why := deploymentAvailable(tc.d); got != tc.want {
			t.Errorf("%+v: available %v (%s), want %v", tc.d.Status, got, why, tc.want)
		}
	}
}

func TestFluxReady(t *testing.T) {
	mk := func(gen, observed int64, ready string) *unstructured.Unstructured {
		o := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
			"metadata": map[string]any{"name": "flux-system", "generation": gen},
			"status": map[string]any{
				"observedGeneration": observed,
				"artifact":           map[string]any{"revision": "main@sha1:abc"},
				"conditions":         []any{map[string]any{"type": "Ready", "status": ready, "message": "stored artifact"}},
			},
		}}
		return o
	}
	if ok, rev, _ := fluxReady(mk(2, 2, "True")); !ok || rev != "main@sha1:abc" {
		t.Errorf("ready object: %v %q", ok, rev)
	}
	if ok, _, msg := fluxReady(mk(3, 2, "True")); ok || msg != "spec not reconciled yet" {
		t.Errorf("stale object counted ready: %v %q", ok, msg)
	}
	if ok, _, _ := fluxReady(mk(2, 2, "False")); ok {
		t.Error("Ready=False counted ready")
	}
}
