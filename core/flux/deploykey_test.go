package flux

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

func TestNewDeployKey(t *testing.T) {
	kh := []byte("[git.example.com]:2222 ssh-ed25519 AAAA\n")
	k, err := NewDeployKey("plex-omniplex", kh)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(k.Private), "-----BEGIN OPENSSH PRIVATE KEY-----") {
		t.Fatalf("private key is not OpenSSH PEM:\n%s", k.Private)
	}
	signer, err := ssh.ParsePrivateKey(k.Private)
	if err != nil {
		t.Fatalf("the private key does not parse: %v", err)
	}
	pub, comment, _, _, err := ssh.ParseAuthorizedKey([]byte(k.Public))
	if err != nil {
		t.Fatalf("the public key line %q does not parse: %v", k.Public, err)
	}
	if comment != "plex-omniplex" || pub.Type() != ssh.KeyAlgoED25519 {
		t.Fatalf("public key %q: type %s comment %q", k.Public, pub.Type(), comment)
	}
	if string(pub.Marshal()) != string(signer.PublicKey().Marshal()) {
		t.Fatal("the public key is not the private key's")
	}
	// A signature made with the private key verifies with the printed public key.
	sig, err := signer.Sign(rand.Reader, []byte("fleet"))
	if err != nil || pub.Verify([]byte("fleet"), sig) != nil {
		t.Fatalf("sign/verify: %v", err)
	}
	other, _ := NewDeployKey("plex-omniplex", kh)
	if other.Public == k.Public {
		t.Fatal("two keys are the same")
	}

	// The Flux secret: identity, identity.pub, known_hosts.
	sec := k.Secret("flux-system", "flux-system")
	data := sec.Object["data"].(map[string]any)
	dec := func(key string) string {
		b, err := base64.StdEncoding.DecodeString(data[key].(string))
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		return string(b)
	}
	if dec("identity") != string(k.Private) || dec("identity.pub") != k.Public+"\n" || dec("known_hosts") != string(kh) {
		t.Fatalf("secret data does not hold the key: %v", data)
	}
	if sec.GetNamespace() != "flux-system" || sec.GetName() != "flux-system" || sec.GetKind() != "Secret" {
		t.Fatalf("secret %s", describe(sec))
	}

	// Read back, as a re-run does from the existing secret: same key, comment kept.
	back, err := ParseDeployKey([]byte(dec("identity")), []byte(dec("identity.pub")), []byte(dec("known_hosts")))
	if err != nil {
		t.Fatal(err)
	}
	if back.Public != k.Public {
		t.Fatalf("read back %q, want %q", back.Public, k.Public)
	}
	if _, err := ParseDeployKey([]byte("not a key"), nil, nil); err == nil {
		t.Fatal("a bad private key parsed")
	}
}

// sshServer accepts SSH handshakes on loopback with the given host keys and
// refuses every login, like a Git server would refuse an unknown key.
func sshServer(t *testing.T, hostKeys ...ssh.Signer) string {
	t.Helper()
	cfg := &ssh.ServerConfig{PublicKeyCallback: func(ssh.ConnMetadata, ssh.PublicKey) (*ssh.Permissions, error) {
		return nil, os.ErrPermission
	}}
	for _, k := range hostKeys {
		cfg.AddHostKey(k)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _, _, _ = ssh.NewServerConn(c, cfg)
			}()
		}
	}()
	return ln.Addr().String()
}

func TestScanKnownHosts(t *testing.T) {
	_, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	ed, _ := ssh.NewSignerFromKey(edPriv)
	ecPriv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec, _ := ssh.NewSignerFromKey(ecPriv)
	addr := sshServer(t, ed, ec)

	kh, err := ScanKnownHosts(context.Background(), "ssh://git@"+addr+"/you/fleet.git", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(kh)), "\n")
	if len(lines) != 2 {
		t.Fatalf("known_hosts has %d lines, want one per host key:\n%s", len(lines), kh)
	}
	// The lines verify the server's keys the way source-controller will.
	f := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(f, kh, 0o600); err != nil {
		t.Fatal(err)
	}
	cb, err := knownhosts.New(f)
	if err != nil {
		t.Fatal(err)
	}
	tcp, _ := net.ResolveTCPAddr("tcp", addr)
	for _, k := range []ssh.Signer{ed, ec} {
		if err := cb(addr, tcp, k.PublicKey()); err != nil {
			t.Errorf("%s host key not accepted by the scanned known_hosts: %v", k.PublicKey().Type(), err)
		}
	}
	_, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	other, _ := ssh.NewSignerFromKey(otherPriv)
	if err := cb(addr, tcp, other.PublicKey()); err == nil {
		t.Error("another host key was accepted")
	}
}

func TestScanKnownHostsErrors(t *testing.T) {
	// A port nothing listens on: one quick failure, not one per algorithm.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	start := time.Now()
	_, err := ScanKnownHosts(context.Background(), "ssh://git@"+addr+"/fleet.git", 2*time.Second)
	if err == nil || !strings.Contains(err.Error(), "--ssh-known-hosts") {
		t.Fatalf("error %v, want it to suggest --ssh-known-hosts", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Errorf("an unreachable server took %s", time.Since(start))
	}
	if _, err := ScanKnownHosts(context.Background(), "https://example.com/fleet", time.Second); err == nil {
		t.Fatal("an https URL was scanned")
	}
	if a, err := sshAddress("ssh://git@example.com/fleet"); err != nil || a != "example.com:22" {
		t.Fatalf("sshAddress default port: %q %v", a, err)
	}
}
