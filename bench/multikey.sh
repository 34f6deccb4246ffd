#!/usr/bin/env bash
# Multi-key commands across shards: stewardd --shards S (S = 1, 2, 4)
# against redis-server in the same run. Per row: MSET of 10 keys
# (redis-benchmark -t mset), MGET of 10 keys (a redis-benchmark command
# line), a mixed load of 90% GET/SET and 10% MSET of 10 keys
# (BUILD_DIR/bench/mixload), and the same with transactions for the 10%
# (MULTI, SET of a key, RENAME of it to another, EXEC: over shards, a
# joint in stewardd), each at -P 1 and -P 16 with 50 connections,
# keys drawn from 100,000 and 16-byte values. Prints one table
# (`make bench`), with each server's processor time per request (user and
# system, all its threads, from /proc): what the request costs whatever
# the cores, where the rate on this machine also says how its threads
# shared them with the client's.
#
# Usage: bench/multikey.sh [BUILD_DIR]
#   BUILD_DIR   a CMake build of this tree (default build/plain)
# Environment (as bench/server.sh's, and):
#   SHARDS="1 2 4"   the stewardd shard counts
#   N=300000         requests per run
#   RUNS=1           runs per cell and server, alternating; the best counts
#   MIXLOAD          the mix's client (default BUILD_DIR/bench/mixload, built
#                    if need be; bench/device.sh carries a static one)
#
# Both servers keep nothing on disk. For each cell, one server then the
# other runs, the first alternating from cell to cell. Raw "name value"
# lines go to BUILD_DIR/bench/results/multikey.txt.
set -euo pipefail

# shellcheck source=bench/server.sh
. "$(dirname "${BASH_SOURCE[0]}")/server.sh"

MK_MIXLOAD=
MK_CPU=

# Clock ticks of processor time server NAME has used so far.
mk_ticks() { # NAME
    awk '{ print $14 + $15 }' "/proc/${SRV_PID[$1]}/stat" 2>/dev/null || echo 0
}

# Requests per second of one load against server NAME, or "-": bench_rps's
# arguments and output, for bench_row (server.sh). Its processor time per
# request, in microseconds, goes to the file $MK_CPU.NAME when this run is
# the cell's best so far (its rate in $MK_CPU.NAME.rps), as bench_pair
# keeps the best rate: the two figures are one run's.
mk_rps() { # NAME LOAD PIPELINE CLIENTS REQUESTS
    local port=${SRV_PORT[$1]} n=$5 out t0
    t0=$(mk_ticks "$1")
    local keys=()
    for _ in $(seq 10); do keys+=("key:__rand_int__"); done
    case "$2" in
    mset)
        out=$(timeout 300 "${SRV_REDIS_BENCHMARK[@]}" -p "$port" -t mset -P "$3" -c "$4" -n "$n" \
            -r 100000 -d 16 --csv 2>/dev/null | awk -F'"' 'NR > 1 { print $4; exit }') || true
        ;;
    mget)
        out=$(timeout 300 "${SRV_REDIS_BENCHMARK[@]}" -p "$port" -P "$3" -c "$4" -n "$n" \
            -r 100000 --csv mget "${keys[@]}" 2>/dev/null |
            awk -F'"' 'NR > 1 { print $4; exit }') || true
        ;;
    mix)
        out=$(timeout 300 "$MK_MIXLOAD" "$port" "$n" "$4" "$3" 90 | awk '{ print $2 }') || true
        ;;
    exec)
        out=$(timeout 300 "$MK_MIXLOAD" "$port" "$n" "$4" "$3" 90 exec | awk '{ print $2 }') || true
        ;;
    esac
    local cpu best
    cpu=$(awk -v t0="$t0" -v t1="$(mk_ticks "$1")" -v hz="$(getconf CLK_TCK 2>/dev/null || echo 100)" \
        -v n="$n" 'BEGIN { printf "%.2f\n", (t1 - t0) * 1e6 / hz / n }')
    best=$(cat "$MK_CPU.$1.rps" 2>/dev/null || echo -)
    if [ ! -e "$MK_CPU.$1" ] || [ "$(bench_best "$best" "${out:--}")" != "$best" ]; then
        echo "$cpu" >"$MK_CPU.$1"
        echo "${out:--}" >"$MK_CPU.$1.rps"
    fi
    echo "${out:--}"
}

multikey_main() {
    local build=${1:-build/plain} s p load cell=0
    case "$build" in /*) ;; *) build=$SRV_ROOT/$build ;; esac
    local results=$build/bench/results/multikey.txt
    mkdir -p "$(dirname "$results")"
    : >"$results"
    srv_find_stewardd "$build"
    MK_MIXLOAD=${MIXLOAD:-$build/bench/mixload}
    if [ ! -x "$MK_MIXLOAD" ]; then
        cmake --build "$build" --target mixload >/dev/null 2>&1 ||
            srv_die "no $MK_MIXLOAD: build the mixload target in $build"
    fi
    srv_trap
    MK_CPU=$(mktemp)
    BENCH_FN=mk_rps
    echo "== multi-key commands: stewardd --shards S vs $(srv_version_line)"
    echo "50 connections, N=${N:-300000} per run, keys from 100,000, 16-byte values;" \
        "mset, mget: 10 keys each; mix: 90% GET/SET, 10% MSET of 10 keys (bench/mixload);" \
        "exec: 90% GET/SET, 10% MULTI, SET, RENAME, EXEC (one request);" \
        "best of ${RUNS:-1}, the first server alternating"
    echo
    local f='%-6s %-5s %3s %13s %15s %15s %17s   %s\n'
    # shellcheck disable=SC2059 # the format is ours
    printf "$f" shards load P "redis req/s" "stewardd req/s" "redis cpu us/req" "stewardd cpu us/req" \
        "stewardd/redis req/s (>1 = stewardd better)"
    for s in ${SHARDS:-1 2 4}; do
        srv_start redis redis
        srv_start stewardd stewardd --shards "$s"
        for p in 1 16; do
            for load in mset mget mix exec; do
                rm -f "$MK_CPU".* # a new cell: no best run yet
                bench_row "$cell" "$load" "$p" 50 "${N:-300000}"
                cell=$((cell + 1))
                local cr cs
                cr=$(cat "$MK_CPU.redis" 2>/dev/null || echo -)
                cs=$(cat "$MK_CPU.stewardd" 2>/dev/null || echo -)
                # shellcheck disable=SC2059
                printf "$f" "$s" "$load" "$p" "$(fmt_k "$BENCH_REDIS")" "$(fmt_k "$BENCH_STEWARDD")" \
                    "$cr" "$cs" "$(fmt_div "$BENCH_STEWARDD" "$BENCH_REDIS")"
                echo "multikey.s$s.$load.P$p.redis $BENCH_REDIS" >>"$results"
                echo "multikey.s$s.$load.P$p.stewardd $BENCH_STEWARDD" >>"$results"
                echo "multikey.s$s.$load.P$p.redis.cpu_us $cr" >>"$results"
                echo "multikey.s$s.$load.P$p.stewardd.cpu_us $cs" >>"$results"
            done
        done
        srv_stop redis
        srv_stop stewardd
    done
    rm -f "$MK_CPU" "$MK_CPU".*
    echo
    echo "Raw results ($results):"
    cat "$results"
}

multikey_main "$@"
