package cluster

import (
	"context"
	"fmt"
	"os"

	"github.com/plex-dev/plex/core/cni"
	"github.com/plex-dev/plex/core/incus"
	"github.com/plex-dev/plex/core/kubeadm"
	"github.com/plex-dev/plex/core/nodefiles"
	"github.com/plex-dev/plex/core/plan"
	"github.com/plex-dev/plex/core/spec"
)

// Paths inside a node.
const (
	adminConfPath   = "/etc/kubernetes/admin.conf"
	kubeletConfPath = "/etc/kubernetes/kubelet.conf"
	caCertPath      = "/etc/kubernetes/pki/ca.crt"
	kubeadmDir      = "/etc/plex"
	conflistPath    = "/etc/cni/net.d/10-plex.conflist"
	// routesDropIn persists the pod routes beside the node's networkd file
	// for eth0 (nodefiles.NetworkFile).
	routesDropIn = nodefiles.NetworkFile + ".d/" + cni.DropInName
)

// fileExists reports whether a path exists in a node.
func (r *run) fileExists(ctx context.Context, node, path string) (bool, error) {
	code, err := r.srv.Exec(ctx, node, []string{"test", "-e", path}, incus.ExecOptions{})
	if err != nil {
		return false, err
	}
	return code == 0, nil
}

// findControlPlane finds the control-plane node kubeadm works on: the first
// that has been initialised, or, when none has, the first, which
// kubeadmInit then initialises. A node this run created has not been, and is
// not asked.
func (r *run) findControlPlane(ctx context.Context) error {
	cps := controlPlaneNodes(r.px)
	if len(cps) == 0 {
		return fmt.Errorf("plex %s has no control-plane node", r.px.Name)
	}
	for _, n := range cps {
		if r.isFresh(n.Name) {
			continue
		}
		done, err := r.fileExists(ctx, n.Name, adminConfPath)
		if err != nil {
			return err
		}
		if done {
			r.cp, r.initialised = n, true
			return nil
		}
	}
	r.cp, r.initialised = cps[0], false
	return nil
}

// kubeadmInit runs kubeadm init on the control plane. With three control
// planes the certificates are uploaded, encrypted, for the others to join.
func (r *run) kubeadmInit(ctx context.Context) error {
	r.markChanged()
	token, err := kubeadm.NewToken()
	if err != nil {
		return err
	}
	opts := kubeadm.InitOptions{
		Token:               token,
		CgroupV1:            r.facts.CgroupV1,
		RestrictOOMScoreAdj: r.facts.RestrictOOMScoreAdj,
	}
	args := []string{"kubeadm", "init", "--config", kubeadmDir + "/kubeadm-init.yaml", "--skip-token-print"}
	if len(controlPlaneNodes(r.px)) > 1 {
		if opts.CertificateKey, err = kubeadm.NewCertificateKey(); err != nil {
			return err
		}
		args = append(args, "--upload-certs", "--skip-certificate-key-print")
	}
	cfg, err := kubeadm.InitConfig(r.px, r.cp, opts)
	if err != nil {
		return err
	}
	if err := r.srv.PushFile(ctx, r.cp.Name, kubeadmDir+"/kubeadm-init.yaml", cfg, 0o600); err != nil {
		return err
	}
	if _, err = r.srv.Run(ctx, r.cp.Name, args...); err != nil {
		return err
	}
	r.initToken = token
	return nil
}

// readAdmin reads the admin kubeconfig, for the API calls that follow.
func (r *run) readAdmin(ctx context.Context) (err error) {
	r.admin, err = r.adminConfig(ctx, r.cp)
	return err
}

// adminConfig reads the cluster's admin kubeconfig from the control plane.
func (r *run) adminConfig(ctx context.Context, cp plan.Node) ([]byte, error) {
	b, err := r.srv.PullFile(ctx, cp.Name, adminConfPath)
	if err != nil {
		return nil, fmt.Errorf("reading the admin kubeconfig from %s: %w", cp.Name, err)
	}
	return b, nil
}

// routesToSync reports whether a node has a bridge pod network to bring in
// line: one that this run did not create with it.
func (r *run) routesToSync() bool {
	if r.px.CNI != spec.CNIBridge {
		return false
	}
	for _, n := range r.podNetwork() {
		if !r.isFresh(n.Name) {
			return true
		}
	}
	return false
}

// syncRoutes brings every node's pod network in line with the plan.
func (r *run) syncRoutes(ctx context.Context) error { return r.syncNetwork(ctx, r.podNetwork()) }

// syncNetwork writes each node's CNI config, brings the routes to the other
// nodes' pod CIDRs in line with present, and masquerades what pods send
// outside the plex (cni.MasqScript), live and across reboots. A node this
// run created is left out: it booted with the same files (instanceSpec).
func (r *run) syncNetwork(ctx context.Context, present []plan.Node) error {
	if r.px.CNI != spec.CNIBridge {
		return nil
	}
	var running []plan.Node
	for _, n := range present {
		if !r.isFresh(n.Name) {
			running = append(running, n)
		}
	}
	return r.eachNode(ctx, running, func(n plan.Node) error {
		files, routes, err := r.podNetworkFiles(n, present)
		if err != nil {
			return err
		}
		if err := r.pushFiles(ctx, n.Name, files); err != nil {
			return err
		}
		// Live now, and at every boot through the unit. Enabling reloads
		// systemd (half a second of CPU), so only a unit not yet enabled is:
		// a node plex created has it enabled by a drop-in
		// (nodefiles.WantedAtBoot).
		script := cni.RouteScript(r.px, routes, "eth0") +
			"sh " + cni.MasqScriptPath + "\n[ -e " + nodefiles.WantedAtBootPath(cni.MasqUnitName) + " ] || systemctl is-enabled --quiet " + cni.MasqUnitName +
			" || systemctl enable --quiet " + cni.MasqUnitName + "\n"
		_, err = r.srv.Run(ctx, n.Name, "sh", "-c", script)
		return err
	})
}

// podNetworkFiles are node n's files of the bridge CNI: its conflist, the
// networkd drop-in with the routes to the pod CIDRs of the nodes in present,
// and the masquerade script and its unit (not enabled).
func (r *run) podNetworkFiles(n plan.Node, present []plan.Node) ([]nodefiles.File, []cni.Route, error) {
	conf, err := cni.Conflist(r.px, n)
	if err != nil {
		return nil, nil, err
	}
	masq, err := cni.MasqScript(r.px)
	if err != nil {
		return nil, nil, err
	}
	routes := cni.Routes(r.px, n, present)
	return []nodefiles.File{
		{Path: conflistPath, Mode: 0o644, Content: conf},
		{Path: routesDropIn, Mode: 0o644, Content: cni.NetworkdDropIn(routes)},
		{Path: cni.MasqScriptPath, Mode: 0o755, Content: []byte(masq)},
		{Path: cni.MasqUnitPath, Mode: 0o644, Content: []byte(cni.MasqUnit())},
	}, routes, nil
}

// cniManifestPath is where a user's CNI manifest is put on the control plane.
const cniManifestPath = kubeadmDir + "/cni.yaml"

// applyCNIManifest applies the user's CNI manifest (cni: manifest) with the
// control plane's kubectl. kubectl apply is idempotent, so every run does it.
func (r *run) applyCNIManifest(ctx context.Context) error {
	b, err := os.ReadFile(r.px.CNIManifest)
	if err != nil {
		return fmt.Errorf("reading cniManifest: %w", err)
	}
	if err := r.srv.PushFile(ctx, r.cp.Name, cniManifestPath, b, 0o600); err != nil {
		return err
	}
	_, err = r.srv.Run(ctx, r.cp.Name, "kubectl", "--kubeconfig", adminConfPath, "apply", "-f", cniManifestPath)
	return err
}
