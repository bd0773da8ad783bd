package registry

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/plex-dev/plex/core/incus"
	"github.com/plex-dev/plex/core/registry/engine"
)

// fakeServer is an in-memory Incus for up's control flow: instances,
// volumes, profiles and images, commands answered as a booted cache would,
// and a failure injected at a chosen operation.
type fakeServer struct {
	mu        sync.Mutex
	instances map[string]*incus.Instance
	volumes   map[string]*incus.Volume // "pool/name"
	profiles  map[string]bool
	images    map[string]bool
	files     map[string]string // "instance:path" → content
	// failAt fails the operation of that name (see op) with failure.
	failAt  string
	failure error
	// ops are the operations done, in order.
	ops []string
}

func newFakeServer() *fakeServer {
	return &fakeServer{
		instances: map[string]*incus.Instance{},
		volumes:   map[string]*incus.Volume{},
		profiles:  map[string]bool{},
		images:    map[string]bool{DefaultImage: true},
		files:     map[string]string{},
	}
}

// op records an operation and returns the injected failure when it is the
// one to fail. Callers hold mu.
func (f *fakeServer) op(format string, a ...any) error {
	name := fmt.Sprintf(format, a...)
	f.ops = append(f.ops, name)
	if f.failAt != "" && name == f.failAt {
		return f.failure
	}
	return nil
}

func notFound(what string) error { return fmt.Errorf("%s: %w", what, incus.ErrNotFound) }

func (f *fakeServer) ListInstances(context.Context) ([]incus.Instance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []incus.Instance
	for _, in := range f.instances {
		out = append(out, *in)
	}
	slices.SortFunc(out, func(a, b incus.Instance) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func (f *fakeServer) GetInstance(_ context.Context, name string) (*incus.Instance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	in, ok := f.instances[name]
	if !ok {
		return nil, notFound("instance " + name)
	}
	c := *in
	c.Config = map[string]string{}
	for k, v := range in.Config {
		c.Config[k] = v
	}
	return &c, nil
}

func (f *fakeServer) ImageByAlias(_ context.Context, alias string) (*incus.Image, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.images[alias] {
		return nil, notFound("image " + alias)
	}
	return &incus.Image{Fingerprint: "fp-" + alias, Aliases: []string{alias}}, nil
}

func (f *fakeServer) EnsureProfile(_ context.Context, p incus.Profile) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.op("ensure profile %s", p.Name); err != nil {
		return err
	}
	f.profiles[p.Name] = true
	return nil
}

func (f *fakeServer) CreateInstance(_ context.Context, spec incus.InstanceSpec) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.op("create instance %s", spec.Name); err != nil {
		return err
	}
	if _, ok := f.instances[spec.Name]; ok {
		return fmt.Errorf("instance %s exists", spec.Name)
	}
	if d := spec.Devices["cache"]; d != nil {
		if _, ok := f.volumes[d["pool"]+"/"+d["source"]]; !ok {
			return fmt.Errorf("volume %s/%s does not exist", d["pool"], d["source"])
		}
	}
	cfg := map[string]string{}
	for k, v := range spec.Config {
		cfg[k] = v
	}
	f.instances[spec.Name] = &incus.Instance{Name: spec.Name, Status: "Stopped", Config: cfg}
	return nil
}

func (f *fakeServer) Start(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.op("start %s", name); err != nil {
		return err
	}
	in, ok := f.instances[name]
	if !ok {
		return notFound("instance " + name)
	}
	in.Status = "Running"
	return nil
}

func (f *fakeServer) Delete(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.op("delete instance %s", name); err != nil {
		return err
	}
	delete(f.instances, name)
	return nil
}

// Run answers the boot wait with the instance's address, the provision
// script with "ready", and sha256sum with the sum of the Zot binary pushed;
// anything else prints nothing.
func (f *fakeServer) Run(_ context.Context, name string, cmd ...string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	in, ok := f.instances[name]
	if !ok || in.Status != "Running" {
		return "", fmt.Errorf("instance %s is not running", name)
	}
	last := cmd[len(cmd)-1]
	switch {
	case strings.Contains(last, "cloud-init status --wait"):
		return "addr=" + in.Config[incus.LabelAddress] + " \n", f.op("boot %s", name)
	case last == provisionScript:
		return "plex-ready\n", f.op("provision %s", name)
	case strings.HasPrefix(last, "sha256sum "+engine.ZotBinary):
		if b, ok := f.files[name+":"+engine.ZotBinary]; ok {
			return fmt.Sprintf("%x  %s\n", sha256.Sum256([]byte(b)), engine.ZotBinary), nil
		}
		return "", nil
	}
	return "", f.op("run %s", name)
}

func (f *fakeServer) PushFile(_ context.Context, name, path string, content []byte, _ int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.op("push %s:%s", name, path); err != nil {
		return err
	}
	if _, ok := f.instances[name]; !ok {
		return notFound("instance " + name)
	}
	f.files[name+":"+path] = string(content)
	return nil
}

func (f *fakeServer) PushReader(ctx context.Context, name, path string, r io.ReadSeeker, mode int) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	return f.PushFile(ctx, name, path, b, mode)
}

func (f *fakeServer) SetInstanceConfig(_ context.Context, name string, kv map[string]string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.op("label %s", name); err != nil {
		return err
	}
	in, ok := f.instances[name]
	if !ok {
		return notFound("instance " + name)
	}
	for k, v := range kv {
		in.Config[k] = v
	}
	return nil
}

func (f *fakeServer) GetVolume(_ context.Context, pool, name string) (*incus.Volume, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.volumes[pool+"/"+name]
	if !ok {
		return nil, notFound("volume " + pool + "/" + name)
	}
	c := *v
	return &c, nil
}

func (f *fakeServer) CreateVolume(_ context.Context, v incus.Volume) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.op("create volume %s/%s", v.Pool, v.Name); err != nil {
		return err
	}
	f.volumes[v.Pool+"/"+v.Name] = &v
	return nil
}

func (f *fakeServer) DeleteVolume(_ context.Context, pool, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.op("delete volume %s/%s", pool, name); err != nil {
		return err
	}
	for _, in := range f.instances {
		if in.Config[LabelVolume] == pool+"/"+name {
			return fmt.Errorf("volume %s/%s is in use by %s", pool, name, in.Name)
		}
	}
	delete(f.volumes, pool+"/"+name)
	return nil
}

func (f *fakeServer) DefaultPool(context.Context) (string, error) { return "default", nil }

func (f *fakeServer) NetworkIPv4(_ context.Context, name string) (netip.Prefix, error) {
	if name != "plexbr0" {
		return netip.Prefix{}, notFound("network " + name)
	}
	return netip.MustParsePrefix("10.212.0.1/24"), nil
}

func (f *fakeServer) Architecture(context.Context) (string, error) { return "amd64", nil }

// names lists the instances and volumes there are, sorted.
func (f *fakeServer) names() (instances, volumes []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for n := range f.instances {
		instances = append(instances, n)
	}
	for n := range f.volumes {
		volumes = append(volumes, n)
	}
	slices.Sort(instances)
	slices.Sort(volumes)
	return instances, volumes
}

var _ Server = (*fakeServer)(nil)
