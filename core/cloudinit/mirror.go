package cloudinit

import (
	"fmt"
	"net/url"
	"path"
	"regexp"
	"strings"

	"github.com/plex-dev/plex/core/registry/engine"
)

// CertsDir is containerd's registry host configuration directory
// (config_path in the node image's containerd config).
const CertsDir = "/etc/containerd/certs.d"

var upstreamRE = regexp.MustCompile(`^([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*(:[0-9]{1,5})?$`)

// HostsTOMLPath is where the hosts.toml of an upstream registry goes:
// containerd looks a registry's configuration up by its host[:port].
func HostsTOMLPath(upstream string) string {
	return path.Join(CertsDir, upstream, "hosts.toml")
}

// Mirror says where a node pulls one upstream's images from.
type Mirror struct {
	// URL is the mirror's base URL; see HostsTOML for its forms.
	URL string
	// Server is where containerd goes when the mirror fails: "" for the
	// upstream's own endpoint, or the registry that stands in for the
	// upstream (a lab's or an air-gapped network's), as a plain http(s) URL.
	Server string
}

// HostsTOML renders containerd's hosts.toml that pulls images of upstream
// (such as "registry.k8s.io", or "_default" for every registry) from the
// mirror first, and from the mirror's Server (by default the upstream
// itself) when the mirror fails.
//
// The mirror URL is the mirror's base URL. A registry that serves upstream's
// repositories at its root (Debian's docker-registry filled with
// registry.k8s.io images, or a pull-through cache of one upstream) is given
// as "http://host:port". A registry that keeps each upstream under a prefix
// (Zot's sync with a destination prefix) is given with its full API root,
// "http://host:port/v2/<prefix>"; containerd then uses that path as is
// (override_path) instead of adding /v2. The mirror is trusted to resolve
// tags, as a private mirror is. Any other path is refused, since containerd
// would silently add /v2 after it.
func HostsTOML(upstream string, m Mirror) ([]byte, error) {
	if upstream != "_default" && !upstreamRE.MatchString(upstream) {
		return nil, fmt.Errorf("mirroring %q: not a registry host[:port]", upstream)
	}
	host, override, err := mirrorHost(m.URL)
	if err != nil {
		return nil, fmt.Errorf("mirroring %s: %w", upstream, err)
	}
	server := engine.DefaultURL(upstream)
	if m.Server != "" {
		if server, err = serverURL(m.Server); err != nil {
			return nil, fmt.Errorf("mirroring %s: %w", upstream, err)
		}
	}
	var b strings.Builder
	b.WriteString("# Managed by plex: pull through the plex registry mirror first.\n")
	if upstream != "_default" {
		fmt.Fprintf(&b, "server = %q\n", server)
	}
	fmt.Fprintf(&b, "\n[host.%q]\n", host)
	b.WriteString("  capabilities = [\"pull\", \"resolve\"]\n")
	if override {
		b.WriteString("  override_path = true\n")
	}
	return []byte(b.String()), nil
}

// serverURL checks a fallback server URL: a registry's root.
func serverURL(server string) (string, error) {
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		u.RawQuery != "" || u.Fragment != "" || strings.TrimSuffix(u.Path, "/") != "" || strings.ContainsAny(server, "\"\\ \t\n") {
		return "", fmt.Errorf("fallback server %q is not a registry's root URL: write it like https://registry.example.com", server)
	}
	return u.Scheme + "://" + u.Host, nil
}

// mirrorHost checks a mirror URL and says whether its path is an API root.
func mirrorHost(mirror string) (host string, overridePath bool, err error) {
	u, err := url.Parse(mirror)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.User != nil || u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(mirror, "\"\\ \t\n") {
		return "", false, fmt.Errorf("mirror %q is not a plain http(s) URL: write it like http://10.212.0.1:5000", mirror)
	}
	p := strings.TrimSuffix(u.Path, "/")
	switch {
	case p == "" || p == "/v2":
		return u.Scheme + "://" + u.Host, false, nil
	case strings.HasPrefix(p, "/v2/"):
		return u.Scheme + "://" + u.Host + p, true, nil
	default:
		return "", false, fmt.Errorf("mirror %q has the path %s: give the registry's root (http://host:port) or its API root with a prefix (http://host:port/v2/<prefix>)", mirror, u.Path)
	}
}
