package warm

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

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
