package bake

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/plex-dev/plex/core/incus"
	"github.com/plex-dev/plex/core/status"
)

func TestBaseName(t *testing.T) {
	for ref, want := range map[string]string{
		"debian12":               "debian12",
		"images:debian/12/cloud": "debian-12-cloud",
		"images:ubuntu/24.04":    "ubuntu-24.04",
		"local:Debian12":         "debian12",
		"my_base":                "my-base",
		"--x--":                  "x",
		"/":                      "",
	} {
		if got := BaseName(ref); got != want {
			t.Errorf("BaseName(%q) = %q, want %q", ref, got, want)
		}
	}
	if got := DefaultAlias("images:debian/12/cloud", TypeKube); got != "debian-12-cloud_kube" {
		t.Errorf("DefaultAlias = %q", got)
	}
}

func TestInstanceName(t *testing.T) {
	if got := InstanceName("debian12_kube"); got != "plexbake-debian12-kube" {
		t.Errorf("InstanceName = %q", got)
	}
	long := strings.Repeat("a", 80) + "_kube"
	got := InstanceName(long)
	if len(got) > 63 || !strings.HasPrefix(got, "plexbake-aaa") {
		t.Errorf("InstanceName(long) = %q (%d chars)", got, len(got))
	}
	if other := InstanceName(strings.Repeat("a", 80) + "_kubf"); other == got {
		t.Errorf("two long aliases share instance name %q", got)
	}
}

// TestInputsHash checks that every input changes the hash and that the hash
// is stable otherwise.
func TestInputsHash(t *testing.T) {
	base := func() Inputs {
		return inputsFor(Options{Type: TypeKube, KubernetesVersion: "v1.34.4"}, "fp1",
			[]artifact{{Name: "kubeadm", SHA256: "a"}, {Name: "kubelet", SHA256: "b"}, {Name: "kubectl", SHA256: "c"}})
	}
	ref := base().Hash()
	if again := base().Hash(); again != ref {
		t.Fatalf("hash is not stable: %s vs %s", ref, again)
	}
	changes := map[string]func(*Inputs){
		"type":          func(in *Inputs) { in.Type = TypeRegistry },
		"vm":            func(in *Inputs) { in.VM = true },
		"base":          func(in *Inputs) { in.BaseFingerprint = "fp2" },
		"version":       func(in *Inputs) { in.KubernetesVersion = "v1.34.5" },
		"artifact":      func(in *Inputs) { in.Artifacts["kubelet"] = "B" },
		"format":        func(in *Inputs) { in.Format++ },
		"script":        func(in *Inputs) { in.Scripts["kube-provision.sh"] += "\n# edited" },
		"sandbox image": func(in *Inputs) { in.Settings = withSetting(in.Settings, "PLEX_SANDBOX_IMAGE", "pause:x") },
		"packages":      func(in *Inputs) { in.Settings = withSetting(in.Settings, "PLEX_PACKAGES", "containerd") },
		"runtime":       func(in *Inputs) { in.Settings = withSetting(in.Settings, "PLEX_RUNTIME", "distro") },
		"containerd":    func(in *Inputs) { in.Settings = withSetting(in.Settings, "PLEX_CONTAINERD_VERSION", "2.4.3") },
		"preload":       func(in *Inputs) { in.Settings = withSetting(in.Settings, "PLEX_PRELOAD_IMAGES", "true") },
	}
	for name, change := range changes {
		in := base()
		change(&in)
		if in.Hash() == ref {
			t.Errorf("changing the %s does not change the inputs hash", name)
		}
	}
	// What does not go into the image does not change it.
	o := Options{Type: TypeKube, KubernetesVersion: "v1.34.4", AptProxy: "http://p:3142", Alias: "x", KubeArtifacts: "/elsewhere", Retain: true}
	in := inputsFor(o, "fp1", []artifact{{Name: "kubeadm", SHA256: "a", Path: "/x"}, {Name: "kubelet", SHA256: "b"}, {Name: "kubectl", SHA256: "c"}})
	if in.Hash() != ref {
		t.Errorf("the apt proxy, alias, artifact path or --retain changed the inputs hash")
	}
	if len(in.Scripts) != len(typeOf(TypeKube).scripts) || in.Scripts["clean.sh"] == "" {
		t.Errorf("inputs lack the scripts: %v", sortedKeys(in.Scripts))
	}
	if !strings.Contains(in.Files["/etc/systemd/system/systemd-networkd.service.d/10-plex-container.conf"], "ReadOnlyPaths=/sys") {
		t.Errorf("inputs lack the boot files: %v", sortedKeys(in.Files))
	}
	edited := base()
	edited.Files = map[string]string{"/etc/x": "y"}
	if edited.Hash() == ref {
		t.Errorf("changing a boot file does not change the inputs hash")
	}
}

func withSetting(m map[string]string, k, v string) map[string]string {
	out := map[string]string{}
	for kk, vv := range m {
		out[kk] = vv
	}
	out[k] = v
	return out
}

func TestDryRun(t *testing.T) {
	res, err := Bake(context.Background(), nil, Options{Type: TypeKube, Base: "images:debian/12/cloud", DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Alias != "debian-12-cloud_kube" || res.Instance != "plexbake-debian-12-cloud-kube" {
		t.Errorf("alias %q, instance %q", res.Alias, res.Instance)
	}
	want := []string{"resolve base", "inputs hash", "look for debian-12-cloud_kube", "create transient instance",
		"write boot-time files", "start", "boot", "copy the bake's scripts", "install kubeadm, kubelet, kubectl v1.34.4 from the upstream release",
		"install packages", "verify", "clean", "stop", "publish", "delete transient instance", "point debian-12-cloud_kube"}
	if len(res.Steps) != len(want) {
		t.Fatalf("steps:\n%s", strings.Join(res.Steps, "\n"))
	}
	for i, w := range want {
		if !strings.Contains(res.Steps[i], w) {
			t.Errorf("step %d is %q, want it to mention %q", i+1, res.Steps[i], w)
		}
	}
}

func TestOptionsErrors(t *testing.T) {
	_, err := Bake(context.Background(), nil, Options{Type: "", Base: "debian12", KubernetesVersion: "1.34", AptProxy: "10.0.0.1:3142", DryRun: true})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{`no node type given (known types: kube, registry)`, `"1.34" is not a release version`, "apt proxy"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	_, err = Bake(context.Background(), nil, Options{Type: "kubernetes", Base: "debian12", DryRun: true})
	if !errors.Is(err, ErrUnknownType) {
		t.Errorf("unknown type: %v", err)
	}
}

func TestParseFacts(t *testing.T) {
	f := parseFacts("--- step\nplex-fact a=1\n  plex-fact b=x=y\nplex-factor c=2\n")
	if len(f) != 2 || f["a"] != "1" || f["b"] != "x=y" {
		t.Errorf("facts = %v", f)
	}
}

// artifactDir writes fake kubeadm, kubelet and kubectl, containerd, its shim
// and runc.
func artifactDir(t *testing.T) string {
	dir := t.TempDir()
	for _, b := range append(kubeBinaries.names, runtimeBinaries.names...) {
		if err := os.WriteFile(filepath.Join(dir, b), []byte("#!/bin/sh\necho "+b+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestBakeFlowWithFakeServer(t *testing.T) {
	ctx := context.Background()
	f := newFakeServer()
	opts := Options{Type: TypeKube, Base: "debian12", KubeArtifacts: artifactDir(t), RuntimeArtifacts: artifactDir(t)}
	res, err := Bake(ctx, f, opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Cached || res.Fingerprint == "" || f.aliases["debian12_kube"] != res.Fingerprint {
		t.Fatalf("result %+v, aliases %v", res, f.aliases)
	}
	p := f.images[res.Fingerprint]
	for k, want := range map[string]string{
		incus.PropType: "kube", incus.PropBase: "debian12", incus.PropInputs: res.Inputs,
		incus.PropKubernetesVersion: "v1.34.4", incus.PropContainerdVersion: "2.4.2", incus.PropRuncVersion: "1.5.3",
		incus.PropRestrictOOMScoreAdj: "true", "os": "Debian", "release": "bookworm",
	} {
		if p[k] != want {
			t.Errorf("image property %s = %q, want %q", k, p[k], want)
		}
	}
	if len(f.instances) != 0 {
		t.Errorf("instances left: %v", f.instances)
	}
	for _, want := range []string{"push /usr/bin/kubelet", "push /usr/local/bin/containerd", "push /usr/local/bin/containerd-shim-runc-v2", "push /usr/local/bin/runc"} {
		if !contains(f.calls, want) {
			t.Errorf("no %q: %v", want, f.calls)
		}
	}
	if !strings.Contains(p["description"], "containerd 2.4.2, runc 1.5.3") {
		t.Errorf("description %q does not name the runtime", p["description"])
	}
	if !contains(f.calls, "publish plexbake-debian12-kube zstd") {
		t.Errorf("not published with compression none: %v", f.calls)
	}

	// Unchanged: a cache hit that touches nothing and stops at the check.
	f.calls = nil
	var log bytes.Buffer
	opts.Log = status.New(&log)
	again, err := Bake(ctx, f, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Cached || again.Fingerprint != res.Fingerprint || len(f.calls) != 0 {
		t.Errorf("re-bake: cached=%v fp=%s calls=%v", again.Cached, again.Fingerprint, f.calls)
	}
	if l := log.String(); !strings.Contains(l, "✓ look for debian12_kube with these inputs") || strings.Contains(l, "transient instance") || strings.Contains(l, "✗") {
		t.Errorf("re-bake went on past the cache check:\n%s", l)
	}
	opts.Log = nil

	// Forced: a new image, the old one deleted.
	opts.Force = true
	forced, err := Bake(ctx, f, opts)
	if err != nil {
		t.Fatal(err)
	}
	if forced.Cached || forced.Fingerprint == res.Fingerprint {
		t.Errorf("forced bake: %+v", forced)
	}
	if _, ok := f.images[res.Fingerprint]; ok {
		t.Errorf("the replaced image %s was not deleted", res.Fingerprint)
	}
}

// TestBakePreloadWithFakeServer: --preload-images runs kube-images.sh after
// the verify, with the mirror's hosts.toml in its environment, and the image
// lists what it holds.
func TestBakePreloadWithFakeServer(t *testing.T) {
	f := newFakeServer()
	opts := Options{Type: TypeKube, Base: "debian12", KubeArtifacts: artifactDir(t), RuntimeArtifacts: artifactDir(t),
		PreloadImages: true, PreloadMirror: "http://10.212.0.1:5000"}
	res, err := Bake(context.Background(), f, opts)
	if err != nil {
		t.Fatal(err)
	}
	verify, images, clean := -1, -1, -1
	for i, c := range f.calls {
		if !strings.HasPrefix(c, "exec ") {
			continue
		}
		switch {
		case strings.HasSuffix(c, "/kube-verify.sh"):
			verify = i
		case strings.HasSuffix(c, "/kube-images.sh"):
			images = i
		case strings.HasSuffix(c, "/clean.sh"):
			clean = i
		}
	}
	if !(verify >= 0 && verify < images && images < clean) {
		t.Errorf("kube-images.sh at %d, want between kube-verify.sh (%d) and clean.sh (%d): %v", images, verify, clean, f.calls)
	}
	env := f.env[scriptDir+"/kube-images.sh"]
	toml := env["PLEX_PRELOAD_HOSTS_TOML"]
	if env["PLEX_KUBE_VERSION"] != "v1.34.4" || !strings.Contains(toml, `server = "http://10.212.0.1:5000"`) || !strings.Contains(toml, `[host."http://10.212.0.1:5000"]`) {
		t.Errorf("kube-images.sh's environment %v: want the version, and a hosts.toml with the mirror as host and server (no fallback)", env)
	}
	p := f.images[res.Fingerprint]
	if p[incus.PropPreloadedImages] != "registry.k8s.io/kube-apiserver:v1.34.4 registry.k8s.io/pause:3.10.1" || !strings.Contains(p["description"], "2 images preloaded") {
		t.Errorf("properties %s=%q, description %q", incus.PropPreloadedImages, p[incus.PropPreloadedImages], p["description"])
	}

	// Without the flag, no preload and no property.
	f = newFakeServer()
	opts.PreloadImages, opts.PreloadMirror = false, ""
	res, err = Bake(context.Background(), f, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range f.calls {
		if strings.HasPrefix(c, "exec ") && strings.HasSuffix(c, "/kube-images.sh") {
			t.Errorf("a bake without --preload-images preloaded: %v", f.calls)
		}
	}
	if v := f.images[res.Fingerprint][incus.PropPreloadedImages]; v != "" {
		t.Errorf("a bake without --preload-images has %s=%q", incus.PropPreloadedImages, v)
	}
}

func TestBakeLock(t *testing.T) {
	f := newFakeServer()
	f.instances["plexbake-debian12-kube"] = map[string]string{
		incus.LabelBake: "debian12_kube", incus.LabelBakeStarted: time.Now().Add(-time.Minute).UTC().Format(time.RFC3339),
	}
	opts := Options{Type: TypeKube, Base: "debian12", KubeArtifacts: artifactDir(t), RuntimeArtifacts: artifactDir(t)}
	_, err := Bake(context.Background(), f, opts)
	if err == nil || !strings.Contains(err.Error(), "another bake of debian12_kube is running in instance plexbake-debian12-kube") ||
		!strings.Contains(err.Error(), "incus delete --force plexbake-debian12-kube") || !strings.Contains(err.Error(), "--wait") {
		t.Fatalf("second bake: %v", err)
	}
	if _, ok := f.instances["plexbake-debian12-kube"]; !ok {
		t.Fatal("the refused bake deleted the other bake's instance")
	}

	// With Wait it waits, then bakes once the other bake is gone.
	opts.Wait = true
	go func() {
		time.Sleep(300 * time.Millisecond)
		_ = f.Delete(context.Background(), "plexbake-debian12-kube")
	}()
	res, err := Bake(context.Background(), f, opts)
	if err != nil || res.Cached {
		t.Fatalf("waiting bake: %+v, %v", res, err)
	}

	// An instance of that name that is not a bake is never touched.
	f.instances["plexbake-debian12-kube"] = map[string]string{}
	opts.Force = true
	if _, err := Bake(context.Background(), f, opts); err == nil || !strings.Contains(err.Error(), "is not a plex bake") {
		t.Errorf("foreign instance: %v", err)
	}
	if _, ok := f.instances["plexbake-debian12-kube"]; !ok {
		t.Error("a foreign instance was deleted")
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
