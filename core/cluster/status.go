package cluster

import (
	"context"
	"sort"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/plex-dev/plex/core/incus"
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
	Version    string `json:"version,omitempty"`
}

// PlexStatus is one plex's status.
type PlexStatus struct {
	Name   string       `json:"name"`
	Remote string       `json:"remote"`
	Nodes  []NodeStatus `json:"nodes"`
	// APIError says why Kubernetes could not be asked, if it could not.
	APIError string `json:"apiError,omitempty"`
}

// StatusOptions are the inputs of Status. An empty Name means every plex on
// the remote.
type StatusOptions struct {
	Ref
}

// Status reports every node of the selected plexes.
func Status(ctx context.Context, o StatusOptions) ([]PlexStatus, error) {
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

func plexStatus(ctx context.Context, srv *incus.Server, lp *livePlex) PlexStatus {
	ps := PlexStatus{Name: lp.Name, Remote: srv.Remote}
	k8s := map[string][2]string{}
	apiOK := false
	if cp, err := lp.runningControlPlane(); err != nil {
		ps.APIError = err.Error()
	} else if admin, err := srv.PullFile(ctx, cp, adminConfPath); err != nil {
		ps.APIError = "no admin kubeconfig on " + cp + " (kubeadm init has not run)"
	} else if cs, err := clientFor(admin); err != nil {
		ps.APIError = err.Error()
	} else if nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err != nil {
		ps.APIError = err.Error()
	} else {
		apiOK = true
		for i := range nodes.Items {
			n := &nodes.Items[i]
			state := "NotReady"
			if nodeReady(n) {
				state = "Ready"
			}
			k8s[n.Name] = [2]string{state, n.Status.NodeInfo.KubeletVersion}
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
				ns.Kubernetes, ns.Version = s[0], s[1]
			}
		}
		ps.Nodes = append(ps.Nodes, ns)
	}
	return ps
}
