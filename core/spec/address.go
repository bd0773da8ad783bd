package spec

import (
	"fmt"
	"net/netip"
	"strconv"
)

// The arithmetic that turns a node index into a name, an address and a pod
// CIDR lives here, so that Validate checks exactly what plan.Resolve computes.

// NodeName is the name of node index in plex p: the plex name followed by the
// index (omniplex1).
func (p *Plex) NodeName(index int) string {
	return p.Name + strconv.Itoa(index)
}

// Offset is the plex's AddressOffset, or its default when unset.
func (p *Plex) Offset() int {
	if p.AddressOffset == nil {
		return DefaultAddressOffset
	}
	return *p.AddressOffset
}

// NodeAddress is the static address of node index: the node subnet's network
// address + AddressOffset + index.
func (p *Plex) NodeAddress(index int) (netip.Addr, error) {
	pfx, err := parseIPv4Prefix(p.NodeSubnet)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("nodeSubnet: %w", err)
	}
	n := uint64(p.Offset()) + uint64(index)
	if p.Offset() < 0 || index < 0 || n >= hostCount(pfx)-1 {
		return netip.Addr{}, fmt.Errorf("node index %d with addressOffset %d is outside %s", index, p.Offset(), pfx)
	}
	return nthAddr(pfx, n), nil
}

// PodCIDR is the pod CIDR of kube node index: slice number index of the pod
// subnet cut into /NodePodMaskSize pieces. Deriving it from the index rather
// than from the node's rank keeps a node's CIDR when others join or leave.
func (p *Plex) PodCIDR(index int) (netip.Prefix, error) {
	pfx, err := parseIPv4Prefix(p.PodSubnet)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("podSubnet: %w", err)
	}
	bits := p.NodePodMaskSize
	if bits < pfx.Bits() || bits > 32 {
		return netip.Prefix{}, fmt.Errorf("nodePodMaskSize %d does not fit in %s", bits, pfx)
	}
	if index < 0 || uint64(index) >= sliceCount(pfx, bits) {
		return netip.Prefix{}, fmt.Errorf("%s holds %d /%d pod CIDRs, not enough for index %d", pfx, sliceCount(pfx, bits), bits, index)
	}
	return netip.PrefixFrom(nthAddr(pfx, uint64(index)<<(32-bits)), bits), nil
}

// parseIPv4Prefix accepts an IPv4 CIDR written as its network address.
func parseIPv4Prefix(s string) (netip.Prefix, error) {
	pfx, err := netip.ParsePrefix(s)
	if err != nil || !pfx.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("%q is not an IPv4 CIDR: write one like 10.212.0.0/24", s)
	}
	if pfx.Masked() != pfx {
		return netip.Prefix{}, fmt.Errorf("%s has host bits set: write its network address, %s", s, pfx.Masked())
	}
	return pfx, nil
}

// hostCount is the number of addresses in pfx, network and broadcast included.
func hostCount(pfx netip.Prefix) uint64 {
	return 1 << (32 - pfx.Bits())
}

// sliceCount is how many /bits subnets pfx holds.
func sliceCount(pfx netip.Prefix, bits int) uint64 {
	return 1 << (bits - pfx.Bits())
}

// nthAddr is the address n places after pfx's network address. The caller
// keeps n inside pfx.
func nthAddr(pfx netip.Prefix, n uint64) netip.Addr {
	a := pfx.Addr().As4()
	v := uint64(a[0])<<24 | uint64(a[1])<<16 | uint64(a[2])<<8 | uint64(a[3])
	v += n
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// addrOffset is how many places a is after pfx's network address.
func addrOffset(pfx netip.Prefix, a netip.Addr) uint64 {
	x, y := pfx.Addr().As4(), a.As4()
	u := uint64(x[0])<<24 | uint64(x[1])<<16 | uint64(x[2])<<8 | uint64(x[3])
	v := uint64(y[0])<<24 | uint64(y[1])<<16 | uint64(y[2])<<8 | uint64(y[3])
	return v - u
}
