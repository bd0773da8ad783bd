package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/plex-dev/plex/core/status"
)

// WarmCacheOptions are the inputs of WarmCache.
type WarmCacheOptions struct {
	// Selector picks the cache.
	Selector
	// WarmOptions tune the pulls; Images are the images named directly.
	WarmOptions
	// Lists are files of images (ParseImageList); "-" is Stdin.
	Lists []string
	Stdin io.Reader
	// KubernetesVersion adds kubeadm's images of that version.
	KubernetesVersion string
	// FromCluster adds the images of the pods running in that plex (its
	// kubeconfig context plex-<name>).
	FromCluster string
	// Kubeconfig is the kubeconfig file for FromCluster; empty: like kubectl.
	Kubeconfig string
	// Settle bounds the wait for the cache's storage to hold every blob
	// fetched; default 60 s, negative: do not wait or check.
	Settle time.Duration
	Log    *status.Logger
}

// WarmCache gathers the images to warm, finds the cache, reads what it
// holds, warms it, and checks that what was fetched is stored.
func WarmCache(ctx context.Context, o WarmCacheOptions) (*WarmReport, error) {
	if o.Log == nil {
		o.Log = status.Discard()
	}
	images, err := o.images(ctx)
	if err != nil {
		return nil, err
	}
	srv, caches, _, err := o.resolve(ctx)
	if err != nil {
		return nil, err
	}
	var c *Cache
	switch {
	case len(caches) == 1:
		c = caches[0]
	case len(caches) == 0:
		return nil, fmt.Errorf("found no cache to warm: create one with `plex-registry up`, or name it (-f SPEC NAME, --instance)")
	default:
		return nil, fmt.Errorf("there are %d caches: name the one to warm with --instance or its plex", len(caches))
	}
	if !c.Running() {
		return nil, fmt.Errorf("cache %s is %s: start it with `plex-registry up`", c.Instance, c.Status)
	}
	wo := o.WarmOptions
	wo.Images = images
	if len(wo.Platforms) == 0 {
		arch, err := srv.Architecture(ctx)
		if err != nil {
			return nil, err
		}
		wo.Platforms = []string{"linux/" + arch}
	}
	if !wo.Force {
		a := o.Log.Start("reading what cache %s holds", c.Instance)
		inv, err := c.Inventory(ctx, srv)
		if a.End(err) != nil {
			return nil, err
		}
		wo.Have = inv
	}
	a := o.Log.Start("warming %s (%s) with %d image(s) for %v", c.Instance, c.Engine, len(images), wo.Platforms)
	rep, werr := Warm(ctx, c, wo)
	a.End(werr)
	if rep != nil && o.Settle >= 0 && len(rep.fetched) > 0 && ctx.Err() == nil {
		if o.Settle == 0 {
			o.Settle = time.Minute
		}
		a := o.Log.Start("checking that cache %s stored the %d blob(s) fetched", c.Instance, len(rep.fetched))
		err := a.End(settle(ctx, srv, c, rep, o.Settle))
		werr = errors.Join(werr, err)
	}
	return rep, werr
}

// settle waits until the cache's storage holds every blob fetched: a
// distribution proxy serves a blob and stores it in the background.
func settle(ctx context.Context, srv Server, c *Cache, rep *WarmReport, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		inv, err := c.Inventory(ctx, srv)
		if err != nil {
			return err
		}
		n := 0
		for _, f := range rep.fetched {
			if inv.Has(f[0], f[1], f[2]) {
				n++
			}
		}
		rep.Stored = &n
		if n == len(rep.fetched) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %s the cache stores %d of the %d blobs fetched: look at its log (`incus exec %s -- journalctl -u 'plex-registry-*'`)", limit, n, len(rep.fetched), c.Instance)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// images gathers the images from every source, each once, in order.
func (o WarmCacheOptions) images(ctx context.Context) ([]string, error) {
	var all []string
	all = append(all, o.Images...)
	for _, f := range o.Lists {
		var r io.Reader
		src := f
		if f == "-" {
			if o.Stdin == nil {
				return nil, fmt.Errorf("-f -: no standard input")
			}
			r, src = o.Stdin, "standard input"
		} else {
			fh, err := os.Open(f)
			if err != nil {
				return nil, fmt.Errorf("reading the image list: %w", err)
			}
			defer fh.Close()
			r = fh
		}
		list, err := ParseImageList(r, src)
		if err != nil {
			return nil, err
		}
		all = append(all, list...)
	}
	if o.KubernetesVersion != "" {
		list, err := KubeadmImages(o.KubernetesVersion)
		if err != nil {
			return nil, err
		}
		all = append(all, list...)
	}
	if o.FromCluster != "" {
		list, err := ClusterImages(ctx, o.Kubeconfig, "plex-"+o.FromCluster)
		if err != nil {
			return nil, err
		}
		all = append(all, list...)
	}
	seen := map[string]bool{}
	var out []string
	for _, s := range all {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no images to warm: name them, or give -f LIST, --kubernetes-version or --from-cluster")
	}
	return out, nil
}
