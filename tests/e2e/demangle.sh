#!/usr/bin/env bash
# demangle.sh OXPROFCTL OXPROFD AGENT CXXSHAPES
#
# A C++ program (templates, namespaces, a lambda, an operator) profiled by
# the real agent and daemon: oxprofctl shows its functions demangled in the
# table, in JSON (with the mangled system_name beside) and in folded
# stacks (still one frame per ';'), and mangled with --no-demangle; pprof
# keeps the mangled name as system_name (when go is there to read it).
set -uo pipefail
ctl=$1 oxprofd=$2 agent=$3 cxx=$4
T=$(mktemp -d /tmp/oxt-demangle.XXXXXX)
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
export OXPROF_AGENT=$agent

S=$T/d.sock
"$oxprofd" --socket "$S" --flush-ms 100 2>"$T/oxprofd.log" &
pids+=($!)
for _ in $(seq 100); do "$ctl" --socket "$S" status >/dev/null 2>&1 && break; sleep 0.05; done
export OXPROF_SOCKET=$S

relax='geo::Grid<unsigned long>::relax(unsigned long) const'
lambda='main::{lambda(unsigned long)#1}::operator()(unsigned long) const'
plus='geo::operator+(geo::Vec<3>, geo::Vec<3>)'
relax_m='_ZNK3geo4GridImE5relaxEm'

echo "== table"
"$ctl" --json record -o "$T/cxx.folded" --limit 0 -- "$cxx" -n 1500 >"$T/rec.json" 2>"$T/rec.err" ||
	fail "record: exit $?"
pid=$(jq .pid "$T/rec.json")
"$ctl" query --pid "$pid" --wide >"$T/table" || fail "query"
for n in "$relax" "$lambda" "$plus"; do
	grep -qF -- "$n" "$T/table" && grep -qF -- "$n" "$T/rec.err" || fail "no '$n' in the tables"
done
grep -q "_ZN" "$T/table" && fail "a mangled name in the table: $(grep _ZN "$T/table")"
[ "$failures" = 0 ] && ok "the table shows templates, the lambda and the operator demangled"

echo "== JSON: name demangled, system_name as the binary has it"
"$ctl" query --json --pid "$pid" >"$T/q.json" || fail "query --json"
jq -e --arg n "$relax" --arg m "$relax_m" \
	'.rows[] | select(.name == $n) | .system_name == $m' "$T/q.json" >/dev/null &&
	ok "JSON: name and system_name" || fail "JSON row for $relax: $(jq -c '.rows[:4]' "$T/q.json")"
jq -e '.rows[] | select(.name == "main") | .system_name == "main"' "$T/q.json" >/dev/null ||
	fail "a C name's system_name is not the name itself"

echo "== folded"
grep -qF -- "main;$relax " "$T/cxx.folded" && grep -qF -- "main;$lambda " "$T/cxx.folded" &&
	ok "folded stacks demangled" || fail "folded: $(head -5 "$T/cxx.folded")"
# Frames stay apart: every line is main-rooted and has the same depth as
# its mangled twin.
"$ctl" query --format folded --pid "$pid" --no-demangle >"$T/raw.folded"
awk '{print gsub(/;/, ";")}' "$T/cxx.folded" | sort | uniq -c >"$T/d1"
awk '{print gsub(/;/, ";")}' "$T/raw.folded" | sort | uniq -c >"$T/d2"
cmp -s "$T/d1" "$T/d2" && ok "as many ';' as with --no-demangle" || fail "frame counts differ"

echo "== --no-demangle"
"$ctl" query --pid "$pid" --wide --no-demangle >"$T/raw" || fail "query --no-demangle"
grep -qF "$relax_m" "$T/raw" && ! grep -qF "$relax" "$T/raw" && ok "--no-demangle: raw names" ||
	fail "--no-demangle: $(head -6 "$T/raw")"

echo "== pprof keeps the mangled name"
if command -v go >/dev/null 2>&1; then
	export GOCACHE=$T/gocache HOME=$T PPROF_TMPDIR=$T
	"$ctl" query --format pprof --pid "$pid" >"$T/cxx.pb.gz" || fail "query --format pprof"
	go tool pprof -top "$T/cxx.pb.gz" >"$T/top" 2>/dev/null || fail "go tool pprof -top"
	grep -qF "$relax" "$T/top" && ok "pprof: demangled name" || fail "pprof -top: $(cat "$T/top")"
	# pprof prints only Function.name; system_name is in the string table.
	python3 -c 'import gzip,sys; d=gzip.open(sys.argv[1]).read(); sys.exit(sys.argv[2].encode() not in d)' \
		"$T/cxx.pb.gz" "$relax_m" && ok "pprof: mangled system_name kept" ||
		fail "pprof file lacks $relax_m"
else
	echo "note: go is not installed; the pprof part is skipped"
fi

[ "$failures" = 0 ] && echo "all demangling checks passed" && exit 0
echo "$failures demangling check(s) failed" >&2
exit 1
