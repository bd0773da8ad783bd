package cluster

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io/fs"
	"maps"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plex-dev/plex/core/incus"
)

// fakeIncus is an Incus server in memory whose instances answer commands the
// way a plex node does, as far as up, join and down look at the answers:
// the boot probe reports the node's planned address, kubeadm init leaves an
// admin kubeconfig and the cluster CA behind, kubeadm token create prints a
// token, kubeadm join leaves a kubelet config. It stands in for the
// Kubernetes API too (waitReady), judging from those files.
type fakeIncus struct {
	remote string

	mu        sync.Mutex
	instances map[string]*fakeInstance
	profiles  map[string]incus.Profile
	images    map[string]bool
	members   []incus.Member
	// created and deleted are the instance names, in call order.
	created, deleted []string
	// runs are the commands run in instances, in call order.
	runs []fakeRun
	// failRun, when set, fails a command whenever it returns an error.
	failRun func(node string, cmd []string) error
	// failDelete, when set, fails the deletion of an instance whenever it
	// returns an error.
	failDelete func(name string) error
	// failSeed, when set, fails SeedFiles into the named instance.
	failSeed func(name string) error
	// token is the last token kubeadm init made or kubeadm token create
	// printed.
	token string
	// ca and admin are what kubeadm init writes.
	ca, admin []byte
	// snapshotsTaken counts snapshots made; snapshotsDeleted and restored
	// are instance/snapshot, in call order (fake_snapshot_test.go).
	snapshotsTaken             int
	snapshotsDeleted, restored []string
	// failSnapshot, when set, fails the snapshot of an instance whenever
	// it returns an error.
	failSnapshot func(instance string) error
}

type fakeInstance struct {
	incus.Instance
	Image    string
	Profiles []string
	files    map[string][]byte
	// seeded are the files SeedFiles gave it, written at its first start.
	seeded  []incus.SeedFile
	started bool
	// snaps are the instance's snapshots (fake_snapshot_test.go).
	snaps []fakeSnapshot
}

type fakeRun struct {
	Node string
	Cmd  []string
}

// newFake is a standalone server with the profile "default" and the image
// the test specs ask for.
func newFake(t *testing.T) *fakeIncus {
	t.Helper()
	return &fakeIncus{
		remote:    "fake",
		instances: map[string]*fakeInstance{},
		profiles:  map[string]incus.Profile{"default": {Name: "default"}},
		images:    map[string]bool{"debian12_kube": true},
		ca:        testCA(t),
	}
}

// target points the verbs at f, for Incus and for the Kubernetes API. A
// node that does not boot fails the boot wait within a second, and a run
// waiting for a plex's lock looks at it every 10ms.
func (f *fakeIncus) target() Target {
	return Target{seams: &seams{
		connect: f.connect, waitReady: f.waitReady, saveEtcd: f.saveEtcd,
		bootTimeout: time.Second, bootEvery: 10 * time.Millisecond, lockPoll: 10 * time.Millisecond,
	}}
}

func (f *fakeIncus) connect(ctx context.Context, o incus.ConnectOptions) (Incus, error) {
	return f, ctx.Err()
}

func (f *fakeIncus) Remote() string  { return f.remote }
func (f *fakeIncus) Project() string { return "default" }

func (f *fakeIncus) ListInstances(ctx context.Context) ([]incus.Instance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []incus.Instance
	for _, in := range f.instances {
		c := in.Instance
		c.Config = maps.Clone(in.Config)
		out = append(out, c)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out, nil
}

func (f *fakeIncus) GetInstance(ctx context.Context, name string) (*incus.Instance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	in, ok := f.instances[name]
	if !ok {
		return nil, fmt.Errorf("instance %s: %w", name, incus.ErrNotFound)
	}
	c := in.Instance
	c.Config = maps.Clone(in.Config)
	return &c, nil
}

// CreateInstance refuses what Incus refuses: a name taken, an image or a
// profile it does not have.
func (f *fakeIncus) CreateInstance(ctx context.Context, spec incus.InstanceSpec) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.instances[spec.Name]; ok {
		return fmt.Errorf("creating instance %s: already exists", spec.Name)
	}
	if !f.images[spec.Image] {
		return fmt.Errorf("creating instance %s: image %s: %w", spec.Name, spec.Image, incus.ErrNotFound)
	}
	for _, p := range spec.Profiles {
		if _, ok := f.profiles[p]; !ok {
			return fmt.Errorf("creating instance %s: profile %s: %w", spec.Name, p, incus.ErrNotFound)
		}
	}
	loc := spec.Target
	if loc == "" {
		loc = "none"
	}
	f.instances[spec.Name] = &fakeInstance{
		Instance: incus.Instance{Name: spec.Name, Status: "Stopped", Location: loc, Config: maps.Clone(spec.Config)},
		Image:    spec.Image,
		Profiles: slices.Clone(spec.Profiles),
		files:    map[string][]byte{},
	}
	f.created = append(f.created, spec.Name)
	return nil
}

func (f *fakeIncus) Start(ctx context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	in, ok := f.instances[name]
	if !ok {
		return fmt.Errorf("starting instance %s: %w", name, incus.ErrNotFound)
	}
	in.Status = "Running"
	if !in.started {
		// Incus writes the seeded files as the instance first starts.
		in.started = true
		for _, sf := range in.seeded {
			in.files[sf.Path] = slices.Clone(sf.Content)
		}
	}
	return nil
}

// Delete of a missing instance is no error, as with *incus.Server.
func (f *fakeIncus) Delete(ctx context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failDelete != nil {
		if err := f.failDelete(name); err != nil {
			return err
		}
	}
	if _, ok := f.instances[name]; ok {
		delete(f.instances, name)
		f.deleted = append(f.deleted, name)
	}
	return nil
}

// running is the instance name if it runs; the caller holds f.mu.
func (f *fakeIncus) running(name string) (*fakeInstance, error) {
	in, ok := f.instances[name]
	if !ok {
		return nil, fmt.Errorf("instance %s: %w", name, incus.ErrNotFound)
	}
	if in.Status != "Running" {
		return nil, fmt.Errorf("instance %s is not running", name)
	}
	return in, nil
}

// Exec answers `test -e PATH` from the files the instance has.
func (f *fakeIncus) Exec(ctx context.Context, name string, cmd []string, o incus.ExecOptions) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	in, err := f.running(name)
	if err != nil {
		return -1, err
	}
	f.runs = append(f.runs, fakeRun{Node: name, Cmd: slices.Clone(cmd)})
	if len(cmd) == 3 && cmd[0] == "test" && cmd[1] == "-e" {
		if _, ok := in.files[cmd[2]]; ok {
			return 0, nil
		}
		return 1, nil
	}
	return 0, nil
}

func (f *fakeIncus) Run(ctx context.Context, name string, cmd ...string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	in, err := f.running(name)
	if err != nil {
		return "", err
	}
	f.runs = append(f.runs, fakeRun{Node: name, Cmd: slices.Clone(cmd)})
	if f.failRun != nil {
		if err := f.failRun(name, cmd); err != nil {
			return err.Error(), &incus.ExecError{Instance: name, Command: cmd, Code: 1, Output: err.Error()}
		}
	}
	line := strings.Join(cmd, " ")
	switch {
	case isBootScript(cmd):
		return fmt.Sprintf("addr=%s \ncgroup=v2 oom=ok\n", in.Config[incus.LabelAddress]), nil
	case strings.HasPrefix(line, "kubeadm init --config "):
		if _, ok := in.files[cmd[3]]; !ok {
			return "", f.execError(name, cmd, "open "+cmd[3]+": no such file or directory")
		}
		// kubeadm init makes the config's bootstrap token.
		if m := regexp.MustCompile(`token: ([a-z0-9]{6}\.[a-z0-9]{16})`).FindSubmatch(in.files[cmd[3]]); m != nil {
			f.token = string(m[1])
		}
		f.admin = fakeAdminConfig(in.Config[incus.LabelAddress], f.ca)
		in.files[adminConfPath] = f.admin
		in.files[caCertPath] = f.ca
		in.files[kubeletConfPath] = []byte("kubelet")
		return "Your Kubernetes control-plane has initialized successfully!\n", nil
	case strings.HasPrefix(line, "kubeadm token create "):
		if _, ok := in.files[adminConfPath]; !ok {
			return "", f.execError(name, cmd, "failed to load admin kubeconfig")
		}
		f.token = "abcdef.0123456789abcdef"
		return "W0101 some warning\n" + f.token + "\n", nil
	case strings.HasPrefix(line, "kubeadm join --config "):
		if _, ok := in.files[cmd[3]]; !ok {
			return "", f.execError(name, cmd, "open "+cmd[3]+": no such file or directory")
		}
		in.files[kubeletConfPath] = []byte("kubelet")
		return "This node has joined the cluster\n", nil
	case len(cmd) == 3 && cmd[0] == "rm" && cmd[1] == "-f":
		delete(in.files, cmd[2])
	}
	return "", nil
}

// isBootScript reports whether cmd is the boot wait's script, which ends
// with the facts probe.
func isBootScript(cmd []string) bool {
	return len(cmd) == 3 && cmd[0] == "sh" && strings.HasSuffix(cmd[2], factsScript)
}

func (f *fakeIncus) execError(name string, cmd []string, out string) error {
	return &incus.ExecError{Instance: name, Command: cmd, Code: 1, Output: out}
}

func (f *fakeIncus) PushFile(ctx context.Context, name, path string, content []byte, mode int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	// Incus writes files into a stopped container too.
	in, ok := f.instances[name]
	if !ok {
		return fmt.Errorf("writing %s in %s: instance %s: %w", path, name, name, incus.ErrNotFound)
	}
	in.files[path] = slices.Clone(content)
	return nil
}

// SeedFiles keeps the files until the instance first starts, as Incus
// does; seeding an instance that has started is refused, as Incus would
// never write those files.
func (f *fakeIncus) SeedFiles(ctx context.Context, name string, files []incus.SeedFile) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	in, ok := f.instances[name]
	if !ok {
		return fmt.Errorf("seeding files into %s: instance %s: %w", name, name, incus.ErrNotFound)
	}
	if in.started {
		return fmt.Errorf("seeding files into %s: it has started, and Incus would never write them", name)
	}
	if f.failSeed != nil {
		if err := f.failSeed(name); err != nil {
			return err
		}
	}
	in.seeded = append(in.seeded, files...)
	return nil
}

func (f *fakeIncus) PullFile(ctx context.Context, name, path string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	in, err := f.running(name)
	if err != nil {
		return nil, fmt.Errorf("reading %s from %s: %w", path, name, err)
	}
	b, ok := in.files[path]
	if !ok {
		return nil, fmt.Errorf("reading %s from %s: %w", path, name, fs.ErrNotExist)
	}
	return slices.Clone(b), nil
}

func (f *fakeIncus) EnsureProfile(ctx context.Context, p incus.Profile) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.profiles[p.Name] = p
	return nil
}

// The lock's calls behave as Incus's do (see core/incus/lock.go): an
// exclusive create, an ETag that changes with the content, If-Match on
// update, and errors that incus.IsExists, IsNotFound and IsChanged know.

func (f *fakeIncus) CreateProfileExclusive(ctx context.Context, p incus.Profile) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.profiles[p.Name]; ok {
		return fmt.Errorf("creating profile %s: %w", p.Name, incus.ErrExists)
	}
	p.Config = maps.Clone(p.Config)
	f.profiles[p.Name] = p
	return nil
}

func (f *fakeIncus) GetProfileETag(ctx context.Context, name string) (*incus.Profile, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.profiles[name]
	if !ok {
		return nil, "", fmt.Errorf("profile %s: %w", name, incus.ErrNotFound)
	}
	p.Config = maps.Clone(p.Config)
	return &p, profileETag(p), nil
}

func (f *fakeIncus) UpdateProfileIfMatch(ctx context.Context, p incus.Profile, etag string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	cur, ok := f.profiles[p.Name]
	if !ok {
		return fmt.Errorf("profile %s: %w", p.Name, incus.ErrNotFound)
	}
	if profileETag(cur) != etag {
		return fmt.Errorf("updating profile %s: %w", p.Name, incus.ErrChanged)
	}
	p.Config = maps.Clone(p.Config)
	f.profiles[p.Name] = p
	return nil
}

// DeleteProfile deletes only what plex made; a missing profile is no error.
func (f *fakeIncus) DeleteProfile(ctx context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p, ok := f.profiles[name]; ok && !incus.IsManaged(p.Config) {
		return fmt.Errorf("profile %s was not created by plex", name)
	}
	delete(f.profiles, name)
	return nil
}

// profileETag is a hash of the profile's content, as Incus's ETag is.
func profileETag(p incus.Profile) string {
	b, _ := json.Marshal([]any{p.Description, p.Config, p.Devices})
	sum := sha256.Sum256(b)
	return `"` + hex.EncodeToString(sum[:]) + `"`
}

func (f *fakeIncus) ImageByAlias(ctx context.Context, alias string) (*incus.Image, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.images[alias] {
		return nil, fmt.Errorf("image alias %s: %w", alias, incus.ErrNotFound)
	}
	return &incus.Image{Fingerprint: "f00d" + alias, Aliases: []string{alias}}, nil
}

func (f *fakeIncus) Members(ctx context.Context) ([]incus.Member, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.members), nil
}

// waitReady stands in for the API server: a node is Ready once it runs and
// has joined (has a kubelet config), and only the kubeconfig kubeadm init
// wrote gets an answer.
func (f *fakeIncus) waitReady(ctx context.Context, kubeconfig []byte, names []string, timeout time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.admin == nil || string(kubeconfig) != string(f.admin) {
		return fmt.Errorf("waitReady: not the admin kubeconfig kubeadm init wrote")
	}
	var notReady []string
	for _, n := range names {
		in, err := f.running(n)
		if err != nil {
			notReady = append(notReady, n)
			continue
		}
		if _, ok := in.files[kubeletConfPath]; !ok {
			notReady = append(notReady, n)
		}
	}
	if len(notReady) > 0 {
		return fmt.Errorf("node(s) %s not Ready", strings.Join(notReady, ", "))
	}
	return nil
}

// addInstance puts an instance there as if someone else had made it.
func (f *fakeIncus) addInstance(name string, config map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.instances[name] = &fakeInstance{
		Instance: incus.Instance{Name: name, Status: "Running", Location: "none", Config: config},
		files:    map[string][]byte{},
		started:  true,
	}
}

// names are the instances there, sorted.
func (f *fakeIncus) names() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Sorted(maps.Keys(f.instances))
}

func (f *fakeIncus) instance(name string) (fakeInstance, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	in, ok := f.instances[name]
	if !ok {
		return fakeInstance{}, false
	}
	return *in, true
}

func (f *fakeIncus) file(name, path string) []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	if in, ok := f.instances[name]; ok {
		return in.files[path]
	}
	return nil
}

// ranOn are the nodes, sorted, that ran a command starting with prefix
// after m (mark{} for ever).
func (f *fakeIncus) ranOn(m mark, prefix ...string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	seen := map[string]bool{}
	for _, r := range f.runs[m.runs:] {
		if len(r.Cmd) >= len(prefix) && slices.Equal(r.Cmd[:len(prefix)], prefix) {
			seen[r.Node] = true
		}
	}
	return slices.Sorted(maps.Keys(seen))
}

// mark is where the log of calls stands, for since.
type mark struct{ created, deleted, runs int }

func (f *fakeIncus) mark() mark {
	f.mu.Lock()
	defer f.mu.Unlock()
	return mark{len(f.created), len(f.deleted), len(f.runs)}
}

// since is what was created and deleted after m, sorted.
func (f *fakeIncus) since(m mark) (created, deleted []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	created = slices.Sorted(slices.Values(f.created[m.created:]))
	deleted = slices.Sorted(slices.Values(f.deleted[m.deleted:]))
	return created, deleted
}

var (
	caOnce sync.Once
	caPEM  []byte
	caErr  error
)

// testCA is a self-signed CA certificate, for the CA hash kubeadm join is
// pinned to.
func testCA(t *testing.T) []byte {
	t.Helper()
	caOnce.Do(func() {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			caErr = err
			return
		}
		tmpl := &x509.Certificate{
			SerialNumber:          big.NewInt(1),
			Subject:               pkix.Name{CommonName: "kubernetes"},
			NotBefore:             time.Now().Add(-time.Hour),
			NotAfter:              time.Now().Add(24 * time.Hour),
			IsCA:                  true,
			BasicConstraintsValid: true,
			KeyUsage:              x509.KeyUsageCertSign,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			caErr = err
			return
		}
		caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	})
	if caErr != nil {
		t.Fatalf("making a test CA: %v", caErr)
	}
	return caPEM
}

// fakeAdminConfig is an admin kubeconfig like kubeadm's for the API server
// at address.
func fakeAdminConfig(address string, ca []byte) []byte {
	return []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: kubernetes
  cluster:
    server: https://%s:6443
    certificate-authority-data: %s
users:
- name: kubernetes-admin
  user:
    token: fake
contexts:
- name: kubernetes-admin@kubernetes
  context:
    cluster: kubernetes
    user: kubernetes-admin
current-context: kubernetes-admin@kubernetes
`, address, base64.StdEncoding.EncodeToString(ca)))
}

// testEnv keeps the verbs' files (kubeconfig, known_hosts, the SSH keys
// they read) inside the test, and returns the kubeconfig path to pass.
func testEnv(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	// The output logs of failed commands (errors.go) stay in the test.
	t.Setenv("TMPDIR", t.TempDir())
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
	t.Setenv("KUBECONFIG", filepath.Join(home, "unused-kubeconfig"))
	return filepath.Join(home, ".kube", "config")
}

// writeSpec writes a spec of one plex whose kube nodes are indices; the
// first is the control plane.
func writeSpec(t *testing.T, name, indices string) string {
	return writeSpecWith(t, name, indices, "")
}

// writeHASpec is writeSpec with three control planes.
func writeHASpec(t *testing.T, name, indices string) string {
	return writeSpecWith(t, name, indices, "  controlPlanes: 3\n  apiVIP: 10.212.0.10\n")
}

func writeSpecWith(t *testing.T, name, indices, extra string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "plex.yaml")
	spec := fmt.Sprintf(`apiVersion: plex.dev/v1alpha1
kind: PlexConfig
plexes:
- name: %s
  nodeSubnet: 10.212.0.0/24
%s  nodes:
  - base: debian12
    indices: %q
`, name, extra, indices)
	if err := os.WriteFile(f, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}
