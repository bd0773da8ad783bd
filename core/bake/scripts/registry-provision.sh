#!/bin/sh
# Provisions a `registry` image in the transient bake instance: the CNCF
# distribution registry from the base's own packages (Debian's
# docker-registry), which plex-registry runs as one pull-through proxy per
# upstream. Zot is not packaged; plex-registry up installs it when asked.
#
# Env (set by core/bake; every value but the proxy is part of the inputs hash):
#   PLEX_PACKAGES    packages to install, space-separated
#   PLEX_APT_PROXY   optional http:// proxy for apt (not hashed)
#
# Prints "plex-fact KEY=VALUE" lines that the bake records on the image.
set -eu

: "${PLEX_PACKAGES:?}"
export DEBIAN_FRONTEND=noninteractive

fact() { echo "plex-fact $1=$2"; }
step() { echo "--- $*"; }

if [ -n "${PLEX_APT_PROXY:-}" ]; then
  step "apt through $PLEX_APT_PROXY"
  # clean.sh removes this file, so the image keeps the base's plain apt setup.
  cat >/etc/apt/apt.conf.d/00plexbake-proxy <<CONF
Acquire::http::Proxy "$PLEX_APT_PROXY";
Acquire::Retries "3";
CONF
fi

step "slim: no docs, man pages, translations"
mkdir -p /etc/dpkg/dpkg.cfg.d
cat >/etc/dpkg/dpkg.cfg.d/90-plex-registry-image <<'CONF'
# Written by incus plexbake to keep the image small.
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
path-include=/usr/share/locale/locale.alias
CONF

command -v apt-get >/dev/null || {
  echo "this base has no apt-get: only Debian-family bases can be baked so far"
  exit 1
}
step "apt-get update"
if ! apt-get -q -o Dpkg::Use-Pty=0 -o APT::Update::Error-Mode=any update; then
  echo "apt-get update failed: the instance has to reach the base's package mirror, directly or through --apt-proxy${PLEX_APT_PROXY:+ (now $PLEX_APT_PROXY)}"
  exit 1
fi
step "apt-get install $PLEX_PACKAGES"
# The package's own service would serve /etc/docker/registry/config.yml on
# :5000 (Zot's port) as soon as it is installed; a policy-rc.d keeps it from
# starting, and it is masked below.
printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
chmod 755 /usr/sbin/policy-rc.d
# shellcheck disable=SC2086 # the list is meant to split
apt-get -q -y -o Dpkg::Use-Pty=0 install --no-install-recommends $PLEX_PACKAGES
rm -f /usr/sbin/policy-rc.d

step "mask docker-registry.service (plex-registry runs its own units)"
systemctl stop docker-registry.service 2>/dev/null || true
systemctl disable docker-registry.service 2>/dev/null || true
systemctl mask docker-registry.service

mkdir -p /var/lib/plex-registry /etc/plex-registry /usr/local/lib/plex-registry
fact distribution-version "$(dpkg-query -W -f='${Version}' docker-registry)"
