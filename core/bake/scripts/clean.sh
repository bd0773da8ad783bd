#!/bin/sh
# Removes everything that belongs to this one instance rather than to the
# image, so that every instance launched from the image gets its own:
# cloud-init state, machine-id, SSH host keys, hostname. Drops the package
# caches and lists, logs, and the bake's own files (the apt proxy setting,
# these scripts).
set -eu

if command -v cloud-init >/dev/null 2>&1; then
  if cloud-init clean --help 2>/dev/null | grep -q -- --machine-id; then
    cloud-init clean --logs --seed --machine-id
  else
    cloud-init clean --logs --seed
  fi
  # Incus renders the NoCloud seeds here from the image's templates, and
  # does not create the directory.
  mkdir -p /var/lib/cloud/seed/nocloud-net
fi

rm -f /etc/ssh/ssh_host_*

apt-get clean
rm -rf /var/lib/apt/lists/*
mkdir -p /var/lib/apt/lists/partial
rm -f /etc/apt/apt.conf.d/00plexbake-proxy

rm -f /etc/hostname
: >/etc/machine-id
if [ -f /var/lib/dbus/machine-id ] && [ ! -L /var/lib/dbus/machine-id ]; then
  rm -f /var/lib/dbus/machine-id
fi
rm -f /var/lib/systemd/random-seed /var/lib/systemd/credential.secret

# journald keeps writing until the instance stops; send it to /run (gone at
# shutdown) first, or the image carries an 8 MB journal named after this
# instance's machine-id.
journalctl --relinquish-var 2>/dev/null || true
rm -rf /var/log/journal/* /var/lib/dhcp/*.leases
find /var/log -type f \( -name '*.log' -o -name '*.gz' -o -name '*.xz' -o -name '*.[0-9]' \) -delete
for f in /var/log/wtmp /var/log/btmp /var/log/lastlog; do
  [ -f "$f" ] && : >"$f"
done
rm -f /root/.bash_history /root/.lesshst
rm -rf /tmp/* /var/tmp/* /var/cache/debconf/*-old /var/lib/dpkg/*-old

# Last: the scripts themselves (sh has this file open; removing it is fine).
rm -rf /var/lib/plexbake
