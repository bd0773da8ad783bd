#!/bin/sh
# Waits until the transient instance has booted: systemd has finished
# starting units, an interface has a global IPv4 address, and cloud-init (when
# the base has it) is done, so that nothing else is still changing the
# system while it is provisioned.
#
# Env: PLEX_BOOT_TIMEOUT (seconds, default 180).
set -eu

timeout=${PLEX_BOOT_TIMEOUT:-180}
deadline=$(($(date +%s) + timeout))

expired() { [ "$(date +%s)" -ge "$deadline" ]; }

state=
while :; do
  state=$(systemctl is-system-running 2>/dev/null || true)
  case $state in
  running) break ;;
  degraded)
    echo "systemd is degraded; failed units:"
    systemctl --failed --no-legend --plain | sed 's/^/  /'
    break
    ;;
  esac
  if expired; then
    echo "systemd is still '$state' after ${timeout}s; unfinished jobs:"
    systemctl list-jobs --no-legend | sed 's/^/  /'
    exit 1
  fi
  sleep 0.5
done

while [ -z "$(ip -4 -o addr show scope global 2>/dev/null)" ]; do
  if expired; then
    echo "no interface has a global IPv4 address after ${timeout}s:"
    ip addr
    exit 1
  fi
  sleep 0.5
done

if command -v cloud-init >/dev/null 2>&1; then
  # 0 done, 2 done with recoverable errors; 1 is worth a look but the base
  # may still provision fine.
  rc=0
  cloud-init status --wait >/dev/null 2>&1 || rc=$?
  if [ "$rc" -eq 1 ]; then
    echo "cloud-init finished with errors:"
    cloud-init status --long 2>&1 | sed 's/^/  /'
  fi
fi
echo "booted: systemd $state, $(ip -4 -o addr show scope global | awk '{print $2" "$4}' | paste -sd' ' -)"
