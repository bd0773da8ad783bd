package flux

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
)

// kube is what fluxstrap needs of a cluster: a dynamic client for server-side
// apply of any kind, a typed one for Deployments and Secrets, and a REST
// mapper that learns the Flux kinds once their CRDs are established.
type kube struct {
	dyn    dynamic.Interface
	cs     kubernetes.Interface
	mapper *restmapper.DeferredDiscoveryRESTMapper
}

// connect builds the clients from kubeconfig bytes.
func connect(kubeconfig []byte) (*kube, error) {
	rc, err := clientcmd.RESTConfigFromKubeConfig(kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("reading the admin kubeconfig: %w", err)
	}
	return newKube(rc)
}

func newKube(rc *rest.Config) (*kube, error) {
	rc = rest.CopyConfig(rc)
	rc.Timeout = 30 * time.Second
	// The default 5 QPS makes applying ~30 objects take seconds of sleep.
	rc.QPS, rc.Burst = 50, 100
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, err
	}
	dc, err := discovery.NewDiscoveryClientForConfig(rc)
	if err != nil {
		return nil, err
	}
	return &kube{dyn: dyn, cs: cs, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))}, nil
}

// resource finds the API resource of an object and whether it is namespaced.
func (k *kube) resource(o *unstructured.Unstructured) (dynamic.ResourceInterface, error) {
	gvk := o.GroupVersionKind()
	m, err := k.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		// A kind whose CRD was just established: discover again, once.
		k.mapper.Reset()
		m, err = k.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	if err != nil {
		return nil, fmt.Errorf("the API server does not serve %s: %w", gvk, err)
	}
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		return k.dyn.Resource(m.Resource).Namespace(o.GetNamespace()), nil
	}
	return k.dyn.Resource(m.Resource), nil
}

// apply server-side applies the objects in order, as field manager "plex",
// taking over fields another manager set (a re-run after `flux install`).
func (k *kube) apply(ctx context.Context, objs []*unstructured.Unstructured) error {
	for _, o := range objs {
		ri, err := k.resource(o)
		if err != nil {
			return err
		}
		if _, err := ri.Apply(ctx, o.GetName(), o, metav1.ApplyOptions{FieldManager: FieldManager, Force: true}); err != nil {
			return fmt.Errorf("applying %s: %w", describe(o), err)
		}
	}
	return nil
}

// phases splits objects into the order the API server can take them in:
// CRDs and Namespaces first, then everything else.
func phases(objs []*unstructured.Unstructured) (first, rest []*unstructured.Unstructured) {
	for _, o := range objs {
		switch o.GetKind() {
		case "CustomResourceDefinition", "Namespace":
			first = append(first, o)
		default:
			rest = append(rest, o)
		}
	}
	return first, rest
}

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// waitEstablished waits until every CRD among objs is Established.
func (k *kube) waitEstablished(ctx context.Context, objs []*unstructured.Unstructured) error {
	var names []string
	for _, o := range objs {
		if o.GetKind() == "CustomResourceDefinition" {
			names = append(names, o.GetName())
		}
	}
	return poll(ctx, 250*time.Millisecond, func() (bool, string, error) {
		var pending []string
		for _, n := range names {
			crd, err := k.dyn.Resource(crdGVR).Get(ctx, n, metav1.GetOptions{})
			if err != nil {
				if apierrors.IsNotFound(err) {
					pending = append(pending, n)
					continue
				}
				return false, "", err
			}
			if st, _ := condition(crd, "Established"); st != "True" {
				pending = append(pending, n)
			}
		}
		sort.Strings(pending)
		return len(pending) == 0, "not established: " + strings.Join(pending, ", "), nil
	})
}

// condition returns the status and message of a status condition.
func condition(o *unstructured.Unstructured, typ string) (status, message string) {
	conds, _, _ := unstructured.NestedSlice(o.Object, "status", "conditions")
	for _, c := range conds {
		m, ok := c.(map[string]any)
		if !ok || m["type"] != typ {
			continue
		}
		s, _ := m["status"].(string)
		msg, _ := m["message"].(string)
		return s, msg
	}
	return "", ""
}

// errTimeout marks a poll that ran out of time; the caller says what to do.
var errTimeout = errors.New("timed out")

// poll calls f every interval until it reports done, fails, or ctx ends. f
// also says what it is still waiting for, which the timeout error carries.
func poll(ctx context.Context, interval time.Duration, f func() (done bool, waiting string, err error)) error {
	var waiting string
	var lastErr error
	for {
		done, w, err := f()
		if err == nil && done {
			return nil
		}
		if err != nil {
			if !transient(err) {
				return err
			}
			lastErr = err
		} else {
			waiting, lastErr = w, nil
		}
		select {
		case <-ctx.Done():
			if lastErr != nil {
				return fmt.Errorf("%w: %v", errTimeout, lastErr)
			}
			return fmt.Errorf("%w: %s", errTimeout, waiting)
		case <-time.After(interval):
		}
	}
}

// transient tells errors worth retrying (the API server busy, a network
// blip) from those that are not.
func transient(err error) bool {
	if apierrors.IsNotFound(err) || apierrors.IsTimeout(err) || apierrors.IsServerTimeout(err) ||
		apierrors.IsTooManyRequests(err) || apierrors.IsServiceUnavailable(err) || apierrors.IsInternalError(err) {
		return true
	}
	var se apierrors.APIStatus
	return !errors.As(err, &se) && !errors.Is(err, context.Canceled)
}
