#!/usr/bin/env bash
# Builds steward three ways (plain, ASan+UBSan, TSan), runs every test of
# each through CTest, checks the layers and the formatting, and ends with
# one count.
#
# Usage: tools/run-tests.sh [variant...]   (default: plain address thread)
set -uo pipefail
cd "$(dirname "$0")/.."

variants=("$@")
[ ${#variants[@]} -eq 0 ] && variants=(plain address thread)
jobs=$(nproc)
mkdir -p build
passed=0 failed=0 broken=()

for v in "${variants[@]}"; do
    dir=build/$v
    san=$v
    [ "$v" = plain ] && san=
    echo "== $v build"
    if ! cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSTEWARD_SANITIZE="$san" \
        -DSTEWARD_BENCH=$([ "$v" = plain ] && echo ON || echo OFF) >"$dir.configure.log" 2>&1; then
        cat "$dir.configure.log"; broken+=("$v: configure"); continue
    fi
    if ! cmake --build "$dir" -j"$jobs" >"$dir.build.log" 2>&1; then
        cat "$dir.build.log"; broken+=("$v: build"); continue
    fi
    # As many tests at once as there are CPUs: many are single-threaded,
    # and none asserts on time or shares a port, a directory or a mount.
    # On 2 CPUs this takes make test from about 14.5 to about 11 minutes.
    out=$(cd "$dir" && ctest --output-on-failure -j"$jobs" 2>&1)
    echo "$out" | grep -E '^ *[0-9]+/[0-9]+ Test|tests passed|FAILED|Failed|Error' | grep -v '^$'
    total=$(echo "$out" | sed -n 's/.*tests failed out of \([0-9]*\).*/\1/p' | tail -1)
    nfail=$(echo "$out" | sed -n 's/.* \([0-9]*\) tests failed out of.*/\1/p' | tail -1)
    if [ -z "$total" ]; then
        echo "$out"; broken+=("$v: ctest"); continue
    fi
    passed=$((passed + total - nfail))
    failed=$((failed + nfail))
    [ "$nfail" -gt 0 ] && echo "$out" | tail -40
done

# Redis's own units, on one shard (this machine's default) and on four,
# where the keyspace's two-key commands and EXEC run across shards.
if [ -x build/plain/src/server/stewardd ]; then
    for shards in 1 4; do
        echo "== redis-suite (Redis's own units against stewardd --shards $shards)"
        log=build/redis-suite-$shards.log
        if tools/redis-suite.sh build/plain/src/server/stewardd --shards $shards >$log 2>&1; then
            passed=$((passed + 1)); tail -1 $log
        else
            tail -40 $log; failed=$((failed + 1))
        fi
    done
fi

echo "== verify"
if tools/verify.sh >build/verify.log 2>&1; then
    passed=$((passed + 1)); grep -E '^spin|^verify' build/verify.log
else
    tail -40 build/verify.log; failed=$((failed + 1))
fi

echo "== layers (DESIGN.md's Layers table, tools/check-layers.py)"
if tools/check-layers.py >build/layers.log 2>&1; then
    passed=$((passed + 1)); tail -1 build/layers.log
else
    cat build/layers.log; failed=$((failed + 1))
fi

echo "== format"
files=$(git ls-files -co --exclude-standard -- '*.c' '*.h')
if clang-format --dry-run -Werror $files >build/format.log 2>&1; then
    passed=$((passed + 1))
else
    head -40 build/format.log; failed=$((failed + 1)); echo "format: run 'make format'"
fi

echo
for b in "${broken[@]}"; do echo "broken: $b"; done
echo "total: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ ${#broken[@]} -eq 0 ]
