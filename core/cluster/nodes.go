package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/plex-dev/plex/core/cloudinit"
	"github.com/plex-dev/plex/core/cni"
	"github.com/plex-dev/plex/core/incus"
	"github.com/plex-dev/plex/core/internal/action"
	"github.com/plex-dev/plex/core/internal/boot"
	"github.com/plex-dev/plex/core/nodefiles"
	"github.com/plex-dev/plex/core/plan"
	"github.com/plex-dev/plex/core/spec"
)

// LabelSSHHostKey holds a node's SSH host public key, so known_hosts can be
// written from Incus alone.
const LabelSSHHostKey = incus.LabelPrefix + "ssh-host-key"

// instanceSpec builds what Incus is asked to create for a node, and the
// files written into it before its first start (nodefiles).
func (r *run) instanceSpec(n plan.Node) (incus.InstanceSpec, []nodefiles.File, error) {
	key, err := cloudinit.NewHostKey()
	if err != nil {
		return incus.InstanceSpec{}, nil, err
	}
	prefix, err := netip.ParsePrefix(r.px.NodeSubnet)
	if err != nil {
		return incus.InstanceSpec{}, nil, fmt.Errorf("node subnet %q: %w", r.px.NodeSubnet, err)
	}
	// The plex's image cache, and registryMirror for registry.k8s.io
	// (registry.go).
	files, err := nodefiles.Files(nodefiles.Input{
		Node:           n,
		Gateway:        r.px.Gateway,
		PrefixLen:      prefix.Bits(),
		Mirrors:        r.nodeMirrors(),
		HostKey:        key,
		AuthorizedKeys: userAuthorizedKeys(),
		PrePull:        prePull(n, r.px),
	})
	if err != nil {
		return incus.InstanceSpec{}, nil, err
	}
	if r.px.CNI == spec.CNIBridge {
		// The pod network as syncNetwork would make it, so that the node
		// needs no such step: networkd applies the routes at boot, and the
		// masquerade unit runs.
		net, _, err := r.podNetworkFiles(n, r.podNetwork())
		if err != nil {
			return incus.InstanceSpec{}, nil, err
		}
		files = append(files, net...)
		files = append(files, nodefiles.WantedAtBoot(cni.MasqUnitName))
	}
	cfg := map[string]string{
		incus.LabelManaged:   "true",
		incus.LabelPlex:      r.px.Name,
		incus.LabelRole:      n.Role,
		incus.LabelIndex:     strconv.Itoa(n.Index),
		incus.LabelType:      n.Type,
		incus.LabelAddress:   n.Address,
		incus.LabelPodCIDR:   n.PodCIDR,
		incus.LabelPodSubnet: r.px.PodSubnet,
		incus.LabelCNI:       r.px.CNI,
		LabelSSHHostKey:      strings.TrimSpace(key.AuthorizedKey),
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
	}, files, nil
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

// preflight checks everything that can be checked before creating anything
// (images, name conflicts, the CNI manifest), and finds which of the plex's
// nodes are missing or stopped, and its image cache.
func (r *run) preflight(ctx context.Context) error {
	list, err := r.srv.ListInstances(ctx)
	if err != nil {
		return err
	}
	existing := existingByName(list)
	var errs []error
	if r.px.CNI == spec.CNIManifest {
		if _, err := os.Stat(r.px.CNIManifest); err != nil {
			errs = append(errs, fmt.Errorf("cniManifest: %w; give the path of a CNI manifest (relative to the spec file)", err))
		}
	}
	images := map[string]bool{}
	r.missing, r.stopped = nil, nil
	for _, n := range r.kube {
		in, ok := existing[n.Name]
		switch {
		case ok && in.Plex() != r.px.Name:
			errs = append(errs, fmt.Errorf("an instance named %s exists but plex did not create it for this plex; plex will not touch it: delete or rename it, or change the plex name", n.Name))
		case ok && in.Status != "Running":
			r.stopped = append(r.stopped, n)
		case !ok:
			r.missing = append(r.missing, n)
			if images[n.Image] {
				continue
			}
			images[n.Image] = true
			if _, err := r.srv.ImageByAlias(ctx, n.Image); incus.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("image %s is not on remote %s: bake it with `incus plexbake bake %s %s`", n.Image, r.srv.Remote(), n.Type, spec.BaseOf(n.Image)))
			} else if err != nil {
				errs = append(errs, fmt.Errorf("looking up image %s: %w", n.Image, err))
			}
		}
	}
	r.beyond = nil
	for _, in := range list {
		if in.Plex() != r.px.Name || in.Status != "Running" || slices.ContainsFunc(r.kube, func(k plan.Node) bool { return k.Name == in.Name }) {
			continue
		}
		if n := liveNode(in); n.Role == plan.RoleControlPlane || n.Role == plan.RoleWorker {
			r.beyond = append(r.beyond, n)
		}
	}
	r.useCache(list)
	return errors.Join(errs...)
}

// podNetwork are the nodes the pod network routes between: the plan's, and
// the running ones beyond it that `kubectl plex join` added, so that a join
// or an up with a spec that does not list them keeps their routes.
func (r *run) podNetwork() []plan.Node {
	return append(slices.Clone(r.kube), r.beyond...)
}

// createNodes creates and starts nodes, and registers the undo of each
// right after Incus has made it. Incus writes each node's files as it first
// starts (incus.SeedFiles): a push into the stopped instance would start
// incusd's file helper, which the start then waits for, a second in most
// tries.
func (r *run) createNodes(ctx context.Context, nodes []plan.Node) error {
	hosts, err := r.hostsFile()
	if err != nil {
		return err
	}
	return r.eachNode(ctx, nodes, func(n plan.Node) error {
		is, files, err := r.instanceSpec(n)
		if err != nil {
			return err
		}
		seed := make([]incus.SeedFile, 0, len(files)+1)
		for _, f := range append(files, hosts) {
			seed = append(seed, incus.SeedFile{Path: f.Path, Content: f.Content, Mode: f.Mode})
		}
		err = r.srv.CreateInstance(ctx, is)
		if err == nil || ctx.Err() != nil {
			// A create that a Ctrl-C cut short may have made the instance
			// all the same; deleting one that is not there is no error.
			r.rv.Add("instance", n.Name, func(ctx context.Context) error { return r.srv.Delete(ctx, n.Name) })
		}
		if err != nil {
			return err
		}
		if err := r.srv.SeedFiles(ctx, n.Name, seed); err != nil {
			return err
		}
		return r.srv.Start(ctx, n.Name)
	})
}

// prePull is the Kubernetes version whose control-plane images node n pulls
// at boot: on control-plane nodes only, as workers need none of them.
func prePull(n plan.Node, p plan.Plex) string {
	if n.Role != plan.RoleControlPlane {
		return ""
	}
	return p.KubernetesVersion
}

// pushFiles writes files into the running instance name, all at once.
func (r *run) pushFiles(ctx context.Context, name string, files []nodefiles.File) error {
	errs := make([]error, len(files))
	var wg sync.WaitGroup
	for i, f := range files {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = r.srv.PushFile(ctx, name, f.Path, f.Content, f.Mode)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// hostsFile is a node's /etc/hosts: every kube node of the plex.
func (r *run) hostsFile() (nodefiles.File, error) {
	var hosts []cloudinit.Host
	for _, m := range r.kube {
		hosts = append(hosts, cloudinit.Host{Name: m.Name, Address: m.Address})
	}
	return nodefiles.Hosts(hosts)
}

// startNodes starts nodes that exist but are stopped.
func (r *run) startNodes(ctx context.Context, nodes []plan.Node) error {
	return r.eachNode(ctx, nodes, func(n plan.Node) error { return r.srv.Start(ctx, n.Name) })
}

// nodeFacts are what plex detects inside a node.
type nodeFacts struct {
	// CgroupV1 is true on a cgroup v1 (or hybrid) host.
	CgroupV1 bool
	// RestrictOOMScoreAdj is true where no process may lower oom_score_adj.
	RestrictOOMScoreAdj bool
}

// factsScript runs once a node has booted (boot.Wait's probe) and reports
// the facts kubelet's configuration depends on. When lowering
// oom_score_adj is refused, containerd is told not to try (runc would kill
// every pod sandbox otherwise).
const factsScript = `set -u
cg=v2; [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ] || cg=v1
oom=ok; sh -c 'echo -999 > /proc/self/oom_score_adj' 2>/dev/null || oom=restricted
if [ "$oom" = restricted ] && [ -f /etc/containerd/config.toml ] && ! grep -q 'restrict_oom_score_adj = true' /etc/containerd/config.toml; then
  sed -i 's/restrict_oom_score_adj = false/restrict_oom_score_adj = true/' /etc/containerd/config.toml
  systemctl restart containerd
fi
echo "cgroup=$cg oom=$oom"
`

// splitBoot divides the nodes to wait for. The control planes, and the
// nodes that were there before this run, must have booted before kubeadm init
// and the route and VIP steps; the workers this run created boot meanwhile,
// and are waited for just before they join. On shared cores that takes their
// boot out of the critical path.
func (r *run) splitBoot(context.Context) error {
	r.bootFirst, r.bootLater = nil, nil
	for _, n := range r.kube {
		if n.Role == plan.RoleWorker && r.isFresh(n.Name) {
			r.bootLater = append(r.bootLater, n)
		} else {
			r.bootFirst = append(r.bootFirst, n)
		}
	}
	return nil
}

// waitBootAction waits for *nodes to boot, titled with their count; it
// changes nothing, so a run that only waits still has "no changes". With
// keepFacts, the facts its first node reports are the run's: the nodes share
// a host.
func (r *run) waitBootAction(nodes *[]plan.Node, what string, keepFacts bool) action.Action {
	return action.When(func() bool { return len(*nodes) > 0 },
		r.actf(func() string { return fmt.Sprintf("waiting for %d %s to boot", len(*nodes), what) }, func(ctx context.Context) error {
			return r.waitBoot(ctx, *nodes, keepFacts)
		}))
}

// waitBoot waits until nodes have booted with their planned addresses.
func (r *run) waitBoot(ctx context.Context, nodes []plan.Node, keepFacts bool) error {
	var (
		mu   sync.Mutex
		outs = map[string]string{}
	)
	err := r.eachNode(ctx, nodes, func(n plan.Node) error {
		out, err := boot.Wait(ctx, untraced(r.srv), n.Name, r.seams.bootOptions(boot.Options{Address: n.Address, Probe: factsScript, Network: r.px.Network}))
		mu.Lock()
		outs[n.Name] = out
		mu.Unlock()
		return err
	})
	if err != nil || len(nodes) == 0 || !keepFacts {
		return err
	}
	out := outs[nodes[0].Name]
	r.facts = nodeFacts{CgroupV1: strings.Contains(out, "cgroup=v1"), RestrictOOMScoreAdj: strings.Contains(out, "oom=restricted")}
	return nil
}

// deleteAll deletes every instance labelled for this plex.
func (r *run) deleteAll(ctx context.Context) error {
	list, err := r.srv.ListInstances(ctx)
	if err != nil {
		return err
	}
	var mine []plan.Node
	for _, in := range list {
		// The plex's registry cache belongs to plex-registry, and keeps
		// serving the re-created nodes.
		if in.Plex() == r.px.Name && in.Config[incus.LabelRole] != plan.RoleRegistry {
			mine = append(mine, plan.Node{Name: in.Name})
		}
	}
	r.markChanged()
	return r.deleteNodes(ctx, mine)
}
