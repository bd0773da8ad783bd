#!/usr/bin/env bash
# Makes sure a Go toolchain can build plex. Debian 12's own Go is too old, so
# when no go is on PATH it installs golang-go from bookworm-backports; with
# GOTOOLCHAIN=auto (the default) that go fetches the version go.mod names from
# the Go module proxy.
set -euo pipefail
if command -v go >/dev/null 2>&1 || [ -x /usr/local/go/bin/go ]; then
  exit 0
fi
echo "ensure-go: no go on PATH; installing golang-go from bookworm-backports"
if [ ! -f /etc/apt/sources.list.d/backports.sources ] && ! grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/; then
  printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    >/etc/apt/sources.list.d/backports.sources
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -t bookworm-backports golang-go
ln -sf /usr/lib/go/bin/go /usr/local/bin/go
go version
