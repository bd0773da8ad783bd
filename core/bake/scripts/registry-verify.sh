#!/bin/sh
# Checks the provisioned registry image before it is published: the
# distribution registry runs, and Debian's own service for it stays off.
set -eu

fail() {
  echo "verify: $*"
  exit 1
}

v=$(/usr/bin/docker-registry --version) || fail "docker-registry does not run"
[ "$(systemctl is-enabled docker-registry.service 2>/dev/null || true)" = masked ] ||
  fail "docker-registry.service is not masked"
if systemctl is-active -q docker-registry.service; then
  fail "docker-registry.service runs"
fi
echo "verified: $v"
