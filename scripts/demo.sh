#!/usr/bin/env bash
# demo.sh BUILD_DIR - the main job: profile the bundled example program end
# to end (agent -> private daemon -> oxprofctl) and print its top functions.
set -euo pipefail
b=${1:-build}
missing=()
for f in "$b/client/oxprofctl" "$b/daemon/oxprofd" "$b/agent/liboxprof.so" "$b/examples/hotspots"; do
	[ -x "$f" ] || [ -f "$f" ] || missing+=("$f")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "demo: not built yet: ${missing[*]}" >&2
	exit 1
fi
echo "+ oxprofctl record --hz 1000 -- hotspots   (a CPU-bound example: 60/30/10 split)" >&2
"$b/client/oxprofctl" record --hz 1000 -- "$b/examples/hotspots"
