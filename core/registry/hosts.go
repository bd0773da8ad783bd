package registry

import (
	"slices"

	"github.com/plex-dev/plex/core/cloudinit"
)

// NodeMirrors are the containerd mirrors a plex's nodes get: every upstream
// the cache serves, falling back to where the cache pulls that upstream from
// (the upstream itself, or the registry --upstream named in its place), except
// that the spec's explicit registryMirror (which stands in for
// registry.k8s.io) wins, since the user asked for it. A nil cache gives only
// the explicit mirror.
func NodeMirrors(c *Cache, registryMirror string) map[string]cloudinit.Mirror {
	out := map[string]cloudinit.Mirror{}
	if c != nil {
		for _, e := range c.Endpoints {
			out[e.Name] = cloudinit.Mirror{URL: e.MirrorURL(c.Address), Server: e.URL}
		}
	}
	if registryMirror != "" {
		out["registry.k8s.io"] = cloudinit.Mirror{URL: registryMirror}
	}
	return out
}

// HostsFile is one containerd hosts.toml.
type HostsFile struct {
	Upstream string
	Path     string
	Content  string
}

// HostsFiles renders the hosts.toml of each mirror, in upstream order: the
// mirror first, its server when the mirror fails.
func HostsFiles(mirrors map[string]cloudinit.Mirror) ([]HostsFile, error) {
	ups := make([]string, 0, len(mirrors))
	for up := range mirrors {
		ups = append(ups, up)
	}
	slices.Sort(ups)
	out := make([]HostsFile, 0, len(ups))
	for _, up := range ups {
		b, err := cloudinit.HostsTOML(up, mirrors[up])
		if err != nil {
			return nil, err
		}
		out = append(out, HostsFile{Upstream: up, Path: cloudinit.HostsTOMLPath(up), Content: string(b)})
	}
	return out, nil
}
