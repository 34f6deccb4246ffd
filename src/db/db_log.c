/* The Db's durability: its data directory, each shard's log, group commit,
 * the everysec syncer and compaction.
 *
 * DESIGN
 *
 * Files. A data directory (datadir.h) holds db.meta (the shard count) and
 * one log per shard, db-shard-NNNN.log, written only by that shard's owner.
 *
 * Group commit. A write request applies its change to the table and appends
 * its record to the log's pending batch (no system call); the owner's
 * batch_end hook, which runs after every request of a mailbox drain and
 * before any of their callers is answered, flushes the batch with one write
 * and, with SW_FSYNC_ALWAYS, one fdatasync. So an acknowledged write is on
 * disk (always) or in the kernel (everysec, no). If the flush fails, every
 * write request of the batch is answered SW_EIO, and since the table now
 * holds changes the log does not, the shard refuses every later request
 * with SW_EIO: nothing unstored is ever acknowledged, and nothing is served
 * from a state the disk does not have. Reopening recovers from the log.
 *
 * Everysec. A syncer thread (journal.h) fdatasyncs every shard's log once
 * a second. A process crash loses nothing
 * acknowledged (the writes are in the kernel); a power failure at most about
 * a second.
 *
 * Compaction. When a shard's log passes twice the memory its live data
 * takes (and compact_min), the owner starts a new file and, a chunk of
 * entries after each batch, writes a snapshot of the table into it (a
 * resumable scan that is safe while the table changes). Every write logged
 * meanwhile is appended to the new file as well, in order. Each record in the
 * new file thus shows a key's state at the moment it was written, and
 * replaying the file in order gives the current state. When the scan ends,
 * the writer is committed: fdatasync, rename over the log, fsync of the
 * directory, and the log switches to the new file. Writeback of the new
 * file is started as it grows, so the final fdatasync has little left. A
 * chunk costs well under a millisecond; the owner posts itself a no-op to
 * go on when no requests come, so compaction finishes on an idle Db too.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log/datadir.h"
#include "db/db_int.h"
#include "base/base.h"

#define COMPACT_CHUNK 512
#define COMPACT_MIN_BYTES ((uint64_t)4 << 20)
#define KICK_BYTES ((uint64_t)4 << 20)

/* ---- replay ---- */

/* Replays one record as it was applied, deadlines included, even past
 * ones: a later record may still extend or remove a deadline (EXPIRE,
 * PERSIST, a SET over it). Keys whose deadline has passed are dropped once
 * the whole log is replayed (purge_expired). */
int sw__db_replay_write(struct sw__shard *s, const sw__rec *r)
{
    uint64_t h = sw__hash(r->a, r->alen);
    if (r->num < 0 && (r->type == SW__REC_PUT || r->type == SW__REC_EXPIRE))
        return SW_EIO; /* no write logs a negative deadline */
    switch (r->type) {
    case SW__REC_PUT:
        return sw__table_put_ex(&s->table, h, r->a, r->alen, r->b, r->blen, r->num);
    case SW__REC_DEL:
        sw__table_del(&s->table, h, r->a, r->alen); /* absent is fine: already gone */
        return SW_OK;
    case SW__REC_EXPIRE:
        sw__table_set_expire(&s->table, h, r->a, r->alen, r->num); /* absent: it expired */
        return SW_OK;
    default:
        return SW_EIO;
    }
}

static int replay(void *ctx, const sw__rec *r)
{
    struct sw__shard *s = ctx;
    switch (r->type) {
    case SW__REC_SNAPSHOT_BEGIN:
    case SW__REC_SNAPSHOT_END:
        return SW_OK;
    case SW__REC_TX_PART:
    case SW__REC_TX_DECIDED:
        return sw__shard_tx_replay(s, r);
    default:
        return sw__db_replay_write(s, r); /* SW_EIO: a record that belongs to no Db */
    }
}

void sw__db_purge_expired(struct sw__shard *s)
{
    s->sweep_cursor = 0;
    do
        sw__shard_sweep(s);
    while (s->sweep_cursor != 0);
}

int sw__db_shard_log_open(const char *dir, const char *kind, struct sw__shard *s,
                          enum sw_fsync fsync, char *err, size_t errlen)
{
    char path[PATH_MAX], name[32];
    if (sw__datadir_log_path(path, sizeof path, dir, kind, s->index) != SW_OK) {
        snprintf(err, errlen, "data directory path too long: %s", dir);
        return SW_EINVAL;
    }
    snprintf(name, sizeof name, "%s shard %u", kind, s->index);
    int rc = sw__journal_open(&s->j, path, fsync, replay, s, name, err, errlen);
    if (rc == SW_EIO && err[0] == 0)
        snprintf(err, errlen, "%s: a record that is not a Db record", path);
    if (rc == SW_OK && !s->txr) /* sw__shards_open purges once it has settled */
        sw__db_purge_expired(s);
    s->compact_min = COMPACT_MIN_BYTES;
    return rc;
}

/* ---- compaction ---- */

void sw__db_compact_note(struct sw__shard *s, const sw__rec *r)
{
    if (s->compacting && sw__log_writer_append(&s->compact, r) != SW_OK) {
        sw__logmsg(SW_LOG_WARN, "db shard %u: compaction abandoned: %s", s->index,
                   s->compact.errmsg);
        sw__log_writer_abort(&s->compact);
        s->compacting = false;
    }
}

static void noop(void *state, void *arg)
{
    (void)state;
    (void)arg;
}

static void compact_start(struct sw__shard *s)
{
    char err[256];
    if (sw__log_writer_begin(&s->compact, s->j.log.path, err, sizeof err) != SW_OK) {
        sw__logmsg(SW_LOG_WARN, "db shard %u: cannot compact: %s", s->index, err);
        s->compact_min = sw__log_size(&s->j.log) * 2; /* do not retry at once */
        return;
    }
    if (sw__shard_tx_carry(s) != SW_OK) {
        sw__logmsg(SW_LOG_WARN, "db shard %u: cannot compact: %s", s->index, s->compact.errmsg);
        sw__log_writer_abort(&s->compact);
        s->compact_min = sw__log_size(&s->j.log) * 2;
        return;
    }
    s->compacting = true;
    s->compact_scanned = false;
    s->compact_cursor = 0;
    s->compact_kicked = 0;
}

/* Starts the kernel writing the snapshot out as it grows (without waiting),
 * so that the fdatasync of the commit, which runs on the owner, finds
 * little left to do. */
static void kick_writeback(struct sw__shard *s)
{
    if (s->compact.size - s->compact_kicked < KICK_BYTES)
        return;
    sync_file_range(s->compact.fd, (off_t)s->compact_kicked,
                    (off_t)(s->compact.size - s->compact_kicked), SYNC_FILE_RANGE_WRITE);
    s->compact_kicked = s->compact.size;
}

/* Writes the next chunk of the snapshot; commits when the scan is done. */
static void compact_step(struct sw__shard *s)
{
    sw__table_item items[COMPACT_CHUNK];
    size_t n = 0;
    int rc = s->compact_scanned
                 ? SW_OK
                 : sw__table_scan(&s->table, &s->compact_cursor, items, COMPACT_CHUNK, &n);
    for (size_t i = 0; rc == SW_OK && i < n; i++) {
        sw__rec r = {.type = SW__REC_PUT,
                     .a = items[i].key,
                     .alen = items[i].klen,
                     .b = items[i].val,
                     .blen = items[i].vlen,
                     .num = items[i].expire_ms};
        rc = sw__log_writer_append(&s->compact, &r);
    }
    if (rc == SW_OK && s->compact_cursor != 0) {
        kick_writeback(s);
        if (s->owner) /* go on even if no request comes; a server loop polls instead */
            sw_owner_post(s->owner, noop, NULL);
        return;
    }
    /* A transaction's part whose writes are applied but not yet decided
     * (shard_tx.c) may be in the snapshot: the new file may not become the
     * log before the decision is in it too, or a crash would keep those
     * writes without their PART's rule. The parts decide a round trip
     * later; the server loop polls meanwhile. */
    s->compact_scanned = true;
    if (rc == SW_OK && s->tx_tentative > 0)
        return;
    s->compacting = false;
    if (rc == SW_OK)
        rc = sw__log_writer_commit(&s->compact, &s->j.log);
    if (rc == SW_OK) {
        s->compactions++;
        s->compact_min = COMPACT_MIN_BYTES;
        return;
    }
    sw__logmsg(SW_LOG_WARN, "db shard %u: compaction failed: %s", s->index,
               s->compact.errmsg[0] ? s->compact.errmsg : sw_strerror(rc));
    sw__log_writer_abort(&s->compact);
    s->compact_min = sw__log_size(&s->j.log) * 2;
    if (sw__log_failed(&s->j.log))
        s->j.failed = true; /* the log switched but could not be made durable */
}

int sw__shard_commit(sw__shard *s)
{
    if (!s->j.open)
        return SW_OK;
    if (!sw__journal_commit(&s->j))
        return SW_EIO;
    if (s->compacting) {
        compact_step(s);
        return sw__journal_failed(&s->j) ? SW_EIO : SW_OK;
    }
    uint64_t size = sw__log_size(&s->j.log);
    if (size > s->compact_min && size > 2 * (uint64_t)sw__table_memory(&s->table))
        compact_start(s);
    return SW_OK;
}

bool sw__shard_compacting(const sw__shard *s)
{
    return s->compacting;
}

uint64_t sw__shard_compactions(const sw__shard *s)
{
    return s->compactions;
}

sw__journal *sw__shard_journal(sw__shard *s)
{
    return s->j.open ? &s->j : NULL;
}

static sw__journal *journal_of(void *ctx, size_t i)
{
    return &((sw_db *)ctx)->shards[i].j;
}

int sw__db_syncer_start(sw_db *db, enum sw_fsync fsync)
{
    if (!db->dir || fsync != SW_FSYNC_EVERYSEC)
        return SW_OK;
    return sw__syncer_start(&db->syncer, journal_of, db, db->n);
}

int sw__db_shard_log_close(struct sw__shard *s)
{
    if (s->compacting)
        sw__log_writer_abort(&s->compact);
    s->compacting = false;
    return sw__journal_close(&s->j);
}
