#!/usr/bin/env bash
# Runs hiredis_client (see hiredis_client.c) against a server started here.
#
# Usage: tests/server/test_hiredis.sh SERVER-BINARY HIREDIS-CLIENT [threads] [commands]
set -uo pipefail
if [ $# -lt 2 ]; then
    echo "usage: $0 SERVER-BINARY HIREDIS-CLIENT [threads] [commands-per-thread]" >&2
    exit 2
fi
# Paths given relative to where we were called from still work after the cd.
abs() { case "$1" in */*) echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")" ;; *) echo "$1" ;; esac; }
server=$(abs "$1") client=$(abs "$2")
cd "$(dirname "$0")" || exit 2
. ./lib.sh

trap sw_cleanup EXIT
sw_server_start "$server" --shards "${SW_SHARDS:-4}" || exit 1
"$client" 127.0.0.1 "$SW_PORT" "${3:-8}" "${4:-4000}"
rc=$?
sw_server_stop || { echo "test_hiredis: the server did not exit 0 on SIGTERM" >&2; rc=1; }
exit $rc
