package plan

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// How Place chose a node's member (Node.Placed); a cluster group placement
// is "@" and the group's name.
const (
	// PlacedSpec: the spec named the member (target, or one of targets).
	PlacedSpec = "spec"
	// PlacedSpread: the spec named no placement, and plex spread the nodes
	// evenly over the online members.
	PlacedSpread = "spread"
	// PlacedExists: the instance exists; it stays on its member.
	PlacedExists = "exists"
)

// Member is a cluster member as placement sees it.
type Member struct {
	Name string
	// Status is Incus's word for it; only "Online" members take nodes.
	Status string
	// Message is Incus's explanation of the status, for error messages.
	Message string
	// Groups are the cluster groups the member is in.
	Groups []string
}

// Online reports whether the member can take new instances.
func (m Member) Online() bool { return strings.EqualFold(m.Status, "online") }

// Cluster is what placement (and join's next free index) knows about one
// plex's Incus remote: Options.Live's answer.
type Cluster struct {
	// Remote names the remote in messages.
	Remote string
	// Members of the cluster; none for a standalone server.
	Members []Member
	// Locations maps the instances that exist to the member they are on.
	Locations map[string]string
	// InUse are the indices of the plex's instances there, which join's
	// next free indices skip (see Join).
	InUse []int
}

// Place decides, against a live cluster, the member of every node of px,
// and sets the nodes' Target and Placed. It is deterministic: the same plan
// and cluster give the same placement, so `plan` shows what `up` does and a
// re-run keeps it.
//
//   - A node whose instance exists stays on its member.
//   - A node the spec pins to a member goes there; the member must exist and
//     be online.
//   - A node with target "@group", and one with no placement on a cluster,
//     goes to the member with the fewest nodes of this plex among the online
//     members of the group (or of the cluster), ties going to the first by
//     name. Nodes are taken in index order after the pinned and existing ones
//     are counted, so with no placement at all the nodes take the members
//     round-robin: 1→m1, 2→m2, 3→m1.
//
// Every problem is reported at once: a member that does not exist, one that
// is not online, a cluster group that does not exist or has no online
// member, a target on a standalone server, and an existing node on a member
// that is not online. Place returns notes for what is odd but not wrong: an
// existing node on another member than the spec names.
func Place(px *Plex, c Cluster) (notes []string, err error) {
	if len(c.Members) == 0 {
		var errs []error
		for _, n := range px.Nodes {
			if n.Target != "" {
				errs = append(errs, fmt.Errorf("node %s has target %q, but incus remote %q is not a cluster: remove target and targets from the spec, or point the plex at a clustered remote", n.Name, n.Target, c.Remote))
			}
		}
		return nil, errors.Join(errs...)
	}

	byName := map[string]Member{}
	var names, online []string
	groups := map[string][]string{}
	for _, m := range c.Members {
		byName[m.Name] = m
		names = append(names, m.Name)
		if m.Online() {
			online = append(online, m.Name)
		}
		for _, g := range m.Groups {
			groups[g] = append(groups[g], m.Name)
		}
	}
	sort.Strings(names)
	sort.Strings(online)

	type pending struct {
		node   *Node
		cands  []string
		placed string
	}
	var (
		queue []pending
		errs  []error
		load  = map[string]int{}
	)
	for k := range px.Nodes {
		n := &px.Nodes[k]
		if loc := c.Locations[n.Name]; loc != "" && loc != "none" {
			if m, ok := byName[loc]; ok && !m.Online() {
				errs = append(errs, fmt.Errorf("node %s is on member %s, which is %s: bring the member back online (`incus cluster list %s:`), or delete the node", n.Name, loc, memberState(m), c.Remote))
			}
			if n.Target != "" && !strings.HasPrefix(n.Target, "@") && n.Target != loc {
				notes = append(notes, fmt.Sprintf("node %s exists on member %s, not on %s as the spec says; it stays there (`up --recreate` moves it)", n.Name, loc, n.Target))
			}
			n.Target, n.Placed = loc, PlacedExists
			load[loc]++
			continue
		}
		switch {
		case n.Target == "":
			queue = append(queue, pending{node: n, cands: online, placed: PlacedSpread})
		case strings.HasPrefix(n.Target, "@"):
			g := strings.TrimPrefix(n.Target, "@")
			all := groups[g]
			if len(all) == 0 {
				errs = append(errs, fmt.Errorf("node %s: target %q: incus remote %q has no cluster group %q (groups: %s); create it with `incus cluster group create %s:%s`", n.Name, n.Target, c.Remote, g, strings.Join(sortedKeys(groups), ", "), c.Remote, g))
				continue
			}
			var up []string
			for _, name := range all {
				if byName[name].Online() {
					up = append(up, name)
				}
			}
			sort.Strings(up)
			if len(up) == 0 {
				errs = append(errs, fmt.Errorf("node %s: target %q: no member of cluster group %s is online (%s)", n.Name, n.Target, g, states(all, byName)))
				continue
			}
			queue = append(queue, pending{node: n, cands: up, placed: n.Target})
		default:
			m, ok := byName[n.Target]
			if !ok {
				errs = append(errs, fmt.Errorf("node %s: target %q is not a member of the cluster on incus remote %q (members: %s): fix the spec's target or targets", n.Name, n.Target, c.Remote, strings.Join(names, ", ")))
				continue
			}
			if !m.Online() {
				errs = append(errs, fmt.Errorf("node %s: member %s is %s: bring it back online, or place the node on another member", n.Name, n.Target, memberState(m)))
				continue
			}
			n.Placed = PlacedSpec
			load[n.Target]++
		}
	}
	if len(queue) > 0 && len(online) == 0 {
		errs = append(errs, fmt.Errorf("no member of the cluster on incus remote %q is online (%s): nowhere to place %d node(s)", c.Remote, states(names, byName), len(queue)))
	}
	if len(errs) > 0 {
		return notes, errors.Join(errs...)
	}
	for _, p := range queue {
		best := p.cands[0]
		for _, m := range p.cands[1:] {
			if load[m] < load[best] {
				best = m
			}
		}
		p.node.Target, p.node.Placed = best, p.placed
		load[best]++
	}
	return notes, nil
}

// memberState is "OFFLINE (No heartbeat since 30s)" or the like.
func memberState(m Member) string {
	s := strings.ToUpper(m.Status)
	if s == "" {
		s = "UNKNOWN"
	}
	if m.Message != "" {
		s += " (" + m.Message + ")"
	}
	return s
}

func states(names []string, byName map[string]Member) string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = n + ": " + memberState(byName[n])
	}
	return strings.Join(out, ", ")
}

func sortedKeys(m map[string][]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
