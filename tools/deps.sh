#!/usr/bin/env bash
# Makes sure the Debian packages a target needs are installed. As root it
# installs what is missing with apt-get (updating the package lists first: a
# fresh machine may have none); otherwise it names what is missing and fails.
#
# Usage: tools/deps.sh base|bench
set -euo pipefail

base=(cmake make gcc pkg-config libcmocka-dev libxxhash-dev clang-format clang libclang-rt-dev spin man-db groff-base
      redis-tools python3-redis libhiredis-dev tcl dpkg-dev nutcracker)
bench=(golang-go redis-server redis-tools file gnuplot-nox)

case "${1:-base}" in
base) want=("${base[@]}") ;;
bench) want=("${base[@]}" "${bench[@]}") ;;
*) echo "usage: $0 base|bench" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "steward: missing Debian packages: ${missing[*]}" >&2
    echo "steward: install them with: sudo apt-get install ${missing[*]}" >&2
    exit 1
fi
echo "steward: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
