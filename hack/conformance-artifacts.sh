#!/usr/bin/env bash
# shellcheck disable=SC2317 # functions are called indirectly ("build_${g}"), after an early exit
# conformance-artifacts.sh [VERSION] — build what the upstream conformance run
# needs from the Go module proxy alone:
#
#   $PLEX_CACHE/conformance/<VERSION>/bin/   e2e.test (k8s.io/kubernetes/test/e2e, go test -c)
#                                            ginkgo   (github.com/onsi/ginkgo/v2/ginkgo at the
#                                                      version kubernetes' go.mod requires)
#                                            agnhost  (k8s.io/kubernetes/test/images/agnhost)
#                                            sample-apiserver (k8s.io/sample-apiserver at the staging
#                                                      version, for the Aggregator spec)
#                                            nnp      (k8s.io/kubernetes/test/images/nonewprivs,
#                                                      for the nonewprivs image)
#   $PLEX_CACHE/conformance/<VERSION>/src/   wrapper modules (e2e, sample-apiserver, nnp, ginkgo)
#   $PLEX_CACHE/logs/                        one log per run
#
# e2e.test and agnhost come from one wrapper module like hack/k8s-artifacts.sh's
# (hack/lib/k8s-wrapper.sh): it requires k8s.io/kubernetes and pins the
# staging modules. ginkgo has its own wrapper, so that its CLI's dependencies
# cannot move e2e.test's; the two must agree on ginkgo's version, which is why
# it is read from kubernetes' go.mod rather than configured.
#
# Idempotent: a stamp per binary records what it was built from; when every
# binary exists and every stamp matches, the script exits at once. Uses the
# standard GOMODCACHE/GOCACHE, which `make artifacts` has already warmed with
# most of Kubernetes' packages.
#
# Environment: PLEX_CACHE (default /var/cache/plex-dev), PLEX_CONFORMANCE_FORCE=1
# to ignore the stamps.
set -euo pipefail
# One compound command: bash parses it all before running it, so editing this
# file during a build cannot derail the build.
{

VERSION="${1:-v1.34.4}"

# shellcheck source=hack/lib/build.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/build.sh"
VDIR="${PLEX_CACHE}/conformance/${VERSION}"
BIN="${VDIR}/bin"
SRC="${VDIR}/src"
STAMPS="${BIN}/.stamps"
# Upstream's hack/lib/golang.sh builds test binaries with the same tags as
# the commands.
K8S_TAGS="selinux,notest,grpcnotrace"

# shellcheck source=hack/lib/k8s-wrapper.sh
source "${HACK_DIR}/lib/k8s-wrapper.sh"
k8s_parse_version "${VERSION}" || { echo "conformance-artifacts: bad VERSION" >&2; exit 2; }

build_go_env

# ginkgo_version: the github.com/onsi/ginkgo/v2 version kubernetes requires.
ginkgo_version() {
  local modfile
  modfile="$(go mod download -json "k8s.io/kubernetes@${VERSION}" | sed -n 's/^\t"GoMod": "\(.*\)",$/\1/p')"
  awk '$1=="github.com/onsi/ginkgo/v2"{print $2; exit}' "${modfile}"
}

# --- stamps ---------------------------------------------------------------

recipe_e2e() {
  printf 'e2e.test agnhost kubernetes %s staging %s go %s tags %s recipe 1\n' \
    "${VERSION}" "${STAGING_VERSION}" "${GO_VERSION}" "${K8S_TAGS}"
}
recipe_sampleapiserver() {
  printf 'sample-apiserver %s go %s recipe 1\n' "${STAGING_VERSION}" "${GO_VERSION}"
}
recipe_nnp() { printf 'nnp kubernetes %s go %s recipe 1\n' "${VERSION}" "${GO_VERSION}"; }
recipe_ginkgo() { printf 'ginkgo %s go %s recipe 1\n' "${GINKGO_VERSION}" "${GO_VERSION}"; }
bins_e2e()    { printf '%s\n' e2e.test agnhost; }
bins_ginkgo() { echo ginkgo; }
bins_sampleapiserver() { echo sample-apiserver; }
bins_nnp() { echo nnp; }
GROUPS_ALL=(e2e ginkgo sampleapiserver nnp)

BUILD_FORCE="${PLEX_CONFORMANCE_FORCE:-0}"

mkdir -p "${SRC}"
GINKGO_VERSION="$(cd "${SRC}" && ginkgo_version)"
[[ -n "${GINKGO_VERSION}" ]] || { echo "conformance-artifacts: no ginkgo/v2 in k8s.io/kubernetes@${VERSION}'s go.mod" >&2; exit 1; }

if groups_fresh; then
  echo "conformance-artifacts: ${BIN} is up to date (${VERSION}, ginkgo ${GINKGO_VERSION})"
  exit 0
fi

# --- set up: lock, log ----------------------------------------------------

mkdir -p "${BIN}" "${STAMPS}"
build_lock conformance-artifacts "${VDIR}" groups_fresh "${VERSION}"
build_log conformance-artifacts "${VERSION}"
echo "conformance-artifacts: building ${VERSION} into ${BIN}"
T_ALL=${SECONDS}

# --- e2e.test and agnhost -------------------------------------------------------

build_e2e() {
  local dir="${SRC}/e2e" out="${SRC}/e2e/out"
  step "e2e ${VERSION}: download k8s.io/kubernetes and read its staging modules"
  k8s_wrapper_gomod "${dir}" "${VERSION}" plex.local/e2e-build hack/conformance-artifacts.sh
  done_step

  step "e2e ${VERSION}: wrapper module, go get -t (module download)"
  # -t: test/e2e's package is all _test.go files; its imports are test imports.
  wrapper "${dir}" "${K8S_WRAPPER_GOMOD}" -t \
    "k8s.io/kubernetes/test/e2e@${VERSION}" "k8s.io/kubernetes/test/images/agnhost@${VERSION}"
  done_step

  local ldv
  ldv="$(k8s_version_ldflags "${VERSION}" "${K8S_BUILD_DATE}")"
  rm -rf "${out}" && mkdir -p "${out}"

  step "e2e ${VERSION}: go test -c k8s.io/kubernetes/test/e2e"
  (cd "${dir}" && go test -c -trimpath -tags "${K8S_TAGS}" -ldflags "-s -w${ldv}" \
     -o "${out}/e2e.test" k8s.io/kubernetes/test/e2e)
  done_step

  step "agnhost: go build k8s.io/kubernetes/test/images/agnhost"
  # agnhost reports its own version (test/images/agnhost/VERSION) and takes no
  # -X; the image tag says which release it stands in for.
  (cd "${dir}" && go build -trimpath -ldflags "-s -w" -o "${out}/agnhost" k8s.io/kubernetes/test/images/agnhost)
  done_step
  mv -f "${out}/e2e.test" "${out}/agnhost" "${BIN}/"
}

# --- sample-apiserver ----------------------------------------------------------

build_sampleapiserver() {
  local dir="${SRC}/sample-apiserver" ldv
  # Its own wrapper (kubernetes' staging pins, as for e2e.test), so that
  # building it does not touch e2e.test's. Upstream's image is 1.29.2; the
  # Aggregator spec's Deployment uses flags this one still has.
  step "sample-apiserver ${STAGING_VERSION}: wrapper module, go get, go build"
  k8s_wrapper_gomod "${dir}" "${VERSION}" plex.local/sample-apiserver-build hack/conformance-artifacts.sh >/dev/null
  wrapper "${dir}" "${K8S_WRAPPER_GOMOD}" "k8s.io/sample-apiserver@${STAGING_VERSION}"
  ldv="$(k8s_version_ldflags "${VERSION}" "${K8S_BUILD_DATE}")"
  mkdir -p "${dir}/out"
  (cd "${dir}" && go build -trimpath -ldflags "-s -w${ldv}" -o out/sample-apiserver k8s.io/sample-apiserver)
  mv -f "${dir}/out/sample-apiserver" "${BIN}/"
  done_step
}

# --- nnp (the nonewprivs image's program) ---------------------------------------

build_nnp() {
  local dir="${SRC}/nnp"
  # k8s.io/kubernetes/test/images/nonewprivs prints its effective uid; the
  # image makes it setuid root, and the AllowPrivilegeEscalation spec checks
  # that no_new_privs keeps it at the pod's uid. Its own wrapper, so that
  # e2e.test's stays untouched.
  step "nnp ${VERSION}: wrapper module, go get, go build"
  k8s_wrapper_gomod "${dir}" "${VERSION}" plex.local/nnp-build hack/conformance-artifacts.sh >/dev/null
  wrapper "${dir}" "${K8S_WRAPPER_GOMOD}" "k8s.io/kubernetes/test/images/nonewprivs@${VERSION}"
  mkdir -p "${dir}/out"
  (cd "${dir}" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o out/nnp k8s.io/kubernetes/test/images/nonewprivs)
  mv -f "${dir}/out/nnp" "${BIN}/"
  done_step
}

# --- ginkgo ---------------------------------------------------------------------

build_ginkgo() {
  local dir="${SRC}/ginkgo"
  mkdir -p "${dir}/out"
  step "ginkgo ${GINKGO_VERSION}: wrapper module, go get, go build"
  wrapper "${dir}" "$(wrapper_gomod ginkgo-build)" \
    "github.com/onsi/ginkgo/v2/ginkgo@${GINKGO_VERSION}"
  (cd "${dir}" && go build -trimpath -ldflags "-s -w" -o out/ginkgo github.com/onsi/ginkgo/v2/ginkgo)
  mv -f "${dir}/out/ginkgo" "${BIN}/ginkgo"
  done_step
}

build_groups

step "check"
"${BIN}/e2e.test" --version
"${BIN}/ginkgo" version
"${BIN}/agnhost" --help 2>&1 | sed -n 1p
for b in e2e.test ginkgo agnhost sample-apiserver nnp; do
  if readelf -l "${BIN}/${b}" 2>/dev/null | grep 'Requesting program interpreter' >/dev/null; then
    echo "conformance-artifacts: ${b} is dynamically linked" >&2; exit 1
  fi
done
done_step
for b in e2e.test ginkgo agnhost sample-apiserver nnp; do
  printf '    %-16s %6.1f MB\n' "${b}" "$(($(stat -c %s "${BIN}/${b}") / 100000))e-1"
done
echo "conformance-artifacts: done in $((SECONDS - T_ALL)) s; binaries in ${BIN}"
exit 0
}
