package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/plex-dev/plex/core/incus"
	"github.com/plex-dev/plex/core/internal/action"
	"github.com/plex-dev/plex/core/internal/lock"
	"github.com/plex-dev/plex/core/registry/engine"
	"github.com/plex-dev/plex/core/status"
)

// UpOptions are the inputs of Up.
type UpOptions struct {
	// File and Name pick a plex of a spec file; the cache is its registry
	// node. Without File, Placement says where the cache goes.
	File, Name string
	Placement
	Target
	// Engine is engine.EngineZot (default) or engine.EngineDistribution.
	Engine string
	// Upstreams are the registries to mirror; empty means
	// engine.DefaultUpstreams.
	Upstreams []engine.Upstream
	// SkipTLSVerify names upstreams whose certificate is not checked.
	SkipTLSVerify []string
	// PushHtpasswd is an htpasswd file (bcrypt): pushes into the lab
	// namespace then need one of its users' passwords. Empty: anyone who
	// reaches the cache may push there.
	PushHtpasswd string
	// ZotBinary is a local Zot binary; empty downloads ZotVersion from
	// ZotReleaseURL (defaults DefaultZotVersion, DefaultZotReleaseURL) into
	// DownloadCache (default <user cache dir>/plex/zot).
	ZotBinary, ZotVersion, ZotReleaseURL, DownloadCache string
	HTTPClient                                          *http.Client
	// VolumeSize limits the cache volume (Incus "size", like 50GiB) where
	// the pool supports it; empty: no limit.
	VolumeSize string
	// Kubeconfig is where the plex's context (spec.ContextName) is looked
	// up to publish the local-registry-hosting ConfigMap; empty: like
	// kubectl.
	Kubeconfig string
	// Retain keeps what a failed run created.
	Retain bool
	// NoWait fails at once when another run holds the cache instance,
	// instead of waiting for it.
	NoWait bool
	// Log receives the status lines; nil prints nothing.
	Log *status.Logger
}

// UpResult is what Up made or found.
type UpResult struct {
	Cache *Cache
	// Created is true when this run created the instance.
	Created bool
	// Changed lists what this run changed (files, units, labels, nodes).
	Changed []string
	// Nodes are the running kube nodes of the plex now pointed at the cache.
	Nodes []string
	// ConfigMap says whether (and why not) the local-registry-hosting
	// ConfigMap was published.
	ConfigMap string
	Elapsed   time.Duration
}

// Up brings a cache to its configuration: it creates the cache volume and
// the instance when they are missing, installs the engine's configuration
// and systemd units, waits until every endpoint answers, records the layout
// on the instance, points the plex's running nodes at it, and publishes the
// local-registry-hosting ConfigMap when the plex's cluster is reachable. A
// re-run adopts what exists. On failure, what this run created is deleted
// unless Retain is set; a volume this run did not create, and so what is
// cached on it, is never deleted. One run at a time brings up a cache
// instance: Up holds its lock (lock.Registry) while it runs, and waits for
// another run that holds it, or with NoWait fails at once.
func Up(ctx context.Context, o UpOptions) (*UpResult, error) {
	if o.Log == nil {
		o.Log = status.Discard()
	}
	if o.Engine == "" {
		o.Engine = engine.EngineZot
	}
	layout, err := engine.NewLayout(o.Engine, o.Upstreams, o.SkipTLSVerify)
	if err != nil {
		return nil, err
	}
	if o.PushHtpasswd != "" {
		b, err := os.ReadFile(o.PushHtpasswd)
		if err != nil {
			return nil, fmt.Errorf("--push-htpasswd: %w", err)
		}
		if _, err := engine.ParseHtpasswd(o.PushHtpasswd, string(b)); err != nil {
			return nil, fmt.Errorf("--push-htpasswd: %w", err)
		}
		layout.PushAuth, layout.Htpasswd = true, string(b)
	}
	var srv *incus.Server
	var st *site
	if o.File != "" {
		if st, err = siteFromSpec(o.File, o.Name); err != nil {
			return nil, err
		}
		if srv, err = o.connect(ctx, st.remote, st.project); err != nil {
			return nil, err
		}
	} else {
		if srv, err = o.connect(ctx, "", ""); err != nil {
			return nil, err
		}
		if st, err = siteFromPlacement(ctx, srv, o.Placement); err != nil {
			return nil, err
		}
	}
	l, err := holdInstance(ctx, srv, st.node.Name, o)
	if err != nil {
		return nil, err
	}
	lctx, cancel := l.Context(ctx)
	res, err := up(lctx, srv, st, layout, o, l)
	cancel()
	// Released after up's undo, which runs while the lock is still held.
	switch rerr := l.Release(ctx); {
	case errors.Is(rerr, lock.ErrLost):
		return res, rerr
	case rerr != nil:
		o.Log.Infof(" ! %v", rerr)
	}
	return res, err
}

// holdInstance takes the lock of the cache instance, saying on one status
// line whom it waits for.
func holdInstance(ctx context.Context, srv lock.Server, instance string, o UpOptions) (*lock.Lock, error) {
	var line *status.Action
	l, err := lock.Acquire(ctx, srv, lock.Registry(instance), lock.Holder{Verb: "plex-registry up"}, lock.Options{
		NoWait: o.NoWait,
		OnWait: func(h lock.Holder) {
			if line == nil {
				line = o.Log.Start("waiting for the cache %s, in use by %s", instance, h)
				return
			}
			o.Log.Debugf("   the cache %s is now in use by %s", instance, h)
		},
		OnTakeOver: func(dead lock.Holder) {
			o.Log.Infof(" ! took the cache %s over from %s, which had stopped renewing its lock: that run died, and what it was doing may be half done", instance, dead)
		},
	})
	return l, line.End(err)
}

// up is the whole of Up once the server and the site are known: a
// preflight that changes nothing, then one ordered list of actions. Each
// thing an action creates registers its undo at once, so a failure or a
// Ctrl-C removes exactly what this run made (unless Retain); once the cache
// is made and configured, it stays whatever happens to the nodes.
//
// l is the instance's lock that the run holds (nil in tests): a run that
// lost it undoes nothing, since the run that took the cache over may be
// adopting what this one made, and returns why it lost it.
func up(ctx context.Context, srv Server, st *site, layout engine.Layout, o UpOptions, l *lock.Lock) (res *UpResult, err error) {
	start := time.Now()
	rv := action.NewReverter(o.Log, o.Retain)
	r := &upRun{o: o, srv: srv, log: o.Log, site: st, rv: rv, res: &UpResult{},
		cache: &Cache{Instance: st.node.Name, Plex: st.plex, Address: st.node.Address, Layout: layout}}
	r.res.Cache = r.cache
	defer func() {
		if lost := lostLock(l); lost != nil {
			rv.Success()
			err = lost
		} else {
			err = rv.Fail(err)
		}
		r.res.Elapsed = time.Since(start)
	}()
	if err := r.preflight(ctx); err != nil {
		return r.res, err
	}
	c := r.cache
	err = action.Run(ctx, o.Log,
		action.New("ensuring profile "+ProfileName, r.ensureProfile),
		action.If(r.newVolume, action.New(fmt.Sprintf("creating cache volume %s in pool %s", c.Volume, c.Pool), r.createVolume)),
		action.If(r.existing == nil, action.New(fmt.Sprintf("creating %s (%s, %s) from %s", c.Instance, c.Address, c.Engine, st.node.Image), r.createInstance)),
		action.If(r.existing == nil || r.existing.Status != "Running", action.New("starting "+c.Instance, r.start)),
		action.New(fmt.Sprintf("waiting for %s to boot with %s", c.Instance, c.Address), r.waitBoot),
		action.If(c.Engine == engine.EngineZot, action.New(fmt.Sprintf("installing zot (%s) in %s", r.zot.from(), c.Instance), r.installZot)),
		action.New(fmt.Sprintf("configuring %s: %s", c.Engine, strings.Join(c.Units(), ", ")), r.provision),
		action.If(!r.labelled, action.New("recording the cache layout on "+c.Instance, r.recordLayout)),
		action.Action{Quiet: true, Do: func(context.Context) error {
			// Made and configured: from here on a failure leaves the cache
			// in place, since it serves whatever becomes of the nodes.
			c.Status = "Running"
			rv.Success()
			return nil
		}},
		action.If(len(r.nodes) > 0, action.New(fmt.Sprintf("pointing %d running node(s) at the cache: %s", len(r.nodes), strings.Join(r.nodes, ", ")), r.pointNodes)),
		action.If(r.publish, action.Action{Quiet: true, Do: r.publishConfigMap}),
	)
	return r.res, err
}

// upRun is one Up in progress: what the preflight found, and the result.
type upRun struct {
	o     UpOptions
	srv   Server
	log   *status.Logger
	site  *site
	cache *Cache
	res   *UpResult
	// rv undoes what this run creates, should it fail.
	rv *action.Reverter

	// existing is the cache instance when it exists already.
	existing *incus.Instance
	// newVolume is set when the cache volume is to be created.
	newVolume bool
	// labelled is set when the instance carries the layout labels already.
	labelled bool
	zot      zotSource
	// nodes are the plex's running kube nodes, to point at the cache.
	nodes []string
	// publish is set when the ConfigMap is to be published, through kube
	// (or, when kubeErr is set, to say why it cannot be).
	publish bool
	kube    kubernetes.Interface
	kubeErr error
}

func (r *upRun) changed(what string) { r.res.Changed = append(r.res.Changed, what) }

// lostLock is why l was lost, or nil while it is held or when there is none.
func lostLock(l *lock.Lock) error {
	if l == nil {
		return nil
	}
	return l.Err()
}
