package cluster

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

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
	// Kubeconfig, Retain and ReadyTimeout mean what they mean for Up.
	Kubeconfig   string
	Retain       bool
	ReadyTimeout time.Duration
	Log          *status.Logger
}

// Join adds workers to a running plex, beyond its spec: the new nodes are
// made like the spec's first kube group (base, limits, placement) with role
// worker, then created, routed and joined the way Up does it. Add them to the
// spec file to keep them across `up --recreate`.
func Join(ctx context.Context, o JoinOptions) error {
	if o.Log == nil {
		o.Log = status.Discard()
	}
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = 5 * time.Minute
	}
	if o.Name == "" {
		return fmt.Errorf("join needs the plex name")
	}
	base, err := LoadPlan(o.File, o.Name, o.Target)
	if err != nil {
		return err
	}
	px := base.Plexes[0]
	r, err := newRun(ctx, o.Target, px, o.Log)
	if err != nil {
		return err
	}
	indices := o.Indices
	if indices == "" {
		if o.Count <= 0 {
			return fmt.Errorf("say which workers to add: give indices (\"4\", \"4-6\") or --count N")
		}
		if indices, err = r.nextFreeIndices(ctx, o.Count); err != nil {
			return err
		}
	}
	p, err := loadPlan(o.File, o.Name, o.Target, func(cfg *spec.Config) error {
		for i := range cfg.Plexes {
			sp := &cfg.Plexes[i]
			if sp.Name != o.Name {
				continue
			}
			var tmpl *spec.NodeGroup
			for g := range sp.Nodes {
				if sp.Nodes[g].Type == spec.NodeTypeKube {
					tmpl = &sp.Nodes[g]
					break
				}
			}
			if tmpl == nil {
				return fmt.Errorf("plex %s has no kube node group to model new workers on", o.Name)
			}
			want, err := spec.ParseIndices(indices)
			if err != nil {
				return fmt.Errorf("indices %q: %w", indices, err)
			}
			inSpec := map[int]bool{}
			for _, n := range px.Nodes {
				inSpec[n.Index] = true
			}
			var extra []string
			for _, i := range want {
				// An index the spec has is that spec node (a control plane
				// coming back, say); only the others are new workers.
				if !inSpec[i] {
					extra = append(extra, strconv.Itoa(i))
				}
			}
			if len(extra) == 0 {
				return nil
			}
			g := *tmpl
			g.Indices, g.Role = strings.Join(extra, ", "), "worker"
			sp.Nodes = append(sp.Nodes, g)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("adding workers %q: %w", indices, err)
	}
	r.px = p.Plexes[0]
	return r.up(ctx, UpOptions{Kubeconfig: o.Kubeconfig, Retain: o.Retain, ReadyTimeout: o.ReadyTimeout})
}

// nextFreeIndices returns count indices above every index in use, in the
// spec or on Incus.
func (r *run) nextFreeIndices(ctx context.Context, count int) (string, error) {
	top := 0
	for _, n := range r.px.Nodes {
		top = max(top, n.Index)
	}
	lp, err := discover(ctx, r.srv, r.px.Name)
	if err != nil {
		return "", err
	}
	for _, n := range lp.Plex.Nodes {
		top = max(top, n.Index)
	}
	parts := make([]string, count)
	for i := range parts {
		parts[i] = strconv.Itoa(top + 1 + i)
	}
	return strings.Join(parts, ", "), nil
}
