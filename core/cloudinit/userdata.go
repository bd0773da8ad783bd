// Package cloudinit renders what plex hands to cloud-init in a node
// (Incus's cloud-init.user-data and cloud-init.network-config): the node's
// name, /etc/hosts, containerd's registry mirrors, its SSH host key and who
// may log in, and its static address.
//
// The output is meant for the cloud-init of the node image, Debian 12's 22.4,
// so it keeps to what that version understands.
package cloudinit

import (
	"bytes"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"

	"golang.org/x/crypto/ssh"
	"sigs.k8s.io/yaml"

	"github.com/plex-dev/plex/core/plan"
)

// UserDataInput is what a node's user-data is made of.
type UserDataInput struct {
	// Hostname is the node's name.
	Hostname string
	// Hosts go into the node's /etc/hosts: normally every node of the plex,
	// so that nodes find each other by name without DNS.
	Hosts []Host
	// Mirrors maps an upstream registry host (registry.k8s.io, docker.io,
	// or _default for all) to the mirror containerd pulls its images
	// through; see HostsTOML. Empty: no mirror.
	Mirrors map[string]Mirror
	// HostKey, when set, becomes the node's only SSH host key. The zero
	// value lets cloud-init generate host keys as usual.
	HostKey HostKey
	// AuthorizedKeys are public keys (authorized_keys lines) allowed to log
	// in as root. Empty: nobody logs in with a key.
	AuthorizedKeys []string
}

// Host is one /etc/hosts entry.
type Host struct {
	Name    string
	Address string
}

// HostsOf lists the nodes of p for UserDataInput.Hosts.
func HostsOf(p plan.Plex) []Host {
	hosts := make([]Host, 0, len(p.Nodes))
	for _, n := range p.Nodes {
		hosts = append(hosts, Host{Name: n.Name, Address: n.Address})
	}
	return hosts
}

type userData struct {
	Hostname         string      `json:"hostname"`
	FQDN             string      `json:"fqdn"`
	PreserveHostname bool        `json:"preserve_hostname"`
	ManageEtcHosts   bool        `json:"manage_etc_hosts"`
	WriteFiles       []writeFile `json:"write_files,omitempty"`

	SSHDeleteKeys *bool             `json:"ssh_deletekeys,omitempty"`
	SSHKeys       map[string]string `json:"ssh_keys,omitempty"`
	SSHPwAuth     bool              `json:"ssh_pwauth"`
	DisableRoot   bool              `json:"disable_root"`
	Users         []user            `json:"users"`
}

type user struct {
	Name              string   `json:"name"`
	LockPasswd        bool     `json:"lock_passwd"`
	SSHAuthorizedKeys []string `json:"ssh_authorized_keys,omitempty"`
}

type writeFile struct {
	Path        string `json:"path"`
	Owner       string `json:"owner"`
	Permissions string `json:"permissions"`
	Content     string `json:"content"`
}

// hostnameRE is an RFC 1123 host name label, which plex node names are.
var hostnameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// UserData renders the node's #cloud-config.
//
// Root logs in with AuthorizedKeys only, and never with a password. The
// users list names root alone, so that cloud-init makes no default user
// (Debian's "debian"): plex works as root. Root's password is left as the
// image has it (lock_passwd: false), since locking it can stop key logins
// where sshd runs without PAM.
func UserData(u UserDataInput) ([]byte, error) {
	b, err := userDataFor(u)
	if err != nil {
		return nil, fmt.Errorf("rendering the cloud-init user-data of %s: %w", u.Hostname, err)
	}
	return b, nil
}

func userDataFor(u UserDataInput) ([]byte, error) {
	if !hostnameRE.MatchString(u.Hostname) {
		return nil, fmt.Errorf("node name %q is not a host name", u.Hostname)
	}
	hosts, err := EtcHosts(u.Hosts)
	if err != nil {
		return nil, err
	}
	d := userData{
		Hostname: u.Hostname,
		FQDN:     u.Hostname,
		// /etc/hosts is plex's, below; cloud-init must not rewrite it.
		ManageEtcHosts: false,
		WriteFiles:     []writeFile{{Path: "/etc/hosts", Owner: "root:root", Permissions: "0644", Content: hosts}},
	}

	upstreams := make([]string, 0, len(u.Mirrors))
	for up := range u.Mirrors {
		upstreams = append(upstreams, up)
	}
	slices.Sort(upstreams)
	for _, up := range upstreams {
		toml, err := HostsTOML(up, u.Mirrors[up])
		if err != nil {
			return nil, err
		}
		d.WriteFiles = append(d.WriteFiles, writeFile{Path: HostsTOMLPath(up), Owner: "root:root", Permissions: "0644", Content: string(toml)})
	}

	if hk := u.HostKey; len(hk.Private) > 0 || hk.AuthorizedKey != "" {
		pub, err := hk.Check()
		if err != nil {
			return nil, err
		}
		// Only plex's key: drop the image's keys. With ssh_keys given,
		// cloud-init generates none.
		d.SSHDeleteKeys = ptr(true)
		d.SSHKeys = map[string]string{
			"ed25519_private": string(hk.Private),
			"ed25519_public":  pub,
		}
	}

	root := user{Name: "root", LockPasswd: false}
	keys, err := CheckAuthorizedKeys(u.AuthorizedKeys)
	if err != nil {
		return nil, err
	}
	root.SSHAuthorizedKeys = keys
	d.Users = []user{root}
	// Otherwise cloud-init's ssh module would prefix root's keys with a
	// command that refuses the login.
	d.DisableRoot = false

	body, err := yaml.Marshal(d)
	if err != nil {
		return nil, err
	}
	return append([]byte("#cloud-config\n"), body...), nil
}

// EtcHosts is /etc/hosts with hosts after the usual loopback entries.
func EtcHosts(hosts []Host) (string, error) {
	var b bytes.Buffer
	b.WriteString("# Managed by plex: the nodes of this plex.\n")
	b.WriteString("127.0.0.1 localhost\n")
	b.WriteString("::1 localhost ip6-localhost ip6-loopback\n")
	b.WriteString("ff02::1 ip6-allnodes\n")
	b.WriteString("ff02::2 ip6-allrouters\n")
	if len(hosts) > 0 {
		b.WriteString("\n")
	}
	for _, h := range hosts {
		if !hostnameRE.MatchString(h.Name) {
			return "", fmt.Errorf("host name %q is not a host name", h.Name)
		}
		a, err := netip.ParseAddr(h.Address)
		if err != nil {
			return "", fmt.Errorf("address %q of host %s is not an IP address", h.Address, h.Name)
		}
		fmt.Fprintf(&b, "%s %s\n", a, h.Name)
	}
	return b.String(), nil
}

// CheckAuthorizedKeys trims keys and checks that each is one
// authorized_keys line.
func CheckAuthorizedKeys(keys []string) ([]string, error) {
	var out []string
	for i, k := range keys {
		k = strings.TrimSpace(k)
		if _, _, _, _, err := ssh.ParseAuthorizedKey([]byte(k)); err != nil || strings.ContainsAny(k, "\n") {
			return nil, fmt.Errorf("authorized key %d is not one authorized_keys line", i+1)
		}
		out = append(out, k)
	}
	return out, nil
}

func ptr[T any](v T) *T { return &v }
