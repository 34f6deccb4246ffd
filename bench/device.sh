#!/usr/bin/env bash
# Runs bench/scaling.sh, then bench/multikey.sh, on a machine that has none
# of our Debian packages (no compiler, no redis): a static stewardd and a
# static mixload (multikey's mix client), and redis's programs with every
# library they load and the loader itself, travel in build/carry/.
#
# Usage:
#   bench/device.sh prepare   here: builds a static stewardd in build/static,
#                             fills build/carry/ and checks that the carried
#                             programs load nothing from outside it
#   bench/device.sh run       there (or here, to test it): bench/scaling.sh
#                             and bench/multikey.sh with the carried
#                             programs; the output and the raw results go to
#                             $OUT when it is set (else build/device/)
#   bench/device.sh check     the check of prepare, alone
# Environment for prepare: DEVICE_STEWARDD=PATH carries that program as
# stewardd instead of building one (it is not checked for being static).
# Environment for run: as bench/scaling.sh's (N, NP16, C, THREADS, LEVELS,
# RUNS); MK_SHARDS="1 2 4 8" and MK_N=300000 are multikey.sh's SHARDS and N
# (MK_SHARDS=none skips it).
#
# The carried redis programs run as
#   build/carry/ld-linux-x86-64.so.2 --library-path build/carry build/carry/redis-server ...
# so that their own glibc and loader serve them whatever the other machine
# has; the paths are made absolute, and the checkout's path must not hold
# spaces. Needs on the other machine: x86-64 Linux, bash, coreutils; awk and
# grep are carried too, for a machine without them.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATIC=$ROOT/build/static
CARRY=$ROOT/build/carry
LOADER=ld-linux-x86-64.so.2
# The carried programs: what scaling.sh runs, redis-cli to look around, and
# the tools the scripts use.
PROGRAMS=(redis-server redis-benchmark redis-cli)
TOOLS=(awk grep)

die() {
    echo "bench/device.sh: $*" >&2
    exit 1
}

# Builds TARGET linked statically in build/static (only that target: no
# tests or examples configured; the benchmarks are, for mixload), checks
# that BIN, its program under build/static, loads nothing, and carries it.
build_static() { # TARGET BIN
    cmake -S "$ROOT" -B "$STATIC" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_EXE_LINKER_FLAGS=-static \
        -DSTEWARD_TESTS=OFF -DSTEWARD_EXAMPLES=OFF -DSTEWARD_BENCH=ON >/dev/null
    cmake --build "$STATIC" --target "$1" -j"$(nproc)" >/dev/null ||
        die "cannot build $1 statically (cmake --build $STATIC --target $1)"
    local bin=$STATIC/$2
    file -L "$bin" | grep -Eq 'statically linked|static-pie linked' ||
        die "$bin is not static: $(file -L "$bin")"
    if ldd "$bin" >/dev/null 2>&1 && ! ldd "$bin" 2>&1 | grep -q 'statically linked'; then
        die "ldd lists libraries for $bin: $(ldd "$bin")"
    fi
    cp "$bin" "$CARRY/$1"
}

# The stewardd to carry: DEVICE_STEWARDD, or one built here.
build_stewardd() {
    if [ -n "${DEVICE_STEWARDD:-}" ]; then
        cp "$DEVICE_STEWARDD" "$CARRY/stewardd"
        return 0
    fi
    build_static stewardd src/server/stewardd
}

# Copies program PATH (under NAME) and every library ldd lists for it into
# build/carry/. cp -L: redis-server is a link to redis-check-rdb, and redis
# picks its mode by the name it runs under.
carry_program() { # NAME PATH
    local lib
    cp -L "$2" "$CARRY/$1"
    for lib in $(ldd "$2" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
        cp -L "$lib" "$CARRY/$(basename "$lib")"
    done
}

prepare() {
    [ "$(uname -m)" = x86_64 ] || die "x86-64 only (the loader is $LOADER)"
    rm -rf "$CARRY"
    mkdir -p "$CARRY/bin"
    build_stewardd
    build_static mixload bench/mixload
    local p path
    for p in "${PROGRAMS[@]}"; do
        path=$(command -v "$p") || die "no $p here: install redis-server and redis-tools (tools/deps.sh bench)"
        carry_program "$p" "$path"
    done
    for p in "${TOOLS[@]}"; do
        path=$(readlink -f "$(command -v "$p")") || die "no $p here"
        carry_program "$p" "$path"
        # A program by that name for PATH, run through the carried loader.
        # shellcheck disable=SC2016 # the wrapper expands them, not this shell
        printf '#!/bin/sh\nd=$(cd "$(dirname "$0")/.." && pwd)\nexec "$d/%s" --library-path "$d" "$d/%s" "$@"\n' \
            "$LOADER" "$p" >"$CARRY/bin/$p"
        chmod +x "$CARRY/bin/$p"
    done
    [ -f "$CARRY/$LOADER" ] || die "ldd named no $LOADER"
    {
        echo "stewardd: $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?')${DEVICE_STEWARDD:+ (from $DEVICE_STEWARDD)}"
        "${PROGRAMS[0]}" --version
        echo "from: $(. /etc/os-release && echo "$PRETTY_NAME"), glibc $(ldd --version | awk 'NR == 1 { print $NF }')"
    } >"$CARRY/VERSIONS"
    check
    echo "build/carry: $(du -sh "$CARRY" | awk '{ print $1 }'), $(find "$CARRY" -type f | wc -l) files; run it there with" \
        "carry [\"build/carry\"] and: bench/device.sh run"
}

# Every carried program loads its libraries from build/carry/ only, and runs.
check() {
    local p f
    [ -x "$CARRY/$LOADER" ] || die "no $CARRY/$LOADER: run bench/device.sh prepare here first"
    for p in "${PROGRAMS[@]}" "${TOOLS[@]}"; do
        f=$("$CARRY/$LOADER" --library-path "$CARRY" --list "$CARRY/$p" |
            awk -v d="$CARRY/" '$2 == "=>" && index($3, d) != 1 { print $1 " => " $3 }')
        [ -z "$f" ] || die "$p loads from outside build/carry: $f"
    done
    "$CARRY/$LOADER" --library-path "$CARRY" "$CARRY/redis-server" --version >/dev/null ||
        die "the carried redis-server does not run"
    [ -x "$CARRY/stewardd" ] || die "no carried stewardd"
    [ -x "$CARRY/mixload" ] || die "no carried mixload"
}

# The carried awk and grep first in PATH where the machine's are missing or
# do not run: "awk x" and "grep x" both accept the line "x".
use_carried_tools() {
    local t
    for t in "${TOOLS[@]}"; do
        echo x | "$t" x >/dev/null 2>&1 || PATH=$CARRY/bin:$PATH
    done
    export PATH
}

run() {
    [ "$(uname -m)" = x86_64 ] || die "the carried programs are x86-64; this is $(uname -m)"
    use_carried_tools
    check
    local l="$CARRY/$LOADER --library-path $CARRY" out=${OUT:-$ROOT/build/device}
    export STEWARDD=$CARRY/stewardd REDIS_SERVER="$l $CARRY/redis-server" \
        REDIS_BENCHMARK="$l $CARRY/redis-benchmark" REDIS_CLI="$l $CARRY/redis-cli"
    mkdir -p "$out"
    cat "$CARRY/VERSIONS"
    echo "on: $(uname -sr), $(nproc) CPUs"
    "$ROOT/bench/scaling.sh" "$ROOT/build/device" 2>&1 | tee "$out/scaling.out"
    if [ "${MK_SHARDS:-}" != none ]; then
        MIXLOAD=$CARRY/mixload SHARDS=${MK_SHARDS:-1 2 4 8} N=${MK_N:-300000} \
            "$ROOT/bench/multikey.sh" "$ROOT/build/device" 2>&1 | tee "$out/multikey.out"
    fi
    if [ "$out" != "$ROOT/build/device" ]; then
        cp "$ROOT/build/device/bench/results/"*.txt "$out/"
    fi
}

case "${1:-}" in
prepare) prepare ;;
run) run ;;
check) check && echo "build/carry: every program loads from it only" ;;
-h | --help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0" ;;
*) die "usage: bench/device.sh prepare|run|check" ;;
esac
