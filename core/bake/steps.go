package bake

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/plex-dev/plex/core/incus"
	"github.com/plex-dev/plex/core/internal/digest"
)

// rawLXC is what kubelet and containerd need in a privileged system
// container (see core/cluster's kube profile): the bake runs them to check
// the image, so the transient instance gets the same settings.
const rawLXC = "lxc.apparmor.profile=unconfined\n" +
	"lxc.cap.drop=\n" +
	"lxc.cgroup.devices.allow=a\n" +
	"lxc.mount.auto=proc:rw sys:rw cgroup:rw:force\n" +
	"lxc.mount.entry=/dev/kmsg dev/kmsg none bind,create=file 0 0\n"

// kubeSettings are the containerd/CNI/package choices of a kube image. They
// are handed to kube-provision.sh and hashed into the inputs.
var kubeSettings = map[string]string{
	"PLEX_PACKAGES": strings.Join([]string{
		"containerd", "runc", "containernetworking-plugins",
		"conntrack", "iptables", "ethtool", "socat", "ebtables", "kmod",
		"ca-certificates", "procps", "iproute2", "util-linux", "mount",
		"dbus", "systemd-resolved",
		// keepalived holds the API VIP of a three-control-plane plex; it
		// stays off unless plex writes its config.
		"keepalived",
	}, " "),
	"PLEX_SANDBOX_IMAGE":          "registry.k8s.io/pause:3.10.1",
	"PLEX_CONTAINERD_CONFIG_PATH": "/etc/containerd/certs.d",
	"PLEX_CNI_BIN_DIR":            "/usr/lib/cni",
	"PLEX_CGROUP_DRIVER":          "cgroupfs",
}

// Time limits of the scripts; the boot wait has its own option.
const (
	provisionTimeout = 20 * time.Minute
	scriptTimeout    = 3 * time.Minute
	shutdownTimeout  = 90 * time.Second
)

// steps lists a bake's steps in order.
func (b *baker) steps() []step {
	if b.o.Type == TypeRegistry {
		return b.registrySteps()
	}
	o := b.o
	from := "the upstream release downloads"
	if o.KubeArtifacts != "" {
		from = o.KubeArtifacts
	}
	steps := []step{
		{"resolve", "resolve base image " + o.Base, b.resolveBase},
		{"inputs", "compute the inputs hash", b.computeInputs},
		{"cache", "look for " + o.Alias + " with these inputs", b.checkCache},
		{"lock", fmt.Sprintf("create transient instance %s (locks %s)", b.instance, o.Alias), b.lock},
	}
	if !o.VM {
		steps = append(steps, step{"files", "write boot-time files into " + b.instance + " (networkd without udev)", b.writeBootFiles})
	}
	return append(steps, []step{
		{"start", "start " + b.instance, func(ctx context.Context) error { return b.srv.Start(ctx, b.instance) }},
		{"boot", "wait for " + b.instance + " to boot", b.waitBoot},
		{"binaries", fmt.Sprintf("install kubeadm, kubelet, kubectl %s from %s", o.KubernetesVersion, from), b.installBinaries},
		{"provision", "install packages, configure containerd, sysctls and kubelet", b.provision},
		{"verify", "verify kubeadm, kubelet and containerd in " + b.instance, b.verify},
		{"clean", "clean instance state (cloud-init, machine-id, SSH host keys, apt caches)", b.clean},
		{"stop", "stop " + b.instance, func(ctx context.Context) error { return b.srv.Shutdown(ctx, b.instance, shutdownTimeout) }},
		{"publish", fmt.Sprintf("publish %s as an image (compression %s)", b.instance, o.Compression), b.publish},
		{"alias", "point " + o.Alias + " at the new image", b.setAlias},
		{"delete", "delete transient instance " + b.instance, b.deleteInstance},
	}...)
}

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
	var err error
	if b.o.KubeArtifacts != "" {
		b.artifacts, err = localArtifacts(b.o.KubeArtifacts)
	} else {
		var arch string
		if arch, err = b.srv.Architecture(ctx); err == nil {
			b.artifacts, err = releaseArtifacts(ctx, b.o.HTTPClient, b.o.ReleaseURL, b.o.KubernetesVersion, arch)
		}
	}
	if err != nil {
		return err
	}
	b.inputs = inputsFor(b.o, b.base.Fingerprint, b.artifacts)
	b.hash = b.inputs.Hash()
	b.log.Infof("   inputs %s", short(b.hash))
	return nil
}

// inputsFor gathers a bake's inputs.
func inputsFor(o Options, baseFingerprint string, arts []artifact) Inputs {
	in := Inputs{
		Format: FormatVersion, Type: o.Type, VM: o.VM, BaseFingerprint: baseFingerprint,
		KubernetesVersion: o.KubernetesVersion, Artifacts: map[string]string{},
		Scripts: map[string]string{}, Settings: kubeSettings,
	}
	for _, a := range arts {
		in.Artifacts[a.Name] = a.SHA256
	}
	for _, name := range typeScripts[o.Type] {
		in.Scripts[name] = script(name)
	}
	if !o.VM {
		in.Files = bootFiles()
	}
	return in
}

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
	case img.Properties[incus.PropType] == "":
		b.log.Infof("   %s is image %s, which plex did not bake; the alias will move to the new image and that image stays", b.o.Alias, short(img.Fingerprint))
	default:
		b.log.Infof("   %s (image %s, inputs %s) is out of date", b.o.Alias, short(img.Fingerprint), short(have))
	}
	return nil
}

// writeBootFiles writes bootFiles into the stopped container, making the
// directories they need.
func (b *baker) writeBootFiles(ctx context.Context) error {
	files := bootFiles()
	for _, p := range sortedKeys(files) {
		var dirs []string
		for d := path.Dir(p); d != "/" && d != "."; d = path.Dir(d) {
			dirs = append([]string{d}, dirs...)
		}
		for _, d := range dirs {
			if err := b.srv.MakeDir(ctx, b.instance, d, 0o755); err != nil {
				return err
			}
		}
		// PushReader, not PushFile: the container is not running, so nothing
		// can be run in it (PushFile makes parents with mkdir -p).
		if err := b.srv.PushReader(ctx, b.instance, p, strings.NewReader(files[p]), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func (b *baker) waitBoot(ctx context.Context) error {
	// A container runs commands at once; a VM only once its agent is up.
	deadline := time.Now().Add(b.o.BootTimeout)
	for {
		_, err := b.exec(ctx, 30*time.Second, nil, "mkdir", "-p", scriptDir)
		if err == nil {
			break
		}
		var ee *incus.ExecError
		if errors.As(err, &ee) || ctx.Err() != nil || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	for _, name := range typeScripts[b.o.Type] {
		if err := b.srv.PushFile(ctx, b.instance, scriptDir+"/"+name, []byte(script(name)), 0o755); err != nil {
			return err
		}
	}
	out, err := b.runScript(ctx, "wait-boot.sh", b.o.BootTimeout+30*time.Second,
		map[string]string{"PLEX_BOOT_TIMEOUT": strconv.Itoa(int(b.o.BootTimeout / time.Second))})
	if err != nil {
		return err
	}
	b.log.Infof("   %s", lastLine(out))
	return nil
}

func (b *baker) installBinaries(ctx context.Context) error {
	for i := range b.artifacts {
		a := &b.artifacts[i]
		if a.Path == "" {
			b.log.Infof("   downloading %s", a.URL)
			if err := a.fetch(ctx, b.o.HTTPClient, b.o.DownloadCache); err != nil {
				return err
			}
		}
		f, err := os.Open(a.Path)
		if err != nil {
			return fmt.Errorf("reading %s: %w", a.Path, err)
		}
		// The sum was taken when the inputs were hashed; a file changed since
		// would make an image that does not match its inputs.
		sum, err := digest.FileSHA256(a.Path)
		if err == nil && sum != a.SHA256 {
			err = fmt.Errorf("%s changed during the bake (sha256 %s, was %s)", a.Path, short(sum), short(a.SHA256))
		}
		if err == nil {
			err = b.srv.PushReader(ctx, b.instance, "/usr/bin/"+a.Name, f, 0o755)
		}
		f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

func (b *baker) provision(ctx context.Context) error {
	if err := b.runProvision(ctx, "kube-provision.sh", kubeSettings, "containerd-version", "containerd version"); err != nil {
		return err
	}
	b.log.Infof("   containerd %s, restrict_oom_score_adj=%s", b.facts["containerd-version"], b.facts["restrict-oom-score-adj"])
	return nil
}

// runProvision runs a type's provisioning script with its settings (and the
// apt proxy) in the environment, and keeps the facts it reports; fact (what,
// in words) must be among them, as proof the script got to the end.
func (b *baker) runProvision(ctx context.Context, script string, settings map[string]string, fact, what string) error {
	env := map[string]string{}
	for k, v := range settings {
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

func (b *baker) verify(ctx context.Context) error {
	out, err := b.runScript(ctx, "kube-verify.sh", scriptTimeout, map[string]string{
		"PLEX_KUBE_VERSION":           b.o.KubernetesVersion,
		"PLEX_CONTAINERD_CONFIG_PATH": kubeSettings["PLEX_CONTAINERD_CONFIG_PATH"],
	})
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
	b.onFailure("image", "image "+short(fp), "incus image delete "+fp, func(ctx context.Context) error { return b.srv.DeleteImage(ctx, fp) })
	b.log.Infof("   image %s", short(fp))
	return nil
}

// imageProperties are what the image records about its making.
func (b *baker) imageProperties() map[string]string {
	o, bp := b.o, b.base.Properties
	p := map[string]string{
		incus.PropType:              o.Type,
		incus.PropBase:              o.Base,
		incus.PropBaseFingerprint:   b.base.Fingerprint,
		incus.PropInputs:            b.hash,
		incus.PropBakeFormat:        strconv.Itoa(FormatVersion),
		incus.PropKubernetesVersion: o.KubernetesVersion,
		incus.PropContainerdVersion: b.facts["containerd-version"],
	}
	if b.facts["restrict-oom-score-adj"] == "true" {
		p[incus.PropRestrictOOMScoreAdj] = "true"
	}
	osName, release := bp["os"], bp["release"]
	if osName != "" {
		p["os"] = osName
	}
	if release != "" {
		p["release"] = release
	}
	p["description"] = strings.Join(strings.Fields(fmt.Sprintf("plex %s node: %s %s, Kubernetes %s, containerd %s (inputs %s)",
		o.Type, osName, release, o.KubernetesVersion, b.facts["containerd-version"], short(b.hash))), " ")
	return p
}

func (b *baker) setAlias(ctx context.Context) error {
	old, err := b.srv.SetImageAlias(ctx, b.o.Alias, b.fingerprint, fmt.Sprintf("plex %s node image baked from %s", b.o.Type, b.o.Base))
	if err != nil {
		return err
	}
	b.commit("image")
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

func (b *baker) deleteInstance(ctx context.Context) error {
	if err := b.srv.Delete(ctx, b.instance); err != nil {
		return err
	}
	b.commit("instance")
	return nil
}

func (b *baker) deleteInstanceNow(ctx context.Context) error { return b.srv.Delete(ctx, b.instance) }

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
