// Package kubeadm renders the configuration files plex hands to kubeadm on a
// node (kubeadm.k8s.io/v1beta4 with the kubelet and kube-proxy component
// configs), and makes the secrets that go with them: bootstrap tokens,
// certificate keys and the CA public-key hash joining nodes pin.
//
// Everything here is a pure function of the plan and a few options; what runs
// the files on a node lives in core/cluster.
package kubeadm

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"path"
	"slices"
	"strconv"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/plex-dev/plex/core/plan"
)

// Fixed facts of a plex node image.
const (
	// CRISocket is containerd's socket in the node image.
	CRISocket = "unix:///run/containerd/containerd.sock"
	// APIServerPort is where every control-plane node serves the API.
	APIServerPort = 6443
	// DNSDomain is the cluster's DNS domain.
	DNSDomain = "cluster.local"
	// DefaultTokenTTL is how long the bootstrap token of InitConfig lives when
	// InitOptions.TokenTTL is zero: long enough for plex to join the other
	// nodes right after init, short enough not to linger.
	DefaultTokenTTL = 15 * time.Minute
	// EncryptionAlgorithm is the key type of the cluster's CAs, certificates
	// and service-account key.
	EncryptionAlgorithm = "ECDSA-P256"
)

// cniBridge is spec.CNIBridge; plan.Plex.CNI is empty in hand-made plans.
const cniBridge = "bridge"

// InitOptions are the parts of `kubeadm init`'s configuration that are not in
// the plan.
type InitOptions struct {
	// Token is the bootstrap token (NewToken) the other nodes join with.
	// Required.
	Token string
	// TokenTTL is the token's lifetime; zero means DefaultTokenTTL.
	TokenTTL time.Duration
	// CertificateKey (NewCertificateKey), when set, encrypts the control-plane
	// certificates that `kubeadm init --upload-certs` stores in the cluster,
	// so that further control-plane nodes can join.
	CertificateKey string
	// SkipPhases are kubeadm init phases not to run (such as "addon/kube-proxy").
	SkipPhases []string
	// ImageRepository replaces registry.k8s.io for the control-plane images.
	// Empty keeps kubeadm's default, which a containerd mirror can serve.
	ImageRepository string
	// CgroupV1 says the host runs cgroup v1 (or hybrid). kubelet then gets
	// failCgroupV1: false, without which Kubernetes 1.35+ refuses to start.
	CgroupV1 bool
	// RestrictOOMScoreAdj says no process on the host may lower an
	// oom_score_adj (no CAP_SYS_RESOURCE anywhere). kube-proxy then gets
	// oomScoreAdj: 0, as its default -999 would fail. containerd needs
	// restrict_oom_score_adj = true on such a host too; that is the image's
	// business.
	RestrictOOMScoreAdj bool
	// ResolvConf is kubelet's resolvConf. Empty leaves it to kubeadm, which
	// picks /run/systemd/resolve/resolv.conf when systemd-resolved runs.
	ResolvConf string
}

// JoinOptions are the parts of `kubeadm join`'s configuration that are not in
// the plan.
type JoinOptions struct {
	// Token is the bootstrap token from InitOptions (or `kubeadm token
	// create`). Required.
	Token string
	// CACertHash pins the cluster CA: "sha256:<hex>" as CACertHash returns.
	// The join then discovers the cluster through the token's signature in
	// kube-public/cluster-info, which the controller-manager adds some
	// seconds after init. One of CACertHash and DiscoveryFile is required:
	// plex never joins without verifying the CA.
	CACertHash string
	// DiscoveryFile is the path, on the node, of the DiscoveryKubeconfig
	// file, which holds the cluster CA itself. The join trusts that CA, as
	// securely as a pinned hash, and needs no signature in cluster-info, so
	// it can start as soon as init is done.
	DiscoveryFile string
	// ControlPlane joins the node as a further control-plane node. It must
	// agree with the node's role.
	ControlPlane bool
	// CertificateKey decrypts the certificates `kubeadm init --upload-certs`
	// stored; only with ControlPlane. Empty means the certificates were put
	// in /etc/kubernetes/pki by other means.
	CertificateKey string
	// SkipPhases are kubeadm join phases not to run.
	SkipPhases []string
}

// InitConfig renders the file for `kubeadm init --config` on n, the first
// control-plane node of p: InitConfiguration, ClusterConfiguration,
// KubeletConfiguration and KubeProxyConfiguration, in that order.
func InitConfig(p plan.Plex, n plan.Node, o InitOptions) ([]byte, error) {
	b, err := initConfig(p, n, o)
	if err != nil {
		return nil, fmt.Errorf("rendering the kubeadm init config of %s: %w", n.Name, err)
	}
	return b, nil
}

func initConfig(p plan.Plex, n plan.Node, o InitOptions) ([]byte, error) {
	if n.Role != plan.RoleControlPlane {
		return nil, fmt.Errorf("node has role %q; only a %s node can run kubeadm init", n.Role, plan.RoleControlPlane)
	}
	if err := checkToken(o.Token); err != nil {
		return nil, err
	}
	if o.TokenTTL < 0 {
		return nil, fmt.Errorf("token TTL %s is negative", o.TokenTTL)
	}
	if err := checkCertificateKey(o.CertificateKey); err != nil {
		return nil, err
	}
	addr, err := nodeAddress(n)
	if err != nil {
		return nil, err
	}
	endpointHost, err := endpointHost(p.Endpoint)
	if err != nil {
		return nil, err
	}
	if p.KubernetesVersion == "" {
		// kubeadm would otherwise look up "stable-1" on the internet.
		return nil, fmt.Errorf("the plan has no kubernetesVersion")
	}
	podSubnet, err := prefix("podSubnet", p.PodSubnet)
	if err != nil {
		return nil, err
	}
	if _, err := prefix("serviceSubnet", p.ServiceSubnet); err != nil {
		return nil, err
	}
	cm, err := controllerManagerArgs(p, podSubnet)
	if err != nil {
		return nil, err
	}

	ttl := o.TokenTTL
	if ttl == 0 {
		ttl = DefaultTokenTTL
	}
	reg := nodeRegistration(n, addr)
	if !hasWorkers(p) {
		// A plex without workers would run nothing if its control plane kept
		// the NoSchedule taint.
		reg.Taints = &[]taint{}
	}
	initCfg := initConfiguration{
		typeMeta: typeMeta{APIVersion: kubeadmAPIVersion, Kind: "InitConfiguration"},
		BootstrapTokens: []bootstrapToken{{
			Token:       o.Token,
			Description: "plex: joins the nodes of " + p.Name,
			TTL:         ttl.String(),
			Usages:      []string{"signing", "authentication"},
			Groups:      []string{"system:bootstrappers:kubeadm:default-node-token"},
		}},
		NodeRegistration: reg,
		LocalAPIEndpoint: apiEndpoint{AdvertiseAddress: addr.String(), BindPort: APIServerPort},
		CertificateKey:   o.CertificateKey,
		SkipPhases:       o.SkipPhases,
	}
	clusterCfg := clusterConfiguration{
		typeMeta: typeMeta{APIVersion: kubeadmAPIVersion, Kind: "ClusterConfiguration"},
		Networking: networking{
			ServiceSubnet: p.ServiceSubnet,
			PodSubnet:     p.PodSubnet,
			DNSDomain:     DNSDomain,
		},
		KubernetesVersion:    p.KubernetesVersion,
		ControlPlaneEndpoint: p.Endpoint,
		// ECDSA keys are made in a fraction of the time RSA-2048 keys take
		// (kubeadm init makes about ten), and every client plex uses
		// handles them.
		EncryptionAlgorithm: EncryptionAlgorithm,
		APIServer: apiServer{
			CertSANs: uniq(addr.String(), endpointHost, n.Name, "localhost", "127.0.0.1"),
		},
		ControllerManager: controlPlaneComponent{ExtraArgs: slices.Concat(cm, leaderElectArgs(p), controllerManagerRateArgs)},
		Scheduler:         controlPlaneComponent{ExtraArgs: leaderElectArgs(p)},
		ImageRepository:   o.ImageRepository,
		ClusterName:       p.Name,
	}
	kubelet, err := kubeletConfig(o)
	if err != nil {
		return nil, err
	}
	proxy, err := kubeProxyConfig(p, o)
	if err != nil {
		return nil, err
	}
	return documents(initCfg, clusterCfg, kubelet, proxy)
}

// leaderElectArgs turns leader election off for the controller-manager and
// the scheduler of a plex with one control plane. There is no other instance
// to elect, and acquiring the lease delays every controller (the bootstrap
// signer that joins wait for, the CSR approver) by a few seconds after init.
// A plex's number of control planes is fixed by its spec (1 or 3), so a
// second instance never appears.
func leaderElectArgs(p plan.Plex) []arg {
	if p.ControlPlanes > 1 {
		return nil
	}
	return []arg{{Name: "leader-elect", Value: "false"}}
}

// controllerManagerRateArgs lift the controller-manager's own limit on its
// requests to the API server, 20 a second in bursts of 30 by default. At
// start it asks for a service-account token for each of its controllers, one
// after the other, and starts its informers only once every controller is
// made. On the 2-core harness the CSR approver, which with the signer every
// joining kubelet waits for, started 4.75 s after the first controller at 20
// a second, and 0.46-0.69 s after it with the limit lifted. The API server's
// priority and fairness still keep the controller-manager from crowding out
// other clients.
var controllerManagerRateArgs = []arg{
	{Name: "kube-api-qps", Value: "200"},
	{Name: "kube-api-burst", Value: "400"},
}

// controllerManagerArgs decides who allocates pod CIDRs.
//
// With the bridge CNI, plex writes each node's conflist from the plan's pod
// CIDR, which follows the node's index so that it survives other nodes coming
// and going. The controller-manager's allocator hands CIDRs out in join order
// instead, so the two would disagree; it is turned off, and Node.spec.podCIDR
// stays empty unless plex patches it (cni.PodCIDRPatch). Nothing in a plex
// reads it: kube-proxy tells local traffic by the cluster CIDR
// (KubeProxyConfiguration.clusterCIDR) rather than by the node's CIDR.
//
// A CNI from a manifest (flannel, Cilium in kubernetes IPAM mode, …) reads
// Node.spec.podCIDR, so then the allocator runs, with the plan's slice size.
func controllerManagerArgs(p plan.Plex, podSubnet netip.Prefix) ([]arg, error) {
	if p.CNI == "" || p.CNI == cniBridge {
		return []arg{{Name: "allocate-node-cidrs", Value: "false"}}, nil
	}
	args := []arg{
		{Name: "allocate-node-cidrs", Value: "true"},
		{Name: "cluster-cidr", Value: podSubnet.String()},
	}
	for _, n := range p.Nodes {
		if n.PodCIDR == "" {
			continue
		}
		pc, err := prefix("podCIDR of "+n.Name, n.PodCIDR)
		if err != nil {
			return nil, err
		}
		args = append(args, arg{Name: "node-cidr-mask-size", Value: strconv.Itoa(pc.Bits())})
		break
	}
	return args, nil
}

// JoinConfig renders the file for `kubeadm join --config` on n. The kubelet
// and kube-proxy settings are not in it: a joining node takes them from the
// cluster's ConfigMaps, which InitConfig filled.
func JoinConfig(p plan.Plex, n plan.Node, o JoinOptions) ([]byte, error) {
	b, err := joinConfig(p, n, o)
	if err != nil {
		return nil, fmt.Errorf("rendering the kubeadm join config of %s: %w", n.Name, err)
	}
	return b, nil
}

func joinConfig(p plan.Plex, n plan.Node, o JoinOptions) ([]byte, error) {
	if err := checkToken(o.Token); err != nil {
		return nil, err
	}
	switch {
	case o.CACertHash == "" && o.DiscoveryFile == "":
		return nil, fmt.Errorf("no CA certificate hash and no discovery file: plex does not join without pinning the cluster CA (compute the hash with CACertHash from /etc/kubernetes/pki/ca.crt, or write DiscoveryKubeconfig to the node)")
	case o.CACertHash != "" && o.DiscoveryFile != "":
		return nil, fmt.Errorf("both a CA certificate hash and a discovery file: give one")
	case o.CACertHash != "":
		if err := checkCACertHash(o.CACertHash); err != nil {
			return nil, err
		}
	case !path.IsAbs(o.DiscoveryFile):
		return nil, fmt.Errorf("discovery file %q is not an absolute path", o.DiscoveryFile)
	}
	if o.ControlPlane != (n.Role == plan.RoleControlPlane) {
		return nil, fmt.Errorf("node has role %q but ControlPlane is %t", n.Role, o.ControlPlane)
	}
	if o.CertificateKey != "" && !o.ControlPlane {
		return nil, fmt.Errorf("a certificate key is only for control-plane nodes")
	}
	if err := checkCertificateKey(o.CertificateKey); err != nil {
		return nil, err
	}
	addr, err := nodeAddress(n)
	if err != nil {
		return nil, err
	}
	if _, err := endpointHost(p.Endpoint); err != nil {
		return nil, err
	}
	cfg := joinConfiguration{
		typeMeta:         typeMeta{APIVersion: kubeadmAPIVersion, Kind: "JoinConfiguration"},
		NodeRegistration: nodeRegistration(n, addr),
		SkipPhases:       o.SkipPhases,
	}
	if o.DiscoveryFile != "" {
		cfg.Discovery = discovery{File: &fileDiscovery{KubeConfigPath: o.DiscoveryFile}, TLSBootstrapToken: o.Token}
	} else {
		cfg.Discovery = discovery{BootstrapToken: &bootstrapTokenDiscovery{
			Token:             o.Token,
			APIServerEndpoint: p.Endpoint,
			CACertHashes:      []string{o.CACertHash},
		}}
	}
	if o.ControlPlane {
		cfg.ControlPlane = &joinControlPlane{
			LocalAPIEndpoint: apiEndpoint{AdvertiseAddress: addr.String(), BindPort: APIServerPort},
			CertificateKey:   o.CertificateKey,
		}
		if !hasWorkers(p) {
			cfg.NodeRegistration.Taints = &[]taint{}
		}
	}
	return documents(cfg)
}

// nodeRegistration pins the node's name and its kubelet's address: a node has
// one NIC, but kubelet would otherwise pick whichever address it meets first,
// including a cni0 address. kubeadm pulls images only where it runs a control
// plane (init, and a control-plane join).
func nodeRegistration(n plan.Node, addr netip.Addr) nodeRegistrationOptions {
	return nodeRegistrationOptions{
		Name:             n.Name,
		CRISocket:        CRISocket,
		KubeletExtraArgs: []arg{{Name: "node-ip", Value: addr.String()}},
		// The images come from one registry on the plex's own network; seven
		// pulls at once took 2.1-2.4 s of init's preflight on the 2-core
		// harness, one after the other 4.9 s.
		ImagePullSerial: ptr(false),
	}
}

// hasWorkers says whether p has a node that is not in the control plane.
func hasWorkers(p plan.Plex) bool {
	for _, n := range p.Nodes {
		if n.Role == plan.RoleWorker {
			return true
		}
	}
	return false
}

func nodeAddress(n plan.Node) (netip.Addr, error) {
	if n.Name == "" {
		return netip.Addr{}, fmt.Errorf("node has no name")
	}
	a, err := netip.ParseAddr(n.Address)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("node address %q is not an IP address", n.Address)
	}
	return a, nil
}

// endpointHost is the host part of the plan's host:port API endpoint.
func endpointHost(endpoint string) (string, error) {
	host, port, err := net.SplitHostPort(endpoint)
	if err != nil || host == "" || port == "" {
		return "", fmt.Errorf("API endpoint %q is not host:port", endpoint)
	}
	return host, nil
}

func prefix(what, s string) (netip.Prefix, error) {
	pfx, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%s %q is not a CIDR", what, s)
	}
	return pfx, nil
}

// uniq keeps the first of each non-empty string.
func uniq(ss ...string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range ss {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// documents marshals each object as one document of a YAML stream.
func documents(objs ...any) ([]byte, error) {
	var buf bytes.Buffer
	for i, o := range objs {
		b, err := yaml.Marshal(o)
		if err != nil {
			return nil, fmt.Errorf("marshalling document %d: %w", i+1, err)
		}
		if i > 0 {
			buf.WriteString("---\n")
		}
		buf.Write(b)
	}
	return buf.Bytes(), nil
}
