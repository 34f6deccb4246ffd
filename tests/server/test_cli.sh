#!/usr/bin/env bash
# stewardd through redis-cli: every command stewardd serves, each reply
# compared exactly with what redis-server 7 answers (redis-cli --no-raw
# shows a reply's type: (integer), (nil), "bulk", (error) ...), binary values,
# 1 MiB and 64 MiB values, AUTH, the connection limits, and malformed requests
# sent raw, after each of which the server must still answer.
#
# Usage: [SW_SHARDS=N] tests/server/test_cli.sh SERVER-BINARY
#   SERVER-BINARY is build/<variant>/src/server/stewardd, or redis-server to
#   check the expectations themselves (then the ACCOUNT.* checks are skipped).
# Ends with "N passed, N failed, N skipped"; exits 1 on any failure.
set -uo pipefail
if [ $# -lt 1 ]; then
    echo "usage: $0 SERVER-BINARY" >&2
    exit 2
fi
BIN=$1
# A path given relative to where we were called from still works after the cd.
case "$BIN" in */*) BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN") ;; esac
cd "$(dirname "$0")" || exit 2
. ./lib.sh
command -v redis-cli >/dev/null || { echo "$0: redis-cli is missing (apt-get install redis-tools)" >&2; exit 2; }
trap sw_cleanup EXIT

passed=0 failed=0 skipped=0
STEWARD=0

cli() { redis-cli -h 127.0.0.1 -p "$SW_PORT" --no-raw "$@" 2>&1; }

# After a failure: a server that died ends the run here, with its log,
# rather than failing every check after it.
died() {
    { [ -z "$SW_PID" ] || sw_server_alive; } && return
    echo "FATAL: the server died (pid $SW_PID); the end of its log:"
    tail -20 "$SW_LOG"
    echo "test_cli: $passed passed, $failed failed, $skipped skipped"
    exit 1
}

# ok NAME EXPECTED ACTUAL
ok() {
    if [ "$2" == "$3" ]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL: $1"
        echo "  expected: $(printf '%s' "$2" | head -c 2000 | sed -n l | head -20)"
        echo "  actual:   $(printf '%s' "$3" | head -c 2000 | sed -n l | head -20)"
        died
    fi
}

# t EXPECTED ARG... : one command on its own connection.
t() {
    local want=$1
    shift
    ok "$*" "$want" "$(cli "$@")"
}

# ts EXPECTED < COMMANDS : several commands, one a line, on one connection.
ts() {
    local cmds
    cmds=$(cat)
    ok "session: $(echo "$cmds" | tr '\n' ';' | head -c 200)" "$1" "$(printf '%s\n' "$cmds" | cli)"
}

# like NAME PATTERN ACTUAL : ACTUAL matches the bash glob PATTERN.
like() {
    # shellcheck disable=SC2053
    if [[ "$3" == $2 ]]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL: $1"
        echo "  expected to match: $2"
        echo "  actual: $(printf '%s' "$3" | head -c 2000)"
        died
    fi
}

# in_range NAME LO HI ACTUAL : ACTUAL is "(integer) N" with LO <= N <= HI.
in_range() {
    local n=${4#"(integer) "}
    if [[ "$n" =~ ^-?[0-9]+$ ]] && [ "$n" -ge "$2" ] && [ "$n" -le "$3" ]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL: $1"
        echo "  expected: (integer) $2 .. $3"
        echo "  actual:   $4"
        died
    fi
}

# A check that cannot run against the server under test. Skips happen only
# in the runs against redis-server, which validate this script's
# expectations (redis has no ledger, and 7.0 no CLIENT SETINFO); against
# stewardd every check runs, and a skip there fails the script (see the
# end).
skip() {
    skipped=$((skipped + 1))
    echo "skip: $*"
}

section() { echo "== $*"; }

# ---- raw connections -------------------------------------------------------

# raw_reply BYTES : sends BYTES (printf %b escapes) on a new connection and
# prints the first reply line (without \r), or "<eof>" / "<timeout>".
raw_reply() {
    timeout 10 bash -c '
        exec 3<>"/dev/tcp/127.0.0.1/$1" || { echo "<connect failed>"; exit; }
        printf "%b" "$2" >&3
        if IFS= read -r -t 5 line <&3; then printf "%s\n" "${line%$'"'"'\r'"'"'}"
        elif [ -n "$line" ]; then printf "%s\n" "${line%$'"'"'\r'"'"'}"
        else echo "<eof-or-timeout>"; fi' _ "$SW_PORT" "$1"
}

# raw_closes BYTES : sends BYTES, reads everything until the server closes
# the connection; prints the reply lines then "<closed>", or "<open>" if the
# server kept the connection 5 s.
raw_closes() {
    timeout 15 bash -c '
        exec 3<>"/dev/tcp/127.0.0.1/$1" || { echo "<connect failed>"; exit; }
        printf "%b" "$2" >&3
        while true; do
            line=
            if IFS= read -r -t 5 line <&3 2>/dev/null; then printf "%s\n" "${line%$'"'"'\r'"'"'}"; continue; fi
            rc=$?
            [ -n "$line" ] && printf "%s\n" "$line"
            if [ $rc -gt 128 ]; then echo "<open>"; else echo "<closed>"; fi
            exit
        done' _ "$SW_PORT" "$1"
}

# A fresh connection still gets PONG.
still_answers() { t "PONG" PING; }

# ---- the start -----------------------------------------------------------------

section "start $BIN"
sw_server_start "$BIN" --shards "${SW_SHARDS:-4}" || exit 1
if cli INFO server | grep -q '^steward_version:'; then STEWARD=1; fi
echo "server on port $SW_PORT (steward: $STEWARD)"
redis_version=$(cli INFO server | sed -n 's/^redis_version:\([0-9.]*\).*/\1/p')

section "connection"
t PONG PING
t '"hello"' PING hello
t "(error) ERR wrong number of arguments for 'ping' command" PING a b
t '"hello world"' ECHO "hello world"
t '""' ECHO ""
t "(error) ERR wrong number of arguments for 'echo' command" ECHO
t "(error) ERR wrong number of arguments for 'echo' command" ECHO a b
t "(error) ERR unknown command 'nosuchcmd', with args beginning with: 'a' 'b' " nosuchcmd a b
t "(error) ERR unknown command 'nosuchcmd', with args beginning with: " nosuchcmd
t "(error) ERR wrong number of arguments for 'get' command" GET
t "(error) ERR wrong number of arguments for 'get' command" get a b
t "(error) ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?" AUTH x
ts $'OK\n"after"' <<'EOF'
SET quitkey after
GET quitkey
EOF
ok "QUIT replies OK then closes" $'+OK\n<closed>' "$(raw_closes 'QUIT\r\nPING\r\n')"
t "(error) NOPROTO unsupported protocol version" HELLO 4
t "(error) ERR Protocol version is not an integer or out of range" HELLO abc
hello=$(cli HELLO 2)
like "HELLO 2 fields" $' 1) "server"\n 2) "*"\n 3) "version"\n 4) "*"\n 5) "proto"\n 6) (integer) 2\n 7) "id"\n 8) (integer) *\n 9) "mode"\n10) "standalone"\n11) "role"\n12) "master"\n13) "modules"\n14) (empty array)' "$hello"
hello=$(cli HELLO 3)
like "HELLO 3 is a map" $'1# "server" => "*"\n2# "version" => "*"\n3# "proto" => (integer) 3\n4# "id" => (integer) *\n5# "mode" => "standalone"\n6# "role" => "master"\n7# "modules" => (empty array)' "$hello"
ok "HELLO SETNAME" $'"nm"\nOK\n"other"' "$(printf 'HELLO 2 SETNAME nm\nCLIENT GETNAME\nCLIENT SETNAME other\nCLIENT GETNAME\n' | cli | tail -3)"
# RESP3 replies as redis-cli -3 shows them.
ok "RESP3 null" "(nil)" "$(redis-cli -3 -p "$SW_PORT" --no-raw GET no-such-key-resp3 2>&1)"
ok "RESP3 map from CONFIG GET" '1# "maxclients" => "10000"' \
    "$(redis-cli -3 -p "$SW_PORT" --no-raw CONFIG GET maxclients 2>&1)"

section "SELECT"
t OK SELECT 0
t OK SELECT 15
t "(error) ERR DB index is out of range" SELECT 16
t "(error) ERR DB index is out of range" SELECT -1
t "(error) ERR value is not an integer or out of range" SELECT abc
ts $'OK\nOK\nOK\n"db3"\nOK\n"db0"\n(integer) 1\nOK\n(integer) 0\nOK\n(nil)' <<'EOF'
SET dbkey db0
SELECT 3
SET dbkey db3
GET dbkey
SELECT 0
GET dbkey
EXISTS dbkey
SELECT 5
DBSIZE
SELECT 4
GET dbkey
EOF
ts $'OK\nOK\nOK\n(integer) 1\nOK\nOK\nOK\n(integer) 1\nOK\n(integer) 0\nOK\n(integer) 1' <<'EOF'
SELECT 7
FLUSHDB
SET only7 x
DBSIZE
SELECT 8
SET only8 y
SELECT 7
DBSIZE
FLUSHDB
DBSIZE
SELECT 8
DBSIZE
EOF
t "(integer) 0" -n 7 DBSIZE
t OK FLUSHALL
t "(integer) 0" -n 8 DBSIZE
t "(integer) 0" -n 3 DBSIZE
t "(integer) 0" DBSIZE

section "CLIENT"
ts $'(nil)\nOK\n"conn-1"\nOK\n(nil)' <<'EOF'
CLIENT GETNAME
CLIENT SETNAME conn-1
CLIENT GETNAME
CLIENT SETNAME ""
CLIENT GETNAME
EOF
t "(error) ERR Client names cannot contain spaces, newlines or special characters." CLIENT SETNAME "a b"
like "CLIENT ID" "(integer) [0-9]*" "$(cli CLIENT ID)"
ids=$(printf 'CLIENT ID\nCLIENT ID\n' | cli | sort -u | wc -l)
ok "CLIENT ID is stable on one connection" 1 "$ids"
a=$(cli CLIENT ID | tr -dc 0-9)
b=$(cli CLIENT ID | tr -dc 0-9)
ok "CLIENT ID grows" 1 "$([ "$b" -gt "$a" ] && echo 1 || echo 0)"
list=$(printf 'CLIENT SETNAME lister\nSELECT 2\nCLIENT LIST\n' | cli | sed -n 3p)
like "CLIENT LIST names this connection" 'id=[0-9]* addr=127.0.0.1:[0-9]* *name=lister * db=2 *' "$list"
t "(error) ERR unknown subcommand 'nosuch'. Try CLIENT HELP." CLIENT nosuch
if [ "$STEWARD" = 1 ] || [ "$(printf "%s\n" 7.2 "$redis_version" | sort -V | head -1)" = 7.2 ]; then
    t OK CLIENT SETINFO LIB-NAME mylib
    t OK CLIENT SETINFO lib-ver 1.2.3
    t "(error) ERR Unrecognized option 'foo'" CLIENT SETINFO foo bar
    t "(error) ERR lib-name cannot contain spaces, newlines or special characters." CLIENT SETINFO lib-name "a b"
    list=$(printf 'CLIENT SETINFO lib-name mylib\nCLIENT SETINFO lib-ver 9.9\nCLIENT LIST\n' | cli | sed -n 3p)
    like "CLIENT LIST shows lib-name and lib-ver" "*lib-name=mylib lib-ver=9.9*" "$list"
else
    skip "CLIENT SETINFO (redis-server $redis_version predates it)"
fi

section "COMMAND CONFIG INFO"
like "COMMAND COUNT" "(integer) [1-9]*" "$(cli COMMAND COUNT)"
info=$(cli COMMAND INFO get)
like "COMMAND INFO get" $'1)*1) "get"\n*2) (integer) 2\n*3) 1) readonly*\n*4) (integer) 1\n*5) (integer) 1\n*6) (integer) 1*' "$info"
info=$(cli COMMAND INFO mset)
like "COMMAND INFO mset" $'1)*1) "mset"\n*2) (integer) -3\n*4) (integer) 1\n*5) (integer) -1\n*6) (integer) 2*' "$info"
t "1) (nil)" COMMAND INFO no-such-command
like "COMMAND DOCS get" $'1) "get"\n2)*1) "summary"\n*2) "*"*' "$(cli COMMAND DOCS get)"
t "(error) ERR unknown subcommand 'nosuch'. Try COMMAND HELP." COMMAND nosuch
t $'1) "maxclients"\n2) "10000"' CONFIG GET maxclients
t $'1) "port"\n2) "'"$SW_PORT"'"' CONFIG GET port
t "(empty array)" CONFIG GET no-such-parameter
t OK CONFIG SET timeout 300
t $'1) "timeout"\n2) "300"' CONFIG GET timeout
t OK CONFIG SET timeout 0
t $'1) "appendfsync"\n2) "everysec"' CONFIG GET appendfsync
t "(error) ERR Unknown option or number of arguments for CONFIG SET - 'no-such-parameter'" CONFIG SET no-such-parameter 1
t "(error) ERR wrong number of arguments for 'config' command" CONFIG
t "(error) ERR unknown subcommand 'nosuch'. Try CONFIG HELP." CONFIG nosuch
cli MSET ia 1 ib 2 ic 3 >/dev/null
cli EXPIRE ia 100 >/dev/null
info=$(cli INFO)
like "INFO has a Server section" "# Server"$'\r'"*" "$info"
like "INFO names the server version" "*"$'\n'"redis_version:*" "$info"
like "INFO has connected_clients" "*"$'\n'"connected_clients:[0-9]*" "$info"
like "INFO keyspace" $'# Keyspace\r\ndb0:keys=3,expires=1,*' "$(cli INFO keyspace)"
like "INFO server has tcp_port" "*"$'\n'"tcp_port:$SW_PORT"$'\r'"*" "$(cli INFO server)"
ok "INFO server has no Keyspace" 0 "$(cli INFO server | grep -c '^# Keyspace')"
ok "INFO takes several sections, in its own order" $'# Server\n# Clients' \
    "$(cli INFO clients SERVER | grep '^# ' | tr -d '\r')"
ok "INFO everything has the default sections" "" \
    "$(comm -23 <(cli INFO | grep '^# ' | sort) <(cli INFO everything | grep '^# ' | sort))"
ok "INFO no-such-section is empty" "" "$(cli INFO no-such-section)"
like "CLIENT LIST has laddr" "id=[0-9]* addr=127.0.0.1:[0-9]* laddr=127.0.0.1:$SW_PORT fd=*" "$(cli CLIENT LIST)"
# redis-cli --stat polls INFO: a line a tick with the keys (3 here), memory,
# clients and requests. stdbuf: redis-cli's output is a pipe here, which
# stdio would buffer until the end.
stat=$(timeout 5 stdbuf -oL redis-cli -h 127.0.0.1 -p "$SW_PORT" --stat -i 0.2 2>&1 | head -4)
like "redis-cli --stat" $'------- data ------*\nkeys *mem *clients *requests *connections*\n3 *[0-9.]*[BKM] *1 *0 *[0-9]* (+0) *[0-9]*\n3 *(+1)*' \
    "$stat"
t "(integer) 3" DBSIZE
t OK FLUSHDB
t "(integer) 0" DBSIZE
cli SET x 1 >/dev/null
t OK FLUSHDB ASYNC
t OK FLUSHALL SYNC
t "(error) ERR syntax error" FLUSHDB nosuch
t "(integer) 0" DBSIZE

section "strings"
t OK SET k v
t '"v"' GET k
t "(nil)" GET nokey
t OK SET k ""
t '""' GET k
t "(error) ERR syntax error" SET k v nosuchopt
t "(nil)" SET k v2 NX
t '""' GET k
t OK SET nxk v NX
t "(nil)" SET xxk v XX
t "(integer) 0" EXISTS xxk
t OK SET nxk v3 XX
t '"v3"' SET nxk v4 GET
t '"v4"' GET nxk
t "(nil)" SET getk v GET
t "(error) ERR syntax error" SET k v NX XX
t "(error) ERR syntax error" SET k v EX 10 PX 100
t "(error) ERR syntax error" SET k v KEEPTTL EX 10
t "(error) ERR syntax error" SET k v EX
t "(error) ERR value is not an integer or out of range" SET k v EX abc
t "(error) ERR invalid expire time in 'set' command" SET k v EX 0
t "(error) ERR invalid expire time in 'set' command" SET k v PX -5
t "(error) ERR invalid expire time in 'set' command" SET k v EX 10000000000000000
ts $'OK\n(integer) 100\nOK\n(integer) 100\nOK\n(integer) -1' <<'EOF'
SET ttlk v EX 100
TTL ttlk
SET ttlk v2 KEEPTTL
TTL ttlk
SET ttlk v3
TTL ttlk
EOF
t OK SET pxk v PX 100000
in_range "PTTL after SET PX" 90000 100000 "$(cli PTTL pxk)"
t OK SET exat v EXAT "$(($(date +%s) + 100))"
in_range "TTL after EXAT" 90 100 "$(cli TTL exat)"
t OK SET pxat v PXAT "$(($(date +%s) * 1000 + 100000))"
in_range "TTL after PXAT" 90 100 "$(cli TTL pxat)"
t OK SET past v PXAT 1
t "(nil)" GET past
t "(integer) 1" SETNX snx 1
t "(integer) 0" SETNX snx 2
t '"1"' GET snx
t "(error) ERR wrong number of arguments for 'setnx' command" SETNX snx
t OK SETEX sex 100 val
t '"val"' GET sex
t "(integer) 100" TTL sex
t "(error) ERR invalid expire time in 'setex' command" SETEX sex 0 val
t "(error) ERR invalid expire time in 'setex' command" SETEX sex -10 val
t "(error) ERR value is not an integer or out of range" SETEX sex ten val
t OK PSETEX psex 100000 val
t "(integer) 100" TTL psex
t "(error) ERR invalid expire time in 'psetex' command" PSETEX psex 0 val
t '"val"' GETEX psex PERSIST
t "(integer) -1" TTL psex
t '"val"' GETEX psex EX 50
t "(integer) 50" TTL psex
t '"val"' GETEX psex PX 40000
t "(integer) 40" TTL psex
t '"val"' GETEX psex EXAT "$(($(date +%s) + 30))"
in_range "TTL after GETEX EXAT" 25 30 "$(cli TTL psex)"
t '"val"' GETEX psex PXAT "$(($(date +%s) * 1000 + 20000))"
in_range "TTL after GETEX PXAT" 15 20 "$(cli TTL psex)"
t '"val"' GETEX psex
in_range "GETEX without options keeps the TTL" 15 20 "$(cli TTL psex)"
t "(nil)" GETEX nokey EX 10
t "(error) ERR syntax error" GETEX psex EX 10 PX 10
t "(error) ERR syntax error" GETEX psex nosuch
t "(error) ERR invalid expire time in 'getex' command" GETEX psex EX 0
t "(error) ERR wrong number of arguments for 'getex' command" GETEX
t OK SET gd v
t '"v"' GETDEL gd
t "(nil)" GETDEL gd
t "(integer) 0" EXISTS gd
t "(nil)" GETSET gs a
t '"a"' GETSET gs b
t '"b"' GET gs
cli SET gsttl v EX 100 >/dev/null
t '"v"' GETSET gsttl w
t "(integer) -1" TTL gsttl
t OK MSET m1 a m2 b m3 c
t $'1) "a"\n2) "b"\n3) (nil)\n4) "c"' MGET m1 m2 nokey m3
t "(error) ERR wrong number of arguments for 'mset' command" MSET m1 a m2
t "(error) ERR wrong number of arguments for 'mget' command" MGET
t "(integer) 0" MSETNX m1 x new1 y
t "(integer) 0" EXISTS new1
t "(integer) 1" MSETNX new1 x new2 y
t $'1) "x"\n2) "y"' MGET new1 new2
t "(error) ERR wrong number of arguments for 'msetnx' command" MSETNX a
t "(integer) 5" APPEND ap hello
t "(integer) 11" APPEND ap " world"
t '"hello world"' GET ap
t "(integer) 11" STRLEN ap
t "(integer) 0" STRLEN nokey
t "(integer) 11" APPEND ap ""

section "INCR family"
t "(integer) 1" INCR ctr
t "(integer) 2" INCR ctr
t "(integer) 1" DECR ctr
t "(integer) 11" INCRBY ctr 10
t "(integer) -9" DECRBY ctr 20
t "(integer) -1" DECR newctr
t OK SET ctr 9223372036854775806
t "(integer) 9223372036854775807" INCR ctr
t "(error) ERR increment or decrement would overflow" INCR ctr
t "(error) ERR increment or decrement would overflow" INCRBY ctr 1
t '"9223372036854775807"' GET ctr
t OK SET ctr -9223372036854775807
t "(integer) -9223372036854775808" DECR ctr
t "(error) ERR increment or decrement would overflow" DECR ctr
t "(error) ERR increment or decrement would overflow" DECRBY ctr 1
t "(error) ERR decrement would overflow" DECRBY ctr -9223372036854775808
t "(error) ERR value is not an integer or out of range" INCRBY ctr abc
t "(error) ERR value is not an integer or out of range" INCRBY ctr 9223372036854775808
t "(error) ERR value is not an integer or out of range" INCRBY ctr 1.5
t OK SET notint abc
t "(error) ERR value is not an integer or out of range" INCR notint
t OK SET notint " 1"
t "(error) ERR value is not an integer or out of range" INCR notint
t OK SET notint "1 "
t "(error) ERR value is not an integer or out of range" INCR notint
t OK SET notint "01"
t "(error) ERR value is not an integer or out of range" INCR notint
t OK SET notint "+1"
t "(error) ERR value is not an integer or out of range" INCR notint
t OK SET notint "9223372036854775808"
t "(error) ERR value is not an integer or out of range" INCR notint
cli SET incttl 5 EX 100 >/dev/null
t "(integer) 6" INCR incttl
t "(integer) 100" TTL incttl
t '"1"' INCRBYFLOAT fl 1
t '"1.25"' INCRBYFLOAT fl 0.25
t '"0.25"' INCRBYFLOAT fl -1
t OK SET fl 10.5
t '"10.6"' INCRBYFLOAT fl 0.1
t OK SET fl 5.0e3
t '"5200"' INCRBYFLOAT fl 2.0e2
t OK SET fl 3
t '"3"' INCRBYFLOAT fl 0
t '"-0.5"' INCRBYFLOAT fl -3.5
t "(error) ERR value is not a valid float" INCRBYFLOAT fl abc
t "(error) ERR increment would produce NaN or Infinity" INCRBYFLOAT fl +inf
t OK SET notint abc
t "(error) ERR value is not a valid float" INCRBYFLOAT notint 1
t OK SET fl " 1"
t "(error) ERR value is not a valid float" INCRBYFLOAT fl 1

section "SETRANGE GETRANGE"
t OK SET sr "Hello World"
t "(integer) 11" SETRANGE sr 6 Redis
t '"Hello Redis"' GET sr
t "(integer) 4" SETRANGE srnew 1 foo
t '"\x00foo"' GET srnew
t "(integer) 0" SETRANGE srempty 0 ""
t "(integer) 0" EXISTS srempty
t "(integer) 11" SETRANGE sr 0 ""
t "(error) ERR offset is out of range" SETRANGE sr -1 x
t "(error) ERR string exceeds maximum allowed size (proto-max-bulk-len)" SETRANGE sr 536870912 x
t "(error) ERR value is not an integer or out of range" SETRANGE sr abc x
t '"Hello"' GETRANGE sr 0 4
t '"Redis"' GETRANGE sr -5 -1
t '"Hello Redis"' GETRANGE sr 0 -1
t '"Hello Redis"' GETRANGE sr -100 100
t '""' GETRANGE sr 5 3
t '""' GETRANGE sr 100 200
t '"s"' GETRANGE sr -1 100
t '""' GETRANGE nokey 0 -1
t '"Hello Redis"' GETRANGE sr 0 4294967297
t "(error) ERR value is not an integer or out of range" GETRANGE sr a b

section "keys"
cli FLUSHALL >/dev/null
cli MSET key_x 1 key_y 2 key_z 3 foo_a 4 foo_b 5 foo_c 6 >/dev/null
ok "KEYS foo*" $'"foo_a"\n"foo_b"\n"foo_c"' "$(cli KEYS 'foo*' | sed 's/^[0-9]*) //' | sort)"
ok "KEYS *" $'"foo_a"\n"foo_b"\n"foo_c"\n"key_x"\n"key_y"\n"key_z"' "$(cli KEYS '*' | sed 's/^[0-9]*) //' | sort)"
t $'1) "key_y"' KEYS 'key_[y]'
t $'1) "key_x"' KEYS 'key_[^yz]'
t $'1) "foo_b"' KEYS 'f?o_b'
t "(empty array)" KEYS 'nomatch*'
t "(integer) 6" DBSIZE
t "(integer) 2" DEL key_x key_y nokey
t "(integer) 1" UNLINK key_z
t "(integer) 0" UNLINK key_z
t "(integer) 3" EXISTS foo_a foo_b foo_a
t "(integer) 0" EXISTS nokey
t "(error) ERR wrong number of arguments for 'del' command" DEL
t string TYPE foo_a
t none TYPE nokey
# SCAN: walk the whole cursor and see every key exactly once.
cli FLUSHALL >/dev/null
for i in $(seq 0 9); do printf 'MSET'; for j in $(seq 0 99); do printf ' scan:%d' $((i * 100 + j)) ; printf ' v'; done; printf '\n'; done | cli >/dev/null
cli SET other x >/dev/null
scan_all() {
    local cursor=0 out i
    for i in $(seq 1 5000); do
        out=$(redis-cli -h 127.0.0.1 -p "$SW_PORT" --raw SCAN "$cursor" "$@" 2>&1)
        cursor=$(echo "$out" | head -1)
        if ! [[ "$cursor" =~ ^[0-9]+$ ]]; then
            echo "SCAN failed: $out"
            return
        fi
        echo "$out" | tail -n +2
        [ "$cursor" = 0 ] && return
    done
    echo "SCAN did not end after 5000 calls"
}
ok "SCAN visits every key" 1001 "$(scan_all | grep -c .)"
ok "SCAN visits every key once" 1001 "$(scan_all | sort -u | grep -c .)"
ok "SCAN MATCH" 100 "$(scan_all MATCH 'scan:*1' COUNT 50 | sort -u | grep -c .)"
ok "SCAN TYPE string" 1001 "$(scan_all TYPE string | sort -u | grep -c .)"
ok "SCAN TYPE list" 0 "$(scan_all TYPE list | sort -u | grep -c .)"
t "(error) ERR invalid cursor" SCAN abc
t "(error) ERR syntax error" SCAN 0 COUNT 0
t "(error) ERR syntax error" SCAN 0 NOSUCH 1
t "(error) ERR value is not an integer or out of range" SCAN 0 COUNT x
cli FLUSHALL >/dev/null
t $'1) "0"\n2) (empty array)' SCAN 0
t "(nil)" RANDOMKEY
cli SET only v >/dev/null
t '"only"' RANDOMKEY
cli SET other v >/dev/null
ok "RANDOMKEY returns both keys" $'"only"\n"other"' "$(for i in $(seq 1 40); do echo RANDOMKEY; done | cli | sort -u)"
t OK RENAME only renamed
t "(integer) 0" EXISTS only
t '"v"' GET renamed
t "(error) ERR no such key" RENAME nokey x
t "(error) ERR no such key" RENAME nokey nokey
t OK RENAME renamed renamed
cli SET rv v EX 100 >/dev/null
cli SET rt t >/dev/null
t OK RENAME rv rt
t "(integer) 100" TTL rt
cli SET rt2 t2 EX 100 >/dev/null
cli SET rv2 v2 >/dev/null
t OK RENAME rv2 rt2
t "(integer) -1" TTL rt2
t "(integer) 0" RENAMENX rt other
t "(integer) 1" RENAMENX rt fresh
t '"v"' GET fresh
t "(integer) 0" RENAMENX fresh fresh
t "(error) ERR no such key" RENAMENX nokey x

section "expiry"
cli SET e v >/dev/null
t "(integer) -1" TTL e
t "(integer) -1" PTTL e
t "(integer) -2" TTL nokey
t "(integer) -2" PTTL nokey
t "(integer) 1" EXPIRE e 100
t "(integer) 100" TTL e
t "(integer) 1" PEXPIRE e 50000
t "(integer) 50" TTL e
t "(integer) 1" EXPIREAT e "$(($(date +%s) + 200))"
in_range "TTL after EXPIREAT" 190 200 "$(cli TTL e)"
t "(integer) 1" PEXPIREAT e "$(($(date +%s) * 1000 + 300000))"
in_range "TTL after PEXPIREAT" 290 300 "$(cli TTL e)"
t "(integer) 1" PERSIST e
t "(integer) -1" TTL e
t "(integer) 0" PERSIST e
t "(integer) 0" PERSIST nokey
t "(integer) 0" EXPIRE nokey 10
t "(integer) 0" PEXPIRE nokey 10
t "(error) ERR value is not an integer or out of range" EXPIRE e abc
t "(error) ERR value is not an integer or out of range" EXPIRE e ""
t "(error) ERR invalid expire time in 'expire' command" EXPIRE e 9223372036854776
t "(error) ERR invalid expire time in 'pexpire' command" PEXPIRE e 9223372036854770000
t "(integer) 1" EXPIRE e 0
t "(integer) 0" EXISTS e
cli SET e v >/dev/null
t "(integer) 1" EXPIREAT e 1
t "(nil)" GET e
cli SET e v >/dev/null
t "(integer) 1" PEXPIRE e -1
t "(integer) -2" TTL e
cli SET e v >/dev/null
t "(integer) 1" EXPIRE e 100 NX
t "(integer) 0" EXPIRE e 200 NX
t "(integer) 1" EXPIRE e 200 XX
t "(integer) 0" EXPIRE e 100 GT
t "(integer) 1" EXPIRE e 300 GT
t "(integer) 1" EXPIRE e 50 LT
t "(integer) 50" TTL e
t "(error) ERR NX and XX, GT or LT options at the same time are not compatible" EXPIRE e 10 NX XX
t "(error) ERR GT and LT options at the same time are not compatible" EXPIRE e 10 GT LT
t "(error) ERR Unsupported option AB" EXPIRE e 10 AB
cli PSETEX short 300 v >/dev/null
t '"v"' GET short
sleep 0.5
t "(nil)" GET short
t "(integer) 0" EXISTS short
cli SET short v PX 200 >/dev/null
sleep 0.4
ok "expired key is gone from KEYS" "" "$(cli KEYS 'short*' | grep short)"
cli -n 9 FLUSHDB >/dev/null
cli -n 9 PSETEX s1 1000 v >/dev/null
cli -n 9 PSETEX s2 1000 v >/dev/null
cli -n 9 PSETEX s3 1000 v >/dev/null
t "(integer) 3" -n 9 DBSIZE
sleep 2
t "(integer) 0" -n 9 DBSIZE

section "binary values"
printf 'a\0b\r\nc' | cli -x SET bin >/dev/null
t '"a\x00b\r\nc"' GET bin
t "(integer) 6" STRLEN bin
ok "binary value bytes" "$(printf 'a\0b\r\nc\n' | od -An -c)" \
    "$(redis-cli -h 127.0.0.1 -p "$SW_PORT" --raw GET bin | od -An -c)"
printf 'val' | redis-cli -h 127.0.0.1 -p "$SW_PORT" -x SET "$(printf 'key\twith\001ctl')" >/dev/null
t '"val"' GET "$(printf 'key\twith\001ctl')"
ts $'OK\n"\\x00\\xff\\x01"\n(integer) 3' <<'EOF'
SET "\x00bin\xffkey" "\x00\xff\x01"
GET "\x00bin\xffkey"
STRLEN "\x00bin\xffkey"
EOF

section "big values"
big_roundtrip() {
    local name=$1 bytes=$2 f=$SW_WORK/big-$2
    head -c "$bytes" /dev/urandom >"$f"
    ok "$name SET" OK "$(redis-cli -h 127.0.0.1 -p "$SW_PORT" -x SET "big:$bytes" <"$f" 2>&1)"
    ok "$name STRLEN" "(integer) $bytes" "$(cli STRLEN "big:$bytes")"
    redis-cli -h 127.0.0.1 -p "$SW_PORT" --raw GET "big:$bytes" | head -c "$bytes" >"$f.out"
    if cmp -s "$f" "$f.out"; then ok "$name GET" same same; else ok "$name GET" "the same $bytes bytes" "$(stat -c %s "$f.out") bytes, differing"; fi
    ok "$name GETRANGE" "$(tail -c +1001 "$f" | head -c 16 | od -An -tx1)" \
        "$(redis-cli -h 127.0.0.1 -p "$SW_PORT" --raw GETRANGE "big:$bytes" 1000 1015 | head -c 16 | od -An -tx1)"
    cli DEL "big:$bytes" >/dev/null
    rm -f "$f" "$f.out"
}
big_roundtrip "1 MiB value" $((1 << 20))
big_roundtrip "64 MiB value" $((64 << 20))
still_answers

section "malformed requests"
cli SET still here >/dev/null
proto_err() {
    ok "protocol error for ${1:0:40}" "$2"$'\n<closed>' "$(raw_closes "$1")"
    still_answers
}
proto_err '*abc\r\n' "-ERR Protocol error: invalid multibulk length"
proto_err '*3000000000\r\n' "-ERR Protocol error: invalid multibulk length"
proto_err '*1\r\n$-5\r\n' "-ERR Protocol error: invalid bulk length"
proto_err '*2\r\n$3\r\nGET\r\n$abc\r\n' "-ERR Protocol error: invalid bulk length"
proto_err '*1\r\n$600000000\r\n' "-ERR Protocol error: invalid bulk length"
proto_err '*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n' "-ERR Protocol error: expected '\$', got 'f'"
proto_err '*1\r\nfoo\r\n' "-ERR Protocol error: expected '\$', got 'f'"
proto_err 'set "foo bar\r\n' "-ERR Protocol error: unbalanced quotes in request"
proto_err 'set """test-key""" test-value\r\nping\r\n' "-ERR Protocol error: unbalanced quotes in request"
proto_err "$(head -c 70000 /dev/zero | tr '\0' a)" "-ERR Protocol error: too big inline request"
proto_err "*$(head -c 70000 /dev/zero | tr '\0' 1)" "-ERR Protocol error: too big mbulk count string"
proto_err "*1\\r\\n\$$(head -c 70000 /dev/zero | tr '\0' 1)" "-ERR Protocol error: too big bulk count string"
# What Redis ignores: an empty line, a negative or zero count.
ok "empty line and *-10 are ignored" "+PONG" "$(raw_reply '\r\n*-10\r\n*0\r\nPING\r\n')"
ok "inline command with quotes" "+OK" "$(raw_reply 'SET "in line" "a\\x41\\nb"\r\n')"
t '"aA\nb"' GET "in line"
ok "inline without \\r" "+PONG" "$(raw_reply 'PING\n')"
ok "pipelined inline and multibulk" $'+OK\n$3\nabc\n:3\n+OK\n<closed>' \
    "$(raw_closes 'SET pk abc\r\n*2\r\n$3\r\nGET\r\n$2\r\npk\r\nSTRLEN pk\r\nQUIT\r\n')"
t '"here"' GET still

section "limits"
sw_server_stop; rc=$?
ok "SIGTERM exits 0" 0 "$rc"
sw_server_start "$BIN" --requirepass 's3cret pass' --maxclients 3 --timeout 1 || exit 1
t "(error) NOAUTH Authentication required." GET k
t "(error) NOAUTH Authentication required." SET k v
t "(error) WRONGPASS invalid username-password pair or user is disabled." AUTH wrong
t "(error) WRONGPASS invalid username-password pair or user is disabled." AUTH default wrong
ts $'(error) NOAUTH Authentication required.\n(error) WRONGPASS invalid username-password pair or user is disabled.\n(error) NOAUTH Authentication required.\nOK\nOK\n"v"\nPONG' <<'EOF'
GET k
AUTH nope
GET k
AUTH "s3cret pass"
SET k v
GET k
PING
EOF
ok "AUTH with the user name" OK "$(printf 'AUTH default "s3cret pass"\n' | cli)"
ok "HELLO AUTH" " 6) (integer) 2" "$(printf 'HELLO 2 AUTH default "s3cret pass"\n' | cli | sed -n 6p)"
ok "HELLO with a wrong password" "(error) WRONGPASS invalid username-password pair or user is disabled." "$(cli HELLO 2 AUTH default nope)"
ok "redis-cli -a" '"v"' "$(redis-cli -h 127.0.0.1 -p "$SW_PORT" --no-raw --no-auth-warning -a 's3cret pass' GET k 2>&1)"
ok "unauthenticated multibulk count" $'-ERR Protocol error: unauthenticated multibulk length\n<closed>' \
    "$(raw_closes '*11\r\n')"
ok "unauthenticated bulk length" $'-ERR Protocol error: unauthenticated bulk length\n<closed>' \
    "$(raw_closes '*2\r\n$4\r\nAUTH\r\n$20000\r\n')"
ok "QUIT without AUTH" $'+OK\n<closed>' "$(raw_closes 'QUIT\r\n')"
# --timeout 1: an idle connection is closed (Redis checks it about once a
# second and wants more than the timeout to have passed).
ok "idle client is closed" $'+OK\n<closed>' "$(timeout 20 bash -c '
    exec 3<>"/dev/tcp/127.0.0.1/$1"
    printf "AUTH \"s3cret pass\"\r\n" >&3; IFS= read -r -t 5 l <&3; printf "%s\n" "${l%$'"'"'\r'"'"'}"
    sleep 4
    printf "PING\r\n" >&3 2>/dev/null
    IFS= read -r -t 5 l <&3
    if [ $? -gt 128 ]; then echo "<open>"; elif [ -n "$l" ]; then echo "reply: $l"; else echo "<closed>"; fi' _ "$SW_PORT")"
# --maxclients 3: a fourth connection is refused with Redis's error.
maxc=$(timeout 20 bash -c '
    for fd in 3 4 5; do
        eval "exec $fd<>/dev/tcp/127.0.0.1/$1"
        printf "AUTH \"s3cret pass\"\r\n" >&$fd; IFS= read -r -t 5 l <&$fd
    done
    exec 6<>"/dev/tcp/127.0.0.1/$1"
    printf "PING\r\n" >&6 2>/dev/null
    IFS= read -r -t 5 l <&6; printf "%s\n" "${l%$'"'"'\r'"'"'}"' _ "$SW_PORT")
ok "maxclients" "-ERR max number of clients reached" "$maxc"
ok "a client gets in again after the others left" PONG \
    "$(redis-cli -h 127.0.0.1 -p "$SW_PORT" --no-auth-warning -a 's3cret pass' PING 2>&1)"
sw_server_stop; rc=$?
ok "SIGTERM exits 0" 0 "$rc"

section "SHUTDOWN"
sw_server_start "$BIN" || exit 1
cli SHUTDOWN >/dev/null
sw_wait_exit; rc=$?
ok "SHUTDOWN exits 0" 0 "$rc"

section "ledger"
if ! sw_is_redis "$BIN"; then
    sw_server_start "$BIN" --shards "${SW_SHARDS:-4}" || exit 1
    t OK ACCOUNT.CREATE 1 100
    t OK ACCOUNT.CREATE 2
    t "(integer) 100" ACCOUNT.BALANCE 1
    t "(integer) 0" ACCOUNT.BALANCE 2
    t "(error) ERR account already exists" ACCOUNT.CREATE 1 5
    t "(integer) 100" ACCOUNT.BALANCE 1
    t OK ACCOUNT.DEPOSIT 1 50
    t "(integer) 150" ACCOUNT.BALANCE 1
    t OK ACCOUNT.WITHDRAW 1 30
    t "(integer) 120" ACCOUNT.BALANCE 1
    t "(error) ERR insufficient funds" ACCOUNT.WITHDRAW 1 121
    t "(integer) 120" ACCOUNT.BALANCE 1
    t OK ACCOUNT.TRANSFER 1 2 20
    t "(integer) 100" ACCOUNT.BALANCE 1
    t "(integer) 20" ACCOUNT.BALANCE 2
    t "(error) ERR insufficient funds" ACCOUNT.TRANSFER 2 1 21
    t "(integer) 100" ACCOUNT.BALANCE 1
    t "(integer) 20" ACCOUNT.BALANCE 2
    t "(error) ERR no such account" ACCOUNT.BALANCE 999
    t "(error) ERR no such account" ACCOUNT.DEPOSIT 999 1
    t "(error) ERR no such account" ACCOUNT.WITHDRAW 999 1
    t "(error) ERR no such account" ACCOUNT.TRANSFER 1 999 1
    t "(error) ERR no such account" ACCOUNT.TRANSFER 999 1 1
    like "TRANSFER to the same account" "(error) ERR *" "$(cli ACCOUNT.TRANSFER 1 1 1)"
    t "(integer) 100" ACCOUNT.BALANCE 1
    like "DEPOSIT 0" "(error) ERR *" "$(cli ACCOUNT.DEPOSIT 1 0)"
    like "DEPOSIT negative" "(error) ERR *" "$(cli ACCOUNT.DEPOSIT 1 -5)"
    like "WITHDRAW negative" "(error) ERR *" "$(cli ACCOUNT.WITHDRAW 1 -5)"
    like "TRANSFER negative" "(error) ERR *" "$(cli ACCOUNT.TRANSFER 1 2 -5)"
    like "DEPOSIT not a number" "(error) ERR *" "$(cli ACCOUNT.DEPOSIT 1 abc)"
    like "CREATE bad id" "(error) ERR *" "$(cli ACCOUNT.CREATE abc)"
    like "CREATE negative opening" "(error) ERR *" "$(cli ACCOUNT.CREATE 3 -1)"
    like "DEPOSIT overflow" "(error) ERR *" "$(cli ACCOUNT.DEPOSIT 1 9223372036854775807)"
    t "(integer) 100" ACCOUNT.BALANCE 1
    t "(integer) 20" ACCOUNT.BALANCE 2
    t "(error) ERR wrong number of arguments for 'account.transfer' command" ACCOUNT.TRANSFER 1 2
    t "(error) ERR wrong number of arguments for 'account.balance' command" ACCOUNT.BALANCE
    sw_server_stop
else
    skip "ACCOUNT.* (redis-server has no ledger)"
fi

echo
echo "test_cli: $passed passed, $failed failed, $skipped skipped"
if [ "$STEWARD" = 1 ] && [ "$skipped" -gt 0 ]; then
    echo "FAIL: $skipped check(s) skipped against stewardd, which must run them all"
    exit 1
fi
[ "$failed" -eq 0 ]
