// Package registry runs plex's read-through image cache: an Incus instance
// next to a plex that mirrors the public registries (docker.io,
// registry.k8s.io, ghcr.io, quay.io, gcr.io) on demand, so that re-creating a
// cluster does not pull from the internet again.
//
// It brings the cache up (its instance, its storage on a custom volume that
// outlives the instance, and its engine), points the plex's running nodes at
// it, reports what it holds, warms it, and takes it down. What the cache
// runs is rendered by engine, what the nodes get by mirror, and the warm's
// pulls are warm's.
package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/plex-dev/plex/core/incus"
	"github.com/plex-dev/plex/core/plan"
	"github.com/plex-dev/plex/core/registry/engine"
)

// Labels the cache instance carries besides the node labels (managed, plex,
// role, type, index, address). The cache's layout is on the instance, so
// anything that wants to use the cache (kubectl plex up, warm, status)
// finds it from Incus alone.
const (
	// LabelEngine is the cache engine: zot or distribution.
	LabelEngine = incus.LabelPrefix + "registry.engine"
	// LabelEndpoints is the JSON list of Endpoint: the upstreams and where
	// the cache serves each.
	LabelEndpoints = incus.LabelPrefix + "registry.endpoints"
	// LabelVolume is "POOL/VOLUME", the custom volume the cache keeps its
	// storage on.
	LabelVolume = incus.LabelPrefix + "registry.volume"
	// LabelCacheInstance marks a volume with the cache instance it belongs to.
	LabelCacheInstance = incus.LabelPrefix + "registry.instance"
	// LabelPushAuth is "htpasswd" when pushes into the lab namespace need a
	// password (engine.Layout.PushAuth).
	LabelPushAuth = incus.LabelPrefix + "registry.push-auth"
)

// Server is what the cache needs from Incus; *incus.Server implements it.
type Server interface {
	ListInstances(ctx context.Context) ([]incus.Instance, error)
	GetInstance(ctx context.Context, name string) (*incus.Instance, error)
	ImageByAlias(ctx context.Context, alias string) (*incus.Image, error)
	EnsureProfile(ctx context.Context, p incus.Profile) error
	CreateInstance(ctx context.Context, spec incus.InstanceSpec) error
	Start(ctx context.Context, name string) error
	Delete(ctx context.Context, name string) error
	Run(ctx context.Context, name string, cmd ...string) (string, error)
	PushFile(ctx context.Context, name, path string, content []byte, mode int) error
	PushReader(ctx context.Context, name, path string, r io.ReadSeeker, mode int) error
	SetInstanceConfig(ctx context.Context, name string, kv map[string]string) error
	GetVolume(ctx context.Context, pool, name string) (*incus.Volume, error)
	CreateVolume(ctx context.Context, v incus.Volume) error
	DeleteVolume(ctx context.Context, pool, name string) error
	DefaultPool(ctx context.Context) (string, error)
	NetworkIPv4(ctx context.Context, name string) (netip.Prefix, error)
	Architecture(ctx context.Context) (string, error)
}

var _ Server = (*incus.Server)(nil)

// Cache is a cache instance as Incus knows it.
type Cache struct {
	// Instance is the instance's name; Plex the plex it belongs to ("" for
	// a cache made without a spec).
	Instance string `json:"instance"`
	Plex     string `json:"plex,omitempty"`
	// Address is the cache's static address.
	Address string `json:"address"`
	// Status is the instance's Incus status (Running, Stopped).
	Status string `json:"status"`
	engine.Layout
	// Pool and Volume hold the cache's storage.
	Pool   string `json:"pool"`
	Volume string `json:"volume"`
}

// FromInstance reads a cache from its instance's labels; ok is false when
// the instance is not a plex registry cache.
func FromInstance(in incus.Instance) (c *Cache, ok bool, err error) {
	if !in.Managed() || in.Config[incus.LabelRole] != plan.RoleRegistry {
		return nil, false, nil
	}
	c = &Cache{
		Instance: in.Name, Plex: in.Config[incus.LabelPlex], Address: in.Config[incus.LabelAddress], Status: in.Status,
		Layout: engine.Layout{Engine: in.Config[LabelEngine]},
	}
	c.Pool, c.Volume, _ = strings.Cut(in.Config[LabelVolume], "/")
	c.PushAuth = in.Config[LabelPushAuth] == pushAuthHtpasswd
	if raw := in.Config[LabelEndpoints]; raw != "" {
		if err := json.Unmarshal([]byte(raw), &c.Endpoints); err != nil {
			return c, true, fmt.Errorf("cache %s: reading %s: %w", in.Name, LabelEndpoints, err)
		}
	}
	if c.Engine == "" || len(c.Endpoints) == 0 {
		return c, true, fmt.Errorf("cache %s has no layout yet (was `plex-registry up` interrupted?): run it again", in.Name)
	}
	return c, true, nil
}

// Running reports whether the instance runs.
func (c *Cache) Running() bool { return c.Status == "Running" }

// labels are the layout labels of the cache.
func (c *Cache) labels() (map[string]string, error) {
	eps, err := json.Marshal(c.Endpoints)
	if err != nil {
		return nil, err
	}
	auth := ""
	if c.PushAuth {
		auth = pushAuthHtpasswd
	}
	return map[string]string{
		LabelEngine:    c.Engine,
		LabelEndpoints: string(eps),
		LabelVolume:    c.Pool + "/" + c.Volume,
		LabelPushAuth:  auth,
	}, nil
}

const pushAuthHtpasswd = "htpasswd"

// ForPlex finds the cache of a plex among instances: its registry node with
// a layout. It returns nil when the plex has none; a cache whose labels do
// not parse is an error.
func ForPlex(instances []incus.Instance, plex string) (*Cache, error) {
	var found []*Cache
	for _, in := range instances {
		if in.Plex() != plex {
			continue
		}
		c, ok, err := FromInstance(in)
		if !ok {
			continue
		}
		if err != nil {
			return nil, err
		}
		found = append(found, c)
	}
	if len(found) == 0 {
		return nil, nil
	}
	sort.Slice(found, func(a, b int) bool { return found[a].Instance < found[b].Instance })
	return found[0], nil
}

// Find lists the caches on a server: the one named instance, those of plex,
// or all of them when both are empty.
func Find(ctx context.Context, srv Server, plex, instance string) ([]*Cache, error) {
	all, err := srv.ListInstances(ctx)
	if err != nil {
		return nil, err
	}
	var out []*Cache
	var errs []string
	for _, in := range all {
		if instance != "" && in.Name != instance {
			continue
		}
		if plex != "" && in.Plex() != plex {
			continue
		}
		c, ok, err := FromInstance(in)
		if !ok {
			if instance != "" {
				return nil, fmt.Errorf("instance %s is not a plex registry cache (it has no %s=registry label)", instance, incus.LabelRole)
			}
			continue
		}
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		out = append(out, c)
	}
	if len(errs) > 0 {
		return out, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return out, nil
}

// findOne is Find that wants exactly one cache.
func findOne(ctx context.Context, srv Server, plex, instance string) (*Cache, error) {
	cs, err := Find(ctx, srv, plex, instance)
	if err != nil {
		return nil, err
	}
	switch {
	case len(cs) == 1:
		return cs[0], nil
	case len(cs) == 0 && instance != "":
		return nil, fmt.Errorf("no cache instance %s on this Incus server: create it with `plex-registry up`", instance)
	case len(cs) == 0 && plex != "":
		return nil, fmt.Errorf("plex %s has no cache: give the spec a node of type registry and run `plex-registry up -f SPEC %s`", plex, plex)
	case len(cs) == 0:
		return nil, fmt.Errorf("there is no plex registry cache on this Incus server: create one with `plex-registry up`")
	}
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = c.Instance
	}
	return nil, fmt.Errorf("there are %d caches (%s): name one with --instance, or its plex", len(cs), strings.Join(names, ", "))
}

// Inventory lists the blobs the cache's storage can serve: by upstream, the
// set of "REPOSITORY@DIGEST" (repositories as the upstream names them). It
// reads the storage inside the instance, so it knows what the cache holds
// rather than what some client was once served.
func (c *Cache) Inventory(ctx context.Context, srv Server) (engine.Inventory, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	out, err := srv.Run(ctx, c.Instance, "sh", "-c", c.StorageScript(true, false))
	if err != nil {
		return nil, fmt.Errorf("listing the blobs in cache %s: %w", c.Instance, err)
	}
	return engine.ParseStorage(out).Links, nil
}
