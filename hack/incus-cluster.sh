#!/usr/bin/env bash
# A real two-member Incus cluster for plex's placement tests, beside the
# standalone harness daemon (hack/harness.sh), on this one machine.
#
#   hack/incus-cluster.sh up       bring the cluster up (idempotent; needs the
#                                  standalone harness for its images)
#   hack/incus-cluster.sh env      print shell exports: INCUS_CONF (a throwaway
#                                  client config holding remote "local", the
#                                  standalone daemon, and $PLEX_CLUSTER_REMOTE,
#                                  the cluster) and the addresses below
#   hack/incus-cluster.sh status   print what exists
#   hack/incus-cluster.sh down     delete every instance on the cluster, stop
#                                  the members, and remove everything up made
#
# Shape (see ../shared/incus-cluster.md for why):
#
#   root namespace   bridge plexcl0: 10.212.250.1/24 (the members' link) and
#                    10.212.240.1/24 (the node segment's gateway)
#     │ veth plexcl-m1            │ veth plexcl-m2
#   netns plexcl-m1               netns plexcl-m2
#     br0 ⊃ uplink, 10.212.250.11   br0 ⊃ uplink, 10.212.250.12
#     incusd m1 (:8443)             incusd m2 (:8443)
#
# Each member's br0 carries the namespace's uplink, so a node bridged onto br0
# (networkMode: bridged, network: br0) on m1 and one on m2 share one L2
# segment through plexcl0: nodes take static addresses in 10.212.240.0/24.
# The harness registry listens on 10.212.0.1:5000 in the root namespace; a
# node reaches it through its gateway 10.212.240.1, which delivers it locally
# (no forwarding, no NAT). The namespaces have no default route, and the
# standalone harness's unreachable route and nft guard keep the rest of the
# machine's traffic where it is.
#
# Each member is its own incusd with its own INCUS_DIR under
# $PLEX_CLUSTER_DIR, running in its own network namespace and a private mount
# namespace (sysfs remounted for the namespace, the cgroup tree kept). Every
# instance on the machine shares one cgroup tree, so instance names must be
# unique across the standalone daemon and the cluster.
set -Eeuo pipefail

CLUSTER_HACK=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# The standalone harness's helpers (say, step, run_logged, now_us, since) and
# settings (PLEX_CACHE, PLEX_INCUSD_PROXY, the safety net).
# shellcheck source=hack/harness.sh
source "$CLUSTER_HACK/harness.sh"

: "${PLEX_CLUSTER_DIR:=/var/lib/plex-incus-cluster}"
: "${PLEX_CLUSTER_REMOTE:=plexcl}"
: "${PLEX_CLUSTER_MEMBERS:=m1 m2}"
: "${PLEX_CLUSTER_BRIDGE:=plexcl0}"
# The members' link: the root namespace's bridge is .1, member k is .10+k.
: "${PLEX_CLUSTER_LINK:=10.212.250.0/24}"
# The node segment on br0: its gateway is on the root namespace's bridge.
: "${PLEX_CLUSTER_SEGMENT:=10.212.240.0/24}"
: "${PLEX_CLUSTER_POOL:=plex}"
# btrfs on a sparse loop file per member shares an image's unpacked rootfs
# between the instances made from it; dir copies it in full each time.
: "${PLEX_CLUSTER_POOL_DRIVER:=btrfs}"
: "${PLEX_CLUSTER_POOL_SIZE:=25GiB}"
# Images copied from the standalone daemon (those it has).
: "${PLEX_CLUSTER_IMAGES:=$PLEX_IMAGE ${PLEX_IMAGE}_kube}"
# A cluster group holding the last member, for placement tests of @group.
: "${PLEX_CLUSTER_GROUP:=plexg2}"
export PLEX_CLUSTER_DIR

CLUSTER_CONF=$PLEX_CLUSTER_DIR/client
read -r -a MEMBERS <<<"$PLEX_CLUSTER_MEMBERS"

# shellcheck source=hack/incus-cluster/net.sh
source "$CLUSTER_HACK/incus-cluster/net.sh"
# shellcheck source=hack/incus-cluster/members.sh
source "$CLUSTER_HACK/incus-cluster/members.sh"

cluster_lock() {
  mkdir -p "$PLEX_CACHE"
  exec 8>"$PLEX_CACHE/incus-cluster.lock"
  flock -w 600 8 || die "another hack/incus-cluster.sh holds $PLEX_CACHE/incus-cluster.lock"
}

cluster_up() {
  need_root up
  cluster_lock
  local t0
  t0=$(now_us)
  incus_answers || die "the standalone harness incusd is not answering: run hack/harness.sh up first (the cluster copies its images)"
  step "network safety net" ensure_safety_net
  step "inotify limits" raise_inotify_limits
  step "link $PLEX_CLUSTER_BRIDGE and namespaces" net_up
  step "member daemons" members_start
  step "cluster ${MEMBERS[*]}" cluster_form
  step "client config with remote $PLEX_CLUSTER_REMOTE" client_remote
  step "cluster group $PLEX_CLUSTER_GROUP" cluster_group
  step "images" cluster_images
  printf 'incus cluster ready in %s s\n' "$(since "$t0")" >&2
}

cluster_down() {
  need_root down
  cluster_lock
  local t0
  t0=$(now_us)
  step "instances on the cluster" cluster_delete_instances
  step "member daemons" members_stop
  step "namespaces and $PLEX_CLUSTER_BRIDGE" net_down
  step "state in $PLEX_CLUSTER_DIR" cluster_remove_state
  printf 'incus cluster removed in %s s\n' "$(since "$t0")" >&2
}

cluster_env() {
  cat <<EOF
export INCUS_CONF=$CLUSTER_CONF
export PLEX_CLUSTER_DIR=$PLEX_CLUSTER_DIR
export PLEX_CLUSTER_REMOTE=$PLEX_CLUSTER_REMOTE
export PLEX_CLUSTER_MEMBERS='${MEMBERS[*]}'
export PLEX_CLUSTER_GROUP=$PLEX_CLUSTER_GROUP
export PLEX_CLUSTER_POOL=$PLEX_CLUSTER_POOL
export PLEX_CLUSTER_SEGMENT=$PLEX_CLUSTER_SEGMENT
export PLEX_CLUSTER_GATEWAY=$(segment_gateway)
EOF
}

cluster_status() {
  local m
  printf 'link       %s\n' "$(ip -br addr show "$PLEX_CLUSTER_BRIDGE" 2>/dev/null || echo missing)"
  for m in "${MEMBERS[@]}"; do
    printf '%-10s netns %s, incusd %s\n' "$m" \
      "$(ns_exists "$(ns_name "$m")" && echo present || echo missing)" \
      "$(member_answers "$m" && echo "answering (pid $(member_pid "$m" || echo '?'))" || echo 'not answering')"
  done
  if [[ -s $CLUSTER_CONF/config.yml ]] && member_answers "${MEMBERS[0]}"; then
    printf 'remote     %s (INCUS_CONF=%s)\n' "$PLEX_CLUSTER_REMOTE" "$CLUSTER_CONF"
    cl cluster list "$PLEX_CLUSTER_REMOTE:" -f csv -c nus 2>/dev/null | sed 's/^/  /'
    printf 'instances\n'
    cl list "$PLEX_CLUSTER_REMOTE:" -f csv -c nsL4 2>/dev/null | sed 's/^/  /'
  fi
}

cluster_main() {
  case ${1:-} in
  up) cluster_up ;;
  down) cluster_down ;;
  env) cluster_env ;;
  status) cluster_status ;;
  *)
    echo "usage: $0 up | down | env | status" >&2
    exit 2
    ;;
  esac
}

cluster_main "$@"
