/* Transactions across shards (shard.h): a part's PART and DECIDED records,
 * the live parts a compaction carries into its new file, and the recovery
 * that sw__shards_open runs over every shard's log.
 *
 * Recovery reads each log once. A PART waits, copied, until its own
 * shard's DECIDED, where it applies; every PART and DECIDED is also noted
 * across the shards. The parts whose shard never logged their DECIDED are
 * left at the end of their logs; once every log is read, each applies if
 * its transaction is decided (a DECIDED of its txid anywhere, or every
 * part logged), and its shard logs the DECIDED it lacked.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db_int.h"

/* A part, live on its shard (shard.h). */
struct sw__shard_tx {
    struct sw__shard_tx *prev, *next;
    uint64_t txid;
    uint32_t nparts, part;
    bool decided;
    bool tentative; /* its writes applied before its decision (a unit's) */
    size_t held;    /* log room held for the DECIDED */
    uint8_t *b;     /* the PART's writes, encoded, until decided */
    size_t blen;
};

/* The header of a PART record: the number of parts and this one's index,
 * each a little-endian u32. */
#define PART_HEAD 8

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static sw__rec part_rec(uint64_t txid, uint8_t head[PART_HEAD], uint32_t nparts, uint32_t part,
                        const uint8_t *b, size_t blen)
{
    put_u32(head, nparts);
    put_u32(head + 4, part);
    return (sw__rec){.type = SW__REC_TX_PART,
                     .num = (int64_t)txid,
                     .a = head,
                     .alen = PART_HEAD,
                     .b = b,
                     .blen = blen};
}

static sw__rec decided_rec(uint64_t txid)
{
    return (sw__rec){.type = SW__REC_TX_DECIDED, .num = (int64_t)txid};
}

/* ---- a part's life ---------------------------------------------------------- */

static void link_live(struct sw__shard *s, struct sw__shard_tx *t)
{
    t->prev = s->tx_live_tail;
    if (t->prev)
        t->prev->next = t;
    else
        s->tx_live = t;
    s->tx_live_tail = t;
}

int sw__shard_tx_prepare(sw__shard *s, uint64_t txid, unsigned nparts, unsigned part,
                         const sw__rec *writes, size_t n, sw__shard_tx **tx)
{
    *tx = NULL;
    if (!s->j.open)
        return SW_OK;
    if (sw__journal_failed(&s->j))
        return SW_EIO;
    if (txid == 0 || txid > INT64_MAX || nparts < 1 || part >= nparts)
        return SW_EINVAL;
    size_t blen = 0;
    for (size_t i = 0; i < n; i++) {
        size_t size = sw__rec_size(&writes[i]);
        if (size == 0 || (writes[i].type != SW__REC_PUT && writes[i].type != SW__REC_DEL))
            return SW_EINVAL;
        blen += size;
    }
    struct sw__shard_tx *t = calloc(1, sizeof *t);
    uint8_t *b = malloc(blen ? blen : 1);
    if (!t || !b) {
        free(t);
        free(b);
        return SW_ENOMEM;
    }
    for (size_t i = 0, at = 0; i < n; i++)
        at += sw__rec_encode(b + at, &writes[i]);
    uint8_t head[PART_HEAD];
    sw__rec r = part_rec(txid, head, nparts, part, b, blen);
    sw__rec d = decided_rec(txid);
    size_t held = sw__rec_size(&d);
    int rc = sw__rec_size(&r) ? sw__journal_hold(&s->j, held) : SW_EINVAL;
    if (rc == SW_OK) {
        rc = sw__journal_append(&s->j, &r);
        if (rc != SW_OK)
            sw__journal_release(&s->j, held);
    }
    if (rc != SW_OK) {
        free(t);
        free(b);
        return rc;
    }
    sw__db_compact_note(s, &r);
    sw__journal_sync_batch(&s->j); /* whatever the policy: see shard.h */
    *t = (struct sw__shard_tx){
        .txid = txid, .nparts = nparts, .part = part, .held = held, .b = b, .blen = blen};
    link_live(s, t);
    *tx = t;
    return SW_OK;
}

int sw__shard_tx_decide(sw__shard *s, sw__shard_tx *tx)
{
    if (!tx)
        return SW_OK;
    sw__journal_release(&s->j, tx->held);
    tx->held = 0;
    sw__rec d = decided_rec(tx->txid);
    int rc = sw__journal_append(&s->j, &d);
    if (rc != SW_OK)
        return rc;
    sw__db_compact_note(s, &d);
    sw__journal_sync_batch(&s->j);
    tx->decided = true;
    if (tx->tentative) {
        tx->tentative = false;
        s->tx_tentative--;
    }
    free(tx->b); /* the table will hold the writes, and a snapshot with it */
    tx->b = NULL;
    s->tx_quiet = true;
    return SW_OK;
}

void sw__shard_tx_applied(sw__shard *s)
{
    s->tx_quiet = false;
}

void sw__shard_tx_forget(sw__shard *s, sw__shard_tx *tx)
{
    if (!tx)
        return;
    if (tx->held)
        sw__journal_release(&s->j, tx->held);
    if (tx->tentative)
        s->tx_tentative--;
    if (tx->prev)
        tx->prev->next = tx->next;
    else
        s->tx_live = tx->next;
    if (tx->next)
        tx->next->prev = tx->prev;
    else
        s->tx_live_tail = tx->prev;
    free(tx->b);
    free(tx);
}

void sw__shard_tx_free(struct sw__shard *s)
{
    free(s->unit_buf);
    s->unit_buf = NULL;
    s->unit_cap = 0;
    while (s->tx_live) {
        s->tx_live->held = 0; /* the journal is closed */
        sw__shard_tx_forget(s, s->tx_live);
    }
}

int sw__shard_tx_carry(struct sw__shard *s)
{
    for (struct sw__shard_tx *t = s->tx_live; t; t = t->next) {
        uint8_t head[PART_HEAD];
        sw__rec r = t->decided ? decided_rec(t->txid)
                               : part_rec(t->txid, head, t->nparts, t->part, t->b, t->blen);
        int rc = sw__log_writer_append(&s->compact, &r);
        if (rc != SW_OK)
            return rc;
    }
    return SW_OK;
}

/* ---- units ------------------------------------------------------------------------ */

void sw__shard_unit_begin(sw__shard *s)
{
    s->unit = s->j.open;
    if (s->unit && s->unit_reserved) { /* its end's room, held ahead */
        s->unit_reserved--;
        s->unit_holds = 1;
        s->unit_held = SW__UNIT_EXTRA;
    }
}

int sw__shard_unit_reserve(sw__shard *s)
{
    if (!s->j.open)
        return SW_OK;
    int rc = sw__journal_hold(&s->j, SW__UNIT_EXTRA);
    s->unit_reserved += rc == SW_OK;
    return rc;
}

void sw__shard_unit_unreserve(sw__shard *s)
{
    if (!s->j.open || !s->unit_reserved)
        return;
    s->unit_reserved--;
    sw__journal_release(&s->j, SW__UNIT_EXTRA);
}

size_t sw__shard_unit_writes(const sw__shard *s)
{
    return s->unit_n;
}

int sw__shard_unit_add(struct sw__shard *s, const sw__rec *r, int (*apply_fn)(void *ctx), void *ctx)
{
    size_t size = sw__rec_size(r), hold = size + (s->unit_holds ? 0 : SW__UNIT_EXTRA);
    if (s->unit_len + size > s->unit_cap) {
        size_t cap = s->unit_cap ? s->unit_cap : 256;
        while (cap < s->unit_len + size)
            cap *= 2;
        uint8_t *buf = realloc(s->unit_buf, cap);
        if (!buf)
            return SW_ENOMEM;
        s->unit_buf = buf;
        s->unit_cap = cap;
    }
    int rc = sw__journal_hold(&s->j, hold);
    if (rc != SW_OK)
        return rc;
    /* Encoded before the change, which may free what r points to (a value
     * moved from one key to another). */
    size_t len = sw__rec_encode(s->unit_buf + s->unit_len, r);
    rc = apply_fn(ctx);
    if (rc != SW_OK) {
        sw__journal_release(&s->j, hold);
        return rc;
    }
    s->unit_len += len;
    s->unit_n++;
    s->unit_holds++;
    s->unit_held += hold;
    return SW_OK;
}

/* Gives back the unit's room. Each hold is given back once: all their
 * bytes with the first release, none with the rest. */
static void unit_release(struct sw__shard *s)
{
    for (size_t i = 0; i < s->unit_holds; i++)
        sw__journal_release(&s->j, i == 0 ? s->unit_held : 0);
}

static void unit_reset(struct sw__shard *s)
{
    s->unit = false;
    s->unit_len = s->unit_n = s->unit_holds = s->unit_held = 0;
}

/* Appends r to the log, and to a compaction's new file. */
static int log_rec(struct sw__shard *s, const sw__rec *r)
{
    int rc = sw__journal_append(&s->j, r);
    if (rc == SW_OK)
        sw__db_compact_note(s, r);
    return rc;
}

void sw__shard_unit_suspend(sw__shard *s, sw__shard_unit *u)
{
    *u = (sw__shard_unit){.on = s->unit,
                          .buf = s->unit_buf,
                          .len = s->unit_len,
                          .cap = s->unit_cap,
                          .n = s->unit_n,
                          .holds = s->unit_holds,
                          .held = s->unit_held};
    if (!s->unit) {
        u->buf = NULL;
        return;
    }
    s->unit_buf = NULL; /* the unit's now: the next unit makes its own */
    s->unit_cap = 0;
    unit_reset(s);
    s->tx_tentative++;
}

void sw__shard_unit_resume(sw__shard *s, sw__shard_unit *u)
{
    if (!u->on)
        return;
    if (u->buf) { /* else it wrote nothing yet: the shard's buffer serves */
        free(s->unit_buf);
        s->unit_buf = u->buf;
        s->unit_cap = u->cap;
    }
    s->unit = true;
    s->unit_len = u->len;
    s->unit_n = u->n;
    s->unit_holds = u->holds;
    s->unit_held = u->held;
    s->tx_tentative--;
    *u = (sw__shard_unit){0};
}

int sw__shard_unit_end(sw__shard *s)
{
    int rc = SW_OK;
    unit_release(s);
    if (s->unit_n == 1) {
        sw__rec r;
        size_t used;
        sw__rec_decode(s->unit_buf, s->unit_len, SW__REC_MAX_BODY, &r, &used);
        rc = log_rec(s, &r);
    } else if (s->unit_n > 1) {
        uint8_t head[PART_HEAD];
        sw__rec r = part_rec(0, head, 1, 0, s->unit_buf, s->unit_len);
        rc = log_rec(s, &r);
    }
    unit_reset(s);
    return rc;
}

int sw__shard_unit_end_part(sw__shard *s, uint64_t txid, unsigned nparts, unsigned part,
                            sw__shard_tx **tx)
{
    *tx = NULL;
    struct sw__shard_tx *t = calloc(1, sizeof *t);
    uint8_t *b = malloc(s->unit_len ? s->unit_len : 1);
    sw__rec d = decided_rec(txid);
    size_t dsize = sw__rec_size(&d);
    uint8_t head[PART_HEAD];
    sw__rec r = part_rec(txid, head, nparts, part, s->unit_buf, s->unit_len);
    int rc = t && b ? SW_OK : SW_ENOMEM;
    /* The room given back covers the PART and the DECIDED (SW__UNIT_EXTRA),
     * so the hold and the append that follow cannot be refused for it. */
    unit_release(s);
    if (rc == SW_OK)
        rc = sw__journal_hold(&s->j, dsize);
    if (rc == SW_OK && (rc = log_rec(s, &r)) != SW_OK)
        sw__journal_release(&s->j, dsize);
    if (rc != SW_OK) {
        free(t);
        free(b);
        unit_reset(s);
        return rc;
    }
    sw__journal_sync_batch(&s->j);
    if (s->unit_len) /* (no buffer yet when nothing was written) */
        memcpy(b, s->unit_buf, s->unit_len);
    *t = (struct sw__shard_tx){
        .txid = txid, .nparts = nparts, .part = part, .held = dsize, .b = b, .blen = s->unit_len};
    t->tentative = true;
    s->tx_tentative++;
    link_live(s, t);
    unit_reset(s);
    *tx = t;
    return SW_OK;
}

/* ---- recovery ------------------------------------------------------------------ */

/* A PART met in a log. */
struct seen {
    uint64_t txid;
    uint32_t nparts, part;
};

/* A PART waiting for its shard's DECIDED; a copy of its writes. */
struct waiting {
    struct sw__shard *s;
    uint64_t txid;
    uint32_t nparts;
    uint8_t *b;
    size_t blen;
};

struct sw__txrecovery {
    struct seen *seen;
    size_t nseen, capseen;
    uint64_t *decided;
    size_t ndecided, capdecided;
    struct waiting *wait;
    size_t nwait, capwait;
    uint64_t max_txid;
};

/* Grows *p (an array of *cap elements of size each) to hold one more. */
static bool grow(void *p, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return true;
    size_t cap2 = *cap ? *cap * 2 : 64;
    void *q = realloc(*(void **)p, cap2 * size);
    if (!q)
        return false;
    *(void **)p = q;
    *cap = cap2;
    return true;
}

/* Checks the writes a PART holds: whole records, each a PUT, a DEL or an
 * EXPIRE (a unit's). */
static bool writes_valid(const uint8_t *b, size_t blen)
{
    for (size_t at = 0, used; at < blen; at += used) {
        sw__rec w;
        if (sw__rec_decode(b + at, blen - at, SW__REC_MAX_BODY, &w, &used) != SW_OK ||
            (w.type != SW__REC_PUT && w.type != SW__REC_DEL && w.type != SW__REC_EXPIRE) ||
            w.num < 0)
            return false;
    }
    return true;
}

/* Applies a part's writes (valid: writes_valid) to its shard's table. */
static int apply_writes(struct sw__shard *s, const uint8_t *b, size_t blen)
{
    int rc = SW_OK;
    for (size_t at = 0, used; rc == SW_OK && at < blen; at += used) {
        sw__rec w;
        sw__rec_decode(b + at, blen - at, SW__REC_MAX_BODY, &w, &used);
        rc = sw__db_replay_write(s, &w);
    }
    return rc;
}

int sw__shard_tx_replay(struct sw__shard *s, const sw__rec *r)
{
    struct sw__txrecovery *x = s->txr;
    if (r->type == SW__REC_TX_PART && r->alen == PART_HEAD && get_u32(r->a) == 1) {
        /* A transaction of one part: a unit (txid 0), or an EXEC whose
         * keys all live on one other shard. It applies where it stands. */
        if (r->num < 0 || get_u32((const uint8_t *)r->a + 4) != 0 || !writes_valid(r->b, r->blen))
            return SW_EIO;
        if (x && (uint64_t)r->num > x->max_txid)
            x->max_txid = (uint64_t)r->num;
        return apply_writes(s, r->b, r->blen);
    }
    if (!x || r->num <= 0)
        return SW_EIO; /* a Db's log holds no transactions */
    uint64_t txid = (uint64_t)r->num;
    if (txid > x->max_txid)
        x->max_txid = txid;
    if (r->type == SW__REC_TX_DECIDED) {
        if (r->alen || r->blen || !grow(&x->decided, &x->capdecided, x->ndecided, sizeof(uint64_t)))
            return SW_EIO;
        x->decided[x->ndecided++] = txid;
        for (size_t i = x->nwait; i-- > 0;) {
            struct waiting *w = &x->wait[i];
            if (w->s != s || w->txid != txid)
                continue;
            int rc = apply_writes(s, w->b, w->blen);
            free(w->b);
            memmove(w, w + 1, (x->nwait - i - 1) * sizeof *w);
            x->nwait--;
            return rc;
        }
        return SW_OK; /* its writes are in the snapshot before it */
    }
    if (r->alen != PART_HEAD)
        return SW_EIO;
    uint32_t nparts = get_u32(r->a), part = get_u32((const uint8_t *)r->a + 4);
    if (nparts < 1 || part >= nparts || !writes_valid(r->b, r->blen))
        return SW_EIO;
    if (!grow(&x->seen, &x->capseen, x->nseen, sizeof *x->seen) ||
        !grow(&x->wait, &x->capwait, x->nwait, sizeof *x->wait))
        return SW_ENOMEM;
    uint8_t *b = malloc(r->blen ? r->blen : 1);
    if (!b)
        return SW_ENOMEM;
    memcpy(b, r->b, r->blen);
    x->seen[x->nseen++] = (struct seen){txid, nparts, part};
    x->wait[x->nwait++] = (struct waiting){s, txid, nparts, b, r->blen};
    return SW_OK;
}

static int cmp_seen(const void *a, const void *b)
{
    const struct seen *x = a, *y = b;
    if (x->txid != y->txid)
        return x->txid < y->txid ? -1 : 1;
    return x->part < y->part ? -1 : x->part > y->part;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Whether transaction txid of nparts parts is decided (the file's top). */
static bool decided(const struct sw__txrecovery *x, uint64_t txid, uint32_t nparts)
{
    if (x->ndecided && bsearch(&txid, x->decided, x->ndecided, sizeof *x->decided, cmp_u64))
        return true;
    size_t lo = 0, hi = x->nseen; /* the first PART of txid */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (x->seen[mid].txid < txid)
            lo = mid + 1;
        else
            hi = mid;
    }
    uint32_t parts = 0; /* distinct: a compaction may have carried one twice */
    for (size_t i = lo; i < x->nseen && x->seen[i].txid == txid; i++)
        parts += i == lo || x->seen[i].part != x->seen[i - 1].part;
    return parts == nparts;
}

/* Every log is read: the parts left at the end of theirs apply if decided,
 * and their shards log the DECIDED they lacked. */
static int settle(struct sw__txrecovery *x)
{
    if (x->nwait == 0)
        return SW_OK;
    if (x->nseen) /* never empty here, but qsort's array must not be NULL */
        qsort(x->seen, x->nseen, sizeof *x->seen, cmp_seen);
    if (x->ndecided)
        qsort(x->decided, x->ndecided, sizeof *x->decided, cmp_u64);
    int rc = SW_OK;
    for (size_t i = 0; i < x->nwait && rc == SW_OK; i++) {
        struct waiting *w = &x->wait[i];
        if (!decided(x, w->txid, w->nparts))
            continue; /* never acknowledged: it never happened */
        sw__rec d = decided_rec(w->txid);
        rc = apply_writes(w->s, w->b, w->blen);
        if (rc == SW_OK)
            rc = sw__journal_append(&w->s->j, &d);
        if (rc == SW_OK && !sw__journal_commit(&w->s->j))
            rc = SW_EIO;
    }
    return rc;
}

static void recovery_free(struct sw__txrecovery *x)
{
    for (size_t i = 0; i < x->nwait; i++)
        free(x->wait[i].b);
    free(x->wait);
    free(x->seen);
    free(x->decided);
}

int sw__shards_open(sw__shard **out, unsigned n, const char *dir, const char *kind,
                    enum sw_fsync fsync, uint64_t *next_txid, char *err, size_t errlen)
{
    struct sw__txrecovery x = {0};
    int rc = SW_OK;
    unsigned opened = 0;
    for (unsigned i = 0; i < n; i++)
        out[i] = NULL;
    for (; opened < n && rc == SW_OK; opened++) {
        struct sw__shard *s = malloc(sizeof *s);
        if (!s) {
            snprintf(err, errlen, "out of memory");
            rc = SW_ENOMEM;
            break;
        }
        out[opened] = s;
        rc = sw__shard_init(s, opened, dir, kind, fsync, &x, err, errlen);
        s->txr = NULL;
    }
    if (rc == SW_OK && dir) {
        rc = settle(&x);
        if (rc != SW_OK)
            snprintf(err, errlen, "cannot settle the transactions across shards: %s",
                     sw_strerror(rc));
    }
    /* Only now, every part in place, the keys whose deadline passed go:
     * a part applied at its log's end may clear or move a deadline, and
     * the next open applies it at the DECIDED settle logged, before the
     * end, where the key is still there. */
    for (unsigned i = 0; rc == SW_OK && dir && i < n; i++)
        sw__db_purge_expired(out[i]);
    *next_txid = x.max_txid + 1;
    recovery_free(&x);
    if (rc != SW_OK)
        for (unsigned i = 0; i < n; i++) {
            sw__shard_close(out[i]);
            out[i] = NULL;
        }
    return rc;
}
