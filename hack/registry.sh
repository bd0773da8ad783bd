#!/usr/bin/env bash
# registry.sh up|down|status — run Debian's CNCF distribution registry
# (/usr/bin/docker-registry) for the test harness, without systemd.
#
#   address  ${PLEX_REGISTRY_ADDR:-${PLEX_REGISTRY:-10.212.0.1:5000}}  (the gateway of plexbr0,
#            which hack/harness.sh creates; use 127.0.0.1:5000 without it)
#   config   $PLEX_CACHE/registry/config.yml   (written here; no auth)
#   data     $PLEX_CACHE/registry/data         (filesystem storage, survives restarts)
#   pid/log  $PLEX_CACHE/registry/registry.pid, $PLEX_CACHE/logs/registry.log
#
# Plain HTTP, no auth: it only ever listens on loopback or the harness bridge.
# `up` is idempotent: when the address already answers /v2/, it does nothing.
set -euo pipefail

PLEX_CACHE="${PLEX_CACHE:-/var/cache/plex-dev}"
ADDR="${PLEX_REGISTRY_ADDR:-${PLEX_REGISTRY:-10.212.0.1:5000}}"
RDIR="${PLEX_CACHE}/registry"
CONFIG="${RDIR}/config.yml"
DATA="${RDIR}/data"
PIDFILE="${RDIR}/registry.pid"
LOG="${PLEX_CACHE}/logs/registry.log"
REGISTRY_BIN="${PLEX_REGISTRY_BIN:-/usr/bin/docker-registry}"

log() { echo "registry: $*" >&2; }

answers() {
  # The registry answers GET /v2/ with 200 (no auth configured). --noproxy
  # keeps a stray http_proxy from sending this anywhere but ADDR.
  curl -fsS --noproxy '*' -o /dev/null --max-time 2 "http://${ADDR}/v2/" 2>/dev/null
}

running_pid() {
  local pid
  [[ -f "${PIDFILE}" ]] || return 1
  pid="$(cat "${PIDFILE}" 2>/dev/null || true)"
  [[ "${pid}" =~ ^[0-9]+$ ]] || return 1
  # A stale pid file may name a recycled pid: it must still be our registry.
  [[ -r "/proc/${pid}/cmdline" ]] || return 1
  tr '\0' ' ' <"/proc/${pid}/cmdline" | grep -qF "${REGISTRY_BIN} serve ${CONFIG}" || return 1
  echo "${pid}"
}

ensure_binary() {
  [[ -x "${REGISTRY_BIN}" ]] && return 0
  log "installing Debian's docker-registry"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends docker-registry >&2
  [[ -x "${REGISTRY_BIN}" ]] || { log "${REGISTRY_BIN} is missing after apt-get install docker-registry"; exit 1; }
}

# Debian's package enables a systemd unit that serves /etc/docker/registry/config.yml
# on :5000 (all addresses) with htpasswd auth; it would take our port and ask
# for credentials, so it must not run.
disable_debian_service() {
  if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
    if systemctl is-enabled --quiet docker-registry 2>/dev/null || systemctl is-active --quiet docker-registry 2>/dev/null; then
      log "disabling Debian's docker-registry.service (it would bind :5000 with auth)"
      systemctl disable --now docker-registry >&2 || true
    fi
  fi
}

write_config() {
  mkdir -p "${RDIR}" "${DATA}" "$(dirname "${LOG}")"
  local tmp="${CONFIG}.tmp"
  cat >"${tmp}" <<EOF
# Written by plex hack/registry.sh; rewritten on every 'up'.
version: 0.1
log:
  level: info
  accesslog:
    disabled: false
  fields:
    service: plex-registry
storage:
  filesystem:
    rootdirectory: ${DATA}
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
  maintenance:
    uploadpurging:
      enabled: true
      age: 24h
      interval: 24h
      dryrun: false
http:
  addr: ${ADDR}
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: false
EOF
  mv -f "${tmp}" "${CONFIG}"
}

cmd_up() {
  if answers; then
    log "http://${ADDR} already answers /v2/; nothing to do"
    return 0
  fi
  ensure_binary
  disable_debian_service
  local pid
  if pid="$(running_pid)"; then
    # Ours, but not answering at ADDR: probably started for another address.
    log "registry pid ${pid} runs but ${ADDR} does not answer; restarting it"
    kill "${pid}" 2>/dev/null || true
    wait_gone "${pid}"
  fi
  rm -f "${PIDFILE}"
  write_config
  log "starting ${REGISTRY_BIN} on ${ADDR} (data ${DATA}, log ${LOG})"
  # A clean environment: REGISTRY_* variables would override the config file.
  # The child writes its own pid: setsid forks when it is a group leader, so
  # $! would not always be the registry's pid.
  # shellcheck disable=SC2016 # expanded by the inner bash
  setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' registry "${PIDFILE}" \
    env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/ "${REGISTRY_BIN}" serve "${CONFIG}" \
    </dev/null >>"${LOG}" 2>&1 &
  local i
  for ((i = 0; i < 50; i++)); do [[ -s "${PIDFILE}" ]] && break; sleep 0.02; done
  for ((i = 0; i < 100; i++)); do
    if answers; then
      log "up: http://${ADDR}/v2/ (pid $(cat "${PIDFILE}"))"
      return 0
    fi
    if ! kill -0 "$(cat "${PIDFILE}")" 2>/dev/null; then
      log "the registry exited at start; last lines of ${LOG}:"
      tail -n 20 "${LOG}" >&2
      rm -f "${PIDFILE}"
      return 1
    fi
    sleep 0.1
  done
  log "the registry did not answer http://${ADDR}/v2/ within 10 s; see ${LOG}"
  return 1
}

wait_gone() {
  local pid="$1" i
  for ((i = 0; i < 50; i++)); do
    kill -0 "${pid}" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -9 "${pid}" 2>/dev/null || true
}

cmd_down() {
  local pid
  if pid="$(running_pid)"; then
    log "stopping pid ${pid}"
    kill "${pid}" 2>/dev/null || true
    wait_gone "${pid}"
  else
    log "not running (no live pid in ${PIDFILE})"
  fi
  rm -f "${PIDFILE}"
}

cmd_status() {
  local pid ours="" rc=0
  if pid="$(running_pid)"; then
    ours="our registry, pid ${pid}, listens on $(awk '$1=="addr:"{print $2}' "${CONFIG}" 2>/dev/null)"
  fi
  if answers; then
    echo "registry: http://${ADDR}/v2/ answers${ours:+; ${ours}}"
  else
    echo "registry: http://${ADDR}/v2/ does not answer${ours:+; ${ours}}"
    rc=1
  fi
  return "${rc}"
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  *) echo "usage: $0 up|down|status   (PLEX_REGISTRY_ADDR=${ADDR}, PLEX_CACHE=${PLEX_CACHE})" >&2; exit 2 ;;
esac
