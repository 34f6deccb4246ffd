/* The Ledger's internals shared by ledger.c (operations) and ledger_log.c
 * (durability and recovery).
 */
#ifndef STEWARD_ACCOUNT_LEDGER_INT_H
#define STEWARD_ACCOUNT_LEDGER_INT_H

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>

#include "steward/account.h"
#include "steward/owner.h"
#include "../base/sync.h"
#include "../log/journal.h"
#include "acctmap.h"

#define SW__TXID_LEN 16

struct sw__lshard {
    struct sw__acctmap map; /* owner only */
    sw_owner *owner;        /* immutable after open */
    unsigned index;         /* immutable */
    sw__journal j;          /* j.open is false for a memory-only Ledger */
};

struct sw_ledger {
    unsigned n;                /* immutable */
    struct sw__lshard *shards; /* immutable array; each the state of its owner */
    char *dir;                 /* immutable; NULL for memory only */
    sw__syncer syncer;
    uint64_t nonce; /* immutable: makes this open's transfer ids unique */
    alignas(SW__CACHE_LINE) _Atomic int64_t transfers; /* cross-shard transfers in flight */
    _Atomic int totaling;                              /* a total is being taken */
    pthread_mutex_t total_mu;                          /* one total at a time */
};

/* Opens the data directory and every shard's journal, replays them into
 * the shards' maps, and settles transfers a crash left half done (see the
 * DESIGN comment in ledger_log.c). Before any owner starts. */
int sw__ledger_recover(sw_ledger *l, const sw_ledger_options *opts, unsigned *shards, unsigned dflt,
                       char *err, size_t errlen);

/* The record a Ledger logs: txid may be NULL (ACCT_SET). */
sw__rec sw__ledger_rec(uint8_t type, const uint8_t *txid, uint64_t id, int64_t num,
                       uint8_t buf[SW__TXID_LEN + 8]);

/* The owner's batch_end for a durable Ledger shard. */
void sw__ledger_batch_end(void *state);

/* A new transfer id, unique across threads and opens. */
void sw__ledger_txid(const sw_ledger *l, uint8_t txid[SW__TXID_LEN]);

#endif
