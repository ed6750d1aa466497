#!/usr/bin/env bash
# soak.sh [SECONDS] [--flooder CMD] [--build DIR]
#
# Exactly-once delivery under crashes (issue 10, item 6), for a long run;
# not part of CI (minutes).  Three real programs with the real agent sample
# at 1 kHz while oxprofd (with a state dir) is killed with SIGKILL every
# 2-5 s and restarted at once.  Throughout, root's `oxprofctl status` is
# asked every 0.5 s; at the end the agents exit and every agent's books
# must be exact against the daemon's rows:
#     taken == accepted + refused by the daemon + dropped by the agent
# and the daemon's RSS is reported.  Exit 0 when all books are exact and
# status never hung while the daemon was up.
#
#   SECONDS     length of the kill phase (default 600)
#   --flooder CMD
#               a hostile peer run alongside for the whole kill phase, as
#               `CMD SOCKET` (started again after each restart if it exits);
#               it chooses its own user (e.g. `setpriv --reuid=nobody ...`).
#               Or define start_flooder() in $SOAK_HOOKS (a file sourced
#               here), called with the socket after each daemon start.
#   --build DIR the build tree (default: ./build); or set OXPROFD,
#               OXPROFCTL, AGENT.
#
# Figures go to stdout; the daemon's log and the probe log stay in the
# temp dir printed at the start when something fails (or with SOAK_KEEP=1).
set -uo pipefail
secs=600 flooder="" build=build
while [ $# -gt 0 ]; do
	case $1 in
	--flooder) flooder=$2; shift 2 ;;
	--build) build=$2; shift 2 ;;
	*) secs=$1; shift ;;
	esac
done
oxprofd=${OXPROFD:-$build/daemon/oxprofd}
ctl=${OXPROFCTL:-$build/client/oxprofctl}
agent=${AGENT:-$build/agent/liboxprof.so}
for f in "$oxprofd" "$ctl" "$agent"; do
	[ -e "$f" ] || { echo "soak: $f not found (build first, or --build DIR)" >&2; exit 2; }
done
command -v jq >/dev/null || { echo "soak: needs jq" >&2; exit 2; }
agent=$(readlink -f "$agent")

T=$(mktemp -d /tmp/oxprof-soak.XXXXXX)
chmod 755 "$T"
sock=$T/oxprof.sock state=$T/state log=$T/oxprofd.log
dpid="" fpid="" probe_pid=""
agents=()
keep=${SOAK_KEEP:-0} # 1: keep the temp dir (logs) even when all is well
flooder_starts=0
cleanup() {
	[ -n "$probe_pid" ] && kill "$probe_pid" 2>/dev/null
	[ -n "$fpid" ] && kill "$fpid" 2>/dev/null
	for p in "${agents[@]}"; do kill -KILL "$p" 2>/dev/null; done
	[ -n "$dpid" ] && kill -KILL "$dpid" 2>/dev/null
	wait 2>/dev/null
	[ "$keep" = 1 ] && echo "soak: logs kept in $T" || rm -rf "$T"
}
trap cleanup EXIT
[ -n "${SOAK_HOOKS:-}" ] && . "$SOAK_HOOKS"

rss_max=0 hwm_max=0
note_rss() {
	local r h
	r=$(awk '/^VmRSS/ {print $2}' "/proc/$dpid/status" 2>/dev/null)
	h=$(awk '/^VmHWM/ {print $2}' "/proc/$dpid/status" 2>/dev/null)
	[ -n "$r" ] && [ "$r" -gt "$rss_max" ] && rss_max=$r
	[ -n "$h" ] && [ "$h" -gt "$hwm_max" ] && hwm_max=$h
}

start_daemon() {
	"$oxprofd" --socket "$sock" --state-dir "$state" --log-level debug 2>>"$log" &
	dpid=$!
	echo "$dpid" >"$T/dpid" # the probe tells a kill mid-answer by a new pid
	for _ in $(seq 200); do
		"$ctl" --socket "$sock" status >/dev/null 2>&1 && break
		kill -0 "$dpid" 2>/dev/null || { echo "soak: oxprofd died at start" >&2; keep=1; exit 1; }
		sleep 0.05
	done
	if declare -F start_flooder >/dev/null; then
		start_flooder "$sock"
	elif [ -n "$flooder" ] && { [ -z "$fpid" ] || ! kill -0 "$fpid" 2>/dev/null; }; then
		$flooder "$sock" >>"$T/flooder.log" 2>&1 &
		fpid=$!
		flooder_starts=$((flooder_starts + 1))
	fi
}

# Root asks for status every 0.5 s.  Down = no daemon (between a kill and
# the restart) and cut = the daemon was killed while it answered (its pid
# changed, or it was gone, during the probe): both expected; bad = no
# answer in 5 s (timeout's 124) or any other failure of a daemon that
# lived through the whole probe.
probe() {
	while :; do
		local t0 t1 out rc p0 p1
		p0=$(cat "$T/dpid" 2>/dev/null)
		t0=$(date +%s%N)
		out=$(timeout 5 "$ctl" --socket "$sock" status 2>&1 >/dev/null)
		rc=$?
		t1=$(date +%s%N)
		p1=$(cat "$T/dpid" 2>/dev/null)
		if [ $rc = 0 ]; then
			echo "ok $(((t1 - t0) / 1000000))"
		elif [[ $out == *"no oxprofd"* ]]; then
			echo "down"
		elif [ "$p0" != "$p1" ] || ! kill -0 "$p1" 2>/dev/null; then
			echo "cut" # killed while answering: expected here
		else
			echo "bad $rc $out"
		fi
		sleep 0.5
	done >"$T/probe.log"
}

echo "soak: ${secs}s, 3 agents at 1 kHz, oxprofd kill -9 every 2-5 s; dir $T"
start_daemon
for i in 1 2 3; do
	# A CPU loop in bash; SIGTERM runs `exit 0`, so the agent's exit path
	# (final flush) runs as in any program that exits normally.
	nice -n 5 env OXPROF_SOCKET="$sock" OXPROF_HZ=1000 OXPROF_START=1 LD_PRELOAD="$agent" \
		bash -c 'trap "exit 0" TERM; while :; do :; done' &
	agents+=($!)
done
probe &
probe_pid=$!

kills=0
end=$(($(date +%s) + secs))
while [ "$(date +%s)" -lt "$end" ]; do
	wait_ms=$((2000 + RANDOM % 3001))
	for _ in $(seq $((wait_ms / 250))); do note_rss; sleep 0.25; done
	note_rss
	echo "killed $dpid" >"$T/dpid" # first: a killed daemon is a zombie until reaped
	kill -KILL "$dpid"
	wait "$dpid" 2>/dev/null
	kills=$((kills + 1))
	start_daemon
done

# Final: the agents exit while the last daemon runs.
for p in "${agents[@]}"; do kill -TERM "$p"; done
for p in "${agents[@]}"; do wait "$p"; done
kill "$probe_pid" 2>/dev/null
wait "$probe_pid" 2>/dev/null
probe_pid=""
[ -n "$fpid" ] && { kill "$fpid" 2>/dev/null; wait "$fpid" 2>/dev/null; fpid=""; }
fails=0
for _ in $(seq 100); do
	"$ctl" --socket "$sock" status --json >"$T/status.json" 2>/dev/null
	n=$(jq --argjson a "[$(IFS=,; echo "${agents[*]}")]" \
		'[.agents[] | select(.pid as $p | $a | index($p)) | select(.state == "exited")] | length' \
		"$T/status.json" 2>/dev/null)
	[ "$n" = 3 ] && break
	sleep 0.1
done
note_rss
echo "kills: $kills"
[ -n "$flooder" ] && echo "flooder: started $flooder_starts times ($flooder SOCKET)"
for p in "${agents[@]}"; do
	row=$(jq -c --argjson p "$p" '.agents[] | select(.pid == $p)' "$T/status.json")
	if [ -z "$row" ]; then
		echo "agent $p: no row in status"; fails=$((fails + 1)); continue
	fi
	read -r st taken sent acc ref drop < <(jq -r \
		'[.state, .taken, .sent, .samples, .dropped_daemon, .dropped_agent] | @tsv' <<<"$row")
	verdict=exact
	if [ "$st" != exited ] || [ $((acc + ref + drop)) != "$taken" ] || [ $((acc + ref)) != "$sent" ]; then
		verdict=WRONG; fails=$((fails + 1))
	fi
	echo "agent $p: $st, taken $taken = accepted $acc + refused $ref + dropped $drop" \
		"($((taken - acc - ref - drop)) unaccounted), agent says sent $sent: $verdict"
done
ok=$(grep -c '^ok' "$T/probe.log") down=$(grep -c '^down' "$T/probe.log")
cut=$(grep -c '^cut' "$T/probe.log") bad=$(grep -c '^bad' "$T/probe.log")
lat=$(awk '/^ok/ {n++; s+=$2; if ($2 > m) m = $2} END {if (n) printf "mean %.0f ms, max %d ms", s/n, m}' \
	"$T/probe.log")
echo "status probes: $ok answered ($lat), $down while no daemon listened," \
	"$cut cut by a kill, $bad failed or hung"
grep '^bad' "$T/probe.log" | sort | uniq -c | head -5
echo "daemon RSS: max VmRSS $((rss_max / 1024)) MiB, max VmHWM $((hwm_max / 1024)) MiB (over all incarnations)"
jq -r '"aggregate: \(.samples) samples, mem_used \(.mem_used / 1048576 * 10 | floor / 10) MiB of \(.mem_budget / 1048576) MiB"' \
	"$T/status.json"
# Snapshot cost: how many, how long each write took.
grep -o 'snapshot written: .*' "$log" | awk -v secs="$secs" '
	{ for (i = 1; i <= NF; i++) if ($i == "ms") t = $(i - 1); b = $3; n++; s += t; if (t > m) m = t }
	END { if (n) printf "snapshots: %d written (%.2f/s), write mean %.1f ms, max %.1f ms, last %d bytes\n",
		n, n / secs, s / n, m, b }'
[ $fails = 0 ] && [ "$bad" = 0 ] && { echo "soak: PASS"; exit 0; }
keep=1
echo "soak: FAIL"
exit 1
