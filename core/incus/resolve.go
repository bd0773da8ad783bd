package incus

import (
	"context"
	"fmt"
	"runtime"
	"strings"

	"github.com/plex-dev/plex/core/incus/internal/rest"
)

// ImageSource is an image that instances can be created from: one on this
// server, or one on another remote of the client configuration (a public
// image server such as "images:").
type ImageSource struct {
	// Ref is the reference as the user gave it: "debian12",
	// "images:debian/12/cloud".
	Ref string
	// Remote is the remote the image lives on; empty means this server.
	Remote string
	// Name is the alias or fingerprint on that remote.
	Name        string
	Fingerprint string
	Properties  map[string]string
	// Server and Protocol locate a remote image (InstanceSpec.ImageServer
	// and ImageProtocol); both are empty for an image on this server.
	Server, Protocol string
}

// Local reports whether the image is on this server.
func (i *ImageSource) Local() bool { return i.Server == "" }

// ResolveImage finds the image a reference names, by alias or fingerprint,
// on this server or on the remote named by a "remote:" prefix (an Incus
// server, or a simplestreams image server resolved to a fingerprint). vm
// picks the virtual-machine variant of a remote alias.
func (s *Server) ResolveImage(ctx context.Context, ref string, vm bool) (*ImageSource, error) {
	remote, name := "", ref
	if i := strings.Index(ref, ":"); i > 0 {
		remote, name = ref[:i], ref[i+1:]
	}
	if remote == "" || remote == s.Remote {
		return s.resolveLocal(ctx, ref, name)
	}
	if s.conf == nil {
		return nil, fmt.Errorf("image %q: remote images need a connection made by Connect", ref)
	}
	r, ok := s.conf.Remotes[remote]
	if !ok {
		return nil, fmt.Errorf("image %q: there is no incus remote %q in the client configuration (see `incus remote list`)", ref, remote)
	}
	ep, err := s.conf.Endpoint(remote)
	if err != nil {
		return nil, fmt.Errorf("image %q: %w", ref, err)
	}
	typ := "container"
	if vm {
		typ = "virtual-machine"
	}
	src := &ImageSource{Ref: ref, Remote: remote, Name: name, Server: r.Addr, Protocol: r.Protocol}
	switch r.Protocol {
	case "simplestreams":
		arch, err := s.Architecture(ctx)
		if err != nil {
			return nil, err
		}
		img, err := resolveSimpleStreams(ctx, ep, name, arch, vm)
		if err != nil {
			return nil, fmt.Errorf("image %q on remote %q (%s): %w", ref, remote, r.Addr, err)
		}
		src.Fingerprint, src.Properties = img.Fingerprint, img.Properties
	case "", "incus":
		src.Protocol = "incus"
		c, err := rest.New(ep)
		if err != nil {
			return nil, fmt.Errorf("image %q: %w", ref, err)
		}
		other := &Server{Remote: remote, c: c.WithProject(r.Project)}
		target := name
		if a, err := other.getAlias(ctx, name); err == nil && (a.Type == "" || a.Type == typ) {
			target = a.Target
		}
		img, err := other.getImage(ctx, target)
		if err != nil {
			return nil, fmt.Errorf("image %q: no %s alias or fingerprint %q on remote %q: %w", ref, typ, name, remote, err)
		}
		src.Fingerprint, src.Properties = img.Fingerprint, img.Properties
	default:
		return nil, fmt.Errorf("image %q: remote %q speaks %q; plex reads images from incus and simplestreams remotes", ref, remote, r.Protocol)
	}
	return src, nil
}

func (s *Server) resolveLocal(ctx context.Context, ref, name string) (*ImageSource, error) {
	target := name
	a, err := s.getAlias(ctx, name)
	switch {
	case err == nil:
		target = a.Target
	case !IsNotFound(err):
		return nil, fmt.Errorf("looking up image alias %q on %q: %w", name, s.Remote, err)
	}
	img, err := s.getImage(ctx, target)
	if err != nil {
		if IsNotFound(err) {
			return nil, fmt.Errorf("image %q: no alias or fingerprint %q on incus remote %q (project %q); see `incus image list`: %w", ref, name, s.Remote, s.Project, ErrNotFound)
		}
		return nil, fmt.Errorf("reading image %q: %w", ref, err)
	}
	return &ImageSource{Ref: ref, Name: name, Fingerprint: img.Fingerprint, Properties: img.Properties}, nil
}

// Architecture is the server's native architecture in Go's naming (amd64,
// arm64), the one release downloads are named by.
func (s *Server) Architecture(ctx context.Context) (string, error) {
	info, err := s.info(ctx)
	if err != nil {
		return "", fmt.Errorf("reading the server's environment: %w", err)
	}
	if len(info.Environment.Architectures) == 0 {
		return runtime.GOARCH, nil
	}
	return goArch(info.Environment.Architectures[0]), nil
}

// ServerVersion is the Incus version the server reports (6.0.4).
func (s *Server) ServerVersion(ctx context.Context) (string, error) {
	info, err := s.info(ctx)
	if err != nil {
		return "", fmt.Errorf("reading the server's environment: %w", err)
	}
	return info.Environment.ServerVersion, nil
}

// goArch maps a kernel architecture name to Go's.
func goArch(kernel string) string {
	switch kernel {
	case "x86_64":
		return "amd64"
	case "aarch64":
		return "arm64"
	}
	return kernel
}
