#!/usr/bin/env bash
# fuzz.sh [SECONDS] - build every libFuzzer target (tests/fuzz/fuzz-*.c) with
# clang (address,undefined), seed each with what make-corpus writes for it
# (a valid example of every message for the decoders; a target without seeds
# starts from nothing), and run each for SECONDS.  Fails on any finding.
set -euo pipefail
secs=${1:-60}
cd "$(dirname "$0")/.."
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DOXPROF_FUZZ=ON -DOXPROF_SANITIZE=address,undefined -DOXPROF_BUILD_TESTS=ON >/dev/null
cmake --build build-fuzz --target fuzz-all -j "$(nproc)"
root=build-fuzz/fuzz
mkdir -p "$root"
# make-corpus SEEDS_ROOT writes SEEDS_ROOT/<target>/ for the targets it knows.
build-fuzz/tests/make-corpus "$root/seeds"
status=0
for bin in build-fuzz/tests/fuzz-*; do
	[ -x "$bin" ] || continue
	t=$(basename "$bin")
	seeds="$root/seeds/$t" corpus="$root/corpus/$t" log="$root/$t.log"
	mkdir -p "$seeds" "$corpus"
	echo "fuzz: $t for ${secs}s on $(ls "$seeds" | wc -l) seeds"
	st=0
	(cd "$root" && exec "../../$bin" -max_total_time="$secs" -print_final_stats=1 \
		-rss_limit_mb=2048 -malloc_limit_mb=64 "../../$corpus" "../../$seeds") \
		>"$log" 2>&1 || st=$?
	grep -E '^#[0-9]+[[:space:]]+(DONE|INITED)|^stat::number_of_executed_units|ERROR|SUMMARY' "$log" || true
	if [ "$st" -ne 0 ]; then
		echo "fuzz: $t: finding (exit $st); see $log and the crash-* file in $root" >&2
		status=1
	fi
done
[ "$status" -eq 0 ] && echo "fuzz: no finding in ${secs}s per target"
exit "$status"
