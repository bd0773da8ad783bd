package plan

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"sigs.k8s.io/yaml"
)

// WriteTable writes one aligned line per node: PLEX NAME ROLE ADDRESS IMAGE
// TARGET CPU MEMORY PROFILES. TARGET is the member when the plan was placed
// against the cluster (see Place), else the spec's intent. When states is not nil a STATE column follows,
// looked up by node name (see States); a node without a state shows "-", as
// does any empty cell.
func WriteTable(w io.Writer, p *Plan, states map[string]string) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	header := []string{"PLEX", "NAME", "ROLE", "ADDRESS", "IMAGE", "TARGET", "CPU", "MEMORY", "PROFILES"}
	if states != nil {
		header = append(header, "STATE")
	}
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, px := range p.Plexes {
		for _, n := range px.Nodes {
			row := []string{px.Name, n.Name, n.Role, n.Address, n.Image, targetCell(n), n.CPU, n.Memory, strings.Join(n.Profiles, ",")}
			if states != nil {
				row = append(row, states[n.Name])
			}
			for i := range row {
				if row[i] == "" {
					row[i] = "-"
				}
			}
			fmt.Fprintln(tw, strings.Join(row, "\t"))
		}
	}
	return tw.Flush()
}

// targetCell is the node's target, and how Place chose it when that was not
// the spec naming the member: "m2 (spread)", "m1 (@fast)", "m1 (exists)".
func targetCell(n Node) string {
	if n.Placed == "" || n.Placed == PlacedSpec || n.Target == "" {
		return n.Target
	}
	return n.Target + " (" + n.Placed + ")"
}

// WriteHosts writes an /etc/hosts block per plex, between a "# plex NAME"
// and a "# end plex NAME" line so that a script can replace it:
//
//	# plex omniplex
//	10.212.0.11 omniplex1
//	# end plex omniplex
func WriteHosts(w io.Writer, p *Plan) error {
	var b strings.Builder
	for i, px := range p.Plexes {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "# plex %s\n", px.Name)
		tw := tabwriter.NewWriter(&b, 0, 8, 1, ' ', 0)
		for _, n := range px.Nodes {
			fmt.Fprintf(tw, "%s\t%s\n", n.Address, n.Name)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(&b, "# end plex %s\n", px.Name)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteGenders writes a genders file (the libgenders format that pdsh -g and
// nodeattr read): a node name, then comma-separated attributes.
//
//	omniplex1 plex=omniplex,role=control-plane,type=kube,base=debian12
//
// A node placed on a cluster member also gets target=MEMBER. So `pdsh -g
// plex=omniplex` reaches a plex and `pdsh -g role=worker` its workers.
func WriteGenders(w io.Writer, p *Plan) error {
	var b strings.Builder
	for i, px := range p.Plexes {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "# plex %s\n", px.Name)
		tw := tabwriter.NewWriter(&b, 0, 8, 1, ' ', 0)
		for _, n := range px.Nodes {
			attrs := []string{"plex=" + px.Name, "role=" + n.Role, "type=" + n.Type, "base=" + n.Base}
			if n.Target != "" {
				attrs = append(attrs, "target="+n.Target)
			}
			fmt.Fprintf(tw, "%s\t%s\n", n.Name, strings.Join(attrs, ","))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Ansible inventory group names use '_' where plex names have '-', as
// Ansible wants group names to be identifiers.
func ansibleGroup(parts ...string) string {
	return strings.ReplaceAll(strings.Join(parts, "_"), "-", "_")
}

// WriteAnsible writes a YAML Ansible inventory. Each plex is a group (its
// name, '-' written '_') holding its nodes, with a child group per role
// (omniplex_control_plane, omniplex_worker, omniplex_registry); the groups
// control_plane, worker and registry gather those of every plex. A host has
// ansible_host set to its address and plex_* variables describing it; a plex
// group has variables for its endpoint and subnets. The connection is
// Ansible's default (ssh).
func WriteAnsible(w io.Writer, p *Plan) error {
	type group struct {
		Hosts    map[string]any    `json:"hosts,omitempty"`
		Vars     map[string]any    `json:"vars,omitempty"`
		Children map[string]*group `json:"children,omitempty"`
	}
	children := map[string]*group{}
	byRole := map[string]*group{}
	for _, px := range p.Plexes {
		pg := &group{Hosts: map[string]any{}, Children: map[string]*group{}, Vars: map[string]any{
			"plex_name":               px.Name,
			"plex_endpoint":           px.Endpoint,
			"plex_kubernetes_version": px.KubernetesVersion,
			"plex_node_subnet":        px.NodeSubnet,
			"plex_gateway":            px.Gateway,
			"plex_pod_subnet":         px.PodSubnet,
			"plex_service_subnet":     px.ServiceSubnet,
		}}
		for _, n := range px.Nodes {
			vars := map[string]any{
				"ansible_host": n.Address,
				"plex_index":   n.Index,
				"plex_role":    n.Role,
				"plex_type":    n.Type,
				"plex_base":    n.Base,
				"plex_image":   n.Image,
			}
			if n.PodCIDR != "" {
				vars["plex_pod_cidr"] = n.PodCIDR
			}
			if n.Target != "" {
				vars["plex_target"] = n.Target
			}
			pg.Hosts[n.Name] = vars
			rg := ansibleGroup(px.Name, n.Role)
			if pg.Children[rg] == nil {
				pg.Children[rg] = &group{Hosts: map[string]any{}}
			}
			pg.Children[rg].Hosts[n.Name] = nil
			role := ansibleGroup(n.Role)
			if byRole[role] == nil {
				byRole[role] = &group{Children: map[string]*group{}}
			}
			byRole[role].Children[rg] = nil
		}
		children[ansibleGroup(px.Name)] = pg
	}
	for name, g := range byRole {
		if _, clash := children[name]; clash {
			return fmt.Errorf("writing ansible inventory: plex %s has the name of the role group %s: rename the plex", name, name)
		}
		children[name] = g
	}
	inv := map[string]any{"all": &group{Children: children}}
	b, err := yaml.Marshal(inv)
	if err != nil {
		return fmt.Errorf("writing ansible inventory: %w", err)
	}
	_, err = w.Write(b)
	return err
}

// WriteYAML writes the plan as YAML.
func WriteYAML(w io.Writer, p *Plan) error {
	b, err := yaml.Marshal(p)
	if err != nil {
		return fmt.Errorf("writing plan as YAML: %w", err)
	}
	_, err = w.Write(b)
	return err
}

// WriteJSON writes the plan as indented JSON.
func WriteJSON(w io.Writer, p *Plan) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(p)
}
