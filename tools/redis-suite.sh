#!/usr/bin/env bash
# Runs Redis's own Tcl test suite, the units that cover what stewardd serves,
# against a server started here: strings, INCR, the keyspace, expiry, the
# protocol and transactions (MULTI, WATCH). The suite comes from Debian's
# redis source package, fetched once into build/redis-suite/ and reused
# after that.
#
# Usage: tools/redis-suite.sh [SERVER-BINARY [SERVER-FLAG...]]
#   SERVER-BINARY defaults to build/plain/src/server/stewardd. Give
#   redis-server to check the suite itself: then nothing is skipped.
#   SERVER-FLAGs go to the server (e.g. --shards 4).
#   REDIS_SUITE_UNITS replaces the units (e.g. "unit/keyspace unit/multi").
#   REDIS_SUITE_ARGS adds runtest options (e.g. "--only 'SETNX*'").
# Prints the suite's pass, fail and skip counts; exits 1 if any test failed.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 2
. tests/server/lib.sh

bin=${1:-build/plain/src/server/stewardd}
shift $(($# > 0))
# A path (not a name on PATH) is made absolute: the server starts elsewhere.
case "$bin" in */*) [ -e "$bin" ] && bin=$(realpath "$bin") ;; esac
if ! command -v "$bin" >/dev/null && [ ! -x "$bin" ]; then
    echo "redis-suite: no server binary '$bin' (build it with 'make' first)" >&2
    exit 2
fi
cache=$root/build/redis-suite
read -ra units <<<"${REDIS_SUITE_UNITS:-unit/type/string unit/type/incr unit/keyspace unit/expire unit/protocol unit/multi}"

# Makes apt see Debian's source packages: a deb-src twin of each deb822
# .sources file (Debian 12's form), or of each "deb" line of a .list file.
enable_deb_src() {
    local f out=/etc/apt/sources.list.d/steward-deb-src.sources
    if grep -Eqs '^(Types:.*deb-src|deb-src )' /etc/apt/sources.list /etc/apt/sources.list.d/*; then
        return 0
    fi
    echo "redis-suite: enabling Debian source packages in $out"
    : >"$out"
    for f in /etc/apt/sources.list.d/*.sources; do
        [ "$f" != "$out" ] && grep -q '^URIs:.*debian' "$f" &&
            sed 's/^Types: deb$/Types: deb-src/' "$f" >>"$out"
    done
    if [ ! -s "$out" ]; then
        rm -f "$out"
        out=/etc/apt/sources.list.d/steward-deb-src.list
        grep -hE '^deb https?://[^ ]*debian' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
            sed 's/^deb /deb-src /' >"$out"
    fi
}

# Fetches and unpacks Debian's redis source into $cache, once.
fetch_suite() {
    local dir
    dir=$(ls -d "$cache"/redis-*/ 2>/dev/null | head -1)
    if [ -n "$dir" ] && [ -x "$dir/runtest" ]; then
        suite=${dir%/}
        return 0
    fi
    if [ "$(id -u)" -ne 0 ]; then
        echo "redis-suite: $cache has no suite yet, and fetching it needs root (apt-get source)" >&2
        return 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    enable_deb_src
    apt-get update -qq || return 1
    dpkg-query -W -f='${Status}' dpkg-dev 2>/dev/null | grep -q 'install ok installed' ||
        apt-get install -y -qq --no-install-recommends dpkg-dev >/dev/null || return 1
    mkdir -p "$cache"
    if ! (cd "$cache" && apt-get source -qq redis) >"$cache/fetch.log" 2>&1; then
        cat "$cache/fetch.log" >&2
        return 1
    fi
    dir=$(ls -d "$cache"/redis-*/ 2>/dev/null | head -1)
    if [ -z "$dir" ] || [ ! -x "$dir/runtest" ]; then
        echo "redis-suite: no runtest in $cache" >&2
        return 1
    fi
    suite=${dir%/}
}

# External mode starts every unit with FUNCTION FLUSH, a command stewardd
# does not have (no scripting); the copy here lets that one fail quietly.
patch_suite() {
    local f=$suite/tests/support/server.tcl
    grep -q '^    r function flush$' "$f" && sed -i 's/^    r function flush$/    catch {r function flush}/' "$f"
    mkdir -p "$suite/tests/tmp"
}

command -v tclsh >/dev/null || { echo "redis-suite: tclsh is missing (apt-get install tcl)" >&2; exit 2; }
fetch_suite || exit 2
patch_suite

skip=()
if ! sw_is_redis "$bin"; then
    skip=(--skipfile "$root/tests/redis-suite/skiplist.txt")
fi
trap sw_cleanup EXIT
sw_server_start "$bin" "$@" || exit 1
echo "redis-suite: $(basename "$bin") $* on port $SW_PORT, suite in ${suite#"$root"/}"

args=(--host 127.0.0.1 --port "$SW_PORT" --tags -needs:debug --tags -needs:repl
    --ignore-encoding --ignore-digest --durable --timeout 600 "${skip[@]}")
for u in "${units[@]}"; do args+=(--single "$u"); done
log=$cache/last-run.log
# shellcheck disable=SC2086
(cd "$suite" && ./runtest "${args[@]}" ${REDIS_SUITE_ARGS:-}) 2>&1 | sed -u 's/\x1b\[[0-9;]*m//g' >"$log"
rc=${PIPESTATUS[0]}

# Each failure and its message, long values cut short.
sed '/The End/q' "$log" | grep -E '^\[(err|exception|timeout)\]|^Expected ' | cut -c1-300 | head -60
count() { grep -cE "^\[$1\]" "$log"; }
passed=$(count ok) failed=$(count err) skipped=$(count skip) ignored=$(count ignore)
exceptions=$(grep -cE '^\[(exception|timeout)\]' "$log")
failed=$((failed + exceptions))
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
    tail -30 "$log"
    failed=1
fi
sw_server_alive || { echo "redis-suite: the server died; the end of its log:"; tail -20 "$SW_LOG"; failed=$((failed + 1)); }
echo "redis-suite: full log in ${log#"$root"/}; $ignored more not run (needs:debug, needs:repl, external:skip tags)"
echo "redis-suite: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
