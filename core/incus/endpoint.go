package incus

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/plex-dev/plex/core/incus/internal/rest"
)

// Endpoint says how to reach remote ("" is RemoteName's choice): its unix
// socket, or its HTTPS address with a TLS configuration that presents the
// user's client certificate and accepts only the server certificate pinned
// by `incus remote add` (or, with none pinned, one the system trusts). It
// does not look at the remote's protocol: callers that need the Incus API
// check Remotes[name].Protocol themselves.
func (c *ClientConfig) Endpoint(remote string) (rest.Endpoint, error) {
	name := c.RemoteName(remote)
	r, ok := c.Remotes[name]
	if !ok {
		return rest.Endpoint{}, c.unknownRemote(name)
	}
	if p, ok := strings.CutPrefix(r.Addr, "unix:"); ok {
		sock, err := findSocket(name, strings.TrimPrefix(p, "//"))
		if err != nil {
			return rest.Endpoint{}, err
		}
		return rest.Endpoint{SocketPath: sock}, nil
	}
	u, err := url.Parse(r.Addr)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return rest.Endpoint{}, fmt.Errorf("reading incus remote %q from %s: address %q is neither unix:// nor https://host:port; fix it with `incus remote set-url %s https://HOST:8443`", name, c.describe(r), r.Addr, name)
	}
	conf, err := c.tlsConfig(r)
	if err != nil {
		return rest.Endpoint{}, err
	}
	return rest.Endpoint{URL: r.Addr, TLS: conf}, nil
}

// describe names where a remote was configured, for errors.
func (c *ClientConfig) describe(r Remote) string {
	switch {
	case r.Global:
		return filepath.Join(globalDir(), "config.yml")
	case c.fromFile:
		return c.Path
	case c.Path != "":
		return c.Path + " (missing, so the built-in defaults apply)"
	default:
		return "the built-in defaults (no configuration directory: set HOME or INCUS_CONF)"
	}
}

func (c *ClientConfig) unknownRemote(name string) error {
	var known []string
	for n, r := range c.Remotes {
		if !r.Public {
			known = append(known, n)
		}
	}
	sort.Strings(known)
	list := "none"
	if len(known) > 0 {
		list = strings.Join(known, ", ")
	}
	return fmt.Errorf("finding incus remote %q: it is not in %s (known servers: %s); add it with `incus remote add %s HOST`, or name one of the known servers", name, c.describe(Remote{}), list, name)
}

// findSocket picks the local daemon's socket the way the CLI does: an
// explicit path, else $INCUS_SOCKET, else $INCUS_DIR/unix.socket, else the
// first system socket that exists. A variable the user set is never skipped
// for a system socket, as that would reach a different daemon than asked.
func findSocket(remote, explicit string) (string, error) {
	type candidate struct{ path, from string }
	var tries []candidate
	switch {
	case explicit != "":
		tries = []candidate{{explicit, fmt.Sprintf("remote %q's address", remote)}}
	case os.Getenv("INCUS_SOCKET") != "":
		tries = []candidate{{os.Getenv("INCUS_SOCKET"), "$INCUS_SOCKET"}}
	case os.Getenv("INCUS_DIR") != "":
		tries = []candidate{{filepath.Join(os.Getenv("INCUS_DIR"), "unix.socket"), "$INCUS_DIR"}}
	default:
		for _, p := range systemSockets {
			tries = append(tries, candidate{p, ""})
		}
	}
	tried := make([]string, 0, len(tries))
	for _, t := range tries {
		// Anything but "does not exist" (a permission error, say) is left
		// for the dial to report precisely.
		if _, err := os.Stat(t.path); err == nil || !errors.Is(err, fs.ErrNotExist) {
			return t.path, nil
		}
		if t.from != "" {
			tried = append(tried, t.path+" (from "+t.from+")")
		} else {
			tried = append(tried, t.path)
		}
	}
	return "", fmt.Errorf("finding the incus unix socket for remote %q: tried %s and none exists; incusd may not be running (start it with `systemctl start incus`), or set INCUS_SOCKET to the socket it listens on", remote, strings.Join(tried, ", "))
}

// confPath joins the configuration directory; "" when there is none, so that
// nothing is looked up relative to the working directory.
func (c *ClientConfig) confPath(elem ...string) string {
	if c.Dir == "" {
		return ""
	}
	return filepath.Join(append([]string{c.Dir}, elem...)...)
}

// serverCertPath is where `incus remote add` pinned the remote's certificate.
func (c *ClientConfig) serverCertPath(r Remote) string {
	if r.Global {
		return filepath.Join(globalDir(), "servercerts", r.Name+".crt")
	}
	return c.confPath("servercerts", r.Name+".crt")
}

// clientCertPaths are the certificate, key and CA for a remote: its own under
// clientcerts/ when both its certificate and key are there, else the shared
// client.crt and client.key.
func (c *ClientConfig) clientCertPaths(name string) (cert, key, ca string) {
	if c.Dir == "" {
		return "", "", ""
	}
	cert, key = c.confPath("clientcerts", name+".crt"), c.confPath("clientcerts", name+".key")
	if pathExists(cert) && pathExists(key) {
		return cert, key, c.confPath("clientcerts", name+".ca")
	}
	return c.confPath("client.crt"), c.confPath("client.key"), c.confPath("client.ca")
}

func (c *ClientConfig) tlsConfig(r Remote) (*tls.Config, error) {
	conf := &tls.Config{MinVersion: tls.VersionTLS13}

	// Client certificates are an Incus-protocol matter; the CLI sends one to
	// public Incus servers too when the user has one, but does not need it.
	if r.Protocol == protocolIncus {
		if r.AuthType == authTypeOIDC && !r.Public {
			return nil, fmt.Errorf("preparing TLS for incus remote %q: it uses OIDC login (auth_type: oidc in %s), which plex does not support; add the server with a client certificate instead: `incus remote add %s %s --auth-type=tls`", r.Name, c.describe(r), r.Name, r.Addr)
		}
		certPath, keyPath, caPath := c.clientCertPaths(r.Name)
		missing := ""
		for _, p := range []string{certPath, keyPath} {
			if !pathExists(p) {
				missing = p
				break
			}
		}
		switch {
		case missing == "":
			cert, err := loadClientCertificate(certPath, keyPath)
			if err != nil {
				return nil, fmt.Errorf("preparing TLS for incus remote %q: %w", r.Name, err)
			}
			conf.Certificates = []tls.Certificate{cert}
		case r.Public:
		case c.Dir == "":
			return nil, fmt.Errorf("preparing TLS for incus remote %q: there is no incus configuration directory to hold a client certificate; set HOME or INCUS_CONF, then run `incus remote add %s %s`", r.Name, r.Name, r.Addr)
		default:
			return nil, fmt.Errorf("preparing TLS for incus remote %q: client certificate file %s does not exist; run `incus remote add %s %s` (which generates the certificate and registers it with the server) or `incus remote generate-certificate`", r.Name, missing, r.Name, r.Addr)
		}
		// A client CA means the servers' certificates are issued by that CA
		// (the CLI's PKI mode), so it replaces the system's roots.
		if caPath != "" && pathExists(caPath) {
			b, err := os.ReadFile(caPath)
			if err != nil {
				return nil, fmt.Errorf("preparing TLS for incus remote %q: reading client CA %s: %w", r.Name, caPath, err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(b) {
				return nil, fmt.Errorf("preparing TLS for incus remote %q: client CA %s holds no PEM certificate; fix or remove the file", r.Name, caPath)
			}
			conf.RootCAs = pool
		}
	}

	pinPath := c.serverCertPath(r)
	if pinPath == "" || !pathExists(pinPath) {
		return conf, nil
	}
	pinned, err := readPinnedCertificate(pinPath)
	if err != nil {
		return nil, fmt.Errorf("preparing TLS for incus remote %q: %w; run `incus remote remove %s` and `incus remote add %s %s` to pin the server's certificate again", r.Name, err, r.Name, r.Name, r.Addr)
	}
	// Incus servers usually present a self-signed certificate that no CA
	// vouches for, so the chain and host name checks are replaced by an
	// exact comparison with the pinned certificate. VerifyConnection (not
	// VerifyPeerCertificate) also runs on resumed sessions.
	conf.InsecureSkipVerify = true
	conf.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return fmt.Errorf("verifying incus remote %q: the server presented no certificate, but %s is pinned for it", r.Name, pinPath)
		}
		got := cs.PeerCertificates[0].Raw
		if bytes.Equal(got, pinned) {
			return nil
		}
		return fmt.Errorf("verifying incus remote %q: the server's certificate (SHA-256 %x) does not match the pinned %s (SHA-256 %x); check the server at %s, as something may be intercepting the connection, and if the server was re-keyed trust its new certificate with `incus remote remove %s` and `incus remote add %s %s`",
			r.Name, sha256.Sum256(got), pinPath, sha256.Sum256(pinned), r.Addr, r.Name, r.Name, r.Addr)
	}
	return conf, nil
}

// loadClientCertificate reads a client certificate and key, refusing keys it
// would need a passphrase for: plex runs unattended and has no prompt.
func loadClientCertificate(certPath, keyPath string) (tls.Certificate, error) {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("reading client certificate %s: %w", certPath, err)
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("reading client key %s: %w", keyPath, err)
	}
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return tls.Certificate{}, fmt.Errorf("reading client key %s: it holds no PEM block; move it and %s away and run `incus remote generate-certificate`, then add the new certificate to your servers", keyPath, certPath)
	}
	if block.Type == "ENCRYPTED PRIVATE KEY" || strings.Contains(block.Headers["Proc-Type"], "ENCRYPTED") {
		return tls.Certificate{}, fmt.Errorf("reading client key %s: it is encrypted with a passphrase, and plex cannot prompt for one; decrypt it with `openssl pkey -in %s -out %s.plain && mv %s.plain %s` (openssl asks for the passphrase once and writes the key readable by you only)", keyPath, keyPath, keyPath, keyPath, keyPath)
	}
	if block.Type == "OPENSSH PRIVATE KEY" {
		return tls.Certificate{}, fmt.Errorf("reading client key %s: it is in OpenSSH format, which plex cannot read; convert it with `ssh-keygen -p -m PKCS8 -N '' -f %s` (this also removes any passphrase)", keyPath, keyPath)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("loading client certificate %s with key %s: %w; if they do not belong together, move both away and run `incus remote generate-certificate`, then add the new certificate to your servers", certPath, keyPath, err)
	}
	return cert, nil
}

// readPinnedCertificate returns the DER bytes of the first certificate in a
// PEM file.
func readPinnedCertificate(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading pinned server certificate %s: %w", path, err)
	}
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			return nil, fmt.Errorf("reading pinned server certificate %s: it holds no PEM certificate", path)
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return nil, fmt.Errorf("reading pinned server certificate %s: %w", path, err)
		}
		return block.Bytes, nil
	}
}

func pathExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
