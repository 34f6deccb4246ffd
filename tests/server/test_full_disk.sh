#!/usr/bin/env bash
# stewardd on a full disk: its --dir on a 16 MiB tmpfs, mounted in a private
# mount namespace (as root, or as root of a user namespace otherwise) so
# that nothing outside sees it. Filled by a filler file, the server must
# answer writes -MISCONF, as Redis does, while serving reads; refuse a
# multi-key write whole, never in part; say so in INFO and in its log; take
# writes again once the filler is gone, by itself; and after a SIGKILL bring
# back exactly the writes it acknowledged.
#
# Usage: tests/server/test_full_disk.sh STEWARDD
# Exits 77 (a skip, for CTest) where no mount namespace can be made.
set -uo pipefail
if [ $# -lt 1 ]; then
    echo "usage: $0 STEWARDD" >&2
    exit 2
fi
BIN=$1
case "$BIN" in */*) BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN") ;; esac
SELF=$(readlink -f "$0")
cd "$(dirname "$SELF")" || exit 2
command -v redis-cli >/dev/null || { echo "$0: redis-cli is missing (apt-get install redis-tools)" >&2; exit 2; }

if [ -z "${SW_FULL_DISK_NS:-}" ]; then
    flags=(--mount --propagation private)
    [ "$(id -u)" -eq 0 ] || flags+=(--map-root-user)
    if ! unshare "${flags[@]}" true 2>/dev/null; then
        echo "test_full_disk: skipped: this machine refuses a private mount namespace" \
            "(unshare ${flags[*]})"
        exit 77
    fi
    SW_FULL_DISK_NS=1 exec unshare "${flags[@]}" bash "$SELF" "$BIN"
fi

mnt=$(mktemp -d "${TMPDIR:-/tmp}/sw-full-disk.XXXXXX")
if ! mount -t tmpfs -o size=16m tmpfs "$mnt"; then
    rmdir "$mnt"
    echo "test_full_disk: skipped: cannot mount a tmpfs here"
    exit 77
fi
export SW_WORK=$mnt/work
mkdir "$SW_WORK"
. ./lib.sh
finish() {
    sw_cleanup
    umount -l "$mnt"
    rmdir "$mnt"
}
trap finish EXIT

passed=0 failed=0
ok() { # ok NAME EXPECTED ACTUAL
    if [ "$2" == "$3" ]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        printf 'FAIL %s\n  expected: %s\n  actual:   %s\n' "$1" "$2" "$3"
    fi
}
cli() { redis-cli -h 127.0.0.1 -p "$SW_PORT" "$@" 2>&1; }
value() { printf 'v%s-%04000d' "$1" 0; } # 4 KiB and a bit, one per key

# Fills the file system, then frees $1 KiB of it.
fill() {
    dd if=/dev/zero of="$mnt/filler" bs=64k status=none 2>/dev/null
    dd if=/dev/zero of="$mnt/filler" bs=4k oflag=append conv=notrunc status=none 2>/dev/null
    truncate -s "-$1K" "$mnt/filler"
}

sw_server_start "$BIN" --dir "$SW_WORK/data" --appendfsync always --shards 2 || exit 1
big=$(printf '%0102400d' 0)
ok "a big key before the disk fills" OK "$(cli set big1 "$big")"
fill 256

# Writes until the disk refuses them: 20 refused in a row, so that both
# shards refuse (each may still have room it set aside before).
acked=() refused=() streak=0
for i in $(seq 1 600); do
    r=$(cli set "k$i" "$(value "$i")")
    case "$r" in
    OK) acked+=("$i") streak=0 ;;
    MISCONF*) refused+=("$i") streak=$((streak + 1)); [ "$streak" -ge 20 ] && break ;;
    *) ok "set k$i" "OK or MISCONF" "$r"; break ;;
    esac
done
echo "full disk: ${#acked[@]} SETs acknowledged, ${#refused[@]} refused"
ok "some writes acknowledged" yes "$([ ${#acked[@]} -gt 0 ] && echo yes)"
ok "then refused" yes "$([ "$streak" -ge 20 ] && echo yes)"
ok "the refusal's words" "MISCONF Errors writing to the AOF file: No space left on device" \
    "$(cli set "k${refused[0]}" "$(value "${refused[0]}")")"
ok "reads go on" "$(value "${acked[0]}")" "$(cli get "k${acked[0]}")"
ok "a refused key is absent" "" "$(cli get "k${refused[0]}")"
ok "INFO says so" "aof_last_write_status:err" \
    "$(cli info persistence | tr -d '\r' | grep aof_last_write_status)"
ok "the log says so" 1 "$(grep -c 'no room on disk' "$SW_LOG" | awk '{print ($1 > 0)}')"

# A multi-key write is refused whole: MSET of values no page has room for.
r=$(cli mset m1 "$big" m2 "$big" m3 "$big" m4 "$big")
ok "MSET refused" MISCONF "${r%% *}"
ok "none of its keys" 0 "$(cli exists m1 m2 m3 m4)"
# DEL of 20 keys: all gone, or refused with all there.
keys=()
for i in "${acked[@]:0:20}"; do keys+=("k$i"); done
r=$(cli del "${keys[@]}")
if [ "$r" == 20 ]; then
    ok "DEL whole" 0 "$(cli exists "${keys[@]}")"
    acked=("${acked[@]:20}")
else
    ok "DEL refused" MISCONF "${r%% *}"
    ok "DEL refused whole" 20 "$(cli exists "${keys[@]}")"
fi
# RENAME, COPY and MOVE of big1 are refused whole: with 2 shards, big1 and
# nb1 or cb1 hash to two (a transaction whose destination's PART finds no
# room), nb2 and cb2 to one (a unit); MOVE's db 1 either.
for c in "rename big1 nb1" "rename big1 nb2" "copy big1 cb1" "copy big1 cb2" "move big1 1"; do
    # shellcheck disable=SC2086 # the command's words
    r=$(cli $c)
    ok "$c refused" MISCONF "${r%% *}"
done
ok "big1 untouched" 102400 "$(cli strlen big1)"
ok "no destination written" 0 "$(cli exists nb1 nb2 cb1 cb2)"
ok "nor in db 1" 0 "$(cli -n 1 exists big1)"
ok "DBSIZE" $((${#acked[@]} + 1)) "$(cli dbsize)"
ok "still serving" PONG "$(cli ping)"

# Room again: writes resume by themselves.
rm "$mnt/filler"
for i in "${refused[@]}"; do
    r=$(cli set "k$i" "$(value "$i")")
    [ "$r" == OK ] || { ok "set k$i after the room came back" OK "$r"; break; }
done
ok "writes resumed" OK "$(cli mset m1 a m2 b)"
ok "INFO says so" "aof_last_write_status:ok" \
    "$(cli info persistence | tr -d '\r' | grep aof_last_write_status)"
ok "the log says so" 1 "$(grep -c 'writes resumed' "$SW_LOG" | awk '{print ($1 > 0)}')"

# After a SIGKILL, exactly what was acknowledged.
sw_server_kill9
sw_server_restart || exit 1
bad=0
for i in "${acked[@]}" "${refused[@]}"; do
    [ "$(cli get "k$i")" == "$(value "$i")" ] || bad=$((bad + 1))
done
ok "every acknowledged key after SIGKILL" 0 "$bad"
ok "big1 after SIGKILL" 102400 "$(cli strlen big1)"
ok "DBSIZE after SIGKILL" $((${#acked[@]} + ${#refused[@]} + 3)) "$(cli dbsize)"

echo "test_full_disk: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
