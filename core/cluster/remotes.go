package cluster

import (
	"context"
	"fmt"
	"sync"

	"github.com/plex-dev/plex/core/plan"
)

// A spec file may put its plexes on different Incus remotes (a standalone
// server here, a cluster there). status and down given only the file work
// on every plex of it, each on its own remote, in parallel, the way plan and
// up do.

// allOfFile reports whether a Ref means every plex of its spec file.
func (ref Ref) allOfFile() bool { return ref.File != "" && ref.Name == "" }

// statusOfFile reports every plex of the spec file, in the file's order. A
// plex with no instances on its remote is listed with its planned nodes,
// each "absent".
func statusOfFile(ctx context.Context, o StatusOptions) ([]PlexStatus, error) {
	p, err := LoadPlan(o.File, "", o.Target)
	if err != nil {
		return nil, err
	}
	out := make([]PlexStatus, len(p.Plexes))
	err = eachPlex(p, func(i int, px plan.Plex) error {
		srv, err := o.dial(ctx, px.Remote, px.Project)
		if err != nil {
			return err
		}
		list, err := srv.ListInstances(ctx)
		if err != nil {
			return err
		}
		found := false
		for _, in := range list {
			found = found || in.Plex() == px.Name
		}
		if !found {
			out[i] = absentStatus(srv.Remote(), px)
			return nil
		}
		lp, err := discover(ctx, srv, px.Name)
		if err != nil {
			return err
		}
		out[i] = plexStatus(ctx, srv, lp)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// absentStatus is the status of a plex that is not up: its planned nodes.
func absentStatus(remote string, px plan.Plex) PlexStatus {
	ps := PlexStatus{Name: px.Name, Remote: remote}
	for _, n := range px.Nodes {
		ps.Nodes = append(ps.Nodes, NodeStatus{Name: n.Name, Role: n.Role, Address: n.Address, Incus: "absent", Kubernetes: "absent"})
	}
	return ps
}

// downOfFile takes down every plex of the spec file, each on its remote.
func downOfFile(ctx context.Context, o DownOptions) error {
	p, err := LoadPlan(o.File, "", o.Target)
	if err != nil {
		return err
	}
	return eachPlex(p, func(_ int, px plan.Plex) error {
		one := o
		// A copy of o's Target, so its seams carry over to each plex.
		t := o.Target
		t.Remote, t.Project = px.Remote, px.Project
		one.Ref = Ref{Name: px.Name, Target: t}
		return Down(ctx, one)
	})
}

// eachPlex runs f for every plex of the plan in parallel, with the plex's
// position in the plan, and joins the errors, each naming its plex.
func eachPlex(p *plan.Plan, f func(int, plan.Plex) error) error {
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		errs []error
	)
	for i, px := range p.Plexes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(i, px); err != nil {
				if !namesPlex(err, px.Name) {
					err = fmt.Errorf("plex %s: %w", px.Name, err)
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
