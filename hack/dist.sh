#!/usr/bin/env bash
# dist.sh — build plex's release archives and its Krew manifest (`make dist`).
#
#   dist/kubectl-plex_<os>_<arch>.tar.gz     linux/amd64 linux/arm64 darwin/amd64 darwin/arm64:
#                                            kubectl-plex, kubectl_complete-plex, LICENSE
#   dist/incus-plexbake_linux_<arch>.tar.gz  amd64 arm64: incus-plexbake, LICENSE
#   dist/plex-registry_linux_<arch>.tar.gz   amd64 arm64: plex-registry, LICENSE
#   dist/<archive>.sha256, dist/checksums.txt   sha256sum format (`sha256sum -c` in dist/)
#   dist/plex.yaml                           the Krew manifest, from krew/plex.yaml.tmpl
#   dist/build-info.txt                      what went in; not part of a release
#
# Reproducible: the same source gives the same bytes. Binaries are static
# (CGO_ENABLED=0), without paths (-trimpath), build IDs (-buildid=) or VCS
# stamps; archives have sorted entries, owner 0:0, fixed modes, and every mtime
# set to the commit's time; gzip stores no name or time (-n).
#
# Environment (the Makefile passes them): VERSION, COMMIT, LDFLAGS (the same as `make
# build`), DIST (dist), DIST_PLATFORMS (optional, below), DIST_URL_BASE (where the archives will be downloaded
# from; the manifest's uris), SOURCE_DATE_EPOCH (default: the commit's time).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${ROOT}"

: "${VERSION:?VERSION must be set (make dist sets it from git describe)}"
: "${LDFLAGS:?LDFLAGS must be set (make dist passes the ones make build uses)}"
DIST="${DIST:-dist}"
DIST_URL_BASE="${DIST_URL_BASE:-https://github.com/plex-dev/plex/releases/download/${VERSION}}"
SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}"

# program → the platforms it ships for.
declare -A PLATFORMS=(
  [kubectl-plex]="linux/amd64 linux/arm64 darwin/amd64 darwin/arm64"
  [incus-plexbake]="linux/amd64 linux/arm64"
  [plex-registry]="linux/amd64 linux/arm64"
)
PROGRAMS=(kubectl-plex incus-plexbake plex-registry)
ALL_KUBECTL_PLEX_PLATFORMS="${PLATFORMS[kubectl-plex]}"

die() {
  echo "dist: $*" >&2
  exit 1
}

# Krew accepts only semantic versions that start with "v". A tag like v0.3.1 is
# used as it is; an untagged build (git describe gives "c1686a3-dirty") becomes
# the pre-release v0.0.0-c1686a3-dirty.
if [[ "${VERSION}" =~ ^v[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.+-]*)?$ ]]; then
  KREW_VERSION="${VERSION}"
else
  KREW_VERSION="v0.0.0-${VERSION//[^0-9A-Za-z.-]/-}"
fi

# DIST_PLATFORMS, when set, narrows the build to those platforms (os/arch,
# space-separated): `make packaging-test` checks the host's alone, which
# spares a fresh machine the three cross-compiles. The manifest then lists
# those platforms only. A release (`make dist`) builds them all.
if [[ -n "${DIST_PLATFORMS:-}" ]]; then
  for want in ${DIST_PLATFORMS}; do
    known=false
    for prog in "${PROGRAMS[@]}"; do
      [[ " ${PLATFORMS[${prog}]} " == *" ${want} "* ]] && known=true
    done
    ${known} || die "DIST_PLATFORMS: ${want} is not a platform plex ships for (${ALL_KUBECTL_PLEX_PLATFORMS})"
  done
  for prog in "${PROGRAMS[@]}"; do
    kept=""
    for plat in ${PLATFORMS[${prog}]}; do
      [[ " ${DIST_PLATFORMS} " == *" ${plat} "* ]] && kept+=" ${plat}"
    done
    PLATFORMS[${prog}]="${kept# }"
  done
  [[ -n "${PLATFORMS[kubectl-plex]}" ]] || die "DIST_PLATFORMS=${DIST_PLATFORMS} names no platform of kubectl-plex (${ALL_KUBECTL_PLEX_PLATFORMS})"
fi

case "${DIST}" in
"" | / | . | ..) die "refusing to use DIST=${DIST:-<empty>}: it is emptied first" ;;
esac
# Emptied first, so that nothing stale is released; only a previous dist or an
# empty directory, never a directory that happens to be named.
if [[ -d "${DIST}" && -n "$(ls -A "${DIST}")" && ! -f "${DIST}/build-info.txt" && ! -d "${DIST}/.stage" ]]; then
  die "${DIST} is not empty and holds no previous dist (build-info.txt, .stage): refusing to empty it; pick another DIST"
fi
rm -rf "${DIST}"
mkdir -p "${DIST}"
: >"${DIST}/build-info.txt" # marks it as a dist, even if this run fails
DIST="$(cd "${DIST}" && pwd)"
STAGE="${DIST}/.stage"

# A fingerprint of every file that can go into a dist (cmd/ and core/ without
# tests, go.mod, go.sum, LICENSE, krew/, this script), tracked or untracked,
# taken before building: two dists with the same fingerprint and Go version
# must be byte for byte equal.
fingerprint="$({
  git ls-files -z --cached --others --exclude-standard -- cmd core \
    ':(exclude,glob)**/*_test.go' ':(exclude,glob)**/testdata/**'
  git ls-files -z --cached --others --exclude-standard -- go.mod go.sum LICENSE krew hack/dist.sh
} | LC_ALL=C sort -z | xargs -0 sha256sum -- 2>/dev/null | sha256sum | cut -d' ' -f1)" || true

start=${EPOCHREALTIME}
since() { printf '%.1fs' "$(echo "${EPOCHREALTIME} - $1" | bc)"; }

# --- binaries ---------------------------------------------------------------

# One `go build` per platform builds every program for it, sharing the
# compiled packages.
declare -A BY_PLATFORM=()
for prog in "${PROGRAMS[@]}"; do
  for plat in ${PLATFORMS[${prog}]}; do
    BY_PLATFORM[${plat}]+=" ./cmd/${prog}"
  done
done
for plat in $(printf '%s\n' "${!BY_PLATFORM[@]}" | sort); do
  t=${EPOCHREALTIME}
  out="${STAGE}/${plat/\//_}"
  mkdir -p "${out}"
  # shellcheck disable=SC2086 # the package list splits on purpose
  CGO_ENABLED=0 GOOS="${plat%/*}" GOARCH="${plat#*/}" GOFLAGS=-buildvcs=false \
    go build -trimpath -ldflags "${LDFLAGS}" -o "${out}/" ${BY_PLATFORM[${plat}]}
  echo "dist: built${BY_PLATFORM[${plat}]//.\/cmd\//} for ${plat} in $(since "${t}")" >&2
done

# --- archives ---------------------------------------------------------------

# archive NAME DIR FILE…: DIST/NAME.tar.gz holding FILEs of DIR, byte for byte
# the same on every run.
archive() {
  local name="$1" dir="$2" files
  shift 2
  # --sort=name orders what tar finds in directories, not the names given on
  # the command line: sort those here.
  mapfile -t files < <(printf '%s\n' "$@" | LC_ALL=C sort)
  tar --create --file=- --directory="${dir}" --format=gnu --sort=name \
    --mtime="@${SOURCE_DATE_EPOCH}" --owner=0 --group=0 --numeric-owner \
    --mode='u=rwX,go=rX' -- "${files[@]}" | gzip -n >"${DIST}/${name}.tar.gz"
  (cd "${DIST}" && sha256sum "${name}.tar.gz" >"${name}.tar.gz.sha256")
}

archives=0
for prog in "${PROGRAMS[@]}"; do
  for plat in ${PLATFORMS[${prog}]}; do
    dir="${STAGE}/${plat/\//_}"
    name="${prog}_${plat/\//_}"
    files=("${prog}" LICENSE)
    install -m 0644 LICENSE "${dir}/LICENSE"
    chmod 0755 "${dir}/${prog}"
    if [[ "${prog}" == kubectl-plex ]]; then
      install -m 0755 krew/kubectl_complete-plex "${dir}/kubectl_complete-plex"
      files+=(kubectl_complete-plex)
    fi
    archive "${name}" "${dir}" "${files[@]}"
    archives=$((archives + 1))
  done
done
rm -rf "${STAGE}"
(cd "${DIST}" && cat ./*.tar.gz.sha256 >checksums.txt)

# --- the Krew manifest --------------------------------------------------------

# krew/plex.yaml.tmpl names @VERSION@, @URL_BASE@ and @SHA256:<archive>@ for
# each archive it lists; lines starting with "##" are notes for its editors.
manifest="$(grep -v '^##' krew/plex.yaml.tmpl)"
if [[ "${PLATFORMS[kubectl-plex]}" != "${ALL_KUBECTL_PLEX_PLATFORMS}" ]]; then
  # A narrowed dist: drop the template's platform entries (from one
  # "  - selector:" to the next item or key) of the archives not built.
  built=""
  for plat in ${PLATFORMS[kubectl-plex]}; do built+=" kubectl-plex_${plat/\//_}.tar.gz"; done
  manifest="$(awk -v keep="${built}" '
    BEGIN { n = split(keep, k, " "); for (i = 1; i <= n; i++) want[k[i]] = 1 }
    function flush() { if (block != "" && (name in want)) printf "%s", block; block = ""; name = ""; inblock = 0 }
    /^  - selector:/ { flush(); inblock = 1 }
    inblock && ($0 ~ /^  [^ -]/ || $0 ~ /^[^ ]/) { flush() }
    inblock {
      block = block $0 "\n"
      if (match($0, /@SHA256:[^@]*@/)) name = substr($0, RSTART + 8, RLENGTH - 9)
      next
    }
    { print }
    END { flush() }' <<<"${manifest}")"
fi
manifest="${manifest//@VERSION@/${KREW_VERSION}}"
manifest="${manifest//@URL_BASE@/${DIST_URL_BASE%/}}"
for plat in ${PLATFORMS[kubectl-plex]}; do
  name="kubectl-plex_${plat/\//_}.tar.gz"
  [[ "${manifest}" == *"@SHA256:${name}@"* ]] || die "krew/plex.yaml.tmpl has no platform for ${name} (@SHA256:${name}@)"
  sum="$(cut -d' ' -f1 "${DIST}/${name}.sha256")"
  manifest="${manifest//@SHA256:${name}@/${sum}}"
done
if leftover="$(grep -o '@[A-Z0-9_]*[:A-Za-z0-9_.-]*@' <<<"${manifest}")"; then
  die "krew/plex.yaml.tmpl names what dist did not build: ${leftover//$'\n'/ }"
fi
printf '%s\n' "${manifest}" >"${DIST}/plex.yaml"

# --- what went in -------------------------------------------------------------

cat >"${DIST}/build-info.txt" <<EOF
version: ${VERSION}
commit: ${COMMIT:-unknown}
krew-version: ${KREW_VERSION}
source-date-epoch: ${SOURCE_DATE_EPOCH}
go: $(go env GOVERSION)
source-fingerprint: ${fingerprint}
url-base: ${DIST_URL_BASE%/}
platforms: $(for prog in "${PROGRAMS[@]}"; do printf '%s\n' ${PLATFORMS[${prog}]}; done | sort -u | tr '\n' ' ' | sed 's/ $//')
EOF

echo "dist: ${DIST} (${archives} archives, krew manifest version ${KREW_VERSION}) in $(since "${start}")" >&2
