// Package incus connects plex to Incus servers the way the incus CLI does, and
// gives the rest of core small interfaces over github.com/lxc/incus/v6/client.
package incus

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	incusclient "github.com/lxc/incus/v6/client"
	"github.com/lxc/incus/v6/shared/api"
	"github.com/lxc/incus/v6/shared/cliconfig"
)

// ConnectOptions say which server to reach.
type ConnectOptions struct {
	// ConfigPath is the incus client config.yml. Empty means what the incus CLI
	// uses: $INCUS_CONF/config.yml, else ~/.config/incus/config.yml, else the
	// built-in defaults (remote "local" over the unix socket).
	ConfigPath string
	// Remote is a remote name from that config. Empty means its default remote.
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
	client  incusclient.InstanceServer
	// conf is the client configuration the connection came from; image
	// references on other remotes ("images:debian/12") resolve through it.
	conf *cliconfig.Config
}

// Connect opens a connection, using the user's client certificates and
// verifying the server's TLS certificate as the incus CLI does.
func Connect(ctx context.Context, opts ConnectOptions) (*Server, error) {
	conf, err := cliconfig.LoadConfig(opts.ConfigPath)
	if err != nil {
		return nil, fmt.Errorf("loading the incus client configuration: %w", err)
	}
	remote := opts.Remote
	if remote == "" {
		remote = conf.DefaultRemote
		if remote == "" {
			remote = "local"
		}
	}
	if _, ok := conf.Remotes[remote]; !ok {
		known := make([]string, 0, len(conf.Remotes))
		for name, r := range conf.Remotes {
			if !r.Public {
				known = append(known, name)
			}
		}
		sort.Strings(known)
		return nil, fmt.Errorf("incus remote %q is not in the client configuration (known: %s); add it with `incus remote add %s …` or fix the spec's remote field", remote, strings.Join(known, ", "), remote)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c, err := conf.GetInstanceServer(remote)
	if err != nil {
		return nil, fmt.Errorf("connecting to incus remote %q: %w", remote, err)
	}
	project := opts.Project
	if project != "" {
		c = c.UseProject(project)
	} else {
		project = conf.Remotes[remote].Project
		if project == "" {
			project = "default"
		}
	}
	return &Server{Remote: remote, Project: project, client: c, conf: conf}, nil
}

// Instance is what plex needs to know about an Incus instance.
type Instance struct {
	Name     string            `json:"name"`
	Status   string            `json:"status"`
	Location string            `json:"location,omitempty"`
	Config   map[string]string `json:"-"`
}

// Managed reports whether plex created this instance.
func (i Instance) Managed() bool { return IsManaged(i.Config) }

// Plex is the plex this instance belongs to, or "".
func (i Instance) Plex() string {
	if !i.Managed() {
		return ""
	}
	return i.Config[LabelPlex]
}

// ListInstances lists every instance in the server's project. Callers decide
// by labels what is theirs.
func (s *Server) ListInstances(ctx context.Context) ([]Instance, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	all, err := s.client.GetInstances(api.InstanceTypeAny)
	if err != nil {
		return nil, fmt.Errorf("listing instances on incus remote %q (project %q): %w", s.Remote, s.Project, err)
	}
	out := make([]Instance, 0, len(all))
	for _, in := range all {
		out = append(out, Instance{Name: in.Name, Status: in.Status, Location: in.Location, Config: in.Config})
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out, nil
}

// IsNotFound reports whether err is Incus saying that something does not exist.
func IsNotFound(err error) bool {
	return api.StatusErrorCheck(err, 404) || errors.Is(err, ErrNotFound)
}

// ErrNotFound is returned by lookups that find nothing.
var ErrNotFound = errors.New("not found")
