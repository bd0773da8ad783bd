package incus

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"

	"gopkg.in/yaml.v3"
)

// Places outside the user's configuration that the incus CLI looks at. They
// are variables so that tests never read the machine's own.
var (
	// globalConfigDir holds the system-wide config.yml and its servercerts/;
	// $INCUS_GLOBAL_CONF overrides it, as for the CLI.
	globalConfigDir = "/etc/incus"
	// systemSockets are where incusd listens when neither $INCUS_SOCKET nor
	// $INCUS_DIR says otherwise, in the order the CLI tries them.
	systemSockets = []string{"/run/incus/unix.socket", "/var/lib/incus/unix.socket"}
	// userHomeDir is the fallback when $HOME is unset or missing.
	userHomeDir = func() (string, error) {
		u, err := user.Current()
		if err != nil {
			return "", err
		}
		return u.HomeDir, nil
	}
)

// What the incus CLI assumes when config.yml does not exist.
const (
	localRemoteName   = "local"
	imagesRemoteName  = "images"
	localRemoteAddr   = "unix://"
	imagesRemoteAddr  = "https://images.linuxcontainers.org"
	protocolIncus     = "incus"
	protocolStreams   = "simplestreams"
	authTypeTLS       = "tls"
	authTypeOIDC      = "oidc"
	defaultRemoteName = localRemoteName
)

// ClientConfig is the incus client configuration (config.yml) as the incus
// CLI reads it: the user's file, the system-wide remotes of the global
// configuration, and the CLI's built-in defaults.
type ClientConfig struct {
	// Dir is the configuration directory (client.crt, clientcerts/,
	// servercerts/ live here); "" when there is none (neither $INCUS_CONF nor
	// a home directory).
	Dir string
	// Path is Dir/config.yml, or the file LoadClientConfig was given.
	Path string
	// DefaultRemote is the remote used when none is named; RemoteName also
	// honours $INCUS_REMOTE.
	DefaultRemote string
	// Remotes by name.
	Remotes map[string]Remote
	// Aliases are the CLI's command aliases.
	Aliases map[string]string

	// fromFile says Path existed, so errors can tell the user whether the
	// built-in defaults applied.
	fromFile bool
}

// Remote is one server of the client configuration.
type Remote struct {
	Name string
	// Addr is "unix://" (the local daemon's socket), "unix:///path" or
	// "https://host:port".
	Addr string
	// Protocol is "incus", "simplestreams" or "oci".
	Protocol string
	// AuthType is "tls" (client certificates) or "oidc".
	AuthType string
	// Project is the remote's default project ("" means the server's).
	Project string
	// Public remotes are image servers reached without a client certificate.
	Public bool
	// Global remotes come from the system-wide configuration
	// (/etc/incus/config.yml); their pinned certificates live there too.
	Global bool
}

// fileConfig is config.yml with the keys the incus CLI writes.
type fileConfig struct {
	DefaultRemote string                `yaml:"default-remote"`
	Remotes       map[string]fileRemote `yaml:"remotes"`
	Aliases       map[string]string     `yaml:"aliases"`
}

type fileRemote struct {
	Addr     string `yaml:"addr"`
	AuthType string `yaml:"auth_type"`
	Project  string `yaml:"project"`
	Protocol string `yaml:"protocol"`
	Public   bool   `yaml:"public"`
}

func (r fileRemote) remote(name string, global bool) Remote {
	return Remote{Name: name, Addr: r.Addr, Protocol: r.Protocol, AuthType: r.AuthType, Project: r.Project, Public: r.Public, Global: global}
}

// LoadClientConfig reads the incus client configuration at path; "" means
// the CLI's own: $INCUS_CONF/config.yml, else ~/.config/incus/config.yml. A
// missing file gives the CLI's defaults (remotes "local" and "images").
func LoadClientConfig(path string) (*ClientConfig, error) {
	c := &ClientConfig{Remotes: map[string]Remote{}, Aliases: map[string]string{}}
	if path == "" {
		c.Dir, c.Path = clientConfigLocation()
	} else {
		c.Dir, c.Path = filepath.Dir(path), path
	}

	var fc fileConfig
	if c.Path != "" {
		b, err := os.ReadFile(c.Path)
		switch {
		case err == nil:
			c.fromFile = true
			if err := yaml.Unmarshal(b, &fc); err != nil {
				return nil, fmt.Errorf("parsing the incus client configuration %s: %w; fix the YAML, or move the file away to start again from the defaults", c.Path, err)
			}
		case errors.Is(err, fs.ErrNotExist):
		default:
			return nil, fmt.Errorf("reading the incus client configuration %s: %w", c.Path, err)
		}
	}

	if c.fromFile {
		c.DefaultRemote = fc.DefaultRemote
		for name, r := range fc.Remotes {
			rem := r.remote(name, false)
			// The CLI treats every private remote written before OIDC
			// existed as a TLS one.
			if !rem.Public && rem.AuthType == "" {
				rem.AuthType = authTypeTLS
			}
			c.Remotes[name] = rem
		}
		for k, v := range fc.Aliases {
			c.Aliases[k] = v
		}
	} else {
		c.DefaultRemote = defaultRemoteName
		c.Remotes[imagesRemoteName] = Remote{Name: imagesRemoteName, Addr: imagesRemoteAddr, Protocol: protocolStreams, Public: true}
	}

	global, err := loadGlobalRemotes()
	if err != nil {
		return nil, err
	}
	for name, r := range global {
		if _, ok := c.Remotes[name]; !ok {
			c.Remotes[name] = r
		}
	}

	// "local" is static in the CLI: only its project can be configured, so
	// an addr written for it in a file is ignored there and here.
	c.Remotes[localRemoteName] = Remote{Name: localRemoteName, Addr: localRemoteAddr, Protocol: protocolIncus, Project: c.Remotes[localRemoteName].Project}

	for name, r := range c.Remotes {
		if r.Protocol == "" {
			r.Protocol = protocolIncus
			c.Remotes[name] = r
		}
	}
	if c.DefaultRemote == "" {
		c.DefaultRemote = defaultRemoteName
	}
	return c, nil
}

// clientConfigLocation finds the configuration directory the way the CLI
// does; both results are "" when there is none.
func clientConfigLocation() (dir, path string) {
	switch {
	case os.Getenv("INCUS_CONF") != "":
		dir = os.Getenv("INCUS_CONF")
	case os.Getenv("HOME") != "" && pathExists(os.Getenv("HOME")):
		dir = filepath.Join(os.Getenv("HOME"), ".config", "incus")
	default:
		// The CLI gives up when the user cannot be looked up; plex still
		// has the local socket then, so it carries on without a directory.
		if home, err := userHomeDir(); err == nil && home != "" && pathExists(home) {
			dir = filepath.Join(home, ".config", "incus")
		}
	}
	if dir == "" {
		return "", ""
	}
	path = os.ExpandEnv(filepath.Join(dir, "config.yml"))
	return filepath.Dir(path), path
}

func globalDir() string {
	if d := os.Getenv("INCUS_GLOBAL_CONF"); d != "" {
		return d
	}
	return globalConfigDir
}

// loadGlobalRemotes reads the system-wide remotes. Like the CLI it skips a
// global file it cannot read, since that file is the administrator's and the
// user's own configuration still works without it.
func loadGlobalRemotes() (map[string]Remote, error) {
	path := filepath.Join(globalDir(), "config.yml")
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
			return nil, nil
		}
		return nil, fmt.Errorf("reading the global incus client configuration %s: %w", path, err)
	}
	var fc fileConfig
	if err := yaml.Unmarshal(b, &fc); err != nil {
		return nil, fmt.Errorf("parsing the global incus client configuration %s: %w; ask its administrator to fix the YAML", path, err)
	}
	out := make(map[string]Remote, len(fc.Remotes))
	for name, r := range fc.Remotes {
		out[name] = r.remote(name, true)
	}
	return out, nil
}

// RemoteName is the remote to use when the user named name: name itself,
// else $INCUS_REMOTE, else the default remote, else "local".
func (c *ClientConfig) RemoteName(name string) string {
	if name != "" {
		return name
	}
	if env := os.Getenv("INCUS_REMOTE"); env != "" {
		return env
	}
	if c.DefaultRemote != "" {
		return c.DefaultRemote
	}
	return defaultRemoteName
}
