package plan

import (
	"reflect"
	"strings"
	"testing"

	"github.com/plex-dev/plex/core/spec"
)

// plexFor builds, defaults and validates a one-plex spec around groups.
func plexFor(t *testing.T, edit func(p *spec.Plex), groups ...spec.NodeGroup) Plex {
	t.Helper()
	cfg := &spec.Config{APIVersion: spec.APIVersion, Kind: spec.Kind, Plexes: []spec.Plex{{
		Name:       "omniplex",
		NodeSubnet: "10.212.0.0/24",
		PodSubnet:  "10.212.64.0/18",
		Nodes:      groups,
	}}}
	if edit != nil {
		edit(&cfg.Plexes[0])
	}
	spec.SetDefaults(cfg)
	if err := spec.Validate(cfg); err != nil {
		t.Fatalf("test spec is invalid:\n%v", err)
	}
	p, err := Resolve(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p.Plexes[0]
}

type nodeView struct{ Name, Role, Address, PodCIDR, Target string }

func view(px Plex) []nodeView {
	out := make([]nodeView, len(px.Nodes))
	for i, n := range px.Nodes {
		out[i] = nodeView{n.Name, n.Role, n.Address, n.PodCIDR, n.Target}
	}
	return out
}

func TestResolveRolesAddressesCIDRs(t *testing.T) {
	// Groups out of index order: the plan is sorted by index, and roles follow
	// the index, not the group order.
	px := plexFor(t, nil,
		spec.NodeGroup{Base: "debian12", Type: "registry", Indices: "9"},
		spec.NodeGroup{Base: "debian12", Indices: "3, 5"},
		spec.NodeGroup{Base: "ubuntu2404", Indices: "1"},
	)
	want := []nodeView{
		{"omniplex1", RoleControlPlane, "10.212.0.11", "10.212.65.0/24", ""},
		{"omniplex3", RoleWorker, "10.212.0.13", "10.212.67.0/24", ""},
		{"omniplex5", RoleWorker, "10.212.0.15", "10.212.69.0/24", ""},
		{"omniplex9", RoleRegistry, "10.212.0.19", "", ""},
	}
	if got := view(px); !reflect.DeepEqual(got, want) {
		t.Errorf("nodes:\n got %+v\nwant %+v", got, want)
	}
	if px.Endpoint != "10.212.0.11:6443" {
		t.Errorf("endpoint %q", px.Endpoint)
	}
	n := px.Nodes[0]
	if n.Image != "ubuntu2404_kube" || n.Base != "ubuntu2404" || n.CPU != "2" || n.Memory != "2GiB" ||
		!reflect.DeepEqual(n.Profiles, []string{"default", "plex-kube"}) {
		t.Errorf("omniplex1: %+v", n)
	}
	r := px.Nodes[3]
	if r.Image != "debian12_registry" || r.CPU != "1" || r.Memory != "1GiB" ||
		!reflect.DeepEqual(r.Profiles, []string{"default", "plex-registry"}) {
		t.Errorf("omniplex9: %+v", r)
	}
}

func TestResolveWorkerGroups(t *testing.T) {
	// The lowest kube index is in a worker group, so the control plane is the
	// lowest indices of the other groups.
	px := plexFor(t, func(p *spec.Plex) { p.ControlPlanes = 3 },
		spec.NodeGroup{Base: "debian12", Role: "worker", Indices: "1-2"},
		spec.NodeGroup{Base: "debian12", Indices: "4, 6-8"},
	)
	var roles []string
	for _, n := range px.Nodes {
		roles = append(roles, n.Name+"="+n.Role)
	}
	want := "omniplex1=worker omniplex2=worker omniplex4=control-plane omniplex6=control-plane omniplex7=control-plane omniplex8=worker"
	if got := strings.Join(roles, " "); got != want {
		t.Errorf("roles:\n got %s\nwant %s", got, want)
	}
	// Three control planes: the endpoint is the API VIP, by default the
	// address index 0 would have.
	if px.Endpoint != "10.212.0.10:6443" || px.APIVIP != "10.212.0.10" {
		t.Errorf("endpoint %q (VIP %q), want the default VIP 10.212.0.10:6443", px.Endpoint, px.APIVIP)
	}
	if cp := px.ControlPlaneNodes(); len(cp) != 3 || cp[0].Name != "omniplex4" {
		t.Errorf("ControlPlaneNodes: %+v", cp)
	}
}

func TestResolveSpread(t *testing.T) {
	groups := []spec.NodeGroup{
		{Base: "debian12", Indices: "7, 1-3, 10", Targets: []string{"m2", "m1"}},
		{Base: "debian12", Indices: "20", Target: "@fast"},
	}
	px := plexFor(t, nil, groups...)
	got := map[string]string{}
	for _, n := range px.Nodes {
		got[n.Name] = n.Target
	}
	// Index order 1 2 3 7 10 takes m2 m1 m2 m1 m2, whatever order the indices
	// were written in.
	want := map[string]string{
		"omniplex1": "m2", "omniplex2": "m1", "omniplex3": "m2", "omniplex7": "m1", "omniplex10": "m2",
		"omniplex20": "@fast",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("targets:\n got %v\nwant %v", got, want)
	}
	// Deterministic: resolving again gives the same plan.
	for i := 0; i < 20; i++ {
		if again := plexFor(t, nil, groups...); !reflect.DeepEqual(again, px) {
			t.Fatalf("Resolve is not deterministic:\n%+v\n%+v", again, px)
		}
	}
}

func TestResolveCIDRStableWhenNodesLeave(t *testing.T) {
	before := plexFor(t, nil, spec.NodeGroup{Base: "debian12", Indices: "1-4"})
	after := plexFor(t, nil, spec.NodeGroup{Base: "debian12", Indices: "1, 3-4"})
	cidr := func(px Plex, name string) string {
		n, _ := px.Node(name)
		return n.PodCIDR + " " + n.Address
	}
	for _, name := range []string{"omniplex3", "omniplex4"} {
		if cidr(before, name) != cidr(after, name) {
			t.Errorf("%s changed from %s to %s when omniplex2 left", name, cidr(before, name), cidr(after, name))
		}
	}
}

func TestResolveImageOverrideAndOffset(t *testing.T) {
	px := plexFor(t, func(p *spec.Plex) {
		zero := 0
		p.AddressOffset = &zero
		p.Gateway = "10.212.0.254"
		p.Limits = map[string]spec.Limits{"kube": {CPU: "0-3"}}
	}, spec.NodeGroup{Base: "debian12", Image: "kube-custom", Indices: "1"})
	n := px.Nodes[0]
	if n.Image != "kube-custom" || n.Address != "10.212.0.1" {
		t.Errorf("node %+v", n)
	}
	if n.CPU != "0-3" || n.Memory != "2GiB" {
		t.Errorf("limits %s %s, want the spec's cpu and the default memory", n.CPU, n.Memory)
	}
}

func TestSelect(t *testing.T) {
	p := &Plan{Plexes: []Plex{{Name: "omniplex"}, {Name: "verniplex"}}}
	got, err := Select(p, "verniplex")
	if err != nil || len(got.Plexes) != 1 || got.Plexes[0].Name != "verniplex" {
		t.Fatalf("Select = %+v, %v", got, err)
	}
	_, err = Select(p, "triplex")
	if err == nil || !strings.Contains(err.Error(), "omniplex, verniplex") {
		t.Errorf("Select of an unknown plex: %v, want an error listing the plexes", err)
	}
}
