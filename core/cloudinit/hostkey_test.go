package cloudinit

import (
	"bytes"
	"crypto/ed25519"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

func TestNewHostKey(t *testing.T) {
	k, err := NewHostKey()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(k.Private, []byte("-----BEGIN OPENSSH PRIVATE KEY-----\n")) {
		t.Fatalf("private key is not an OpenSSH PEM block:\n%s", k.Private)
	}
	raw, err := ssh.ParseRawPrivateKey(k.Private)
	if err != nil {
		t.Fatalf("parsing the private key: %v", err)
	}
	priv, ok := raw.(*ed25519.PrivateKey)
	if !ok {
		t.Fatalf("private key is a %T, want ed25519", raw)
	}
	if strings.ContainsAny(k.AuthorizedKey, "\n") || !strings.HasPrefix(k.AuthorizedKey, "ssh-ed25519 ") {
		t.Fatalf("public key %q is not one authorized_keys line", k.AuthorizedKey)
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(k.AuthorizedKey))
	if err != nil {
		t.Fatalf("parsing the public key: %v", err)
	}
	fromPriv, err := ssh.NewPublicKey(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pub.Marshal(), fromPriv.Marshal()) {
		t.Fatal("the public key is not the private key's")
	}
	// A signer from the PEM signs what the public key verifies.
	signer, err := ssh.ParsePrivateKey(k.Private)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := signer.Sign(nil, []byte("plex"))
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Verify([]byte("plex"), sig); err != nil {
		t.Fatalf("verifying a signature: %v", err)
	}

	other, err := NewHostKey()
	if err != nil {
		t.Fatal(err)
	}
	if other.AuthorizedKey == k.AuthorizedKey {
		t.Fatal("two host keys are the same")
	}
}

func TestKnownHostsLine(t *testing.T) {
	k, err := NewHostKey()
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewHostKey()
	if err != nil {
		t.Fatal(err)
	}
	line, err := KnownHostsLine([]string{"omniplex1", "10.212.0.11"}, k.AuthorizedKey)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(line, "omniplex1,10.212.0.11 ssh-ed25519 ") {
		t.Fatalf("line %q", line)
	}
	file := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(file, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cb, err := knownhosts.New(file)
	if err != nil {
		t.Fatalf("known_hosts does not parse: %v", err)
	}
	pub, _, _, _, _ := ssh.ParseAuthorizedKey([]byte(k.AuthorizedKey))
	otherPub, _, _, _, _ := ssh.ParseAuthorizedKey([]byte(other.AuthorizedKey))
	addr := &net.TCPAddr{IP: net.ParseIP("10.212.0.11"), Port: 22}
	if err := cb("omniplex1:22", addr, pub); err != nil {
		t.Fatalf("the host key is not trusted: %v", err)
	}
	if err := cb("10.212.0.11:22", addr, pub); err != nil {
		t.Fatalf("the host key is not trusted by address: %v", err)
	}
	if err := cb("omniplex1:22", addr, otherPub); err == nil {
		t.Fatal("another key is trusted")
	}

	if _, err := KnownHostsLine(nil, k.AuthorizedKey); err == nil {
		t.Fatal("no names accepted")
	}
	if _, err := KnownHostsLine([]string{"omniplex1"}, "ssh-ed25519 junk"); err == nil {
		t.Fatal("a bad key accepted")
	}
}
