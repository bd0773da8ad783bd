package incus

// Labels are Incus instance config keys (user.plex.*) that mark what plex
// created. plex finds its instances again by these keys alone and never
// touches an instance that lacks them.
const (
	LabelPrefix = "user.plex."
	// LabelManaged is "true" on everything plex creates.
	LabelManaged = LabelPrefix + "managed"
	// LabelPlex names the plex a node belongs to.
	LabelPlex = LabelPrefix + "plex"
	// LabelRole is the node's role: control-plane, worker or registry.
	LabelRole = LabelPrefix + "role"
	// LabelIndex is the node's index in its plex.
	LabelIndex = LabelPrefix + "index"
	// LabelType is the node type (kube, registry).
	LabelType = LabelPrefix + "type"
	// LabelAddress is the node's static address from the plan.
	LabelAddress = LabelPrefix + "address"
	// LabelPodCIDR is the node's pod CIDR from the plan.
	LabelPodCIDR = LabelPrefix + "pod-cidr"
	// LabelPodSubnet is the plex's pod subnet.
	LabelPodSubnet = LabelPrefix + "pod-subnet"
	// LabelCNI is the plex's CNI choice.
	LabelCNI = LabelPrefix + "cni"
	// LabelSnapshot is set on a node just before plex snapshots it, to the
	// snapshot's name, so the snapshot's own config carries it: a snapshot
	// is plex's when this key in its config equals its name (one a user
	// takes later inherits the key with an older name).
	LabelSnapshot = LabelPrefix + "snapshot"
	// LabelSnapshotNodes lists, comma-separated, the plex's nodes when the
	// snapshot was taken, so a restore can say which were added or removed.
	LabelSnapshotNodes = LabelPrefix + "snapshot-nodes"
	// LabelSpecHash is the hash of the plex's nodes as their labels record
	// them (name, role, index, address, pod CIDR) and of its pod subnet and
	// CNI, when the snapshot was taken.
	LabelSpecHash = LabelPrefix + "spec-hash"
)

// IsManaged reports whether an instance's config carries plex's mark.
func IsManaged(config map[string]string) bool {
	return config[LabelManaged] == "true"
}
