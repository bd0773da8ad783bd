package flux

import (
	"fmt"
	"sort"
	"strings"
)

// DefaultVersion is the Flux release plex installs unless told otherwise, and
// the one the harness builds the controllers of (hack/flux-artifacts.sh).
const DefaultVersion = "v2.7.3"

// DefaultRegistry is where Flux's release images live.
const DefaultRegistry = "ghcr.io/fluxcd"

// Component names, as flux2 spells them.
const (
	SourceController       = "source-controller"
	KustomizeController    = "kustomize-controller"
	HelmController         = "helm-controller"
	NotificationController = "notification-controller"
)

// DefaultComponents are what a plex needs to reconcile a Git repository of
// plain manifests and kustomizations: the two controllers the harness builds.
// `flux install` adds helm-controller and notification-controller.
var DefaultComponents = []string{SourceController, KustomizeController}

// controllerVersions maps a Flux release to the versions of its controllers,
// as its manifests/bases/<controller>/kustomization.yaml pins them.
var controllerVersions = map[string]map[string]string{
	"v2.7.3": {
		SourceController:              "v1.7.3",
		KustomizeController:           "v1.7.2",
		HelmController:                "v1.4.3",
		NotificationController:        "v1.7.4",
		"image-reflector-controller":  "v1.0.3",
		"image-automation-controller": "v1.0.3",
		"source-watcher":              "v2.0.2",
	},
}

// KnownVersions lists the Flux releases whose controller versions plex knows.
func KnownVersions() []string {
	var vs []string
	for v := range controllerVersions {
		vs = append(vs, v)
	}
	sort.Strings(vs)
	return vs
}

// ControllerVersion returns the version of one controller in a Flux release.
func ControllerVersion(version, component string) (string, error) {
	cs, ok := controllerVersions[version]
	if !ok {
		return "", fmt.Errorf("flux %s: plex knows the controller versions of %s only; give one of those", version, strings.Join(KnownVersions(), ", "))
	}
	v, ok := cs[component]
	if !ok {
		return "", fmt.Errorf("flux %s has no component %q; the components are %s", version, component, strings.Join(sortedKeys(cs), ", "))
	}
	return v, nil
}

// Images lists the controller images a Flux release runs for the given
// components (DefaultComponents when empty), under registry (DefaultRegistry
// when empty), like ghcr.io/fluxcd/source-controller:v1.7.3. A registry cache
// that should serve Flux (`plex-registry warm --flux VERSION`) warms these.
func Images(version, registry string, components []string) ([]string, error) {
	if registry == "" {
		registry = DefaultRegistry
	}
	if len(components) == 0 {
		components = DefaultComponents
	}
	registry = strings.TrimSuffix(registry, "/")
	out := make([]string, 0, len(components))
	for _, c := range components {
		v, err := ControllerVersion(version, c)
		if err != nil {
			return nil, err
		}
		out = append(out, registry+"/"+c+":"+v)
	}
	return out, nil
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
