package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/plex-dev/plex/core/cloudinit"
	"github.com/plex-dev/plex/core/incus"
	"github.com/plex-dev/plex/core/plan"
	"github.com/plex-dev/plex/core/spec"
)

// LabelSSHHostKey holds a node's SSH host public key, so known_hosts can be
// written from Incus alone.
const LabelSSHHostKey = incus.LabelPrefix + "ssh-host-key"

// instanceSpec builds what Incus is asked to create for a node.
func (r *run) instanceSpec(n plan.Node) (incus.InstanceSpec, error) {
	key, err := cloudinit.NewHostKey()
	if err != nil {
		return incus.InstanceSpec{}, err
	}
	var hosts []cloudinit.Host
	for _, m := range r.px.Nodes {
		hosts = append(hosts, cloudinit.Host{Name: m.Name, Address: m.Address})
	}
	// The plex's image cache, and registryMirror for registry.k8s.io
	// (registry.go).
	mirrors := r.nodeMirrors()
	userData, err := cloudinit.UserData(cloudinit.UserDataInput{
		Hostname:       n.Name,
		Hosts:          hosts,
		Mirrors:        mirrors,
		HostKey:        key,
		AuthorizedKeys: userAuthorizedKeys(),
	})
	if err != nil {
		return incus.InstanceSpec{}, err
	}
	prefix, err := netip.ParsePrefix(r.px.NodeSubnet)
	if err != nil {
		return incus.InstanceSpec{}, fmt.Errorf("node subnet %q: %w", r.px.NodeSubnet, err)
	}
	netConfig, err := cloudinit.NetworkConfig(n, r.px.Gateway, prefix.Bits(), []string{r.px.Gateway})
	if err != nil {
		return incus.InstanceSpec{}, err
	}
	cfg := map[string]string{
		incus.LabelManaged:          "true",
		incus.LabelPlex:             r.px.Name,
		incus.LabelRole:             n.Role,
		incus.LabelIndex:            strconv.Itoa(n.Index),
		incus.LabelType:             n.Type,
		incus.LabelAddress:          n.Address,
		incus.LabelPodCIDR:          n.PodCIDR,
		incus.LabelPodSubnet:        r.px.PodSubnet,
		incus.LabelCNI:              r.px.CNI,
		LabelSSHHostKey:             strings.TrimSpace(key.AuthorizedKey),
		"cloud-init.user-data":      string(userData),
		"cloud-init.network-config": string(netConfig),
	}
	if n.CPU != "" {
		cfg["limits.cpu"] = n.CPU
	}
	if n.Memory != "" {
		cfg["limits.memory"] = n.Memory
	}
	nic := map[string]string{"type": "nic", "name": "eth0"}
	if r.px.NetworkMode == spec.NetworkBridged {
		nic["nictype"] = "bridged"
		nic["parent"] = r.px.Network
	} else {
		nic["network"] = r.px.Network
		nic["ipv4.address"] = n.Address
	}
	devices := map[string]map[string]string{"eth0": nic}
	if r.px.StoragePool != "" {
		devices["root"] = map[string]string{"type": "disk", "path": "/", "pool": r.px.StoragePool}
	}
	return incus.InstanceSpec{
		Name:     n.Name,
		Image:    n.Image,
		Profiles: n.Profiles,
		Config:   cfg,
		Devices:  devices,
		Target:   n.Target,
	}, nil
}

// userAuthorizedKeys are the user's SSH public keys, given to root on every
// node so `kubectl plex ssh` works.
func userAuthorizedKeys() []string {
	var keys []string
	for _, f := range userKeyFiles() {
		if b, err := os.ReadFile(f + ".pub"); err == nil {
			keys = append(keys, strings.TrimSpace(string(b)))
		}
	}
	return keys
}

// userKeyFiles are the paths of the user's default SSH keys, without .pub.
func userKeyFiles() []string {
	home, err := os.UserHomeDir()
	if err != nil {
		return nil
	}
	var files []string
	for _, f := range []string{"id_ed25519", "id_ecdsa", "id_rsa"} {
		files = append(files, filepath.Join(home, ".ssh", f))
	}
	return files
}

// userIdentityFiles are the private halves of the keys userAuthorizedKeys
// gives to the nodes, where both halves exist.
func userIdentityFiles() []string {
	var files []string
	for _, f := range userKeyFiles() {
		if _, err := os.Stat(f + ".pub"); err != nil {
			continue
		}
		if _, err := os.Stat(f); err == nil {
			files = append(files, f)
		}
	}
	return files
}

// createNodes creates the planned nodes that do not exist, in parallel.
func (r *run) createNodes(ctx context.Context, existing map[string]incus.Instance) error {
	var missing []plan.Node
	for _, n := range r.px.Nodes {
		if _, ok := existing[n.Name]; !ok {
			missing = append(missing, n)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	r.markChanged()
	return r.step(fmt.Sprintf("creating %d node(s) %s", len(missing), strings.Join(nodeNames(missing), ", ")), func() error {
		return parallel(missing, func(n plan.Node) error {
			is, err := r.instanceSpec(n)
			if err != nil {
				return err
			}
			if err := r.srv.CreateInstance(ctx, is); err != nil {
				return err
			}
			r.mu.Lock()
			r.created = append(r.created, n.Name)
			r.mu.Unlock()
			return r.srv.Start(ctx, n.Name)
		})
	})
}

// startNodes starts nodes that exist but are stopped.
func (r *run) startNodes(ctx context.Context, existing map[string]incus.Instance) error {
	var stopped []plan.Node
	for _, n := range r.px.Nodes {
		if in, ok := existing[n.Name]; ok && in.Status != "Running" {
			stopped = append(stopped, n)
		}
	}
	if len(stopped) == 0 {
		return nil
	}
	r.markChanged()
	return r.step(fmt.Sprintf("starting %d stopped node(s) %s", len(stopped), strings.Join(nodeNames(stopped), ", ")), func() error {
		return parallel(stopped, func(n plan.Node) error { return r.srv.Start(ctx, n.Name) })
	})
}

// nodeFacts are what plex detects inside a node.
type nodeFacts struct {
	// CgroupV1 is true on a cgroup v1 (or hybrid) host.
	CgroupV1 bool
	// RestrictOOMScoreAdj is true where no process may lower oom_score_adj.
	RestrictOOMScoreAdj bool
}

// probeScript waits for the node to finish booting, checks its address, and
// reports the facts kubelet's configuration depends on. When lowering
// oom_score_adj is refused, containerd is told not to try (runc would kill
// every pod sandbox otherwise).
const probeScript = `set -u
cloud-init status --wait >/dev/null 2>&1 || true
addr=$(ip -4 -o addr show dev eth0 | awk '{print $4}' | cut -d/ -f1 | head -n1)
cg=v2; [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ] || cg=v1
oom=ok; sh -c 'echo -999 > /proc/self/oom_score_adj' 2>/dev/null || oom=restricted
if [ "$oom" = restricted ] && [ -f /etc/containerd/config.toml ] && ! grep -q 'restrict_oom_score_adj = true' /etc/containerd/config.toml; then
  sed -i 's/restrict_oom_score_adj = false/restrict_oom_score_adj = true/' /etc/containerd/config.toml
  systemctl restart containerd
fi
echo "addr=$addr cgroup=$cg oom=$oom"
`

// waitBoot waits until every node has booted with its planned address, and
// returns what the first one reports.
func (r *run) waitBoot(ctx context.Context, nodes []plan.Node) (nodeFacts, error) {
	var facts nodeFacts
	err := r.step(fmt.Sprintf("waiting for %d node(s) to boot", len(nodes)), func() error {
		var once bool
		return parallel(nodes, func(n plan.Node) error {
			out, err := r.probe(ctx, n)
			if err != nil {
				return err
			}
			r.mu.Lock()
			defer r.mu.Unlock()
			if !once {
				once = true
				facts.CgroupV1 = strings.Contains(out, "cgroup=v1")
				facts.RestrictOOMScoreAdj = strings.Contains(out, "oom=restricted")
			}
			return nil
		})
	})
	return facts, err
}

func (r *run) probe(ctx context.Context, n plan.Node) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	var last string
	var lastErr error
	for {
		out, err := r.srv.Run(ctx, n.Name, "sh", "-c", probeScript)
		if err == nil && strings.Contains(out, "addr="+n.Address+" ") {
			return out, nil
		}
		last, lastErr = out, err
		select {
		case <-ctx.Done():
			if lastErr != nil {
				return "", fmt.Errorf("node %s did not boot: %w", n.Name, lastErr)
			}
			return "", fmt.Errorf("node %s booted without its address %s (got: %s); check the network %s and `incus exec %s -- cloud-init status --long`", n.Name, n.Address, strings.TrimSpace(last), r.px.Network, n.Name)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// deleteAll deletes every instance labelled for this plex.
func (r *run) deleteAll(ctx context.Context) error {
	list, err := r.srv.ListInstances(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, in := range list {
		// The plex's registry cache belongs to plex-registry, and keeps
		// serving the re-created nodes.
		if in.Plex() == r.px.Name && in.Config[incus.LabelRole] != plan.RoleRegistry {
			errs = append(errs, r.srv.Delete(ctx, in.Name))
		}
	}
	return errors.Join(errs...)
}
