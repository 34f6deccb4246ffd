/* The server's keyspace on a Db shard (src/db): keys carry their database
 * number as a first byte, every change is logged through the shard's
 * journal, and the shard counts its keys (and those with a deadline) per
 * database, so DBSIZE and INFO keyspace cost nothing.
 *
 * Runs on the thread that has the shard: its own, or a world operation's.
 */
#include <stdlib.h>
#include <string.h>

#include "server/cmd.h"

int64_t kv_now(void)
{
    return sw__wall_ms();
}

int kkey_build(struct srv *s, int db, const sw__resp_arg *a, struct kkey *k)
{
    k->heap = NULL;
    k->db = db;
    k->len = a->len + 1;
    k->p = k->buf;
    if (k->len > sizeof k->buf) {
        k->heap = malloc(k->len);
        if (!k->heap)
            return SW_ENOMEM;
        k->p = k->heap;
    }
    k->p[0] = (char)db;
    memcpy(k->p + 1, a->ptr, a->len);
    k->hash = sw__hash(k->p, k->len);
    k->sh = &s->shards[srv_shard_of(s, k->hash)];
    return SW_OK;
}

int kkey_init(struct exec *x, struct kkey *k, const sw__resp_arg *a)
{
    int rc = kkey_build(x->srv, x->db, a, k);
    if (rc == SW_OK && k->sh != x->self && !x->world) {
        /* Only a world operation may touch another shard's keys; the
         * dispatcher never sends a command elsewhere, so this is a bug. */
        kkey_free(k);
        return SW_EINVAL;
    }
    return rc;
}

bool key_arg(struct exec *x, size_t i, struct kkey *k)
{
    int rc = kkey_init(x, k, &x->argv[i]);
    if (rc != SW_OK) {
        reply_status(x, rc);
        return false;
    }
    return true;
}

void kkey_free(struct kkey *k)
{
    free(k->heap);
    k->heap = NULL;
}

/* A key leaves the shard (deleted, expired or swept). */
static void gone(struct srv_shard *sh, int db, int64_t expire)
{
    sh->keys[db]--;
    if (expire)
        sh->expires[db]--;
}

int kv_get(struct kkey *k, const void **val, size_t *vlen, int64_t *expire)
{
    struct srv_shard *sh = k->sh;
    int rc = sw__table_get_ex(&sh->core.table, k->hash, k->p, k->len, val, vlen, expire);
    if (rc == SW_OK && *expire != 0 && *expire <= kv_now()) {
        /* Lazily expired: no record, since recovery drops it by its deadline. */
        sw__table_del(&sh->core.table, k->hash, k->p, k->len);
        gone(sh, k->db, *expire);
        atomic_fetch_add_explicit(&sh->st_expired, 1, memory_order_relaxed);
        rc = SW_ENOTFOUND;
    }
    if (rc != SW_OK) { /* what a missing key reads as: nothing of a freed entry */
        *val = "";
        *vlen = 0;
        *expire = 0;
    }
    return rc;
}

/* Applies and logs one write; marks the shard's turn as having records. */
static int apply(struct kkey *k, const sw__rec *rec)
{
    int rc = sw__db_shard_apply(&k->sh->core, k->hash, rec, NULL, NULL);
    if (rc == SW_OK && k->sh->core.j.open)
        k->sh->dirty = true;
    return rc;
}

int kv_put(struct kkey *k, const void *val, size_t vlen, int64_t expire)
{
    struct srv_shard *sh = k->sh;
    const void *old;
    size_t olen;
    int64_t oexp = 0;
    bool had =
        sw__table_get_ex(&sh->core.table, k->hash, k->p, k->len, &old, &olen, &oexp) == SW_OK;
    sw__rec rec = {
        .type = SW__REC_PUT, .a = k->p, .alen = k->len, .b = val, .blen = vlen, .num = expire};
    int rc = apply(k, &rec);
    if (rc != SW_OK)
        return rc;
    if (!had)
        sh->keys[k->db]++;
    sh->expires[k->db] += (expire != 0) - (had && oexp != 0);
    return SW_OK;
}

int kv_del(struct kkey *k)
{
    const void *val;
    size_t vlen;
    int64_t expire;
    int rc = kv_get(k, &val, &vlen, &expire);
    sw__rec rec = {.type = SW__REC_DEL, .a = k->p, .alen = k->len};
    if (rc == SW_OK)
        rc = apply(k, &rec);
    if (rc == SW_OK)
        gone(k->sh, k->db, expire);
    return rc;
}

int kv_expire(struct kkey *k, int64_t expire)
{
    const void *val;
    size_t vlen;
    int64_t old;
    int rc = kv_get(k, &val, &vlen, &old);
    if (rc != SW_OK)
        return rc;
    if (expire != 0 && expire <= kv_now())
        return kv_del(k);
    sw__rec rec = {.type = SW__REC_EXPIRE, .a = k->p, .alen = k->len, .num = expire};
    rc = apply(k, &rec);
    if (rc == SW_OK)
        k->sh->expires[k->db] += (expire != 0) - (old != 0);
    return rc;
}

int kv_scan_step(const sw__table *t, uint64_t *cursor, sw__table_item **items, size_t *cap,
                 size_t *n)
{
    for (;;) {
        if (*cap == 0 || !*items) {
            *cap = *cap ? *cap : 128;
            *items = malloc(*cap * sizeof **items);
            if (!*items)
                return SW_ENOMEM;
        }
        int rc = sw__table_scan(t, cursor, *items, *cap, n);
        if (rc != SW_EOVERFLOW)
            return rc;
        free(*items); /* many keys share one hash value: make room for them all */
        *items = NULL;
        *cap = *n;
    }
}

/* Deletes (logged) the keys of db (db < 0: all) among one scan step's
 * items. They are copied out first, into one block: the items' pointers
 * die with the first removal. */
static int flush_items(struct srv_shard *sh, int db, const sw__table_item *items, size_t n)
{
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += items[i].klen;
    char *block = malloc(bytes + 1);
    size_t *lens = malloc((n + 1) * sizeof *lens);
    if (!block || !lens) {
        free(block);
        free(lens);
        return SW_ENOMEM;
    }
    size_t m = 0, at = 0;
    for (size_t i = 0; i < n; i++) {
        if (db >= 0 && ((const char *)items[i].key)[0] != (char)db)
            continue;
        memcpy(block + at, items[i].key, items[i].klen);
        at += lens[m++] = items[i].klen;
    }
    at = 0;
    for (size_t i = 0; i < m; at += lens[i++]) {
        struct kkey k = {.p = block + at, .len = lens[i], .sh = sh, .db = block[at]};
        k.hash = sw__hash(k.p, k.len);
        kv_del(&k);
    }
    free(block);
    free(lens);
    return SW_OK;
}

int kv_flush(struct srv_shard *sh, int db)
{
    if (!sh->core.j.open && db < 0) { /* nothing to log: drop the table whole */
        sw__table_destroy(&sh->core.table);
        sw__table_init(&sh->core.table);
        memset(sh->keys, 0, sizeof sh->keys);
        memset(sh->expires, 0, sizeof sh->expires);
        return SW_OK;
    }
    uint64_t cursor = 0;
    sw__table_item *items = NULL;
    size_t cap = 0, n = 0;
    int rc;
    do {
        rc = kv_scan_step(&sh->core.table, &cursor, &items, &cap, &n);
        if (rc == SW_OK)
            rc = flush_items(sh, db, items, n);
    } while (rc == SW_OK && cursor != 0);
    free(items);
    return rc;
}

static void swept(void *ctx, const void *key, size_t klen)
{
    (void)klen;
    struct srv_shard *sh = ctx;
    gone(sh, ((const char *)key)[0], 1);
    atomic_fetch_add_explicit(&sh->st_expired, 1, memory_order_relaxed);
}

void kv_sweep(struct srv_shard *sh)
{
    sw__db_shard_sweep(&sh->core, kv_now(), swept, sh);
}

void kv_count_all(struct srv_shard *sh)
{
    memset(sh->keys, 0, sizeof sh->keys);
    memset(sh->expires, 0, sizeof sh->expires);
    uint64_t cursor = 0;
    sw__table_item *items = NULL;
    size_t cap = 0, n = 0;
    do {
        if (kv_scan_step(&sh->core.table, &cursor, &items, &cap, &n) != SW_OK)
            break;
        for (size_t i = 0; i < n; i++) {
            unsigned char db = ((const unsigned char *)items[i].key)[0];
            if (db < SRV_DBS) {
                sh->keys[db]++;
                sh->expires[db] += items[i].expire_ms != 0;
            }
        }
    } while (cursor != 0);
    free(items);
}

size_t kv_memory(struct srv_shard *sh)
{
    return sw__table_memory(&sh->core.table);
}
