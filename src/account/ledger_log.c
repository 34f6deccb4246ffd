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
 * without the other: the debit is committed before the credit is even
 * asked for, so a kill between the two, or a torn batch, leaves a debit
 * alone; with a weaker fsync policy a power failure might keep a credit
 * whose debit was lost. Recovery replays every shard, pairs the halves by
 * transfer id across all logs, and settles every unpaired half: a lone
 * debit is refunded, a lone credit taken back. Each settlement is logged
 * as the missing half (the refund is a credit with the same id), before any
 * new operation, so the next recovery finds the pair complete and an
 * ACCT_SET written after the settlement, which includes it, is never
 * settled twice. Hence every acknowledged operation is reflected exactly
 * once, and an unacknowledged transfer is wholly applied or not at all: no
 * crash, at any instant, creates or destroys money.
 *
 * Transfer ids are this open's random nonce and a per-thread sequence, so
 * they never repeat across threads or restarts.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../log/datadir.h"
#include "ledger_int.h"

sw__rec sw__ledger_rec(uint8_t type, const uint8_t *txid, uint64_t id, int64_t num,
                       uint8_t buf[SW__TXID_LEN + 8])
{
    size_t at = 0;
    if (txid) {
        memcpy(buf, txid, SW__TXID_LEN);
        at = SW__TXID_LEN;
    }
    for (int i = 0; i < 8; i++)
        buf[at + (size_t)i] = (uint8_t)(id >> (8 * i));
    return (sw__rec){.type = type, .num = num, .a = buf, .alen = at + 8};
}

static uint64_t read_id(const uint8_t *p)
{
    uint64_t id = 0;
    for (int i = 0; i < 8; i++)
        id |= (uint64_t)p[i] << (8 * i);
    return id;
}

void sw__ledger_txid(const sw_ledger *l, uint8_t txid[SW__TXID_LEN])
{
    static _Atomic uint64_t next_thread;
    static _Thread_local uint64_t seq;
    if (seq == 0) /* a thread's first transfer: 2^40 ids for each thread */
        seq = (atomic_fetch_add(&next_thread, 1) + 1) << 40;
    uint64_t s = seq++;
    memcpy(txid, &l->nonce, 8);
    memcpy(txid + 8, &s, 8);
}

void sw__ledger_batch_end(void *state)
{
    sw__journal_commit(&((struct sw__lshard *)state)->j);
}

/* ---- recovery ---- */

struct half {
    uint8_t txid[SW__TXID_LEN];
    uint64_t id;
    int64_t amount;
    unsigned shard;
    uint8_t type;
};

struct recovery {
    struct half *halves;
    size_t n, cap;
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
    h->amount = r->num;
    h->shard = shard;
    h->type = r->type;
    return SW_OK;
}

static int replay(void *ctx, const sw__rec *r)
{
    struct replay_ctx *c = ctx;
    bool xfer = r->type == SW__REC_XFER_DEBIT || r->type == SW__REC_XFER_CREDIT;
    if ((r->type != SW__REC_ACCT_SET && !xfer) || r->alen != (xfer ? SW__TXID_LEN + 8 : 8) ||
        r->num < 0)
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
    if (r->type == SW__REC_XFER_DEBIT)
        a->balance -= r->num;
    else
        a->balance += r->num;
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
    a->balance += debit ? h->amount : -h->amount;
    if (a->balance < 0) {
        fprintf(stderr,
                "steward: ledger shard %u: taking back a transfer whose debit was lost "
                "leaves account %llu at %lld; set to 0\n",
                h->shard, (unsigned long long)h->id, (long long)a->balance);
        a->balance = 0;
    }
    uint8_t buf[SW__TXID_LEN + 8];
    sw__rec r = sw__ledger_rec(debit ? SW__REC_XFER_CREDIT : SW__REC_XFER_DEBIT, h->txid, h->id,
                               h->amount, buf);
    fprintf(stderr,
            "steward: ledger shard %u: %s a transfer of %lld on account %llu that a "
            "crash left half done\n",
            h->shard, debit ? "refunding" : "taking back", (long long)h->amount,
            (unsigned long long)h->id);
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
        /* A txid's halves sort debits first: [i, i+d) then [i+d, j). */
        size_t lone_d = d > c ? d - c : 0, lone_c = c > d ? c - d : 0;
        for (size_t k = i + d - lone_d; k < i + d; k++)
            if (settle(l, &rec->halves[k]) != SW_OK)
                return SW_ENOMEM;
        for (size_t k = j - lone_c; k < j; k++)
            if (settle(l, &rec->halves[k]) != SW_OK)
                return SW_ENOMEM;
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
    if (rc == SW_OK)
        rc = settle_all(l, &rec);
    free(rec.halves);
    return rc;
}
