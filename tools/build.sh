#!/usr/bin/env bash
# Configures and builds one build directory with its output in a log, shown
# only when something fails: `make run` is for the examples' output, not
# the compiler's. The first build says, in one line, where its log is.
#
# Usage: tools/build.sh BUILD_DIR JOBS [cmake configure options...]
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
dir=$1 jobs=$2
shift 2
log=$dir.log
mkdir -p "$(dirname "$dir")"

[ -f "$dir/CMakeCache.txt" ] || echo "steward: first build of $dir (log: $log)"
if ! cmake -S . -B "$dir" "$@" >"$log" 2>&1; then
    cat "$log"
    echo "steward: configuring $dir failed (log: $log)" >&2
    exit 1
fi
if ! cmake --build "$dir" -j"$jobs" >>"$log" 2>&1; then
    # The progress lines, and make's directory lines under make run, only
    # bury the errors.
    grep -vE '^\[ *[0-9]+%\] (Building|Linking|Built target)|^-- |^g?make\[[0-9]+\]: (Entering|Leaving) directory' "$log"
    echo "steward: building $dir failed (log: $log)" >&2
    exit 1
fi
