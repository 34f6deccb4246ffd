#!/bin/sh
# The public API contract as an outside program sees it: installs the build
# into a temporary prefix, then, with nothing but what was installed,
#   - builds a checking program through pkg-config, shared and static;
#   - builds every examples/*.c through pkg-config, and as a fresh CMake
#     project through find_package(steward), against steward::steward and
#     steward::steward_static, and runs each build (each must exit 0);
#   - follows docs/getting-started.md: its export line, its hello.c and
#     CMakeLists.txt, and every command after "A first program", verbatim,
#     and checks hello's output against the page.
# Usage: test-install.sh BUILD_DIR CC SOURCE_DIR
set -eu
build=$1 cc=$2 src=$3
doc=$src/docs/getting-started.md
[ -f "$doc" ] || { echo "install: FAILED: no $doc" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
log=$tmp/log

# A fresh home: the page installs under it, and no CMake package registry or
# earlier install of the caller's can stand in for this one.
export HOME="$tmp/home"
unset PKG_CONFIG_PATH CMAKE_PREFIX_PATH LD_LIBRARY_PATH
mkdir -p "$HOME"

fail() {
    echo "install: FAILED: $*" >&2
    exit 1
}

# run WHAT CMD...: runs CMD with its output in the log, shown only on failure.
run() {
    what=$1
    shift
    if ! "$@" >"$log" 2>&1; then
        cat "$log"
        fail "$what"
    fi
}

# block LANG N [HEADING]: the Nth block fenced as ```LANG in the page, from
# HEADING on (from the top without one); empty past the last.
block() {
    awk -v lang="$1" -v want="$2" -v from="${3-}" '
        from != "" && $0 == from { from = "" }
        from != "" { next }
        inside && /^```$/ { inside = 0; if (n == want) exit; next }
        inside && n == want { print }
        $0 == "```" lang { inside = 1; n++ }' "$doc"
}

prefix=$HOME/.local/steward
run "cmake --install" cmake --install "$build" --prefix "$prefix"
# The page's export line (PKG_CONFIG_PATH, CMAKE_PREFIX_PATH,
# LD_LIBRARY_PATH) must find what was installed under that prefix.
eval "$(grep '^export ' "$doc")"
[ -f "$prefix/lib/cmake/steward/stewardConfig.cmake" ] || fail "no lib/cmake/steward/stewardConfig.cmake"
pkg-config --exists steward || fail "pkg-config finds no steward.pc in $PKG_CONFIG_PATH"
lib=$(pkg-config --variable=libdir steward)
[ -f "$lib/libsteward.a" ] || fail "no libsteward.a in pkg-config's libdir $lib"

# A program that checks return codes strictly, shared and static.
mkdir "$tmp/check"
cat >"$tmp/check/main.c" <<'C'
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
flags="-std=c11 -Wall -Wextra -Wpedantic -Werror"
cd "$tmp/check"
# shellcheck disable=SC2046,SC2086 # pkg-config's words and the flags are meant to split
run "check program, shared" $cc $flags main.c -o shared $(pkg-config --cflags --libs steward)
run "check program, shared: run" ./shared
# shellcheck disable=SC2046,SC2086
run "check program, static" $cc $flags main.c -o static $(pkg-config --cflags steward) "$lib/libsteward.a" -pthread
run "check program, static: run" ./static

# The examples, copied out of the tree so that only installed headers can
# be found, through pkg-config.
mkdir "$tmp/examples"
cp "$src"/examples/*.c "$tmp/examples/"
cd "$tmp/examples"
for c in *.c; do
    # shellcheck disable=SC2046,SC2086
    run "pkg-config build of $c" $cc $flags -pthread "$c" -o "${c%.c}.pc" $(pkg-config --cflags --libs steward)
done
for c in *.c; do run "${c%.c}, pkg-config build" "./${c%.c}.pc"; done

# The same examples as a CMake project of their own.
cat >CMakeLists.txt <<'CMAKE'
cmake_minimum_required(VERSION 3.18)
project(steward_examples LANGUAGES C)
set(CMAKE_C_STANDARD 11)
set(CMAKE_C_EXTENSIONS OFF)
add_compile_options(-Wall -Wextra -Wpedantic -Werror)
find_package(steward 0.1 REQUIRED)
find_package(Threads REQUIRED)
file(GLOB examples ${CMAKE_SOURCE_DIR}/*.c)
foreach(src ${examples})
  get_filename_component(name ${src} NAME_WE)
  # Compiled once (the headers are the same), linked both ways.
  add_library(${name}_o OBJECT ${src})
  target_link_libraries(${name}_o PRIVATE steward::steward)
  add_executable(${name} $<TARGET_OBJECTS:${name}_o>)
  target_link_libraries(${name} PRIVATE steward::steward Threads::Threads)
  add_executable(${name}_static $<TARGET_OBJECTS:${name}_o>)
  target_link_libraries(${name}_static PRIVATE steward::steward_static Threads::Threads)
endforeach()
CMAKE
run "find_package(steward): configure" cmake -S . -B build -DCMAKE_C_COMPILER="$cc"
found=$(sed -n 's/^steward_DIR:PATH=//p' build/CMakeCache.txt)
[ "$found" = "$prefix/lib/cmake/steward" ] || fail "find_package(steward) found $found"
run "find_package(steward): build" cmake --build build -j2
for c in *.c; do
    # The shared build finds the library through its RPATH, with no help.
    run "${c%.c}, CMake build" env -u LD_LIBRARY_PATH "./build/${c%.c}"
    run "${c%.c}, CMake static build" "./build/${c%.c}_static"
done

# A version the package does not promise is refused.
cat >version.cmake <<'CMAKE'
set(PACKAGE_FIND_VERSION 0.2)
set(PACKAGE_FIND_VERSION_MAJOR 0)
set(PACKAGE_FIND_VERSION_MINOR 2)
set(PACKAGE_FIND_VERSION_COUNT 2)
include(${DIR}/stewardConfigVersion.cmake)
if(PACKAGE_VERSION_COMPATIBLE)
  message(FATAL_ERROR "steward ${PACKAGE_VERSION} claims to be compatible with 0.2")
endif()
CMAKE
run "find_package(steward 0.2) is refused" cmake -DDIR="$prefix/lib/cmake/steward" -P version.cmake

# docs/getting-started.md, verbatim.
mkdir "$tmp/hello"
cd "$tmp/hello"
block c 1 >hello.c
block cmake 1 >CMakeLists.txt
block text 1 >want
for f in hello.c CMakeLists.txt want; do [ -s $f ] || fail "$doc lost the block of $f"; done
n=1
while block sh "$n" "## A first program" >cmds && [ -s cmds ]; do
    run "getting-started: $(head -1 cmds)" sh -eu cmds
    n=$((n + 1))
done
[ "$n" -gt 2 ] || fail "$doc has no commands after 'A first program'"
for prog in ./hello ./build/hello; do
    run "getting-started: $prog" "$prog"
    cmp -s "$log" want || { diff want "$log"; fail "$prog does not print what the page says"; }
done
# A server user's files, where the docs say they are; the unit runs the
# stewardd of this prefix.
for f in bin/stewardd bin/steward-check share/man/man1/stewardd.1 share/man/man1/steward-check.1 \
    share/man/man7/steward.7 share/doc/steward/stewardd.conf lib/systemd/system/stewardd.service; do
    [ -f "$prefix/$f" ] || fail "no $f installed"
done
grep -qx "ExecStart=$prefix/bin/stewardd --dir /var/lib/stewardd" "$prefix/lib/systemd/system/stewardd.service" ||
    fail "the unit does not run $prefix/bin/stewardd"
echo "install: headers, libraries, steward.pc, the CMake package, every example and getting-started work from outside"
echo "install: stewardd, steward-check, man pages, stewardd.conf and stewardd.service in place"
