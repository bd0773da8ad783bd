// Package incus connects plex to Incus servers the way the incus CLI does
// (the same client configuration, remotes, certificates and unix socket) and
// gives the rest of core a small client of Incus's public REST API: the part
// plex uses, on the transport in internal/rest.
package incus

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/plex-dev/plex/core/incus/internal/rest"
)

// ConnectOptions say which server to reach.
type ConnectOptions struct {
	// ConfigPath is the incus client config.yml. Empty means what the incus CLI
	// uses: $INCUS_CONF/config.yml, else ~/.config/incus/config.yml, else the
	// built-in defaults (remote "local" over the unix socket).
	ConfigPath string
	// Remote is a remote name from that config. Empty means $INCUS_REMOTE,
	// else the config's default remote.
	Remote string
	// Project is the Incus project. Empty means the remote's project.
	Project string
}

// Server is a connection to one Incus server (or cluster) in one project.
type Server struct {
	// Remote is the remote's name as the user knows it.
	Remote string
	// Project the connection works in.
	Project string
	c       *rest.Client
	// conf is the client configuration the connection came from; image
	// references on other remotes ("images:debian/12") resolve through it.
	conf *ClientConfig
}

// serverInfo is the part of GET /1.0 plex reads.
type serverInfo struct {
	Auth        string `json:"auth"`
	APIVersion  string `json:"api_version"`
	Environment struct {
		Architectures   []string `json:"architectures"`
		ServerClustered bool     `json:"server_clustered"`
		ServerName      string   `json:"server_name"`
		ServerVersion   string   `json:"server_version"`
	} `json:"environment"`
}

// Connect opens a connection, using the user's client certificates and
// verifying the server's TLS certificate as the incus CLI does, and checks
// that the server trusts plex.
func Connect(ctx context.Context, opts ConnectOptions) (*Server, error) {
	conf, err := LoadClientConfig(opts.ConfigPath)
	if err != nil {
		return nil, err
	}
	remote := conf.RemoteName(opts.Remote)
	r, ok := conf.Remotes[remote]
	if !ok {
		known := make([]string, 0, len(conf.Remotes))
		for name, r := range conf.Remotes {
			if !r.Public {
				known = append(known, name)
			}
		}
		sort.Strings(known)
		return nil, fmt.Errorf("incus remote %q is not in the client configuration %s (known: %s); add it with `incus remote add %s …` or fix the spec's remote field", remote, conf.Path, strings.Join(known, ", "), remote)
	}
	if r.Protocol != "" && r.Protocol != "incus" {
		return nil, fmt.Errorf("incus remote %q is an image server (protocol %s), not an Incus server plex can create instances on; name another remote", remote, r.Protocol)
	}
	ep, err := conf.Endpoint(remote)
	if err != nil {
		return nil, err
	}
	c, err := rest.New(ep)
	if err != nil {
		return nil, fmt.Errorf("incus remote %q: %w", remote, err)
	}
	project := opts.Project
	if project == "" {
		project = r.Project
	}
	if project == "" {
		project = "default"
	}
	s := &Server{Remote: remote, Project: project, c: c.WithProject(project), conf: conf}
	info, err := s.info(ctx)
	if err != nil {
		return nil, fmt.Errorf("connecting to incus remote %q: %w", remote, err)
	}
	if info.Auth != "trusted" {
		return nil, fmt.Errorf("incus remote %q (%s) does not trust this client's certificate (%s): add it on the server with `incus config trust add-certificate`, or run `incus remote add %s %s` with a trust token", remote, r.Addr, conf.clientCertDescription(remote), remote, r.Addr)
	}
	return s, nil
}

func (s *Server) info(ctx context.Context) (*serverInfo, error) {
	var info serverInfo
	if _, err := s.c.Sync(ctx, rest.Request{Method: http.MethodGet, Path: "/1.0"}, &info); err != nil {
		return nil, err
	}
	return &info, nil
}

// IsNotFound reports whether err is Incus saying that something does not
// exist (HTTP 404), or a lookup of plex's that found nothing.
func IsNotFound(err error) bool {
	return rest.IsNotFound(err) || errors.Is(err, ErrNotFound)
}

// ErrNotFound is returned by lookups that find nothing.
var ErrNotFound = errors.New("not found")

// clientCertDescription names the certificate file a remote is reached
// with, for the error that says the server does not trust it.
func (c *ClientConfig) clientCertDescription(remote string) string {
	if c.Dir == "" {
		return "no client certificate"
	}
	p := filepath.Join(c.Dir, "clientcerts", remote+".crt")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return filepath.Join(c.Dir, "client.crt")
}
