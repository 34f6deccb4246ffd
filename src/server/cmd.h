/* stewardd's commands: the table, the context a command runs in, and the
 * keyspace operations commands use (kv.c).
 *
 * A command function runs with exclusive access to the shards of its keys:
 * on the key's own shard thread, or on any thread during a world operation
 * (server.h). It reads its arguments from x->argv and writes exactly one
 * reply to x->out.
 */
#ifndef STEWARD_SERVER_CMD_H
#define STEWARD_SERVER_CMD_H

#include "server/server.h"

/* The hashes of a command's keys, as the dispatcher found them: hash[i]
 * is the hash of argv[i]'s key in database db, 0 where not known (not a
 * key, or in another database). A memo, used only while argv and db are
 * still those it was made for: a copy of an exec given other arguments or
 * another database hashes its keys again. */
struct keyhash {
    const sw__resp_arg *argv;
    int db;
    const uint64_t *hash; /* NULL: none known */
};

struct exec {
    struct srv *srv;
    struct srv_shard *self; /* the thread running the command */
    struct conn *c;         /* the client; NULL when run for another shard */
    bool world;             /* running as a world operation */
    int db;
    size_t argc;
    const sw__resp_arg *argv;
    sw__resp_buf *out;
    struct keyhash kh; /* argv's key hashes, where known */
};

typedef void (*cmd_fn)(struct exec *x);

enum cmd_flags {
    CMD_WRITE = 1 << 0,
    CMD_READONLY = 1 << 1,
    CMD_NOAUTH = 1 << 2, /* allowed before AUTH */
    CMD_ALL = 1 << 3,    /* reads or writes every shard: a world operation */
    CMD_CONN = 1 << 4,   /* needs its connection: always runs on the client's thread */
    CMD_FAST = 1 << 5,
    CMD_LEDGER = 1 << 6, /* blocks on the Ledger */
    CMD_TXCTL = 1 << 7,  /* runs at once inside MULTI, not queued (multi.c) */
    CMD_UNIT = 1 << 8,   /* its writes are one record in each log (route.c) */
    CMD_DBKEY = 1 << 9,  /* its last key is in the database its arguments name (COPY, MOVE) */
};

struct cmd_def {
    const char *name; /* lowercase */
    int arity;        /* > 0 exactly, < 0 at least -arity arguments, name included */
    unsigned flags;
    int first, last, step; /* the keys: argv[first..last] every step; last -1: to the end */
    cmd_fn fn;
    const char *group; /* for COMMAND DOCS */
    const char *summary;
};

/* The keys a command names, each in its database: argv[first],
 * argv[first + step], ... up to argv[last] (last -1: to the end), in the
 * client's database.
 * A command of CMD_DBKEY names two, argv[first] there and argv[last] in
 * the database its arguments name (cmd_dest_db), and none when they do
 * not parse: it then fails before it looks at a key. For
 * (keywalk_init(&w, ...); keywalk_next(&w, &a, &db);) { ... }. Reads the
 * arguments only: any thread. */
struct keywalk {
    const struct cmd_def *d;
    const sw__resp_arg *argv;
    size_t i, end;
    int db, dest_db;
    unsigned n; /* CMD_DBKEY: keys given (2 at once when there are none) */
};
void keywalk_init(struct keywalk *w, const struct cmd_def *d, size_t argc, const sw__resp_arg *argv,
                  int db);
bool keywalk_next(struct keywalk *w, const sw__resp_arg **key, int *db);

/* A command of CMD_DBKEY (argv[0] names it): the database of its last
 * key (COPY's DB option, MOVE's argument) and COPY's REPLACE, from its
 * arguments in a client's database db. NULL, or the error the command replies (with its code),
 * when they do not parse or name the source again (MOVE to db). */
const char *cmd_dest_db(size_t argc, const sw__resp_arg *argv, int db, int *dest_db, bool *replace);

/* Whether argc (the name included) suits d's arity. */
static inline bool cmd_arity_ok(const struct cmd_def *d, size_t argc)
{
    return d->arity > 0 ? argc == (size_t)d->arity : argc >= (size_t)-d->arity;
}

/* The command of a name (any case), or NULL. */
const struct cmd_def *cmd_lookup(const char *name, size_t len);

/* Every command, for COMMAND. */
extern const struct cmd_def cmd_table[];
extern const size_t cmd_count;

/* ---- argument helpers (args.c) -------------------------------------------- */

/* Whether a equals the lowercase literal lit, ignoring case. */
bool arg_is(const sw__resp_arg *a, const char *lit);

/* Redis's strict integer syntax (no spaces, no '+', no leading zeros, fits
 * in 64 bits). */
bool arg_ll(const char *p, size_t len, long long *out);
bool arg_ull(const char *p, size_t len, unsigned long long *out);

/* A size in bytes with Redis's optional unit (b, k, kb, m, mb, g, gb; any
 * case), as CONFIG SET and the command line take it. */
bool arg_size(const char *p, size_t len, size_t *out);

/* A long double as INCRBYFLOAT accepts it: no spaces, not NaN, at most 5 KiB. */
bool arg_ld(const char *p, size_t len, long double *out);

/* Writes v the way INCRBYFLOAT replies (at most 17 decimals, no trailing
 * zeros). Returns the length, or 0 if it does not fit. */
size_t fmt_ld(char *buf, size_t cap, long double v);

/* Redis's glob match (*, ?, [...], [^...], ranges, \ escapes). */
bool glob_match(const char *pat, size_t plen, const char *s, size_t slen, bool nocase);

/* ---- replies -------------------------------------------------------------- */

void reply_ok(struct exec *x);
void reply_err(struct exec *x, const char *msg); /* msg with its code: "ERR ..." */
void reply_syntax(struct exec *x);
void reply_notint(struct exec *x);
void reply_status(struct exec *x, int rc); /* "-ERR <sw_strerror>"; SW_EIO: -MISCONF */

/* ---- the keyspace (kv.c) --------------------------------------------------- */

/* A key as the shards store it: the database number, then the client's
 * bytes; with its hash and shard. */
struct kkey {
    uint64_t hash;
    char *p;
    size_t len;
    struct srv_shard *sh;
    int db;
    char *heap;
    char buf[120];
};

/* Builds k for argument a in database db of server s (k->sh is the key's
 * shard; nothing is touched there). SW_OK or SW_ENOMEM; free with
 * kkey_free. */
int kkey_build(struct srv *s, int db, const sw__resp_arg *a, struct kkey *k);

/* kkey_build, given the key's hash where known (0: not; it is computed,
 * and a wrong one files the key under another's). SW_OK or SW_ENOMEM;
 * free with kkey_free. Any thread: it reads only its arguments. */
int kkey_build_hashed(struct srv *s, int db, const sw__resp_arg *a, uint64_t hash, struct kkey *k);

/* kkey_build for argument i of x in x's database, with its hash from x->kh
 * where known, for a key x may touch: SW_EINVAL (a bug in the routing) if
 * it is on another shard outside a world operation. */
int kkey_init(struct exec *x, struct kkey *k, size_t i);
void kkey_free(struct kkey *k);

/* kkey_init for argument i of x; on failure replies the error and returns
 * false. */
bool key_arg(struct exec *x, size_t i, struct kkey *k);

/* The value and deadline (0: none) of a live key: SW_OK, or SW_ENOTFOUND
 * (an expired key is removed on the way) with *val "", *vlen 0 and *expire
 * 0, as for an empty value without a deadline. *val lives until the next
 * change to the key's shard. */
int kv_get(struct kkey *k, const void **val, size_t *vlen, int64_t *expire);

/* Calls fn(x, ctx, i, &k, rc) for the keys argv[first], argv[first +
 * step], ... of x in order (k as kkey_init builds it, rc what that
 * returned: k is usable only for SW_OK), until fn returns false. The
 * table lookups of a batch of them are started together first, so that
 * their cache misses overlap (sw__table_prefetch): a command on several
 * keys waits for memory about once per batch, not once per key. On x's
 * thread, as kkey_init. */
void kv_each(struct exec *x, size_t first, size_t step,
             bool (*fn)(struct exec *x, void *ctx, size_t i, struct kkey *k, int rc), void *ctx);

/* Stores val under k with deadline expire (0: none), logged. SW_OK;
 * SW_ENOMEM or SW_EIO (no room on disk), nothing changed. */
int kv_put(struct kkey *k, const void *val, size_t vlen, int64_t expire);

/* Removes a live key, logged. SW_OK, SW_ENOTFOUND, SW_EIO (as kv_put). */
int kv_del(struct kkey *k);

/* Sets (> 0) or clears (0) a live key's deadline; a deadline already past
 * deletes it. SW_OK, SW_ENOTFOUND, SW_ENOMEM, SW_EIO (as kv_put). */
int kv_expire(struct kkey *k, int64_t expire);

/* A full disk (db/shard.h). A write the log has no room for is refused
 * SW_EIO, changing nothing; reply_status then answers -MISCONF, as Redis
 * does, with kv_refusal()'s errno (the latest refusal on this thread). A
 * command that makes several writes that must be all or none first counts
 * their room, kv_room_add(k, vlen) per put (vlen 0 for a delete or a
 * deadline), then kv_room_take(s): SW_OK, every shard counted has room for
 * them all; SW_EIO, nothing to be written (and the counts forgotten either
 * way); kv_room_drop forgets the counts without reserving. kv_room_key
 * counts and takes the room of one write, for a command that must know
 * before it replies anything that its write will go. kv_room_args
 * counts and takes the room of the key arguments first, first + step, ...
 * of x (step 2: each key followed by its value). kv_flush_room counts what
 * kv_flush(sh, db) will log. */
int kv_refusal(void);
void kv_room_add(struct kkey *k, size_t vlen);
int kv_room_take(struct srv *s);
void kv_room_drop(struct srv *s);
int kv_room_key(struct kkey *k, size_t vlen);
int kv_room_args(struct exec *x, size_t first, size_t step);
int kv_flush_room(struct srv_shard *sh, int db);
/* A transaction's part on sh (db/shard.h, "transactions across shards"):
 * kv_tx_prepare logs its writes (PUT and DEL records) as part `part` of
 * nparts of txid, without applying them: SW_OK, SW_EIO (refused, as
 * kv_room_take; nothing logged), SW_ENOMEM, SW_EINVAL (too large for one
 * record). Once every part is logged, kv_tx_decide logs so, and the part's
 * writes, made next with kv_put and kv_del up to kv_tx_applied, log
 * nothing of their own. kv_tx_forget drops the part (decided, once every
 * part's decision is logged; or called off). */
int kv_tx_prepare(struct srv_shard *sh, uint64_t txid, unsigned nparts, unsigned part,
                  const sw__rec *writes, size_t n, sw__shard_tx **tx);
void kv_tx_decide(struct srv_shard *sh, sw__shard_tx *tx);
void kv_tx_applied(struct srv_shard *sh);
void kv_tx_forget(struct srv_shard *sh, sw__shard_tx *tx);
/* Holds the log room a unit's end needs, for a unit sh begins later (an
 * EXEC's part, db/shard.h): SW_OK, or SW_EIO refused (as kv_room_take);
 * kv_unit_unreserve gives it back. */
int kv_unit_reserve(struct srv_shard *sh);
void kv_unit_unreserve(struct srv_shard *sh);
/* Holds log room on sh for writes a later request makes (a joint's piece:
 * txn.c), against everything logged meanwhile: SW_OK (also memory-only),
 * or SW_EIO refused (as kv_room_take); kv_release gives it back, just
 * before those writes or when they are called off. */
int kv_hold(struct srv_shard *sh, size_t bytes);
void kv_release(struct srv_shard *sh, size_t bytes);

/* Wall clock in ms, as deadlines are kept. */
int64_t kv_now(void);

/* Removes every key of database db (db < 0: of all) from shard sh, logged.
 * SW_OK, or SW_ENOMEM with only some removed. */
int kv_flush(struct srv_shard *sh, int db);

/* Expired-key sweep for the shard's cron. */
void kv_sweep(struct srv_shard *sh);

/* After the shard's open: counts the replayed keys per database, and has
 * the shard report the keys it expires. */
void kv_attach(struct srv_shard *sh);

/* WATCH (multi.c): a key of sh changed, so the connections watching it
 * see EXEC fail; multi_touch_flush: every watched key of database db
 * (db < 0: all) that exists on sh is about to be flushed. */
void multi_touch(struct srv_shard *sh, uint64_t hash, const void *key, size_t len);
void multi_touch_flush(struct srv_shard *sh, int db);

/* Total bytes of data held by a shard (its table). */
size_t kv_memory(struct srv_shard *sh);

/* INFO keyspace's avg_ttl of database db: the mean time left, in ms, of
 * its keys with a deadline (0 if none), exact rather than Redis's sampled
 * estimate. Every shard's: a world operation's. */
int64_t kv_avg_ttl(struct srv *s, int db, int64_t now);

/* The cron's sample of sh's instantaneous rates, at most one per
 * SRV_RATE_PERIOD_MS; kv_rate is one rate's mean over its samples, per
 * second. The shard's thread (or a world operation's). */
void kv_rates_sample(struct srv_shard *sh);
uint64_t kv_rate(const struct srv_rate *r);

#endif

/* ---- the commands (cmd_*.c) -------------------------------------------------- */

void cmd_ping(struct exec *x);
void cmd_echo(struct exec *x);
void cmd_quit(struct exec *x);
void cmd_hello(struct exec *x);
void cmd_auth(struct exec *x);
void cmd_select(struct exec *x);
/* SELECT's argument a: true and its index in *db; else false, and SELECT's
 * error (not an integer, out of range) into x's reply when x is not NULL. */
bool select_arg(struct exec *x, const sw__resp_arg *a, int *db);
void cmd_client(struct exec *x);
void cmd_command(struct exec *x);
void cmd_config(struct exec *x);
void cmd_info(struct exec *x);
void cmd_dbsize(struct exec *x);
void cmd_flushdb(struct exec *x);
void cmd_flushall(struct exec *x);
void cmd_shutdown(struct exec *x);
void cmd_time(struct exec *x);
void cmd_get(struct exec *x);
void cmd_set(struct exec *x);
void cmd_setnx(struct exec *x);
void cmd_setex(struct exec *x);
void cmd_psetex(struct exec *x);
void cmd_getex(struct exec *x);
void cmd_getdel(struct exec *x);
void cmd_getset(struct exec *x);
void cmd_mget(struct exec *x);
void cmd_mset(struct exec *x);
void cmd_msetnx(struct exec *x);
void cmd_append(struct exec *x);
void cmd_strlen(struct exec *x);
void cmd_incr(struct exec *x);
void cmd_decr(struct exec *x);
void cmd_incrby(struct exec *x);
void cmd_decrby(struct exec *x);
void cmd_incrbyfloat(struct exec *x);
void cmd_setrange(struct exec *x);
void cmd_getrange(struct exec *x);
void cmd_del(struct exec *x);
void cmd_exists(struct exec *x);
void cmd_type(struct exec *x);
void cmd_keys(struct exec *x);
void cmd_scan(struct exec *x);
void cmd_randomkey(struct exec *x);
void cmd_rename(struct exec *x);
void cmd_renamenx(struct exec *x);
void cmd_expire(struct exec *x);
void cmd_pexpire(struct exec *x);
void cmd_expireat(struct exec *x);
void cmd_pexpireat(struct exec *x);
void cmd_ttl(struct exec *x);
void cmd_pttl(struct exec *x);
void cmd_persist(struct exec *x);
void cmd_expiretime(struct exec *x);
void cmd_pexpiretime(struct exec *x);
void cmd_copy(struct exec *x);
void cmd_move(struct exec *x);
void cmd_lcs(struct exec *x);
/* LCS's reply for the values a and b, as x's options ask: across shards,
 * where the two values were read by the parts of a transaction (txn.c). */
void lcs_of(struct exec *x, const char *a, size_t alen, const char *b, size_t blen);
void cmd_acct_create(struct exec *x);
void cmd_multi(struct exec *x);
void cmd_exec(struct exec *x);
void cmd_discard(struct exec *x);
void cmd_watch(struct exec *x);
void cmd_unwatch(struct exec *x);
void cmd_acct_deposit(struct exec *x);
void cmd_acct_withdraw(struct exec *x);
void cmd_acct_transfer(struct exec *x);
void cmd_acct_balance(struct exec *x);
