package cluster

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/plex-dev/plex/core/incus"
	"github.com/plex-dev/plex/core/internal/action"
	"github.com/plex-dev/plex/core/internal/lock"
	"github.com/plex-dev/plex/core/plan"
	"github.com/plex-dev/plex/core/status"
)

// A plex's snapshots are found again by their labels (snapshot.go), on its
// nodes: listed, looked up for restore, and deleted.

// PlexSnapshot is one of a plex's snapshots.
type PlexSnapshot struct {
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"createdAt"`
	// SpecHash is the plex's spec hash when the snapshot was taken.
	SpecHash string `json:"specHash"`
	// Nodes are the plex's Kubernetes nodes when the snapshot was taken.
	Nodes []string `json:"nodes"`
	// Missing are nodes of Nodes that no longer hold the snapshot (the
	// node was removed, or its snapshot deleted); Added are the plex's
	// nodes made since. A restore refuses either without --force.
	Missing []string `json:"missing,omitempty"`
	Added   []string `json:"added,omitempty"`
}

// Matches reports whether the plex's nodes are still the snapshot's.
func (s PlexSnapshot) Matches() bool { return len(s.Missing) == 0 && len(s.Added) == 0 }

// describeDiff says how the plex's nodes differ from the snapshot's.
func (s PlexSnapshot) describeDiff() string {
	var parts []string
	if len(s.Added) > 0 {
		parts = append(parts, fmt.Sprintf("%s added since (no snapshot %s)", strings.Join(s.Added, ", "), s.Name))
	}
	if len(s.Missing) > 0 {
		parts = append(parts, fmt.Sprintf("%s in the snapshot but gone, or without it, now", strings.Join(s.Missing, ", ")))
	}
	return strings.Join(parts, "; ")
}

// plexSnapshots lists the plex's snapshots (plex's own, by their labels)
// on its Kubernetes nodes, oldest first, and which node holds which.
func plexSnapshots(ctx context.Context, srv Incus, kube []plan.Node) ([]PlexSnapshot, map[string][]plan.Node, error) {
	type found struct {
		node plan.Node
		snap incus.Snapshot
	}
	var (
		mu   sync.Mutex
		all  []found
		errs []error
		wg   sync.WaitGroup
	)
	for _, n := range kube {
		wg.Add(1)
		go func() {
			defer wg.Done()
			list, err := srv.ListSnapshots(ctx, n.Name)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			for _, s := range list {
				if s.Config[incus.LabelSnapshot] == s.Name && incus.IsManaged(s.Config) {
					all = append(all, found{n, s})
				}
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return nil, nil, joinErrors(errs)
	}
	byName := map[string]*PlexSnapshot{}
	holders := map[string][]plan.Node{}
	for _, f := range all {
		ps := byName[f.snap.Name]
		if ps == nil {
			ps = &PlexSnapshot{Name: f.snap.Name, CreatedAt: f.snap.CreatedAt, SpecHash: f.snap.Config[incus.LabelSpecHash]}
			if s := f.snap.Config[incus.LabelSnapshotNodes]; s != "" {
				ps.Nodes = strings.Split(s, ",")
			}
			byName[f.snap.Name] = ps
		}
		if f.snap.CreatedAt.Before(ps.CreatedAt) {
			ps.CreatedAt = f.snap.CreatedAt
		}
		holders[f.snap.Name] = append(holders[f.snap.Name], f.node)
	}
	current := sortedNames(kube)
	var out []PlexSnapshot
	for name, ps := range byName {
		held := sortedNames(holders[name])
		for _, n := range ps.Nodes {
			if !slices.Contains(held, n) {
				ps.Missing = append(ps.Missing, n)
			}
		}
		for _, n := range current {
			if !slices.Contains(ps.Nodes, n) {
				ps.Added = append(ps.Added, n)
			}
		}
		out = append(out, *ps)
	}
	sort.Slice(out, func(a, b int) bool {
		if !out[a].CreatedAt.Equal(out[b].CreatedAt) {
			return out[a].CreatedAt.Before(out[b].CreatedAt)
		}
		return out[a].Name < out[b].Name
	})
	return out, holders, nil
}

// SnapshotListOptions are the inputs of ListSnapshots.
type SnapshotListOptions struct {
	Ref
}

// ListSnapshots lists a plex's snapshots, oldest first.
func ListSnapshots(ctx context.Context, o SnapshotListOptions) ([]PlexSnapshot, error) {
	srv, err := o.connect(ctx)
	if err != nil {
		return nil, err
	}
	lp, err := discover(ctx, srv, o.Name)
	if err != nil {
		return nil, err
	}
	list, _, err := plexSnapshots(ctx, srv, kubeNodes(lp.Plex))
	if err != nil {
		return nil, fmt.Errorf("listing the snapshots of plex %s: %w", o.Name, err)
	}
	if list == nil {
		list = []PlexSnapshot{}
	}
	return list, nil
}

// findSnapshot finds plex's snapshot r.snap.name on the plex's nodes, and
// how the nodes differ from it.
func (r *run) findSnapshot(ctx context.Context) error {
	list, holders, err := plexSnapshots(ctx, r.srv, r.kube)
	if err != nil {
		return err
	}
	for _, ps := range list {
		if ps.Name == r.snap.name {
			r.snap.have = holders[ps.Name]
			r.snap.diff = ps.describeDiff()
			return nil
		}
	}
	names := make([]string, len(list))
	for i, ps := range list {
		names[i] = ps.Name
	}
	have := "it has none"
	if len(names) > 0 {
		have = "it has " + strings.Join(names, ", ")
	}
	return fmt.Errorf("plex %s has no snapshot %q (%s); `kubectl plex snapshot list %s` lists them", r.px.Name, r.snap.name, have, r.px.Name)
}

// DeleteSnapshotOptions are the inputs of DeleteSnapshot.
type DeleteSnapshotOptions struct {
	Ref
	Snapshot string
	NoWait   bool
	Log      *status.Logger
}

// DeleteSnapshot deletes plex's snapshot of that name from every node that
// holds it. Snapshots plex did not take are never touched. It holds the
// plex's lock.
func DeleteSnapshot(ctx context.Context, o DeleteSnapshotOptions) error {
	if o.Log == nil {
		o.Log = status.Discard()
	}
	if err := checkSnapshotName(o.Snapshot); err != nil {
		return err
	}
	srv, err := o.connect(ctx)
	if err != nil {
		return err
	}
	return o.holdPlex(ctx, srv, o.Name, "snapshot delete", o.NoWait, o.Log, func(ctx context.Context, l *lock.Lock) error {
		r := newRun(plan.Plex{Name: o.Name}, srv, o.Log, o.seams, "snapshot-delete", runOptions{})
		r.lock = l
		r.snap.name = o.Snapshot
		return action.RunFor(ctx, r.log, r.px.Name,
			r.quiet("finding the plex's nodes", r.discoverKube),
			action.Action{Quiet: true, Do: r.findSnapshot}, // its error says what it looked for
			r.perNode("deleting snapshot "+o.Snapshot+" of %d node(s)", &r.snap.have, func(ctx context.Context, nodes []plan.Node) error {
				return r.eachNode(ctx, nodes, func(n plan.Node) error { return r.srv.DeleteSnapshot(ctx, n.Name, o.Snapshot) })
			}),
		)
	})
}
