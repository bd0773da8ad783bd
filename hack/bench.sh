#!/usr/bin/env bash
# bench.sh — the figures `make bench` reports, each the median of RUNS runs on
# the harness incusd:
#   - kubectl plex up to all nodes Ready, for 1+1, 1+2, 1+4 and 1+8 workers
#     (WORKERS), with the status lines of one 1+2 up as its phase breakdown,
#     and each node's memory (RSS of kubelet, containerd and the static
#     pods) in the largest plex;
#   - kubectl plex join of one worker, into a 1+2 plex whose kube-system
#     pods are Ready;
#   - the CPU time each up and join used, host-wide, with the nodes' share
#     (their containers' cgroups) and the host side's (incusd, plex): on
#     2 cores, half of it is the least wall time the same work could take.
#     `hack/bench.sh scale` runs the ups, the joins and the memory alone;
#   - incus plexbake: an unchanged re-bake, and a cold bake (--force), of
#     the debian12_kube node image, and its size as Incus stores it;
#   - a plain `incus launch` of the same 3 instances (1+2), to running, for
#     comparison with plex's node creation;
#   - kubectl plex snapshot of a 1+2 plex, kubectl plex restore of it to all
#     nodes Ready, and the disk one snapshot of the 3 nodes uses on the btrfs
#     pool (exclusive bytes: right after it is taken, and a minute after the
#     plex was restored to it, when the nodes have written over what the
#     snapshot holds).
#   - the container runtime: up 1+2 (median) on debian12_kube (containerd
#     2.x and runc from their releases) beside debian12_kube_distro, baked
#     with the base's packaged containerd 1.6 and runc. `hack/bench.sh
#     runtime` runs this comparison (and the BASES rows below) alone.
#   - the control-plane images preloaded: debian12_kube_preload, baked with
#     --preload-images (from PRELOAD_MIRROR, the harness registry): its cold
#     bake (one run) and size, up 1+2 and a join (medians), beside the same
#     up and join from debian12_kube. `hack/bench.sh preload` runs this alone.
#   - optionally, up 1+2 from other bases too, and their node image's size:
#     BASES="debian12 debian13" adds the rows "up 1+2 debian13_kube" and
#     "image MiB debian13" (it bakes debian13_kube if needed; the base image
#     comes from hack/harness.sh base debian13).
# Timings are reported, never asserted. Uses the plex "plexbench" at
# addresses 10.212.0.151+, apart from the demo and the e2e plexes.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
WORKERS=${WORKERS:-1 2 4 8}
BASES=${BASES:-debian12}
BIN=${BIN:-bin/kubectl-plex}
BAKE=${BAKE:-bin/incus-plexbake}
KUBE_VERSION=${KUBE_VERSION:-v1.34.4}
PLEX_CACHE=${PLEX_CACHE:-/var/cache/plex-dev}
APT_PROXY=${APT_PROXY:-http://10.212.0.1:3142}
CONTAINERD_VERSION=${CONTAINERD_VERSION:-v2.4.2}
RUNC_VERSION=${RUNC_VERSION:-v1.5.3}
RUNTIME_ARTIFACTS=${RUNTIME_ARTIFACTS:-$PLEX_CACHE/runtime/$CONTAINERD_VERSION-$RUNC_VERSION/bin}
PRELOAD_MIRROR=${PRELOAD_MIRROR:-http://10.212.0.1:5000}
KUBECTL=${KUBECTL:-$PLEX_CACHE/k8s/$KUBE_VERSION/bin/kubectl}
MODE=${1:-all}
case $MODE in all | runtime | preload | scale) ;; *) echo "usage: hack/bench.sh [all|runtime|preload|scale]" >&2; exit 2 ;; esac
work=$(mktemp -d)
trap 'rm -rf "$work"; $BIN down plexbench --kubeconfig "$work/kc" >/dev/null 2>&1 || true' EXIT
export KUBECONFIG="$work/kc"

spec() { # spec WORKERS [IMAGE]
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
    indices: "1-$((1 + $1))"${2:+
    image: $2}
YAML
}

median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.1f", m}'; }
now() { date +%s.%N; }
since() { awk -v s="$1" -v e="$(now)" 'BEGIN {printf "%.2f\n", e-s}'; }

declare -A result

# CPU time, to tell work from waiting: cpu_mark prints the host's busy CPU
# time and the plexbench nodes' (their containers' cgroups), in seconds;
# cpu_since MARK prints "TOTAL NODES HOST" used since. On 2 cores, TOTAL/2
# is the least wall time the same work could take.
cpu_mark() {
  local host nodes=0 f
  host=$(awk -v hz="$(getconf CLK_TCK)" '/^cpu / {printf "%.2f", ($2+$3+$4+$7+$8+$9)/hz}' /proc/stat)
  for f in /sys/fs/cgroup/cpuacct/lxc.payload.plexbench*/cpuacct.usage; do # cgroup v1, ns
    [ -e "$f" ] && nodes=$(awk -v a="$nodes" -v b="$(cat "$f")" 'BEGIN {printf "%.2f", a+b/1e9}')
  done
  for f in /sys/fs/cgroup/lxc.payload.plexbench*/cpu.stat; do # cgroup v2, µs
    [ -e "$f" ] && nodes=$(awk -v a="$nodes" '$1 == "usage_usec" {printf "%.2f", a+$2/1e6}' "$f")
  done
  echo "$host $nodes"
}
cpu_since() {
  read -r h0 n0 <<<"$1"
  read -r h1 n1 <<<"$(cpu_mark)"
  awk -v h="$h1" -v h0="$h0" -v n="$n1" -v n0="$n0" 'BEGIN {printf "%.1f %.1f %.1f\n", h-h0, n-n0, (h-h0)-(n-n0)}'
}
# memory NODES...: each node's RSS (MiB) of kubelet, containerd and the
# control plane's static pods, from ps in the node.
memory() {
  local n
  printf '%-14s %s\n' node "RSS MiB by process"
  for n in "$@"; do
    incus exec "$n" -- ps -o rss=,comm= -C kubelet,containerd,kube-apiserver,etcd,kube-controller,kube-scheduler,kube-proxy,coredns 2>/dev/null |
      awk -v n="$n" '{m[$2]+=$1; t+=$1} END {printf "%-14s total %.0f:", n, t/1024; for (k in m) printf " %s %.0f", k, m[k]/1024; print ""}'
  done
}

# bake [BASE] [FLAGS...]: the kube image of BASE (default debian12), named
# BASE_kube unless --alias says otherwise.
bake() {
  local base=debian12
  if [[ -n ${1:-} && ${1:-} != -* ]]; then base=$1 && shift; fi
  $BAKE bake kube "$base" --kubernetes-version "$KUBE_VERSION" \
    --kube-artifacts "$PLEX_CACHE/k8s/$KUBE_VERSION/bin" --apt-proxy "$APT_PROXY" "$@" >"$work/bake.log" 2>&1 ||
    { cat "$work/bake.log"; exit 1; }
}
release_runtime=(--containerd-version "$CONTAINERD_VERSION" --runc-version "$RUNC_VERSION" --runtime-artifacts "$RUNTIME_ARTIFACTS")

# ups ROW: RUNS ups of the spec from a plex that is down; ROW gets the
# median and the times are printed, "ROW CPU" the median CPU seconds, with
# each run's share of the nodes and of the host (incusd, plex). The last
# up's log is $work/up.log.
ups() {
  local t c cpu times=() cpus=()
  for _ in $(seq "$RUNS"); do
    $BIN down plexbench >/dev/null
    c=$(cpu_mark)
    t=$(now); $BIN up -f "$work/bench.yaml" >"$work/up.log" 2>&1 || { cat "$work/up.log"; exit 1; }
    times+=("$(since "$t")")
    cpu=$(cpu_since "$c")
    cpus+=("${cpu%% *}")
    echo "  CPU s: total, nodes, host side: $cpu"
  done
  result["$1"]=$(printf '%s\n' "${times[@]}" | median)
  result["$1 CPU"]=$(printf '%s\n' "${cpus[@]}" | median)
  echo "$1: ${times[*]} s"
}

# settle: wait until the plex's kube-system pods are Ready (CoreDNS,
# kube-proxy), so that a join is timed on its own and not beside the end of
# the up before it.
settle() {
  "$KUBECTL" --context plex-plexbench wait --for=condition=Ready pods --all -n kube-system --timeout=180s >/dev/null ||
    echo "  (kube-system pods not all Ready within 180 s; timing the joins all the same)"
}

# joins ROW: RUNS joins of one worker each (indices 4, 5, …) into the 1+2
# plex of $work/bench.yaml that is up, once it has settled; ROW gets the
# median, "ROW CPU" the median CPU seconds.
joins() {
  local t c cpu i jt=() cpus=()
  for i in $(seq "$RUNS"); do
    settle
    c=$(cpu_mark)
    t=$(now); $BIN join -f "$work/bench.yaml" plexbench "$((3 + i))" >"$work/join.log" 2>&1 || { cat "$work/join.log"; exit 1; }
    jt+=("$(since "$t")")
    cpu=$(cpu_since "$c")
    cpus+=("${cpu%% *}")
    echo "  CPU s: total, nodes, host side: $cpu"
  done
  result["$1"]=$(printf '%s\n' "${jt[@]}" | median)
  result["$1 CPU"]=$(printf '%s\n' "${cpus[@]}" | median)
  echo "$1: ${jt[*]} s"
}

# up_image IMAGE: up 1+2 from IMAGE, RUNS times; the median goes in the row
# "up 1+2 IMAGE", with the phases of the last run and the runtime it shows.
up_image() {
  spec 2 "$1"
  ups "up 1+2 $1"
  echo "runtime: $($BIN status plexbench | awk 'NR == 2 {print $NF}'); phases of the last up:"
  grep '✓' "$work/up.log" | sed 's/^/  /'
  $BIN down plexbench >/dev/null
}

# runtime_compare: up 1+2 on the image with containerd 2.x beside the one
# with the base's containerd 1.6.
runtime_compare() {
  bake "${release_runtime[@]}"
  bake --containerd-version distro --alias debian12_kube_distro
  up_image debian12_kube
  up_image debian12_kube_distro
}

# up_join IMAGE: up 1+2 from IMAGE, RUNS times, then RUNS joins of one
# worker into the last one; rows "up 1+2 IMAGE" and "join IMAGE".
up_join() {
  spec 2 "$1"
  ups "up 1+2 $1"
  joins "join $1"
  echo "phases of the last up from $1:"
  grep '✓' "$work/up.log" | sed 's/^/  /'
  $BIN down plexbench >/dev/null
}

# preload_compare [both]: debian12_kube_preload (one cold bake with
# --preload-images), up 1+2 and join from it; with "both", from
# debian12_kube too (the full run has those as "up 1+2" and "join 1 worker").
preload_compare() {
  local t
  bake "${release_runtime[@]}"
  t=$(now)
  bake "${release_runtime[@]}" --preload-images --preload-mirror "$PRELOAD_MIRROR" --alias debian12_kube_preload --force
  result["cold bake preload"]=$(since "$t")
  result["image MiB preload"]=$(incus image list debian12_kube_preload -f csv -c s | sed 's/MiB//' | head -n1)
  echo "cold bake preload: ${result["cold bake preload"]} s; image ${result["image MiB preload"]} MiB"
  if [ "${1:-}" = both ]; then up_join debian12_kube; fi
  up_join debian12_kube_preload
}
preload_rows=("up 1+2 debian12_kube" "join debian12_kube" "up 1+2 debian12_kube_preload" "join debian12_kube_preload" "cold bake preload" "image MiB preload")

# other_bases: up 1+2 from each base of BASES but debian12, and its image size.
extra=()
other_bases() {
  local base
  for base in $BASES; do
    [ "$base" = debian12 ] && continue
    extra+=("up 1+2 ${base}_kube" "image MiB $base")
    bake "$base" "${release_runtime[@]}"
    up_image "${base}_kube"
    result["image MiB $base"]=$(incus image list "${base}_kube" -f csv -c s | sed 's/MiB//' | head -n1)
  done
}

if [ "$MODE" = runtime ]; then
  runtime_compare
  other_bases
  echo
  echo "== plex bench: container runtime and bases (median of $RUNS runs, seconds)"
  for k in "up 1+2 debian12_kube" "up 1+2 debian12_kube_distro" "${extra[@]}"; do printf '%-30s %s\n' "$k" "${result[$k]}"; done
  exit 0
fi

if [ "$MODE" = preload ]; then
  preload_compare both
  echo
  echo "== plex bench: control-plane images preloaded (median of $RUNS runs, seconds)"
  for k in "${preload_rows[@]}"; do printf '%-30s %s\n' "$k" "${result[$k]}"; done
  exit 0
fi

last=""
for workers in $WORKERS; do
  last=$workers
  spec "$workers"
  ups "up 1+$workers"
  if [ "$workers" = 2 ]; then
    echo "phases of the last up 1+2:"
    grep '✓' "$work/up.log" | sed 's/^/  /'
  fi
  if [ "$workers" = 2 ]; then joins "join 1 worker"; fi
done
nodes=()
for i in $(seq 1 $((1 + last))); do nodes+=("plexbench$i"); done
echo "memory of the plex 1+$last:"
memory "${nodes[@]}" | sed 's/^/  /'
$BIN down plexbench >/dev/null

# table KEYS...: the rows that have a result, then the scale ratio.
table() {
  local k
  for k in "$@"; do
    if [ -n "${result[$k]:-}" ]; then printf '%-22s %s\n' "$k" "${result[$k]}"; fi
  done
  if [ "$last" != 1 ] && [ -n "${result["up 1+1"]:-}" ]; then
    awk -v a="${result["up 1+$last"]}" -v b="${result["up 1+1"]}" -v n="$last" 'BEGIN {printf "%-22s %.2f (goal <= 1.4 for 1+8)\n", "1+" n " / 1+1", a/b}'
  fi
}
scale_rows=("up 1+1" "up 1+2" "up 1+4" "up 1+8" "join 1 worker" "up 1+1 CPU" "up 1+2 CPU" "up 1+4 CPU" "up 1+8 CPU" "join 1 worker CPU")
if [ "$MODE" = scale ]; then
  echo
  echo "== plex bench: up and join (median of $RUNS runs, seconds; CPU: seconds of CPU time used, host-wide)"
  table "${scale_rows[@]}"
  exit 0
fi

# plexbake: an unchanged re-bake (nothing to do), then a cold bake.
bake "${release_runtime[@]}"
bt=() ct=()
for _ in $(seq "$RUNS"); do t=$(now); bake "${release_runtime[@]}"; bt+=("$(since "$t")"); done
for _ in $(seq "${BAKE_RUNS:-$RUNS}"); do t=$(now); bake "${release_runtime[@]}" --force; ct+=("$(since "$t")"); done
result["re-bake unchanged"]=$(printf '%s\n' "${bt[@]}" | median)
result["cold bake"]=$(printf '%s\n' "${ct[@]}" | median)
result["image MiB"]=$(incus image list debian12_kube -f csv -c s | sed 's/MiB//' | head -n1)
echo "re-bake unchanged: ${bt[*]} s; cold bake: ${ct[*]} s; image ${result["image MiB"]} MiB"

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

# snapshot and restore of a 1+2 plex.
POOL_DIR=${POOL_DIR:-/var/lib/incus/storage-pools/plex}
snapdu() { # snapdu SNAP: exclusive bytes of the plex's 3 node snapshots
  local total=0 b
  for i in 1 2 3; do
    b=$(btrfs filesystem du -s --raw "$POOL_DIR/containers-snapshots/plexbench$i/$1" | awk 'NR==2 {print $2}')
    total=$((total + b))
  done
  awk -v b="$total" 'BEGIN {printf "%.1f\n", b/1048576}'
}
spec 2
$BIN down plexbench >/dev/null
$BIN up -f "$work/bench.yaml" >"$work/up.log" 2>&1 || { cat "$work/up.log"; exit 1; }
st=() rt=()
for i in $(seq "$RUNS"); do
  t=$(now); $BIN snapshot plexbench "bench$i" >"$work/snap.log" 2>&1 || { cat "$work/snap.log"; exit 1; }
  st+=("$(since "$t")")
  [ "$i" = 1 ] && result["snapshot MiB, new"]=$(snapdu bench1)
  t=$(now); $BIN restore plexbench "bench$i" >"$work/restore.log" 2>&1 || { cat "$work/restore.log"; exit 1; }
  rt+=("$(since "$t")")
  grep -E 'restoring|Ready \(' "$work/restore.log" | sed 's/^/  /'
done
sleep 60
result["snapshot MiB, 1 min on"]=$(snapdu "bench$RUNS")
result["snapshot 1+2"]=$(printf '%s\n' "${st[@]}" | median)
result["restore 1+2"]=$(printf '%s\n' "${rt[@]}" | median)
echo "snapshot 1+2: ${st[*]} s; restore 1+2 to all Ready: ${rt[*]} s"
$BIN down plexbench >/dev/null

runtime_compare
preload_compare
other_bases

echo
echo "== plex bench (median of $RUNS runs, seconds; CPU: seconds of CPU time used, host-wide)"
table "${scale_rows[@]:0:5}" "re-bake unchanged" "cold bake" "image MiB" "incus launch x3" "snapshot 1+2" "restore 1+2" "snapshot MiB, new" "snapshot MiB, 1 min on" "up 1+2 debian12_kube" "up 1+2 debian12_kube_distro" "${preload_rows[@]:2}" "${extra[@]}" "${scale_rows[@]:5}"
