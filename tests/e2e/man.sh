#!/usr/bin/env bash
# man.sh SRC_DIR OXPROFD OXPROFCTL - the man pages render without a single
# warning (groff -ww, man --warnings), and they cannot fall behind the code:
# every option `oxprofd --help` prints is in oxprofd.8 with its default,
# every command and option `oxprofctl help [CMD]` prints is in oxprofctl.1
# under that command, every OXPROF_* variable the agent reads and every
# function and struct field of oxprof.h is in liboxprof.3 - and none of the
# pages documents an option, command or variable the code no longer has.
# Exits 77 (skipped) when groff or man is not installed.
set -euo pipefail
src=$1 oxprofd=$2 oxprofctl=$3
pages=("$src/man/oxprofctl.1" "$src/man/oxprofd.8" "$src/man/liboxprof.3")
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

for tool in groff man; do
	if ! command -v "$tool" >/dev/null; then
		echo "SKIP: $tool is not installed (scripts/deps.sh test installs groff-base and man-db)"
		exit 77
	fi
done
export LC_ALL=C.UTF-8 MANWIDTH=80
version=$("$oxprofd" --version | awk '{ print $2 }')

# ---- rendering: not one warning ----
for p in "${pages[@]}"; do
	[ -f "$p" ] || { fail "missing page $p"; continue; }
	base=$(basename "$p")
	name=${base%.*} sect=${base##*.}
	th=$(awk '$1 == ".TH" { print $2, $3; exit }' "$p")
	[ "$th" = "${name^^} $sect" ] || fail "$base: .TH says '$th', expected '${name^^} $sect'"
	grep -qE "^\.TH [A-Z]+ [0-9] [0-9-]+ \"oxprof $version\"" "$p" ||
		fail "$base: .TH does not name oxprof $version (oxprofd --version)"
	w=$(groff -man -Tutf8 -ww -z "$p" 2>&1) || fail "$base: groff failed"
	[ -z "$w" ] || fail "$base: groff warnings:"$'\n'"$w"
	w=$(man --warnings -E UTF-8 -l -Tutf8 -Z "$p" 2>&1 >/dev/null) || fail "$base: man -l failed"
	[ -z "$w" ] || fail "$base: man --warnings:"$'\n'"$w"
	# And as a person reads it: man's own device and width, no -T.
	w=$(man -l --warnings -E UTF-8 "$p" 2>&1 >/dev/null) || fail "$base: man -l failed"
	[ -z "$w" ] || fail "$base: man -l --warnings:"$'\n'"$w"
done
# A cross-reference names the section the page is installed in.
for p in "${pages[@]}"; do
	while IFS= read -r ref; do
		name=${ref%% *} sect=${ref##*(} sect=${sect%)}
		[ -f "$src/man/$name.$sect" ] ||
			fail "$(basename "$p") refers to $name($sect), but the page is $(cd "$src/man" && ls "$name".* 2>/dev/null)"
	done < <(grep -ohE '^\.BR (oxprofctl|oxprofd|liboxprof) \([0-9]\)' "$p" | sed 's/^\.BR //')
done
[ "$fails" -eq 0 ] || { echo "$fails failure(s)" >&2; exit 1; }
echo "rendered: ${#pages[@]} pages, no warnings"

# The page as plain text, one paragraph line per source paragraph (a very
# long line length, no hyphenation), so options and words are never split.
text() { groff -man -Tascii -P-cbou -rLL=2000n -rHY=0 "$1" 2>/dev/null | sed 's/.\x08//g'; }
# One section (a line starting with its title) up to the next section.
section() { awk -v s="$2" '/^[A-Z]/ { on = ($0 == s) ; next } on' <<<"$1"; }
# In a section's text, the entry whose tag line (7 spaces in) starts with
# $2, up to the next tag line.
entry() {
	awk -v t="$2" '
		/^       [^ ]/ { on = index(substr($0, 8), t) == 1 &&
			(length($0) == 7 + length(t) || substr($0, 8 + length(t), 1) ~ /[ ,=]/) }
		on' <<<"$1"
}
# In a section's text, the subsection titled $2 (3 spaces in), up to the next.
subsection() { awk -v t="   $2" '/^   [^ ]/ { on = ($0 == t); next } on' <<<"$1"; }

# ---- oxprofd.8 against oxprofd --help ----
d_text=$(text "$src/man/oxprofd.8")
d_opts=$(section "$d_text" OPTIONS)
help=$("$oxprofd" --help)
n=0
while IFS= read -r line; do
	[[ $line =~ ^\ \ --([a-z-]+)\ +(.*)$ ]] || continue
	opt=${BASH_REMATCH[1]} rest=${BASH_REMATCH[2]}
	n=$((n + 1))
	e=$(entry "$d_opts" "--$opt")
	[ -n "$e" ] || { fail "oxprofd.8: OPTIONS has no entry for --$opt"; continue; }
	if [[ $rest =~ \[([^]]*)\]$ ]]; then
		def=${BASH_REMATCH[1]}
		grep -qF "Default: $def" <<<"$e" ||
			fail "oxprofd.8: --$opt: the default --help prints ($def) is not in the page: $e"
	fi
done <<<"$help"
[ "$n" -gt 10 ] || fail "oxprofd --help listed only $n options: cannot parse it"
# Nothing in the page the daemon does not take.
while IFS= read -r tag; do
	opt=${tag%% *}
	opt=${opt%,}
	grep -qE "^  $opt( |$)" <<<"$help" || fail "oxprofd.8 documents $opt, which oxprofd --help does not list"
done < <(grep -oE '^       --[a-z-]+' <<<"$d_opts" | sed 's/^ *//')
echo "oxprofd.8: all $n options of oxprofd --help, with their defaults"

# ---- oxprofctl.1 against oxprofctl help ----
c_text=$(text "$src/man/oxprofctl.1")
c_cmds=$(section "$c_text" COMMANDS)
c_glob=$(section "$c_text" "GLOBAL OPTIONS")
top=$("$oxprofctl" help)
cmds=$(awk '/^Commands:/ { on = 1; next } on && /^$/ { on = 0 } on && /^  [a-z]/ { print $1 }' <<<"$top")
[ "$(wc -w <<<"$cmds")" -ge 8 ] || fail "oxprofctl help listed only: $cmds"
# Global options, then each command's own.
while IFS= read -r line; do
	[[ $line =~ ^\ \ (-[a-zA-Z]|--[a-z-]+)(,\ (--[a-z-]+))?\  ]] || continue
	for o in "${BASH_REMATCH[1]}" "${BASH_REMATCH[3]}"; do
		[ -n "$o" ] || continue
		grep -qE -- "(^|[ ,])$o([ ,=]|$)" <<<"$c_glob" ||
			fail "oxprofctl.1: GLOBAL OPTIONS does not describe $o"
	done
done < <(awk '/^Global options/ { on = 1; next } on' <<<"$top")
nopts=0
for cmd in $cmds; do
	sub=$(subsection "$c_cmds" "$cmd")
	[ -n "$sub" ] || { fail "oxprofctl.1: COMMANDS has no subsection for $cmd"; continue; }
	grep -qE "^ +oxprofctl $cmd( |$)" <<<"$sub" || fail "oxprofctl.1: $cmd: no synopsis line"
	chelp=$("$oxprofctl" help "$cmd")
	while IFS= read -r line; do
		[[ $line =~ ^\ \ (-[a-zA-Z]|--[a-z-]+)\  ]] || continue
		o=${BASH_REMATCH[1]}
		nopts=$((nopts + 1))
		grep -qE -- "^ +oxprofctl $cmd .*[[ ]$o[] ]" <<<"$sub" ||
			fail "oxprofctl.1: $cmd: option $o (oxprofctl help $cmd) is not in its synopsis"
		entry "$sub" "$o" | grep -q . ||
			fail "oxprofctl.1: $cmd: option $o (oxprofctl help $cmd) has no entry under $cmd"
	done < <(awk '/^Global options/ { exit } { print }' <<<"$chelp")
	# Nothing in the synopsis or the entries the command does not take.
	for o in $(grep -E "^ +oxprofctl $cmd( |$)" <<<"$sub" | grep -oE -- '(^|[[ ])--?[a-z][a-z-]*' |
		tr -d '[ ') $(grep -oE -- '^       --?[a-zA-Z][a-z-]*' <<<"$sub"); do
		grep -qE -- "(^|[ [])$o([] ,=]|$)" <<<"$chelp" ||
			fail "oxprofctl.1: $cmd: the page has $o, which oxprofctl help $cmd does not"
	done
done
for s in $(grep -oE '^   [a-z]+$' <<<"$c_cmds"); do
	grep -qx "$s" <<<"$cmds" || fail "oxprofctl.1 documents a command $s that oxprofctl help does not list"
done
# The exit statuses oxprofctl help states.
for st in 0 1 2; do
	grep -qE "^       $st\b" <<<"$(section "$c_text" "EXIT STATUS")" ||
		fail "oxprofctl.1: EXIT STATUS does not describe $st"
done
echo "oxprofctl.1: all $(wc -w <<<"$cmds") commands and $nopts command options of oxprofctl help"

# ---- liboxprof.3 against the agent's sources and oxprof.h ----
l_text=$(text "$src/man/liboxprof.3")
l_env=$(section "$l_text" ENVIRONMENT)
vars=$(grep -ohE '"OXPROF_[A-Z_]+"' -r --include="*.c" "$src"/agent | tr -d '"' | sort -u)
[ "$(wc -w <<<"$vars")" -ge 10 ] || fail "found only these OXPROF_ variables in agent/: $vars"
for v in $vars; do
	entry "$l_env" "$v" | grep -q . || fail "liboxprof.3: ENVIRONMENT has no entry for $v (read in agent/)"
done
for v in $(grep -oE '^       OXPROF_[A-Z_]+' <<<"$l_env" | sed 's/^ *//'); do
	grep -qx "$v" <<<"$vars" || fail "liboxprof.3 documents $v, which the agent does not read"
done
hdr=$src/agent/include/oxprof.h
l_api=$(section "$l_text" "C API")
l_syn=$(section "$l_text" SYNOPSIS)
nfn=0
for f in $(grep -oE 'OXPROF_EXTERN [a-z ]+\*?(oxprof_[a-z_]+)\(' "$hdr" | grep -oE 'oxprof_[a-z_]+'); do
	nfn=$((nfn + 1))
	grep -qE "^       $f\(" <<<"$l_api" || fail "liboxprof.3: C API has no entry for $f()"
	grep -qE "\b$f\(" <<<"$l_syn" || fail "liboxprof.3: SYNOPSIS lacks $f()"
done
for f in $(grep -oE '^       oxprof_[a-z_]+\(' <<<"$l_api" | grep -oE 'oxprof_[a-z_]+'); do
	grep -qE "OXPROF_EXTERN .*\b$f\(" "$hdr" || fail "liboxprof.3 documents $f(), which oxprof.h does not declare"
done
# The page shows the header's structs and enum as they are, field by field.
squash() { sed -e 's/[[:space:]]\+/ /g' -e 's/^ //' -e 's/ $//'; }
api_sq=$(squash <<<"$l_api")
nfield=0
while IFS= read -r line; do
	nfield=$((nfield + 1))
	grep -qxF -- "$line" <<<"$api_sq" || fail "liboxprof.3: C API does not show oxprof.h's line: $line"
done < <(awk '/^(struct oxprof_[a-z]+ \{|enum oxprof_mode)/ { on = 1 } on { print } /^\};/ { on = 0 }' "$hdr" | squash)
[ "$nfield" -gt 10 ] || fail "found only $nfield struct lines in oxprof.h"
echo "liboxprof.3: all $(wc -w <<<"$vars") OXPROF_* variables of agent/, $nfn functions and $nfield declaration lines of oxprof.h"

[ "$fails" -eq 0 ] || { echo "$fails failure(s)" >&2; exit 1; }
echo "man pages: rendered cleanly and in step with the code"
