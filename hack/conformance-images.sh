#!/usr/bin/env bash
# conformance-images.sh [VERSION] — the images the upstream conformance suite
# pulls, rebuilt here and served offline from the harness registry under
# registry.k8s.io's names (the nodes mirror registry.k8s.io to it):
#
#   1. hack/conformance-artifacts.sh VERSION   e2e.test, ginkgo, agnhost
#   2. Debian's busybox-static, bind9-dnsutils, curl, libc-bin (getent),
#      netcat-openbsd, iproute2, dash, bash and their libraries,
#      unpacked in $PLEX_CACHE/conformance/debian/root
#   3. hack/registry.sh up                     registry at ${PLEX_REGISTRY_ADDR:-10.212.0.1:5000}
#   4. hack/imagebuild --e2e-bin-dir           the images below, and pause
#
# What each image is here (k8s.io/kubernetes v1.34's test/utils/image/manifest.go):
#   e2e-test-images/agnhost:2.56          built: agnhost from source, plus busybox's
#                                         applets (Alpine's shell tools upstream), dig, curl,
#                                         getent, nc, ip, ss, dash as /bin/sh and bash from
#                                         Debian, porter's certificate, and the
#                                         user/group the security-context tests look for
#   e2e-test-images/busybox:1.37.0-1      substituted: Debian's busybox 1.35 (static); its
#                                         shell drops the envFrom specs' data-1 (4 specs fail)
#   e2e-test-images/nonewprivs:1.3        built: nnp (test/images/nonewprivs), setuid root
#   e2e-test-images/jessie-dnsutils:1.7   substituted: busybox + Debian 12's dig/host/nslookup
#   e2e-test-images/httpd:2.4.38-4, 2.4.39-4
#                                         substituted: busybox httpd on :80 serving
#                                         /usr/local/apache2/htdocs/index.html
#   e2e-test-images/nginx:1.14-4, 1.15-4  substituted: busybox httpd on :80 serving
#                                         /usr/share/nginx/html/index.html
#   e2e-test-images/nonroot:1.4           substituted: busybox with USER 1234, as upstream
#   e2e-test-images/nautilus:1.7, kitten:1.7
#                                         built: agnhost test-webserver + the module's html/
#   e2e-test-images/sample-apiserver:1.29.2
#                                         built: k8s.io/sample-apiserver at the staging version
#   etcd:3.6.4-0                          built: our etcd (kubeadm's is 3.6.5-0) under the suite's tag
#   pause:3.10.1                          built (hack/k8s-images.sh)
# Not here (no conformance spec uses them): resource-consumer, ipc-utils, perl, volume/nfs,
# volume/iscsi, node-perf/*, regression-issue-74839, apparmor-loader,
# build-image/distroless-iptables, the sig-storage CSI images, and the
# authenticated gcr.io images (no credentials exist).
#
# Idempotent: every step skips what is done; imagebuild pushes only images
# whose digest the registry lacks.
#
# Environment: PLEX_CACHE (/var/cache/plex-dev), PLEX_REGISTRY_ADDR.
set -euo pipefail

VERSION="${1:-v1.34.4}"
# shellcheck source=hack/lib/build.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/build.sh"
DEB_DIR="${PLEX_CACHE}/conformance/debian"
# shellcheck source=hack/lib/debroot.sh
source "${HACK_DIR}/lib/debroot.sh"

t0=${SECONDS}

step "conformance artifacts ${VERSION}"
"${HACK_DIR}/conformance-artifacts.sh" "${VERSION}"
done_step

step "shell tools, dig, curl, getent, nc, ss, dash, bash (Debian packages)"
# The packages and everything they depend on; apt-cache knows the closure,
# and dpkg-deb -x of all of them gives hack/imagebuild a root to pick from.
mapfile -t pkgs < <(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
  --no-breaks --no-replaces --no-enhances busybox-static bind9-dnsutils curl libc-bin netcat-openbsd iproute2 dash bash | grep -v '^[ <]' | sort -u)
if ((${#pkgs[@]} < 3)); then
  apt-get -q update
  mapfile -t pkgs < <(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
    --no-breaks --no-replaces --no-enhances busybox-static bind9-dnsutils curl libc-bin netcat-openbsd iproute2 dash bash | grep -v '^[ <]' | sort -u)
fi
deb_root "${DEB_DIR}" "${pkgs[@]}"
done_step

step "registry at ${ADDR}"
"${HACK_DIR}/registry.sh" up
done_step

step "imagebuild"
K8S_SRC="$(go mod download -json "k8s.io/kubernetes@${VERSION}" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')"
build_imagebuild
"${IMAGEBUILD}" \
  --registry "${ADDR}" \
  --version "${VERSION}" \
  --bin-dir "${PLEX_CACHE}/k8s/${VERSION}/bin" \
  --only pause \
  --e2e-bin-dir "${PLEX_CACHE}/conformance/${VERSION}/bin" \
  --e2e-root "${DEB_DIR}/root" \
  --e2e-src "${K8S_SRC}"
done_step

echo "conformance-images: done in $((SECONDS - t0)) s; images at http://${ADDR}/v2/_catalog"
