package bake

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/plex-dev/plex/core/incus"
	"github.com/plex-dev/plex/core/internal/action"
)

// The actions every node type shares; the type's own are in kube.go and
// registry.go.

// Time limits of the scripts; the boot wait has its own option.
const (
	provisionTimeout = 20 * time.Minute
	scriptTimeout    = 3 * time.Minute
	shutdownTimeout  = 90 * time.Second
)

func (b *baker) resolveBase(ctx context.Context) error {
	img, err := b.srv.ResolveImage(ctx, b.o.Base, b.o.VM)
	if err != nil {
		return err
	}
	b.base = img
	where := "local"
	if !img.Local() {
		where = "remote " + img.Remote
	}
	b.log.Infof("   %s → image %s (%s; %s %s)", b.o.Base, short(img.Fingerprint), where, img.Properties["os"], img.Properties["release"])
	return nil
}

func (b *baker) computeInputs(ctx context.Context) error {
	if b.typ.kubernetes {
		arts, err := b.kubeArtifacts(ctx)
		if err != nil {
			return err
		}
		b.artifacts = arts
	}
	b.inputs = inputsFor(b.o, b.base.Fingerprint, b.artifacts)
	b.hash = b.inputs.Hash()
	b.log.Infof("   inputs %s", short(b.hash))
	return nil
}

// kubeArtifacts finds the binaries of a kube image, with their sums: the
// Kubernetes binaries and, unless the base's packages are used, containerd,
// its shim and runc. Release downloads wait until the binaries step.
func (b *baker) kubeArtifacts(ctx context.Context) ([]artifact, error) {
	var arch string
	if b.o.KubeArtifacts == "" || (b.o.RuntimeArtifacts == "" && !b.o.distroRuntime()) {
		var err error
		if arch, err = b.srv.Architecture(ctx); err != nil {
			return nil, err
		}
	}
	var out []artifact
	var err error
	if b.o.KubeArtifacts != "" {
		out, err = localArtifacts(b.o.KubeArtifacts, kubeBinaries)
	} else {
		out, err = releaseArtifacts(ctx, b.o.HTTPClient, b.o.ReleaseURL, b.o.KubernetesVersion, arch)
	}
	if err != nil || b.o.distroRuntime() {
		return out, err
	}
	var rt []artifact
	if b.o.RuntimeArtifacts != "" {
		rt, err = localArtifacts(b.o.RuntimeArtifacts, runtimeBinaries)
	} else {
		rt, err = runtimeReleaseArtifacts(ctx, b.o.HTTPClient, b.o.ContainerdReleaseURL, b.o.RuncReleaseURL, b.o.ContainerdVersion, b.o.RuncVersion, arch)
	}
	return append(out, rt...), err
}

// inputsFor gathers a bake's inputs.
func inputsFor(o Options, baseFingerprint string, arts []artifact) Inputs {
	t := typeOf(o.Type)
	in := Inputs{
		Format: FormatVersion, Type: o.Type, VM: o.VM, BaseFingerprint: baseFingerprint,
		Scripts: map[string]string{}, Settings: t.settings(o),
	}
	if t.kubernetes {
		in.KubernetesVersion = o.KubernetesVersion
		in.Artifacts = map[string]string{}
		for _, a := range arts {
			in.Artifacts[a.Name] = a.SHA256
		}
	}
	for _, name := range t.scripts {
		in.Scripts[name] = script(name)
	}
	if !o.VM {
		in.Files = bootFiles()
	}
	return in
}

// checkCache ends the bake (action.SkipRest) when the alias's image was
// baked from these inputs.
func (b *baker) checkCache(ctx context.Context) error {
	img, err := b.srv.ImageByAlias(ctx, b.o.Alias)
	if incus.IsNotFound(err) {
		b.log.Infof("   no image %s yet", b.o.Alias)
		return nil
	}
	if err != nil {
		return fmt.Errorf("looking up image %s: %w", b.o.Alias, err)
	}
	b.previous = img
	have := img.Properties[incus.PropInputs]
	switch {
	case have == b.hash && b.o.Force:
		b.log.Infof("   %s (image %s) is up to date; baking again (--force)", b.o.Alias, short(img.Fingerprint))
	case have == b.hash:
		b.cached, b.fingerprint, b.props = true, img.Fingerprint, plexProps(img.Properties)
		b.log.Infof("   %s is up to date: image %s, inputs %s (--force bakes it again)", b.o.Alias, short(img.Fingerprint), short(b.hash))
		return action.SkipRest
	case img.Properties[incus.PropType] == "":
		b.log.Infof("   %s is image %s, which plex did not bake; the alias will move to the new image and that image stays", b.o.Alias, short(img.Fingerprint))
	default:
		b.log.Infof("   %s (image %s, inputs %s) is out of date", b.o.Alias, short(img.Fingerprint), short(have))
	}
	return nil
}

func (b *baker) pushScripts(ctx context.Context) error {
	for _, name := range b.typ.scripts {
		if err := b.srv.PushFile(ctx, b.instance, scriptDir+"/"+name, []byte(script(name)), 0o755); err != nil {
			return err
		}
	}
	return nil
}

// runProvision runs a type's provisioning script with its settings (and the
// apt proxy) in the environment, and keeps the facts it reports; fact (what,
// in words) must be among them, as proof the script got to the end.
func (b *baker) runProvision(ctx context.Context, script, fact, what string) error {
	env := map[string]string{}
	for k, v := range b.typ.settings(b.o) {
		env[k] = v
	}
	if b.o.AptProxy != "" {
		env["PLEX_APT_PROXY"] = b.o.AptProxy
	}
	out, err := b.runScript(ctx, script, provisionTimeout, env)
	if err != nil {
		return err
	}
	b.facts = parseFacts(out)
	if b.facts[fact] == "" {
		return fmt.Errorf("%s reported no %s:\n%s", script, what, tail(out, 2000))
	}
	return nil
}

// runCheck runs a type's verify script and shows its verdict, its last line.
func (b *baker) runCheck(ctx context.Context, script string, env map[string]string) error {
	out, err := b.runScript(ctx, script, scriptTimeout, env)
	if err != nil {
		return err
	}
	b.log.Infof("   %s", lastLine(out))
	return nil
}

func (b *baker) clean(ctx context.Context) error {
	_, err := b.runScript(ctx, "clean.sh", scriptTimeout, nil)
	return err
}

func (b *baker) publish(ctx context.Context) error {
	b.props = b.imageProperties()
	fp, err := b.srv.PublishImage(ctx, incus.PublishSpec{Instance: b.instance, Properties: b.props, Compression: b.o.Compression})
	if err != nil {
		return err
	}
	b.fingerprint = fp
	b.created("image", short(fp), "incus image delete "+fp, func(ctx context.Context) error { return b.srv.DeleteImage(ctx, fp) })
	b.log.Infof("   image %s", short(fp))
	return nil
}

// imageProperties are what the image records about its making: what every
// type records, and the type's own.
func (b *baker) imageProperties() map[string]string {
	p := b.typ.properties(b)
	p[incus.PropType] = b.o.Type
	p[incus.PropBase] = b.o.Base
	p[incus.PropBaseFingerprint] = b.base.Fingerprint
	p[incus.PropInputs] = b.hash
	p[incus.PropBakeFormat] = strconv.Itoa(FormatVersion)
	for _, k := range []string{"os", "release"} {
		if v := b.base.Properties[k]; v != "" {
			p[k] = v
		}
	}
	return p
}

// description is an image description: words in one line, whatever of them
// the base left empty.
func description(format string, args ...any) string {
	return strings.Join(strings.Fields(fmt.Sprintf(format, args...)), " ")
}

// removeInstance deletes the transient instance; one already gone is fine,
// so that it also serves as the undo after the bake's own delete.
func (b *baker) removeInstance(ctx context.Context) error {
	if err := b.srv.Delete(ctx, b.instance); err != nil && !incus.IsNotFound(err) {
		return err
	}
	return nil
}

func (b *baker) setAlias(ctx context.Context) error {
	old, err := b.srv.SetImageAlias(ctx, b.o.Alias, b.fingerprint, fmt.Sprintf("plex %s node image baked from %s", b.o.Type, b.o.Base))
	if err != nil {
		return err
	}
	prev := b.previous
	if old == "" || old == b.fingerprint || prev == nil || prev.Fingerprint != old {
		return nil
	}
	if prev.Properties[incus.PropType] == "" || len(prev.Aliases) > 1 {
		b.log.Infof("   the previous image %s stays (plex did not bake it, or other aliases name it)", short(old))
		return nil
	}
	if err := b.srv.DeleteImage(ctx, old); err != nil {
		b.log.Infof("   could not delete the previous image %s: %v", short(old), err)
		return nil
	}
	b.log.Infof("   deleted the previous image %s", short(old))
	return nil
}

// plexProps keeps an image's user.plex.* properties.
func plexProps(all map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range all {
		if strings.HasPrefix(k, incus.LabelPrefix) {
			out[k] = v
		}
	}
	return out
}

func short(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
