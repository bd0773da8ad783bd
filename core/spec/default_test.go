package spec

import (
	"reflect"
	"testing"
)

func TestSetDefaults(t *testing.T) {
	c := &Config{Plexes: []Plex{{
		Name:       "omniplex",
		NodeSubnet: "10.212.0.0/24",
		Flux:       &Flux{URL: "https://example.com/fleet"},
		Limits:     map[string]Limits{"kube": {Memory: "8GiB"}},
		Nodes:      []NodeGroup{{Base: "debian12", Indices: "1"}},
	}}}
	SetDefaults(c)
	off := 10
	want := Plex{
		Name:              "omniplex",
		Project:           "default",
		Network:           "incusbr0",
		NetworkMode:       "managed",
		NodeSubnet:        "10.212.0.0/24",
		Gateway:           "10.212.0.1",
		AddressOffset:     &off,
		PodSubnet:         "10.244.0.0/16",
		NodePodMaskSize:   24,
		ServiceSubnet:     "10.96.0.0/12",
		KubernetesVersion: "v1.34.4",
		ControlPlanes:     1,
		CNI:               "bridge",
		Flux:              &Flux{URL: "https://example.com/fleet", Branch: "main", Path: "clusters/omniplex"},
		Limits: map[string]Limits{
			"kube":     {CPU: "2", Memory: "8GiB"},
			"registry": {CPU: "1", Memory: "1GiB"},
		},
		Nodes: []NodeGroup{{Base: "debian12", Type: "kube", Indices: "1"}},
	}
	if !reflect.DeepEqual(c.Plexes[0], want) {
		t.Errorf("SetDefaults:\n got %+v\nwant %+v", c.Plexes[0], want)
	}
}

func TestSetDefaultsKeepsValues(t *testing.T) {
	zero := 0
	c := &Config{Plexes: []Plex{{
		Name: "x", NodeSubnet: "10.1.2.0/24", Gateway: "10.1.2.254", AddressOffset: &zero,
		Project: "p", Network: "br0", NetworkMode: "bridged", CNI: "manifest",
		Nodes: []NodeGroup{{Type: "registry"}},
	}}}
	SetDefaults(c)
	p := c.Plexes[0]
	if p.Gateway != "10.1.2.254" || *p.AddressOffset != 0 || p.Project != "p" || p.Network != "br0" ||
		p.NetworkMode != "bridged" || p.CNI != "manifest" || p.Nodes[0].Type != "registry" {
		t.Errorf("SetDefaults overwrote a value: %+v", p)
	}
}

func TestSetDefaultsGatewayFromHostBits(t *testing.T) {
	// An invalid subnet is left for Validate; the gateway still comes from
	// its network so that only one error is reported.
	c := &Config{Plexes: []Plex{{NodeSubnet: "10.1.2.7/24"}, {NodeSubnet: "nonsense"}}}
	SetDefaults(c)
	if c.Plexes[0].Gateway != "10.1.2.1" || c.Plexes[1].Gateway != "" {
		t.Errorf("gateways %q, %q", c.Plexes[0].Gateway, c.Plexes[1].Gateway)
	}
}

func TestPlexAddressing(t *testing.T) {
	off := 10
	p := &Plex{Name: "omniplex", NodeSubnet: "10.212.0.0/24", AddressOffset: &off, PodSubnet: "10.212.64.0/18", NodePodMaskSize: 24}
	if n := p.NodeName(12); n != "omniplex12" {
		t.Errorf("NodeName = %s", n)
	}
	if a, err := p.NodeAddress(1); err != nil || a.String() != "10.212.0.11" {
		t.Errorf("NodeAddress(1) = %v, %v", a, err)
	}
	if a, err := p.NodeAddress(244); err != nil || a.String() != "10.212.0.254" {
		t.Errorf("NodeAddress(244) = %v, %v", a, err)
	}
	if _, err := p.NodeAddress(245); err == nil {
		t.Errorf("NodeAddress(245) is the broadcast address, want an error")
	}
	if c, err := p.PodCIDR(3); err != nil || c.String() != "10.212.67.0/24" {
		t.Errorf("PodCIDR(3) = %v, %v", c, err)
	}
	if c, err := p.PodCIDR(63); err != nil || c.String() != "10.212.127.0/24" {
		t.Errorf("PodCIDR(63) = %v, %v", c, err)
	}
	if _, err := p.PodCIDR(64); err == nil {
		t.Errorf("PodCIDR(64) is outside the pod subnet, want an error")
	}
}
