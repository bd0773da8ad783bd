package nodefiles

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/plex-dev/plex/core/cloudinit"
	"github.com/plex-dev/plex/core/internal/golden"
	"github.com/plex-dev/plex/core/plan"
)

func node() plan.Node {
	return plan.Node{Name: "omniplex2", Index: 2, Type: "kube", Role: plan.RoleWorker, Address: "10.212.0.12"}
}

func hostKey(t *testing.T) cloudinit.HostKey {
	t.Helper()
	k, err := cloudinit.NewHostKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestNetworkUnitGolden(t *testing.T) {
	b, err := NetworkUnit("10.212.0.12", "10.212.0.1", 24)
	if err != nil {
		t.Fatal(err)
	}
	golden.Assert(t, filepath.Join("testdata", "05-plex-eth0.network"), b)
	b, err = NetworkUnit("10.212.0.12", "", 24)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "Gateway=") || strings.Contains(string(b), "DNS=") {
		t.Errorf("no gateway, yet:\n%s", b)
	}
}

func TestNetworkUnitRefuses(t *testing.T) {
	for _, tt := range []struct {
		addr, gw string
		bits     int
		want     string
	}{
		{"10.212.0", "10.212.0.1", 24, "not an IPv4 address"},
		{"fd00::2", "", 64, "not an IPv4 address"},
		{"10.212.0.12", "10.212.0.1", 31, "does not make a node network"},
		{"10.212.0.12", "10.213.0.1", 24, "not another address of the node network 10.212.0.0/24"},
		{"10.212.0.12", "10.212.0.12", 24, "not another address"},
		{"10.212.0.12", "gw", 24, "gateway \"gw\""},
	} {
		if _, err := NetworkUnit(tt.addr, tt.gw, tt.bits); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NetworkUnit(%s, %s, %d): %v, want an error containing %q", tt.addr, tt.gw, tt.bits, err, tt.want)
		}
	}
}

// Files writes the cloud-init marker first, keeps the host key's private
// half and root's keys 0600, and renders a hosts.toml per mirror.
func TestFiles(t *testing.T) {
	hk := hostKey(t)
	fs, err := Files(Input{
		Node: node(), Gateway: "10.212.0.1", PrefixLen: 24,
		Mirrors:        map[string]cloudinit.Mirror{"registry.k8s.io": {URL: "http://10.212.0.1:5000"}, "docker.io": {URL: "http://10.212.0.1:5000"}},
		HostKey:        hk,
		AuthorizedKeys: []string{" " + hk.AuthorizedKey + " \n"},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]File{}
	var order []string
	for _, f := range fs {
		got[f.Path] = f
		order = append(order, f.Path)
	}
	if order[0] != CloudInitDisabled {
		t.Errorf("first file %s, want %s", order[0], CloudInitDisabled)
	}
	modes := map[string]int{
		CloudInitDisabled: 0o644, NetworkFile: 0o644, HostKeyPath: 0o600, HostKeyPath + ".pub": 0o644, AuthorizedKeysPath: 0o600,
		cloudinit.HostsTOMLPath("docker.io"): 0o644, cloudinit.HostsTOMLPath("registry.k8s.io"): 0o644,
	}
	for p, m := range modes {
		if f, ok := got[p]; !ok || f.Mode != m {
			t.Errorf("%s: %+v (present %t), want mode %o", p, f.Mode, ok, m)
		}
	}
	if len(fs) != len(modes) {
		t.Errorf("%d files %v, want %d", len(fs), order, len(modes))
	}
	if string(got[AuthorizedKeysPath].Content) != hk.AuthorizedKey+"\n" || string(got[HostKeyPath].Content) != string(hk.Private) {
		t.Errorf("authorized_keys %q; host key differs: %t", got[AuthorizedKeysPath].Content, string(got[HostKeyPath].Content) != string(hk.Private))
	}
	if !strings.Contains(string(got[cloudinit.HostsTOMLPath("registry.k8s.io")].Content), "10.212.0.1:5000") {
		t.Errorf("hosts.toml: %s", got[cloudinit.HostsTOMLPath("registry.k8s.io")].Content)
	}
}

func TestFilesRefuses(t *testing.T) {
	hk := hostKey(t)
	good := Input{Node: node(), Gateway: "10.212.0.1", PrefixLen: 24, HostKey: hk}
	for name, tt := range map[string]struct {
		mut  func(*Input)
		want string
	}{
		"no host key":       {func(in *Input) { in.HostKey = cloudinit.HostKey{} }, "host key's public half"},
		"bad login key":     {func(in *Input) { in.AuthorizedKeys = []string{"ssh-ed25519 nope"} }, "authorized key 1"},
		"two keys one line": {func(in *Input) { in.AuthorizedKeys = []string{hk.AuthorizedKey + "\n" + hk.AuthorizedKey} }, "authorized key 1"},
		"bad address":       {func(in *Input) { in.Node.Address = "x" }, "node address \"x\""},
	} {
		in := good
		tt.mut(&in)
		if _, err := Files(in); err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "omniplex2") {
			t.Errorf("%s: %v, want an error naming omniplex2 and containing %q", name, err, tt.want)
		}
	}
}

func TestHosts(t *testing.T) {
	f, err := Hosts([]cloudinit.Host{{Name: "omniplex1", Address: "10.212.0.11"}, {Name: "omniplex2", Address: "10.212.0.12"}})
	if err != nil {
		t.Fatal(err)
	}
	if f.Path != "/etc/hosts" || f.Mode != 0o644 || !strings.Contains(string(f.Content), "\n10.212.0.11 omniplex1\n10.212.0.12 omniplex2\n") {
		t.Errorf("Hosts = %s %o\n%s", f.Path, f.Mode, f.Content)
	}
	if _, err := Hosts([]cloudinit.Host{{Name: "Bad_Name", Address: "10.212.0.11"}}); err == nil {
		t.Error("a host name with an underscore was accepted")
	}
}

// A control-plane node gets the pull unit and the link that enables it; a
// bad version is refused.
func TestFilesPrePull(t *testing.T) {
	hk := hostKey(t)
	fs, err := Files(Input{Node: node(), Gateway: "10.212.0.1", PrefixLen: 24, HostKey: hk, PrePull: "v1.34.4"})
	if err != nil {
		t.Fatal(err)
	}
	var unit, link *File
	for i := range fs {
		switch fs[i].Path {
		case PrePullUnitPath:
			unit = &fs[i]
		case WantedAtBootPath(PrePullUnitName):
			link = &fs[i]
		}
	}
	if unit == nil || !strings.Contains(string(unit.Content), "ExecStart=/usr/bin/kubeadm config images pull --kubernetes-version v1.34.4\n") || !strings.Contains(string(unit.Content), "Type=simple") ||
		!strings.Contains(string(unit.Content), "ConditionPathExists=!/etc/plex/preloaded-images\n") {
		t.Errorf("unit: %+v", unit)
	}
	if link == nil || !strings.Contains(string(link.Content), "[Unit]\nWants="+PrePullUnitName+"\n") || link.Mode != 0o644 {
		t.Errorf("drop-in that enables it: %+v", link)
	}
	if _, err := Files(Input{Node: node(), Gateway: "10.212.0.1", PrefixLen: 24, HostKey: hk, PrePull: "1.34; rm -rf /"}); err == nil {
		t.Error("a version that is not vX.Y.Z was accepted")
	}
}
