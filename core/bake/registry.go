package bake

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/plex-dev/plex/core/incus"
)

// The registry node type: the image plex-registry creates its read-through
// cache from (see core/registry). It carries the CNCF distribution registry
// from the base's packages, with the package's own service masked.

// PropDistributionVersion is the docker-registry package version of a
// registry image.
const PropDistributionVersion = incus.LabelPrefix + "distribution-version"

// registrySettings are handed to registry-provision.sh and hashed into the
// inputs.
var registrySettings = map[string]string{
	"PLEX_PACKAGES": "docker-registry ca-certificates",
}

func init() {
	typeScripts[TypeRegistry] = []string{"wait-boot.sh", "registry-provision.sh", "registry-verify.sh", "clean.sh"}
}

// registrySteps are a registry bake's steps: a kube bake's without the
// Kubernetes binaries.
func (b *baker) registrySteps() []step {
	o := b.o
	steps := []step{
		{"resolve", "resolve base image " + o.Base, b.resolveBase},
		{"inputs", "compute the inputs hash", b.registryInputs},
		{"cache", "look for " + o.Alias + " with these inputs", b.checkCache},
		{"lock", fmt.Sprintf("create transient instance %s (locks %s)", b.instance, o.Alias), b.lock},
	}
	if !o.VM {
		steps = append(steps, step{"files", "write boot-time files into " + b.instance + " (networkd without udev)", b.writeBootFiles})
	}
	return append(steps, []step{
		{"start", "start " + b.instance, func(ctx context.Context) error { return b.srv.Start(ctx, b.instance) }},
		{"boot", "wait for " + b.instance + " to boot", b.waitBoot},
		{"provision", "install the distribution registry (docker-registry) and mask its service", b.registryProvision},
		{"verify", "verify the registry in " + b.instance, b.registryVerify},
		{"clean", "clean instance state (cloud-init, machine-id, SSH host keys, apt caches)", b.clean},
		{"stop", "stop " + b.instance, func(ctx context.Context) error { return b.srv.Shutdown(ctx, b.instance, shutdownTimeout) }},
		{"publish", fmt.Sprintf("publish %s as an image (compression %s)", b.instance, o.Compression), b.registryPublish},
		{"alias", "point " + o.Alias + " at the new image", b.setAlias},
		{"delete", "delete transient instance " + b.instance, b.deleteInstance},
	}...)
}

func (b *baker) registryInputs(ctx context.Context) error {
	in := Inputs{
		Format: FormatVersion, Type: b.o.Type, VM: b.o.VM, BaseFingerprint: b.base.Fingerprint,
		Scripts: map[string]string{}, Settings: registrySettings,
	}
	for _, name := range typeScripts[TypeRegistry] {
		in.Scripts[name] = script(name)
	}
	if !b.o.VM {
		in.Files = bootFiles()
	}
	b.inputs, b.hash = in, in.Hash()
	b.log.Infof("   inputs %s", short(b.hash))
	return nil
}

func (b *baker) registryProvision(ctx context.Context) error {
	if err := b.runProvision(ctx, "registry-provision.sh", registrySettings, "distribution-version", "docker-registry version"); err != nil {
		return err
	}
	b.log.Infof("   docker-registry %s", b.facts["distribution-version"])
	return nil
}

func (b *baker) registryVerify(ctx context.Context) error {
	out, err := b.runScript(ctx, "registry-verify.sh", scriptTimeout, nil)
	if err != nil {
		return err
	}
	b.log.Infof("   %s", lastLine(out))
	return nil
}

func (b *baker) registryPublish(ctx context.Context) error {
	o, bp := b.o, b.base.Properties
	p := map[string]string{
		incus.PropType:            o.Type,
		incus.PropBase:            o.Base,
		incus.PropBaseFingerprint: b.base.Fingerprint,
		incus.PropInputs:          b.hash,
		incus.PropBakeFormat:      strconv.Itoa(FormatVersion),
		PropDistributionVersion:   b.facts["distribution-version"],
	}
	if bp["os"] != "" {
		p["os"] = bp["os"]
	}
	if bp["release"] != "" {
		p["release"] = bp["release"]
	}
	p["description"] = strings.Join(strings.Fields(fmt.Sprintf("plex registry cache: %s %s, docker-registry %s (inputs %s)",
		bp["os"], bp["release"], b.facts["distribution-version"], short(b.hash))), " ")
	b.props = p
	fp, err := b.srv.PublishImage(ctx, incus.PublishSpec{Instance: b.instance, Properties: p, Compression: o.Compression})
	if err != nil {
		return err
	}
	b.fingerprint = fp
	b.onFailure("image", "image "+short(fp), "incus image delete "+fp, func(ctx context.Context) error { return b.srv.DeleteImage(ctx, fp) })
	b.log.Infof("   image %s", short(fp))
	return nil
}
