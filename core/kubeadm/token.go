package kubeadm

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"regexp"
	"strings"
)

// tokenChars are the characters of a bootstrap token.
const tokenChars = "abcdefghijklmnopqrstuvwxyz0123456789"

var (
	tokenRE   = regexp.MustCompile(`^[a-z0-9]{6}\.[a-z0-9]{16}$`)
	hashRE    = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
	certKeyRE = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// NewToken returns a fresh bootstrap token, "[a-z0-9]{6}.[a-z0-9]{16}", the
// form kubeadm and the bootstrap-token authenticator accept.
func NewToken() (string, error) {
	id, err := randomString(6)
	if err != nil {
		return "", err
	}
	secret, err := randomString(16)
	if err != nil {
		return "", err
	}
	return id + "." + secret, nil
}

// TokenFromOutput finds the bootstrap token that `kubeadm token create`
// printed (it may print warnings too), so that plex never has to put a
// token on a command line, where an error message would show it.
func TokenFromOutput(out string) (string, error) {
	for _, line := range strings.Split(out, "\n") {
		if line = strings.TrimSpace(line); tokenRE.MatchString(line) {
			return line, nil
		}
	}
	return "", fmt.Errorf("kubeadm token create printed no bootstrap token")
}

// randomString draws n characters uniformly from tokenChars, rejecting the
// bytes that would bias the draw.
func randomString(n int) (string, error) {
	const limit = 256 - 256%len(tokenChars)
	out := make([]byte, 0, n)
	buf := make([]byte, 2*n)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("reading random bytes for a bootstrap token: %w", err)
		}
		for _, b := range buf {
			if int(b) < limit && len(out) < n {
				out = append(out, tokenChars[int(b)%len(tokenChars)])
			}
		}
	}
	return string(out), nil
}

// NewCertificateKey returns a key for kubeadm's uploaded control-plane
// certificates: 32 random bytes, hex-encoded (AES-256).
func NewCertificateKey() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("reading random bytes for a certificate key: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// CACertHash returns what kubeadm join's --discovery-token-ca-cert-hash
// expects for the PEM CA certificate caPEM (/etc/kubernetes/pki/ca.crt):
// "sha256:" and the hex SHA-256 of the certificate's DER
// SubjectPublicKeyInfo. Only the first certificate of caPEM counts.
func CACertHash(caPEM []byte) (string, error) {
	for rest := caPEM; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return "", fmt.Errorf("hashing the cluster CA: no PEM CERTIFICATE block found")
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return "", fmt.Errorf("hashing the cluster CA: %w", err)
		}
		sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
		return "sha256:" + hex.EncodeToString(sum[:]), nil
	}
}

func checkToken(t string) error {
	if t == "" {
		return fmt.Errorf("no bootstrap token: make one with NewToken")
	}
	if !tokenRE.MatchString(t) {
		// The token is a secret: never repeat it in an error.
		return fmt.Errorf("the bootstrap token is not of the form [a-z0-9]{6}.[a-z0-9]{16}")
	}
	return nil
}

func checkCACertHash(h string) error {
	if !hashRE.MatchString(h) {
		return fmt.Errorf("CA certificate hash %q is not sha256:<64 hex digits>", h)
	}
	return nil
}

func checkCertificateKey(k string) error {
	if k != "" && !certKeyRE.MatchString(k) {
		return fmt.Errorf("the certificate key is not 64 hex digits")
	}
	return nil
}

var (
	tokenInText   = regexp.MustCompile(`\b([a-z0-9]{6})\.[a-z0-9]{16}\b`)
	certKeyInText = regexp.MustCompile(`(sha256:)?\b[0-9a-f]{64}\b`)
)

// Redact hides the secrets kubeadm can print in a line of its output or
// command line: a bootstrap token keeps its public ID ("abcdef.****…"), a
// certificate key becomes "****…". A sha256 digest ("sha256:…") is not a
// key and stays.
func Redact(s string) string {
	s = tokenInText.ReplaceAllString(s, "$1."+strings.Repeat("*", 16))
	return certKeyInText.ReplaceAllStringFunc(s, func(m string) string {
		if strings.HasPrefix(m, "sha256:") {
			return m
		}
		return strings.Repeat("*", 64)
	})
}
