/* The Db's internals shared by db.c (requests) and db_log.c (durability).
 *
 * Thread safety: a shard's fields are its owner's only, except where a
 * field says otherwise.
 */
#ifndef STEWARD_DB_INT_H
#define STEWARD_DB_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "steward/chan.h"
#include "steward/db.h"
#include "steward/owner.h"
#include "log/journal.h"
#include "base/base.h"
#include "db/table.h"

/* Test only: a memory-only Db sends values longer than n bytes (default
 * and maximum UINT32_MAX) by pointer, and asks again by pointer for a
 * fetched one, as it does for values over 4 GiB; so a test reaches that
 * path without 4 GiB of memory. Safe from any thread; meant to be set while
 * no Db is in use. */
void sw__db_small_len_max(uint32_t n);

struct sw__shard {
    sw__table table;
    sw_owner *owner; /* immutable after open; NULL when a server loop hosts the shard */
    unsigned index;  /* immutable */

    /* Durability: j.open is false for a memory-only Db. */
    sw__journal j;

    /* Compaction, run a chunk at a time between batches (db_log.c). */
    bool compacting;
    sw__log_writer compact;
    uint64_t compact_cursor;
    uint64_t compact_kicked; /* bytes of the new file whose writeback was started */
    uint64_t compact_min;    /* do not compact logs smaller than this */
    uint64_t compactions;    /* completed, for tests and INFO */

    uint64_t sweep_cursor; /* where the active expiry sweep goes on */
};

struct sw_db {
    unsigned n;               /* immutable */
    struct sw__shard *shards; /* immutable array; each the state of its owner */
    /* shards[i].owner again, in lines of their own: callers read this on
     * every request, and a shard's own lines are written by its owner, so
     * reading the handle there would pull a line from the owner's core. */
    sw_owner **route;
    char *dir;          /* immutable; NULL for memory only */
    sw__syncer syncer;  /* everysec: syncs every shard's log once a second */
    sw__ticker sweeper; /* asks every shard to sweep expired keys */
};

/* Opens shard s's journal dir/KIND-shard-NNNN.log (kind "db" for the Db,
 * "kv" for stewardd), replaying it into the shard's table. Fills err on
 * failure. */
int sw__db_shard_log_open(const char *dir, const char *kind, struct sw__shard *s,
                          enum sw_fsync fsync, char *err, size_t errlen);

/* The active expiry sweep's step (owner only): looks at the next few
 * thousand keys of a resumable scan and removes those whose deadline is
 * at or before now, calling gone(ctx, key, klen) after each removal (gone
 * may be NULL). No record is logged: recovery drops such keys by their
 * deadline. Returns the number removed. */
typedef void (*sw__db_gone_fn)(void *ctx, const void *key, size_t klen);
size_t sw__db_shard_sweep(struct sw__shard *s, int64_t now, sw__db_gone_fn gone, void *ctx);

/* Applies one write (a PUT, DEL or EXPIRE record: key in a, value in b,
 * deadline in num) to the shard's table with its log record (owner only):
 * the record goes to the pending batch first and is dropped again if the
 * table refuses the change, so the log never holds a change the table does
 * not. With w, *rcp becomes SW_EIO if the batch's commit then fails.
 * Returns the table's status, or the journal's (SW_EIO once failed,
 * SW_ENOMEM) with nothing changed. */
int sw__db_shard_apply(struct sw__shard *s, uint64_t hash, const sw__rec *rec,
                       sw__journal_waiter *w, int *rcp);

/* Copies the record of a write that succeeded to a compaction in progress
 * (owner only). */
void sw__db_compact_note(struct sw__shard *s, const sw__rec *r);

/* The owner's batch_end: commits the batch (group commit), then advances
 * a compaction in progress. */
void sw__db_batch_end(void *state);

/* Starts the everysec syncer when the policy asks for it. */
int sw__db_syncer_start(sw_db *db, enum sw_fsync fsync);

/* After the shard's owner has stopped: abandons an unfinished compaction,
 * syncs and closes the log (closing thread). */
void sw__db_shard_log_close(struct sw__shard *s);

#endif
