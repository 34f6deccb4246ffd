/* The server's keyspace on a Db shard (src/db): keys carry their database
 * number as a first byte, every change is logged through the shard's
 * journal, and the shard counts its keys (and those with a deadline) per
 * database, so DBSIZE and INFO keyspace cost nothing.
 *
 * Runs on the thread that has the shard: its own, or a world operation's
 * (asserted in debug builds: srv_may_touch).
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/cmd.h"

int64_t kv_now(void)
{
    return sw__wall_ms();
}

int kkey_build_hashed(struct srv *s, int db, const sw__resp_arg *a, uint64_t hash, struct kkey *k)
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
    k->hash = hash ? hash : sw__hash(k->p, k->len);
    k->sh = &s->shards[srv_shard_of(s, k->hash)];
    return SW_OK;
}

int kkey_build(struct srv *s, int db, const sw__resp_arg *a, struct kkey *k)
{
    return kkey_build_hashed(s, db, a, 0, k);
}

int kkey_init(struct exec *x, struct kkey *k, size_t i)
{
    const struct keyhash *kh = &x->kh;
    uint64_t hash = kh->hash && kh->argv == x->argv && kh->db == x->db ? kh->hash[i] : 0;
    int rc = kkey_build_hashed(x->srv, x->db, &x->argv[i], hash, k);
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
    int rc = kkey_init(x, k, i);
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

/* A deadline joins (sign 1) or leaves (sign -1) database db's count and
 * sum of deadlines (INFO's avg_ttl); expire 0, none, changes nothing. */
static void deadline(struct srv_shard *sh, int db, int64_t expire, int sign)
{
    if (expire <= 0)
        return;
    srv_ttl_sum off = (srv_ttl_sum)expire - (srv_ttl_sum)sh->srv->start_ms;
    if (sign > 0) {
        sh->expires[db]++;
        sh->ttl_sum[db] += off;
    } else {
        sh->expires[db]--;
        sh->ttl_sum[db] -= off;
    }
}

/* A key leaves the shard (deleted, expired or swept). */
static void gone(struct srv_shard *sh, int db, int64_t expire)
{
    sh->keys[db]--;
    deadline(sh, db, expire, -1);
}

/* The shard's hook for the keys it expires (lazily, or in the sweep). */
static void expired(void *ctx, const void *key, size_t klen, int64_t expire)
{
    struct srv_shard *sh = ctx;
    gone(sh, ((const unsigned char *)key)[0], expire);
    multi_touch(sh, sw__hash(key, klen), key, klen);
    atomic_fetch_add_explicit(&sh->st_expired, 1, memory_order_relaxed);
}

#define KV_BATCH 8

void kv_each(struct exec *x, size_t first, size_t step,
             bool (*fn)(struct exec *x, void *ctx, size_t i, struct kkey *k, int rc), void *ctx)
{
    struct kkey k[KV_BATCH];
    int rc[KV_BATCH];
    for (size_t i = first; i < x->argc;) {
        size_t n = 0;
        for (size_t a = i; a < x->argc && n < KV_BATCH; a += step, n++)
            if ((rc[n] = kkey_init(x, &k[n], a)) == SW_OK)
                sw__shard_prefetch(k[n].sh->core, k[n].hash, 0);
        for (size_t j = 0; j < n; j++) /* the groups have arrived meanwhile */
            if (rc[j] == SW_OK)
                sw__shard_prefetch(k[j].sh->core, k[j].hash, 1);
        bool go = true;
        for (size_t j = 0; j < n; j++) {
            go = go && fn(x, ctx, i + j * step, &k[j], rc[j]);
            if (rc[j] == SW_OK)
                kkey_free(&k[j]);
        }
        if (!go)
            return;
        i += n * step;
    }
}

int kv_get(struct kkey *k, const void **val, size_t *vlen, int64_t *expire)
{
    assert(srv_may_touch(k->sh));
    int rc = sw__shard_get(k->sh->core, k->hash, k->p, k->len, val, vlen, expire);
    if (rc != SW_OK) { /* what a missing key reads as: nothing of a freed entry */
        *val = "";
        *vlen = 0;
        *expire = 0;
    }
    return rc;
}

/* ---- a full disk ------------------------------------------------------------- */

/* The errno of the latest write this thread saw refused (for the reply). */
static _Thread_local int last_refusal;

int kv_refusal(void)
{
    return last_refusal ? last_refusal : EIO;
}

/* sh's log turned a write away (db/shard.h: only for want of disk space,
 * since a failed log stops the server at the commit). Said once when it
 * starts, and once when writes go through again. */
static void refused(struct srv_shard *sh)
{
    int e = sw__shard_nospace(sh->core);
    last_refusal = e ? e : EIO;
    if (sh->refusing == 0)
        fprintf(stderr,
                "stewardd: shard %u: no room on disk for the log (%s): refusing writes "
                "(-MISCONF) until there is\n",
                sh->index, strerror(last_refusal));
    sh->refusing = last_refusal;
    atomic_store_explicit(&sh->st_refusing, last_refusal, memory_order_relaxed);
}

/* A write logged this turn: the turn's end must commit. */
static int wrote(struct kkey *k, int rc)
{
    struct srv_shard *sh = k->sh;
    if (rc == SW_EIO)
        refused(sh);
    if (rc == SW_OK)
        multi_touch(sh, k->hash, k->p, k->len);
    if (rc != SW_OK || !sw__shard_durable(sh->core))
        return rc;
    sh->dirty = true;
    if (sh->refusing) {
        fprintf(stderr, "stewardd: shard %u: the disk has room again: writes resumed\n", sh->index);
        sh->refusing = 0;
        atomic_store_explicit(&sh->st_refusing, 0, memory_order_relaxed);
    }
    return rc;
}

void kv_room_add(struct kkey *k, size_t vlen)
{
    assert(srv_may_touch(k->sh));
    k->sh->room += sw__shard_write_bytes(k->len, vlen);
}

int kv_room_key(struct kkey *k, size_t vlen)
{
    kv_room_add(k, vlen);
    return kv_room_take(k->sh->srv);
}

void kv_room_drop(struct srv *s)
{
    for (unsigned i = 0; i < s->n; i++)
        if (srv_may_touch(&s->shards[i]))
            s->shards[i].room = 0;
}

int kv_room_args(struct exec *x, size_t first, size_t step)
{
    if (!x->srv->cfg.dir) /* memory only: no log to run out of room */
        return SW_OK;
    for (size_t i = first; i < x->argc; i += step) {
        struct kkey k;
        int rc = kkey_init(x, &k, i);
        if (rc != SW_OK) {
            kv_room_drop(x->srv);
            return rc;
        }
        kv_room_add(&k, step == 2 && i + 1 < x->argc ? x->argv[i + 1].len : 0);
        kkey_free(&k);
    }
    return kv_room_take(x->srv);
}

int kv_tx_prepare(struct srv_shard *sh, uint64_t txid, unsigned nparts, unsigned part,
                  const sw__rec *writes, size_t n, sw__shard_tx **tx)
{
    assert(srv_may_touch(sh));
    int rc = sw__shard_tx_prepare(sh->core, txid, nparts, part, writes, n, tx);
    if (rc == SW_EIO)
        refused(sh);
    if (rc == SW_OK && *tx)
        sh->dirty = true;
    return rc;
}

void kv_tx_decide(struct srv_shard *sh, sw__shard_tx *tx)
{
    assert(srv_may_touch(sh));
    /* Refused only by a failed log, which stops the server at the commit
     * before anything of this turn is sent. */
    sw__shard_tx_decide(sh->core, tx);
    if (tx)
        sh->dirty = true;
}

void kv_tx_applied(struct srv_shard *sh)
{
    sw__shard_tx_applied(sh->core);
}

void kv_tx_forget(struct srv_shard *sh, sw__shard_tx *tx)
{
    sw__shard_tx_forget(sh->core, tx);
}

int kv_unit_reserve(struct srv_shard *sh)
{
    assert(srv_may_touch(sh));
    int rc = sw__shard_unit_reserve(sh->core);
    if (rc == SW_EIO)
        refused(sh);
    return rc;
}

void kv_unit_unreserve(struct srv_shard *sh)
{
    sw__shard_unit_unreserve(sh->core);
}

int kv_hold(struct srv_shard *sh, size_t bytes)
{
    assert(srv_may_touch(sh));
    int rc = sw__shard_hold(sh->core, bytes);
    if (rc == SW_EIO)
        refused(sh);
    return rc;
}

void kv_release(struct srv_shard *sh, size_t bytes)
{
    sw__shard_release(sh->core, bytes);
}

int kv_room_take(struct srv *s)
{
    int rc = SW_OK;
    for (unsigned i = 0; i < s->n; i++) {
        struct srv_shard *sh = &s->shards[i];
        if (!srv_may_touch(sh) || sh->room == 0) /* outside a world operation: ours only */
            continue;
        if (rc == SW_OK && sw__shard_reserve(sh->core, sh->room) != SW_OK) {
            refused(sh);
            rc = SW_EIO;
        }
        sh->room = 0;
    }
    return rc;
}

int kv_put(struct kkey *k, const void *val, size_t vlen, int64_t expire)
{
    assert(srv_may_touch(k->sh));
    struct srv_shard *sh = k->sh;
    int64_t prev;
    int rc = sw__shard_put(sh->core, k->hash, k->p, k->len, val, vlen, expire, &prev, NULL, NULL);
    if (wrote(k, rc) != SW_OK)
        return rc;
    if (prev < 0)
        sh->keys[k->db]++;
    deadline(sh, k->db, prev, -1);
    deadline(sh, k->db, expire, 1);
    return SW_OK;
}

int kv_del(struct kkey *k)
{
    assert(srv_may_touch(k->sh));
    int64_t prev;
    int rc = sw__shard_delete(k->sh->core, k->hash, k->p, k->len, &prev, NULL, NULL);
    if (wrote(k, rc) == SW_OK)
        gone(k->sh, k->db, prev);
    return rc;
}

int kv_expire(struct kkey *k, int64_t expire)
{
    assert(srv_may_touch(k->sh));
    int64_t prev;
    bool deleted;
    int rc =
        sw__shard_expire(k->sh->core, k->hash, k->p, k->len, expire, &prev, &deleted, NULL, NULL);
    if (wrote(k, rc) != SW_OK)
        return rc;
    if (deleted) {
        gone(k->sh, k->db, prev);
    } else {
        deadline(k->sh, k->db, prev, -1);
        deadline(k->sh, k->db, expire, 1);
    }
    return SW_OK;
}

/* Deletes (logged) the keys of db (db < 0: all) among one scan step's
 * items. They are copied out first, into one block: the items' pointers
 * die with the first removal. */
static int flush_items(struct srv_shard *sh, int db, const sw__shard_item *items, size_t n)
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

/* The items of one scan step of db's keys (db < 0: all): their room. */
static int room_items(struct srv_shard *sh, int db, const sw__shard_item *items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (db < 0 || ((const char *)items[i].key)[0] == (char)db)
            sh->room += sw__shard_write_bytes(items[i].klen, 0);
    return SW_OK;
}

/* Passes every key of sh to fn(sh, db, items, n), a scan step at a time,
 * until fn fails. */
static int scan_all(struct srv_shard *sh, int db,
                    int (*fn)(struct srv_shard *, int, const sw__shard_item *, size_t))
{
    uint64_t cursor = 0;
    sw__shard_item *items = NULL;
    size_t cap = 0, n = 0;
    int rc;
    do {
        rc = sw__shard_scan(sh->core, &cursor, &items, &cap, &n);
        if (rc == SW_OK)
            rc = fn(sh, db, items, n);
    } while (rc == SW_OK && cursor != 0);
    free(items);
    return rc;
}

int kv_flush_room(struct srv_shard *sh, int db)
{
    assert(srv_may_touch(sh));
    return sw__shard_durable(sh->core) ? scan_all(sh, db, room_items) : SW_OK;
}

int kv_flush(struct srv_shard *sh, int db)
{
    assert(srv_may_touch(sh));
    multi_touch_flush(sh, db);
    if (db < 0 && sw__shard_clear(sh->core) == SW_OK) { /* memory only: drop it whole */
        memset(sh->keys, 0, sizeof sh->keys);
        memset(sh->expires, 0, sizeof sh->expires);
        memset(sh->ttl_sum, 0, sizeof sh->ttl_sum);
        return SW_OK;
    }
    return scan_all(sh, db, flush_items);
}

void kv_sweep(struct srv_shard *sh)
{
    assert(srv_may_touch(sh));
    sw__shard_sweep(sh->core);
}

/* The items of one scan step: counted per database. */
static int count_items(struct srv_shard *sh, int db, const sw__shard_item *items, size_t n)
{
    (void)db;
    for (size_t i = 0; i < n; i++) {
        unsigned char d = ((const unsigned char *)items[i].key)[0];
        if (d < SRV_DBS) {
            sh->keys[d]++;
            deadline(sh, d, items[i].expire_ms, 1);
        }
    }
    return SW_OK;
}

void kv_attach(struct srv_shard *sh)
{
    memset(sh->keys, 0, sizeof sh->keys);
    memset(sh->expires, 0, sizeof sh->expires);
    memset(sh->ttl_sum, 0, sizeof sh->ttl_sum);
    scan_all(sh, -1, count_items);
    sw__shard_on_gone(sh->core, expired, sh);
}

size_t kv_memory(struct srv_shard *sh)
{
    return sw__shard_memory(sh->core);
}

int64_t kv_avg_ttl(struct srv *s, int db, int64_t now)
{
    srv_ttl_sum sum = 0;
    size_t n = 0;
    for (unsigned i = 0; i < s->n; i++) {
        sum += s->shards[i].ttl_sum[db];
        n += s->shards[i].expires[db];
    }
    if (n == 0)
        return 0;
#ifdef __SIZEOF_INT128__
    int64_t mean = (int64_t)(sum / (srv_ttl_sum)n) + s->start_ms;
#else
    int64_t mean = (int64_t)sum / (int64_t)n + s->start_ms; /* see srv_ttl_sum */
#endif
    /* Keys past their deadline and not yet swept count too, as in Redis. */
    return mean > now ? mean - now : 0;
}

/* ---- instantaneous rates (INFO stats) ------------------------------------------ */

static void rate_sample(struct srv_rate *r, uint64_t now_value, int64_t now_ms)
{
    if (r->last_ms != 0 && now_ms > r->last_ms) {
        r->per_sec[r->next] = (now_value - r->last) * 1000 / (uint64_t)(now_ms - r->last_ms);
        r->next = (r->next + 1) % SRV_RATE_SAMPLES;
    }
    r->last = now_value;
    r->last_ms = now_ms;
}

void kv_rates_sample(struct srv_shard *sh)
{
    assert(srv_may_touch(sh));
    if (sh->rate_cmds.last_ms != 0 && sh->now_ms - sh->rate_cmds.last_ms < SRV_RATE_PERIOD_MS)
        return;
    /* Relaxed: this thread is the counters' only writer. */
    rate_sample(&sh->rate_cmds, atomic_load_explicit(&sh->st_cmds, memory_order_relaxed),
                sh->now_ms);
    rate_sample(&sh->rate_in, atomic_load_explicit(&sh->st_in_bytes, memory_order_relaxed),
                sh->now_ms);
    rate_sample(&sh->rate_out, atomic_load_explicit(&sh->st_out_bytes, memory_order_relaxed),
                sh->now_ms);
}

uint64_t kv_rate(const struct srv_rate *r)
{
    uint64_t sum = 0;
    for (unsigned i = 0; i < SRV_RATE_SAMPLES; i++)
        sum += r->per_sec[i];
    return sum / SRV_RATE_SAMPLES;
}
