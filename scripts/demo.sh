#!/usr/bin/env bash
# demo.sh BUILD_DIR - the main job: profile the bundled example program end
# to end (agent -> private daemon -> oxprofctl) and print its top functions,
# then say how to go on by hand.  Every command shown can be typed as shown,
# from the top of the source tree.
set -euo pipefail
b=${1:-build}
missing=()
for f in "$b/bin/oxprofctl" "$b/bin/oxprofd" "$b/agent/liboxprof.so" "$b/bin/hotspots"; do
	[ -x "$f" ] || [ -f "$f" ] || missing+=("$f")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "demo: not built yet: ${missing[*]}" >&2
	exit 1
fi
echo "+ $b/bin/oxprofctl record --hz 1000 -- $b/bin/hotspots   # a CPU-bound example: 60/30/10 split" >&2
"$b/bin/oxprofctl" record --hz 1000 -- "$b/bin/hotspots"
cat >&2 <<TXT

Next, by hand (the README's "Using it" has more):
  export PATH=\$PWD/$b/bin:\$PATH      # oxprofctl, oxprofd, hotspots
  oxprofctl record -- ./yourprogram   # profile any program of yours, start to finish
  oxprofd &                           # or a daemon and a fleet of processes that join it:
  LD_PRELOAD=\$PWD/$b/agent/liboxprof.so hotspots -p &   # -p: runs until killed
  oxprofctl status                    # the fleet, paused
  oxprofctl unpause; sleep 2; oxprofctl query --limit 10
  kill %2 %1                          # the example, then the daemon
  man -l man/oxprofctl.1              # every command and option
TXT
