package registry

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// WarmOptions tune Warm. Zero values mean the defaults.
type WarmOptions struct {
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
	Have Inventory
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

// WarmReport is what a warm did.
type WarmReport struct {
	// Cache is the cache instance warmed ("" when warming a bare address).
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

	// fetched are the blobs downloaded, as (upstream, repo, digest).
	fetched [][3]string
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

// blobJob is one distinct blob to fetch.
type blobJob struct {
	upstream, repo string
	ref            name.Digest
	size           int64
	images         []int
	done           bool
	err            error
	attempts       int
}

// warmItem is one image being warmed.
type warmItem struct {
	res      ImageResult
	upstream string
	repo     string // as the upstream names it
	ref      name.Reference
	blobs    []blobRef
}

type blobRef struct {
	digest v1.Hash
	size   int64
}

// warmer carries one warm.
type warmer struct {
	c      *Cache
	o      WarmOptions
	puller *remote.Puller
	plats  []v1.Platform
	all    bool

	manifests atomic.Int64
	retries   atomic.Int64
	// progress counters
	imagesDone, blobsDone, blobsTotal atomic.Int64
	bytesDone, bytesTotal             atomic.Int64
}

// Warm pulls every image through the cache c: the manifests of each image
// (for an index, of every chosen platform) and all their blobs, so that the
// cache stores them. Blobs the cache holds already (o.Have) and blobs
// shared by several images are fetched once or not at all. Blobs download
// in parallel; a failed item is retried, and reported when it keeps
// failing. The report comes back even when some images failed; the error
// then says which.
func Warm(ctx context.Context, c *Cache, o WarmOptions) (*WarmReport, error) {
	w, err := newWarmer(c, o)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	rep := &WarmReport{Cache: c.Instance, Platforms: w.platformNames()}
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
			rep.fetched = append(rep.fetched, [3]string{j.upstream, j.repo, j.ref.DigestStr()})
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

func newWarmer(c *Cache, o WarmOptions) (*warmer, error) {
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
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = o.Jobs + 2
		// Never through a proxy from the environment: the cache is on the
		// lab's network.
		t.Proxy = nil
		t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
		o.Transport = t
	}
	w := &warmer{c: c, o: o}
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
	p, err := remote.NewPuller(
		remote.WithTransport(o.Transport),
		remote.WithRetryBackoff(remote.Backoff{Steps: 1}),
		remote.WithRetryPredicate(func(error) bool { return false }),
		remote.WithRetryStatusCodes(),
		remote.WithUserAgent("plex-registry"),
	)
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

// items parses and routes the images, dropping repeats. A reference that
// does not parse, or names an upstream the cache does not serve, fails at
// once: retrying cannot help.
func (w *warmer) items() []*warmItem {
	var out []*warmItem
	seen := map[string]bool{}
	for _, s := range w.o.Images {
		s = strings.TrimSpace(s)
		it := &warmItem{res: ImageResult{Image: s}}
		ref, up, repo, err := w.route(s)
		if err != nil {
			it.res.Error = err.Error()
			out = append(out, it)
			continue
		}
		if seen[ref.Name()] {
			continue
		}
		seen[ref.Name()] = true
		it.ref, it.upstream, it.repo, it.res.Pulled = ref, up, repo, ref.Name()
		out = append(out, it)
	}
	return out
}

// route maps an image reference to the same image in the cache.
func (w *warmer) route(s string) (ref name.Reference, upstream, repo string, err error) {
	src, err := name.ParseReference(s)
	if err != nil {
		return nil, "", "", fmt.Errorf("%q is not an image reference (like registry.k8s.io/pause:3.10.1): %v", s, err)
	}
	reg := src.Context().RegistryStr()
	var ep *Endpoint
	var served []string
	for i, e := range w.c.Endpoints {
		served = append(served, e.Name)
		if registryHost(e.Name) == reg {
			ep = &w.c.Endpoints[i]
		}
	}
	if ep == nil {
		up := reg
		if up == name.DefaultRegistry {
			up = "docker.io"
		}
		return nil, "", "", fmt.Errorf("%s is from %s, which this cache does not mirror (it mirrors %s): run `plex-registry up` with --upstream %s", s, up, strings.Join(served, ", "), up)
	}
	repo = src.Context().RepositoryStr()
	host := ep.Host(w.c.Address)
	var cached string
	switch r := src.(type) {
	case name.Digest:
		cached = host + "/" + ep.Repository(repo) + "@" + r.DigestStr()
	case name.Tag:
		cached = host + "/" + ep.Repository(repo) + ":" + r.TagStr()
	}
	// The cache speaks plain HTTP. go-containerregistry uses HTTP by itself
	// for private and loopback addresses; name.Insecure for any other host
	// would also make it try HTTPS first on every new connection setup.
	ref, err = name.ParseReference(cached)
	if err == nil && ref.Context().Scheme() != "http" {
		ref, err = name.ParseReference(cached, name.Insecure)
	}
	if err != nil {
		return nil, "", "", fmt.Errorf("%s: the cache's name for it, %s, does not parse: %v", s, cached, err)
	}
	return ref, ep.Name, repo, nil
}

// resolveAll fetches the manifests of every image, Jobs at a time.
func (w *warmer) resolveAll(ctx context.Context, items []*warmItem) {
	sem := make(chan struct{}, w.o.Jobs)
	var wg sync.WaitGroup
	for _, it := range items {
		if it.res.Error != "" {
			w.imagesDone.Add(1)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			attempts, err := w.retry(ctx, func() error { return w.resolve(ctx, it) })
			it.res.Attempts = attempts
			if err != nil {
				it.res.Error = err.Error()
			}
			w.imagesDone.Add(1)
		}()
	}
	wg.Wait()
}

// resolve reads one image's manifests and lists its blobs.
func (w *warmer) resolve(ctx context.Context, it *warmItem) error {
	it.blobs, it.res.Platforms = nil, nil
	desc, err := w.puller.Get(ctx, it.ref)
	if err != nil {
		return fmt.Errorf("fetching the manifest of %s: %w", it.ref, err)
	}
	w.manifests.Add(1)
	it.res.Digest = desc.Digest.String()
	switch {
	case desc.MediaType.IsIndex():
		idx, err := desc.ImageIndex()
		if err != nil {
			return err
		}
		im, err := idx.IndexManifest()
		if err != nil {
			return fmt.Errorf("reading the index of %s: %w", it.ref, err)
		}
		var have []string
		for _, m := range im.Manifests {
			if !m.MediaType.IsImage() || m.Platform == nil || m.Platform.OS == "unknown" {
				continue
			}
			have = append(have, m.Platform.String())
			if !w.wants(*m.Platform) {
				continue
			}
			child := it.ref.Context().Digest(m.Digest.String())
			cd, err := w.puller.Get(ctx, child)
			if err != nil {
				return fmt.Errorf("fetching the %s manifest of %s: %w", m.Platform, it.ref, err)
			}
			w.manifests.Add(1)
			if err := it.addImage(cd); err != nil {
				return err
			}
			it.res.Platforms = append(it.res.Platforms, m.Platform.String())
		}
		if len(it.res.Platforms) == 0 {
			return permanent(fmt.Errorf("%s has no manifest for %s (it has %s): give --platform", it.res.Image, strings.Join(w.platformNames(), ", "), strings.Join(have, ", ")))
		}
	case desc.MediaType.IsImage():
		if err := it.addImage(desc); err != nil {
			return err
		}
	default:
		return permanent(fmt.Errorf("%s is a %s, not an image or an image index", it.res.Image, desc.MediaType))
	}
	return nil
}

func (it *warmItem) addImage(d *remote.Descriptor) error {
	img, err := d.Image()
	if err != nil {
		return err
	}
	m, err := img.Manifest()
	if err != nil {
		return fmt.Errorf("reading the manifest of %s: %w", it.res.Image, err)
	}
	it.blobs = append(it.blobs, blobRef{m.Config.Digest, m.Config.Size})
	for _, l := range m.Layers {
		if len(l.URLs) > 0 {
			// A foreign layer lives elsewhere; registries do not serve it.
			continue
		}
		it.blobs = append(it.blobs, blobRef{l.Digest, l.Size})
	}
	return nil
}

func (w *warmer) wants(p v1.Platform) bool {
	if w.all {
		return true
	}
	for _, want := range w.plats {
		if p.Satisfies(want) {
			return true
		}
	}
	return false
}

// plan turns the images' blobs into distinct jobs, skipping what the cache
// holds, and fills in the counts the plan decides.
func (w *warmer) plan(items []*warmItem, rep *WarmReport) []*blobJob {
	byKey := map[string]*blobJob{}
	var jobs []*blobJob
	for i, it := range items {
		if it.res.Error != "" {
			continue
		}
		mine := map[string]bool{}
		for _, b := range it.blobs {
			key := it.upstream + "/" + it.repo + "@" + b.digest.String()
			if mine[key] {
				continue
			}
			mine[key] = true
			it.res.Blobs++
			it.res.Size += b.size
			if j, ok := byKey[key]; ok {
				j.images = append(j.images, i)
				rep.Shared++
				continue
			}
			j := &blobJob{upstream: it.upstream, repo: it.repo, ref: it.ref.Context().Digest(b.digest.String()), size: b.size, images: []int{i}}
			byKey[key] = j
			jobs = append(jobs, j)
			rep.Blobs++
			if !w.o.Force && w.o.Have.Has(it.upstream, it.repo, b.digest.String()) {
				j.done = true
				rep.Skipped++
				rep.SkippedBytes += b.size
				continue
			}
			w.blobsTotal.Add(1)
			w.bytesTotal.Add(b.size)
		}
	}
	// Big blobs first: the longest downloads start early and the tail is
	// short.
	slices.SortStableFunc(jobs, func(a, b *blobJob) int { return cmp.Compare(b.size, a.size) })
	return jobs
}

// fetchAll downloads the pending jobs, Jobs at a time.
func (w *warmer) fetchAll(ctx context.Context, jobs []*blobJob) {
	queue := make(chan *blobJob)
	var wg sync.WaitGroup
	for range w.o.Jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range queue {
				attempts, err := w.retry(ctx, func() error { return w.fetch(ctx, j) })
				j.attempts, j.err, j.done = attempts, err, err == nil
				w.blobsDone.Add(1)
			}
		}()
	}
	for _, j := range jobs {
		if j.done {
			continue
		}
		select {
		case queue <- j:
		case <-ctx.Done():
			j.err = ctx.Err()
		}
	}
	close(queue)
	wg.Wait()
}

// fetch reads one blob through the cache, which stores it on the way.
func (w *warmer) fetch(ctx context.Context, j *blobJob) error {
	l, err := w.puller.Layer(ctx, j.ref)
	if err != nil {
		return err
	}
	rc, err := l.Compressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	cw := &countWriter{n: &w.bytesDone}
	_, err = io.Copy(cw, rc)
	if err != nil {
		// The bytes of a failed attempt are read again on the next.
		w.bytesDone.Add(-cw.total)
	}
	return err
}

type countWriter struct {
	n     *atomic.Int64
	total int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	c.n.Add(int64(len(p)))
	c.total += int64(len(p))
	return len(p), nil
}

// permanentError is a failure retrying cannot mend.
type permanentError struct{ error }

func (p permanentError) Unwrap() error { return p.error }

func permanent(err error) error { return permanentError{err} }

// retryable reports whether trying again may help: network trouble, a
// short read, a server error or rate limit; not a missing image, a denial
// or a bad reference.
func retryable(err error) bool {
	if errors.As(err, new(permanentError)) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var te *transport.Error
	if errors.As(err, &te) {
		return te.StatusCode >= 500 || te.StatusCode == http.StatusTooManyRequests || te.StatusCode == http.StatusRequestTimeout
	}
	return true
}

// retry runs f up to Attempts times, waiting RetryDelay (doubling) between
// attempts, and returns how many it made.
func (w *warmer) retry(ctx context.Context, f func() error) (int, error) {
	delay := w.o.RetryDelay
	for attempt := 1; ; attempt++ {
		err := f()
		if err == nil {
			return attempt, nil
		}
		if attempt >= w.o.Attempts || !retryable(err) || ctx.Err() != nil {
			if attempt > 1 {
				err = fmt.Errorf("%w (after %d attempts)", err, attempt)
			}
			return attempt, err
		}
		w.retries.Add(1)
		select {
		case <-ctx.Done():
			return attempt, ctx.Err()
		case <-time.After(delay):
		}
		delay *= 2
	}
}

// showProgress prints progress until the returned func is called.
func (w *warmer) showProgress(images int) func() {
	if w.o.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	start := time.Now()
	line := func() string {
		el := time.Since(start).Seconds()
		rate := 0.0
		if el > 0 {
			rate = float64(w.bytesDone.Load()) / el
		}
		return fmt.Sprintf("warming: %d/%d images resolved, %d/%d blobs, %s/%s, %s/s",
			w.imagesDone.Load(), images, w.blobsDone.Load(), w.blobsTotal.Load(),
			HumanBytes(w.bytesDone.Load()), HumanBytes(w.bytesTotal.Load()), HumanBytes(int64(rate)))
	}
	go func() {
		defer wg.Done()
		t := time.NewTicker(w.o.ProgressInterval)
		defer t.Stop()
		for {
			select {
			case <-done:
				if w.o.Interactive {
					fmt.Fprintf(w.o.Progress, "\r\033[K")
				}
				return
			case <-t.C:
				if w.o.Interactive {
					fmt.Fprintf(w.o.Progress, "\r\033[K%s", line())
				} else {
					fmt.Fprintln(w.o.Progress, " • "+line())
				}
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
	}
}

// HumanBytes prints a byte count in binary units.
func HumanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
