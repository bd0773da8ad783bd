package incus

import (
	"context"
	"fmt"
	"maps"

	"github.com/lxc/incus/v6/shared/api"
)

// Image is what plex needs to know about an image.
type Image struct {
	Fingerprint string
	Properties  map[string]string
	// Aliases are all the aliases that point at the image.
	Aliases []string
}

// ImageByAlias looks up a local image alias. A missing alias is an error that
// IsNotFound recognises.
func (s *Server) ImageByAlias(ctx context.Context, alias string) (*Image, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	a, _, err := s.client.GetImageAlias(alias)
	if err != nil {
		return nil, err
	}
	img, _, err := s.client.GetImage(a.Target)
	if err != nil {
		return nil, fmt.Errorf("reading image %s (alias %s): %w", a.Target, alias, err)
	}
	out := &Image{Fingerprint: img.Fingerprint, Properties: img.Properties}
	for _, a := range img.Aliases {
		out.Aliases = append(out.Aliases, a.Name)
	}
	return out, nil
}

// Publish turns a stopped instance into an image with the given properties,
// moves the alias to it, and returns its fingerprint. The image that held the
// alias before is deleted when nothing else points at it, so re-bakes do not
// pile up images.
func (s *Server) Publish(ctx context.Context, instance, alias string, props map[string]string) (string, error) {
	fp, err := s.PublishImage(ctx, PublishSpec{Instance: instance, Properties: props})
	if err != nil {
		return "", err
	}
	old, err := s.SetImageAlias(ctx, alias, fp, "")
	if err != nil {
		return fp, err
	}
	if old != "" && old != fp {
		if op, err := s.client.DeleteImage(old); err == nil {
			_ = op.WaitContext(ctx)
		}
	}
	return fp, nil
}

// DeleteImage deletes an image by fingerprint; a missing image is not an error.
func (s *Server) DeleteImage(ctx context.Context, fingerprint string) error {
	op, err := s.client.DeleteImage(fingerprint)
	if err != nil {
		if IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("deleting image %s: %w", fingerprint, err)
	}
	return wait(ctx, op, "deleting image "+fingerprint)
}

// Profile is a profile plex manages.
type Profile struct {
	Name        string
	Description string
	Config      map[string]string
	Devices     map[string]map[string]string
}

// EnsureProfile creates the profile or brings it to the given content. It
// refuses to change a profile that exists without plex's label.
func (s *Server) EnsureProfile(ctx context.Context, p Profile) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	cfg := maps.Clone(p.Config)
	if cfg == nil {
		cfg = map[string]string{}
	}
	cfg[LabelManaged] = "true"
	put := api.ProfilePut{Config: cfg, Description: p.Description, Devices: p.Devices}
	cur, etag, err := s.client.GetProfile(p.Name)
	if err != nil {
		if !IsNotFound(err) {
			return fmt.Errorf("reading profile %s: %w", p.Name, err)
		}
		if err := s.client.CreateProfile(api.ProfilesPost{Name: p.Name, ProfilePut: put}); err != nil {
			return fmt.Errorf("creating profile %s: %w", p.Name, err)
		}
		return nil
	}
	if !IsManaged(cur.Config) {
		return fmt.Errorf("profile %s exists but plex did not create it (no %s=true); rename or delete it, or label it to let plex manage it", p.Name, LabelManaged)
	}
	if maps.Equal(cur.Config, put.Config) && cur.Description == put.Description && devicesEqual(cur.Devices, put.Devices) {
		return nil
	}
	if err := s.client.UpdateProfile(p.Name, put, etag); err != nil {
		return fmt.Errorf("updating profile %s: %w", p.Name, err)
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
