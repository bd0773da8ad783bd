package cluster

import (
	"context"
	"os"
	"path/filepath"

	"github.com/plex-dev/plex/core/incus"
	"github.com/plex-dev/plex/core/internal/action"
	"github.com/plex-dev/plex/core/internal/lock"
	"github.com/plex-dev/plex/core/plan"
	"github.com/plex-dev/plex/core/spec"
	"github.com/plex-dev/plex/core/status"
)

// Ref names a running plex and where it lives: on the remote of the plex of
// that name in File when File is given, else on Target.
type Ref struct {
	Name string
	File string
	Target
}

// connect opens the server a Ref points at.
func (ref Ref) connect(ctx context.Context) (Incus, error) {
	remote, project := ref.Remote, ref.Project
	if ref.File != "" {
		p, err := LoadPlan(ref.File, ref.Name, ref.Target)
		if err != nil {
			return nil, err
		}
		remote, project = p.Plexes[0].Remote, p.Plexes[0].Project
	}
	return ref.dial(ctx, remote, project)
}

// DownOptions are the inputs of Down.
type DownOptions struct {
	Ref
	// Kubeconfig is the file the plex's context is removed from.
	Kubeconfig string
	// NoWait fails at once when another run holds the plex, instead of
	// waiting for it (lock.go).
	NoWait bool
	Log    *status.Logger
}

// Down deletes every instance labelled for the plex, except its registry
// cache (plex-registry's to remove), and its kubeconfig context and
// known_hosts. Instances without plex's labels are never touched.
// Deleting a plex that does not exist is not an error. With File and no
// Name, every plex of the file goes down, each on its remote, in parallel.
// Each plex's lock is held while it goes down.
func Down(ctx context.Context, o DownOptions) error {
	if o.Log == nil {
		o.Log = status.Discard()
	}
	if o.allOfFile() {
		return downOfFile(ctx, o) // remotes.go
	}
	srv, err := o.connect(ctx)
	if err != nil {
		return err
	}
	return o.holdPlex(ctx, srv, o.Name, "down", o.NoWait, o.Log, func(ctx context.Context, _ *lock.Lock) error {
		r := newRun(plan.Plex{Name: o.Name}, srv, o.Log, o.seams, "down", runOptions{})
		return action.RunFor(ctx, o.Log, o.Name,
			r.quiet("finding the plex's instances", r.findDoomed),
			r.perNode("deleting %d instance(s)", &r.doomed, r.deleteNodes),
			r.act("removing context "+spec.ContextName(o.Name)+" from the kubeconfig", func(context.Context) error {
				return removeFromKubeconfig(o.Kubeconfig, o.Name)
			}),
			r.quiet("removing known_hosts", func(context.Context) error {
				if kh, err := KnownHostsPath(o.Name); err == nil {
					_ = os.RemoveAll(filepath.Dir(kh))
				}
				return nil
			}),
		)
	})
}

// findDoomed finds the plex's instances that down deletes: all but its
// registry cache.
func (r *run) findDoomed(ctx context.Context) error {
	list, err := r.srv.ListInstances(ctx)
	if err != nil {
		return err
	}
	name := r.px.Name
	for _, in := range list {
		switch {
		case in.Plex() != name:
		case in.Config[incus.LabelRole] == plan.RoleRegistry:
			// The registry cache belongs to plex-registry: it is there so
			// that a plex re-created later does not pull everything again.
			r.log.Infof(" ✓ %s: kept the registry cache %s for the next up; `plex-registry down %s` removes it", name, in.Name, name)
		default:
			r.doomed = append(r.doomed, plan.Node{Name: in.Name})
		}
	}
	if len(r.doomed) == 0 {
		r.log.Infof(" ✓ %s: nothing to delete on remote %s", name, r.srv.Remote())
	}
	return nil
}

// deleteNodes deletes instances.
func (r *run) deleteNodes(ctx context.Context, nodes []plan.Node) error {
	return r.eachNode(ctx, nodes, func(n plan.Node) error { return r.srv.Delete(ctx, n.Name) })
}
