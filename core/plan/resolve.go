package plan

import (
	"fmt"
	"sort"
	"strings"

	"github.com/plex-dev/plex/core/spec"
)

// APIServerPort is the port of the Kubernetes API server on control-plane
// nodes.
const APIServerPort = 6443

// ProfilePrefix starts the name of the Incus profile of each node type
// (plex-kube, plex-registry). Every node also gets the "default" profile.
const ProfilePrefix = "plex-"

// Resolve turns a validated spec (see spec.Load) into a plan. It is
// deterministic: the same spec gives the same plan, node for node.
//
//   - Nodes are sorted by index. A node is named plex name + index.
//   - The first ControlPlanes kube indices of groups without role: worker are
//     control-plane nodes, the other kube nodes workers, and registry nodes
//     have role registry.
//   - The address is the node subnet's network + AddressOffset + index.
//   - A kube node's pod CIDR is slice number index of the pod subnet, so a node
//     keeps it when others join or leave.
//   - The image is the group's Image, or "<base>_<type>".
//   - Target is the group's Target; with Targets, the group's nodes in index
//     order take the targets round-robin in the order given.
//   - CPU and Memory come from the limits of the node's type.
//   - Profiles are "default" and "plex-<type>".
//   - Endpoint is the first control-plane node's address and port 6443, or
//     the API VIP's with three control planes.
func Resolve(cfg *spec.Config) (*Plan, error) {
	out := &Plan{Plexes: make([]Plex, 0, len(cfg.Plexes))}
	for i := range cfg.Plexes {
		px, err := resolvePlex(&cfg.Plexes[i])
		if err != nil {
			return nil, fmt.Errorf("plex %s: %w", cfg.Plexes[i].Name, err)
		}
		out.Plexes = append(out.Plexes, px)
	}
	return out, nil
}

func resolvePlex(sp *spec.Plex) (Plex, error) {
	px := Plex{
		Name:              sp.Name,
		Remote:            sp.Remote,
		Project:           sp.Project,
		StoragePool:       sp.StoragePool,
		Network:           sp.Network,
		NetworkMode:       sp.NetworkMode,
		NodeSubnet:        sp.NodeSubnet,
		Gateway:           sp.Gateway,
		PodSubnet:         sp.PodSubnet,
		ServiceSubnet:     sp.ServiceSubnet,
		KubernetesVersion: sp.KubernetesVersion,
		CNI:               sp.CNI,
		CNIManifest:       sp.CNIManifest,
		RegistryMirror:    sp.RegistryMirror,
		ControlPlanes:     sp.ControlPlanes,
		APIVIP:            sp.APIVIP,
	}
	if sp.Flux != nil {
		px.Flux = &Flux{URL: sp.Flux.URL, Branch: sp.Flux.Branch, Path: sp.Flux.Path}
	}

	// Control-plane candidates: kube indices of groups without a role.
	var eligible []int
	for g := range sp.Nodes {
		ng := &sp.Nodes[g]
		indices, err := spec.ParseIndices(ng.Indices)
		if err != nil {
			return Plex{}, fmt.Errorf("nodes[%d].indices: %w", g, err)
		}
		for k, index := range indices {
			n, err := resolveNode(sp, ng, index)
			if err != nil {
				return Plex{}, err
			}
			if len(ng.Targets) > 0 {
				n.Target = ng.Targets[k%len(ng.Targets)]
			}
			if ng.Type == spec.NodeTypeKube && ng.Role == "" {
				eligible = append(eligible, index)
			}
			px.Nodes = append(px.Nodes, n)
		}
	}
	sort.Slice(px.Nodes, func(a, b int) bool { return px.Nodes[a].Index < px.Nodes[b].Index })
	sort.Ints(eligible)
	if len(eligible) > px.ControlPlanes {
		eligible = eligible[:px.ControlPlanes]
	}
	control := map[int]bool{}
	for _, i := range eligible {
		control[i] = true
	}
	for k := range px.Nodes {
		n := &px.Nodes[k]
		if control[n.Index] {
			n.Role = RoleControlPlane
			if px.Endpoint == "" {
				px.Endpoint = fmt.Sprintf("%s:%d", n.Address, APIServerPort)
				if px.APIVIP != "" {
					px.Endpoint = fmt.Sprintf("%s:%d", px.APIVIP, APIServerPort)
				}
			}
		}
	}
	return px, nil
}

// resolveNode resolves everything about a node but its control-plane role and
// a spread target.
func resolveNode(sp *spec.Plex, ng *spec.NodeGroup, index int) (Node, error) {
	n := Node{
		Name:     sp.NodeName(index),
		Index:    index,
		Type:     ng.Type,
		Base:     ng.Base,
		Image:    ng.Image,
		Target:   ng.Target,
		CPU:      sp.Limits[ng.Type].CPU,
		Memory:   sp.Limits[ng.Type].Memory,
		Profiles: []string{"default", ProfilePrefix + ng.Type},
	}
	if n.Image == "" {
		n.Image = spec.ImageAlias(ng.Base, ng.Type)
	}
	addr, err := sp.NodeAddress(index)
	if err != nil {
		return Node{}, fmt.Errorf("node %s: %w", n.Name, err)
	}
	n.Address = addr.String()
	switch ng.Type {
	case spec.NodeTypeKube:
		n.Role = RoleWorker
		cidr, err := sp.PodCIDR(index)
		if err != nil {
			return Node{}, fmt.Errorf("node %s: %w", n.Name, err)
		}
		n.PodCIDR = cidr.String()
	case spec.NodeTypeRegistry:
		n.Role = RoleRegistry
	default:
		return Node{}, fmt.Errorf("node %s: unknown node type %q", n.Name, ng.Type)
	}
	return n, nil
}

// Select returns a plan holding only the plex called name.
func Select(p *Plan, name string) (*Plan, error) {
	names := make([]string, 0, len(p.Plexes))
	for _, px := range p.Plexes {
		if px.Name == name {
			return &Plan{Plexes: []Plex{px}}, nil
		}
		names = append(names, px.Name)
	}
	return nil, fmt.Errorf("no plex named %q in the spec: the plexes are %s", name, strings.Join(names, ", "))
}

// ControlPlaneNodes returns the plex's control-plane nodes in index order; the
// first is the one kubeadm init runs on.
func (px *Plex) ControlPlaneNodes() []Node {
	var out []Node
	for _, n := range px.Nodes {
		if n.Role == RoleControlPlane {
			out = append(out, n)
		}
	}
	return out
}

// Node returns the plex's node called name.
func (px *Plex) Node(name string) (Node, bool) {
	for _, n := range px.Nodes {
		if n.Name == name {
			return n, true
		}
	}
	return Node{}, false
}
