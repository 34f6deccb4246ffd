#!/usr/bin/env bash
# How stewardd and redis-server scale with threads: redis-benchmark's set and
# get at -P 1 and -P 16 against stewardd --shards L and redis-server
# --io-threads L --io-threads-do-reads yes, for L in 1 2 4 8 16, the two
# servers side by side in the same run. Prints one table (`make
# bench-scaling`).
#
# Usage: bench/scaling.sh [BUILD_DIR]
#   BUILD_DIR   a CMake build of this tree (default build/plain); stewardd is
#               BUILD_DIR/src/server/stewardd unless STEWARDD is set
# Environment (as bench/server.sh's, and):
#   LEVELS="1 2 4 8 16"   the shard / io-thread counts
#   N=1000000             requests per run at -P 1; NP16 (default 4*N) at -P 16
#   C=256                 redis-benchmark connections
#   THREADS               redis-benchmark --threads (default: half the CPUs,
#                         at most 16; none when 1 or when it lacks --threads)
#   RUNS=1                runs per row and server, alternating; the best counts
#
# The client shares the machine with the servers: with many connections and
# its own threads it should not be what limits them, but on a few cores it
# is. Both servers keep nothing on disk; the first one of each row
# alternates. Raw "name value" lines go to BUILD_DIR/bench/results/scaling.txt.
# bench/device.sh runs this on a machine without our Debian packages, with
# carried programs.
set -euo pipefail

# shellcheck source=bench/server.sh
. "$(dirname "${BASH_SOURCE[0]}")/server.sh"

# redis-benchmark's --threads, when it has the option and more than one
# thread is wanted.
scaling_threads() {
    local t=${THREADS:-}
    if [ -z "$t" ]; then
        t=$(($(nproc) / 2))
        [ "$t" -gt 16 ] && t=16
        [ "$t" -lt 1 ] && t=1
    fi
    if [ "$t" -gt 1 ] && "${SRV_REDIS_BENCHMARK[@]}" --help 2>&1 | grep -q -- '--threads'; then
        echo "$t"
    else
        echo 1
    fi
}

scaling_main() {
    local build=build/plain
    while [ $# -gt 0 ]; do
        case "$1" in
        -h | --help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
        -*) srv_die "bench/scaling.sh: unknown option $1" ;;
        *) build=$1; shift ;;
        esac
    done
    case "$build" in /*) ;; *) build=$SRV_ROOT/$build ;; esac
    local results=$build/bench/results/scaling.txt
    mkdir -p "$(dirname "$results")"
    : >"$results"
    srv_find_stewardd "$build"
    srv_trap

    local n=${N:-1000000} c=${C:-256} threads levels row=0 l p t reqs
    local np16=${NP16:-$((4 * n))}
    read -ra levels <<<"${LEVELS:-1 2 4 8 16}"
    threads=$(scaling_threads)
    [ "$threads" -gt 1 ] && BENCH_EXTRA=(--threads "$threads")

    echo "== scaling: stewardd --shards L vs $(srv_version_line)"
    echo "redis-server --io-threads L --io-threads-do-reads yes; redis-benchmark -t TEST" \
        "-c $c -r 100000 -d 16 -P P -n $n (P 16: $np16), client threads: $threads;" \
        "both servers side by side, fresh for each L, the first alternating by row;" \
        "best of ${RUNS:-1}"
    echo
    local f='%3s %-4s %3s %13s %15s   %s\n'
    # shellcheck disable=SC2059 # the format is ours
    printf "$f" L test P "redis req/s" "stewardd req/s" "stewardd/redis (>1 = stewardd better)"
    for l in "${levels[@]}"; do
        srv_start redis redis --io-threads "$l" --io-threads-do-reads yes
        srv_start stewardd stewardd --shards "$l"
        for p in 1 16; do
            reqs=$n
            [ "$p" -eq 16 ] && reqs=$np16
            for t in set get; do
                bench_row "$row" "$t" "$p" "$c" "$reqs"
                row=$((row + 1))
                # shellcheck disable=SC2059
                printf "$f" "$l" "$t" "$p" "$(fmt_k "$BENCH_REDIS")" "$(fmt_k "$BENCH_STEWARDD")" \
                    "$(fmt_div "$BENCH_STEWARDD" "$BENCH_REDIS")"
                echo "scaling.$t.P$p.L$l.redis $BENCH_REDIS" >>"$results"
                echo "scaling.$t.P$p.L$l.stewardd $BENCH_STEWARDD" >>"$results"
            done
        done
        srv_stop redis
        srv_stop stewardd
    done
    echo
    echo "Raw results ($results):"
    cat "$results"
}

scaling_main "$@"
