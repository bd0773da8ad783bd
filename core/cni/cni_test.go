package cni

import (
	"encoding/json"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/plex-dev/plex/core/plan"
)

func omniplex() plan.Plex {
	return plan.Plex{
		Name:      "omniplex",
		PodSubnet: "10.244.0.0/16",
		Nodes: []plan.Node{
			{Name: "omniplex1", Index: 1, Type: "kube", Role: plan.RoleControlPlane, Address: "10.212.0.11", PodCIDR: "10.244.1.0/24"},
			{Name: "omniplex2", Index: 2, Type: "kube", Role: plan.RoleWorker, Address: "10.212.0.12", PodCIDR: "10.244.2.0/24"},
			{Name: "omniplex3", Index: 3, Type: "kube", Role: plan.RoleWorker, Address: "10.212.0.13", PodCIDR: "10.244.3.0/24"},
			{Name: "omniplex9", Index: 9, Type: "registry", Role: plan.RoleRegistry, Address: "10.212.0.19"},
		},
	}
}

func TestConflist(t *testing.T) {
	p := omniplex()
	got, err := Conflist(p, p.Nodes[1])
	if err != nil {
		t.Fatal(err)
	}
	assertGolden(t, "omniplex2.conflist", got)
	var v map[string]any
	if err := json.Unmarshal(got, &v); err != nil {
		t.Fatalf("not JSON: %v", err)
	}

	for _, tt := range []struct {
		name string
		edit func(*plan.Plex, *plan.Node)
		want string
	}{
		{"no pod CIDR", func(_ *plan.Plex, n *plan.Node) { n.PodCIDR = "" }, "no pod CIDR"},
		{"host bits", func(_ *plan.Plex, n *plan.Node) { n.PodCIDR = "10.244.2.1/24" }, "not an IPv4 network"},
		{"too small", func(_ *plan.Plex, n *plan.Node) { n.PodCIDR = "10.244.2.0/31" }, "no room"},
		{"outside", func(_ *plan.Plex, n *plan.Node) { n.PodCIDR = "10.99.2.0/24" }, "not inside the pod subnet"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := omniplex()
			n := p.Nodes[1]
			tt.edit(&p, &n)
			if _, err := Conflist(p, n); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestRoutes(t *testing.T) {
	p := omniplex()
	// Present out of order, with the registry node and without omniplex2.
	present := []plan.Node{p.Nodes[3], p.Nodes[2], p.Nodes[0]}
	got := Routes(p, p.Nodes[0], present)
	want := []Route{{Dst: netip.MustParsePrefix("10.244.3.0/24"), Via: netip.MustParseAddr("10.212.0.13")}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Routes = %v, want %v", got, want)
	}

	got = Routes(p, p.Nodes[2], p.Nodes)
	if len(got) != 2 || got[0].String() != "10.244.1.0/24 via 10.212.0.11" || got[1].String() != "10.244.2.0/24 via 10.212.0.12" {
		t.Fatalf("Routes = %v", got)
	}

	// Nodes that could only make a wrong route get none.
	outside, hostBits, noAddr := p.Nodes[1], p.Nodes[1], p.Nodes[1]
	outside.PodCIDR = "10.99.0.0/24"
	hostBits.PodCIDR = "10.244.2.1/24"
	noAddr.Address = ""
	if got := Routes(p, p.Nodes[0], []plan.Node{outside, hostBits, noAddr}); len(got) != 0 {
		t.Fatalf("Routes = %v, want none", got)
	}
	p.PodSubnet = ""
	if got := Routes(p, p.Nodes[0], p.Nodes); len(got) != 0 {
		t.Fatalf("Routes without a pod subnet = %v", got)
	}
}

func TestNetworkdDropIn(t *testing.T) {
	p := omniplex()
	assertGolden(t, "omniplex1-routes.conf", NetworkdDropIn(Routes(p, p.Nodes[0], p.Nodes)))
	assertGolden(t, "empty-routes.conf", NetworkdDropIn(nil))
	if got := DropInPath("10-cloud-init-eth0.network"); got != "/etc/systemd/network/10-cloud-init-eth0.network.d/50-plex-routes.conf" {
		t.Fatalf("DropInPath = %s", got)
	}
}

func TestRouteScript(t *testing.T) {
	p := omniplex()
	routes := Routes(p, p.Nodes[0], p.Nodes)
	assertGolden(t, "omniplex1-routes.sh", []byte(RouteScript(p, routes, "eth0")))
	assertGolden(t, "empty-routes.sh", []byte(RouteScript(p, nil, "eth0")))

	noSubnet := omniplex()
	noSubnet.PodSubnet = "x"
	for _, tt := range []struct {
		name   string
		p      plan.Plex
		routes []Route
		iface  string
		want   string
	}{
		{"bad interface", p, routes, "eth0; reboot", `plex: "eth0; reboot" is not an interface name`},
		{"outside", p, []Route{{Dst: netip.MustParsePrefix("10.0.0.0/8"), Via: netip.MustParseAddr("10.212.0.12")}}, "eth0", "not a network inside the pod subnet"},
		{"empty route", p, []Route{{}}, "eth0", "not a network inside the pod subnet"},
		{"no pod subnet", noSubnet, routes, "eth0", "pod subnet \"x\""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := RouteScript(tt.p, tt.routes, tt.iface)
			if strings.Contains(s, "ip route") || !strings.Contains(s, "exit 1") || !strings.Contains(s, tt.want) {
				t.Fatalf("script does not fail with %q:\n%s", tt.want, s)
			}
			out, err := exec.Command("sh", "-c", s).CombinedOutput()
			if err == nil || !strings.Contains(string(out), tt.want) {
				t.Fatalf("running it: %v, %s", err, out)
			}
		})
	}
}

// TestRouteScriptRuns runs the script with a fake ip that plays a routing
// table, to check the sh itself: which routes it replaces and deletes.
func TestRouteScriptRuns(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	p := omniplex()
	script := RouteScript(p, Routes(p, p.Nodes[0], p.Nodes[:2]), "eth0")
	dir := t.TempDir()
	log := filepath.Join(dir, "log")
	fake := `#!/bin/sh
if [ "$1 $2 $3 $4" = "-4 route show exact" ]; then
	[ -z "$ROUTE_STAYS" ] || echo "$5 via 10.212.0.13 dev eth0"
	exit 0
fi
if [ "$1 $2" = "-4 route" ] && [ "$3" = show ]; then
	printf '%s\n' \
		'10.244.1.0/24 dev cni0 proto kernel scope link src 10.244.1.1' \
		'10.244.2.0/24 via 10.212.0.12 dev eth0 proto static' \
		'10.244.3.0/24 via 10.212.0.13 dev eth0 proto static' \
		'10.244.4.7 via 10.212.0.14 dev eth0' \
		'unreachable 10.244.9.0/24'
	exit 0
fi
echo "$*" >> "` + log + `"
[ "$1 $2" != "route del" ] || [ -z "$DEL_FAILS" ] || exit 2
`
	if err := os.WriteFile(filepath.Join(dir, "ip"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	// A route that vanished while it was deleted is fine; one that stays
	// fails the script.
	for _, tc := range []struct {
		env  string
		fail bool
	}{{"DEL_FAILS=1", false}, {"DEL_FAILS=1 ROUTE_STAYS=1", true}} {
		cmd := exec.Command(sh, "-c", script)
		cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"))
		cmd.Env = append(cmd.Env, strings.Fields(tc.env)...)
		if err := cmd.Run(); (err != nil) != tc.fail {
			t.Errorf("%s: the script's error is %v; want one: %v", tc.env, err, tc.fail)
		}
	}
	if err := os.Remove(log); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(sh, "-c", script)
	cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("script failed: %v\n%s", err, out)
	}
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	want := "route replace 10.244.2.0/24 via 10.212.0.12 dev eth0\n" +
		"route del 10.244.3.0/24 via 10.212.0.13\n" +
		"route del 10.244.4.7 via 10.212.0.14\n"
	if string(b) != want {
		t.Fatalf("ip calls:\n%s\nwant:\n%s", b, want)
	}
}

func TestPodCIDRPatch(t *testing.T) {
	got, err := PodCIDRPatch(omniplex().Nodes[1])
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != `{"spec":{"podCIDR":"10.244.2.0/24","podCIDRs":["10.244.2.0/24"]}}` {
		t.Fatalf("PodCIDRPatch = %s", got)
	}
	if _, err := PodCIDRPatch(omniplex().Nodes[3]); err == nil {
		t.Fatal("a node without a pod CIDR was accepted")
	}
}

func TestMasq(t *testing.T) {
	s, err := MasqScript(omniplex())
	if err != nil {
		t.Fatal(err)
	}
	assertGolden(t, "omniplex-pod-masq.sh", []byte(s))
	assertGolden(t, "plex-pod-masq.service", []byte(MasqUnit()))

	bad := omniplex()
	bad.PodSubnet = "10.244.0.0"
	if _, err := MasqScript(bad); err == nil {
		t.Fatal("a pod subnet without a prefix length was accepted")
	}
}

// TestMasqScriptRuns runs the script twice with a fake iptables that keeps
// the POSTROUTING jump's state: the chain is refilled each time and the jump
// is added once.
func TestMasqScriptRuns(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	s, err := MasqScript(omniplex())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	log, jump := filepath.Join(dir, "log"), filepath.Join(dir, "jump")
	fake := `#!/bin/sh
echo "$*" >> "` + log + `"
case "$*" in
*" -C POSTROUTING "*) [ -e "` + jump + `" ] ;;
*" -A POSTROUTING "*) touch "` + jump + `" ;;
esac
`
	if err := os.WriteFile(filepath.Join(dir, "iptables"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		cmd := exec.Command(sh, "-c", s)
		cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("script failed: %v\n%s", err, out)
		}
	}
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	if n := strings.Count(got, "-A POSTROUTING -s 10.244.0.0/16 -j PLEX-POD-MASQ"); n != 1 {
		t.Errorf("jump added %d times, want 1:\n%s", n, got)
	}
	if n := strings.Count(got, "-F PLEX-POD-MASQ"); n != 2 {
		t.Errorf("chain flushed %d times, want 2:\n%s", n, got)
	}
	if !strings.Contains(got, "-A PLEX-POD-MASQ -d 10.244.0.0/16 -j RETURN") || !strings.Contains(got, "-A PLEX-POD-MASQ -j MASQUERADE") {
		t.Errorf("chain rules missing:\n%s", got)
	}
}
