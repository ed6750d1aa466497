#!/usr/bin/env bash
# fuzz.sh [SECONDS] - build the libFuzzer target for the frame reader and
# decoders with clang (address,undefined), seed it with one valid example of
# every message, and run it.  Fails on any finding.
set -euo pipefail
secs=${1:-60}
cd "$(dirname "$0")/.."
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DOXPROF_FUZZ=ON -DOXPROF_SANITIZE=address,undefined -DOXPROF_BUILD_TESTS=ON >/dev/null
cmake --build build-fuzz --target fuzz-decode make-corpus -j "$(nproc)"
seeds=build-fuzz/fuzz-seeds
corpus=build-fuzz/fuzz-corpus
mkdir -p "$seeds" "$corpus"
build-fuzz/tests/make-corpus "$seeds"
echo "fuzz: running fuzz-decode for ${secs}s on $(ls "$seeds" | wc -l) seeds"
status=0
build-fuzz/tests/fuzz-decode -max_total_time="$secs" -print_final_stats=1 \
	-rss_limit_mb=2048 -malloc_limit_mb=64 "$corpus" "$seeds" \
	>build-fuzz/fuzz.log 2>&1 || status=$?
grep -E '^#[0-9]+[[:space:]]+(DONE|INITED)|^stat::|ERROR|SUMMARY' build-fuzz/fuzz.log || true
if [ "$status" -ne 0 ]; then
	echo "fuzz: finding (exit $status); see build-fuzz/fuzz.log and the crash-* file" >&2
	exit 1
fi
echo "fuzz: no finding in ${secs}s"
