package cloudinit

import (
	"crypto/ed25519"
	"os"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"sigs.k8s.io/yaml"

	"github.com/plex-dev/plex/core/plan"
)

func omniplex() plan.Plex {
	return plan.Plex{
		Name:    "omniplex",
		Gateway: "10.212.0.1",
		Nodes: []plan.Node{
			{Name: "omniplex1", Index: 1, Type: "kube", Role: plan.RoleControlPlane, Address: "10.212.0.11", PodCIDR: "10.244.1.0/24"},
			{Name: "omniplex2", Index: 2, Type: "kube", Role: plan.RoleWorker, Address: "10.212.0.12", PodCIDR: "10.244.2.0/24"},
			{Name: "omniplex9", Index: 9, Type: "registry", Role: plan.RoleRegistry, Address: "10.212.0.19"},
		},
	}
}

// fixtureHostKey is a host key kept in testdata, so that golden files stay
// put (an OpenSSH private key holds random check bytes).
func fixtureHostKey(t *testing.T) HostKey {
	t.Helper()
	priv, err := os.ReadFile("testdata/hostkey")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := os.ReadFile("testdata/hostkey.pub")
	if err != nil {
		t.Fatal(err)
	}
	return HostKey{Private: priv, AuthorizedKey: strings.TrimSpace(string(pub))}
}

// userKey is a user's public key made from a fixed seed.
func userKey(t *testing.T) string {
	t.Helper()
	priv := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	pub, err := ssh.NewPublicKey(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))) + " alice@laptop"
}

func TestUserDataGolden(t *testing.T) {
	p := omniplex()
	full := UserDataInput{
		Hostname: p.Nodes[1].Name,
		Hosts:    HostsOf(p),
		Mirrors: map[string]Mirror{
			"registry.k8s.io": {URL: "http://10.212.0.1:5000"},
			"docker.io":       {URL: "http://10.212.0.19:5000/v2/docker.io/"},
		},
		HostKey:        fixtureHostKey(t),
		AuthorizedKeys: []string{userKey(t) + "\n"},
	}
	got, err := UserData(full)
	if err != nil {
		t.Fatal(err)
	}
	assertGolden(t, "user-data-full.yaml", got)
	checkUserData(t, got, full)

	minimal := UserDataInput{Hostname: p.Nodes[0].Name}
	got, err = UserData(minimal)
	if err != nil {
		t.Fatal(err)
	}
	assertGolden(t, "user-data-minimal.yaml", got)
	checkUserData(t, got, minimal)
}

// checkUserData decodes user-data and checks what cloud-init will act on.
func checkUserData(t *testing.T, b []byte, in UserDataInput) {
	t.Helper()
	if !strings.HasPrefix(string(b), "#cloud-config\n") {
		t.Fatalf("no #cloud-config header")
	}
	var d userData
	if err := yaml.UnmarshalStrict(b, &d); err != nil {
		t.Fatalf("user-data does not decode: %v", err)
	}
	if d.Hostname != in.Hostname || d.ManageEtcHosts || d.PreserveHostname {
		t.Errorf("hostname settings: %+v", d)
	}
	if len(d.WriteFiles) != 1+len(in.Mirrors) {
		t.Errorf("%d files, want %d", len(d.WriteFiles), 1+len(in.Mirrors))
	}
	if len(in.HostKey.Private) > 0 {
		if d.SSHKeys["ed25519_private"] != string(in.HostKey.Private) || d.SSHKeys["ed25519_public"] != in.HostKey.AuthorizedKey {
			t.Errorf("ssh_keys do not round-trip")
		}
		if _, err := ssh.ParsePrivateKey([]byte(d.SSHKeys["ed25519_private"])); err != nil {
			t.Errorf("decoded private host key: %v", err)
		}
	}
	if len(d.Users) != 1 || d.Users[0].Name != "root" || d.Users[0].LockPasswd || d.DisableRoot || d.SSHPwAuth {
		t.Errorf("users: %+v, disable_root %t, ssh_pwauth %t", d.Users, d.DisableRoot, d.SSHPwAuth)
	}
	if len(d.Users[0].SSHAuthorizedKeys) != len(in.AuthorizedKeys) {
		t.Errorf("%d authorized keys, want %d", len(d.Users[0].SSHAuthorizedKeys), len(in.AuthorizedKeys))
	}
	for _, k := range d.Users[0].SSHAuthorizedKeys {
		if _, _, _, _, err := ssh.ParseAuthorizedKey([]byte(k)); err != nil {
			t.Errorf("decoded authorized key: %v", err)
		}
	}
}

func TestUserDataErrors(t *testing.T) {
	p := omniplex()
	hk := fixtureHostKey(t)
	hosts := HostsOf(p)
	badHosts := HostsOf(p)
	badHosts[2].Address = "nowhere"
	tests := []struct {
		name string
		in   UserDataInput
		want string
	}{
		{"bad name", UserDataInput{Hostname: "Omni_plex", Hosts: hosts}, "not a host name"},
		{"bad host name", UserDataInput{Hostname: "omniplex1", Hosts: []Host{{Name: "a b", Address: "10.212.0.11"}}}, "not a host name"},
		{"bad host address", UserDataInput{Hostname: "omniplex1", Hosts: badHosts}, "not an IP address"},
		{"bad mirror", UserDataInput{Hostname: "omniplex1", Mirrors: map[string]Mirror{"registry.k8s.io": {URL: "10.212.0.1:5000"}}}, "not a plain http(s) URL"},
		{"bad server", UserDataInput{Hostname: "omniplex1", Mirrors: map[string]Mirror{"registry.k8s.io": {URL: "http://10.212.0.1:5000", Server: "10.212.0.1:5000"}}}, "not a registry's root URL"},
		{"bad upstream", UserDataInput{Hostname: "omniplex1", Mirrors: map[string]Mirror{"registry.k8s.io/x": {URL: "http://10.212.0.1:5000"}}}, "not a registry host"},
		{"bad host key", UserDataInput{Hostname: "omniplex1", HostKey: HostKey{Private: hk.Private, AuthorizedKey: "ssh-rsa AAAA"}}, "not an ssh-ed25519 key"},
		{"no public host key", UserDataInput{Hostname: "omniplex1", HostKey: HostKey{Private: hk.Private}}, "not an ssh-ed25519 key"},
		{"bad private key", UserDataInput{Hostname: "omniplex1", HostKey: HostKey{Private: []byte("junk"), AuthorizedKey: hk.AuthorizedKey}}, "does not parse"},
		{"bad authorized key", UserDataInput{Hostname: "omniplex1", AuthorizedKeys: []string{"hello"}}, "authorized key 1"},
		{"two keys in one", UserDataInput{Hostname: "omniplex1", AuthorizedKeys: []string{hk.AuthorizedKey + "\n" + hk.AuthorizedKey}}, "authorized key 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := UserData(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestHostsTOML(t *testing.T) {
	tests := []struct {
		upstream, mirror string
		want             string
		server           string
	}{
		{"registry.k8s.io", "http://10.212.0.1:5000", "# Managed by plex: pull through the plex registry mirror first.\n" +
			"server = \"https://registry.k8s.io\"\n\n[host.\"http://10.212.0.1:5000\"]\n  capabilities = [\"pull\", \"resolve\"]\n", ""},
		{"registry.k8s.io", "http://10.212.0.1:5000/", "# Managed by plex: pull through the plex registry mirror first.\n" +
			"server = \"https://registry.k8s.io\"\n\n[host.\"http://10.212.0.1:5000\"]\n  capabilities = [\"pull\", \"resolve\"]\n", ""},
		{"registry.k8s.io", "http://10.212.0.1:5000/v2", "# Managed by plex: pull through the plex registry mirror first.\n" +
			"server = \"https://registry.k8s.io\"\n\n[host.\"http://10.212.0.1:5000\"]\n  capabilities = [\"pull\", \"resolve\"]\n", ""},
		{"docker.io", "https://mirror.lab:5000/v2/docker.io", "# Managed by plex: pull through the plex registry mirror first.\n" +
			"server = \"https://registry-1.docker.io\"\n\n[host.\"https://mirror.lab:5000/v2/docker.io\"]\n  capabilities = [\"pull\", \"resolve\"]\n  override_path = true\n", ""},
		{"_default", "http://10.212.0.1:5000", "# Managed by plex: pull through the plex registry mirror first.\n" +
			"\n[host.\"http://10.212.0.1:5000\"]\n  capabilities = [\"pull\", \"resolve\"]\n", ""},
		{"myreg.lab:5443", "http://10.212.0.1:5000", "# Managed by plex: pull through the plex registry mirror first.\n" +
			"server = \"https://myreg.lab:5443\"\n\n[host.\"http://10.212.0.1:5000\"]\n  capabilities = [\"pull\", \"resolve\"]\n", ""},
		// A registry standing in for the upstream is where containerd falls back.
		{"registry.k8s.io", "http://10.212.0.30:5002", "# Managed by plex: pull through the plex registry mirror first.\n" +
			"server = \"http://10.212.0.1:5000\"\n\n[host.\"http://10.212.0.30:5002\"]\n  capabilities = [\"pull\", \"resolve\"]\n", "http://10.212.0.1:5000/"},
	}
	for _, tt := range tests {
		got, err := HostsTOML(tt.upstream, Mirror{URL: tt.mirror, Server: tt.server})
		if err != nil {
			t.Errorf("HostsTOML(%s, %s): %v", tt.upstream, tt.mirror, err)
			continue
		}
		if string(got) != tt.want {
			t.Errorf("HostsTOML(%s, %s):\n%s\nwant:\n%s", tt.upstream, tt.mirror, got, tt.want)
		}
	}
	if got := HostsTOMLPath("registry.k8s.io"); got != "/etc/containerd/certs.d/registry.k8s.io/hosts.toml" {
		t.Errorf("HostsTOMLPath = %s", got)
	}
	for _, bad := range []string{"", "ftp://x", "http://", "http://h/prefix", "http://u:p@h", "http://h?x=1", "http://h/v2/a\"b"} {
		if _, err := HostsTOML("registry.k8s.io", Mirror{URL: bad}); err == nil {
			t.Errorf("mirror %q accepted", bad)
		}
	}
	for _, bad := range []string{"", "a/b", "-x.io", "x.io:", "x y"} {
		if _, err := HostsTOML(bad, Mirror{URL: "http://10.212.0.1:5000"}); err == nil {
			t.Errorf("upstream %q accepted", bad)
		}
	}
	for _, bad := range []string{"ftp://x", "http://", "http://h/v2", "http://u:p@h", "http://h?x=1", "10.212.0.1:5000"} {
		if _, err := HostsTOML("registry.k8s.io", Mirror{URL: "http://10.212.0.1:5000", Server: bad}); err == nil {
			t.Errorf("server %q accepted", bad)
		}
	}
}

func TestNetworkConfigGolden(t *testing.T) {
	p := omniplex()
	got, err := NetworkConfig(p.Nodes[0], "10.212.0.1", 24, []string{"10.212.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	assertGolden(t, "network-config.yaml", got)
	var nc networkConfig
	if err := yaml.UnmarshalStrict(got, &nc); err != nil {
		t.Fatal(err)
	}
	if e := nc.Ethernets["eth0"]; nc.Version != 2 || e.Addresses[0] != "10.212.0.11/24" || e.Routes[0].Via != "10.212.0.1" || e.Routes[0].To != "0.0.0.0/0" {
		t.Fatalf("decoded: %+v", nc)
	}

	got, err = NetworkConfig(p.Nodes[0], "", 24, nil)
	if err != nil {
		t.Fatal(err)
	}
	assertGolden(t, "network-config-bare.yaml", got)

	for _, tt := range []struct {
		name string
		n    plan.Node
		gw   string
		bits int
		ns   []string
		want string
	}{
		{"bad address", plan.Node{Name: "x", Address: "fe80::1"}, "10.212.0.1", 24, nil, "not an IPv4 address"},
		{"bad prefix", p.Nodes[0], "10.212.0.1", 31, nil, "prefix length"},
		{"gateway elsewhere", p.Nodes[0], "10.213.0.1", 24, nil, "not another address"},
		{"gateway is node", p.Nodes[0], "10.212.0.11", 24, nil, "not another address"},
		{"bad gateway", p.Nodes[0], "gw", 24, nil, "gateway"},
		{"bad name server", p.Nodes[0], "10.212.0.1", 24, []string{"dns"}, "name server"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NetworkConfig(tt.n, tt.gw, tt.bits, tt.ns); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}
