package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/kubectl/pkg/drain"

	"github.com/plex-dev/plex/core/internal/action"
	"github.com/plex-dev/plex/core/internal/lock"
	"github.com/plex-dev/plex/core/plan"
	"github.com/plex-dev/plex/core/status"
)

// DrainOptions are the inputs of Drain. The flags mean what kubectl drain's
// flags of the same names mean.
type DrainOptions struct {
	// Node is the node (instance) name.
	Node string
	// File, when set, is the spec that says which remote the node is on.
	File string
	Target
	IgnoreDaemonSets   bool
	DeleteEmptyDirData bool
	Force              bool
	GracePeriodSeconds int
	// Timeout bounds the drain; 0 waits forever, like kubectl.
	Timeout time.Duration
	// Delete also resets the node, deletes the Node object and the
	// instance, and removes the routes to its pods from the other nodes.
	Delete bool
	// IgnoreQuorum deletes a control-plane node even when etcd would lose
	// its quorum.
	IgnoreQuorum bool
	// NoWait fails at once when another run holds the plex, instead of
	// waiting for it (lock.go).
	NoWait bool
	Log    *status.Logger
	// Out receives kubectl drain's own progress lines.
	Out io.Writer
}

// ErrDrainBlocked says a PodDisruptionBudget kept the drain from finishing.
var ErrDrainBlocked = errors.New("drain blocked by a PodDisruptionBudget")

// Drain cordons a node and evicts its pods through k8s.io/kubectl/pkg/drain,
// respecting PodDisruptionBudgets. With Delete it then removes the node from
// the cluster and from Incus. It holds the node's plex's lock while it runs.
func Drain(ctx context.Context, o DrainOptions) error {
	if o.Log == nil {
		o.Log = status.Discard()
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	srv, err := Ref{File: o.File, Target: o.Target}.connectNode(ctx, o.Node)
	if err != nil {
		return err
	}
	plexName, err := findNode(ctx, srv, o.Node)
	if err != nil {
		return err
	}
	return o.holdPlex(ctx, srv, plexName, "drain", o.NoWait, o.Log, func(ctx context.Context, _ *lock.Lock) error {
		return drainNode(ctx, srv, o)
	})
}

// drainNode is Drain under the plex's lock. It looks at the node again: the
// run it waited for may have deleted it.
func drainNode(ctx context.Context, srv Incus, o DrainOptions) error {
	srv = traceCommands(srv, o.Log)
	plexName, err := findNode(ctx, srv, o.Node)
	if err != nil {
		return err
	}
	lp, err := discover(ctx, srv, plexName)
	if err != nil {
		return err
	}
	cpName, err := lp.runningControlPlane()
	if err != nil {
		return err
	}
	var cps []plan.Node
	isCP := false
	for _, n := range lp.Plex.Nodes {
		if n.Role == plan.RoleControlPlane {
			cps = append(cps, n)
			isCP = isCP || n.Name == o.Node
		}
	}
	if o.Delete && isCP {
		if len(cps) == 1 {
			return fmt.Errorf("%s is the only control-plane node of plex %s; deleting it would end the cluster: use `kubectl plex down %s`", o.Node, plexName, plexName)
		}
		if !o.IgnoreQuorum {
			h, err := etcdHealth(ctx, srv, cpName, cps)
			if err != nil {
				return fmt.Errorf("checking etcd's quorum before removing %s (--ignore-quorum skips this): %w", o.Node, err)
			}
			if err := checkQuorumAfterRemoving(h, o.Node); err != nil {
				return err
			}
		}
		// Ask the API through another control plane: this one is going.
		for _, n := range cps {
			if n.Name != o.Node && runningInstance(lp, n.Name) {
				cpName = n.Name
				break
			}
		}
	}
	admin, err := srv.PullFile(ctx, cpName, adminConfPath)
	if err != nil {
		return err
	}
	cs, err := clientFor(admin)
	if err != nil {
		return err
	}
	r := newRun(lp.Plex, srv, o.Log, o.seams, "drain", runOptions{})

	node, err := cs.CoreV1().Nodes().Get(ctx, o.Node, metav1.GetOptions{})
	registered := err == nil
	if err != nil && !strings.Contains(err.Error(), "not found") {
		return fmt.Errorf("reading node %s: %w", o.Node, err)
	}
	h := &drain.Helper{
		Ctx: ctx, Client: cs,
		Force: o.Force, GracePeriodSeconds: o.GracePeriodSeconds,
		IgnoreAllDaemonSets: o.IgnoreDaemonSets, DeleteEmptyDirData: o.DeleteEmptyDirData,
		Timeout: o.Timeout, Out: o.Out, ErrOut: o.Out,
	}
	var rest, restCPs []plan.Node
	addr := ""
	for _, n := range lp.Plex.Nodes {
		switch {
		case n.Name == o.Node:
			addr = n.Address
		case n.Role == plan.RoleControlPlane:
			restCPs = append(restCPs, n)
			rest = append(rest, n)
		case n.Role == plan.RoleWorker:
			rest = append(rest, n)
		}
	}
	return action.RunFor(ctx, o.Log, plexName,
		action.If(registered, r.act("cordoning "+o.Node, func(context.Context) error { return drain.RunCordonOrUncordon(h, node, true) })),
		action.If(registered, r.act("draining "+o.Node, func(ctx context.Context) error {
			err := drain.RunNodeDrain(h, o.Node)
			if err == nil {
				return nil
			}
			// The drain library retries evictions a budget refuses until
			// its timeout, and reports only text; ask the API which pods
			// left on the node a budget protects right now.
			if pods, berr := blockedByBudget(ctx, cs, o.Node); berr == nil && len(pods) > 0 {
				return fmt.Errorf("%w: evicting %s would violate its budget, so %s stays cordoned and is not deleted; relax the budget (or add replicas) and run drain again: %v", ErrDrainBlocked, strings.Join(pods, ", "), o.Node, err)
			}
			return err
		})),
		action.If(o.Delete, r.act("kubeadm reset on "+o.Node, func(ctx context.Context) error {
			if isCP {
				// Hand the API VIP to another control plane before this API
				// server goes away.
				_, _ = srv.Run(ctx, o.Node, "systemctl", "disable", "--now", "keepalived")
			}
			_, err := srv.Run(ctx, o.Node, "kubeadm", "reset", "--force")
			return err
		})),
		action.If(o.Delete && isCP, r.act("removing etcd member "+o.Node, func(ctx context.Context) error {
			return removeEtcdMember(ctx, srv, cpName, restCPs, o.Node, addr)
		})),
		action.If(o.Delete && registered, r.act("deleting Node "+o.Node, func(ctx context.Context) error {
			return retryAPI(ctx, func() error {
				err := cs.CoreV1().Nodes().Delete(ctx, o.Node, metav1.DeleteOptions{})
				if apierrors.IsNotFound(err) {
					return nil
				}
				return err
			})
		})),
		// The routes go before the instance: until it is deleted, a drain
		// that failed on the way finds the node again and converges.
		action.If(o.Delete, r.act("removing routes to "+o.Node, func(ctx context.Context) error { return r.syncNetwork(ctx, rest) })),
		action.If(o.Delete, r.act("deleting instance "+o.Node, func(ctx context.Context) error { return srv.Delete(ctx, o.Node) })),
	)
}

// blockedByBudget lists, as namespace/name, the pods still on node that a
// PodDisruptionBudget allows no disruption of now.
func blockedByBudget(ctx context.Context, cs kubernetes.Interface, node string) ([]string, error) {
	pods, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + node})
	if err != nil {
		return nil, err
	}
	pdbs, err := cs.PolicyV1().PodDisruptionBudgets("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, pod := range pods.Items {
		if pod.Spec.NodeName != node || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			continue
		}
		for _, pdb := range pdbs.Items {
			if pdb.Namespace != pod.Namespace || pdb.Status.DisruptionsAllowed > 0 {
				continue
			}
			sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
			if err != nil || !sel.Matches(labels.Set(pod.Labels)) {
				continue
			}
			out = append(out, pod.Namespace+"/"+pod.Name)
			break
		}
	}
	sort.Strings(out)
	return out, nil
}

// connectNode opens the server a node-level verb acts on: with a spec file,
// the remote of the plex that plans a node of that name (else the file's
// first plex); without one, Target.
func (ref Ref) connectNode(ctx context.Context, node string) (Incus, error) {
	if ref.File != "" && ref.Remote == "" {
		p, err := LoadPlan(ref.File, "", ref.Target)
		if err != nil {
			return nil, err
		}
		px := p.Plexes[0]
		for _, cand := range p.Plexes {
			if _, ok := cand.Node(node); ok {
				px = cand
				break
			}
		}
		ref.Remote, ref.Project = px.Remote, px.Project
		ref.File = ""
	}
	return ref.connect(ctx)
}

// runningInstance reports whether the plex's instance name is running.
func runningInstance(lp *livePlex, name string) bool {
	for _, in := range lp.Instances {
		if in.Name == name {
			return in.Status == "Running"
		}
	}
	return false
}

// retryAPI retries an API call a few times over about ten seconds: when the
// API VIP moves between control planes, open connections are reset.
func retryAPI(ctx context.Context, f func() error) error {
	var err error
	for i := 0; i < 6; i++ {
		if err = f(); err == nil || apierrors.IsForbidden(err) || apierrors.IsInvalid(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
	return err
}
