#!/usr/bin/env bash
# client-e2e.sh OXPROFCTL OXPROFD AGENT HOTSPOTS [EXTRA_PRELOAD]
#
# oxprofctl against the real oxprofd and the real agent in a real program:
# every command, --json documents and their fields, folded output summing
# to the total, the error paths, and `record` with a shared and a private
# daemon (top function, exit status, -o files, Ctrl-C cleanup).
# EXTRA_PRELOAD (the ASan runtime under ASan) goes before the agent.
set -uo pipefail
ctl=$1 oxprofd=$2 agent=$3 hot=$4 extra=${5:-}
T=$(mktemp -d /tmp/oxt-client-e2e.XXXXXX)
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
# expect CODE DESCRIPTION -- CMD...: run CMD (stdout $T/out, stderr $T/err).
expect() {
	local want=$1 what=$2
	shift 3
	"$@" >"$T/out" 2>"$T/err"
	local got=$?
	if [ "$got" != "$want" ]; then
		fail "$what: exit $got, wanted $want"
		sed 's/^/    stderr: /' "$T/err" | head -20 >&2
		return 1
	fi
	return 0
}
has() { grep -q -- "$2" "$1" || { fail "$3: no '$2' in $1:"; sed 's/^/    /' "$1" | head -20 >&2; }; }
json_has() { # FILE JQ-EXPR DESCRIPTION: the expression must be true
	jq -e "$2" "$1" >/dev/null 2>&1 || { fail "$3: jq '$2' is not true on:"; head -40 "$1" >&2; }
}
preload=$agent
[ -n "$extra" ] && preload="$extra:$agent"
export OXPROF_AGENT=$agent

echo "== no daemon"
S=$T/d.sock
expect 1 "status without a daemon" -- "$ctl" --socket "$S" status &&
	has "$T/err" "no oxprofd at $S" "no-daemon message" &&
	has "$T/err" "systemctl start oxprofd.socket" "no-daemon message" &&
	ok "no daemon: one clear line, exit 1"
expect 1 "--json without a daemon" -- "$ctl" --socket "$S" --json query &&
	json_has "$T/out" '.error.code == -1003 and (.error.message | length > 0)' "error document"

echo "== a shared daemon with one agent"
"$oxprofd" --socket "$S" --flush-ms 100 2>"$T/oxprofd.log" &
dpid=$!
pids+=($dpid)
for _ in $(seq 100); do "$ctl" --socket "$S" status >/dev/null 2>&1 && break; sleep 0.05; done
export OXPROF_SOCKET=$S
expect 0 "status" -- "$ctl" status && has "$T/out" "fleet:    paused" "status text" && ok "status text"
expect 0 "status --json" -- "$ctl" status --json &&
	json_has "$T/out" '(.software|type=="string") and (.uptime_ms|type=="number") and
		.fleet.state=="paused" and (.fleet.hz|type=="number") and (.fleet.mode=="cpu") and
		(.samples|type=="number") and (.dropped|type=="number") and
		(.mem_used|type=="number") and (.agents|type=="array")' "status --json fields" &&
	ok "status --json"

LD_PRELOAD=$preload "$hot" -p >"$T/hot.out" &
hpid=$!
pids+=($hpid)
for _ in $(seq 100); do
	"$ctl" --json status 2>/dev/null | jq -e ".agents[] | select(.pid == $hpid)" >/dev/null && break
	sleep 0.05
done
expect 0 "status --json with an agent" -- "$ctl" --json status &&
	json_has "$T/out" ".agents[] | select(.pid == $hpid) | (.state==\"paused\") and
		(.user|type==\"string\") and (.exe|endswith(\"hotspots\")) and
		(.hz_requested|type==\"number\") and (.hz_achieved|type==\"number\") and
		(.source|type==\"string\") and (.samples|type==\"number\") and
		(.dropped_agent|type==\"number\") and (.dropped_daemon|type==\"number\")" \
		"agent row" && ok "agent joined paused"
expect 0 "status table" -- "$ctl" status && has "$T/out" "^ *$hpid  " "agent table row"

expect 1 "selector matching nothing" -- "$ctl" pause --pid 999999 &&
	has "$T/err" "no agent matches --pid 999999" "no-match message" && ok "no-match selector: exit 1"
expect 1 "exe matching nothing" -- "$ctl" unpause --exe no-such-program &&
	has "$T/err" "no agent matches --exe no-such-program" "no-match message"
expect 0 "start" -- "$ctl" start --hz 1000 && has "$T/out" "started: 1 connected agent" "start text"
expect 0 "pause --pid" -- "$ctl" --json pause --pid "$hpid" &&
	json_has "$T/out" '.command=="pause" and .ok and .affected==1' "pause --json"
expect 0 "unpause --exe" -- "$ctl" unpause --exe hotspots && has "$T/out" "unpaused: 1 selected agent" "unpause"
for _ in $(seq 100); do
	n=$("$ctl" query --json 2>/dev/null | jq .total)
	[ "${n:-0}" -ge 300 ] && break
	sleep 0.05
done
expect 0 "stop" -- "$ctl" stop && ok "start/pause/unpause/stop"

# After stop, batches in flight land; then total and the folded sum agree.
stable=""
for _ in $(seq 40); do
	t1=$("$ctl" query --json | jq .total)
	sum=$("$ctl" query --format folded | awk '{s += $NF} END {print s + 0}')
	t2=$("$ctl" query --json | jq .total)
	if [ "$t1" = "$sum" ] && [ "$t1" = "$t2" ] && [ "$t1" -gt 0 ]; then stable=yes; break; fi
	sleep 0.1
done
[ -n "$stable" ] && ok "folded sums to the total ($t1)" || fail "folded sum $sum != total $t1/$t2"
"$ctl" query --format folded >"$T/folded"
grep -qvE '^[^ ].* [0-9]+$' "$T/folded" && fail "a folded line is not 'a;b;c N'" && head "$T/folded" >&2
has "$T/folded" "main;work;step_a;leaf_a [0-9]" "folded stack root-first"

expect 0 "query" -- "$ctl" query && has "$T/out" "samples from 1 process" "query header" &&
	awk '/^SELF%/ {getline; exit !($5 == "leaf_a")}' "$T/out" ||
	{ fail "leaf_a is not the top self function"; cat "$T/out" >&2; }
ok "query table: leaf_a on top"
expect 0 "query --json" -- "$ctl" query --json &&
	json_has "$T/out" '.by=="function" and .sort=="self" and (.total > 0) and
		(.first_ms > 0) and (.last_ms >= .first_ms) and (.span_ms|type=="number") and
		.processes==1 and (.rows|length > 0) and .rows[0].name=="leaf_a" and
		(.rows[0].module|endswith("hotspots")) and (.rows[0].self > 0) and
		(.rows[0].total >= .rows[0].self) and (.rows[0].self_pct > 40) and
		(.rows[0].total_pct|type=="number") and (.rows[0].pid|type=="number") and
		(.rows[0].tid|type=="number")' "query --json fields" && ok "query --json"
for by in function module process exe thread stack; do
	expect 0 "query --by $by" -- "$ctl" query --by "$by" --json --sort total --limit 3 &&
		json_has "$T/out" ".by==\"$by\" and .sort==\"total\" and (.rows|length <= 3) and (.rows|length > 0)" "by $by"
	expect 0 "query --by $by table" -- "$ctl" query --by "$by" --wide
done
expect 0 "query --by process --pid" -- "$ctl" query --by process --pid "$hpid" --json &&
	json_has "$T/out" ".rows[0].pid == $hpid" "process rows carry the pid"
expect 0 "query --thread" -- "$ctl" query --thread "$hpid" --json &&
	json_has "$T/out" '.total > 0' "thread filter by tid"
ok "query groupings and filters"
expect 0 "reset" -- "$ctl" reset && expect 0 "query after reset" -- "$ctl" query --json &&
	json_has "$T/out" '.total == 0' "reset empties the aggregate" && ok "reset"
kill "$hpid"
wait "$hpid" 2>/dev/null

echo "== record with the shared daemon"
expect 0 "record (shared)" -- "$ctl" record --hz 1000 -- "$hot" -n 4000 &&
	awk '/^SELF%/ {getline; exit !($5 == "leaf_a")}' "$T/err" && ok "record: leaf_a on top (shared)" ||
	{ fail "record (shared): leaf_a not on top"; cat "$T/err" >&2; }
expect 3 "record exit status (shared)" -- "$ctl" record -- "$hot" -n 200 -e 3 && ok "record exits 3 (shared)"
kill "$dpid"
wait "$dpid" 2>/dev/null
unset OXPROF_SOCKET

echo "== record with a private daemon"
mkdir -p "$T/tmp"
export TMPDIR=$T/tmp
none=$T/none.sock
expect 0 "record (private)" -- "$ctl" --socket "$none" record -o "$T/p.folded" -- "$hot" -f -n 3000 &&
	awk '/^SELF%/ {getline; exit !($5 == "leaf_a")}' "$T/err" && has "$T/err" "from 2 processes" "forked child profiled" &&
	ok "record: leaf_a on top, forked child included (private)" ||
	{ fail "record (private)"; cat "$T/err" >&2; }
total=$(grep -o '^[0-9]* samples' "$T/err" | cut -d' ' -f1)
sum=$(awk '{s += $NF} END {print s + 0}' "$T/p.folded")
[ "$total" = "$sum" ] && ok "record -o folded sums to the total ($sum)" || fail "record -o: folded $sum != total $total"
expect 3 "record exit status (private)" -- "$ctl" --socket "$none" record -- "$hot" -n 200 -e 3 && ok "record exits 3 (private)"
expect 0 "record --json -o x.json" -- "$ctl" --socket "$none" --json record -o "$T/p.json" -- "$hot" -n 2000 &&
	json_has "$T/out" '.exit_status==0 and .daemon=="private" and .agent.connected and
		(.command|length==3) and (.pid > 0) and .profile.rows[0].name=="leaf_a"' "record --json" &&
	json_has "$T/p.json" '.by=="function" and .total > 0 and (.rows|length > 3)' "record -o json" &&
	ok "record --json and -o FILE.json"
expect 127 "record of a missing program" -- "$ctl" --socket "$none" record -- "$T/no-such-program" &&
	has "$T/err" "cannot run $T/no-such-program" "exec failure message" && ok "record: missing program, exit 127"
[ -z "$(ls -A "$T/tmp")" ] && ok "private daemon dirs removed" || { fail "left behind: $(ls "$T/tmp")"; }

if ${CC:-cc} -static -O1 -o "$T/static" -x c - <<<'int main(void){volatile unsigned long x=0;for(unsigned long i=0;i<200000000;i++)x+=i;return 0;}' 2>/dev/null; then
	expect 3 "record of a static program" -- "$ctl" --socket "$none" record -- "$T/static" &&
		has "$T/err" "statically linked" "static program: no agent" &&
		ok "record: static program: no profile (exit 3), says it is static"
fi

echo "== Ctrl-C during record"
mkdir -p "$T/tmp2"
TMPDIR=$T/tmp2 "$ctl" --socket "$none" record -- "$hot" -p >"$T/rec.out" 2>"$T/rec.err" &
rpid=$!
for _ in $(seq 100); do grep -q '^pid=' "$T/rec.out" && break; sleep 0.05; done
prog=$(sed -n 's/^pid=//p' "$T/rec.out")
[ -n "$prog" ] || fail "record -- hotspots -p did not start"
sleep 0.3
kill -INT "$rpid"
wait "$rpid"
rc=$?
[ "$rc" = 130 ] && ok "record exits 130 when its program dies of SIGINT" || { fail "record after SIGINT: exit $rc"; cat "$T/rec.err" >&2; }
[ -n "$prog" ] && kill -0 "$prog" 2>/dev/null && fail "the program survived SIGINT"
[ -z "$(ls -A "$T/tmp2")" ] && ok "no temp dir left after SIGINT" || fail "left behind after SIGINT: $(ls "$T/tmp2")"
pgrep -f "$T/tmp2" >/dev/null && fail "a private oxprofd survived SIGINT: $(pgrep -af "$T/tmp2")"
grep -q 'leaf_a' "$T/rec.err" && ok "the profile was still printed after SIGINT"

if [ "$failures" -gt 0 ]; then
	echo "$failures check(s) failed" >&2
	exit 1
fi
echo "all client end-to-end checks passed"
