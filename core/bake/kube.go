package bake

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/plex-dev/plex/core/incus"
	"github.com/plex-dev/plex/core/internal/action"
	"github.com/plex-dev/plex/core/internal/digest"
)

// The kube node type: containerd, runc and the CNI plugins from the base's
// packages, and kubeadm, kubelet and kubectl of the chosen version.

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

func kubeType() nodeType {
	return nodeType{
		scripts:    []string{"kube-provision.sh", "kube-verify.sh", "clean.sh"},
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
	return []action.Action{
		b.step("binaries", fmt.Sprintf("install kubeadm, kubelet, kubectl %s from %s", b.o.KubernetesVersion, from), b.installBinaries),
		b.step("provision", "install packages, configure containerd, sysctls and kubelet", b.kubeProvision),
		b.step("verify", "verify kubeadm, kubelet and containerd in "+b.instance, b.kubeVerify),
	}
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

func (b *baker) kubeProvision(ctx context.Context) error {
	if err := b.runProvision(ctx, "kube-provision.sh", "containerd-version", "containerd version"); err != nil {
		return err
	}
	b.log.Infof("   containerd %s, restrict_oom_score_adj=%s", b.facts["containerd-version"], b.facts["restrict-oom-score-adj"])
	return nil
}

func (b *baker) kubeVerify(ctx context.Context) error {
	return b.runCheck(ctx, "kube-verify.sh", map[string]string{
		"PLEX_KUBE_VERSION":           b.o.KubernetesVersion,
		"PLEX_CONTAINERD_CONFIG_PATH": kubeSettings["PLEX_CONTAINERD_CONFIG_PATH"],
	})
}

func (b *baker) kubeProperties() map[string]string {
	p := map[string]string{
		incus.PropKubernetesVersion: b.o.KubernetesVersion,
		incus.PropContainerdVersion: b.facts["containerd-version"],
	}
	if b.facts["restrict-oom-score-adj"] == "true" {
		p[incus.PropRestrictOOMScoreAdj] = "true"
	}
	bp := b.base.Properties
	p["description"] = description("plex %s node: %s %s, Kubernetes %s, containerd %s (inputs %s)",
		b.o.Type, bp["os"], bp["release"], b.o.KubernetesVersion, b.facts["containerd-version"], short(b.hash))
	return p
}
