# shellcheck shell=bash
# shellcheck disable=SC2034 # the variables set here are read by the scripts that source this
# hack/lib/build.sh — sourced by the scripts that build artifacts and images
# into $PLEX_CACHE (hack/*-artifacts.sh, hack/*-images.sh, hack/conformance.sh).
#
# Sets PLEX_CACHE (exported), HACK_DIR, REPO_DIR, TOOLS, LOGDIR and ADDR, the
# harness registry (exported as PLEX_REGISTRY_ADDR), and defines:
#   step TEXT / done_step [TEXT]      a timed step of the script's output
#   build_go_env                      the Go settings of every static build; sets GO_VERSION
#   build_lock NAME DIR FRESH WHAT    hold DIR/.lock; exit 0 if FRESH (a function) says a
#                                     concurrent run built it meanwhile
#   build_log NAME TAG                copy all further output into a timestamped log
#   build_imagebuild                  build hack/imagebuild into TOOLS; sets IMAGEBUILD

PLEX_CACHE="${PLEX_CACHE:-/var/cache/plex-dev}"
export PLEX_CACHE
HACK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REPO_DIR="$(cd "${HACK_DIR}/.." && pwd)"
TOOLS="${PLEX_CACHE}/tools"
LOGDIR="${PLEX_CACHE}/logs"
ADDR="${PLEX_REGISTRY_ADDR:-${PLEX_REGISTRY:-10.212.0.1:5000}}"
export PLEX_REGISTRY_ADDR="${ADDR}"

step_start=${SECONDS}
step() {
  step_start=${SECONDS}
  echo "==> $*"
}
done_step() { echo "    ok ($((SECONDS - step_start)) s)${1:+ $*}"; }

# build_go_env: static linux/amd64 builds with this machine's Go, whatever
# the caller's environment says; the version goes into every recipe stamp.
build_go_env() {
  export CGO_ENABLED=0 GOOS=linux GOARCH=amd64 GOFLAGS=-buildvcs=false GOTOOLCHAIN=local
  GO_VERSION="$(go env GOVERSION)"
}

# build_lock NAME DIR FRESH WHAT: take DIR/.lock for the rest of the script,
# waiting (and saying so) while another build of WHAT holds it. When that
# build made everything, FRESH returns 0 and this script has nothing to do.
build_lock() {
  local name="$1" dir="$2" fresh="$3" what="$4"
  mkdir -p "${dir}"
  exec 9>"${dir}/.lock"
  if ! flock -n 9; then
    echo "${name}: another build of ${what} is running; waiting for it" >&2
    flock 9
  fi
  if "${fresh}"; then
    echo "${name}: ${what} is up to date (built by a concurrent run)"
    exit 0
  fi
}

# build_log NAME TAG: tee stdout and stderr into $LOGDIR/NAME-TAG-<time>.log,
# whose path is in LOG; say which Go and caches the build uses.
build_log() {
  mkdir -p "${LOGDIR}"
  LOG="${LOGDIR}/$1-$2-$(date -u +%Y%m%dT%H%M%SZ).log"
  exec > >(tee -a "${LOG}") 2>&1
  echo "$1: log ${LOG}"
  echo "$1: $(go env GOVERSION), GOMODCACHE=$(go env GOMODCACHE), GOCACHE=$(go env GOCACHE)"
}

# build_imagebuild: hack/imagebuild, the one-layer image builder, into TOOLS.
build_imagebuild() {
  mkdir -p "${TOOLS}"
  (cd "${REPO_DIR}" && CGO_ENABLED=0 go build -trimpath -o "${TOOLS}/imagebuild" ./hack/imagebuild)
  IMAGEBUILD="${TOOLS}/imagebuild"
}

# The group convention of the artifact scripts: GROUPS_ALL lists the groups;
# a group G is made by build_G, holds the binaries that bins_G prints, and is
# stamped in STAMPS/G with what recipe_G prints. BUILD_FORCE=1 rebuilds them.

# group_fresh G: G's stamp matches its recipe and its binaries are in BIN.
group_fresh() {
  local g="$1" b
  [[ "${BUILD_FORCE:-0}" == 1 ]] && return 1
  [[ -f "${STAMPS}/${g}" && "$(cat "${STAMPS}/${g}")" == "$("recipe_${g}")" ]] || return 1
  for b in $("bins_${g}"); do [[ -x "${BIN}/${b}" ]] || return 1; done
}

# groups_fresh: every group of GROUPS_ALL is fresh.
groups_fresh() {
  local g
  for g in "${GROUPS_ALL[@]}"; do group_fresh "${g}" || return 1; done
}

# build_groups: build each group that is not fresh, then stamp it.
build_groups() {
  local g
  for g in "${GROUPS_ALL[@]}"; do
    if group_fresh "${g}"; then
      echo "==> ${g}: up to date"
      continue
    fi
    rm -f "${STAMPS}/${g}"
    "build_${g}"
    "recipe_${g}" >"${STAMPS}/${g}"
  done
}
