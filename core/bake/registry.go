package bake

import (
	"context"

	"github.com/plex-dev/plex/core/incus"
	"github.com/plex-dev/plex/core/internal/action"
)

// The registry node type: the image plex-registry creates its read-through
// cache from (see core/registry). It carries the CNCF distribution registry
// from the base's packages, with the package's own service masked.

// PropDistributionVersion is the docker-registry package version of a
// registry image.
const PropDistributionVersion = incus.LabelPrefix + "distribution-version"

// registrySettings are handed to registry-provision.sh and hashed into the
// inputs.
func registrySettings(Options) map[string]string {
	return map[string]string{"PLEX_PACKAGES": "docker-registry ca-certificates"}
}

func registryType() nodeType {
	return nodeType{
		scripts:    []string{"registry-provision.sh", "registry-verify.sh", "clean.sh"},
		settings:   registrySettings,
		middle:     (*baker).registryActions,
		properties: (*baker).registryProperties,
	}
}

func (b *baker) registryActions() []action.Action {
	return []action.Action{
		b.step("provision", "install the distribution registry (docker-registry) and mask its service", b.registryProvision),
		b.step("verify", "verify the registry in "+b.instance, func(ctx context.Context) error {
			return b.runCheck(ctx, "registry-verify.sh", nil)
		}),
	}
}

func (b *baker) registryProvision(ctx context.Context) error {
	if err := b.runProvision(ctx, "registry-provision.sh", "distribution-version", "docker-registry version"); err != nil {
		return err
	}
	b.log.Infof("   docker-registry %s", b.facts["distribution-version"])
	return nil
}

func (b *baker) registryProperties() map[string]string {
	bp := b.base.Properties
	return map[string]string{
		PropDistributionVersion: b.facts["distribution-version"],
		"description": description("plex registry cache: %s %s, docker-registry %s (inputs %s)",
			bp["os"], bp["release"], b.facts["distribution-version"], short(b.hash)),
	}
}
