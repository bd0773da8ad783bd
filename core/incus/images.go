package incus

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/plex-dev/plex/core/incus/internal/rest"
)

// Image is what plex needs to know about an image.
type Image struct {
	Fingerprint string
	Properties  map[string]string
	// Aliases are all the aliases that point at the image.
	Aliases []string
}

// imageJSON is an image as /1.0/images/{fingerprint} gives it.
type imageJSON struct {
	Fingerprint string            `json:"fingerprint"`
	Properties  map[string]string `json:"properties"`
	Aliases     []struct {
		Name string `json:"name"`
	} `json:"aliases"`
	Size      int64     `json:"size"`
	Type      string    `json:"type"`
	CreatedAt time.Time `json:"created_at"`
}

func (img imageJSON) aliasNames() []string {
	var out []string
	for _, a := range img.Aliases {
		out = append(out, a.Name)
	}
	return out
}

type aliasJSON struct {
	Name        string `json:"name,omitempty"`
	Target      string `json:"target"`
	Description string `json:"description"`
	Type        string `json:"type,omitempty"`
}

func (s *Server) getAlias(ctx context.Context, alias string) (*aliasJSON, error) {
	var a aliasJSON
	if _, err := s.c.Sync(ctx, rest.Request{Method: http.MethodGet, Path: rest.Path("images", "aliases", alias)}, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

func (s *Server) getImage(ctx context.Context, fingerprint string) (*imageJSON, error) {
	var img imageJSON
	if _, err := s.c.Sync(ctx, rest.Request{Method: http.MethodGet, Path: rest.Path("images", fingerprint)}, &img); err != nil {
		return nil, err
	}
	return &img, nil
}

// ImageByAlias looks up a local image alias. A missing alias is an error that
// IsNotFound recognises.
func (s *Server) ImageByAlias(ctx context.Context, alias string) (*Image, error) {
	a, err := s.getAlias(ctx, alias)
	if err != nil {
		return nil, err
	}
	img, err := s.getImage(ctx, a.Target)
	if err != nil {
		return nil, fmt.Errorf("reading image %s (alias %s): %w", a.Target, alias, err)
	}
	return &Image{Fingerprint: img.Fingerprint, Properties: img.Properties, Aliases: img.aliasNames()}, nil
}

// DeleteImage deletes an image by fingerprint; a missing image is not an error.
func (s *Server) DeleteImage(ctx context.Context, fingerprint string) error {
	_, err := s.c.Do(ctx, rest.Request{Method: http.MethodDelete, Path: rest.Path("images", fingerprint)})
	if err != nil && !IsNotFound(err) {
		return fmt.Errorf("deleting image %s: %w", fingerprint, err)
	}
	return nil
}

// SetImageAlias points alias at an image, creating the alias or moving it,
// and returns the fingerprint it pointed at before ("" when it is new).
func (s *Server) SetImageAlias(ctx context.Context, alias, fingerprint, description string) (string, error) {
	old, err := s.getAlias(ctx, alias)
	switch {
	case err == nil && old.Target == fingerprint:
		return fingerprint, nil
	case err == nil:
		if description == "" {
			description = old.Description
		}
		_, err := s.c.Sync(ctx, rest.Request{Method: http.MethodPut, Path: rest.Path("images", "aliases", alias),
			Body: aliasJSON{Target: fingerprint, Description: description}}, nil)
		if err != nil {
			return "", fmt.Errorf("moving alias %s to %s: %w", alias, fingerprint, err)
		}
		return old.Target, nil
	case IsNotFound(err):
		_, err := s.c.Sync(ctx, rest.Request{Method: http.MethodPost, Path: rest.Path("images", "aliases"),
			Body: aliasJSON{Name: alias, Target: fingerprint, Description: description}}, nil)
		if err != nil {
			return "", fmt.Errorf("creating alias %s: %w", alias, err)
		}
		return "", nil
	default:
		return "", fmt.Errorf("looking up alias %s: %w", alias, err)
	}
}

// DeleteImageAlias removes an alias, leaving its image; a missing alias is
// not an error.
func (s *Server) DeleteImageAlias(ctx context.Context, alias string) error {
	_, err := s.c.Sync(ctx, rest.Request{Method: http.MethodDelete, Path: rest.Path("images", "aliases", alias)}, nil)
	if err != nil && !IsNotFound(err) {
		return fmt.Errorf("deleting alias %s: %w", alias, err)
	}
	return nil
}

// ImageInfo is an image as `incus image list` shows it.
type ImageInfo struct {
	Fingerprint string
	Aliases     []string
	// Size is the image file's size in bytes (uncompressed when the image
	// was published with compression "none").
	Size       int64
	Type       string
	CreatedAt  time.Time
	Properties map[string]string
}

// ListImages lists the images of the server's project that have every given
// property key (all images when none is given), newest first.
func (s *Server) ListImages(ctx context.Context, withKeys ...string) ([]ImageInfo, error) {
	var all []imageJSON
	_, err := s.c.Sync(ctx, rest.Request{Method: http.MethodGet, Path: rest.Path("images"), Query: map[string][]string{"recursion": {"1"}}}, &all)
	if err != nil {
		return nil, fmt.Errorf("listing images on incus remote %q (project %q): %w", s.Remote, s.Project, err)
	}
	var out []ImageInfo
next:
	for _, img := range all {
		for _, k := range withKeys {
			if _, ok := img.Properties[k]; !ok {
				continue next
			}
		}
		out = append(out, ImageInfo{Fingerprint: img.Fingerprint, Aliases: img.aliasNames(), Size: img.Size, Type: img.Type, CreatedAt: img.CreatedAt, Properties: img.Properties})
	}
	sort.Slice(out, func(a, b int) bool { return out[a].CreatedAt.After(out[b].CreatedAt) })
	return out, nil
}
