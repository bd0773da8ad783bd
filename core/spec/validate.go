package spec

import (
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

var (
	// A plex name is an RFC 1123 label that starts with a letter: the node
	// names built from it are hostnames and Incus instance names.
	plexNameRE = regexp.MustCompile(`^[a-z]([-a-z0-9]*[a-z0-9])?$`)
	// An Incus object name (remote, project, storage pool, network): no
	// spaces, slashes or colons, which the incus CLI gives meaning to.
	incusNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)
	// A base is the first half of the image alias <base>_<type>.
	baseRE       = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$`)
	kubeVerRE    = regexp.MustCompile(`^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$`)
	memoryRE     = regexp.MustCompile(`^([1-9][0-9]*(kB|MB|GB|TB|KiB|MiB|GiB|TiB)|([1-9][0-9]?|100)%)$`)
	cpuCountRE   = regexp.MustCompile(`^[1-9][0-9]*$`)
	cpuSetItemRE = regexp.MustCompile(`^([0-9]+)(-([0-9]+))?$`)
)

// maxNameLen is the longest hostname label (RFC 1123).
const maxNameLen = 63

// Validate checks a defaulted spec (see SetDefaults) and returns every
// problem at once as an ErrorList, or nil. Each entry names the field and says
// what to write instead.
func Validate(c *Config) error {
	v := &validator{}
	v.config(c)
	if len(v.errs) == 0 {
		return nil
	}
	return v.errs
}

type validator struct {
	errs ErrorList
}

func (v *validator) add(field, format string, args ...any) {
	v.errs = append(v.errs, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// planned is what validating one plex learned about its nodes, for the checks
// that span plexes.
type planned struct {
	plex  *Plex
	field string // plexes[i]
	nodes []plannedNode
}

type plannedNode struct {
	index int
	field string // plexes[i].nodes[g].indices
	addr  string // "" when the node subnet is invalid
}

func (v *validator) config(c *Config) {
	if len(c.Plexes) == 0 {
		v.add("plexes", "no plexes: describe at least one under plexes: (see examples/omniplex.yaml)")
		return
	}
	seen := map[string]int{}
	var all []planned
	for i := range c.Plexes {
		p := &c.Plexes[i]
		pl := v.plex(fmt.Sprintf("plexes[%d]", i), p)
		if j, dup := seen[p.Name]; dup && p.Name != "" {
			v.add(pl.field+".name", "plex name %q is already used by plexes[%d]: give each plex its own name", p.Name, j)
			continue // its node names and addresses would only repeat that error
		}
		seen[p.Name] = i
		all = append(all, pl)
	}
	v.acrossPlexes(all)
}

// plex checks one plex and returns its nodes.
func (v *validator) plex(f string, p *Plex) planned {
	v.plexName(f, p)
	v.placement(f, p)
	net := v.networkFields(f, p)

	if !kubeVerRE.MatchString(p.KubernetesVersion) {
		v.add(f+".kubernetesVersion", "%q is not vMAJOR.MINOR.PATCH: write a release like %s", p.KubernetesVersion, DefaultKubernetesVersion)
	}
	if p.ControlPlanes != 1 && p.ControlPlanes != 3 {
		v.add(f+".controlPlanes", "controlPlanes is %d: use 1, or 3 for a highly available control plane (etcd wants an odd count)", p.ControlPlanes)
	}
	switch p.CNI {
	case CNIBridge:
		if p.CNIManifest != "" {
			v.add(f+".cniManifest", "cniManifest is set but cni is %q: write cni: %s to apply the manifest, or remove cniManifest", p.CNI, CNIManifest)
		}
	case CNIManifest:
		if strings.TrimSpace(p.CNIManifest) == "" {
			v.add(f+".cniManifest", "cni is %s but cniManifest is empty: give the path of the CNI manifest to apply, like cniManifest: cilium.yaml", CNIManifest)
		}
	default:
		v.add(f+".cni", "unknown cni %q: use %s (the default; needs no image) or %s (with cniManifest: path/to/cni.yaml)", p.CNI, CNIBridge, CNIManifest)
	}
	if p.RegistryMirror != "" {
		u, err := url.Parse(p.RegistryMirror)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.add(f+".registryMirror", "%q is not an http(s) URL: write it like http://10.212.0.1:5000", p.RegistryMirror)
		}
	}
	if p.Flux != nil {
		v.fluxURL(f+".flux.url", p.Flux.URL)
	}
	v.limits(f, p)

	pl := planned{plex: p, field: f}
	kube, eligible := v.groups(f, p, &pl)
	if len(pl.nodes) == 0 {
		return pl
	}
	maxIndex := pl.nodes[len(pl.nodes)-1].index
	if p.Name != "" && len(p.NodeName(maxIndex)) > maxNameLen {
		v.add(f+".name", "node name %s would be %d characters and a hostname allows %d: shorten the plex name", p.NodeName(maxIndex), len(p.NodeName(maxIndex)), maxNameLen)
	}
	v.nodeAddresses(f, p, net, &pl)
	v.apiVIP(f, p, net, &pl)
	if len(kube) > 0 {
		v.podCapacity(f, p, net, kube[len(kube)-1])
	}
	v.controlPlane(f, p, kube, eligible)
	return pl
}

func (v *validator) plexName(f string, p *Plex) {
	switch {
	case p.Name == "":
		v.add(f+".name", "name is required: node names are the plex name followed by the index, so name: omniplex gives omniplex1, omniplex2, …")
	case !plexNameRE.MatchString(p.Name):
		v.add(f+".name", "%q is not a valid hostname label: use lowercase letters, digits and '-', starting with a letter and ending with a letter or digit, like omniplex", p.Name)
	}
}

// placement checks where the plex lives on Incus.
func (v *validator) placement(f string, p *Plex) {
	if p.Remote != "" && !incusNameRE.MatchString(p.Remote) {
		v.add(f+".remote", "%q is not an incus remote name: write the name as `incus remote list` shows it, without a colon, like lab2", p.Remote)
	}
	if !incusNameRE.MatchString(p.Project) {
		v.add(f+".project", "%q is not an incus project name: use letters, digits, '_', '.' and '-', like default", p.Project)
	}
	if p.StoragePool != "" && !incusNameRE.MatchString(p.StoragePool) {
		v.add(f+".storagePool", "%q is not an incus storage pool name: write the name as `incus storage list` shows it", p.StoragePool)
	}
	if !incusNameRE.MatchString(p.Network) || len(p.Network) > 15 {
		v.add(f+".network", "%q is not a network name: a network is a Linux interface, at most 15 letters, digits, '_', '.' or '-', like incusbr0", p.Network)
	}
	if p.NetworkMode != NetworkManaged && p.NetworkMode != NetworkBridged {
		v.add(f+".networkMode", "unknown networkMode %q: use %s (an Incus managed network) or %s (an existing host bridge such as br0)", p.NetworkMode, NetworkManaged, NetworkBridged)
	}
}

// fluxURL checks that Flux can clone the Git repository: its GitRepository
// takes http://, https:// and ssh:// URLs only (the CRD's pattern is
// ^(http|https|ssh)://), so an scp-like git@host:path that git itself would
// take fails only when fluxstrap applies it.
func (v *validator) fluxURL(field, raw string) {
	const forms = "https://github.com/you/fleet, http://10.212.0.1:8080/fleet.git or ssh://git@github.com/you/fleet"
	if strings.TrimSpace(raw) == "" {
		v.add(field, "flux.url is empty: give the Git repository Flux syncs from, like https://github.com/you/fleet, or remove the flux block")
		return
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		if user, path, ok := scpLike(raw); ok {
			v.add(field, "%q is scp-like, and Flux takes SSH repositories only as ssh:// URLs: write flux.url: ssh://%s/%s", raw, user, path)
			return
		}
		if err == nil && u.Scheme != "" && u.Opaque == "" {
			v.add(field, "%q names no host: write flux.url like %s", raw, forms)
			return
		}
		v.add(field, "%q is not a URL Flux can clone: write flux.url like %s", raw, forms)
		return
	}
	switch u.Scheme {
	case "http", "https", "ssh":
	default:
		v.add(field, "%q is a %s URL, and Flux clones Git repositories over http, https or ssh only: write flux.url like %s", raw, u.Scheme, forms)
	}
}

// scpLike splits an scp-like Git address, user@host:path, into user@host and
// the path.
func scpLike(raw string) (userHost, path string, ok bool) {
	userHost, path, ok = strings.Cut(raw, ":")
	if !ok || strings.Contains(raw, "://") || !strings.Contains(userHost, "@") || strings.ContainsAny(userHost, "/ ") {
		return "", "", false
	}
	return userHost, strings.TrimPrefix(path, "/"), true
}

// limits checks the per-node-type resource limits.
func (v *validator) limits(f string, p *Plex) {
	types := make([]string, 0, len(p.Limits))
	for t := range p.Limits {
		types = append(types, t)
	}
	sort.Strings(types)
	for _, t := range types {
		lf := f + ".limits." + t
		if t != NodeTypeKube && t != NodeTypeRegistry {
			v.add(lf, "unknown node type %q: limits are given per node type, %s or %s", t, NodeTypeKube, NodeTypeRegistry)
			continue
		}
		l := p.Limits[t]
		if !validCPU(l.CPU) {
			v.add(lf+".cpu", "%q is neither a CPU count like 2 nor a CPU set like 0-1 or 0,2-3", l.CPU)
		}
		if !memoryRE.MatchString(l.Memory) {
			v.add(lf+".memory", "%q is not a memory size: write it like 2GiB or 512MiB (or a share of the host, like 50%%)", l.Memory)
		}
	}
}

// validCPU accepts what Incus's limits.cpu does: a count, or a set of CPU
// ids and ranges.
func validCPU(s string) bool {
	if cpuCountRE.MatchString(s) {
		return true
	}
	if !strings.ContainsAny(s, ",-") {
		return false // "0" would be a count of zero
	}
	for _, item := range strings.Split(s, ",") {
		m := cpuSetItemRE.FindStringSubmatch(item)
		if m == nil {
			return false
		}
		if m[3] != "" {
			lo, _ := strconv.Atoi(m[1])
			hi, _ := strconv.Atoi(m[3])
			if hi < lo {
				return false
			}
		}
	}
	return true
}

// groups checks the node groups, adds their nodes to pl sorted by index, and
// returns the plex's kube indices and those that may be control-plane nodes,
// both sorted.
func (v *validator) groups(f string, p *Plex, pl *planned) (kube, eligible []int) {
	if len(p.Nodes) == 0 {
		v.add(f+".nodes", "no node groups: add one, like {base: debian12, type: kube, indices: \"1-3\"}")
		return nil, nil
	}
	owner := map[int]int{} // index → group
	for g := range p.Nodes {
		ng := &p.Nodes[g]
		gf := fmt.Sprintf("%s.nodes[%d]", f, g)
		switch {
		case ng.Base == "":
			v.add(gf+".base", "base is required: name the OS base the node image was baked from, like debian12 (the image alias is <base>_<type>)")
		case !baseRE.MatchString(ng.Base):
			v.add(gf+".base", "%q cannot be part of an image alias: use lowercase letters, digits, '.' and '-', like debian12", ng.Base)
		}
		typeOK := true
		switch ng.Type {
		case NodeTypeKube, NodeTypeRegistry:
		default:
			typeOK = false
			v.add(gf+".type", "unknown node type %q: use %s or %s (a kube node kept out of the control plane is type %s with role: %s)", ng.Type, NodeTypeKube, NodeTypeRegistry, NodeTypeKube, roleWorker)
		}
		switch {
		case ng.Role == "":
		case ng.Role != roleWorker:
			v.add(gf+".role", "unknown role %q: leave role out to let plex pick the control plane (the lowest kube indices), or write role: %s", ng.Role, roleWorker)
		case ng.Type != NodeTypeKube && typeOK:
			v.add(gf+".role", "role is only for kube groups, and this group is type %s: remove role", ng.Type)
		}
		if strings.ContainsAny(ng.Image, " \t\n") {
			v.add(gf+".image", "%q is not an image alias: an alias has no spaces", ng.Image)
		}
		v.targets(gf, ng)

		indices, err := ParseIndices(ng.Indices)
		if err != nil {
			v.add(gf+".indices", "%v", err)
			continue
		}
		var dups []int
		dupGroup := -1
		for _, i := range indices {
			if other, ok := owner[i]; ok {
				dups = append(dups, i)
				dupGroup = other
				continue
			}
			owner[i] = g
			pl.nodes = append(pl.nodes, plannedNode{index: i, field: gf + ".indices"})
			if ng.Type == NodeTypeKube {
				kube = append(kube, i)
				if ng.Role == "" {
					eligible = append(eligible, i)
				}
			}
		}
		if len(dups) > 0 {
			v.add(gf+".indices", "%s also in nodes[%d]: an index is one node (%s), so list it in one group only", describeIndices(dups), dupGroup, p.NodeName(dups[0]))
		}
	}
	sort.Slice(pl.nodes, func(a, b int) bool { return pl.nodes[a].index < pl.nodes[b].index })
	sort.Ints(kube)
	sort.Ints(eligible)
	return kube, eligible
}

func describeIndices(is []int) string {
	if len(is) == 1 {
		return "index " + strconv.Itoa(is[0]) + " is"
	}
	s := make([]string, len(is))
	for k, i := range is {
		s[k] = strconv.Itoa(i)
	}
	return "indices " + strings.Join(s, ", ") + " are"
}

// roleWorker is the one role a group may name; plan.RoleWorker is the same.
const roleWorker = "worker"

func (v *validator) targets(gf string, ng *NodeGroup) {
	if ng.Target != "" && len(ng.Targets) > 0 {
		v.add(gf+".targets", "target and targets are both set: use target for one member or cluster group, or targets to spread the nodes over several members")
	}
	seen := map[string]int{}
	for k, t := range ng.Targets {
		tf := fmt.Sprintf("%s.targets[%d]", gf, k)
		if strings.TrimSpace(t) == "" {
			v.add(tf, "empty target: name an Incus cluster member, like m1")
			continue
		}
		if j, ok := seen[t]; ok {
			v.add(tf, "%q is already targets[%d]: list each member once", t, j)
			continue
		}
		seen[t] = k
	}
}

// controlPlane checks that the plex can have the control plane it asks for.
func (v *validator) controlPlane(f string, p *Plex, kube, eligible []int) {
	switch {
	case len(kube) == 0:
		// A plex of registry nodes only has no Kubernetes to run.
	case len(eligible) == 0:
		v.add(f+".nodes", "every kube group has role: %s, so no node can run the control plane: remove role: %s from the group that should hold it", roleWorker, roleWorker)
	case (p.ControlPlanes == 1 || p.ControlPlanes == 3) && len(eligible) < p.ControlPlanes:
		names := make([]string, len(eligible))
		for k, i := range eligible {
			names[k] = p.NodeName(i)
		}
		v.add(f+".controlPlanes", "controlPlanes is %d but only %d kube node(s) can be control-plane nodes (%s): add kube indices to a group without role: %s, or set controlPlanes: 1",
			p.ControlPlanes, len(eligible), strings.Join(names, ", "), roleWorker)
	}
}
