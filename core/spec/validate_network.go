package spec

import (
	"fmt"
	"net/netip"
	"strings"
)

// Pod CIDR prefix lengths plex accepts for nodePodMaskSize; a /28 leaves a
// node 14 pod addresses.
const maxNodePodMaskSize = 28

// Service subnets kube-apiserver accepts: at most 20 host bits (a /12), and
// plex wants room for the kubernetes and DNS service addresses at least.
const (
	minServiceBits = 12
	maxServiceBits = 28
)

// subnets are a plex's parsed networks; a zero field failed to parse and has
// been reported.
type subnets struct {
	node, pod, service netip.Prefix
	gateway            netip.Addr
}

// networkFields checks the plex's subnets, gateway and offset on their own and
// against each other.
func (v *validator) networkFields(f string, p *Plex) subnets {
	var s subnets
	var err error
	if p.NodeSubnet == "" {
		v.add(f+".nodeSubnet", "nodeSubnet is required: write the IPv4 subnet of the network the nodes attach to, like 10.212.0.0/24")
	} else if s.node, err = parseIPv4Prefix(p.NodeSubnet); err != nil {
		v.add(f+".nodeSubnet", "%v", err)
	}
	if p.Gateway != "" {
		gw, err := netip.ParseAddr(p.Gateway)
		switch {
		case err != nil || !gw.Is4():
			v.add(f+".gateway", "%q is not an IPv4 address: write one like 10.212.0.1, or leave gateway out to use the node subnet's first address", p.Gateway)
		case s.node.IsValid() && (!s.node.Contains(gw) || gw == s.node.Addr() || addrOffset(s.node, gw) == hostCount(s.node)-1):
			v.add(f+".gateway", "%s is not a host address of nodeSubnet %s: use one, normally the first (%s), or leave gateway out", gw, s.node, nthAddr(s.node, 1))
		default:
			s.gateway = gw
		}
	}
	if p.Offset() < 0 {
		v.add(f+".addressOffset", "addressOffset is %d: it is added to each node index to make the node's address, so use 0 or more (default %d)", p.Offset(), DefaultAddressOffset)
	}

	if s.pod, err = parseIPv4Prefix(p.PodSubnet); err != nil {
		v.add(f+".podSubnet", "%v", err)
		s.pod = netip.Prefix{}
	}
	switch {
	case p.NodePodMaskSize < 1 || p.NodePodMaskSize > maxNodePodMaskSize:
		v.add(f+".nodePodMaskSize", "nodePodMaskSize is %d: use a prefix length up to %d, like %d", p.NodePodMaskSize, maxNodePodMaskSize, DefaultNodePodMaskSize)
	case s.pod.IsValid() && p.NodePodMaskSize < s.pod.Bits():
		v.add(f+".nodePodMaskSize", "nodePodMaskSize %d is shorter than podSubnet %s: a node's pod CIDR must fit in the pod subnet, so use %d to %d", p.NodePodMaskSize, s.pod, s.pod.Bits(), maxNodePodMaskSize)
	}

	if s.service, err = parseIPv4Prefix(p.ServiceSubnet); err != nil {
		v.add(f+".serviceSubnet", "%v", err)
		s.service = netip.Prefix{}
	} else if b := s.service.Bits(); b < minServiceBits || b > maxServiceBits {
		v.add(f+".serviceSubnet", "%s is a /%d: kube-apiserver takes at most a /%d and plex wants at least a /%d; use something like %s", s.service, b, minServiceBits, maxServiceBits, DefaultServiceSubnet)
		s.service = netip.Prefix{}
	}

	// Overlaps are reported on the later field of each pair.
	overlap := func(field string, a netip.Prefix, aName string, b netip.Prefix, bName string) {
		if a.IsValid() && b.IsValid() && a.Overlaps(b) {
			v.add(f+"."+field, "%s %s overlaps %s %s: node, pod and service subnets must not share addresses; pick disjoint ranges", aName, a, bName, b)
		}
	}
	overlap("podSubnet", s.pod, "podSubnet", s.node, "nodeSubnet")
	overlap("serviceSubnet", s.service, "serviceSubnet", s.node, "nodeSubnet")
	overlap("serviceSubnet", s.service, "serviceSubnet", s.pod, "podSubnet")
	return s
}

// nodeAddresses checks that every node of pl gets an address of the node
// subnet that is not the gateway, and records the addresses in pl.
func (v *validator) nodeAddresses(f string, p *Plex, s subnets, pl *planned) {
	if !s.node.IsValid() || p.Offset() < 0 {
		return
	}
	offset := uint64(p.Offset())
	last := pl.nodes[len(pl.nodes)-1].index
	// Addresses run from network+1 to broadcast-1.
	if room := int64(hostCount(s.node)) - 2; int64(offset)+int64(last) > room {
		bits := 30
		for bits > 0 && offset+uint64(last) > (uint64(1)<<(32-bits))-2 {
			bits--
		}
		highest := "no node index"
		if room > int64(offset) {
			highest = fmt.Sprintf("indices up to %d", room-int64(offset))
		}
		v.add(f+".nodeSubnet", "%s has room for %s with addressOffset %d, but %s needs network + %d: use a /%d or larger, or a smaller addressOffset",
			s.node, highest, offset, p.NodeName(last), offset+uint64(last), bits)
	}
	byIndex := map[int]bool{}
	for k := range pl.nodes {
		n := &pl.nodes[k]
		byIndex[n.index] = true
		if a, err := p.NodeAddress(n.index); err == nil {
			n.addr = a.String()
		}
	}
	if s.gateway.IsValid() {
		o := addrOffset(s.node, s.gateway)
		if o > offset && byIndex[int(o-offset)] {
			v.add(f+".gateway", "gateway %s is also the address of %s (network + addressOffset %d + index %d): pick another gateway or addressOffset", s.gateway, p.NodeName(int(o-offset)), offset, o-offset)
		}
	}
}

// podCapacity checks that the pod subnet has a /nodePodMaskSize slice for
// every kube index up to the highest: slice number i is node index i's.
func (v *validator) podCapacity(f string, p *Plex, s subnets, maxKube int) {
	mask := p.NodePodMaskSize
	if !s.pod.IsValid() || mask < s.pod.Bits() || mask > maxNodePodMaskSize {
		return
	}
	if n := sliceCount(s.pod, mask); uint64(maxKube) >= n {
		bits := mask
		for bits > 0 && uint64(maxKube) >= uint64(1)<<(mask-bits) {
			bits--
		}
		v.add(f+".podSubnet", "%s holds %d /%d pod CIDRs, numbered 0-%d by node index, but kube node %s needs number %d: use a /%d or larger podSubnet, or a larger nodePodMaskSize",
			s.pod, n, mask, n-1, p.NodeName(maxKube), maxKube, bits)
	}
}

// acrossPlexes checks what plexes in one file must not share: node names
// (they are hostnames and land in one hosts file) and, on the same remote and
// network, node addresses. The remote is compared as written, so "" and
// "local" count as different remotes.
func (v *validator) acrossPlexes(all []planned) {
	type owner struct {
		plex *Plex
		node string
	}
	names := map[string]owner{}
	addrs := map[string]owner{}
	for _, pl := range all {
		p := pl.plex
		if p.Name == "" {
			continue
		}
		reported := map[string]bool{} // one error per group and kind
		for _, n := range pl.nodes {
			name := p.NodeName(n.index)
			if o, ok := names[name]; ok && !reported["name"+n.field] {
				reported["name"+n.field] = true
				v.add(n.field, "node %s (index %d) is also a node of plex %s: node names must be unique in the file; rename one plex (a plex name that ends in a digit invites this)", name, n.index, o.plex.Name)
			} else if !ok {
				names[name] = owner{p, name}
			}
			if n.addr == "" {
				continue
			}
			key := strings.Join([]string{p.Remote, p.Network, n.addr}, "\x00")
			if o, ok := addrs[key]; ok && !reported["addr"+n.field] {
				reported["addr"+n.field] = true
				v.add(n.field, "%s would get address %s, which %s of plex %s already has on network %s: give the plexes disjoint indices or node subnets", name, n.addr, o.node, o.plex.Name, p.Network)
			} else if !ok {
				addrs[key] = owner{p, name}
			}
		}
	}
}

// apiVIP checks the control plane's virtual IP: only with three control
// planes, inside the node subnet, and no node's or the gateway's address.
func (v *validator) apiVIP(f string, p *Plex, s subnets, pl *planned) {
	if p.APIVIP == "" {
		return
	}
	if p.ControlPlanes != 3 {
		v.add(f+".apiVIP", "apiVIP is only used with controlPlanes: 3: remove it, or set controlPlanes: 3")
		return
	}
	vip, err := netip.ParseAddr(p.APIVIP)
	if err != nil || !vip.Is4() {
		v.add(f+".apiVIP", "%q is not an IPv4 address: write one like 10.212.0.10", p.APIVIP)
		return
	}
	if !s.node.IsValid() {
		return
	}
	if !s.node.Contains(vip) || vip == s.node.Masked().Addr() {
		v.add(f+".apiVIP", "apiVIP %s is not a host address of nodeSubnet %s: pick a free address inside it", vip, s.node)
		return
	}
	if s.gateway.IsValid() && vip == s.gateway {
		v.add(f+".apiVIP", "apiVIP %s is the gateway's address: pick a free address, or raise addressOffset so the default (network + addressOffset) is free", vip)
	}
	for _, n := range pl.nodes {
		if n.addr == vip.String() {
			v.add(f+".apiVIP", "apiVIP %s is also the address of %s: pick an address no node has", vip, p.NodeName(n.index))
		}
	}
}
