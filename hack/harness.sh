#!/usr/bin/env bash
# The real-Incus test harness for plex.
#
#   hack/harness.sh up       install, start and configure Incus for tests (idempotent)
#   hack/harness.sh env      print shell exports for the Makefile and the tests
#   hack/harness.sh status   print what exists
#   hack/harness.sh base NAME  build (cached) and import one more base image beside
#                            the default, e.g. debian13 (Debian trixie); `up` first
#   hack/harness.sh down     delete the harness-test-* instances (--all: also every
#                            instance with a user.plex.* key). Leaves incusd, the
#                            pool, the bridge, the image and the route in place;
#                            stop the daemon with `incus admin shutdown` if needed.
#
# Settings come from the environment; see the defaults below. Noisy output goes
# to $PLEX_CACHE/logs/, and its tail is shown when a command fails. Tests and
# the Makefile pick the settings up with: eval "$(hack/harness.sh env)"
set -Eeuo pipefail
trap 'printf "harness: failed (exit %d) at %s line %d: %s\n" $? "${BASH_SOURCE[0]##*/}" "$LINENO" "$BASH_COMMAND" >&2' ERR

HARNESS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/harness

: "${PLEX_CACHE:=/var/cache/plex-dev}"
: "${PLEX_SUPERNET:=10.212.0.0/16}"
: "${PLEX_BRIDGE:=plexbr0}"
: "${PLEX_BRIDGE_CIDR:=10.212.0.1/24}"
: "${PLEX_DHCP_RANGE:=10.212.0.200-10.212.0.250}"
: "${PLEX_POOL:=plex}"
: "${PLEX_POOL_SIZE:=30GiB}"
: "${PLEX_IMAGE:=debian12}"
# The suite follows from a known image name (see base_suite); set it only for
# another name.
: "${PLEX_IMAGE_SUITE:=}"
: "${PLEX_DEBIAN_MIRROR:=http://deb.debian.org/debian}"
: "${PLEX_LXCFS:=1}"
: "${PLEX_EGRESS_GUARD:=1}"
# incusd fetches instance types from images.linuxcontainers.org at start and
# daily. Pointing its proxy at a closed loopback port makes such fetches fail
# here, without a DNS query to the host's resolver. Empty: no proxy.
: "${PLEX_INCUSD_PROXY:=http://127.0.0.1:9}"
: "${INCUS_DIR:=/var/lib/incus}"
PLEX_BRIDGE_ADDR=${PLEX_BRIDGE_CIDR%/*}
: "${PLEX_REGISTRY:=$PLEX_BRIDGE_ADDR:5000}"
export PLEX_CACHE INCUS_DIR

INCUSD=/usr/libexec/incus/incusd
INCUSD_LOG=${PLEX_INCUSD_LOG:-/var/log/incus/incusd.log}
LOG_DIR=$PLEX_CACHE/logs
# Packages the harness needs on the host; incus itself comes from backports.
HOST_PACKAGES=(incus debootstrap btrfs-progs dnsmasq-base iproute2 nftables zstd docker-registry)

# --- output -----------------------------------------------------------------

say() { printf '    %s\n' "$*" >&2; }
warn() { printf '    ! %s\n' "$*" >&2; }
die() {
  printf 'harness: %s\n' "$*" >&2
  exit 1
}

now_us() { echo "${EPOCHREALTIME/./}"; }
since() { # seconds since a now_us value, one decimal
  local d=$(($(now_us) - $1))
  printf '%d.%d' $((d / 1000000)) $((d % 1000000 / 100000))
}

# step runs one stage of `up` and closes it with ✓ and its time; on_exit
# closes it with ✗ if the stage fails. The stage runs outside any `||` so
# that errexit stays in force inside it.
STEP_NAME=
STEP_T0=
step() {
  STEP_NAME=$1
  shift
  printf '==> %s\n' "$STEP_NAME" >&2
  STEP_T0=$(now_us)
  "$@"
  printf '  ✓ %s (%s s)\n' "$STEP_NAME" "$(since "$STEP_T0")" >&2
  STEP_NAME=
}

# run_logged NAME CMD... runs CMD with its output in $LOG_DIR/NAME.log and
# shows the log's tail if it fails.
run_logged() {
  local name=$1 log rc=0
  shift
  log=$LOG_DIR/$name.log
  mkdir -p "$LOG_DIR"
  printf '# %s\n# %s\n' "$(date -Is)" "$*" >"$log"
  "$@" >>"$log" 2>&1 </dev/null || rc=$?
  if ((rc != 0)); then
    printf '    command failed (exit %d): %s\n    last lines of %s:\n' "$rc" "$*" "$log" >&2
    tail -n 30 "$log" | sed 's/^/      | /' >&2
  fi
  return "$rc"
}

# --- cleanup on exit ----------------------------------------------------------

POLICY_RC_MADE=
IMAGE_BUILD_WORK=
on_exit() {
  local rc=$?
  if [[ -n $STEP_NAME ]] && ((rc != 0)); then
    printf '  ✗ %s (%s s)\n' "$STEP_NAME" "$(since "$STEP_T0")" >&2
  fi
  if [[ -n $POLICY_RC_MADE ]]; then rm -f /usr/sbin/policy-rc.d; fi
  if [[ -n $IMAGE_BUILD_WORK ]]; then image_umount_all "$IMAGE_BUILD_WORK"; fi
}
trap on_exit EXIT

# shellcheck source=hack/harness/incus.sh
source "$HARNESS_DIR/incus.sh"
# shellcheck source=hack/harness/image.sh
source "$HARNESS_DIR/image.sh"

# --- 1. host packages -----------------------------------------------------------

pkg_installed() {
  [[ $(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null) == installed ]]
}

apt_get() {
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -y -q "$@"
}

# apt_install_once installs incus from backports and the rest from bookworm.
apt_install_once() {
  local p backports=() plain=()
  for p in "$@"; do
    if [[ $p == incus ]]; then backports+=("$p"); else plain+=("$p"); fi
  done
  if ((${#backports[@]})); then
    apt_get install --no-install-recommends -t bookworm-backports "${backports[@]}" || return
  fi
  if ((${#plain[@]})); then
    apt_get install --no-install-recommends "${plain[@]}" || return
  fi
}

ensure_backports_source() {
  if grep -rqs --include='*.list' --include='*.sources' --include=sources.list \
    'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    return 0
  fi
  say "adding /etc/apt/sources.list.d/backports.sources"
  cat >/etc/apt/sources.list.d/backports.sources <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
}

ensure_packages() {
  local p missing=()
  for p in "${HOST_PACKAGES[@]}"; do
    # incus-base alone (containers only, no QEMU) is enough for the harness.
    if [[ $p == incus ]] && pkg_installed incus-base; then continue; fi
    pkg_installed "$p" || missing+=("$p")
  done
  if ((${#missing[@]} == 0)); then
    say "all present ($(dpkg-query -W -f='${Version}' incus-base 2>/dev/null | sed 's/^/incus /'))"
    return 0
  fi
  say "installing: ${missing[*]}"
  ensure_backports_source
  # Packages must not start their daemons here (the registry on :5000, an
  # init.d incusd): the harness starts what it needs itself.
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    POLICY_RC_MADE=1
  fi
  if ! compgen -G '/var/lib/apt/lists/*bookworm-backports*Packages*' >/dev/null; then
    run_logged apt-update apt_get update
  fi
  if ! run_logged apt-install apt_install_once "${missing[@]}"; then
    say "retrying after apt-get update"
    run_logged apt-update apt_get update
    run_logged apt-install apt_install_once "${missing[@]}"
  fi
  if [[ -n $POLICY_RC_MADE ]]; then
    rm -f /usr/sbin/policy-rc.d
    POLICY_RC_MADE=
  fi
}

# --- 2. network safety net -------------------------------------------------------

# Every test address lives in $PLEX_SUPERNET. Without a more specific route
# (the bridge's /24, pod CIDRs via nodes) a packet to it fails here instead of
# taking the default route off the machine. The nft guard drops forwarded
# packets from the supernet to anywhere outside it, so nothing in a container
# can reach the outside network through this host either. Multicast and
# broadcast are exempt: with br_netfilter, frames bridged between containers
# (LLMNR, mDNS, IGMP) pass this hook too, and they are never routed off-host.
ensure_safety_net() {
  ip route replace unreachable "$PLEX_SUPERNET"
  say "route: unreachable $PLEX_SUPERNET"
  if [[ $PLEX_EGRESS_GUARD != 1 ]]; then
    warn "egress guard disabled (PLEX_EGRESS_GUARD=$PLEX_EGRESS_GUARD)"
    return 0
  fi
  nft -f - <<EOF
table inet plex_harness
delete table inet plex_harness
table inet plex_harness {
  chain forward {
    type filter hook forward priority -10; policy accept;
    ip saddr $PLEX_SUPERNET ip daddr != { $PLEX_SUPERNET, 224.0.0.0/4, 255.255.255.255 } counter drop comment "plex harness: test traffic stays on this machine"
  }
}
EOF
  say "nft: table inet plex_harness drops forwarding from $PLEX_SUPERNET to outside it"
}

# --- base images --------------------------------------------------------------------

# The base images the harness knows, as image alias and Debian suite. `up` makes
# $PLEX_IMAGE (debian12); `base NAME` makes any other one beside it.
BASE_IMAGES=(debian12:bookworm debian13:trixie)

# base_suite prints the Debian suite of a known base image name.
base_suite() {
  local b
  for b in "${BASE_IMAGES[@]}"; do
    if [[ ${b%%:*} == "$1" ]]; then
      echo "${b#*:}"
      return 0
    fi
  done
  return 1
}

base_names() { printf '%s\n' "${BASE_IMAGES[@]%%:*}" | paste -sd' ' -; }

DEFAULT_IMAGE=$PLEX_IMAGE
if [[ -z $PLEX_IMAGE_SUITE ]]; then
  PLEX_IMAGE_SUITE=$(base_suite "$PLEX_IMAGE") ||
    die "PLEX_IMAGE=$PLEX_IMAGE is not one of the known base images ($(base_names)); set PLEX_IMAGE_SUITE to its Debian suite"
fi

# --- commands -----------------------------------------------------------------------

lock() {
  mkdir -p "$PLEX_CACHE"
  exec 9>"$PLEX_CACHE/harness.lock"
  flock -w 1200 9 || die "another hack/harness.sh holds $PLEX_CACHE/harness.lock"
}

need_root() {
  ((EUID == 0)) || die "$1 needs root (it installs packages, starts incusd and changes routes)"
}

# ensure_inotify: every privileged node container's processes are the host's
# root, so all nodes on the machine share root's inotify limits; the default
# 128 instances run out at about a dozen nodes and kubelet then fails with
# "too many open files". Only ever raised.
ensure_inotify() {
  local kv key want
  for kv in fs.inotify.max_user_instances=1024 fs.inotify.max_user_watches=524288; do
    key=${kv%=*} want=${kv#*=}
    if (($(sysctl -n "$key") < want)); then sysctl -qw "$key=$want"; fi
    say "$key: $(sysctl -n "$key")"
  done
}

cmd_up() {
  need_root up
  lock
  local t0
  t0=$(now_us)
  step "host packages" ensure_packages
  step "network safety net" ensure_safety_net
  step "inotify limits" ensure_inotify
  step "incusd" ensure_daemon
  step "storage pool $PLEX_POOL" ensure_pool
  step "bridge $PLEX_BRIDGE" ensure_bridge
  step "default profile" ensure_profile
  step "base image $PLEX_IMAGE" image_ensure
  printf 'harness ready in %s s\n' "$(since "$t0")" >&2
}

# cmd_base builds and imports the base image NAME on a harness that is up. It
# leaves $PLEX_IMAGE (what `up` makes) alone.
cmd_base() {
  local name=${1:-} suite
  [[ -n $name ]] || die "usage: $0 base NAME (one of: $(base_names))"
  suite=$(base_suite "$name") || die "base $name: unknown base image; the known ones are: $(base_names)"
  need_root base
  incus_answers || die "base $name: incusd is not answering; run hack/harness.sh up first"
  lock
  local PLEX_IMAGE=$name PLEX_IMAGE_SUITE=$suite t0
  t0=$(now_us)
  step "base image $PLEX_IMAGE (Debian $PLEX_IMAGE_SUITE)" image_ensure
  printf 'base image %s ready in %s s\n' "$PLEX_IMAGE" "$(since "$t0")" >&2
}

cmd_env() {
  cat <<EOF
export PLEX_CACHE=$PLEX_CACHE
export PLEX_SUPERNET=$PLEX_SUPERNET
export PLEX_BRIDGE=$PLEX_BRIDGE
export PLEX_BRIDGE_CIDR=$PLEX_BRIDGE_CIDR
export PLEX_BRIDGE_ADDR=$PLEX_BRIDGE_ADDR
export PLEX_DHCP_RANGE=$PLEX_DHCP_RANGE
export PLEX_POOL=$PLEX_POOL
export PLEX_IMAGE=$PLEX_IMAGE
export PLEX_REGISTRY=$PLEX_REGISTRY
export INCUS_DIR=$INCUS_DIR
EOF
}

# status_image NAME [missing] prints the base image NAME's line; "missing" also
# when it does not exist.
status_image() {
  # Bash's locals are dynamic: the image_* functions see these.
  local PLEX_IMAGE=$1 PLEX_IMAGE_SUITE=$PLEX_IMAGE_SUITE fp
  if [[ $1 != "$DEFAULT_IMAGE" ]]; then PLEX_IMAGE_SUITE=$(base_suite "$1"); fi
  fp=$(image_alias_target)
  if [[ -n $fp ]]; then
    printf 'image      %s -> %s (inputs %s; current inputs %s)\n' "$PLEX_IMAGE" "${fp:0:12}" \
      "$(incus image get-property "$fp" user.plex.inputs 2>/dev/null | cut -c1-12)" "$(image_inputs_hash | cut -c1-12)"
  elif [[ -n ${2:-} ]]; then
    printf 'image      %s missing\n' "$PLEX_IMAGE"
  fi
}

cmd_status() {
  local pid
  printf 'cache      %s\n' "$PLEX_CACHE"
  printf 'route      %s\n' "$(ip route show "$PLEX_SUPERNET" 2>/dev/null | head -1 || true)"
  if nft list table inet plex_harness >/dev/null 2>&1; then
    printf 'guard      nft table inet plex_harness\n'
  else
    printf 'guard      missing\n'
  fi
  if ! incus_answers; then
    printf 'incusd     not answering%s\n' "$(pid=$(incusd_pid) && echo " (pid $pid)")"
    return 0
  fi
  printf 'incusd     pid %s, server %s\n' "$(incusd_pid || echo '?')" \
    "$(incus version 2>/dev/null | sed -n 's/^Server version: //p')"
  printf 'lxcfs      %s\n' "$(mountpoint -q /var/lib/lxcfs && echo mounted || echo 'not mounted')"
  printf 'pool       %s\n' "$(incus storage list -f csv -c nDs 2>/dev/null | grep "^$PLEX_POOL," || echo missing)"
  printf 'bridge     %s\n' "$(incus network list -f csv -c n4s 2>/dev/null | grep "^$PLEX_BRIDGE," || echo missing)"
  local b seen=' '
  for b in "$DEFAULT_IMAGE" $(base_names); do
    [[ $seen == *" $b "* ]] && continue
    seen+="$b "
    # The default image always; the other known bases when they were built.
    status_image "$b" "$([[ $b == "$DEFAULT_IMAGE" ]] && echo missing)"
  done
  printf 'instances\n'
  incus list -f csv -c ns4 2>/dev/null | sed 's/^/  /'
}

# plex_instances prints instances that carry any user.plex.* config key.
plex_instances() {
  local name
  incus list -f csv -c n 2>/dev/null | while read -r name; do
    if incus config show "$name" </dev/null 2>/dev/null | grep -q '^  user\.plex\.'; then echo "$name"; fi
  done
}

cmd_down() {
  need_root down
  lock
  local all=0 name names
  case ${1:-} in
  '') ;;
  --all) all=1 ;;
  *) die "usage: $0 down [--all]" ;;
  esac
  if ! incus_answers; then
    say "incusd not answering; nothing to do"
    return 0
  fi
  names=$(incus list -f csv -c n 2>/dev/null | grep '^harness-test-' || true)
  if ((all)); then names=$(printf '%s\n%s\n' "$names" "$(plex_instances)" | sort -u); fi
  for name in $names; do
    incus delete --force "$name"
    say "deleted $name"
  done
  say "incusd, pool $PLEX_POOL, bridge $PLEX_BRIDGE and image $PLEX_IMAGE are left in place"
}

main() {
  case ${1:-} in
  up) cmd_up ;;
  down)
    shift
    cmd_down "$@"
    ;;
  base)
    shift
    cmd_base "$@"
    ;;
  env) cmd_env ;;
  status) cmd_status ;;
  *)
    echo "usage: $0 up | down [--all] | base NAME | env | status" >&2
    exit 2
    ;;
  esac
}

# Sourcing the file (tests of single steps) defines the functions only.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  main "$@"
fi
