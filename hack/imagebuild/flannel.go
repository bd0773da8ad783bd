package main

import (
	"fmt"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// flannel's two images, rebuilt under registry.k8s.io/plex-e2e/ (which nodes
// pull through the harness mirror) from the binaries hack/flannel-artifacts.sh
// builds into --flannel-bin-dir:
//
//	plex-e2e/flannel:<V>             /opt/bin/flanneld and /opt/bin/install-conf,
//	                                 as upstream's image has them, with iptables:
//	                                 flanneld (EnableNFTables false) runs iptables,
//	                                 iptables-save and iptables-restore through
//	                                 go-iptables for its masquerade and forward rules
//	plex-e2e/flannel-cni-plugin:<V>  the CNI plugin at /flannel, as upstream's
//	                                 flannel-cni-plugin image has it, and
//	                                 /opt/bin/install-conf to copy it
//
// Upstream's CNI-plugin image copies the plugin with busybox's `cp -f`; there
// is no busybox here, so the rendered manifest (test/e2e/flannelrender) runs
// install-conf instead, flannel's own atomic copy that keeps the file mode.
// iptables comes from --iptables-root in --iptables-mode, as for kube-proxy,
// so that both write through the same backend.

// flannelComponents lists the images --flannel-bin-dir builds.
func flannelComponents(o *options) []component {
	return []component{
		{binary: "flanneld", repo: "plex-e2e/flannel", tag: o.flannelTag, flannel: layoutFlanneld},
		{binary: "flannel", repo: "plex-e2e/flannel-cni-plugin", tag: o.flannelCNITag, flannel: layoutFlannelCNI},
	}
}

// prepareFlannel lays out one of flannel's images.
func prepareFlannel(c component, o *options) (*recipe, error) {
	cfg, err := baseConfig(c)
	if err != nil {
		return nil, err
	}
	t := baseTree()
	note, err := c.flannel(o, t, &cfg.Config)
	if err != nil {
		return nil, fmt.Errorf("building %s: %w", c.ref(), err)
	}
	return &recipe{tree: t, cfg: cfg, note: "plex hack/imagebuild: " + note}, nil
}

// addFlannelBin copies name from --flannel-bin-dir to dest in t.
func addFlannelBin(o *options, t fileTree, name, dest string) error {
	src := filepath.Join(o.flannelBinDir, name)
	fi, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("%w (run hack/flannel-artifacts.sh first)", err)
	}
	t.copyFile(dest, src, fi.Mode().Perm()|0o555)
	return nil
}

func layoutFlanneld(o *options, t fileTree, cfg *v1.Config) (string, error) {
	if err := addFlannelBin(o, t, "flanneld", "opt/bin/flanneld"); err != nil {
		return "", err
	}
	if err := addFlannelBin(o, t, "install-conf", "opt/bin/install-conf"); err != nil {
		return "", err
	}
	if o.iptablesRoot == "" {
		return "", fmt.Errorf("--iptables-root is required: flanneld runs iptables (a directory with Debian's iptables packages unpacked, as hack/k8s-images.sh makes)")
	}
	if err := addIptables(t, o.iptablesRoot, o.iptablesMode); err != nil {
		return "", err
	}
	// flanneld keeps its subnet lease file in /run/flannel (a hostPath mount).
	t.dir("run/flannel", 0o755)
	cfg.Entrypoint = []string{"/opt/bin/flanneld"}
	return "flanneld, install-conf + iptables (" + o.iptablesMode + ")", nil
}

func layoutFlannelCNI(o *options, t fileTree, cfg *v1.Config) (string, error) {
	if err := addFlannelBin(o, t, "flannel", "flannel"); err != nil {
		return "", err
	}
	if err := addFlannelBin(o, t, "install-conf", "opt/bin/install-conf"); err != nil {
		return "", err
	}
	cfg.Entrypoint = []string{"/opt/bin/install-conf"}
	return "flannel CNI plugin, install-conf", nil
}
