package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plex-dev/plex/core/spec"
)

// reservedIndices is how many node indices each test plex keeps for itself
// beyond those its spec lists: the tests join workers (index 4, 5) that the
// file does not name.
const reservedIndices = 9

// TestSpecAddressesDisjoint checks that no two plexes that the tests, the
// demo and the examples bring up on the harness bridge can claim one node
// address. Incus refuses to start an instance whose static address another
// instance already has, stopped or not, so a plex that a killed run left
// behind would otherwise fail an unrelated test with "IP address already
// defined on another NIC".
func TestSpecAddressesDisjoint(t *testing.T) {
	cfgs, err := plexSpecs(append(mustGlob(t, "testdata/*.yaml"), "../../examples/omniplex.yaml", "../../examples/labs.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	owner := map[string]string{} // remote/network/address → plex (file)
	checked := 0
	for f, c := range cfgs {
		for i := range c.Plexes {
			p := &c.Plexes[i]
			top := reservedIndices
			for _, g := range p.Nodes {
				idx, err := spec.ParseIndices(g.Indices)
				if err != nil {
					t.Fatalf("%s: plex %s: %v", f, p.Name, err)
				}
				for _, n := range idx {
					top = max(top, n)
				}
			}
			remote := p.Remote
			if remote == "" {
				remote = "local"
			}
			for n := 1; n <= top; n++ {
				a, err := p.NodeAddress(n)
				if err != nil {
					break // the subnet ends before the reserve does
				}
				key := remote + "/" + p.Network + "/" + a.String()
				who := fmt.Sprintf("%s (%s)", p.Name, filepath.Base(f))
				if prev, ok := owner[key]; ok && !strings.HasPrefix(prev, p.Name+" ") {
					t.Errorf("%s on %s: node address %s of %s is also a node address of %s: give one of them another addressOffset",
						p.Network, remote, a, who, prev)
				}
				owner[key] = who
				checked++
			}
		}
	}
	if checked == 0 {
		t.Fatal("no plex specs found under testdata/")
	}
	if !t.Failed() {
		t.Logf("%d node addresses checked, none shared", checked)
	}
}

// plexSpecs loads the PlexConfig files among files, by path; the other
// YAML files there are Kubernetes manifests the tests apply.
func plexSpecs(files []string) (map[string]*spec.Config, error) {
	out := map[string]*spec.Config{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		if !strings.Contains(string(data), "kind: PlexConfig") {
			continue
		}
		c, err := spec.Load(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		out[f] = c
	}
	return out, nil
}

func mustGlob(t *testing.T, pattern string) []string {
	t.Helper()
	m, err := filepath.Glob(pattern)
	if err != nil || len(m) == 0 {
		t.Fatalf("glob %s: %v (%d files)", pattern, err, len(m))
	}
	return m
}
