#!/usr/bin/env bash
# deps.sh [build|test|bench] - install the Debian packages oxprof needs for
# the given job, only those missing.  Runs apt-get as root (or via sudo).
set -euo pipefail
job=${1:-build}
pkgs=(build-essential cmake pkg-config libuv1-dev libmsgpack-dev libunwind-dev
      zlib1g-dev libiberty-dev)
case $job in
test) pkgs+=(clang libclang-rt-14-dev jq python3 procps util-linux systemd strace chromium
              groff-base man-db golang-go binutils) ;;
bench) pkgs+=(google-perftools libgoogle-perftools-dev linux-perf hyperfine
              valgrind python3 procps golang-go chromium) ;;
esac
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
