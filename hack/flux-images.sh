#!/usr/bin/env bash
# flux-images.sh [FLUX_VERSION] — the Flux controller images, served offline:
#
#   1. hack/flux-artifacts.sh FLUX_VERSION   controllers + offline manifests in $PLEX_CACHE/flux/<V>
#   2. hack/registry.sh up                   registry at ${PLEX_REGISTRY_ADDR:-10.212.0.1:5000}
#   3. hack/imagebuild --only none --extra   fluxcd/<controller>:<version> at the registry's root
#
# The images sit where the nodes' containerd mirror of registry.k8s.io looks,
# so `kubectl plex fluxstrap --registry registry.k8s.io/fluxcd` needs no other
# mirror configuration: the node asks for registry.k8s.io/fluxcd/source-controller:v1.7.3
# and containerd fetches fluxcd/source-controller:v1.7.3 from the harness registry.
#
# Each image is one layer: the binary in /usr/local/bin (the entrypoint), /tmp,
# /etc/passwd with nobody, /etc/nsswitch.conf, the host's CA bundle, and user
# 65534:65534, because Flux's Deployments set runAsNonRoot without a runAsUser.
#
# Idempotent: imagebuild pushes only digests the registry lacks.
#
# Environment: PLEX_CACHE (/var/cache/plex-dev), PLEX_REGISTRY_ADDR,
# FLUX_COMPONENTS (see flux-artifacts.sh), PLEX_CA_BUNDLE (/etc/ssl/certs/ca-certificates.crt).
set -euo pipefail

FLUX_VERSION="${1:-v2.7.3}"
# shellcheck source=hack/lib/build.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/build.sh"
CA_BUNDLE="${PLEX_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
VDIR="${PLEX_CACHE}/flux/${FLUX_VERSION}"

t0=${SECONDS}

step "flux artifacts ${FLUX_VERSION}"
"${HACK_DIR}/flux-artifacts.sh" "${FLUX_VERSION}"
done_step

[[ -f "${CA_BUNDLE}" ]] || { echo "flux-images: no CA bundle at ${CA_BUNDLE} (apt-get install ca-certificates, or set PLEX_CA_BUNDLE)" >&2; exit 1; }

step "registry at ${ADDR}"
"${HACK_DIR}/registry.sh" up
done_step

step "imagebuild"
build_imagebuild
extras=()
for v in "${VDIR}"/.stamps/*.version; do
  c="$(basename "${v}" .version)"
  [[ -x "${VDIR}/bin/${c}" ]] || continue
  extras+=(--extra "fluxcd/${c}:$(cat "${v}")=${VDIR}/bin/${c}")
done
(( ${#extras[@]} > 0 )) || { echo "flux-images: no controllers in ${VDIR}/bin" >&2; exit 1; }
"${IMAGEBUILD}" --registry "${ADDR}" --only none \
  --extra-user 65534:65534 --ca-bundle "${CA_BUNDLE}" "${extras[@]}"
done_step

echo "flux-images: done in $((SECONDS - t0)) s; manifests for --manifests: ${VDIR}/manifests"
