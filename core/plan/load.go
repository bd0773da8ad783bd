package plan

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/plex-dev/plex/core/spec"
)

// Options say what Load resolves: which spec and which plex of it, what the
// command line overrides, and how to look at each plex's remote.
type Options struct {
	// File is the spec file; "-" reads standard input.
	File string
	// Spec, when set, is File as spec.Load read it: Load then reads
	// nothing, and leaves Spec as it is. A verb that resolves one spec
	// twice (up: once to find where each plex lives, once more under the
	// plex's lock) passes it, since standard input can be read only once.
	Spec *spec.Config
	// Name keeps only the plex of that name; empty keeps every plex.
	Name string
	// Overrides are what the command line says instead of the spec.
	Overrides
	// Join adds workers beyond the spec to the plex Name (kubectl plex join).
	Join *Join
	// Live, when set, is asked about each plex's remote, after the
	// overrides; the nodes are then placed against what it says (see
	// Place). Nil resolves from the spec alone: Target is the spec's intent
	// and Placed is empty (plan --offline, and the verbs that only need to
	// know where a plex lives).
	Live func(ctx context.Context, px Plex) (Cluster, error)
}

// Overrides replace parts of the spec for every plex selected.
type Overrides struct {
	// Remote and Project replace each plex's remote and project when set.
	Remote, Project string
	// Image replaces the image alias of every Kubernetes node (not of a
	// registry node), to try a freshly baked image without editing the spec.
	Image string
}

// Join names the workers kubectl plex join adds to a plex. They are made like
// the plex's first kube node group (base, image, limits, placement) with role
// worker.
type Join struct {
	// Indices are the new nodes' indices, such as "4" or "4-6". An index the
	// spec has is that spec node (a control plane coming back, say).
	Indices string
	// Count, when Indices is empty, takes the Count indices above every
	// index in the spec and every index in use on the remote
	// (Cluster.InUse; so Count needs Live).
	Count int
}

// Loaded is what Load resolved.
type Loaded struct {
	*Plan
	// Notes are remarks on the placement, each starting with its plex's
	// name, such as a node that exists on another member than the spec names.
	Notes []string
}

// Load is the one call that turns a spec file into the plan a verb acts on.
// It reads the file once and decodes, defaults and validates it
// (spec.Load), adds join's workers (Join), resolves it (Resolve), keeps the
// plex Name (Select), applies the overrides and, with Live, places every
// node on its remote's members (Place). Call it instead of chaining those
// yourself: `kubectl plex plan` and up both go through it, which is what
// makes plan show exactly what up acts on.
//
// The plan it returns is final: callers read it and never change it.
// Problems come back all at once where they can (every spec error, every
// plex's placement), each naming its plex.
func Load(ctx context.Context, o Options) (*Loaded, error) {
	if o.Join != nil && o.Name == "" {
		return nil, errors.New("adding workers needs the plex's name")
	}
	cfg := o.Spec
	if cfg == nil {
		var err error
		if cfg, err = spec.Load(o.File); err != nil {
			return nil, err
		}
	}
	p, err := resolveSelected(cfg, o)
	if err != nil {
		return nil, err
	}
	if o.Live == nil {
		if o.Join != nil && o.Join.Indices == "" {
			return nil, errors.New("adding workers by count needs a look at the remote, to skip the indices in use there")
		}
		if o.Join != nil {
			if p, err = join(cfg, o, nil); err != nil {
				return nil, err
			}
		}
		return &Loaded{Plan: p}, nil
	}
	live, err := lookAll(ctx, p, o.Live)
	if err != nil {
		return nil, err
	}
	if o.Join != nil {
		if p, err = join(cfg, o, live[0].InUse); err != nil {
			return nil, err
		}
	}
	out := &Loaded{Plan: p}
	var errs []error
	for i := range p.Plexes {
		px := &p.Plexes[i]
		notes, err := Place(px, live[i])
		if err != nil {
			errs = append(errs, fmt.Errorf("plex %s: placing the nodes on incus remote %q:\n%w", px.Name, live[i].Remote, err))
		}
		for _, n := range notes {
			out.Notes = append(out.Notes, px.Name+": "+n)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// resolveSelected resolves cfg, keeps the plex o.Name and applies o's
// overrides.
func resolveSelected(cfg *spec.Config, o Options) (*Plan, error) {
	p, err := Resolve(cfg)
	if err != nil {
		return nil, fmt.Errorf("resolving %s: %w", o.File, err)
	}
	if o.Name != "" {
		if p, err = Select(p, o.Name); err != nil {
			return nil, err
		}
	}
	for i := range p.Plexes {
		px := &p.Plexes[i]
		if o.Remote != "" {
			px.Remote = o.Remote
		}
		if o.Project != "" {
			px.Project = o.Project
		}
		if o.Image == "" {
			continue
		}
		for k := range px.Nodes {
			if px.Nodes[k].Role != RoleRegistry {
				px.Nodes[k].Image = o.Image
			}
		}
	}
	return p, nil
}

// lookAll asks live about every plex's remote at once: they may be different
// remotes, each a round trip away.
func lookAll(ctx context.Context, p *Plan, live func(context.Context, Plex) (Cluster, error)) ([]Cluster, error) {
	out := make([]Cluster, len(p.Plexes))
	errs := make([]error, len(p.Plexes))
	var wg sync.WaitGroup
	for i, px := range p.Plexes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := live(ctx, px)
			if err != nil {
				errs[i] = fmt.Errorf("plex %s: %w", px.Name, err)
			}
			out[i] = c
		}()
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

// join adds o.Join's workers to the spec's plex o.Name, validates the spec
// again (the new addresses must fit the subnets) and resolves it anew.
// inUse are the indices the plex's instances use on its remote.
func join(cfg *spec.Config, o Options, inUse []int) (*Plan, error) {
	// The workers go into a copy: cfg may be the caller's (Options.Spec).
	c := *cfg
	c.Plexes = slices.Clone(cfg.Plexes)
	cfg = &c
	i := slices.IndexFunc(cfg.Plexes, func(p spec.Plex) bool { return p.Name == o.Name })
	sp := &cfg.Plexes[i] // resolveSelected found it
	sp.Nodes = slices.Clone(sp.Nodes)
	g := slices.IndexFunc(sp.Nodes, func(g spec.NodeGroup) bool { return g.Type == spec.NodeTypeKube })
	if g < 0 {
		return nil, fmt.Errorf("plex %s has no kube node group to model new workers on", o.Name)
	}
	inSpec := map[int]bool{}
	top := slices.Max(append([]int{0}, inUse...))
	for _, ng := range sp.Nodes {
		indices, _ := spec.ParseIndices(ng.Indices) // spec.Load validated them
		for _, k := range indices {
			inSpec[k] = true
			top = max(top, k)
		}
	}
	want, err := joinIndices(o.Join, top)
	if err != nil {
		return nil, err
	}
	var extra []string
	for _, k := range want {
		if !inSpec[k] {
			extra = append(extra, strconv.Itoa(k))
		}
	}
	if len(extra) > 0 {
		ng := sp.Nodes[g]
		ng.Indices, ng.Role = strings.Join(extra, ", "), RoleWorker
		sp.Nodes = append(sp.Nodes, ng)
		if err := spec.Validate(cfg); err != nil {
			return nil, fmt.Errorf("adding workers %s to plex %s:\n%w", ng.Indices, o.Name, err)
		}
	}
	return resolveSelected(cfg, o)
}

// joinIndices are the indices j asks for; top is the highest index in use.
func joinIndices(j *Join, top int) ([]int, error) {
	if j.Indices != "" {
		want, err := spec.ParseIndices(j.Indices)
		if err != nil {
			return nil, fmt.Errorf("worker indices %q: %w", j.Indices, err)
		}
		return want, nil
	}
	if j.Count <= 0 {
		return nil, errors.New(`say which workers to add: give indices ("4", "4-6") or a count`)
	}
	want := make([]int, j.Count)
	for k := range want {
		want[k] = top + 1 + k
	}
	return want, nil
}
