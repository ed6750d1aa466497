#!/usr/bin/env bash
# install.sh BUILD_DIR SPLIT - the README's install command, exactly
# (`cmake --install build --prefix /usr`), into a DESTDIR: every piece lands
# where the system looks for it, the units point at the installed oxprofd
# and at /etc/oxprof and pass `systemd-analyze verify` against the installed
# tree, oxprof.pc (relative to ${pcfiledir}) builds and links a program
# against the installed header and library, the man pages are found by man.
# Then another prefix chosen at install time moves everything with it, and
# the installed oxprofctl finds the installed daemon and agent.
# Exits 77 (skipped) only at the very end, after every other check passed,
# when systemd-analyze is not installed.
set -euo pipefail
build=$1 split=$2
tmp=$(mktemp -d /tmp/oxt-install-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
libdir=$(sed -n 's/^CMAKE_INSTALL_LIBDIR:[A-Z]*=//p' "$build/CMakeCache.txt")
libdir=${libdir:-lib}

# ---- the README: cmake --install build --prefix /usr ----
root=$tmp/root
DESTDIR=$root cmake --install "$build" --prefix /usr >/dev/null
for f in usr/bin/oxprofd usr/bin/oxprofctl usr/include/oxprof.h "usr/$libdir/liboxprof.so" \
	"usr/$libdir/pkgconfig/oxprof.pc" usr/lib/systemd/system/oxprofd.service \
	usr/lib/systemd/system/oxprofd.socket etc/oxprof/oxprofd.conf.example \
	usr/share/doc/oxprof/README.md usr/share/doc/oxprof/PROTOCOL.md usr/share/doc/oxprof/JSON.md \
	usr/share/man/man1/oxprofctl.1 usr/share/man/man3/liboxprof.3 usr/share/man/man8/oxprofd.8; do
	[ -e "$root/$f" ] || fail "--prefix /usr: not installed: /$f"
done
stray=$(cd "$root" && find . -path ./usr -prune -o -path ./etc -prune -o -print | grep -vx . || true)
[ -z "$stray" ] || fail "--prefix /usr installed outside /usr and /etc: $stray"
[ ! -e "$root/usr/etc" ] || fail "--prefix /usr put a config under /usr/etc (it belongs in /etc)"
unit=$root/usr/lib/systemd/system/oxprofd.service
grep -qx 'ExecStart=/usr/bin/oxprofd --config /etc/oxprof/oxprofd.conf --state-dir /var/lib/oxprof' "$unit" ||
	fail "--prefix /usr: ExecStart is not the installed oxprofd with /etc/oxprof: $(grep '^ExecStart' "$unit")"
# oxprofd reads its options only at start: a reload action would promise
# what SIGHUP (a snapshot) does not do.
if grep -n '^ExecReload=' "$unit"; then
	fail "the unit has ExecReload, but oxprofd cannot reload its configuration"
fi
if grep -rn '/usr/local' "$root/usr/lib/systemd" "$root/usr/$libdir/pkgconfig"; then
	fail "--prefix /usr: the units or oxprof.pc still name /usr/local"
fi
echo "--prefix /usr: every file in place, the unit runs /usr/bin/oxprofd --config /etc/oxprof/oxprofd.conf"

# Only the public API leaves the agent.
extra=$(nm -D --defined-only "$root/usr/$libdir/liboxprof.so" | awk '$2 == "T" {print $3}' |
	grep -v -E '^(oxprof_[a-z_]+|pthread_create|dlopen|dlclose|fork|pipe2|execv?p?e?|execl[pe]?|fexecve|_exit|_Exit|sigaction|signal|bsd_signal|ssignal|sysv_signal|__sysv_signal|sigset)$' || true)
[ -z "$extra" ] || fail "liboxprof.so exports more than its API: $extra"

# oxprof.pc as it is installed: no editing, only PKG_CONFIG_PATH.
export PKG_CONFIG_PATH=$root/usr/$libdir/pkgconfig
flags=$(pkg-config --cflags --libs oxprof) || fail "pkg-config --cflags --libs oxprof failed"
case "$flags" in *"$root/usr/include"* | *"$root/usr/$libdir/pkgconfig/../../include"*) ;;
*) fail "oxprof.pc does not point into the installed tree: $flags" ;; esac
cat >"$tmp/use.c" <<'C'
#include <oxprof.h>
int main(void) { struct oxprof_status st; return oxprof_status(&st) != 0; }
C
# shellcheck disable=SC2086
cc -o "$tmp/use" "$tmp/use.c" $flags || fail "cannot build against the installed oxprof.pc ($flags)"
echo "oxprof.pc: $flags; a program builds and links against the installed agent"

for page in oxprofctl oxprofd liboxprof; do
	MANPATH=$root/usr/share/man man -w "$page" >/dev/null 2>&1 ||
		fail "man does not find the installed $page page"
done
echo "man pages: oxprofctl(1), oxprofd(8), liboxprof(3) found by man"

# ---- a prefix given at install time moves everything ----
other=$tmp/opt/oxprof
cmake --install "$build" --prefix "$other" >/dev/null
grep -qx "ExecStart=$other/bin/oxprofd --config $other/etc/oxprof/oxprofd.conf --state-dir /var/lib/oxprof" \
	"$other/lib/systemd/system/oxprofd.service" ||
	fail "--prefix $other: ExecStart: $(grep '^ExecStart' "$other/lib/systemd/system/oxprofd.service")"
[ -f "$other/etc/oxprof/oxprofd.conf.example" ] || fail "--prefix $other: no etc/oxprof/oxprofd.conf.example"
PKG_CONFIG_PATH=$other/$libdir/pkgconfig pkg-config --cflags oxprof | grep -qF -- "-I$other/$libdir/pkgconfig/../../include" ||
	fail "--prefix $other: oxprof.pc does not follow the prefix"
echo "--prefix $other: the unit, the config and oxprof.pc follow it"

# grep reads all of ldd's output: with -q it may exit first, and under pipefail
# the SIGPIPE ldd then gets would make a sanitizer build look like a plain one.
if ldd "$root/usr/bin/oxprofctl" | grep libasan >/dev/null; then
	echo "sanitizer build: skipping the run of the installed binaries"
else
	LD_LIBRARY_PATH=$root/usr/$libdir OXPROF_DAEMON=0 OXPROF_DISABLE=1 "$tmp/use" || fail "linked program failed"
	out=$(env -u OXPROF_SOCKET TMPDIR="$tmp" "$root/usr/bin/oxprofctl" record --hz 500 -- "$split" -n 20000 2>&1) ||
		{ echo "$out" >&2; fail "installed oxprofctl record failed"; }
	echo "$out" | grep -q "hot_a" || { echo "$out" >&2; fail "no hot_a in the installed record's table"; }
	echo "installed oxprofctl record found the installed oxprofd and liboxprof.so"
fi

# ---- the installed units verify, with the installed binaries ----
if ! command -v systemd-analyze >/dev/null; then
	echo "SKIP: systemd-analyze is not installed: the units were not verified"
	exit 77
fi
# --root makes systemd-analyze look for ExecStart's binary inside the tree;
# the targets the units order against and /bin/kill (ExecReload) come
# from this host, the man page in Documentation= from the tree.
mkdir -p "$root/usr/bin"
cp -n /usr/lib/systemd/system/*.target "$root/usr/lib/systemd/system/"
cp /bin/kill "$root/usr/bin/kill"
[ -e "$root/bin" ] || ln -s usr/bin "$root/bin"
MANPATH=$root/usr/share/man systemd-analyze verify --root="$root" \
	/usr/lib/systemd/system/oxprofd.socket /usr/lib/systemd/system/oxprofd.service ||
	fail "systemd-analyze verify of the units installed with --prefix /usr"
echo "systemd-analyze verify: the installed units pass"
