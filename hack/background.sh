#!/usr/bin/env bash
# background.sh LOG CMD [ARG…] — start CMD in the background at the lowest CPU
# and I/O priority (nice 19, ionice idle), its output in LOG, and return at once.
#
# `make test` starts the Flux build this way before the tests: on a fresh
# machine the tests leave most of a core idle for minutes (incusd, boots, waits
# for Ready), and the build fills that time instead of running alone after
# them. At nice 19 it yields the CPU to the tests and the nodes whenever they
# want it. The build takes its cache's lock, so the later foreground run of the
# same script waits for it (and says so), then finds the cache fresh; if the
# background build failed, the foreground run builds again and shows why.
# A Ctrl-C of make does not stop it (a background job ignores SIGINT); it
# finishes filling the cache, which the next run uses.
set -euo pipefail
[[ $# -ge 2 ]] || { echo "usage: background.sh LOG CMD [ARG…]" >&2; exit 2; }
log="$1"; shift
mkdir -p "$(dirname "${log}")"
nice -n 19 ionice -c 3 "$@" >"${log}" 2>&1 </dev/null &
echo "background: $* (pid $!, nice 19; exits at once if its cache is fresh); log ${log}"
