package plan

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/plex-dev/plex/core/spec"
)

// twoPlexes is a spec of plexes a (kube nodes 1-3, registry node 9) and b.
const twoPlexes = `apiVersion: plex.dev/v1alpha1
kind: PlexConfig
plexes:
- name: a
  remote: here
  nodeSubnet: 10.212.0.0/24
  nodes:
  - base: debian12
    indices: "1-3"
  - base: debian12
    type: registry
    indices: "9"
- name: b
  nodeSubnet: 10.213.0.0/24
  nodes:
  - base: debian12
    indices: "1"
`

func writeFile(t *testing.T, content string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "plex.yaml")
	if err := os.WriteFile(f, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestLoadSelectsAndOverrides(t *testing.T) {
	file := writeFile(t, twoPlexes)
	p, err := Load(context.Background(), Options{File: file, Name: "a", Overrides: Overrides{Remote: "there", Project: "lab", Image: "debian12_kube-next"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Plexes) != 1 {
		t.Fatalf("plexes %d, want only a", len(p.Plexes))
	}
	px := p.Plexes[0]
	if px.Remote != "there" || px.Project != "lab" {
		t.Errorf("remote/project %s/%s, want there/lab", px.Remote, px.Project)
	}
	for _, n := range px.Nodes {
		want := "debian12_kube-next"
		if n.Role == RoleRegistry {
			want = "debian12_registry"
		}
		if n.Image != want || n.Placed != "" {
			t.Errorf("%s: image %s, placed %q; want %s, not placed offline", n.Name, n.Image, n.Placed, want)
		}
	}
	if _, err := Load(context.Background(), Options{File: file, Name: "c"}); err == nil || !strings.Contains(err.Error(), "the plexes are a, b") {
		t.Errorf("unknown plex: err = %v", err)
	}
}

func TestLoadPlacesAgainstLive(t *testing.T) {
	var (
		mu   sync.Mutex
		seen = map[string]string{}
	)
	live := func(_ context.Context, px Plex) (Cluster, error) {
		mu.Lock()
		seen[px.Name] = px.Remote
		mu.Unlock()
		if px.Name == "b" {
			return Cluster{Remote: px.Remote}, nil // standalone
		}
		return Cluster{Remote: px.Remote, Members: twoMembers(), Locations: map[string]string{"a2": "m2"}}, nil
	}
	p, err := Load(context.Background(), Options{File: writeFile(t, twoPlexes), Overrides: Overrides{Remote: "cl"}, Live: live})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(seen, map[string]string{"a": "cl", "b": "cl"}) {
		t.Errorf("live saw %v, want both plexes on the overridden remote", seen)
	}
	want := []string{"a1=m1/spread", "a2=m2/exists", "a3=m1/spread", "a9=m2/spread"}
	if got := placed(p.Plexes[0]); !reflect.DeepEqual(got, want) {
		t.Errorf("a placed %v, want %v", got, want)
	}
	if got := placed(p.Plexes[1]); !reflect.DeepEqual(got, []string{"b1=/"}) {
		t.Errorf("b placed %v on a standalone server", got)
	}
}

func TestLoadReportsLiveAndPlacementErrors(t *testing.T) {
	file := writeFile(t, strings.Replace(twoPlexes, `    indices: "1-3"`, `    indices: "1-3"
    target: m7`, 1))
	_, err := Load(context.Background(), Options{File: file, Live: func(_ context.Context, px Plex) (Cluster, error) {
		if px.Name == "b" {
			return Cluster{}, errors.New("connection refused")
		}
		return Cluster{Remote: px.Remote}, nil
	}})
	if err == nil || !strings.Contains(err.Error(), "plex b: connection refused") {
		t.Errorf("live error: err = %v", err)
	}
	_, err = Load(context.Background(), Options{File: file, Name: "a", Live: func(_ context.Context, px Plex) (Cluster, error) {
		return Cluster{Remote: px.Remote}, nil
	}})
	if err == nil || !strings.Contains(err.Error(), `plex a: placing the nodes on incus remote "here"`) || !strings.Contains(err.Error(), `node a1 has target "m7"`) {
		t.Errorf("target on a standalone server: err = %v", err)
	}
}

func TestLoadJoin(t *testing.T) {
	file := writeFile(t, twoPlexes)
	inUse := func(used ...int) func(context.Context, Plex) (Cluster, error) {
		return func(_ context.Context, px Plex) (Cluster, error) { return Cluster{Remote: px.Remote, InUse: used}, nil }
	}
	names := func(px Plex) string {
		var out []string
		for _, n := range px.Nodes {
			out = append(out, n.Name+"="+n.Role)
		}
		return strings.Join(out, " ")
	}
	for _, tc := range []struct {
		name    string
		join    Join
		live    func(context.Context, Plex) (Cluster, error)
		want    string
		wantErr string
	}{
		{name: "indices", join: Join{Indices: "5-6"},
			want: "a1=control-plane a2=worker a3=worker a5=worker a6=worker a9=registry"},
		{name: "an index of the spec is that node", join: Join{Indices: "3"},
			want: "a1=control-plane a2=worker a3=worker a9=registry"},
		{name: "count above the spec", join: Join{Count: 2}, live: inUse(1, 2),
			want: "a1=control-plane a2=worker a3=worker a9=registry a10=worker a11=worker"},
		{name: "count above the remote", join: Join{Count: 1}, live: inUse(1, 2, 12),
			want: "a1=control-plane a2=worker a3=worker a9=registry a13=worker"},
		{name: "count needs live", join: Join{Count: 1}, wantErr: "needs a look at the remote"},
		{name: "bad indices", join: Join{Indices: "4-"}, wantErr: `worker indices "4-"`},
		{name: "outside the subnet", join: Join{Indices: "300"}, wantErr: "adding workers 300 to plex a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := tc.join
			p, err := Load(context.Background(), Options{File: file, Name: "a", Join: &j, Live: tc.live})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := names(p.Plexes[0]); got != tc.want {
				t.Errorf("nodes\n got %s\nwant %s", got, tc.want)
			}
		})
	}
	if _, err := Load(context.Background(), Options{File: file, Join: &Join{Indices: "4"}}); err == nil {
		t.Error("join without a plex name succeeded")
	}
}

// TestLoadSpecIsReadOnce: with Spec, Load reads no file, and a join leaves
// the caller's spec as it was, so that one spec serves several Loads.
func TestLoadSpecIsReadOnce(t *testing.T) {
	file := writeFile(t, twoPlexes)
	cfg, err := spec.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	before := len(cfg.Plexes[0].Nodes)
	for i := 0; i < 2; i++ {
		p, err := Load(context.Background(), Options{File: file, Spec: cfg, Name: "a", Join: &Join{Indices: "5"}})
		if err != nil {
			t.Fatalf("load %d: %v", i+1, err)
		}
		if _, ok := p.Plexes[0].Node("a5"); !ok {
			t.Errorf("load %d: no joined node a5", i+1)
		}
	}
	if got := len(cfg.Plexes[0].Nodes); got != before {
		t.Errorf("the caller's spec has %d node groups after two joins, want %d", got, before)
	}
}
