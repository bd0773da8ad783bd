package incus

import (
	"context"
	"fmt"
	"maps"
	"net/http"

	"github.com/plex-dev/plex/core/incus/internal/rest"
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

type imagesPost struct {
	Properties           map[string]string `json:"properties,omitempty"`
	Source               map[string]string `json:"source"`
	CompressionAlgorithm string            `json:"compression_algorithm,omitempty"`
}

// PublishImage turns a stopped instance into an image and returns its
// fingerprint, which the publish operation reports. It sets no alias; see
// SetImageAlias.
func (s *Server) PublishImage(ctx context.Context, p PublishSpec) (string, error) {
	op, err := s.c.Do(ctx, rest.Request{Method: http.MethodPost, Path: rest.Path("images"), Body: imagesPost{
		Properties:           maps.Clone(p.Properties),
		Source:               map[string]string{"type": "instance", "name": p.Instance},
		CompressionAlgorithm: p.Compression,
	}})
	if err != nil {
		return "", fmt.Errorf("publishing %s: %w", p.Instance, err)
	}
	fp, _ := op.Metadata["fingerprint"].(string)
	if fp == "" {
		return "", fmt.Errorf("publishing %s: the server returned no fingerprint", p.Instance)
	}
	return fp, nil
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
		if img, err := s.getImage(ctx, old); err == nil && len(img.Aliases) == 0 {
			_ = s.DeleteImage(ctx, old)
		}
	}
	return fp, nil
}
