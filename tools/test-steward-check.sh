#!/bin/sh
# The steward-check test (run by CTest): good logs, a torn tail found and
# fixed, corruption reported and never touched, and usage errors, each with
# its exit status.
#
# Usage: test-steward-check.sh STEWARD_CHECK STEWARD_TESTLOG
set -eu
check=$1
mklog=$2
d=$(mktemp -d /tmp/steward-check-test.XXXXXX)
trap 'rm -rf "$d"' EXIT

# expect STATUS CMD...: runs CMD, output in $d/out, and checks its status.
expect() {
    want=$1
    shift
    set +e
    "$@" >"$d/out" 2>&1
    got=$?
    set -e
    if [ "$got" -ne "$want" ]; then
        echo "FAIL: '$*' exited $got, expected $want:"
        cat "$d/out"
        exit 1
    fi
}
must_say() {
    if ! grep -q -- "$1" "$d/out"; then
        echo "FAIL: output lacks '$1':"
        cat "$d/out"
        exit 1
    fi
}

mkdir "$d/data"
expect 0 "$check" "$d/data"
must_say "0 log files"

"$mklog" "$d/data/db-shard-0000.log" 100
"$mklog" "$d/data/db-shard-0001.log" 37
"$mklog" "$d/data/ledger-shard-0000.log" 64
echo "not a log" >"$d/data/README"
expect 0 "$check" "$d/data"
must_say "db-shard-0001.log"
must_say "ledger-shard-0000.log"
must_say "all logs are good"
# 201 records, and the one SYNCED mark the log wrote after the sync at
# record 64 of the 100 (steward-testlog): counted in its own column.
must_say "TOTAL  *[0-9]*  *202 "
must_say " SYNCED "

# A torn tail: reported (1), untouched, then truncated by --fix.
size=$(stat -c %s "$d/data/db-shard-0001.log")
truncate -s $((size - 5)) "$d/data/db-shard-0001.log"
expect 1 "$check" "$d/data"
must_say "torn tail"
[ "$(stat -c %s "$d/data/db-shard-0001.log")" -eq $((size - 5)) ]
expect 0 "$check" --fix "$d/data"
must_say "truncated"
expect 0 "$check" "$d/data"
must_say " 36 "

# Corruption in the middle (an unknown type in the first record): reported
# (2), and --fix leaves every byte as it was.
printf '\356' | dd of="$d/data/ledger-shard-0000.log" bs=1 seek=8 conv=notrunc status=none
cp "$d/data/ledger-shard-0000.log" "$d/before"
expect 2 "$check" "$d/data"
must_say "CORRUPT at offset 0"
expect 2 "$check" --fix "$d/data"
cmp "$d/before" "$d/data/ledger-shard-0000.log"

# Usage errors, --help and --version.
expect 2 "$check"
must_say "usage: steward-check"
expect 2 "$check" --bogus "$d/data"
must_say "unknown option --bogus"
expect 2 "$check" "$d/data" "$d/data"
must_say "one DIR only"
expect 2 "$check" "$d/no-such-dir"
expect 0 "$check" --help
must_say "--fix"
expect 0 "$check" --version
must_say "^steward-check [0-9]"
echo "steward-check test: ok"
