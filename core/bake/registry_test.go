package bake

import (
	"context"
	"strings"
	"testing"

	"github.com/plex-dev/plex/core/incus"
)

func TestRegistryBakeWithFakeServer(t *testing.T) {
	ctx := context.Background()
	f := newFakeServer()
	var ran []string
	f.exec = func(cmd []string) (string, int) {
		last := cmd[len(cmd)-1]
		ran = append(ran, last)
		if strings.HasSuffix(last, "registry-provision.sh") {
			return "--- apt-get install\nplex-fact distribution-version=2.8.2+ds1-1\n", 0
		}
		return "ok\n", 0
	}
	opts := Options{Type: TypeRegistry, Base: "debian12", AptProxy: "http://10.212.0.1:3142"}
	res, err := Bake(ctx, f, opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Alias != "debian12_registry" || f.aliases["debian12_registry"] != res.Fingerprint {
		t.Fatalf("result %+v, aliases %v", res, f.aliases)
	}
	p := f.images[res.Fingerprint]
	for k, want := range map[string]string{
		incus.PropType: "registry", incus.PropBase: "debian12", incus.PropInputs: res.Inputs,
		PropDistributionVersion: "2.8.2+ds1-1", "os": "Debian",
	} {
		if p[k] != want {
			t.Errorf("image property %s = %q, want %q", k, p[k], want)
		}
	}
	if _, ok := p[incus.PropKubernetesVersion]; ok {
		t.Errorf("a registry image records a Kubernetes version: %v", p)
	}
	joined := strings.Join(ran, " ")
	if strings.Contains(joined, "kube-") || !strings.Contains(joined, "registry-verify.sh") {
		t.Errorf("scripts run: %v", ran)
	}

	// The inputs do not depend on the Kubernetes version, and a re-bake is a
	// cache hit.
	opts.KubernetesVersion = "v1.33.1"
	again, err := Bake(ctx, f, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Cached || again.Inputs != res.Inputs {
		t.Errorf("re-bake: cached=%v inputs %s vs %s", again.Cached, again.Inputs, res.Inputs)
	}
}

func TestRegistryBakeNeedsVersionFact(t *testing.T) {
	f := newFakeServer()
	f.exec = func(cmd []string) (string, int) { return "ok\n", 0 }
	_, err := Bake(context.Background(), f, Options{Type: TypeRegistry, Base: "debian12"})
	if err == nil || !strings.Contains(err.Error(), "no docker-registry version") {
		t.Fatalf("err = %v", err)
	}
	if len(f.instances) != 0 {
		t.Errorf("instances left after a failed bake: %v", f.instances)
	}
}
