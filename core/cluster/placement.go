package cluster

import (
	"context"
	"fmt"
	"strings"

	"github.com/plex-dev/plex/core/incus"
	"github.com/plex-dev/plex/core/plan"
)

// inspectRemote is what plan and up learn from a plex's remote before
// anything changes: the instances there, in the form Diff takes, and the
// placement of every node (see plan.Place), which it writes into px.
func inspectRemote(ctx context.Context, srv Incus, px *plan.Plex) ([]plan.Existing, []string, error) {
	list, err := srv.ListInstances(ctx)
	if err != nil {
		return nil, nil, err
	}
	existing := make([]plan.Existing, 0, len(list))
	for _, in := range list {
		existing = append(existing, plan.Existing{Name: in.Name, Status: in.Status, Location: in.Location, Plex: in.Plex(), Managed: in.Managed()})
	}
	notes, err := placeNodes(ctx, srv, px, list)
	return existing, notes, err
}

// placeNodes decides each node's member on the plex's remote: the members
// and their groups come from Incus, where the nodes that exist are from
// list. On a standalone server it only checks that the spec asks for no
// placement.
func placeNodes(ctx context.Context, srv Incus, px *plan.Plex, list []incus.Instance) ([]string, error) {
	members, err := srv.Members(ctx)
	if err != nil {
		return nil, err
	}
	return placeOn(srv.Remote(), members, px, list)
}

func placeOn(remote string, members []incus.Member, px *plan.Plex, list []incus.Instance) ([]string, error) {
	c := plan.Cluster{Remote: remote, Locations: map[string]string{}}
	for _, m := range members {
		c.Members = append(c.Members, plan.Member{Name: m.Name, Status: m.Status, Message: m.Message, Groups: m.Groups})
	}
	for _, in := range list {
		// Only the plex's own nodes stay put; an instance of another owner
		// with a node's name is a conflict that preflight reports.
		if in.Plex() == px.Name {
			c.Locations[in.Name] = in.Location
		}
	}
	notes, err := plan.Place(px, c)
	if err != nil {
		return notes, fmt.Errorf("placing the nodes on incus remote %q:\n%w", remote, err)
	}
	return notes, nil
}

// place decides where the run's nodes go, before anything is created, and
// says so in a status line on a cluster. Nodes that exist stay where they
// are; new ones go where the spec says or are spread evenly (plan.Place).
func (r *run) place(ctx context.Context) error {
	list, err := r.srv.ListInstances(ctx)
	if err != nil {
		return err
	}
	var (
		notes []string
		where string
	)
	members, err := r.srv.Members(ctx)
	if err != nil {
		return err
	}
	if len(members) == 0 {
		// Standalone: nothing to place, only targets to refuse.
		_, err := placeOn(r.srv.Remote(), nil, &r.px, list)
		return err
	}
	err = r.step(fmt.Sprintf("placing %d node(s) on the members of %s", len(r.px.Nodes), r.srv.Remote()), func() error {
		var err error
		notes, err = placeOn(r.srv.Remote(), members, &r.px, list)
		where = placementSummary(r.px)
		return err
	})
	if err != nil {
		return err
	}
	r.log.Infof("   %s: %s", r.px.Name, where)
	for _, n := range notes {
		r.log.Infof(" ! %s: %s", r.px.Name, n)
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
