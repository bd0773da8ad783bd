// Package spec holds the versioned plex spec: the file that describes one or
// several plexes (Kubernetes lab clusters made of Incus system containers).
//
// A spec is read with Load, which decodes strictly (unknown fields are errors),
// fills defaults with SetDefaults, and checks everything with Validate, which
// reports every problem at once with its field path.
package spec

// APIVersion and Kind identify the only spec version there is so far.
const (
	APIVersion = "plex.dev/v1alpha1"
	Kind       = "PlexConfig"
)

// Node types a node group may have.
const (
	// NodeTypeKube is a Kubernetes node. The first index of this type in a plex
	// is the first control-plane node; ControlPlanes says how many follow.
	NodeTypeKube = "kube"
	// NodeTypeRegistry is the read-through image cache instance.
	NodeTypeRegistry = "registry"
)

// CNI choices.
const (
	// CNIBridge is the default: the bridge and host-local plugins with each
	// node's pod CIDR from the plan and static routes between nodes. It needs no
	// container image.
	CNIBridge = "bridge"
	// CNIManifest applies a user-given manifest (Cilium, Calico, …) after init.
	CNIManifest = "manifest"
)

// Network modes.
const (
	// NetworkManaged attaches nodes to an Incus managed network.
	NetworkManaged = "managed"
	// NetworkBridged attaches nodes to an existing host bridge (nictype
	// bridged), the way labs spanning several hosts do.
	NetworkBridged = "bridged"
)

// Config is the top-level document of a plex spec file.
type Config struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// Plexes are the clusters this file describes.
	Plexes []Plex `json:"plexes"`
}

// Plex is one Kubernetes lab cluster.
type Plex struct {
	// Name is the plex name; node names are Name followed by the node index
	// (omniplex1, omniplex2, …). It must be a valid hostname label.
	Name string `json:"name"`

	// Remote is the Incus remote from the user's incus client configuration.
	// Empty means the client's default remote (normally "local", the unix
	// socket).
	Remote string `json:"remote,omitempty"`
	// Project is the Incus project. Default "default".
	Project string `json:"project,omitempty"`
	// StoragePool for the nodes' root disks. Empty means the profile's pool.
	StoragePool string `json:"storagePool,omitempty"`
	// Network the nodes attach to. Default "incusbr0".
	Network string `json:"network,omitempty"`
	// NetworkMode is "managed" (default) or "bridged" (Network then names a
	// host bridge such as br0).
	NetworkMode string `json:"networkMode,omitempty"`

	// NodeSubnet is the IPv4 subnet the nodes live in; node index i gets the
	// address NodeSubnet.network + AddressOffset + i.
	NodeSubnet string `json:"nodeSubnet"`
	// Gateway of the node subnet. Default: its first host address.
	Gateway string `json:"gateway,omitempty"`
	// AddressOffset is added to a node's index to derive its address.
	// Default 10, so omniplex1 gets .11.
	AddressOffset *int `json:"addressOffset,omitempty"`
	// PodSubnet is the cluster's pod CIDR; each node gets a slice of it.
	// Default 10.244.0.0/16.
	PodSubnet string `json:"podSubnet,omitempty"`
	// NodePodMaskSize is the prefix length of each node's pod CIDR. Default 24.
	NodePodMaskSize int `json:"nodePodMaskSize,omitempty"`
	// ServiceSubnet is the cluster's service CIDR. Default 10.96.0.0/12.
	ServiceSubnet string `json:"serviceSubnet,omitempty"`

	// KubernetesVersion, like v1.34.4. Default: the version plex is tested with.
	KubernetesVersion string `json:"kubernetesVersion,omitempty"`
	// ControlPlanes is the number of control-plane nodes: 1 (default) or 3.
	ControlPlanes int `json:"controlPlanes,omitempty"`
	// APIVIP is the virtual IP the API server is reached at when
	// ControlPlanes is 3: keepalived on the control-plane nodes holds it, and
	// it moves to another one when its holder fails. Default: the node
	// subnet's network + AddressOffset (the address index 0 would have).
	APIVIP string `json:"apiVIP,omitempty"`
	// CNI is "bridge" (default) or "manifest".
	CNI string `json:"cni,omitempty"`
	// CNIManifest is the path of the manifest applied when CNI is "manifest".
	CNIManifest string `json:"cniManifest,omitempty"`

	// RegistryMirror, when set, is the URL of a read-through image cache that
	// the nodes' container runtime uses before going upstream.
	RegistryMirror string `json:"registryMirror,omitempty"`
	// Flux, when set, is the Git source Flux reconciles the plex from, for
	// `kubectl plex fluxstrap -f FILE NAME` (up does not install Flux).
	Flux *Flux `json:"flux,omitempty"`

	// Limits per node type ("kube", "registry").
	Limits map[string]Limits `json:"limits,omitempty"`

	// Nodes are the node groups.
	Nodes []NodeGroup `json:"nodes"`
}

// Flux is the Git source of the plex's workload.
type Flux struct {
	URL    string `json:"url"`
	Branch string `json:"branch,omitempty"` // default "main"
	Path   string `json:"path,omitempty"`   // default "clusters/<plex>"
}

// Limits are the Incus resource limits of a node.
type Limits struct {
	// CPU is limits.cpu: a count ("2") or a set ("0-1").
	CPU string `json:"cpu,omitempty"`
	// Memory is limits.memory, like "2GiB".
	Memory string `json:"memory,omitempty"`
}

// NodeGroup is a set of nodes sharing an OS base image and a node type.
type NodeGroup struct {
	// Base is the OS base the node image was baked from, such as "debian12".
	// The node image alias is "<base>_<type>".
	Base string `json:"base"`
	// Type is the node type: "kube" or "registry". Default "kube".
	Type string `json:"type,omitempty"`
	// Role is "worker" to keep a kube group out of the control plane. Empty
	// lets plex choose: the lowest kube indices become control-plane nodes.
	Role string `json:"role,omitempty"`
	// Indices lists node indices, like "1, 3-14".
	Indices string `json:"indices"`
	// Image overrides the derived image alias.
	Image string `json:"image,omitempty"`
	// Target is the Incus cluster member ("m1") or cluster group ("@fast") the
	// nodes go to.
	Target string `json:"target,omitempty"`
	// Targets are members to spread the nodes across, evenly and
	// deterministically by index.
	Targets []string `json:"targets,omitempty"`
}
