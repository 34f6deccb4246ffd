#!/usr/bin/env bash
# Draws the tables `make bench` prints as SVG plots, with gnuplot (Debian's
# gnuplot-nox): it reads the raw results the bench scripts keep and writes
# one plot per table, each titled with what it shows, its units, the
# machine and the date of its results.
#
# Usage: bench/plot.sh [BUILD_DIR] [--out DIR]
#   BUILD_DIR   the build whose BUILD_DIR/bench/results/ to read (default
#               build/plain)
#   --out DIR   where the plots go (default BUILD_DIR/bench/plots)
# Environment:
#   PLOT_MACHINE   the machine named in each title (default: this one's
#                  CPU count and model, from nproc and /proc/cpuinfo); set
#                  it when the results were measured elsewhere
#
# The plots, each drawn when its results files are there (else skipped,
# saying so):
#   chan.svg            bench/run.sh chan: round trips beside the cache-line
#                       floor, and buffered and select throughput, steward vs Go
#   db.svg              bench/run.sh db: the Db's ops/s against client threads,
#                       beside the Go pattern, Go and C maps under a mutex
#   owner.svg           bench/run.sh db: the Account beside the Go pattern, and
#                       an owner call beside a mutex, the floor and a switch
#   durable.svg         bench/run.sh durable: stores/s against writers per
#                       appendfsync mode, steward vs redis-server
#   task.svg            bench/run.sh task: tasks vs goroutines (GOMAXPROCS 1, 2),
#                       round trips beside threads' and the floor
#   server.svg          bench/server.sh: req/s per test and pipeline depth,
#                       stewardd vs redis-server, a pair of bars per run kept
#                       (server.txt, then server-TAG.txt: make bench keeps
#                       its default-flags run and its --shards 1 run)
#   server-memory.svg   bench/server.sh: bytes per key, stewardd vs redis-server
#   multikey.svg        bench/multikey.sh: req/s per shard count, load and
#                       pipeline depth, stewardd vs redis-server
# The date in a title is the newest modification date of the files it
# reads: the day of the run, not of the drawing.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=build/plain
OUT=""
while [ $# -gt 0 ]; do
    case "$1" in
    --out) OUT=$2; shift 2 ;;
    -h | --help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
    -*) echo "bench/plot.sh: unknown option $1" >&2; exit 2 ;;
    *) BUILD=$1; shift ;;
    esac
done
case "$BUILD" in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
RES=$BUILD/bench/results
OUT=${OUT:-$BUILD/bench/plots}

if ! command -v gnuplot >/dev/null; then
    echo "bench/plot.sh: no gnuplot (apt-get install gnuplot-nox, or tools/deps.sh bench)" >&2
    exit 1
fi
mkdir -p "$OUT"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

MACHINE=${PLOT_MACHINE:-"$(nproc) CPUs, $(awk -F': ' '/^model name/ { print $2; exit }' \
    /proc/cpuinfo 2>/dev/null || echo "unknown CPU")"}

# ---- reading the results ----

# The value of KEY in FILE ("name value" lines), or "-" when it is missing or
# not a number (gnuplot skips "-").
val() { # FILE KEY
    awk -v k="$2" '$1 == k { v = $2 } END { print (v ~ /^[0-9.eE+-]+$/ && v != "-") ? v : "-" }' "$1"
}

# VALUE / DIV, or "-".
scaled() { # VALUE DIV
    awk -v v="$1" -v d="$2" 'BEGIN { if (v == "-") print "-"; else printf "%.6g\n", v / d }'
}

# Whether every FILE is there; if not, says which plot is skipped.
have() { # PLOT FILE...
    local f
    for f in "${@:2}"; do
        if [ ! -s "$f" ]; then
            echo "bench/plot.sh: $1 skipped: no $f"
            return 1
        fi
    done
}

# "MACHINE, DATE": DATE the newest modification day of the FILEs.
caption() { # FILE...
    local f newest=$1
    for f in "$@"; do
        [ "$f" -nt "$newest" ] && newest=$f
    done
    echo "$MACHINE, $(date -u -r "$newest" +%Y-%m-%d)"
}

# ---- drawing ----

# A plot gnuplot failed to draw: the others are still drawn, and the script
# fails at the end.
FAILED=0

# The settings every plot shares, then the plot's own commands (stdin);
# writes OUT/NAME.svg.
draw() { # NAME WIDTH HEIGHT
    {
        cat <<EOF
set terminal svg size $2,$3 fixed noenhanced font "sans,12" background rgb "white"
set output "$OUT/$1.svg"
set datafile missing "-"
set datafile separator whitespace
set grid ytics lc rgb "#dddddd"
set border 3
set tics nomirror
set key top left noreverse Left samplen 2 box lc rgb "#bbbbbb"
set style fill solid 0.85 border rgb "#333333"
set linetype 1 lc rgb "#1b7837" lw 2 pt 7 ps 0.8
set linetype 2 lc rgb "#2166ac" lw 2 pt 5 ps 0.8
set linetype 3 lc rgb "#b2182b" lw 2 pt 9 ps 0.9
set linetype 4 lc rgb "#ef8a62" lw 2 pt 11 ps 0.9
set linetype 5 lc rgb "#762a83" lw 2 pt 13 ps 0.9
set linetype 6 lc rgb "#999999" lw 2 pt 4 ps 0.8
set linetype 7 lc rgb "#67a9cf" lw 2 pt 6 ps 0.8
set linetype 8 lc rgb "#5aae61" lw 2 pt 8 ps 0.8
set linetype 9 lc rgb "#555555" lw 2 pt 10 ps 0.8
EOF
        cat
    } >"$TMP/$1.gp"
    if ! gnuplot "$TMP/$1.gp" 2>"$TMP/$1.err"; then
        echo "bench/plot.sh: gnuplot failed on $1:" >&2
        cat "$TMP/$1.err" >&2
        FAILED=1
        return 0
    fi
    echo "bench/plot.sh: wrote $OUT/$1.svg"
}

# gnuplot commands for a clustered bar chart of DATA (a header line of
# quoted column titles, then a quoted label and NCOLS values per line), with
# each bar's value printed above it by FMT (a gnuplot sprintf format); LTS,
# the line types of the columns (default 1 2 3 ...); SCALE "log" for a
# logarithmic y axis (from 1), for bars that differ a hundredfold.
bars() { # DATA NCOLS FMT [LTS] [SCALE]
    local i lt_of
    read -ra lt_of <<<"${4:-1 2 3 4 5 6 7 8}"
    local cmd="plot '$1' using 2:xtic(1) lt ${lt_of[0]} title columnheader(2)"
    for ((i = 3; i <= $2 + 1; i++)); do
        cmd+=", '' using $i lt ${lt_of[i - 2]} title columnheader($i)"
    done
    # Bar i of n sits at its row's x + (i - (n+1)/2) / (n + gap), gap 1;
    # skip 1: the header line is no row. Past 4 bars a row the values
    # would overlap: the table beside the plot has them.
    for ((i = 2; i <= $2 + 1 && $2 <= 4; i++)); do
        cmd+=", '' skip 1 using (\$0 + ($i - 1 - ($2 + 1) / 2.0) / ($2 + 1.0)):$i:(sprintf('$3', \$$i))"
        cmd+=" with labels offset 0,0.6 font ',9' notitle"
    done
    cat <<EOF
set style data histograms
set style histogram clustered gap 1
set boxwidth 1
$([ "$2" -gt 1 ] && echo "set key below horizontal reverse Left" || echo "set key off")
set xtics scale 0
$([ "${5:-}" = log ] && echo "set logscale y; set yrange [1:*]" || echo "unset logscale y; set yrange [0:*]")
set offsets 0, 0, graph 0.12, 0
$cmd
EOF
}

# ---- bench/run.sh: chan ----

# gnuplot commands for a dashed line at y = FLOOR (ns), labelled as the
# cache-line floor; none when FLOOR is "-" (not measured). The plot after
# them unsets arrow 1 and label 1.
floor_line() { # FLOOR
    [ "$1" = - ] && return 0
    echo "set arrow 1 from graph 0, first $1 to graph 1, first $1 nohead dt 2 lw 2 lc rgb \"#555555\" front"
    echo "set label 1 sprintf(\"cache-line floor %.0f ns\", $1) at graph 0.02, first $1 offset 0,0.7 front"
}

plot_chan() {
    local s=$RES/chan.steward g=$RES/chan.go
    have chan.svg "$s" "$g" || return 0
    local floor
    floor=$(val "$s" chan.floor_ns)
    {
        echo '"" "steward" "Go"'
        echo "\"unbuffered ping-pong\" $(val "$s" chan.pingpong_ns) $(val "$g" chan.pingpong_ns)"
    } >"$TMP/chan-rt"
    {
        echo '"" "steward" "Go"'
        for m in buf1_msgs:"buffered 1->1" buf4_msgs:"buffered 4->1" select2_ops:"select over 2"; do
            echo "\"${m#*:}\" $(scaled "$(val "$s" "chan.${m%%:*}")" 1e6)" \
                "$(scaled "$(val "$g" "chan.${m%%:*}")" 1e6)"
        done
    } >"$TMP/chan-tp"
    draw chan 1000 480 <<EOF
set multiplot layout 1,2 title "Channels: steward vs Go\\n$(caption "$s" "$g")"
set title "Round trip over two unbuffered channels (lower is better)"
set ylabel "ns per round trip"
$(floor_line "$floor")
$(bars "$TMP/chan-rt" 2 "%.0f")
unset arrow 1
unset label 1
set title "Throughput (higher is better)"
set ylabel "million messages or selects per second"
$(bars "$TMP/chan-tp" 2 "%.1f")
unset multiplot
EOF
}

# ---- bench/run.sh: db ----

plot_db() {
    local s=$RES/db.steward g=$RES/db.go n
    have db.svg "$s" "$g" || return 0
    {
        echo "# clients steward sharded c_owner c_mutex go_mutex go_pattern go_noack"
        for n in 1 2 8 64; do
            echo "$n $(scaled "$(val "$s" "db.steward_ops.$n")" 1e6)" \
                "$(scaled "$(val "$s" "db.steward_sharded_ops.$n")" 1e6)" \
                "$(scaled "$(val "$s" "db.c_owner_ops.$n")" 1e6)" \
                "$(scaled "$(val "$s" "db.c_mutex_ops.$n")" 1e6)" \
                "$(scaled "$(val "$g" "db.go_mutex_ops.$n")" 1e6)" \
                "$(scaled "$(val "$g" "db.go_pattern_ops.$n")" 1e6)" \
                "$(scaled "$(val "$g" "db.go_pattern_noack_ops.$n")" 1e6)"
        done
    } >"$TMP/db"
    local shards
    shards=$(val "$s" db.sharded_shards)
    draw db 900 560 <<EOF
set title "Db: 100,000 keys, 16 B values, 50/50 store/fetch, against client threads (higher is better)\\n$(caption "$s" "$g")"
set xlabel "client threads"
set ylabel "million operations per second (log scale)"
set logscale xy 2
set xtics (1, 2, 8, 64)
set ytics ("0.5" 0.5, "1" 1, "2" 2, "4" 4, "8" 8, "16" 16, "32" 32)
set xrange [0.8:80]
set key outside right top
plot "$TMP/db" using 1:2 with linespoints lt 1 title "steward Db (default shards)", \\
     "" using 1:3 with linespoints lt 8 title "steward Db, $shards shards", \\
     "" using 1:4 with linespoints lt 2 title "C map under an owner", \\
     "" using 1:5 with linespoints lt 7 title "C map + pthread mutex", \\
     "" using 1:6 with linespoints lt 5 title "Go map + sync.Mutex", \\
     "" using 1:7 with linespoints lt 3 title "Go pattern (goroutine + channels)", \\
     "" using 1:8 with linespoints lt 4 dt 2 title "Go pattern, no reply"
EOF
}

plot_owner() {
    local s=$RES/db.steward g=$RES/db.go
    have owner.svg "$s" "$g" || return 0
    {
        echo '"" "steward Account" "Go pattern"'
        for n in 1 8; do
            echo "\"$n client$([ "$n" = 1 ] || echo s)\" $(scaled "$(val "$s" "acct.steward_ops.$n")" 1e6)" \
                "$(scaled "$(val "$g" "acct.go_pattern_ops.$n")" 1e6)"
        done
    } >"$TMP/acct"
    {
        echo '"" "ns"'
        echo "\"owner call\" $(val "$s" owner.call_ns)"
        echo "\"mutex, call\" $(val "$s" owner.mutex_ns)"
        echo "\"floor\" $(val "$s" owner.floor_ns)"
        echo "\"switch\" $(val "$s" owner.switch_ns)"
    } >"$TMP/calls"
    draw owner 1000 480 <<EOF
set multiplot layout 1,2 title "Owners: the Account and the cost of a call\\n$(caption "$s" "$g")"
set title "Account, deposit:withdraw:balance 1:1:1 (higher is better)"
set ylabel "million operations per second"
$(bars "$TMP/acct" 2 "%.1f")
set title "A no-op call; what a hand-off costs (lower is better)"
set ylabel "ns (log scale)"
set xlabel "mutex: lock, the call, unlock; floor: a cache line's round trip\\nbetween CPUs 0 and 1; switch: a thread switch on one CPU"
$(bars "$TMP/calls" 1 "%.1f" 2 log)
unset multiplot
EOF
}

# ---- bench/run.sh: durable ----

plot_durable() {
    local s=$RES/durable.steward r=$RES/durable.redis mode n
    have durable.svg "$s" "$r" || return 0
    for mode in always everysec no; do
        for n in 1 8 64; do
            echo "$n $(val "$s" "durable.$mode.$n") $(val "$r" "durable.$mode.$n")"
        done >"$TMP/durable-$mode"
    done
    draw durable 900 540 <<EOF
set title "Durable writes: steward's Db vs redis-server appendonly, per appendfsync (higher is better)\\n$(caption "$s" "$r")"
set xlabel "writer threads (steward) or connections (redis-benchmark -c)"
set ylabel "stores (SETs) per second (log scale)"
set logscale xy
set xtics (1, 8, 64)
set xrange [0.8:80]
set format y "%.0s%c"
set key outside right top
plot "$TMP/durable-always" using 1:2 with linespoints lt 1 title "steward, always", \\
     "" using 1:3 with linespoints lt 1 dt 2 pt 6 title "redis, always", \\
     "$TMP/durable-everysec" using 1:2 with linespoints lt 2 title "steward, everysec", \\
     "" using 1:3 with linespoints lt 2 dt 2 pt 4 title "redis, everysec", \\
     "$TMP/durable-no" using 1:2 with linespoints lt 3 title "steward, no", \\
     "" using 1:3 with linespoints lt 3 dt 2 pt 8 title "redis, no"
EOF
}

# ---- bench/run.sh: task ----

plot_task() {
    local s=$RES/task.steward g1=$RES/task.go1 g2=$RES/task.go2 c=$RES/chan.steward
    have task.svg "$s" "$g1" "$g2" || return 0
    # The threads' ping-pong and the floor: the chan section's, or the task
    # section's own measurement of them (bench/run.sh --only task).
    [ -s "$RES/task.chan" ] && [ "$RES/task.chan" -nt "$c" ] && c=$RES/task.chan
    [ -s "$c" ] || c=/dev/null
    local floor
    floor=$(val "$c" chan.floor_ns)
    {
        echo '"" "steward task" "goroutine, GOMAXPROCS 1" "goroutine, GOMAXPROCS 2"'
        echo "\"start, run, wait\" $(val "$s" task.spawn_ns) $(val "$g1" task.spawn_ns)" \
            "$(val "$g2" task.spawn_ns)"
        echo "\"select round trip\" $(val "$s" task.select_ns) $(val "$g1" task.select_ns)" \
            "$(val "$g2" task.select_ns)"
    } >"$TMP/task-ns"
    {
        echo '"" "ns"'
        echo "\"tasks\" $(val "$s" task.pingpong_ns)"
        echo "\"Go (1)\" $(val "$g1" task.pingpong_ns)"
        echo "\"Go (2)\" $(val "$g2" task.pingpong_ns)"
        echo "\"threads\" $(val "$c" chan.pingpong_ns)"
    } >"$TMP/task-rt"
    {
        echo '"" "steward task" "goroutine, GOMAXPROCS 1" "goroutine, GOMAXPROCS 2"'
        echo "\"select over 2 buffered chans\" $(scaled "$(val "$s" task.select2_ops)" 1e6)" \
            "$(scaled "$(val "$g1" task.select2_ops)" 1e6)" "$(scaled "$(val "$g2" task.select2_ops)" 1e6)"
    } >"$TMP/task-ops"
    {
        echo '"" "steward task" "goroutine, GOMAXPROCS 1" "goroutine, GOMAXPROCS 2"'
        echo "\"a parked task\" $(val "$s" task.parked_bytes) $(val "$g1" task.parked_bytes)" \
            "$(val "$g2" task.parked_bytes)"
    } >"$TMP/task-bytes"
    draw task 1100 820 <<EOF
set multiplot layout 2,2 title "Tasks vs goroutines\\n$(caption "$s" "$g1" "$g2")"
set title "Ping-pong over an unbuffered channel, two of each (lower is better)"
set ylabel "ns per round trip"
set xlabel "Go (n): goroutines with GOMAXPROCS n"
$(floor_line "$floor")
$(bars "$TMP/task-rt" 1 "%.0f")
unset arrow 1
unset label 1
unset xlabel
set title "Start, run and wait; select round trip (lower is better)"
set ylabel "ns"
$(bars "$TMP/task-ns" 3 "%.0f")
set title "Select over 2 buffered channels (higher is better)"
set ylabel "million selects per second"
$(bars "$TMP/task-ops" 3 "%.1f")
set title "Resident memory of a parked task (lower is better)"
set ylabel "bytes"
$(bars "$TMP/task-bytes" 3 "%.0f")
unset multiplot
EOF
}

# ---- bench/server.sh ----

# The server.sh results files: server.txt (make bench's run with the default
# flags) first, then server-TAG.txt (make bench's --shards 1 run is
# TAG=shards1; any other run kept with a TAG joins them).
server_files() {
    local f
    [ -s "$RES/server.txt" ] && echo "$RES/server.txt"
    for f in "$RES"/server-*.txt; do
        [ -s "$f" ] && echo "$f"
    done
    return 0
}

# The line types of stewardd's bars, run by run (at most 4 runs are told
# apart).
STEWARDD_LTS=(2 7 1 8)

# "stewardd, N shard(s)" of one server.sh results file (older files do
# not record N: then its tag).
server_label() { # FILE
    local n tag
    n=$(val "$1" server.stewardd.shards)
    tag=$(basename "$1" .txt)
    tag=${tag#server}
    if [ "$n" != - ]; then
        echo "stewardd, $n shard$([ "$n" = 1 ] || echo s)"
    else
        echo "stewardd${tag:+ (${tag#-})}"
    fi
}

# Each run is a pair of bars, redis-server and stewardd measured side by
# side: a run's ratio is the one to read.
plot_server() {
    local files t p f k types="" cols=0
    mapfile -t files < <(server_files)
    if [ ${#files[@]} -eq 0 ]; then
        echo "bench/plot.sh: server.svg skipped: no $RES/server.txt"
        return 0
    fi
    local redis_lts=(9 6 9 6)
    for p in 1 16; do
        {
            printf '""'
            k=0
            for f in "${files[@]}"; do
                printf ' "redis-server (run %d)" "%s (run %d)"' $((k + 1)) "$(server_label "$f")" $((k + 1))
                k=$((k + 1))
            done
            echo
            for t in set get incr mset; do
                printf '"%s"' "$t"
                for f in "${files[@]}"; do
                    printf ' %s %s' "$(scaled "$(val "$f" "server.$t.P$p.redis")" 1e3)" \
                        "$(scaled "$(val "$f" "server.$t.P$p.stewardd")" 1e3)"
                done
                echo
            done
        } >"$TMP/server-P$p"
    done
    for ((k = 0; k < ${#files[@]} && k < 4; k++)); do
        types+="${redis_lts[k]} ${STEWARDD_LTS[k]} "
        cols=$((cols + 2))
    done
    draw server 1200 560 <<EOF
set multiplot layout 1,2 title "stewardd vs redis-server: redis-benchmark -c 50 -d 16 -r 100000, each run side by side (higher is better)\\n$(caption "${files[@]}")"
set ylabel "thousand requests per second (mset: MSETs of 10 keys)"
set title "one request per round trip (-P 1)"
$(bars "$TMP/server-P1" "$cols" "%.0f" "$types")
set title "pipelined (-P 16)"
$(bars "$TMP/server-P16" "$cols" "%.0f" "$types")
unset multiplot
EOF
}

plot_server_memory() {
    local files f m mem=() types="9"
    mapfile -t files < <(server_files)
    for f in "${files[@]}"; do
        [ "$(val "$f" server.mem.redis.rss_per_key)" != - ] && mem+=("$f")
    done
    if [ ${#mem[@]} -eq 0 ]; then
        echo "bench/plot.sh: server-memory.svg skipped: no server results with memory figures"
        return 0
    fi
    {
        printf '"" "redis-server"'
        for f in "${mem[@]}"; do
            printf ' "%s"' "$(server_label "$f")"
        done
        echo
        for m in rss used_memory; do
            # redis: the first run's (each run loads a fresh redis-server alike).
            printf '"%s growth" %s' "$m" "$(val "${mem[0]}" "server.mem.redis.${m}_per_key")"
            for f in "${mem[@]}"; do
                printf ' %s' "$(val "$f" "server.mem.stewardd.${m}_per_key")"
            done
            echo
        done
    } >"$TMP/mem"
    for ((f = 0; f < ${#mem[@]} && f < 4; f++)); do
        types+=" ${STEWARDD_LTS[f]}"
    done
    draw server-memory 760 500 <<EOF
set title "Memory per key: 16 B keys, 16 B values, loaded by redis-cli --pipe (lower is better)\\n$(caption "${mem[@]}")"
set ylabel "bytes per key"
$(bars "$TMP/mem" $((${#mem[@]} + 1)) "%.1f" "$types")
EOF
}

# ---- bench/multikey.sh ----

plot_multikey() {
    local f=$RES/multikey.txt p s load shards
    have multikey.svg "$f" || return 0
    shards=$(awk -F. '$1 == "multikey" { sub(/^s/, "", $2); if (!seen[$2]++) printf "%s ", $2 }' "$f")
    for p in 1 16; do
        {
            echo '"" "redis-server" "stewardd"'
            for s in $shards; do
                for load in mset mget mix exec; do
                    echo "\"S=$s: $load\" $(scaled "$(val "$f" "multikey.s$s.$load.P$p.redis")" 1e3)" \
                        "$(scaled "$(val "$f" "multikey.s$s.$load.P$p.stewardd")" 1e3)"
                done
            done
        } >"$TMP/mk-P$p"
    done
    draw multikey 1200 520 <<EOF
set multiplot layout 1,2 title "Multi-key commands: stewardd --shards S vs redis-server, 50 connections (higher is better)\\nS: load; mset, mget: 10 keys each; mix: 90% GET/SET, 10% MSET of 10 keys; exec: 90% GET/SET, 10% MULTI, SET, RENAME, EXEC\\n$(caption "$f")"
set ylabel "thousand requests per second"
set xtics rotate by -40
set title "one request per round trip (-P 1)"
$(bars "$TMP/mk-P1" 2 "%.0f" "9 2")
set title "pipelined (-P 16)"
$(bars "$TMP/mk-P16" 2 "%.0f" "9 2")
unset multiplot
EOF
}

plot_chan
plot_db
plot_owner
plot_durable
plot_task
plot_server
plot_server_memory
plot_multikey
exit "$FAILED"
