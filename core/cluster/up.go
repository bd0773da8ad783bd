package cluster

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/plex-dev/plex/core/incus"
	"github.com/plex-dev/plex/core/internal/action"
	"github.com/plex-dev/plex/core/internal/lock"
	"github.com/plex-dev/plex/core/plan"
	"github.com/plex-dev/plex/core/registry"
	"github.com/plex-dev/plex/core/spec"
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
	// NoWait fails at once when another run holds a plex, instead of
	// waiting for it (lock.go).
	NoWait bool
	// Log receives the status lines; nil prints nothing.
	Log *status.Logger
}

// Up brings every selected plex to its spec: it creates the missing nodes,
// initialises the control plane, joins the workers, waits until every node is
// Ready and merges the admin kubeconfig. Plexes are brought up in parallel,
// each holding its own lock while it runs. A re-run adopts what exists and
// reports "no changes" when there is nothing to do. On failure, what this run
// created is deleted unless Retain is set.
func Up(ctx context.Context, o UpOptions) error {
	if o.Log == nil {
		o.Log = status.Discard()
	}
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = 5 * time.Minute
	}
	cfg, err := spec.Load(o.File)
	if err != nil {
		return err
	}
	// Which plexes and where, from the spec alone: a spec error shows
	// before any wait for a lock.
	p, err := plan.Load(ctx, plan.Options{File: o.File, Spec: cfg, Name: o.Name, Overrides: o.overrides()})
	if err != nil {
		return err
	}
	rs := newRemotes(o.Target)
	return forEachPlex(p.Plan, func(px plan.Plex) error {
		srv, err := rs.conn(ctx, px)
		if err != nil {
			return err
		}
		return o.holdPlex(ctx, srv, px.Name, "up", o.NoWait, o.Log, func(ctx context.Context, l *lock.Lock) error {
			// Placed under the lock, against what a run before this one
			// left on the remote.
			lp, err := plan.Load(ctx, plan.Options{File: o.File, Spec: cfg, Name: px.Name, Overrides: o.overrides(), Live: rs.live})
			if err != nil {
				return err
			}
			for _, n := range lp.Notes {
				o.Log.Infof(" ! %s", n)
			}
			r := newRun(lp.Plexes[0], srv, o.Log, o.seams, "up", runOptions{Kubeconfig: o.Kubeconfig, Retain: o.Retain, ReadyTimeout: o.ReadyTimeout})
			r.lock = l
			return r.up(ctx, o.Recreate)
		})
	})
}

// up is the whole of `kubectl plex up` for one plex, in order. Each action
// finds what is there and does only what is missing, so a re-run adopts a
// plex that is partly or wholly up.
func (r *run) up(ctx context.Context, recreate bool) (err error) {
	start := time.Now()
	defer func() { err = r.fail(err) }()
	err = action.RunFor(ctx, r.log, r.px.Name,
		r.quiet("placing the nodes", r.reportPlacement),
		action.If(recreate, r.act("deleting the plex for --recreate", r.deleteAll)),
		r.quiet("checking the images and the instances there", r.preflight),
		r.act("ensuring profile "+KubeProfileName, r.ensureProfile),
		r.perNode("creating %d node(s)", &r.missing, r.createNodes),
		r.perNode("starting %d stopped node(s)", &r.stopped, r.startNodes),
		r.quiet("dividing the boot waits", r.splitBoot),
		r.waitBootAction(&r.bootFirst, "node(s)", true),
		action.When(r.routesToSync, r.act("configuring pod network routes", r.syncRoutes)),
		action.If(r.px.APIVIP != "", r.act("configuring the API VIP "+r.px.APIVIP+" (keepalived)", r.syncVIP)),
		r.quiet("finding the control plane", r.findControlPlane),
		action.When(func() bool { return !r.initialised }, r.actf(func() string { return "kubeadm init on " + r.cp.Name }, r.kubeadmInit)),
		r.quiet("reading the admin kubeconfig", r.readAdmin),
		action.If(r.px.CNI == spec.CNIManifest, r.act("applying CNI manifest "+r.px.CNIManifest, r.applyCNIManifest)),
		r.quiet("finding the nodes that have not joined", r.findUnjoined),
		action.When(r.joining, r.quiet("creating a join token", r.createToken)),
		action.When(r.joiningControlPlanes, r.actf(func() string { return "uploading control-plane certificates on " + r.cp.Name }, r.uploadCerts)),
		r.perNode("joining %d control-plane node(s), one at a time", &r.unjoinedCPs, r.joinControlPlanes),
		r.waitBootAction(&r.bootLater, "new worker(s)", false),
		r.perNode("joining %d node(s)", &r.unjoinedWorkers, r.joinWorkers),
		r.act(fmt.Sprintf("waiting for %d node(s) to be Ready", len(r.kube)), r.waitNodesReady),
		action.When(func() bool { return r.cache != nil }, r.act(cacheHostingTitle, r.publishCacheHosting)),
		r.act("writing kubeconfig", r.writeKubeconfig),
		r.act("writing known_hosts", r.writeKnownHosts),
	)
	if err == nil {
		r.sayDone(start)
	}
	return err
}

// forEachPlex runs f for every plex in parallel and joins the errors, each
// starting with its plex's name, as the status lines do.
func forEachPlex(p *plan.Plan, f func(plan.Plex) error) error {
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		errs []error
	)
	for _, px := range p.Plexes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(px); err != nil {
				if !namesPlex(err, px.Name) {
					err = fmt.Errorf("%s: %w", px.Name, err)
				}
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return joinErrors(errs)
}

// namesPlex reports whether err starts by naming plex name, as plan.Load's
// and the lock's errors do ("plex lab: …", "plex lab is in use by …").
func namesPlex(err error, name string) bool {
	rest, ok := strings.CutPrefix(err.Error(), "plex "+name)
	return ok && (strings.HasPrefix(rest, ":") || strings.HasPrefix(rest, " "))
}

// runOptions are what up and join share beyond the plan.
type runOptions struct {
	Kubeconfig   string
	Retain       bool
	ReadyTimeout time.Duration
}

// run is one plex being worked on: its plan, which it never changes, its
// server, and what the actions found for the ones after them.
type run struct {
	px plan.Plex
	// kube are px's Kubernetes nodes, in plan order: up leaves the
	// registry node to plex-registry (registry.go).
	kube []plan.Node
	srv  Incus
	log  *status.Logger
	// seams are the Target's (incus.go).
	seams *seams
	opts  runOptions
	// rv undoes what the run created when it fails.
	rv *action.Reverter
	// lock is the plex's lock the run holds (lock.go); nil for a run that
	// takes none.
	lock *lock.Lock
	// out keeps the full output of the commands that failed (errors.go).
	out *outputLog

	mu sync.Mutex
	// changed is set by any action that changed something.
	changed bool

	// What the actions found, for those after them.
	// missing are the nodes this run creates; made, they booted with
	// every file plex gives a node (nodes.go).
	missing, stopped []plan.Node
	// beyond are the plex's running Kubernetes nodes that the plan does
	// not hold: workers `kubectl plex join` added (podNetwork).
	beyond []plan.Node
	cache  *registry.Cache // the plex's image cache (registry.go)
	facts  nodeFacts
	// bootFirst are waited for before init, bootLater (the workers this
	// run created) before they join (splitBoot).
	bootFirst, bootLater []plan.Node
	cp                   plan.Node // the control plane kubeadm runs on
	initialised          bool      // whether cp had been initialised before
	admin                []byte
	joinState
	ctxName string      // the kubeconfig context written
	doomed  []plan.Node // the instances down deletes
	snap    snapState   // what snapshot and restore find (snapshot.go)
}

func newRun(px plan.Plex, srv Incus, log *status.Logger, s *seams, verb string, o runOptions) *run {
	rv := action.NewReverter(log, o.Retain)
	rv.Subject = px.Name
	return &run{
		px: px, kube: kubeNodes(px), srv: traceCommands(srv, log), log: log, seams: s, opts: o, rv: rv,
		out: &outputLog{name: "plex-" + px.Name + "-" + verb, log: log},
	}
}

// isFresh reports whether this run created node name: a run creates every
// node it found missing before the actions that ask.
func (r *run) isFresh(name string) bool {
	for _, n := range r.missing {
		if n.Name == name {
			return true
		}
	}
	return false
}

func (r *run) markChanged() {
	r.mu.Lock()
	r.changed = true
	r.mu.Unlock()
}

// act is an action whose error says what it was doing, with a failed
// command's output condensed (errors.go).
func (r *run) act(title string, do func(context.Context) error) action.Action {
	return r.actf(func() string { return title }, do)
}

// actf is act with a title made when the action runs.
func (r *run) actf(title func() string, do func(context.Context) error) action.Action {
	return action.Action{TitleFunc: title, Do: func(ctx context.Context) error {
		if err := r.brief(ctx, do(ctx)); err != nil {
			return fmt.Errorf("%s: %w", title(), err)
		}
		return nil
	}}
}

// quiet is act without a status line: a lookup, or work whose outcome the
// next action's line shows. Its title still names it in an error.
func (r *run) quiet(title string, do func(context.Context) error) action.Action {
	a := r.act(title, do)
	a.Quiet = true
	return a
}

// perNode is a step on the nodes an earlier action picked (*nodes): its
// title counts them, and it is skipped when there are none.
func (r *run) perNode(format string, nodes *[]plan.Node, do func(context.Context, []plan.Node) error) action.Action {
	return action.When(func() bool { return len(*nodes) > 0 },
		r.actf(func() string { return fmt.Sprintf(format, len(*nodes)) }, func(ctx context.Context) error {
			r.markChanged()
			return do(ctx, *nodes)
		}))
}

// sayDone closes a successful run with how to use the plex.
func (r *run) sayDone(start time.Time) {
	if r.changed {
		r.log.Infof(" ✓ %s: ready in %s; use it with: kubectl --context %s get nodes", r.px.Name, time.Since(start).Round(100*time.Millisecond), r.ctxName)
	} else {
		r.log.Infof(" ✓ %s: no changes (%d nodes Ready); context %s", r.px.Name, len(r.kube), r.ctxName)
	}
}

// kubeNodes are the plex's Kubernetes nodes, in plan order.
func kubeNodes(px plan.Plex) []plan.Node {
	var out []plan.Node
	for _, n := range px.Nodes {
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

// existingByName indexes a list of instances by name.
func existingByName(list []incus.Instance) map[string]incus.Instance {
	m := make(map[string]incus.Instance, len(list))
	for _, in := range list {
		m[in.Name] = in
	}
	return m
}
