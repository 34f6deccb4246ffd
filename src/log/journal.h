/* A journal: one shard's log (logfile.h) with its fsync policy and group
 * commit, shared by the Db's and the Ledger's shards.
 *
 * A shard's owner appends the record of each write before it applies the
 * write (sw__journal_append, which refuses the record when the disk is
 * full, leaving the journal usable; sw__journal_rewind undoes an append
 * whose write then failed), enrols the write's status with
 * sw__journal_wait, and at the end of the batch calls
 * sw__journal_commit: one write and, with
 * SW_FSYNC_ALWAYS, one fdatasync for the whole batch. If that fails, every
 * enrolled status becomes SW_EIO and the journal is failed: the shard's
 * memory now holds changes its disk does not, so it must refuse every later
 * request (sw__journal_failed) until reopened.
 *
 * A syncer thread gives SW_FSYNC_EVERYSEC its once-a-second fdatasync.
 *
 * Thread safety: a journal is its shard owner's, except that the syncer
 * may sync it concurrently.
 */
#ifndef STEWARD_LOG_JOURNAL_H
#define STEWARD_LOG_JOURNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "chan/ticker.h"
#include "log/logfile.h"
#include "steward/chan.h"
#include "steward/status.h"

/* A write waiting for its batch's commit; lives in the write's request. */
typedef struct sw__journal_waiter {
    struct sw__journal_waiter *next;
    int *rc;
} sw__journal_waiter;

typedef struct sw__journal {
    sw__log log;
    enum sw_fsync fsync;       /* immutable after open */
    bool open;                 /* immutable after open */
    bool failed;               /* a commit failed: refuse everything */
    bool sync_batch;           /* fdatasync this batch whatever the policy */
    sw__journal_waiter *waits; /* the writes of the running batch */
    char name[48];             /* "db shard 3", for messages */
} sw__journal;

/* Opens (creating) the log at path and replays it through fn(ctx, r).
 * name is copied, for messages. Returns as sw__log_open. */
int sw__journal_open(sw__journal *j, const char *path, enum sw_fsync fsync, sw__log_replay_fn fn,
                     void *ctx, const char *name, char *err, size_t errlen);

/* The pending batch's length, for sw__journal_rewind. */
size_t sw__journal_mark(const sw__journal *j);

/* Appends r to the batch. SW_OK; SW_EIO once failed; SW_ENOMEM. */
int sw__journal_append(sw__journal *j, const sw__rec *r);

/* Drops what was appended since mark (the write failed after all). */
void sw__journal_rewind(sw__journal *j, size_t mark);

/* Disk space for records to come (logfile.h): reserve for a request that
 * appends several records, all or none; hold for one whose record is
 * appended by a later request (a transfer's credit), release before that
 * append or when it is called off. SW_OK; SW_EIO once failed, or when the
 * disk has no room (the journal stays usable: sw__journal_nospace). */
int sw__journal_reserve(sw__journal *j, size_t bytes);
int sw__journal_hold(sw__journal *j, size_t bytes);
void sw__journal_release(sw__journal *j, size_t bytes);

/* Whether the latest refusal was for want of disk space, not a failure. */
static inline bool sw__journal_nospace(const sw__journal *j)
{
    return !j->failed && sw__log_nospace(&j->log);
}

/* Has the running batch's commit fdatasync the log, whatever the fsync
 * policy: for a record that must be on disk before anything that depends
 * on it is written elsewhere (a cross-shard transfer's debit). */
static inline void sw__journal_sync_batch(sw__journal *j)
{
    j->sync_batch = true;
}

/* Enrols a write whose record is in the batch: *rc becomes SW_EIO if the
 * batch's commit fails. w lives until the commit. */
void sw__journal_wait(sw__journal *j, sw__journal_waiter *w, int *rc);

/* The batch end: flushes (and syncs, with SW_FSYNC_ALWAYS) the batch, if
 * anything was appended since the last commit (with or without enrolled
 * writes). Returns false when the journal has failed (now or before). */
bool sw__journal_commit(sw__journal *j);

/* Whether the journal has failed for good. */
static inline bool sw__journal_failed(const sw__journal *j)
{
    return j->failed;
}

/* Flushes and syncs what is left, then closes. SW_OK; SW_EIO when the
 * final flush or sync failed, or the journal had failed before (either is
 * logged when it happens). Harmless (SW_OK) on a journal never opened. */
int sw__journal_close(sw__journal *j);

/* The everysec syncer: a thread that syncs journals get(ctx, 0 .. n-1)
 * once a second until stopped. */
typedef sw__journal *(*sw__journal_get_fn)(void *ctx, size_t i);

typedef struct sw__syncer {
    sw__ticker ticker;
    sw__journal_get_fn get;
    void *ctx;
    size_t n;
} sw__syncer;

int sw__syncer_start(sw__syncer *s, sw__journal_get_fn get, void *ctx, size_t n);

/* Stops and joins the syncer; harmless on one never started. */
void sw__syncer_stop(sw__syncer *s);

#endif
