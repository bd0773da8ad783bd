package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/plex-dev/plex/core/incus"
	"github.com/plex-dev/plex/core/plan"
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
	Log        *status.Logger
}

// Down deletes every instance labelled for the plex, except its registry
// cache (plex-registry's to remove), and its kubeconfig context and
// known_hosts. Instances without plex's labels are never touched.
// Deleting a plex that does not exist is not an error. With File and no
// Name, every plex of the file goes down, each on its remote, in parallel.
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
	list, err := srv.ListInstances(ctx)
	if err != nil {
		return err
	}
	var names, kept []string
	for _, in := range list {
		switch {
		case in.Plex() != o.Name:
		case in.Config[incus.LabelRole] == plan.RoleRegistry:
			// The registry cache belongs to plex-registry: it is there so
			// that a plex re-created later does not pull everything again.
			kept = append(kept, in.Name)
		default:
			names = append(names, in.Name)
		}
	}
	for _, n := range kept {
		o.Log.Infof(" ✓ %s: kept the registry cache %s for the next up; `plex-registry down %s` removes it", o.Name, n, o.Name)
	}
	if len(names) == 0 {
		o.Log.Infof(" ✓ %s: nothing to delete on remote %s", o.Name, srv.Remote())
	} else {
		a := o.Log.Start("%s: deleting %d instance(s)", o.Name, len(names))
		errs := make([]error, len(names))
		done := make(chan struct{})
		for i, n := range names {
			go func() {
				errs[i] = srv.Delete(ctx, n)
				done <- struct{}{}
			}()
		}
		for range names {
			<-done
		}
		if err := a.End(errors.Join(errs...)); err != nil {
			return err
		}
	}
	if err := removeFromKubeconfig(o.Kubeconfig, o.Name); err != nil {
		return fmt.Errorf("removing context %s: %w", ContextName(o.Name), err)
	}
	if kh, err := KnownHostsPath(o.Name); err == nil {
		_ = os.RemoveAll(filepath.Dir(kh))
	}
	return nil
}
