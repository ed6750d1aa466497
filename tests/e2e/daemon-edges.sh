#!/usr/bin/env bash
# daemon-edges.sh OXPROFD OXPROFCTL AGENT HOTSPOTS [EXTRA_PRELOAD] - the
# daemon's small promises, with the real daemon, client and agent:
#  * an explicit --socket in a missing directory is an error, and nothing
#    is created (only the default runtime directory is the daemon's);
#  * a regular file or a FIFO at the socket path is named as what it is by
#    oxprofd, oxprofctl and the agent (not "no daemon"/"refused");
#  * --flush-ms reaches agents that do not set OXPROF_FLUSH_MS, and
#    OXPROF_FLUSH_MS wins over it;
#  * samples held while the daemon was down (kill -9) are reported with the
#    times they were taken, not when they arrived.
# EXTRA_PRELOAD (the ASan runtime under ASan) goes before the agent.
set -uo pipefail
oxprofd=$1 ctl=$2 agent=$3 hot=$4 extra=${5:-}
T=$(mktemp -d /tmp/oxt-daemon-edges.XXXXXX)
pids=()
failures=0
cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
ok() { echo "ok   $*"; }
preload=$agent
[ -n "$extra" ] && preload="$extra:$agent"
now_ms() { date +%s%3N; }
# until SECONDS CMD...: run CMD every 0.1 s until it succeeds; 1 on timeout.
until_ok() {
	local end=$(($(date +%s) + $1))
	shift
	while ! "$@" >/dev/null 2>&1; do
		[ "$(date +%s)" -lt "$end" ] || return 1
		sleep 0.1
	done
}

echo "== an explicit socket directory that does not exist"
timeout 60 "$oxprofd" --socket "$T/no/such/dir/x.sock" 2>"$T/err"
rc=$?
if [ "$rc" != 1 ]; then
	fail "oxprofd --socket in a missing directory: exit $rc, wanted 1"
	kill -9 "$(pgrep -f "$T/no/such/dir/x.sock")" 2>/dev/null
fi
[ ! -e "$T/no" ] || fail "oxprofd created the missing directories $T/no/..."
grep -q "does not exist" "$T/err" || fail "no 'does not exist' in: $(cat "$T/err")"
[ "$failures" = 0 ] && ok "missing directory: exit 1, nothing created, said so"

echo "== not a socket at the socket path"
: >"$T/file.sock"
mkfifo "$T/fifo.sock"
for kind in "regular file:file" "FIFO:fifo"; do
	what=${kind%%:*} path=$T/${kind##*:}.sock
	timeout 60 "$oxprofd" --socket "$path" 2>"$T/err"
	rc=$?
	[ "$rc" = 1 ] || fail "oxprofd over a $what: exit $rc, wanted 1"
	grep -q "is a $what, not a socket" "$T/err" || fail "oxprofd over a $what said: $(cat "$T/err")"
	"$ctl" --socket "$path" status >/dev/null 2>"$T/err"
	rc=$?
	[ "$rc" = 1 ] || fail "oxprofctl status at a $what: exit $rc, wanted 1"
	grep -q "is a $what, not a socket" "$T/err" || fail "oxprofctl at a $what said: $(cat "$T/err")"
	[ -p "$T/fifo.sock" ] && [ -f "$T/file.sock" ] || fail "something replaced the $what"
done
# The agent logs why it cannot connect (warnings are on by default).
OXPROF_SOCKET=$T/file.sock OXPROF_LOG_LEVEL=2 LD_PRELOAD=$preload "$hot" -p >/dev/null \
	2>"$T/agent.err" &
ag=$!
until_ok 60 grep -q "file.sock is a regular file, not a socket" "$T/agent.err" ||
	fail "the agent at a regular file said (alive: $(kill -0 "$ag" 2>/dev/null && echo yes || echo no)):
$(head -5 "$T/agent.err")"
kill "$ag"
wait "$ag" 2>/dev/null
[ "$failures" = 0 ] && ok "a regular file and a FIFO are named as such by oxprofd, oxprofctl and the agent"

echo "== --flush-ms reaches the agents"
S=$T/d.sock
"$oxprofd" --socket "$S" --flush-ms 60000 2>"$T/d1.log" &
pids+=($!)
until_ok 30 "$ctl" --socket "$S" status || fail "the daemon did not start"
# Both agents sample from their start; the slow one follows the daemon's
# 60 s, the other sets OXPROF_FLUSH_MS and wins over it.
OXPROF_SOCKET=$S OXPROF_START=1 OXPROF_HZ=1000 OXPROF_LOG_LEVEL=2 LD_PRELOAD=$preload \
	"$hot" -p >/dev/null 2>"$T/slow.err" &
slow=$!
pids+=($slow)
until_ok 30 grep -q "sending batches every 60000 ms" "$T/slow.err" ||
	fail "the agent did not adopt --flush-ms 60000: $(cat "$T/slow.err")"
OXPROF_SOCKET=$S OXPROF_START=1 OXPROF_HZ=1000 OXPROF_FLUSH_MS=50 LD_PRELOAD=$preload \
	"$hot" -p >/dev/null 2>&1 &
fast=$!
pids+=($fast)
has_samples() { "$ctl" --socket "$S" query --pid "$1" --format folded | grep -q .; }
until_ok 30 has_samples "$fast" || fail "OXPROF_FLUSH_MS=50: no samples within 30 s"
# The slow agent started first and has sampled as long, but sends only
# every 60 s (or at exit): nothing of it has arrived.
if has_samples "$slow"; then
	fail "the agent following --flush-ms 60000 sent samples already (it ignores --flush-ms)"
else
	ok "--flush-ms 60000 followed by an agent; OXPROF_FLUSH_MS=50 wins over it"
fi
kill "$slow" "$fast" 2>/dev/null
kill "${pids[0]}" 2>/dev/null
wait 2>/dev/null
pids=()

echo "== samples held over a daemon restart keep their times"
rm -f "$S"
"$oxprofd" --socket "$S" 2>"$T/d2.log" &
d=$!
pids+=($d)
until_ok 30 "$ctl" --socket "$S" status || fail "the daemon did not start"
born=$(now_ms)
OXPROF_SOCKET=$S OXPROF_START=1 OXPROF_HZ=1000 OXPROF_FLUSH_MS=100 LD_PRELOAD=$preload \
	"$hot" -p >/dev/null 2>&1 &
a=$!
pids+=($a)
until_ok 30 has_samples "$a" || fail "no samples from the agent"
kill -9 "$d"
wait "$d" 2>/dev/null
killed=$(now_ms)
# The agent goes on sampling with no daemon: these samples wait in it.
sleep 3
rm -f "$S"
restarted=$(now_ms)
"$oxprofd" --socket "$S" 2>"$T/d3.log" &
pids+=($!)
until_ok 60 has_samples "$a" || fail "the agent's held samples did not reach the new daemon"
"$ctl" --socket "$S" --json query --pid "$a" >"$T/q.json" || fail "query failed"
first=$(jq .first_ms "$T/q.json") last=$(jq .last_ms "$T/q.json")
asked=$(now_ms)
echo "agent started $born, daemon killed $killed, restarted $restarted; the new daemon reports $first .. $last"
# Taken while no daemon ran: the first is at least a second before the
# restart (3 s without a daemon), never before the agent started; the
# last is no later than the query.
if [ "$first" -gt $((restarted - 1000)) ]; then
	fail "first_ms $first is not before the restart ($restarted): stamped on arrival"
elif [ "$first" -lt $((born - 1000)) ] || [ "$last" -gt "$asked" ] || [ "$first" -gt "$last" ]; then
	fail "span $first .. $last is outside the agent's life $born .. $asked"
else
	ok "held samples reported as taken from $((restarted - first)) ms before the restart"
fi

[ "$failures" = 0 ] || { echo "$failures failure(s)" >&2; exit 1; }
echo "all daemon edge checks passed"
