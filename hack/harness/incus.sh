# shellcheck shell=bash
# The harness's Incus: the daemon (started without systemd), the storage pool,
# the bridge and the default profile. Sourced by hack/harness.sh, which
# provides say/warn/die/run_logged and the PLEX_* settings.

# --- 3. incusd --------------------------------------------------------------------

incus_answers() { timeout 5 incus query /1.0 >/dev/null 2>&1; }

# incusd_pid prints the pid of the daemon serving $INCUS_DIR. Container
# monitors ("[lxc monitor]") and helpers ("incusd forkfile …") share its
# executable, and other daemons (a test cluster's members) have their own
# INCUS_DIR in their environment.
incusd_pid() {
  local d exe arg0 arg1 dir
  for d in /proc/[0-9]*; do
    exe=$(readlink "$d/exe" 2>/dev/null) || continue
    [[ ${exe% (deleted)} == "$INCUSD" ]] || continue
    arg0='' arg1=''
    { IFS= read -r -d '' arg0 && IFS= read -r -d '' arg1; } <"$d/cmdline" 2>/dev/null || true
    [[ $arg0 == \[* ]] && continue
    [[ -z $arg1 || $arg1 == -* ]] || continue
    dir=$(tr '\0' '\n' <"$d/environ" 2>/dev/null | sed -n 's/^INCUS_DIR=//p')
    [[ ${dir:-/var/lib/incus} == "$INCUS_DIR" ]] || continue
    echo "${d#/proc/}"
    return 0
  done
  return 1
}

ensure_lxcfs() {
  if [[ $PLEX_LXCFS != 1 ]]; then
    say "lxcfs not used (PLEX_LXCFS=$PLEX_LXCFS)"
    return 0
  fi
  if ! command -v lxcfs >/dev/null; then
    say "lxcfs not installed; containers see the host's /proc figures"
    return 0
  fi
  # A killed lxcfs leaves its FUSE mount behind, and every stat of it fails
  # with "Transport endpoint is not connected" — mountpoint(1) included — so
  # look in the mount table rather than at the path.
  if awk '$2 == "/var/lib/lxcfs" { found = 1 } END { exit !found }' /proc/self/mounts; then
    if ls /var/lib/lxcfs/proc/ >/dev/null 2>&1; then
      say "lxcfs running"
      return 0
    fi
    umount -l /var/lib/lxcfs 2>/dev/null || fusermount -uz /var/lib/lxcfs 2>/dev/null ||
      die "/var/lib/lxcfs is a dead FUSE mount that could not be unmounted; run: umount -l /var/lib/lxcfs"
    say "unmounted a dead lxcfs mount (its daemon was killed)"
  fi
  mkdir -p /var/lib/lxcfs "$LOG_DIR"
  # 9>&-: the daemon must not hold the harness lock.
  setsid lxcfs /var/lib/lxcfs </dev/null >>"$LOG_DIR/lxcfs.log" 2>&1 9>&- &
  for _ in {1..50}; do
    if mountpoint -q /var/lib/lxcfs; then
      say "started lxcfs on /var/lib/lxcfs"
      return 0
    fi
    sleep 0.1
  done
  warn "lxcfs did not mount /var/lib/lxcfs (see $LOG_DIR/lxcfs.log); going on without it"
}

# clear_leftovers removes what a killed daemon leaves behind. Only called when
# no incusd process exists.
clear_leftovers() {
  local pidfile pid
  if [[ -e $INCUS_DIR/unix.socket ]]; then
    rm -f "$INCUS_DIR/unix.socket"
    say "removed a stale $INCUS_DIR/unix.socket"
  fi
  pidfile=$INCUS_DIR/networks/$PLEX_BRIDGE/dnsmasq.pid
  if [[ -s $pidfile ]]; then
    pid=$(cat "$pidfile")
    if [[ $(readlink "/proc/$pid/exe" 2>/dev/null) == */dnsmasq ]] &&
      tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "--interface=$PLEX_BRIDGE"; then
      kill "$pid"
      say "stopped a leftover dnsmasq (pid $pid) for $PLEX_BRIDGE"
    fi
  fi
}

ensure_daemon() {
  local pid
  if incus_answers; then
    say "incusd answering (pid $(incusd_pid || echo '?'))"
    return 0
  fi
  if pid=$(incusd_pid); then
    say "incusd pid $pid is not answering yet; waiting"
    run_logged incusd-waitready incus admin waitready --timeout=60 ||
      die "incusd (pid $pid) did not become ready; see $INCUSD_LOG"
    return 0
  fi
  [[ -x $INCUSD ]] || die "$INCUSD is missing; is the incus package installed?"
  clear_leftovers
  ensure_lxcfs
  # What incus.service would do under systemd: the log directory, open-file
  # and process limits, and the helper binaries on PATH.
  mkdir -p "$(dirname "$INCUSD_LOG")" "$INCUS_DIR"
  (
    ulimit -n 1048576 2>/dev/null || true
    ulimit -u unlimited 2>/dev/null || true
    export PATH=/usr/libexec/incus:$PATH
    if [[ -n $PLEX_INCUSD_PROXY ]]; then
      export http_proxy=$PLEX_INCUSD_PROXY https_proxy=$PLEX_INCUSD_PROXY
      export no_proxy=127.0.0.1,localhost,$PLEX_SUPERNET
    fi
    exec setsid "$INCUSD" --group root --logfile "$INCUSD_LOG" \
      </dev/null >>"${INCUSD_LOG%.log}.stderr" 2>&1 9>&-
  ) &
  if ! run_logged incusd-waitready incus admin waitready --timeout=60; then
    tail -n 20 "$INCUSD_LOG" "${INCUSD_LOG%.log}.stderr" 2>/dev/null | sed 's/^/      | /' >&2
    die "incusd did not start; see $INCUSD_LOG"
  fi
  pid=$(incusd_pid || echo '?')
  mkdir -p "$PLEX_CACHE/run"
  echo "$pid" >"$PLEX_CACHE/run/incusd.pid"
  say "started incusd (pid $pid, log $INCUSD_LOG)"
}

# --- 4. storage pool, bridge, default profile ------------------------------------

ensure_pool() {
  local driver
  if driver=$(incus storage show "$PLEX_POOL" 2>/dev/null); then
    driver=$(sed -n 's/^driver: //p' <<<"$driver")
    say "pool $PLEX_POOL exists ($driver)"
    return 0
  fi
  if run_logged pool-create incus storage create "$PLEX_POOL" btrfs "size=$PLEX_POOL_SIZE"; then
    say "created pool $PLEX_POOL (btrfs on a $PLEX_POOL_SIZE loop file)"
    return 0
  fi
  warn "btrfs pool failed (see $LOG_DIR/pool-create.log); falling back to a dir pool, which copies every rootfs in full"
  run_logged pool-create-dir incus storage create "$PLEX_POOL" dir
  say "created pool $PLEX_POOL (dir)"
}

# bridge_config prints the keys the harness owns on the bridge.
bridge_config() {
  cat <<EOF
ipv4.address=$PLEX_BRIDGE_CIDR
ipv4.nat=false
ipv4.dhcp.ranges=$PLEX_DHCP_RANGE
ipv6.address=none
raw.dnsmasq=no-resolv
EOF
}

# The bridge's dnsmasq answers for instance names only (no-resolv): it must
# never forward a query to the host's resolver. Node addresses below .200 are
# static (ipv4.address on the NIC device); DHCP hands out .200-.250.
ensure_bridge() {
  local kv key want have changed=0
  if ! incus network show "$PLEX_BRIDGE" >/dev/null 2>&1; then
    mapfile -t kv < <(bridge_config)
    run_logged network-create incus network create "$PLEX_BRIDGE" "${kv[@]}"
    say "created bridge $PLEX_BRIDGE ($PLEX_BRIDGE_CIDR)"
    return 0
  fi
  while IFS= read -r kv; do
    key=${kv%%=*}
    want=${kv#*=}
    have=$(incus network get "$PLEX_BRIDGE" "$key")
    if [[ $have != "$want" ]]; then
      incus network set "$PLEX_BRIDGE" "$key=$want"
      say "set $key=$want on $PLEX_BRIDGE (was '${have}')"
      changed=1
    fi
  done < <(bridge_config)
  ((changed)) || say "bridge $PLEX_BRIDGE exists ($PLEX_BRIDGE_CIDR)"
}

# The default profile gets a root disk and eth0 only where it has none, so a
# user's own setup stays as it is.
ensure_profile() {
  local devices
  devices=$(incus profile device list default 2>/dev/null || true)
  if ! grep -qx root <<<"$devices"; then
    incus profile device add default root disk path=/ "pool=$PLEX_POOL" >/dev/null
    say "default profile: root disk on $PLEX_POOL"
  fi
  if ! grep -qx eth0 <<<"$devices"; then
    incus profile device add default eth0 nic name=eth0 "network=$PLEX_BRIDGE" >/dev/null
    say "default profile: eth0 on $PLEX_BRIDGE"
  fi
  if grep -qx root <<<"$devices" && grep -qx eth0 <<<"$devices"; then
    say "default profile already has root and eth0; left as is"
  fi
}
