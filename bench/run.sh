#!/usr/bin/env bash
# Runs steward's benchmarks beside their peers, with the same parameters in
# the same run, and prints one comparison table per section.
#
# Usage: bench/run.sh [BUILD_DIR] [--only SECTION[,SECTION...]] [--ms N] [--runs N]
#   BUILD_DIR   a CMake build of this tree (default build/plain)
#   --only      the sections to run (default: all, in the order of SECTIONS)
#   --ms        how long each measurement runs, in ms (default 500)
#   --runs      how many times; the best counts (default 3)
#
# Each benchmark program prints "name value" lines; the raw output is kept in
# BUILD_DIR/bench/results/. Go peers are built offline (standard library
# only) into build/bench-go/.
# The durable section runs redis-server (started on a free loopback port
# from 6390, data under /tmp, stopped and removed after each point) and
# redis-benchmark, redis-cli.
#
# Adding a section: write section_NAME, which runs the steward program and
# its peer with $MS and $RUNS, then prints `table_header PEER` and one `row`
# per result; add NAME to SECTIONS.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SECTIONS=(chan db durable task)

BUILD=build/plain
ONLY=""
MS=500
RUNS=3
while [ $# -gt 0 ]; do
    case "$1" in
    --only) ONLY=$2; shift 2 ;;
    --ms) MS=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    -h | --help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
    -*) echo "bench/run.sh: unknown option $1" >&2; exit 2 ;;
    *) BUILD=$1; shift ;;
    esac
done
case "$BUILD" in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
RESULTS=$BUILD/bench/results
GO_OUT=$ROOT/build/bench-go

# ---- helpers for the sections ----

# Builds one steward benchmark target (a no-op when it is up to date).
build_target() {
    cmake --build "$BUILD" --target "$1" >/dev/null
}

# Builds the Go peer bench/peers/go/NAME into $GO_OUT/NAME, offline.
build_go_peer() {
    mkdir -p "$GO_OUT"
    (cd "$ROOT/bench/peers/go/$1" &&
        GOCACHE=$GO_OUT/cache GOPATH=$GO_OUT/gopath GOPROXY=off GOFLAGS=-mod=mod \
            GO111MODULE=on go build -o "$GO_OUT/$1" .)
}

# The value of KEY in the result file FILE, or nothing.
metric() {
    awk -v k="$2" '$1 == k { print $2; exit }' "$1"
}

# The best of each "name value" in FILE, which holds several runs: the
# lowest for times (names ending in _ns), the highest otherwise.
best_of() { # FILE
    awk '$2 ~ /^[0-9.eE+-]+$/ {
            low = $1 ~ /_ns$/
            if (!($1 in b) || (low ? $2 + 0 < b[$1] + 0 : $2 + 0 > b[$1] + 0)) b[$1] = $2
            if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 }
            next
         }
         !($1 in seen) { seen[$1] = 1; order[++n] = $1; b[$1] = $2 }
         END { for (i = 1; i <= n; i++) print order[i], b[order[i]] }' "$1"
}

# A value for the table: rates in millions, slow rates (count) whole, times
# as they are; "-" when missing or not a number.
fmt_value() { # VALUE KIND(rate|count|ns)
    awk -v v="$1" -v kind="$2" 'BEGIN {
        if (v == "" || v !~ /^[0-9.eE+-]+$/) { print "-"; exit }
        if (kind == "rate") printf "%.2fM\n", v / 1e6
        else if (kind == "count") printf "%.0f\n", v
        else printf "%.1f\n", v
    }'
}

# ratio > 1 means steward is better: steward/peer for rates, peer/steward
# for times.
fmt_ratio() { # STEWARD PEER KIND
    awk -v s="$1" -v p="$2" -v kind="$3" 'BEGIN {
        if (s !~ /^[0-9.eE+-]+$/ || p !~ /^[0-9.eE+-]+$/ || s + 0 == 0 || p + 0 == 0) { print "-"; exit }
        printf "%.2f\n", kind == "rate" ? s / p : p / s
    }'
}

table_header() { # PEER
    echo
    printf '%-34s %12s %12s   %s\n' benchmark steward "$1" \
        "ratio (>1 = steward better: steward/$1 for rates, $1/steward for ns)"
}

row() { # LABEL STEWARD PEER KIND [NOTE]
    printf '%-34s %12s %12s   %s%s\n' "$1" "$(fmt_value "$2" "$4")" "$(fmt_value "$3" "$4")" \
        "$(fmt_ratio "$2" "$3" "$4")" "${5:+   $5}"
}

# ---- sections ----

section_chan() {
    build_target bench_chan
    build_go_peer chan
    local s=$RESULTS/chan.steward p=$RESULTS/chan.go
    "$BUILD/bench/bench_chan" "$MS" "$RUNS" >"$s"
    "$GO_OUT/chan" "$MS" "$RUNS" >"$p"

    echo "== chan: steward vs Go $(go env GOVERSION) (GOMAXPROCS $(metric "$p" chan.cpus))," \
        "$(metric "$s" chan.cpus) CPUs, ${MS} ms per measurement, best of $RUNS"
    table_header go
    row "unbuffered ping-pong (ns/round)" "$(metric "$s" chan.pingpong_ns)" \
        "$(metric "$p" chan.pingpong_ns)" ns
    row "buffered 1->1 (msg/s)" "$(metric "$s" chan.buf1_msgs)" "$(metric "$p" chan.buf1_msgs)" rate
    row "buffered 4->1 (msg/s)" "$(metric "$s" chan.buf4_msgs)" "$(metric "$p" chan.buf4_msgs)" rate
    row "select 2 chans (ops/s)" "$(metric "$s" chan.select2_ops)" \
        "$(metric "$p" chan.select2_ops)" rate
    local pp floor
    pp=$(metric "$s" chan.pingpong_ns)
    floor=$(metric "$s" chan.floor_ns)
    printf '%-34s %12s %12s   %s\n' "cache-line floor (ns/round)" "$(fmt_value "$floor" ns)" - \
        "(steward ping-pong / floor = $(fmt_ratio "$pp" "$floor" rate))"
}

# The client counts of the db section's points; bench_db.c and the Go peer
# run the same.
DB_CLIENTS=(1 2 8 64)
ACCT_CLIENTS=(1 8)

section_db() {
    build_target bench_db
    build_go_peer db
    local s=$RESULTS/db.steward p=$RESULTS/db.go n r
    # The programs take turns, one run each per round, and each figure is
    # the best of its rounds (best_of): a host whose speed shifts for a
    # while then weighs on both sides alike.
    : >"$s.all" && : >"$p.all"
    for ((r = 0; r < RUNS; r++)); do
        "$BUILD/bench/bench_db" "$MS" 1 >>"$s.all"
        "$GO_OUT/db" "$MS" 1 >>"$p.all"
    done
    best_of "$s.all" >"$s"
    best_of "$p.all" >"$p"

    echo
    echo "== db: steward vs Go $(go env GOVERSION) (GOMAXPROCS $(metric "$p" db.cpus))," \
        "$(metric "$s" db.cpus) CPUs, $(metric "$s" db.pool_threads) owner pool threads," \
        "${MS} ms per measurement (64 clients: $((MS / 2))), best of $RUNS alternating rounds"
    echo
    echo "Db, 100000 keys of 16 B, 16 B values, 50/50 store/fetch, ops/s; ratios >1 = steward better"
    local f='%-8s %9s %9s %9s %9s %9s %9s %9s  %8s %8s %8s %8s\n'
    # shellcheck disable=SC2059 # the format is ours
    printf "$f" clients steward sharded go_patt go_noack go_mutex c_mutex c_owner \
        st/go_p st/c_mut sh/c_mut co/c_mut
    for n in "${DB_CLIENTS[@]}"; do
        local st sh gp gn gm cm co
        st=$(metric "$s" "db.steward_ops.$n")
        sh=$(metric "$s" "db.steward_sharded_ops.$n")
        gp=$(metric "$p" "db.go_pattern_ops.$n")
        gn=$(metric "$p" "db.go_pattern_noack_ops.$n")
        gm=$(metric "$p" "db.go_mutex_ops.$n")
        cm=$(metric "$s" "db.c_mutex_ops.$n")
        co=$(metric "$s" "db.c_owner_ops.$n")
        # shellcheck disable=SC2059
        printf "$f" "N=$n" "$(fmt_value "$st" rate)" "$(fmt_value "$sh" rate)" \
            "$(fmt_value "$gp" rate)" "$(fmt_value "$gn" rate)" "$(fmt_value "$gm" rate)" \
            "$(fmt_value "$cm" rate)" "$(fmt_value "$co" rate)" "$(fmt_ratio "$st" "$gp" rate)" \
            "$(fmt_ratio "$st" "$cm" rate)" "$(fmt_ratio "$sh" "$cm" rate)" "$(fmt_ratio "$co" "$cm" rate)"
    done
    echo "(steward: the default shard count; sharded: $(metric "$s" db.sharded_shards) shards;" \
        "c_owner: the C peer's map under one owner instead of its mutex.)"

    table_header go_pattern
    for n in "${ACCT_CLIENTS[@]}"; do
        row "Account, N=$n, 1:1:1 (ops/s)" "$(metric "$s" "acct.steward_ops.$n")" \
            "$(metric "$p" "acct.go_pattern_ops.$n")" rate
    done

    table_header mutex
    row "uncontended call, no-op (ns/call)" "$(metric "$s" owner.call_ns)" \
        "$(metric "$s" owner.mutex_ns)" ns "(mutex: lock, the same call, unlock)"
    printf '%-34s %12s %12s   %s\n' "cache-line floor (ns)" \
        "$(fmt_value "$(metric "$s" owner.floor_ns)" ns)" - "(a round trip between CPUs 0 and 1)"
    printf '%-34s %12s %12s   %s\n' "thread switch on one CPU (ns)" \
        "$(fmt_value "$(metric "$s" owner.switch_ns)" ns)" - \
        "(what a hand-off costs while callers outnumber free CPUs)"
}

# The durable section's client counts and fsync policies; bench_durable.c
# runs the same.
DURABLE_CLIENTS=(1 8 64)
DURABLE_MODES=(always everysec no)

# The redis-server of the durable section: its pid and data directory while
# one runs, so that an early exit does not leave it behind.
REDIS_PID=""
REDIS_DIR=""

redis_stop() {
    if [ -n "$REDIS_PID" ]; then
        redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || kill "$REDIS_PID" 2>/dev/null || true
        wait "$REDIS_PID" 2>/dev/null || true
        REDIS_PID=""
    fi
    if [ -n "$REDIS_DIR" ]; then
        rm -rf "$REDIS_DIR"
        REDIS_DIR=""
    fi
}

# Starts redis-server with an append-only file synced as MODE, in a fresh
# directory under /tmp, on the first free loopback port from 6390; sets
# REDIS_PORT. A port another process takes first makes the server exit, and
# the next one is tried.
redis_start() { # MODE
    local p
    REDIS_DIR=$(mktemp -d /tmp/steward-bench-redis-XXXXXX)
    for p in $(seq 6390 6429); do
        if (: <"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            continue # in use
        fi
        redis-server --save "" --appendonly yes --appendfsync "$1" --dir "$REDIS_DIR" \
            --port "$p" --bind 127.0.0.1 --daemonize no >"$REDIS_DIR/log" 2>&1 &
        REDIS_PID=$!
        REDIS_PORT=$p
        for _ in $(seq 100); do
            kill -0 "$REDIS_PID" 2>/dev/null || break
            if [ "$(redis-cli -p "$p" ping 2>/dev/null)" = PONG ]; then
                return 0
            fi
            sleep 0.05
        done
        kill "$REDIS_PID" 2>/dev/null || true
        wait "$REDIS_PID" 2>/dev/null || true
        REDIS_PID=""
    done
    echo "bench/run.sh: redis-server did not start (log: $REDIS_DIR/log)" >&2
    cat "$REDIS_DIR/log" >&2
    return 1
}

# SETs per second of redis-benchmark, C clients, N requests, on REDIS_PORT.
redis_sets() { # C N
    redis-benchmark -p "$REDIS_PORT" -t set -c "$1" -d 16 -r 100000 -n "$2" --csv 2>/dev/null |
        awk -F'"' '$2 == "SET" { print $4 }'
}

# One redis point: a fresh server, a short run to learn the rate, then one
# sized to last about MS_POINT ms; prints "durable.MODE.C SETs/s". Not to be
# run in a subshell: the EXIT trap stops the server only of this shell.
redis_point() { # MODE C MS_POINT
    local cal n
    redis_start "$1"
    cal=$(redis_sets "$2" $((500 * $2)))
    n=$(awk -v r="$cal" -v ms="$3" 'BEGIN { n = int(r * ms / 1000); print n < 1000 ? 1000 : n }')
    echo "durable.$1.$2 $(redis_sets "$2" "$n")"
    redis_stop
}

section_durable() {
    build_target bench_durable
    local s=$RESULTS/durable.steward p=$RESULTS/durable.redis ms=$((2 * MS)) mode n
    trap redis_stop EXIT
    "$BUILD/bench/bench_durable" "$ms" >"$s"
    : >"$p"
    for mode in "${DURABLE_MODES[@]}"; do
        for n in "${DURABLE_CLIENTS[@]}"; do
            redis_point "$mode" "$n" "$ms" >>"$p"
        done
    done
    trap - EXIT

    echo
    echo "== durable: steward's durable Db vs $(redis-server --version | awk '{ print $1, $3 }')" \
        "with appendonly yes, same appendfsync, data on /tmp ($(findmnt -no FSTYPE -T /tmp 2>/dev/null || echo ?))," \
        "$(metric "$s" durable.cpus) CPUs, $(metric "$s" durable.shards) shard(s), the default"
    echo "steward: N threads of sw_db_store, fresh Db each point, ${ms} ms (N=64: $((ms / 2)));" \
        "redis: redis-benchmark -t set -c N -d 16 -r 100000, fresh server each point, ~${ms} ms;" \
        "one run each"
    echo "Notes: redis-benchmark's client runs on the same $(metric "$s" durable.cpus) CPUs as" \
        "the server, and each SET pays a loopback round trip that steward's in-process calls" \
        "do not; redis with appendfsync always also batches: one write and fsync per" \
        "event-loop iteration, for every client's command that iteration read."
    echo
    local f='%-9s %4s %14s %14s   %s\n'
    # shellcheck disable=SC2059 # the format is ours
    printf "$f" mode N "steward st/s" "redis set/s" "steward/redis (>1 = steward better)"
    for mode in "${DURABLE_MODES[@]}"; do
        for n in "${DURABLE_CLIENTS[@]}"; do
            local st rd
            st=$(metric "$s" "durable.$mode.$n")
            rd=$(metric "$p" "durable.$mode.$n")
            # shellcheck disable=SC2059
            printf "$f" "$mode" "$n" "$(fmt_value "$st" count)" "$(fmt_value "$rd" count)" \
                "$(fmt_ratio "$st" "$rd" rate)"
        done
    done
    echo
    echo "group commit, always N=64 / N=1: steward $(metric "$s" durable.group_commit)" \
        "(goal >= 20), redis $(fmt_ratio "$(metric "$p" durable.always.64)" \
            "$(metric "$p" durable.always.1)" rate)"
}

# The task section: bench_task beside the Go peer run twice, with
# GOMAXPROCS=1 and GOMAXPROCS=2, the three in turns, one run each per round
# (as the db section, so that a slow spell of the host weighs on all alike).

# As best_of, but sizes (names ending in _bytes) count as times do: the
# lowest wins.
task_best_of() { # FILE
    awk '$2 ~ /^[0-9.eE+-]+$/ {
            low = $1 ~ /_(ns|bytes)$/
            if (!($1 in b) || (low ? $2 + 0 < b[$1] + 0 : $2 + 0 > b[$1] + 0)) b[$1] = $2
            if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 }
         }
         END { for (i = 1; i <= n; i++) print order[i], b[order[i]] }' "$1"
}

task_header() {
    echo
    printf '%-34s %10s %10s %10s   %8s %8s\n' benchmark steward "go(1)" "go(2)" "vs go(1)" \
        "vs go(2)"
}

# KIND: ns, ops (a rate) or bytes; the ratios are >1 when steward is better, as in
# row (go/steward for ns and bytes, steward/go for rates).
task_row() { # LABEL STEWARD GO1 GO2 KIND [NOTE]
    local vk=$5 rk=$5
    case $5 in
    ops) vk=rate rk=rate ;;
    bytes) vk=count ;;
    esac
    printf '%-34s %10s %10s %10s   %8s %8s%s\n' "$1" "$(fmt_value "$2" "$vk")" \
        "$(fmt_value "$3" "$vk")" "$(fmt_value "$4" "$vk")" "$(fmt_ratio "$2" "$3" "$rk")" \
        "$(fmt_ratio "$2" "$4" "$rk")" "${6:+   $6}"
}

section_task() {
    build_target bench_task
    build_go_peer task
    local s=$RESULTS/task.steward g1=$RESULTS/task.go1 g2=$RESULTS/task.go2 r f
    : >"$s.all" && : >"$g1.all" && : >"$g2.all"
    for ((r = 0; r < RUNS; r++)); do
        "$BUILD/bench/bench_task" "$MS" 1 >>"$s.all"
        GOMAXPROCS=1 "$GO_OUT/task" "$MS" 1 >>"$g1.all"
        GOMAXPROCS=2 "$GO_OUT/task" "$MS" 1 >>"$g2.all"
    done
    for f in "$s" "$g1" "$g2"; do
        task_best_of "$f.all" >"$f"
    done

    # Threads ping-ponging, and the floor under them: the chan section's
    # figures when it ran just before in this run, else bench_chan's two
    # measurements alone.
    local c=$RESULTS/chan.steward
    if [ -n "$ONLY" ] && [[ ",$ONLY," != *",chan,"* ]]; then
        c=$RESULTS/task.chan
        build_target bench_chan
        {
            "$BUILD/bench/bench_chan" "$MS" "$RUNS" pingpong
            "$BUILD/bench/bench_chan" "$MS" "$RUNS" floor
        } >"$c"
    fi

    echo
    echo "== task: steward's tasks vs Go $(go env GOVERSION) goroutines with GOMAXPROCS 1 and 2," \
        "$(metric "$s" task.cpus) CPUs, $(metric "$s" task.threads) steward pool threads," \
        "${MS} ms per measurement, best of $RUNS alternating rounds"
    echo "Every load is driven from a task (a goroutine in Go); ratios >1 = steward better:" \
        "go/steward for ns and bytes, steward/go for rates"
    task_header
    local m note
    for m in pingpong_ns spawn_ns select_ns select2_ops parked_bytes; do
        case $m in
        pingpong_ns) f="two tasks ping-pong (ns/round)" ;;
        spawn_ns) f="start, run, wait (ns/task)" ;;
        select_ns) f="select round trip (ns/round)" ;;
        select2_ops) f="select 2 buffered chans (ops/s)" ;;
        parked_bytes) f="parked task, resident (bytes)" ;;
        esac
        note=""
        if [ "$m" = parked_bytes ] &&
            [ "$(metric "$s" task.parked_tasks)" != "$(metric "$g1" task.parked_tasks)" ]; then
            note="(steward parked only $(metric "$s" task.parked_tasks) tasks: see bench_task's message)"
        fi
        task_row "$f" "$(metric "$s" "task.$m")" "$(metric "$g1" "task.$m")" \
            "$(metric "$g2" "task.$m")" "${m##*_}" "$note"
    done
    local tp
    tp=$(metric "$s" task.pingpong_ns)
    task_row "two threads ping-pong (ns/round)" "$(metric "$c" chan.pingpong_ns)" "" "" ns \
        "(bench_chan; threads / tasks = $(fmt_ratio "$(metric "$c" chan.pingpong_ns)" "$tp" rate))"
    task_row "cache-line floor (ns/round)" "$(metric "$c" chan.floor_ns)" "" "" ns \
        "(CPUs 0 and 1; tasks / floor = $(fmt_ratio "$tp" "$(metric "$c" chan.floor_ns)" rate))"
    echo "goal (DESIGN.md): two tasks ping-pong faster than two goroutines:" \
        "go(1)/steward $(fmt_ratio "$tp" "$(metric "$g1" task.pingpong_ns)" ns)," \
        "go(2)/steward $(fmt_ratio "$tp" "$(metric "$g2" task.pingpong_ns)" ns) (the goal is met above 1)"
}

# ---- main ----

for sec in ${ONLY//,/ }; do
    if [[ " ${SECTIONS[*]} " != *" $sec "* ]]; then
        echo "bench/run.sh: no section '$sec' (have: ${SECTIONS[*]})" >&2
        exit 2
    fi
done
mkdir -p "$RESULTS"
for sec in "${SECTIONS[@]}"; do
    if [ -n "$ONLY" ] && [[ ",$ONLY," != *",$sec,"* ]]; then
        continue
    fi
    "section_$sec"
done
