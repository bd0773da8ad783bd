package plan

import "sort"

// What Diff says should happen to a node.
const (
	// ActionCreate: the node is planned and does not exist.
	ActionCreate = "create"
	// ActionExists: the node is planned and plex's instance for it exists.
	ActionExists = "exists"
	// ActionRemove: an instance labelled for this plex is not in the plan.
	ActionRemove = "remove"
	// ActionConflict: an instance with the node's name exists but plex did not
	// create it; plex will not touch it.
	ActionConflict = "conflict"
	// ActionUnknown: the Incus side was not looked at.
	ActionUnknown = "unknown"
)

// Existing is an instance found on the plex's Incus remote.
type Existing struct {
	Name     string
	Status   string
	Location string
	// Plex is the value of the instance's user.plex.plex label, "" if none.
	Plex string
	// Managed is true when the instance carries plex's user.plex.managed label.
	Managed bool
}

// Change is one line of a diff.
type Change struct {
	Plex   string `json:"plex"`
	Node   string `json:"node"`
	Action string `json:"action"`
	// Status is the Incus status of an existing instance (Running, Stopped…).
	Status   string `json:"status,omitempty"`
	Location string `json:"location,omitempty"`
}

// Diff compares a plex's planned nodes with the instances on its remote. The
// result lists the planned nodes in plan order, then the instances to remove
// by name.
func Diff(p Plex, existing []Existing) []Change {
	byName := make(map[string]Existing, len(existing))
	for _, e := range existing {
		byName[e.Name] = e
	}
	planned := make(map[string]bool, len(p.Nodes))
	var out []Change
	for _, n := range p.Nodes {
		planned[n.Name] = true
		c := Change{Plex: p.Name, Node: n.Name, Action: ActionCreate}
		if e, ok := byName[n.Name]; ok {
			c.Status, c.Location = e.Status, e.Location
			if e.Managed && e.Plex == p.Name {
				c.Action = ActionExists
			} else {
				c.Action = ActionConflict
			}
		}
		out = append(out, c)
	}
	var gone []Change
	for _, e := range existing {
		if e.Managed && e.Plex == p.Name && !planned[e.Name] {
			gone = append(gone, Change{Plex: p.Name, Node: e.Name, Action: ActionRemove, Status: e.Status, Location: e.Location})
		}
	}
	sort.Slice(gone, func(a, b int) bool { return gone[a].Node < gone[b].Node })
	return append(out, gone...)
}

// States turns changes into the per-node state strings that WriteTable shows,
// such as "exists (Running)" or "create".
func States(changes []Change) map[string]string {
	m := make(map[string]string, len(changes))
	for _, c := range changes {
		s := c.Action
		if c.Status != "" {
			s += " (" + c.Status + ")"
		}
		m[c.Node] = s
	}
	return m
}
