// Package mirror points a plex's nodes and cluster at its cache: the
// containerd mirrors each node gets (hosts.toml, one per upstream), and the
// KEP-1755 local-registry-hosting ConfigMap that tells tools such as Tilt and
// Skaffold where the cache is. `kubectl plex up` uses it for the nodes it
// creates, `plex-registry up` for the nodes already running.
package mirror

import (
	"slices"

	"github.com/plex-dev/plex/core/cloudinit"
	"github.com/plex-dev/plex/core/registry/engine"
)

// NodeMirrors are the containerd mirrors a plex's nodes get from a cache at
// address laid out as l: every upstream the cache serves, falling back to
// where the cache pulls that upstream from (the upstream itself, or the
// registry --upstream named in its place), except that the spec's explicit
// registryMirror (which stands in for registry.k8s.io) wins, since the user
// asked for it. The cache's lab namespace host (engine.Layout.LabHost) is
// one more, served by the cache alone. A zero layout (no cache) gives only
// the explicit mirror.
func NodeMirrors(address string, l engine.Layout, registryMirror string) map[string]cloudinit.Mirror {
	out := map[string]cloudinit.Mirror{}
	for _, e := range l.Endpoints {
		out[e.Name] = cloudinit.Mirror{URL: e.MirrorURL(address), Server: e.URL}
	}
	if len(l.Endpoints) > 0 {
		// The lab namespace has no upstream: the cache is its only host,
		// over plain HTTP, which containerd uses only when told.
		lab := "http://" + l.LabHost(address)
		out[l.LabHost(address)] = cloudinit.Mirror{URL: lab, Server: lab}
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
