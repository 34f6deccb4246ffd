/* The Ledger's commands: ACCOUNT.CREATE, DEPOSIT, WITHDRAW, TRANSFER and
 * BALANCE, over the library's sw_ledger (account.h). Account ids are
 * unsigned 64-bit integers and amounts positive integers in minor units;
 * anything else is an error that changes nothing.
 *
 * A call runs on this shard's thread when the Ledger shard it needs is
 * free (owner.h), and otherwise waits while the thread holding that Ledger
 * shard runs it; with appendfsync always it waits for the fsync too. The
 * Ledger has its own shards and group commit, so calls from several shard
 * threads share their fsyncs, and a Ledger fsync holds only the shard
 * threads whose clients asked for a Ledger change.
 */
#include <stdio.h>

#include "server/cmd.h"

static bool id_arg(struct exec *x, size_t i, uint64_t *id)
{
    unsigned long long v;
    if (!arg_ull(x->argv[i].ptr, x->argv[i].len, &v)) {
        reply_err(x, "ERR account id must be an unsigned 64-bit integer");
        return false;
    }
    *id = v;
    return true;
}

static bool amount_arg(struct exec *x, size_t i, int64_t *amount, bool zero_ok)
{
    long long v;
    if (!arg_ll(x->argv[i].ptr, x->argv[i].len, &v)) {
        reply_err(x, "ERR amount must be an integer number of minor units");
        return false;
    }
    if (v < 0 || (v == 0 && !zero_ok)) {
        reply_err(x, zero_ok ? "ERR opening balance must not be negative"
                             : "ERR amount must be positive");
        return false;
    }
    *amount = v;
    return true;
}

static void reply_ledger(struct exec *x, int rc)
{
    switch (rc) {
    case SW_OK:
        reply_ok(x);
        break;
    case SW_ENOTFOUND:
        reply_err(x, "ERR no such account");
        break;
    case SW_EEXIST:
        reply_err(x, "ERR account already exists");
        break;
    case SW_EOVERFLOW:
        reply_err(x, "ERR balance would overflow");
        break;
    case SW_EINVAL:
        reply_err(x, "ERR cannot transfer to the same account");
        break;
    case SW_EIO: /* as for keys (kv.c); the Ledger does not say which it was */
        reply_err(x, "MISCONF Errors writing to the AOF file: the Ledger's log refused the "
                     "write (no room on disk, or a failed log: see the server's log)");
        break;
    default: /* insufficient funds, i/o error, out of memory */
        reply_status(x, rc);
        break;
    }
}

void cmd_acct_create(struct exec *x)
{
    uint64_t id;
    int64_t opening = 0;
    if (x->argc > 3) {
        reply_err(x, "ERR wrong number of arguments for 'account.create' command");
        return;
    }
    if (!id_arg(x, 1, &id) || (x->argc == 3 && !amount_arg(x, 2, &opening, true)))
        return;
    reply_ledger(x, sw_ledger_create(x->srv->ledger, id, opening));
}

void cmd_acct_deposit(struct exec *x)
{
    uint64_t id;
    int64_t amount;
    if (id_arg(x, 1, &id) && amount_arg(x, 2, &amount, false))
        reply_ledger(x, sw_ledger_deposit(x->srv->ledger, id, amount));
}

void cmd_acct_withdraw(struct exec *x)
{
    uint64_t id;
    int64_t amount;
    if (id_arg(x, 1, &id) && amount_arg(x, 2, &amount, false))
        reply_ledger(x, sw_ledger_withdraw(x->srv->ledger, id, amount));
}

void cmd_acct_transfer(struct exec *x)
{
    uint64_t from, to;
    int64_t amount;
    if (id_arg(x, 1, &from) && id_arg(x, 2, &to) && amount_arg(x, 3, &amount, false))
        reply_ledger(x, sw_ledger_transfer(x->srv->ledger, from, to, amount));
}

void cmd_acct_balance(struct exec *x)
{
    uint64_t id;
    int64_t bal;
    if (!id_arg(x, 1, &id))
        return;
    int rc = sw_ledger_balance(x->srv->ledger, id, &bal);
    if (rc == SW_OK)
        sw__resp_add_int(x->out, bal);
    else
        reply_ledger(x, rc);
}
