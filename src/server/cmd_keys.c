/* The keyspace commands, with redis-server 7's semantics and error texts. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/sync.h"
#include "server/cmd.h"

/* Whether k is live; *expire gets its deadline. */
static bool live(struct kkey *k, int64_t *expire)
{
    const void *v;
    size_t n;
    return kv_get(k, &v, &n, expire) == SW_OK;
}

static bool del_one(struct exec *x, void *ctx, size_t i, struct kkey *k, int rc)
{
    (void)x;
    (void)i;
    *(int64_t *)ctx += rc == SW_OK && kv_del(k) == SW_OK;
    return true;
}

void cmd_del(struct exec *x)
{
    int64_t n = 0;
    int rc = kv_room_args(x, 1, 1); /* a full disk refuses all, never some */
    if (rc != SW_OK) {
        reply_status(x, rc);
        return;
    }
    kv_each(x, 1, 1, del_one, &n);
    sw__resp_add_int(x->out, n);
}

static bool exists_one(struct exec *x, void *ctx, size_t i, struct kkey *k, int rc)
{
    (void)x;
    (void)i;
    int64_t e;
    *(int64_t *)ctx += rc == SW_OK && live(k, &e);
    return true;
}

void cmd_exists(struct exec *x)
{
    int64_t n = 0;
    kv_each(x, 1, 1, exists_one, &n);
    sw__resp_add_int(x->out, n);
}

void cmd_type(struct exec *x)
{
    struct kkey k;
    int64_t e;
    if (!key_arg(x, 1, &k))
        return;
    sw__resp_add_simple(x->out, live(&k, &e) ? "string" : "none");
    kkey_free(&k);
}

/* ---- expiry --------------------------------------------------------------------- */

enum { EXP_NX = 1, EXP_XX = 2, EXP_GT = 4, EXP_LT = 8 };

static bool expire_flags(struct exec *x, unsigned *f)
{
    for (size_t i = 3; i < x->argc; i++) {
        const sw__resp_arg *a = &x->argv[i];
        if (arg_is(a, "nx"))
            *f |= EXP_NX;
        else if (arg_is(a, "xx"))
            *f |= EXP_XX;
        else if (arg_is(a, "gt"))
            *f |= EXP_GT;
        else if (arg_is(a, "lt"))
            *f |= EXP_LT;
        else {
            sw__resp_add_errorf(x->out, "ERR Unsupported option %.*s",
                                (int)(a->len > 64 ? 64 : a->len), a->ptr);
            return false;
        }
    }
    if ((*f & EXP_NX) && (*f & (EXP_XX | EXP_GT | EXP_LT))) {
        reply_err(x, "ERR NX and XX, GT or LT options at the same time are not compatible");
        return false;
    }
    if ((*f & EXP_GT) && (*f & EXP_LT)) {
        reply_err(x, "ERR GT and LT options at the same time are not compatible");
        return false;
    }
    return true;
}

static void expire_generic(struct exec *x, int64_t unit, bool absolute, const char *name)
{
    unsigned f = 0;
    long long when;
    if (!expire_flags(x, &f))
        return;
    if (!arg_ll(x->argv[2].ptr, x->argv[2].len, &when)) {
        reply_notint(x);
        return;
    }
    int64_t base = absolute ? 0 : kv_now();
    if (when > LLONG_MAX / unit || when < LLONG_MIN / unit || when * unit > LLONG_MAX - base) {
        sw__resp_add_errorf(x->out, "ERR invalid expire time in '%s' command", name);
        return;
    }
    when = when * unit + base;
    struct kkey k;
    int64_t cur;
    if (!key_arg(x, 1, &k))
        return;
    bool ok = live(&k, &cur);
    if (ok && (f & EXP_NX) && cur != 0)
        ok = false;
    if (ok && (f & EXP_XX) && cur == 0)
        ok = false;
    if (ok && (f & EXP_GT) && (cur == 0 || when <= cur))
        ok = false;
    if (ok && (f & EXP_LT) && cur != 0 && when >= cur)
        ok = false;
    int rc = SW_OK;
    if (ok)
        rc = when <= kv_now() ? kv_del(&k) : kv_expire(&k, when);
    if (rc != SW_OK && rc != SW_ENOTFOUND)
        reply_status(x, rc);
    else
        sw__resp_add_int(x->out, ok);
    kkey_free(&k);
}

void cmd_expire(struct exec *x)
{
    expire_generic(x, 1000, false, "expire");
}

void cmd_pexpire(struct exec *x)
{
    expire_generic(x, 1, false, "pexpire");
}

void cmd_expireat(struct exec *x)
{
    expire_generic(x, 1000, true, "expireat");
}

void cmd_pexpireat(struct exec *x)
{
    expire_generic(x, 1, true, "pexpireat");
}

/* mode: 0 TTL, 1 PTTL, 2 EXPIRETIME, 3 PEXPIRETIME */
static void ttl_generic(struct exec *x, int mode)
{
    struct kkey k;
    int64_t e;
    if (!key_arg(x, 1, &k))
        return;
    if (!live(&k, &e)) {
        sw__resp_add_int(x->out, -2);
    } else if (e == 0) {
        sw__resp_add_int(x->out, -1);
    } else if (mode >= 2) {
        sw__resp_add_int(x->out, mode == 2 ? e / 1000 : e);
    } else {
        int64_t left = e - kv_now();
        if (left < 0)
            left = 0;
        sw__resp_add_int(x->out, mode == 0 ? (left + 500) / 1000 : left);
    }
    kkey_free(&k);
}

void cmd_ttl(struct exec *x)
{
    ttl_generic(x, 0);
}

void cmd_pttl(struct exec *x)
{
    ttl_generic(x, 1);
}

void cmd_expiretime(struct exec *x)
{
    ttl_generic(x, 2);
}

void cmd_pexpiretime(struct exec *x)
{
    ttl_generic(x, 3);
}

void cmd_persist(struct exec *x)
{
    struct kkey k;
    int64_t e;
    if (!key_arg(x, 1, &k))
        return;
    bool had = live(&k, &e) && e != 0;
    int rc = had ? kv_expire(&k, 0) : SW_OK;
    if (rc != SW_OK)
        reply_status(x, rc);
    else
        sw__resp_add_int(x->out, had);
    kkey_free(&k);
}

/* ---- RENAME, COPY, MOVE ------------------------------------------------------------- */

/* src from argument 1 in x's database, dst from argument di in database
 * ddb; on failure replies and returns false with neither to free. */
static bool key_pair(struct exec *x, size_t di, int ddb, struct kkey *src, struct kkey *dst)
{
    if (!key_arg(x, 1, src))
        return false;
    struct exec xd = *x;
    xd.db = ddb;
    if (!key_arg(&xd, di, dst)) {
        kkey_free(src);
        return false;
    }
    return true;
}

/* Copies src's value and deadline to dst (replacing it). */
static int copy_key(struct kkey *src, struct kkey *dst)
{
    const void *v;
    size_t n;
    int64_t e;
    int rc = kv_get(src, &v, &n, &e);
    return rc == SW_OK ? kv_put(dst, v, n, e) : rc;
}

/* Room for copying src's value to dst and, with del_src, for deleting
 * src: both or neither are logged (kv_room_take). */
static int room_copy(struct kkey *src, struct kkey *dst, bool del_src)
{
    const void *v;
    size_t n;
    int64_t e;
    kv_get(src, &v, &n, &e);
    kv_room_add(dst, n);
    if (del_src)
        kv_room_add(src, 0);
    return kv_room_take(src->sh->srv);
}

static void rename_generic(struct exec *x, bool nx)
{
    struct kkey src, dst;
    int64_t e;
    if (!key_pair(x, 2, x->db, &src, &dst))
        return;
    bool same = src.len == dst.len && memcmp(src.p, dst.p, src.len) == 0;
    int rc = SW_OK;
    if (!live(&src, &e))
        reply_err(x, "ERR no such key");
    else if (same || (nx && live(&dst, &e)))
        nx ? sw__resp_add_int(x->out, 0) : reply_ok(x);
    else if ((rc = room_copy(&src, &dst, true)) != SW_OK || (rc = copy_key(&src, &dst)) != SW_OK ||
             (rc = kv_del(&src)) != SW_OK)
        reply_status(x, rc);
    else
        nx ? sw__resp_add_int(x->out, 1) : reply_ok(x);
    kkey_free(&src);
    kkey_free(&dst);
}

void cmd_rename(struct exec *x)
{
    rename_generic(x, false);
}

void cmd_renamenx(struct exec *x)
{
    rename_generic(x, true);
}

/* A database index argument: NULL, or the error it gets. */
static const char *db_arg(const sw__resp_arg *a, int *db)
{
    long long v;
    if (!arg_ll(a->ptr, a->len, &v))
        return "ERR value is not an integer or out of range";
    if (v < 0 || v >= SRV_DBS)
        return "ERR DB index is out of range";
    *db = (int)v;
    return NULL;
}

const char *cmd_dest_db(size_t argc, const sw__resp_arg *argv, int db, int *dest_db, bool *replace)
{
    *dest_db = db;
    *replace = false;
    if (arg_is(&argv[0], "move")) {
        const char *err = db_arg(&argv[2], dest_db);
        if (!err && *dest_db == db)
            err = "ERR source and destination objects are the same";
        return err;
    }
    for (size_t i = 3; i < argc; i++) { /* COPY src dst [DB n] [REPLACE] */
        if (arg_is(&argv[i], "replace")) {
            *replace = true;
        } else if (arg_is(&argv[i], "db") && i + 1 < argc) {
            const char *err = db_arg(&argv[++i], dest_db);
            if (err)
                return err;
        } else {
            return "ERR syntax error";
        }
    }
    return NULL;
}

/* cmd_dest_db for x; on failure replies its error and returns false. */
static bool dest_args(struct exec *x, int *db, bool *replace)
{
    const char *err = cmd_dest_db(x->argc, x->argv, x->db, db, replace);
    if (err)
        reply_err(x, err);
    return !err;
}

/* COPY source destination [DB destination-db] [REPLACE]. */
void cmd_copy(struct exec *x)
{
    int db;
    bool replace;
    if (!dest_args(x, &db, &replace))
        return;
    struct kkey src, dst;
    if (!key_pair(x, 2, db, &src, &dst))
        return;
    int64_t e;
    int rc = SW_OK;
    if (src.len == dst.len && memcmp(src.p, dst.p, src.len) == 0)
        reply_err(x, "ERR source and destination objects are the same");
    else if (!live(&src, &e) || (!replace && live(&dst, &e)))
        sw__resp_add_int(x->out, 0);
    else if ((rc = copy_key(&src, &dst)) != SW_OK)
        reply_status(x, rc);
    else
        sw__resp_add_int(x->out, 1);
    kkey_free(&src);
    kkey_free(&dst);
}

/* MOVE key db. */
void cmd_move(struct exec *x)
{
    int db;
    bool replace;
    if (!dest_args(x, &db, &replace))
        return;
    struct kkey src, dst;
    if (!key_pair(x, 1, db, &src, &dst))
        return;
    int64_t e;
    int rc = SW_OK;
    if (!live(&src, &e) || live(&dst, &e))
        sw__resp_add_int(x->out, 0);
    else if ((rc = room_copy(&src, &dst, true)) != SW_OK || (rc = copy_key(&src, &dst)) != SW_OK ||
             (rc = kv_del(&src)) != SW_OK)
        reply_status(x, rc);
    else
        sw__resp_add_int(x->out, 1);
    kkey_free(&src);
    kkey_free(&dst);
}

/* ---- KEYS, SCAN, RANDOMKEY: world operations over every shard ------------------------- */

struct keylist {
    sw__resp_arg *v;
    size_t n, cap;
};

static bool keylist_add(struct keylist *l, const char *p, size_t len)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        sw__resp_arg *v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return false;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = (sw__resp_arg){p, len};
    return true;
}

static void reply_keys(struct exec *x, const struct keylist *l)
{
    sw__resp_add_array(x->out, l->n);
    for (size_t i = 0; i < l->n; i++)
        sw__resp_add_bulk(x->out, l->v[i].ptr, l->v[i].len);
}

/* Whether a scanned item is a live key of db matching pat (NULL: any). */
static bool wanted(const sw__shard_item *it, int db, const sw__resp_arg *pat, int64_t now)
{
    const char *k = it->key;
    if (k[0] != (char)db || (it->expire_ms != 0 && it->expire_ms <= now))
        return false;
    return !pat || glob_match(pat->ptr, pat->len, k + 1, it->klen - 1, false);
}

void cmd_keys(struct exec *x)
{
    struct keylist l = {0};
    int64_t now = kv_now();
    bool ok = true;
    sw__shard_item *items = NULL;
    size_t cap = 0, n = 0;
    for (unsigned s = 0; ok && s < x->srv->n; s++) {
        uint64_t cur = 0;
        do {
            ok = sw__shard_scan(x->srv->shards[s].core, &cur, &items, &cap, &n) == SW_OK;
            for (size_t i = 0; ok && i < n; i++)
                if (wanted(&items[i], x->db, &x->argv[1], now))
                    ok = keylist_add(&l, (const char *)items[i].key + 1, items[i].klen - 1);
        } while (ok && cur != 0);
    }
    if (ok)
        reply_keys(x, &l);
    else
        reply_status(x, SW_ENOMEM);
    free(items);
    free(l.v);
}

#define SCAN_SHARD_BITS 12 /* SW__MAX_SHARDS is 4096 */

void cmd_scan(struct exec *x)
{
    unsigned long long cursor;
    long long count = 10;
    const sw__resp_arg *pat = NULL;
    bool only_none = false;
    if (!arg_ull(x->argv[1].ptr, x->argv[1].len, &cursor)) {
        reply_err(x, "ERR invalid cursor");
        return;
    }
    for (size_t i = 2; i < x->argc; i += 2) {
        if (i + 1 >= x->argc) {
            reply_syntax(x);
            return;
        }
        if (arg_is(&x->argv[i], "match")) {
            pat = &x->argv[i + 1];
            if (pat->len == 1 && pat->ptr[0] == '*')
                pat = NULL;
        } else if (arg_is(&x->argv[i], "count")) {
            if (!arg_ll(x->argv[i + 1].ptr, x->argv[i + 1].len, &count)) {
                reply_notint(x);
                return;
            }
            if (count < 1) {
                reply_syntax(x);
                return;
            }
        } else if (arg_is(&x->argv[i], "type")) {
            only_none = !arg_is(&x->argv[i + 1], "string");
        } else {
            reply_syntax(x);
            return;
        }
    }
    unsigned shard = (unsigned)(cursor & ((1u << SCAN_SHARD_BITS) - 1));
    uint64_t tc = cursor >> SCAN_SHARD_BITS;
    if (tc > UINT32_MAX) /* not a cursor SCAN gave: the scan is over */
        shard = x->srv->n;
    struct keylist l = {0};
    int64_t now = kv_now();
    sw__shard_item *items = NULL;
    size_t cap = 0, n = 0;
    long long visited = 0;
    bool ok = true;
    while (ok && shard < x->srv->n && visited < count) {
        ok = sw__shard_scan(x->srv->shards[shard].core, &tc, &items, &cap, &n) == SW_OK;
        for (size_t i = 0; ok && i < n; i++) {
            visited++;
            if (!only_none && wanted(&items[i], x->db, pat, now))
                ok = keylist_add(&l, (const char *)items[i].key + 1, items[i].klen - 1);
        }
        if (tc == 0)
            shard++;
    }
    if (!ok) {
        reply_status(x, SW_ENOMEM);
    } else {
        char next[32];
        unsigned long long nc =
            shard >= x->srv->n ? 0 : ((unsigned long long)tc << SCAN_SHARD_BITS) | shard;
        snprintf(next, sizeof next, "%llu", nc);
        sw__resp_add_array(x->out, 2);
        sw__resp_add_bulk_cstr(x->out, next);
        reply_keys(x, &l);
    }
    free(items);
    free(l.v);
}

struct live_key {
    int db;
    int64_t now;
};

static bool live_in_db(void *ctx, const sw__shard_item *it)
{
    const struct live_key *w = ctx;
    return wanted(it, w->db, NULL, w->now);
}

/* Picks a shard in proportion to its keys of db, then a random slot of its
 * table, and the first live key of db from there on, going round once. */
void cmd_randomkey(struct exec *x)
{
    size_t total = 0;
    for (unsigned s = 0; s < x->srv->n; s++)
        total += x->srv->shards[s].keys[x->db];
    size_t pick = total ? (size_t)(sw__rand64() % total) : 0;
    int64_t now = kv_now();
    for (unsigned s = 0; total && s < x->srv->n; s++) {
        struct srv_shard *sh = &x->srv->shards[s];
        if (pick >= sh->keys[x->db]) {
            pick -= sh->keys[x->db];
            continue;
        }
        struct live_key want = {x->db, now};
        sw__shard_item it;
        if (sw__shard_random(sh->core, live_in_db, &want, &it) == SW_OK) {
            sw__resp_add_bulk(x->out, (const char *)it.key + 1, it.klen - 1);
            return;
        }
        break;
    }
    sw__resp_add_null(x->out);
}
