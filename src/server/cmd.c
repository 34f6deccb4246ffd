/* The command table, its lookup, the reply helpers, and the commands about
 * the connection and the server (PING, HELLO, AUTH, CLIENT, COMMAND, INFO,
 * CONFIG, ...). */
#define _GNU_SOURCE
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "server/cmd.h"

#define W CMD_WRITE
#define R CMD_READONLY
#define F CMD_FAST

/* Sorted by name: cmd_lookup bisects. */
const struct cmd_def cmd_table[] = {
    {"account.balance", 2, R | F | CMD_LEDGER, 0, 0, 0, cmd_acct_balance, "ledger",
     "Returns an account's balance."},
    {"account.create", -2, W | CMD_LEDGER, 0, 0, 0, cmd_acct_create, "ledger",
     "Creates an account with an opening balance."},
    {"account.deposit", 3, W | CMD_LEDGER, 0, 0, 0, cmd_acct_deposit, "ledger",
     "Adds money to an account."},
    {"account.transfer", 4, W | CMD_LEDGER, 0, 0, 0, cmd_acct_transfer, "ledger",
     "Moves money between two accounts, all or nothing."},
    {"account.withdraw", 3, W | CMD_LEDGER, 0, 0, 0, cmd_acct_withdraw, "ledger",
     "Takes money from an account if the balance allows."},
    {"append", 3, W, 1, 1, 1, cmd_append, "string", "Appends a string to the value of a key."},
    {"auth", -2, CMD_NOAUTH | CMD_CONN | F, 0, 0, 0, cmd_auth, "connection",
     "Authenticates the connection."},
    {"client", -2, CMD_ALL | CMD_CONN, 0, 0, 0, cmd_client, "connection",
     "Connection commands: ID, SETNAME, GETNAME, SETINFO, LIST, INFO."},
    {"command", -1, CMD_CONN, 0, 0, 0, cmd_command, "server",
     "Returns information about commands."},
    {"config", -2, CMD_ALL, 0, 0, 0, cmd_config, "server",
     "Gets or sets configuration parameters."},
    {"copy", -3, W | CMD_DBKEY | CMD_UNIT, 1, 2, 1, cmd_copy, "generic",
     "Copies the value of a key to a new key."},
    {"dbsize", 1, R | CMD_ALL, 0, 0, 0, cmd_dbsize, "server",
     "Returns the number of keys in the database."},
    {"decr", 2, W | F, 1, 1, 1, cmd_decr, "string",
     "Decrements the integer value of a key by one."},
    {"decrby", 3, W | F, 1, 1, 1, cmd_decrby, "string",
     "Decrements a number from the integer value of a key."},
    {"del", -2, W | CMD_UNIT, 1, -1, 1, cmd_del, "generic", "Deletes one or more keys."},
    {"discard", 1, CMD_CONN | CMD_TXCTL | F, 0, 0, 0, cmd_discard, "transactions",
     "Discards a transaction."},
    {"echo", 2, F, 0, 0, 0, cmd_echo, "connection", "Returns the given string."},
    {"exec", 1, CMD_CONN | CMD_TXCTL | CMD_UNIT, 0, 0, 0, cmd_exec, "transactions",
     "Executes all commands in a transaction."},
    {"exists", -2, R | F, 1, -1, 1, cmd_exists, "generic",
     "Determines whether one or more keys exist."},
    {"expire", -3, W | F, 1, 1, 1, cmd_expire, "generic",
     "Sets the expiration time of a key in seconds."},
    {"expireat", -3, W | F, 1, 1, 1, cmd_expireat, "generic",
     "Sets the expiration time of a key to a Unix timestamp."},
    {"expiretime", 2, R | F, 1, 1, 1, cmd_expiretime, "generic",
     "Returns the expiration time of a key as a Unix timestamp."},
    {"flushall", -1, W | CMD_ALL, 0, 0, 0, cmd_flushall, "server",
     "Removes all keys from all databases."},
    {"flushdb", -1, W | CMD_ALL, 0, 0, 0, cmd_flushdb, "server",
     "Removes all keys from the current database."},
    {"get", 2, R | F, 1, 1, 1, cmd_get, "string", "Returns the string value of a key."},
    {"getdel", 2, W | F, 1, 1, 1, cmd_getdel, "string",
     "Returns the string value of a key after deleting the key."},
    {"getex", -2, W | F, 1, 1, 1, cmd_getex, "string",
     "Returns the string value of a key after setting its expiration time."},
    {"getrange", 4, R, 1, 1, 1, cmd_getrange, "string",
     "Returns a substring of the string stored at a key."},
    {"getset", 3, W | F, 1, 1, 1, cmd_getset, "string",
     "Returns the previous string value of a key after setting it to a new value."},
    {"hello", -1, CMD_NOAUTH | CMD_CONN | F, 0, 0, 0, cmd_hello, "connection",
     "Handshakes with the server."},
    {"incr", 2, W | F, 1, 1, 1, cmd_incr, "string",
     "Increments the integer value of a key by one."},
    {"incrby", 3, W | F, 1, 1, 1, cmd_incrby, "string",
     "Increments the integer value of a key by a number."},
    {"incrbyfloat", 3, W | F, 1, 1, 1, cmd_incrbyfloat, "string",
     "Increment the floating point value of a key by a number."},
    {"info", -1, CMD_ALL, 0, 0, 0, cmd_info, "server",
     "Returns information and statistics about the server."},
    {"keys", 2, R | CMD_ALL, 0, 0, 0, cmd_keys, "generic",
     "Returns all key names that match a pattern."},
    {"lcs", -3, R, 1, 2, 1, cmd_lcs, "string", "Finds the longest common substring."},
    {"mget", -2, R | F, 1, -1, 1, cmd_mget, "string",
     "Atomically returns the string values of one or more keys."},
    {"move", 3, W | F | CMD_DBKEY | CMD_UNIT, 1, 1, 1, cmd_move, "generic",
     "Moves a key to another database."},
    {"mset", -3, W | CMD_UNIT, 1, -1, 2, cmd_mset, "string",
     "Atomically creates or modifies the string values of one or more keys."},
    {"msetnx", -3, W | CMD_UNIT, 1, -1, 2, cmd_msetnx, "string",
     "Atomically sets keys only when none of them exist."},
    {"multi", 1, CMD_CONN | CMD_TXCTL | F, 0, 0, 0, cmd_multi, "transactions",
     "Starts a transaction."},
    {"persist", 2, W | F, 1, 1, 1, cmd_persist, "generic", "Removes the expiration time of a key."},
    {"pexpire", -3, W | F, 1, 1, 1, cmd_pexpire, "generic",
     "Sets the expiration time of a key in milliseconds."},
    {"pexpireat", -3, W | F, 1, 1, 1, cmd_pexpireat, "generic",
     "Sets the expiration time of a key to a Unix milliseconds timestamp."},
    {"pexpiretime", 2, R | F, 1, 1, 1, cmd_pexpiretime, "generic",
     "Returns the expiration time of a key as a Unix milliseconds timestamp."},
    {"ping", -1, F, 0, 0, 0, cmd_ping, "connection", "Returns the server's liveliness response."},
    {"psetex", 4, W, 1, 1, 1, cmd_psetex, "string",
     "Sets the string value and expiration time in milliseconds of a key."},
    {"pttl", 2, R | F, 1, 1, 1, cmd_pttl, "generic",
     "Returns the expiration time in milliseconds of a key."},
    {"quit", -1, CMD_NOAUTH | CMD_CONN | CMD_TXCTL | F, 0, 0, 0, cmd_quit, "connection",
     "Closes the connection."},
    {"randomkey", 1, R | CMD_ALL, 0, 0, 0, cmd_randomkey, "generic",
     "Returns a random key name from the database."},
    {"rename", 3, W | CMD_UNIT, 1, 2, 1, cmd_rename, "generic",
     "Renames a key and overwrites the destination."},
    {"renamenx", 3, W | F | CMD_UNIT, 1, 2, 1, cmd_renamenx, "generic",
     "Renames a key only when the target key name doesn't exist."},
    {"scan", -2, R | CMD_ALL, 0, 0, 0, cmd_scan, "generic",
     "Iterates over the key names in the database."},
    {"select", 2, CMD_CONN | F, 0, 0, 0, cmd_select, "connection",
     "Changes the selected database."},
    {"set", -3, W, 1, 1, 1, cmd_set, "string",
     "Sets the string value of a key, ignoring its type."},
    {"setex", 4, W, 1, 1, 1, cmd_setex, "string",
     "Sets the string value and expiration time of a key."},
    {"setnx", 3, W | F, 1, 1, 1, cmd_setnx, "string",
     "Set the string value of a key only when the key doesn't exist."},
    {"setrange", 4, W, 1, 1, 1, cmd_setrange, "string",
     "Overwrites a part of a string value with another by an offset."},
    {"shutdown", -1, CMD_CONN, 0, 0, 0, cmd_shutdown, "server",
     "Syncs the logs and shuts down the server."},
    {"strlen", 2, R | F, 1, 1, 1, cmd_strlen, "string", "Returns the length of a string value."},
    {"substr", 4, R, 1, 1, 1, cmd_getrange, "string", "Returns a substring from a string value."},
    {"time", 1, F, 0, 0, 0, cmd_time, "server", "Returns the server time."},
    {"ttl", 2, R | F, 1, 1, 1, cmd_ttl, "generic",
     "Returns the expiration time in seconds of a key."},
    {"type", 2, R | F, 1, 1, 1, cmd_type, "generic",
     "Determines the type of value stored at a key."},
    {"unlink", -2, W | F | CMD_UNIT, 1, -1, 1, cmd_del, "generic",
     "Asynchronously deletes one or more keys."},
    {"unwatch", 1, CMD_CONN | F, 0, 0, 0, cmd_unwatch, "transactions",
     "Forgets about watched keys of a transaction."},
    {"watch", -2, CMD_CONN | CMD_TXCTL | F, 1, -1, 1, cmd_watch, "transactions",
     "Monitors changes to keys to determine the execution of a transaction."},
};
const size_t cmd_count = sizeof cmd_table / sizeof cmd_table[0];

const struct cmd_def *cmd_lookup(const char *name, size_t len)
{
    char low[32];
    /* A NUL inside would end the strcmp below early: "get\0x" is no GET. */
    if (len == 0 || len >= sizeof low || memchr(name, 0, len))
        return NULL;
    for (size_t i = 0; i < len; i++)
        low[i] = (char)tolower((unsigned char)name[i]);
    low[len] = 0;
    size_t lo = 0, hi = cmd_count;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(low, cmd_table[mid].name);
        if (c == 0)
            return &cmd_table[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

void keywalk_init(struct keywalk *w, const struct cmd_def *d, size_t argc, const sw__resp_arg *argv,
                  int db)
{
    *w = (struct keywalk){.d = d, .argv = argv, .i = (size_t)d->first, .db = db, .dest_db = db};
    if (d->first > 0) { /* one past the last key argument */
        size_t end = d->last < 0 ? argc : (size_t)d->last + 1;
        w->end = end < argc ? end : argc;
    }
    bool replace;
    if ((d->flags & CMD_DBKEY) && cmd_dest_db(argc, argv, db, &w->dest_db, &replace))
        w->n = 2; /* no keys: the command fails on its arguments */
}

bool keywalk_next(struct keywalk *w, const sw__resp_arg **key, int *db)
{
    const struct cmd_def *d = w->d;
    if (d->flags & CMD_DBKEY) { /* the source, then the destination */
        if (w->n == 2)
            return false;
        *key = &w->argv[w->n == 0 ? d->first : d->last];
        *db = w->n++ == 0 ? w->db : w->dest_db;
        return true;
    }
    if (w->i >= w->end)
        return false;
    *key = &w->argv[w->i];
    *db = w->db;
    w->i += (size_t)d->step;
    return true;
}

/* ---- replies --------------------------------------------------------------- */

void reply_ok(struct exec *x)
{
    sw__resp_add_simple(x->out, "OK");
}

void reply_err(struct exec *x, const char *msg)
{
    sw__resp_add_error(x->out, msg);
}

void reply_syntax(struct exec *x)
{
    sw__resp_add_error(x->out, "ERR syntax error");
}

void reply_notint(struct exec *x)
{
    sw__resp_add_error(x->out, "ERR value is not an integer or out of range");
}

void reply_status(struct exec *x, int rc)
{
    if (rc == SW_EIO) /* the log had no room for a write (kv.c): Redis's words */
        sw__resp_add_errorf(x->out, "MISCONF Errors writing to the AOF file: %s",
                            strerror(kv_refusal()));
    else
        sw__resp_add_errorf(x->out, "ERR %s", sw_strerror(rc));
}

/* ---- connection --------------------------------------------------------------- */

void cmd_ping(struct exec *x)
{
    if (x->argc > 2)
        sw__resp_add_error(x->out, "ERR wrong number of arguments for 'ping' command");
    else if (x->argc == 2)
        sw__resp_add_bulk(x->out, x->argv[1].ptr, x->argv[1].len);
    else
        sw__resp_add_simple(x->out, "PONG");
}

void cmd_echo(struct exec *x)
{
    sw__resp_add_bulk(x->out, x->argv[1].ptr, x->argv[1].len);
}

void cmd_quit(struct exec *x)
{
    reply_ok(x);
    conn_close_after_flush(x->c);
}

void cmd_time(struct exec *x)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char a[32], b[32];
    snprintf(a, sizeof a, "%lld", (long long)ts.tv_sec);
    snprintf(b, sizeof b, "%ld", ts.tv_nsec / 1000);
    sw__resp_add_array(x->out, 2);
    sw__resp_add_bulk_cstr(x->out, a);
    sw__resp_add_bulk_cstr(x->out, b);
}

/* Compares without an early exit, so the time says nothing of the
 * password. */
static bool same_secret(const char *want, const char *got, size_t glen)
{
    size_t wlen = strlen(want);
    unsigned char diff = (unsigned char)(wlen != glen);
    for (size_t i = 0; i < glen; i++)
        diff |= (unsigned char)(got[i] ^ want[i % (wlen ? wlen : 1)]);
    return diff == 0;
}

/* AUTH's check: SW_OK, or replies the error and returns SW_EINVAL. */
static int check_auth(struct exec *x, const sw__resp_arg *user, const sw__resp_arg *pass)
{
    const char *want = x->srv->cfg.requirepass;
    if (!want || !want[0]) {
        if (!user) {
            reply_err(x, "ERR AUTH <password> called without any password configured for the "
                         "default user. Are you sure your configuration is correct?");
            return SW_EINVAL;
        }
        want = "";
    }
    if ((user && !arg_is(user, "default")) || !same_secret(want, pass->ptr, pass->len)) {
        reply_err(x, "WRONGPASS invalid username-password pair or user is disabled.");
        return SW_EINVAL;
    }
    x->c->authed = true;
    sw__resp_parser_set_auth_required(&x->c->parser, false);
    return SW_OK;
}

void cmd_auth(struct exec *x)
{
    if (x->argc > 3) {
        reply_syntax(x);
        return;
    }
    if (check_auth(x, x->argc == 3 ? &x->argv[1] : NULL, &x->argv[x->argc - 1]) == SW_OK)
        reply_ok(x);
}

static bool valid_name(const sw__resp_arg *a)
{
    for (size_t i = 0; i < a->len; i++)
        if (a->ptr[i] < '!' || a->ptr[i] > '~')
            return false;
    return true;
}

static void set_str(char **dst, const sw__resp_arg *a)
{
    free(*dst);
    *dst = NULL;
    if (a->len == 0)
        return;
    *dst = strndup(a->ptr, a->len);
}

void cmd_hello(struct exec *x)
{
    long long ver = x->c->proto;
    size_t i = 1;
    if (x->argc >= 2) {
        if (!arg_ll(x->argv[1].ptr, x->argv[1].len, &ver)) {
            reply_err(x, "ERR Protocol version is not an integer or out of range");
            return;
        }
        if (ver < 2 || ver > 3) {
            reply_err(x, "NOPROTO unsupported protocol version");
            return;
        }
        i = 2;
    }
    const sw__resp_arg *name = NULL;
    for (; i < x->argc; i++) {
        if (arg_is(&x->argv[i], "auth") && i + 2 < x->argc) {
            if (check_auth(x, &x->argv[i + 1], &x->argv[i + 2]) != SW_OK)
                return;
            i += 2;
        } else if (arg_is(&x->argv[i], "setname") && i + 1 < x->argc) {
            name = &x->argv[++i];
            if (!valid_name(name)) {
                reply_err(x, "ERR Client names cannot contain spaces, newlines or special "
                             "characters.");
                return;
            }
        } else {
            sw__resp_add_errorf(x->out, "ERR Syntax error in HELLO option '%.*s'",
                                (int)(x->argv[i].len > 64 ? 64 : x->argv[i].len), x->argv[i].ptr);
            return;
        }
    }
    if (!x->c->authed) {
        reply_err(x, "NOAUTH HELLO must be called with the client already authenticated, "
                     "otherwise the HELLO <proto> AUTH <user> <pass> option can be used to "
                     "authenticate the client and select the RESP protocol version at the "
                     "same time");
        return;
    }
    if (name)
        set_str(&x->c->name, name);
    x->c->proto = (int)ver;
    sw__resp_buf_set_proto(x->out, (int)ver);
    sw__resp_add_map(x->out, 7);
    sw__resp_add_bulk_cstr(x->out, "server");
    sw__resp_add_bulk_cstr(x->out, "redis");
    sw__resp_add_bulk_cstr(x->out, "version");
    sw__resp_add_bulk_cstr(x->out, SRV_REDIS_VERSION);
    sw__resp_add_bulk_cstr(x->out, "proto");
    sw__resp_add_int(x->out, ver);
    sw__resp_add_bulk_cstr(x->out, "id");
    sw__resp_add_int(x->out, (int64_t)x->c->id);
    sw__resp_add_bulk_cstr(x->out, "mode");
    sw__resp_add_bulk_cstr(x->out, "standalone");
    sw__resp_add_bulk_cstr(x->out, "role");
    sw__resp_add_bulk_cstr(x->out, "master");
    sw__resp_add_bulk_cstr(x->out, "modules");
    sw__resp_add_array(x->out, 0);
}

bool select_arg(struct exec *x, const sw__resp_arg *a, int *db)
{
    long long n;
    if (!arg_ll(a->ptr, a->len, &n)) {
        if (x)
            reply_notint(x);
        return false;
    }
    if (n < 0 || n >= SRV_DBS) {
        if (x)
            reply_err(x, "ERR DB index is out of range");
        return false;
    }
    *db = (int)n;
    return true;
}

void cmd_select(struct exec *x)
{
    int db;
    if (!select_arg(x, &x->argv[1], &db))
        return;
    x->c->db = db;
    reply_ok(x);
}

/* One line of CLIENT LIST / CLIENT INFO. */
static void client_line(char *buf, size_t cap, const struct conn *c, int64_t now)
{
    char laddr[80];
    conn_local_addr(c, laddr, sizeof laddr);
    snprintf(buf, cap,
             "id=%llu addr=%s laddr=%s fd=%d name=%s age=%lld idle=%lld flags=N db=%d sub=0 "
             "psub=0 ssub=0 multi=-1 qbuf=%zu qbuf-free=0 argv-mem=0 multi-mem=0 obl=0 oll=0 "
             "omem=%zu tot-mem=0 events=r cmd=NULL user=default redir=-1 resp=%d lib-name=%s "
             "lib-ver=%s shard=%u\n",
             (unsigned long long)c->id, c->addr, laddr, c->fd, c->name ? c->name : "",
             (long long)((now - c->created_ms) / 1000), (long long)((now - c->last_ms) / 1000),
             c->db, sw__resp_parser_buffered(&c->parser), sw__resp_buf_len(&c->out), c->proto,
             c->lib_name ? c->lib_name : "", c->lib_ver ? c->lib_ver : "", c->sh->index);
}

static void client_list(struct exec *x)
{
    size_t cap = 4096, len = 0;
    char *all = malloc(cap);
    int64_t now = kv_now();
    for (unsigned i = 0; all && i < x->srv->n; i++) {
        for (const struct conn *c = x->srv->shards[i].conns; c && all; c = c->next) {
            char line[1024];
            client_line(line, sizeof line, c, now);
            size_t n = strlen(line);
            if (len + n + 1 > cap) {
                char *grown = realloc(all, cap * 2 + n);
                if (!grown) {
                    free(all);
                    all = NULL;
                    break;
                }
                all = grown;
                cap = cap * 2 + n;
            }
            memcpy(all + len, line, n);
            len += n;
        }
    }
    if (!all) {
        reply_status(x, SW_ENOMEM);
        return;
    }
    sw__resp_add_verbatim(x->out, "txt", all, len);
    free(all);
}

void cmd_client(struct exec *x)
{
    const sw__resp_arg *sub = &x->argv[1];
    struct conn *c = x->c;
    if (arg_is(sub, "id") && x->argc == 2) {
        sw__resp_add_int(x->out, (int64_t)c->id);
    } else if (arg_is(sub, "getname") && x->argc == 2) {
        if (c->name)
            sw__resp_add_bulk_cstr(x->out, c->name);
        else
            sw__resp_add_null(x->out);
    } else if (arg_is(sub, "setname") && x->argc == 3) {
        if (!valid_name(&x->argv[2])) {
            reply_err(x, "ERR Client names cannot contain spaces, newlines or special characters.");
            return;
        }
        set_str(&c->name, &x->argv[2]);
        reply_ok(x);
    } else if (arg_is(sub, "setinfo") && x->argc == 4) {
        bool lib = arg_is(&x->argv[2], "lib-name"), ver = arg_is(&x->argv[2], "lib-ver");
        if (!lib && !ver) {
            sw__resp_add_errorf(x->out, "ERR Unrecognized option '%.*s'",
                                (int)(x->argv[2].len > 64 ? 64 : x->argv[2].len), x->argv[2].ptr);
            return;
        }
        if (!valid_name(&x->argv[3])) {
            sw__resp_add_errorf(x->out,
                                "ERR %s cannot contain spaces, newlines or special characters.",
                                lib ? "lib-name" : "lib-ver");
            return;
        }
        set_str(lib ? &c->lib_name : &c->lib_ver, &x->argv[3]);
        reply_ok(x);
    } else if (arg_is(sub, "list")) {
        client_list(x);
    } else if (arg_is(sub, "info") && x->argc == 2) {
        char line[1024];
        client_line(line, sizeof line, c, kv_now());
        sw__resp_add_verbatim(x->out, "txt", line, strlen(line));
    } else if (arg_is(sub, "no-evict") || arg_is(sub, "no-touch")) {
        reply_ok(x);
    } else {
        sw__resp_add_errorf(x->out, "ERR unknown subcommand '%.*s'. Try CLIENT HELP.",
                            (int)(sub->len > 64 ? 64 : sub->len), sub->ptr);
    }
}

void cmd_shutdown(struct exec *x)
{
    fprintf(stderr, "stewardd: SHUTDOWN from client %s: syncing the logs and exiting\n",
            x->c->addr);
    srv_stop(x->srv);
    conn_close_after_flush(x->c); /* no reply: the connection simply closes, as with Redis */
}

/* ---- COMMAND -------------------------------------------------------------- */

static void add_flags(sw__resp_buf *o, unsigned f)
{
    const char *names[8];
    size_t n = 0;
    if (f & CMD_WRITE)
        names[n++] = "write";
    if (f & CMD_READONLY)
        names[n++] = "readonly";
    if (f & CMD_FAST)
        names[n++] = "fast";
    if (f & CMD_NOAUTH)
        names[n++] = "no_auth";
    sw__resp_add_set(o, n);
    for (size_t i = 0; i < n; i++)
        sw__resp_add_simple(o, names[i]);
}

static void command_info(sw__resp_buf *o, const struct cmd_def *d)
{
    sw__resp_add_array(o, 10);
    sw__resp_add_bulk_cstr(o, d->name);
    sw__resp_add_int(o, d->arity);
    add_flags(o, d->flags);
    sw__resp_add_int(o, d->first);
    sw__resp_add_int(o, d->last);
    sw__resp_add_int(o, d->step);
    sw__resp_add_set(o, 0);   /* ACL categories */
    sw__resp_add_set(o, 0);   /* tips */
    sw__resp_add_array(o, 0); /* key specs */
    sw__resp_add_array(o, 0); /* subcommands */
}

static void command_docs(sw__resp_buf *o, const struct cmd_def *d)
{
    sw__resp_add_bulk_cstr(o, d->name);
    sw__resp_add_map(o, 4);
    sw__resp_add_bulk_cstr(o, "summary");
    sw__resp_add_bulk_cstr(o, d->summary);
    sw__resp_add_bulk_cstr(o, "since");
    sw__resp_add_bulk_cstr(o, "1.0.0");
    sw__resp_add_bulk_cstr(o, "group");
    sw__resp_add_bulk_cstr(o, d->group);
    sw__resp_add_bulk_cstr(o, "complexity");
    sw__resp_add_bulk_cstr(o, "O(1)");
}

void cmd_command(struct exec *x)
{
    sw__resp_buf *o = x->out;
    if (x->argc == 1) {
        sw__resp_add_array(o, cmd_count);
        for (size_t i = 0; i < cmd_count; i++)
            command_info(o, &cmd_table[i]);
    } else if (arg_is(&x->argv[1], "count") && x->argc == 2) {
        sw__resp_add_int(o, (int64_t)cmd_count);
    } else if (arg_is(&x->argv[1], "list")) {
        sw__resp_add_array(o, cmd_count);
        for (size_t i = 0; i < cmd_count; i++)
            sw__resp_add_bulk_cstr(o, cmd_table[i].name);
    } else if (arg_is(&x->argv[1], "info")) {
        if (x->argc == 2) {
            sw__resp_add_array(o, cmd_count);
            for (size_t i = 0; i < cmd_count; i++)
                command_info(o, &cmd_table[i]);
            return;
        }
        sw__resp_add_array(o, x->argc - 2);
        for (size_t i = 2; i < x->argc; i++) {
            const struct cmd_def *d = cmd_lookup(x->argv[i].ptr, x->argv[i].len);
            if (d)
                command_info(o, d);
            else
                sw__resp_add_null_array(o);
        }
    } else if (arg_is(&x->argv[1], "docs")) {
        size_t n = 0;
        for (size_t i = 2; i < x->argc; i++)
            n += cmd_lookup(x->argv[i].ptr, x->argv[i].len) != NULL;
        sw__resp_add_map(o, x->argc == 2 ? cmd_count : n);
        for (size_t i = 0; x->argc == 2 && i < cmd_count; i++)
            command_docs(o, &cmd_table[i]);
        for (size_t i = 2; i < x->argc; i++) {
            const struct cmd_def *d = cmd_lookup(x->argv[i].ptr, x->argv[i].len);
            if (d)
                command_docs(o, d);
        }
    } else {
        sw__resp_add_errorf(o, "ERR unknown subcommand '%.*s'. Try COMMAND HELP.",
                            (int)(x->argv[1].len > 64 ? 64 : x->argv[1].len), x->argv[1].ptr);
    }
}
