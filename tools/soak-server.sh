#!/usr/bin/env bash
# Soaks stewardd under faults (tests/soak/soak.py): many pipelining clients
# checked against a model of every acknowledged write, while clients are
# killed mid-pipeline, slow readers flood it, and the server is SIGKILLed
# and restarted every few seconds. Loopback only; it stops by itself.
#
# Usage: tools/soak-server.sh BUILD_DIR [SECONDS] [soak.py options...]
#   BUILD_DIR  the CMake build directory (stewardd is BUILD_DIR/src/server/stewardd)
#   SECONDS    how long in all (default 180; 30 is enough while developing)
# The server's log, the summary and any hang's thread stacks go to
# BUILD_DIR/soak/. Exits 0 when nothing was lost and nothing broke the model,
# 1 otherwise, 2 on a usage or setup error.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

if [ $# -lt 1 ] || [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
    [ $# -lt 1 ] && exit 2 || exit 0
fi
build=$1
secs=${2:-180}
shift
[ $# -gt 0 ] && shift
bin=$build/src/server/stewardd
if [ ! -x "$bin" ]; then
    echo "soak-server: no $bin (build it first: make all)" >&2
    exit 2
fi
case "$secs" in
'' | *[!0-9]*) echo "soak-server: SECONDS must be a whole number, not '$secs'" >&2; exit 2 ;;
esac
if ! command -v python3 >/dev/null; then
    echo "soak-server: python3 is needed" >&2
    exit 2
fi
logs=$build/soak
mkdir -p "$logs"

# A safety net over the soak's own clock: it gets SIGTERM (and cleans up)
# well after it should have finished, SIGKILL 10 s later; stewardd dies
# with it either way (--pdeathsig).
timeout --kill-after=10 $((secs + 180)) \
    python3 "$root/tests/soak/soak.py" --server "$bin" --duration "$secs" --log-dir "$logs" "$@"
rc=$?
if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
    echo "soak-server: the soak itself did not finish in time (status $rc); see $logs/" >&2
    rc=1
fi
exit $rc
