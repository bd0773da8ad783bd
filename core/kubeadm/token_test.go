package kubeadm

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestNewToken(t *testing.T) {
	re := regexp.MustCompile(`^[a-z0-9]{6}\.[a-z0-9]{16}$`)
	seen := map[string]bool{}
	for range 100 {
		tok, err := NewToken()
		if err != nil {
			t.Fatal(err)
		}
		if !re.MatchString(tok) {
			t.Fatalf("token %q has the wrong form", tok)
		}
		if err := checkToken(tok); err != nil {
			t.Fatalf("checkToken(%q): %v", tok, err)
		}
		if seen[tok] {
			t.Fatalf("token %q twice", tok)
		}
		seen[tok] = true
	}
}

func TestNewCertificateKey(t *testing.T) {
	k, err := NewCertificateKey()
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(k) {
		t.Fatalf("certificate key %q is not 64 hex digits", k)
	}
	if err := checkCertificateKey(k); err != nil {
		t.Fatal(err)
	}
}

// testCA makes a self-signed CA certificate in PEM.
func testCA(t *testing.T) ([]byte, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "kubernetes"},
		NotBefore:             time.Now().Add(-time.Minute),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), cert
}

func TestCACertHash(t *testing.T) {
	caPEM, cert := testCA(t)
	// Independently: the SPKI marshalled from the public key is the one in
	// the certificate, and its SHA-256 is the pin.
	spki, err := x509.MarshalPKIXPublicKey(cert.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("sha256:%x", sha256.Sum256(spki))

	got, err := CACertHash(caPEM)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("CACertHash = %s, want %s", got, want)
	}
	if err := checkCACertHash(got); err != nil {
		t.Fatal(err)
	}

	// A key block before the certificate is skipped.
	withKey := append(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: []byte{1}}), caPEM...)
	if got, err := CACertHash(withKey); err != nil || got != want {
		t.Fatalf("with a key block first: %s, %v", got, err)
	}

	for _, bad := range [][]byte{nil, []byte("not pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("junk")})} {
		if _, err := CACertHash(bad); err == nil || !strings.Contains(err.Error(), "hashing the cluster CA") {
			t.Errorf("CACertHash(%q): error %v", bad, err)
		}
	}
}

func TestTokenFromOutput(t *testing.T) {
	const tok = "abcdef.0123456789abcdef"
	for _, out := range []string{tok + "\n", "W1122 01:02:03 warning: something\n" + tok + "\n"} {
		got, err := TokenFromOutput(out)
		if err != nil || got != tok {
			t.Errorf("TokenFromOutput(%q) = %q, %v", out, got, err)
		}
	}
	for _, out := range []string{"", "error: no\n", "abcdef.0123456789ABCDEF\n"} {
		if got, err := TokenFromOutput(out); err == nil {
			t.Errorf("TokenFromOutput(%q) = %q, want an error", out, got)
		}
	}
}

func TestRedact(t *testing.T) {
	key := strings.Repeat("0f", 32)
	for in, want := range map[string]string{
		"abcdef.0123456789abcdef":                       "abcdef.****************",
		"--token abcdef.0123456789abcdef --v=5":         "--token abcdef.**************** --v=5",
		"[upload-certs] Using certificate key:\n" + key: "[upload-certs] Using certificate key:\n" + strings.Repeat("*", 64),
		"pulled registry.k8s.io/pause@sha256:" + key:    "pulled registry.k8s.io/pause@sha256:" + key,
		"[certs] Generating \"ca\" certificate and key": "[certs] Generating \"ca\" certificate and key",
		"kube-apiserver.yaml 10.212.0.151":              "kube-apiserver.yaml 10.212.0.151",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}
