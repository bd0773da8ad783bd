//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

const (
	fluxPlex = "plexflux"
	// fluxGitListen is where the Git server listens: the bridge's host
	// address. The host has no route to the pod CIDRs; pods reach it because
	// their nodes masquerade what leaves the plex (cni.MasqScript).
	fluxGitListen = "10.212.0.1:0"
	fluxNS        = "flux-system"
	demoNS        = "plexflux-demo"
)

var (
	gitRepositoryGVR = schema.GroupVersionResource{Group: "source.toolkit.fluxcd.io", Version: "v1", Resource: "gitrepositories"}
	kustomizationGVR = schema.GroupVersionResource{Group: "kustomize.toolkit.fluxcd.io", Version: "v1", Resource: "kustomizations"}
)

// TestFlux proves `kubectl plex fluxstrap` with a real reconciliation: Flux's
// controllers, built by the harness from the Go module proxy and served from
// its registry, pull a Git repository from the host over smart HTTP and apply
// it; a commit lands after a forced reconcile; a re-run changes nothing.
func TestFlux(t *testing.T) {
	e, h := newEnv(t, fluxPlex, "")
	home := e.home
	manifests := filepath.Join(h.Cache, "flux", "v2.7.3", "manifests")
	if _, err := os.Stat(filepath.Join(manifests, "source-controller.yaml")); err != nil {
		t.Fatalf("the offline Flux manifests are missing (%v): run `make flux-images`", err)
	}
	ctx := context.Background()

	// The repository Flux syncs: a Namespace and two ConfigMaps under clusters/plexflux.
	git := startGitServer(t, fluxGitListen)
	first := git.commit("plexflux: demo namespace and config", map[string]string{
		"clusters/plexflux/namespace.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: " + demoNS + "\n",
		"clusters/plexflux/greeting.yaml":  configMap("greeting", "hello from git"),
		"clusters/plexflux/doomed.yaml":    configMap("doomed", "pruned by the next commit"),
	})
	t.Logf("git server at %s, first commit %s", git.URL(), first)

	// The spec's flux block names the server.
	specBytes, err := os.ReadFile("testdata/flux.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e.spec = filepath.Join(home, "flux.yaml")
	if err := os.WriteFile(e.spec, []byte(strings.ReplaceAll(string(specBytes), "GITSERVER", git.Addr)), 0o644); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	e.mustPlex("up", "-f", e.spec)
	t.Logf("FIGURE flux: up 1+1 to all Ready: %s", time.Since(start).Round(100*time.Millisecond))

	strap := []string{"fluxstrap", fluxPlex, "-f", e.spec, "--manifests", manifests, "--registry", "registry.k8s.io/fluxcd", "--timeout", "4m"}
	start = time.Now()
	out := e.mustPlex(strap...)
	t.Logf("FIGURE flux: fluxstrap, apply to controllers available and first sync ready: %s", time.Since(start).Round(100*time.Millisecond))
	for _, want := range []string{"source-controller available", "kustomize-controller available", "GitRepository flux-system ready", "Kustomization flux-system ready"} {
		if !strings.Contains(out, "✓ "+fluxPlex+": "+want) {
			t.Fatalf("fluxstrap output lacks a ✓ line for %q:\n%s", want, out)
		}
	}

	cs, dyn := fluxClients(t, e.kubeconfig)
	// fluxstrap waited for the Kustomization: the objects are there already.
	if _, err := cs.CoreV1().Namespaces().Get(ctx, demoNS, metav1.GetOptions{}); err != nil {
		t.Fatalf("namespace %s from git: %v", demoNS, err)
	}
	expectGreeting(t, ctx, cs, "hello from git")
	if _, err := cs.CoreV1().ConfigMaps(demoNS).Get(ctx, "doomed", metav1.GetOptions{}); err != nil {
		t.Fatalf("configmap doomed from git: %v", err)
	}
	ks := getFlux(t, ctx, dyn, kustomizationGVR)
	if rev, _, _ := unstructured.NestedString(ks.Object, "status", "lastAppliedRevision"); !strings.HasSuffix(rev, first) {
		t.Fatalf("Kustomization applied %q, want main@sha1:%s", rev, first)
	}

	// A commit that changes one ConfigMap and deletes the other, then a forced
	// reconcile, as `flux reconcile kustomization flux-system --with-source` does.
	second := git.commit("plexflux: new greeting, drop doomed", map[string]string{
		"clusters/plexflux/greeting.yaml": configMap("greeting", "hello again"),
		"clusters/plexflux/doomed.yaml":   "",
	})
	start = time.Now()
	fetched := reconcileTo(t, ctx, cs, dyn, second, "hello again")
	t.Logf("FIGURE flux: commit to change in the cluster with a forced reconcile: %s (fetch %s)",
		time.Since(start).Round(10*time.Millisecond), fetched.Round(10*time.Millisecond))
	waitFor(t, "configmap doomed to be pruned", time.Minute, func() (bool, error) {
		_, err := cs.CoreV1().ConfigMaps(demoNS).Get(ctx, "doomed", metav1.GetOptions{})
		return err != nil && strings.Contains(err.Error(), "not found"), err
	})

	// A re-run converges without changing anything.
	before := generations(t, ctx, cs, dyn)
	start = time.Now()
	e.mustPlex(strap...)
	t.Logf("FIGURE flux: fluxstrap re-run: %s", time.Since(start).Round(100*time.Millisecond))
	if after := generations(t, ctx, cs, dyn); after != before {
		t.Fatalf("the re-run changed specs:\n before %s\n after  %s", before, after)
	}
	expectGreeting(t, ctx, cs, "hello again")
	dep, err := cs.AppsV1().Deployments(fluxNS).Get(ctx, "source-controller", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !managedBy(dep.ManagedFields, "plex") {
		t.Fatalf("source-controller has no fields managed by \"plex\": %+v", dep.ManagedFields)
	}

	// An SSH source: fluxstrap makes a deploy key, stores it as the Flux
	// secret and prints it; once the Git host authorizes it, Flux pulls over
	// SSH. A re-run keeps the key.
	sshGit := startSSHGitServer(t, git, fluxGitListen)
	sshStrap := []string{"fluxstrap", fluxPlex, "--url", sshGit.URL(), "--manifests", manifests, "--registry", "registry.k8s.io/fluxcd", "--timeout", "4m"}
	out = e.mustPlex(sshStrap...)
	key := deployKeyLine(t, out)
	if !strings.Contains(out, "deploy key (new") {
		t.Fatalf("the first SSH fluxstrap did not say the key is new:\n%s", out)
	}
	sec, err := cs.CoreV1().Secrets(fluxNS).Get(ctx, "flux-system", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the deploy key secret: %v", err)
	}
	host, port, _ := strings.Cut(sshGit.Addr, ":")
	if string(sec.Data["identity.pub"]) != key+"\n" || len(sec.Data["identity"]) == 0 ||
		!strings.HasPrefix(string(sec.Data["known_hosts"]), "["+host+"]:"+port+" ssh-ed25519 ") {
		t.Fatalf("secret flux-system does not hold the printed key %q and the server's host key: %v", key, sec.Data)
	}
	sshGit.authorize(key)
	third := git.commit("plexflux: greeting over ssh", map[string]string{
		"clusters/plexflux/greeting.yaml": configMap("greeting", "hello over ssh"),
	})
	start = time.Now()
	reconcileTo(t, ctx, cs, dyn, third, "hello over ssh")
	t.Logf("FIGURE flux: over SSH with the deploy key, commit to change with a forced reconcile: %s", time.Since(start).Round(10*time.Millisecond))
	out = e.mustPlex(sshStrap...)
	if again := deployKeyLine(t, out); again != key || !strings.Contains(out, "deploy key (kept") {
		t.Fatalf("the re-run did not keep the deploy key %q:\n%s", key, out)
	}
	if !strings.Contains(out, "✓ "+fluxPlex+": Kustomization flux-system ready") {
		t.Fatalf("the SSH re-run did not wait for the sync:\n%s", out)
	}

	// --export prints what would be applied and applies nothing; it needs no plex.
	cmd := exec.Command(e.bin, "fluxstrap", "no-such-plex", "--url", git.URL(), "--manifests", manifests, "--registry", "registry.k8s.io/fluxcd", "--export")
	cmd.Env = append(os.Environ(), "HOME="+home)
	exported, err := cmd.Output()
	if err != nil {
		t.Fatalf("fluxstrap --export: %v", err)
	}
	for _, want := range []string{"kind: CustomResourceDefinition", "image: registry.k8s.io/fluxcd/source-controller:v1.7.3", "kind: GitRepository", "url: " + git.URL(), "path: ./clusters/no-such-plex"} {
		if !strings.Contains(string(exported), want) {
			t.Fatalf("--export output lacks %q", want)
		}
	}
	t.Logf("fluxstrap --export: %d bytes of YAML", len(exported))
}

// reconcileTo forces a reconcile, as `flux reconcile kustomization
// flux-system --with-source` does, until the source is at commit and the
// greeting says message. It returns how long the fetch took.
func reconcileTo(t *testing.T, ctx context.Context, cs *kubernetes.Clientset, dyn dynamic.Interface, commit, message string) time.Duration {
	t.Helper()
	start := time.Now()
	requestReconcile(t, ctx, dyn, gitRepositoryGVR)
	waitEvery(t, 100*time.Millisecond, "the GitRepository to fetch "+commit, time.Minute, func() (bool, error) {
		gr := getFlux(t, ctx, dyn, gitRepositoryGVR)
		rev, _, _ := unstructured.NestedString(gr.Object, "status", "artifact", "revision")
		_, msg := fluxCondition(gr, "Ready")
		return strings.HasSuffix(rev, commit), fmt.Errorf("at %s: %s", rev, msg)
	})
	fetched := time.Since(start)
	requestReconcile(t, ctx, dyn, kustomizationGVR)
	waitEvery(t, 100*time.Millisecond, "the greeting "+message+" to land", time.Minute, func() (bool, error) {
		cm, err := cs.CoreV1().ConfigMaps(demoNS).Get(ctx, "greeting", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return cm.Data["message"] == message, fmt.Errorf("message %q", cm.Data["message"])
	})
	return fetched
}

func fluxCondition(o *unstructured.Unstructured, typ string) (string, string) {
	conds, _, _ := unstructured.NestedSlice(o.Object, "status", "conditions")
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok && m["type"] == typ {
			s, _ := m["status"].(string)
			msg, _ := m["message"].(string)
			return s, msg
		}
	}
	return "", ""
}

// deployKeyLine finds the public key fluxstrap printed.
func deployKeyLine(t *testing.T, out string) string {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, "ssh-ed25519 ") {
			return l
		}
	}
	t.Fatalf("fluxstrap printed no ssh-ed25519 deploy key:\n%s", out)
	return ""
}

func configMap(name, message string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n  namespace: %s\ndata:\n  message: %s\n", name, demoNS, message)
}

func fluxClients(t *testing.T, kubeconfig string) (*kubernetes.Clientset, dynamic.Interface) {
	t.Helper()
	rc, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: kubeconfig},
		&clientcmd.ConfigOverrides{CurrentContext: "plex-" + fluxPlex}).ClientConfig()
	if err != nil {
		t.Fatalf("kubeconfig: %v", err)
	}
	return kubernetes.NewForConfigOrDie(rc), dynamic.NewForConfigOrDie(rc)
}

func getFlux(t *testing.T, ctx context.Context, dyn dynamic.Interface, gvr schema.GroupVersionResource) *unstructured.Unstructured {
	t.Helper()
	o, err := dyn.Resource(gvr).Namespace(fluxNS).Get(ctx, "flux-system", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("%s flux-system: %v", gvr.Resource, err)
	}
	return o
}

// requestReconcile sets reconcile.fluxcd.io/requestedAt, which makes a Flux
// controller reconcile the object at once.
func requestReconcile(t *testing.T, ctx context.Context, dyn dynamic.Interface, gvr schema.GroupVersionResource) {
	t.Helper()
	patch := fmt.Sprintf(`{"metadata":{"annotations":{"reconcile.fluxcd.io/requestedAt":%q}}}`, time.Now().Format(time.RFC3339Nano))
	if _, err := dyn.Resource(gvr).Namespace(fluxNS).Patch(ctx, "flux-system", types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatalf("requesting a reconcile of %s: %v", gvr.Resource, err)
	}
}

func expectGreeting(t *testing.T, ctx context.Context, cs *kubernetes.Clientset, want string) {
	t.Helper()
	cm, err := cs.CoreV1().ConfigMaps(demoNS).Get(ctx, "greeting", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("configmap greeting from git: %v", err)
	}
	if cm.Data["message"] != want {
		t.Fatalf("configmap greeting says %q, want %q", cm.Data["message"], want)
	}
}

// generations summarises the spec generations of what fluxstrap applies.
func generations(t *testing.T, ctx context.Context, cs *kubernetes.Clientset, dyn dynamic.Interface) string {
	t.Helper()
	var parts []string
	for _, d := range []string{"source-controller", "kustomize-controller"} {
		dep, err := cs.AppsV1().Deployments(fluxNS).Get(ctx, d, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, fmt.Sprintf("%s=%d", d, dep.Generation))
	}
	for _, gvr := range []schema.GroupVersionResource{gitRepositoryGVR, kustomizationGVR} {
		parts = append(parts, fmt.Sprintf("%s=%d", gvr.Resource, getFlux(t, ctx, dyn, gvr).GetGeneration()))
	}
	return strings.Join(parts, " ")
}

func managedBy(fields []metav1.ManagedFieldsEntry, manager string) bool {
	for _, f := range fields {
		if f.Manager == manager && f.Operation == metav1.ManagedFieldsOperationApply {
			return true
		}
	}
	return false
}
