package engine

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Engines a cache can run.
const (
	// EngineZot is Zot with its sync extension: one process on ZotPort
	// mirrors every upstream on demand, each under its own repository
	// prefix (registry.k8s.io/pause is cached as <cache>/registry.k8s.io/pause).
	EngineZot = "zot"
	// EngineDistribution is the CNCF distribution registry (Debian's
	// docker-registry) in proxy mode. A proxy serves one upstream at its
	// root, so the cache runs one process on its own port per upstream.
	EngineDistribution = "distribution"
)

// Engines lists the engines in the order the help shows them.
var Engines = []string{EngineZot, EngineDistribution}

// ZotPort is the port Zot listens on.
const ZotPort = 5000

// distributionPorts are the fixed ports of the well-known upstreams under
// the distribution engine, so that a node's hosts.toml stays right when the
// cache is re-created with more or fewer upstreams. Other upstreams take
// ports from firstOtherPort up, in name order.
var distributionPorts = map[string]int{
	"docker.io":       5001,
	"registry.k8s.io": 5002,
	"ghcr.io":         5003,
	"quay.io":         5004,
	"gcr.io":          5005,
}

const firstOtherPort = 5010

// Endpoint is where the cache serves one upstream.
type Endpoint struct {
	Upstream
	// Port the cache serves this upstream on.
	Port int `json:"port"`
	// Prefix is the repository prefix the upstream's repositories have in
	// the cache ("" when they are at its root).
	Prefix string `json:"prefix,omitempty"`
}

// Layout is how a cache engine lays its upstreams out.
type Layout struct {
	Engine    string     `json:"engine"`
	Endpoints []Endpoint `json:"endpoints"`
	// PushAuth asks for a password (HtpasswdFile) to push into the lab
	// namespace; without it anyone who reaches the cache may push.
	PushAuth bool `json:"pushAuth,omitempty"`
	// Htpasswd is the content of the htpasswd file that PushAuth checks
	// (bcrypt hashes; see ParseHtpasswd). It is only known to the run that
	// writes it, and never recorded on the instance.
	Htpasswd string `json:"-"`
}

// NewLayout places upstreams for an engine. Empty upstreams means
// DefaultUpstreams; skipVerify names the upstreams whose TLS certificate is
// not checked.
func NewLayout(engine string, ups []Upstream, skipVerify []string) (Layout, error) {
	ups, err := normalize(ups, skipVerify)
	if err != nil {
		return Layout{}, err
	}
	l := Layout{Engine: engine}
	switch engine {
	case EngineZot:
		for _, u := range ups {
			// A repository name has no ':', so myreg.lab:5443 is myreg.lab_5443.
			l.Endpoints = append(l.Endpoints, Endpoint{Upstream: u, Port: ZotPort, Prefix: strings.ReplaceAll(u.Name, ":", "_")})
		}
	case EngineDistribution:
		next := firstOtherPort
		var errs []string
		for _, u := range ups {
			if !u.TLSVerify && strings.HasPrefix(u.URL, "https://") {
				errs = append(errs, fmt.Sprintf("upstream %s: the distribution engine cannot turn off TLS verification toward %s (its proxy has no such setting): use --engine zot, or an http:// URL for a lab registry", u.Name, u.URL))
			}
			port, ok := distributionPorts[u.Name]
			if !ok {
				port = next
				next++
			}
			l.Endpoints = append(l.Endpoints, Endpoint{Upstream: u, Port: port})
		}
		if len(errs) > 0 {
			return Layout{}, fmt.Errorf("%s", strings.Join(errs, "; "))
		}
	default:
		return Layout{}, fmt.Errorf("unknown cache engine %q: use %s", engine, strings.Join(Engines, " or "))
	}
	return l, nil
}

// Endpoint returns the endpoint of an upstream name.
func (l Layout) Endpoint(upstream string) (Endpoint, bool) {
	for _, e := range l.Endpoints {
		if e.Name == upstream {
			return e, true
		}
	}
	return Endpoint{}, false
}

// Ports are the distinct ports the cache listens on, the lab namespace's
// included.
func (l Layout) Ports() []int {
	var out []int
	seen := map[int]bool{}
	add := func(p int) {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	for _, e := range l.Endpoints {
		add(e.Port)
	}
	add(l.LabPort())
	add(l.LabPushPort())
	return out
}

// Host is the cache's host:port for this endpoint, given the cache's
// address.
func (e Endpoint) Host(address string) string {
	return net.JoinHostPort(address, strconv.Itoa(e.Port))
}

// MirrorURL is the URL containerd's hosts.toml names for this upstream
// (see cloudinit.HostsTOML): the registry root when the upstream's
// repositories are at the root, else the API root with the prefix, which
// containerd uses as is (override_path).
func (e Endpoint) MirrorURL(address string) string {
	u := "http://" + e.Host(address)
	if e.Prefix != "" {
		u += "/v2/" + e.Prefix
	}
	return u
}

// Repository is the name a repository of the upstream has in the cache.
func (e Endpoint) Repository(repo string) string {
	if e.Prefix == "" {
		return repo
	}
	return e.Prefix + "/" + repo
}

// Mirrors maps each upstream to its mirror URL on a cache at address: the
// input of cloudinit.UserDataInput.Mirrors.
func (l Layout) Mirrors(address string) map[string]string {
	out := make(map[string]string, len(l.Endpoints))
	for _, e := range l.Endpoints {
		out[e.Name] = e.MirrorURL(address)
	}
	return out
}
