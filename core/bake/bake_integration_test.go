package bake

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/plex-dev/plex/core/incus"
	"github.com/plex-dev/plex/core/status"
	"github.com/plex-dev/plex/internal/testenv"
)

// These tests bake on the harness incusd (hack/harness.sh up), from its base
// image, with the Kubernetes binaries hack/k8s-artifacts.sh built and apt
// going through hack/aptproxy.sh (the harness bridge has no NAT).

// harnessBake returns a connection and the options every test bakes with.
func harnessBake(t *testing.T) (*incus.Server, Options) {
	t.Helper()
	h := testenv.Require(t)
	version := os.Getenv("PLEX_KUBERNETES_VERSION")
	if version == "" {
		version = DefaultKubernetesVersion
	}
	artifacts := os.Getenv("PLEX_KUBE_ARTIFACTS")
	if artifacts == "" {
		artifacts = filepath.Join(h.Cache, "k8s", version, "bin")
	}
	if _, err := os.Stat(filepath.Join(artifacts, "kubeadm")); err != nil {
		t.Fatalf("no Kubernetes binaries in %s (%v): build them with hack/k8s-artifacts.sh, or set PLEX_KUBE_ARTIFACTS", artifacts, err)
	}
	runtime := os.Getenv("PLEX_RUNTIME_ARTIFACTS")
	if runtime == "" {
		runtime = filepath.Join(h.Cache, "runtime", DefaultContainerdVersion+"-"+DefaultRuncVersion, "bin")
	}
	if _, err := os.Stat(filepath.Join(runtime, "containerd")); err != nil {
		t.Fatalf("no containerd and runc in %s (%v): build them with hack/runtime-artifacts.sh, or set PLEX_RUNTIME_ARTIFACTS", runtime, err)
	}
	proxy := os.Getenv("PLEX_APT_PROXY")
	if proxy == "" {
		proxy = "http://10.212.0.1:3142"
	}
	requireAnswers(t, proxy, "the apt proxy", "start it with hack/aptproxy.sh up, or set PLEX_APT_PROXY")
	t.Setenv("INCUS_SOCKET", h.Socket)
	srv, err := incus.Connect(context.Background(), incus.ConnectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sweepLeftovers(t, srv)
	return srv, Options{
		Type: TypeKube, Base: h.Image, KubernetesVersion: version,
		KubeArtifacts: artifacts, RuntimeArtifacts: runtime, AptProxy: proxy, Log: status.New(testWriter{t}),
	}
}

// requireAnswers fails the test when nothing listens at rawURL's host:port;
// what names the service and fix says how to start it. A URL that does not
// parse is left to the bake's own option checks.
func requireAnswers(t *testing.T, rawURL, what, fix string) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		return
	}
	c, err := net.DialTimeout("tcp", u.Host, 2*time.Second)
	if err != nil {
		t.Fatalf("%s %s does not answer (%v): %s", what, rawURL, err, fix)
	}
	c.Close()
}

// bakeForTest bakes opts, fails the test when the bake fails, and deletes
// the image it published when the test ends.
func bakeForTest(ctx context.Context, t *testing.T, srv *incus.Server, opts Options) Result {
	t.Helper()
	res, err := Bake(ctx, srv, opts)
	if res.Fingerprint != "" {
		t.Cleanup(func() {
			if err := srv.DeleteImage(context.WithoutCancel(ctx), res.Fingerprint); err != nil {
				t.Errorf("deleting the test image: %v", err)
			}
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// Name prefixes of what these tests make; each test removes its own, and
// sweepLeftovers removes what a killed run left.
const (
	testAliasPrefix = "plexbake-test-"
	testNodePrefix  = "harness-test-bake-"
)

// sweepLeftovers deletes the test images and the plex-labelled test
// instances (test nodes, transient bake instances) that a killed earlier run
// left behind. The tests run one at a time, so none of these is in use.
func sweepLeftovers(t *testing.T, srv *incus.Server) {
	t.Helper()
	ctx := context.Background()
	imgs, err := srv.ListImages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, img := range imgs {
		for _, a := range img.Aliases {
			if strings.HasPrefix(a, testAliasPrefix) {
				t.Logf("deleting image %s (%s) that an earlier run left", a, img.Fingerprint[:12])
				if err := srv.DeleteImage(ctx, img.Fingerprint); err != nil {
					t.Fatal(err)
				}
				break
			}
		}
	}
	list, err := srv.ListInstances(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range list {
		if in.Managed() && (strings.HasPrefix(in.Name, testNodePrefix) || strings.HasPrefix(in.Name, InstanceName(testAliasPrefix))) {
			t.Logf("deleting instance %s that an earlier run left", in.Name)
			if err := srv.Delete(ctx, in.Name); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestBakeKube bakes a real kube image from the harness base, under an alias
// of its own so that it bakes for real every run and leaves the
// debian12_kube that `make bake` makes (and other tests boot) alone; bakes
// it again to see the cache hit; and boots a node from it.
func TestBakeKube(t *testing.T) {
	srv, opts := harnessBake(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	opts.Alias = testAliasPrefix + "kube-" + randomSuffix()

	first := bakeForTest(ctx, t, srv, opts)
	t.Logf("cold bake of %s: image %s in %s", first.Alias, short(first.Fingerprint), first.Elapsed.Round(time.Millisecond))
	if first.Cached {
		t.Errorf("the first bake of a new alias was a cache hit")
	}
	if first.Properties[incus.PropInputs] != first.Inputs || first.Properties[incus.PropKubernetesVersion] != opts.KubernetesVersion ||
		first.Properties[incus.PropContainerdVersion] == "" {
		t.Errorf("image properties: %v", first.Properties)
	}

	again, err := Bake(ctx, srv, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("unchanged re-bake: cached=%v in %s", again.Cached, again.Elapsed.Round(time.Millisecond))
	if !again.Cached || again.Fingerprint != first.Fingerprint || again.Inputs != first.Inputs {
		t.Errorf("an unchanged re-bake was not a cache hit: %+v (first %s)", again, first.Fingerprint)
	}
	if _, err := srv.GetInstance(ctx, InstanceName(first.Alias)); !incus.IsNotFound(err) {
		t.Errorf("transient instance %s is still there (%v)", InstanceName(first.Alias), err)
	}

	t.Run("node", func(t *testing.T) { checkNode(t, srv, first.Alias, first.Properties) })
}

// checkNode launches a container from the image with the kube profile's
// settings and checks what a node needs.
func checkNode(t *testing.T, srv *incus.Server, alias string, props map[string]string) {
	run := launchNode(t, srv, alias)
	if got := run("kubeadm", "version", "-o", "short"); got != props[incus.PropKubernetesVersion] {
		t.Errorf("kubeadm version -o short = %q, want %q", got, props[incus.PropKubernetesVersion])
	}
	if got := run("kubelet", "--version"); got != "Kubernetes "+props[incus.PropKubernetesVersion] {
		t.Errorf("kubelet --version = %q", got)
	}
	if got := run("systemctl", "is-active", "containerd"); got != "active" {
		t.Errorf("containerd is %q", got)
	}
	if got := run("systemctl", "is-enabled", "kubelet"); got != "enabled" {
		t.Errorf("kubelet is %q", got)
	}
	// containerd 2.x prints TOML strings in single quotes.
	if dump := run("containerd", "config", "dump"); !strings.Contains(dump, `config_path = '/etc/containerd/certs.d'`) || !strings.Contains(dump, `sandbox = 'registry.k8s.io/pause:3.10.1'`) {
		t.Errorf("containerd config dump has no config_path = '/etc/containerd/certs.d' or sandbox = 'registry.k8s.io/pause:3.10.1':\n%s", dump)
	}
	if got := strings.Fields(run("containerd", "--version") + " - - -"); got[2] != "v"+props[incus.PropContainerdVersion] {
		t.Errorf("containerd --version = %q, the image says %s", got, props[incus.PropContainerdVersion])
	}
	if got := run("sh", "-c", "runc --version | head -n1"); got != "runc version "+props[incus.PropRuncVersion] {
		t.Errorf("runc --version = %q, the image says %s", got, props[incus.PropRuncVersion])
	}
	if got := run("sh", "-c", ". /etc/plex/node-image.env; echo $PLEX_CONTAINERD_VERSION $PLEX_RUNC_VERSION"); got != props[incus.PropContainerdVersion]+" "+props[incus.PropRuncVersion] {
		t.Errorf("/etc/plex/node-image.env says %q", got)
	}
	// Per-instance identity was made fresh, not baked in.
	if id := run("cat", "/etc/machine-id"); len(id) != 32 {
		t.Errorf("machine-id %q", id)
	}
	if got := run("readlink", "/opt/cni/bin"); got != "/usr/lib/cni" {
		t.Errorf("/opt/cni/bin -> %q", got)
	}
	if out := run("sh", "-c", "ls /etc/apt/apt.conf.d/ /var/lib/apt/lists/; test ! -e /var/lib/plexbake && echo clean"); strings.Contains(out, "plexbake-proxy") || !strings.HasSuffix(out, "clean") {
		t.Errorf("bake leftovers in the node:\n%s", out)
	}
}

// launchNode starts a container from the image with the kube profile's
// settings, deleted when the test ends, and returns a runner of commands in
// it that fails the test on an error.
func launchNode(t *testing.T, srv *incus.Server, alias string) func(cmd ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	name := testNodePrefix + randomSuffix()
	err := srv.CreateInstance(ctx, incus.InstanceSpec{Name: name, Image: alias, Config: map[string]string{
		"security.privileged": "true", "security.nesting": "true", "raw.lxc": rawLXC,
		incus.LabelManaged: "true",
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Delete(context.WithoutCancel(ctx), name); err != nil {
			t.Errorf("deleting %s: %v", name, err)
		}
	})
	if err := srv.Start(ctx, name); err != nil {
		t.Fatal(err)
	}
	waitRunning(ctx, t, srv, name)
	return func(cmd ...string) string {
		t.Helper()
		out, err := srv.Run(ctx, name, cmd...)
		if err != nil {
			t.Errorf("%v", err)
		}
		return strings.TrimSpace(out)
	}
}

// waitRunning waits until systemd in the instance has finished booting.
func waitRunning(ctx context.Context, t *testing.T, srv *incus.Server, name string) {
	t.Helper()
	var state string
	for i := 0; i < 120; i++ {
		out, _ := srv.Run(ctx, name, "systemctl", "is-system-running")
		state = strings.TrimSpace(out)
		if state == "running" || state == "degraded" {
			return
		}
		time.Sleep(time.Second)
	}
	t.Fatalf("%s did not boot: systemd %q", name, state)
}

// TestBakeKubePreload bakes a kube image with --preload-images from the
// harness registry (which holds registry.k8s.io's images under their own
// names, hack/k8s-images.sh), under an alias of its own, and checks in a
// node launched from it that kubeadm finds every image it needs in
// containerd already, unpacked only, and that the bake's mirror is gone.
func TestBakeKubePreload(t *testing.T) {
	srv, opts := harnessBake(t)
	mirror := os.Getenv("PLEX_REGISTRY_MIRROR")
	if mirror == "" {
		mirror = "http://10.212.0.1:5000"
	}
	requireAnswers(t, mirror, "the registry", "start it and fill it with make images, or set PLEX_REGISTRY_MIRROR")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	opts.Alias = testAliasPrefix + "preload-" + randomSuffix()
	opts.PreloadImages, opts.PreloadMirror = true, mirror

	res := bakeForTest(ctx, t, srv, opts)
	t.Logf("cold bake of %s with the images: image %s in %s", res.Alias, short(res.Fingerprint), res.Elapsed.Round(time.Millisecond))
	images := strings.Fields(res.Properties[incus.PropPreloadedImages])
	if !slices.Contains(images, "registry.k8s.io/kube-apiserver:"+opts.KubernetesVersion) || !slices.Contains(images, "registry.k8s.io/pause:3.10.1") {
		t.Fatalf("%s = %q: want kubeadm's images, kube-apiserver %s and pause 3.10.1 among them", incus.PropPreloadedImages, images, opts.KubernetesVersion)
	}

	run := launchNode(t, srv, res.Alias)
	// kubeadm's own preflight asks the CRI for each image before it pulls:
	// "image exists" for all of them means that init pulls nothing.
	out := run("sh", "-c", "printf 'apiVersion: kubeadm.k8s.io/v1beta4\\nkind: ClusterConfiguration\\nkubernetesVersion: "+opts.KubernetesVersion+"\\n' >/tmp/preflight.yaml && "+
		"kubeadm init phase preflight --config /tmp/preflight.yaml --ignore-preflight-errors=all --v=1 2>&1 | grep 'image exists'")
	for _, img := range images {
		if !strings.Contains(out, "image exists: "+img+"\n") && !strings.HasSuffix(out, "image exists: "+img) {
			t.Errorf("kubeadm's preflight does not find %s in the node's containerd:\n%s", img, out)
		}
	}
	// Unpacked layers only (discard_unpacked_layers): the content store
	// keeps manifests and configs, a few KiB each.
	if kib, err := strconv.Atoi(strings.Fields(run("du", "-sk", "/var/lib/containerd/io.containerd.content.v1.content") + " x")[0]); err != nil || kib > 2048 {
		t.Errorf("containerd's content store holds %d KiB (%v): the compressed layers were kept beside the unpacked ones", kib, err)
	}
	// The list that keeps plex's boot-time pull (core/nodefiles) from running.
	if got := strings.Fields(run("cat", "/etc/plex/preloaded-images")); !slices.Equal(got, images) {
		t.Errorf("/etc/plex/preloaded-images lists %q, the image property %q", got, images)
	}
	if got := run("sh", "-c", "ls -A /etc/containerd/certs.d"); got != "" {
		t.Errorf("the bake left registry configuration in the image: /etc/containerd/certs.d holds %q", got)
	}
}

// TestBakeFailureLeavesNothing makes a bake fail in a real instance, once in
// provisioning and once after the image was published, and checks that the
// bake deletes its instance and leaves no image.
func TestBakeFailureLeavesNothing(t *testing.T) {
	srv, base := harnessBake(t)
	t.Run("provisioning", func(t *testing.T) {
		opts := base
		opts.Log = status.New(testWriter{t})
		hookErr := errors.New("the hook did not run")
		opts.afterStep = func(ctx context.Context, step, name string) error {
			if step != "boot" {
				return nil
			}
			_, hookErr = srv.GetInstance(ctx, name)
			// A provisioning command that fails, as a broken package would.
			_, err := srv.Run(ctx, name, "sh", "-c", "echo 'E: Unable to locate package nonexistent' >&2; exit 100")
			return err
		}
		err := failedBake(t, srv, opts)
		var ee *incus.ExecError
		if !errors.As(err, &ee) || ee.Code != 100 || !strings.Contains(err.Error(), "Unable to locate package") {
			t.Errorf("want the failing command's error with its output, got %v", err)
		}
		if hookErr != nil {
			t.Errorf("the hook did not see the transient instance: %v", hookErr)
		}
	})
	t.Run("after publishing", func(t *testing.T) {
		opts := base
		opts.Log = status.New(testWriter{t})
		opts.afterStep = func(_ context.Context, step, _ string) error {
			if step == "publish" {
				return errors.New("injected failure after publishing")
			}
			return nil
		}
		if err := failedBake(t, srv, opts); err == nil || !strings.Contains(err.Error(), "injected failure") {
			t.Errorf("bake: %v", err)
		}
	})
}

// failedBake runs a bake that must fail under a fresh alias and checks that
// nothing of it is left: no transient instance, no alias, and no image with
// its inputs that was not there before.
func failedBake(t *testing.T, srv *incus.Server, opts Options) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	opts.Alias = testAliasPrefix + "fail-" + randomSuffix()
	before := bakedImages(ctx, t, srv, opts.Type)
	_, err := Bake(ctx, srv, opts)
	if err == nil {
		t.Fatal("the bake did not fail")
	}
	t.Logf("bake failed as it should: %v", firstLine(err.Error()))
	if _, gerr := srv.GetInstance(ctx, InstanceName(opts.Alias)); !incus.IsNotFound(gerr) {
		t.Errorf("instance %s left behind (%v)", InstanceName(opts.Alias), gerr)
		_ = srv.Delete(ctx, InstanceName(opts.Alias))
	}
	if img, aerr := srv.ImageByAlias(ctx, opts.Alias); !incus.IsNotFound(aerr) {
		t.Errorf("alias %s left behind (%v, %v)", opts.Alias, img, aerr)
	}
	for fp := range bakedImages(ctx, t, srv, opts.Type) {
		if !before[fp] {
			t.Errorf("image %s left behind", fp)
			_ = srv.DeleteImage(ctx, fp)
		}
	}
	return err
}

// bakedImages lists the images baked for one node type. Other packages'
// integration tests run at the same time and bake other types (core/registry
// bakes a registry image), so a failed kube bake must count only kube images
// as its own, and never delete another test's image.
func bakedImages(ctx context.Context, t *testing.T, srv *incus.Server, typ string) map[string]bool {
	t.Helper()
	imgs, err := srv.ListImages(ctx, incus.PropType)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, i := range imgs {
		if i.Properties[incus.PropType] == typ {
			out[i.Fingerprint] = true
		}
	}
	return out
}

func firstLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}

// TestBakeLockRefuses holds the lock of an alias the way a running bake
// does and checks that a second bake refuses, naming the instance.
func TestBakeLockRefuses(t *testing.T) {
	srv, opts := harnessBake(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	opts.Alias = testAliasPrefix + "lock-" + randomSuffix()
	instance := InstanceName(opts.Alias)
	err := srv.CreateInstance(ctx, incus.InstanceSpec{Name: instance, Image: opts.Base, Config: map[string]string{
		incus.LabelManaged: "true", incus.LabelBake: opts.Alias, incus.LabelBakeStarted: time.Now().UTC().Format(time.RFC3339),
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Delete(context.WithoutCancel(ctx), instance)
	_, err = Bake(ctx, srv, opts)
	if err == nil || !strings.Contains(err.Error(), "another bake of "+opts.Alias+" is running in instance "+instance) {
		t.Fatalf("second bake: %v", err)
	}
	if _, err := srv.GetInstance(ctx, instance); err != nil {
		t.Errorf("the refused bake removed the lock holder: %v", err)
	}
}

func randomSuffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// testWriter sends status lines to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
