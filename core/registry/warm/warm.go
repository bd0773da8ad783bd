// Package warm fills a read-through cache ahead of time with
// go-containerregistry: it pulls each image's manifests and every blob
// through the cache, which stores them on the way, skipping what the cache
// holds already and fetching a blob that several images share once.
// LoadOCI pushes images built elsewhere (an OCI layout or archive, a docker
// save tarball) into the cache's lab namespace. It speaks the registry API
// only; core/registry finds the cache on Incus and reads what it holds.
package warm

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/plex-dev/plex/core/registry/engine"
)

// Options tune Warm. Zero values mean the defaults.
type Options struct {
	// Images are the references to warm, as nodes name them
	// (registry.k8s.io/pause:3.10.1, nginx, ghcr.io/x/y@sha256:…).
	Images []string
	// Platforms are the platforms of a multi-platform image to warm
	// ("linux/amd64"); "all" takes every one. Default: linux/<GOARCH>.
	Platforms []string
	// Jobs is how many blobs download at once; default 8.
	Jobs int
	// Attempts is how often one item (an image's manifests, or a blob) is
	// tried before it counts as failed; default 3.
	Attempts int
	// RetryDelay is the wait before the first retry, doubling after each;
	// default 500 ms.
	RetryDelay time.Duration
	// Have is what the cache holds already; those blobs are skipped.
	Have engine.Inventory
	// Force downloads every blob, even those the cache holds.
	Force bool
	// Transport carries the requests; default: a clone of
	// http.DefaultTransport that keeps Jobs connections per host.
	Transport http.RoundTripper
	// Progress, when set, receives progress lines: one every
	// ProgressInterval (default 5 s), or, when Interactive, one line
	// redrawn in place every 200 ms.
	Progress         io.Writer
	Interactive      bool
	ProgressInterval time.Duration
}

// Report is what a warm did.
type Report struct {
	// Cache is the cache instance warmed; Warm leaves it to its caller.
	Cache     string        `json:"cache,omitempty"`
	Platforms []string      `json:"platforms"`
	Images    []ImageResult `json:"images"`
	// Manifests fetched through the cache (indexes and images).
	Manifests int `json:"manifests"`
	// Blobs are the distinct blobs the images need; Fetched of them were
	// downloaded through the cache, Skipped were in the cache already,
	// Failed could not be had. Shared is how many times a blob was needed
	// by more than one image and fetched once.
	Blobs   int `json:"blobs"`
	Fetched int `json:"fetched"`
	Skipped int `json:"skipped"`
	Failed  int `json:"failed"`
	Shared  int `json:"shared"`
	// Bytes were downloaded; SkippedBytes were not, being cached already.
	Bytes        int64 `json:"bytes"`
	SkippedBytes int64 `json:"skippedBytes"`
	// Retries are the attempts beyond the first, over all items.
	Retries int `json:"retries"`
	// Seconds is the warm's duration; Throughput is Bytes per second.
	Seconds    float64 `json:"seconds"`
	Throughput float64 `json:"bytesPerSecond"`
	// Stored, when checked, is how many fetched blobs the cache's storage
	// holds after the warm (a distribution proxy commits a blob shortly
	// after serving it).
	Stored *int `json:"stored,omitempty"`

	// FetchedBlobs are the blobs downloaded, for checking that the cache
	// stored them.
	FetchedBlobs []Blob `json:"-"`
}

// Blob is one blob of an upstream's repository.
type Blob struct {
	Upstream, Repository, Digest string
}

// ImageResult is one image of a warm.
type ImageResult struct {
	Image string `json:"image"`
	// Pulled is the reference pulled from the cache.
	Pulled string `json:"pulled"`
	// Digest is the image's (or index's) manifest digest.
	Digest    string   `json:"digest,omitempty"`
	Platforms []string `json:"platforms,omitempty"`
	Blobs     int      `json:"blobs"`
	// Size is the bytes of all its blobs, cached before or not.
	Size     int64  `json:"size"`
	Attempts int    `json:"attempts"`
	Error    string `json:"error,omitempty"`
}

// warmer carries one warm.
type warmer struct {
	address string
	layout  engine.Layout
	o       Options
	puller  *remote.Puller
	plats   []v1.Platform
	all     bool

	manifests atomic.Int64
	retries   atomic.Int64
	// progress counters
	imagesDone, blobsDone, blobsTotal atomic.Int64
	bytesDone, bytesTotal             atomic.Int64
}

// Warm pulls every image through the cache at address, laid out as l: the
// manifests of each image
// (for an index, of every chosen platform) and all their blobs, so that the
// cache stores them. Blobs the cache holds already (o.Have) and blobs
// shared by several images are fetched once or not at all. Blobs download
// in parallel; a failed item is retried, and reported when it keeps
// failing. The report comes back even when some images failed; the error
// then says which.
func Warm(ctx context.Context, address string, l engine.Layout, o Options) (*Report, error) {
	w, err := newWarmer(address, l, o)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	rep := &Report{Platforms: w.platformNames()}
	items := w.items()
	stop := w.showProgress(len(items))
	defer stop()

	w.resolveAll(ctx, items)
	jobs := w.plan(items, rep)
	w.fetchAll(ctx, jobs)

	for _, j := range jobs {
		switch {
		case j.done && j.attempts == 0:
			// skipped: counted in plan
		case j.done:
			rep.Fetched++
			rep.Bytes += j.size
			rep.FetchedBlobs = append(rep.FetchedBlobs, Blob{Upstream: j.upstream, Repository: j.repo, Digest: j.ref.DigestStr()})
		default:
			rep.Failed++
			for _, i := range j.images {
				if items[i].res.Error == "" {
					items[i].res.Error = fmt.Sprintf("blob %s: %v", j.ref.DigestStr(), j.err)
				}
			}
		}
		for _, i := range j.images {
			items[i].res.Attempts = max(items[i].res.Attempts, j.attempts)
		}
	}
	var failed []string
	for _, it := range items {
		rep.Images = append(rep.Images, it.res)
		if it.res.Error != "" {
			failed = append(failed, it.res.Image)
		}
	}
	rep.Manifests = int(w.manifests.Load())
	rep.Retries = int(w.retries.Load())
	rep.Seconds = time.Since(start).Seconds()
	if rep.Seconds > 0 {
		rep.Throughput = float64(rep.Bytes) / rep.Seconds
	}
	if err := ctx.Err(); err != nil {
		return rep, err
	}
	if len(failed) > 0 {
		return rep, fmt.Errorf("warming %d of %d image(s) failed: %s (see the report for each error)", len(failed), len(items), strings.Join(failed, ", "))
	}
	return rep, nil
}

func newWarmer(address string, l engine.Layout, o Options) (*warmer, error) {
	if o.Jobs <= 0 {
		o.Jobs = 8
	}
	if o.Attempts <= 0 {
		o.Attempts = 3
	}
	if o.RetryDelay <= 0 {
		o.RetryDelay = 500 * time.Millisecond
	}
	if o.ProgressInterval <= 0 {
		o.ProgressInterval = 5 * time.Second
		if o.Interactive {
			o.ProgressInterval = 200 * time.Millisecond
		}
	}
	if o.Transport == nil {
		o.Transport = labTransport(o.Jobs + 2)
	}
	w := &warmer{address: address, layout: l, o: o}
	if len(o.Platforms) == 0 {
		o.Platforms = []string{"linux/" + runtime.GOARCH}
		w.o.Platforms = o.Platforms
	}
	for _, p := range o.Platforms {
		if p == "all" {
			w.all = true
			continue
		}
		pl, err := v1.ParsePlatform(p)
		if err != nil || pl.OS == "" || pl.Architecture == "" {
			return nil, fmt.Errorf("platform %q is not os/arch[/variant] like linux/amd64 (or all)", p)
		}
		w.plats = append(w.plats, *pl)
	}
	// Every retry is Warm's own, so that it can count and report them.
	p, err := remote.NewPuller(append(ownRetries(),
		remote.WithTransport(o.Transport),
		remote.WithUserAgent("plex-registry"),
	)...)
	if err != nil {
		return nil, err
	}
	w.puller = p
	return w, nil
}

func (w *warmer) platformNames() []string {
	if w.all {
		return []string{"all"}
	}
	out := make([]string, len(w.plats))
	for i, p := range w.plats {
		out[i] = p.String()
	}
	return out
}

// labTransport carries requests to a registry on the lab's network, keeping
// conns idle connections per host: never through a proxy from the
// environment, which cannot reach the lab.
func labTransport(conns int) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = conns
	t.Proxy = nil
	t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	return t
}

// ownRetries turns go-containerregistry's retries off, for callers that
// retry with retryUpTo: retrying in both would multiply the attempts.
func ownRetries() []remote.Option {
	return []remote.Option{
		remote.WithRetryBackoff(remote.Backoff{Steps: 1}),
		remote.WithRetryPredicate(func(error) bool { return false }),
		remote.WithRetryStatusCodes(),
	}
}
