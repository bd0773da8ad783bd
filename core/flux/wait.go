package flux

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// The Flux kinds fluxstrap waits on.
var (
	gitRepositoryGVR = schema.GroupVersionResource{Group: "source.toolkit.fluxcd.io", Version: "v1", Resource: "gitrepositories"}
	kustomizationGVR = schema.GroupVersionResource{Group: "kustomize.toolkit.fluxcd.io", Version: "v1", Resource: "kustomizations"}
)

// deploymentAvailable reports whether a Deployment has rolled out: its
// latest generation observed, every replica updated and available.
func deploymentAvailable(d *appsv1.Deployment) (bool, string) {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	st := d.Status
	switch {
	case st.ObservedGeneration < d.Generation:
		return false, "rollout not observed yet"
	case st.UpdatedReplicas < want:
		return false, fmt.Sprintf("%d of %d replicas updated", st.UpdatedReplicas, want)
	case st.Replicas > st.UpdatedReplicas:
		return false, fmt.Sprintf("%d old replicas still terminating", st.Replicas-st.UpdatedReplicas)
	case st.AvailableReplicas < want:
		return false, fmt.Sprintf("%d of %d replicas available", st.AvailableReplicas, want)
	}
	return true, ""
}

// waitDeployment waits until the component's Deployment is available. On a
// timeout it says why the pods are not running, when a pod tells.
func (k *kube) waitDeployment(ctx context.Context, ns, name string) error {
	err := poll(ctx, 500*time.Millisecond, func() (bool, string, error) {
		d, err := k.cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		ok, why := deploymentAvailable(d)
		return ok, why, nil
	})
	if errors.Is(err, errTimeout) {
		// ctx is done; ask with a fresh, short one.
		qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if why := k.podTrouble(qctx, ns, name); why != "" {
			err = fmt.Errorf("%w; %s", err, why)
		}
		return fmt.Errorf("deployment %s/%s not available: %w (look at `kubectl -n %s describe deployment %s`; are the images in the registry the nodes pull from?)", ns, name, err, ns, name)
	}
	return err
}

// podTrouble describes why a component's pods are not ready, from their
// container states (ImagePullBackOff, CrashLoopBackOff…).
func (k *kube) podTrouble(ctx context.Context, ns, app string) string {
	pods, err := k.cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + app})
	if err != nil || len(pods.Items) == 0 {
		return ""
	}
	var out []string
	for _, p := range pods.Items {
		for _, c := range p.Status.ContainerStatuses {
			switch {
			case c.State.Waiting != nil:
				out = append(out, fmt.Sprintf("pod %s: %s: %s", p.Name, c.State.Waiting.Reason, c.State.Waiting.Message))
			case c.State.Terminated != nil:
				out = append(out, fmt.Sprintf("pod %s: terminated: %s (exit %d)", p.Name, c.State.Terminated.Reason, c.State.Terminated.ExitCode))
			case !c.Ready:
				out = append(out, fmt.Sprintf("pod %s: running, not ready", p.Name))
			}
		}
		if len(p.Status.ContainerStatuses) == 0 && p.Status.Phase == corev1.PodPending {
			out = append(out, fmt.Sprintf("pod %s: pending: %s", p.Name, podScheduledMessage(&p)))
		}
	}
	sort.Strings(out)
	return strings.Join(out, "; ")
}

func podScheduledMessage(p *corev1.Pod) string {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status != corev1.ConditionTrue {
			return c.Message
		}
	}
	return "not started"
}

// fluxReady reports whether a Flux object has reconciled its latest spec and
// is Ready, and the revision it is at.
func fluxReady(o *unstructured.Unstructured) (ready bool, revision, message string) {
	observed, _, _ := unstructured.NestedInt64(o.Object, "status", "observedGeneration")
	status, msg := condition(o, "Ready")
	switch o.GetKind() {
	case "GitRepository":
		revision, _, _ = unstructured.NestedString(o.Object, "status", "artifact", "revision")
	case "Kustomization":
		revision, _, _ = unstructured.NestedString(o.Object, "status", "lastAppliedRevision")
	}
	if observed < o.GetGeneration() {
		return false, revision, "spec not reconciled yet"
	}
	if status != "True" {
		if msg == "" {
			msg = "not Ready yet"
		}
		return false, revision, msg
	}
	return true, revision, msg
}

// waitFlux waits until a Flux object is Ready and returns its revision.
func (k *kube) waitFlux(ctx context.Context, gvr schema.GroupVersionResource, ns, name string) (string, error) {
	var revision string
	err := poll(ctx, 250*time.Millisecond, func() (bool, string, error) {
		o, err := k.dyn.Resource(gvr).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		ok, rev, msg := fluxReady(o)
		revision = rev
		return ok, msg, nil
	})
	return revision, err
}
