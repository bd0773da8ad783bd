package cni

import (
	"fmt"
	"strings"

	"github.com/plex-dev/plex/core/plan"
)

// Where MasqScript and MasqUnit go in a node.
const (
	MasqScriptPath = "/etc/plex/pod-masq.sh"
	MasqUnitName   = "plex-pod-masq.service"
	MasqUnitPath   = "/etc/systemd/system/" + MasqUnitName
)

// masqChain is the nat chain MasqScript owns.
const masqChain = "PLEX-POD-MASQ"

// MasqScript is a POSIX sh script that masquerades what the node's pods send
// outside p's pod subnet, as kind's ip-masq-agent does: pod to pod traffic,
// across nodes too, keeps the pods' addresses, while a packet to anything
// else (the host, a registry beside the plex, the node network, the
// internet) leaves with the node's address. Without it, whatever answers a
// pod from outside the plex needs a route back to every node's pod CIDR: the
// host's upstream DNS answering CoreDNS, for one. Incus's own NAT on a
// managed bridge only rewrites the bridge's subnet, so pods would not reach
// beyond the host either.
//
// The script is idempotent: it owns the chain PLEX-POD-MASQ in the nat table,
// flushes and refills it, and adds one jump from POSTROUTING when missing.
func MasqScript(p plan.Plex) (string, error) {
	subnet, err := podSubnet(p)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("#!/bin/sh\n")
	b.WriteString("# Managed by plex: pods keep their addresses toward other pods of this plex and\n")
	b.WriteString("# leave as the node toward anything else. plex rewrites this file at up.\n")
	b.WriteString("set -eu\n")
	fmt.Fprintf(&b, "subnet=%s\n", subnet)
	b.WriteString("ipt() { iptables -w 5 -t nat \"$@\"; }\n")
	fmt.Fprintf(&b, "ipt -N %s 2>/dev/null || true\n", masqChain)
	fmt.Fprintf(&b, "ipt -F %s\n", masqChain)
	fmt.Fprintf(&b, "ipt -A %s -d \"$subnet\" -j RETURN\n", masqChain)
	fmt.Fprintf(&b, "ipt -A %s -d 224.0.0.0/4 -j RETURN\n", masqChain)
	fmt.Fprintf(&b, "ipt -A %s -j MASQUERADE\n", masqChain)
	fmt.Fprintf(&b, "ipt -C POSTROUTING -s \"$subnet\" -j %s 2>/dev/null || ipt -A POSTROUTING -s \"$subnet\" -j %s\n", masqChain, masqChain)
	return b.String(), nil
}

// MasqUnit is the systemd unit that runs MasqScript at every boot, before
// kubelet starts the pods.
func MasqUnit() string {
	return `# Managed by plex.
[Unit]
Description=plex: masquerade pod traffic that leaves the plex
After=network.target
Before=kubelet.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh ` + MasqScriptPath + `

[Install]
WantedBy=multi-user.target
`
}
