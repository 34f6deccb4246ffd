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
 */
#define _GNU_SOURCE
#include "steward/account.h"

#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "steward/owner.h"
#include "../base/sync.h"
#include "acctmap.h"

#define MAX_SHARDS 4096

struct shard {
    struct sw__acctmap map; /* owner only */
};

struct sw_ledger {
    unsigned n;                                        /* immutable */
    sw_owner **owners;                                 /* immutable: n of them */
    struct shard *shards;                              /* each the state of owners[i] */
    alignas(SW__CACHE_LINE) _Atomic int64_t transfers; /* cross-shard transfers in flight */
    _Atomic int totaling;                              /* a total is being taken */
    pthread_mutex_t total_mu;                          /* one total at a time */
};

struct ledger_req {
    uint64_t id;
    int64_t amount;
    int64_t balance; /* out, for balance */
    int rc;          /* out */
};

static unsigned shard_of(const sw_ledger *l, uint64_t id)
{
    return (unsigned)(((sw__mix64(id) >> 32) * l->n) >> 32);
}

/* Room for amount more in the account, counting reserved transfers. */
static bool has_room(const struct sw__acct *a, int64_t amount)
{
    int64_t sum;
    return !__builtin_add_overflow(a->balance, a->pending_in, &sum) &&
           !__builtin_add_overflow(sum, amount, &sum);
}

/* ---- shard functions: run on the shard's owner ---- */

static void create_fn(void *state, void *arg)
{
    struct shard *s = state;
    struct ledger_req *r = arg;
    if (sw__acctmap_find(&s->map, r->id)) {
        r->rc = SW_EEXIST;
        return;
    }
    struct sw__acct *a = sw__acctmap_insert(&s->map, r->id);
    if (!a) {
        r->rc = SW_ENOMEM;
        return;
    }
    a->balance = r->amount;
    r->rc = SW_OK;
}

static struct sw__acct *find(void *state, struct ledger_req *r)
{
    struct sw__acct *a = sw__acctmap_find(&((struct shard *)state)->map, r->id);
    r->rc = a ? SW_OK : SW_ENOTFOUND;
    return a;
}

static void deposit_fn(void *state, void *arg)
{
    struct ledger_req *r = arg;
    struct sw__acct *a = find(state, r);
    if (!a)
        return;
    if (!has_room(a, r->amount)) {
        r->rc = SW_EOVERFLOW;
        return;
    }
    a->balance += r->amount;
}

static void withdraw_fn(void *state, void *arg)
{
    struct ledger_req *r = arg;
    struct sw__acct *a = find(state, r);
    if (!a)
        return;
    if (a->balance < r->amount) {
        r->rc = SW_EFUNDS;
        return;
    }
    a->balance -= r->amount;
}

static void balance_fn(void *state, void *arg)
{
    struct ledger_req *r = arg;
    struct sw__acct *a = find(state, r);
    if (a)
        r->balance = a->balance;
}

static void reserve_fn(void *state, void *arg)
{
    struct ledger_req *r = arg;
    struct sw__acct *a = find(state, r);
    if (!a)
        return;
    if (!has_room(a, r->amount)) {
        r->rc = SW_EOVERFLOW;
        return;
    }
    a->pending_in += r->amount;
}

static void unreserve_fn(void *state, void *arg)
{
    struct ledger_req *r = arg;
    struct sw__acct *a = find(state, r);
    if (a)
        a->pending_in -= r->amount;
}

static void credit_fn(void *state, void *arg)
{
    struct ledger_req *r = arg;
    struct sw__acct *a = find(state, r);
    if (a) {
        a->pending_in -= r->amount;
        a->balance += r->amount;
    }
}

/* A transfer within one shard: both accounts are here, so one call. */
struct transfer_req {
    uint64_t from, to;
    int64_t amount;
    int rc;
};

static void local_transfer_fn(void *state, void *arg)
{
    struct shard *s = state;
    struct transfer_req *t = arg;
    struct sw__acct *from = sw__acctmap_find(&s->map, t->from);
    struct sw__acct *to = sw__acctmap_find(&s->map, t->to);
    if (!from || !to)
        t->rc = SW_ENOTFOUND;
    else if (from->balance < t->amount)
        t->rc = SW_EFUNDS;
    else if (!has_room(to, t->amount))
        t->rc = SW_EOVERFLOW;
    else {
        from->balance -= t->amount;
        to->balance += t->amount;
        t->rc = SW_OK;
    }
}

struct sum_req {
    int64_t total;
    uint64_t accounts;
    int rc;
};

static void sum_fn(void *state, void *arg)
{
    struct shard *s = state;
    struct sum_req *r = arg;
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
    int rc = sw_owner_call(l->owners[shard_of(l, r->id)], fn, r);
    return rc == SW_OK ? r->rc : rc;
}

static int account_op(sw_ledger *l, sw_owner_fn fn, uint64_t id, int64_t amount)
{
    if (!l || amount <= 0)
        return SW_EINVAL;
    struct ledger_req r = {.id = id, .amount = amount};
    return shard_call(l, fn, &r);
}

int sw_ledger_open(sw_ledger **out, const sw_ledger_options *opts)
{
    if (!out)
        return SW_EINVAL;
    *out = NULL;
    if (opts && opts->dir) {
        fprintf(stderr, "steward: sw_ledger_open: dir is not supported yet (memory only)\n");
        return SW_EINVAL;
    }
    unsigned n = opts && opts->shards ? opts->shards : sw_owner_pool_size();
    if (n == 0)
        return SW_EIO;
    if (n > MAX_SHARDS)
        return SW_EINVAL;
    sw_ledger *l = calloc(1, sizeof *l);
    int rc = SW_ENOMEM;
    if (!l)
        return rc;
    l->owners = calloc(n, sizeof *l->owners);
    l->shards = calloc(n, sizeof *l->shards);
    pthread_mutex_init(&l->total_mu, NULL);
    if (!l->owners || !l->shards)
        goto fail;
    for (l->n = 0; l->n < n; l->n++) {
        rc = sw_owner_start(&l->owners[l->n], &l->shards[l->n]);
        if (rc != SW_OK)
            goto fail;
    }
    *out = l;
    return SW_OK;
fail:
    sw_ledger_close(l);
    return rc;
}

int sw_ledger_close(sw_ledger *l)
{
    if (!l)
        return SW_EINVAL;
    for (unsigned i = 0; i < l->n; i++) {
        sw_owner_free(l->owners[i]); /* runs what is queued, then stops */
        sw__acctmap_destroy(&l->shards[i].map);
    }
    pthread_mutex_destroy(&l->total_mu);
    free(l->owners);
    free(l->shards);
    free(l);
    return SW_OK;
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
    struct ledger_req in = {.id = to, .amount = amount};
    struct ledger_req out = {.id = from, .amount = amount};
    gate_enter(l);
    int rc = shard_call(l, reserve_fn, &in);
    if (rc == SW_OK) {
        rc = shard_call(l, withdraw_fn, &out);
        in.rc = SW_OK;
        /* Neither can fail: the account exists and the amount is reserved. */
        shard_call(l, rc == SW_OK ? credit_fn : unreserve_fn, &in);
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
    int rc = sw_owner_call(l->owners[sf], local_transfer_fn, &t);
    return rc == SW_OK ? t.rc : rc;
}

int sw_ledger_total(sw_ledger *l, int64_t *total, uint64_t *accounts)
{
    if (!l)
        return SW_EINVAL;
    pthread_mutex_lock(&l->total_mu);
    atomic_store_explicit(&l->totaling, 1, memory_order_seq_cst);
    while (atomic_load_explicit(&l->transfers, memory_order_seq_cst) != 0)
        sched_yield();
    struct sum_req r = {.rc = SW_OK};
    int rc = SW_OK;
    for (unsigned i = 0; i < l->n && rc == SW_OK; i++)
        rc = sw_owner_call(l->owners[i], sum_fn, &r);
    atomic_store_explicit(&l->totaling, 0, memory_order_release);
    pthread_mutex_unlock(&l->total_mu);
    if (rc == SW_OK)
        rc = r.rc;
    if (rc == SW_OK && total)
        *total = r.total;
    if (rc == SW_OK && accounts)
        *accounts = r.accounts;
    return rc;
}
