// Package cluster carries out plex's verbs against Incus: plan, up, join,
// drain, down and status. Each verb is one exported function that takes a
// context and an options struct.
package cluster

import (
	"context"
	"fmt"
	"sort"

	"github.com/plex-dev/plex/core/plan"
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
// overrides, and keeps the named plex (all when name is empty), without
// looking at Incus: plan.Load without Live.
func LoadPlan(file, name string, t Target) (*plan.Plan, error) {
	p, err := plan.Load(context.Background(), plan.Options{File: file, Name: name, Overrides: t.overrides()})
	if err != nil {
		return nil, err
	}
	return p.Plan, nil
}

// overrides are the target's overrides of the spec.
func (t Target) overrides() plan.Overrides {
	return plan.Overrides{Remote: t.Remote, Project: t.Project}
}

// Plan resolves a spec and compares it with what exists on each plex's Incus
// remote. It never changes anything. The plan is the one up acts on: the
// same plan.Load, placed against the same members.
func Plan(ctx context.Context, opts PlanOptions) (*PlanResult, error) {
	rs := newRemotes(opts.Target)
	o := plan.Options{File: opts.File, Name: opts.Name, Overrides: opts.overrides()}
	if !opts.Offline {
		o.Live = func(ctx context.Context, px plan.Plex) (plan.Cluster, error) {
			c, err := rs.live(ctx, px)
			if err != nil {
				return c, fmt.Errorf("%w (use --offline to plan without looking at Incus)", err)
			}
			return c, nil
		}
	}
	p, err := plan.Load(ctx, o)
	if err != nil {
		return nil, err
	}
	res := &PlanResult{Plan: p.Plan, Changes: map[string][]plan.Change{}, Notes: p.Notes}
	for _, px := range p.Plexes {
		var existing []plan.Existing
		for _, in := range rs.lists[px.Name] {
			existing = append(existing, plan.Existing{Name: in.Name, Status: in.Status, Location: in.Location, Plex: in.Plex(), Managed: in.Managed()})
		}
		res.Changes[px.Name] = plan.Diff(px, existing)
		if opts.Offline {
			for i := range res.Changes[px.Name] {
				res.Changes[px.Name][i].Action = plan.ActionUnknown
			}
		}
	}
	sort.Strings(res.Notes)
	return res, nil
}
