package plan

import (
	"reflect"
	"strings"
	"testing"

	"github.com/plex-dev/plex/core/spec"
)

func twoMembers() []Member {
	return []Member{
		{Name: "m2", Status: "Online", Groups: []string{"default", "g2"}},
		{Name: "m1", Status: "Online", Groups: []string{"default"}},
	}
}

// placed returns "name=member/placed" per node, in plan order.
func placed(px Plex) []string {
	out := make([]string, len(px.Nodes))
	for i, n := range px.Nodes {
		out[i] = n.Name + "=" + n.Target + "/" + n.Placed
	}
	return out
}

func kube(indices string, edit ...func(*spec.NodeGroup)) spec.NodeGroup {
	g := spec.NodeGroup{Base: "debian12", Indices: indices}
	for _, e := range edit {
		e(&g)
	}
	return g
}

func target(t string) func(*spec.NodeGroup) { return func(g *spec.NodeGroup) { g.Target = t } }
func targets(t ...string) func(*spec.NodeGroup) {
	return func(g *spec.NodeGroup) { g.Targets = t }
}
func worker(g *spec.NodeGroup) { g.Role = "worker" }

func TestPlace(t *testing.T) {
	three := append(twoMembers(), Member{Name: "m3", Status: "Online", Groups: []string{"default"}})
	tests := []struct {
		name      string
		groups    []spec.NodeGroup
		members   []Member
		locations map[string]string
		want      []string
		notes     int
	}{{
		name:    "no placement spreads round-robin by index",
		groups:  []spec.NodeGroup{kube("1-5")},
		members: twoMembers(),
		want: []string{"omniplex1=m1/spread", "omniplex2=m2/spread", "omniplex3=m1/spread",
			"omniplex4=m2/spread", "omniplex5=m1/spread"},
	}, {
		name:    "spread fills around pinned nodes",
		groups:  []spec.NodeGroup{kube("1", target("m1")), kube("2-3", worker), kube("4", worker, target("m1"))},
		members: three,
		// m1 holds two pinned nodes, so the spread goes to m2 and m3 first.
		want: []string{"omniplex1=m1/spec", "omniplex2=m2/spread", "omniplex3=m3/spread", "omniplex4=m1/spec"},
	}, {
		name:    "targets list round-robin in the order given",
		groups:  []spec.NodeGroup{kube("1-3", targets("m2", "m1"))},
		members: twoMembers(),
		want:    []string{"omniplex1=m2/spec", "omniplex2=m1/spec", "omniplex3=m2/spec"},
	}, {
		name:    "cluster group picks its least-loaded online member",
		groups:  []spec.NodeGroup{kube("1"), kube("2-3", worker, target("@default")), kube("4", worker, target("@g2"))},
		members: three,
		want:    []string{"omniplex1=m1/spread", "omniplex2=m2/@default", "omniplex3=m3/@default", "omniplex4=m2/@g2"},
	}, {
		name:    "offline members take no spread nodes",
		groups:  []spec.NodeGroup{kube("1-3")},
		members: []Member{{Name: "m1", Status: "Offline"}, {Name: "m2", Status: "Online"}, {Name: "m3", Status: "Evacuated"}},
		want:    []string{"omniplex1=m2/spread", "omniplex2=m2/spread", "omniplex3=m2/spread"},
	}, {
		name:      "existing nodes stay and count",
		groups:    []spec.NodeGroup{kube("1-4")},
		members:   twoMembers(),
		locations: map[string]string{"omniplex1": "m2", "omniplex2": "m2", "other": "m1"},
		want:      []string{"omniplex1=m2/exists", "omniplex2=m2/exists", "omniplex3=m1/spread", "omniplex4=m1/spread"},
	}, {
		name:      "an existing node elsewhere than its pin gives a note",
		groups:    []spec.NodeGroup{kube("1", target("m1"))},
		members:   twoMembers(),
		locations: map[string]string{"omniplex1": "m2"},
		want:      []string{"omniplex1=m2/exists"},
		notes:     1,
	}, {
		name:      "standalone: no targets, nothing to place",
		groups:    []spec.NodeGroup{kube("1-2")},
		locations: map[string]string{"omniplex1": "none"},
		want:      []string{"omniplex1=/", "omniplex2=/"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			px := plexFor(t, nil, tt.groups...)
			notes, err := Place(&px, Cluster{Remote: "lab", Members: tt.members, Locations: tt.locations})
			if err != nil {
				t.Fatal(err)
			}
			if got := placed(px); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("placement:\n got %v\nwant %v", got, tt.want)
			}
			if len(notes) != tt.notes {
				t.Errorf("notes: %q, want %d", notes, tt.notes)
			}
			// Deterministic: placing the same plan again gives the same result.
			again := plexFor(t, nil, tt.groups...)
			if _, err := Place(&again, Cluster{Remote: "lab", Members: tt.members, Locations: tt.locations}); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(placed(again), placed(px)) {
				t.Errorf("second placement differs: %v vs %v", placed(again), placed(px))
			}
		})
	}
}

func TestPlaceEvenSpreadIsBalanced(t *testing.T) {
	members := []Member{{Name: "c", Status: "Online"}, {Name: "a", Status: "Online"}, {Name: "b", Status: "Online"}}
	px := plexFor(t, nil, kube("1-3, 5, 8-12"))
	if _, err := Place(&px, Cluster{Members: members}); err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, n := range px.Nodes {
		count[n.Target]++
	}
	if !reflect.DeepEqual(count, map[string]int{"a": 3, "b": 3, "c": 3}) {
		t.Errorf("9 nodes over 3 members: %v", count)
	}
	if px.Nodes[0].Target != "a" || px.Nodes[1].Target != "b" || px.Nodes[2].Target != "c" {
		t.Errorf("the first nodes take the members in name order: %v", placed(px))
	}
}

func TestPlaceErrors(t *testing.T) {
	tests := []struct {
		name      string
		groups    []spec.NodeGroup
		members   []Member
		locations map[string]string
		want      []string // substrings, every one must appear
	}{{
		name:    "unknown member",
		groups:  []spec.NodeGroup{kube("1", target("m9"))},
		members: twoMembers(),
		want:    []string{`node omniplex1: target "m9" is not a member`, "members: m1, m2"},
	}, {
		name:    "unknown member in targets",
		groups:  []spec.NodeGroup{kube("1-2", targets("m1", "m7"))},
		members: twoMembers(),
		want:    []string{`node omniplex2: target "m7" is not a member`},
	}, {
		name:    "offline member",
		groups:  []spec.NodeGroup{kube("1", target("m2"))},
		members: []Member{{Name: "m1", Status: "Online"}, {Name: "m2", Status: "Offline", Message: "No heartbeat for 30s"}},
		want:    []string{"node omniplex1: member m2 is OFFLINE (No heartbeat for 30s)"},
	}, {
		name:    "unknown group",
		groups:  []spec.NodeGroup{kube("1", target("@gpu"))},
		members: twoMembers(),
		want:    []string{`no cluster group "gpu"`, "groups: default, g2"},
	}, {
		name:    "group with no online member",
		groups:  []spec.NodeGroup{kube("1", target("@g2"))},
		members: []Member{{Name: "m1", Status: "Online"}, {Name: "m2", Status: "Offline", Groups: []string{"g2"}}},
		want:    []string{"no member of cluster group g2 is online (m2: OFFLINE)"},
	}, {
		name:    "every member offline",
		groups:  []spec.NodeGroup{kube("1")},
		members: []Member{{Name: "m1", Status: "Offline"}},
		want:    []string{"no member of the cluster", "nowhere to place 1 node(s)"},
	}, {
		name:      "existing node on an offline member",
		groups:    []spec.NodeGroup{kube("1-2")},
		members:   []Member{{Name: "m1", Status: "Online"}, {Name: "m2", Status: "Offline"}},
		locations: map[string]string{"omniplex2": "m2"},
		want:      []string{"node omniplex2 is on member m2, which is OFFLINE"},
	}, {
		name:   "target on a standalone server",
		groups: []spec.NodeGroup{kube("1", target("m1"))},
		want:   []string{`node omniplex1 has target "m1", but incus remote "lab" is not a cluster`},
	}, {
		name:    "every error at once",
		groups:  []spec.NodeGroup{kube("1", target("m9")), kube("2", worker, target("@nope"))},
		members: twoMembers(),
		want:    []string{`"m9"`, `"nope"`},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			px := plexFor(t, nil, tt.groups...)
			_, err := Place(&px, Cluster{Remote: "lab", Members: tt.members, Locations: tt.locations})
			if err == nil {
				t.Fatalf("no error; placement %v", placed(px))
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q:\n%v", w, err)
				}
			}
		})
	}
}
