package incus

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/plex-dev/plex/core/incus/internal/rest"
)

// The profile calls in this file are what core/internal/lock builds its
// cross-client lock on. What they can promise comes from incusd 6.0.4
// (cmd/incusd/profiles.go), and was checked against the harness server:
//
//   - POST /1.0/profiles checks for the name and inserts it in one database
//     transaction, so of many concurrent creates of one name exactly one
//     succeeds. The others get 500 "The profile already exists" (409 only if
//     the table's unique constraint fires first), never a success.
//   - PUT /1.0/profiles/{name} compares If-Match with the profile in one
//     transaction and writes it in a later one. Concurrent PUTs carrying the
//     same ETag can all succeed (on the harness, every round of four did).
//     If-Match there detects a change made before the write; it is not a
//     compare-and-swap.
//   - DELETE takes no If-Match.

// ErrExists is wrapped by CreateProfileExclusive when the name is taken.
var ErrExists = errors.New("already exists")

// IsExists reports whether a create failed because the object exists.
func IsExists(err error) bool {
	return errors.Is(err, ErrExists) || rest.StatusOf(err) == http.StatusConflict
}

// ErrChanged is wrapped by UpdateProfileIfMatch when the profile no longer
// has the ETag the caller read.
var ErrChanged = errors.New("changed since it was read")

// IsChanged reports whether a conditional write failed because the object
// changed since the caller read it (HTTP 412).
func IsChanged(err error) bool {
	return errors.Is(err, ErrChanged) || rest.IsPreconditionFailed(err)
}

// CreateProfileExclusive creates a profile and fails, with an error that
// IsExists recognises, when one of that name exists: of many clients
// creating one name at once exactly one succeeds. Unlike EnsureProfile it
// adds no label and never touches an existing profile.
//
// A failure that is not an answer from Incus (the connection dropped) leaves
// it unknown whether the profile was made; read it back to tell.
func (s *Server) CreateProfileExclusive(ctx context.Context, p Profile) error {
	if p.Name == "" {
		return errors.New("creating a profile: no name given")
	}
	body := p
	if body.Config == nil {
		body.Config = map[string]string{}
	}
	if body.Devices == nil {
		body.Devices = map[string]map[string]string{}
	}
	_, err := s.c.Sync(ctx, rest.Request{Method: http.MethodPost, Path: rest.Path("profiles"), Body: body}, nil)
	if err == nil {
		return nil
	}
	switch status := rest.StatusOf(err); {
	case status == http.StatusConflict:
		return fmt.Errorf("creating profile %s: %w", p.Name, ErrExists)
	case status >= 500:
		// incusd 6.0.4 answers a duplicate name with 500, like any failed
		// insert. A failed insert made nothing, so if the name exists now,
		// someone else holds it.
		if _, _, gerr := s.getProfile(ctx, p.Name); gerr == nil {
			return fmt.Errorf("creating profile %s: %w", p.Name, ErrExists)
		}
	}
	return fmt.Errorf("creating profile %s: %w", p.Name, err)
}

// GetProfileETag returns a profile and its ETag, the value a later
// UpdateProfileIfMatch carries; a missing profile is an error IsNotFound
// recognises. The ETag is a hash of the profile's description, config and
// devices, so any change to them changes it.
func (s *Server) GetProfileETag(ctx context.Context, name string) (*Profile, string, error) {
	p, etag, err := s.getProfile(ctx, name)
	if err != nil {
		return nil, "", fmt.Errorf("reading profile %s: %w", name, err)
	}
	if etag == "" {
		return nil, "", fmt.Errorf("reading profile %s: the server sent no ETag, which plex needs to change a profile safely", name)
	}
	p.Name = name
	return p, etag, nil
}

// UpdateProfileIfMatch replaces a profile's description, config and devices
// if it still has the ETag the caller read; otherwise it fails with an error
// IsChanged recognises, or IsNotFound when the profile is gone.
//
// Incus checks If-Match before the write, not with it: two writers that
// carry the same ETag at the same moment can both succeed. Serialise such
// writers some other way (CreateProfileExclusive) and read back to confirm.
func (s *Server) UpdateProfileIfMatch(ctx context.Context, p Profile, etag string) error {
	if etag == "" {
		return fmt.Errorf("updating profile %s: no ETag given, and a write without one would be unconditional", p.Name)
	}
	body := Profile{Description: p.Description, Config: p.Config, Devices: p.Devices}
	if body.Config == nil {
		body.Config = map[string]string{}
	}
	if body.Devices == nil {
		body.Devices = map[string]map[string]string{}
	}
	_, err := s.c.Sync(ctx, rest.Request{Method: http.MethodPut, Path: rest.Path("profiles", p.Name), ETag: etag, Body: body}, nil)
	switch {
	case err == nil:
		return nil
	case rest.IsPreconditionFailed(err):
		return fmt.Errorf("updating profile %s: %w: %w", p.Name, ErrChanged, err)
	}
	return fmt.Errorf("updating profile %s: %w", p.Name, err)
}
