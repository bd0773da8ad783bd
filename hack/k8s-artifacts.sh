#!/usr/bin/env bash
# shellcheck disable=SC2317 # functions are called indirectly ("build_${g}"), after an early exit
# k8s-artifacts.sh [VERSION] — build the static Kubernetes binaries that plex's
# node images and control-plane images need, from the Go module proxy alone.
#
#   $PLEX_CACHE/k8s/<VERSION>/bin/   kubeadm kubelet kubectl kube-apiserver
#                                    kube-controller-manager kube-scheduler
#                                    kube-proxy etcd coredns pause
#   $PLEX_CACHE/k8s/<VERSION>/src/   wrapper modules (kubernetes, etcd, coredns)
#   $PLEX_CACHE/logs/                one log per run
#
# `go install k8s.io/kubernetes/cmd/…@vX` does not work (the module replaces its
# staging modules with ./staging paths), so each build happens in a wrapper
# module that pins every staging module to its published v0.Y.Z twin.
#
# Idempotent: each component group has a stamp that records what it was built
# from; when every binary exists and every stamp matches, the script exits at
# once. Uses the standard GOMODCACHE/GOCACHE, so a rebuild after a stamp change
# is only a relink.
#
# Environment: PLEX_CACHE (default /var/cache/plex-dev), ETCD_VERSION (v3.6.5),
# COREDNS_VERSION (v1.12.1), PLEX_K8S_FORCE=1 to ignore the stamps.
set -euo pipefail
# The whole script is one compound command, so bash parses it before running
# it: editing this file while a 10-minute build runs cannot derail that build.
{

VERSION="${1:-v1.34.4}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.5}"
COREDNS_VERSION="${COREDNS_VERSION:-v1.12.1}"

# shellcheck source=hack/lib/build.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/build.sh"
VDIR="${PLEX_CACHE}/k8s/${VERSION}"
BIN="${VDIR}/bin"
SRC="${VDIR}/src"
STAMPS="${BIN}/.stamps"

K8S_BINS=(kubeadm kubelet kubectl kube-apiserver kube-controller-manager kube-scheduler kube-proxy)
# Build tags of upstream's hack/lib/golang.sh for non-debug builds.
K8S_TAGS="selinux,notest,grpcnotrace"

# shellcheck source=hack/lib/k8s-wrapper.sh
source "${HACK_DIR}/lib/k8s-wrapper.sh"
k8s_parse_version "${VERSION}" || { echo "k8s-artifacts: bad VERSION" >&2; exit 2; }

build_go_env

# --- stamps ---------------------------------------------------------------

# recipe_<group> prints everything a group's binaries depend on; the stamp file
# holds the recipe of the last successful build.
recipe_kubernetes() {
  printf 'kubernetes %s staging %s go %s tags %s bins %s recipe 2\n' \
    "${VERSION}" "${STAGING_VERSION}" "${GO_VERSION}" "${K8S_TAGS}" "${K8S_BINS[*]}"
}
recipe_etcd()    { printf 'etcd %s go %s recipe 2\n' "${ETCD_VERSION}" "${GO_VERSION}"; }
recipe_coredns() { printf 'coredns %s go %s recipe 1\n' "${COREDNS_VERSION}" "${GO_VERSION}"; }
recipe_pause() {
  printf 'pause go %s src %s recipe 1\n' "${GO_VERSION}" "$(sha256sum <"${HACK_DIR}/pause/main.go" | cut -c1-64)"
}
bins_kubernetes() { printf '%s\n' "${K8S_BINS[@]}"; }
bins_etcd()       { echo etcd; }
bins_coredns()    { echo coredns; }
bins_pause()      { echo pause; }

GROUPS_ALL=(kubernetes etcd coredns pause)

# The groups follow hack/lib/build.sh's convention (group_fresh, build_groups).
BUILD_FORCE="${PLEX_K8S_FORCE:-0}"

if groups_fresh; then
  echo "k8s-artifacts: ${BIN} is up to date (${VERSION}, etcd ${ETCD_VERSION}, coredns ${COREDNS_VERSION})"
  exit 0
fi

# --- set up: lock, log ----------------------------------------------------

mkdir -p "${BIN}" "${SRC}" "${STAMPS}"
build_lock k8s-artifacts "${VDIR}" groups_fresh "${VERSION}"
build_log k8s-artifacts "${VERSION}"
echo "k8s-artifacts: building ${VERSION} into ${BIN}"
T_ALL=${SECONDS}

# install_bins DIR NAME…: move freshly built binaries into BIN atomically.
install_bins() {
  local from="$1" b; shift
  for b in "$@"; do
    mv -f "${from}/${b}" "${BIN}/${b}"
  done
}

# --- kubernetes -------------------------------------------------------------

build_kubernetes() {
  local dir="${SRC}/kubernetes" out="${SRC}/kubernetes/out" b m
  mkdir -p "${dir}" "${out}"

  step "kubernetes ${VERSION}: download k8s.io/kubernetes and read its staging modules"
  k8s_wrapper_gomod "${dir}" "${VERSION}" plex.local/k8s-build hack/k8s-artifacts.sh
  done_step

  local -a pkgs=() gets=()
  for b in "${K8S_BINS[@]}"; do
    pkgs+=("k8s.io/kubernetes/cmd/${b}")
    gets+=("k8s.io/kubernetes/cmd/${b}@${VERSION}")
  done

  step "kubernetes ${VERSION}: wrapper module, go get (module download)"
  rm -f "${dir}/go.mod.base" # from an earlier layout
  wrapper "${dir}" "${K8S_WRAPPER_GOMOD}" "${gets[@]}"
  done_step

  local ldv
  ldv="$(k8s_version_ldflags "${VERSION}" "${K8S_BUILD_DATE}")"

  step "kubernetes ${VERSION}: go build ${K8S_BINS[*]} (one invocation; ~7 min cold on 2 cores, seconds warm)"
  rm -rf "${out}" && mkdir -p "${out}"
  (cd "${dir}" && go build -trimpath -tags "${K8S_TAGS}" -ldflags "-s -w${ldv}" -o "${out}/" "${pkgs[@]}")
  install_bins "${out}" "${K8S_BINS[@]}"
  done_step
}

# --- etcd ---------------------------------------------------------------------

build_etcd() {
  local dir="${SRC}/etcd"
  mkdir -p "${dir}/out"
  step "etcd ${ETCD_VERSION}: wrapper module, go get, go build"
  # The etcd binary's main package is the root of go.etcd.io/etcd/server/v3.
  wrapper "${dir}" "$(printf '// Generated by plex hack/k8s-artifacts.sh; do not edit.\nmodule plex.local/etcd-build\n\ngo 1.24\n')" \
    "go.etcd.io/etcd/server/v3@${ETCD_VERSION}"
  (cd "${dir}" && go build -trimpath -ldflags "-s -w" -o out/etcd go.etcd.io/etcd/server/v3)
  install_bins "${dir}/out" etcd
  done_step
}

# --- coredns -----------------------------------------------------------------

build_coredns() {
  local dir="${SRC}/coredns"
  mkdir -p "${dir}/out"
  # `go install github.com/coredns/coredns@vX` would do, but a wrapper module
  # keeps working when the proxy refuses version lists.
  step "coredns ${COREDNS_VERSION}: wrapper module, go get, go build"
  wrapper "${dir}" "$(printf '// Generated by plex hack/k8s-artifacts.sh; do not edit.\nmodule plex.local/coredns-build\n\ngo 1.24\n')" \
    "github.com/coredns/coredns@${COREDNS_VERSION}"
  (cd "${dir}" && go build -trimpath -ldflags "-s -w -X github.com/coredns/coredns/coremain.GitCommit=${COREDNS_VERSION}" \
     -o out/coredns github.com/coredns/coredns)
  install_bins "${dir}/out" coredns
  done_step
}

# --- pause ---------------------------------------------------------------------

build_pause() {
  step "pause: static build of hack/pause"
  # Built in its own module from a copy, so that the repo's go.mod (which
  # others edit) cannot break it.
  local dir="${SRC}/pause"
  mkdir -p "${dir}/out"
  cp "${HACK_DIR}/pause/main.go" "${dir}/main.go"
  printf '// Generated by plex hack/k8s-artifacts.sh; do not edit.\nmodule plex.local/pause\n\ngo 1.24\n' >"${dir}/go.mod"
  (cd "${dir}" && go build -trimpath -ldflags "-s -w -X main.version=plex-${VERSION}" -o out/pause .)
  install_bins "${dir}/out" pause
  done_step
}

build_groups

step "check"
v="$("${BIN}/kubeadm" version -o short)"
[[ "${v}" == "${VERSION}" ]] || { echo "k8s-artifacts: kubeadm version -o short says ${v}, want ${VERSION}" >&2; exit 1; }
v="$("${BIN}/kubelet" --version)"
[[ "${v}" == "Kubernetes ${VERSION}" ]] || { echo "k8s-artifacts: kubelet --version says ${v}, want Kubernetes ${VERSION}" >&2; exit 1; }
echo "kubeadm ${VERSION}, ${v}"
# sed, not head: with pipefail, a writer killed by SIGPIPE fails the script.
"${BIN}/etcd" --version | sed -n 1p
"${BIN}/coredns" -version | sed -n 1p
"${BIN}/pause" --version
for b in "${K8S_BINS[@]}" etcd coredns pause; do
  # The images have no libc for these binaries: they must be static.
  if readelf -l "${BIN}/${b}" 2>/dev/null | grep 'Requesting program interpreter' >/dev/null; then
    echo "k8s-artifacts: ${b} is dynamically linked" >&2; exit 1
  fi
done
done_step
for b in "${K8S_BINS[@]}" etcd coredns pause; do
  printf '    %-26s %6.1f MB\n' "${b}" "$(($(stat -c %s "${BIN}/${b}") / 100000))e-1"
done
echo "k8s-artifacts: done in $((SECONDS - T_ALL)) s; binaries in ${BIN}"
exit 0
}
