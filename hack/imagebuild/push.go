package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// remoteOptions talk plain HTTP to the registry directly: never through a
// proxy from the environment, since the registry is on loopback or on the
// harness bridge and nothing may leave this machine.
func remoteOptions(ctx context.Context) []remote.Option {
	tr := remote.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	return []remote.Option{remote.WithContext(ctx), remote.WithTransport(tr), remote.WithJobs(4)}
}

// tagIn names repoTag (repo:tag) in the registry.
func tagIn(registry, repoTag string) (name.Tag, error) {
	t, err := name.NewTag(registry+"/"+repoTag, name.Insecure, name.StrictValidation)
	if err != nil {
		return name.Tag{}, fmt.Errorf("naming %s in %s: %w", repoTag, registry, err)
	}
	return t, nil
}

// remoteDigest is the digest the registry has for t, or "" when it has none.
func remoteDigest(t name.Tag, opts []remote.Option) (string, error) {
	d, err := remote.Head(t, opts...)
	if err != nil {
		var te *transport.Error
		if errors.As(err, &te) && te.StatusCode == http.StatusNotFound {
			return "", nil
		}
		return "", fmt.Errorf("asking %s for %s: %w", t.RegistryStr(), t, err)
	}
	return d.Digest.String(), nil
}

type result struct {
	c       component
	b       *built
	pushed  bool
	elapsed time.Duration
	err     error
}

// pushAll builds every component and pushes those whose digest the registry
// does not have yet, o.jobs at a time.
func pushAll(ctx context.Context, o *options, comps []component, out io.Writer) error {
	opts := remoteOptions(ctx)
	results := make([]result, len(comps))
	sem := make(chan struct{}, o.jobs)
	var wg sync.WaitGroup
	var mu sync.Mutex
	start := time.Now()
	for i, c := range comps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			t0 := time.Now()
			r := result{c: c}
			r.b, r.pushed, r.err = buildAndPush(ctx, o, c, opts)
			r.elapsed = time.Since(t0)
			results[i] = r
			mu.Lock()
			defer mu.Unlock()
			report(out, o, r)
		}()
	}
	wg.Wait()

	var errs []error
	var total int64
	pushed := 0
	for _, r := range results {
		if r.err != nil {
			errs = append(errs, r.err)
			continue
		}
		total += r.b.zipSize
		if r.pushed {
			pushed++
		}
	}
	fmt.Fprintf(out, "imagebuild: %d images (%d pushed, %d already present), %.1f MB compressed, in %.1f s\n",
		len(comps)-len(errs), pushed, len(comps)-len(errs)-pushed, float64(total)/1e6, time.Since(start).Seconds())
	return errors.Join(errs...)
}

func report(out io.Writer, o *options, r result) {
	if r.err != nil {
		fmt.Fprintf(out, "✗ %s/%s: %v\n", o.registry, r.c.ref(), r.err)
		return
	}
	verb := "present"
	if r.pushed {
		verb = "pushed "
	}
	for _, rt := range append([]string{r.c.ref()}, r.c.aliases...) {
		fmt.Fprintf(out, "%s %s/%s@%s  (%.1f MB layer, %.1f MB unpacked, %.1f s)\n",
			verb, o.registry, rt, r.b.digest, float64(r.b.zipSize)/1e6, float64(r.b.rawSize)/1e6, r.elapsed.Seconds())
	}
}

// buildAndPush makes every name of c point at c's image, building it only
// when the cache does not know its digest or the registry lacks it. It reports
// whether anything had to be written.
func buildAndPush(ctx context.Context, o *options, c component, opts []remote.Option) (*built, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	r, err := prepare(c, o)
	if err != nil {
		return nil, false, err
	}
	names := append([]string{c.ref()}, c.aliases...)
	tags := make([]name.Tag, len(names))
	have := make([]string, len(names))
	for i, rt := range names {
		if tags[i], err = tagIn(o.registry, rt); err != nil {
			return nil, false, err
		}
		if have[i], err = remoteDigest(tags[i], opts); err != nil {
			return nil, false, err
		}
	}

	key, err := r.key()
	if err != nil {
		return nil, false, err
	}
	if b := loadCache(o.cacheDir, key); b != nil && allEqual(have, b.digest.String()) {
		return b, false, nil
	}

	b, err := r.build()
	if err != nil {
		return nil, false, fmt.Errorf("building %s: %w", c.ref(), err)
	}
	pushed := false
	if have[0] != b.digest.String() {
		if err := remote.Write(tags[0], b.img, opts...); err != nil {
			return nil, false, fmt.Errorf("pushing %s: %w", tags[0], err)
		}
		pushed = true
	}
	for i := 1; i < len(tags); i++ {
		if have[i] == b.digest.String() {
			continue
		}
		// The registry keeps blobs per repository: write the image again as
		// read from the first name, so that its layers are mounted across
		// repositories instead of uploaded twice.
		src, err := remote.Image(tags[0], opts...)
		if err != nil {
			return nil, false, fmt.Errorf("reading back %s: %w", tags[0], err)
		}
		if err := remote.Write(tags[i], src, opts...); err != nil {
			return nil, false, fmt.Errorf("pushing %s: %w", tags[i], err)
		}
		pushed = true
	}
	saveCache(o.cacheDir, key, b)
	return b, pushed, nil
}

func allEqual(have []string, want string) bool {
	for _, h := range have {
		if h != want {
			return false
		}
	}
	return true
}

// imageIn fetches repoTag from the registry.
func imageIn(ctx context.Context, registry, repoTag string) (v1.Image, name.Tag, error) {
	t, err := tagIn(registry, repoTag)
	if err != nil {
		return nil, t, err
	}
	img, err := remote.Image(t, remoteOptions(ctx)...)
	if err != nil {
		return nil, t, fmt.Errorf("fetching %s: %w", t, err)
	}
	return img, t, nil
}
