package incus

import (
	"context"
	"fmt"
	"io"
	"maps"
	"sort"
	"time"

	incusclient "github.com/lxc/incus/v6/client"
	"github.com/lxc/incus/v6/shared/api"
)

// PublishSpec is an image to make from a stopped instance.
type PublishSpec struct {
	Instance string
	// Properties are merged over those the instance's image had (os,
	// release, …).
	Properties map[string]string
	// Compression is the algorithm for the image tarball: "none" (fast, for
	// images used where they are made), "gzip", "zstd", …; empty means the
	// server's images.compression_algorithm.
	Compression string
}

// PublishImage turns a stopped instance into an image and returns its
// fingerprint. It sets no alias; see SetImageAlias.
func (s *Server) PublishImage(ctx context.Context, p PublishSpec) (string, error) {
	req := api.ImagesPost{
		ImagePut:             api.ImagePut{Properties: maps.Clone(p.Properties)},
		Source:               &api.ImagesPostSource{Type: "instance", Name: p.Instance},
		CompressionAlgorithm: p.Compression,
	}
	op, err := s.client.CreateImage(req, nil)
	if err != nil {
		return "", fmt.Errorf("publishing %s: %w", p.Instance, err)
	}
	if err := wait(ctx, op, "publishing "+p.Instance); err != nil {
		return "", err
	}
	fp, _ := op.Get().Metadata["fingerprint"].(string)
	if fp == "" {
		return "", fmt.Errorf("publishing %s: the server returned no fingerprint", p.Instance)
	}
	return fp, nil
}

// SetImageAlias points alias at an image, creating the alias or moving it,
// and returns the fingerprint it pointed at before ("" when it is new).
func (s *Server) SetImageAlias(ctx context.Context, alias, fingerprint, description string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	old, _, err := s.client.GetImageAlias(alias)
	switch {
	case err == nil && old.Target == fingerprint:
		return fingerprint, nil
	case err == nil:
		if description == "" {
			description = old.Description
		}
		if err := s.client.UpdateImageAlias(alias, api.ImageAliasesEntryPut{Target: fingerprint, Description: description}, ""); err != nil {
			return "", fmt.Errorf("moving alias %s to %s: %w", alias, fingerprint, err)
		}
		return old.Target, nil
	case IsNotFound(err):
		entry := api.ImageAliasesEntry{Name: alias, ImageAliasesEntryPut: api.ImageAliasesEntryPut{Target: fingerprint, Description: description}}
		if err := s.client.CreateImageAlias(api.ImageAliasesPost{ImageAliasesEntry: entry}); err != nil {
			return "", fmt.Errorf("creating alias %s: %w", alias, err)
		}
		return "", nil
	default:
		return "", fmt.Errorf("looking up alias %s: %w", alias, err)
	}
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
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	all, err := s.client.GetImages()
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
		info := ImageInfo{Fingerprint: img.Fingerprint, Size: img.Size, Type: img.Type, CreatedAt: img.CreatedAt, Properties: img.Properties}
		for _, a := range img.Aliases {
			info.Aliases = append(info.Aliases, a.Name)
		}
		out = append(out, info)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].CreatedAt.After(out[b].CreatedAt) })
	return out, nil
}

// PushReader writes a file into an instance from r, for content too large to
// hold in memory (binaries).
func (s *Server) PushReader(ctx context.Context, name, path string, r io.ReadSeeker, mode int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := s.client.CreateInstanceFile(name, path, incusclient.InstanceFileArgs{
		Content: r, Mode: mode, Type: "file", WriteMode: "overwrite",
	})
	if err != nil {
		return fmt.Errorf("writing %s in %s: %w", path, name, err)
	}
	return nil
}

// MakeDir creates a directory in an instance (a stopped container too); an
// existing directory is not an error. The parent must exist.
func (s *Server) MakeDir(ctx context.Context, name, path string, mode int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.client.CreateInstanceFile(name, path, incusclient.InstanceFileArgs{Type: "directory", Mode: mode}); err != nil {
		return fmt.Errorf("creating directory %s in %s: %w", path, name, err)
	}
	return nil
}
