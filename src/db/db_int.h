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
#include "../log/logfile.h"
#include "table.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

/* The hash of a key: the high 32 bits pick the shard, the low bits the
 * table slot. */
static inline uint64_t sw__db_hash(const void *key, size_t klen)
{
    return XXH3_64bits(key, klen);
}

/* A write request waiting for its batch's flush (see db_log.c). */
struct sw__db_write {
    struct sw__db_write *next;
    int *rc; /* the request's status: set to SW_EIO if the flush fails */
};

struct sw__shard {
    sw__table table;
    sw_owner *owner; /* immutable after open */
    unsigned index;  /* immutable */

    /* Durability (all false/empty for a memory-only Db). */
    bool durable;                /* immutable after open */
    enum sw_fsync fsync;         /* immutable after open */
    sw__log log;                 /* sw__log_sync may also run on the syncer thread */
    struct sw__db_write *writes; /* write requests of the batch being run */
    bool failed;                 /* a flush failed: the shard refuses everything */

    /* Compaction, run a chunk at a time between batches (db_log.c). */
    bool compacting;
    sw__log_writer compact;
    uint64_t compact_cursor;
    uint64_t compact_min; /* do not compact logs smaller than this */
    uint64_t compactions; /* completed, for tests and INFO */
};

struct sw_db {
    unsigned n;               /* immutable */
    struct sw__shard *shards; /* immutable array; each the state of its owner */
    char *dir;                /* immutable; NULL for memory only */
    pthread_t syncer;         /* everysec: syncs every shard's log once a second */
    bool syncer_running;      /* immutable after open */
    sw_chan *syncer_quit;     /* closed by sw_db_close to stop the syncer */
};

/* Opens the data directory of db (creating it, checking or writing its
 * shard count) and every shard's log, replaying it into the shard's table.
 * *shards may be 0 (take the directory's count, or the default). Fills err
 * on failure. */
int sw__db_dir_open(sw_db *db, const char *dir, unsigned *shards, unsigned dflt, char *err,
                    size_t errlen);
int sw__db_shard_log_open(sw_db *db, struct sw__shard *s, enum sw_fsync fsync, char *err,
                          size_t errlen);

/* Records, after a write request's change and its log record succeeded,
 * that the request waits for the batch's flush (its status is set to SW_EIO
 * if the flush fails), and copies the record to a compaction in progress.
 * Owner only. */
void sw__db_log_written(struct sw__shard *s, const sw__rec *r, struct sw__db_write *w);

/* The owner's batch_end: flushes the batch (group commit), then advances a
 * compaction in progress. */
void sw__db_batch_end(void *state);

/* Starts the everysec syncer when the policy asks for it. */
int sw__db_syncer_start(sw_db *db);

/* After the shard's owner has stopped: flushes and syncs the log, abandons
 * an unfinished compaction, closes the log (closing thread). */
void sw__db_shard_log_close(struct sw__shard *s);

/* Stops the syncer (closing thread). */
void sw__db_syncer_stop(sw_db *db);

#endif
