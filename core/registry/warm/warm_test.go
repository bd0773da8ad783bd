package warm

import (
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/plex-dev/plex/core/registry/engine"
	"github.com/plex-dev/plex/core/registry/internal/fixture"
)

// fakeCache is go-containerregistry's registry behind httptest, standing in
// for a cache: it counts blob downloads, how many run at once, and can fail
// chosen requests.
type fakeCache struct {
	srv  *httptest.Server
	host string
	port int

	mu       sync.Mutex
	gets     map[string]int // blob digest → GETs served
	inflight atomic.Int64
	peak     atomic.Int64
	// fail, when set, answers a request with a status instead of serving it.
	fail  func(r *http.Request) int
	delay time.Duration
}

func newFakeCache(t *testing.T) *fakeCache {
	t.Helper()
	fc := &fakeCache{gets: map[string]int{}}
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	fc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		blob := r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/sha256:")
		if blob {
			n := fc.inflight.Add(1)
			defer fc.inflight.Add(-1)
			for {
				p := fc.peak.Load()
				if n <= p || fc.peak.CompareAndSwap(p, n) {
					break
				}
			}
			time.Sleep(fc.delay)
		}
		fc.mu.Lock()
		fail := fc.fail
		fc.mu.Unlock()
		if fail != nil {
			if code := fail(r); code != 0 {
				http.Error(w, "injected failure", code)
				return
			}
		}
		if blob {
			fc.mu.Lock()
			fc.gets[r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]]++
			fc.mu.Unlock()
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(fc.srv.Close)
	host, port, _ := net.SplitHostPort(strings.TrimPrefix(fc.srv.URL, "http://"))
	fc.host = fc.srv.Listener.Addr().String()
	fc.port, _ = strconv.Atoi(port)
	_ = host
	return fc
}

// fakeAddress is the fake cache's address.
const fakeAddress = "127.0.0.1"

// layout is the fake as a cache of registry.k8s.io under an engine.
func (fc *fakeCache) layout(eng string) engine.Layout {
	e := engine.Endpoint{Upstream: engine.Upstream{Name: "registry.k8s.io", URL: "https://registry.k8s.io", TLSVerify: true}, Port: fc.port}
	if eng == engine.EngineZot {
		e.Prefix = "registry.k8s.io"
	}
	return engine.Layout{Engine: eng, Endpoints: []engine.Endpoint{e}}
}

func (fc *fakeCache) totalGets() int {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	n := 0
	for _, v := range fc.gets {
		n += v
	}
	return n
}

func TestWarmEveryBlobOnceInParallel(t *testing.T) {
	for _, eng := range []string{engine.EngineDistribution, engine.EngineZot} {
		t.Run(eng, func(t *testing.T) {
			fc := newFakeCache(t)
			prefix := ""
			if eng == engine.EngineZot {
				prefix = "registry.k8s.io/"
			}
			fx := fixture.Push(t, fc.host, prefix, "registry.k8s.io", 4096)
			fc.delay = 30 * time.Millisecond
			rep, err := Warm(context.Background(), fakeAddress, fc.layout(eng), Options{Images: fx.Refs, Platforms: []string{"linux/amd64"}, Jobs: 3})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Blobs != len(fx.Blobs) || rep.Fetched != len(fx.Blobs) || rep.Skipped != 0 || rep.Failed != 0 {
				t.Errorf("blobs %d fetched %d skipped %d failed %d, want %d fetched", rep.Blobs, rep.Fetched, rep.Skipped, rep.Failed, len(fx.Blobs))
			}
			// The blobs fetched are listed for the check that the cache stored them.
			for _, b := range rep.FetchedBlobs {
				if !fx.Blobs[b.Repository+"@"+b.Digest] || b.Upstream != "registry.k8s.io" {
					t.Errorf("fetched %+v, which the fixture does not have", b)
				}
			}
			if len(rep.FetchedBlobs) != rep.Fetched {
				t.Errorf("%d blobs listed as fetched, %d counted", len(rep.FetchedBlobs), rep.Fetched)
			}
			// v1 and v2 of plex-test/layered share four layers: fetched once.
			if rep.Shared != 4 {
				t.Errorf("shared %d, want 4", rep.Shared)
			}
			for d, n := range fc.gets {
				if n != 1 {
					t.Errorf("blob %s fetched %d times", d, n)
				}
			}
			// Only the amd64 image of the index.
			for k := range fx.ARM64 {
				d := k[strings.Index(k, "@")+1:]
				if fc.gets[d] > 0 {
					t.Errorf("arm64 blob %s fetched", d)
				}
			}
			if rep.Bytes != fx.Bytes || rep.Manifests != 5 {
				t.Errorf("bytes %d (want %d), manifests %d (want 5: three images, an index and its amd64 image)", rep.Bytes, fx.Bytes, rep.Manifests)
			}
			if p := fc.peak.Load(); p != 3 {
				t.Errorf("at most %d blobs downloaded at once, want 3 (--jobs)", p)
			}
			for _, im := range rep.Images {
				if im.Digest != fx.Digests[im.Image] || im.Error != "" {
					t.Errorf("%s: digest %s (want %s), error %q", im.Image, im.Digest, fx.Digests[im.Image], im.Error)
				}
			}
			if multi := rep.Images[3]; len(multi.Platforms) != 1 || multi.Platforms[0] != "linux/amd64" {
				t.Errorf("index platforms %v", multi.Platforms)
			}
		})
	}
}

func TestWarmAllPlatforms(t *testing.T) {
	fc := newFakeCache(t)
	fx := fixture.Push(t, fc.host, "", "registry.k8s.io", 1024)
	rep, err := Warm(context.Background(), fakeAddress, fc.layout(engine.EngineDistribution), Options{Images: []string{"registry.k8s.io/plex-test/multi:v1"}, Platforms: []string{"all"}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Images[0].Blobs != 8 || len(rep.Images[0].Platforms) != 2 {
		t.Errorf("%d blobs on %v", rep.Images[0].Blobs, rep.Images[0].Platforms)
	}
	rep, err = Warm(context.Background(), fakeAddress, fc.layout(engine.EngineDistribution), Options{Images: []string{"registry.k8s.io/plex-test/multi:v1"}, Platforms: []string{"linux/s390x"}})
	if err == nil || !strings.Contains(rep.Images[0].Error, "no manifest for linux/s390x (it has linux/amd64, linux/arm64/v8)") || rep.Images[0].Attempts != 1 {
		t.Errorf("missing platform: %v; %+v", err, rep.Images[0])
	}
	_ = fx
}

func TestWarmSkipsWhatTheCacheHolds(t *testing.T) {
	fc := newFakeCache(t)
	fx := fixture.Push(t, fc.host, "", "registry.k8s.io", 1024)
	l := fc.layout(engine.EngineDistribution)
	have := engine.Inventory{"registry.k8s.io": fx.Blobs}
	rep, err := Warm(context.Background(), fakeAddress, l, Options{Images: fx.Refs, Platforms: []string{"linux/amd64"}, Have: have})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Fetched != 0 || rep.Skipped != len(fx.Blobs) || rep.SkippedBytes != fx.Bytes || fc.totalGets() != 0 {
		t.Errorf("fetched %d skipped %d (%d bytes), %d blob GETs", rep.Fetched, rep.Skipped, rep.SkippedBytes, fc.totalGets())
	}
	// Force fetches them all the same.
	rep, err = Warm(context.Background(), fakeAddress, l, Options{Images: fx.Refs, Platforms: []string{"linux/amd64"}, Have: have, Force: true})
	if err != nil || rep.Fetched != len(fx.Blobs) {
		t.Errorf("force: fetched %d, err %v", rep.Fetched, err)
	}
}

func TestWarmRetries(t *testing.T) {
	fc := newFakeCache(t)
	fx := fixture.Push(t, fc.host, "", "registry.k8s.io", 1024)
	var flaky, broken string
	for k := range fx.Blobs {
		if strings.HasPrefix(k, "plex-test/single@") {
			if flaky == "" {
				flaky = k[strings.Index(k, "@")+1:]
			} else if broken == "" {
				broken = k[strings.Index(k, "@")+1:]
			}
		}
	}
	var flakyFails, manifestFails atomic.Int64
	fc.fail = func(r *http.Request) int {
		switch {
		case strings.HasSuffix(r.URL.Path, "/blobs/"+flaky) && r.Method == http.MethodGet && flakyFails.Add(1) <= 2:
			return http.StatusBadGateway
		case strings.HasSuffix(r.URL.Path, "/manifests/1.0") && manifestFails.Add(1) == 1:
			return http.StatusServiceUnavailable
		}
		return 0
	}
	rep, err := Warm(context.Background(), fakeAddress, fc.layout(engine.EngineDistribution), Options{Images: fx.Refs, Platforms: []string{"linux/amd64"}, RetryDelay: time.Millisecond})
	if err != nil {
		t.Fatalf("a blob failing twice, then served: %v", err)
	}
	if rep.Retries != 3 || fc.gets[flaky] != 1 {
		t.Errorf("retries %d, flaky blob served %d times", rep.Retries, fc.gets[flaky])
	}

	// A blob that never comes: its image fails and is reported; the others
	// are warmed.
	fc.fail = func(r *http.Request) int {
		if strings.HasSuffix(r.URL.Path, "/blobs/"+broken) && r.Method == http.MethodGet {
			return http.StatusInternalServerError
		}
		return 0
	}
	rep, err = Warm(context.Background(), fakeAddress, fc.layout(engine.EngineDistribution), Options{Images: fx.Refs, Platforms: []string{"linux/amd64"}, Attempts: 2, RetryDelay: time.Millisecond, Force: true})
	if err == nil || !strings.Contains(err.Error(), "warming 1 of 4 image(s) failed: registry.k8s.io/plex-test/single:1.0") {
		t.Fatalf("err = %v", err)
	}
	if rep.Failed != 1 || rep.Fetched != len(fx.Blobs)-1 {
		t.Errorf("failed %d fetched %d", rep.Failed, rep.Fetched)
	}
	for _, im := range rep.Images {
		bad := im.Image == "registry.k8s.io/plex-test/single:1.0"
		if bad != (im.Error != "") {
			t.Errorf("%s: error %q", im.Image, im.Error)
		}
		if bad && (!strings.Contains(im.Error, broken) || !strings.Contains(im.Error, "after 2 attempts") || im.Attempts != 2) {
			t.Errorf("%s: error %q, attempts %d", im.Image, im.Error, im.Attempts)
		}
	}
}

func TestWarmBadReferences(t *testing.T) {
	fc := newFakeCache(t)
	fixture.Push(t, fc.host, "", "registry.k8s.io", 512)
	rep, err := Warm(context.Background(), fakeAddress, fc.layout(engine.EngineDistribution), Options{
		Images:    []string{"registry.k8s.io/Bad//Name:1", "nginx:1.27", "registry.k8s.io/plex-test/nosuch:v1", "registry.k8s.io/plex-test/single:1.0"},
		Platforms: []string{"linux/amd64"}, RetryDelay: time.Millisecond,
	})
	if err == nil || !strings.Contains(err.Error(), "warming 3 of 4 image(s) failed") {
		t.Fatalf("err = %v", err)
	}
	want := []string{
		`"registry.k8s.io/Bad//Name:1" is not an image reference`,
		"nginx:1.27 is from docker.io, which this cache does not mirror (it mirrors registry.k8s.io): run `plex-registry up` with --upstream docker.io",
		"fetching the manifest of 127.0.0.1:",
		"",
	}
	for i, w := range want {
		im := rep.Images[i]
		if w == "" && im.Error != "" || !strings.Contains(im.Error, w) {
			t.Errorf("%s: error %q, want it to contain %q", im.Image, im.Error, w)
		}
	}
	// A missing image is not retried.
	if rep.Images[2].Attempts != 1 {
		t.Errorf("missing image tried %d times", rep.Images[2].Attempts)
	}
	if _, err := Warm(context.Background(), fakeAddress, fc.layout(engine.EngineDistribution), Options{Images: []string{"x"}, Platforms: []string{"linux"}}); err == nil || !strings.Contains(err.Error(), "not os/arch") {
		t.Errorf("bad platform: %v", err)
	}
}

func TestWarmProgress(t *testing.T) {
	fc := newFakeCache(t)
	fx := fixture.Push(t, fc.host, "", "registry.k8s.io", 1024)
	fc.delay = 20 * time.Millisecond
	var out strings.Builder
	w := &lockedWriter{w: &out}
	_, err := Warm(context.Background(), fakeAddress, fc.layout(engine.EngineDistribution), Options{Images: fx.Refs, Platforms: []string{"linux/amd64"}, Jobs: 1, Progress: w, ProgressInterval: 30 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if s := w.String(); !strings.Contains(s, " • warming: 4/4 images resolved, ") || !strings.Contains(s, "/s") {
		t.Errorf("progress:\n%s", s)
	}
}

type lockedWriter struct {
	mu sync.Mutex
	w  *strings.Builder
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.String()
}
