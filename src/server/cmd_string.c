/* The string commands, with redis-server 7's semantics and error texts. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/cmd.h"

static void hit(struct exec *x, bool found)
{
    if (found)
        atomic_fetch_add_explicit(&x->self->st_hits, 1, memory_order_relaxed);
    else
        atomic_fetch_add_explicit(&x->self->st_misses, 1, memory_order_relaxed);
}

/* Replies the value of k, or a null. */
static void reply_value(struct exec *x, struct kkey *k)
{
    const void *v;
    size_t n;
    int64_t e;
    int rc = kv_get(k, &v, &n, &e);
    hit(x, rc == SW_OK);
    if (rc == SW_OK)
        sw__resp_add_bulk(x->out, v, n);
    else
        sw__resp_add_null(x->out);
}

void cmd_get(struct exec *x)
{
    struct kkey k;
    if (!key_arg(x, 1, &k))
        return;
    reply_value(x, &k);
    kkey_free(&k);
}

/* ---- SET and its family ------------------------------------------------------ */

enum { SET_NX = 1, SET_XX = 2, SET_GET = 4, SET_KEEPTTL = 8, SET_EX = 16 };

/* Turns an expiry argument into an absolute deadline in ms. unit: 1000 for
 * seconds, 1 for ms; absolute: EXAT/PXAT. Replies and returns false if it
 * is not a positive integer or overflows. */
static bool deadline_arg(struct exec *x, const sw__resp_arg *a, int64_t unit, bool absolute,
                         const char *cmd, int64_t *out)
{
    long long v;
    if (!arg_ll(a->ptr, a->len, &v)) {
        reply_notint(x);
        return false;
    }
    int64_t now = absolute ? 0 : kv_now();
    if (v <= 0 || v > LLONG_MAX / unit || v * unit > LLONG_MAX - now) {
        sw__resp_add_errorf(x->out, "ERR invalid expire time in '%s' command", cmd);
        return false;
    }
    *out = v * unit + now;
    return true;
}

/* SET key value [NX|XX] [GET] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL]. */
static bool set_options(struct exec *x, unsigned *flags, int64_t *expire)
{
    const sw__resp_arg *exp_arg = NULL;
    int64_t unit = 1;
    bool absolute = false;
    for (size_t i = 3; i < x->argc; i++) {
        const sw__resp_arg *a = &x->argv[i];
        bool has_next = i + 1 < x->argc;
        if (arg_is(a, "nx") && !(*flags & SET_XX)) {
            *flags |= SET_NX;
        } else if (arg_is(a, "xx") && !(*flags & SET_NX)) {
            *flags |= SET_XX;
        } else if (arg_is(a, "get")) {
            *flags |= SET_GET;
        } else if (arg_is(a, "keepttl") && !exp_arg) {
            *flags |= SET_KEEPTTL;
        } else if ((arg_is(a, "ex") || arg_is(a, "px") || arg_is(a, "exat") || arg_is(a, "pxat")) &&
                   !(*flags & SET_KEEPTTL) && !exp_arg && has_next) {
            unit = (a->ptr[0] | 0x20) == 'e' ? 1000 : 1;
            absolute = a->len == 4;
            exp_arg = &x->argv[++i];
        } else {
            reply_syntax(x);
            return false;
        }
    }
    if (exp_arg) {
        *flags |= SET_EX;
        return deadline_arg(x, exp_arg, unit, absolute, "set", expire);
    }
    return true;
}

/* The heart of SET, SETNX, SETEX, PSETEX, GETSET: returns whether it set. */
static void set_generic(struct exec *x, struct kkey *k, const sw__resp_arg *val, unsigned flags,
                        int64_t expire, bool reply_int)
{
    const void *old;
    size_t olen;
    int64_t oexp;
    bool found = kv_get(k, &old, &olen, &oexp) == SW_OK;
    bool go = !((flags & SET_NX) && found) && !((flags & SET_XX) && !found);
    if ((flags & SET_GET) && go && kv_room_key(k, val->len) != SW_OK) {
        reply_status(x, SW_EIO); /* before the old value goes out */
        return;
    }
    if (flags & SET_GET) {
        if (found)
            sw__resp_add_bulk(x->out, old, olen);
        else
            sw__resp_add_null(x->out);
    }
    int rc = SW_OK;
    if (go) {
        if (flags & SET_KEEPTTL)
            expire = found ? oexp : 0;
        if (expire != 0 && expire <= kv_now()) /* a deadline already past: gone at once */
            rc = found ? kv_del(k) : SW_OK;
        else
            rc = kv_put(k, val->ptr, val->len, expire);
    }
    if (flags & SET_GET)
        return;
    if (rc != SW_OK)
        reply_status(x, rc);
    else if (reply_int)
        sw__resp_add_int(x->out, go);
    else if (go)
        reply_ok(x);
    else
        sw__resp_add_null(x->out);
}

void cmd_set(struct exec *x)
{
    unsigned flags = 0;
    int64_t expire = 0;
    struct kkey k;
    if (!set_options(x, &flags, &expire) || !key_arg(x, 1, &k))
        return;
    set_generic(x, &k, &x->argv[2], flags, expire, false);
    kkey_free(&k);
}

void cmd_setnx(struct exec *x)
{
    struct kkey k;
    if (!key_arg(x, 1, &k))
        return;
    set_generic(x, &k, &x->argv[2], SET_NX, 0, true);
    kkey_free(&k);
}

static void setex_generic(struct exec *x, int64_t unit, const char *name)
{
    int64_t expire;
    struct kkey k;
    if (!deadline_arg(x, &x->argv[2], unit, false, name, &expire) || !key_arg(x, 1, &k))
        return;
    set_generic(x, &k, &x->argv[3], 0, expire, false);
    kkey_free(&k);
}

void cmd_setex(struct exec *x)
{
    setex_generic(x, 1000, "setex");
}

void cmd_psetex(struct exec *x)
{
    setex_generic(x, 1, "psetex");
}

void cmd_getset(struct exec *x)
{
    struct kkey k;
    if (!key_arg(x, 1, &k))
        return;
    set_generic(x, &k, &x->argv[2], SET_GET, 0, false);
    kkey_free(&k);
}

void cmd_getdel(struct exec *x)
{
    struct kkey k;
    if (!key_arg(x, 1, &k))
        return;
    const void *v;
    size_t n;
    int64_t e;
    if (kv_get(&k, &v, &n, &e) != SW_OK) {
        sw__resp_add_null(x->out);
    } else if (kv_room_key(&k, 0) != SW_OK) {
        reply_status(x, SW_EIO); /* a full disk: the key stays, so no value goes out */
    } else {
        sw__resp_add_bulk(x->out, v, n); /* copied before the delete frees it */
        kv_del(&k);
    }
    kkey_free(&k);
}

/* GETEX key [EX s|PX ms|EXAT s|PXAT ms|PERSIST] */
void cmd_getex(struct exec *x)
{
    int64_t expire = -1; /* -1: leave it; 0: persist */
    if (x->argc > 4 || (x->argc == 3 && !arg_is(&x->argv[2], "persist")) ||
        (x->argc == 4 && !(arg_is(&x->argv[2], "ex") || arg_is(&x->argv[2], "px") ||
                           arg_is(&x->argv[2], "exat") || arg_is(&x->argv[2], "pxat")))) {
        reply_syntax(x);
        return;
    }
    if (x->argc == 3)
        expire = 0;
    if (x->argc == 4 && !deadline_arg(x, &x->argv[3], (x->argv[2].ptr[0] | 0x20) == 'e' ? 1000 : 1,
                                      x->argv[2].len == 4, "getex", &expire))
        return;
    struct kkey k;
    if (!key_arg(x, 1, &k))
        return;
    const void *v;
    size_t n;
    int64_t e;
    if (kv_get(&k, &v, &n, &e) != SW_OK) {
        hit(x, false);
        sw__resp_add_null(x->out);
    } else {
        hit(x, true);
        bool change = expire > 0 || (expire == 0 && e != 0);
        if (change && kv_room_key(&k, 0) != SW_OK) {
            reply_status(x, SW_EIO); /* a full disk: the deadline stays as it was */
        } else {
            sw__resp_add_bulk(x->out, v, n);
            if (change)
                kv_expire(&k, expire);
        }
    }
    kkey_free(&k);
}

/* ---- MGET, MSET, MSETNX ------------------------------------------------------- */

static bool mget_one(struct exec *x, void *ctx, size_t i, struct kkey *k, int rc)
{
    (void)ctx;
    (void)i;
    if (rc == SW_OK)
        reply_value(x, k);
    else
        sw__resp_add_null(x->out);
    return true;
}

void cmd_mget(struct exec *x)
{
    sw__resp_add_array(x->out, x->argc - 1);
    kv_each(x, 1, 1, mget_one, NULL);
}

static bool mset_one(struct exec *x, void *ctx, size_t i, struct kkey *k, int rc)
{
    if (rc == SW_OK)
        rc = kv_put(k, x->argv[i + 1].ptr, x->argv[i + 1].len, 0);
    *(int *)ctx = rc;
    return rc == SW_OK;
}

static int mset_all(struct exec *x)
{
    int rc = kv_room_args(x, 1, 2); /* a full disk refuses all, never some */
    if (rc == SW_OK)
        kv_each(x, 1, 2, mset_one, &rc);
    return rc;
}

void cmd_mset(struct exec *x)
{
    if (x->argc % 2 == 0) {
        reply_err(x, "ERR wrong number of arguments for 'mset' command");
        return;
    }
    int rc = mset_all(x);
    if (rc == SW_OK)
        reply_ok(x);
    else
        reply_status(x, rc);
}

void cmd_msetnx(struct exec *x)
{
    if (x->argc % 2 == 0) {
        reply_err(x, "ERR wrong number of arguments for 'msetnx' command");
        return;
    }
    for (size_t i = 1; i < x->argc; i += 2) {
        struct kkey k;
        const void *v;
        size_t n;
        int64_t e;
        if (kkey_init(x, &k, i) != SW_OK) {
            reply_status(x, SW_ENOMEM);
            return;
        }
        bool found = kv_get(&k, &v, &n, &e) == SW_OK;
        kkey_free(&k);
        if (found) {
            sw__resp_add_int(x->out, 0);
            return;
        }
    }
    int rc = mset_all(x);
    if (rc == SW_OK)
        sw__resp_add_int(x->out, 1);
    else
        reply_status(x, rc);
}

/* ---- APPEND, STRLEN, SETRANGE, GETRANGE ------------------------------------------ */

static bool too_big(struct exec *x, size_t len)
{
    if (len <= x->srv->cfg.max_bulk)
        return false;
    reply_err(x, "ERR string exceeds maximum allowed size (proto-max-bulk-len)");
    return true;
}

void cmd_append(struct exec *x)
{
    struct kkey k;
    if (!key_arg(x, 1, &k))
        return;
    const void *v = "";
    size_t n = 0;
    int64_t e = 0;
    kv_get(&k, &v, &n, &e);
    const sw__resp_arg *add = &x->argv[2];
    if (!too_big(x, n + add->len)) {
        char *nv = malloc(n + add->len + 1);
        int rc = SW_ENOMEM;
        if (nv) {
            memcpy(nv, v, n);
            memcpy(nv + n, add->ptr, add->len);
            rc = kv_put(&k, nv, n + add->len, e);
            free(nv);
        }
        if (rc == SW_OK)
            sw__resp_add_int(x->out, (int64_t)(n + add->len));
        else
            reply_status(x, rc);
    }
    kkey_free(&k);
}

void cmd_strlen(struct exec *x)
{
    struct kkey k;
    if (!key_arg(x, 1, &k))
        return;
    const void *v;
    size_t n = 0;
    int64_t e;
    if (kv_get(&k, &v, &n, &e) != SW_OK)
        n = 0;
    sw__resp_add_int(x->out, (int64_t)n);
    kkey_free(&k);
}

void cmd_setrange(struct exec *x)
{
    long long off;
    if (!arg_ll(x->argv[2].ptr, x->argv[2].len, &off)) {
        reply_notint(x);
        return;
    }
    if (off < 0) {
        reply_err(x, "ERR offset is out of range");
        return;
    }
    struct kkey k;
    if (!key_arg(x, 1, &k))
        return;
    const void *v = "";
    size_t n = 0;
    int64_t e = 0;
    bool found = kv_get(&k, &v, &n, &e) == SW_OK;
    const sw__resp_arg *val = &x->argv[3];
    if (val->len == 0) {
        sw__resp_add_int(x->out, (int64_t)(found ? n : 0));
    } else if (!too_big(x, (size_t)off + val->len)) {
        size_t len = (size_t)off + val->len > n ? (size_t)off + val->len : n;
        char *nv = calloc(1, len);
        int rc = SW_ENOMEM;
        if (nv) {
            memcpy(nv, v, n);
            memcpy(nv + off, val->ptr, val->len);
            rc = kv_put(&k, nv, len, e);
            free(nv);
        }
        if (rc == SW_OK)
            sw__resp_add_int(x->out, (int64_t)len);
        else
            reply_status(x, rc);
    }
    kkey_free(&k);
}

void cmd_getrange(struct exec *x)
{
    long long start, end;
    if (!arg_ll(x->argv[2].ptr, x->argv[2].len, &start) ||
        !arg_ll(x->argv[3].ptr, x->argv[3].len, &end)) {
        reply_notint(x);
        return;
    }
    struct kkey k;
    if (!key_arg(x, 1, &k))
        return;
    const void *v = "";
    size_t n = 0;
    int64_t e;
    if (kv_get(&k, &v, &n, &e) != SW_OK)
        n = 0;
    long long len = (long long)n;
    if (start < 0 && end < 0 && start > end) {
        sw__resp_add_bulk(x->out, "", 0);
    } else {
        if (start < 0)
            start += len;
        if (end < 0)
            end += len;
        if (start < 0)
            start = 0;
        if (end < 0)
            end = 0;
        if (end >= len)
            end = len - 1;
        if (start > end || len == 0)
            sw__resp_add_bulk(x->out, "", 0);
        else
            sw__resp_add_bulk(x->out, (const char *)v + start, (size_t)(end - start + 1));
    }
    kkey_free(&k);
}

/* ---- INCR and its family ------------------------------------------------------ */

static void incr_by(struct exec *x, long long by)
{
    struct kkey k;
    if (!key_arg(x, 1, &k))
        return;
    const void *v;
    size_t n;
    int64_t e = 0;
    long long cur = 0;
    if (kv_get(&k, &v, &n, &e) == SW_OK && !arg_ll(v, n, &cur)) {
        reply_notint(x);
    } else if ((by < 0 && cur < LLONG_MIN - by) || (by > 0 && cur > LLONG_MAX - by)) {
        reply_err(x, "ERR increment or decrement would overflow");
    } else {
        char buf[32];
        int len = snprintf(buf, sizeof buf, "%lld", cur + by);
        int rc = kv_put(&k, buf, (size_t)len, e);
        if (rc == SW_OK)
            sw__resp_add_int(x->out, cur + by);
        else
            reply_status(x, rc);
    }
    kkey_free(&k);
}

void cmd_incr(struct exec *x)
{
    incr_by(x, 1);
}

void cmd_decr(struct exec *x)
{
    incr_by(x, -1);
}

void cmd_incrby(struct exec *x)
{
    long long by;
    if (!arg_ll(x->argv[2].ptr, x->argv[2].len, &by))
        reply_notint(x);
    else
        incr_by(x, by);
}

void cmd_decrby(struct exec *x)
{
    long long by;
    if (!arg_ll(x->argv[2].ptr, x->argv[2].len, &by))
        reply_notint(x);
    else if (by == LLONG_MIN)
        reply_err(x, "ERR decrement would overflow");
    else
        incr_by(x, -by);
}

void cmd_incrbyfloat(struct exec *x)
{
    long double by, cur = 0;
    if (!arg_ld(x->argv[2].ptr, x->argv[2].len, &by)) {
        reply_err(x, "ERR value is not a valid float");
        return;
    }
    struct kkey k;
    if (!key_arg(x, 1, &k))
        return;
    const void *v;
    size_t n;
    int64_t e = 0;
    char buf[5200];
    size_t len;
    if (kv_get(&k, &v, &n, &e) == SW_OK && !arg_ld(v, n, &cur)) {
        reply_err(x, "ERR value is not a valid float");
    } else if (isnan(cur + by) || isinf(cur + by)) {
        reply_err(x, "ERR increment would produce NaN or Infinity");
    } else if ((len = fmt_ld(buf, sizeof buf, cur + by)) == 0) {
        reply_err(x, "ERR value is not a valid float");
    } else {
        int rc = kv_put(&k, buf, len, e);
        if (rc == SW_OK)
            sw__resp_add_bulk(x->out, buf, len);
        else
            reply_status(x, rc);
    }
    kkey_free(&k);
}
