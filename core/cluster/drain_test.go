package cluster

import (
	"context"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestBlockedByBudget(t *testing.T) {
	pod := func(ns, name, node, app string, phase corev1.PodPhase) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"app": app}},
			Spec:       corev1.PodSpec{NodeName: node},
			Status:     corev1.PodStatus{Phase: phase},
		}
	}
	pdb := func(ns, name, app string, allowed int32) *policyv1.PodDisruptionBudget {
		return &policyv1.PodDisruptionBudget{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec:       policyv1.PodDisruptionBudgetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}},
			Status:     policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: allowed},
		}
	}
	cs := fake.NewSimpleClientset(
		pod("default", "guarded", "w1", "guarded", corev1.PodRunning),   // blocked
		pod("default", "free", "w1", "free", corev1.PodRunning),         // its budget allows one
		pod("default", "loose", "w1", "loose", corev1.PodRunning),       // no budget
		pod("other", "guarded", "w1", "guarded", corev1.PodRunning),     // budget is in another namespace
		pod("default", "done", "w1", "guarded", corev1.PodSucceeded),    // finished
		pod("default", "elsewhere", "w2", "guarded", corev1.PodRunning), // other node
		pdb("default", "guarded", "guarded", 0),
		pdb("default", "free", "free", 1),
	)
	got, err := blockedByBudget(context.Background(), cs, "w1")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"default/guarded"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("blocked = %v, want %v", got, want)
	}
}
