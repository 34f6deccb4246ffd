/* The Ledger: many accounts by id, spread over shards, with transfers.
 *
 * DESIGN
 *
 * Each shard is an owner whose state is an id -> account map (acctmap.h);
 * an id lives on shard mix(id) % n. Every operation on one account is one
 * call to its shard, so it is atomic. A transfer within one shard is one
 * call too. A transfer between shards cannot be one call, and must neither
 * deadlock nor create, destroy or expose money that is not there:
 *
 *   1. reserve (to's shard): `to` must exist and have room:
 *      balance + pending_in + amount <= INT64_MAX. Then pending_in += amount.
 *      Deposits check the same sum, so the credit in step 3 cannot overflow.
 *   2. debit (from's shard): `from` must exist and hold amount; then
 *      balance -= amount. If this fails, step 2b cancels the reservation
 *      (pending_in -= amount) and the transfer fails with no balance changed.
 *   3. credit (to's shard): balance += amount, pending_in -= amount. This
 *      cannot fail.
 *
 * The calls are made one after another by the caller's thread, which holds
 * nothing while it waits, and shard functions never wait on other shards:
 * there is no cycle to deadlock on, whatever the ids. No balance ever goes
 * below zero (debits check first) and pending_in never does either.
 *
 * Money in flight. Between steps 2 and 3 the amount has left `from` and has
 * not reached `to`: it is in flight, held by the transfer. sw_ledger_total
 * must not miss it, so cross-shard transfers pass a gate: each counts itself
 * in `transfers` for the duration of steps 1-3, and the total raises
 * `totaling`, waits until no transfer is in flight, sums every shard, then
 * lowers it (transfers arriving meanwhile wait at the gate). The sum is thus
 * taken at a moment at which every transfer is wholly done or not begun.
 *
 * Durability (opts->dir): each shard logs its changes with group commit,
 * and recovery settles transfers a crash left half done; see ledger_log.c.
 */
#define _GNU_SOURCE
#include "steward/account.h"

#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/random.h>
#include <unistd.h>

#include "log/datadir.h"
#include "account/ledger_int.h"
#include "base/base.h"

struct ledger_req {
    uint64_t id;
    int64_t amount;
    int64_t balance;     /* out, for balance */
    const uint8_t *txid; /* transfer steps: the transfer's id */
    uint32_t epoch;      /* transfer steps: the compaction epoch */
    int rc;              /* out */
    /* A durable change waiting for its commit: touched by durable shards
     * only (logged), so a memory-only Ledger sends the fields above inline
     * in the call's message and leaves this out (shard_call). */
    sw__journal_waiter wait;
};

#define LEDGER_REQ_INLINE offsetof(struct ledger_req, wait)
_Static_assert(LEDGER_REQ_INLINE <= SW_OWNER_INLINE_MAX, "a memory-only request is inline");

static unsigned shard_of(const sw_ledger *l, uint64_t id)
{
    return sw__shard_of(sw__mix64(id), l->n);
}

/* Room for amount more in the account, counting reserved transfers. */
static bool has_room(const struct sw__acct *a, int64_t amount)
{
    int64_t sum;
    return !__builtin_add_overflow(a->balance, a->pending_in, &sum) &&
           !__builtin_add_overflow(sum, amount, &sum);
}

/* Appends a change's record to a durable shard's batch (nothing for a
 * memory-only one). Returns SW_OK, or the status that must refuse the
 * change (SW_EIO, SW_ENOMEM). */
static int log_change(struct sw__lshard *s, uint8_t type, const uint8_t *txid, uint32_t epoch,
                      uint64_t id, int64_t num)
{
    if (!s->j.open)
        return SW_OK;
    uint8_t buf[SW__LEDGER_REC_BUF];
    sw__rec r = sw__ledger_rec(type, txid, id, num, epoch, buf);
    return sw__journal_append(&s->j, &r);
}

/* After a logged change is applied: the caller's answer waits for the
 * batch's commit, and becomes SW_EIO if the commit fails. */
static void logged(struct sw__lshard *s, struct ledger_req *r)
{
    if (s->j.open)
        sw__journal_wait(&s->j, &r->wait, &r->rc);
}

/* The account of r->id, or NULL with r->rc set (SW_ENOTFOUND, or SW_EIO on
 * a shard whose journal failed). */
static struct sw__acct *find(struct sw__lshard *s, struct ledger_req *r)
{
    if (sw__journal_failed(&s->j)) {
        r->rc = SW_EIO;
        return NULL;
    }
    struct sw__acct *a = sw__acctmap_find(&s->map, r->id);
    r->rc = a ? SW_OK : SW_ENOTFOUND;
    return a;
}

/* ---- shard functions: run on the shard's owner ---- */

static void create_fn(void *state, void *arg)
{
    struct sw__lshard *s = state;
    struct ledger_req *r = arg;
    if (find(s, r) || r->rc == SW_EIO) {
        r->rc = r->rc == SW_EIO ? SW_EIO : SW_EEXIST;
        return;
    }
    size_t mark = sw__journal_mark(&s->j);
    r->rc = log_change(s, SW__REC_ACCT_SET, NULL, 0, r->id, r->amount);
    if (r->rc != SW_OK)
        return;
    struct sw__acct *a = sw__acctmap_insert(&s->map, r->id);
    if (!a) {
        sw__journal_rewind(&s->j, mark);
        r->rc = SW_ENOMEM;
        return;
    }
    a->balance = r->amount;
    logged(s, r);
}

/* Sets a's balance to `balance`, logged. */
static void set_balance(struct sw__lshard *s, struct ledger_req *r, struct sw__acct *a,
                        int64_t balance)
{
    r->rc = log_change(s, SW__REC_ACCT_SET, NULL, 0, r->id, balance);
    if (r->rc != SW_OK)
        return;
    a->balance = balance;
    logged(s, r);
}

static void deposit_fn(void *state, void *arg)
{
    struct ledger_req *r = arg;
    struct sw__acct *a = find(state, r);
    if (!a)
        return;
    if (!has_room(a, r->amount))
        r->rc = SW_EOVERFLOW;
    else
        set_balance(state, r, a, a->balance + r->amount);
}

static void withdraw_fn(void *state, void *arg)
{
    struct ledger_req *r = arg;
    struct sw__acct *a = find(state, r);
    if (!a)
        return;
    if (a->balance < r->amount)
        r->rc = SW_EFUNDS;
    else
        set_balance(state, r, a, a->balance - r->amount);
}

static void balance_fn(void *state, void *arg)
{
    struct ledger_req *r = arg;
    struct sw__acct *a = find(state, r);
    if (a)
        r->balance = a->balance;
}

/* The log bytes of the credit that r reserves for. The reservation holds
 * them in the destination's log until the credit (or its calling off), so
 * that a full disk cannot refuse the credit after the debit is made: the
 * one step of a transfer that must not fail. */
static size_t credit_bytes(const struct ledger_req *r)
{
    uint8_t buf[SW__LEDGER_REC_BUF];
    sw__rec rec = sw__ledger_rec(SW__REC_XFER_CREDIT, r->txid, r->id, r->amount, r->epoch, buf);
    return sw__rec_size(&rec);
}

static void reserve_fn(void *state, void *arg)
{
    struct sw__lshard *s = state;
    struct ledger_req *r = arg;
    struct sw__acct *a = find(s, r);
    if (!a)
        return;
    if (!has_room(a, r->amount)) {
        r->rc = SW_EOVERFLOW;
        return;
    }
    if (s->j.open && (r->rc = sw__journal_hold(&s->j, credit_bytes(r))) != SW_OK)
        return;
    a->pending_in += r->amount;
}

static void unreserve_fn(void *state, void *arg)
{
    struct sw__lshard *s = state;
    struct ledger_req *r = arg;
    struct sw__acct *a = sw__acctmap_find(&s->map, r->id);
    if (a)
        a->pending_in -= r->amount;
    if (s->j.open)
        sw__journal_release(&s->j, credit_bytes(r));
}

/* A transfer's first half, on the source shard. */
static void debit_fn(void *state, void *arg)
{
    struct ledger_req *r = arg;
    struct sw__acct *a = find(state, r);
    if (!a)
        return;
    if (a->balance < r->amount) {
        r->rc = SW_EFUNDS;
        return;
    }
    r->rc = log_change(state, SW__REC_XFER_DEBIT, r->txid, r->epoch, r->id, r->amount);
    if (r->rc != SW_OK)
        return;
    a->balance -= r->amount;
    /* The credit goes to another shard's log, whose pages the kernel may
     * write back at any moment: under a weaker policy than always, a power
     * cut could keep the credit and lose this debit, and recovery could
     * not take back money already spent onwards (crash_states found it).
     * So the debit is on disk before the credit is asked for. */
    sw__journal_sync_batch(&((struct sw__lshard *)state)->j);
    logged(state, r);
}

/* A transfer's second half, on the destination shard, into the amount
 * reserved for it. */
static void credit_fn(void *state, void *arg)
{
    struct sw__lshard *s = state;
    struct ledger_req *r = arg;
    struct sw__acct *a = find(s, r);
    if (!a)
        return;
    a->pending_in -= r->amount;
    if (s->j.open) /* the held bytes are the room this record now takes */
        sw__journal_release(&s->j, credit_bytes(r));
    r->rc = log_change(s, SW__REC_XFER_CREDIT, r->txid, r->epoch, r->id, r->amount);
    if (r->rc != SW_OK)
        return;
    a->balance += r->amount;
    logged(s, r);
}

/* A transfer within one shard: both accounts are here, so one call, and
 * both halves go into one batch. */
struct transfer_req {
    uint64_t from, to;
    int64_t amount;
    int rc;
    uint8_t txid[SW__TXID_LEN];
    uint32_t epoch;
    sw__journal_waiter wait;
};

static void local_transfer_fn(void *state, void *arg)
{
    struct sw__lshard *s = state;
    struct transfer_req *t = arg;
    struct sw__acct *from = sw__acctmap_find(&s->map, t->from);
    struct sw__acct *to = sw__acctmap_find(&s->map, t->to);
    if (sw__journal_failed(&s->j))
        t->rc = SW_EIO;
    else if (!from || !to)
        t->rc = SW_ENOTFOUND;
    else if (from->balance < t->amount)
        t->rc = SW_EFUNDS;
    else if (!has_room(to, t->amount))
        t->rc = SW_EOVERFLOW;
    else {
        size_t mark = sw__journal_mark(&s->j);
        t->rc = log_change(s, SW__REC_XFER_DEBIT, t->txid, t->epoch, t->from, t->amount);
        if (t->rc == SW_OK)
            t->rc = log_change(s, SW__REC_XFER_CREDIT, t->txid, t->epoch, t->to, t->amount);
        if (t->rc != SW_OK) {
            sw__journal_rewind(&s->j, mark);
            return;
        }
        from->balance -= t->amount;
        to->balance += t->amount;
        if (s->j.open)
            sw__journal_wait(&s->j, &t->wait, &t->rc);
    }
}

struct sum_req {
    int64_t total;
    uint64_t accounts;
    int rc;
};

static void sum_fn(void *state, void *arg)
{
    struct sw__lshard *s = state;
    struct sum_req *r = arg;
    if (sw__journal_failed(&s->j))
        r->rc = SW_EIO;
    for (size_t i = 0; s->map.slots && i <= s->map.mask; i++) {
        const struct sw__acct *a = &s->map.slots[i];
        if (!a->used)
            continue;
        r->accounts++;
        if (__builtin_add_overflow(r->total, a->balance, &r->total))
            r->rc = SW_EOVERFLOW;
    }
}

/* ---- calls ---- */

/* Runs fn on the shard of r->id; the call's status, else the request's. */
static int shard_call(sw_ledger *l, sw_owner_fn fn, struct ledger_req *r)
{
    sw_owner *o = l->route[shard_of(l, r->id)];
    int rc = l->dir ? sw_owner_call(o, fn, r) : sw_owner_call_inline(o, fn, r, LEDGER_REQ_INLINE);
    return rc == SW_OK ? r->rc : rc;
}

static int account_op(sw_ledger *l, sw_owner_fn fn, uint64_t id, int64_t amount)
{
    if (!l || amount <= 0)
        return SW_EINVAL;
    struct ledger_req r = {.id = id, .amount = amount};
    return shard_call(l, fn, &r);
}

/* 64 random bits for this open's transfer ids; the clock, the pid and an
 * address if the kernel cannot give them. */
static uint64_t ledger_nonce(const sw_ledger *l)
{
    uint64_t n = 0;
    if (getrandom(&n, sizeof n, GRND_NONBLOCK) == (ssize_t)sizeof n && n != 0)
        return n;
    return ((uint64_t)time(NULL) * 0x9E3779B97F4A7C15u) ^ ((uint64_t)getpid() << 32) ^
           (uint64_t)(uintptr_t)l;
}

static sw__journal *journal_of(void *ctx, size_t i)
{
    return &((sw_ledger *)ctx)->shards[i].j;
}

static int ledger_open(sw_ledger *l, const sw_ledger_options *opts, char *err, size_t errlen)
{
    unsigned dflt = sw__default_shards();
    unsigned n = opts ? opts->shards : 0;
    if (sw_owner_pool_size() == 0)
        return SW_EIO;
    int rc = sw__check_shards_fsync(n, opts ? (int)opts->fsync : SW_FSYNC_EVERYSEC, err, errlen);
    if (rc != SW_OK)
        return rc;
    l->nonce = ledger_nonce(l);
    if (opts && opts->dir) {
        rc = sw__ledger_recover(l, opts, &n, dflt, err, errlen);
    } else {
        n = n ? n : dflt;
        l->shards = calloc(n, sizeof *l->shards);
        rc = l->shards ? SW_OK : SW_ENOMEM;
        l->n = l->shards ? n : 0;
    }
    if (rc == SW_OK) {
        l->route = sw__alloc_lines(l->n * sizeof *l->route);
        rc = l->route ? SW_OK : SW_ENOMEM;
    }
    for (unsigned i = 0; rc == SW_OK && i < l->n; i++) {
        struct sw__lshard *s = &l->shards[i];
        s->index = i;
        s->ledger = l;
        sw_owner_options oo = {.batch_end = s->j.open ? sw__ledger_batch_end : NULL};
        rc = sw_owner_start_ex(&s->owner, s, &oo);
        l->route[i] = s->owner;
    }
    if (rc == SW_OK && l->dir && opts->fsync == SW_FSYNC_EVERYSEC)
        rc = sw__syncer_start(&l->syncer, journal_of, l, l->n);
    if (rc == SW_OK && l->dir)
        rc = sw__ledger_maint_start(l);
    return rc;
}

int sw_ledger_open(sw_ledger **out, const sw_ledger_options *opts)
{
    if (!out)
        return SW_EINVAL;
    *out = NULL;
    sw_ledger *l = calloc(1, sizeof *l);
    if (!l)
        return SW_ENOMEM;
    pthread_mutex_init(&l->total_mu, NULL);
    char err[512] = "";
    int rc = ledger_open(l, opts, err, sizeof err);
    if (rc != SW_OK) {
        if (err[0])
            sw__logmsg(SW_LOG_ERROR, "sw_ledger_open: %s", err);
        sw_ledger_close(l);
        return rc;
    }
    *out = l;
    return SW_OK;
}

int sw_ledger_close(sw_ledger *l)
{
    if (!l)
        return SW_EINVAL;
    sw__ledger_maint_stop(l); /* it calls the owners: first */
    for (unsigned i = 0; i < l->n; i++)
        sw_owner_free(l->shards[i].owner); /* runs what is queued, then stops */
    sw__syncer_stop(&l->syncer);
    int rc = SW_OK;
    for (unsigned i = 0; i < l->n; i++) {
        if (sw__journal_close(&l->shards[i].j) != SW_OK)
            rc = SW_EIO;
        sw__acctmap_destroy(&l->shards[i].map);
    }
    pthread_mutex_destroy(&l->total_mu);
    free(l->shards);
    free(l->route);
    free(l->dir);
    free(l);
    return rc;
}

int sw_ledger_create(sw_ledger *l, uint64_t id, int64_t opening_balance)
{
    if (!l || opening_balance < 0)
        return SW_EINVAL;
    struct ledger_req r = {.id = id, .amount = opening_balance};
    return shard_call(l, create_fn, &r);
}

int sw_ledger_deposit(sw_ledger *l, uint64_t id, int64_t amount)
{
    return account_op(l, deposit_fn, id, amount);
}

int sw_ledger_withdraw(sw_ledger *l, uint64_t id, int64_t amount)
{
    return account_op(l, withdraw_fn, id, amount);
}

int sw_ledger_balance(sw_ledger *l, uint64_t id, int64_t *balance)
{
    if (!l || !balance)
        return SW_EINVAL;
    struct ledger_req r = {.id = id};
    int rc = shard_call(l, balance_fn, &r);
    if (rc == SW_OK)
        *balance = r.balance;
    return rc;
}

static void gate_enter(sw_ledger *l)
{
    for (;;) {
        /* Seq_cst, with the seq_cst store and load in sw_ledger_total: either
         * the total sees our count, or we see its flag and back off. */
        atomic_fetch_add_explicit(&l->transfers, 1, memory_order_seq_cst);
        if (!atomic_load_explicit(&l->totaling, memory_order_seq_cst))
            return;
        atomic_fetch_sub_explicit(&l->transfers, 1, memory_order_release);
        while (atomic_load_explicit(&l->totaling, memory_order_acquire))
            sched_yield();
    }
}

static void gate_leave(sw_ledger *l)
{
    /* Release: pairs with the total's acquire load of `transfers`. */
    atomic_fetch_sub_explicit(&l->transfers, 1, memory_order_release);
}

static int cross_transfer(sw_ledger *l, uint64_t from, uint64_t to, int64_t amount)
{
    uint8_t txid[SW__TXID_LEN];
    struct ledger_req in = {.id = to, .amount = amount, .txid = txid};
    struct ledger_req out = {.id = from, .amount = amount, .txid = txid};
    gate_enter(l);
    sw__ledger_txid(l, txid, &in.epoch); /* after the gate: the epoch cannot change under us */
    out.epoch = in.epoch;
    int rc = shard_call(l, reserve_fn, &in);
    if (rc == SW_OK) {
        rc = shard_call(l, debit_fn, &out);
        if (rc == SW_OK)
            rc = shard_call(l, credit_fn, &in); /* fails only if its log has failed */
        else
            shard_call(l, unreserve_fn, &in);
    }
    gate_leave(l);
    return rc;
}

int sw_ledger_transfer(sw_ledger *l, uint64_t from, uint64_t to, int64_t amount)
{
    if (!l || amount <= 0 || from == to)
        return SW_EINVAL;
    unsigned sf = shard_of(l, from), st = shard_of(l, to);
    if (sf != st)
        return cross_transfer(l, from, to, amount);
    struct transfer_req t = {.from = from, .to = to, .amount = amount};
    gate_enter(l); /* quiet for compaction too, which needs no transfer half done */
    sw__ledger_txid(l, t.txid, &t.epoch);
    int rc = sw_owner_call(l->route[sf], local_transfer_fn, &t);
    gate_leave(l);
    return rc == SW_OK ? t.rc : rc;
}

void sw__ledger_quiesce(sw_ledger *l)
{
    pthread_mutex_lock(&l->total_mu);
    atomic_store_explicit(&l->totaling, 1, memory_order_seq_cst);
    while (atomic_load_explicit(&l->transfers, memory_order_seq_cst) != 0)
        sched_yield();
}

void sw__ledger_resume(sw_ledger *l)
{
    atomic_store_explicit(&l->totaling, 0, memory_order_release);
    pthread_mutex_unlock(&l->total_mu);
}

int sw_ledger_total(sw_ledger *l, int64_t *total, uint64_t *accounts)
{
    if (!l)
        return SW_EINVAL;
    sw__ledger_quiesce(l);
    struct sum_req r = {.rc = SW_OK};
    int rc = SW_OK;
    for (unsigned i = 0; i < l->n && rc == SW_OK; i++)
        rc = sw_owner_call(l->shards[i].owner, sum_fn, &r);
    sw__ledger_resume(l);
    if (rc == SW_OK)
        rc = r.rc;
    if (rc == SW_OK && total)
        *total = r.total;
    if (rc == SW_OK && accounts)
        *accounts = r.accounts;
    return rc;
}
