package registry

import (
	"strings"
	"testing"

	"github.com/plex-dev/plex/core/incus"
	"github.com/plex-dev/plex/core/registry/engine"
	"github.com/plex-dev/plex/core/registry/internal/fixture"
)

// labCache is the lab's cache under an engine, as Incus knows it.
func labCache(t *testing.T, eng string) *Cache {
	t.Helper()
	l, err := engine.NewLayout(eng, fixture.LabUpstreams(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	return &Cache{Instance: "omniplex20", Plex: "omniplex", Address: "10.212.0.30", Status: "Running", Layout: l, Pool: "plex", Volume: "omniplex20-cache"}
}

func TestCacheLabelsRoundTrip(t *testing.T) {
	c := labCache(t, engine.EngineDistribution)
	labels, err := c.labels()
	if err != nil {
		t.Fatal(err)
	}
	cfg := map[string]string{incus.LabelManaged: "true", incus.LabelRole: "registry", incus.LabelPlex: "omniplex", incus.LabelAddress: "10.212.0.30"}
	for k, v := range labels {
		cfg[k] = v
	}
	in := incus.Instance{Name: "omniplex20", Status: "Running", Config: cfg}
	got, ok, err := FromInstance(in)
	if !ok || err != nil {
		t.Fatalf("ok=%v err=%v", ok, err)
	}
	if got.Engine != c.Engine || len(got.Endpoints) != 3 || got.Pool != "plex" || got.Volume != "omniplex20-cache" || got.Mirrors(got.Address)["docker.io"] != "http://10.212.0.30:5001" {
		t.Errorf("read back %+v", got)
	}
	// Another plex's cache and a kube node are not this plex's cache.
	kube := incus.Instance{Name: "omniplex1", Config: map[string]string{incus.LabelManaged: "true", incus.LabelRole: "control-plane", incus.LabelPlex: "omniplex"}}
	other := incus.Instance{Name: "x20", Status: "Running", Config: map[string]string{}}
	for k, v := range cfg {
		other.Config[k] = v
	}
	other.Config[incus.LabelPlex] = "other"
	found, err := ForPlex([]incus.Instance{kube, other, in}, "omniplex")
	if err != nil || found == nil || found.Instance != "omniplex20" {
		t.Errorf("ForPlex: %+v %v", found, err)
	}
	if found, err := ForPlex([]incus.Instance{kube}, "omniplex"); found != nil || err != nil {
		t.Errorf("ForPlex without a cache: %+v %v", found, err)
	}
	delete(cfg, LabelEndpoints)
	if _, ok, err := FromInstance(incus.Instance{Name: "omniplex20", Config: cfg}); !ok || err == nil || !strings.Contains(err.Error(), "run it again") {
		t.Errorf("half-made cache: ok=%v err=%v", ok, err)
	}
}
