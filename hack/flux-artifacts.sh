#!/usr/bin/env bash
# flux-artifacts.sh [FLUX_VERSION] — build the Flux controllers plex's e2e needs
# from the Go module proxy alone, and the offline component manifests that
# `kubectl plex fluxstrap --manifests DIR` takes:
#
#   $PLEX_CACHE/flux/<V>/bin/         source-controller kustomize-controller
#   $PLEX_CACHE/flux/<V>/manifests/   <controller>.yaml rbac.yaml policies.yaml
#                                     (what flux2's release manifests.tar.gz holds)
#   $PLEX_CACHE/flux/<V>/src/         wrapper modules, kustomize work trees
#   $PLEX_CACHE/logs/                 one log per run
#
# The controller versions are not configured here: they are read from
# github.com/fluxcd/flux2/v2@<V>'s manifests/bases/<controller>/kustomization.yaml,
# the same place `flux install` gets them from.
#
# A controller cannot be `go install`ed (its go.mod replaces its /api module
# with ./api), so each is built in a wrapper module that requires the
# controller and its /api at the same version and copies the controller's
# other replace directives. The wrapper's go.sum is seeded from the
# controller's own go.sum: without it some checksum lookups through the proxy
# answer 404.
#
# The manifests: `kubectl kustomize` of each controller's config/crd and
# config/manager gives the release's <c>.crds.yaml and <c>.deployment.yaml;
# they replace the release URLs in a copy of flux2's manifests/bases/<c>/,
# which is then built like flux2's manifests/scripts/bundle.sh does.
#
# Idempotent: stamps record what each output was made from; when everything is
# fresh the script exits at once.
#
# Environment: PLEX_CACHE (/var/cache/plex-dev), KUBE_VERSION (v1.34.4, for
# the kubectl binary from hack/k8s-artifacts.sh), FLUX_COMPONENTS
# ("source-controller kustomize-controller"), PLEX_FLUX_FORCE=1 to ignore stamps.
set -euo pipefail
# One compound command: bash parses it all before running it, so editing this
# file during a build cannot derail the build.
{

FLUX_VERSION="${1:-v2.7.3}"
# shellcheck source=hack/lib/build.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/build.sh"
KUBE_VERSION="${KUBE_VERSION:-v1.34.4}"
read -r -a COMPONENTS <<<"${FLUX_COMPONENTS:-source-controller kustomize-controller}"

if [[ ! "${FLUX_VERSION}" =~ ^v2\.[0-9]+\.[0-9]+$ ]]; then
  echo "flux-artifacts: FLUX_VERSION must look like v2.7.3, got ${FLUX_VERSION}" >&2
  exit 2
fi

VDIR="${PLEX_CACHE}/flux/${FLUX_VERSION}"
BIN="${VDIR}/bin"
SRC="${VDIR}/src"
MAN="${VDIR}/manifests"
STAMPS="${VDIR}/.stamps"
KUBECTL="${PLEX_CACHE}/k8s/${KUBE_VERSION}/bin/kubectl"

build_go_env

# --- stamps -------------------------------------------------------------------

recipe_bin() { printf 'controller %s go %s recipe 1\n' "$1" "${GO_VERSION}"; }
recipe_manifests() {
  printf 'flux %s components %s kubectl %s script %s recipe 1\n' "${FLUX_VERSION}" "${COMPONENTS[*]}" \
    "${KUBE_VERSION}" "$(sha256sum <"${BASH_SOURCE[0]}" | cut -c1-16)"
}

fresh_bin() { # fresh_bin COMPONENT: the binary exists and was built from this recipe
  local c="$1"
  [[ "${PLEX_FLUX_FORCE:-0}" == 1 ]] && return 1
  [[ -x "${BIN}/${c}" && -f "${STAMPS}/${c}" ]] || return 1
  [[ "$(cat "${STAMPS}/${c}")" == "$(recipe_bin "${c}@$(cat "${STAMPS}/${c}.version" 2>/dev/null)")" ]]
}
fresh_manifests() {
  [[ "${PLEX_FLUX_FORCE:-0}" == 1 ]] && return 1
  [[ -f "${STAMPS}/manifests" && "$(cat "${STAMPS}/manifests")" == "$(recipe_manifests)" ]]
}
all_fresh() {
  local c
  for c in "${COMPONENTS[@]}"; do fresh_bin "${c}" || return 1; done
  fresh_manifests
}

if all_fresh; then
  echo "flux-artifacts: ${VDIR} is up to date (flux ${FLUX_VERSION}: ${COMPONENTS[*]})"
  exit 0
fi

# --- set up: lock, log ----------------------------------------------------------

mkdir -p "${BIN}" "${SRC}" "${STAMPS}"
build_lock flux-artifacts "${VDIR}" all_fresh "flux ${FLUX_VERSION}"
build_log flux-artifacts "${FLUX_VERSION}"
echo "flux-artifacts: flux ${FLUX_VERSION} (${COMPONENTS[*]}) into ${VDIR}"
T_ALL=${SECONDS}

# moddir MODULE@VERSION: download a module and print its directory.
moddir() {
  (cd "${SRC}" && go mod download -json "$1") | jq -er '.Dir'
}

step "flux2 ${FLUX_VERSION}: download, read the controller versions"
FLUX_DIR="$(moddir "github.com/fluxcd/flux2/v2@${FLUX_VERSION}")"
declare -A CVERSION=()
for c in "${COMPONENTS[@]}"; do
  kz="${FLUX_DIR}/manifests/bases/${c}/kustomization.yaml"
  [[ -f "${kz}" ]] || { echo "flux2 ${FLUX_VERSION} has no component ${c} (${kz} missing)" >&2; exit 1; }
  v="$(sed -n "s#.*/releases/download/\(v[^/]*\)/${c}\.crds\.yaml.*#\1#p" "${kz}" | head -n1)"
  [[ -n "${v}" ]] || { echo "cannot read ${c}'s version from ${kz}" >&2; exit 1; }
  CVERSION[${c}]="${v}"
  echo "    ${c} ${v}"
done
done_step

# --- controllers -----------------------------------------------------------------

# build_controller C: wrapper module, go get, go build, install into BIN.
build_controller() {
  local c="$1" v="${CVERSION[$1]}" mod="github.com/fluxcd/$1"
  local dir="${SRC}/${c}" cdir gomod want
  step "${c} ${v}: wrapper module"
  cdir="$(moddir "${mod}@${v}")"
  # The controller's replaces, minus the ones to local directories (./api).
  local replaces godirective
  replaces="$(go mod edit -json "${cdir}/go.mod" | jq -r '.Replace // [] | .[] | select(.New.Version != null)
    | "\t\(.Old.Path)\(if .Old.Version then " " + .Old.Version else "" end) => \(.New.Path) \(.New.Version)"')"
  godirective="$(go mod edit -json "${cdir}/go.mod" | jq -r '.Go')"
  gomod="$(
    echo "// Generated by plex hack/flux-artifacts.sh; do not edit."
    echo "module plex.local/${c}-build"
    echo
    echo "go ${godirective}"
    echo
    echo "require ("
    printf '\t%s %s\n' "${mod}" "${v}" "${mod}/api" "${v}"
    echo ")"
    if [[ -n "${replaces}" ]]; then
      echo
      echo "replace ("
      echo "${replaces}"
      echo ")"
    fi
  )"
  want="$(printf '%s\n--- go.sum %s\n' "${gomod}" "$(sha256sum <"${cdir}/go.sum" | cut -c1-16)")"
  mkdir -p "${dir}/out"
  if [[ -f "${dir}/.plex-wrapper" && "$(cat "${dir}/.plex-wrapper")" == "${want}" ]]; then
    echo "    wrapper module ${dir} is up to date; no go get"
  else
    rm -f "${dir}/.plex-wrapper"
    printf '%s\n' "${gomod}" >"${dir}/go.mod"
    cp "${cdir}/go.sum" "${dir}/go.sum"
    chmod u+w "${dir}/go.sum"
    # No `go mod tidy`: with no Go files it would drop the requires.
    (cd "${dir}" && go get "${mod}@${v}" "${mod}/api@${v}")
    printf '%s\n' "${want}" >"${dir}/.plex-wrapper"
  fi
  done_step
  step "${c} ${v}: go build (minutes cold on 2 cores, seconds warm)"
  (cd "${dir}" && go build -trimpath -ldflags "-s -w" -o "out/${c}" "${mod}")
  mv -f "${dir}/out/${c}" "${BIN}/${c}"
  done_step "$(($(stat -c %s "${BIN}/${c}") / 1000000)) MB"
}

for c in "${COMPONENTS[@]}"; do
  echo "${CVERSION[${c}]}" >"${STAMPS}/${c}.version.new"
  if [[ -x "${BIN}/${c}" && -f "${STAMPS}/${c}" && "${PLEX_FLUX_FORCE:-0}" != 1 \
        && "$(cat "${STAMPS}/${c}")" == "$(recipe_bin "${c}@${CVERSION[${c}]}")" ]]; then
    echo "==> ${c} ${CVERSION[${c}]}: up to date"
    mv -f "${STAMPS}/${c}.version.new" "${STAMPS}/${c}.version"
    continue
  fi
  rm -f "${STAMPS}/${c}"
  build_controller "${c}"
  mv -f "${STAMPS}/${c}.version.new" "${STAMPS}/${c}.version"
  recipe_bin "${c}@${CVERSION[${c}]}" >"${STAMPS}/${c}"
done

# --- manifests ----------------------------------------------------------------------

if fresh_manifests; then
  echo "==> manifests: up to date"
else
  [[ -x "${KUBECTL}" ]] || { echo "flux-artifacts: ${KUBECTL} missing: run hack/k8s-artifacts.sh ${KUBE_VERSION} first" >&2; exit 1; }
  step "manifests: kubectl kustomize, offline (the release bundle's files)"
  rm -f "${STAMPS}/manifests"
  work="${SRC}/manifests"
  rm -rf "${work}" "${MAN}.new"
  mkdir -p "${work}/bases" "${MAN}.new"
  for c in "${COMPONENTS[@]}"; do
    v="${CVERSION[${c}]}"
    cdir="$(moddir "github.com/fluxcd/${c}@${v}")"
    cp -r "${FLUX_DIR}/manifests/bases/${c}" "${work}/bases/${c}"
    chmod -R u+w "${work}/bases/${c}"
    # What the controller's release publishes as <c>.crds.yaml and <c>.deployment.yaml.
    "${KUBECTL}" kustomize "${cdir}/config/crd" >"${work}/bases/${c}/${c}.crds.yaml"
    "${KUBECTL}" kustomize "${cdir}/config/manager" >"${work}/bases/${c}/${c}.deployment.yaml"
    # Point the base at them instead of the release URLs.
    sed -i "s#https://github.com/fluxcd/${c}/releases/download/${v}/##" "${work}/bases/${c}/kustomization.yaml"
    if grep -q 'https://' "${work}/bases/${c}/kustomization.yaml"; then
      echo "a URL is left in ${work}/bases/${c}/kustomization.yaml; this script does not know this flux version's layout" >&2
      exit 1
    fi
    "${KUBECTL}" kustomize "${work}/bases/${c}" >"${MAN}.new/${c}.yaml"
  done
  cp -r "${FLUX_DIR}/manifests/rbac" "${FLUX_DIR}/manifests/policies" "${work}/"
  chmod -R u+w "${work}"
  "${KUBECTL}" kustomize "${work}/rbac" >"${MAN}.new/rbac.yaml"
  "${KUBECTL}" kustomize "${work}/policies" >"${MAN}.new/policies.yaml"
  rm -rf "${MAN}"
  mv "${MAN}.new" "${MAN}"
  recipe_manifests >"${STAMPS}/manifests"
  done_step "$(cd "${MAN}" && echo *)"
fi

step "check"
for c in "${COMPONENTS[@]}"; do
  if readelf -l "${BIN}/${c}" 2>/dev/null | grep 'Requesting program interpreter' >/dev/null; then
    echo "flux-artifacts: ${c} is dynamically linked" >&2; exit 1
  fi
  grep -q "image: fluxcd/${c}:${CVERSION[${c}]}" "${MAN}/${c}.yaml" \
    || { echo "flux-artifacts: ${MAN}/${c}.yaml does not name image fluxcd/${c}:${CVERSION[${c}]}" >&2; exit 1; }
  printf '    %-22s %-8s %6.1f MB\n' "${c}" "${CVERSION[${c}]}" "$(($(stat -c %s "${BIN}/${c}") / 100000))e-1"
done
done_step
echo "flux-artifacts: done in $((SECONDS - T_ALL)) s; binaries in ${BIN}, manifests in ${MAN}"
exit 0
}
