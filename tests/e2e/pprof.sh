#!/usr/bin/env bash
# pprof.sh OXPROFCTL OXPROFD AGENT HOTSPOTS ODDNAMES HOTSPOTS_NOPIE [EXTRA_PRELOAD]
#
# pprof output read by the real `go tool pprof` (Debian golang-go): a
# `record -o FILE.pb.gz` of hotspots agrees with `query --json` on the top
# three functions and their shares (within 0.1 pp); a two-process fleet's
# `query --format pprof` narrows to one process with -tagfocus=pid=N and
# with --pid; the mappings carry the build-ids `readelf -n` shows, and a
# location's address maps back to its function's place in the file, for a
# PIE and for a classic executable, as a symboliser computes it; hostile
# names (8 KiB, not UTF-8, metacharacters) leave a file go tool pprof reads
# and whose strings are all UTF-8.  Exit 77 (skipped) without go.
set -uo pipefail
ctl=$1 oxprofd=$2 agent=$3 hot=$4 odd=$5 nopie=$6 extra=${7:-}
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v go >/dev/null 2>&1; then
	echo "SKIP: go is not installed (Debian golang-go; scripts/deps.sh test)"
	exit 77
fi
T=$(mktemp -d /tmp/oxt-pprof.XXXXXX)
pids=()
failures=0
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
ok() { echo "ok   $*"; }
# go tool pprof without a network, a home or a cache of the user's.
export GOCACHE=$T/gocache GOFLAGS=-mod=mod GOPROXY=off HOME=$T PPROF_TMPDIR=$T
pp() { go tool pprof "$@" 2>"$T/pp.err"; }
preload=$agent
[ -n "$extra" ] && preload="$extra:$agent"
export OXPROF_AGENT=$agent

S=$T/d.sock
"$oxprofd" --socket "$S" --flush-ms 100 2>"$T/oxprofd.log" &
pids+=($!)
for _ in $(seq 100); do "$ctl" --socket "$S" status >/dev/null 2>&1 && break; sleep 0.05; done
export OXPROF_SOCKET=$S

echo "== record -o FILE.pb.gz on hotspots (60/30/10)"
"$ctl" --json record -o "$T/hs.pb.gz" -- "$hot" -n 3000 >"$T/rec.json" 2>"$T/rec.err" ||
	fail "record: exit $?"
grep -q "pprof" "$T/rec.err" || fail "record did not say it wrote pprof: $(cat "$T/rec.err")"
pid=$(jq .pid "$T/rec.json")
"$ctl" query --json --pid "$pid" >"$T/q.json" || fail "query --json"
if pp -top "$T/hs.pb.gz" >"$T/top"; then
	ok "go tool pprof -top reads it"
else
	fail "go tool pprof -top: $(cat "$T/pp.err")"
fi
# -top rows: flat flat% sum% cum cum% name; the top three by flat.
awk '/flat%/ {on = 1; next} on && NF >= 6 {sub(/%/, "", $2); print $6, $2; if (++n == 3) exit}' \
	"$T/top" >"$T/top3.pprof"
jq -r '.rows | sort_by(-.self) | .[:3][] | "\(.name) \(.self_pct)"' "$T/q.json" >"$T/top3.json"
paste -d' ' "$T/top3.pprof" "$T/top3.json" | while read -r n1 p1 n2 p2; do
	[ "$n1" = "$n2" ] || { echo "name $n1 != $n2"; continue; }
	awk -v a="$p1" -v b="$p2" 'BEGIN { d = a - b; exit !(d <= 0.1 && d >= -0.1) }' ||
		echo "share of $n1: pprof $p1% vs query $p2%"
done >"$T/diff"
if [ -s "$T/diff" ] || [ "$(wc -l <"$T/top3.pprof")" != 3 ]; then
	fail "pprof -top and query --json disagree: $(cat "$T/diff")"
	paste "$T/top3.pprof" "$T/top3.json" >&2
else
	ok "top three agree within 0.1 pp: $(tr '\n' ' ' <"$T/top3.pprof")"
fi
grep -q "leaf_a" "$T/top3.pprof" || fail "leaf_a is not in pprof's top three"
head -4 "$T/top" | grep -q "^Type: cpu" || fail "sample type is not cpu: $(head -4 "$T/top")"

echo "== mappings carry the build-ids readelf -n shows"
pp -raw "$T/hs.pb.gz" >"$T/raw" || fail "go tool pprof -raw: $(cat "$T/pp.err")"
checked=0
while read -r path bid; do
	want=$(readelf -n "$path" 2>/dev/null | awk '/Build ID:/ {print $3; exit}')
	[ -n "$want" ] || continue
	checked=$((checked + 1))
	[ "$bid" = "$want" ] || fail "mapping $path: build-id '$bid', readelf says '$want'"
done < <(awk '/^Mappings/ {on = 1; next} on && NF >= 4 {print $3, $4}' "$T/raw")
[ "$checked" -ge 2 ] && ok "build-ids of $checked mappings match readelf -n" ||
	fail "only $checked mappings with a build-id to check: $(sed -n '/^Mappings/,$p' "$T/raw")"
grep -q "/0x0 $hot [0-9a-f]" "$T/raw" || fail "no mapping for $hot with a build-id"

echo "== addresses map back into the file (PIE and classic executable)"
# What pprof's symbolisers compute for a mapping with file offset 0: the
# link-time address is address - start + (p_vaddr - p_offset of the
# first PT_LOAD).  It must fall inside leaf_a as nm -S places it.
for bin in "$hot" "$nopie"; do
	"$ctl" record -o "$T/addr.pb.gz" -- "$bin" -n 1500 >/dev/null 2>"$T/addr.err" ||
		{ fail "record $bin: $(cat "$T/addr.err")"; continue; }
	pp -raw "$T/addr.pb.gz" >"$T/addr.raw" || { fail "pprof -raw: $(cat "$T/pp.err")"; continue; }
	load=$(readelf -lW "$bin" | awk '$1 == "LOAD" {print $3, $2; exit}')
	read -r sym size < <(nm -S "$bin" | awk '$4 == "leaf_a" {print $1, $2}')
	read -r addr mid < <(awk '$3 ~ /^M=/ && $4 == "leaf_a" {sub(/M=/, "", $3); print $2, $3; exit}' \
		"$T/addr.raw")
	start=$(awk -v m="$mid:" '/^Mappings/ {on = 1; next} on && $1 == m {split($2, a, "/"); print a[1]}' \
		"$T/addr.raw")
	if [ -z "$addr" ] || [ -z "$start" ] || [ -z "$sym" ]; then
		fail "$bin: no leaf_a location/mapping/symbol (addr '$addr' start '$start' sym '$sym')"
		continue
	fi
	read -r vaddr off <<<"$load"
	got=$(( addr - start + vaddr - off ))
	if [ "$got" -ge $((0x$sym)) ] && [ "$got" -lt $((0x$sym + 0x$size)) ]; then
		ok "$(basename "$bin"): leaf_a at $addr maps to $(printf '%#x' "$got") in [0x$sym, +0x$size)"
	else
		fail "$(basename "$bin"): leaf_a at $addr (mapping at $start, load $vaddr) maps to $(printf '%#x' "$got"), not into 0x$sym+0x$size"
	fi
done

echo "== a two-process fleet, narrowed by -tagfocus=pid and by --pid"
LD_PRELOAD=$preload "$hot" -p >"$T/h1.out" &
p1=$!
pids+=($p1)
LD_PRELOAD=$preload "$hot" -p >"$T/h2.out" &
p2=$!
pids+=($p2)
for _ in $(seq 200); do
	n=$("$ctl" --json status 2>/dev/null | jq "[.agents[] | select(.pid == $p1 or .pid == $p2)] | length")
	[ "${n:-0}" = 2 ] && break
	sleep 0.05
done
"$ctl" start --hz 1000 >/dev/null || fail "start"
for _ in $(seq 200); do
	a=$("$ctl" query --json --pid "$p1" 2>/dev/null | jq .total)
	b=$("$ctl" query --json --pid "$p2" 2>/dev/null | jq .total)
	[ "${a:-0}" -ge 200 ] && [ "${b:-0}" -ge 200 ] && break
	sleep 0.05
done
"$ctl" stop >/dev/null || fail "stop"
# After stop, batches in flight land: wait until the total stands still.
t0=-1
for _ in $(seq 40); do
	t=$("$ctl" query --json | jq .total)
	[ "$t" = "$t0" ] && break
	t0=$t
	sleep 0.2
done
"$ctl" query --format pprof >"$T/fleet.pb.gz" || fail "query --format pprof"
"$ctl" query --json >"$T/fleet.json"
pp -raw "$T/fleet.pb.gz" >"$T/fleet.raw" || fail "pprof -raw fleet: $(cat "$T/pp.err")"
# Samples section: "COUNT NANOS: locations", then label lines.
sum=$(awk '/^Samples:/ {on = 1; next} /^Locations/ {on = 0} on && /^ *[0-9]+ +[0-9]+:/ {s += $1}
	END {print s + 0}' "$T/fleet.raw")
[ "$sum" = "$(jq .total "$T/fleet.json")" ] && ok "fleet pprof holds all $sum samples" ||
	fail "fleet pprof holds $sum samples, query --json says $(jq .total "$T/fleet.json")"
for p in $p1 $p2; do
	pp -raw -tagfocus=pid=$p "$T/fleet.pb.gz" >"$T/focus.raw" || fail "-tagfocus=pid=$p"
	other=$(grep -o 'pid:\[[0-9]*\]' "$T/focus.raw" | grep -vc "pid:\[$p\]")
	mine=$(grep -c "pid:\[$p\]" "$T/focus.raw")
	[ "$other" = 0 ] && [ "$mine" -gt 0 ] && ok "-tagfocus=pid=$p keeps only pid $p ($mine stacks)" ||
		fail "-tagfocus=pid=$p: $mine stacks of $p, $other of others"
	"$ctl" query --format pprof --pid "$p" >"$T/one.pb.gz" || fail "query --format pprof --pid"
	pp -raw "$T/one.pb.gz" >"$T/one.raw" || fail "pprof -raw --pid $p"
	other=$(grep -o 'pid:\[[0-9]*\]' "$T/one.raw" | grep -vc "pid:\[$p\]")
	[ "$other" = 0 ] && grep -q "pid:\[$p\]" "$T/one.raw" && ok "--pid $p: only its samples" ||
		fail "query --format pprof --pid $p has other processes' samples"
done
grep -q 'thread:\[hotspots\]' "$T/fleet.raw" && grep -q "exe:\[$hot\]" "$T/fleet.raw" &&
	ok "thread and exe labels" || fail "no thread/exe labels in $(grep -m3 'thread' "$T/fleet.raw")"
"$ctl" query --format pprof --exe no-such-program >"$T/none.pb.gz" 2>"$T/none.err" &&
	fail "--exe matching nothing succeeded"
python3 "$here/pbcheck.py" "$T/fleet.pb.gz" >/dev/null || fail "fleet file fails the wire check"
kill "$p1" "$p2" 2>/dev/null

echo "== hostile names: 8 KiB, not UTF-8, <>&\"';"
"$ctl" reset >/dev/null
"$ctl" record -o "$T/odd.pb.gz" -- "$odd" 600 >/dev/null 2>"$T/odd.err" || fail "record oddnames"
if pp -top "$T/odd.pb.gz" >"$T/odd.top"; then
	for n in long_LLLL bad_utf8_ meta_; do
		grep -q "$n" "$T/odd.top" || fail "no $n in pprof -top of the hostile names"
	done
	ok "go tool pprof reads the hostile names"
else
	fail "go tool pprof -top on hostile names: $(cat "$T/pp.err")"
fi
python3 "$here/pbcheck.py" "$T/odd.pb.gz" && ok "every string of the file is UTF-8" ||
	fail "the hostile names break the wire check"

echo "== errors"
"$ctl" query --format pprof --socket "$T/nothing.sock" >"$T/x" 2>"$T/x.err" &&
	fail "pprof without a daemon succeeded"
grep -q "no oxprofd" "$T/x.err" || fail "no-daemon message: $(cat "$T/x.err")"
"$ctl" record -o /nonexistent-dir/x.pb.gz -- "$hot" -n 100 >/dev/null 2>"$T/x.err"
grep -q "cannot write /nonexistent-dir/x.pb.gz" "$T/x.err" && ok "unwritable -o file: said so" ||
	fail "unwritable -o: $(cat "$T/x.err")"

[ "$failures" = 0 ] && echo "all pprof checks passed" && exit 0
echo "$failures pprof check(s) failed" >&2
exit 1
