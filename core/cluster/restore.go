package cluster

import (
	"context"
	"fmt"
	"time"

	"github.com/plex-dev/plex/core/internal/action"
	"github.com/plex-dev/plex/core/internal/lock"
	"github.com/plex-dev/plex/core/plan"
	"github.com/plex-dev/plex/core/status"
)

// RestoreOptions are the inputs of Restore.
type RestoreOptions struct {
	Ref
	Snapshot string
	// Force restores even when the plex's nodes are no longer the
	// snapshot's: the nodes that hold it are restored, the others left as
	// they are.
	Force bool
	// ReadyTimeout bounds the wait for every restored node to be Ready.
	ReadyTimeout time.Duration
	NoWait       bool
	Log          *status.Logger
}

// Restore puts every Kubernetes node of a plex back to one of its
// snapshots and waits until each is Ready again, its kubelet having
// reported since. It holds the plex's lock. It changes nothing when the
// snapshot is not there, or, without Force, when a node was added or
// removed since the snapshot.
func Restore(ctx context.Context, o RestoreOptions) error {
	if o.Log == nil {
		o.Log = status.Discard()
	}
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = 5 * time.Minute
	}
	if err := checkSnapshotName(o.Snapshot); err != nil {
		return err
	}
	srv, err := o.connect(ctx)
	if err != nil {
		return err
	}
	return o.holdPlex(ctx, srv, o.Name, "restore", o.NoWait, o.Log, func(ctx context.Context, l *lock.Lock) error {
		r := newRun(plan.Plex{Name: o.Name}, srv, o.Log, o.seams, "restore", runOptions{ReadyTimeout: o.ReadyTimeout})
		r.lock = l
		r.snap.name = o.Snapshot
		return r.restore(ctx, o.Force)
	})
}

// restore is the whole of `kubectl plex restore` for one plex, in order.
// Nothing is changed before the snapshot is found and the nodes checked.
func (r *run) restore(ctx context.Context, force bool) error {
	start := time.Now()
	name := r.snap.name
	err := action.RunFor(ctx, r.log, r.px.Name,
		r.quiet("finding the plex's nodes", r.discoverKube),
		// These two errors say what they were looking for themselves.
		action.Action{Quiet: true, Do: r.findSnapshot},
		action.Action{Quiet: true, Do: func(context.Context) error {
			switch {
			case r.snap.diff == "":
			case force:
				r.log.Infof(" ! %s: the nodes differ from snapshot %s: %s; --force restores the %d node(s) that hold it and leaves the others as they are",
					r.px.Name, name, r.snap.diff, len(r.snap.have))
			default:
				return fmt.Errorf("plex %s's nodes no longer match snapshot %s: %s; nothing was changed. Restore those that hold it anyway with --force, or delete the snapshot with `kubectl plex snapshot delete %s %s`",
					r.px.Name, name, r.snap.diff, r.px.Name, name)
			}
			return nil
		}},
		r.perNode("restoring %d node(s) to "+name, &r.snap.have, r.restoreNodes),
		r.quiet("reading the admin kubeconfig", r.readRestoredAdmin),
		r.actf(func() string { return fmt.Sprintf("waiting for %d node(s) to be Ready", len(r.snap.have)) }, func(ctx context.Context) error {
			return r.seams.nodesReadySince(ctx, r.admin, nodeNames(r.snap.have), r.snap.since, r.opts.ReadyTimeout)
		}),
	)
	if err == nil {
		r.log.Infof(" ✓ %s: restored to %s in %s; kubeconfig context plex-%s and known_hosts are as they were",
			r.px.Name, name, time.Since(start).Round(100*time.Millisecond), r.px.Name)
	}
	return err
}

// restoreNodes puts the nodes back to the snapshot, all at once: Incus
// stops each, rolls its filesystem and config back, and starts it again.
func (r *run) restoreNodes(ctx context.Context, nodes []plan.Node) error {
	r.snap.since = time.Now()
	return r.eachNode(ctx, nodes, func(n plan.Node) error {
		if err := r.srv.RestoreSnapshot(ctx, n.Name, r.snap.name); err != nil {
			return err
		}
		// A node stopped when it was snapshotted comes back stopped.
		return r.srv.Start(ctx, n.Name)
	})
}

// readRestoredAdmin reads the admin kubeconfig from the first
// control-plane node that was restored.
func (r *run) readRestoredAdmin(ctx context.Context) error {
	for _, n := range r.snap.have {
		if n.Role != plan.RoleControlPlane {
			continue
		}
		b, err := r.srv.PullFile(ctx, n.Name, adminConfPath)
		if err != nil {
			return err
		}
		r.admin = b
		return nil
	}
	return fmt.Errorf("snapshot %s holds no control-plane node of plex %s", r.snap.name, r.px.Name)
}
