package registry

import (
	"context"
	"fmt"

	"github.com/plex-dev/plex/core/incus"
	"github.com/plex-dev/plex/core/status"
)

// Selector picks caches: by spec (File, Name), by plex Name, or by
// Instance; with none of them, every cache on the server.
type Selector struct {
	File, Name, Instance string
	Target
}

// resolve connects and finds the selected caches. With a spec, the cache
// is the plex's registry node, whether or not it exists yet (wanted names
// the instance then).
func (s Selector) resolve(ctx context.Context) (srv Server, caches []*Cache, wanted string, err error) {
	plex, instance, remote, project := s.Name, s.Instance, "", ""
	if s.File != "" {
		st, err := siteFromSpec(s.File, s.Name)
		if err != nil {
			return nil, nil, "", err
		}
		plex, instance, remote, project = st.plex, st.node.Name, st.remote, st.project
	}
	if srv, err = s.connect(ctx, remote, project); err != nil {
		return nil, nil, "", err
	}
	all, err := Find(ctx, srv, plex, "")
	if err != nil {
		return nil, nil, "", err
	}
	for _, c := range all {
		if instance == "" || c.Instance == instance {
			caches = append(caches, c)
		}
	}
	return srv, caches, instance, nil
}

// DownOptions are the inputs of Down.
type DownOptions struct {
	Selector
	// Purge also deletes the cache volume and everything cached on it.
	Purge bool
	Log   *status.Logger
}

// Down deletes cache instances (only instances labelled as plex caches).
// The cache volume stays, so the next `up` finds what was cached, unless
// Purge is set.
func Down(ctx context.Context, o DownOptions) error {
	if o.Log == nil {
		o.Log = status.Discard()
	}
	srv, caches, wanted, err := o.resolve(ctx)
	if err != nil {
		return err
	}
	if len(caches) == 0 {
		if o.Purge && wanted != "" {
			return purgeOrphan(ctx, srv, o, wanted)
		}
		o.Log.Infof(" ✓ no cache instance to delete")
		return nil
	}
	if o.Instance == "" && o.File == "" && o.Name == "" && len(caches) > 1 {
		return fmt.Errorf("there are %d caches: name the one to delete with --instance or its plex", len(caches))
	}
	for _, c := range caches {
		a := o.Log.Start("deleting cache instance %s", c.Instance)
		if err := a.End(srv.Delete(ctx, c.Instance)); err != nil {
			return err
		}
		if !o.Purge {
			o.Log.Infof("   kept its volume %s/%s; `plex-registry down --purge` deletes it", c.Pool, c.Volume)
			continue
		}
		if err := deleteVolume(ctx, srv, o.Log, c.Pool, c.Volume, c.Instance); err != nil {
			return err
		}
	}
	return nil
}

// purgeOrphan deletes the volume of a cache whose instance is gone.
func purgeOrphan(ctx context.Context, srv Server, o DownOptions, instance string) error {
	pool := ""
	if o.File != "" {
		if st, err := siteFromSpec(o.File, o.Name); err == nil {
			pool = st.pool
		}
	}
	if pool == "" {
		var err error
		if pool, err = srv.DefaultPool(ctx); err != nil {
			return err
		}
	}
	return deleteVolume(ctx, srv, o.Log, pool, volumeName(instance), instance)
}

func deleteVolume(ctx context.Context, srv Server, log *status.Logger, pool, name, instance string) error {
	v, err := srv.GetVolume(ctx, pool, name)
	if incus.IsNotFound(err) {
		log.Infof(" ✓ no cache volume %s/%s", pool, name)
		return nil
	}
	if err != nil {
		return fmt.Errorf("looking up storage volume %s/%s: %w", pool, name, err)
	}
	if !v.Managed() || v.Config[LabelCacheInstance] != instance {
		return fmt.Errorf("storage volume %s/%s is not the cache volume of %s (no %s=%s); plex leaves it alone", pool, name, instance, LabelCacheInstance, instance)
	}
	a := log.Start("deleting cache volume %s/%s (--purge)", pool, name)
	return a.End(srv.DeleteVolume(ctx, pool, name))
}
