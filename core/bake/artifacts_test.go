package bake

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plex-dev/plex/core/internal/digest"
)

// TestReleaseArtifacts serves a fake release tree: the sums are read for the
// inputs hash, the binaries are downloaded once, checked, and cached.
func TestReleaseArtifacts(t *testing.T) {
	bins := map[string]string{"kubeadm": "adm", "kubelet": "let", "kubectl": "ctl"}
	var downloads int
	corrupt := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
		if !strings.HasPrefix(r.URL.Path, "/release/v1.34.4/bin/linux/amd64/") {
			http.NotFound(w, r)
			return
		}
		if bin, ok := strings.CutSuffix(name, ".sha256"); ok {
			sum := sha256.Sum256([]byte(bins[bin]))
			w.Write([]byte(hex.EncodeToString(sum[:])))
			return
		}
		downloads++
		body := bins[name]
		if corrupt {
			body += "!"
		}
		w.Write([]byte(body))
	}))
	defer srv.Close()
	ctx := context.Background()

	arts, err := releaseArtifacts(ctx, srv.Client(), srv.URL+"/release", "v1.34.4", "amd64")
	if err != nil {
		t.Fatal(err)
	}
	if len(arts) != 3 || downloads != 0 {
		t.Fatalf("artifacts %v, %d downloads before fetching", arts, downloads)
	}
	cache := t.TempDir()
	for i := range arts {
		if err := arts[i].fetch(ctx, srv.Client(), cache); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(arts[i].Path)
		if err != nil || string(got) != bins[arts[i].Name] {
			t.Errorf("%s: %q, %v", arts[i].Name, got, err)
		}
	}
	// Cached: no second download.
	again, _ := releaseArtifacts(ctx, srv.Client(), srv.URL+"/release", "v1.34.4", "amd64")
	for i := range again {
		if err := again[i].fetch(ctx, srv.Client(), cache); err != nil {
			t.Fatal(err)
		}
	}
	if downloads != 3 {
		t.Errorf("%d downloads, want 3", downloads)
	}
	// A download whose sum does not match is refused and not kept.
	corrupt = true
	bad, _ := releaseArtifacts(ctx, srv.Client(), srv.URL+"/release", "v1.34.4", "amd64")
	err = bad[0].fetch(ctx, srv.Client(), t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "the download was discarded") || bad[0].Path != "" {
		t.Errorf("corrupt download: %v (path %q)", err, bad[0].Path)
	}
	// A missing version says what to do instead.
	_, err = releaseArtifacts(ctx, srv.Client(), srv.URL+"/release", "v9.9.9", "amd64")
	if err == nil || !strings.Contains(err.Error(), "--kube-artifacts") {
		t.Errorf("missing release: %v", err)
	}
}

func TestLocalArtifacts(t *testing.T) {
	dir := artifactDir(t)
	arts, err := localArtifacts(dir, kubeBinaries)
	if err != nil || len(arts) != 3 || arts[0].Path == "" || len(arts[0].SHA256) != 64 {
		t.Fatalf("%v, %v", arts, err)
	}
	os.Remove(dir + "/kubelet")
	if _, err := localArtifacts(dir, kubeBinaries); err == nil || !strings.Contains(err.Error(), "kubelet") {
		t.Errorf("missing kubelet: %v", err)
	}
}

// runtimeRelease serves a fake containerd release tarball and runc binary
// with their sha256sum lists, as GitHub's release downloads lay them out.
type runtimeRelease struct {
	tarball, runc []byte
	downloads     int
	corrupt       bool
}

func newRuntimeRelease(t *testing.T) *runtimeRelease {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, f := range []struct{ name, body string }{
		{"bin/", ""}, {"bin/containerd", "containerd-bin"}, {"bin/containerd-shim-runc-v2", "shim-bin"}, {"bin/ctr", "ctr-bin"},
	} {
		hdr := &tar.Header{Name: f.name, Mode: 0o755, Size: int64(len(f.body)), Typeflag: tar.TypeReg}
		if strings.HasSuffix(f.name, "/") {
			hdr.Typeflag = tar.TypeDir
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(f.body))
	}
	tw.Close()
	zw.Close()
	return &runtimeRelease{tarball: buf.Bytes(), runc: []byte("runc-bin")}
}

func (r *runtimeRelease) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	sum := func(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }
	switch req.URL.Path {
	case "/containerd/v2.4.2/containerd-2.4.2-linux-amd64.tar.gz.sha256sum":
		fmt.Fprintf(w, "%s  containerd-2.4.2-linux-amd64.tar.gz\n", sum(r.tarball))
	case "/containerd/v2.4.2/containerd-2.4.2-linux-amd64.tar.gz":
		r.downloads++
		body := r.tarball
		if r.corrupt {
			body = append([]byte{0}, body...)
		}
		w.Write(body)
	case "/runc/v1.5.3/runc.sha256sum":
		fmt.Fprintf(w, "%s  runc.arm64\n%s *runc.amd64\n%s  libseccomp-2.5.6.tar.gz\n", sum([]byte("other")), sum(r.runc), sum([]byte("src")))
	case "/runc/v1.5.3/runc.amd64":
		r.downloads++
		w.Write(r.runc)
	default:
		http.NotFound(w, req)
	}
}

// TestRuntimeReleaseArtifacts: containerd and its shim come out of the
// checked release tarball, runc is the release binary its sum list names;
// a corrupt download is refused.
func TestRuntimeReleaseArtifacts(t *testing.T) {
	rel := newRuntimeRelease(t)
	srv := httptest.NewServer(rel)
	defer srv.Close()
	ctx := context.Background()
	get := func() []artifact {
		arts, err := runtimeReleaseArtifacts(ctx, srv.Client(), srv.URL+"/containerd", srv.URL+"/runc", "v2.4.2", "v1.5.3", "amd64")
		if err != nil {
			t.Fatal(err)
		}
		return arts
	}
	arts := get()
	if len(arts) != 3 || rel.downloads != 0 {
		t.Fatalf("artifacts %+v, %d downloads before fetching", arts, rel.downloads)
	}
	cache := t.TempDir()
	want := map[string]string{"containerd": "containerd-bin", "containerd-shim-runc-v2": "shim-bin", "runc": "runc-bin"}
	for i := range arts {
		a := &arts[i]
		if err := a.fetch(ctx, srv.Client(), cache); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(a.Path)
		if err != nil || string(got) != want[a.Name] || a.Dest != "/usr/local/bin" {
			t.Errorf("%s: %q, %v, dest %s", a.Name, got, err, a.Dest)
		}
		if sum, _ := digest.FileSHA256(a.Path); sum != a.fileSum {
			t.Errorf("%s: file sum %s recorded as %s", a.Name, sum, a.fileSum)
		}
	}
	// One tarball download for both of its binaries, and none on a re-run.
	for _, a := range get() {
		if err := a.fetch(ctx, srv.Client(), cache); err != nil {
			t.Fatal(err)
		}
	}
	if rel.downloads != 2 {
		t.Errorf("%d downloads, want 2 (the tarball and runc)", rel.downloads)
	}
	// A tarball that does not match its published sum is not used.
	rel.corrupt = true
	bad := get()
	err := bad[0].fetch(ctx, srv.Client(), t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "the download was discarded") || bad[0].Path != "" {
		t.Errorf("corrupt tarball: %v (path %q)", err, bad[0].Path)
	}
	// A version without a release says what to do instead.
	_, err = runtimeReleaseArtifacts(ctx, srv.Client(), srv.URL+"/containerd", srv.URL+"/runc", "v2.4.9", "v1.5.3", "amd64")
	if err == nil || !strings.Contains(err.Error(), "--runtime-artifacts") {
		t.Errorf("missing release: %v", err)
	}
	// A sum list without the architecture's binary is an error, not a skip.
	_, err = publishedSum(ctx, srv.Client(), srv.URL+"/runc/v1.5.3/runc.sha256sum", "runc.riscv64")
	if err == nil || !strings.Contains(err.Error(), "lists no sha256") {
		t.Errorf("missing architecture: %v", err)
	}
}

func TestExtractMissingMember(t *testing.T) {
	rel := newRuntimeRelease(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "c.tar.gz")
	if err := os.WriteFile(p, rel.tarball, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := extract(p, "bin/containerd-stress", filepath.Join(dir, "x")); err == nil || !strings.Contains(err.Error(), "no bin/containerd-stress") {
		t.Errorf("missing member: %v", err)
	}
	if _, err := extract(p, "bin", filepath.Join(dir, "x")); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("directory member: %v", err)
	}
}

// TestRuntimeOptions: the versions are checked, defaulted and normalised,
// and every error names the flag to fix.
func TestRuntimeOptions(t *testing.T) {
	complete := func(o Options) (Options, error) {
		o.Type, o.Base = TypeKube, "debian12"
		return o.complete()
	}
	o, err := complete(Options{})
	if err != nil || o.ContainerdVersion != DefaultContainerdVersion || o.RuncVersion != DefaultRuncVersion || o.distroRuntime() {
		t.Errorf("defaults: %+v, %v", o, err)
	}
	o, err = complete(Options{ContainerdVersion: "2.4.1", RuncVersion: "1.5.2"})
	if err != nil || o.ContainerdVersion != "v2.4.1" || o.RuncVersion != "v1.5.2" {
		t.Errorf("without v: %s %s, %v", o.ContainerdVersion, o.RuncVersion, err)
	}
	o, err = complete(Options{ContainerdVersion: "distro"})
	if err != nil || !o.distroRuntime() || kubeSettings(o)["PLEX_RUNTIME"] != "distro" || !strings.HasPrefix(kubeSettings(o)["PLEX_PACKAGES"], "containerd runc ") {
		t.Errorf("distro: %+v, %v", o, err)
	}
	if s := kubeSettings(Options{ContainerdVersion: "v2.4.2", RuncVersion: "v1.5.3"}); strings.Contains(" "+s["PLEX_PACKAGES"]+" ", " containerd ") || s["PLEX_CONTAINERD_VERSION"] != "2.4.2" {
		t.Errorf("release settings: %v", s)
	}
	for _, o := range []Options{{PreloadImages: true}, {PreloadImages: true, PreloadMirror: "http://10.212.0.1:5000"}, {PreloadImages: true, ContainerdVersion: "distro"}} {
		c, err := complete(o)
		s := kubeSettings(c)
		if err != nil || s["PLEX_PRELOAD_IMAGES"] != "true" || s["PLEX_PRELOAD_MIRROR"] != o.PreloadMirror {
			t.Errorf("preload %+v: settings %v, %v", o, s, err)
		}
	}
	if _, err := (Options{Type: TypeRegistry, Base: "debian12", PreloadImages: true}).complete(); err == nil || !strings.Contains(err.Error(), "--preload-images") {
		t.Errorf("a registry bake with --preload-images: %v, want an error naming the flag", err)
	}
	for _, c := range []struct {
		o    Options
		flag string
	}{
		{Options{ContainerdVersion: "latest"}, "--containerd-version"},
		{Options{ContainerdVersion: "v1.7.27"}, "--containerd-version"},
		{Options{RuncVersion: "1.5"}, "--runc-version"},
		{Options{ContainerdVersion: "distro", RuncVersion: "v1.5.3"}, "--runc-version"},
		{Options{ContainerdVersion: "distro", RuntimeArtifacts: t.TempDir()}, "--runtime-artifacts"},
		{Options{RuntimeArtifacts: "/nonexistent"}, "--runtime-artifacts"},
		{Options{PreloadMirror: "http://10.212.0.1:5000"}, "--preload-images"},
		{Options{PreloadImages: true, PreloadMirror: "10.212.0.1:5000"}, "--preload-mirror"},
		{Options{PreloadImages: true, PreloadMirror: "http://10.212.0.1:5000/mirror"}, "--preload-mirror"},
	} {
		if _, err := complete(c.o); err == nil || !strings.Contains(err.Error(), c.flag) {
			t.Errorf("%+v: %v, want an error naming %s", c.o, err, c.flag)
		}
	}
}
