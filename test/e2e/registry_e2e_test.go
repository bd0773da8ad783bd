//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"golang.org/x/crypto/bcrypt"

	"github.com/plex-dev/plex/internal/testenv"
)

const (
	regPlex   = "plexreg"
	regWorker = "plexreg2"
	// regUpstream is the cache's upstream: a registry this test runs and
	// stops, serving the harness registry's storage read-only.
	regUpstream = "10.212.0.1:5100"
	regSpec     = "testdata/registry.yaml"
	regCache    = "plexreg13"
	regAddr     = "10.212.0.143"
	// regEcho is the e2e workload the harness registry serves.
	regEcho = "registry.k8s.io/plex-e2e/echo:v1"
)

// TestRegistry drives plex-registry and kubectl-plex together: the cache
// (distribution engine, registry.k8s.io's repositories from a registry the
// test runs, pushes into its lab namespace behind a password) comes up
// first, then a 1+1 plex whose nodes pull kubeadm's images and a workload
// through it, as the cache's storage shows; the local-registry-hosting
// ConfigMap is published; warm --from-cluster finds everything cached. An
// image built here is pushed into the lab namespace (and another loaded
// with warm --from-oci) and runs on the worker. Then the upstream is
// stopped for real: cached images still come from the cache, an uncached
// one fails fast, pods still start; with the cache stopped too, a pull
// fails rather than hangs; and an upstream that drops packets is stepped
// around. Run it with `make e2e-registry`.
func TestRegistry(t *testing.T) {
	h := testenv.Require(t)
	bins := map[string]string{}
	for _, b := range []string{"kubectl-plex", "plex-registry", "incus-plexbake"} {
		p, err := filepath.Abs("../../bin/" + b)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s missing: run `make build`", p)
		}
		bins[b] = p
	}
	home := t.TempDir()
	kubeconfig := filepath.Join(home, "kubeconfig")
	runIn := func(stdin, bin string, args ...string) (string, error) {
		t.Helper()
		start := time.Now()
		cmd := exec.Command(bins[bin], args...)
		cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"), "KUBECONFIG="+kubeconfig)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		t.Logf("%s %s (%s):\n%s", bin, strings.Join(args, " "), time.Since(start).Round(100*time.Millisecond), out)
		return string(out), err
	}
	run := func(bin string, args ...string) (string, error) {
		t.Helper()
		return runIn("", bin, args...)
	}
	must := func(bin string, args ...string) string {
		t.Helper()
		out, err := run(bin, args...)
		if err != nil {
			t.Fatalf("%s %s: %v", bin, strings.Join(args, " "), err)
		}
		return out
	}
	ctx := context.Background()

	// What a killed earlier run left behind.
	_, _ = run("kubectl-plex", "down", regPlex)
	_, _ = run("plex-registry", "down", "-f", regSpec, regPlex, "--purge")
	t.Cleanup(func() {
		if os.Getenv("PLEX_E2E_KEEP") != "" {
			return
		}
		_, _ = run("kubectl-plex", "down", regPlex)
		_, _ = run("plex-registry", "down", "-f", regSpec, regPlex, "--purge")
	})

	upstream := startUpstream(t, h)
	htpasswd := filepath.Join(home, "htpasswd")
	hash, err := bcrypt.GenerateFromPassword([]byte(labPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(htpasswd, []byte(labUser+":"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	must("incus-plexbake", "bake", "registry", h.Image, "--apt-proxy", "http://10.212.0.1:3142", "--wait")
	start := time.Now()
	out := must("plex-registry", "up", "-f", regSpec, regPlex, "--engine", "distribution", "--upstream", "registry.k8s.io=http://"+regUpstream, "--push-htpasswd", htpasswd)
	if !strings.Contains(out, "push to "+regAddr+":5051/lab/NAME:TAG (users of the --push-htpasswd file), pods pull "+regAddr+":5050/lab/NAME:TAG") {
		t.Errorf("up does not tell where the lab namespace is:\n%s", out)
	}
	t.Logf("FIGURE plex-registry up: %s", time.Since(start).Round(100*time.Millisecond))

	start = time.Now()
	out = must("kubectl-plex", "up", "-f", regSpec, regPlex)
	t.Logf("FIGURE kubectl plex up 1+1 through the cache: %s", time.Since(start).Round(100*time.Millisecond))
	if !strings.Contains(out, "pull through the image cache "+regCache) {
		t.Errorf("up did not use the cache:\n%s", out)
	}
	hosts := h.Incus(t, "exec", regPlex+"1", "--", "cat", "/etc/containerd/certs.d/registry.k8s.io/hosts.toml")
	// The cache pulls registry.k8s.io from the test's upstream, so that is
	// also where the node falls back to.
	if !strings.Contains(hosts, `[host."http://`+regAddr+`:5002"]`) || !strings.Contains(hosts, `server = "http://`+regUpstream+`"`) {
		t.Errorf("the node's hosts.toml:\n%s", hosts)
	}
	labHosts := h.Incus(t, "exec", regWorker, "--", "cat", "/etc/containerd/certs.d/"+regAddr+":5050/hosts.toml")
	if !strings.Contains(labHosts, `[host."http://`+regAddr+`:5050"]`) {
		t.Errorf("the worker's hosts.toml of the lab namespace:\n%s", labHosts)
	}

	cs := regClient(t, kubeconfig)
	cm, err := cs.CoreV1().ConfigMaps("kube-public").Get(ctx, "local-registry-hosting", metav1.GetOptions{})
	if err != nil || !strings.Contains(cm.Data["localRegistryHosting.v1"], "host: "+regAddr+":5051") ||
		!strings.Contains(cm.Data["localRegistryHosting.v1"], "hostFromContainerRuntime: "+regAddr+":5050") {
		t.Errorf("ConfigMap local-registry-hosting: %v %v", cm, err)
	}

	// A workload from registry.k8s.io, pulled by the node through the cache.
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "echo", Namespace: "default"},
		Spec: corev1.PodSpec{
			Containers:  []corev1.Container{{Name: "echo", Image: regEcho}},
			Tolerations: []corev1.Toleration{{Key: "node-role.kubernetes.io/control-plane", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}},
		},
	}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		// The default service account comes a moment after the API server.
		_, err := cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
	}
	for {
		p, err := cs.CoreV1().Pods("default").Get(ctx, "echo", metav1.GetOptions{})
		if err == nil && p.Status.Phase == corev1.PodRunning {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the echo pod does not run after 3 minutes: %v %+v", err, p.Status)
		}
		time.Sleep(time.Second)
	}

	// The node was the cache's only client: what the cache holds, it pulled.
	var st []struct {
		Upstreams []struct {
			Name         string   `json:"name"`
			Repositories []string `json:"repositories"`
		} `json:"upstreams"`
	}
	if err := json.Unmarshal([]byte(must("plex-registry", "status", regPlex, "-o", "json")), &st); err != nil || len(st) != 1 {
		t.Fatalf("status: %v", err)
	}
	repos := ""
	for _, u := range st[0].Upstreams {
		if u.Name == "registry.k8s.io" {
			repos = " " + strings.Join(u.Repositories, " ") + " "
		}
	}
	for _, want := range []string{"pause", "etcd", "kube-apiserver", "kube-proxy", "coredns/coredns", "plex-e2e/echo"} {
		if !strings.Contains(repos, " "+want+" ") {
			t.Errorf("the cache holds no %s: the node did not pull it through the cache (repositories:%s)", want, repos)
		}
	}

	// Everything running in the plex is cached already.
	out = must("plex-registry", "warm", "--plex", regPlex, "--from-cluster", regPlex, "--kubeconfig", kubeconfig)
	if !strings.Contains(out, "(0 fetched,") {
		t.Errorf("warm --from-cluster fetched blobs the node had pulled through the cache already:\n%s", out)
	}

	labImages(t, h, cs, runIn, home)

	// With the cache's registry.k8s.io proxy down, the node falls back to the
	// server of its hosts.toml: a pod that must pull (imagePullPolicy Always)
	// still starts.
	h.Incus(t, "exec", regCache, "--", "systemctl", "stop", "plex-registry-registry.k8s.io.service")
	fallback := pod.DeepCopy()
	fallback.Name = "echo-fallback"
	fallback.Spec.Containers[0].ImagePullPolicy = corev1.PullAlways
	if _, err := cs.CoreV1().Pods("default").Create(ctx, fallback, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(2 * time.Minute)
	for {
		p, err := cs.CoreV1().Pods("default").Get(ctx, fallback.Name, metav1.GetOptions{})
		if err == nil && p.Status.Phase == corev1.PodRunning {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("with the cache down, a pod pulling %s does not run after 2 minutes: %v %+v", regEcho, err, p.Status)
		}
		time.Sleep(time.Second)
	}
	h.Incus(t, "exec", regCache, "--", "systemctl", "start", "plex-registry-registry.k8s.io.service")

	outage(t, h, cs, upstream)

	// kubectl plex down takes the nodes and leaves the cache to plex-registry.
	out = must("kubectl-plex", "down", regPlex)
	if !strings.Contains(out, "kept the registry cache "+regCache) {
		t.Errorf("down did not say it kept the cache:\n%s", out)
	}
	left := strings.Fields(h.Incus(t, "list", "user.plex.plex="+regPlex, "-c", "n", "-f", "csv"))
	if len(left) != 1 || left[0] != regCache {
		t.Errorf("after kubectl plex down: instances %v, want only the cache %s", left, regCache)
	}
}

func regClient(t *testing.T, kubeconfig string) *kubernetes.Clientset {
	t.Helper()
	rc, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: kubeconfig},
		&clientcmd.ConfigOverrides{CurrentContext: "plex-" + regPlex}).ClientConfig()
	if err != nil {
		t.Fatalf("kubeconfig: %v", err)
	}
	return kubernetes.NewForConfigOrDie(rc)
}
