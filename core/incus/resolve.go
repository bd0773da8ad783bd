package incus

import (
	"context"
	"fmt"
	"runtime"
	"strings"
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
// on this server or on the remote named by a "remote:" prefix. vm picks the
// virtual-machine variant of a remote alias.
func (s *Server) ResolveImage(ctx context.Context, ref string, vm bool) (*ImageSource, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	remote, name := "", ref
	if i := strings.Index(ref, ":"); i > 0 {
		remote, name = ref[:i], ref[i+1:]
	}
	if remote != "" && s.conf != nil {
		if _, ok := s.conf.Remotes[remote]; !ok {
			return nil, fmt.Errorf("image %q: there is no incus remote %q in the client configuration (see `incus remote list`)", ref, remote)
		}
	}
	if remote == "" || remote == s.Remote {
		return s.resolveLocal(ref, name)
	}
	if s.conf == nil {
		return nil, fmt.Errorf("image %q: remote images need a connection made by Connect", ref)
	}
	is, err := s.conf.GetImageServer(remote)
	if err != nil {
		return nil, fmt.Errorf("connecting to image remote %q: %w", remote, err)
	}
	typ := "container"
	if vm {
		typ = "virtual-machine"
	}
	target := name
	if a, _, err := is.GetImageAliasType(typ, name); err == nil {
		target = a.Target
	}
	img, _, err := is.GetImage(target)
	if err != nil {
		return nil, fmt.Errorf("image %q: no %s alias or fingerprint %q on remote %q: %w", ref, typ, name, remote, err)
	}
	r := s.conf.Remotes[remote]
	return &ImageSource{
		Ref: ref, Remote: remote, Name: name, Fingerprint: img.Fingerprint,
		Properties: img.Properties, Server: r.Addr, Protocol: r.Protocol,
	}, nil
}

func (s *Server) resolveLocal(ref, name string) (*ImageSource, error) {
	target := name
	a, _, err := s.client.GetImageAlias(name)
	switch {
	case err == nil:
		target = a.Target
	case !IsNotFound(err):
		return nil, fmt.Errorf("looking up image alias %q on %q: %w", name, s.Remote, err)
	}
	img, _, err := s.client.GetImage(target)
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
	if err := ctx.Err(); err != nil {
		return "", err
	}
	srv, _, err := s.client.GetServer()
	if err != nil {
		return "", fmt.Errorf("reading the server's environment: %w", err)
	}
	if len(srv.Environment.Architectures) == 0 {
		return runtime.GOARCH, nil
	}
	return goArch(srv.Environment.Architectures[0]), nil
}

// goArch maps a kernel architecture name to Go's.
func goArch(kernel string) string {
	switch kernel {
	case "x86_64":
		return "amd64"
	case "aarch64":
		return "arm64"
	case "ppc64le":
		return "ppc64le"
	case "s390x":
		return "s390x"
	case "riscv64":
		return "riscv64"
	}
	return kernel
}
