#!/usr/bin/env bash
# flannel-artifacts.sh [FLANNEL_VERSION] — build flannel for plex's `cni: manifest`
# e2e from the Go module proxy alone:
#
#   $PLEX_CACHE/flannel/<V>/bin/flanneld       github.com/flannel-io/flannel@<V> (module root)
#   $PLEX_CACHE/flannel/<V>/bin/install-conf   …/cmd/install_conf: upstream's atomic file copy,
#                                              which its manifest's install-cni init container runs
#   $PLEX_CACHE/flannel/<V>/bin/flannel        the flannel CNI plugin (see below)
#   $PLEX_CACHE/flannel/<V>/src/               wrapper modules
#   $PLEX_CACHE/logs/                          one log per run
#
# The CNI plugin: upstream's manifest takes it from github.com/flannel-io/cni-plugin,
# which this module proxy refuses (403 on every tag tried). The plugin lived in
# github.com/containernetworking/plugins as plugins/meta/flannel before it moved.
# The brief named v1.0.1, but checked in the module zip, v1.0.0 and v1.0.1 no
# longer hold plugins/meta/flannel; v0.9.1 (the last release before v1.0.0) does,
# so that is what is built here (CNI_PLUGINS_VERSION). Its CNI library (cni
# v0.8.1) speaks CNI spec versions up to 0.4.0, so the rendered conflist says
# "cniVersion": "0.4.0" instead of upstream's "1.0.0" (test/e2e/flannelrender).
#
# Two departures from a plain `go build` of the module, both for this proxy:
#   - github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vpc v1.3.188 (used
#     only by the tencentvpc cloud backend, which plex never selects) is refused
#     (403); the wrapper replaces it with v1.0.1000, which the proxy serves and
#     which has the same API for what the backend calls.
#   - the udp backend is cgo on amd64, so flanneld is built as upstream's Makefile
#     does there: CGO_ENABLED=1 and statically linked (glibc here, musl upstream;
#     netgo,osusergo keep glibc's NSS out of the static binary). That needs gcc
#     and libc6-dev, which the script installs when they are missing.
#
# Idempotent: a stamp per group (flannel, plugin; hack/lib/build.sh's
# convention) records what its binaries were built from.
#
# Environment: PLEX_CACHE (/var/cache/plex-dev), CNI_PLUGINS_VERSION (v0.9.1),
# PLEX_FLANNEL_FORCE=1 to ignore the stamp.
set -euo pipefail
# One compound command: bash parses it all before running it, so editing this
# file during a build cannot derail the build.
{

VERSION="${1:-v0.28.10}"
CNI_PLUGINS_VERSION="${CNI_PLUGINS_VERSION:-v0.9.1}"
# shellcheck source=hack/lib/build.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/build.sh"

if [[ ! "${VERSION}" =~ ^v0\.[0-9]+\.[0-9]+$ ]]; then
  echo "flannel-artifacts: FLANNEL_VERSION must look like v0.28.10, got ${VERSION}" >&2
  exit 2
fi

VDIR="${PLEX_CACHE}/flannel/${VERSION}"
BIN="${VDIR}/bin"
SRC="${VDIR}/src"
STAMPS="${BIN}/.stamps"

build_go_env

# --- groups (hack/lib/build.sh's convention) -----------------------------------
recipe_flannel() { printf 'flannel %s go %s recipe 3\n' "${VERSION}" "${GO_VERSION}"; }
recipe_plugin() { printf 'cni-plugins %s go %s recipe 3\n' "${CNI_PLUGINS_VERSION}" "${GO_VERSION}"; }
bins_flannel() { printf '%s\n' flanneld install-conf; }
bins_plugin() { echo flannel; }
GROUPS_ALL=(flannel plugin)
BUILD_FORCE="${PLEX_FLANNEL_FORCE:-0}"

if groups_fresh; then
  echo "flannel-artifacts: ${BIN} is up to date (flannel ${VERSION}, CNI plugin from containernetworking/plugins ${CNI_PLUGINS_VERSION})"
  exit 0
fi

mkdir -p "${BIN}" "${SRC}" "${STAMPS}"
build_lock flannel-artifacts "${VDIR}" groups_fresh "flannel ${VERSION}"
build_log flannel-artifacts "${VERSION}"
echo "flannel-artifacts: building flannel ${VERSION} into ${BIN}"
rm -f "${BIN}/.stamp"
T_ALL=${SECONDS}

TENCENT_VPC=github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vpc
TENCENT_REPLACE="$(printf '\nreplace %s => %s v1.0.1000\n' "${TENCENT_VPC}" "${TENCENT_VPC}")"

# --- flanneld and install-conf ----------------------------------------------------
build_flannel() {
  local dir="${SRC}/flannel"
  if ! command -v gcc >/dev/null || [[ ! -f /usr/lib/x86_64-linux-gnu/libc.a ]]; then
    step "gcc and libc6-dev for flanneld's cgo udp backend (apt-get)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gcc libc6-dev
    done_step
  fi
  step "flannel ${VERSION}: wrapper module, go get, go build flanneld install-conf"
  wrapper "${dir}" "$(wrapper_gomod flannel-build "${TENCENT_REPLACE}")" "github.com/flannel-io/flannel@${VERSION}"
  rm -rf "${dir}/out" && mkdir -p "${dir}/out"
  # The version ldflag is the one upstream's Makefile sets (dist/flanneld).
  (cd "${dir}" && CGO_ENABLED=1 go build -trimpath -tags netgo,osusergo \
    -ldflags "-s -w -X github.com/flannel-io/flannel/pkg/version.Version=${VERSION} -extldflags -static" \
    -o out/flanneld github.com/flannel-io/flannel)
  (cd "${dir}" && go build -trimpath -ldflags "-s -w" -o out/install-conf github.com/flannel-io/flannel/cmd/install_conf)
  mv -f "${dir}/out/flanneld" "${dir}/out/install-conf" "${BIN}/"
  done_step
}

# --- the CNI plugin ------------------------------------------------------------------
build_plugin() {
  local dir="${SRC}/cni-plugins" mdir
  step "flannel CNI plugin: containernetworking/plugins ${CNI_PLUGINS_VERSION} plugins/meta/flannel"
  wrapper "${dir}" "$(wrapper_gomod cni-plugins-build)" "github.com/containernetworking/plugins/plugins/meta/flannel@${CNI_PLUGINS_VERSION}"
  mdir="$(cd "${dir}" && go list -m -f '{{.Dir}}' github.com/containernetworking/plugins)"
  if [[ ! -d "${mdir}/plugins/meta/flannel" ]]; then
    echo "flannel-artifacts: github.com/containernetworking/plugins@${CNI_PLUGINS_VERSION} has no plugins/meta/flannel (it left in v1.0.0); use v0.9.1" >&2
    exit 1
  fi
  rm -rf "${dir}/out" && mkdir -p "${dir}/out"
  (cd "${dir}" && go build -trimpath \
    -ldflags "-s -w -X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=${CNI_PLUGINS_VERSION}" \
    -o out/flannel github.com/containernetworking/plugins/plugins/meta/flannel)
  mv -f "${dir}/out/flannel" "${BIN}/"
  done_step
}

build_groups

step "check"
"${BIN}/flanneld" --version
v="$("${BIN}/flanneld" --version 2>&1)"
[[ "${v}" == "${VERSION}" ]] || { echo "flannel-artifacts: flanneld --version says ${v}, want ${VERSION}" >&2; exit 1; }
# A CNI plugin run with CNI_COMMAND=VERSION prints the spec versions it speaks.
CNI_COMMAND=VERSION "${BIN}/flannel" </dev/null
echo
for b in flanneld install-conf flannel; do
  if readelf -l "${BIN}/${b}" 2>/dev/null | grep 'Requesting program interpreter' >/dev/null; then
    echo "flannel-artifacts: ${b} is dynamically linked" >&2; exit 1
  fi
  printf '    %-14s %6.1f MB\n' "${b}" "$(($(stat -c %s "${BIN}/${b}") / 100000))e-1"
done
done_step

echo "flannel-artifacts: done in $((SECONDS - T_ALL)) s; binaries in ${BIN}"
exit 0
}
