package cluster

import (
	"bytes"
	"context"
	"fmt"
	"hash/fnv"
	"net/netip"
	"strings"

	"github.com/plex-dev/plex/core/plan"
)

// A plex with three control planes serves its API at a virtual IP that
// keepalived, baked into the node image, holds on one control-plane node. The
// nodes speak VRRP by unicast to each other (no multicast needed on the
// bridge). Each has a base priority by its position, and gains 50 while its
// own API server accepts connections, so the VIP sits on the first node
// whose API server is up, and moves within a few seconds when that node or
// its API server fails. Before the first `kubeadm init`, no API server is up
// anywhere, and the first node wins on its base priority, so the endpoint
// exists from the start.

const (
	keepalivedConf  = "/etc/keepalived/keepalived.conf"
	keepalivedCheck = "/etc/keepalived/plex-check-apiserver.sh"
)

// apiserverCheck succeeds while the local API server is ready (/readyz,
// which anyone may read), not merely listening: a control plane that has
// just started accepts connections before its authorizer has synced, and if
// its higher priority took the VIP back then, every client would be told
// "forbidden" until it caught up. openssl comes with ca-certificates.
const apiserverCheck = `#!/bin/bash
# Written by plex: keepalived's health check of the local API server.
resp=$(printf 'GET /readyz HTTP/1.0\r\nHost: localhost\r\n\r\n' |
  timeout 2 openssl s_client -quiet -connect 127.0.0.1:6443 2>/dev/null | head -n 1)
[[ $resp == "HTTP/1."[01]" 200"* ]]
`

// vrrpRouterID derives a VRRP router ID (1-255) from the plex name, so plexes
// sharing one network do not fight over one VIP group.
func vrrpRouterID(plex string) int {
	h := fnv.New32a()
	h.Write([]byte(plex))
	return int(h.Sum32()%255) + 1
}

// keepalivedConfig renders keepalived.conf for control-plane node self.
func keepalivedConfig(px plan.Plex, self plan.Node, cps []plan.Node) ([]byte, error) {
	prefix, err := netip.ParsePrefix(px.NodeSubnet)
	if err != nil {
		return nil, fmt.Errorf("node subnet %q: %w", px.NodeSubnet, err)
	}
	priority := 100
	var peers []string
	for i, n := range cps {
		if n.Name == self.Name {
			priority = 100 - i
		} else {
			peers = append(peers, "    "+n.Address)
		}
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, `# Written by plex for plex %s: the API VIP. Changes are overwritten.
global_defs {
  router_id %s
  enable_script_security
  script_user root
}

vrrp_script plex_apiserver {
  script "%s"
  interval 1
  timeout 3
  rise 2
  fall 2
  weight 50
}

vrrp_instance plex_api {
  state BACKUP
  interface eth0
  virtual_router_id %d
  priority %d
  advert_int 1
  unicast_src_ip %s
  unicast_peer {
%s
  }
  virtual_ipaddress {
    %s/%d dev eth0
  }
  track_script {
    plex_apiserver
  }
}
`, px.Name, self.Name, keepalivedCheck, vrrpRouterID(px.Name), priority, self.Address, strings.Join(peers, "\n"), px.APIVIP, prefix.Bits())
	return b.Bytes(), nil
}

// controlPlaneNodes are the plan's control-plane nodes in order.
func controlPlaneNodes(px plan.Plex) []plan.Node {
	var out []plan.Node
	for _, n := range px.Nodes {
		if n.Role == plan.RoleControlPlane {
			out = append(out, n)
		}
	}
	return out
}

// syncVIP writes keepalived's config on every control-plane node of an HA
// plex and (re)starts keepalived where the config changed.
func (r *run) syncVIP(ctx context.Context) error {
	cps := controlPlaneNodes(r.px)
	return r.eachNode(ctx, cps, func(n plan.Node) error {
		conf, err := keepalivedConfig(r.px, n, cps)
		if err != nil {
			return err
		}
		if cur, err := r.srv.PullFile(ctx, n.Name, keepalivedConf); err == nil && bytes.Equal(cur, conf) {
			return nil
		}
		if err := r.srv.PushFile(ctx, n.Name, keepalivedCheck, []byte(apiserverCheck), 0o755); err != nil {
			return err
		}
		if err := r.srv.PushFile(ctx, n.Name, keepalivedConf, conf, 0o644); err != nil {
			return err
		}
		r.markChanged()
		_, err = r.srv.Run(ctx, n.Name, "systemctl", "enable", "--now", "keepalived")
		if err == nil {
			_, err = r.srv.Run(ctx, n.Name, "systemctl", "restart", "keepalived")
		}
		return err
	})
}
