package cluster

import (
	"context"
	"strconv"
	"strings"
	"sync"

	"github.com/plex-dev/plex/core/incus"
	"github.com/plex-dev/plex/core/plan"
)

// remotes connects to each plex's remote once: plan.Load's look at it
// (live) and the run that follows share the connection, and plan's diff
// reuses the instances live listed.
type remotes struct {
	t Target

	mu    sync.Mutex
	conns map[string]Incus            // by plex name
	lists map[string][]incus.Instance // what live saw, by plex name
}

func newRemotes(t Target) *remotes {
	return &remotes{t: t, conns: map[string]Incus{}, lists: map[string][]incus.Instance{}}
}

// conn is the connection to px's remote and project.
func (rs *remotes) conn(ctx context.Context, px plan.Plex) (Incus, error) {
	rs.mu.Lock()
	srv, ok := rs.conns[px.Name]
	rs.mu.Unlock()
	if ok {
		return srv, nil
	}
	srv, err := rs.t.dial(ctx, px.Remote, px.Project)
	if err != nil {
		return nil, err
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.conns[px.Name] = srv
	return srv, nil
}

// live is plan.Options.Live: the members of px's remote (none on a
// standalone server), where px's instances are, and their indices.
func (rs *remotes) live(ctx context.Context, px plan.Plex) (plan.Cluster, error) {
	srv, err := rs.conn(ctx, px)
	if err != nil {
		return plan.Cluster{}, err
	}
	list, err := srv.ListInstances(ctx)
	if err != nil {
		return plan.Cluster{}, err
	}
	members, err := srv.Members(ctx)
	if err != nil {
		return plan.Cluster{}, err
	}
	rs.mu.Lock()
	rs.lists[px.Name] = list
	rs.mu.Unlock()
	c := plan.Cluster{Remote: srv.Remote(), Locations: map[string]string{}}
	for _, m := range members {
		c.Members = append(c.Members, plan.Member{Name: m.Name, Status: m.Status, Message: m.Message, Groups: m.Groups})
	}
	for _, in := range list {
		// Only the plex's own nodes stay put; an instance of another owner
		// with a node's name is a conflict that preflight reports.
		if in.Plex() != px.Name {
			continue
		}
		c.Locations[in.Name] = in.Location
		if i, err := strconv.Atoi(in.Config[incus.LabelIndex]); err == nil {
			c.InUse = append(c.InUse, i)
		}
	}
	return c, nil
}

// reportPlacement says where the nodes go on a cluster; plan.Load decided it
// against the members, before anything was created or deleted.
func (r *run) reportPlacement(context.Context) error {
	for _, n := range r.px.Nodes {
		if n.Placed != "" {
			r.log.Infof("   %s: %s", r.px.Name, placementSummary(r.px))
			break
		}
	}
	return nil
}

// placementSummary is "plexcl1→m1, plexcl2→m2 (spread), …".
func placementSummary(px plan.Plex) string {
	parts := make([]string, len(px.Nodes))
	for i, n := range px.Nodes {
		parts[i] = n.Name + "→" + n.Target
		if n.Placed != "" && n.Placed != plan.PlacedSpec {
			parts[i] += " (" + n.Placed + ")"
		}
	}
	return strings.Join(parts, ", ")
}
