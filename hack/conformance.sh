#!/usr/bin/env bash
# conformance.sh — run the upstream Kubernetes conformance tests against a
# fresh plex, offline, the way the field runs them:
#
#   1. hack/conformance-images.sh        e2e.test, ginkgo and the suite's images
#   2. kubectl plex up                   the conformance plex (1+2, test/e2e/testdata/conformance.yaml)
#   3. pin the nodes' registries         every pull goes to the harness registry, none upstream
#   4. ginkgo, parallel                  label Conformance && !Serial, $CONFORMANCE_PROCS at once
#   5. ginkgo, serial                    label Conformance && Serial, one at a time
#   6. summary                           run/passed/failed/skipped, time, the failures
#   7. kubectl plex down                 unless CONFORMANCE_KEEP=1
#
# Everything lands in $PLEX_CACHE/conformance/<UTC time>/: kubeconfig,
# parallel/junit_01.xml, serial/junit_01.xml, *.log, summary.txt, summary.json.
#
# Environment:
#   CONFORMANCE_FOCUS   ginkgo --focus (default '\[Conformance\]'); a short run narrows it,
#                       e.g. 'Pods should get a host IP|DNS should provide DNS for services'
#                       (the label filter keeps it to conformance tests either way)
#   CONFORMANCE_SKIP    ginkgo --skip (default none)
#   CONFORMANCE_PROCS   parallel ginkgo processes (default 4: the 395 parallel specs took
#                       39 min on 2 cores; most of their time is waiting)
#   CONFORMANCE_SERIAL  0 to leave out the serial part (default 1)
#   CONFORMANCE_KEEP    1 to keep the plex afterwards (default 0: take it down)
#   CONFORMANCE_TIMEOUT ginkgo --timeout of each part (default 3h)
#   KUBE_VERSION (v1.34.4), PLEX_CACHE, PLEX_REGISTRY_ADDR, BIN (bin, for kubectl-plex)
set -euo pipefail

# shellcheck source=hack/lib/build.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/build.sh"
KUBE_VERSION="${KUBE_VERSION:-v1.34.4}"
REGISTRY="${ADDR}"
FOCUS="${CONFORMANCE_FOCUS:-\[Conformance\]}"
SKIP="${CONFORMANCE_SKIP:-}"
PROCS="${CONFORMANCE_PROCS:-4}"
TIMEOUT="${CONFORMANCE_TIMEOUT:-3h}"
SPEC="${REPO_DIR}/test/e2e/testdata/conformance.yaml"
PLEX=plexconf
PLEXCTL="${REPO_DIR}/${BIN:-bin}/kubectl-plex"
CBIN="${PLEX_CACHE}/conformance/${KUBE_VERSION}/bin"
KUBECTL="${PLEX_CACHE}/k8s/${KUBE_VERSION}/bin/kubectl"
OUT="${PLEX_CACHE}/conformance/$(date -u +%Y-%m-%dT%H%M%SZ)"
mkdir -p "${OUT}"
exec > >(tee -a "${OUT}/conformance.log") 2>&1

t0=${SECONDS}

# shellcheck disable=SC2016 # the quotes are printed, not parsed
echo "conformance: Kubernetes ${KUBE_VERSION}, focus '${FOCUS}'${SKIP:+, skip '${SKIP}'}, results in ${OUT}"

step "images"
"${HACK_DIR}/conformance-images.sh" "${KUBE_VERSION}"
done_step

# The plex's context goes into a kubeconfig of the run's own, not the user's.
export KUBECONFIG="${OUT}/kubeconfig-up"
down() {
  if [[ "${CONFORMANCE_KEEP:-0}" == 1 ]]; then
    echo "conformance: keeping plex ${PLEX} (CONFORMANCE_KEEP=1); take it down with: ${PLEXCTL} down ${PLEX}"
    return
  fi
  step "plex ${PLEX} down"
  "${PLEXCTL}" down "${PLEX}" -f "${SPEC}" || echo "conformance: taking ${PLEX} down failed; run: ${PLEXCTL} down ${PLEX}"
  done_step
}
trap down EXIT

step "plex ${PLEX} up (1+2)"
"${PLEXCTL}" up -f "${SPEC}" "${PLEX}"
"${PLEXCTL}" kubeconfig "${PLEX}" -f "${SPEC}" >"${OUT}/kubeconfig"
chmod 600 "${OUT}/kubeconfig"
done_step

# The spec's registryMirror sends registry.k8s.io to the harness registry but
# falls back to the real one for an image it lacks, and leaves every other
# registry alone. For the suite, no pull may leave the machine: the harness
# registry is the only host of registry.k8s.io and of every other registry
# (containerd's _default), and a missing image is a failed pull.
step "pin the nodes' image pulls to ${REGISTRY}"
mapfile -t nodes < <("${KUBECTL}" --kubeconfig "${OUT}/kubeconfig" get nodes -o name | sed 's,^node/,,')
hosts_toml="# Written by plex hack/conformance.sh: the harness registry only.
server = \"http://${REGISTRY}\"

[host.\"http://${REGISTRY}\"]
  capabilities = [\"pull\", \"resolve\"]
"
for n in "${nodes[@]}"; do
  for up in registry.k8s.io _default; do
    printf '%s' "${hosts_toml}" | incus exec "${n}" -- sh -c \
      "mkdir -p /etc/containerd/certs.d/${up} && cat >/etc/containerd/certs.d/${up}/hosts.toml"
  done
  echo "    ${n}: registry.k8s.io and _default → http://${REGISTRY}"
done
done_step

export KUBE_TEST_REPO_LIST="${HACK_DIR}/conformance/repo-list.yaml"

# part NAME LABEL_FILTER PROCS: one ginkgo run of e2e.test.
part() {
  local name="$1" labels="$2" procs="$3" rc=0
  step "${name}: ginkgo --procs=${procs} --label-filter='${labels}'"
  mkdir -p "${OUT}/${name}"
  local -a skip=()
  [[ -n "${SKIP}" ]] && skip=(--skip="${SKIP}")
  (cd "${OUT}/${name}" && nice -n 19 "${CBIN}/ginkgo" \
      --procs="${procs}" --focus="${FOCUS}" "${skip[@]}" --label-filter="${labels}" \
      --timeout="${TIMEOUT}" --no-color --silence-skips \
      "${CBIN}/e2e.test" -- \
      --kubeconfig="${OUT}/kubeconfig" --provider=skeleton --kubectl-path="${KUBECTL}" \
      --report-dir="${OUT}/${name}" --e2e-output-dir="${OUT}/${name}" \
      --dump-logs-on-failure=false) >"${OUT}/${name}.log" 2>&1 || rc=$?
  tail -n 5 "${OUT}/${name}.log" | sed 's/^/    /'
  echo "    ${name}: ginkgo exit ${rc} ($((SECONDS - step_start)) s)"
}

part parallel 'Conformance && !Serial' "${PROCS}"
if [[ "${CONFORMANCE_SERIAL:-1}" == 1 ]]; then
  part serial 'Conformance && Serial' 1
fi

step "summary"
reports=()
for r in "${OUT}"/parallel/junit_01.xml "${OUT}"/serial/junit_01.xml; do
  [[ -f "${r}" ]] && reports+=("${r}")
done
if ((${#reports[@]} == 0)); then
  echo "conformance: no JUnit report was written; see ${OUT}/*.log" >&2
  exit 1
fi
(cd "${REPO_DIR}" && go run ./hack/junitsummary -json "${OUT}/summary.json" "${reports[@]}") | tee "${OUT}/summary.txt"
echo "wall time $((SECONDS - t0)) s" | tee -a "${OUT}/summary.txt"
echo "conformance: results in ${OUT}"
failed="$(sed -n 's/.*"failed": \([0-9]*\),/\1/p' "${OUT}/summary.json")"
[[ "${failed}" == 0 ]]
