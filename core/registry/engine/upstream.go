// Package engine renders what a cache engine needs to mirror a set of
// upstream registries: the layout of the upstreams (which port and
// repository prefix serves each), Zot's configuration (its sync extension),
// the CNCF distribution registry's (one pull-through proxy per upstream), the
// systemd units and the script that installs them, and the script that reads
// back what the storage holds. It renders text only; core/registry puts it
// into the cache instance.
package engine

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// Upstream is a registry the cache mirrors.
type Upstream struct {
	// Name is the registry as image references name it: "docker.io",
	// "registry.k8s.io", "myreg.lab:5443".
	Name string `json:"name"`
	// URL is where the cache pulls from: by default the registry's own
	// endpoint (https://registry-1.docker.io for docker.io); in a lab or an
	// air-gapped network, another registry that serves the same
	// repositories.
	URL string `json:"url"`
	// TLSVerify checks the upstream's certificate. It is on unless turned
	// off for this upstream.
	TLSVerify bool `json:"tlsVerify"`
}

// DefaultUpstreamNames are the registries a cache mirrors when none are
// named.
var DefaultUpstreamNames = []string{"docker.io", "registry.k8s.io", "ghcr.io", "quay.io", "gcr.io"}

// DefaultUpstreams are DefaultUpstreamNames at their own endpoints.
func DefaultUpstreams() []Upstream {
	out := make([]Upstream, 0, len(DefaultUpstreamNames))
	for _, n := range DefaultUpstreamNames {
		out = append(out, Upstream{Name: n, URL: DefaultURL(n), TLSVerify: true})
	}
	return out
}

// DefaultURL is the registry API endpoint of an upstream name: Docker Hub's
// name and its API host differ.
func DefaultURL(name string) string {
	if name == "docker.io" {
		return "https://registry-1.docker.io"
	}
	return "https://" + name
}

// HostPort is the host and port the cache connects to for this upstream.
func (u Upstream) HostPort() (host, port string) {
	p, err := url.Parse(u.URL)
	if err != nil {
		return "", ""
	}
	host, port = p.Hostname(), p.Port()
	if port == "" {
		port = "443"
		if p.Scheme == "http" {
			port = "80"
		}
	}
	return host, port
}

var upstreamNameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:[0-9]{1,5})?$`)

// ParseUpstream reads an upstream from the command line: "NAME" mirrors
// NAME at its own endpoint, "NAME=URL" pulls NAME's repositories from URL
// instead (a lab registry standing in for it, say).
func ParseUpstream(s string) (Upstream, error) {
	name, u, hasURL := strings.Cut(strings.TrimSpace(s), "=")
	name = strings.ToLower(strings.TrimSpace(name))
	up := Upstream{Name: name, URL: DefaultURL(name), TLSVerify: true}
	if hasURL {
		up.URL = strings.TrimSpace(u)
	}
	return up, up.validate()
}

func (u Upstream) validate() error {
	if !upstreamNameRE.MatchString(u.Name) {
		return fmt.Errorf("upstream %q is not a registry host[:port] like registry.k8s.io", u.Name)
	}
	p, err := url.Parse(u.URL)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" || p.User != nil ||
		strings.Trim(p.Path, "/") != "" || p.RawQuery != "" || p.Fragment != "" {
		return fmt.Errorf("upstream %s: %q is not a registry URL: write it like https://%s or http://10.212.0.1:5000 (no path)", u.Name, u.URL, u.Name)
	}
	return nil
}

// normalize sorts upstreams by name and trims their URLs, refusing
// duplicates and unknown names in skipVerify.
func normalize(ups []Upstream, skipVerify []string) ([]Upstream, error) {
	if len(ups) == 0 {
		ups = DefaultUpstreams()
	}
	var errs []string
	seen := map[string]bool{}
	out := make([]Upstream, 0, len(ups))
	for _, u := range ups {
		u.URL = strings.TrimRight(u.URL, "/")
		if err := u.validate(); err != nil {
			errs = append(errs, err.Error())
			continue
		}
		if seen[u.Name] {
			errs = append(errs, fmt.Sprintf("upstream %s is given twice", u.Name))
			continue
		}
		seen[u.Name] = true
		out = append(out, u)
	}
	for _, n := range skipVerify {
		n = strings.ToLower(strings.TrimSpace(n))
		if !seen[n] {
			errs = append(errs, fmt.Sprintf("TLS verification is turned off for %s, which is not an upstream of this cache", n))
			continue
		}
		for i := range out {
			if out[i].Name == n {
				out[i].TLSVerify = false
			}
		}
	}
	slices.SortFunc(out, func(a, b Upstream) int { return strings.Compare(a.Name, b.Name) })
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return out, nil
}
