#!/usr/bin/env bash
# bench/run.sh - oxprof's benchmarks (issue 7), side by side with gperftools
# and perf, on the shared workload.  Called by `make bench`; BENCH_QUICK=1
# (`make bench-quick`) runs a short version.  Writes bench/RESULTS.md.
#
#   BENCH_QUICK=1      quick mode (~2-3 min instead of ~10-15)
#   BUILD_DIR=DIR      the CMake build tree (default: build)
#   BENCH_OUT=FILE     where to write the results (default: bench/RESULTS.md)
#   BENCH_ONLY=LIST    dev aid: matrix,fig4,fig5,fig6,fig7
#
# Needs: the agent built (build/agent/liboxprof.so); google-perftools,
# linux-perf, python3 (scripts/deps.sh bench); perf record works only as
# root on this machine (perf_event_paranoid).  The daemon parts run when
# build/daemon/oxprofd (and build/client/oxprofctl) exist.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
build=${BUILD_DIR:-$root/build}
case $build in /*) ;; *) build=$root/$build ;; esac
out=${BENCH_OUT:-$here/RESULTS.md}
quick=${BENCH_QUICK:-0}

die() { echo "bench: $*" >&2; exit 1; }

shared_wl=$root/../shared/bench/workload.c
[ -f "$shared_wl" ] || die "the shared workload is missing: expected $shared_wl
(the CI/dev layout checks out 'shared' beside this repository: …/shared/bench/workload.c)"
[ -f "$build/agent/liboxprof.so" ] ||
	die "$build/agent/liboxprof.so not built: cmake -S $root -B $build && cmake --build $build"
for t in perf google-pprof python3 gcc; do
	command -v "$t" >/dev/null || die "$t not found: run scripts/deps.sh bench"
done
[ -f /usr/lib/x86_64-linux-gnu/libprofiler.so ] ||
	die "libprofiler.so not found: run scripts/deps.sh bench"
[ "$(id -u)" -eq 0 ] || echo "bench: warning: not root; perf record may be refused" >&2

work=$build/bench-work
mkdir -p "$work"
# The yardstick, built as its README says.
gcc -O2 -g -fno-omit-frame-pointer -o "$work/workload" "$shared_wl" -lpthread -ldl

# Helpers: from the CMake tree (bench/CMakeLists.txt, target names oxload,
# sigcost, threadcpu) when the top level includes bench/, else built here.
helpers=$build/bench
if [ -x "$helpers/oxload" ] && [ -x "$helpers/sigcost" ] && [ -f "$helpers/libthreadcpu.so" ]; then
	cmake --build "$build" --target oxload sigcost threadcpu >/dev/null
else
	helpers=$work
	cflags=(-O2 -g -fno-omit-frame-pointer -std=gnu11 -D_GNU_SOURCE -Wall -Wextra
		-Wno-unused-parameter)
	gcc "${cflags[@]}" -I"$root/agent/include" -o "$helpers/sigcost" "$here/sigcost.c" -ldl
	gcc "${cflags[@]}" -shared -fPIC -o "$helpers/libthreadcpu.so" "$here/threadcpu.c" -ldl -lpthread
	if [ -f "$build/proto/liboxp.a" ]; then
		gcc "${cflags[@]}" -I"$root/proto/include" -o "$helpers/oxload" "$here"/oxload*.c \
			"$build/proto/liboxp.a" $(pkg-config --libs msgpack)
	else
		echo "bench: $build/proto/liboxp.a missing: daemon figures will be skipped" >&2
	fi
fi

cmd="make bench"
[ "$quick" = 1 ] && cmd="make bench-quick   # BENCH_QUICK=1 bash bench/run.sh"
args=(--root "$root" --build "$build" --helpers "$helpers" --workload "$work/workload"
      --out "$out" --cmd "$cmd")
[ "$quick" = 1 ] && args+=(--quick)
[ -n "${BENCH_ONLY:-}" ] && args+=(--only "$BENCH_ONLY")
exec python3 -B "$here/bench.py" "${args[@]}"
