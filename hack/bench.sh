#!/usr/bin/env bash
# bench.sh — the figures `make bench` reports, each the median of RUNS runs on
# the harness incusd:
#   - kubectl plex up to all nodes Ready, for 1+1, 1+2 and 1+4 workers;
#   - kubectl plex join of one worker;
#   - a plain `incus launch` of the same 3 instances (1+2), to running, for
#     comparison with plex's node creation.
# Timings are reported, never asserted. Uses the plex "plexbench" at
# addresses 10.212.0.151+, apart from the demo and the e2e plexes.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
BIN=${BIN:-bin/kubectl-plex}
work=$(mktemp -d)
trap 'rm -rf "$work"; $BIN down plexbench --kubeconfig "$work/kc" >/dev/null 2>&1 || true' EXIT
export KUBECONFIG="$work/kc"

spec() { # spec WORKERS
  cat >"$work/bench.yaml" <<YAML
apiVersion: plex.dev/v1alpha1
kind: PlexConfig
plexes:
- name: plexbench
  storagePool: plex
  network: plexbr0
  nodeSubnet: 10.212.0.0/24
  addressOffset: 150
  podSubnet: 10.212.192.0/18
  serviceSubnet: 10.212.160.0/20
  registryMirror: http://10.212.0.1:5000
  nodes:
  - base: debian12
    indices: "1-$((1 + $1))"
YAML
}

median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.1f", m}'; }
now() { date +%s.%N; }
since() { awk -v s="$1" -v e="$(now)" 'BEGIN {printf "%.2f\n", e-s}'; }

declare -A result
for workers in 1 2 4; do
  spec "$workers"
  times=()
  for _ in $(seq "$RUNS"); do
    $BIN down plexbench >/dev/null
    t=$(now); $BIN up -f "$work/bench.yaml" >"$work/up.log" 2>&1 || { cat "$work/up.log"; exit 1; }
    times+=("$(since "$t")")
  done
  result["up 1+$workers"]=$(printf '%s\n' "${times[@]}" | median)
  echo "up 1+$workers: ${times[*]} s"
  if [ "$workers" = 2 ]; then
    jt=()
    for i in $(seq "$RUNS"); do
      idx=$((3 + i))
      t=$(now); $BIN join -f "$work/bench.yaml" plexbench "$idx" >"$work/join.log" 2>&1 || { cat "$work/join.log"; exit 1; }
      jt+=("$(since "$t")")
    done
    result["join 1 worker"]=$(printf '%s\n' "${jt[@]}" | median)
    echo "join: ${jt[*]} s"
  fi
done
$BIN down plexbench >/dev/null

lt=()
for _ in $(seq "$RUNS"); do
  t=$(now)
  for i in 1 2 3; do incus launch debian12_kube "plexbench-launch$i" -p default -p plex-kube -q & done
  wait
  lt+=("$(since "$t")")
  incus delete --force plexbench-launch1 plexbench-launch2 plexbench-launch3
done
result["incus launch x3"]=$(printf '%s\n' "${lt[@]}" | median)
echo "incus launch x3: ${lt[*]} s"

echo
echo "== plex bench (median of $RUNS runs, seconds)"
for k in "up 1+1" "up 1+2" "up 1+4" "join 1 worker" "incus launch x3"; do
  printf '%-18s %s\n' "$k" "${result[$k]}"
done
awk -v a="${result["up 1+4"]}" -v b="${result["up 1+1"]}" 'BEGIN {printf "%-18s %.2f (goal <= 1.3)\n", "1+4 / 1+1", a/b}'
