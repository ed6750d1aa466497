#!/usr/bin/env bash
# flame.sh [BUILD_DIR] [REPS] [SIZES...] - the flame graph page on big
# profiles: for each size, bench/flamegen writes a synthetic profile of that
# many unique stacks as the page (the code of `oxprofctl query --format
# html`), then headless Chromium opens it REPS times, offline, and the page
# reports when its first frame was drawn (performance.now(), from the start
# of navigation: reading and parsing the file, decoding the tree, drawing).
# Prints a Markdown section for bench/RESULTS.md; cells are median [min-max].
#   bench/flame.sh build 3 10000 100000 1000000 >> bench/RESULTS.md
set -euo pipefail
build=${1:-build}
reps=${2:-3}
shift $(($# < 2 ? $# : 2))
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(10000 100000 1000000)
gen=$build/bench/flamegen
[ -x "$gen" ] || { echo "flame.sh: no $gen (build first)" >&2; exit 1; }
chrome=$(command -v chromium || command -v chromium-browser || true)
[ -n "$chrome" ] || { echo "flame.sh: chromium is not installed (scripts/deps.sh test)" >&2; exit 1; }
T=$(mktemp -d /tmp/oxflame-bench.XXXXXX)
trap 'rm -rf "$T"' EXIT
offline=()
unshare -n true 2>/dev/null && offline=(unshare -n)

# median [min-max] of numbers on stdin
stats() { sort -n | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
	printf "%.0f [%.0f-%.0f]", m, v[1], v[NR] }'; }
field() { grep -o "\"$1\":[0-9.]*" | head -1 | cut -d: -f2; }

rows=()
for n in "${sizes[@]}"; do
	line=$("$gen" "$n" "$T/page.html")
	stacks=$(sed 's/.*stacks=\([0-9]*\).*/\1/' <<<"$line")
	cpu=$(sed 's/.*write_cpu_ms=\([0-9]*\).*/\1/' <<<"$line")
	bytes=$(sed 's/.*bytes=\([0-9]*\).*/\1/' <<<"$line")
	: >"$T/first" ; : >"$T/build" ; : >"$T/start" ; : >"$T/draw"
	frames=0
	for _ in $(seq "$reps"); do
		rm -rf "$T/profile"
		"${offline[@]}" timeout 300 "$chrome" --headless --no-sandbox --disable-gpu --no-first-run \
			--disable-background-networking --disable-component-update --disable-sync \
			--disable-extensions --window-size=1280,800 --user-data-dir="$T/profile" \
			--dump-dom "file://$T/page.html" 2>/dev/null >"$T/dom"
		r=$(grep -o 'id="oxprof-result">[^<]*' "$T/dom" || true)
		grep -q '"ready":true' <<<"$r" || { echo "flame.sh: the page did not finish at $n" >&2; exit 1; }
		field first_draw_ms <<<"$r" >>"$T/first"
		field script_start <<<"$r" >>"$T/start"
		# decode = JSON.parse of the data + the tree into typed arrays
		awk -v p="$(field parse <<<"$r")" -v b="$(field build <<<"$r")" 'BEGIN { print p + b }' >>"$T/build"
		field draw <<<"$r" >>"$T/draw"
		frames=$(field frames <<<"$r")
	done
	rows+=("| $stacks | $frames | $(awk -v b="$bytes" 'BEGIN { printf "%.1f MiB", b / 1048576 }') | $cpu | $(stats <"$T/start") | $(stats <"$T/build") | $(stats <"$T/draw") | **$(stats <"$T/first")** |")
	echo "flame.sh: $n done" >&2
done

cat <<EOF

## Flame graph page (issue 14)

Measured by \`bench/flame.sh $build $reps ${sizes[*]}\` on $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average at the end $(cut -d' ' -f1-3 /proc/loadavg), $("$chrome" --version 2>/dev/null | head -1), headless, offline$([ ${#offline[@]} -gt 0 ] && echo " (unshare -n)").
Synthetic profiles from \`bench/flamegen\` (random walks down a skewed call tree, depth 4-48, C++-length names from a pool of 20 000); *frames* are the nodes of the merged call tree the page holds.
*C* is the CPU time of merging the stacks into the tree and writing the page (\`oxc_flame_write\`, the code of \`query --format html\`).
The page times itself from the start of navigation: *file read + HTML parse* until its script starts, *decode* of the embedded data (JSON.parse, then the tree into typed arrays), *draw* of the first frame; **first paint** is all of it (ms, median [min-max] of $reps runs).

| unique stacks | frames | HTML size | C ms | file read + HTML parse | decode | draw | **first paint** |
| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
EOF
printf '%s\n' "${rows[@]}"
