#!/usr/bin/env bash
# shellcheck disable=SC2317 # build_<group> and the like are called indirectly, by build_groups
# runtime-artifacts.sh [CONTAINERD_VERSION] [RUNC_VERSION] — build the container
# runtime of plex's node images from the Go module proxy alone, for
# `incus plexbake --runtime-artifacts DIR`:
#
#   $PLEX_CACHE/runtime/<containerd>-<runc>/bin/   containerd
#                                                  containerd-shim-runc-v2
#                                                  runc
#   $PLEX_CACHE/runtime/<containerd>-<runc>/src/   wrapper modules
#   $PLEX_CACHE/logs/                              one log per run
#
# containerd and its shim are static (CGO_ENABLED=0, like upstream's shim);
# the btrfs snapshotter, which needs cgo and btrfs headers, is left out
# (no_btrfs; plex uses overlayfs). runc needs cgo and libseccomp (tags
# "seccomp urfave_cli_no_docs", upstream's without libpathrs, a Rust library
# Debian 12 does not package): it links libseccomp.so.2, which the node image
# keeps (libseccomp2 is part of every Debian base). libseccomp-dev, gcc and
# pkg-config are installed with apt when missing.
#
# Idempotent: a stamp per group (containerd, runc; hack/lib/build.sh's
# convention) records what its binaries were built from; when both match, the
# script exits at once. PLEX_RUNTIME_FORCE=1 ignores them.
set -euo pipefail
# One compound command: bash parses all of it before running it.
{

CONTAINERD_VERSION="${1:-v2.4.2}"
RUNC_VERSION="${2:-v1.5.3}"
# shellcheck source=hack/lib/build.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/build.sh"

for v in "${CONTAINERD_VERSION}" "${RUNC_VERSION}"; do
  [[ "${v}" =~ ^v[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "runtime-artifacts: '${v}' is not a release version like v2.4.2" >&2; exit 2; }
done
[[ "${CONTAINERD_VERSION}" == v2.* ]] || { echo "runtime-artifacts: containerd ${CONTAINERD_VERSION}: only 2.x (module github.com/containerd/containerd/v2) is built here" >&2; exit 2; }

VDIR="${PLEX_CACHE}/runtime/${CONTAINERD_VERSION}-${RUNC_VERSION}"
BIN="${VDIR}/bin"
SRC="${VDIR}/src"
STAMPS="${BIN}/.stamps"

CONTAINERD_PKG=github.com/containerd/containerd/v2
CONTAINERD_TAGS="urfave_cli_no_docs no_btrfs"
SHIM_TAGS="urfave_cli_no_docs no_btrfs no_grpc"
RUNC_TAGS="seccomp urfave_cli_no_docs"

build_go_env

# --- groups (hack/lib/build.sh's convention) -----------------------------------
recipe_containerd() {
  printf 'containerd %s tags %s shim tags %s go %s recipe 1\n' "${CONTAINERD_VERSION}" "${CONTAINERD_TAGS}" "${SHIM_TAGS}" "${GO_VERSION}"
}
recipe_runc() { printf 'runc %s tags %s go %s recipe 1\n' "${RUNC_VERSION}" "${RUNC_TAGS}" "${GO_VERSION}"; }
bins_containerd() { printf '%s\n' containerd containerd-shim-runc-v2; }
bins_runc() { echo runc; }
GROUPS_ALL=(containerd runc)
BUILD_FORCE="${PLEX_RUNTIME_FORCE:-0}"

if groups_fresh; then
  echo "runtime-artifacts: ${BIN} is up to date (containerd ${CONTAINERD_VERSION}, runc ${RUNC_VERSION})"
  exit 0
fi

mkdir -p "${BIN}" "${SRC}" "${STAMPS}"
build_lock runtime-artifacts "${VDIR}" groups_fresh "containerd ${CONTAINERD_VERSION}, runc ${RUNC_VERSION}"
build_log runtime-artifacts "${CONTAINERD_VERSION}-${RUNC_VERSION}"
echo "runtime-artifacts: building containerd ${CONTAINERD_VERSION}, runc ${RUNC_VERSION} into ${BIN}"
T_ALL=${SECONDS}

# --- containerd (static) ----------------------------------------------------------------
build_containerd() {
  local dir="${SRC}/containerd" ld b
  step "containerd ${CONTAINERD_VERSION}: wrapper module, go get"
  wrapper "${dir}" "$(wrapper_gomod containerd-build)" "${CONTAINERD_PKG}/cmd/containerd@${CONTAINERD_VERSION}" \
    "${CONTAINERD_PKG}/cmd/containerd-shim-runc-v2@${CONTAINERD_VERSION}"
  done_step
  ld="-s -w -X ${CONTAINERD_PKG}/version.Version=${CONTAINERD_VERSION} -X ${CONTAINERD_PKG}/version.Package=${CONTAINERD_PKG}"
  step "containerd ${CONTAINERD_VERSION}: go build containerd (tags ${CONTAINERD_TAGS})"
  (cd "${dir}" && go build -trimpath -tags "${CONTAINERD_TAGS}" -ldflags "${ld}" -o out/containerd "${CONTAINERD_PKG}/cmd/containerd")
  done_step
  step "containerd ${CONTAINERD_VERSION}: go build containerd-shim-runc-v2 (tags ${SHIM_TAGS})"
  (cd "${dir}" && go build -trimpath -tags "${SHIM_TAGS}" -ldflags "${ld}" -o out/containerd-shim-runc-v2 "${CONTAINERD_PKG}/cmd/containerd-shim-runc-v2")
  done_step
  v="$("${dir}/out/containerd" --version)"
  [[ " ${v} " == *" ${CONTAINERD_VERSION} "* ]] || { echo "runtime-artifacts: containerd --version says '${v}', want ${CONTAINERD_VERSION}" >&2; exit 1; }
  echo "    ${v}"
  for b in containerd containerd-shim-runc-v2; do mv -f "${dir}/out/${b}" "${BIN}/${b}"; done
}

# --- runc (cgo, libseccomp) ----------------------------------------------------------------
build_runc() {
  local dir="${SRC}/runc" missing=()
  dpkg-query -W -f='${Status}' libseccomp-dev 2>/dev/null | grep -q 'install ok installed' || missing+=(libseccomp-dev)
  command -v gcc >/dev/null || missing+=(gcc libc6-dev)
  command -v pkg-config >/dev/null || missing+=(pkg-config)
  if ((${#missing[@]})); then
    step "apt-get install ${missing[*]} (runc needs cgo and libseccomp)"
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -q update
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -y -q install --no-install-recommends "${missing[@]}"
    done_step
  fi
  step "runc ${RUNC_VERSION}: wrapper module, go get"
  wrapper "${dir}" "$(wrapper_gomod runc-build)" "github.com/opencontainers/runc@${RUNC_VERSION}"
  done_step
  # runc reads its version from its embedded VERSION file.
  step "runc ${RUNC_VERSION}: go build (cgo, tags ${RUNC_TAGS})"
  (cd "${dir}" && CGO_ENABLED=1 go build -trimpath -buildmode=pie -tags "${RUNC_TAGS}" -ldflags "-s -w" \
    -o out/runc github.com/opencontainers/runc)
  done_step
  v="$("${dir}/out/runc" --version | sed -n 1p)"
  [[ "${v}" == "runc version ${RUNC_VERSION#v}" ]] || { echo "runtime-artifacts: runc --version says '${v}', want runc version ${RUNC_VERSION#v}" >&2; exit 1; }
  "${dir}/out/runc" --version | grep -q '^libseccomp: ' || { echo "runtime-artifacts: runc was built without seccomp" >&2; exit 1; }
  echo "    ${v}"
  mv -f "${dir}/out/runc" "${BIN}/runc"
}

build_groups
rm -f "${BIN}/.stamp" # the single stamp of the first version of this script

for b in containerd containerd-shim-runc-v2 runc; do
  printf '    %-26s %6.1f MB\n' "${b}" "$(($(stat -c %s "${BIN}/${b}") / 100000))e-1"
done
echo "FIGURE runtime-artifacts build: $((SECONDS - T_ALL)) s (containerd ${CONTAINERD_VERSION}, runc ${RUNC_VERSION}, ${GO_VERSION})"
echo "runtime-artifacts: done; binaries in ${BIN}"
exit 0
}
