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

// buildAndPush builds c and makes every name of it point at that image.
// It reports whether anything had to be written.
func buildAndPush(ctx context.Context, o *options, c component, opts []remote.Option) (*built, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	b, err := build(c, o)
	if err != nil {
		return nil, false, err
	}
	pushed := false
	for i, rt := range append([]string{c.ref()}, c.aliases...) {
		t, err := tagIn(o.registry, rt)
		if err != nil {
			return nil, false, err
		}
		have, err := remoteDigest(t, opts)
		if err != nil {
			return nil, false, err
		}
		if have == b.digest.String() {
			continue
		}
		if i == 0 {
			err = remote.Write(t, b.img, opts...)
		} else {
			// The blobs are there already; only the manifest is new.
			err = remote.Tag(t, b.img, opts...)
		}
		if err != nil {
			return nil, false, fmt.Errorf("pushing %s: %w", t, err)
		}
		pushed = true
	}
	return b, pushed, nil
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
