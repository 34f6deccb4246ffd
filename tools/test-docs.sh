#!/bin/sh
# What a server user reads, checked against the programs (run by CTest):
#  - each man page in docs/man renders without a single warning (man -l, or
#    groff when man is missing);
#  - stewardd.1 names every flag `stewardd --help` lists, steward-check.1
#    every flag of `steward-check --help`, and steward.7 every public header
#    and status code; each page's version is the programs' version;
#  - stewardd refuses a bad config file with FILE:LINE, exit status 2,
#    before it creates anything;
#  - contrib/stewardd.service.in passes `systemd-analyze verify` (skipped
#    where there is no systemd-analyze).
#
# Usage: test-docs.sh STEWARDD STEWARD_CHECK SOURCE_DIR VERSION
set -eu
stewardd=$(cd "$(dirname "$1")" && pwd)/${1##*/} check=$2 src=$3 version=$4
man=$src/docs/man
d=$(mktemp -d /tmp/steward-docs-test.XXXXXX)
trap 'rm -rf "$d"' EXIT

fail() {
    echo "FAIL: $*"
    exit 1
}

# Renders a page, failing on any warning; man -l shows what man(1) shows.
render() {
    if command -v man >/dev/null 2>&1; then
        LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings=w -l "$1" >"$d/out" 2>"$d/err" ||
            fail "man -l $1 failed: $(cat "$d/err")"
    elif command -v groff >/dev/null 2>&1; then
        groff -man -Tutf8 -ww -z "$1" 2>"$d/err" || fail "groff $1 failed: $(cat "$d/err")"
    else
        fail "neither man (Debian's man-db) nor groff (groff-base) is installed: tools/deps.sh base"
    fi
    [ ! -s "$d/err" ] || fail "$1 renders with warnings: $(cat "$d/err")"
}

# The page as plain text, each paragraph on one line and no word hyphenated,
# so that a name is found whole.
text() {
    groff -man -Tascii -P-cbou -rHY=0 -rLL=2000n "$1" 2>/dev/null
}

# flags_named PAGE PROGRAM: every --flag of `PROGRAM --help` is in PAGE.
flags_named() {
    flags=$("$2" --help | grep -o -- '--[a-z][a-z-]*' | sort -u)
    [ -n "$flags" ] || fail "$2 --help lists no flags"
    text "$1" >"$d/page"
    for f in $flags; do
        grep -qF -- "$f" "$d/page" || fail "$1 does not name $f, which $2 --help lists"
    done
}

for page in "$man"/*.[0-9]; do
    render "$page"
    grep -q "^\.TH .* \"steward $version\" " "$page" ||
        fail "$page: its .TH line does not say \"steward $version\""
done
[ "$("$stewardd" --version)" = "stewardd $version" ] || fail "stewardd --version is not $version"
[ "$("$check" --version)" = "steward-check $version" ] ||
    fail "steward-check --version is not $version"

flags_named "$man/stewardd.1" "$stewardd"
flags_named "$man/steward-check.1" "$check"
text "$man/steward.7" >"$d/page"
for h in "$src"/include/steward/*.h; do
    grep -qF "<steward/${h##*/}>" "$d/page" || fail "steward.7 does not name <steward/${h##*/}>"
done
# shellcheck disable=SC2013 # one code per line, one word each
for code in $(sed -n 's/^ *X(\(SW_[A-Z]*\),.*/\1/p' "$src/include/steward/status.h"); do
    grep -qw "$code" "$d/page" || fail "steward.7 does not name $code"
done

# A bad line stops stewardd before it opens anything: the data directory
# the file names first is never made.
printf 'port 6390\ndir %s/data\n\nappendfsync sometimes\n' "$d" >"$d/bad.conf"
set +e
"$stewardd" "$d/bad.conf" >"$d/out" 2>&1
rc=$?
set -e
[ "$rc" -eq 2 ] || fail "stewardd with a bad config file exited $rc, not 2: $(cat "$d/out")"
grep -qF "stewardd: $d/bad.conf:4: bad value 'sometimes' for 'appendfsync'" "$d/out" ||
    fail "stewardd's message lacks FILE:LINE: $(cat "$d/out")"
[ ! -e "$d/data" ] || fail "stewardd made its data directory before it read the whole file"

if command -v systemd-analyze >/dev/null 2>&1; then
    sed "s|@STEWARDD@|$stewardd|g" "$src/contrib/stewardd.service.in" >"$d/stewardd.service"
    # With man, Documentation=man:stewardd(1) must resolve, to this tree's page.
    mkdir -p "$d/man/man1"
    cp "$man/stewardd.1" "$d/man/man1/"
    manopt=--man=no
    command -v man >/dev/null 2>&1 && manopt=--man=yes
    MANPATH=$d/man systemd-analyze verify "$manopt" "$d/stewardd.service" >"$d/out" 2>&1 ||
        fail "systemd-analyze verify: $(cat "$d/out")"
    [ ! -s "$d/out" ] || fail "systemd-analyze verify warns: $(cat "$d/out")"
    echo "docs: systemd-analyze verify passed"
else
    echo "docs: no systemd-analyze here: the unit is not verified"
fi
echo "docs: man pages render cleanly and name every flag, header and status code"
