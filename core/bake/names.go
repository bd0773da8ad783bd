package bake

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/plex-dev/plex/core/spec"
)

// BaseName turns a base image reference into the name that image aliases
// use: the remote prefix goes, the rest is lowercased, and every run of
// characters other than letters, digits and '.' becomes one '-'.
// "images:debian/12/cloud" gives "debian-12-cloud", "debian12" stays.
func BaseName(ref string) string {
	if i := strings.Index(ref, ":"); i >= 0 {
		ref = ref[i+1:]
	}
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(ref) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(r)
			continue
		}
		dash = true
	}
	return b.String()
}

// DefaultAlias is the alias a bake publishes to: <base>_<type>, the name
// plex's spec derives from a node group's base and type.
func DefaultAlias(base, typ string) string {
	return spec.ImageAlias(BaseName(base), typ)
}

// InstanceName is the transient instance that bakes alias. It doubles as the
// lock: Incus refuses a second instance of the same name, so two bakes of one
// alias cannot run at once, on one machine or several. Instance names are
// hostnames (letters, digits, '-', at most 63), so '_' and '.' become '-',
// and a long alias is cut and given a hash suffix to stay unique.
func InstanceName(alias string) string {
	const prefix = "plexbake-"
	var b strings.Builder
	for _, r := range strings.ToLower(alias) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	name := prefix + strings.Trim(b.String(), "-")
	if len(name) <= 63 {
		return name
	}
	sum := sha256.Sum256([]byte(alias))
	return strings.TrimRight(name[:63-9], "-") + "-" + hex.EncodeToString(sum[:])[:8]
}
