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
 * goroutine-safe object (see docs/owners.md).
 */
#include "steward/db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "steward/owner.h"
#include "table.h"

#define MAX_SHARDS 4096

struct shard {
    sw__table table; /* owner only */
};

struct sw_db {
    unsigned n;           /* immutable */
    sw_owner **owners;    /* immutable */
    struct shard *shards; /* shards[i] is the state of owners[i] */
};

struct db_req {
    uint64_t hash;
    const void *key;
    size_t klen;
    const void *val; /* store: the value */
    void *out;       /* fetch: the caller's buffer */
    size_t len;      /* store: vlen; fetch: cap in, full length out */
    int rc;
};

static void store_fn(void *state, void *arg)
{
    struct shard *s = state;
    struct db_req *r = arg;
    r->rc = sw__table_put(&s->table, r->hash, r->key, r->klen, r->val, r->len);
}

static void fetch_fn(void *state, void *arg)
{
    struct shard *s = state;
    struct db_req *r = arg;
    const void *val;
    size_t vlen;
    r->rc = sw__table_get(&s->table, r->hash, r->key, r->klen, &val, &vlen);
    if (r->rc != SW_OK)
        return;
    if (r->len)
        memcpy(r->out, val, vlen < r->len ? vlen : r->len);
    r->len = vlen;
}

static void delete_fn(void *state, void *arg)
{
    struct shard *s = state;
    struct db_req *r = arg;
    r->rc = sw__table_del(&s->table, r->hash, r->key, r->klen);
}

static void count_fn(void *state, void *arg)
{
    *(size_t *)arg += sw__table_count(&((struct shard *)state)->table);
}

/* Sends r to the shard of its key and returns the owner's answer. */
static int shard_call(sw_db *db, sw_owner_fn fn, struct db_req *r)
{
    static const char empty[1];
    if (!r->key) /* klen is 0: give the table a valid pointer all the same */
        r->key = empty;
    if (!r->val)
        r->val = empty;
    r->hash = XXH3_64bits(r->key, r->klen);
    sw_owner *o = db->owners[((r->hash >> 32) * db->n) >> 32];
    int rc = sw_owner_call(o, fn, r);
    return rc == SW_OK ? r->rc : rc;
}

int sw_db_open(sw_db **out, const sw_db_options *opts)
{
    if (!out)
        return SW_EINVAL;
    *out = NULL;
    if (opts && opts->dir) {
        fprintf(stderr, "steward: sw_db_open: dir is not supported yet (memory only); "
                        "refusing rather than keeping nothing on disk\n");
        return SW_EINVAL;
    }
    unsigned n = opts && opts->shards ? opts->shards : sw_owner_pool_size();
    if (n == 0)
        return SW_EIO;
    if (n > MAX_SHARDS)
        return SW_EINVAL;
    sw_db *db = calloc(1, sizeof *db);
    if (!db)
        return SW_ENOMEM;
    int rc = SW_ENOMEM;
    db->owners = calloc(n, sizeof *db->owners);
    db->shards = calloc(n, sizeof *db->shards);
    if (!db->owners || !db->shards)
        goto fail;
    for (db->n = 0; db->n < n; db->n++) {
        struct shard *s = &db->shards[db->n];
        sw__table_init(&s->table);
        rc = sw_owner_start(&db->owners[db->n], s);
        if (rc != SW_OK) {
            sw__table_destroy(&s->table);
            goto fail;
        }
    }
    *out = db;
    return SW_OK;
fail:
    sw_db_close(db);
    return rc;
}

int sw_db_close(sw_db *db)
{
    if (!db)
        return SW_EINVAL;
    for (unsigned i = 0; i < db->n; i++) {
        sw_owner_free(db->owners[i]); /* runs what is queued, then stops */
        sw__table_destroy(&db->shards[i].table);
    }
    free(db->owners);
    free(db->shards);
    free(db);
    return SW_OK;
}

int sw_db_store(sw_db *db, const void *key, size_t klen, const void *val, size_t vlen)
{
    if (!db || (!key && klen) || (!val && vlen))
        return SW_EINVAL;
    struct db_req r = {.key = key, .klen = klen, .val = val, .len = vlen};
    return shard_call(db, store_fn, &r);
}

int sw_db_fetch(sw_db *db, const void *key, size_t klen, void *val, size_t cap, size_t *vlen)
{
    if (!db || !vlen || (!key && klen) || (!val && cap))
        return SW_EINVAL;
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
    struct db_req r = {.key = key, .klen = klen};
    return shard_call(db, delete_fn, &r);
}

size_t sw_db_count(sw_db *db)
{
    size_t n = 0;
    for (unsigned i = 0; db && i < db->n; i++)
        sw_owner_call(db->owners[i], count_fn, &n);
    return n;
}
