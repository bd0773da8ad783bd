package cluster

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/plex-dev/plex/core/cni"
	"github.com/plex-dev/plex/core/incus"
	"github.com/plex-dev/plex/core/kubeadm"
	"github.com/plex-dev/plex/core/plan"
)

// Paths inside a node.
const (
	adminConfPath   = "/etc/kubernetes/admin.conf"
	kubeletConfPath = "/etc/kubernetes/kubelet.conf"
	caCertPath      = "/etc/kubernetes/pki/ca.crt"
	kubeadmDir      = "/etc/plex"
	conflistPath    = "/etc/cni/net.d/10-plex.conflist"
	// routesDropIn persists the pod routes next to the networkd file that
	// cloud-init renders for eth0.
	routesDropIn = "/etc/systemd/network/10-cloud-init-eth0.network.d/50-plex-routes.conf"
)

// fileExists reports whether a path exists in a node.
func (r *run) fileExists(ctx context.Context, node, path string) (bool, error) {
	code, err := r.srv.Exec(ctx, node, []string{"test", "-e", path}, incus.ExecOptions{})
	if err != nil {
		return false, err
	}
	return code == 0, nil
}

// initControlPlane returns a control-plane node of the running cluster:
// the first one that has been initialised, or, when none has, the first
// control-plane node after running kubeadm init on it. With three control
// planes the certificates are uploaded, encrypted, for the others to join.
func (r *run) initControlPlane(ctx context.Context, facts nodeFacts) (plan.Node, error) {
	cps := controlPlaneNodes(r.px)
	if len(cps) == 0 {
		return plan.Node{}, fmt.Errorf("plex %s has no control-plane node", r.px.Name)
	}
	for _, n := range cps {
		done, err := r.fileExists(ctx, n.Name, adminConfPath)
		if err != nil {
			return n, err
		}
		if done {
			return n, nil
		}
	}
	cp := cps[0]
	r.markChanged()
	return cp, r.step("kubeadm init on "+cp.Name, func() error {
		token, err := kubeadm.NewToken()
		if err != nil {
			return err
		}
		opts := kubeadm.InitOptions{
			Token:               token,
			CgroupV1:            facts.CgroupV1,
			RestrictOOMScoreAdj: facts.RestrictOOMScoreAdj,
		}
		args := []string{"kubeadm", "init", "--config", kubeadmDir + "/kubeadm-init.yaml", "--skip-token-print"}
		if len(cps) > 1 {
			if opts.CertificateKey, err = kubeadm.NewCertificateKey(); err != nil {
				return err
			}
			args = append(args, "--upload-certs", "--skip-certificate-key-print")
		}
		cfg, err := kubeadm.InitConfig(r.px, cp, opts)
		if err != nil {
			return err
		}
		if err := r.srv.PushFile(ctx, cp.Name, kubeadmDir+"/kubeadm-init.yaml", cfg, 0o600); err != nil {
			return err
		}
		_, err = r.srv.Run(ctx, cp.Name, args...)
		return err
	})
}

// joinNodes joins every node of nodes that has not joined yet with one fresh
// short-lived token, pinned to the cluster CA: control-plane nodes one at a
// time (etcd grows one member at a time), then workers in parallel.
func (r *run) joinNodes(ctx context.Context, cp plan.Node, facts nodeFacts, nodes []plan.Node) error {
	var cps, workers []plan.Node
	for _, n := range nodes {
		if n.Name == cp.Name {
			continue
		}
		done, err := r.fileExists(ctx, n.Name, kubeletConfPath)
		if err != nil {
			return err
		}
		switch {
		case done:
		case n.Role == plan.RoleControlPlane:
			cps = append(cps, n)
		default:
			workers = append(workers, n)
		}
	}
	if len(cps)+len(workers) == 0 {
		return nil
	}
	r.markChanged()
	// kubeadm makes the token and prints it: a token on the command line
	// would show in the error of a failed command.
	out, err := r.srv.Run(ctx, cp.Name, "kubeadm", "token", "create", "--ttl", "15m", "--description", "plex join")
	if err != nil {
		return fmt.Errorf("creating a join token: %w", err)
	}
	token, err := kubeadm.TokenFromOutput(out)
	if err != nil {
		return err
	}
	// kubeadm join's discovery needs the token's signature in
	// kube-public/cluster-info, which the controller-manager's bootstrap
	// signer adds, and retries only every 5 s. Right after init the
	// controller-manager is still starting, so wait for it here, at a finer
	// grain, before the joins start.
	admin, err := r.adminConfig(ctx, cp)
	if err != nil {
		return err
	}
	if err := r.step("waiting for the join token's signature in cluster-info", func() error {
		return r.seams.tokenSigned(ctx, admin, token, tokenSignTimeout)
	}); err != nil {
		return err
	}
	ca, err := r.srv.PullFile(ctx, cp.Name, caCertPath)
	if err != nil {
		return err
	}
	hash, err := kubeadm.CACertHash(ca)
	if err != nil {
		return err
	}
	join := func(n plan.Node, o kubeadm.JoinOptions) error {
		cfg, err := kubeadm.JoinConfig(r.px, n, o)
		if err != nil {
			return err
		}
		if err := r.srv.PushFile(ctx, n.Name, kubeadmDir+"/kubeadm-join.yaml", cfg, 0o600); err != nil {
			return err
		}
		_, err = r.srv.Run(ctx, n.Name, "kubeadm", "join", "--config", kubeadmDir+"/kubeadm-join.yaml")
		return err
	}
	if len(cps) > 0 {
		// The certificates uploaded at init expire after two hours: upload
		// them again under a fresh key for these joins.
		key, err := kubeadm.NewCertificateKey()
		if err != nil {
			return err
		}
		if err := r.step("uploading control-plane certificates on "+cp.Name, func() error {
			// The key goes in a 0600 config file, not on the command line.
			cfg, err := kubeadm.InitConfig(r.px, cp, kubeadm.InitOptions{
				Token:               token,
				CertificateKey:      key,
				CgroupV1:            facts.CgroupV1,
				RestrictOOMScoreAdj: facts.RestrictOOMScoreAdj,
			})
			if err != nil {
				return err
			}
			const path = kubeadmDir + "/kubeadm-upload-certs.yaml"
			if err := r.srv.PushFile(ctx, cp.Name, path, cfg, 0o600); err != nil {
				return err
			}
			_, err = r.srv.Run(ctx, cp.Name, "kubeadm", "init", "phase", "upload-certs", "--upload-certs", "--config", path, "--skip-certificate-key-print")
			return err
		}); err != nil {
			return err
		}
		for _, n := range cps {
			if err := r.step("joining control-plane node "+n.Name, func() error {
				// A join that failed before may have left a member for this
				// address behind; etcd would then wait for it forever.
				if err := removeEtcdMember(ctx, r.srv, cp.Name, []plan.Node{cp}, n.Name, n.Address); err != nil {
					return err
				}
				return join(n, kubeadm.JoinOptions{Token: token, CACertHash: hash, ControlPlane: true, CertificateKey: key})
			}); err != nil {
				return err
			}
		}
	}
	if len(workers) == 0 {
		return nil
	}
	return r.step(fmt.Sprintf("joining %d node(s) %s", len(workers), strings.Join(nodeNames(workers), ", ")), func() error {
		return parallel(workers, func(n plan.Node) error {
			return join(n, kubeadm.JoinOptions{Token: token, CACertHash: hash})
		})
	})
}

// adminConfig reads the cluster's admin kubeconfig from the control plane.
func (r *run) adminConfig(ctx context.Context, cp plan.Node) ([]byte, error) {
	b, err := r.srv.PullFile(ctx, cp.Name, adminConfPath)
	if err != nil {
		return nil, fmt.Errorf("reading the admin kubeconfig from %s: %w", cp.Name, err)
	}
	return b, nil
}

// syncNetwork writes each node's CNI config, brings the routes to the other
// nodes' pod CIDRs in line with present, and masquerades what pods send
// outside the plex (cni.MasqScript), live and across reboots.
func (r *run) syncNetwork(ctx context.Context, present []plan.Node) error {
	if r.px.CNI != "bridge" {
		return nil
	}
	return parallel(present, func(n plan.Node) error {
		conf, err := cni.Conflist(r.px, n)
		if err != nil {
			return err
		}
		if err := r.srv.PushFile(ctx, n.Name, conflistPath, conf, 0o644); err != nil {
			return err
		}
		routes := cni.Routes(r.px, n, present)
		if err := r.srv.PushFile(ctx, n.Name, routesDropIn, cni.NetworkdDropIn(routes), 0o644); err != nil {
			return err
		}
		masq, err := cni.MasqScript(r.px)
		if err != nil {
			return err
		}
		if err := r.srv.PushFile(ctx, n.Name, cni.MasqScriptPath, []byte(masq), 0o755); err != nil {
			return err
		}
		if err := r.srv.PushFile(ctx, n.Name, cni.MasqUnitPath, []byte(cni.MasqUnit()), 0o644); err != nil {
			return err
		}
		// Live now, and at every boot through the unit.
		script := cni.RouteScript(r.px, routes, "eth0") +
			"sh " + cni.MasqScriptPath + "\nsystemctl enable --quiet " + cni.MasqUnitName + "\n"
		_, err = r.srv.Run(ctx, n.Name, "sh", "-c", script)
		return err
	})
}

// cniManifestPath is where a user's CNI manifest is put on the control plane.
const cniManifestPath = kubeadmDir + "/cni.yaml"

// applyCNIManifest applies the user's CNI manifest (cni: manifest) with the
// control plane's kubectl. kubectl apply is idempotent, so every run does it.
func (r *run) applyCNIManifest(ctx context.Context, cp plan.Node) error {
	if r.px.CNI != "manifest" {
		return nil
	}
	return r.step("applying CNI manifest "+r.px.CNIManifest, func() error {
		b, err := os.ReadFile(r.px.CNIManifest)
		if err != nil {
			return fmt.Errorf("reading cniManifest: %w", err)
		}
		if err := r.srv.PushFile(ctx, cp.Name, cniManifestPath, b, 0o600); err != nil {
			return err
		}
		_, err = r.srv.Run(ctx, cp.Name, "kubectl", "--kubeconfig", adminConfPath, "apply", "-f", cniManifestPath)
		return err
	})
}
