package spec

import (
	"net/netip"
	"path"
)

// Defaults that SetDefaults fills in.
const (
	// DefaultKubernetesVersion is the Kubernetes version plex is tested with.
	DefaultKubernetesVersion = "v1.34.4"
	DefaultProject           = "default"
	DefaultNetwork           = "incusbr0"
	DefaultAddressOffset     = 10
	DefaultPodSubnet         = "10.244.0.0/16"
	DefaultNodePodMaskSize   = 24
	DefaultServiceSubnet     = "10.96.0.0/12"
	DefaultControlPlanes     = 1
	DefaultFluxBranch        = "main"
)

// DefaultLimits are the limits of a node type when the spec gives none. A
// spec's limits are merged into these field by field, so writing only a
// memory limit keeps the default CPU limit.
var DefaultLimits = map[string]Limits{
	NodeTypeKube:     {CPU: "2", Memory: "2GiB"},
	NodeTypeRegistry: {CPU: "1", Memory: "1GiB"},
}

// SetDefaults fills in every optional field that is empty. It leaves invalid
// values alone for Validate to report, and never fails. NodeSubnet has no
// default: it has to match the network the nodes attach to, so the spec says it.
func SetDefaults(c *Config) {
	for i := range c.Plexes {
		setPlexDefaults(&c.Plexes[i])
	}
}

func setPlexDefaults(p *Plex) {
	setString(&p.Project, DefaultProject)
	setString(&p.Network, DefaultNetwork)
	setString(&p.NetworkMode, NetworkManaged)
	if p.AddressOffset == nil {
		off := DefaultAddressOffset
		p.AddressOffset = &off
	}
	if p.Gateway == "" {
		if pfx, err := netip.ParsePrefix(p.NodeSubnet); err == nil && pfx.Addr().Is4() && pfx.Bits() < 31 {
			p.Gateway = nthAddr(pfx.Masked(), 1).String()
		}
	}
	setString(&p.PodSubnet, DefaultPodSubnet)
	if p.NodePodMaskSize == 0 {
		p.NodePodMaskSize = DefaultNodePodMaskSize
	}
	setString(&p.ServiceSubnet, DefaultServiceSubnet)
	setString(&p.KubernetesVersion, DefaultKubernetesVersion)
	if p.ControlPlanes == 0 {
		p.ControlPlanes = DefaultControlPlanes
	}
	if p.ControlPlanes == 3 && p.APIVIP == "" {
		if a, err := p.NodeAddress(0); err == nil {
			p.APIVIP = a.String()
		}
	}
	setString(&p.CNI, CNIBridge)
	if p.Flux != nil {
		setString(&p.Flux.Branch, DefaultFluxBranch)
		setString(&p.Flux.Path, path.Join("clusters", p.Name))
	}
	if p.Limits == nil {
		p.Limits = map[string]Limits{}
	}
	for typ, def := range DefaultLimits {
		l := p.Limits[typ]
		setString(&l.CPU, def.CPU)
		setString(&l.Memory, def.Memory)
		p.Limits[typ] = l
	}
	for i := range p.Nodes {
		setString(&p.Nodes[i].Type, NodeTypeKube)
	}
}

func setString(s *string, def string) {
	if *s == "" {
		*s = def
	}
}
