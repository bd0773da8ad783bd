package cluster

import (
	"context"
	"sync"

	"github.com/plex-dev/plex/core/kubeadm"
	"github.com/plex-dev/plex/core/plan"
)

// Nodes join with one fresh short-lived token, pinned to the cluster CA:
// control-plane nodes one at a time (etcd grows one member at a time), then
// workers in parallel. up and join share these steps.

// joinState is what the join steps find and make, for the ones after them.
type joinState struct {
	unjoinedCPs, unjoinedWorkers []plan.Node
	token                        string
	// initToken is the token this run's kubeadm init made (it lives
	// kubeadm.DefaultTokenTTL): the joins right after it use it, without
	// a `kubeadm token create` of their own.
	initToken string
	// discovery is the kubeadm join discovery file: the plex's endpoint
	// and its CA, which the joins trust (kubeadm.DiscoveryKubeconfig).
	discovery []byte
	// certKey encrypts the control-plane certificates uploaded for the
	// control-plane joins.
	certKey string
}

// joining reports whether a node has to join.
func (r *run) joining() bool { return len(r.unjoinedCPs)+len(r.unjoinedWorkers) > 0 }

// joiningControlPlanes reports whether a control-plane node has to join.
func (r *run) joiningControlPlanes() bool { return len(r.unjoinedCPs) > 0 }

// findUnjoined finds the Kubernetes nodes other than the control plane
// that have no kubelet config yet, asking the nodes all at once. A node this
// run created has none, and is not asked.
func (r *run) findUnjoined(ctx context.Context) error {
	r.unjoinedCPs, r.unjoinedWorkers = nil, nil
	var ask []plan.Node
	for _, n := range r.kube {
		if n.Name != r.cp.Name && !r.isFresh(n.Name) {
			ask = append(ask, n)
		}
	}
	var (
		mu     sync.Mutex
		joined = map[string]bool{}
	)
	err := r.eachNode(ctx, ask, func(n plan.Node) error {
		done, err := r.fileExists(ctx, n.Name, kubeletConfPath)
		mu.Lock()
		joined[n.Name] = done
		mu.Unlock()
		return err
	})
	if err != nil {
		return err
	}
	for _, n := range r.kube {
		switch {
		case n.Name == r.cp.Name || joined[n.Name]:
		case n.Role == plan.RoleControlPlane:
			r.unjoinedCPs = append(r.unjoinedCPs, n)
		default:
			r.unjoinedWorkers = append(r.unjoinedWorkers, n)
		}
	}
	return nil
}

// createToken makes the join token and pins the joins to the cluster CA:
// each joining node gets the CA itself in a discovery file, so a join needs
// no signature in kube-public/cluster-info and starts as soon as the API
// answers.
func (r *run) createToken(ctx context.Context) error {
	if r.token = r.initToken; r.token == "" {
		// kubeadm makes the token and prints it: a token on the command
		// line would show in the error of a failed command.
		out, err := r.srv.Run(ctx, r.cp.Name, "kubeadm", "token", "create", "--ttl", "15m", "--description", "plex join")
		if err != nil {
			return err
		}
		if r.token, err = kubeadm.TokenFromOutput(out); err != nil {
			return err
		}
	}
	ca, err := r.srv.PullFile(ctx, r.cp.Name, caCertPath)
	if err != nil {
		return err
	}
	r.discovery, err = kubeadm.DiscoveryKubeconfig(r.px, ca)
	return err
}

// uploadCerts uploads the control-plane certificates again under a fresh
// key: those uploaded at init expire after two hours.
func (r *run) uploadCerts(ctx context.Context) error {
	key, err := kubeadm.NewCertificateKey()
	if err != nil {
		return err
	}
	// The key goes in a 0600 config file, not on the command line.
	cfg, err := kubeadm.InitConfig(r.px, r.cp, kubeadm.InitOptions{
		Token:               r.token,
		CertificateKey:      key,
		CgroupV1:            r.facts.CgroupV1,
		RestrictOOMScoreAdj: r.facts.RestrictOOMScoreAdj,
	})
	if err != nil {
		return err
	}
	const path = kubeadmDir + "/kubeadm-upload-certs.yaml"
	if err := r.srv.PushFile(ctx, r.cp.Name, path, cfg, 0o600); err != nil {
		return err
	}
	if _, err := r.srv.Run(ctx, r.cp.Name, "kubeadm", "init", "phase", "upload-certs", "--upload-certs", "--config", path, "--skip-certificate-key-print"); err != nil {
		return err
	}
	r.certKey = key
	return nil
}

// joinControlPlanes joins control-plane nodes one at a time.
func (r *run) joinControlPlanes(ctx context.Context, nodes []plan.Node) error {
	for _, n := range nodes {
		// A join that failed before may have left a member for this
		// address behind; etcd would then wait for it forever.
		err := removeEtcdMember(ctx, r.srv, r.cp.Name, []plan.Node{r.cp}, n.Name, n.Address)
		if err == nil {
			err = r.kubeadmJoin(ctx, n, kubeadm.JoinOptions{Token: r.token, ControlPlane: true, CertificateKey: r.certKey})
		}
		if err != nil {
			return r.condense(ctx, []nodeErr{{n.Name, err}})
		}
	}
	return nil
}

// joinWorkers joins workers in parallel.
func (r *run) joinWorkers(ctx context.Context, nodes []plan.Node) error {
	return r.eachNode(ctx, nodes, func(n plan.Node) error {
		return r.kubeadmJoin(ctx, n, kubeadm.JoinOptions{Token: r.token})
	})
}

// discoveryPath is where a joining node gets its discovery file.
const discoveryPath = kubeadmDir + "/discovery.conf"

func (r *run) kubeadmJoin(ctx context.Context, n plan.Node, o kubeadm.JoinOptions) error {
	o.DiscoveryFile = discoveryPath
	cfg, err := kubeadm.JoinConfig(r.px, n, o)
	if err != nil {
		return err
	}
	if err := r.srv.PushFile(ctx, n.Name, discoveryPath, r.discovery, 0o600); err != nil {
		return err
	}
	if err := r.srv.PushFile(ctx, n.Name, kubeadmDir+"/kubeadm-join.yaml", cfg, 0o600); err != nil {
		return err
	}
	_, err = r.srv.Run(ctx, n.Name, "kubeadm", "join", "--config", kubeadmDir+"/kubeadm-join.yaml")
	return err
}
