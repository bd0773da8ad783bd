package spec

import "strings"

// The names plex derives from a plex's name and a node group's base and type
// are made here, and only here, so that kubectl plex, incus plexbake and
// plex-registry agree on them.

// ContextName is the kubeconfig context plex writes for a plex: plex-<name>.
func ContextName(plex string) string { return "plex-" + plex }

// ImageAlias is the alias of the image a node type is baked into from a
// base: <base>_<type> (debian12_kube, debian12_registry).
func ImageAlias(base, nodeType string) string { return base + "_" + nodeType }

// BaseOf is the base of an image alias made by ImageAlias, for advice such as
// which bake makes a missing image. An alias of another form is its own base.
func BaseOf(alias string) string {
	if i := strings.LastIndex(alias, "_"); i > 0 {
		return alias[:i]
	}
	return alias
}
