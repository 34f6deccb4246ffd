#!/bin/sh
# Installs the build into a temporary prefix and builds a program outside
# the tree against it, through pkg-config, with the shared and the static
# library: the public API contract as outside programs see it.
# Usage: test-install.sh BUILD_DIR CC
set -eu
build=$1 cc=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
pc=$(find "$tmp/prefix" -name steward.pc)
export PKG_CONFIG_PATH="${pc%/*}"
cat >"$tmp/main.c" <<'C'
#include <steward/steward.h>
#include <stdio.h>
#include <string.h>
int main(void)
{
    sw_db *db;
    char v[8];
    size_t n = 0;
    if (sw_db_open(&db, NULL) != SW_OK || sw_db_store(db, "k", 1, "v", 1) != SW_OK ||
        sw_db_fetch(db, "k", 1, v, sizeof v, &n) != SW_OK || n != 1 || v[0] != 'v')
        return 1;
    sw_db_close(db);
    sw_account *a;
    if (sw_account_new(&a, 5) != SW_OK || sw_account_withdraw(a, 6) != SW_EFUNDS)
        return 2;
    sw_account_free(a);
    return strcmp(sw_strerror(SW_EFUNDS), "insufficient funds") != 0;
}
C
# shellcheck disable=SC2046 # pkg-config's words are meant to split
"$cc" -std=c11 -Wall -Wextra -Werror "$tmp/main.c" -o "$tmp/shared" $(pkg-config --cflags --libs steward)
lib=$(pkg-config --variable=libdir steward)
LD_LIBRARY_PATH=$lib "$tmp/shared"
# shellcheck disable=SC2046
"$cc" -std=c11 -Wall -Wextra -Werror "$tmp/main.c" -o "$tmp/static" $(pkg-config --cflags steward) \
    "$lib/libsteward.a" -lpthread
"$tmp/static"
# A server user's files, where the docs say they are; the unit runs the
# stewardd of this prefix.
p=$tmp/prefix
for f in bin/stewardd bin/steward-check share/man/man1/stewardd.1 share/man/man1/steward-check.1 \
    share/man/man7/steward.7 share/doc/steward/stewardd.conf lib/systemd/system/stewardd.service; do
    [ -f "$p/$f" ] || { echo "install: no $f"; exit 1; }
done
grep -qx "ExecStart=$p/bin/stewardd --dir /var/lib/stewardd" "$p/lib/systemd/system/stewardd.service" ||
    { echo "install: the unit does not run $p/bin/stewardd"; exit 1; }
echo "install: headers, shared and static libraries and steward.pc work from outside"
echo "install: stewardd, steward-check, man pages, stewardd.conf and stewardd.service in place"
