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
#include "base/sync.h"
#include "log/journal.h"
#include "account/acctmap.h"

#define SW__TXID_LEN 16

struct sw__lshard {
    struct sw__acctmap map; /* owner only */
    sw_ledger *ledger;      /* immutable */
    sw_owner *owner;        /* immutable after open */
    unsigned index;         /* immutable */
    sw__journal j;          /* j.open is false for a memory-only Ledger */
};

struct sw_ledger {
    unsigned n;                /* immutable */
    struct sw__lshard *shards; /* immutable array; each the state of its owner */
    /* shards[i].owner again, in lines of their own (see sw_db's route). */
    sw_owner **route;
    char *dir; /* immutable; NULL for memory only */
    sw__syncer syncer;
    uint64_t nonce;          /* immutable: makes this open's transfer ids unique */
    _Atomic uint32_t epoch;  /* compactions so far; part of every transfer id */
    _Atomic int compact_due; /* a shard's log has grown: compact (maintenance thread) */
    uint64_t compact_min;    /* no compaction below this log size */
    sw__ticker maint;        /* durable only: runs compactions */
    alignas(SW__CACHE_LINE) _Atomic int64_t transfers; /* cross-shard transfers in flight */
    _Atomic int totaling;                              /* a total is being taken */
    pthread_mutex_t total_mu;                          /* one total at a time */
};

/* Opens the data directory and every shard's journal, replays them into
 * the shards' maps, and settles transfers a crash left half done (see the
 * DESIGN comment in ledger_log.c). Before any owner starts. */
int sw__ledger_recover(sw_ledger *l, const sw_ledger_options *opts, unsigned *shards, unsigned dflt,
                       char *err, size_t errlen);

/* A record's encoding room: txid, account id, epoch. */
#define SW__LEDGER_REC_BUF (SW__TXID_LEN + 8 + 4)

/* The record a Ledger logs: a = [txid] id (txid NULL for ACCT_SET), num;
 * transfer halves also carry their compaction epoch in b. */
sw__rec sw__ledger_rec(uint8_t type, const uint8_t *txid, uint64_t id, int64_t num, uint32_t epoch,
                       uint8_t buf[SW__LEDGER_REC_BUF]);

/* The owner's batch_end for a durable Ledger shard. */
void sw__ledger_batch_end(void *state);

/* A new transfer id, unique across threads and opens (the open's random
 * nonce and a per-thread sequence), and the current compaction epoch. */
void sw__ledger_txid(const sw_ledger *l, uint8_t txid[SW__TXID_LEN], uint32_t *epoch);

/* Compacts every shard's log at once (see ledger_log.c). Thread safety:
 * any thread but an owner function's. Returns SW_OK, SW_EIO or SW_ENOMEM. */
int sw__ledger_compact(sw_ledger *l);

/* Stops every transfer (new ones wait) until sw__ledger_resume: the total
 * and compaction need a moment at which none is half done. */
void sw__ledger_quiesce(sw_ledger *l);
void sw__ledger_resume(sw_ledger *l);

/* Starts and stops the thread that compacts a durable Ledger when its logs
 * have grown. */
int sw__ledger_maint_start(sw_ledger *l);
void sw__ledger_maint_stop(sw_ledger *l);

#endif
