# shellcheck shell=bash
# The cluster's network: a root-namespace bridge, one network namespace per
# member joined to it by a veth, and in each namespace a br0 that carries
# that veth. Sourced by hack/incus-cluster.sh.

ns_name() { echo "plexcl-$1"; }
veth_name() { echo "plexcl-$1"; } # the root side; the namespace side is "uplink"
ns_exists() { [[ -e /run/netns/$1 ]]; }
in_ns() { # in_ns MEMBER CMD...: run CMD in the member's network namespace
  local ns
  ns=$(ns_name "$1")
  shift
  nsenter --net="/run/netns/$ns" "$@"
}

# cidr_host CIDR N prints the Nth address of an IPv4 /24 (or wider) network.
cidr_host() {
  local net=${1%/*} n=$2 a b c d
  IFS=. read -r a b c d <<<"$net"
  local v=$(((a << 24) + (b << 16) + (c << 8) + d + n))
  echo "$((v >> 24 & 255)).$((v >> 16 & 255)).$((v >> 8 & 255)).$((v & 255))"
}
cidr_len() { echo "${1#*/}"; }

link_gateway() { cidr_host "$PLEX_CLUSTER_LINK" 1; }
segment_gateway() { cidr_host "$PLEX_CLUSTER_SEGMENT" 1; }
# member_index m2 prints 2: the position of the member in PLEX_CLUSTER_MEMBERS.
member_index() {
  local i
  for i in "${!MEMBERS[@]}"; do
    if [[ ${MEMBERS[$i]} == "$1" ]]; then
      echo $((i + 1))
      return 0
    fi
  done
  return 1
}
member_addr() { cidr_host "$PLEX_CLUSTER_LINK" $((10 + $(member_index "$1"))); }

net_up() {
  local m ns veth addr
  if ! ip link show "$PLEX_CLUSTER_BRIDGE" >/dev/null 2>&1; then
    ip link add "$PLEX_CLUSTER_BRIDGE" type bridge
    say "created bridge $PLEX_CLUSTER_BRIDGE"
  fi
  ip addr replace "$(link_gateway)/$(cidr_len "$PLEX_CLUSTER_LINK")" dev "$PLEX_CLUSTER_BRIDGE"
  ip addr replace "$(segment_gateway)/$(cidr_len "$PLEX_CLUSTER_SEGMENT")" dev "$PLEX_CLUSTER_BRIDGE"
  ip link set "$PLEX_CLUSTER_BRIDGE" up
  for m in "${MEMBERS[@]}"; do
    ns=$(ns_name "$m")
    veth=$(veth_name "$m")
    addr=$(member_addr "$m")
    if ! ns_exists "$ns"; then
      ip netns add "$ns"
      say "created netns $ns"
    fi
    if ! ip link show "$veth" >/dev/null 2>&1; then
      # A veth whose namespace end is gone is deleted with its root end; one
      # made earlier but not moved yet would block the add below.
      ip link add "$veth" type veth peer name uplink netns "$ns"
      say "created veth $veth <-> $ns/uplink"
    fi
    ip link set "$veth" master "$PLEX_CLUSTER_BRIDGE" up
    in_ns "$m" ip link set lo up
    if ! in_ns "$m" ip link show br0 >/dev/null 2>&1; then
      in_ns "$m" ip link add br0 type bridge
    fi
    in_ns "$m" ip link set uplink master br0 up
    in_ns "$m" ip addr replace "$addr/$(cidr_len "$PLEX_CLUSTER_LINK")" dev br0
    in_ns "$m" ip link set br0 up
    # The member reaches the node segment (and nothing else) on the link.
    in_ns "$m" ip route replace "$PLEX_CLUSTER_SEGMENT" dev br0
    # Containers' frames cross br0 by bridging only; the namespace routes
    # nothing for them.
    in_ns "$m" sysctl -qw net.ipv4.ip_forward=0
  done
  say "$PLEX_CLUSTER_BRIDGE $(link_gateway) (link), $(segment_gateway) (node segment gateway); members: $(for m in "${MEMBERS[@]}"; do printf '%s=%s ' "$m" "$(member_addr "$m")"; done)"
}

net_down() {
  local m ns veth
  for m in "${MEMBERS[@]}"; do
    ns=$(ns_name "$m")
    veth=$(veth_name "$m")
    if ip link show "$veth" >/dev/null 2>&1; then
      ip link del "$veth"
      say "deleted veth $veth"
    fi
    if ns_exists "$ns"; then
      ip netns del "$ns"
      say "deleted netns $ns"
    fi
  done
  if ip link show "$PLEX_CLUSTER_BRIDGE" >/dev/null 2>&1; then
    ip link del "$PLEX_CLUSTER_BRIDGE"
    say "deleted bridge $PLEX_CLUSTER_BRIDGE"
  fi
}

# raise_inotify_limits: every privileged container's processes are the host's
# root, so all nodes on the machine (the standalone daemon's and the
# cluster's) share root's inotify limits. The default 128 instances run out
# at about a dozen nodes, and kubelet and kube-proxy then fail with "too many
# open files". Limits are only ever raised, never lowered.
raise_inotify_limits() {
  local kv key want have
  for kv in fs.inotify.max_user_instances=1024 fs.inotify.max_user_watches=524288; do
    key=${kv%=*}
    want=${kv#*=}
    have=$(sysctl -n "$key")
    if ((have < want)); then
      sysctl -qw "$key=$want"
      say "$key: $have -> $want"
    else
      say "$key: $have"
    fi
  done
}
