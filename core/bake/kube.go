package bake

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/plex-dev/plex/core/cloudinit"
	"github.com/plex-dev/plex/core/incus"
	"github.com/plex-dev/plex/core/internal/action"
	"github.com/plex-dev/plex/core/internal/digest"
)

// The kube node type: containerd 2.x, its runc shim and runc from their
// upstream releases (or the base's containerd and runc packages), the CNI
// plugins from the base's packages, and kubeadm, kubelet and kubectl of the
// chosen version.

// kubePackages are installed from the base's mirror for every kube image.
var kubePackages = []string{
	"containernetworking-plugins",
	"conntrack", "iptables", "ethtool", "socat", "ebtables", "kmod",
	"ca-certificates", "procps", "iproute2", "util-linux", "mount",
	"dbus", "systemd-resolved",
	// keepalived holds the API VIP of a three-control-plane plex; it
	// stays off unless plex writes its config.
	"keepalived",
}

// kubeSettings are the runtime/CNI/package choices of a kube image. They
// are handed to kube-provision.sh and hashed into the inputs.
func kubeSettings(o Options) map[string]string {
	s := map[string]string{
		"PLEX_SANDBOX_IMAGE":          "registry.k8s.io/pause:3.10.1",
		"PLEX_CONTAINERD_CONFIG_PATH": "/etc/containerd/certs.d",
		"PLEX_CNI_BIN_DIR":            "/usr/lib/cni",
		"PLEX_CGROUP_DRIVER":          "cgroupfs",
	}
	if o.PreloadImages {
		s["PLEX_PRELOAD_IMAGES"] = "true"
		if o.PreloadMirror != "" {
			s["PLEX_PRELOAD_MIRROR"] = o.PreloadMirror
		}
	}
	if o.distroRuntime() {
		s["PLEX_RUNTIME"] = "distro"
		s["PLEX_PACKAGES"] = strings.Join(append([]string{"containerd", "runc"}, kubePackages...), " ")
		return s
	}
	s["PLEX_RUNTIME"] = "release"
	s["PLEX_CONTAINERD_VERSION"] = strings.TrimPrefix(o.ContainerdVersion, "v")
	s["PLEX_RUNC_VERSION"] = strings.TrimPrefix(o.RuncVersion, "v")
	// runc links libseccomp (every Debian base has it; named so that a
	// slimmer base gets it too).
	s["PLEX_PACKAGES"] = strings.Join(append([]string{"libseccomp2"}, kubePackages...), " ")
	return s
}

func kubeType() nodeType {
	return nodeType{
		scripts:    []string{"kube-provision.sh", "kube-verify.sh", "kube-images.sh", "clean.sh"},
		settings:   kubeSettings,
		kubernetes: true,
		middle:     (*baker).kubeActions,
		properties: (*baker).kubeProperties,
	}
}

func (b *baker) kubeActions() []action.Action {
	from := "the upstream release downloads"
	if b.o.KubeArtifacts != "" {
		from = b.o.KubeArtifacts
	}
	what := fmt.Sprintf("kubeadm, kubelet, kubectl %s from %s", b.o.KubernetesVersion, from)
	if !b.o.distroRuntime() {
		from = "the upstream release downloads"
		if b.o.RuntimeArtifacts != "" {
			from = b.o.RuntimeArtifacts
		}
		what += fmt.Sprintf("; containerd %s, runc %s from %s", b.o.ContainerdVersion, b.o.RuncVersion, from)
	}
	acts := []action.Action{
		b.step("binaries", "install "+what, b.installBinaries),
		b.step("provision", "install packages, configure containerd, sysctls and kubelet", b.kubeProvision),
		b.step("verify", "verify kubeadm, kubelet and containerd in "+b.instance, b.kubeVerify),
	}
	if b.o.PreloadImages {
		from = "registry.k8s.io"
		if b.o.PreloadMirror != "" {
			from = b.o.PreloadMirror + " (registry.k8s.io's mirror, no fallback)"
		}
		acts = append(acts, b.step("images", fmt.Sprintf("preload the images of kubeadm init and join %s from %s", b.o.KubernetesVersion, from), b.kubeImages))
	}
	return acts
}

// preloadHostsTOML is containerd's hosts.toml that sends registry.k8s.io to
// mirror alone, with the mirror as its server too, so that nothing falls
// back to registry.k8s.io.
func preloadHostsTOML(mirror string) ([]byte, error) {
	return cloudinit.HostsTOML("registry.k8s.io", cloudinit.Mirror{URL: mirror, Server: mirror})
}

// kubeImages pulls the images kubeadm runs into the instance's containerd
// (kube-images.sh), and keeps their list for the image's properties.
func (b *baker) kubeImages(ctx context.Context) error {
	env := map[string]string{"PLEX_KUBE_VERSION": b.o.KubernetesVersion}
	if b.o.PreloadMirror != "" {
		toml, err := preloadHostsTOML(b.o.PreloadMirror)
		if err != nil {
			return err
		}
		env["PLEX_PRELOAD_HOSTS_TOML"] = string(toml)
	}
	out, err := b.runScript(ctx, "kube-images.sh", provisionTimeout, env)
	if err != nil {
		return fmt.Errorf("preloading the images (--preload-images; --preload-mirror names a mirror of registry.k8s.io): %w", err)
	}
	facts := parseFacts(out)
	if facts["preloaded-images"] == "" {
		return fmt.Errorf("kube-images.sh reported no images:\n%s", tail(out, 2000))
	}
	for k, v := range facts {
		b.facts[k] = v
	}
	b.log.Infof("   %d images, %s MiB unpacked", len(strings.Fields(facts["preloaded-images"])), facts["preloaded-mib"])
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
		// The sum was taken when the inputs were hashed (or the file was
		// taken out of a checked tarball); a file changed since would make
		// an image that does not match its inputs.
		sum, err := digest.FileSHA256(a.Path)
		if err == nil && sum != a.fileSum {
			err = fmt.Errorf("%s changed during the bake (sha256 %s, was %s)", a.Path, short(sum), short(a.fileSum))
		}
		if err == nil {
			err = b.srv.PushReader(ctx, b.instance, a.Dest+"/"+a.Name, f, 0o755)
		}
		f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

func (b *baker) kubeProvision(ctx context.Context) error {
	if err := b.runProvision(ctx, "kube-provision.sh", "containerd-version", "containerd version"); err != nil {
		return err
	}
	if b.facts["runc-version"] == "" {
		return fmt.Errorf("kube-provision.sh reported no runc version")
	}
	b.log.Infof("   containerd %s, runc %s, restrict_oom_score_adj=%s", b.facts["containerd-version"], b.facts["runc-version"], b.facts["restrict-oom-score-adj"])
	return nil
}

func (b *baker) kubeVerify(ctx context.Context) error {
	set := kubeSettings(b.o)
	env := map[string]string{"PLEX_KUBE_VERSION": b.o.KubernetesVersion}
	for _, k := range []string{"PLEX_CONTAINERD_CONFIG_PATH", "PLEX_SANDBOX_IMAGE", "PLEX_RUNTIME", "PLEX_CONTAINERD_VERSION", "PLEX_RUNC_VERSION"} {
		if v, ok := set[k]; ok {
			env[k] = v
		}
	}
	return b.runCheck(ctx, "kube-verify.sh", env)
}

func (b *baker) kubeProperties() map[string]string {
	p := map[string]string{
		incus.PropKubernetesVersion: b.o.KubernetesVersion,
		incus.PropContainerdVersion: b.facts["containerd-version"],
		incus.PropRuncVersion:       b.facts["runc-version"],
	}
	if b.facts["restrict-oom-score-adj"] == "true" {
		p[incus.PropRestrictOOMScoreAdj] = "true"
	}
	preloaded := ""
	if imgs := b.facts["preloaded-images"]; imgs != "" {
		p[incus.PropPreloadedImages] = imgs
		preloaded = fmt.Sprintf(", %d images preloaded", len(strings.Fields(imgs)))
	}
	bp := b.base.Properties
	p["description"] = description("plex %s node: %s %s, Kubernetes %s, containerd %s, runc %s%s (inputs %s)",
		b.o.Type, bp["os"], bp["release"], b.o.KubernetesVersion, b.facts["containerd-version"], b.facts["runc-version"], preloaded, short(b.hash))
	return p
}
