package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/plex-dev/plex/core/registry/mirror"
	"github.com/plex-dev/plex/core/registry/warm"
	"github.com/plex-dev/plex/core/status"
)

// WarmOptions are the inputs of Warm.
type WarmOptions struct {
	// Selector picks the cache.
	Selector
	// Options tune the pulls; Images are the images named directly.
	warm.Options
	// Lists are files of images (warm.ParseImageList); "-" is Stdin.
	Lists []string
	Stdin io.Reader
	// KubernetesVersion adds kubeadm's images of that version.
	KubernetesVersion string
	// FromCluster adds the images of the pods running in that plex
	// (through its kubeconfig context, spec.ContextName).
	FromCluster string
	// Kubeconfig is the kubeconfig file for FromCluster; empty: like kubectl.
	Kubeconfig string
	// Settle bounds the wait for the cache's storage to hold every blob
	// fetched; default 60 s, negative: do not wait or check.
	Settle time.Duration
	Log    *status.Logger
}

// Warm gathers the images to warm, finds the cache, reads what it holds,
// warms it (warm.Warm), and checks that what was fetched is stored.
func Warm(ctx context.Context, o WarmOptions) (*warm.Report, error) {
	if o.Log == nil {
		o.Log = status.Discard()
	}
	images, err := o.images(ctx)
	if err != nil {
		return nil, err
	}
	srv, c, err := o.runningCache(ctx)
	if err != nil {
		return nil, err
	}
	wo := o.Options
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
	rep, werr := warm.Warm(ctx, c.Address, c.Layout, wo)
	_ = a.End(werr)
	if rep == nil {
		return nil, werr
	}
	rep.Cache = c.Instance
	if o.Settle >= 0 && len(rep.FetchedBlobs) > 0 && ctx.Err() == nil {
		if o.Settle == 0 {
			o.Settle = time.Minute
		}
		a := o.Log.Start("checking that cache %s stored the %d blob(s) fetched", c.Instance, len(rep.FetchedBlobs))
		err := a.End(settle(ctx, srv, c, rep, o.Settle))
		werr = errors.Join(werr, err)
	}
	return rep, werr
}

// settle waits until the cache's storage holds every blob fetched: a
// distribution proxy serves a blob and stores it in the background.
func settle(ctx context.Context, srv Server, c *Cache, rep *warm.Report, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		inv, err := c.Inventory(ctx, srv)
		if err != nil {
			return err
		}
		n := 0
		for _, b := range rep.FetchedBlobs {
			if inv.Has(b.Upstream, b.Repository, b.Digest) {
				n++
			}
		}
		rep.Stored = &n
		if n == len(rep.FetchedBlobs) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %s the cache stores %d of the %d blobs fetched: look at its log (`incus exec %s -- journalctl -u 'plex-registry-*'`)", limit, n, len(rep.FetchedBlobs), c.Instance)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// images gathers the images from every source, each once, in order.
func (o WarmOptions) images(ctx context.Context) ([]string, error) {
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
		list, err := warm.ParseImageList(r, src)
		if err != nil {
			return nil, err
		}
		all = append(all, list...)
	}
	if o.KubernetesVersion != "" {
		list, err := warm.KubeadmImages(o.KubernetesVersion)
		if err != nil {
			return nil, err
		}
		all = append(all, list...)
	}
	if o.FromCluster != "" {
		cs, err := mirror.ClusterClient(o.Kubeconfig, o.FromCluster)
		if err != nil {
			return nil, fmt.Errorf("reaching the cluster of plex %s: %w", o.FromCluster, err)
		}
		list, err := warm.ClusterImages(ctx, cs)
		if err != nil {
			return nil, fmt.Errorf("plex %s: %w", o.FromCluster, err)
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

// runningCache is the one cache selected, which must run.
func (s Selector) runningCache(ctx context.Context) (Server, *Cache, error) {
	srv, caches, _, err := s.resolve(ctx)
	if err != nil {
		return nil, nil, err
	}
	var c *Cache
	switch {
	case len(caches) == 1:
		c = caches[0]
	case len(caches) == 0:
		return nil, nil, fmt.Errorf("found no cache: create one with `plex-registry up`, or name it (-f SPEC NAME, --instance)")
	default:
		return nil, nil, fmt.Errorf("there are %d caches: name one with --instance or its plex", len(caches))
	}
	if !c.Running() {
		return nil, nil, fmt.Errorf("cache %s is %s: start it with `plex-registry up`", c.Instance, c.Status)
	}
	return srv, c, nil
}
