/* A Db shard's data (shard.h): reads with lazy expiry, logged writes, the
 * expiry sweep, scans. Durability (the journal's open and commit,
 * compaction) is in db_log.c; the library Db's requests in db.c.
 *
 * Every write goes through apply: its record enters the journal's pending
 * batch before the table changes, and leaves it again if the table refuses
 * the change, so the log never holds a change the table does not.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/sync.h"
#include "db/db_int.h"

int sw__shard_init(struct sw__shard *s, unsigned index, const char *dir, const char *kind,
                   enum sw_fsync fsync, struct sw__txrecovery *txr, char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    s->index = index;
    s->txr = txr;
    int rc = sw__table_init(&s->table);
    if (rc == SW_OK && dir)
        rc = sw__db_shard_log_open(dir, kind, s, fsync, err, errlen);
    return rc;
}

int sw__shard_fini(struct sw__shard *s)
{
    int rc = sw__db_shard_log_close(s);
    sw__shard_tx_free(s);
    sw__table_destroy(&s->table);
    return rc;
}

int sw__shard_open(sw__shard **out, unsigned index, const char *dir, const char *kind,
                   enum sw_fsync fsync, char *err, size_t errlen)
{
    *out = NULL;
    struct sw__shard *s = malloc(sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return SW_ENOMEM;
    }
    int rc = sw__shard_init(s, index, dir, kind, fsync, NULL, err, errlen);
    if (rc != SW_OK) {
        sw__shard_close(s);
        return rc;
    }
    *out = s;
    return SW_OK;
}

int sw__shard_close(sw__shard *s)
{
    if (!s)
        return SW_OK;
    int rc = sw__shard_fini(s);
    free(s);
    return rc;
}

void sw__shard_on_gone(sw__shard *s, sw__shard_gone_fn gone, void *ctx)
{
    s->gone = gone;
    s->gone_ctx = ctx;
}

bool sw__shard_durable(const sw__shard *s)
{
    return s->j.open;
}

/* Removes a key found expired; no record (see shard.h). */
static void expire_now(sw__shard *s, uint64_t hash, const void *key, size_t klen, int64_t expire)
{
    sw__table_del(&s->table, hash, key, klen);
    if (s->gone)
        s->gone(s->gone_ctx, key, klen, expire);
}

void sw__shard_prefetch(const sw__shard *s, uint64_t hash, int step)
{
    sw__table_prefetch(&s->table, hash, step);
}

int sw__shard_get(sw__shard *s, uint64_t hash, const void *key, size_t klen, const void **val,
                  size_t *vlen, int64_t *expire_ms)
{
    if (sw__journal_failed(&s->j))
        return SW_EIO;
    int rc = sw__table_get_ex(&s->table, hash, key, klen, val, vlen, expire_ms);
    if (rc == SW_OK && *expire_ms != 0 && *expire_ms <= sw__wall_ms()) {
        expire_now(s, hash, key, klen, *expire_ms);
        rc = SW_ENOTFOUND;
    }
    return rc;
}

/* Applies one write (a PUT, DEL or EXPIRE record: key in a, value in b,
 * deadline in num) and logs it; see the top of the file. A decided part's
 * writes log nothing: its PART record holds them (shard.h). */
struct change {
    sw__shard *s;
    uint64_t hash;
    const sw__rec *rec;
};

/* Makes the change a write record describes in the table. */
static int change_table(void *ctx)
{
    const struct change *c = ctx;
    const sw__rec *rec = c->rec;
    sw__table *t = &c->s->table;
    if (rec->type == SW__REC_PUT)
        return sw__table_put_ex(t, c->hash, rec->a, rec->alen, rec->blen ? rec->b : "", rec->blen,
                                rec->num);
    if (rec->type == SW__REC_EXPIRE)
        return sw__table_set_expire(t, c->hash, rec->a, rec->alen, rec->num);
    return sw__table_del(t, c->hash, rec->a, rec->alen);
}

static int apply(sw__shard *s, uint64_t hash, const sw__rec *rec, sw__journal_waiter *w, int *rcp)
{
    bool logged = s->j.open && !s->tx_quiet;
    struct change c = {s, hash, rec};
    if (logged && s->unit) { /* logged at the unit's end */
        int rc = sw__shard_unit_add(s, rec, change_table, &c);
        if (rc == SW_OK && w)
            sw__journal_wait(&s->j, w, rcp);
        return rc;
    }
    size_t mark = sw__journal_mark(&s->j);
    if (logged) {
        int rc = sw__journal_append(&s->j, rec);
        if (rc != SW_OK)
            return rc;
    }
    int rc = change_table(&c);
    if (!logged)
        return rc;
    if (rc != SW_OK) {
        sw__journal_rewind(&s->j, mark);
        return rc;
    }
    if (w)
        sw__journal_wait(&s->j, w, rcp);
    sw__db_compact_note(s, rec);
    return SW_OK;
}

int sw__shard_put(sw__shard *s, uint64_t hash, const void *key, size_t klen, const void *val,
                  size_t vlen, int64_t expire_ms, int64_t *prev_ms, sw__journal_waiter *w, int *rc)
{
    if (sw__journal_failed(&s->j))
        return SW_EIO;
    const void *old;
    size_t olen;
    int64_t oexp = 0;
    bool had = prev_ms && sw__table_get_ex(&s->table, hash, key, klen, &old, &olen, &oexp) == SW_OK;
    sw__rec rec = {
        .type = SW__REC_PUT, .a = key, .alen = klen, .b = val, .blen = vlen, .num = expire_ms};
    int status = apply(s, hash, &rec, w, rc);
    if (status == SW_OK && prev_ms)
        *prev_ms = had ? oexp : -1;
    return status;
}

int sw__shard_delete(sw__shard *s, uint64_t hash, const void *key, size_t klen, int64_t *prev_ms,
                     sw__journal_waiter *w, int *rc)
{
    const void *val;
    size_t vlen;
    int64_t expire;
    int status = sw__shard_get(s, hash, key, klen, &val, &vlen, &expire);
    if (status != SW_OK)
        return status;
    sw__rec rec = {.type = SW__REC_DEL, .a = key, .alen = klen};
    status = apply(s, hash, &rec, w, rc);
    if (status == SW_OK && prev_ms)
        *prev_ms = expire;
    return status;
}

int sw__shard_expire(sw__shard *s, uint64_t hash, const void *key, size_t klen, int64_t expire_ms,
                     int64_t *prev_ms, bool *deleted, sw__journal_waiter *w, int *rc)
{
    const void *val;
    size_t vlen;
    int64_t old;
    int status = sw__shard_get(s, hash, key, klen, &val, &vlen, &old);
    if (status != SW_OK)
        return status;
    bool gone = expire_ms != 0 && expire_ms <= sw__wall_ms();
    sw__rec rec = {
        .type = gone ? SW__REC_DEL : SW__REC_EXPIRE, .a = key, .alen = klen, .num = expire_ms};
    status = apply(s, hash, &rec, w, rc);
    if (status == SW_OK && prev_ms)
        *prev_ms = old;
    if (status == SW_OK && deleted)
        *deleted = gone;
    return status;
}

int sw__shard_reserve(sw__shard *s, size_t bytes)
{
    if (!s->j.open || s->tx_quiet)
        return SW_OK;
    return sw__journal_reserve(&s->j, bytes + (s->unit ? SW__UNIT_EXTRA : 0));
}

int sw__shard_hold(sw__shard *s, size_t bytes)
{
    return s->j.open ? sw__journal_hold(&s->j, bytes) : SW_OK;
}

void sw__shard_release(sw__shard *s, size_t bytes)
{
    if (s->j.open)
        sw__journal_release(&s->j, bytes);
}

size_t sw__shard_write_bytes(size_t klen, size_t vlen)
{
    /* The header, the type, then three varints of at most 10 bytes each:
     * the deadline, the key's length, the value's. */
    return SW__REC_HEADER + 1 + 3 * 10 + klen + vlen;
}

int sw__shard_nospace(const sw__shard *s)
{
    return s->j.open && sw__journal_nospace(&s->j) ? sw__log_errno(&s->j.log) : 0;
}

int sw__shard_clear(sw__shard *s)
{
    if (s->j.open)
        return SW_EINVAL;
    sw__table_destroy(&s->table);
    return sw__table_init(&s->table);
}

int sw__shard_scan(const sw__shard *s, uint64_t *cursor, sw__shard_item **items, size_t *cap,
                   size_t *n)
{
    for (;;) {
        if (*cap == 0 || !*items) {
            *cap = *cap ? *cap : 128;
            *items = malloc(*cap * sizeof **items);
            if (!*items)
                return SW_ENOMEM;
        }
        int rc = sw__table_scan(&s->table, cursor, *items, *cap, n);
        if (rc != SW_EOVERFLOW)
            return rc;
        free(*items); /* many keys share one hash value: make room for them all */
        *items = NULL;
        *cap = *n;
    }
}

int sw__shard_random(const sw__shard *s, bool (*want)(void *ctx, const sw__shard_item *it),
                     void *ctx, sw__shard_item *out)
{
    size_t slots = sw__table_slots(&s->table), start = slots ? sw__rand64() % slots : 0;
    for (int pass = 0; pass < 2; pass++) { /* from start to the end, then wrapping round */
        size_t cur = pass == 0 ? start : 0, end = pass == 0 ? slots : start;
        while (cur < end && sw__table_next_item(&s->table, &cur, out) == SW_OK) {
            if (cur > end && pass == 1)
                break;
            if (want(ctx, out))
                return SW_OK;
        }
    }
    return SW_ENOTFOUND;
}

/* The sweep looks at SWEEP_SCANS chunks of SWEEP_CHUNK keys per step; a
 * stack buffer keeps the expired keys, since the scan's pointers die with
 * the first removal. */
#define SWEEP_CHUNK 128
#define SWEEP_SCANS 16
#define SWEEP_KEYBUF 8192

size_t sw__shard_sweep(sw__shard *s)
{
    size_t removed = 0;
    int64_t now = sw__wall_ms();
    if (sw__journal_failed(&s->j))
        return 0;
    for (int round = 0; round < SWEEP_SCANS; round++) {
        sw__table_item items[SWEEP_CHUNK];
        char keys[SWEEP_KEYBUF];
        size_t n = 0, used = 0, lens[SWEEP_CHUNK], dead = 0;
        int64_t deadlines[SWEEP_CHUNK];
        int rc = sw__table_scan(&s->table, &s->sweep_cursor, items, SWEEP_CHUNK, &n);
        if (rc == SW_EOVERFLOW) /* more keys on one hash than a chunk: rare, skip it */
            s->sweep_cursor++;
        for (size_t i = 0; rc == SW_OK && i < n; i++) {
            int64_t e = items[i].expire_ms;
            if (e == 0 || e > now || used + items[i].klen > sizeof keys)
                continue;
            memcpy(keys + used, items[i].key, items[i].klen);
            deadlines[dead] = e;
            used += lens[dead++] = items[i].klen;
        }
        for (size_t i = 0, at = 0; i < dead; at += lens[i++])
            expire_now(s, sw__hash(keys + at, lens[i]), keys + at, lens[i], deadlines[i]);
        removed += dead;
        if (s->sweep_cursor == 0)
            break; /* a whole pass done */
    }
    return removed;
}

size_t sw__shard_count(const sw__shard *s)
{
    return sw__table_count(&s->table);
}

size_t sw__shard_memory(const sw__shard *s)
{
    return sw__table_memory(&s->table);
}
