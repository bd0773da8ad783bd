package cluster

import (
	"context"
	"fmt"
	"sort"
	"strconv"

	"github.com/plex-dev/plex/core/incus"
	"github.com/plex-dev/plex/core/plan"
)

// livePlex is a plex as Incus knows it: its instances and, from their labels,
// the plan facts plex recorded when it made them. Verbs that act on a running
// plex (join, drain, status) start here, so Incus stays the only source of
// truth.
type livePlex struct {
	Name      string
	Instances []incus.Instance
	// Plex has the plex-wide facts (pod subnet, CNI) and Nodes, one per
	// instance, sorted by index.
	Plex plan.Plex
}

// discover reads one plex's instances from a server. It fails when the plex
// has no instances there.
func discover(ctx context.Context, srv Incus, name string) (*livePlex, error) {
	list, err := srv.ListInstances(ctx)
	if err != nil {
		return nil, err
	}
	lp := &livePlex{Name: name, Plex: plan.Plex{Name: name}}
	for _, in := range list {
		if in.Plex() != name {
			continue
		}
		lp.Instances = append(lp.Instances, in)
		lp.Plex.Nodes = append(lp.Plex.Nodes, liveNode(in))
		if s := in.Config[incus.LabelPodSubnet]; s != "" {
			lp.Plex.PodSubnet = s
		}
		if s := in.Config[incus.LabelCNI]; s != "" {
			lp.Plex.CNI = s
		}
	}
	if len(lp.Instances) == 0 {
		return nil, fmt.Errorf("no instances of plex %q on incus remote %q (project %q); is the name right, and is it the right remote (--remote)?", name, srv.Remote(), srv.Project())
	}
	sort.Slice(lp.Plex.Nodes, func(a, b int) bool { return lp.Plex.Nodes[a].Index < lp.Plex.Nodes[b].Index })
	return lp, nil
}

// liveNode is the node an instance's labels describe.
func liveNode(in incus.Instance) plan.Node {
	idx, _ := strconv.Atoi(in.Config[incus.LabelIndex])
	return plan.Node{
		Name:    in.Name,
		Index:   idx,
		Type:    in.Config[incus.LabelType],
		Role:    in.Config[incus.LabelRole],
		Address: in.Config[incus.LabelAddress],
		PodCIDR: in.Config[incus.LabelPodCIDR],
		Target:  in.Location,
	}
}

// runningControlPlane is a running control-plane node of the plex.
func (lp *livePlex) runningControlPlane() (string, error) {
	for _, in := range lp.Instances {
		if in.Config[incus.LabelRole] == plan.RoleControlPlane && in.Status == "Running" {
			return in.Name, nil
		}
	}
	return "", fmt.Errorf("plex %s has no running control-plane node; start it with `kubectl plex up`", lp.Name)
}

// findNode finds which plex a node belongs to, by its instance labels.
func findNode(ctx context.Context, srv Incus, node string) (string, error) {
	in, err := srv.GetInstance(ctx, node)
	if err != nil {
		if incus.IsNotFound(err) {
			return "", fmt.Errorf("no instance %q on incus remote %q (project %q)", node, srv.Remote(), srv.Project())
		}
		return "", err
	}
	if in.Plex() == "" {
		return "", fmt.Errorf("instance %s was not made by plex (no %s label); plex will not touch it", node, incus.LabelManaged)
	}
	return in.Plex(), nil
}
