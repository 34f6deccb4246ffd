/* The Db's internals, private to src/db: shared by db.c (requests),
 * shard.c (a shard's data) and db_log.c (durability). Outside src/db,
 * shards are reached through shard.h only.
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
#include "db/shard.h"
#include "db/table.h"

/* Test only: a memory-only Db sends values longer than n bytes (default
 * and maximum UINT32_MAX) by pointer, and asks again by pointer for a
 * fetched one, as it does for values over 4 GiB; so a test reaches that
 * path without 4 GiB of memory. Safe from any thread; meant to be set while
 * no Db is in use. */
void sw__db_small_len_max(uint32_t n);

/* A shard (shard.h): the state of its owner, or of a stewardd shard
 * thread. Every field: that thread's only (shard.h's rule), except that
 * the everysec syncer syncs j's log from its own thread. */
struct sw__shard {
    sw__table table;
    sw_owner *owner; /* set once after open; NULL when a server loop hosts the shard */
    unsigned index;  /* immutable */

    /* Durability: j.open is false for a memory-only shard. */
    sw__journal j;

    /* Compaction, run a chunk at a time between batches (db_log.c). */
    bool compacting;
    bool compact_scanned; /* the snapshot is written: the switch is due */
    sw__log_writer compact;
    uint64_t compact_cursor;
    uint64_t compact_kicked; /* bytes of the new file whose writeback was started */
    uint64_t compact_min;    /* do not compact logs smaller than this */
    uint64_t compactions;    /* completed, for tests and INFO */

    uint64_t sweep_cursor;  /* where the active expiry sweep goes on */
    sw__shard_gone_fn gone; /* may be NULL */
    void *gone_ctx;

    /* Transactions across shards (shard_tx.c): the live parts, oldest
     * first; whether the writes now are a decided part's (logged by its
     * PART record, so none of their own); and, while sw__shards_open
     * replays, what recovery gathers across the shards. */
    struct sw__shard_tx *tx_live, *tx_live_tail;
    size_t tx_tentative; /* live parts whose writes are applied, undecided */
    bool tx_quiet;
    struct sw__txrecovery *txr;
    /* A unit under way (sw__shard_unit_begin): its writes' records,
     * encoded, and the log room held for them (unit_holds holds of
     * unit_held bytes in all). */
    bool unit;
    size_t unit_reserved; /* units' ends held ahead (sw__shard_unit_reserve) */
    uint8_t *unit_buf;
    size_t unit_len, unit_cap, unit_n, unit_holds, unit_held;
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

/* sw__shard_open and sw__shard_close for a shard in the caller's memory
 * (the Db's array): init leaves s closable whatever it returns. txr: the
 * recovery of transactions across shards that sw__shards_open runs, or
 * NULL (the Db's shards, whose logs hold none). */
int sw__shard_init(struct sw__shard *s, unsigned index, const char *dir, const char *kind,
                   enum sw_fsync fsync, struct sw__txrecovery *txr, char *err, size_t errlen);
int sw__shard_fini(struct sw__shard *s);

/* Opens shard s's journal dir/KIND-shard-NNNN.log, replaying it into the
 * shard's (empty) table and dropping what has expired. Fills err on
 * failure. */
int sw__db_shard_log_open(const char *dir, const char *kind, struct sw__shard *s,
                          enum sw_fsync fsync, char *err, size_t errlen);

/* Abandons an unfinished compaction, then syncs and closes the log: SW_OK,
 * or SW_EIO as sw__journal_close. */
int sw__db_shard_log_close(struct sw__shard *s);

/* Copies the record of a write that succeeded to a compaction in progress. */
void sw__db_compact_note(struct sw__shard *s, const sw__rec *r);

/* Drops every key whose deadline passed while the shard was down (after
 * its replay). */
void sw__db_purge_expired(struct sw__shard *s);

/* Replays one write record (PUT, DEL or EXPIRE) into the table; SW_EIO
 * for any other record. */
int sw__db_replay_write(struct sw__shard *s, const sw__rec *r);

/* shard_tx.c: replays a TX_PART or TX_DECIDED record into s->txr (SW_EIO:
 * malformed, or no recovery to gather it); and, a compaction having just
 * begun, writes the live parts first in its new file (SW_OK, or the
 * writer's failure). sw__shard_tx_free frees the live parts (closing). */
int sw__shard_tx_replay(struct sw__shard *s, const sw__rec *r);
/* The log bytes a unit needs beyond its writes' records: a PART record's
 * own fields, and a DECIDED record (a world operation's unit, across
 * shards, logs one). */
#define SW__UNIT_EXTRA 64

/* A unit's write (r, applied to the table by apply_fn(s, ctx) once its
 * room is held): holds its room and keeps its record for the unit's end.
 * SW_OK; SW_EIO (no room); SW_ENOMEM; or apply_fn's failure, nothing
 * kept. */
int sw__shard_unit_add(struct sw__shard *s, const sw__rec *r, int (*apply_fn)(void *ctx),
                       void *ctx);
int sw__shard_tx_carry(struct sw__shard *s);
void sw__shard_tx_free(struct sw__shard *s);

/* Starts the everysec syncer when the policy asks for it. */
int sw__db_syncer_start(sw_db *db, enum sw_fsync fsync);

#endif
