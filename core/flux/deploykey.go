package flux

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// The keys of a Flux SSH Git secret.
const (
	secretIdentity    = "identity"
	secretIdentityPub = "identity.pub"
	secretKnownHosts  = "known_hosts"
)

// DeployKey is the SSH key pair Flux authenticates to an SSH Git server with,
// and the server's host keys it trusts.
type DeployKey struct {
	// Private is the private key, PEM in OpenSSH format.
	Private []byte
	// Public is the public key as one authorized_keys line: add it to the
	// repository as a (read-only) deploy key.
	Public string
	// KnownHosts are the Git server's host keys, known_hosts lines.
	KnownHosts []byte
}

// NewDeployKey generates an ed25519 key pair with golang.org/x/crypto/ssh.
// comment ends the public key line, like plex-omniplex.
func NewDeployKey(comment string, knownHosts []byte) (*DeployKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating the deploy key: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return nil, fmt.Errorf("encoding the deploy key: %w", err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, err
	}
	return &DeployKey{
		Private:    pem.EncodeToMemory(block),
		Public:     authorizedKey(sshPub, comment),
		KnownHosts: knownHosts,
	}, nil
}

// ParseDeployKey reads a deploy key back from the keys of an existing Flux
// secret: the private key, the public key line (for its comment; may be
// empty) and the known_hosts stored with them.
func ParseDeployKey(private, public, knownHosts []byte) (*DeployKey, error) {
	signer, err := ssh.ParsePrivateKey(private)
	if err != nil {
		return nil, fmt.Errorf("reading the deploy key: %w", err)
	}
	comment := ""
	if pub, c, _, _, err := ssh.ParseAuthorizedKey(public); err == nil && bytes.Equal(pub.Marshal(), signer.PublicKey().Marshal()) {
		comment = c
	}
	return &DeployKey{Private: private, Public: authorizedKey(signer.PublicKey(), comment), KnownHosts: knownHosts}, nil
}

func authorizedKey(k ssh.PublicKey, comment string) string {
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
	if comment != "" {
		line += " " + comment
	}
	return line
}

// Secret is the Flux Git secret holding the key: identity, identity.pub and
// known_hosts, as source-controller reads them.
func (k *DeployKey) Secret(name, namespace string) *unstructured.Unstructured {
	enc := func(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1",
		"kind":       "Secret",
		"metadata":   map[string]any{"name": name, "namespace": namespace},
		"type":       "Opaque",
		"data": map[string]any{
			secretIdentity:    enc(k.Private),
			secretIdentityPub: enc([]byte(k.Public + "\n")),
			secretKnownHosts:  enc(k.KnownHosts),
		},
	}}
}

// sshAddress is the host:port of an ssh:// Git URL.
func sshAddress(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "ssh" || u.Hostname() == "" {
		return "", fmt.Errorf("git URL %q is not an ssh:// URL with a host", raw)
	}
	port := u.Port()
	if port == "" {
		port = "22"
	}
	return net.JoinHostPort(u.Hostname(), port), nil
}

// hostKeyAlgorithms are asked for one at a time, like ssh-keyscan, so that
// known_hosts has every key type the server offers.
var hostKeyAlgorithms = []string{ssh.KeyAlgoED25519, ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521, ssh.KeyAlgoRSASHA512}

// ScanKnownHosts connects to the SSH server of an ssh:// Git URL and returns
// its host keys as known_hosts lines. It trusts what the server presents on
// first use, like ssh-keyscan: check the result, or give known_hosts yourself.
func ScanKnownHosts(ctx context.Context, gitURL string, timeout time.Duration) ([]byte, error) {
	addr, err := sshAddress(gitURL)
	if err != nil {
		return nil, err
	}
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	var lines []string
	seen := map[string]bool{}
	var lastErr error
	for _, alg := range hostKeyAlgorithms {
		k, err := scanOne(ctx, addr, alg, timeout)
		if err != nil {
			lastErr = err
			var ne net.Error
			if errors.As(err, &ne) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				break // the server is not reachable; asking again will not help
			}
			continue
		}
		line := knownhosts.Line([]string{knownhosts.Normalize(addr)}, k)
		if !seen[line] {
			seen[line] = true
			lines = append(lines, line)
		}
	}
	if len(lines) == 0 {
		return nil, fmt.Errorf("reading the host keys of %s (give them with --ssh-known-hosts FILE instead): %w", addr, lastErr)
	}
	return []byte(strings.Join(lines, "\n") + "\n"), nil
}

// errGotKey ends a handshake once the host key is known.
var errGotKey = errors.New("host key received")

// scanOne makes one SSH handshake offering only alg, and returns the host key
// the server presented.
func scanOne(ctx context.Context, addr, alg string, timeout time.Duration) (ssh.PublicKey, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	var key ssh.PublicKey
	cfg := &ssh.ClientConfig{
		User:              "git",
		HostKeyAlgorithms: []string{alg},
		HostKeyCallback: func(_ string, _ net.Addr, k ssh.PublicKey) error {
			key = k
			return errGotKey
		},
		Timeout: timeout,
	}
	_, _, _, err = ssh.NewClientConn(conn, addr, cfg)
	if key != nil {
		return key, nil
	}
	if err == nil {
		err = errors.New("the server presented no host key")
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return nil, err
}
