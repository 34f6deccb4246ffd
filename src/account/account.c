/* The Account: the Go pattern's Account, a balance owned by one owner.
 *
 * Every operation is a message to the account's owner (sw_owner_call_inline:
 * the small request travels inside the message, on the caller's stack), so
 * the balance is only ever touched by one thread at a time and each caller
 * gets its own answer. The owner is logical: a million accounts share the
 * pool's few threads.
 */
#include "steward/account.h"

#include <stdalign.h>
#include <stdlib.h>

#include "steward/owner.h"

#include "base/sync.h"

/* The handle, which every caller reads, and the balance, which the owner
 * writes, sit in separate cache lines: sharing one cost each operation an
 * extra round trip of that line between the two cores (measured: 1.1 us
 * against 0.65 us per deposit). */
struct sw_account {
    sw_owner *owner;                         /* immutable */
    alignas(SW__CACHE_LINE) int64_t balance; /* owner only; >= 0 */
};

struct account_req {
    int64_t amount; /* in */
    int rc;         /* out */
};

static void deposit_fn(void *state, void *arg)
{
    struct sw_account *a = state;
    struct account_req *r = arg;
    int64_t sum;
    if (__builtin_add_overflow(a->balance, r->amount, &sum)) {
        r->rc = SW_EOVERFLOW;
        return;
    }
    a->balance = sum;
    r->rc = SW_OK;
}

static void withdraw_fn(void *state, void *arg)
{
    struct sw_account *a = state;
    struct account_req *r = arg;
    if (a->balance < r->amount) {
        r->rc = SW_EFUNDS;
        return;
    }
    a->balance -= r->amount;
    r->rc = SW_OK;
}

static void balance_fn(void *state, void *arg)
{
    struct account_req *r = arg;
    r->amount = ((struct sw_account *)state)->balance;
    r->rc = SW_OK;
}

int sw_account_new(sw_account **out, int64_t opening_balance)
{
    if (!out || opening_balance < 0)
        return SW_EINVAL;
    *out = NULL;
    sw_account *a = sw__alloc_lines(sizeof *a);
    if (!a)
        return SW_ENOMEM;
    a->balance = opening_balance;
    int rc = sw_owner_start(&a->owner, a);
    if (rc != SW_OK) {
        free(a);
        return rc;
    }
    *out = a;
    return SW_OK;
}

/* Runs one operation on the account's owner. */
static int account_op(sw_account *a, sw_owner_fn fn, int64_t amount)
{
    if (!a || amount <= 0)
        return SW_EINVAL;
    struct account_req r = {.amount = amount};
    int rc = sw_owner_call_inline(a->owner, fn, &r, sizeof r);
    return rc == SW_OK ? r.rc : rc;
}

int sw_account_deposit(sw_account *a, int64_t amount)
{
    return account_op(a, deposit_fn, amount);
}

int sw_account_withdraw(sw_account *a, int64_t amount)
{
    return account_op(a, withdraw_fn, amount);
}

int64_t sw_account_balance(sw_account *a)
{
    if (!a)
        return 0;
    struct account_req r = {0};
    return sw_owner_call_inline(a->owner, balance_fn, &r, sizeof r) == SW_OK ? r.amount : 0;
}

void sw_account_free(sw_account *a)
{
    if (!a)
        return;
    sw_owner_free(a->owner); /* runs what is queued first */
    free(a);
}
