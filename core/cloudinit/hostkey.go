package cloudinit

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// HostKey is a node's SSH host key, made by plex before the node exists so
// that its known_hosts line is known in advance and never has to be trusted
// on first use.
type HostKey struct {
	// Private is the ed25519 private key as an OpenSSH PEM block
	// (/etc/ssh/ssh_host_ed25519_key).
	Private []byte
	// AuthorizedKey is the public key in authorized_keys form,
	// "ssh-ed25519 AAAA…", without a newline
	// (/etc/ssh/ssh_host_ed25519_key.pub).
	AuthorizedKey string
}

// Check checks that both halves parse, the public one as an ssh-ed25519
// authorized_keys line, and returns that line trimmed.
func (hk HostKey) Check() (string, error) {
	pub := strings.TrimSpace(hk.AuthorizedKey)
	if _, _, _, _, err := ssh.ParseAuthorizedKey([]byte(pub)); err != nil || !strings.HasPrefix(pub, ssh.KeyAlgoED25519+" ") {
		return "", fmt.Errorf("the host key's public half is not an ssh-ed25519 key in authorized_keys form")
	}
	if _, err := ssh.ParseRawPrivateKey(hk.Private); err != nil {
		return "", fmt.Errorf("the host key's private half does not parse: %w", err)
	}
	return pub, nil
}

// NewHostKey makes an ed25519 host key.
func NewHostKey() (HostKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return HostKey{}, fmt.Errorf("making an SSH host key: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		return HostKey{}, fmt.Errorf("encoding the SSH host key: %w", err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return HostKey{}, fmt.Errorf("encoding the SSH host key: %w", err)
	}
	return HostKey{
		Private:       pem.EncodeToMemory(block),
		AuthorizedKey: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub))),
	}, nil
}

// KnownHostsLine is the known_hosts line that trusts the host key pub
// (authorized_keys form, as HostKey.AuthorizedKey) for the host names and addresses
// in names (a port other than 22 as "host:port").
func KnownHostsLine(names []string, pub string) (string, error) {
	if len(names) == 0 {
		return "", fmt.Errorf("writing a known_hosts line: no host names")
	}
	key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(pub))
	if err != nil {
		return "", fmt.Errorf("writing a known_hosts line for %s: parsing the host key: %w", names[0], err)
	}
	return knownhosts.Line(names, key), nil
}
