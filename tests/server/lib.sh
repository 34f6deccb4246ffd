# Shared helpers for the server tests: start a server (stewardd or, to prove
# that a test encodes Redis's semantics, Debian's redis-server) on a free
# loopback port in a temporary directory, wait until it answers, stop it.
#
# Source it from bash:  . tests/server/lib.sh
#
#   sw_server_start BIN [FLAG...]   start BIN with stewardd-style flags; sets
#                                   SW_PORT, SW_PID, SW_LOG and SW_WORK (a temp
#                                   directory removed by sw_cleanup)
#   sw_server_restart               start the same command again, same port
#   sw_server_stop                  SIGTERM, wait for exit (SIGKILL after 20 s);
#                                   returns the server's exit status
#   sw_server_kill9                 SIGKILL, wait for exit
#   sw_server_alive                 true while the server runs
#   sw_is_redis BIN                 true when BIN is redis-server
#   sw_cleanup                      stop what is still running, remove SW_WORK
#
# Flags are stewardd's (--port is added here). For redis-server they are
# translated: --shards is dropped, --dir also turns on the append-only file,
# --client-output-buffer-limit BYTES becomes the "normal" class limit, and
# RDB snapshots are off so that a run leaves nothing behind.

SW_WORK=${SW_WORK:-}
SW_PID=
SW_PORT=
SW_LOG=
SW_ARGV=()

sw_is_redis() {
    case "$(basename "$1")" in redis-server*) return 0 ;; esac
    return 1
}

# Makes SW_WORK once per test script.
sw_workdir() {
    if [ -z "$SW_WORK" ]; then
        SW_WORK=$(mktemp -d "${TMPDIR:-/tmp}/sw-server-test.XXXXXX")
    fi
}

# Prints a port in 20000..59999 that nothing listens on now. Another process
# may take it before the server binds; sw_server_start then tries again.
sw_free_port() {
    local p _
    for _ in $(seq 1 50); do
        p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    return 1
}

# Translates stewardd's flags for BIN into SW_ARGV.
sw_build_argv() {
    local bin=$1
    shift
    SW_ARGV=("$bin")
    if ! sw_is_redis "$bin"; then
        SW_ARGV+=("$@")
        return
    fi
    SW_ARGV+=(--save "" --daemonize no --logfile "")
    while [ $# -gt 0 ]; do
        case "$1" in
        --shards) shift ;;
        --dir) SW_ARGV+=(--dir "$2" --appendonly yes); shift ;;
        --client-output-buffer-limit)
            SW_ARGV+=(--client-output-buffer-limit "normal $2 $2 0"); shift ;;
        *) SW_ARGV+=("$1") ;;
        esac
        shift
    done
}

# True once a PING on a fresh connection gets any reply (+PONG, or -NOAUTH
# when a password is required). Sent as a RESP array, which twemproxy
# wants too (it takes no inline commands).
sw_ping_answers() {
    # shellcheck disable=SC2016 # expanded by the inner bash
    timeout 2 bash -c '
        exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        printf "*1\r\n\$4\r\nPING\r\n" >&3
        IFS= read -r -t 2 line <&3 || exit 1
        case "$line" in "+PONG"* | "-NOAUTH"*) exit 0 ;; esac
        exit 1' _ "$1" 2>/dev/null
}

# Launches SW_ARGV on SW_PORT and waits up to 20 s for it to answer.
# Returns 1 if it exited or never answered (its log is then in SW_LOG).
sw_launch() {
    local _
    sw_workdir
    SW_LOG=$SW_WORK/server-$SW_PORT.log
    (cd "$SW_WORK" && exec "${SW_ARGV[@]}" --port "$SW_PORT") >>"$SW_LOG" 2>&1 &
    SW_PID=$!
    for _ in $(seq 1 200); do
        if ! kill -0 "$SW_PID" 2>/dev/null; then
            wait "$SW_PID" 2>/dev/null
            SW_PID=
            return 1
        fi
        sw_ping_answers "$SW_PORT" && return 0
        sleep 0.1
    done
    kill -9 "$SW_PID" 2>/dev/null
    wait "$SW_PID" 2>/dev/null
    SW_PID=
    return 1
}

sw_server_start() {
    local _
    sw_build_argv "$@"
    for _ in 1 2 3 4 5; do
        SW_PORT=$(sw_free_port) || break
        sw_launch && return 0
        # A port taken between the check and the bind: try another one.
        grep -qi "address already in use\|in use" "$SW_LOG" 2>/dev/null || break
    done
    echo "sw_server_start: ${SW_ARGV[*]} did not start; its log:" >&2
    cat "$SW_LOG" >&2 2>/dev/null
    return 1
}

sw_server_restart() {
    if ! sw_launch; then
        echo "sw_server_restart: ${SW_ARGV[*]} did not start again; its log:" >&2
        cat "$SW_LOG" >&2
        return 1
    fi
}

# Waits for SW_PID to exit and returns its exit status (128+signal if killed).
sw_wait_exit() {
    local rc
    wait "$SW_PID" 2>/dev/null
    rc=$?
    SW_PID=
    return $rc
}

sw_server_stop() {
    local _
    [ -n "$SW_PID" ] || return 0
    kill -TERM "$SW_PID" 2>/dev/null
    for _ in $(seq 1 200); do
        kill -0 "$SW_PID" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$SW_PID" 2>/dev/null; then
        echo "sw_server_stop: no exit 20 s after SIGTERM; sending SIGKILL" >&2
        kill -9 "$SW_PID" 2>/dev/null
    fi
    sw_wait_exit
}

# True while the server started last is running.
sw_server_alive() {
    [ -n "$SW_PID" ] && kill -0 "$SW_PID" 2>/dev/null
}

sw_server_kill9() {
    [ -n "$SW_PID" ] || return 0
    kill -9 "$SW_PID" 2>/dev/null
    sw_wait_exit
    return 0
}

sw_cleanup() {
    [ -n "$SW_PID" ] && sw_server_kill9
    [ -n "$SW_WORK" ] && [ -z "${SW_KEEP:-}" ] && rm -rf "$SW_WORK"
    return 0
}
