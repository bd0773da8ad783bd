package cluster

import (
	"context"
	"fmt"
	"sort"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/plex-dev/plex/core/incus"
	"github.com/plex-dev/plex/core/plan"
)

// NodeStatus is one node as Incus and Kubernetes see it.
type NodeStatus struct {
	Name    string `json:"name"`
	Role    string `json:"role"`
	Address string `json:"address"`
	// Member is the Incus cluster member the instance runs on.
	Member string `json:"member,omitempty"`
	// Incus is the instance status (Running, Stopped…).
	Incus string `json:"incus"`
	// Kubernetes is Ready, NotReady, or absent when the node is not
	// registered; unknown when the API server could not be asked.
	Kubernetes string `json:"kubernetes"`
	// Version is kubelet's version; Runtime is the container runtime
	// kubelet reports, like containerd://2.4.2 (the Node's
	// status.nodeInfo).
	Version string `json:"version,omitempty"`
	Runtime string `json:"runtime,omitempty"`
}

// PlexStatus is one plex's status.
type PlexStatus struct {
	Name   string `json:"name"`
	Remote string `json:"remote"`
	// Endpoint is the API server endpoint in the admin kubeconfig.
	Endpoint string       `json:"endpoint,omitempty"`
	Nodes    []NodeStatus `json:"nodes"`
	// Etcd is etcd's own view of its members; nil when it could not be asked.
	Etcd      *EtcdHealth `json:"etcd,omitempty"`
	EtcdError string      `json:"etcdError,omitempty"`
	// APIError says why Kubernetes could not be asked, if it could not.
	APIError string `json:"apiError,omitempty"`
}

// StatusOptions are the inputs of Status. An empty Name means every plex on
// the remote, or, with File, every plex of the file, each on its remote.
type StatusOptions struct {
	Ref
}

// Status reports every node of the selected plexes.
func Status(ctx context.Context, o StatusOptions) ([]PlexStatus, error) {
	if o.allOfFile() {
		return statusOfFile(ctx, o) // remotes.go
	}
	srv, err := o.connect(ctx)
	if err != nil {
		return nil, err
	}
	names := []string{o.Name}
	if o.Name == "" {
		list, err := srv.ListInstances(ctx)
		if err != nil {
			return nil, err
		}
		seen := map[string]bool{}
		names = names[:0]
		for _, in := range list {
			if p := in.Plex(); p != "" && !seen[p] {
				seen[p] = true
				names = append(names, p)
			}
		}
		sort.Strings(names)
	}
	var out []PlexStatus
	for _, name := range names {
		lp, err := discover(ctx, srv, name)
		if err != nil {
			return nil, err
		}
		out = append(out, plexStatus(ctx, srv, lp))
	}
	return out, nil
}

func plexStatus(ctx context.Context, srv Incus, lp *livePlex) PlexStatus {
	ps := PlexStatus{Name: lp.Name, Remote: srv.Remote()}
	k8s, endpoint, err := kubeNodeStates(ctx, srv, lp)
	apiOK := err == nil
	ps.Endpoint = endpoint
	if err != nil {
		ps.APIError = err.Error()
	}
	if cp, err := lp.runningControlPlane(); err == nil {
		var cps []plan.Node
		for _, n := range lp.Plex.Nodes {
			if n.Role == plan.RoleControlPlane {
				cps = append(cps, n)
			}
		}
		if h, err := etcdHealth(ctx, srv, cp, cps); err != nil {
			ps.EtcdError = err.Error()
		} else {
			ps.Etcd = h
		}
	}
	byName := map[string]incus.Instance{}
	for _, in := range lp.Instances {
		byName[in.Name] = in
	}
	for _, n := range lp.Plex.Nodes {
		in := byName[n.Name]
		member := in.Location
		if member == "none" { // a standalone server
			member = ""
		}
		ns := NodeStatus{Name: n.Name, Role: n.Role, Address: n.Address, Member: member, Incus: in.Status, Kubernetes: "unknown"}
		if apiOK {
			ns.Kubernetes = "absent"
			if s, ok := k8s[n.Name]; ok {
				ns.Kubernetes, ns.Version, ns.Runtime = s.state, s.version, s.runtime
			}
		}
		ps.Nodes = append(ps.Nodes, ns)
	}
	return ps
}

// endpointOf is the API server URL of a kubeconfig's current context.
func endpointOf(kubeconfig []byte) string {
	cfg, err := clientcmd.Load(kubeconfig)
	if err != nil {
		return ""
	}
	if c, ok := cfg.Contexts[cfg.CurrentContext]; ok {
		if cl, ok := cfg.Clusters[c.Cluster]; ok {
			return cl.Server
		}
	}
	return ""
}

// kubeNodeState is what the API server says of a node.
type kubeNodeState struct{ state, version, runtime string }

// kubeNodeStates asks the plex's API server for every node's state, kubelet
// version and container runtime, and returns the endpoint it asked.
func kubeNodeStates(ctx context.Context, srv Incus, lp *livePlex) (map[string]kubeNodeState, string, error) {
	cp, err := lp.runningControlPlane()
	if err != nil {
		return nil, "", err
	}
	admin, err := srv.PullFile(ctx, cp, adminConfPath)
	if err != nil {
		return nil, "", fmt.Errorf("no admin kubeconfig on %s (kubeadm init has not run)", cp)
	}
	endpoint := endpointOf(admin)
	cs, err := clientFor(admin)
	if err != nil {
		return nil, endpoint, err
	}
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, endpoint, err
	}
	out := map[string]kubeNodeState{}
	for i := range nodes.Items {
		n := &nodes.Items[i]
		state := "NotReady"
		if nodeReady(n) {
			state = "Ready"
		}
		info := n.Status.NodeInfo
		out[n.Name] = kubeNodeState{state, info.KubeletVersion, info.ContainerRuntimeVersion}
	}
	return out, endpoint, nil
}
