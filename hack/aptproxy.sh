#!/usr/bin/env bash
# A Debian package cache for the harness: apt-cacher-ng on the host, without
# systemd. The harness bridge has no NAT, so instances (the transient bake
# instance of `incus plexbake`) reach Debian's mirror only through this proxy,
# and the proxy only ever fetches from deb.debian.org.
#
#   hack/aptproxy.sh up       install, configure and start it (idempotent)
#   hack/aptproxy.sh url      print the proxy URL instances use
#   hack/aptproxy.sh status   print whether it runs and what it holds
#   hack/aptproxy.sh down     stop it (the cache stays)
#
# It listens on 127.0.0.1 and the bridge address, so run `up` after the
# bridge exists (hack/harness.sh up). Settings come from the environment.
set -euo pipefail

: "${PLEX_CACHE:=/var/cache/plex-dev}"
: "${PLEX_BRIDGE_CIDR:=10.212.0.1/24}"
: "${PLEX_APTPROXY_ADDR:=${PLEX_BRIDGE_CIDR%/*}}"
: "${PLEX_APTPROXY_PORT:=3142}"
: "${PLEX_APTPROXY_MIRROR:=deb.debian.org}"

ROOT=$PLEX_CACHE/apt-cacher-ng
CONF_DIR=$ROOT/conf
CACHE_DIR=$ROOT/cache
LOG_DIR=$ROOT/log
RUN_DIR=$ROOT/run
PIDFILE=$RUN_DIR/pid
DAEMON=/usr/sbin/apt-cacher-ng
USER_NAME=apt-cacher-ng

say() { printf '    %s\n' "$*" >&2; }
die() {
  printf 'aptproxy: %s\n' "$*" >&2
  exit 1
}

url() { echo "http://$PLEX_APTPROXY_ADDR:$PLEX_APTPROXY_PORT"; }

# config prints acng.conf. ForceManaged refuses every URL that no Remap rule
# names, and the only backends are the Debian mirror's archive and security
# trees, so the proxy cannot be used to reach anything else. No CONNECT
# tunnels (PassThroughPattern matches nothing), no redirects to other hosts.
config() {
  local m=$PLEX_APTPROXY_MIRROR
  cat <<EOF
# Written by hack/aptproxy.sh; changes are overwritten on the next 'up'.
CacheDir: $CACHE_DIR
LogDir: $LOG_DIR
SupportDir: /usr/lib/apt-cacher-ng
Port: $PLEX_APTPROXY_PORT
BindAddress: 127.0.0.1 $PLEX_APTPROXY_ADDR
PidFile: $PIDFILE
ForeGround: 0
ForceManaged: 1
Offlinemode: 0
RedirMax: 0
AllowUserPorts: 80
PassThroughPattern: ^plex-aptproxy-allows-no-tunnels\$
Remap-debrep: $m/debian /debian ; http://$m/debian
Remap-secdeb: $m/debian-security /debian-security ; http://$m/debian-security
ExThreshold: 4
ReportPage: acng-report.html
UseWrap: 0
EOF
}

pkg_installed() {
  [[ $(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null) == installed ]]
}

ensure_package() {
  if pkg_installed apt-cacher-ng; then return 0; fi
  say "installing apt-cacher-ng"
  # The package's init script would start a daemon with the stock config on
  # :3142 (all addresses); keep it from starting anything.
  local made=
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    made=1
  fi
  local rc=0
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -y -q \
    install --no-install-recommends apt-cacher-ng >"$PLEX_CACHE/logs/aptproxy-install.log" 2>&1 || rc=$?
  if ((rc != 0)); then
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -q update \
      >>"$PLEX_CACHE/logs/aptproxy-install.log" 2>&1 || true
    rc=0
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -y -q \
      install --no-install-recommends apt-cacher-ng >>"$PLEX_CACHE/logs/aptproxy-install.log" 2>&1 || rc=$?
  fi
  [[ -n $made ]] && rm -f /usr/sbin/policy-rc.d
  if ((rc != 0)); then
    tail -n 20 "$PLEX_CACHE/logs/aptproxy-install.log" | sed 's/^/      | /' >&2
    die "installing apt-cacher-ng failed (log: $PLEX_CACHE/logs/aptproxy-install.log)"
  fi
}

# running_pid prints the daemon's pid when the pid file names a live
# apt-cacher-ng process; a stale file (dead or reused pid) is removed.
running_pid() {
  local pid exe
  [[ -s $PIDFILE ]] || return 1
  pid=$(<"$PIDFILE")
  if [[ $pid =~ ^[0-9]+$ ]] && exe=$(readlink "/proc/$pid/exe" 2>/dev/null) &&
    [[ ${exe% (deleted)} == "$DAEMON" ]]; then
    echo "$pid"
    return 0
  fi
  rm -f "$PIDFILE"
  say "removed a stale pid file ($PIDFILE named $pid)"
  return 1
}

# answers ADDR: the daemon accepts a connection and serves its report page.
answers() {
  local reply
  { exec 7<>"/dev/tcp/$1/$PLEX_APTPROXY_PORT"; } 2>/dev/null || return 1
  printf 'GET /acng-report.html HTTP/1.0\r\nHost: %s\r\n\r\n' "$1" >&7
  IFS= read -r -t 5 reply <&7 || true
  exec 7>&- 7<&-
  [[ $reply == HTTP/1.?\ 200* ]]
}

start() {
  local _
  mkdir -p "$CACHE_DIR" "$LOG_DIR" "$RUN_DIR"
  chown -R "$USER_NAME:$USER_NAME" "$CACHE_DIR" "$LOG_DIR" "$RUN_DIR"
  # ForeGround: 0 makes it detach; it runs as its own unprivileged user.
  if ! runuser -u "$USER_NAME" -- "$DAEMON" -c "$CONF_DIR" </dev/null >>"$LOG_DIR/daemon.out" 2>&1; then
    tail -n 20 "$LOG_DIR/daemon.out" "$LOG_DIR/apt-cacher.err" 2>/dev/null | sed 's/^/      | /' >&2
    die "apt-cacher-ng failed to start (logs in $LOG_DIR)"
  fi
  for _ in {1..50}; do
    if running_pid >/dev/null 2>&1 && answers 127.0.0.1 && answers "$PLEX_APTPROXY_ADDR"; then
      say "started apt-cacher-ng (pid $(<"$PIDFILE")) on 127.0.0.1 and $PLEX_APTPROXY_ADDR port $PLEX_APTPROXY_PORT"
      return 0
    fi
    sleep 0.2
  done
  tail -n 20 "$LOG_DIR/daemon.out" "$LOG_DIR/apt-cacher.err" 2>/dev/null | sed 's/^/      | /' >&2
  die "apt-cacher-ng did not answer on $PLEX_APTPROXY_ADDR:$PLEX_APTPROXY_PORT (logs in $LOG_DIR)"
}

stop() {
  local pid _
  pid=$(running_pid) || return 0
  kill "$pid"
  for _ in {1..50}; do
    [[ -d /proc/$pid ]] || break
    sleep 0.1
  done
  [[ -d /proc/$pid ]] && kill -9 "$pid"
  rm -f "$PIDFILE"
  say "stopped apt-cacher-ng (pid $pid)"
}

cmd_up() {
  ((EUID == 0)) || die "up needs root (it installs a package and starts a daemon)"
  mkdir -p "$PLEX_CACHE/logs" "$CONF_DIR"
  ip -4 -o addr show | grep -q " inet $PLEX_APTPROXY_ADDR/" ||
    die "no interface has $PLEX_APTPROXY_ADDR; run hack/harness.sh up first (it makes the bridge)"
  ensure_package
  local want changed=0
  want=$(config)
  if [[ ! -f $CONF_DIR/acng.conf || $(<"$CONF_DIR/acng.conf") != "$want" ]]; then
    printf '%s\n' "$want" >"$CONF_DIR/acng.conf"
    changed=1
  fi
  if running_pid >/dev/null; then
    if ((changed == 0)) && answers 127.0.0.1 && answers "$PLEX_APTPROXY_ADDR"; then
      say "apt-cacher-ng running (pid $(<"$PIDFILE")), $(url)"
      return 0
    fi
    say "restarting apt-cacher-ng ($( ((changed)) && echo 'configuration changed' || echo 'not answering'))"
    stop
  fi
  start
  say "instances use it with: incus plexbake bake … --apt-proxy $(url)"
}

cmd_status() {
  local pid
  if pid=$(running_pid 2>/dev/null); then
    printf 'apt-cacher-ng  pid %s, %s\n' "$pid" "$(url)"
  else
    printf 'apt-cacher-ng  not running\n'
  fi
  printf 'cache          %s (%s)\n' "$CACHE_DIR" "$(du -sh "$CACHE_DIR" 2>/dev/null | cut -f1 || echo empty)"
}

case ${1:-} in
up) cmd_up ;;
down) stop ;;
url) url ;;
status) cmd_status ;;
*)
  echo "usage: $0 up | down | url | status" >&2
  exit 2
  ;;
esac
