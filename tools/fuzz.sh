#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) into build/fuzz, replays every
# saved crash (tests/fuzz/regress/<target>/) through its target, then fuzzes
# each target for the given time on a copy of its seed corpus
# (build/fuzz/work/<target>; tests/fuzz/corpus is never written). Prints per
# target the executions, the coverage (libFuzzer's cov: and ft:) and the
# corpus size; fails on any crash, leak, timeout or broken invariant, naming
# the input that caused it.
#
# Usage: tools/fuzz.sh [seconds]   (per target; default 60)
#
# Needs clang with its libFuzzer runtime, cmake, pkg-config and libxxhash:
# as root it installs what is missing with apt-get; otherwise it names it.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

secs=${1:-60}
case "$secs" in
'' | *[!0-9]*) echo "usage: $0 [seconds]" >&2; exit 2 ;;
esac
out=build/fuzz
targets=(fuzz_resp fuzz_record fuzz_recovery fuzz_cmd)

# Per target: the longest input, the seconds one input may take before it
# counts as a hang, and extra flags. fuzz_recovery's library warnings (a torn
# tail cut, a transfer settled) go to /dev/null (-close_fd_mask=2); the
# target reports broken invariants on a copy of stderr that it keeps.
declare -A max_len=([fuzz_resp]=4096 [fuzz_record]=1024 [fuzz_recovery]=2048 [fuzz_cmd]=2048)
declare -A timeout=([fuzz_resp]=10 [fuzz_record]=10 [fuzz_recovery]=30 [fuzz_cmd]=10)
declare -A extra=([fuzz_resp]="-dict=tests/fuzz/fuzz_resp.dict"
    [fuzz_record]=""
    [fuzz_recovery]="-dict=tests/fuzz/fuzz_recovery.dict -close_fd_mask=2"
    [fuzz_cmd]="-dict=tests/fuzz/fuzz_cmd.dict")

# ---- the toolchain ----------------------------------------------------------

# Whether clang can build and link a libFuzzer program.
have_libfuzzer() {
    command -v clang >/dev/null 2>&1 || return 1
    local d
    d=$(mktemp -d) || return 1
    printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
        'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);' \
        'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }' \
        >"$d/t.c"
    clang -fsanitize=fuzzer,address,undefined "$d/t.c" -o "$d/t" >/dev/null 2>&1
    local rc=$?
    rm -rf "$d"
    return $rc
}

ensure_tools() {
    local missing=()
    have_libfuzzer || missing+=(clang libclang-rt-dev)
    command -v cmake >/dev/null 2>&1 || missing+=(cmake)
    command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
    pkg-config --exists libxxhash 2>/dev/null || missing+=(libxxhash-dev)
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "fuzz: missing: ${missing[*]} (libFuzzer needs clang and its runtime)" >&2
        echo "fuzz: install them with: sudo apt-get install ${missing[*]}" >&2
        return 1
    fi
    echo "fuzz: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq &&
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || return 1
    have_libfuzzer || { echo "fuzz: clang still cannot link -fsanitize=fuzzer" >&2; return 1; }
}

ensure_tools || exit 1

# ---- build --------------------------------------------------------------------

echo "== fuzz build ($out)"
mkdir -p "$out"
if ! cmake -S tests/fuzz -B "$out" -DCMAKE_C_COMPILER=clang >"$out/configure.out" 2>&1; then
    cat "$out/configure.out"; echo "fuzz: configure failed" >&2; exit 1
fi
if ! cmake --build "$out" -j"$(nproc)" >"$out/build.out" 2>&1; then
    tail -40 "$out/build.out"; echo "fuzz: build failed" >&2; exit 1
fi

# fuzz_recovery's data directories: on tmpfs when there is one, in a folder
# of this run's that goes when it ends (a crashed target cannot clean up).
shm=/dev/shm
[ -d "$shm" ] && [ -w "$shm" ] || shm=$out
STEWARD_FUZZ_TMP=$(mktemp -d "$shm/steward-fuzz.XXXXXX") || exit 1
export STEWARD_FUZZ_TMP
trap 'rm -rf "$STEWARD_FUZZ_TMP"' EXIT

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=()

# ---- regressions: every saved crash, once -----------------------------------

for t in "${targets[@]}"; do
    n=0
    for f in tests/fuzz/regress/"$t"/*; do
        [ -f "$f" ] || continue
        n=$((n + 1))
        # shellcheck disable=SC2086 # extra holds separate flags
        if ! "$out/$t" -timeout="${timeout[$t]}" ${extra[$t]} "$f" >"$out/$t.regress.out" 2>&1; then
            grep -E 'invariant broken|fuzz_recovery: first|runtime error|ERROR: |SUMMARY: |^    #[0-9]+ ' \
                "$out/$t.regress.out" | grep -v 'fuzzer::\|libc\|_start\| in main ' | head -14
            echo "FAIL $t: regression input $f"
            echo "$t:   reproduce: $out/$t ${extra[$t]} $f"
            failed+=("$t:$f")
            n=$((n - 1))
        fi
    done
    [ -d tests/fuzz/regress/"$t" ] && echo "$t: $n regression input(s) pass"
done

# ---- fuzzing ------------------------------------------------------------------

# The value of "name: N" in libFuzzer's final DONE line (or last status).
stat_of() {
    grep -E '^#[0-9]+' "$1" | tail -1 | sed -n "s/.* $2: \([0-9/]*\).*/\1/p"
}

finish() {
    echo
    if [ ${#failed[@]} -gt 0 ]; then
        echo "fuzz: FAILED: ${failed[*]}"
        exit 1
    fi
    echo "fuzz: all targets ok"
    exit 0
}

[ "$secs" -gt 0 ] || finish
printf '\n%-14s %10s %8s %8s %8s %s\n' target execs cov ft corpus result
for t in "${targets[@]}"; do
    work=$out/work/$t art=$out/artifacts/$t/ log=$out/$t.out
    rm -rf "$work" "$art"
    mkdir -p "$work" "$art"
    cp tests/fuzz/corpus/"$t"/* "$work"/ 2>/dev/null
    # shellcheck disable=SC2086 # extra holds separate flags
    "$out/$t" -max_total_time="$secs" -max_len="${max_len[$t]}" -timeout="${timeout[$t]}" \
        -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$art" ${extra[$t]} \
        "$work" >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    cov=$(stat_of "$log" cov) ft=$(stat_of "$log" ft)
    corpus=$(find "$work" -type f | wc -l)
    result=ok
    if [ $rc -ne 0 ]; then
        result="FAILED (exit $rc)"
        failed+=("$t")
    fi
    printf '%-14s %10s %8s %8s %8s %s\n' "$t" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$corpus" \
        "$result"
    if [ $rc -ne 0 ]; then
        grep -E 'invariant broken|fuzz_recovery: first|runtime error|ERROR: |SUMMARY: |^    #[0-9]+ ' \
            "$log" | grep -v 'fuzzer::\|libc\|_start\| in main ' | head -20
        for a in "$art"*; do
            [ -f "$a" ] || continue
            echo "$t: crashing input: $a"
            echo "$t:   reproduce: $out/$t ${extra[$t]} $a"
            echo "$t:   keep it:   cp $a tests/fuzz/regress/$t/"
        done
        echo "$t: full output: $log"
    fi
done

finish
