#!/usr/bin/env bash
# krew.sh — build the real Krew (kubectl-krew) from the Go module proxy, cache
# it under $PLEX_CACHE/tools, and print the path of the directory that holds
# it, ready to be put on PATH next to kubectl.
#
#   $PLEX_CACHE/tools/krew/<KREW_VERSION>/bin/kubectl-krew
#   $PLEX_CACHE/tools/krew/<KREW_VERSION>/src/      the wrapper module
#
# `go install sigs.k8s.io/krew/cmd/krew@v0.5.0` does not work offline: the
# module proxy refuses the version list (403) that `go install` reads for its
# deprecation check. A wrapper module that imports the command from a tools
# file, with `go get` of the exact version, builds the same code.
#
# Idempotent: a stamp records what the binary was built from; when it matches,
# the script only prints the path.
#
# Environment: PLEX_CACHE (default /var/cache/plex-dev), KREW_VERSION (v0.5.0).
set -euo pipefail

KREW_VERSION="${KREW_VERSION:-v0.5.0}"
PLEX_CACHE="${PLEX_CACHE:-/var/cache/plex-dev}"
DIR="${PLEX_CACHE}/tools/krew/${KREW_VERSION}"
BIN="${DIR}/bin"
SRC="${DIR}/src"

export CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOTOOLCHAIN=local
recipe="krew ${KREW_VERSION} go $(go env GOVERSION) recipe 1"

if [[ -x "${BIN}/kubectl-krew" && -f "${BIN}/.stamp" && "$(cat "${BIN}/.stamp")" == "${recipe}" ]]; then
  echo "${BIN}"
  exit 0
fi

start=${EPOCHREALTIME}
mkdir -p "${SRC}" "${BIN}"
cat >"${SRC}/go.mod" <<'EOF'
module plex.local/tools/krew

go 1.22
EOF
rm -f "${SRC}/go.sum"
cat >"${SRC}/tools.go" <<'EOF'
//go:build tools

// Package tools pins the Krew command so that this module can build it.
package tools

import _ "sigs.k8s.io/krew/cmd/krew"
EOF

# Krew's `version` prints what these are set to; its release builds set them
# the same way (hack/make-binary.sh).
ldflags="-s -w -X sigs.k8s.io/krew/internal/version.gitTag=${KREW_VERSION} -X sigs.k8s.io/krew/internal/version.gitCommit=module-proxy"
(
  cd "${SRC}"
  go get "sigs.k8s.io/krew/cmd/krew@${KREW_VERSION}" >&2
  go build -trimpath -ldflags "${ldflags}" -o "${BIN}/kubectl-krew.tmp" sigs.k8s.io/krew/cmd/krew
)
mv "${BIN}/kubectl-krew.tmp" "${BIN}/kubectl-krew"
echo "${recipe}" >"${BIN}/.stamp"
printf 'krew: built kubectl-krew %s in %.1fs\n' "${KREW_VERSION}" "$(echo "${EPOCHREALTIME} - ${start}" | bc)" >&2
echo "${BIN}"
