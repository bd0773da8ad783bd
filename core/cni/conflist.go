// Package cni renders plex's default pod network, the one that needs no
// container image: a CNI conflist with the bridge and host-local plugins over
// each node's pod CIDR from the plan, and the static routes that carry pod
// traffic between nodes.
//
// The plugins themselves (bridge, host-local, portmap, loopback) come with
// the node image from Debian's containernetworking-plugins.
package cni

import (
	"encoding/json"
	"fmt"
	"net/netip"

	"github.com/plex-dev/plex/core/plan"
)

// ConflistPath is where the conflist goes on a node. containerd loads the
// first file of /etc/cni/net.d in lexical order.
const ConflistPath = "/etc/cni/net.d/10-plex.conflist"

// BridgeName is the Linux bridge the pods of a node hang off.
const BridgeName = "cni0"

type conflist struct {
	CNIVersion string `json:"cniVersion"`
	Name       string `json:"name"`
	Plugins    []any  `json:"plugins"`
}

type bridgePlugin struct {
	Type        string `json:"type"`
	Bridge      string `json:"bridge"`
	IsGateway   bool   `json:"isGateway"`
	HairpinMode bool   `json:"hairpinMode"`
	IPMasq      bool   `json:"ipMasq"`
	IPAM        ipam   `json:"ipam"`
}

type ipam struct {
	Type   string         `json:"type"`
	Ranges [][]ipamRange  `json:"ranges"`
	Routes []ipamRouteDst `json:"routes"`
}

type ipamRange struct {
	Subnet string `json:"subnet"`
}

type ipamRouteDst struct {
	Dst string `json:"dst"`
}

type portmapPlugin struct {
	Type         string          `json:"type"`
	Capabilities map[string]bool `json:"capabilities"`
}

// Conflist renders n's CNI network configuration (for ConflistPath).
//
// Pods get addresses from n.PodCIDR through host-local, behind the cni0
// bridge, which is their gateway. hairpinMode lets a pod reach itself through
// a Service. There is no loopback entry: containerd sets up lo with Debian's
// loopback plugin on its own.
//
// ipMasq is off: the bridge plugin would masquerade everything leaving the
// node's own pod CIDR, pod to pod traffic across nodes included. Pods talk to
// each other with their own addresses, as Kubernetes requires, over the
// routes of Routes on every node; MasqScript masquerades only what leaves the
// plex's pod subnet.
func Conflist(p plan.Plex, n plan.Node) ([]byte, error) {
	if n.PodCIDR == "" {
		return nil, fmt.Errorf("rendering the CNI config of %s: the node has no pod CIDR in the plan", n.Name)
	}
	pc, err := netip.ParsePrefix(n.PodCIDR)
	if err != nil || !pc.Addr().Is4() || pc.Masked() != pc {
		return nil, fmt.Errorf("rendering the CNI config of %s: pod CIDR %q is not an IPv4 network", n.Name, n.PodCIDR)
	}
	if pc.Bits() > 30 {
		return nil, fmt.Errorf("rendering the CNI config of %s: pod CIDR %s leaves no room for pods", n.Name, pc)
	}
	if p.PodSubnet != "" {
		if ps, err := netip.ParsePrefix(p.PodSubnet); err != nil || !ps.Contains(pc.Addr()) || ps.Bits() > pc.Bits() {
			return nil, fmt.Errorf("rendering the CNI config of %s: pod CIDR %s is not inside the pod subnet %q", n.Name, pc, p.PodSubnet)
		}
	}
	c := conflist{
		CNIVersion: "1.0.0",
		Name:       "plex",
		Plugins: []any{
			bridgePlugin{
				Type:        "bridge",
				Bridge:      BridgeName,
				IsGateway:   true,
				HairpinMode: true,
				IPMasq:      false,
				IPAM: ipam{
					Type:   "host-local",
					Ranges: [][]ipamRange{{{Subnet: pc.String()}}},
					Routes: []ipamRouteDst{{Dst: "0.0.0.0/0"}},
				},
			},
			portmapPlugin{Type: "portmap", Capabilities: map[string]bool{"portMappings": true}},
		},
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("rendering the CNI config of %s: %w", n.Name, err)
	}
	return append(b, '\n'), nil
}
