package cluster

import (
	"context"

	"github.com/plex-dev/plex/core/cloudinit"
	"github.com/plex-dev/plex/core/incus"
	"github.com/plex-dev/plex/core/registry"
	"github.com/plex-dev/plex/core/registry/engine"
	"github.com/plex-dev/plex/core/registry/mirror"
)

// The plex's read-through image cache is plex-registry's: `plex-registry up`
// creates and configures the spec's registry node, and records its layout
// on the instance. `kubectl plex up` leaves registry nodes alone, points the
// nodes it creates at the cache it finds (containerd hosts.toml through
// cloud-init, one per upstream the cache mirrors), and publishes the
// KEP-1755 local-registry-hosting ConfigMap once the cluster is up.

// useCache finds the plex's running cache among the instances that exist.
// Without one, nodes pull from upstream (or the spec's registryMirror).
func (r *run) useCache(all []incus.Instance) {
	c, err := registry.ForPlex(all, r.px.Name)
	switch {
	case err != nil:
		r.log.Infof(" ! %s: not using the plex's image cache: %v", r.px.Name, err)
	case c == nil:
	case !c.Running():
		// A stopped cache's address answers nothing, and every pull would
		// wait for a connect timeout before falling back.
		r.log.Infof(" ! %s: the image cache %s is %s, so new nodes do not use it: start it with `plex-registry up`", r.px.Name, c.Instance, c.Status)
	default:
		r.cache = c
		r.log.Infof("   %s: nodes pull through the image cache %s (%s at %s)", r.px.Name, c.Instance, c.Engine, c.Address)
	}
}

// nodeMirrors are the containerd mirrors of a new node: the cache's
// upstreams, with the spec's registryMirror winning for registry.k8s.io.
func (r *run) nodeMirrors() map[string]cloudinit.Mirror {
	if r.cache == nil {
		return mirror.NodeMirrors("", engine.Layout{}, r.px.RegistryMirror)
	}
	return mirror.NodeMirrors(r.cache.Address, r.cache.Layout, r.px.RegistryMirror)
}

// cacheHostingTitle is the title of publishCacheHosting's action.
const cacheHostingTitle = "publishing the image cache in ConfigMap " + mirror.HostingConfigMapNamespace + "/" + mirror.HostingConfigMapName

// publishCacheHosting publishes the cache in the cluster (KEP-1755), so
// that tools find it.
func (r *run) publishCacheHosting(ctx context.Context) error {
	return mirror.PublishHostingWithKubeconfig(ctx, r.admin, r.cache.Address, r.cache.Layout)
}
