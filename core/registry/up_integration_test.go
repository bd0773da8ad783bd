package registry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/crane"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/plex-dev/plex/core/bake"
	"github.com/plex-dev/plex/core/incus"
	"github.com/plex-dev/plex/core/registry/engine"
	"github.com/plex-dev/plex/core/registry/internal/fixture"
	"github.com/plex-dev/plex/core/registry/warm"
	"github.com/plex-dev/plex/core/status"
	"github.com/plex-dev/plex/internal/testenv"
)

// Addresses of this test on the harness bridge, apart from the demo (.11…),
// the e2e plex (.101…), the bench (.151…) and the DHCP range (.200…).
const (
	cacheAddress   = "10.212.0.141"
	harnessGateway = "10.212.0.1"
	testUpstream   = "upstream.plex.test"
)

// TestCacheIntegration runs the distribution engine for real on the harness
// incusd: an upstream registry on the bridge holding images with several
// layers and a multi-platform index; `up` as the cache; warm; the upstream
// stopped; every warmed image pulled by digest from another container
// through the cache, also after the proxy restarted without its upstream; a
// second warm that skips every blob; and the storage surviving a re-created
// instance. It logs the timings the issue asks for, and the warm's
// throughput against crane copy of the same set through the same cache.
func TestCacheIntegration(t *testing.T) {
	h := testenv.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	log := status.New(testWriter{t})
	suffix := make([]byte, 3)
	_, _ = rand.Read(suffix)
	instance := "plexreg-" + hex.EncodeToString(suffix)

	srv, err := incus.Connect(ctx, incus.ConnectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The cache's image, baked through the harness's apt proxy (a cache hit
	// when it is up to date).
	start := time.Now()
	if _, err := bake.Bake(ctx, srv, bake.Options{Type: bake.TypeRegistry, Base: h.Image, AptProxy: "http://" + harnessGateway + ":3142", Wait: true}); err != nil {
		t.Fatalf("baking the registry image: %v", err)
	}
	t.Logf("registry image ready in %s", time.Since(start).Round(100*time.Millisecond))

	t.Run("missing image", func(t *testing.T) {
		_, err := Up(ctx, UpOptions{Placement: Placement{Instance: instance, Address: cacheAddress, Network: h.Network, StoragePool: h.Pool, Image: "nosuchbase_registry"}, Engine: engine.EngineDistribution})
		if err == nil || !strings.Contains(err.Error(), "incus plexbake bake registry nosuchbase") {
			t.Fatalf("err = %v", err)
		}
		if _, err := srv.GetInstance(ctx, instance); !incus.IsNotFound(err) {
			t.Fatalf("an instance was made: %v", err)
		}
	})

	// The upstream: go-containerregistry's registry on the bridge address.
	upstream := startUpstream(t)
	fx := fixture.Push(t, upstream.addr, "", testUpstream, 4<<20)
	ups := []engine.Upstream{{Name: testUpstream, URL: "http://" + upstream.addr, TLSVerify: true}}
	harness := harnessRegistryAnswers()
	if harness {
		ups = append(ups, engine.Upstream{Name: "registry.k8s.io", URL: "http://" + harnessGateway + ":5000", TLSVerify: true})
	} else {
		t.Logf("the harness registry %s:5000 does not answer (run `make images`): the kubeadm image set is not measured", harnessGateway)
	}

	upOpts := UpOptions{
		Placement: Placement{Instance: instance, Address: cacheAddress, Network: h.Network, StoragePool: h.Pool},
		Engine:    engine.EngineDistribution, Upstreams: ups, Log: log,
	}
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := Down(cctx, DownOptions{Selector: Selector{Instance: instance}, Purge: true}); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	start = time.Now()
	res, err := Up(ctx, upOpts)
	if err != nil {
		t.Fatal(err)
	}
	upTime := time.Since(start)
	if !res.Created || res.Cache.Engine != engine.EngineDistribution {
		t.Fatalf("up: %+v", res)
	}

	sel := Selector{Instance: instance}
	warmUp := func(force bool, images []string) *warm.Report {
		t.Helper()
		rep, err := Warm(ctx, WarmOptions{Selector: sel, Options: warm.Options{Images: images, Platforms: []string{"linux/amd64"}, Force: force}, Log: log})
		if err != nil {
			t.Fatalf("warm: %v", err)
		}
		return rep
	}
	first := warmUp(false, fx.Refs)
	if first.Fetched != len(fx.Blobs) || first.Failed != 0 || first.Stored == nil || *first.Stored != first.Fetched {
		t.Fatalf("first warm: %d blobs, %d fetched, %v stored, want %d", first.Blobs, first.Fetched, first.Stored, len(fx.Blobs))
	}
	c, err := findOne(ctx, srv, "", instance)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := c.Inventory(ctx, srv)
	if err != nil {
		t.Fatal(err)
	}
	for k := range fx.Blobs {
		repo, d, _ := strings.Cut(k, "@")
		if !inv.Has(testUpstream, repo, d) {
			t.Errorf("the cache's storage lacks %s", k)
		}
	}

	// Throughput: crane copy of the same set out of the cache into a sink,
	// then warm --force over the same set: both read every blob from the
	// cache's storage.
	craneTime, craneBytes := craneCopy(t, ctx, c, fx)
	hot := warmUp(true, fx.Refs)
	second := warmUp(false, fx.Refs)
	if second.Fetched != 0 || second.Skipped != len(fx.Blobs) {
		t.Errorf("second warm fetched %d and skipped %d blobs, want 0 and %d", second.Fetched, second.Skipped, len(fx.Blobs))
	}

	var kubeFirst, kubeSecond *warm.Report
	if harness {
		k8s, err := warm.KubeadmImages("v1.34.4")
		if err != nil {
			t.Fatal(err)
		}
		kubeFirst = warmUp(false, k8s)
		kubeSecond = warmUp(false, k8s)
		if kubeSecond.Fetched != 0 {
			t.Errorf("second warm of kubeadm's images fetched %d blobs", kubeSecond.Fetched)
		}
	}

	// The upstream goes away; the cache serves what it holds, by digest, to
	// another container.
	upstream.close()
	client := startClient(t, h, instance+"-cl")
	var byDigest []string
	for _, r := range fx.Refs {
		route, _, _, err := warm.Route(c.Address, c.Layout, r)
		if err != nil {
			t.Fatal(err)
		}
		byDigest = append(byDigest, route.Context().Digest(fx.Digests[r]).String())
	}
	pull(t, h, client, byDigest)

	// The proxy restarted while its upstream is away cannot start; the
	// cache serves its storage read-only instead.
	unit := engine.UnitName(engine.EngineDistribution, testUpstream)
	h.Incus(t, "exec", instance, "--", "systemctl", "restart", unit)
	waitServing(t, h, instance, c)
	pull(t, h, client, byDigest)
	if out := h.Incus(t, "exec", instance, "--", "journalctl", "-u", unit, "--no-pager", "-n", "200"); !strings.Contains(out, "serving the cache read-only") {
		t.Errorf("the proxy did not fall back to serving read-only:\n%s", out)
	}

	st, err := GetStatus(ctx, sel)
	if err != nil || len(st) != 1 {
		t.Fatalf("status: %v %v", st, err)
	}
	var us UpstreamStatus
	for _, u := range st[0].Upstreams {
		if u.Name == testUpstream {
			us = u
		}
	}
	if strings.Join(us.Repositories, ",") != "plex-test/layered,plex-test/multi,plex-test/single" || us.Size < fx.Bytes || us.Blobs < len(fx.Blobs) {
		t.Errorf("status of %s: %+v", testUpstream, us)
	}

	// A re-run changes nothing.
	again, err := Up(ctx, upOpts)
	if err != nil {
		t.Fatal(err)
	}
	if again.Created || len(again.Changed) != 0 {
		t.Errorf("re-run changed %v (created %v)", again.Changed, again.Created)
	}

	// down keeps the volume; a new instance finds everything cached.
	if err := Down(ctx, DownOptions{Selector: sel, Log: log}); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.GetInstance(ctx, instance); !incus.IsNotFound(err) {
		t.Fatalf("instance still there after down: %v", err)
	}
	start = time.Now()
	if _, err := Up(ctx, upOpts); err != nil {
		t.Fatal(err)
	}
	recreate := time.Since(start)
	third := warmUp(false, fx.Refs)
	if third.Fetched != 0 || third.Skipped != len(fx.Blobs) {
		t.Errorf("after re-creating the instance: fetched %d, skipped %d of %d", third.Fetched, third.Skipped, len(fx.Blobs))
	}
	pull(t, h, client, byDigest)

	if err := Down(ctx, DownOptions{Selector: sel, Purge: true, Log: log}); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.GetVolume(ctx, h.Pool, volumeName(instance)); !incus.IsNotFound(err) {
		t.Errorf("volume still there after down --purge: %v", err)
	}

	mib := func(b int64) float64 { return float64(b) / (1 << 20) }
	t.Logf("MEASURED plex-registry up (create, boot, configure): %s; re-create over the kept volume: %s", upTime.Round(100*time.Millisecond), recreate.Round(100*time.Millisecond))
	t.Logf("MEASURED fixture set (%d images, %d blobs, %.1f MiB): first warm %.2fs (%.1f MiB/s, through the proxy from the upstream), second warm %.3fs (%.1f%% of the first), %d skipped",
		len(fx.Refs), first.Blobs, mib(first.Bytes), first.Seconds, mib(int64(first.Throughput)), second.Seconds, 100*second.Seconds/first.Seconds, second.Skipped)
	craneRate := mib(craneBytes) / craneTime.Seconds()
	t.Logf("MEASURED from the cache's storage: warm --force %.2fs (%.1f MiB/s) vs crane copy %.2fs (%.1f MiB read, %.1f MiB/s): warm/crane throughput %.2fx",
		hot.Seconds, mib(int64(hot.Throughput)), craneTime.Seconds(), mib(craneBytes), craneRate, mib(int64(hot.Throughput))/craneRate)
	if kubeFirst != nil {
		t.Logf("MEASURED kubeadm v1.34.4 images (%d images, %d blobs, %.1f MiB, from the harness registry): first warm %.2fs (%.1f MiB/s), second warm %.3fs (%.1f%% of the first)",
			len(kubeFirst.Images), kubeFirst.Blobs, mib(kubeFirst.Bytes), kubeFirst.Seconds, mib(int64(kubeFirst.Throughput)), kubeSecond.Seconds, 100*kubeSecond.Seconds/kubeFirst.Seconds)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

type upstreamRegistry struct {
	addr  string
	srv   *httptest.Server
	close func()
}

// startUpstream serves go-containerregistry's registry on the harness
// bridge's address, where the cache instance reaches it.
func startUpstream(t *testing.T) *upstreamRegistry {
	t.Helper()
	l, err := net.Listen("tcp", harnessGateway+":0")
	if err != nil {
		t.Fatalf("listening on the harness bridge: %v", err)
	}
	srv := httptest.NewUnstartedServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	u := &upstreamRegistry{addr: l.Addr().String(), srv: srv}
	closed := false
	u.close = func() {
		if !closed {
			closed = true
			srv.CloseClientConnections()
			srv.Close()
		}
	}
	t.Cleanup(u.close)
	return u
}

func harnessRegistryAnswers() bool {
	c := http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil}}
	resp, err := c.Get("http://" + harnessGateway + ":5000/v2/")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// craneCopy copies the fixture's images from the cache into a registry on
// loopback with crane, the way `crane copy --platform linux/amd64` does, and
// returns the time and the bytes of blobs read.
func craneCopy(t *testing.T, ctx context.Context, c *Cache, fx *fixture.Images) (time.Duration, int64) {
	t.Helper()
	sink := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	defer sink.Close()
	sinkHost := strings.TrimPrefix(sink.URL, "http://")
	plat := &v1.Platform{OS: "linux", Architecture: "amd64"}
	start := time.Now()
	for _, r := range fx.Refs {
		src, _, repo, err := warm.Route(c.Address, c.Layout, r)
		if err != nil {
			t.Fatal(err)
		}
		dst := sinkHost + "/" + repo + ":" + src.Identifier()
		if err := crane.Copy(src.String(), dst, crane.Insecure, crane.WithPlatform(plat), crane.WithContext(ctx)); err != nil {
			t.Fatalf("crane copy %s %s: %v", src, dst, err)
		}
	}
	return time.Since(start), fx.Bytes
}

// startClient launches a plain container on the harness bridge and puts the
// test binary in it, which pulls images when run with pullEnv set.
func startClient(t *testing.T, h *testenv.Harness, name string) string {
	t.Helper()
	h.Incus(t, "launch", h.Image, name, "--storage", h.Pool, "--network", h.Network, "-c", incus.LabelPrefix+"test=registry")
	t.Cleanup(func() { _ = exec.Command("incus", "delete", "--force", name).Run() })
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	h.Incus(t, "file", "push", self, name+"/usr/local/bin/plex-pull", "--mode", "0755")
	deadline := time.Now().Add(2 * time.Minute)
	for {
		out, _ := exec.Command("incus", "exec", name, "--", "ip", "-4", "-o", "addr", "show", "scope", "global").CombinedOutput()
		if strings.Contains(string(out), "inet ") {
			return name
		}
		if time.Now().After(deadline) {
			t.Fatalf("client %s got no address:\n%s", name, out)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func pull(t *testing.T, h *testenv.Harness, client string, refs []string) {
	t.Helper()
	args := append([]string{"exec", client, "--env", pullEnv + "=1", "--", "/usr/local/bin/plex-pull"}, refs...)
	out := h.Incus(t, args...)
	if n := strings.Count(out, "\nok ") + boolInt(strings.HasPrefix(out, "ok ")); n != len(refs) {
		t.Fatalf("pulled %d of %d images through the cache:\n%s", n, len(refs), out)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// waitServing waits until every port of the cache answers /v2/ again.
func waitServing(t *testing.T, h *testenv.Harness, instance string, c *Cache) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for _, p := range c.Ports() {
		for {
			out, _ := exec.Command("incus", "exec", instance, "--", "bash", "-c",
				fmt.Sprintf("exec 3<>/dev/tcp/127.0.0.1/%d && printf 'GET /v2/ HTTP/1.0\\r\\n\\r\\n' >&3 && head -n1 <&3", p)).CombinedOutput()
			if strings.Contains(string(out), " 200") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("port %d of %s does not answer: %s", p, instance, out)
			}
			time.Sleep(300 * time.Millisecond)
		}
	}
}
