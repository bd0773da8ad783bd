#!/usr/bin/env bash
# k8s-images.sh [VERSION] — everything kubeadm needs to pull, served offline:
#
#   1. hack/k8s-artifacts.sh VERSION      static binaries in $PLEX_CACHE/k8s/VERSION/bin
#   2. Debian's iptables packages         unpacked in $PLEX_CACHE/iptables/root (for kube-proxy)
#   3. hack/registry.sh up                registry at ${PLEX_REGISTRY_ADDR:-10.212.0.1:5000}
#   4. hack/imagebuild                    images pushed under registry.k8s.io's names,
#                                         then checked against `kubeadm config images list`
#
# Idempotent: each step skips what is already done, and imagebuild pushes only
# images whose digest the registry lacks.
#
# Environment: PLEX_CACHE (/var/cache/plex-dev), PLEX_REGISTRY_ADDR,
# PLEX_IPTABLES_MODE (nft), PLEX_IMAGES_CHROOT_CHECK (1 when root: run kube-proxy's
# iptables from the pushed image in a chroot).
set -euo pipefail

VERSION="${1:-v1.34.4}"
# shellcheck source=hack/lib/build.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/build.sh"
IPT_DIR="${PLEX_CACHE}/iptables"

# The packages whose files kube-proxy's iptables needs (hack/imagebuild picks
# the files by following ELF dependencies).
IPT_PKGS=(iptables libxtables12 libip4tc2 libip6tc2 libnftnl11 libmnl0
  libnetfilter-conntrack3 libnfnetlink0 libc6 netbase)

t0=${SECONDS}

step "artifacts ${VERSION}"
"${HACK_DIR}/k8s-artifacts.sh" "${VERSION}"
done_step

# shellcheck source=hack/lib/debroot.sh
source "${HACK_DIR}/lib/debroot.sh"

step "iptables for kube-proxy (Debian packages)"
deb_root "${IPT_DIR}" "${IPT_PKGS[@]}"
done_step

step "registry at ${ADDR}"
"${HACK_DIR}/registry.sh" up
done_step

step "imagebuild"
build_imagebuild
chroot_check=()
if [[ "${PLEX_IMAGES_CHROOT_CHECK:-1}" == 1 && "$(id -u)" == 0 ]]; then
  chroot_check=(--chroot-check)
fi
"${IMAGEBUILD}" \
  --registry "${ADDR}" \
  --version "${VERSION}" \
  --bin-dir "${PLEX_CACHE}/k8s/${VERSION}/bin" \
  --iptables-root "${IPT_DIR}/root" \
  --iptables-mode "${PLEX_IPTABLES_MODE:-nft}" \
  --check "${chroot_check[@]}"
done_step

echo "k8s-images: done in $((SECONDS - t0)) s; images at http://${ADDR}/v2/_catalog"
