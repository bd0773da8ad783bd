package registry

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/plex-dev/plex/core/registry/mirror"
)

// pointNodes writes the cache's hosts.toml into the plex's running kube
// nodes. containerd reads certs.d on every pull, so nothing restarts.
func (r *upRun) pointNodes(ctx context.Context) error {
	files, err := mirror.HostsFiles(mirror.NodeMirrors(r.cache.Address, r.cache.Layout, r.site.explicit))
	if err != nil {
		return err
	}
	var errs []error
	for _, n := range r.nodes {
		for _, f := range files {
			errs = append(errs, r.srv.PushFile(ctx, n, f.Path, []byte(f.Content), 0o644))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	r.res.Nodes = r.nodes
	return nil
}

// publishConfigMap publishes the cache in the plex's cluster (KEP-1755). It
// prints its own status line and never fails up: the nodes use the cache
// without the ConfigMap, and `kubectl plex up` publishes it again. The
// result says whether it was published.
func (r *upRun) publishConfigMap(ctx context.Context) error {
	line := r.log.Start("publishing ConfigMap %s/%s in plex %s", mirror.HostingConfigMapNamespace, mirror.HostingConfigMapName, r.site.plex)
	err := r.kubeErr
	if err == nil {
		ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		err = mirror.PublishHosting(ctx, r.kube, r.cache.Address, r.cache.Layout)
	}
	if line.End(err) != nil {
		r.res.ConfigMap = fmt.Sprintf("not published: %v", err)
		return nil
	}
	r.res.ConfigMap = "published"
	return nil
}
