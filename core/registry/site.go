package registry

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	"github.com/plex-dev/plex/core/incus"
	"github.com/plex-dev/plex/core/plan"
	"github.com/plex-dev/plex/core/spec"
)

// Target says which Incus server and project to use.
type Target struct {
	// IncusConfig is the incus client config.yml; empty means the CLI's.
	IncusConfig string
	// Remote and Project override the spec's (or pick them without a spec).
	Remote, Project string
}

// connect opens the server. It is the concrete one, not a Server: up also
// takes a lock on it (lock.Server).
func (t Target) connect(ctx context.Context, remote, project string) (*incus.Server, error) {
	if t.Remote != "" {
		remote = t.Remote
	}
	if t.Project != "" {
		project = t.Project
	}
	srv, err := incus.Connect(ctx, incus.ConnectOptions{ConfigPath: t.IncusConfig, Remote: remote, Project: project})
	if err != nil {
		return nil, err
	}
	return srv, nil
}

// Placement is where a cache goes when no spec names it.
type Placement struct {
	// Instance is the instance name; default DefaultInstance.
	Instance string
	// Address is the cache's static IPv4 address on Network.
	Address string
	// Network is the managed Incus network; default "incusbr0".
	Network string
	// StoragePool holds the instance and the cache volume; default: the
	// default profile's pool.
	StoragePool string
	// Image is the image alias; default DefaultImage.
	Image string
	// CPU and Memory are the instance's limits; defaults 1 and 1GiB.
	CPU, Memory string
}

// DefaultInstance is the cache instance's name without a spec.
const DefaultInstance = "plex-registry"

// DefaultImage is the image a cache is created from without a spec: what
// `incus plexbake bake registry debian12` publishes.
var DefaultImage = spec.ImageAlias("debian12", spec.NodeTypeRegistry)

// ProfileName is the Incus profile every cache instance gets.
const ProfileName = plan.ProfilePrefix + spec.NodeTypeRegistry

// site is a resolved place for a cache.
type site struct {
	plex     string
	node     plan.Node
	network  string
	bridged  bool
	pool     string
	gateway  string
	bits     int
	remote   string
	project  string
	hosts    []plan.Node
	kube     []plan.Node
	explicit string // the spec's registryMirror (registry.k8s.io), if any
}

// siteFromSpec finds the registry node of a plex in a spec file.
func siteFromSpec(file, name string) (*site, error) {
	// The one loader every verb uses; with no Live it only reads the file.
	loaded, err := plan.Load(context.Background(), plan.Options{File: file})
	if err != nil {
		return nil, err
	}
	p := loaded.Plan
	var withCache []string
	for _, px := range p.Plexes {
		for _, n := range px.Nodes {
			if n.Role == plan.RoleRegistry {
				withCache = append(withCache, px.Name)
				break
			}
		}
	}
	if name == "" {
		if len(withCache) != 1 {
			return nil, fmt.Errorf("%s has %d plexes with a registry node (%s): name the plex", file, len(withCache), strings.Join(withCache, ", "))
		}
		name = withCache[0]
	}
	sel, err := plan.Select(p, name)
	if err != nil {
		return nil, err
	}
	px := sel.Plexes[0]
	s := &site{plex: px.Name, network: px.Network, bridged: px.NetworkMode == spec.NetworkBridged, pool: px.StoragePool,
		gateway: px.Gateway, remote: px.Remote, project: px.Project, hosts: px.Nodes, explicit: px.RegistryMirror}
	found := false
	for _, n := range px.Nodes {
		switch {
		case n.Role == plan.RoleRegistry && !found:
			s.node, found = n, true
		case n.Role == plan.RoleControlPlane || n.Role == plan.RoleWorker:
			s.kube = append(s.kube, n)
		}
	}
	if !found {
		return nil, fmt.Errorf("plex %s has no registry node: add a node group with type: registry (like `- {base: debian12, type: registry, indices: \"20\"}`), or run without -f and give --address", px.Name)
	}
	pfx, err := netip.ParsePrefix(px.NodeSubnet)
	if err != nil {
		return nil, fmt.Errorf("plex %s: nodeSubnet %q: %w", px.Name, px.NodeSubnet, err)
	}
	s.bits = pfx.Bits()
	return s, nil
}

// siteFromPlacement makes a site from flags, asking Incus for the network's
// gateway and prefix.
func siteFromPlacement(ctx context.Context, srv Server, p Placement) (*site, error) {
	if p.Instance == "" {
		p.Instance = DefaultInstance
	}
	if p.Network == "" {
		p.Network = spec.DefaultNetwork
	}
	if p.Image == "" {
		p.Image = DefaultImage
	}
	if p.CPU == "" && p.Memory == "" {
		p.CPU, p.Memory = "1", "1GiB"
	}
	addr, err := netip.ParseAddr(p.Address)
	if err != nil || !addr.Is4() {
		return nil, fmt.Errorf("the cache needs a static IPv4 address: give --address (like 10.212.0.30), or -f SPEC with a registry node")
	}
	gw, err := srv.NetworkIPv4(ctx, p.Network)
	if err != nil {
		return nil, err
	}
	if !gw.Masked().Contains(addr) || addr == gw.Addr() || addr == gw.Masked().Addr() {
		return nil, fmt.Errorf("address %s is not a free host address of network %s (%s)", addr, p.Network, gw.Masked())
	}
	return &site{
		network: p.Network, pool: p.StoragePool, gateway: gw.Addr().String(), bits: gw.Bits(),
		node: plan.Node{
			Name: p.Instance, Type: spec.NodeTypeRegistry, Role: plan.RoleRegistry, Address: addr.String(),
			Image: p.Image, CPU: p.CPU, Memory: p.Memory, Profiles: []string{"default", ProfileName},
		},
	}, nil
}
