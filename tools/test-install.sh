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
echo "install: headers, shared and static libraries and steward.pc work from outside"
