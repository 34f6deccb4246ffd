#!/usr/bin/env bash
# Past one machine: redis-benchmark through twemproxy (Debian's nutcracker,
# ketama, as docs/scale-out.md sets it up) to three stewardd, against the
# same through a second nutcracker to three redis-server, all in the same
# run: SET and GET at -P 1 and -P 16 with 50 connections. Prints one table
# (`make bench`), then how many keys each server ended up holding.
#
# Usage: bench/proxy.sh [BUILD_DIR]
#   BUILD_DIR   a CMake build of this tree (default build/plain)
# Environment (as bench/server.sh's, and):
#   N=200000   requests per run
#   RUNS=1     runs per row and proxy, alternating; the best counts
#   NODES=3    servers behind each proxy
#
# Everything listens on free loopback ports from 6430 and keeps nothing on
# disk; every process is stopped on exit, Ctrl-C included. Within a row one
# proxy is measured, then the other, the first alternating from row to row.
# The proxies answer PING themselves, so bench/server.sh's watchdog watches
# the proxy, not the servers behind it. Raw "name value" lines go to
# BUILD_DIR/bench/results/proxy.txt.
set -euo pipefail

# shellcheck source=bench/server.sh
. "$(dirname "${BASH_SOURCE[0]}")/server.sh"

# Sets PROXY_PORT to the next free loopback port from SRV_NEXT_PORT (not in
# a subshell: SRV_NEXT_PORT must move on).
proxy_port() {
    while [ "$SRV_NEXT_PORT" -le "$SRV_LAST_PORT" ]; do
        PROXY_PORT=$SRV_NEXT_PORT
        SRV_NEXT_PORT=$((SRV_NEXT_PORT + 1))
        srv_port_busy "$PROXY_PORT" || return 0
    done
    srv_die "no free loopback port up to $SRV_LAST_PORT"
}

# Starts nutcracker as server NAME (for bench_row: "redis" or "stewardd")
# in front of the servers named BACKEND..., with docs/scale-out.md's
# settings; returns once it answers PING.
proxy_start() { # NAME BACKEND...
    local name=$1 dir port stats b i
    shift
    dir=$(mktemp -d "/tmp/steward-bench-$name-proxy-XXXXXX")
    SRV_DIR[$name]=$dir
    proxy_port
    port=$PROXY_PORT
    proxy_port
    stats=$PROXY_PORT
    {
        echo "$name:"
        echo "  listen: 127.0.0.1:$port"
        echo "  hash: murmur"
        echo "  distribution: ketama"
        echo "  redis: true"
        echo "  auto_eject_hosts: false"
        echo "  timeout: 5000"
        echo "  servers:"
        for b in "$@"; do
            echo "    - 127.0.0.1:${SRV_PORT[$b]}:1 $b"
        done
    } >"$dir/nutcracker.yml"
    nutcracker -c "$dir/nutcracker.yml" -s "$stats" -a 127.0.0.1 -o "$dir/log" &
    SRV_PID[$name]=$!
    SRV_PORT[$name]=$port
    for i in $(seq 200); do
        kill -0 "${SRV_PID[$name]}" 2>/dev/null || break
        srv_ping "$port" && return 0
        sleep 0.05
    done
    echo "bench: nutcracker for $name did not start on port $port; its log:" >&2
    cat "$dir/log" >&2
    return 1
}

# DBSIZE of each server named, joined by "/".
proxy_shares() { # NAME...
    local b out=()
    for b in "$@"; do
        out+=("$("${SRV_REDIS_CLI[@]}" -p "${SRV_PORT[$b]}" dbsize 2>/dev/null | tr -d '\r')")
    done
    (IFS=/; echo "${out[*]}")
}

proxy_main() {
    local build=${1:-build/plain} nodes=${NODES:-3} n=${N:-200000} i p t row=0
    case "$build" in /*) ;; *) build=$SRV_ROOT/$build ;; esac
    local results=$build/bench/results/proxy.txt
    mkdir -p "$(dirname "$results")"
    : >"$results"
    command -v nutcracker >/dev/null || srv_die "nutcracker is missing (tools/deps.sh bench installs it)"
    srv_find_stewardd "$build"
    srv_trap
    local sw=() rs=()
    for i in $(seq "$nodes"); do
        srv_start "stewardd$i" stewardd
        srv_start "redis$i" redis
        sw+=("stewardd$i") rs+=("redis$i")
    done
    proxy_start stewardd "${sw[@]}"
    proxy_start redis "${rs[@]}"
    echo "== through twemproxy: nutcracker $(nutcracker -V 2>&1 | sed -n 's/^This is nutcracker-//p')" \
        "(ketama, murmur) to $nodes stewardd ${STEWARDD_ARGS:-(default flags)} vs to $nodes $(srv_version_line)"
    echo "redis-benchmark -t TEST -n $n -r 100000 -d 16 -c 50 -P P against each proxy," \
        "which goes first alternating by row; best of ${RUNS:-1}; all on this machine," \
        "nothing on disk"
    echo
    local f='%-6s %3s %13s %15s   %s\n'
    # shellcheck disable=SC2059 # the format is ours
    printf "$f" test P "redis req/s" "stewardd req/s" "stewardd/redis (>1 = stewardd better)"
    for p in 1 16; do
        for t in set get; do
            bench_row "$row" "$t" "$p" 50 "$n"
            row=$((row + 1))
            # shellcheck disable=SC2059
            printf "$f" "$t" "$p" "$(fmt_k "$BENCH_REDIS")" "$(fmt_k "$BENCH_STEWARDD")" \
                "$(fmt_div "$BENCH_STEWARDD" "$BENCH_REDIS")"
            echo "proxy.$t.P$p.redis $BENCH_REDIS" >>"$results"
            echo "proxy.$t.P$p.stewardd $BENCH_STEWARDD" >>"$results"
        done
    done
    echo
    echo "Keys per server after the run: stewardd $(proxy_shares "${sw[@]}")," \
        "redis $(proxy_shares "${rs[@]}")"
    echo
    echo "Raw results ($results):"
    cat "$results"
}

proxy_main "$@"
