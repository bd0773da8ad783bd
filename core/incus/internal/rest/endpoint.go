package rest

import (
	"crypto/tls"
	"fmt"
	"net/url"
	"strings"
)

// Endpoint is where an Incus server listens: its unix socket, or an HTTPS
// address with the TLS settings to reach it (client certificate, pinned
// server certificate).
type Endpoint struct {
	// URL is the server's HTTPS address ("https://host:8443"). Empty means
	// the unix socket at SocketPath.
	URL string
	// SocketPath is the server's unix socket, used when URL is empty.
	SocketPath string
	// TLS configures an HTTPS connection. It must verify the server: either
	// with a pinned certificate (RootCAs holding it) or the system's roots.
	TLS *tls.Config
}

// describe names the endpoint in errors.
func (e Endpoint) describe() string {
	if e.URL == "" {
		return "unix socket " + e.SocketPath
	}
	return e.URL
}

// validate says what is missing before anything is dialled.
func (e Endpoint) validate() error {
	if e.URL == "" {
		if e.SocketPath == "" {
			return fmt.Errorf("incus endpoint: neither an HTTPS address nor a unix socket path")
		}
		return nil
	}
	u, err := url.Parse(e.URL)
	if err != nil {
		return fmt.Errorf("incus endpoint %q: %w", e.URL, err)
	}
	if u.Scheme != "https" {
		return fmt.Errorf("incus endpoint %q: only https:// is supported (Incus serves its API over TLS)", e.URL)
	}
	if strings.Trim(u.Path, "/") != "" {
		return fmt.Errorf("incus endpoint %q: the address must not have a path", e.URL)
	}
	return nil
}
