package cni

import (
	"bytes"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"

	"github.com/plex-dev/plex/core/plan"
)

// Route sends the pods of one node through that node.
type Route struct {
	// Dst is the node's pod CIDR.
	Dst netip.Prefix
	// Via is the node's address.
	Via netip.Addr
}

func (r Route) String() string { return r.Dst.String() + " via " + r.Via.String() }

// DropInName is the name of the systemd-networkd drop-in that holds a node's
// routes; see DropInPath.
const DropInName = "50-plex-routes.conf"

// DropInPath is where NetworkdDropIn's content goes for the node's .network
// file networkFile (such as "05-plex-eth0.network"). networkd reads
// [Route] sections from a drop-in as from the file itself, so the routes
// come back after a restart without plex touching the file it does not own.
func DropInPath(networkFile string) string {
	return "/etc/systemd/network/" + networkFile + ".d/" + DropInName
}

// Routes are the routes self needs to reach the pods of the other nodes of
// p: one to each present kube node's pod CIDR via its address. present are
// the nodes that exist (a plan can hold nodes not made yet, and a route via a
// missing address would black-hole its pods). The result is in node index
// order. A node whose pod CIDR is not a network inside p's pod subnet, or
// whose address does not parse, gets no route: spec validation keeps such
// nodes out of a plan, and RouteScript would delete the route anyway.
func Routes(p plan.Plex, self plan.Node, present []plan.Node) []Route {
	subnet, err := podSubnet(p)
	if err != nil {
		return nil
	}
	nodes := slices.Clone(present)
	slices.SortStableFunc(nodes, func(a, b plan.Node) int { return a.Index - b.Index })
	var out []Route
	for _, n := range nodes {
		if n.Name == self.Name || n.PodCIDR == "" {
			continue
		}
		dst, err := netip.ParsePrefix(n.PodCIDR)
		if err != nil || !inside(subnet, dst) {
			continue
		}
		via, err := netip.ParseAddr(n.Address)
		if err != nil || !via.Is4() {
			continue
		}
		out = append(out, Route{Dst: dst, Via: via})
	}
	return out
}

// NetworkdDropIn is the systemd-networkd drop-in (for DropInPath) that makes
// routes permanent. With no routes it holds only its header, which is how
// plex empties it.
func NetworkdDropIn(routes []Route) []byte {
	var b bytes.Buffer
	b.WriteString("# Managed by plex: routes to the pod CIDRs of the other nodes of this plex.\n")
	b.WriteString("# plex rewrites this file when nodes come and go; edits are lost.\n")
	for _, r := range routes {
		fmt.Fprintf(&b, "\n[Route]\nDestination=%s\nGateway=%s\n", r.Dst, r.Via)
	}
	return b.Bytes()
}

var ifaceRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,15}$`)

// RouteScript is a POSIX sh script that brings the live routing table of a
// node in line with routes without a restart: it adds or replaces each route
// through iface, then deletes every other gatewayed route inside p's pod
// subnet (the route of a node that left). Routes without a gateway, like the
// node's own pod CIDR on cni0, are left alone.
//
// Everything printed into the script is a parsed address or a checked
// interface name. When p's pod subnet, iface or a route is unusable, the
// script fails with a message saying so instead, so that the caller sees an
// error where it runs it.
func RouteScript(p plan.Plex, routes []Route, iface string) string {
	var b strings.Builder
	b.WriteString("# Managed by plex: routes to the pod CIDRs of the other nodes of this plex.\n")
	b.WriteString("set -eu\n")
	fail := func(format string, args ...any) string {
		b.WriteString("echo " + shellQuote("plex: "+fmt.Sprintf(format, args...)) + " >&2\nexit 1\n")
		return b.String()
	}
	subnet, err := podSubnet(p)
	if err != nil {
		return fail("%v", err)
	}
	if !ifaceRE.MatchString(iface) {
		return fail("%q is not an interface name", iface)
	}
	keep := make([]string, 0, len(routes))
	for _, r := range routes {
		if !r.Dst.IsValid() || !r.Via.IsValid() || r.Dst.Masked() != r.Dst || !inside(subnet, r.Dst) {
			return fail("route %v is not a network inside the pod subnet %s", r, subnet)
		}
	}
	for _, r := range routes {
		fmt.Fprintf(&b, "ip route replace %s via %s dev %s\n", r.Dst, r.Via, iface)
		keep = append(keep, r.Dst.String())
	}
	// `ip route show root` lists the routes inside the subnet, as
	// "DST via GW dev …" for gatewayed ones and "DST dev cni0 …" otherwise.
	fmt.Fprintf(&b, "ip -4 route show root %s | while read -r dst via gw rest; do\n", subnet)
	b.WriteString("\t[ \"$via\" = via ] || continue\n")
	if len(keep) > 0 {
		fmt.Fprintf(&b, "\tcase \"$dst\" in %s) continue ;; esac\n", strings.Join(keep, "|"))
	}
	// A route gone by itself meanwhile is as good as deleted.
	b.WriteString("\tip route del \"$dst\" via \"$gw\" || [ -z \"$(ip -4 route show exact \"$dst\")\" ]\n")
	b.WriteString("done\n")
	return b.String()
}

// inside says whether dst is a network within subnet.
func inside(subnet, dst netip.Prefix) bool {
	return dst.Addr().Is4() && dst.Masked() == dst && dst.Bits() >= subnet.Bits() && subnet.Contains(dst.Addr())
}

// shellQuote quotes s for sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func podSubnet(p plan.Plex) (netip.Prefix, error) {
	s, err := netip.ParsePrefix(p.PodSubnet)
	if err != nil || !s.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("pod subnet %q of plex %s is not an IPv4 CIDR", p.PodSubnet, p.Name)
	}
	return s.Masked(), nil
}
