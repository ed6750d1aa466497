#!/usr/bin/env bash
# install.sh BUILD_DIR SPLIT - `cmake --install` into a temp prefix puts every
# piece where it belongs, oxprof.pc builds a program against the installed
# agent, and the installed oxprofctl finds the installed daemon and agent.
set -euo pipefail
build=$1 split=$2
tmp=$(mktemp -d /tmp/oxt-install-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$tmp/usr" >/dev/null
for f in bin/oxprofd bin/oxprofctl include/oxprof.h lib/liboxprof.so lib/pkgconfig/oxprof.pc \
	lib/systemd/system/oxprofd.service lib/systemd/system/oxprofd.socket \
	etc/oxprof/oxprofd.conf.example share/doc/oxprof/README.md share/doc/oxprof/PROTOCOL.md \
	share/man/man1/oxprofctl.1 share/man/man7/liboxprof.7 share/man/man8/oxprofd.8; do
	[ -e "$tmp/usr/$f" ] || fail "not installed: $f"
done
echo "installed: every file in place"

# Only the public API leaves the agent.
extra=$(nm -D --defined-only "$tmp/usr/lib/liboxprof.so" | awk '$2 == "T" {print $3}' |
	grep -v -E '^(oxprof_[a-z_]+|pthread_create|dlopen|dlclose|fork|pipe2|execv?p?e?|execl[pe]?|fexecve|_exit|_Exit|sigaction|signal|bsd_signal|ssignal|sysv_signal|__sysv_signal|sigset)$' || true)
[ -z "$extra" ] || fail "liboxprof.so exports more than its API: $extra"

# oxprof.pc, as a user would use it (pkg-config with the installed prefix).
sed -i "s|^prefix=.*|prefix=$tmp/usr|" "$tmp/usr/lib/pkgconfig/oxprof.pc"
cat >"$tmp/use.c" <<'C'
#include <oxprof.h>
int main(void) { struct oxprof_status st; return oxprof_status(&st) != 0; }
C
# shellcheck disable=SC2046
cc -o "$tmp/use" "$tmp/use.c" $(PKG_CONFIG_PATH=$tmp/usr/lib/pkgconfig pkg-config --cflags --libs oxprof) ||
	fail "cannot build against oxprof.pc"
echo "oxprof.pc: a program builds against the installed agent"

# grep reads all of ldd's output: with -q it may exit first, and under pipefail
# the SIGPIPE ldd then gets would make a sanitizer build look like a plain one.
if ldd "$tmp/usr/bin/oxprofctl" | grep libasan >/dev/null; then
	echo "sanitizer build: skipping the run of the installed binaries"
	exit 0
fi
LD_LIBRARY_PATH=$tmp/usr/lib OXPROF_DAEMON=0 OXPROF_DISABLE=1 "$tmp/use" || fail "linked program failed"
out=$(env -u OXPROF_SOCKET TMPDIR="$tmp" "$tmp/usr/bin/oxprofctl" record --hz 500 -- "$split" -n 20000 2>&1) ||
	{ echo "$out" >&2; fail "installed oxprofctl record failed"; }
echo "$out" | grep -q "hot_a" || { echo "$out" >&2; fail "no hot_a in the installed record's table"; }
echo "installed oxprofctl record found the installed oxprofd and liboxprof.so"
