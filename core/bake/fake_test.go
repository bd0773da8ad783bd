package bake

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/plex-dev/plex/core/incus"
)

// fakeServer is an in-memory Incus for the bake's control flow: instances,
// images and aliases, and scripted exec results.
type fakeServer struct {
	mu        sync.Mutex
	instances map[string]map[string]string // name → config
	images    map[string]map[string]string // fingerprint → properties
	aliases   map[string]string            // alias → fingerprint
	// exec answers a command: output and exit code.
	exec func(cmd []string) (string, int)
	// booted answers boot.Wait's check, which every bake runs, so that the
	// tests' exec need not know its script.
	booted string
	calls  []string
	n      int
	// env is the environment of each command run, by its last argument
	// (the script's path for the bake's scripts).
	env map[string]map[string]string
}

func newFakeServer() *fakeServer {
	f := &fakeServer{
		instances: map[string]map[string]string{},
		images:    map[string]map[string]string{"basefp000000000000": {"os": "Debian", "release": "bookworm"}},
		aliases:   map[string]string{"debian12": "basefp000000000000"},
		booted:    "addr=10.0.0.2 \nsystemd running\n",
		env:       map[string]map[string]string{},
	}
	f.exec = func(cmd []string) (string, int) {
		if strings.HasSuffix(cmd[len(cmd)-1], "kube-provision.sh") {
			return "plex-fact containerd-version=2.4.2\nplex-fact runc-version=1.5.3\nplex-fact restrict-oom-score-adj=true\n", 0
		}
		if strings.HasSuffix(cmd[len(cmd)-1], "kube-images.sh") {
			return "plex-fact preloaded-images=registry.k8s.io/kube-apiserver:v1.34.4 registry.k8s.io/pause:3.10.1\nplex-fact preloaded-mib=463\n", 0
		}
		return "ok\n", 0
	}
	return f
}

func (f *fakeServer) record(format string, a ...any) {
	f.calls = append(f.calls, fmt.Sprintf(format, a...))
}

func notFound(what string) error {
	return fmt.Errorf("%s: %w", what, incus.ErrNotFound)
}

func (f *fakeServer) ResolveImage(_ context.Context, ref string, _ bool) (*incus.ImageSource, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fp, ok := f.aliases[ref]
	if !ok {
		return nil, notFound("image " + ref)
	}
	return &incus.ImageSource{Ref: ref, Name: ref, Fingerprint: fp, Properties: f.images[fp]}, nil
}

func (f *fakeServer) ImageByAlias(_ context.Context, alias string) (*incus.Image, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fp, ok := f.aliases[alias]
	if !ok {
		return nil, notFound("alias " + alias)
	}
	img := &incus.Image{Fingerprint: fp, Properties: f.images[fp]}
	for a, t := range f.aliases {
		if t == fp {
			img.Aliases = append(img.Aliases, a)
		}
	}
	return img, nil
}

func (f *fakeServer) CreateInstance(_ context.Context, spec incus.InstanceSpec) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("create %s", spec.Name)
	if _, ok := f.instances[spec.Name]; ok {
		return fmt.Errorf("Instance %q already exists", spec.Name)
	}
	f.instances[spec.Name] = spec.Config
	return nil
}

func (f *fakeServer) GetInstance(_ context.Context, name string) (*incus.Instance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	cfg, ok := f.instances[name]
	if !ok {
		return nil, notFound("instance " + name)
	}
	return &incus.Instance{Name: name, Config: cfg}, nil
}

func (f *fakeServer) Start(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("start %s", name)
	return nil
}

func (f *fakeServer) Shutdown(_ context.Context, name string, _ time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("stop %s", name)
	return nil
}

func (f *fakeServer) Delete(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("delete %s", name)
	delete(f.instances, name)
	return nil
}

func (f *fakeServer) Exec(_ context.Context, name string, cmd []string, o incus.ExecOptions) (int, error) {
	f.mu.Lock()
	run := f.exec
	if len(cmd) == 3 && cmd[0] == "sh" && strings.Contains(cmd[2], "cloud-init status --wait") {
		booted := f.booted
		run = func([]string) (string, int) { return booted, 0 }
		f.record("exec boot check")
	} else {
		f.record("exec %s", strings.Join(cmd, " "))
		f.env[cmd[len(cmd)-1]] = o.Env
	}
	f.mu.Unlock()
	out, code := run(cmd)
	if o.Stdout != nil {
		_, _ = io.WriteString(o.Stdout, out)
	}
	return code, nil
}

func (f *fakeServer) PushFile(_ context.Context, _, path string, _ []byte, _ int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("push %s", path)
	return nil
}

func (f *fakeServer) MakeDir(_ context.Context, _, path string, _ int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("mkdir %s", path)
	return nil
}

func (f *fakeServer) PushReader(_ context.Context, _, path string, _ io.ReadSeeker, _ int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("push %s", path)
	return nil
}

func (f *fakeServer) PublishImage(_ context.Context, p incus.PublishSpec) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	fp := fmt.Sprintf("newfp%013d", f.n)
	f.images[fp] = p.Properties
	f.record("publish %s %s", p.Instance, p.Compression)
	return fp, nil
}

func (f *fakeServer) SetImageAlias(_ context.Context, alias, fp, _ string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	old := f.aliases[alias]
	f.aliases[alias] = fp
	f.record("alias %s %s", alias, fp)
	return old, nil
}

func (f *fakeServer) DeleteImage(_ context.Context, fp string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("delete-image %s", fp)
	delete(f.images, fp)
	return nil
}

func (f *fakeServer) Architecture(context.Context) (string, error) { return "amd64", nil }
