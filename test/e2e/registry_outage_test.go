//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/crane"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/plex-dev/plex/internal/testenv"
)

// The lab namespace's push user, in the htpasswd file the test makes.
const (
	labUser     = "ci"
	labPassword = "plex-e2e-lab-password"
	// regLabImage is the image the test builds and pushes, as pods name it.
	regLabImage = regAddr + ":5050/lab/e2e/echo:built"
)

// upstreamRegistry is the cache's upstream: Debian's docker-registry on
// regUpstream, read-only over the harness registry's storage, which the test
// stops and starts for real.
type upstreamRegistry struct {
	config string
	cmd    *exec.Cmd
}

func startUpstream(t *testing.T, h *testenv.Harness) *upstreamRegistry {
	t.Helper()
	u := &upstreamRegistry{config: filepath.Join(h.Cache, "registry", "e2e-upstream.yml")}
	// A killed earlier run may have left its upstream running.
	_ = exec.Command("pkill", "-f", "docker-registry serve "+u.config).Run()
	cfg := fmt.Sprintf(`# Written by the registry e2e test: the cache's upstream.
version: 0.1
log: {level: warn, accesslog: {disabled: true}}
storage:
  filesystem: {rootdirectory: %s}
  maintenance: {readonly: {enabled: true}}
http: {addr: %q}
health: {storagedriver: {enabled: false}}
`, filepath.Join(h.Cache, "registry", "data"), regUpstream)
	if err := os.WriteFile(u.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	u.start(t)
	t.Cleanup(u.stop)
	return u
}

func (u *upstreamRegistry) start(t *testing.T) {
	t.Helper()
	u.cmd = exec.Command("/usr/bin/docker-registry", "serve", u.config)
	u.cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/"}
	u.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := u.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitEvery(t, 100*time.Millisecond, "the test's upstream registry to answer", 10*time.Second, func() (bool, error) {
		_, err := remote.Head(mustRef(t, regUpstream+"/plex-e2e/echo:v1"))
		return err == nil, err
	})
}

func (u *upstreamRegistry) stop() {
	if u.cmd != nil && u.cmd.Process != nil {
		_ = u.cmd.Process.Kill()
		_ = u.cmd.Wait()
		u.cmd = nil
	}
}

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// incusRun runs incus without failing the test, within timeout.
func incusRun(h *testenv.Harness, timeout time.Duration, args ...string) (string, time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "incus", args...)
	cmd.Env = append(os.Environ(), "INCUS_SOCKET="+h.Socket)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("still running after %s: %w", timeout, ctx.Err())
	}
	return string(out), time.Since(start), err
}

// cachePull pulls an image through the cache's registry.k8s.io endpoint
// from this machine, manifest, config and every layer read to the end, and
// says how long that took.
func cachePull(t *testing.T, repoRef string) (time.Duration, error) {
	t.Helper()
	start := time.Now()
	img, err := remote.Image(mustRef(t, regAddr+":5002/"+repoRef))
	if err != nil {
		return time.Since(start), err
	}
	if _, err := img.RawConfigFile(); err != nil {
		return time.Since(start), err
	}
	layers, err := img.Layers()
	if err != nil {
		return time.Since(start), err
	}
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			return time.Since(start), err
		}
		_, err = io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil {
			return time.Since(start), err
		}
	}
	return time.Since(start), nil
}

// labImages pushes an image built here into the cache's lab namespace
// (only with the password, only on the push port), loads another with
// warm --from-oci, and runs a pod from the first on the worker.
func labImages(t *testing.T, h *testenv.Harness, cs *kubernetes.Clientset, runIn func(stdin, bin string, args ...string) (string, error), home string) {
	base, err := remote.Image(mustRef(t, regUpstream+"/plex-e2e/echo:v1"))
	if err != nil {
		t.Fatal(err)
	}
	build := func(what string) v1.Image {
		l, err := crane.Layer(map[string][]byte{"etc/plex-e2e-built": []byte(what + "\n")})
		if err != nil {
			t.Fatal(err)
		}
		img, err := mutate.AppendLayers(base, l)
		if err != nil {
			t.Fatal(err)
		}
		return img
	}
	img := build("pushed by TestRegistry")
	auth := remote.WithAuth(&authn.Basic{Username: labUser, Password: labPassword})
	if err := remote.Write(mustRef(t, regAddr+":5051/lab/e2e/echo:anonymous"), img); err == nil {
		t.Errorf("an anonymous push into the lab namespace was taken, though the cache has --push-htpasswd")
	}
	if err := remote.Write(mustRef(t, regAddr+":5050/lab/e2e/echo:readonly"), img, auth); err == nil {
		t.Errorf("a push to the lab's pull port 5050 was taken, though it should be read-only with --push-htpasswd")
	}
	if err := remote.Write(mustRef(t, regAddr+":5051/lab/e2e/echo:built"), img, auth); err != nil {
		t.Fatalf("pushing into the lab namespace with the password: %v", err)
	}

	dir := filepath.Join(home, "oci")
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(build("loaded by warm --from-oci"), layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "v2"})); err != nil {
		t.Fatal(err)
	}
	out, err := runIn(labPassword+"\n", "plex-registry", "warm", "--plex", regPlex, "--from-oci", dir, "--repository", "e2e-oci", "--username", labUser, "--password-stdin")
	if err != nil || !strings.Contains(out, regAddr+":5050/lab/e2e-oci:v2") {
		t.Fatalf("warm --from-oci: %v\n%s", err, out)
	}

	out, err = runIn("", "plex-registry", "status", regPlex, "-o", "json")
	var st []struct {
		Lab struct {
			Host, PushHost string
			PushAuth       bool
			Repositories   []string
		} `json:"lab"`
	}
	if err != nil || json.Unmarshal([]byte(out), &st) != nil || len(st) != 1 {
		t.Fatalf("status: %v\n%s", err, out)
	}
	lab := st[0].Lab
	if lab.Host != regAddr+":5050" || lab.PushHost != regAddr+":5051" || !lab.PushAuth ||
		strings.Join(lab.Repositories, " ") != "lab/e2e-oci lab/e2e/echo" {
		t.Errorf("status of the lab namespace: %+v", lab)
	}

	startWorkerPod(t, cs, "lab-echo", regLabImage, corev1.PullIfNotPresent)
	startWorkerPod(t, cs, "lab-oci", regAddr+":5050/lab/e2e-oci:v2", corev1.PullIfNotPresent)
}

// startWorkerPod runs a pod on the worker and waits until it runs; it returns how
// long that took.
func startWorkerPod(t *testing.T, cs *kubernetes.Clientset, name, image string, pull corev1.PullPolicy) time.Duration {
	t.Helper()
	ctx := context.Background()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.PodSpec{
			NodeName:   regWorker,
			Containers: []corev1.Container{{Name: "echo", Image: image, ImagePullPolicy: pull}},
		},
	}
	start := time.Now()
	if _, err := cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitEvery(t, 100*time.Millisecond, "pod "+name+" ("+image+") to run on "+regWorker, 2*time.Minute, func() (bool, error) {
		p, err := cs.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if p.Status.Phase == corev1.PodRunning {
			return true, nil
		}
		return false, fmt.Errorf("phase %s, %+v", p.Status.Phase, p.Status.ContainerStatuses)
	})
	return time.Since(start)
}

// podPullFails starts a pod on the worker that must pull image, and says
// how long until the kubelet reports that the pull failed. A pull that
// neither works nor fails within two minutes hangs, and fails the test.
func podPullFails(t *testing.T, cs *kubernetes.Clientset, name, image string) time.Duration {
	t.Helper()
	ctx := context.Background()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.PodSpec{
			NodeName:   regWorker,
			Containers: []corev1.Container{{Name: "c", Image: image, ImagePullPolicy: corev1.PullAlways}},
		},
	}
	start := time.Now()
	if _, err := cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitEvery(t, 100*time.Millisecond, "the kubelet to report that pod "+name+" cannot pull "+image, 2*time.Minute, func() (bool, error) {
		p, err := cs.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, c := range p.Status.ContainerStatuses {
			if w := c.State.Waiting; w != nil && (w.Reason == "ErrImagePull" || w.Reason == "ImagePullBackOff") {
				return true, nil
			}
			if c.State.Running != nil {
				t.Fatalf("pod %s runs %s, which no registry should serve", name, image)
			}
		}
		return false, fmt.Errorf("phase %s, %+v", p.Status.Phase, p.Status.ContainerStatuses)
	})
	d := time.Since(start)
	_ = cs.CoreV1().Pods("default").Delete(ctx, name, metav1.DeleteOptions{})
	return d
}

// waitServing waits until the cache's registry.k8s.io unit serves in mode
// ("proxy", or "offline": read-only without its upstream) and says after
// how long.
func waitServing(t *testing.T, h *testenv.Harness, mode string, timeout time.Duration) time.Duration {
	t.Helper()
	cfg := "/etc/plex-registry/registry.k8s.io.yml"
	if mode == "offline" {
		cfg = "/etc/plex-registry/registry.k8s.io.offline.yml"
	}
	start := time.Now()
	waitEvery(t, 200*time.Millisecond, "the cache's registry.k8s.io unit to serve "+mode, timeout, func() (bool, error) {
		// No pgrep in the cache image: one line per process, from /proc.
		script := `for f in /proc/[0-9]*/cmdline; do tr '\0' ' ' <"$f"; echo; done 2>/dev/null | grep -q "docker-registry serve $0 \$"`
		_, _, err := incusRun(h, 10*time.Second, "exec", regCache, "--", "bash", "-c", script, cfg)
		return err == nil, err
	})
	return time.Since(start)
}

// outage stops the cache's upstream for real and checks what the cache
// still does, with figures; then stops the cache too; then makes the
// upstream drop the cache's packets instead of refusing them.
func outage(t *testing.T, h *testenv.Harness, cs *kubernetes.Clientset, up *upstreamRegistry) {
	desc, err := remote.Head(mustRef(t, regUpstream+"/plex-e2e/echo:v1"))
	if err != nil {
		t.Fatal(err)
	}
	byDigest := "plex-e2e/echo@" + desc.Digest.String()
	figure := func(what string, d time.Duration) {
		t.Logf("FIGURE registry outage (distribution), %s: %s", what, d.Round(10*time.Millisecond))
	}

	// The unit was just restarted: wait for its proxy to serve.
	waitServing(t, h, "proxy", time.Minute)
	waitEvery(t, 100*time.Millisecond, "the cache's proxy to serve with its upstream up", time.Minute, func() (bool, error) {
		_, err := cachePull(t, "plex-e2e/echo:v1")
		return err == nil, err
	})
	up.stop()
	d, err := cachePull(t, "plex-e2e/echo:v1")
	if err != nil {
		t.Errorf("upstream just stopped: a cached image by tag does not come from the cache: %v", err)
	}
	figure("upstream just stopped, proxy still on, cached image by tag", d)
	figure("upstream stopped, read-only after", waitServing(t, h, "offline", time.Minute))
	for _, c := range []struct{ what, ref string }{{"cached image by tag", "plex-e2e/echo:v1"}, {"cached image by digest", byDigest}} {
		d, err := cachePull(t, c.ref)
		if err != nil {
			t.Errorf("upstream stopped: a %s does not come from the cache: %v", c.what, err)
		}
		figure(c.what, d)
	}
	d, err = cachePull(t, "plex-e2e/never-cached:v1")
	if err == nil {
		t.Errorf("upstream stopped: an image never cached came from the cache")
	}
	figure("uncached image fails", d)
	figure("pod with a cached image and imagePullPolicy Always to Running", startWorkerPod(t, cs, "echo-outage", regEcho, corev1.PullAlways))
	startWorkerPod(t, cs, "lab-echo-outage", regLabImage, corev1.PullAlways)
	figure("pod with an uncached image to ErrImagePull", podPullFails(t, cs, "never-cached", "registry.k8s.io/plex-e2e/never-cached:v1"))

	// The cache down too: the pull fails, and does not hang.
	h.Incus(t, "exec", regCache, "--", "systemctl", "stop", "plex-registry-registry.k8s.io.service")
	figure("cache and upstream stopped, pod to ErrImagePull", podPullFails(t, cs, "all-down", regEcho))
	h.Incus(t, "exec", regCache, "--", "systemctl", "start", "plex-registry-registry.k8s.io.service")

	// An upstream that drops packets (an unplugged uplink) rather than
	// refusing them: the cache notices and serves without it.
	up.start(t)
	waitServing(t, h, "proxy", time.Minute)
	table := "plex-e2e-outage"
	script := fmt.Sprintf("add table inet %s\nadd chain inet %s in { type filter hook input priority -5; }\nadd rule inet %s in ip saddr %s ip daddr 10.212.0.1 tcp dport 5100 drop\n", table, table, table, regAddr)
	t.Cleanup(func() { _ = exec.Command("nft", "delete", "table", "inet", table).Run() })
	_ = exec.Command("nft", "delete", "table", "inet", table).Run()
	nft := exec.Command("nft", "-f", "-")
	nft.Stdin = strings.NewReader(script)
	if out, err := nft.CombinedOutput(); err != nil {
		t.Fatalf("nft: %v\n%s", err, out)
	}
	figure("upstream dropping packets, read-only after", waitServing(t, h, "offline", time.Minute))
	d, err = cachePull(t, "plex-e2e/echo:v1")
	if err != nil {
		t.Errorf("upstream dropping packets: a cached image by tag does not come from the cache: %v", err)
	}
	figure("upstream dropping packets, cached image by tag", d)
	if err := exec.Command("nft", "delete", "table", "inet", table).Run(); err != nil {
		t.Error(errors.Join(errors.New("nft delete table"), err))
	}
}
