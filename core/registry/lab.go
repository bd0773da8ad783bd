package registry

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/plex-dev/plex/core/registry/warm"
	"github.com/plex-dev/plex/core/status"
)

// LoadOptions are the inputs of Load.
type LoadOptions struct {
	// Selector picks the cache.
	Selector
	// Sources are OCI image layout directories, OCI archives or `docker
	// save` tarballs (warm.LoadOCI).
	Sources []string
	// Repository names, under lab/, the images a source names by a tag
	// alone; default: the source's file name.
	Repository string
	// Username and Password are for a cache whose pushes need a password
	// (plex-registry up --push-htpasswd).
	Username, Password string
	Log                *status.Logger
}

// Load pushes images built elsewhere into the lab namespace of the cache,
// where the plex's nodes pull them from (engine.Layout.LabHost).
func Load(ctx context.Context, o LoadOptions) ([]warm.Loaded, error) {
	if o.Log == nil {
		o.Log = status.Discard()
	}
	if len(o.Sources) == 0 {
		return nil, fmt.Errorf("nothing to load: name an OCI layout directory or an image tarball")
	}
	if (o.Username == "") != (o.Password == "") {
		return nil, fmt.Errorf("give both a user name and a password, or neither")
	}
	_, c, err := o.runningCache(ctx)
	if err != nil {
		return nil, err
	}
	lo := warm.LoadOptions{Registry: c.LabPushHost(c.Address), Insecure: true, Repository: o.Repository,
		Log: func(format string, args ...any) { o.Log.Infof("   "+format, args...) }}
	if o.Username != "" {
		lo.Auth = &authn.Basic{Username: o.Username, Password: o.Password}
	} else if c.PushAuth {
		return nil, fmt.Errorf("cache %s takes pushes into its lab namespace only with a password (it was made with --push-htpasswd): give --username and --password-stdin", c.Instance)
	}
	// Pushed to the push port, pulled by the nodes from LabHost: the
	// references given back are the nodes'.
	pull := c.LabHost(c.Address)
	var all []warm.Loaded
	for _, src := range o.Sources {
		a := o.Log.Start("loading %s into %s/%s/", src, lo.Registry, warm.LabPrefix)
		got, err := warm.LoadOCI(ctx, src, lo)
		for i := range got {
			got[i].Ref = pull + strings.TrimPrefix(got[i].Ref, lo.Registry)
		}
		all = append(all, got...)
		if a.End(err) != nil {
			return all, err
		}
	}
	return all, nil
}
