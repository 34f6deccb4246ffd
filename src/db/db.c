/* The Db: a sharded map of byte strings, each shard owned by one owner.
 *
 * A key's 64-bit xxHash (XXH3) picks its shard with the high 32 bits and its
 * place in the shard's table (table.h) with the low bits. Every operation is
 * one sw_owner_call to the key's shard, with the request, and the buffer the
 * answer is copied into, on the caller's stack: the owner writes a fetched
 * value straight into the caller's buffer, and a reply can only ever reach
 * the thread that asked (the Go pattern's shared reply channel cannot
 * promise that). Shards serve every queued request per wake-up.
 *
 * Built on the public owner API only, as a user would build their own
 * goroutine-safe object (see docs/owners.md). Durability (the log, group
 * commit through the owner's batch_end hook, compaction) is in db_log.c.
 */
#define _GNU_SOURCE
#include "steward/db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/sync.h"
#include "log/datadir.h"
#include "db/db_int.h"
#include "base/base.h"

struct db_req {
    uint64_t hash;
    const void *key;
    size_t klen;
    const void *val; /* store: the value */
    void *out;       /* fetch: the caller's buffer */
    size_t len;      /* store: vlen; fetch: cap in, full length out */
    int64_t expire;  /* store, expire: the deadline in; deadline: out */
    int rc;
    sw__journal_waiter wait; /* a durable write waiting for its batch's commit */
};

static void store_fn(void *state, void *arg)
{
    struct db_req *r = arg;
    r->rc = sw__shard_put(state, r->hash, r->key, r->klen, r->val, r->len, r->expire, NULL,
                          &r->wait, &r->rc);
}

static void delete_fn(void *state, void *arg)
{
    struct db_req *r = arg;
    r->rc = sw__shard_delete(state, r->hash, r->key, r->klen, NULL, &r->wait, &r->rc);
}

static void expire_fn(void *state, void *arg)
{
    struct db_req *r = arg;
    r->rc =
        sw__shard_expire(state, r->hash, r->key, r->klen, r->expire, NULL, NULL, &r->wait, &r->rc);
}

static void fetch_fn(void *state, void *arg)
{
    struct db_req *r = arg;
    const void *val;
    size_t vlen;
    r->rc = sw__shard_get(state, r->hash, r->key, r->klen, &val, &vlen, &r->expire);
    if (r->rc != SW_OK)
        return;
    if (r->len)
        memcpy(r->out, val, vlen < r->len ? vlen : r->len);
    r->len = vlen;
}

/* Small requests. A memory-only Db sends a store, fetch or delete on a
 * short key inside the owner call's message (sw_owner_call_inline), with
 * the value when it fits beside the key, and a fetched value that fits
 * comes back the same way: the shard's thread then touches no memory of
 * the caller's but that one cache line, where the pointer path costs the
 * request's line and the key's and value's lines crossing cores as well.
 *
 * data holds the key, then (a store's) value: SMALL_DATA bytes in all. A
 * value that does not fit, or a fetch into a buffer larger than
 * SMALL_DATA, takes a pointer instead (SMALL_PTR): the pointer's bytes open
 * data and the key follows, so the key then has SMALL_DATA - 8 bytes. The
 * shard hashes the key again (a few ns) rather than carry the hash. A
 * durable Db keeps the pointer path: its journal waits on the request, and
 * an fsync dwarfs the saving. */
#define SMALL_DATA 32
#define SMALL_PTR 1u        /* data opens with a pointer: the value, or the buffer */
#define SMALL_VAL_INLINE 2u /* fetch, out: the value is in data */
#define SMALL_RETRY 1       /* fetch: the value's length does not fit len */

/* The longest value the small path carries the length of: len's range,
 * lowered only by tests (sw__db_small_len_max). Relaxed: it orders nothing. */
static _Atomic uint32_t small_len_max = UINT32_MAX;

void sw__db_small_len_max(uint32_t n)
{
    atomic_store_explicit(&small_len_max, n, memory_order_relaxed);
}

static bool small_len_fits(size_t len)
{
    return len <= atomic_load_explicit(&small_len_max, memory_order_relaxed);
}

struct db_small {
    uint32_t len; /* store: vlen; fetch: cap in, the value's full length out */
    uint8_t klen;
    uint8_t flags;
    int16_t rc; /* out */
    unsigned char data[SMALL_DATA];
};
_Static_assert(sizeof(struct db_small) <= SW_OWNER_INLINE_MAX, "a small request is inline");

static unsigned char *small_key(struct db_small *r)
{
    return r->data + (r->flags & SMALL_PTR ? sizeof(void *) : 0);
}

static void *small_ptr(const struct db_small *r)
{
    void *p;
    memcpy(&p, r->data, sizeof p);
    return p;
}

/* Starts a request on key, with ptr first unless it is NULL; false if the
 * key does not fit. */
static bool small_init(struct db_small *r, const void *key, size_t klen, const void *ptr)
{
    size_t at = ptr ? sizeof ptr : 0;
    if (klen > SMALL_DATA - at)
        return false;
    *r = (struct db_small){.klen = (uint8_t)klen, .flags = ptr ? SMALL_PTR : 0};
    if (ptr)
        memcpy(r->data, &ptr, sizeof ptr);
    if (klen)
        memcpy(r->data + at, key, klen);
    return true;
}

static void small_store_fn(void *state, void *arg)
{
    struct db_small *r = arg;
    const unsigned char *key = small_key(r);
    const void *val = r->flags & SMALL_PTR ? small_ptr(r) : key + r->klen;
    r->rc = (int16_t)sw__shard_put(state, sw__hash(key, r->klen), key, r->klen, val, r->len, 0,
                                   NULL, NULL, NULL);
}

static void small_fetch_fn(void *state, void *arg)
{
    struct db_small *r = arg;
    const unsigned char *key = small_key(r);
    const void *val;
    size_t vlen;
    int64_t expire;
    int rc = sw__shard_get(state, sw__hash(key, r->klen), key, r->klen, &val, &vlen, &expire);
    r->rc = (int16_t)rc;
    if (rc != SW_OK)
        return;
    if (!small_len_fits(vlen)) { /* over 4 GiB: the caller asks again, by pointer */
        r->rc = SMALL_RETRY;
        return;
    }
    size_t n = vlen < r->len ? vlen : r->len;
    if (n <= SMALL_DATA) {
        memcpy(r->data, val, n); /* over the key (and pointer): done with them */
        r->flags = SMALL_VAL_INLINE;
    } else {
        memcpy(small_ptr(r), val, n); /* n > SMALL_DATA: the caller sent its buffer */
        r->flags = 0;
    }
    r->len = (uint32_t)vlen;
}

static void small_delete_fn(void *state, void *arg)
{
    struct db_small *r = arg;
    const unsigned char *key = small_key(r);
    r->rc =
        (int16_t)sw__shard_delete(state, sw__hash(key, r->klen), key, r->klen, NULL, NULL, NULL);
}

/* The owner of the shard that keys of this hash live in. */
static sw_owner *route(const sw_db *db, uint64_t hash)
{
    return db->route[sw__shard_of(hash, db->n)];
}

/* Sends r to the shard of key (which r holds too) and returns the owner's
 * answer. */
static int small_call(sw_db *db, sw_owner_fn fn, struct db_small *r, const void *key)
{
    int rc = sw_owner_call_inline(route(db, sw__hash(key ? key : "", r->klen)), fn, r, sizeof *r);
    return rc == SW_OK ? r->rc : rc;
}

/* Active expiry: each shard is asked ten times a second to sweep the next
 * few thousand keys (sw__shard_sweep), so keys nobody reads again do not
 * stay in memory. */
#define SWEEP_PERIOD_NS 100000000

static void sweep_fn(void *state, void *arg)
{
    (void)arg;
    sw__shard_sweep(state);
}

/* The sweeper's tick: asks every shard for a sweep. */
static void sweep_all(void *ctx)
{
    sw_db *db = ctx;
    for (unsigned i = 0; i < db->n; i++)
        sw_owner_post(db->shards[i].owner, sweep_fn, NULL);
}

static void count_fn(void *state, void *arg)
{
    *(size_t *)arg += sw__shard_count(state);
}

/* Sends r to the shard of its key and returns the owner's answer. */
static int shard_call(sw_db *db, sw_owner_fn fn, struct db_req *r)
{
    static const char empty[1];
    if (!r->key) /* klen is 0: give the table a valid pointer all the same */
        r->key = empty;
    if (!r->val)
        r->val = empty;
    r->hash = sw__hash(r->key, r->klen);
    int rc = sw_owner_call(route(db, r->hash), fn, r);
    return rc == SW_OK ? r->rc : rc;
}

/* The owner's batch_end: group commit (shard.h). A failed commit has
 * already answered its batch's writes SW_EIO through their waiters. */
static void batch_end(void *state)
{
    sw__shard_commit(state);
}

/* Opens shard i: its table, its log (replayed), then its owner. */
static int shard_open(sw_db *db, unsigned i, const sw_db_options *opts, char *err, size_t errlen)
{
    struct sw__shard *s = &db->shards[i];
    int rc = sw__shard_init(s, i, db->dir, "db", opts ? opts->fsync : SW_FSYNC_EVERYSEC, NULL, err,
                            errlen);
    if (rc == SW_OK) {
        sw_owner_options oo = {.batch_end = sw__shard_durable(s) ? batch_end : NULL};
        rc = sw_owner_start_ex(&s->owner, s, &oo);
    }
    if (rc != SW_OK)
        sw__shard_fini(s);
    return rc;
}

static int db_open(sw_db *db, const sw_db_options *opts, char *err, size_t errlen)
{
    unsigned dflt = sw__default_shards();
    unsigned n = opts ? opts->shards : 0;
    if (sw_owner_pool_size() == 0)
        return SW_EIO;
    int rc = sw__check_shards_fsync(n, opts ? (int)opts->fsync : SW_FSYNC_EVERYSEC, err, errlen);
    if (rc != SW_OK)
        return rc;
    if (opts && opts->dir) {
        rc = sw__datadir_open(opts->dir, "db", &n, dflt, err, errlen);
        if (rc != SW_OK)
            return rc;
        db->dir = strdup(opts->dir);
        if (!db->dir)
            return SW_ENOMEM;
    }
    if (n == 0)
        n = dflt;
    db->shards = calloc(n, sizeof *db->shards);
    db->route = sw__alloc_lines(n * sizeof *db->route);
    if (!db->shards || !db->route)
        return SW_ENOMEM;
    for (; db->n < n; db->n++) {
        rc = shard_open(db, db->n, opts, err, errlen);
        if (rc != SW_OK)
            return rc;
        db->route[db->n] = db->shards[db->n].owner;
    }
    rc = sw__db_syncer_start(db, opts ? opts->fsync : SW_FSYNC_EVERYSEC);
    return rc == SW_OK ? sw__ticker_start(&db->sweeper, SWEEP_PERIOD_NS, sweep_all, db) : rc;
}

int sw_db_open(sw_db **out, const sw_db_options *opts)
{
    if (!out)
        return SW_EINVAL;
    *out = NULL;
    sw_db *db = calloc(1, sizeof *db);
    if (!db)
        return SW_ENOMEM;
    char err[512] = "";
    int rc = db_open(db, opts, err, sizeof err);
    if (rc != SW_OK) {
        if (err[0])
            sw__logmsg(SW_LOG_ERROR, "sw_db_open: %s", err);
        sw_db_close(db);
        return rc;
    }
    *out = db;
    return SW_OK;
}

int sw_db_close(sw_db *db)
{
    if (!db)
        return SW_EINVAL;
    sw__ticker_stop(&db->sweeper); /* it posts to the owners: first */
    for (unsigned i = 0; i < db->n; i++)
        sw_owner_free(db->shards[i].owner); /* runs what is queued, then stops */
    sw__syncer_stop(&db->syncer);
    int rc = SW_OK;
    for (unsigned i = 0; i < db->n; i++)
        if (sw__shard_fini(&db->shards[i]) != SW_OK)
            rc = SW_EIO;
    free(db->shards);
    free(db->route);
    free(db->dir);
    free(db);
    return rc;
}

int sw_db_store_ex(sw_db *db, const void *key, size_t klen, const void *val, size_t vlen,
                   int64_t expire_at_ms)
{
    if (!db || (!key && klen) || (!val && vlen) || expire_at_ms < 0)
        return SW_EINVAL;
    struct db_small sr;
    if (!db->dir && expire_at_ms == 0 && small_len_fits(vlen) &&
        small_init(&sr, key, klen, klen + vlen <= SMALL_DATA ? NULL : val)) {
        sr.len = (uint32_t)vlen;
        if (!(sr.flags & SMALL_PTR) && vlen)
            memcpy(sr.data + klen, val, vlen);
        return small_call(db, small_store_fn, &sr, key);
    }
    struct db_req r = {.key = key, .klen = klen, .val = val, .len = vlen, .expire = expire_at_ms};
    return shard_call(db, store_fn, &r);
}

int sw_db_store(sw_db *db, const void *key, size_t klen, const void *val, size_t vlen)
{
    return sw_db_store_ex(db, key, klen, val, vlen, 0);
}

int sw_db_expire(sw_db *db, const void *key, size_t klen, int64_t expire_at_ms)
{
    if (!db || (!key && klen) || expire_at_ms < 0)
        return SW_EINVAL;
    struct db_req r = {.key = key, .klen = klen, .expire = expire_at_ms};
    return shard_call(db, expire_fn, &r);
}

int sw_db_deadline(sw_db *db, const void *key, size_t klen, int64_t *expire_at_ms)
{
    if (!db || (!key && klen) || !expire_at_ms)
        return SW_EINVAL;
    struct db_req r = {.key = key, .klen = klen};
    int rc = shard_call(db, fetch_fn, &r);
    if (rc == SW_OK)
        *expire_at_ms = r.expire;
    return rc;
}

int sw_db_fetch(sw_db *db, const void *key, size_t klen, void *val, size_t cap, size_t *vlen)
{
    if (!db || !vlen || (!key && klen) || (!val && cap))
        return SW_EINVAL;
    struct db_small sr;
    if (!db->dir && small_init(&sr, key, klen, cap <= SMALL_DATA ? NULL : val)) {
        sr.len = cap > UINT32_MAX ? UINT32_MAX : (uint32_t)cap;
        int rc = small_call(db, small_fetch_fn, &sr, key);
        if (rc != SMALL_RETRY) {
            if (rc != SW_OK)
                return rc;
            if ((sr.flags & SMALL_VAL_INLINE) && cap)
                memcpy(val, sr.data, sr.len < cap ? sr.len : cap);
            *vlen = sr.len;
            return SW_OK;
        }
    }
    struct db_req r = {.key = key, .klen = klen, .out = val, .len = cap};
    int rc = shard_call(db, fetch_fn, &r);
    if (rc == SW_OK)
        *vlen = r.len;
    return rc;
}

int sw_db_delete(sw_db *db, const void *key, size_t klen)
{
    if (!db || (!key && klen))
        return SW_EINVAL;
    struct db_small sr;
    if (!db->dir && small_init(&sr, key, klen, NULL))
        return small_call(db, small_delete_fn, &sr, key);
    struct db_req r = {.key = key, .klen = klen};
    return shard_call(db, delete_fn, &r);
}

size_t sw_db_count(sw_db *db)
{
    size_t n = 0;
    for (unsigned i = 0; db && i < db->n; i++)
        sw_owner_call(db->shards[i].owner, count_fn, &n);
    return n;
}
