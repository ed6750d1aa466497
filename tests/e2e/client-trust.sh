#!/usr/bin/env bash
# client-trust.sh PART OXPROFCTL OXPROFD AGENT HOTSPOTS BUILD_DIR [EXTRA_PRELOAD]
#
# oxprofctl never reports success when it lost data, and its exit codes
# say what happened (issue 12).  PART is one of:
#   main   write errors on standard output (/dev/full) for every command,
#          -o checked before the program starts, the one set of limits,
#          the no-profile exit status, the no-match rule, --version,
#          "did you mean", formats from -o's extension, bash completion
#          and the installed files.
#   tmpfs  `record -o` on a full file system: a 64 KiB tmpfs in a private
#          mount namespace.  Exits 77 (skipped) where it cannot mount.
# EXTRA_PRELOAD (the ASan runtime under ASan) goes before the agent.
set -uo pipefail
part=$1 ctl=$2 oxprofd=$3 agent=$4 hot=$5 build=$6 extra=${7:-}
T=$(mktemp -d /tmp/oxt-client-trust.XXXXXX)
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
# expect_full CODE DESCRIPTION -- CMD...: the same with stdout on /dev/full.
expect_full() {
	local want=$1 what=$2
	shift 3
	"$@" >/dev/full 2>"$T/err"
	local got=$?
	if [ "$got" != "$want" ]; then
		fail "$what: exit $got with stdout on /dev/full, wanted $want"
		sed 's/^/    stderr: /' "$T/err" | head -20 >&2
		return 1
	fi
	return 0
}
has() { grep -q -- "$2" "$1" || { fail "$3: no '$2' in $1:"; sed 's/^/    /' "$1" | head -20 >&2; return 1; }; }
hasnt() { ! grep -q -- "$2" "$1" || { fail "$3: '$2' in $1:"; sed 's/^/    /' "$1" | head -20 >&2; return 1; }; }
nofile() { [ ! -e "$1" ] || { fail "$2: $1 exists"; return 1; }; }
preload=$agent
[ -n "$extra" ] && preload="$extra:$agent"
export OXPROF_AGENT=$agent
ENOSPC="No space left on device"

start_daemon() {
	S=$T/d.sock
	"$oxprofd" --socket "$S" --flush-ms 100 2>"$T/oxprofd.log" &
	dpid=$!
	pids+=($dpid)
	for _ in $(seq 200); do "$ctl" --socket "$S" status >/dev/null 2>&1 && break; sleep 0.05; done
	export OXPROF_SOCKET=$S
}

part_tmpfs() {
	if ! command -v unshare >/dev/null || ! unshare -m true 2>/dev/null; then
		echo "SKIP: cannot make a private mount namespace (needs root or user namespaces)"
		exit 77
	fi
	start_daemon
	mkdir -p "$T/full"
	# In the namespace: a 64 KiB tmpfs, filled up, then record into it.
	unshare -m bash -c '
		set -u
		mount -t tmpfs -o size=64k oxt-full "$1" || exit 77
		dd if=/dev/zero of="$1/filler" bs=4k 2>/dev/null
		for f in out.folded out.json; do
			"$2" record -o "$1/$f" -- "$3" -n 2000 >"$4/$f.out" 2>"$4/$f.err"
			echo $? >"$4/$f.rc"
			ls -A "$1" >"$4/$f.ls"
		done
	' oxt "$T/full" "$ctl" "$hot" "$T"
	rc=$?
	[ "$rc" = 77 ] && { echo "SKIP: cannot mount a tmpfs here"; exit 77; }
	for f in out.folded out.json; do
		[ "$(cat "$T/$f.rc")" = 1 ] || fail "record -o full/$f: exit $(cat "$T/$f.rc"), wanted 1"
		has "$T/$f.err" "oxprofctl: cannot write $T/full/$f: $ENOSPC" "record -o full/$f message" &&
			hasnt "$T/$f.err" "wrote" "record -o full/$f claims success" &&
			ok "record -o $f on a full disk: exit 1, '$ENOSPC', no 'wrote'"
		[ "$(cat "$T/$f.ls")" = filler ] && ok "record -o $f on a full disk left no file behind" ||
			fail "record -o full/$f left: $(tr '\n' ' ' <"$T/$f.ls")"
	done
}

part_main() {
	echo "== write errors on standard output, without a daemon"
	for args in "help" "--help" "help record" "record --help" "--version" "version"; do
		# shellcheck disable=SC2086
		expect_full 1 "$args" -- "$ctl" --socket "$T/none.sock" $args &&
			has "$T/err" "oxprofctl: cannot write standard output: $ENOSPC" "$args >/dev/full" &&
			ok "$args >/dev/full: exit 1"
	done

	echo "== -o is opened before the program starts"
	expect 2 "record -o into a missing directory" -- \
		"$ctl" --socket "$T/none.sock" record -o "$T/nodir/out.folded" -- touch "$T/marker" &&
		has "$T/err" "cannot write $T/nodir/out.folded: No such file or directory" "missing dir message" &&
		nofile "$T/marker" "record -o missing dir ran the program" &&
		ok "record -o missing/dir: exit 2, the program never ran"
	mkdir "$T/adir"
	expect 2 "record -o a directory" -- "$ctl" --socket "$T/none.sock" record -o "$T/adir" -- touch "$T/marker" &&
		has "$T/err" "cannot write $T/adir: Is a directory" "directory as -o message" &&
		nofile "$T/marker" "record -o DIR ran the program" &&
		[ -z "$(ls -A "$T/adir")" ] && ok "record -o DIR: exit 2, the program never ran"

	echo "== formats from -o's name"
	expect 2 "record -o x.svg" -- "$ctl" --socket "$T/none.sock" record -o "$T/x.svg" -- touch "$T/marker" &&
		has "$T/err" ".html" "svg refusal names .html" && nofile "$T/marker" "record -o x.svg ran" &&
		nofile "$T/x.svg" "record -o x.svg created it" && ok "record -o x.svg: refused before the start"
	expect 2 "record --format json -o x.folded" -- \
		"$ctl" --socket "$T/none.sock" record --format json -o "$T/x.folded" -- touch "$T/marker" &&
		nofile "$T/marker" "mismatched --format ran" && ok "record --format json -o x.folded: refused"
	expect 2 "record --format folded without -o" -- \
		"$ctl" --socket "$T/none.sock" record --format folded -- touch "$T/marker" &&
		has "$T/err" "-o" "--format without -o message" && nofile "$T/marker" "--format without -o ran" &&
		ok "record --format without -o: refused"

	echo "== one set of limits"
	max_hz=$(grep -oE 'OXP_MAX_HZ +[0-9]+' "$src_dir/proto/include/oxp/protocol.h" | awk '{print $2}')
	max_depth=$(grep -oE 'OXP_MAX_DEPTH +[0-9]+' "$src_dir/proto/include/oxp/protocol.h" | awk '{print $2}')
	agent_hz=$(grep -oE 'OXA_MAX_HZ +[^ ]+' "$src_dir/agent/sampler/sampler.h" | awk '{print $2}')
	[ "$max_hz" = 20000 ] && [ "$max_depth" = 256 ] || fail "protocol limits are $max_hz Hz, depth $max_depth"
	grep -q "OXA_MAX_HZ.*OXP_MAX_HZ" "$src_dir/agent/sampler/sampler.h" ||
		fail "the agent's rate limit is its own number ($agent_hz), not OXP_MAX_HZ"
	for c in record start; do
		"$ctl" help "$c" >"$T/help.$c"
		has "$T/help.$c" "1\.\.$max_hz" "help $c: --hz range" && has "$T/help.$c" "1\.\.$max_depth" "help $c: --depth range"
	done
	grep -q "1 … 20 000 Hz" "$src_dir/proto/PROTOCOL.md" || fail "PROTOCOL.md does not say 1 … 20 000 Hz"
	grep -qE "frames in one stack \| 256 " "$src_dir/proto/PROTOCOL.md" || fail "PROTOCOL.md does not say 256 frames"
	expect 2 "record --hz $((max_hz + 1))" -- \
		"$ctl" --socket "$T/none.sock" record --hz $((max_hz + 1)) -- touch "$T/marker" &&
		has "$T/err" "1 to $max_hz" "--hz refusal" && nofile "$T/marker" "record --hz over the limit ran" &&
		ok "record --hz $((max_hz + 1)): exit 2 before the start"
	expect 2 "record --depth $((max_depth + 1))" -- \
		"$ctl" --socket "$T/none.sock" record --depth $((max_depth + 1)) -- touch "$T/marker" &&
		nofile "$T/marker" "record --depth over the limit ran" && ok "record --depth over the limit: exit 2"
	expect 2 "start --hz 50000" -- "$ctl" --socket "$T/none.sock" start --hz 50000 &&
		ok "start --hz 50000: exit 2 (no daemon contacted)"

	echo "== --version, help, did you mean"
	expect 0 "--version" -- "$ctl" --version && has "$T/out" "^oxprofctl [0-9]" "--version output" &&
		expect 0 "-V" -- "$ctl" -V && has "$T/out" "^oxprofctl [0-9]" "-V output" && ok "--version and -V"
	"$ctl" help >"$T/h1"
	"$ctl" --help >"$T/h2"
	cmp -s "$T/h1" "$T/h2" && ok "help and --help agree" || fail "help and --help differ"
	"$ctl" help query >"$T/h1"
	"$ctl" query --help >"$T/h2"
	cmp -s "$T/h1" "$T/h2" && ok "help query and query --help agree" || fail "help query and query --help differ"
	expect 2 "a typo" -- "$ctl" stauts && has "$T/err" "did you mean 'status'" "typo suggestion" &&
		ok "stauts: did you mean 'status'"
	expect 2 "help with a typo" -- "$ctl" help qeury && has "$T/err" "did you mean 'query'" "help typo" &&
		ok "help qeury: did you mean 'query'"
	expect 2 "far from any command" -- "$ctl" xyzzyplugh && hasnt "$T/err" "did you mean" "no wild guess" &&
		ok "no suggestion for a word far from any command"

	echo "== bash completion and installed files"
	comp=$src_dir/client/completion/oxprofctl.bash
	if bash -n "$comp" 2>"$T/err"; then
		out=$(bash -c 'source "$1"; COMP_WORDS=(oxprofctl st); COMP_CWORD=1; _oxprofctl; printf "%s\n" "${COMPREPLY[@]}"' x "$comp")
		grep -qx status <<<"$out" && grep -qx start <<<"$out" && grep -qx stop <<<"$out" &&
			ok "completion: st -> status start stop" || fail "completion of 'st': $out"
		out=$(bash -c 'source "$1"; COMP_WORDS=(oxprofctl query --format ""); COMP_CWORD=3; _oxprofctl; printf "%s\n" "${COMPREPLY[@]}"' x "$comp")
		grep -qx folded <<<"$out" && ok "completion: query --format values" || fail "completion of --format: $out"
	else
		fail "$comp does not parse"
	fi
	if cmake --install "$build" --prefix "$T/inst" >/dev/null 2>"$T/err"; then
		[ -f "$T/inst/share/bash-completion/completions/oxprofctl" ] && ok "completion installed" ||
			fail "no share/bash-completion/completions/oxprofctl in the install"
		[ -f "$T/inst/share/doc/oxprof/JSON.md" ] && ok "JSON.md installed" ||
			fail "no share/doc/oxprof/JSON.md in the install"
	else
		fail "cmake --install failed: $(head -3 "$T/err")"
	fi

	echo "== no profile: its own exit status, and what is known"
	mkdir -p "$T/tmp"
	export TMPDIR=$T/tmp
	# At 1 Hz a run of a few ms of CPU has a small chance (the timer's first
	# tick has a random phase) to be sampled once: then it has a profile and
	# exits 7.  Five tries make a false failure practically impossible.
	for _ in 1 2 3 4 5; do
		"$ctl" --socket "$T/none.sock" record --hz 1 -- sh -c 'exit 7' >"$T/out" 2>"$T/err"
		rc=$?
		[ "$rc" = 7 ] || break
	done
	[ "$rc" = 3 ] || { fail "record of a program too short for a sample: exit $rc, wanted 3"; sed 's/^/    /' "$T/err" >&2; }
	[ "$rc" = 3 ] &&
		has "$T/err" "no profile" "no-profile message" && has "$T/err" "ran [0-9]* ms" "run time" &&
		has "$T/err" "0 samples" "sample count" && hasnt "$T/err" "statically linked" "no wrong guess" &&
		ok "record --hz 1 -- sh -c 'exit 7': exit 3, ran N ms, 0 samples"
	if ${CC:-cc} -static -O1 -o "$T/static" -x c - <<<'int main(void){return 0;}' 2>/dev/null; then
		expect 3 "record of a static program" -- "$ctl" --socket "$T/none.sock" record -- "$T/static" &&
			has "$T/err" "statically linked" "static program named" &&
			ok "record of a static program: exit 3, says it is static"
		mkdir -p "$T/bin" && cp "$T/static" "$T/bin/oxt-static-prog"
		PATH=$T/bin:$PATH expect 3 "record of a static program found in PATH" -- \
			"$ctl" --socket "$T/none.sock" record -- oxt-static-prog &&
			has "$T/err" "statically linked" "static program via PATH" && ok "static program found via PATH"
	else
		echo "SKIP: no static libc to link a static program (the static case is not tested)"
	fi
	expect 5 "record passes CMD's status with a profile" -- \
		"$ctl" --socket "$T/none.sock" record -- "$hot" -n 2000 -e 5 && ok "record with a profile: CMD's status 5"

	echo "== a shared daemon"
	start_daemon
	expect 0 "status" -- "$ctl" status
	expect_full 1 "status" -- "$ctl" status &&
		has "$T/err" "oxprofctl: cannot write standard output: $ENOSPC" "status >/dev/full" &&
		ok "status >/dev/full: exit 1"
	expect_full 1 "status --json" -- "$ctl" --json status && ok "status --json >/dev/full: exit 1"
	expect 1 "query --thread on an empty daemon" -- "$ctl" query --thread nosuch &&
		has "$T/err" "no samples yet" "empty daemon told apart" && ok "query --thread on an empty daemon: exit 1, no samples yet"
	expect 0 "query on an empty daemon" -- "$ctl" query && has "$T/out" "no samples yet" "empty query" &&
		ok "query on an empty daemon: exit 0, no samples yet"
	expect_full 1 "record --json" -- "$ctl" --json record -- "$hot" -n 3000 &&
		has "$T/err" "oxprofctl: cannot write standard output: $ENOSPC" "record --json >/dev/full" &&
		ok "record --json >/dev/full: exit 1"
	for f in folded json table pprof html; do
		expect_full 1 "query --format $f" -- "$ctl" query --format "$f" &&
			has "$T/err" "oxprofctl: cannot write standard output: $ENOSPC" "query --format $f >/dev/full" &&
			{ [ "$(grep -c 'cannot write' "$T/err")" = 1 ] ||
				fail "query --format $f >/dev/full said it more than once: $(cat "$T/err")"; } &&
			ok "query --format $f >/dev/full: exit 1, said once"
	done

	echo "== one no-match rule"
	for sel in "--thread nosuch" "--exe nosuch" "--pid 999999"; do
		# shellcheck disable=SC2086
		expect 1 "query $sel" -- "$ctl" query $sel &&
			has "$T/err" "no samples match $sel" "query $sel message" && ok "query $sel: exit 1, no samples match"
		# shellcheck disable=SC2086
		expect 1 "query --format folded $sel" -- "$ctl" query --format folded $sel &&
			[ ! -s "$T/out" ] && ok "query --format folded $sel: exit 1, nothing on stdout"
	done
	expect 0 "query --exe hotspots" -- "$ctl" query --exe hotspots && ok "a matching selector: exit 0"
	expect 0 "record -o x.json" -- "$ctl" record -o "$T/p.json" -- "$hot" -n 2000 &&
		jq -e '.total > 0' "$T/p.json" >/dev/null && has "$T/err" "wrote" "record -o success line" &&
		[ -z "$(ls -A "$T" | grep '^\.p\.json')" ] && ok "record -o x.json: written, no temp file left"
	# start resets the aggregate: last.
	expect_full 1 "start" -- "$ctl" start && ok "start >/dev/full: exit 1"
	expect_full 1 "stop" -- "$ctl" stop && ok "stop >/dev/full: exit 1"
}

src_dir=$(cd "$(dirname "$0")/../.." && pwd)
case $part in
main) part_main ;;
tmpfs) part_tmpfs ;;
*) echo "unknown part $part" >&2; exit 2 ;;
esac
if [ "$failures" -gt 0 ]; then
	echo "$failures check(s) failed" >&2
	exit 1
fi
echo "all client trust checks ($part) passed"
