package lock

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// Scope is what one lock guards: a plex, or a registry instance. Runs on
// the same scope exclude each other; different scopes do not interact.
type Scope struct {
	// Kind is "plex" or "registry"; it keeps a plex and a registry instance
	// of the same name apart.
	Kind string
	// Name is the plex's or the instance's name.
	Name string
}

// Plex is the scope of one plex: up, join, drain, down and snapshot of it
// take this lock.
func Plex(name string) Scope { return Scope{Kind: "plex", Name: name} }

// Registry is the scope of one plex-registry instance.
func Registry(instance string) Scope { return Scope{Kind: "registry", Name: instance} }

// String names the scope for a person: "plex lab".
func (s Scope) String() string { return s.Kind + " " + s.Name }

func (s Scope) validate() error {
	if s.Kind == "" || s.Name == "" {
		return fmt.Errorf("lock scope %q: a kind and a name are both needed (lock.Plex(name), lock.Registry(instance))", s.String())
	}
	return nil
}

// Profile names. Incus takes almost any profile name, but plex keeps to
// what every Incus command line and remote handles: letters, digits and
// dashes, at most 63 characters. A takeover claim adds claimSuffixLen to
// the lock's name, so the lock's own name stays within maxBaseLen.
const (
	profilePrefix  = "plex-lock-"
	maxNameLen     = 63
	claimSuffixLen = len("-t") + claimTagLen + len("-") + 2 // "-t<tag>-<k>", k < 100
	claimTagLen    = 10
	maxClaims      = 100
	maxBaseLen     = maxNameLen - claimSuffixLen
	hashLen        = 8
)

// ProfileName is the Incus profile that is the scope's lock while it is
// held: "plex-lock-plex-lab". A scope with other characters, or too long to
// fit, gets a name shortened and ended with a hash of the whole scope, so
// that two scopes never share a lock.
func (s Scope) ProfileName() string {
	raw := s.Kind + "-" + s.Name
	clean := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '-'
	}, raw)
	name := profilePrefix + clean
	if clean == raw && len(name) <= maxBaseLen {
		return name
	}
	sum := sha256.Sum256([]byte(s.Kind + "\x00" + s.Name))
	keep := maxBaseLen - len(profilePrefix) - 1 - hashLen
	if len(clean) > keep {
		clean = clean[:keep]
	}
	return profilePrefix + strings.TrimRight(clean, "-") + "-" + hex.EncodeToString(sum[:])[:hashLen]
}

// claimName is the profile that claims the right to take over the lock
// named base from the holder whose content had ETag etag. k counts claims
// abandoned by takers that died before finishing.
func claimName(base, etag string, k int) string {
	sum := sha256.Sum256([]byte(etag))
	return fmt.Sprintf("%s-t%s-%d", base, hex.EncodeToString(sum[:])[:claimTagLen], k)
}
