package registry

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/plex-dev/plex/core/incus"
	"github.com/plex-dev/plex/core/plan"
	"github.com/plex-dev/plex/core/registry/engine"
	"github.com/plex-dev/plex/core/spec"
	"github.com/plex-dev/plex/core/status"
)

// Names of the cache up makes on the fake without a spec.
const (
	fakeInstance = DefaultInstance
	fakeVolume   = "default/" + DefaultInstance + "-cache"
)

// placedSite is a cache without a spec at 10.212.0.30 on the fake's network.
func placedSite(t *testing.T, f *fakeServer) *site {
	t.Helper()
	st, err := siteFromPlacement(context.Background(), f, Placement{Address: "10.212.0.30", Network: "plexbr0"})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// plexSite is the registry node lab20 of plex lab, whose kube node lab1
// runs.
func plexSite(f *fakeServer) *site {
	f.instances["lab1"] = &incus.Instance{Name: "lab1", Status: "Running", Config: map[string]string{
		incus.LabelManaged: "true", incus.LabelPlex: "lab", incus.LabelRole: plan.RoleControlPlane}}
	cache := plan.Node{Name: "lab20", Index: 20, Type: spec.NodeTypeRegistry, Role: plan.RoleRegistry, Address: "10.212.0.30",
		Image: DefaultImage, Profiles: []string{"default", ProfileName}}
	kube := plan.Node{Name: "lab1", Index: 1, Type: spec.NodeTypeKube, Role: plan.RoleControlPlane, Address: "10.212.0.11"}
	return &site{plex: "lab", node: cache, network: "plexbr0", gateway: "10.212.0.1", bits: 24,
		hosts: []plan.Node{kube, cache}, kube: []plan.Node{kube}}
}

// upOn runs up on the fake with the distribution engine (no Zot to fetch),
// and a kubeconfig without the plex's context.
func upOn(t *testing.T, f *fakeServer, st *site, o UpOptions) (*UpResult, string, error) {
	t.Helper()
	if o.Engine == "" {
		o.Engine = engine.EngineDistribution
	}
	layout, err := engine.NewLayout(o.Engine, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	o.Kubeconfig = filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(o.Kubeconfig, []byte("apiVersion: v1\nkind: Config\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	o.Log = status.New(&out)
	res, err := up(context.Background(), f, st, layout, o, nil)
	return res, out.String(), err
}

// TestUpFailureRemovesWhatItMade forces a failure at each point of up and
// checks that exactly what that run created is removed, newest first (or
// kept, with Retain), that a cache volume the run found is never removed,
// and that a failure once the cache is made leaves the cache alone.
func TestUpFailureRemovesWhatItMade(t *testing.T) {
	boom := errors.New("boom")
	oldVolume := func(f *fakeServer) {
		f.volumes[fakeVolume] = &incus.Volume{Pool: "default", Name: DefaultInstance + "-cache",
			Config: map[string]string{incus.LabelManaged: "true", LabelCacheInstance: fakeInstance}}
	}
	for _, tt := range []struct {
		name    string
		before  func(*fakeServer)
		site    func(*testing.T, *fakeServer) *site
		failAt  string
		retain  bool
		undone  []string // the deletions after the failure, in order
		left    []string // instances and volumes left, sorted
		message string
	}{
		{
			name: "creating the instance", failAt: "create instance " + fakeInstance,
			undone: []string{"delete volume " + fakeVolume}, left: nil,
			message: "removed the 1 volume(s) this run made",
		},
		{
			name: "starting", failAt: "start " + fakeInstance,
			undone: []string{"delete instance " + fakeInstance, "delete volume " + fakeVolume}, left: nil,
			message: "removed the 1 volume(s) and 1 instance(s) this run made",
		},
		{
			name: "configuring", failAt: "provision " + fakeInstance,
			undone: []string{"delete instance " + fakeInstance, "delete volume " + fakeVolume}, left: nil,
			message: "removed the 1 volume(s) and 1 instance(s) this run made",
		},
		{
			name: "configuring over a kept volume", before: oldVolume, failAt: "provision " + fakeInstance,
			undone: []string{"delete instance " + fakeInstance}, left: []string{fakeVolume},
			message: "removed the 1 instance(s) this run made",
		},
		{
			name: "configuring with retain", failAt: "provision " + fakeInstance, retain: true,
			undone: nil, left: []string{fakeVolume, fakeInstance},
			message: "--retain: kept the 1 volume(s) and 1 instance(s) this run made",
		},
		{
			name: "recording the layout", failAt: "label " + fakeInstance,
			undone: []string{"delete instance " + fakeInstance, "delete volume " + fakeVolume}, left: nil,
			message: "removed the 1 volume(s) and 1 instance(s) this run made",
		},
		{
			name: "pointing the nodes, once the cache is made", site: func(_ *testing.T, f *fakeServer) *site { return plexSite(f) },
			failAt: "push lab1:/etc/containerd/certs.d/docker.io/hosts.toml",
			undone: nil, left: []string{"default/lab20-cache", "lab1", "lab20"},
			message: "boom",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeServer()
			if tt.before != nil {
				tt.before(f)
			}
			st := placedSite(t, f)
			if tt.site != nil {
				st = tt.site(t, f)
			}
			f.failAt, f.failure = tt.failAt, boom
			_, log, err := upOn(t, f, st, UpOptions{Retain: tt.retain})
			if !errors.Is(err, boom) || !strings.Contains(err.Error(), tt.message) {
				t.Fatalf("err = %v, want boom and %q\n%s", err, tt.message, log)
			}
			i := slices.Index(f.ops, tt.failAt)
			if i < 0 {
				t.Fatalf("never reached %q: %v", tt.failAt, f.ops)
			}
			var undone []string
			for _, op := range f.ops[i+1:] {
				if strings.HasPrefix(op, "delete ") {
					undone = append(undone, op)
				}
			}
			if !slices.Equal(undone, tt.undone) {
				t.Errorf("undone after the failure: %q, want %q (all: %q)", undone, tt.undone, f.ops[i+1:])
			}
			instances, volumes := f.names()
			left := append(instances, volumes...)
			slices.Sort(left)
			if !slices.Equal(left, tt.left) {
				t.Errorf("left %q, want %q\n%s", left, tt.left, log)
			}
			if !f.profiles[ProfileName] {
				t.Errorf("profile %s, shared by every cache, was not left", ProfileName)
			}
		})
	}
}

// TestUpCreatesThenAdopts brings a Zot cache up on the fake, then again: the
// second run creates nothing and changes nothing.
func TestUpCreatesThenAdopts(t *testing.T) {
	zot := filepath.Join(t.TempDir(), "zot")
	if err := os.WriteFile(zot, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	f := newFakeServer()
	st := plexSite(f)
	o := UpOptions{Engine: engine.EngineZot, ZotBinary: zot}
	res, log, err := upOn(t, f, st, o)
	if err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	if !res.Created || !slices.Equal(res.Nodes, []string{"lab1"}) || !strings.Contains(res.ConfigMap, "has no kubeconfig context") {
		t.Errorf("result %+v", res)
	}
	for _, want := range []string{"✓ creating cache volume lab20-cache in pool default", "✓ creating lab20 (10.212.0.30, zot)", "✓ waiting for lab20 to boot with 10.212.0.30",
		"✓ installing zot (" + zot + ") in lab20", "✓ recording the cache layout on lab20", "✓ pointing 1 running node(s) at the cache: lab1"} {
		if !strings.Contains(log, want) {
			t.Errorf("no %q in\n%s", want, log)
		}
	}
	in, _ := f.GetInstance(context.Background(), "lab20")
	c, ok, err := FromInstance(*in)
	if !ok || err != nil || c.Engine != engine.EngineZot || c.Pool != "default" || c.Volume != "lab20-cache" || !c.Running() {
		t.Errorf("cache as Incus knows it: %+v %v %v", c, ok, err)
	}
	if h := f.files["lab1:/etc/containerd/certs.d/registry.k8s.io/hosts.toml"]; !strings.Contains(h, "http://10.212.0.30:5000/v2/registry.k8s.io") {
		t.Errorf("lab1's hosts.toml for registry.k8s.io:\n%s", h)
	}

	f.ops = nil
	res, log, err = upOn(t, f, st, o)
	if err != nil {
		t.Fatalf("re-run: %v\n%s", err, log)
	}
	if res.Created || len(res.Changed) != 0 {
		t.Errorf("re-run created %v, changed %v", res.Created, res.Changed)
	}
	for _, op := range f.ops {
		if strings.HasPrefix(op, "create ") || strings.HasPrefix(op, "start ") || strings.HasPrefix(op, "label ") || op == "push lab20:"+engine.ZotBinary {
			t.Errorf("re-run did %s", op)
		}
	}
}

// TestUpRefusesBeforeChanging checks that what up cannot adopt is refused
// before anything is made.
func TestUpRefusesBeforeChanging(t *testing.T) {
	for _, tt := range []struct {
		name   string
		before func(*fakeServer)
		want   string
	}{
		{"missing image", func(f *fakeServer) { f.images = map[string]bool{} }, "bake it with `incus plexbake bake registry debian12`"},
		{"foreign instance", func(f *fakeServer) {
			f.instances[fakeInstance] = &incus.Instance{Name: fakeInstance, Status: "Running", Config: map[string]string{}}
		}, "plex did not create it as this cache"},
		{"foreign volume", func(f *fakeServer) {
			f.volumes[fakeVolume] = &incus.Volume{Pool: "default", Name: DefaultInstance + "-cache", Config: map[string]string{}}
		}, "is not plex-registry's cache volume"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeServer()
			tt.before(f)
			_, log, err := upOn(t, f, placedSite(t, f), UpOptions{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if len(f.ops) != 0 || log != "" {
				t.Errorf("changed %v before refusing:\n%s", f.ops, log)
			}
		})
	}
}

// Load refuses what it cannot do before it looks for a cache.
func TestLoadBadInput(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		o    LoadOptions
		want string
	}{
		{LoadOptions{}, "nothing to load: name an OCI layout directory or an image tarball"},
		{LoadOptions{Sources: []string{"x"}, Username: "ci"}, "give both a user name and a password, or neither"},
		{LoadOptions{Sources: []string{"x"}, Password: "pw"}, "give both a user name and a password, or neither"},
	} {
		if _, err := Load(ctx, tt.o); err == nil || err.Error() != tt.want {
			t.Errorf("%+v: %v, want %q", tt.o, err, tt.want)
		}
	}
}
