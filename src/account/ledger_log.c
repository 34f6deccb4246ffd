/* The Ledger's durability: what each shard logs, and recovery.
 *
 * DESIGN
 *
 * Each shard has a journal (journal.h) in the data directory,
 * ledger-shard-NNNN.log, written by the shard's owner with group commit as
 * the Db's. What it logs:
 *   - ACCT_SET (id, balance) for create, deposit and withdraw: the balance
 *     after the operation, so replaying it is idempotent;
 *   - XFER_DEBIT (txid, id, amount) and XFER_CREDIT (txid, id, amount) for
 *     the two halves of every transfer. A cross-shard transfer logs its debit
 *     in the source shard's log and its credit in the destination's; a
 *     transfer within one shard logs both in one batch. Replaying them
 *     subtracts and adds the amount, in log order with the ACCT_SETs.
 *
 * Money across a crash. A transfer is acknowledged only after both halves
 * are committed (SW_FSYNC_ALWAYS: on disk). A crash can leave one half
 * without the other: a cross-shard debit is committed, and fdatasynced
 * whatever the policy, before the credit is even asked for, so a kill or
 * a power cut between the two, or a torn batch, leaves a debit alone. (If
 * the debit were not synced first, a power cut under everysec could keep
 * the credit, whose money may since have moved on, and lose the debit:
 * taking the credit back would then need a balance below zero.) Recovery
 * replays every shard, pairs the halves by transfer id across all logs,
 * and settles every unpaired half: a lone debit is refunded, a lone
 * credit (which only a damaged log can hold now) taken back, clamped at
 * zero. Each settlement is logged as the missing half (the refund is a
 * credit with the same id), before any new operation, so the next recovery
 * finds the pair complete and an ACCT_SET written after the settlement,
 * which includes it, is never settled twice. Hence every acknowledged
 * operation is reflected exactly once, and an unacknowledged transfer is
 * wholly applied or not at all: no crash, at any instant, creates or
 * destroys money.
 *
 * Transfer ids are this open's random nonce and a per-thread sequence, so
 * they never repeat across threads or restarts; each half also records the
 * compaction epoch it was made in.
 *
 * Compaction. When a shard's log grows past twice its live data (and
 * compact_min), the maintenance thread compacts every shard at once: it
 * quiesces the Ledger (every transfer done, new ones wait at the gate),
 * raises the epoch E, syncs every shard's log (whatever the fsync policy),
 * and only then has each shard replace its log with a snapshot:
 * SNAPSHOT_BEGIN (num = E), an ACCT_SET per account, SNAPSHOT_END. No
 * transfer is half done at that moment, so the snapshots drop transfer
 * records safely, as long as recovery knows which halves were complete. A
 * crash between two shards' switches leaves some logs at epoch E and some
 * still holding the halves of transfers from before, whose partners may be
 * gone. So recovery takes the highest snapshot epoch E it finds and
 * settles only halves of epoch E or later: every transfer of an earlier
 * epoch was wholly done before compaction E began, and, the old logs
 * having been synced before the first switch, none of its halves can have
 * been lost to a power cut.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log/datadir.h"
#include "account/ledger_int.h"
#include "base/base.h"

sw__rec sw__ledger_rec(uint8_t type, const uint8_t *txid, uint64_t id, int64_t num, uint32_t epoch,
                       uint8_t buf[SW__LEDGER_REC_BUF])
{
    size_t at = 0;
    if (txid) {
        memcpy(buf, txid, SW__TXID_LEN);
        at = SW__TXID_LEN;
    }
    for (int i = 0; i < 8; i++)
        buf[at + (size_t)i] = (uint8_t)(id >> (8 * i));
    sw__rec r = {.type = type, .num = num, .a = buf, .alen = at + 8};
    if (txid) {
        for (int i = 0; i < 4; i++)
            buf[at + 8 + (size_t)i] = (uint8_t)(epoch >> (8 * i));
        r.b = buf + at + 8;
        r.blen = 4;
    }
    return r;
}

static uint64_t read_id(const uint8_t *p)
{
    uint64_t id = 0;
    for (int i = 0; i < 8; i++)
        id |= (uint64_t)p[i] << (8 * i);
    return id;
}

void sw__ledger_txid(const sw_ledger *l, uint8_t txid[SW__TXID_LEN], uint32_t *epoch)
{
    static _Atomic uint64_t next_thread;
    static _Thread_local uint64_t seq;
    if (seq == 0) /* a thread's first transfer: 2^40 ids for each thread */
        seq = (atomic_fetch_add(&next_thread, 1) + 1) << 40;
    uint64_t s = seq++;
    memcpy(txid, &l->nonce, 8);
    memcpy(txid + 8, &s, 8);
    *epoch = atomic_load_explicit(&l->epoch, memory_order_relaxed);
}

static uint32_t read_u32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t)p[i] << (8 * i);
    return v;
}

#define COMPACT_MIN_BYTES ((uint64_t)4 << 20)
#define ACCT_RECORD_BYTES 32 /* about what an ACCT_SET takes in a log */

void sw__ledger_batch_end(void *state)
{
    struct sw__lshard *s = state;
    if (!sw__journal_commit(&s->j))
        return;
    uint64_t size = sw__log_size(&s->j.log);
    if (size > s->ledger->compact_min && size > 2 * ACCT_RECORD_BYTES * (uint64_t)s->map.count)
        atomic_store_explicit(&s->ledger->compact_due, 1, memory_order_relaxed);
}

/* ---- compaction ---- */

struct snap_req {
    uint32_t epoch;
    int rc;
};

/* On the shard's owner: makes everything its log holds durable, whatever
 * the fsync policy (the first phase of a compaction). */
static void sync_fn(void *state, void *arg)
{
    struct sw__lshard *s = state;
    struct snap_req *r = arg;
    if (!sw__journal_commit(&s->j) || sw__log_sync(&s->j.log) != SW_OK)
        r->rc = SW_EIO;
}

/* On the shard's owner: replaces its log with a snapshot of its accounts. */
static void snapshot_fn(void *state, void *arg)
{
    struct sw__lshard *s = state;
    struct snap_req *r = arg;
    r->rc = SW_EIO;
    if (!sw__journal_commit(&s->j)) /* the batch so far goes to the old file */
        return;
    sw__log_writer w;
    char err[256];
    if (sw__log_writer_begin(&w, s->j.log.path, err, sizeof err) != SW_OK) {
        sw__logmsg(SW_LOG_WARN, "ledger shard %u: cannot compact: %s", s->index, err);
        return;
    }
    uint8_t buf[SW__LEDGER_REC_BUF];
    sw__rec begin = {.type = SW__REC_SNAPSHOT_BEGIN, .num = r->epoch};
    int rc = sw__log_writer_append(&w, &begin);
    for (size_t i = 0; rc == SW_OK && s->map.slots && i <= s->map.mask; i++) {
        const struct sw__acct *a = &s->map.slots[i];
        if (!a->used)
            continue;
        sw__rec set = sw__ledger_rec(SW__REC_ACCT_SET, NULL, a->id, a->balance, 0, buf);
        rc = sw__log_writer_append(&w, &set);
    }
    sw__rec end = {.type = SW__REC_SNAPSHOT_END, .num = r->epoch};
    if (rc == SW_OK)
        rc = sw__log_writer_append(&w, &end);
    if (rc == SW_OK)
        rc = sw__log_writer_commit(&w, &s->j.log);
    if (rc != SW_OK) {
        sw__logmsg(SW_LOG_WARN, "ledger shard %u: compaction failed: %s", s->index,
                   w.errmsg[0] ? w.errmsg : sw_strerror(rc));
        sw__log_writer_abort(&w);
        if (sw__log_failed(&s->j.log))
            s->j.failed = true; /* switched, but not durably: refuse, as for a failed commit */
    }
    r->rc = rc;
}

int sw__ledger_compact(sw_ledger *l)
{
    if (!l->dir)
        return SW_OK;
    sw__ledger_quiesce(l);
    struct snap_req r = {.epoch = atomic_load(&l->epoch) + 1, .rc = SW_OK};
    atomic_store(&l->epoch, r.epoch); /* transfers after this one carry the new epoch */
    /* Two phases. Every old log is whole on disk before any shard switches
     * to its snapshot: a power cut between two shards' switches leaves
     * some at epoch E, and recovery then leaves the older halves of the
     * others alone, which is right only if none of them was lost
     * (crash_states found it with everysec). */
    int rc = SW_OK;
    for (unsigned i = 0; i < l->n && rc == SW_OK; i++) {
        rc = sw_owner_call(l->shards[i].owner, sync_fn, &r);
        if (rc == SW_OK)
            rc = r.rc;
    }
    for (unsigned i = 0; i < l->n && rc == SW_OK; i++) {
        rc = sw_owner_call(l->shards[i].owner, snapshot_fn, &r);
        if (rc == SW_OK)
            rc = r.rc;
    }
    atomic_store_explicit(&l->compact_due, 0, memory_order_relaxed);
    if (rc != SW_OK) /* do not retry at once */
        l->compact_min *= 2;
    sw__ledger_resume(l);
    return rc;
}

static void maint_tick(void *ctx)
{
    sw_ledger *l = ctx;
    if (atomic_load_explicit(&l->compact_due, memory_order_relaxed))
        sw__ledger_compact(l);
}

int sw__ledger_maint_start(sw_ledger *l)
{
    l->compact_min = COMPACT_MIN_BYTES;
    return sw__ticker_start(&l->maint, 100000000, maint_tick, l);
}

void sw__ledger_maint_stop(sw_ledger *l)
{
    sw__ticker_stop(&l->maint);
}

/* ---- recovery ---- */

struct half {
    uint8_t txid[SW__TXID_LEN];
    uint32_t epoch;
    uint64_t id;
    int64_t amount;
    unsigned shard;
    uint8_t type;
};

struct recovery {
    struct half *halves;
    size_t n, cap;
    uint32_t epoch; /* the highest snapshot epoch of any shard */
};

struct replay_ctx {
    struct sw__lshard *s;
    struct recovery *rec;
};

static int keep_half(struct recovery *rec, const sw__rec *r, unsigned shard)
{
    if (rec->n == rec->cap) {
        size_t cap = rec->cap ? rec->cap * 2 : 1024;
        struct half *h = realloc(rec->halves, cap * sizeof *h);
        if (!h)
            return SW_ENOMEM;
        rec->halves = h;
        rec->cap = cap;
    }
    struct half *h = &rec->halves[rec->n++];
    memcpy(h->txid, r->a, SW__TXID_LEN);
    h->id = read_id((const uint8_t *)r->a + SW__TXID_LEN);
    h->epoch = r->blen == 4 ? read_u32(r->b) : 0;
    h->amount = r->num;
    h->shard = shard;
    h->type = r->type;
    return SW_OK;
}

static int replay(void *ctx, const sw__rec *r)
{
    struct replay_ctx *c = ctx;
    if (r->type == SW__REC_SNAPSHOT_BEGIN || r->type == SW__REC_SNAPSHOT_END) {
        if (r->num < 0 || r->num > UINT32_MAX)
            return SW_EIO;
        if ((uint32_t)r->num > c->rec->epoch)
            c->rec->epoch = (uint32_t)r->num;
        return SW_OK;
    }
    bool xfer = r->type == SW__REC_XFER_DEBIT || r->type == SW__REC_XFER_CREDIT;
    if ((r->type != SW__REC_ACCT_SET && !xfer) || r->alen != (xfer ? SW__TXID_LEN + 8 : 8) ||
        r->blen != (xfer ? 4 : 0) || r->num < 0)
        return SW_EIO; /* not a Ledger record */
    uint64_t id = read_id((const uint8_t *)r->a + (xfer ? SW__TXID_LEN : 0));
    struct sw__acct *a = sw__acctmap_find(&c->s->map, id);
    if (r->type == SW__REC_ACCT_SET) {
        if (!a && !(a = sw__acctmap_insert(&c->s->map, id)))
            return SW_ENOMEM;
        a->balance = r->num;
        return SW_OK;
    }
    if (!a)
        return SW_EIO; /* a transfer on an account never created */
    /* Live transfers never overdraw past INT64_MIN nor overflow, so a log
     * that makes a balance do so is corrupt, not a crash's leftovers. */
    bool over = r->type == SW__REC_XFER_DEBIT
                    ? __builtin_sub_overflow(a->balance, r->num, &a->balance)
                    : __builtin_add_overflow(a->balance, r->num, &a->balance);
    if (over)
        return SW_EIO;
    return keep_half(c->rec, r, c->s->index);
}

static int half_cmp(const void *x, const void *y)
{
    const struct half *a = x, *b = y;
    int c = memcmp(a->txid, b->txid, SW__TXID_LEN);
    return c ? c : (int)a->type - (int)b->type;
}

/* Settles one unpaired half: undoes it in memory and logs its missing
 * partner, so the log tells the same story. */
static int settle(sw_ledger *l, const struct half *h)
{
    struct sw__lshard *s = &l->shards[h->shard];
    struct sw__acct *a = sw__acctmap_find(&s->map, h->id);
    bool debit = h->type == SW__REC_XFER_DEBIT;
    if (__builtin_add_overflow(a->balance, debit ? h->amount : -h->amount, &a->balance))
        return SW_EIO; /* only a corrupt log can get here: see replay */
    uint8_t buf[SW__LEDGER_REC_BUF];
    sw__rec r = sw__ledger_rec(debit ? SW__REC_XFER_CREDIT : SW__REC_XFER_DEBIT, h->txid, h->id,
                               h->amount, h->epoch, buf);
    sw__logmsg(SW_LOG_WARN,
               "ledger shard %u: %s a transfer of %lld on account %llu that a "
               "crash left half done",
               h->shard, debit ? "refunding" : "taking back", (long long)h->amount,
               (unsigned long long)h->id);
    int rc = sw__log_append(&s->j.log, &r);
    if (rc != SW_OK || a->balance >= 0)
        return rc;
    /* The lost debit's money was spent already: clamp at 0, and log the
     * clamp too, so that the next recovery replays to the same balance. */
    sw__logmsg(SW_LOG_WARN,
               "ledger shard %u: taking back a transfer whose debit was lost "
               "leaves account %llu at %lld; set to 0",
               h->shard, (unsigned long long)h->id, (long long)a->balance);
    a->balance = 0;
    r = sw__ledger_rec(SW__REC_ACCT_SET, NULL, h->id, 0, 0, buf);
    return sw__log_append(&s->j.log, &r);
}

/* Pairs the halves by transfer id and settles every one left alone. */
static int settle_all(sw_ledger *l, struct recovery *rec)
{
    if (rec->n > 1)
        qsort(rec->halves, rec->n, sizeof *rec->halves, half_cmp);
    for (size_t i = 0; i < rec->n;) {
        size_t j = i, d = 0, c = 0;
        for (; j < rec->n && memcmp(rec->halves[j].txid, rec->halves[i].txid, SW__TXID_LEN) == 0;
             j++) {
            if (rec->halves[j].type == SW__REC_XFER_DEBIT)
                d++;
            else
                c++;
        }
        /* A txid's halves sort debits first: [i, i+d) then [i+d, j). A
         * transfer from before the latest compaction was wholly done: a
         * half of it alone lost its partner to a snapshot, not to a crash. */
        bool settled = rec->halves[i].epoch < rec->epoch;
        size_t lone_d = !settled && d > c ? d - c : 0, lone_c = !settled && c > d ? c - d : 0;
        for (size_t k = i + d - lone_d; k < i + d; k++) {
            int rc = settle(l, &rec->halves[k]);
            if (rc != SW_OK)
                return rc;
        }
        for (size_t k = j - lone_c; k < j; k++) {
            int rc = settle(l, &rec->halves[k]);
            if (rc != SW_OK)
                return rc;
        }
        i = j;
    }
    for (unsigned i = 0; i < l->n; i++)
        if (sw__log_flush(&l->shards[i].j.log, true) != SW_OK)
            return SW_EIO;
    return SW_OK;
}

int sw__ledger_recover(sw_ledger *l, const sw_ledger_options *opts, unsigned *shards, unsigned dflt,
                       char *err, size_t errlen)
{
    int rc = sw__datadir_open(opts->dir, "ledger", shards, dflt, err, errlen);
    if (rc != SW_OK)
        return rc;
    l->dir = strdup(opts->dir);
    l->shards = calloc(*shards, sizeof *l->shards);
    if (!l->dir || !l->shards)
        return SW_ENOMEM;
    struct recovery rec = {0};
    for (; rc == SW_OK && l->n < *shards; l->n++) {
        struct sw__lshard *s = &l->shards[l->n];
        char path[PATH_MAX], name[32];
        s->index = l->n;
        snprintf(name, sizeof name, "ledger shard %u", l->n);
        rc = sw__datadir_log_path(path, sizeof path, l->dir, "ledger", l->n);
        struct replay_ctx ctx = {s, &rec};
        if (rc == SW_OK)
            rc = sw__journal_open(&s->j, path, opts->fsync, replay, &ctx, name, err, errlen);
        if (rc != SW_OK && err[0] == 0)
            snprintf(err, errlen, "%s: not a ledger log, or out of memory", path);
    }
    if (rc == SW_OK) {
        rc = settle_all(l, &rec);
        if (rc == SW_EIO && err[0] == 0)
            snprintf(err, errlen,
                     "%s: settling a half-done transfer overflows a balance or "
                     "cannot be logged",
                     l->dir);
    }
    atomic_store(&l->epoch, rec.epoch); /* new transfers belong to the latest epoch */
    free(rec.halves);
    return rc;
}
