#!/usr/bin/env bash
# Several stewardd behind twemproxy (Debian's nutcracker), as
# docs/scale-out.md sets them up: three stewardd on loopback, each with its
# own --dir and --appendfsync always, and one nutcracker that shards keys
# over them by consistent hashing (ketama). 10,000 keys are written through
# the proxy and every one is read back through it, by GET and by MGET (which
# the proxy splits across the servers); DBSIZE on each server, asked
# directly, shows that each holds a share. Then one stewardd is killed with
# SIGKILL and started again on the same --dir and port, and all 10,000 keys
# must read back through the proxy once more.
#
# Usage: tests/server/test_twemproxy.sh STEWARDD
# Exits 77 (a skip, for CTest) where nutcracker is not installed: as root,
# tools/deps.sh base (run by make test) installs it.
set -uo pipefail
if [ $# -lt 1 ]; then
    echo "usage: $0 STEWARDD" >&2
    exit 2
fi
BIN=$1
case "$BIN" in */*) BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN") ;; esac
cd "$(dirname "$0")" || exit 2
if ! command -v nutcracker >/dev/null; then
    echo "test_twemproxy: skipped: nutcracker (twemproxy) is not installed;" \
        "as root, tools/deps.sh base installs it (apt-get install nutcracker)"
    exit 77
fi
command -v redis-cli >/dev/null || { echo "$0: redis-cli is missing (apt-get install redis-tools)" >&2; exit 2; }
# Debian's python3-redis lives under /usr/bin/python3, whatever python3 PATH finds first.
PY=/usr/bin/python3
"$PY" -c 'import redis' 2>/dev/null || { echo "$0: python3-redis is missing (apt-get install python3-redis)" >&2; exit 2; }
. ./lib.sh

KEYS=10000
NODES=(1 2 3)
declare -A NODE_PID=() NODE_PORT=()
NC_PID='' NC_PORT=''

finish() {
    local i
    trap '' INT TERM
    [ -n "$NC_PID" ] && kill -9 "$NC_PID" 2>/dev/null && wait "$NC_PID" 2>/dev/null
    for i in "${!NODE_PID[@]}"; do
        kill -9 "${NODE_PID[$i]}" 2>/dev/null && wait "${NODE_PID[$i]}" 2>/dev/null
    done
    SW_PID=
    sw_cleanup
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

passed=0 failed=0
ok() { # ok NAME EXPECTED ACTUAL
    if [ "$2" == "$3" ]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        printf 'FAIL %s\n  expected: %s\n  actual:   %s\n' "$1" "$2" "$3"
    fi
}
fatal() {
    echo "FATAL: $*"
    echo "test_twemproxy: $passed passed, $((failed + 1)) failed"
    exit 1
}

# Node I's stewardd flags (lib.sh adds --port).
node_flags() { # I
    echo --dir "$SW_WORK/data-$1" --appendfsync always
}

node_start() { # I
    # shellcheck disable=SC2046 # the flags are words without spaces
    sw_server_start "$BIN" $(node_flags "$1") || return 1
    NODE_PID[$1]=$SW_PID NODE_PORT[$1]=$SW_PORT
}

# SIGKILL, then the same command on the same port and --dir.
node_kill9_restart() { # I
    SW_PID=${NODE_PID[$1]} SW_PORT=${NODE_PORT[$1]}
    sw_server_kill9
    unset "NODE_PID[$1]"
    # shellcheck disable=SC2046
    sw_build_argv "$BIN" $(node_flags "$1")
    sw_server_restart || return 1
    NODE_PID[$1]=$SW_PID
}

# The proxy's configuration: ketama over the three servers, each named, so
# that a key's place on the ring depends on the name, not the port.
# auto_eject_hosts stays false: a store must not send a down server's keys
# to another one (docs/scale-out.md).
nc_config() { # FILE
    {
        echo "steward:"
        echo "  listen: 127.0.0.1:$NC_PORT"
        echo "  hash: murmur"
        echo "  distribution: ketama"
        echo "  redis: true"
        echo "  auto_eject_hosts: false"
        echo "  timeout: 5000"
        echo "  servers:"
        for i in "${NODES[@]}"; do
            echo "    - 127.0.0.1:${NODE_PORT[$i]}:1 s$i"
        done
    } >"$1"
}

# Starts nutcracker on a free port, with its statistics on another, and
# waits until it answers PING; tries other ports if one is taken meanwhile.
nc_start() {
    local conf=$SW_WORK/nutcracker.yml log=$SW_WORK/nutcracker.log stats _ try
    for try in 1 2 3 4 5; do
        if ! NC_PORT=$(sw_free_port) || ! stats=$(sw_free_port); then
            break
        fi
        nc_config "$conf"
        nutcracker -c "$conf" -s "$stats" -a 127.0.0.1 -o "$log" &
        NC_PID=$!
        for _ in $(seq 1 100); do
            kill -0 "$NC_PID" 2>/dev/null || break
            sw_ping_answers "$NC_PORT" && return 0
            sleep 0.05
        done
        kill -9 "$NC_PID" 2>/dev/null
        wait "$NC_PID" 2>/dev/null
        NC_PID=
        grep -q "Address already in use" "$log" 2>/dev/null || break
        echo "nutcracker: a port was taken (try $try); trying others"
    done
    echo "nutcracker did not start; its log:"
    cat "$log" 2>/dev/null
    return 1
}

# The keys and their values; "write" sets them all through one pipeline
# per 1,000, "read" gets them all (GET each, then MGET of 500 at a time)
# and says how many read back right each way.
# shellcheck disable=SC2016 # Python, not shell
KEYS_PY='
import sys, redis
cmd, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
r = redis.Redis(host="127.0.0.1", port=port, socket_timeout=20)
key = lambda i: "key:%05d" % i
val = lambda i: ("value:%05d:" % i) * 4
def batches(size):
    return (range(lo, min(n, lo + size)) for lo in range(0, n, size))
if cmd == "write":
    good = 0
    for b in batches(1000):
        p = r.pipeline(transaction=False)
        for i in b:
            p.set(key(i), val(i))
        good += sum(1 for x in p.execute(raise_on_error=False) if x is True)
    print(good)
else:
    by_get = by_mget = 0
    for b in batches(1000):
        p = r.pipeline(transaction=False)
        for i in b:
            p.get(key(i))
        got = p.execute(raise_on_error=False)
        by_get += sum(1 for i, v in zip(b, got) if v == val(i).encode())
    for b in batches(500):
        got = r.mget([key(i) for i in b])
        by_mget += sum(1 for i, v in zip(b, got) if v == val(i).encode())
    print(by_get, by_mget)
'
keys_py() { # write|read
    "$PY" -c "$KEYS_PY" "$1" "$NC_PORT" "$KEYS" 2>&1 | tail -n 3
}

dbsize() { # I
    redis-cli -h 127.0.0.1 -p "${NODE_PORT[$1]}" dbsize 2>&1
}

start=$(date +%s%N)
sw_workdir
for i in "${NODES[@]}"; do
    node_start "$i" || fatal "stewardd $i did not start"
done
nc_start || fatal "nutcracker did not start"
echo "nutcracker $(nutcracker -V 2>&1 | sed -n 's/^This is nutcracker-//p') on port $NC_PORT;" \
    "stewardd on ports ${NODE_PORT[*]}"

ok "SETs acknowledged through the proxy" "$KEYS" "$(keys_py write)"
ok "read back through the proxy (GET, MGET)" "$KEYS $KEYS" "$(keys_py read)"

declare -A before=()
total=0
for i in "${NODES[@]}"; do
    before[$i]=$(dbsize "$i")
    echo "stewardd $i holds ${before[$i]} keys"
    [[ ${before[$i]} =~ ^[0-9]+$ ]] || before[$i]=0
    ok "stewardd $i holds a share" yes "$([ "${before[$i]}" -gt 0 ] && echo yes)"
    total=$((total + before[$i]))
done
ok "the shares add up" "$KEYS" "$total"

# Node 2 dies with SIGKILL; what it acknowledged must come back from its log.
probe=$(redis-cli -h 127.0.0.1 -p "${NODE_PORT[2]}" randomkey 2>&1)
node_kill9_restart 2 || fatal "stewardd 2 did not start again"
ok "stewardd 2's keys after SIGKILL and restart" "${before[2]}" "$(dbsize 2)"
# The proxy saw its connection to node 2 close and connects afresh on the
# next request; a few tries on one of node 2's keys cover the moment before.
for _ in $(seq 1 50); do
    case "$(redis-cli -h 127.0.0.1 -p "$NC_PORT" get "$probe" 2>&1)" in value:*) break ;; esac
    sleep 0.1
done
ok "all keys through the proxy after the restart (GET, MGET)" "$KEYS $KEYS" "$(keys_py read)"
ok "nutcracker still running" yes "$(kill -0 "$NC_PID" 2>/dev/null && echo yes)"

ms=$((($(date +%s%N) - start) / 1000000))
printf 'test_twemproxy: %s passed, %s failed (%d.%01d s)\n' "$passed" "$failed" $((ms / 1000)) $((ms % 1000 / 100))
[ "$failed" -eq 0 ]
