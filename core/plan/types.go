// Package plan resolves a plex spec into the concrete nodes plex manages:
// names, roles, static addresses, pod CIDRs, image aliases, placement, limits
// and profiles. A plan is pure data; comparing it with what exists on Incus is
// Diff's job, and nothing here changes anything.
package plan

// Roles a node can have.
const (
	RoleControlPlane = "control-plane"
	RoleWorker       = "worker"
	RoleRegistry     = "registry"
)

// Plan is the resolved form of a spec file.
type Plan struct {
	Plexes []Plex `json:"plexes"`
}

// Plex is one resolved plex.
type Plex struct {
	Name              string `json:"name"`
	Remote            string `json:"remote"`
	Project           string `json:"project"`
	StoragePool       string `json:"storagePool,omitempty"`
	Network           string `json:"network"`
	NetworkMode       string `json:"networkMode"`
	NodeSubnet        string `json:"nodeSubnet"`
	Gateway           string `json:"gateway"`
	PodSubnet         string `json:"podSubnet"`
	ServiceSubnet     string `json:"serviceSubnet"`
	KubernetesVersion string `json:"kubernetesVersion"`
	CNI               string `json:"cni"`
	CNIManifest       string `json:"cniManifest,omitempty"`
	RegistryMirror    string `json:"registryMirror,omitempty"`
	ControlPlanes     int    `json:"controlPlanes"`
	// APIVIP is the control plane's virtual IP (three control planes only).
	APIVIP string `json:"apiVIP,omitempty"`
	// Endpoint is the API server endpoint (host:port) nodes join through.
	Endpoint string `json:"endpoint"`
	Flux     *Flux  `json:"flux,omitempty"`
	Nodes    []Node `json:"nodes"`
}

// Flux is the resolved Git source.
type Flux struct {
	URL    string `json:"url"`
	Branch string `json:"branch"`
	Path   string `json:"path"`
}

// Node is one resolved node.
type Node struct {
	Name  string `json:"name"`
	Index int    `json:"index"`
	Type  string `json:"type"`
	// Base is the OS base of the node's group, such as debian12.
	Base    string `json:"base"`
	Role    string `json:"role"`
	Address string `json:"address"`
	// PodCIDR is this node's slice of the pod subnet (kube nodes only).
	PodCIDR string `json:"podCIDR,omitempty"`
	Image   string `json:"image"`
	// Target is where the node is created. Resolved from the spec alone it
	// is the spec's intent: a member, "@group", or empty (no placement, or a
	// standalone server). Place, given the live cluster, turns it into the
	// member the node lives on.
	Target string `json:"target,omitempty"`
	// Placed says how Place chose Target: "spec" (the spec named the
	// member), "spread" (plex spread the nodes evenly over the online
	// members), "@group" (the least-loaded online member of that cluster
	// group), or "exists" (the instance is there already). Empty when the
	// plan was made without looking at the cluster.
	Placed   string   `json:"placed,omitempty"`
	CPU      string   `json:"cpu,omitempty"`
	Memory   string   `json:"memory,omitempty"`
	Profiles []string `json:"profiles"`
}
