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
	"strings"
	"testing"
	"time"

	"github.com/plex-dev/plex/core/incus"
	"github.com/plex-dev/plex/core/status"
	"github.com/plex-dev/plex/core/testenv"
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
	proxy := os.Getenv("PLEX_APT_PROXY")
	if proxy == "" {
		proxy = "http://10.212.0.1:3142"
	}
	if u, err := url.Parse(proxy); err == nil {
		c, err := net.DialTimeout("tcp", u.Host, 2*time.Second)
		if err != nil {
			t.Fatalf("the apt proxy %s does not answer (%v): start it with hack/aptproxy.sh up, or set PLEX_APT_PROXY", proxy, err)
		}
		c.Close()
	}
	t.Setenv("INCUS_SOCKET", h.Socket)
	srv, err := incus.Connect(context.Background(), incus.ConnectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return srv, Options{
		Type: TypeKube, Base: h.Image, KubernetesVersion: version,
		KubeArtifacts: artifacts, AptProxy: proxy, Log: status.New(testWriter{t}),
	}
}

// TestBakeKube bakes the real debian12_kube image (or finds it up to date),
// bakes it again to see the cache hit, and boots a node from it.
func TestBakeKube(t *testing.T) {
	srv, opts := harnessBake(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()

	first, err := Bake(ctx, srv, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first bake of %s: image %s, cached=%v, %s", first.Alias, short(first.Fingerprint), first.Cached, first.Elapsed.Round(time.Millisecond))
	if first.Properties[incus.PropInputs] != first.Inputs || first.Properties[incus.PropKubernetesVersion] != opts.KubernetesVersion ||
		first.Properties[incus.PropContainerdVersion] == "" {
		t.Errorf("image properties: %v", first.Properties)
	}

	again, err := Bake(ctx, srv, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("re-bake: cached=%v in %s", again.Cached, again.Elapsed.Round(time.Millisecond))
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
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	name := "harness-test-bake-" + randomSuffix()
	err := srv.CreateInstance(ctx, incus.InstanceSpec{Name: name, Image: alias, Config: map[string]string{
		"security.privileged": "true", "security.nesting": "true", "raw.lxc": rawLXC,
		incus.LabelManaged: "true",
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := srv.Delete(context.WithoutCancel(ctx), name); err != nil {
			t.Errorf("deleting %s: %v", name, err)
		}
	}()
	if err := srv.Start(ctx, name); err != nil {
		t.Fatal(err)
	}
	waitRunning(ctx, t, srv, name)

	run := func(cmd ...string) string {
		t.Helper()
		out, err := srv.Run(ctx, name, cmd...)
		if err != nil {
			t.Errorf("%v", err)
		}
		return strings.TrimSpace(out)
	}
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
	if dump := run("containerd", "config", "dump"); !strings.Contains(dump, `config_path = "/etc/containerd/certs.d"`) {
		t.Errorf("containerd config dump has no config_path = \"/etc/containerd/certs.d\"")
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

// TestBakeFailureLeavesNothing makes a provisioning step fail in a real
// instance and checks that the bake deletes its instance and makes no image.
func TestBakeFailureLeavesNothing(t *testing.T) {
	srv, opts := harnessBake(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	opts.Alias = "plexbake-test-fail-" + randomSuffix()
	instance := InstanceName(opts.Alias)
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
	_, err := Bake(ctx, srv, opts)
	var ee *incus.ExecError
	if !errors.As(err, &ee) || ee.Code != 100 || !strings.Contains(err.Error(), "Unable to locate package") {
		t.Fatalf("want the failing command's error with its output, got %v", err)
	}
	if hookErr != nil {
		t.Fatalf("the hook did not see the transient instance: %v", hookErr)
	}
	if _, err := srv.GetInstance(ctx, instance); !incus.IsNotFound(err) {
		t.Errorf("instance %s left behind (%v)", instance, err)
		_ = srv.Delete(ctx, instance)
	}
	if img, err := srv.ImageByAlias(ctx, opts.Alias); !incus.IsNotFound(err) {
		t.Errorf("image %s left behind (%v, %v)", opts.Alias, img, err)
	}
	imgs, err := srv.ListImages(ctx, incus.PropType)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range imgs {
		for _, a := range i.Aliases {
			if a == opts.Alias {
				t.Errorf("image %s with alias %s left behind", i.Fingerprint, a)
			}
		}
	}
}

// TestBakeLockRefuses holds the lock of an alias the way a running bake
// does and checks that a second bake refuses, naming the instance.
func TestBakeLockRefuses(t *testing.T) {
	srv, opts := harnessBake(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	opts.Alias = "plexbake-test-lock-" + randomSuffix()
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
