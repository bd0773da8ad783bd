package bake

import (
	"context"
	"time"

	"github.com/plex-dev/plex/core/incus"
)

// Lister lists images; *incus.Server implements it.
type Lister interface {
	ListImages(ctx context.Context, withKeys ...string) ([]incus.ImageInfo, error)
}

// Image is a plex-baked image and what it records about its making.
type Image struct {
	Aliases           []string          `json:"aliases"`
	Fingerprint       string            `json:"fingerprint"`
	Type              string            `json:"type"`
	Base              string            `json:"base"`
	KubernetesVersion string            `json:"kubernetesVersion,omitempty"`
	ContainerdVersion string            `json:"containerdVersion,omitempty"`
	RuncVersion       string            `json:"runcVersion,omitempty"`
	Inputs            string            `json:"inputs"`
	Size              int64             `json:"size"`
	Created           time.Time         `json:"created"`
	Properties        map[string]string `json:"properties"`
}

// List returns the images plex baked on the server (those with a
// user.plex.type property), newest first.
func List(ctx context.Context, srv Lister) ([]Image, error) {
	all, err := srv.ListImages(ctx, incus.PropType)
	if err != nil {
		return nil, err
	}
	out := make([]Image, 0, len(all))
	for _, i := range all {
		p := i.Properties
		out = append(out, Image{
			Aliases: i.Aliases, Fingerprint: i.Fingerprint, Type: p[incus.PropType], Base: p[incus.PropBase],
			KubernetesVersion: p[incus.PropKubernetesVersion], ContainerdVersion: p[incus.PropContainerdVersion],
			RuncVersion: p[incus.PropRuncVersion],
			Inputs:      p[incus.PropInputs], Size: i.Size, Created: i.CreatedAt, Properties: p,
		})
	}
	return out, nil
}
