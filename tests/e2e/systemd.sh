#!/usr/bin/env bash
# systemd.sh BUILD_DIR OXPROFD OXPROFCTL PRELOAD SPLIT - the units (as
# `cmake --install --prefix /usr` writes them, into a DESTDIR) verify,
# the service's exposure is <= 2.5, socket activation serves a client and an
# agent, and oxprofd sends READY=1 on $NOTIFY_SOCKET once it serves.
set -euo pipefail
build=$1 oxprofd=$2 oxprofctl=$3 agent=$4 split=$5
tmp=$(mktemp -d /tmp/oxt-systemd-XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

DESTDIR=$tmp/root cmake --install "$build" --prefix /usr >/dev/null
service=$tmp/root/usr/lib/systemd/system/oxprofd.service
socket=$tmp/root/usr/lib/systemd/system/oxprofd.socket

echo "== systemd-analyze verify"
# The installed ExecStart path need not exist here: point it at this build
# (install.sh verifies the units against the installed tree itself).
sed "s|^ExecStart=[^ ]*|ExecStart=$oxprofd|" "$service" >"$tmp/oxprofd.service"
cp "$socket" "$tmp/oxprofd.socket"
MANPATH=$tmp/root/usr/share/man systemd-analyze verify "$tmp/oxprofd.socket" "$tmp/oxprofd.service" ||
	fail "systemd-analyze verify reported problems"

echo "== systemd-analyze security"
score=$(systemd-analyze security --offline=true "$tmp/oxprofd.service" 2>&1 |
	sed -n 's/.*Overall exposure level for oxprofd.service: \([0-9.]*\).*/\1/p')
[ -n "$score" ] || fail "no exposure score"
echo "exposure score: $score"
awk -v s="$score" 'BEGIN { exit !(s <= 2.5) }' || fail "exposure $score > 2.5"

echo "== socket activation"
sock=$tmp/act.sock
systemd-socket-activate -l "$sock" "$oxprofd" --log-level info 2>"$tmp/act.log" &
pids+=($!)
for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done
[ -S "$sock" ] || fail "systemd-socket-activate did not create $sock"
"$oxprofctl" --socket "$sock" status >"$tmp/status.txt" ||
	{ cat "$tmp/act.log" >&2; fail "oxprofctl status through an activated socket"; }
OXPROF_SOCKET=$sock LD_PRELOAD=$agent "$split" -s 3000 -n 10 >/dev/null &
pids+=($!)
joined=""
for _ in $(seq 50); do
	if "$oxprofctl" --socket "$sock" --json status | grep -q '"pid": *[0-9]'; then
		joined=yes
		break
	fi
	sleep 0.1
done
[ -n "$joined" ] || { cat "$tmp/act.log" >&2; fail "the agent did not join through the activated socket"; }
echo "agent joined through the activated socket"

echo "== sd_notify READY=1"
python3 - "$oxprofd" "$tmp" <<'PY'
import os, socket, subprocess, sys, time
oxprofd, tmp = sys.argv[1], sys.argv[2]
ns = os.path.join(tmp, "notify.sock")
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(ns)
s.settimeout(5)
env = dict(os.environ, NOTIFY_SOCKET=ns)
p = subprocess.Popen([oxprofd, "--socket", os.path.join(tmp, "n.sock")], env=env,
                     stderr=subprocess.DEVNULL)
try:
    data = s.recv(4096)
    assert b"READY=1" in data, data
    # READY comes only once the socket serves.
    assert os.path.exists(os.path.join(tmp, "n.sock"))
    print("got", data.decode().replace("\n", " "))
finally:
    p.terminate()
    assert p.wait(timeout=5) == 0, "oxprofd did not exit 0 on SIGTERM"
PY
echo "all systemd checks passed"
