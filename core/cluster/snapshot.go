package cluster

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/plex-dev/plex/core/incus"
	"github.com/plex-dev/plex/core/internal/action"
	"github.com/plex-dev/plex/core/internal/lock"
	"github.com/plex-dev/plex/core/nodefiles"
	"github.com/plex-dev/plex/core/plan"
	"github.com/plex-dev/plex/core/status"
)

// A plex's snapshot is one Incus snapshot of the same name on each of its
// Kubernetes nodes, taken live (stateless: the filesystems, not the
// memory) right after a copy of etcd's data is saved on the first
// control-plane node. The registry cache is plex-registry's and is left out.
// Each snapshot carries plex's labels in its config (incus.LabelSnapshot,
// LabelSnapshotNodes, LabelSpecHash), set on the instance just before;
// plex lists, restores and deletes only the snapshots that carry them.

// etcdSnapshotDir is where, on the first control-plane node, snapshot
// saves etcd's data before the Incus snapshots: the file is in the node's
// snapshot, and removed from the running node afterwards.
const etcdSnapshotDir = "/var/lib/plex"

// EtcdSnapshotPath is the file, on the plex's first control-plane node
// after a restore, that holds etcd's data as snapshot saved it: what
// `etcdutl snapshot restore` takes if etcd's own data ever is beyond repair.
func EtcdSnapshotPath(snap string) string { return etcdSnapshotDir + "/etcd-" + snap + ".db" }

// snapshotName is what Incus takes as a snapshot name, and what reads well
// in a shell.
var snapshotName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// DefaultSnapshotName is the name snapshot gives when none is asked for:
// the time, in UTC, to the second.
func DefaultSnapshotName(t time.Time) string { return t.UTC().Format("20060102-150405") }

// SnapshotOptions are the inputs of Snapshot.
type SnapshotOptions struct {
	Ref
	// Snapshot is the snapshot's name; empty means DefaultSnapshotName.
	Snapshot string
	NoWait   bool
	Log      *status.Logger
}

// Snapshot saves the state of every Kubernetes node of a running plex
// under one name, and returns the name. It holds the plex's lock. If a
// node's snapshot fails, the snapshots already taken are deleted again.
func Snapshot(ctx context.Context, o SnapshotOptions) (string, error) {
	if o.Log == nil {
		o.Log = status.Discard()
	}
	if o.Snapshot == "" {
		o.Snapshot = DefaultSnapshotName(time.Now())
	}
	if err := checkSnapshotName(o.Snapshot); err != nil {
		return "", err
	}
	srv, err := o.connect(ctx)
	if err != nil {
		return "", err
	}
	return o.Snapshot, o.holdPlex(ctx, srv, o.Name, "snapshot", o.NoWait, o.Log, func(ctx context.Context, l *lock.Lock) error {
		r := newRun(plan.Plex{Name: o.Name}, srv, o.Log, o.seams, "snapshot", runOptions{})
		r.lock = l
		return r.snapshot(ctx, o.Snapshot)
	})
}

func checkSnapshotName(name string) error {
	if !snapshotName.MatchString(name) {
		return fmt.Errorf("snapshot name %q: use letters, digits, '.', '_' and '-' (at most 63, starting with a letter or digit), like 20261202-031500 or before-upgrade", name)
	}
	return nil
}

// snapState is what the snapshot verbs find, for the actions after.
type snapState struct {
	name string
	// have are the nodes that hold plex's snapshot of the name.
	have []plan.Node
	// diff says how the plex's nodes differ from the snapshot's ("" when
	// they match).
	diff string
	// since is when restore started: a node is Ready again once its
	// kubelet has reported after that.
	since time.Time
}

// snapshot is the whole of `kubectl plex snapshot` for one plex, in order.
func (r *run) snapshot(ctx context.Context, name string) (err error) {
	start := time.Now()
	r.snap.name = name
	defer func() { err = r.fail(err) }()
	err = action.RunFor(ctx, r.log, r.px.Name,
		r.quiet("finding the plex's nodes", r.discoverKube),
		r.quiet("checking that snapshot "+name+" is new", r.checkSnapshotFree),
		r.actf(func() string { return "saving etcd's data on " + r.cp.Name + " (" + EtcdSnapshotPath(name) + ")" }, r.saveEtcd),
		r.actf(func() string {
			return fmt.Sprintf("snapshotting %d node(s) %s as %s", len(r.kube), r.snapshotHow(), name)
		}, r.snapshotNodes),
		r.quiet("removing etcd's copy from the running node", r.dropEtcdCopy),
	)
	if err == nil {
		r.log.Infof(" ✓ %s: snapshot %s of %d node(s) in %s; put the plex back to it with: kubectl plex restore %s %s",
			r.px.Name, name, len(r.kube), time.Since(start).Round(100*time.Millisecond), r.px.Name, name)
	}
	return err
}

// discoverKube finds the plex's Kubernetes nodes from their labels, and its
// first control-plane node.
func (r *run) discoverKube(ctx context.Context) error {
	lp, err := discover(ctx, r.srv, r.px.Name)
	if err != nil {
		return err
	}
	r.px = lp.Plex
	r.px.Name = lp.Name
	r.kube = kubeNodes(lp.Plex)
	if len(r.kube) == 0 {
		return fmt.Errorf("plex %s has no Kubernetes nodes on incus remote %q", r.px.Name, r.srv.Remote())
	}
	for _, n := range r.kube {
		if n.Role == plan.RoleControlPlane {
			r.cp = n
			return nil
		}
	}
	return fmt.Errorf("plex %s has no control-plane node; bring it up with `kubectl plex up`", r.px.Name)
}

// checkSnapshotFree refuses a name that a node already has a snapshot of,
// plex's or not.
func (r *run) checkSnapshotFree(ctx context.Context) error {
	var mu sync.Mutex
	var taken []string
	err := r.eachNode(ctx, r.kube, func(n plan.Node) error {
		list, err := r.srv.ListSnapshots(ctx, n.Name)
		if err != nil {
			return err
		}
		for _, s := range list {
			if s.Name == r.snap.name {
				mu.Lock()
				taken = append(taken, n.Name)
				mu.Unlock()
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(taken) > 0 {
		sort.Strings(taken)
		return fmt.Errorf("node(s) %s already have a snapshot %s: choose another name, or delete it first with `kubectl plex snapshot delete %s %s`",
			strings.Join(taken, ", "), r.snap.name, r.px.Name, r.snap.name)
	}
	return nil
}

// saveEtcd saves a copy of etcd's data on the first control-plane node, so
// that the node's snapshot holds it.
func (r *run) saveEtcd(ctx context.Context) error {
	data, err := r.seams.etcdSnapshot(ctx, r.srv, r.cp.Name, r.controlPlanes())
	if err != nil {
		return fmt.Errorf("reading etcd's data: %w; is the plex up (`kubectl plex status %s`)?", err, r.px.Name)
	}
	path := EtcdSnapshotPath(r.snap.name)
	if err := r.srv.PushFile(ctx, r.cp.Name, path, data, 0o600); err != nil {
		return err
	}
	r.rv.Add("etcd copy", r.cp.Name+":"+path, func(ctx context.Context) error {
		_, err := r.srv.Run(ctx, r.cp.Name, "rm", "-f", path)
		return err
	})
	return nil
}

func (r *run) controlPlanes() []plan.Node {
	var cps []plan.Node
	for _, n := range r.kube {
		if n.Role == plan.RoleControlPlane {
			cps = append(cps, n)
		}
	}
	return cps
}

// snapshotNodes labels every node with the snapshot's name, the plex's
// nodes and its spec hash, then snapshots them all at once.
//
// With more than one control plane, the control planes are frozen from
// before the first snapshot to after the last. A live snapshot of an etcd
// member is what a power cut would leave, which one member recovers from;
// but members snapshotted live one after another are not: a member taken
// last can hold raft entries that the others, taken earlier, acknowledged
// after their snapshots. Restored, those others elect a leader without the
// entries, and the last member never rejoins (seen in TestHA: "failed to
// publish local member to cluster through raft"). Frozen members stop at
// once, like members that crashed one after another, which raft is built for.
func (r *run) snapshotNodes(ctx context.Context) (err error) {
	labels := map[string]string{
		incus.LabelSnapshot:      r.snap.name,
		incus.LabelSnapshotNodes: strings.Join(sortedNames(r.kube), ","),
		incus.LabelSpecHash:      specHash(r.px),
	}
	err = r.eachNode(ctx, r.kube, func(n plan.Node) error {
		if err := r.srv.SetInstanceConfig(ctx, n.Name, labels); err != nil {
			return err
		}
		// A node made by an earlier plex still runs cloud-init at boot;
		// from now on it does not, restored or not (nodefiles).
		return r.srv.PushFile(ctx, n.Name, nodefiles.CloudInitDisabled, []byte(nodefiles.CloudInitDisabledNote), 0o644)
	})
	if err != nil {
		return err
	}
	if cps := controlPlaneNodes(r.px); len(cps) > 1 {
		// Thawed even when the run was interrupted meanwhile (for at most
		// 30 s): a frozen control plane is an outage.
		defer func() {
			tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if terr := r.eachNode(tctx, cps, func(n plan.Node) error { return r.srv.Unfreeze(tctx, n.Name) }); terr != nil && err == nil {
				err = terr
			}
		}()
		if err = r.eachNode(ctx, cps, func(n plan.Node) error { return r.srv.Freeze(ctx, n.Name) }); err != nil {
			return err
		}
	}
	return r.eachNode(ctx, r.kube, func(n plan.Node) error {
		if err := r.srv.CreateSnapshot(ctx, n.Name, r.snap.name); err != nil {
			return err
		}
		r.rv.Add("snapshot", n.Name+"/"+r.snap.name, func(ctx context.Context) error {
			return r.srv.DeleteSnapshot(ctx, n.Name, r.snap.name)
		})
		return nil
	})
}

// snapshotHow says how snapshotNodes takes the nodes, for its status line.
func (r *run) snapshotHow() string {
	if len(controlPlaneNodes(r.px)) > 1 {
		return "(control planes frozen)"
	}
	return "live"
}

// dropEtcdCopy removes etcd's copy from the running node: the snapshot
// has it. A failure only leaves a file behind.
func (r *run) dropEtcdCopy(ctx context.Context) error {
	if _, err := r.srv.Run(ctx, r.cp.Name, "rm", "-f", EtcdSnapshotPath(r.snap.name)); err != nil {
		r.log.Infof(" ! %s: could not remove %s from %s: %v", r.px.Name, EtcdSnapshotPath(r.snap.name), r.cp.Name, err)
	}
	return nil
}

// specHash is a short hash of the plex as its nodes' labels record it.
func specHash(px plan.Plex) string {
	nodes := slices.Clone(kubeNodes(px))
	sort.Slice(nodes, func(a, b int) bool { return nodes[a].Name < nodes[b].Name })
	h := sha256.New()
	fmt.Fprintf(h, "pod-subnet=%s cni=%s\n", px.PodSubnet, px.CNI)
	for _, n := range nodes {
		fmt.Fprintf(h, "%s %s %d %s %s\n", n.Name, n.Role, n.Index, n.Address, n.PodCIDR)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func sortedNames(nodes []plan.Node) []string {
	names := nodeNames(nodes)
	sort.Strings(names)
	return names
}

// etcdSnapshot streams etcd's data (clientv3 Maintenance.Snapshot) from a
// member on cps, with the client certificate on node via.
func etcdSnapshot(ctx context.Context, srv Incus, via string, cps []plan.Node) ([]byte, error) {
	cli, err := etcdClient(ctx, srv, via, cps)
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	rc, err := cli.Snapshot(sctx)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, rc); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
