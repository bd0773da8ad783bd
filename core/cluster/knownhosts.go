package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// KnownHostsPath is where plex writes a plex's known_hosts file.
func KnownHostsPath(plex string) (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "plex", plex, "known_hosts"), nil
}

// writeKnownHosts writes the host keys of the plex's nodes, read from their
// labels, so `ssh` needs no trust on first use.
func (r *run) writeKnownHosts(ctx context.Context) error {
	list, err := r.srv.ListInstances(ctx)
	if err != nil {
		return err
	}
	addr := map[string]string{}
	for _, n := range r.px.Nodes {
		addr[n.Name] = n.Address
	}
	var lines []string
	for _, in := range list {
		if in.Plex() != r.px.Name || in.Config[LabelSSHHostKey] == "" {
			continue
		}
		pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(in.Config[LabelSSHHostKey]))
		if err != nil {
			return fmt.Errorf("host key of %s: %w", in.Name, err)
		}
		names := []string{in.Name}
		if a := addr[in.Name]; a != "" {
			names = append(names, a)
		}
		lines = append(lines, knownhosts.Line(names, pub))
	}
	sort.Strings(lines)
	path, err := KnownHostsPath(r.px.Name)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
}
