package incus

import (
	"context"
	"fmt"
	"maps"
	"net/http"

	"github.com/plex-dev/plex/core/incus/internal/rest"
)

// Profile is a profile plex manages.
type Profile struct {
	Name        string                       `json:"name,omitempty"`
	Description string                       `json:"description"`
	Config      map[string]string            `json:"config"`
	Devices     map[string]map[string]string `json:"devices"`
}

func (s *Server) getProfile(ctx context.Context, name string) (*Profile, string, error) {
	var p Profile
	etag, err := s.c.Sync(ctx, rest.Request{Method: http.MethodGet, Path: rest.Path("profiles", name)}, &p)
	if err != nil {
		return nil, "", err
	}
	return &p, etag, nil
}

// EnsureProfile creates the profile or brings it to the given content. It
// refuses to change a profile that exists without plex's label. The update
// carries the ETag of the read, so it cannot undo a change made meanwhile.
func (s *Server) EnsureProfile(ctx context.Context, p Profile) error {
	want := Profile{Description: p.Description, Config: maps.Clone(p.Config), Devices: p.Devices}
	if want.Config == nil {
		want.Config = map[string]string{}
	}
	if want.Devices == nil {
		want.Devices = map[string]map[string]string{}
	}
	want.Config[LabelManaged] = "true"
	cur, etag, err := s.getProfile(ctx, p.Name)
	if err != nil {
		if !IsNotFound(err) {
			return fmt.Errorf("reading profile %s: %w", p.Name, err)
		}
		create := want
		create.Name = p.Name
		if _, err := s.c.Sync(ctx, rest.Request{Method: http.MethodPost, Path: rest.Path("profiles"), Body: create}, nil); err != nil {
			return fmt.Errorf("creating profile %s: %w", p.Name, err)
		}
		return nil
	}
	if !IsManaged(cur.Config) {
		return fmt.Errorf("profile %s exists but plex did not create it (no %s=true); rename or delete it, or label it to let plex manage it", p.Name, LabelManaged)
	}
	if maps.Equal(cur.Config, want.Config) && cur.Description == want.Description && devicesEqual(cur.Devices, want.Devices) {
		return nil
	}
	if _, err := s.c.Sync(ctx, rest.Request{Method: http.MethodPut, Path: rest.Path("profiles", p.Name), ETag: etag, Body: want}, nil); err != nil {
		if rest.IsPreconditionFailed(err) {
			return fmt.Errorf("updating profile %s: it changed while plex was updating it; run the command again: %w", p.Name, err)
		}
		return fmt.Errorf("updating profile %s: %w", p.Name, err)
	}
	return nil
}

// GetProfile returns a profile, or an error that IsNotFound recognises.
func (s *Server) GetProfile(ctx context.Context, name string) (*Profile, error) {
	p, _, err := s.getProfile(ctx, name)
	if err != nil {
		return nil, err
	}
	p.Name = name
	return p, nil
}

// DeleteProfile deletes a profile plex made; a missing profile is not an
// error, and one without plex's label is refused.
func (s *Server) DeleteProfile(ctx context.Context, name string) error {
	p, _, err := s.getProfile(ctx, name)
	if IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading profile %s: %w", name, err)
	}
	if !IsManaged(p.Config) {
		return fmt.Errorf("profile %s was not created by plex (no %s=true); plex leaves it alone", name, LabelManaged)
	}
	if _, err := s.c.Sync(ctx, rest.Request{Method: http.MethodDelete, Path: rest.Path("profiles", name)}, nil); err != nil && !IsNotFound(err) {
		return fmt.Errorf("deleting profile %s: %w", name, err)
	}
	return nil
}

func devicesEqual(a, b map[string]map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !maps.Equal(v, b[k]) {
			return false
		}
	}
	return true
}
