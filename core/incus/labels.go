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
)

// IsManaged reports whether an instance's config carries plex's mark.
func IsManaged(config map[string]string) bool {
	return config[LabelManaged] == "true"
}
