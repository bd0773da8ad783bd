package incus

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/netip"

	"github.com/plex-dev/plex/core/incus/internal/rest"
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

type volumeJSON struct {
	Name        string            `json:"name"`
	Type        string            `json:"type,omitempty"`
	ContentType string            `json:"content_type,omitempty"`
	Description string            `json:"description"`
	Config      map[string]string `json:"config"`
}

// GetVolume returns a custom volume, or an error that IsNotFound recognises.
func (s *Server) GetVolume(ctx context.Context, pool, name string) (*Volume, error) {
	var v volumeJSON
	if _, err := s.c.Sync(ctx, rest.Request{Method: http.MethodGet, Path: rest.Path("storage-pools", pool, "volumes", "custom", name)}, &v); err != nil {
		return nil, err
	}
	return &Volume{Pool: pool, Name: v.Name, Description: v.Description, Config: v.Config}, nil
}

// CreateVolume creates a filesystem custom volume with config (user.* keys
// label it; "size" limits it where the pool supports quotas).
func (s *Server) CreateVolume(ctx context.Context, v Volume) error {
	cfg := maps.Clone(v.Config)
	if cfg == nil {
		cfg = map[string]string{}
	}
	_, err := s.c.Sync(ctx, rest.Request{Method: http.MethodPost, Path: rest.Path("storage-pools", v.Pool, "volumes"), Body: volumeJSON{
		Name: v.Name, Type: "custom", ContentType: "filesystem", Config: cfg, Description: v.Description,
	}}, nil)
	if err != nil {
		return fmt.Errorf("creating storage volume %s in pool %s: %w", v.Name, v.Pool, err)
	}
	return nil
}

// DeleteVolume deletes a custom volume; a missing volume is not an error.
// Incus refuses while an instance still uses it.
func (s *Server) DeleteVolume(ctx context.Context, pool, name string) error {
	_, err := s.c.Sync(ctx, rest.Request{Method: http.MethodDelete, Path: rest.Path("storage-pools", pool, "volumes", "custom", name)}, nil)
	if err != nil && !IsNotFound(err) {
		return fmt.Errorf("deleting storage volume %s in pool %s: %w", name, pool, err)
	}
	return nil
}

// DefaultPool is the storage pool of the default profile's root disk: where
// instances created without a pool of their own land.
func (s *Server) DefaultPool(ctx context.Context) (string, error) {
	p, _, err := s.getProfile(ctx, "default")
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
	var n struct {
		Config map[string]string `json:"config"`
	}
	if _, err := s.c.Sync(ctx, rest.Request{Method: http.MethodGet, Path: rest.Path("networks", name)}, &n); err != nil {
		return netip.Prefix{}, fmt.Errorf("reading network %s: %w", name, err)
	}
	a := n.Config["ipv4.address"]
	p, err := netip.ParsePrefix(a)
	if err != nil || !p.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("network %s has no IPv4 address of its own (ipv4.address %q): it is not a managed bridge plex can give static addresses on", name, a)
	}
	return p, nil
}
