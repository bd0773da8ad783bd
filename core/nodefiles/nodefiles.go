// Package nodefiles renders the files a kube node boots with. plex gives
// them to the node's new instance, through the Incus API, and Incus writes
// them as the node first starts (incus.SeedFiles), so the node needs no
// cloud-init: cloud-init's four stages were most of a node's boot (11.5 s of
// 15 s on a busy 2-core host, 5 s of 5.2 s on a quiet one) and the CPU they
// burn grows with every node.
//
// A node gets its static address (a systemd-networkd unit), containerd's
// registry mirrors, plex's SSH host key and the user's login keys, its
// /etc/hosts (Hosts), and the marker that keeps the image's cloud-init from
// running at all. Files are plain files: a unit is enabled with a drop-in
// (WantedAtBoot), not a symbolic link.
package nodefiles

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"

	"github.com/plex-dev/plex/core/cloudinit"
	"github.com/plex-dev/plex/core/plan"
)

// Paths of what Files writes.
const (
	// NetworkFile is the node's systemd-networkd unit for eth0. networkd
	// takes the first file that matches eth0, in the order of their names:
	// this one sorts before the 10-cloud-init-eth0.network (DHCP) that an
	// image baked with cloud-init keeps. Its drop-in directory
	// (NetworkFile + ".d") takes the pod routes.
	NetworkFile = "/etc/systemd/network/05-plex-eth0.network"
	// CloudInitDisabled stops cloud-init at every boot: the node has nothing
	// for it to do, and on the image's Incus datasource it would write a DHCP
	// network config that wins over NetworkFile.
	CloudInitDisabled = "/etc/cloud/cloud-init.disabled"
	// HostKeyPath is the node's only SSH host key.
	HostKeyPath = "/etc/ssh/ssh_host_ed25519_key"
	// AuthorizedKeysPath is root's authorized_keys.
	AuthorizedKeysPath = "/root/.ssh/authorized_keys"
	// HostsPath is /etc/hosts (see Hosts).
	HostsPath = "/etc/hosts"
)

// CloudInitDisabledNote is CloudInitDisabled's content.
const CloudInitDisabledNote = "plex: this node was configured by plex before its first start, and has nothing for cloud-init to do\n"

// File is one file to write into the node.
type File struct {
	Path    string
	Mode    int
	Content []byte
}

// WantedAtBoot is the drop-in that has multi-user.target pull unit in at
// every boot, as `systemctl enable` would with a symbolic link: a plain file,
// which Incus writes before the first start where it writes no links.
func WantedAtBoot(unit string) File {
	return File{Path: WantedAtBootPath(unit), Mode: 0o644,
		Content: []byte("# Written by plex: " + unit + " runs at every boot.\n[Unit]\nWants=" + unit + "\n")}
}

// WantedAtBootPath is where WantedAtBoot puts unit's drop-in.
func WantedAtBootPath(unit string) string {
	return "/etc/systemd/system/multi-user.target.d/50-" + unit + ".conf"
}

// Input is what a node's files are made of.
type Input struct {
	// Node is the node: its name and address.
	Node plan.Node
	// Gateway is the node network's gateway, and its name server; empty:
	// no default route and resolv.conf as the image has it.
	Gateway string
	// PrefixLen is the node network's prefix length.
	PrefixLen int
	// Mirrors maps an upstream registry to the mirror containerd pulls its
	// images through (cloudinit.HostsTOML).
	Mirrors map[string]cloudinit.Mirror
	// HostKey becomes the node's only SSH host key.
	HostKey cloudinit.HostKey
	// AuthorizedKeys may log in as root. Empty: nobody logs in with a key.
	AuthorizedKeys []string
	// PrePull, on a control-plane node, is the Kubernetes version whose
	// control-plane images the node pulls as soon as containerd runs, while
	// plex still waits for the other nodes' boot (PrePullUnit). Empty: none.
	PrePull string
}

// Files renders what is written before the node's first start, in a fixed
// order.
func Files(in Input) ([]File, error) {
	fs, err := files(in)
	if err != nil {
		return nil, fmt.Errorf("rendering the files of node %s: %w", in.Node.Name, err)
	}
	return fs, nil
}

func files(in Input) ([]File, error) {
	unit, err := NetworkUnit(in.Node.Address, in.Gateway, in.PrefixLen)
	if err != nil {
		return nil, err
	}
	pub, err := in.HostKey.Check()
	if err != nil {
		return nil, err
	}
	keys, err := cloudinit.CheckAuthorizedKeys(in.AuthorizedKeys)
	if err != nil {
		return nil, err
	}
	out := []File{
		{Path: CloudInitDisabled, Mode: 0o644, Content: []byte(CloudInitDisabledNote)},
		{Path: NetworkFile, Mode: 0o644, Content: unit},
		{Path: HostKeyPath, Mode: 0o600, Content: in.HostKey.Private},
		{Path: HostKeyPath + ".pub", Mode: 0o644, Content: []byte(pub + "\n")},
	}
	if in.PrePull != "" {
		unit, err := PrePullUnit(in.PrePull)
		if err != nil {
			return nil, err
		}
		out = append(out,
			File{Path: PrePullUnitPath, Mode: 0o644, Content: unit},
			WantedAtBoot(PrePullUnitName))
	}
	var ak bytes.Buffer
	for _, k := range keys {
		ak.WriteString(k + "\n")
	}
	out = append(out, File{Path: AuthorizedKeysPath, Mode: 0o600, Content: ak.Bytes()})
	ups := make([]string, 0, len(in.Mirrors))
	for up := range in.Mirrors {
		ups = append(ups, up)
	}
	slices.Sort(ups)
	for _, up := range ups {
		toml, err := cloudinit.HostsTOML(up, in.Mirrors[up])
		if err != nil {
			return nil, err
		}
		out = append(out, File{Path: cloudinit.HostsTOMLPath(up), Mode: 0o644, Content: toml})
	}
	return out, nil
}

// Hosts is the node's /etc/hosts: every node of the plex, so that nodes find
// each other by name without DNS.
func Hosts(hosts []cloudinit.Host) (File, error) {
	s, err := cloudinit.EtcHosts(hosts)
	if err != nil {
		return File{}, err
	}
	return File{Path: HostsPath, Mode: 0o644, Content: []byte(s)}, nil
}

// NetworkUnit is the systemd-networkd unit that gives eth0 its static
// address in a /prefixLen network, a default route through gateway, and
// gateway as its name server. The default route is there although the
// networks plex labs run on may lead nowhere: a node expects one, and
// unknown destinations then fail at the gateway rather than on the node.
func NetworkUnit(address, gateway string, prefixLen int) ([]byte, error) {
	pfx, gw, err := cloudinit.NodeNetwork(address, gateway, prefixLen)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString("# Written by plex before the node's first start.\n")
	// Nodes are IPv4 only. Without IPv6AcceptRA=no, networkd would wait
	// ~12 s for a router advertisement on a network that sends none before
	// it called eth0 configured, and the boot waits on that (wait-online).
	fmt.Fprintf(&b, "[Match]\nName=%s\n\n[Network]\nDHCP=no\nIPv6AcceptRA=no\nAddress=%s\n", cloudinit.Interface, pfx)
	if gw.IsValid() {
		fmt.Fprintf(&b, "Gateway=%s\nDNS=%s\n", gw, gw)
	}
	return b.Bytes(), nil
}

// The control plane's image pull at boot.
const (
	PrePullUnitName = "plex-prepull.service"
	PrePullUnitPath = "/etc/systemd/system/" + PrePullUnitName
	// PreloadedImagesPath lists the images a node image holds already
	// (incus plexbake --preload-images; its kube-images.sh writes it). The
	// pull unit does not run where it exists: kubeadm's pull asks the
	// registry again for every image, and containerd would fetch the
	// compressed layers that the image left out.
	PreloadedImagesPath = "/etc/plex/preloaded-images"
)

var kubeVersionRE = regexp.MustCompile(`^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$`)

// PrePullUnit is the systemd unit that pulls version's control-plane images
// (kubeadm config images pull) once containerd runs. kubeadm init pulls them
// one after the other in its preflight, 5.4 s of a 16.6 s init on the
// 2-core harness; started at boot, the pull runs while plex waits for the
// other nodes. It is Type=simple, so the boot does not wait for it, and
// kubeadm's own pull then finds the images there (or joins a pull under
// way: containerd fetches each blob once).
func PrePullUnit(version string) ([]byte, error) {
	if !kubeVersionRE.MatchString(version) {
		return nil, fmt.Errorf("kubernetes version %q is not vX.Y.Z", version)
	}
	return []byte("# Written by plex before the node's first start.\n" +
		"[Unit]\n" +
		"Description=plex: pull the control-plane images while the plex boots\n" +
		"After=containerd.service\n" +
		"Wants=containerd.service\n" +
		"ConditionPathExists=!" + PreloadedImagesPath + "\n\n" +
		"[Service]\n" +
		"Type=simple\n" +
		"ExecStart=/usr/bin/kubeadm config images pull --kubernetes-version " + version + "\n"), nil
}
