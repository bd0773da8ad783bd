package bake

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/plex-dev/plex/core/incus"
	"github.com/plex-dev/plex/core/status"
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
	o := b.o
	from := "the upstream release downloads"
	if o.KubeArtifacts != "" {
		from = o.KubeArtifacts
	}
	return []step{
		{"resolve", "resolve base image " + o.Base, b.resolveBase},
		{"inputs", "compute the inputs hash", b.computeInputs},
		{"cache", "look for " + o.Alias + " with these inputs", b.checkCache},
		{"lock", fmt.Sprintf("create transient instance %s (locks %s)", b.instance, o.Alias), b.lock},
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
	}
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

// lock creates the transient instance. Its name is the lock: a second bake
// of the same alias finds it and waits (Wait) or refuses with what to do.
func (b *baker) lock(ctx context.Context) error {
	id := strconv.FormatInt(time.Now().UnixNano(), 36) + "-" + strconv.Itoa(os.Getpid())
	cfg := map[string]string{
		incus.LabelManaged:     "true",
		incus.LabelType:        b.o.Type,
		incus.LabelBake:        b.o.Alias,
		incus.LabelBakeStarted: time.Now().UTC().Format(time.RFC3339),
		incus.LabelBakeID:      id,
	}
	if !b.o.VM {
		cfg["security.privileged"] = "true"
		cfg["security.nesting"] = "true"
		cfg["raw.lxc"] = rawLXC
	}
	spec := incus.InstanceSpec{
		Name: b.instance, Fingerprint: b.base.Fingerprint, VM: b.o.VM, Config: cfg,
		ImageServer: b.base.Server, ImageProtocol: b.base.Protocol,
	}
	waited := false
	for {
		err := b.srv.CreateInstance(ctx, spec)
		if err == nil {
			break
		}
		holder, gerr := b.srv.GetInstance(ctx, b.instance)
		if gerr != nil {
			return err
		}
		if holder.Config[incus.LabelBakeID] == id {
			// Ours, half made (cancelled while creating).
			b.onFailure("instance", "transient instance "+b.instance, b.deleteInstanceNow)
			return err
		}
		if holder.Config[incus.LabelBake] != b.o.Alias {
			return fmt.Errorf("instance %s exists and is not a plex bake of %s; rename or delete it, or bake under another --alias", b.instance, b.o.Alias)
		}
		since := "at an unknown time"
		if t, perr := time.Parse(time.RFC3339, holder.Config[incus.LabelBakeStarted]); perr == nil {
			since = time.Since(t).Round(time.Second).String() + " ago"
		}
		if !b.o.Wait {
			return fmt.Errorf("another bake of %s is running in instance %s (started %s); wait for it with --wait, or, if no bake is running any more (a killed bake leaves its instance behind), remove it with `incus delete --force %s`", b.o.Alias, b.instance, since, b.instance)
		}
		if !waited {
			b.log.Infof("   another bake of %s runs in %s (started %s); waiting for it (--wait)", b.o.Alias, b.instance, since)
			waited = true
		}
		if err := b.waitGone(ctx); err != nil {
			return err
		}
	}
	b.onFailure("instance", "transient instance "+b.instance, b.deleteInstanceNow)
	if waited && !b.o.Force {
		// The bake we waited for may have made just this image.
		if img, err := b.srv.ImageByAlias(ctx, b.o.Alias); err == nil && img.Properties[incus.PropInputs] == b.hash {
			b.cached, b.fingerprint, b.props = true, img.Fingerprint, plexProps(img.Properties)
			b.log.Infof("   the other bake made %s with these inputs (image %s); nothing to do", b.o.Alias, short(img.Fingerprint))
			b.commit("instance")
			return b.srv.Delete(ctx, b.instance)
		}
	}
	return nil
}

// waitGone waits until the transient instance no longer exists.
func (b *baker) waitGone(ctx context.Context) error {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		if _, err := b.srv.GetInstance(ctx, b.instance); incus.IsNotFound(err) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the other bake in %s: %w", b.instance, ctx.Err())
		case <-t.C:
		}
	}
}

func (b *baker) waitBoot(ctx context.Context) error {
	if _, err := b.exec(ctx, scriptTimeout, nil, "mkdir", "-p", scriptDir); err != nil {
		return err
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
		sum, err := fileSHA256(a.Path)
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
	env := map[string]string{}
	for k, v := range kubeSettings {
		env[k] = v
	}
	if b.o.AptProxy != "" {
		env["PLEX_APT_PROXY"] = b.o.AptProxy
	}
	out, err := b.runScript(ctx, "kube-provision.sh", provisionTimeout, env)
	if err != nil {
		return err
	}
	b.facts = parseFacts(out)
	if b.facts["containerd-version"] == "" {
		return fmt.Errorf("kube-provision.sh reported no containerd version:\n%s", tail(out, 2000))
	}
	b.log.Infof("   containerd %s, restrict_oom_score_adj=%s", b.facts["containerd-version"], b.facts["restrict-oom-score-adj"])
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
	b.onFailure("image", "image "+short(fp), func(ctx context.Context) error { return b.srv.DeleteImage(ctx, fp) })
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

// runScript runs one of the pushed scripts with env and returns its output;
// a non-zero exit is an *incus.ExecError carrying the output's tail.
func (b *baker) runScript(ctx context.Context, name string, timeout time.Duration, env map[string]string) (string, error) {
	return b.exec(ctx, timeout, env, "/bin/sh", scriptDir+"/"+name)
}

func (b *baker) exec(ctx context.Context, timeout time.Duration, env map[string]string, cmd ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out := &outputLog{log: b.log}
	code, err := b.srv.Exec(ctx, b.instance, cmd, incus.ExecOptions{Stdout: out, Stderr: out, Env: env})
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			return out.String(), fmt.Errorf("%s did not finish in %s:\n%s", strings.Join(cmd, " "), timeout, tail(out.String(), 2000))
		}
		return out.String(), err
	}
	if code != 0 {
		return out.String(), &incus.ExecError{Instance: b.instance, Command: cmd, Code: code, Output: out.String()}
	}
	return out.String(), nil
}

// outputLog collects a command's output and, in verbose mode, shows it line
// by line as it comes.
type outputLog struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	partial []byte
	log     *status.Logger
}

func (w *outputLog) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		w.log.Debugf("   | %s", w.partial[:i])
		w.partial = w.partial[i+1:]
	}
	return len(p), nil
}

func (w *outputLog) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// parseFacts reads the "plex-fact KEY=VALUE" lines of a script's output.
func parseFacts(out string) map[string]string {
	facts := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		kv, ok := strings.CutPrefix(strings.TrimSpace(line), "plex-fact ")
		if !ok {
			continue
		}
		if k, v, ok := strings.Cut(kv, "="); ok {
			facts[k] = v
		}
	}
	return facts
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
