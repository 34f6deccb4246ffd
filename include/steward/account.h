/* The Account, and a Ledger of many.
 *
 * Money is int64_t minor units (cents): exact, no floating point. Every
 * amount passed in must be > 0 (SW_EINVAL otherwise: a negative withdrawal
 * is not a deposit); a result beyond INT64_MAX is SW_EOVERFLOW; a withdrawal
 * beyond the balance is SW_EFUNDS. A failed operation changes nothing.
 *
 * An Account is the Go pattern's Account: a balance owned by one owner (see
 * owner.h), reached through these functions. A Ledger holds many accounts by
 * id, spread over shards (owners); transfers between any two of its accounts
 * are all-or-nothing.
 */
#ifndef STEWARD_ACCOUNT_H
#define STEWARD_ACCOUNT_H

#include <stdint.h>

#include "steward/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sw_account sw_account;

/* A new account with opening_balance (>= 0; SW_EINVAL if negative) in *out.
 * SW_ENOMEM, or SW_EIO if the owner pool cannot start. The caller owns it:
 * free with sw_account_free. Thread safety: any thread. */
int sw_account_new(sw_account **out, int64_t opening_balance);

/* Adds amount. SW_OK; SW_EINVAL if amount <= 0 or a is NULL; SW_EOVERFLOW if
 * the balance would pass INT64_MAX. Thread safety: any thread but an owner
 * function's (as sw_owner_call). */
int sw_account_deposit(sw_account *a, int64_t amount);

/* Takes amount out. SW_OK; SW_EINVAL if amount <= 0 or a is NULL; SW_EFUNDS
 * if the balance is below amount (the balance is unchanged).
 * Thread safety: as sw_account_deposit. */
int sw_account_withdraw(sw_account *a, int64_t amount);

/* The balance at one moment (0 for NULL). Thread safety: as
 * sw_account_deposit. */
int64_t sw_account_balance(sw_account *a);

/* Frees the account after every operation already under way. NULL is a
 * no-op. Thread safety: one call, from any thread but an owner function's,
 * once no other thread will use the account: a call of sw_account_* that
 * overlaps or follows it is a use after free, as with free(3). */
void sw_account_free(sw_account *a);

typedef struct sw_ledger sw_ledger;

typedef struct sw_ledger_options {
    unsigned shards;     /* 0: as the Db (db.h), or the directory's count */
    const char *dir;     /* NULL: memory only; else the logs live here */
    enum sw_fsync fsync; /* with dir: as for the Db (db.h) */
} sw_ledger_options;

/* Opens a Ledger in *out. opts NULL: memory only, defaults. With opts->dir
 * it is durable, as the Db is (see sw_db_open: one log per shard, group
 * commit, the same fsync policies, the same rules for torn tails, corruption
 * and the shard count). Recovery also settles every transfer a crash left
 * half done (refunding it, with a logged warning), so no crash at any
 * instant creates or destroys money, and every acknowledged operation is
 * reflected exactly once. Its logs are compacted, all shards at once, when
 * they grow past about twice the live data (transfers wait meanwhile).
 * Returns SW_OK; SW_EINVAL (out NULL, more than 4096 shards, an unknown
 * fsync policy, a shard count the directory does not have); SW_EEXIST (the
 * directory is open elsewhere); SW_EIO (a log cannot be read or written or
 * is corrupt; details logged, and if the owner pool cannot start);
 * SW_ENOMEM. Thread safety: any thread. */
int sw_ledger_open(sw_ledger **out, const sw_ledger_options *opts);

/* Finishes every operation under way, syncs a durable Ledger's logs,
 * stops the shards and frees the Ledger, whatever it returns. No thread may
 * use it once this is called. SW_OK; SW_EIO when a log's final write or
 * sync failed, or an earlier commit had failed (the reason is logged);
 * SW_EINVAL for NULL. */
int sw_ledger_close(sw_ledger *l);

/* Creates account id with opening_balance (>= 0). SW_OK; SW_EEXIST if id is
 * taken (nothing changes); SW_EINVAL for a negative opening balance;
 * SW_ENOMEM. Thread safety (for all sw_ledger_* below): any thread but an
 * owner function's, until sw_ledger_close. */
int sw_ledger_create(sw_ledger *l, uint64_t id, int64_t opening_balance);

/* As sw_account_deposit/withdraw on account id; SW_ENOTFOUND if the Ledger
 * has no such id. */
int sw_ledger_deposit(sw_ledger *l, uint64_t id, int64_t amount);
int sw_ledger_withdraw(sw_ledger *l, uint64_t id, int64_t amount);

/* Every sw_ledger_* call also gives SW_EIO once a durable shard's log has failed
 * (the call's change is then not acknowledged, and the shard refuses every
 * request until the Ledger is reopened), and every change (create,
 * deposit, withdraw, transfer) gives SW_EIO when the disk has no room for
 * it: nothing changes, not half a transfer either, and the Ledger goes on,
 * taking changes again once there is room. */

/* Moves amount from one account to another, all or nothing. SW_OK;
 * SW_EINVAL if amount <= 0 or from == to; SW_ENOTFOUND if either id is
 * missing; SW_EFUNDS if from's balance is below amount; SW_EOVERFLOW if to's
 * balance would pass INT64_MAX. On any error no balance changes (as seen
 * once the call has returned). Never deadlocks, whatever the ids. */
int sw_ledger_transfer(sw_ledger *l, uint64_t from, uint64_t to, int64_t amount);

/* The balance of account id in *balance. SW_OK; SW_ENOTFOUND; SW_EINVAL if
 * balance is NULL. */
int sw_ledger_balance(sw_ledger *l, uint64_t id, int64_t *balance);

/* The sum of all balances and the number of accounts, at one moment at
 * which no transfer is half done: money is never counted twice or missed.
 * Either out pointer may be NULL. SW_OK; SW_EOVERFLOW if the sum passes
 * INT64_MAX. Concurrent transfers wait while it sums. */
int sw_ledger_total(sw_ledger *l, int64_t *total, uint64_t *accounts);

#ifdef __cplusplus
}
#endif
#endif
