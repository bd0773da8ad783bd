package warm

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// labRegistry is go-containerregistry's registry behind httptest, standing
// in for the registry serving the lab namespace.
type labRegistry struct {
	host string
	reg  http.Handler
	// fail, when set, answers a request with a status instead of serving it.
	fail func(r *http.Request) int
}

// newLabRegistry starts a registry; with a user, it wants that user's
// basic credentials for everything but reading images, as a registry that
// anyone may pull from does.
func newLabRegistry(t *testing.T, user, password string) *labRegistry {
	t.Helper()
	lr := &labRegistry{reg: registry.New(registry.Logger(log.New(io.Discard, "", 0)))}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		read := (r.Method == http.MethodGet || r.Method == http.MethodHead) && r.URL.Path != "/v2/"
		if u, p, ok := r.BasicAuth(); user != "" && !read && (!ok || u != user || p != password) {
			w.Header().Set("WWW-Authenticate", `Basic realm="lab"`)
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
			return
		}
		if lr.fail != nil {
			if code := lr.fail(r); code != 0 {
				http.Error(w, "injected failure", code)
				return
			}
		}
		lr.reg.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	lr.host = srv.Listener.Addr().String()
	return lr
}

// catalog lists the registry's repositories, asking it directly.
func (lr *labRegistry) catalog(t *testing.T) []string {
	t.Helper()
	rec := httptest.NewRecorder()
	lr.reg.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v2/_catalog", nil))
	var c struct{ Repositories []string }
	if err := json.Unmarshal(rec.Body.Bytes(), &c); err != nil {
		t.Fatalf("catalog %q: %v", rec.Body.String(), err)
	}
	slices.Sort(c.Repositories)
	return c.Repositories
}

// digestAt is the digest of the manifest the registry serves for ref.
func digestAt(t *testing.T, ref string) string {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	d, err := remote.Get(r)
	if err != nil {
		t.Fatalf("%s: %v", ref, err)
	}
	return d.Digest.String()
}

func digestOf(t *testing.T, d interface{ Digest() (v1.Hash, error) }) string {
	t.Helper()
	h, err := d.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return h.String()
}

func randomImage(t *testing.T) v1.Image {
	t.Helper()
	img, err := random.Image(512, 2)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func names(kv ...string) layout.Option {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return layout.WithAnnotations(m)
}

// entry is an image of a layout with its annotations.
type entry struct {
	img v1.Image
	o   layout.Option
}

// newLayout writes an OCI layout at dir with the entries, in order.
func newLayout(t *testing.T, dir string, entries ...entry) layout.Path {
	t.Helper()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if err := p.AppendImage(e.img, e.o); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// tarDir writes the files under dir to a tar at to, named ./path as
// podman writes them, gzipped when zip.
func tarDir(t *testing.T, dir, to string, zip bool, extra map[string]string) {
	t.Helper()
	f, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var w io.Writer = f
	if zip {
		zw := gzip.NewWriter(f)
		defer zw.Close()
		w = zw
	}
	tw := tar.NewWriter(w)
	defer tw.Close()
	add := func(name string, b []byte) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		add("./"+filepath.ToSlash(rel), b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for n, b := range extra {
		add(n, []byte(b))
	}
}

func TestLoadOCILayout(t *testing.T) {
	lr := newLabRegistry(t, "", "")
	full, bare, lab := randomImage(t), randomImage(t), randomImage(t)
	idx, err := random.Index(256, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	// The file name makes the repository of the image named by a tag alone.
	dir := filepath.Join(t.TempDir(), "Web App_v2")
	p := newLayout(t, dir,
		entry{full, names(annotationRefName, "example.com/team/app:v1")},
		entry{bare, names(annotationRefName, "v2")},
		entry{lab, names(annotationRefName, lr.host+"/lab/team/tool:v3")},
	)
	// Docker writes both names; the containerd one is the full reference.
	if err := p.AppendIndex(idx, names(annotationContainerdName, "docker.io/library/nginx:1", annotationRefName, "1")); err != nil {
		t.Fatal(err)
	}
	// The same image under the same name twice is pushed once.
	if err := p.AppendImage(full, names(annotationRefName, "example.com/team/app:v1")); err != nil {
		t.Fatal(err)
	}
	var logged []string
	got, err := LoadOCI(context.Background(), dir, LoadOptions{Registry: lr.host, Log: func(f string, a ...any) { logged = append(logged, fmt.Sprintf(f, a...)) }})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		lr.host + "/lab/team/app:v1":     digestOf(t, full),
		lr.host + "/lab/web-app_v2:v2":   digestOf(t, bare),
		lr.host + "/lab/team/tool:v3":    digestOf(t, lab),
		lr.host + "/lab/library/nginx:1": digestOf(t, idx),
	}
	if len(got) != len(want) {
		t.Errorf("loaded %d, want %d: %+v", len(got), len(want), got)
	}
	for _, l := range got {
		if want[l.Ref] == "" || l.Digest != want[l.Ref] {
			t.Errorf("loaded %+v; want digest %q", l, want[l.Ref])
			continue
		}
		// The registry serves what the source holds, digest for digest.
		if d := digestAt(t, l.Ref); d != l.Digest {
			t.Errorf("%s: the registry serves %s, loaded %s", l.Ref, d, l.Digest)
		}
	}
	sources := []string{got[0].Source, got[1].Source, got[2].Source, got[3].Source}
	if want := []string{"example.com/team/app:v1", "v2", lr.host + "/lab/team/tool:v3", "docker.io/library/nginx:1"}; !slices.Equal(sources, want) {
		t.Errorf("sources %q, want %q (in the index's order)", sources, want)
	}
	// The index is pushed whole: each image it lists can be pulled.
	ref, _ := name.ParseReference(lr.host + "/lab/library/nginx:1")
	ri, err := remote.Index(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(ri); err != nil {
		t.Errorf("the pushed index: %v", err)
	}
	if c := lr.catalog(t); !slices.Equal(c, []string{"lab/library/nginx", "lab/team/app", "lab/team/tool", "lab/web-app_v2"}) {
		t.Errorf("catalog %q", c)
	}
	if len(logged) != 4 || !strings.HasPrefix(logged[0], "pushed ") {
		t.Errorf("log %q", logged)
	}
}

func TestLoadOCIDockerSave(t *testing.T) {
	lr := newLabRegistry(t, "", "")
	img, other := randomImage(t), randomImage(t)
	v1Tag, _ := name.NewTag("example.com/team/app:v1")
	latest, _ := name.NewTag("example.com/team/app:latest")
	nginx, _ := name.NewTag("nginx:1.27")
	src := filepath.Join(t.TempDir(), "images.tar")
	if err := tarball.MultiRefWriteToFile(src, map[name.Reference]v1.Image{v1Tag: img, latest: img, nginx: other}); err != nil {
		t.Fatal(err)
	}
	got, err := LoadOCI(context.Background(), src, LoadOptions{Registry: lr.host})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		lr.host + "/lab/team/app:v1":        digestOf(t, img),
		lr.host + "/lab/team/app:latest":    digestOf(t, img),
		lr.host + "/lab/library/nginx:1.27": digestOf(t, other),
	}
	if len(got) != 3 {
		t.Fatalf("loaded %+v", got)
	}
	for _, l := range got {
		if l.Digest != want[l.Ref] || digestAt(t, l.Ref) != l.Digest {
			t.Errorf("loaded %+v, want digest %s", l, want[l.Ref])
		}
	}
}

func TestLoadOCIArchive(t *testing.T) {
	for _, tc := range []struct {
		name  string
		zip   bool
		extra map[string]string
	}{
		{name: "plain"},
		{name: "gzipped", zip: true},
		// Docker 25 and later write a manifest.json beside the layout; the
		// layout is read, or this one would fail as an empty docker save.
		{name: "with manifest.json", extra: map[string]string{"manifest.json": "[]"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lr := newLabRegistry(t, "", "")
			img := randomImage(t)
			dir := t.TempDir()
			unpacked := t.TempDir()
			t.Setenv("TMPDIR", unpacked)
			newLayout(t, dir, entry{img, names(annotationRefName, "localhost/app:v1")})
			src := filepath.Join(t.TempDir(), "app.tar")
			tarDir(t, dir, src, tc.zip, tc.extra)
			got, err := LoadOCI(context.Background(), src, LoadOptions{Registry: lr.host})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0].Ref != lr.host+"/lab/app:v1" || got[0].Digest != digestOf(t, img) || digestAt(t, got[0].Ref) != got[0].Digest {
				t.Errorf("loaded %+v, want %s/lab/app:v1@%s", got, lr.host, digestOf(t, img))
			}
			// The archive was unpacked to push it, and the copy is gone.
			if left, _ := os.ReadDir(unpacked); len(left) != 0 {
				t.Errorf("left behind: %v", left)
			}
		})
	}
}

func TestLoadOCIBadInput(t *testing.T) {
	lr := newLabRegistry(t, "", "")
	tmp := t.TempDir()
	path := func(name string) string { return filepath.Join(tmp, name) }
	write := func(name, s string) string {
		if err := os.MkdirAll(filepath.Dir(path(name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path(name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return path(name)
	}
	img, other := randomImage(t), randomImage(t)
	good := names(annotationRefName, "example.com/team/good:v1")

	write("nolayout/index.json", "{}")
	write("noindex/oci-layout", `{"imageLayoutVersion":"1.0.0"}`)
	write("garbage.tar", "this is not a tar archive, not at all, not even close to one.")
	os.MkdirAll(path("other"), 0o755)
	write("other/hello.txt", "hi")
	tarDir(t, path("other"), path("other.tar"), false, nil)
	newLayout(t, path("empty"))
	newLayout(t, path("badname"), entry{img, good}, entry{other, names(annotationRefName, "Example.com/Team/App:v1")})
	newLayout(t, path("bangtag"), entry{img, good}, entry{other, names(annotationRefName, "v1!")})
	newLayout(t, path("unnamed"), entry{img, good}, entry{other, names()})
	newLayout(t, path("bydigest"), entry{img, good}, entry{other, names(annotationRefName, "example.com/x@"+digestOf(t, other))})
	newLayout(t, path("clash"), entry{img, good}, entry{other, names(annotationRefName, "other.example/team/good:v1")})
	newLayout(t, path("___"), entry{img, names(annotationRefName, "v1")})
	p := newLayout(t, path("incomplete"), entry{img, good}, entry{other, names(annotationRefName, "v2")})
	layers, _ := other.Layers()
	ld, _ := layers[1].Digest()
	if err := p.RemoveBlob(ld); err != nil {
		t.Fatal(err)
	}
	byID, _ := name.NewDigest("example.com/x@" + digestOf(t, img))
	if err := tarball.MultiRefWriteToFile(path("byid.tar"), map[name.Reference]v1.Image{byID: img}); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		src        string
		o          LoadOptions
		ownOptions bool
		want       []string
	}{
		{src: path("nosuch"), want: []string{"nosuch does not exist: give an OCI image layout directory"}},
		{src: path("nolayout"), want: []string{"nolayout is not an OCI image layout: it has no oci-layout"}},
		{src: path("noindex"), want: []string{"noindex is not an OCI image layout: it has no index.json"}},
		{src: path("garbage.tar"), want: []string{"garbage.tar is neither a directory nor a tar archive", "docker save tarball"}},
		{src: path("other.tar"), want: []string{"other.tar is a tar archive with neither an oci-layout and index.json", "nor a manifest.json"}},
		{src: path("empty"), want: []string{"empty holds no image: its index.json lists none"}},
		{src: path("badname"), want: []string{`its name "Example.com/Team/App:v1" is neither a tag nor an image reference`, "nothing was pushed"}},
		{src: path("bangtag"), want: []string{`its name "v1!" is neither a tag nor an image reference`}},
		{src: path("unnamed"), want: []string{"has no name", "ref.name annotation"}},
		{src: path("bydigest"), want: []string{"has a digest", "name it repository:tag"}},
		{src: path("clash"), want: []string{"are different images that would both be " + lr.host + "/lab/team/good:v1"}},
		{src: path("___"), want: []string{`named by the tag "v1" alone`, "set Repository"}},
		{src: path("incomplete"), want: []string{"the layout lacks blob " + ld.String(), "it is incomplete"}},
		{src: path("byid.tar"), want: []string{"manifest.json entry 0: it has no name", "save it by name (docker save app:v1)"}},
		{src: path("empty"), o: LoadOptions{Registry: "http://" + lr.host}, ownOptions: true, want: []string{"has a scheme: set Registry to host:port only"}},
		{src: path("empty"), ownOptions: true, want: []string{"registry is empty: set Registry"}},
		{src: path("unnamed"), o: LoadOptions{Repository: "My App"}, want: []string{`repository "My App" is not a repository name`}},
	} {
		t.Run(filepath.Base(tc.src), func(t *testing.T) {
			o := tc.o
			if !tc.ownOptions {
				o.Registry = lr.host
			}
			got, err := LoadOCI(context.Background(), tc.src, o)
			if err == nil || got != nil {
				t.Fatalf("loaded %+v, err %v", got, err)
			}
			t.Log(err)
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nwant it to contain %q", err, w)
				}
			}
			if c := lr.catalog(t); len(c) != 0 {
				t.Errorf("pushed %q", c)
			}
		})
	}
}

func TestLoadOCIAuth(t *testing.T) {
	lr := newLabRegistry(t, "lab", "s3cret")
	img := randomImage(t)
	dir := t.TempDir()
	newLayout(t, dir, entry{img, names(annotationRefName, "example.com/app:v1")})

	_, err := LoadOCI(context.Background(), dir, LoadOptions{Registry: lr.host, RetryDelay: time.Millisecond})
	t.Log(err)
	if err == nil || !strings.Contains(err.Error(), lr.host+" needs credentials to push: set Auth") {
		t.Errorf("anonymous: %v", err)
	}
	_, err = LoadOCI(context.Background(), dir, LoadOptions{Registry: lr.host, Auth: &authn.Basic{Username: "lab", Password: "wrong"}, RetryDelay: time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "refused the credentials in Auth") {
		t.Errorf("wrong password: %v", err)
	}
	if c := lr.catalog(t); len(c) != 0 {
		t.Errorf("pushed %q without credentials", c)
	}
	got, err := LoadOCI(context.Background(), dir, LoadOptions{Registry: lr.host, Auth: &authn.Basic{Username: "lab", Password: "s3cret"}})
	if err != nil || len(got) != 1 || got[0].Digest != digestOf(t, img) {
		t.Fatalf("with credentials: %+v, %v", got, err)
	}
	if c := lr.catalog(t); !slices.Equal(c, []string{"lab/app"}) {
		t.Errorf("catalog %q", c)
	}
}

func TestLoadOCIRetries(t *testing.T) {
	lr := newLabRegistry(t, "", "")
	var puts atomic.Int64
	lr.fail = func(r *http.Request) int {
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/") && puts.Add(1) == 1 {
			return http.StatusServiceUnavailable
		}
		return 0
	}
	img := randomImage(t)
	dir := t.TempDir()
	newLayout(t, dir, entry{img, names(annotationRefName, "example.com/app:v1")})
	got, err := LoadOCI(context.Background(), dir, LoadOptions{Registry: lr.host, RetryDelay: time.Millisecond})
	if err != nil || len(got) != 1 || puts.Load() != 2 {
		t.Fatalf("a manifest refused once: %+v, %v, %d PUTs", got, err, puts.Load())
	}
	// A registry that keeps failing: the error says how often it was tried.
	lr.fail = func(r *http.Request) int {
		if r.Method == http.MethodPut {
			return http.StatusBadGateway
		}
		return 0
	}
	dir = t.TempDir()
	newLayout(t, dir, entry{randomImage(t), names(annotationRefName, "example.com/app:v2")})
	_, err = LoadOCI(context.Background(), dir, LoadOptions{Registry: lr.host, Attempts: 2, RetryDelay: time.Millisecond})
	t.Log(err)
	if err == nil || !strings.Contains(err.Error(), "after 2 attempts") || !strings.Contains(err.Error(), "image 1 of 1") {
		t.Errorf("err = %v", err)
	}

	// When the second image fails, the first, pushed, comes back with the
	// error.
	lr.fail = func(r *http.Request) int {
		if r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/v2/lab/broken/manifests/") {
			return http.StatusInternalServerError
		}
		return 0
	}
	first := randomImage(t)
	dir = t.TempDir()
	newLayout(t, dir, entry{first, names(annotationRefName, "example.com/fine:v1")}, entry{randomImage(t), names(annotationRefName, "example.com/broken:v1")})
	got, err = LoadOCI(context.Background(), dir, LoadOptions{Registry: lr.host, Attempts: 1})
	if err == nil || !strings.Contains(err.Error(), "as "+lr.host+"/lab/broken:v1, image 2 of 2") || len(got) != 1 || got[0].Digest != digestOf(t, first) {
		t.Errorf("loaded %+v, err %v", got, err)
	}
}

func TestRepositoryFromPath(t *testing.T) {
	for in, want := range map[string]string{
		"/tmp/app.tar":         "app",
		"/tmp/My App.tar.gz":   "my-app",
		"build/web_ui.v2.tgz":  "web_ui.v2",
		"/x/oci-dir/":          "oci-dir",
		"/x/--Weird__..name--": "weird-name",
		"/x/___":               "",
	} {
		if got := repositoryFromPath(in); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
		if want != "" && !repositoryRE.MatchString(want) {
			t.Errorf("%q is not a repository name", want)
		}
	}
}

func TestLoadOCITarget(t *testing.T) {
	o := LoadOptions{Registry: "lab.example:5050", Repository: "web"}
	for in, want := range map[string]string{
		"v1":                             "lab.example:5050/lab/web:v1",
		"ghcr.io/team/app:1.0":           "lab.example:5050/lab/team/app:1.0",
		"docker.io/library/nginx:1":      "lab.example:5050/lab/library/nginx:1",
		"nginx:1":                        "lab.example:5050/lab/library/nginx:1",
		"localhost/app":                  "lab.example:5050/lab/app:latest",
		"lab.example:5050/lab/app:v2":    "lab.example:5050/lab/app:v2",
		"other.example:5050/lab/app:v2":  "lab.example:5050/lab/lab/app:v2",
		"example.com/a--b/c__d/e.f_g:v1": "lab.example:5050/lab/a--b/c__d/e.f_g:v1",
	} {
		got, err := o.target(in)
		if err != nil || got.String() != want {
			t.Errorf("%s: %s, %v; want %s", in, got, err, want)
		}
		// A public address is spoken to with TLS unless Insecure says not.
		if got.Scheme() != "https" {
			t.Errorf("%s: scheme %s", in, got.Scheme())
		}
	}
	o.Insecure = true
	if got, err := o.target("v1"); err != nil || got.Scheme() != "http" {
		t.Errorf("insecure: %s, %v", got.Scheme(), err)
	}
	for _, bad := range []string{"example.com/a-/b:v1", "example.com/a//b:v1", "UPPER/case:v1", "a:b:c"} {
		if got, err := o.target(bad); err == nil {
			t.Errorf("%s: %s, want an error", bad, got)
		}
	}
}
