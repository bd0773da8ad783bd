package incus

import (
	"context"
	"fmt"
	"maps"
	"net/netip"

	"github.com/lxc/incus/v6/shared/api"
)

// Volume is a custom storage volume: data that outlives the instances it is
// attached to (the registry cache's storage, for one).
type Volume struct {
	Pool, Name  string
	Description string
	Config      map[string]string
}

// Managed reports whether plex created this volume.
func (v Volume) Managed() bool { return IsManaged(v.Config) }

// GetVolume returns a custom volume, or an error that IsNotFound recognises.
func (s *Server) GetVolume(ctx context.Context, pool, name string) (*Volume, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	v, _, err := s.client.GetStoragePoolVolume(pool, "custom", name)
	if err != nil {
		return nil, err
	}
	return &Volume{Pool: pool, Name: v.Name, Description: v.Description, Config: v.Config}, nil
}

// CreateVolume creates a filesystem custom volume with config (user.* keys
// label it; "size" limits it where the pool supports quotas).
func (s *Server) CreateVolume(ctx context.Context, v Volume) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	cfg := maps.Clone(v.Config)
	if cfg == nil {
		cfg = map[string]string{}
	}
	err := s.client.CreateStoragePoolVolume(v.Pool, api.StorageVolumesPost{
		Name: v.Name, Type: "custom", ContentType: "filesystem",
		StorageVolumePut: api.StorageVolumePut{Config: cfg, Description: v.Description},
	})
	if err != nil {
		return fmt.Errorf("creating storage volume %s in pool %s: %w", v.Name, v.Pool, err)
	}
	return nil
}

// DeleteVolume deletes a custom volume; a missing volume is not an error.
// Incus refuses while an instance still uses it.
func (s *Server) DeleteVolume(ctx context.Context, pool, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.client.DeleteStoragePoolVolume(pool, "custom", name); err != nil {
		if IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("deleting storage volume %s in pool %s: %w", name, pool, err)
	}
	return nil
}

// DefaultPool is the storage pool of the default profile's root disk: where
// instances created without a pool of their own land.
func (s *Server) DefaultPool(ctx context.Context) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	p, _, err := s.client.GetProfile("default")
	if err != nil {
		return "", fmt.Errorf("reading the default profile: %w", err)
	}
	for _, d := range p.Devices {
		if d["type"] == "disk" && d["path"] == "/" && d["pool"] != "" {
			return d["pool"], nil
		}
	}
	return "", fmt.Errorf("the default profile has no root disk with a pool: name a storage pool (storagePool in the spec, or --storage-pool)")
}

// NetworkIPv4 is a managed network's IPv4 address on the host: its gateway
// and prefix length (ipv4.address, like 10.212.0.1/24).
func (s *Server) NetworkIPv4(ctx context.Context, name string) (netip.Prefix, error) {
	if err := ctx.Err(); err != nil {
		return netip.Prefix{}, err
	}
	n, _, err := s.client.GetNetwork(name)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("reading network %s: %w", name, err)
	}
	a := n.Config["ipv4.address"]
	p, err := netip.ParsePrefix(a)
	if err != nil || !p.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("network %s has no IPv4 address of its own (ipv4.address %q): it is not a managed bridge plex can give static addresses on", name, a)
	}
	return p, nil
}

// SetInstanceConfig sets (or, with an empty value, removes) config keys of an
// instance, leaving the others as they are.
func (s *Server) SetInstanceConfig(ctx context.Context, name string, kv map[string]string) error {
	in, etag, err := s.client.GetInstance(name)
	if err != nil {
		return fmt.Errorf("reading instance %s: %w", name, err)
	}
	put := in.Writable()
	if put.Config == nil {
		put.Config = map[string]string{}
	}
	changed := false
	for k, v := range kv {
		if put.Config[k] == v {
			continue
		}
		changed = true
		if v == "" {
			delete(put.Config, k)
		} else {
			put.Config[k] = v
		}
	}
	if !changed {
		return nil
	}
	op, err := s.client.UpdateInstance(name, put, etag)
	if err != nil {
		return fmt.Errorf("updating the config of instance %s: %w", name, err)
	}
	return wait(ctx, op, "updating the config of instance "+name)
}
