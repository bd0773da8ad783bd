package incus

import (
	"crypto/sha256"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
)

// fp is a made-up fingerprint.
func fp(s string) string { return fmt.Sprintf("%x", sha256.Sum256([]byte(s))) }

// ssVersion is one build of a product: its metadata item carries the
// combined hashes Incus names the build by.
func ssVersion(tag string) map[string]any {
	return map[string]any{"items": map[string]any{
		"incus.tar.xz": map[string]any{
			"ftype": "incus.tar.xz", "path": "images/" + tag + "/incus.tar.xz", "size": 876, "sha256": fp(tag + "meta"),
			"combined_squashfs_sha256": fp(tag + "squashfs"), "combined_rootxz_sha256": fp(tag + "rootxz"),
			"combined_sha256": fp(tag + "rootxz"), "combined_disk-kvm-img_sha256": fp(tag + "vm"),
		},
		"root.squashfs": map[string]any{"ftype": "squashfs", "path": "images/" + tag + "/rootfs.squashfs", "size": 123, "sha256": fp(tag + "sq")},
		"root.tar.xz":   map[string]any{"ftype": "root.tar.xz", "path": "images/" + tag + "/rootfs.tar.xz", "size": 100, "sha256": fp(tag + "xz")},
		"disk.qcow2":    map[string]any{"ftype": "disk-kvm.img", "path": "images/" + tag + "/disk.qcow2", "size": 456, "sha256": fp(tag + "qcow")},
	}}
}

func ssProduct(aliases, arch, variant string, versions ...string) map[string]any {
	vs := map[string]any{}
	for _, v := range versions {
		vs[v] = ssVersion(arch + variant + v)
	}
	return map[string]any{"aliases": aliases, "arch": arch, "os": "Debian", "release": "bookworm", "release_title": "12", "variant": variant, "versions": vs}
}

// newStreamsServer serves a simplestreams image server over HTTPS, as
// images.linuxcontainers.org does, and records the paths asked for.
func newStreamsServer(t *testing.T) (*httptest.Server, func() []string) {
	index := map[string]any{"format": "index:1.0", "index": map[string]any{
		"images": map[string]any{"datatype": "image-downloads", "path": "streams/v1/images.json", "format": "products:1.0",
			"products": []string{"debian:12:amd64:cloud", "debian:12:arm64:cloud", "debian:12:amd64:default"}},
	}}
	images := map[string]any{"content_id": "images", "datatype": "image-downloads", "format": "products:1.0", "products": map[string]any{
		"debian:12:amd64:cloud":   ssProduct("debian/12/cloud,debian/bookworm/cloud", "amd64", "cloud", "20250101_05:24", "20250301_05:24"),
		"debian:12:arm64:cloud":   ssProduct("debian/12/cloud,debian/bookworm/cloud", "arm64", "cloud", "20250401_05:24"),
		"debian:12:amd64:default": ssProduct("debian/12,debian/bookworm", "amd64", "default", "20250501_05:24"),
	}}
	var mu sync.Mutex
	var paths []string
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
		switch r.URL.Path {
		case "/streams/v1/index.json":
			_ = json.NewEncoder(w).Encode(index)
		case "/streams/v1/images.json":
			_ = json.NewEncoder(w).Encode(images)
		default:
			http.NotFound(w, r)
		}
	}))
	// The refused handshakes of the test without a pin are expected.
	ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	ts.StartTLS()
	t.Cleanup(ts.Close)
	return ts, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), paths...)
	}
}

// streamsConfig is a client configuration whose public "images" remote is
// the test server. A public remote's TLS trusts the system's roots unless
// `incus remote add` pinned a certificate in servercerts/, so the test pins
// the test server's certificate there.
func streamsConfig(t *testing.T, ts *httptest.Server, pin bool) *ClientConfig {
	dir := t.TempDir()
	if pin {
		if err := os.MkdirAll(filepath.Join(dir, "servercerts"), 0o755); err != nil {
			t.Fatal(err)
		}
		crt := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw})
		if err := os.WriteFile(filepath.Join(dir, "servercerts", "images.crt"), crt, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return &ClientConfig{Dir: dir, Path: filepath.Join(dir, "config.yml"), DefaultRemote: "test", Remotes: map[string]Remote{
		"images": {Name: "images", Addr: ts.URL, Protocol: "simplestreams", Public: true},
	}}
}

func TestResolveImageSimpleStreams(t *testing.T) {
	f := newFakeIncus(t) // an x86_64 server
	s := f.serveUnix()
	ts, paths := newStreamsServer(t)
	s.conf = streamsConfig(t, ts, true)
	ctx := testCtx(t)

	src, err := s.ResolveImage(ctx, "images:debian/12/cloud", false)
	if err != nil {
		t.Fatalf("ResolveImage: %v", err)
	}
	const newest = "20250301_05:24"
	want := &ImageSource{
		Ref: "images:debian/12/cloud", Remote: "images", Name: "debian/12/cloud",
		Fingerprint: fp("amd64cloud" + newest + "squashfs"),
		Properties:  map[string]string{"os": "Debian", "release": "bookworm", "architecture": "amd64", "serial": newest, "variant": "cloud"},
		Server:      ts.URL, Protocol: "simplestreams",
	}
	if !reflect.DeepEqual(src, want) {
		t.Errorf("ResolveImage =\n%+v\nwant the newest amd64 build's combined_squashfs_sha256:\n%+v", src, want)
	}
	if src.Local() {
		t.Error("a simplestreams image says it is local")
	}
	if got := paths(); !reflect.DeepEqual(got, []string{"/streams/v1/index.json", "/streams/v1/images.json"}) {
		t.Errorf("the image server was asked for %q", got)
	}

	vm, err := s.ResolveImage(ctx, "images:debian/bookworm/cloud", true)
	if err != nil || vm.Fingerprint != fp("amd64cloud"+newest+"vm") {
		t.Errorf("ResolveImage for a VM = %+v, %v; want the newest build's combined_disk-kvm-img_sha256", vm, err)
	}

	_, err = s.ResolveImage(ctx, "images:debian/13/cloud", false)
	if !IsNotFound(err) {
		t.Errorf("ResolveImage of an alias the server lacks = %v; want an error IsNotFound recognises", err)
	}
}

func TestResolveImageSimpleStreamsVerifiesTLS(t *testing.T) {
	f := newFakeIncus(t)
	s := f.serveUnix()
	ts, paths := newStreamsServer(t)
	// No pinned certificate: the test server's is not one the system trusts.
	s.conf = streamsConfig(t, ts, false)
	if src, err := s.ResolveImage(testCtx(t), "images:debian/12/cloud", false); err == nil {
		t.Errorf("ResolveImage trusted an unverified image server: %+v", src)
	}
	if got := paths(); len(got) != 0 {
		t.Errorf("the unverified server was asked for %q", got)
	}
}
