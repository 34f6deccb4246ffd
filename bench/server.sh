#!/usr/bin/env bash
# Runs stewardd and redis-server side by side and measures both in the same
# run: redis-benchmark's set, get, incr and mset at -P 1 and -P 16, then the
# memory each takes for 1,000,000 keys. Prints one table per part.
#
# Usage: bench/server.sh [BUILD_DIR]
#   BUILD_DIR   a CMake build of this tree (default build/plain); stewardd is
#               BUILD_DIR/src/server/stewardd, built first if need be
# Environment:
#   N=1000000          requests per redis-benchmark run (-n); smaller for a quick run
#   RUNS=1             runs per row and server, alternating; the best counts
#   MEM_KEYS=1000000   keys loaded for the memory part (0 skips it)
#   STEWARDD_ARGS, REDIS_ARGS    extra flags for each server
#   TAG                the raw results go to server-TAG.txt instead of
#                      server.txt (make bench: TAG=shards1 for its
#                      --shards 1 run, so that both runs' results stay)
#   BENCH_TIMEOUT      seconds one redis-benchmark run may take (default
#                      60 + N/1000)
#   STEWARDD, REDIS_SERVER, REDIS_BENCHMARK, REDIS_CLI
#                      the commands to run, split on spaces (default: the
#                      build's stewardd and the programs on PATH); a carried
#                      program runs as "LOADER --library-path DIR DIR/PROG"
#
# Both servers listen on free loopback ports from 6430, keep no data on disk
# (redis-server: --save '' --appendonly no) and are stopped on exit, Ctrl-C
# included. Each row runs redis-benchmark against one server, then the
# other, the first one alternating from row to row: on a noisy VM neither
# gets the quiet moments. A server that stops answering PING for 10 s during
# a run has that run ended and its later runs skipped: its cells show "-".
# The raw "name value" lines are kept in
# BUILD_DIR/bench/results/server.txt (or server-TAG.txt) and printed after
# the tables; bench/plot.sh draws them.
#
# bench/scaling.sh sources this file for its helpers (the srv_* and
# bench_* functions); main runs only when it is executed.
set -euo pipefail

SRV_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# ---- the commands ----

read -ra SRV_REDIS_SERVER <<<"${REDIS_SERVER:-redis-server}"
read -ra SRV_REDIS_BENCHMARK <<<"${REDIS_BENCHMARK:-redis-benchmark}"
read -ra SRV_REDIS_CLI <<<"${REDIS_CLI:-redis-cli}"
SRV_STEWARDD=()

srv_die() {
    echo "bench: $*" >&2
    exit 1
}

# Sets SRV_STEWARDD: $STEWARDD when given, otherwise BUILD/src/server/stewardd,
# built (or brought up to date) first.
srv_find_stewardd() { # BUILD
    if [ -n "${STEWARDD:-}" ]; then
        read -ra SRV_STEWARDD <<<"$STEWARDD"
        return 0
    fi
    local bin=$1/src/server/stewardd
    if [ -f "$1/CMakeCache.txt" ]; then
        if ! cmake --build "$1" --target stewardd >/dev/null 2>&1; then
            [ -x "$bin" ] || srv_die "cannot build the stewardd target in $1 (cmake --build $1 --target stewardd)"
            echo "bench: warning: stewardd does not build in $1; measuring the old $bin" >&2
        fi
    fi
    [ -x "$bin" ] || srv_die "no stewardd at $bin: build it (make all) or set STEWARDD"
    SRV_STEWARDD=("$bin")
}

# ---- the servers ----

# By name (any word: "redis", "stewardd"): the pid, port and scratch
# directory of each running server.
declare -A SRV_PID=() SRV_PORT=() SRV_DIR=()
SRV_NEXT_PORT=6430
SRV_LAST_PORT=6529

srv_port_busy() { # PORT
    (: <"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Whether a RESP server answers PING on PORT within a second; bash's
# /dev/tcp, so that it needs no client program.
srv_ping() { # PORT
    local reply=""
    { exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1
    # shellcheck disable=SC2016 # a RESP length, not an expansion
    printf '*1\r\n$4\r\nPING\r\n' >&3 2>/dev/null || true
    IFS= read -r -t 1 reply <&3 || true
    exec 3<&-
    [ "${reply%$'\r'}" = "+PONG" ]
}

# Starts a server as NAME: KIND redis or stewardd, with ARGS after the port
# and bind flags, on the next free loopback port; returns once it answers
# PING. A server that loses its port to another process is started again on
# the next one; any other failure shows its log and exits.
srv_start() { # NAME KIND [ARGS...]
    local name=$1 kind=$2 dir port pid
    shift 2
    dir=$(mktemp -d "/tmp/steward-bench-$name-XXXXXX")
    SRV_DIR[$name]=$dir
    while [ "$SRV_NEXT_PORT" -le "$SRV_LAST_PORT" ]; do
        port=$SRV_NEXT_PORT
        SRV_NEXT_PORT=$((port + 1))
        srv_port_busy "$port" && continue
        if [ "$kind" = redis ]; then
            # shellcheck disable=SC2086 # REDIS_ARGS is a list of flags
            "${SRV_REDIS_SERVER[@]}" --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
                --daemonize no --dir "$dir" "$@" ${REDIS_ARGS:-} >"$dir/log" 2>&1 &
        else
            # shellcheck disable=SC2086
            "${SRV_STEWARDD[@]}" --port "$port" --bind 127.0.0.1 "$@" ${STEWARDD_ARGS:-} \
                >"$dir/log" 2>&1 &
        fi
        pid=$!
        SRV_PID[$name]=$pid
        SRV_PORT[$name]=$port
        local i
        for i in $(seq 200); do
            kill -0 "$pid" 2>/dev/null || break
            if srv_ping "$port"; then
                kill -0 "$pid" 2>/dev/null && return 0
                break
            fi
            sleep 0.05
        done
        srv_stop_pid "$pid"
        unset "SRV_PID[$name]"
        if [ "$i" -lt 200 ] && srv_port_busy "$port"; then
            continue # another process took the port first
        fi
        echo "bench: $kind did not start on port $port; its log:" >&2
        cat "$dir/log" >&2
        return 1
    done
    srv_die "no free loopback port up to $SRV_LAST_PORT"
}

# SIGTERM, then SIGKILL after 5 s; waits for the process to go.
srv_stop_pid() { # PID
    local i
    kill -TERM "$1" 2>/dev/null || return 0
    for i in $(seq 100); do
        kill -0 "$1" 2>/dev/null || break
        sleep 0.05
    done
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

srv_stop() { # NAME
    unset "SRV_HUNG[$1]"
    if [ -n "${SRV_PID[$1]:-}" ]; then
        srv_stop_pid "${SRV_PID[$1]}"
        unset "SRV_PID[$1]"
    fi
    if [ -n "${SRV_DIR[$1]:-}" ]; then
        rm -rf "${SRV_DIR[$1]}"
        unset "SRV_DIR[$1]"
    fi
}

srv_stop_all() {
    local name
    trap '' INT TERM # a second Ctrl-C must not cut the cleanup short
    for name in "${!SRV_PID[@]}" "${!SRV_DIR[@]}"; do
        srv_stop "$name"
    done
}

# Stops every server however the script ends. The servers ignore SIGINT
# (background jobs of a script do), so Ctrl-C reaches them only this way.
srv_trap() {
    trap srv_stop_all EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# The server's resident set, in kB, from /proc/PID/status.
srv_rss_kb() { # NAME
    awk '$1 == "VmRSS:" { print $2 }' "/proc/${SRV_PID[$1]}/status"
}

# One field of the server's INFO, or nothing.
srv_info() { # NAME SECTION FIELD
    "${SRV_REDIS_CLI[@]}" -p "${SRV_PORT[$1]}" info "$2" 2>/dev/null |
        tr -d '\r' | awk -F: -v f="$3" '$1 == f { print $2; exit }'
}

# ---- redis-benchmark ----

# Extra redis-benchmark flags for every run (scaling.sh adds --threads).
BENCH_EXTRA=()

# Servers that stopped answering: their later runs are skipped ("-").
declare -A SRV_HUNG=()

# Requests per second of one redis-benchmark test (set, get, incr, mset, ...)
# against server NAME, or "-" when it fails. A watchdog pings the server
# every second while the run lasts and ends the run after 10 pings without
# an answer; BENCH_TIMEOUT (default 60 s + 1 ms per request) bounds it too.
# Error replies are reported on stderr: the rate of a test the server
# refuses means nothing.
bench_rps() { # NAME TEST PIPELINE CLIENTS REQUESTS
    local out err rps bp tick=0 miss=0
    out=$(mktemp) err=$(mktemp)
    timeout --foreground "${BENCH_TIMEOUT:-$((60 + $5 / 1000))}" "${SRV_REDIS_BENCHMARK[@]}" \
        -p "${SRV_PORT[$1]}" -t "$2" -P "$3" -c "$4" -n "$5" -r 100000 -d 16 "${BENCH_EXTRA[@]}" \
        --csv >"$out" 2>"$err" &
    bp=$!
    while kill -0 "$bp" 2>/dev/null; do
        sleep 0.2
        tick=$((tick + 1))
        [ $((tick % 5)) -eq 0 ] || continue
        if srv_ping "${SRV_PORT[$1]}"; then miss=0; else miss=$((miss + 1)); fi
        if [ "$miss" -ge 10 ]; then
            echo "bench: $1 stopped answering PING during $2 -P $3; run ended" >&2
            kill "$bp" 2>/dev/null || true
            break
        fi
    done
    wait "$bp" 2>/dev/null || true
    rps=$(awk -F'"' 'NR > 1 && $4 ~ /^[0-9.]+$/ { print $4 }' "$out" | head -n 1)
    if grep -q -m1 'Error' "$out" "$err"; then
        echo "bench: $1, $2 -P $3: $(grep -h -m1 'Error' "$out" "$err")" >&2
    fi
    rm -f "$out" "$err"
    echo "${rps:--}"
}

# What bench_try measures with: bench_rps, or a function of the same
# arguments and output (bench/multikey.sh sets its own).
BENCH_FN=bench_rps

# $BENCH_FN, unless NAME has stopped answering; a failed run whose server
# then does not answer PING marks it so.
bench_try() { # NAME TEST PIPELINE CLIENTS REQUESTS
    local rps=-
    if [ -z "${SRV_HUNG[$1]:-}" ]; then
        rps=$("$BENCH_FN" "$@")
        if [ "$rps" = - ] && ! srv_ping "${SRV_PORT[$1]}"; then
            echo "bench: $1 does not answer PING; its other runs are skipped" >&2
            SRV_HUNG[$1]=1
        fi
    fi
    BENCH_RPS=$rps
}

# The better of two rates ("-" loses).
bench_best() { # A B
    awk -v a="$1" -v b="$2" 'BEGIN {
        if (a !~ /^[0-9.]+$/) print b; else if (b !~ /^[0-9.]+$/) print a
        else print (a + 0 >= b + 0 ? a : b)
    }'
}

# Runs TEST against servers A and B, RUNS times each, alternating, A first;
# sets BENCH_A and BENCH_B to the best rates.
bench_pair() { # A B TEST PIPELINE CLIENTS REQUESTS
    local r
    BENCH_A=- BENCH_B=-
    for r in $(seq "${RUNS:-1}"); do
        bench_try "$1" "${@:3}"
        BENCH_A=$(bench_best "$BENCH_A" "$BENCH_RPS")
        bench_try "$2" "${@:3}"
        BENCH_B=$(bench_best "$BENCH_B" "$BENCH_RPS")
    done
}

# Runs one row, redis first when FIRST is even; sets BENCH_REDIS and
# BENCH_STEWARDD.
bench_row() { # FIRST TEST PIPELINE CLIENTS REQUESTS
    if [ $(($1 % 2)) -eq 0 ]; then
        bench_pair redis stewardd "${@:2}"
        BENCH_REDIS=$BENCH_A BENCH_STEWARDD=$BENCH_B
    else
        bench_pair stewardd redis "${@:2}"
        BENCH_REDIS=$BENCH_B BENCH_STEWARDD=$BENCH_A
    fi
}

# ---- formatting ----

fmt_k() { # RATE: requests/s in thousands
    awk -v v="$1" 'BEGIN { if (v !~ /^[0-9.]+$/) print "-"; else printf "%.0fk\n", v / 1000 }'
}

fmt_div() { # A B [FORMAT]: A/B, "-" unless both are numbers and B is not 0
    awk -v a="$1" -v b="$2" -v f="${3:-%.2f}" 'BEGIN {
        if (a !~ /^-?[0-9.]+$/ || b !~ /^-?[0-9.]+$/ || b + 0 == 0) print "-"
        else printf f "\n", a / b
    }'
}

srv_version_line() {
    local rv
    rv=$("${SRV_REDIS_SERVER[@]}" --version 2>/dev/null | awk '{ print $3 }')
    echo "redis-server ${rv#v=}, $(nproc) CPUs ($(awk -F': ' '/^model name/ { print $2; exit }' \
        /proc/cpuinfo 2>/dev/null))"
}

# ---- bench/server.sh itself ----

SERVER_TESTS=(set get incr mset)
SERVER_PIPELINES=(1 16)

# The throughput part: both servers, fresh, side by side.
server_throughput() { # RESULTS
    local n=${N:-1000000} row=0 p t
    srv_start redis redis
    srv_start stewardd stewardd
    echo "server.stewardd.shards $(srv_info stewardd server shards)" >>"$1"
    echo "== stewardd ${STEWARDD_ARGS:-(default flags)}, $(srv_info stewardd server shards) shard(s)," \
        "vs $(srv_version_line)"
    echo "redis-benchmark -t TEST -n $n -r 100000 -d 16 -c 50 -P P, both servers running" \
        "side by side, which goes first alternating by row; best of ${RUNS:-1};" \
        "mset: MSETs of 10 keys per second"
    echo
    local f='%-6s %3s %13s %15s   %s\n'
    # shellcheck disable=SC2059 # the format is ours
    printf "$f" test P "redis req/s" "stewardd req/s" "stewardd/redis (>1 = stewardd better)"
    for p in "${SERVER_PIPELINES[@]}"; do
        for t in "${SERVER_TESTS[@]}"; do
            bench_row "$row" "$t" "$p" 50 "$n"
            row=$((row + 1))
            # shellcheck disable=SC2059
            printf "$f" "$t" "$p" "$(fmt_k "$BENCH_REDIS")" "$(fmt_k "$BENCH_STEWARDD")" \
                "$(fmt_div "$BENCH_STEWARDD" "$BENCH_REDIS")"
            echo "server.$t.P$p.redis $BENCH_REDIS" >>"$1"
            echo "server.$t.P$p.stewardd $BENCH_STEWARDD" >>"$1"
        done
    done
    srv_stop redis
    srv_stop stewardd
}

# A RESP stream of SETs of KEYS distinct keys "key:%012d" (16 bytes, the
# shape of redis-benchmark's keys) to values "val:%012d" (16 bytes); made
# once, kept in DIR.
server_load_file() { # DIR KEYS
    local f=$1/load-$2.resp
    if [ ! -s "$f" ]; then
        awk -v n="$2" 'BEGIN {
            for (i = 0; i < n; i++)
                printf "*3\r\n$3\r\nSET\r\n$16\r\nkey:%012d\r\n$16\r\nval:%012d\r\n", i, i
        }' >"$f.tmp"
        mv "$f.tmp" "$f"
    fi
    echo "$f"
}

# One server's memory point: fresh start, RSS and used_memory, KEYS SETs
# through redis-cli --pipe, RSS and used_memory again.
server_memory_point() { # KIND FILE KEYS RESULTS
    local rss0 rss1 um0 um1 out dbsize
    srv_start "$1" "$1"
    rss0=$(srv_rss_kb "$1")
    um0=$(srv_info "$1" memory used_memory)
    out=$("${SRV_REDIS_CLI[@]}" -p "${SRV_PORT[$1]}" --pipe <"$2" 2>&1 | tr -d '\r' | tail -n 1) || true
    rss1=$(srv_rss_kb "$1")
    um1=$(srv_info "$1" memory used_memory)
    dbsize=$("${SRV_REDIS_CLI[@]}" -p "${SRV_PORT[$1]}" dbsize 2>/dev/null | tr -d '\r') || true
    srv_stop "$1"
    if [ "$out" != "errors: 0, replies: $3" ]; then
        echo "bench: $1: redis-cli --pipe: ${out:-no report}" >&2
    fi
    if [ "$dbsize" != "$3" ]; then
        echo "bench: $1: DBSIZE after the load is '${dbsize}', not $3" >&2
    fi
    {
        echo "server.mem.$1.rss_start_kb ${rss0:--}"
        echo "server.mem.$1.rss_loaded_kb ${rss1:--}"
        echo "server.mem.$1.used_memory_start ${um0:--}"
        echo "server.mem.$1.used_memory_loaded ${um1:--}"
        echo "server.mem.$1.rss_per_key $(per_key "$rss0" "$rss1" 1024 "$3")"
        echo "server.mem.$1.used_memory_per_key $(per_key "$um0" "$um1" 1 "$3")"
    } >>"$4"
}

# (AFTER - BEFORE) * UNIT / KEYS, with one decimal; "-" unless both are numbers.
per_key() { # BEFORE AFTER UNIT KEYS
    awk -v a="$1" -v b="$2" -v u="$3" -v n="$4" 'BEGIN {
        if (a ~ /^[0-9]+$/ && b ~ /^[0-9]+$/) printf "%.1f\n", (b - a) * u / n; else print "-"
    }'
}

server_memory() { # DIR RESULTS
    local keys=${MEM_KEYS:-1000000} file kind
    file=$(server_load_file "$1" "$keys")
    for kind in redis stewardd; do
        server_memory_point "$kind" "$file" "$keys" "$2"
    done
    echo
    echo "Memory: $keys distinct keys of 16 B with 16 B values (SET, via redis-cli --pipe)," \
        "each server fresh; bytes per key: RSS growth (VmRSS after the load minus VmRSS at start)" \
        "and used_memory growth (INFO memory), divided by $keys"
    echo
    local f='%-22s %10s %10s   %s\n' metric r s
    # shellcheck disable=SC2059 # the format is ours
    printf "$f" "bytes per key" redis stewardd "stewardd/redis (<1 = stewardd better)"
    for metric in rss_per_key used_memory_per_key; do
        r=$(awk -v k="server.mem.redis.$metric" '$1 == k { print $2 }' "$2")
        s=$(awk -v k="server.mem.stewardd.$metric" '$1 == k { print $2 }' "$2")
        # shellcheck disable=SC2059
        printf "$f" "${metric%_per_key}" "$r" "$s" "$(fmt_div "$s" "$r")"
    done
}

server_main() {
    local build=build/plain
    while [ $# -gt 0 ]; do
        case "$1" in
        -h | --help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
        -*) srv_die "bench/server.sh: unknown option $1" ;;
        *) build=$1; shift ;;
        esac
    done
    case "$build" in /*) ;; *) build=$SRV_ROOT/$build ;; esac
    local results=$build/bench/results/server${TAG:+-$TAG}.txt scratch=$build/bench/server
    mkdir -p "$(dirname "$results")" "$scratch"
    : >"$results"
    srv_find_stewardd "$build"
    srv_trap
    server_throughput "$results"
    if [ "${MEM_KEYS:-1000000}" -gt 0 ]; then
        server_memory "$scratch" "$results"
    fi
    echo
    echo "Raw results ($results):"
    cat "$results"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    server_main "$@"
fi
