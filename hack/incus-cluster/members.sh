# shellcheck shell=bash
# The cluster's members: one incusd per network namespace, bootstrapped and
# joined by preseed, a client remote for it in a throwaway INCUS_CONF, a
# cluster group, and the images copied from the standalone daemon. Sourced by
# hack/incus-cluster.sh.

member_dir() { echo "$PLEX_CLUSTER_DIR/$1"; }

# mincus MEMBER ARGS... runs the incus CLI against one member's unix socket,
# with a client config of its own so the user's is never read or written.
mincus() {
  local m=$1
  shift
  env "INCUS_DIR=$(member_dir "$m")" "INCUS_SOCKET=$(member_dir "$m")/unix.socket" \
    "INCUS_CONF=$PLEX_CLUSTER_DIR/admin" incus "$@"
}

# mincus_timeout SECONDS MEMBER ARGS... is mincus bounded in time.
mincus_timeout() {
  local s=$1 m=$2
  shift 2
  timeout "$s" env "INCUS_DIR=$(member_dir "$m")" "INCUS_SOCKET=$(member_dir "$m")/unix.socket" \
    "INCUS_CONF=$PLEX_CLUSTER_DIR/admin" incus "$@"
}

# cl ARGS... runs the incus CLI with the throwaway client config, where
# "local" is the standalone daemon and $PLEX_CLUSTER_REMOTE the cluster.
cl() { INCUS_CONF=$CLUSTER_CONF incus "$@"; }

member_answers() {
  [[ -S $(member_dir "$1")/unix.socket ]] && mincus_timeout 5 "$1" query /1.0 >/dev/null 2>&1
}

# member_pid prints the pid of the member's incusd (see incusd_pid).
member_pid() { INCUS_DIR=$(member_dir "$1") incusd_pid; }

member_start() {
  local m=$1 dir ns log
  dir=$(member_dir "$m")
  ns=$(ns_name "$m")
  log=$dir/incusd.log
  if member_answers "$m"; then
    say "$m: incusd answering (pid $(member_pid "$m" || echo '?'))"
    return 0
  fi
  if member_pid "$m" >/dev/null; then
    say "$m: incusd pid $(member_pid "$m") is not answering yet; waiting"
  else
    mkdir -p "$dir/cgroup-aside" "$PLEX_CLUSTER_DIR/admin"
    rm -f "$dir/unix.socket"
    # `ip netns exec` would remount /sys and lose /sys/fs/cgroup, and every
    # container's systemd would then die. So: enter the network namespace,
    # take a private (slave) mount namespace, set the cgroup tree aside,
    # mount a sysfs that shows this namespace's devices, and put the cgroup
    # tree back on it. The bash that starts it stays its parent and reaps it.
    (
      ulimit -n 1048576 2>/dev/null || true
      ulimit -u unlimited 2>/dev/null || true
      export PATH=/usr/libexec/incus:$PATH INCUS_DIR=$dir ASIDE=$dir/cgroup-aside LOG=$log
      unset INCUS_SOCKET INCUS_CONF
      if [[ -n $PLEX_INCUSD_PROXY ]]; then
        export http_proxy=$PLEX_INCUSD_PROXY https_proxy=$PLEX_INCUSD_PROXY
        export no_proxy=127.0.0.1,localhost,$PLEX_SUPERNET
      fi
      # shellcheck disable=SC2016 # expanded by the inner shell
      exec setsid bash -c '
        nsenter --net="$1" unshare --mount --propagation slave sh -ec "
          mount --rbind /sys/fs/cgroup \"\$ASIDE\"
          mount -t sysfs sysfs /sys
          mount --move \"\$ASIDE\" /sys/fs/cgroup
          exec /usr/libexec/incus/incusd --group root --logfile \"\$LOG\"
        "
        echo "$?" >"$INCUS_DIR/incusd.exit"
      ' plexcl-supervisor "/run/netns/$ns" </dev/null >>"$dir/incusd.stderr" 2>&1 8>&- 9>&-
    ) &
  fi
  if ! run_logged "incus-cluster-$m-waitready" mincus "$m" admin waitready --timeout=60; then
    tail -n 20 "$log" "$dir/incusd.stderr" 2>/dev/null | sed 's/^/      | /' >&2
    die "$m: incusd did not start; see $log"
  fi
  say "$m: started incusd (pid $(member_pid "$m" || echo '?'), log $log)"
}

members_start() {
  local m
  for m in "${MEMBERS[@]}"; do member_start "$m"; done
}

member_clustered() {
  mincus "$1" query /1.0 2>/dev/null | grep -q '"server_clustered": true'
}

member_in_cluster() { # member_in_cluster M: the first member lists M
  mincus "${MEMBERS[0]}" cluster list -f csv -c n 2>/dev/null | grep -qx "$1"
}

pool_member_config() {
  if [[ $PLEX_CLUSTER_POOL_DRIVER == btrfs ]]; then
    cat <<EOF
  - {entity: storage-pool, name: $PLEX_CLUSTER_POOL, key: size, value: $PLEX_CLUSTER_POOL_SIZE}
EOF
  fi
  cat <<EOF
  - {entity: storage-pool, name: $PLEX_CLUSTER_POOL, key: source, value: ""}
EOF
}

pool_config() {
  if [[ $PLEX_CLUSTER_POOL_DRIVER == btrfs ]]; then
    echo "config: {size: $PLEX_CLUSTER_POOL_SIZE}"
  else
    echo "config: {}"
  fi
}

# run_logged redirects stdin from /dev/null, so preseeds go through a file.
preseed() { # preseed MEMBER FILE
  mincus "$1" admin init --preseed <"$2"
}

cluster_join() {
  local m=$1 token file
  token=$(mincus "${MEMBERS[0]}" cluster add "$m" --quiet)
  file=$(member_dir "$m")/join.yaml
  cat >"$file" <<EOF
cluster:
  enabled: true
  server_name: $m
  server_address: $(member_addr "$m"):8443
  cluster_token: $token
  member_config:
$(pool_member_config)
EOF
  run_logged "incus-cluster-$m-join" preseed "$m" "$file"
  rm -f "$file"
  say "$m: joined ($(member_addr "$m"):8443)"
}

cluster_form() {
  local m first=${MEMBERS[0]}
  if member_clustered "$first"; then
    say "$first: clustered"
  else
    local file
    file=$(member_dir "$first")/init.yaml
    cluster_bootstrap_file >"$file"
    run_logged "incus-cluster-$first-init" preseed "$first" "$file"
    rm -f "$file"
    say "$first: bootstrapped the cluster ($(member_addr "$first"):8443, pool $PLEX_CLUSTER_POOL: $PLEX_CLUSTER_POOL_DRIVER)"
  fi
  for m in "${MEMBERS[@]:1}"; do
    if member_in_cluster "$m"; then
      say "$m: member"
    else
      cluster_join "$m"
    fi
  done
  wait_members_online
}

cluster_bootstrap_file() {
  local m=${MEMBERS[0]}
  cat <<EOF
config:
  core.https_address: $(member_addr "$m"):8443
  images.auto_update_interval: "0"
cluster:
  server_name: $m
  enabled: true
storage_pools:
- name: $PLEX_CLUSTER_POOL
  driver: $PLEX_CLUSTER_POOL_DRIVER
  $(pool_config)
profiles:
- name: default
  devices:
    root: {type: disk, path: /, pool: $PLEX_CLUSTER_POOL}
    eth0: {type: nic, name: eth0, nictype: bridged, parent: br0}
EOF
}

wait_members_online() {
  local list
  for _ in {1..60}; do
    list=$(mincus "${MEMBERS[0]}" cluster list -f csv -c ns 2>/dev/null || true)
    if (($(grep -c ',ONLINE$' <<<"$list") == ${#MEMBERS[@]})); then
      say "online: $(cut -d, -f1 <<<"$list" | paste -sd' ')"
      return 0
    fi
    sleep 1
  done
  die "not every member came online: $(tr '\n' ' ' <<<"$list")"
}

client_remote() {
  local token
  mkdir -p "$CLUSTER_CONF"
  if cl remote list -f csv 2>/dev/null | grep -q "^$PLEX_CLUSTER_REMOTE\b" &&
    timeout 10 env "INCUS_CONF=$CLUSTER_CONF" incus query "$PLEX_CLUSTER_REMOTE:/1.0" >/dev/null 2>&1; then
    say "remote $PLEX_CLUSTER_REMOTE answers"
    return 0
  fi
  cl remote remove "$PLEX_CLUSTER_REMOTE" >/dev/null 2>&1 || true
  token=$(mincus "${MEMBERS[0]}" config trust add plex-harness-client --quiet)
  run_logged incus-cluster-remote cl remote add "$PLEX_CLUSTER_REMOTE" "$token"
  say "added remote $PLEX_CLUSTER_REMOTE (https://$(member_addr "${MEMBERS[0]}"):8443) to $CLUSTER_CONF/config.yml"
}

cluster_group() {
  local last=${MEMBERS[${#MEMBERS[@]} - 1]}
  if ! cl cluster group show "$PLEX_CLUSTER_REMOTE:$PLEX_CLUSTER_GROUP" >/dev/null 2>&1; then
    cl cluster group create "$PLEX_CLUSTER_REMOTE:$PLEX_CLUSTER_GROUP" >/dev/null
  fi
  if ! cl cluster group show "$PLEX_CLUSTER_REMOTE:$PLEX_CLUSTER_GROUP" | grep -qx -- "- $last"; then
    cl cluster group add "$PLEX_CLUSTER_REMOTE:$last" "$PLEX_CLUSTER_GROUP" >/dev/null
  fi
  say "@$PLEX_CLUSTER_GROUP = $last"
}

# alias_fp REMOTE ALIAS prints the fingerprint an image alias points at.
alias_fp() {
  { cl query "$1:/1.0/images/aliases/$2" 2>/dev/null || true; } | sed -n 's/^[[:space:]]*"target":[[:space:]]*"\([0-9a-f]*\)".*/\1/p'
}

# cluster_images copies the standalone daemon's images to the cluster (in
# relay mode: the standalone daemon has no network address), keeping each
# alias on the same fingerprint, and deletes an image an alias left.
cluster_images() {
  local alias fp have
  for alias in $PLEX_CLUSTER_IMAGES; do
    fp=$(alias_fp local "$alias")
    if [[ -z $fp ]]; then
      warn "image $alias is not on the standalone daemon; not copied (bake it, then run up again)"
      continue
    fi
    have=$(alias_fp "$PLEX_CLUSTER_REMOTE" "$alias")
    if [[ $have == "$fp" ]]; then
      say "image $alias -> ${fp:0:12} is current"
      continue
    fi
    if [[ -n $have ]]; then
      cl image alias delete "$PLEX_CLUSTER_REMOTE:$alias"
      cl image delete "$PLEX_CLUSTER_REMOTE:$have" 2>/dev/null || true
    fi
    local t
    t=$(now_us)
    if cl query "$PLEX_CLUSTER_REMOTE:/1.0/images/$fp" >/dev/null 2>&1; then
      cl image alias create "$PLEX_CLUSTER_REMOTE:$alias" "$fp"
    else
      run_logged "incus-cluster-image-$alias" cl image copy "local:$fp" "$PLEX_CLUSTER_REMOTE:" --mode relay --alias "$alias"
    fi
    say "image $alias -> ${fp:0:12} copied ${have:+(was ${have:0:12}) }$(since "$t") s"
  done
}

# --- down ---------------------------------------------------------------------

cluster_delete_instances() {
  local name project n=0
  if ! member_answers "${MEMBERS[0]}"; then
    say "${MEMBERS[0]} is not answering; nothing to delete through it"
    return 0
  fi
  while IFS=, read -r name project; do
    [[ -n $name ]] || continue
    mincus "${MEMBERS[0]}" delete --force --project "$project" "$name" &
    n=$((n + 1))
  done < <(mincus "${MEMBERS[0]}" list --all-projects -f csv -c n,e 2>/dev/null)
  wait
  say "deleted $n instance(s)"
}

member_stop() {
  local m=$1 pid
  pid=$(member_pid "$m") || {
    say "$m: no incusd"
    return 0
  }
  if member_answers "$m"; then
    mincus_timeout 60 "$m" admin shutdown >/dev/null 2>&1 || true
  fi
  for _ in {1..100}; do
    process_gone "$pid" && break
    sleep 0.1
  done
  if ! process_gone "$pid"; then
    kill "$pid" 2>/dev/null || true
    for _ in {1..50}; do
      process_gone "$pid" && break
      sleep 0.1
    done
  fi
  process_gone "$pid" || die "$m: incusd (pid $pid) did not stop"
  say "$m: stopped incusd (pid $pid)"
}

# process_gone is true for a pid that has exited (a zombie counts: PID 1 here
# reaps orphans lazily).
process_gone() {
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 0
  [[ $state == Z || $state == X ]]
}

members_stop() {
  local i
  # The last member first: the first one holds the database leader role.
  for ((i = ${#MEMBERS[@]} - 1; i >= 0; i--)); do member_stop "${MEMBERS[$i]}"; done
  sweep_monitors
}

# sweep_monitors kills container monitors a killed member left behind, and
# the containers they watched, so their cgroups can go. Normal runs have none:
# instances are deleted before the daemons stop.
sweep_monitors() {
  local d cmd name cg n=0
  for d in /proc/[0-9]*; do
    cmd=$({ tr '\0' ' ' <"$d/cmdline"; } 2>/dev/null) || continue
    [[ $cmd == "[lxc monitor] $PLEX_CLUSTER_DIR/"* ]] || continue
    name=${cmd##* }
    name=${name%% }
    warn "leftover container monitor ${d#/proc/} for $name; killing it and its container"
    for cg in /sys/fs/cgroup/*/lxc.payload."$name" /sys/fs/cgroup/lxc.payload."$name"; do
      [[ -e $cg/cgroup.procs ]] || continue
      xargs -r kill -9 <"$cg/cgroup.procs" 2>/dev/null || true
    done
    kill -9 "${d#/proc/}" 2>/dev/null || true
    n=$((n + 1))
  done
  ((n == 0)) || sleep 1
}

cluster_remove_state() {
  local loop
  if [[ ! -d $PLEX_CLUSTER_DIR ]]; then
    say "$PLEX_CLUSTER_DIR is gone"
    return 0
  fi
  # The members' mounts lived in their own mount namespaces and went with
  # them; a loop device may stay attached to a pool file if something held it.
  while read -r loop; do
    [[ -n $loop ]] || continue
    losetup -d "$loop" && say "detached $loop"
  done < <(losetup -nO NAME,BACK-FILE 2>/dev/null | awk -v d="$PLEX_CLUSTER_DIR/" 'index($2, d) == 1 {print $1}')
  if findmnt -rn -o TARGET | grep -qF "$PLEX_CLUSTER_DIR/"; then
    die "something is still mounted below $PLEX_CLUSTER_DIR; not removing it: $(findmnt -rn -o TARGET | grep -F "$PLEX_CLUSTER_DIR/" | head -3 | tr '\n' ' ')"
  fi
  rm -rf --one-file-system "$PLEX_CLUSTER_DIR"
  say "removed $PLEX_CLUSTER_DIR"
}
