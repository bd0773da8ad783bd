package warm

import (
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/plex-dev/plex/core/registry/engine"
)

// items parses and routes the images, dropping repeats. A reference that
// does not parse, or names an upstream the cache does not serve, fails at
// once: retrying cannot help.
func (w *warmer) items() []*warmItem {
	var out []*warmItem
	seen := map[string]bool{}
	for _, s := range w.o.Images {
		s = strings.TrimSpace(s)
		it := &warmItem{res: ImageResult{Image: s}}
		ref, up, repo, err := Route(w.address, w.layout, s)
		if err != nil {
			it.res.Error = err.Error()
			out = append(out, it)
			continue
		}
		if seen[ref.Name()] {
			continue
		}
		seen[ref.Name()] = true
		it.ref, it.upstream, it.repo, it.res.Pulled = ref, up, repo, ref.Name()
		out = append(out, it)
	}
	return out
}

// Route maps an image reference, as nodes name it, to the same image in the
// cache at address laid out as l, and says which upstream it comes from and
// its repository there.
func Route(address string, l engine.Layout, s string) (ref name.Reference, upstream, repo string, err error) {
	src, err := name.ParseReference(s)
	if err != nil {
		return nil, "", "", fmt.Errorf("%q is not an image reference (like registry.k8s.io/pause:3.10.1): %v", s, err)
	}
	reg := src.Context().RegistryStr()
	var ep *engine.Endpoint
	var served []string
	for i, e := range l.Endpoints {
		served = append(served, e.Name)
		if registryHost(e.Name) == reg {
			ep = &l.Endpoints[i]
		}
	}
	if ep == nil {
		up := reg
		if up == name.DefaultRegistry {
			up = "docker.io"
		}
		return nil, "", "", fmt.Errorf("%s is from %s, which this cache does not mirror (it mirrors %s): run `plex-registry up` with --upstream %s", s, up, strings.Join(served, ", "), up)
	}
	repo = src.Context().RepositoryStr()
	host := ep.Host(address)
	var cached string
	switch r := src.(type) {
	case name.Digest:
		cached = host + "/" + ep.Repository(repo) + "@" + r.DigestStr()
	case name.Tag:
		cached = host + "/" + ep.Repository(repo) + ":" + r.TagStr()
	}
	// The cache speaks plain HTTP. go-containerregistry uses HTTP by itself
	// for private and loopback addresses; name.Insecure for any other host
	// would also make it try HTTPS first on every new connection setup.
	ref, err = name.ParseReference(cached)
	if err == nil && ref.Context().Scheme() != "http" {
		ref, err = name.ParseReference(cached, name.Insecure)
	}
	if err != nil {
		return nil, "", "", fmt.Errorf("%s: the cache's name for it, %s, does not parse: %v", s, cached, err)
	}
	return ref, ep.Name, repo, nil
}

// registryHost is the name go-containerregistry gives an upstream in image
// references: Docker Hub is index.docker.io there.
func registryHost(upstream string) string {
	if upstream == "docker.io" {
		return name.DefaultRegistry
	}
	return upstream
}
