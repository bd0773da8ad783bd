package cloudinit

import (
	"fmt"
	"net/netip"

	"sigs.k8s.io/yaml"

	"github.com/plex-dev/plex/core/plan"
)

// Interface is the NIC of a node, as Incus names it in the container.
const Interface = "eth0"

type networkConfig struct {
	Version   int                 `json:"version"`
	Ethernets map[string]ethernet `json:"ethernets"`
}

type ethernet struct {
	DHCP4       bool         `json:"dhcp4"`
	DHCP6       bool         `json:"dhcp6"`
	Addresses   []string     `json:"addresses"`
	Routes      []route      `json:"routes,omitempty"`
	Nameservers *nameservers `json:"nameservers,omitempty"`
}

type route struct {
	To  string `json:"to"`
	Via string `json:"via"`
}

type nameservers struct {
	Addresses []string `json:"addresses"`
}

// NetworkConfig renders the node's cloud-init network-config (version 2): a
// static address on eth0 in a /prefixLen network, a default route through
// gateway, and the given name servers (none: leave resolv.conf alone).
//
// The default route is there although the networks plex labs run on may
// lead nowhere: a node expects one, and unknown destinations then fail at
// the gateway rather than on the node. It is written as 0.0.0.0/0, since
// Debian 12's cloud-init (22.4) refuses the "default" shorthand.
func NetworkConfig(n plan.Node, gateway string, prefixLen int, nameserverAddrs []string) ([]byte, error) {
	b, err := networkConfigFor(n, gateway, prefixLen, nameserverAddrs)
	if err != nil {
		return nil, fmt.Errorf("rendering the cloud-init network-config of %s: %w", n.Name, err)
	}
	return b, nil
}

func networkConfigFor(n plan.Node, gateway string, prefixLen int, nameserverAddrs []string) ([]byte, error) {
	pfx, gw, err := NodeNetwork(n.Address, gateway, prefixLen)
	if err != nil {
		return nil, err
	}
	eth := ethernet{Addresses: []string{pfx.String()}}
	if gw.IsValid() {
		eth.Routes = []route{{To: "0.0.0.0/0", Via: gw.String()}}
	}
	if len(nameserverAddrs) > 0 {
		ns := &nameservers{}
		for _, s := range nameserverAddrs {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("name server %q is not an IP address", s)
			}
			ns.Addresses = append(ns.Addresses, a.String())
		}
		eth.Nameservers = ns
	}
	return yaml.Marshal(networkConfig{Version: 2, Ethernets: map[string]ethernet{Interface: eth}})
}

// NodeNetwork checks a node's static address, its network's prefix length and
// its gateway (empty: none), and returns the address as a prefix and the
// gateway (the zero Addr when there is none).
func NodeNetwork(address, gateway string, prefixLen int) (netip.Prefix, netip.Addr, error) {
	addr, err := netip.ParseAddr(address)
	if err != nil || !addr.Is4() {
		return netip.Prefix{}, netip.Addr{}, fmt.Errorf("node address %q is not an IPv4 address", address)
	}
	if prefixLen < 1 || prefixLen > 30 {
		return netip.Prefix{}, netip.Addr{}, fmt.Errorf("prefix length %d does not make a node network", prefixLen)
	}
	pfx := netip.PrefixFrom(addr, prefixLen)
	if gateway == "" {
		return pfx, netip.Addr{}, nil
	}
	gw, err := netip.ParseAddr(gateway)
	if err != nil || !gw.Is4() {
		return netip.Prefix{}, netip.Addr{}, fmt.Errorf("gateway %q is not an IPv4 address", gateway)
	}
	if !pfx.Masked().Contains(gw) || gw == addr {
		return netip.Prefix{}, netip.Addr{}, fmt.Errorf("gateway %s is not another address of the node network %s", gw, pfx.Masked())
	}
	return pfx, gw, nil
}
