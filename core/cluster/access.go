package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
)

// KubeconfigOptions are the inputs of Kubeconfig.
type KubeconfigOptions struct {
	Ref
	// Merge writes the admin context into the kubeconfig file instead of
	// returning the kubeconfig.
	Merge bool
	// Kubeconfig is the file Merge writes (default: like kubectl).
	Kubeconfig string
}

// Kubeconfig returns the admin kubeconfig of a running plex, read from its
// control plane, or merges it into the user's file as context plex-<name>.
func Kubeconfig(ctx context.Context, o KubeconfigOptions) ([]byte, error) {
	srv, err := o.connect(ctx)
	if err != nil {
		return nil, err
	}
	lp, err := discover(ctx, srv, o.Name)
	if err != nil {
		return nil, err
	}
	cp, err := lp.runningControlPlane()
	if err != nil {
		return nil, err
	}
	admin, err := srv.PullFile(ctx, cp, adminConfPath)
	if err != nil {
		return nil, fmt.Errorf("reading the admin kubeconfig from %s (has `kubectl plex up` finished?): %w", cp, err)
	}
	if !o.Merge {
		return admin, nil
	}
	name, err := mergeKubeconfig(o.Kubeconfig, o.Name, admin)
	if err != nil {
		return nil, err
	}
	return []byte(fmt.Sprintf("context %s written to %s\n", name, kubeconfigPath(o.Kubeconfig))), nil
}

// SSHOptions are the inputs of SSHCommand.
type SSHOptions struct {
	// Node is the node to log in to.
	Node string
	// File, when set, says which remote the node is on.
	File string
	Target
	// Args are extra arguments for ssh (a command to run).
	Args []string
}

// SSHCommand returns the ssh command line that logs in to a node as root,
// checking its host key against the known_hosts file plex wrote, so there is
// no trust on first use.
func SSHCommand(ctx context.Context, o SSHOptions) ([]string, error) {
	srv, err := Ref{File: o.File, Target: o.Target}.connectNode(ctx, o.Node)
	if err != nil {
		return nil, err
	}
	plexName, err := findNode(ctx, srv, o.Node)
	if err != nil {
		return nil, err
	}
	lp, err := discover(ctx, srv, plexName)
	if err != nil {
		return nil, err
	}
	var addr string
	for _, n := range lp.Plex.Nodes {
		if n.Name == o.Node {
			addr = n.Address
		}
	}
	if addr == "" {
		return nil, fmt.Errorf("node %s has no recorded address; re-create it with `kubectl plex up --recreate`", o.Node)
	}
	kh, err := KnownHostsPath(plexName)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(kh); err != nil {
		return nil, fmt.Errorf("no known_hosts for plex %s at %s: run `kubectl plex up` for it first", plexName, kh)
	}
	cmd := []string{"ssh",
		"-o", "UserKnownHostsFile=" + filepath.Clean(kh),
		"-o", "StrictHostKeyChecking=yes",
		"-o", "HostKeyAlias=" + o.Node}
	// The keys plex authorized came from $HOME/.ssh; ssh itself looks in the
	// passwd entry's home, which differs under sudo -E or a changed HOME.
	for _, k := range userIdentityFiles() {
		cmd = append(cmd, "-i", k)
	}
	cmd = append(cmd, "root@"+addr)
	return append(cmd, o.Args...), nil
}
