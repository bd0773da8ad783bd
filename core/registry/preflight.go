package registry

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/plex-dev/plex/core/incus"
	"github.com/plex-dev/plex/core/plan"
	"github.com/plex-dev/plex/core/registry/mirror"
	"github.com/plex-dev/plex/core/spec"
)

// preflight reads everything up needs to know before it changes anything,
// so that a cache that cannot be made fails before any of it is: the
// instance (is it this cache?), the image, the cache volume (is it this
// cache's?), the zot binary's source, the plex's running nodes, and its
// cluster's kubeconfig context.
func (r *upRun) preflight(ctx context.Context) error {
	if err := r.lookUpInstance(ctx); err != nil {
		return err
	}
	if err := r.lookUpVolume(ctx); err != nil {
		return err
	}
	labels, err := r.cache.labels()
	if err != nil {
		return err
	}
	r.labelled = r.existing != nil && sameLabels(r.existing.Config, labels)
	r.zot = newZotSource(r.o)
	if err := r.lookUpNodes(ctx); err != nil {
		return err
	}
	r.lookUpCluster()
	return nil
}

// lookUpInstance finds the cache instance, refusing an instance of that
// name that is not this cache, and checks that the image of a new one is
// there.
func (r *upRun) lookUpInstance(ctx context.Context) error {
	n := r.site.node
	in, err := r.srv.GetInstance(ctx, n.Name)
	switch {
	case err == nil:
		if !in.Managed() || in.Config[incus.LabelRole] != plan.RoleRegistry || in.Config[incus.LabelPlex] != r.site.plex {
			return fmt.Errorf("an instance named %s exists but plex did not create it as this cache; plex will not touch it: delete or rename it, or give the cache another name", n.Name)
		}
		if a := in.Config[incus.LabelAddress]; a != "" && a != n.Address {
			return fmt.Errorf("cache %s exists with address %s, not %s: delete it first (`plex-registry down`; the cached content stays on its volume)", n.Name, a, n.Address)
		}
		r.existing = in
		return nil
	case !incus.IsNotFound(err):
		return fmt.Errorf("looking up instance %s: %w", n.Name, err)
	}
	if _, err := r.srv.ImageByAlias(ctx, n.Image); err != nil {
		if incus.IsNotFound(err) {
			return fmt.Errorf("image %s is not on this Incus server: bake it with `incus plexbake bake registry %s`", n.Image, spec.BaseOf(n.Image))
		}
		return fmt.Errorf("looking up image %s: %w", n.Image, err)
	}
	return nil
}

// volumeName is the cache volume of an instance.
func volumeName(instance string) string { return instance + "-cache" }

// lookUpVolume places the cache volume (where the instance's labels say,
// else <instance>-cache in the site's or the default pool) and says whether
// it is to be created. A volume of that name that is not this cache's is
// refused.
func (r *upRun) lookUpVolume(ctx context.Context) error {
	pool, vol := "", volumeName(r.cache.Instance)
	if r.existing != nil {
		if p, v, ok := strings.Cut(r.existing.Config[LabelVolume], "/"); ok {
			pool, vol = p, v
		}
	}
	if pool == "" {
		pool = r.site.pool
	}
	if pool == "" {
		var err error
		if pool, err = r.srv.DefaultPool(ctx); err != nil {
			return err
		}
	}
	r.cache.Pool, r.cache.Volume = pool, vol
	v, err := r.srv.GetVolume(ctx, pool, vol)
	switch {
	case err == nil:
		if !v.Managed() || v.Config[LabelCacheInstance] != r.cache.Instance {
			return fmt.Errorf("storage volume %s in pool %s exists but is not %s's cache volume (no %s=%s): rename or delete it", vol, pool, r.cache.Instance, LabelCacheInstance, r.cache.Instance)
		}
		if r.existing == nil {
			r.log.Infof("   reusing the cache volume %s/%s and what it holds", pool, vol)
		}
		return nil
	case !incus.IsNotFound(err):
		return fmt.Errorf("looking up storage volume %s in pool %s: %w", vol, pool, err)
	case r.existing != nil:
		return fmt.Errorf("cache %s is there but its volume %s/%s is gone: delete the instance with `plex-registry down` and run up again", r.cache.Instance, pool, vol)
	}
	r.newVolume = true
	return nil
}

// lookUpNodes finds the plex's kube nodes that run, which up points at the
// cache. Nodes created later get the same files from cloud-init when
// `kubectl plex up` creates them.
func (r *upRun) lookUpNodes(ctx context.Context) error {
	if len(r.site.kube) == 0 {
		return nil
	}
	list, err := r.srv.ListInstances(ctx)
	if err != nil {
		return err
	}
	running := map[string]bool{}
	for _, in := range list {
		if in.Plex() == r.site.plex && in.Status == "Running" {
			running[in.Name] = true
		}
	}
	for _, n := range r.site.kube {
		if running[n.Name] {
			r.nodes = append(r.nodes, n.Name)
		}
	}
	return nil
}

// lookUpCluster decides whether the ConfigMap is published: not for a cache
// of no plex, nor before the plex's cluster is in the kubeconfig (`kubectl
// plex up` publishes it then).
func (r *upRun) lookUpCluster() {
	if r.site.plex == "" {
		r.res.ConfigMap = "not published: the cache belongs to no plex"
		return
	}
	r.kube, r.kubeErr = mirror.ClusterClient(r.o.Kubeconfig, r.site.plex)
	if errors.Is(r.kubeErr, mirror.ErrNoContext) {
		r.res.ConfigMap = "not published yet: plex " + r.site.plex + " has no kubeconfig context; `kubectl plex up` publishes it"
		return
	}
	r.publish = true
}

func sameLabels(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}
