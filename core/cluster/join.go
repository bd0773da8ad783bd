package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/plex-dev/plex/core/internal/action"
	"github.com/plex-dev/plex/core/internal/lock"
	"github.com/plex-dev/plex/core/plan"
	"github.com/plex-dev/plex/core/spec"
	"github.com/plex-dev/plex/core/status"
)

// JoinOptions are the inputs of Join.
type JoinOptions struct {
	// File is the plex's spec file; Name the plex.
	File, Name string
	Target
	// Indices are the new workers' indices, like "4" or "4-6". Empty with
	// Count picks the next free indices.
	Indices string
	Count   int
	// Kubeconfig, Retain, ReadyTimeout and NoWait mean what they mean for
	// Up.
	Kubeconfig   string
	Retain       bool
	ReadyTimeout time.Duration
	NoWait       bool
	Log          *status.Logger
}

// Join adds workers to a running plex, beyond its spec: the new nodes are
// made like the spec's first kube group (base, limits, placement) with role
// worker, then created, routed and joined the way Up does it. Add them to the
// spec file to keep them across `up --recreate`. It holds the plex's lock
// while it runs, as Up does.
func Join(ctx context.Context, o JoinOptions) error {
	if o.Log == nil {
		o.Log = status.Discard()
	}
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = 5 * time.Minute
	}
	if o.Name == "" {
		return errors.New("join needs the plex name")
	}
	if o.Indices == "" && o.Count <= 0 {
		return errors.New(`say which workers to add: give indices ("4", "4-6") or --count N`)
	}
	cfg, err := spec.Load(o.File)
	if err != nil {
		return err
	}
	// Where the plex lives, from the spec alone.
	where, err := plan.Load(ctx, plan.Options{File: o.File, Spec: cfg, Name: o.Name, Overrides: o.overrides()})
	if err != nil {
		return err
	}
	rs := newRemotes(o.Target)
	srv, err := rs.conn(ctx, where.Plexes[0])
	if err != nil {
		return err
	}
	return o.holdPlex(ctx, srv, o.Name, "join", o.NoWait, o.Log, func(ctx context.Context, l *lock.Lock) error {
		// The free indices are read under the lock: two joins by --count
		// add different workers.
		p, err := plan.Load(ctx, plan.Options{
			File: o.File, Spec: cfg, Name: o.Name, Overrides: o.overrides(),
			Join: &plan.Join{Indices: o.Indices, Count: o.Count},
			Live: func(ctx context.Context, px plan.Plex) (plan.Cluster, error) {
				c, err := rs.live(ctx, px)
				if err == nil && len(c.Locations) == 0 {
					err = fmt.Errorf("plex %s is not on incus remote %q: bring it up with `kubectl plex up` before adding workers", px.Name, c.Remote)
				}
				return c, err
			},
		})
		if err != nil {
			return err
		}
		for _, n := range p.Notes {
			o.Log.Infof(" ! %s", n)
		}
		px := p.Plexes[0]
		r := newRun(px, srv, o.Log, o.seams, "join", runOptions{Kubeconfig: o.Kubeconfig, Retain: o.Retain, ReadyTimeout: o.ReadyTimeout})
		r.lock = l
		if err := r.join(ctx); err != nil {
			return fmt.Errorf("%s: %w", px.Name, err)
		}
		return nil
	})
}

// join is the whole of `kubectl plex join` for the plex of the plan, which
// holds the new workers: up's actions without kubeadm init, on a plex whose
// control plane runs.
func (r *run) join(ctx context.Context) (err error) {
	start := time.Now()
	defer func() { err = r.fail(err) }()
	err = action.RunFor(ctx, r.log, r.px.Name,
		r.quiet("placing the nodes", r.reportPlacement),
		r.quiet("checking the images and the instances there", r.preflight),
		r.act("ensuring profile "+KubeProfileName, r.ensureProfile),
		r.perNode("creating %d node(s)", &r.missing, r.createNodes),
		r.perNode("starting %d stopped node(s)", &r.stopped, r.startNodes),
		r.quiet("dividing the boot waits", r.splitBoot),
		r.waitBootAction(&r.bootFirst, "node(s)", true),
		action.When(r.routesToSync, r.act("configuring pod network routes", r.syncRoutes)),
		action.If(r.px.APIVIP != "", r.act("configuring the API VIP "+r.px.APIVIP+" (keepalived)", r.syncVIP)),
		r.quiet("finding the control plane", r.findRunningControlPlane),
		r.quiet("reading the admin kubeconfig", r.readAdmin),
		r.quiet("finding the nodes that have not joined", r.findUnjoined),
		action.When(r.joining, r.quiet("creating a join token", r.createToken)),
		action.When(r.joiningControlPlanes, r.actf(func() string { return "uploading control-plane certificates on " + r.cp.Name }, r.uploadCerts)),
		r.perNode("joining %d control-plane node(s), one at a time", &r.unjoinedCPs, r.joinControlPlanes),
		r.waitBootAction(&r.bootLater, "new worker(s)", false),
		r.perNode("joining %d node(s)", &r.unjoinedWorkers, r.joinWorkers),
		r.act(fmt.Sprintf("waiting for %d node(s) to be Ready", len(r.kube)), r.waitNodesReady),
		r.act("writing kubeconfig", r.writeKubeconfig),
		r.act("writing known_hosts", r.writeKnownHosts),
	)
	if err == nil {
		r.sayDone(start)
	}
	return err
}

// findRunningControlPlane is findControlPlane for join, which adds to a
// cluster and never initialises one.
func (r *run) findRunningControlPlane(ctx context.Context) error {
	if err := r.findControlPlane(ctx); err != nil {
		return err
	}
	if !r.initialised {
		return fmt.Errorf("plex %s has no initialised control plane: bring it up with `kubectl plex up` before adding workers", r.px.Name)
	}
	return nil
}
