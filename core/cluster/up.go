package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/plex-dev/plex/core/incus"
	"github.com/plex-dev/plex/core/plan"
	"github.com/plex-dev/plex/core/registry"
	"github.com/plex-dev/plex/core/status"
)

// UpOptions are the inputs of Up.
type UpOptions struct {
	// File is the spec file; Name selects one plex of it (empty: all).
	File, Name string
	Target
	// Kubeconfig is the kubeconfig file to merge the admin context into.
	// Empty means the default (first of $KUBECONFIG, else ~/.kube/config).
	Kubeconfig string
	// Retain keeps what a failed run created, for debugging.
	Retain bool
	// Recreate deletes the plex's instances first and builds it anew.
	Recreate bool
	// ReadyTimeout bounds the wait for every node to be Ready.
	ReadyTimeout time.Duration
	// Log receives the status lines; nil prints nothing.
	Log *status.Logger
}

// Up brings every selected plex to its spec: it creates the missing nodes,
// initialises the control plane, joins the workers, waits until every node is
// Ready and merges the admin kubeconfig. Plexes are brought up in parallel. A
// re-run adopts what exists and reports "no changes" when there is nothing to
// do. On failure, what this run created is deleted unless Retain is set.
func Up(ctx context.Context, o UpOptions) error {
	if o.Log == nil {
		o.Log = status.Discard()
	}
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = 5 * time.Minute
	}
	p, err := LoadPlan(o.File, o.Name, o.Target)
	if err != nil {
		return err
	}
	return forEachPlex(p, func(px plan.Plex) error {
		r, err := newRun(ctx, o.Target, px, o.Log)
		if err != nil {
			return err
		}
		return r.up(ctx, o)
	})
}

// forEachPlex runs f for every plex in parallel and joins the errors.
func forEachPlex(p *plan.Plan, f func(plan.Plex) error) error {
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		errs []error
	)
	for _, px := range p.Plexes {
		wg.Add(1)
		go func(px plan.Plex) {
			defer wg.Done()
			if err := f(px); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("plex %s: %w", px.Name, err))
				mu.Unlock()
			}
		}(px)
	}
	wg.Wait()
	return joinErrors(errs)
}

// run is one plex being worked on.
type run struct {
	px  plan.Plex
	srv Incus
	log *status.Logger
	// seams are the Target's (incus.go).
	seams *seams

	mu sync.Mutex
	// created are the instances this run made, for the revert.
	created []string
	// changed is set by any step that changed something.
	changed bool
	// cache is the plex's read-through image cache, when it has one (registry.go).
	cache *registry.Cache
}

func newRun(ctx context.Context, t Target, px plan.Plex, log *status.Logger) (*run, error) {
	srv, err := t.dial(ctx, px.Remote, px.Project)
	if err != nil {
		return nil, err
	}
	return &run{px: px, srv: srv, log: log, seams: t.seams}, nil
}

// step opens a status line for one action and closes it with the result.
func (r *run) step(msg string, f func() error) error {
	a := r.log.Start("%s: %s", r.px.Name, msg)
	return a.End(f())
}

func (r *run) markChanged() {
	r.mu.Lock()
	r.changed = true
	r.mu.Unlock()
}

func (r *run) up(ctx context.Context, o UpOptions) (err error) {
	start := time.Now()
	defer func() {
		if err == nil || len(r.created) == 0 {
			return
		}
		if o.Retain {
			r.log.Infof(" ! %s: kept %d instance(s) made by this run (--retain): %v", r.px.Name, len(r.created), r.created)
			return
		}
		// The run's context may be cancelled; cleanup gets its own.
		cctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cerr := r.step(fmt.Sprintf("cleaning up %d instance(s) made by this run", len(r.created)), func() error {
			var errs []error
			for _, name := range r.created {
				errs = append(errs, r.srv.Delete(cctx, name))
			}
			return errors.Join(errs...)
		})
		if cerr != nil {
			err = errors.Join(err, fmt.Errorf("cleanup after failure: %w", cerr))
		}
	}()

	// Placement first: an unknown or offline member fails the run before
	// anything is created or deleted (placement.go).
	if err := r.place(ctx); err != nil {
		return err
	}
	if o.Recreate {
		if err := r.step("deleting the plex for --recreate", func() error { return r.deleteAll(ctx) }); err != nil {
			return err
		}
		r.markChanged()
	}
	r.px = withoutCacheNodes(r.px)
	existing, err := r.preflight(ctx)
	if err != nil {
		return err
	}
	r.useCache(existing)
	if err := r.step("ensuring profile "+KubeProfileName, func() error { return r.srv.EnsureProfile(ctx, kubeProfile()) }); err != nil {
		return err
	}
	if err := r.createNodes(ctx, existing); err != nil {
		return err
	}
	if err := r.startNodes(ctx, existing); err != nil {
		return err
	}
	facts, err := r.waitBoot(ctx, r.px.Nodes)
	if err != nil {
		return err
	}
	if err := r.step("configuring pod network routes", func() error { return r.syncNetwork(ctx, kubeNodes(r.px.Nodes)) }); err != nil {
		return err
	}
	if err := r.syncVIP(ctx); err != nil {
		return err
	}
	cp, err := r.initControlPlane(ctx, facts)
	if err != nil {
		return err
	}
	if err := r.applyCNIManifest(ctx, cp); err != nil {
		return err
	}
	if err := r.joinNodes(ctx, cp, facts, kubeNodes(r.px.Nodes)); err != nil {
		return err
	}
	admin, err := r.adminConfig(ctx, cp)
	if err != nil {
		return err
	}
	if err := r.step(fmt.Sprintf("waiting for %d node(s) to be Ready", len(kubeNodes(r.px.Nodes))), func() error {
		return r.seams.nodesReady(ctx, admin, nodeNames(kubeNodes(r.px.Nodes)), o.ReadyTimeout)
	}); err != nil {
		return err
	}
	if err := r.publishCacheHosting(ctx, admin); err != nil {
		return err
	}
	var ctxName string
	if err := r.step("writing kubeconfig", func() error {
		var err error
		ctxName, err = mergeKubeconfig(o.Kubeconfig, r.px.Name, admin)
		return err
	}); err != nil {
		return err
	}
	if err := r.step("writing known_hosts", func() error { return r.writeKnownHosts(ctx) }); err != nil {
		return err
	}
	if r.changed {
		r.log.Infof(" ✓ %s: ready in %s; use it with: kubectl --context %s get nodes", r.px.Name, time.Since(start).Round(100*time.Millisecond), ctxName)
	} else {
		r.log.Infof(" ✓ %s: no changes (%d nodes Ready); context %s", r.px.Name, len(kubeNodes(r.px.Nodes)), ctxName)
	}
	return nil
}

// preflight checks everything that can be checked before creating anything:
// images, name conflicts, and the instances that exist already.
func (r *run) preflight(ctx context.Context) (map[string]incus.Instance, error) {
	list, err := r.srv.ListInstances(ctx)
	if err != nil {
		return nil, err
	}
	existing := map[string]incus.Instance{}
	var errs []error
	for _, in := range list {
		existing[in.Name] = in
	}
	if r.px.CNI == "manifest" {
		if _, err := os.Stat(r.px.CNIManifest); err != nil {
			errs = append(errs, fmt.Errorf("cniManifest: %w; give the path of a CNI manifest (relative to the spec file)", err))
		}
	}
	images := map[string]bool{}
	for _, n := range r.px.Nodes {
		if in, ok := existing[n.Name]; ok && in.Plex() != r.px.Name {
			errs = append(errs, fmt.Errorf("an instance named %s exists but plex did not create it for this plex; plex will not touch it: delete or rename it, or change the plex name", n.Name))
		}
		if _, ok := existing[n.Name]; !ok && !images[n.Image] {
			images[n.Image] = true
			if _, err := r.srv.ImageByAlias(ctx, n.Image); err != nil {
				if incus.IsNotFound(err) {
					errs = append(errs, fmt.Errorf("image %s is not on remote %s: bake it with `incus plexbake bake %s %s`", n.Image, r.srv.Remote(), n.Type, baseOf(n.Image)))
				} else {
					errs = append(errs, fmt.Errorf("looking up image %s: %w", n.Image, err))
				}
			}
		}
	}
	return existing, errors.Join(errs...)
}

// kubeNodes are the plex's Kubernetes nodes, in plan order.
func kubeNodes(nodes []plan.Node) []plan.Node {
	var out []plan.Node
	for _, n := range nodes {
		if n.Role == plan.RoleControlPlane || n.Role == plan.RoleWorker {
			out = append(out, n)
		}
	}
	return out
}

func nodeNames(nodes []plan.Node) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.Name
	}
	return out
}

// baseOf guesses the base from an image alias "<base>_<type>".
func baseOf(alias string) string {
	for i := len(alias) - 1; i >= 0; i-- {
		if alias[i] == '_' {
			return alias[:i]
		}
	}
	return alias
}

// parallel runs f for every node at once and joins the errors.
func parallel(nodes []plan.Node, f func(plan.Node) error) error {
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f(n)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
