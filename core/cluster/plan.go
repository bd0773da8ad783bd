// Package cluster carries out plex's verbs against Incus: plan, up, join,
// drain, down and status. Each verb is one exported function that takes a
// context and an options struct.
package cluster

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/plex-dev/plex/core/plan"
	"github.com/plex-dev/plex/core/spec"
)

// Target says where plexes live when the spec does not, or overrides it.
type Target struct {
	// IncusConfig is the incus client config.yml; empty means the CLI's.
	IncusConfig string
	// Remote overrides every plex's remote when set.
	Remote string
	// Project overrides every plex's project when set.
	Project string
	// seams replace Incus and the Kubernetes API in the tests (incus.go);
	// nil means the real ones.
	seams *seams
}

// PlanOptions are the inputs of Plan.
type PlanOptions struct {
	// File is the spec file.
	File string
	// Name selects one plex of the file; empty means all.
	Name string
	Target
	// Offline skips looking at Incus; every node's action is "unknown".
	Offline bool
}

// PlanResult is a resolved plan with, per plex, what exists on Incus.
type PlanResult struct {
	Plan    *plan.Plan               `json:"plan"`
	Changes map[string][]plan.Change `json:"changes"`
	// Notes are remarks on the placement, such as a node that exists on
	// another member than the spec names.
	Notes []string `json:"notes,omitempty"`
}

// LoadPlan reads, validates and resolves a spec file, applies the target
// overrides, and keeps the named plex (all when name is empty).
func LoadPlan(file, name string, t Target) (*plan.Plan, error) {
	return loadPlan(file, name, t, nil)
}

// loadPlan is LoadPlan with a chance to edit the spec before it is
// validated again and resolved.
func loadPlan(file, name string, t Target, edit func(*spec.Config) error) (*plan.Plan, error) {
	cfg, err := spec.Load(file)
	if err != nil {
		return nil, err
	}
	if edit != nil {
		if err := edit(cfg); err != nil {
			return nil, err
		}
		if err := spec.Validate(cfg); err != nil {
			return nil, err
		}
	}
	p, err := plan.Resolve(cfg)
	if err != nil {
		return nil, fmt.Errorf("resolving %s: %w", file, err)
	}
	if name != "" {
		if p, err = plan.Select(p, name); err != nil {
			return nil, err
		}
	}
	for i := range p.Plexes {
		if t.Remote != "" {
			p.Plexes[i].Remote = t.Remote
		}
		if t.Project != "" {
			p.Plexes[i].Project = t.Project
		}
	}
	return p, nil
}

// Plan resolves a spec and compares it with what exists on each plex's Incus
// remote. It never changes anything.
func Plan(ctx context.Context, opts PlanOptions) (*PlanResult, error) {
	p, err := LoadPlan(opts.File, opts.Name, opts.Target)
	if err != nil {
		return nil, err
	}
	res := &PlanResult{Plan: p, Changes: map[string][]plan.Change{}}
	if opts.Offline {
		for _, px := range p.Plexes {
			res.Changes[px.Name] = plan.Diff(px, nil)
			for i := range res.Changes[px.Name] {
				res.Changes[px.Name][i].Action = plan.ActionUnknown
			}
		}
		return res, nil
	}
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		errs []error
	)
	for i := range p.Plexes {
		wg.Add(1)
		go func(px *plan.Plex) {
			defer wg.Done()
			var existing []plan.Existing
			var notes []string
			srv, err := opts.dial(ctx, px.Remote, px.Project)
			if err == nil {
				existing, notes, err = inspectRemote(ctx, srv, px)
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("plex %q: %w (use --offline to plan without looking at Incus)", px.Name, err))
				return
			}
			res.Changes[px.Name] = plan.Diff(*px, existing)
			for _, n := range notes {
				res.Notes = append(res.Notes, px.Name+": "+n)
			}
		}(&p.Plexes[i])
	}
	wg.Wait()
	if len(errs) > 0 {
		return nil, joinErrors(errs)
	}
	sort.Strings(res.Notes)
	return res, nil
}
