/* One append-only log file of records (record.h): recovery on open, group
 * commit, honest failures, and the atomic replace that compaction needs.
 *
 * A shard's owner thread drives its log: sw__log_append encodes records into
 * an in-memory batch without a system call, and sw__log_flush writes the
 * whole batch with one write and, when asked, one fdatasync. The owner
 * acknowledges the batch's callers only after the flush returns SW_OK.
 *
 * Recovery (sw__log_open) replays every record, truncates a torn tail (the
 * remains of an interrupted append) with a warning on stderr, and refuses a
 * file with corruption before its end, changing nothing. The rule that tells
 * the two apart is sw__rec_torn's (record.h), widened to pages a power cut
 * lost, which the SYNCED marks that flush writes keep from hiding real
 * corruption; the DESIGN comment in logfile.c explains both and the failure
 * handling.
 *
 * Every log file is held with an exclusive flock(2) while open, so two
 * processes (or two handles) never append to the same file.
 *
 * Thread safety: a sw__log belongs to its owner thread; every function below
 * is "owner thread only" unless it says otherwise. Error messages go to the
 * caller's err buffer (err may be NULL, and is always NUL-terminated when
 * errlen > 0) or, after open, to the log's own (sw__log_errmsg).
 */
#ifndef STEWARD_LOG_LOGFILE_H
#define STEWARD_LOG_LOGFILE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log/record.h"
#include "steward/status.h"

/* Called once per valid record, in file order, during open or verify (but
 * never for the log's own SYNCED marks, record.h). r and
 * the bytes it points to live only until the callback returns: copy what you
 * keep. Return SW_OK to go on; any other status stops the replay and becomes
 * the return value of the call that replays. */
typedef int (*sw__log_replay_fn)(void *ctx, const sw__rec *r);

/* What a scan of a file found. */
enum sw__log_tail {
    SW__LOG_CLEAN,  /* every byte belongs to a valid record */
    SW__LOG_TORN,   /* valid records, then a torn tail from good_size to the end */
    SW__LOG_CORRUPT /* a bad record at good_size with data after it */
};

typedef struct sw__log_info {
    uint64_t file_size;                   /* the file's size when scanned */
    uint64_t good_size;                   /* the end of the last valid record */
    uint64_t records;                     /* valid records, SYNCED marks included */
    uint64_t count[SW__REC_TYPE_MAX + 1]; /* valid records by type */
    enum sw__log_tail tail;
    const char *why; /* for TORN and CORRUPT: a short reason (static); else "" */
    bool in_use;     /* verify only: another handle holds the file's lock */
} sw__log_info;

/* One open log. A complete type so that a shard can embed it; touch it only
 * through the functions below. */
typedef struct sw__log {
    int fd;              /* immutable while open, except that writer_commit swaps
                            it under sync_mu */
    char *path;          /* immutable while open; owned */
    uint8_t *buf;        /* the pending batch: owner thread only */
    size_t len;          /* bytes pending in buf: owner thread only */
    size_t cap;          /* owner thread only */
    uint64_t alloc;      /* the file is known to have disk space allocated up to
                            here (sw__log_reserve): owner thread only */
    size_t held;         /* bytes promised by sw__log_hold: owner thread only */
    bool no_prealloc;    /* the file system cannot reserve space: owner only */
    uint64_t marked;     /* the num of the last SYNCED mark written; at open,
                            the size found (see logfile.c): owner thread only */
    int err;             /* errno of the latest failure: owner thread only */
    char errmsg[320];    /* message of the latest failure: owner thread only */
    sw__log_info opened; /* what open found; immutable after open */

    /* Shared with sw__log_sync, which may run on another thread. */
    pthread_mutex_t sync_mu;  /* serialises every fdatasync and the fd swap */
    _Atomic uint64_t written; /* end of the last successful write: stored by
                                 the owner (release), loaded by sw__log_sync
                                 (acquire) */
    _Atomic uint64_t synced;  /* durable prefix; stored under sync_mu */
    _Atomic uint32_t failed;  /* 0, or (op << 16 | errno) of the first
                                 unrecoverable failure; first CAS wins */
} sw__log;

/* Opens the log at path, creating it (and fsyncing its directory, so the
 * new name survives a crash) when absent, and replays every valid record
 * through fn(ctx, r) (fn may be NULL). Then:
 *  - a torn tail is truncated away, and the file fsynced, before open
 *    returns, with a warning on stderr naming the file, the offset and the
 *    bytes dropped;
 *  - corruption (a bad record with data after it) fails the open with SW_EIO
 *    and a message in err naming the file and the offset; nothing on disk is
 *    changed.
 * On failure fn may already have seen some records: the caller discards
 * what it built from them. log->opened says what was found.
 * Returns SW_OK; SW_EINVAL (NULL log or path); SW_ENOMEM; SW_EEXIST when the
 * file is already open (locked) elsewhere; SW_EIO (corruption, or an I/O
 * error, described in err); or the first non-SW_OK status fn returned.
 * On any failure *log holds nothing to close. */
int sw__log_open(sw__log *log, const char *path, sw__log_replay_fn fn, void *ctx, char *err,
                 size_t errlen);

/* Flushes nothing: pending records are dropped (they were never
 * acknowledged); call sw__log_flush(log, true) first to keep them. Gives
 * back the disk space reserved past the file's end, closes the file,
 * releasing its lock, and frees everything. log may be NULL or
 * already closed. Not concurrently with sw__log_sync. */
void sw__log_close(sw__log *log);

/* Encodes r at the end of the pending batch, first reserving disk space
 * for it (see sw__log_reserve): no system call unless the reservation runs
 * out. Returns SW_OK; SW_EINVAL (NULL log, or r that sw__rec_size refuses);
 * SW_ENOMEM (batch unchanged); SW_EIO, batch unchanged, when the disk has
 * no room for r (the log stays usable: sw__log_errno is ENOSPC or EDQUOT)
 * or when the log has failed for good (sw__log_failed). */
int sw__log_append(sw__log *log, const sw__rec *r);

/* Disk space. A full disk must be met before the caller changes anything,
 * not when the batch is written, after its changes are in memory: so the
 * log keeps disk space allocated (fallocate(2), FALLOC_FL_KEEP_SIZE: the
 * file's size and contents do not change) ahead of what it has written, a
 * step at a time, and every append first makes sure the pending batch, the
 * held bytes and the new record fit in it. Writes into allocated space do
 * not fail for want of room on ext4, XFS or tmpfs. Where the file system
 * cannot reserve (EOPNOTSUPP), the log goes on without, and a full disk
 * surfaces as a failed write instead (which fails the journal: journal.h).
 *
 * sw__log_reserve makes sure `bytes` more beyond the pending batch and the
 * held bytes are allocated: for a caller about to append several records
 * that must all or none be logged. sw__log_hold does the same and keeps
 * the bytes promised, so that appends and flushes by others in between
 * cannot use them, until sw__log_release(log, the same bytes) gives them
 * back: just before the append of the record (of at most `bytes`) they
 * were held for, which then cannot be refused, or when it is called off.
 * Each returns SW_OK; SW_EINVAL (NULL or closed log); SW_EIO when the disk
 * has no room (errno ENOSPC or EDQUOT, the log still usable; nothing held)
 * or the log has failed for good. */
int sw__log_reserve(sw__log *log, size_t bytes);
int sw__log_hold(sw__log *log, size_t bytes);
void sw__log_release(sw__log *log, size_t bytes);

/* Whether the latest refusal of the log was for want of disk space (and the
 * log is still usable). */
bool sw__log_nospace(const sw__log *log);

/* Drops the records appended after the pending batch was `pending` bytes
 * long (a value sw__log_pending returned), e.g. when the operation they
 * describe failed after all. A larger value does nothing. */
void sw__log_rewind(sw__log *log, size_t pending);

/* Writes the pending batch at the end of the file with one write (looping
 * over short writes and EINTR) and, when sync is true, makes it and every
 * earlier write durable with one fdatasync. When an fdatasync has completed
 * since the last mark, the write starts with a SYNCED mark (record.h)
 * saying how much of the file that made durable, which recovery uses to
 * tell lost pages from corruption: so sw__log_size may grow by a little
 * more than the batch. With an empty batch, sync=true still syncs earlier
 * unsynced writes, and sync=false does nothing.
 * Returns SW_OK: every record appended so far is in the file (and durable
 * when sync). SW_EIO: none of this batch's records may be acknowledged; the
 * batch is discarded and the file truncated back to where the batch began,
 * so that a reopen does not replay it. After a failed write whose
 * truncation worked, the log stays usable (a full disk may clear); after a
 * failed fdatasync, or a failed truncation, the log has failed for good:
 * every later append, flush and sync returns SW_EIO until it is closed and
 * reopened. sw__log_errmsg says what happened. SW_EINVAL for NULL. */
int sw__log_flush(sw__log *log, bool sync);

/* fdatasyncs the file when something written is not yet known durable (the
 * everysec policy's once-a-second call). Returns SW_OK; SW_EIO, and the log
 * has failed for good, when fdatasync fails (or had failed before);
 * SW_EINVAL for NULL. Thread safety: any thread, concurrently with the
 * owner's calls, but not with sw__log_open or sw__log_close. */
int sw__log_sync(sw__log *log);

/* Bytes in the file: the end of the last successful write, pending batch not
 * included. Thread safety: any thread while open. */
uint64_t sw__log_size(const sw__log *log);

/* The prefix of the file known to be durable. Thread safety: any thread
 * while open. */
uint64_t sw__log_synced(const sw__log *log);

/* Bytes appended but not yet flushed. */
size_t sw__log_pending(const sw__log *log);

/* Whether the log has failed for good (see sw__log_flush). Thread safety:
 * any thread while open. */
bool sw__log_failed(const sw__log *log);

/* The errno of the latest failure, 0 if none. */
int sw__log_errno(const sw__log *log);

/* A message for the latest failure ("" if none), naming the file, the
 * operation and the error. The string lives in *log until the next call on
 * it. */
const char *sw__log_errmsg(const sw__log *log);

/* Scans the log at path read-only (creating nothing, locking nothing
 * exclusively, changing nothing) and reports in *info, calling fn for each
 * valid record as open would (fn may be NULL). info->in_use is set when
 * another handle holds the file open. Returns SW_OK whenever the file could
 * be read, whatever it holds (see info->tail); SW_EINVAL (NULL path or
 * info); SW_ENOMEM; SW_EIO when it cannot be opened or read (err says why);
 * or fn's status. */
int sw__log_verify(const char *path, sw__log_replay_fn fn, void *ctx, sw__log_info *info, char *err,
                   size_t errlen);

/* As sw__log_verify, under the exclusive lock, then truncates a torn tail
 * (and fsyncs), as open would, without the warning; never touches a corrupt
 * file. info says what was found, so info->tail == SW__LOG_TORN means the
 * tail has been cut. Returns as sw__log_verify, plus SW_EEXIST when the file
 * is open elsewhere and SW_EIO when the truncation fails. */
int sw__log_repair(const char *path, sw__log_info *info, char *err, size_t errlen);

/* Fault injection for tests: the next `count` operations of one kind fail
 * (count <= 0 turns the kind off). WRITE: a write fails with EIO before
 * writing anything. SHORT_WRITE: a write writes half of what it was given,
 * then fails with ENOSPC. FSYNC: a file's fdatasync fails with EIO.
 * TRUNCATE: the truncation that undoes a failed batch fails with EIO.
 * DIRSYNC: a directory's fsync fails with EIO. NOSPACE: reserving disk
 * space (sw__log_reserve) fails with ENOSPC. They count every log and
 * writer in the process. Thread safety: any thread. */
enum sw__log_fault {
    SW__LOG_FAULT_WRITE,
    SW__LOG_FAULT_SHORT_WRITE,
    SW__LOG_FAULT_FSYNC,
    SW__LOG_FAULT_TRUNCATE,
    SW__LOG_FAULT_DIRSYNC,
    SW__LOG_FAULT_NOSPACE,
    SW__LOG_FAULT_COUNT
};
void sw__log_fail_next(enum sw__log_fault fault, int count);

/* Recording for the power-loss tests (tests/crash_states.c): once an
 * observer is set, every file operation of this layer that decides what a
 * power cut can leave is reported to it right after it succeeded, on the
 * thread that made it: OPEN (fd now names path, which existed or was just
 * created), WRITE (len bytes of data written at off in fd's file; a short
 * write reports what was written), SYNC_START (an fdatasync of fd begins:
 * what the file holds now is what it makes durable; reported before the
 * call), DATASYNC (that fdatasync succeeded), TRUNCATE (fd's file cut or extended to off), RENAME
 * (path is now called path2), DIRSYNC (the directory of path: its names are durable), UNLINK (path
 * removed). Reads, locks and closes are not reported. Test only: set it while no log is in use;
 * NULL stops it. */
enum sw__io_op {
    SW__IO_OPEN,
    SW__IO_WRITE,
    SW__IO_SYNC_START,
    SW__IO_DATASYNC,
    SW__IO_TRUNCATE,
    SW__IO_RENAME,
    SW__IO_DIRSYNC,
    SW__IO_UNLINK,
};
typedef struct sw__io_event {
    enum sw__io_op op;
    int fd;            /* OPEN, WRITE, SYNC_START, DATASYNC, TRUNCATE */
    const char *path;  /* OPEN, RENAME (from), DIRSYNC (a file in the directory), UNLINK */
    const char *path2; /* RENAME (to) */
    uint64_t off;      /* WRITE: where; TRUNCATE: the new size */
    const void *data;  /* WRITE */
    size_t len;        /* WRITE */
} sw__io_event;
typedef void (*sw__io_observer_fn)(void *ctx, const sw__io_event *ev);
void sw__log_observe(sw__io_observer_fn fn, void *ctx);

/* Compaction: builds a replacement for the log at path in path.tmp, then
 * puts it in place atomically.
 *
 *   sw__log_writer_begin   creates (or empties) path.tmp, locked;
 *   sw__log_writer_append  adds records (buffered, written 1 MiB at a time);
 *   sw__log_writer_flush   writes what is buffered, and fdatasyncs if asked;
 *   sw__log_writer_commit  writes the rest, fdatasyncs, renames path.tmp
 *                          over path, fsyncs the directory, and (with a log)
 *                          makes the new file that log's file;
 *   sw__log_writer_abort   gives up: closes and removes path.tmp.
 *
 * So that compaction does not stall the shard, a background thread can write
 * the snapshot (begin, append, flush(true) for the bulk), then hand the
 * writer to the owner, which appends the records logged since the snapshot
 * was taken and commits: only that small tail and the rename happen on the
 * owner. A crash at any point leaves either the old file or the complete new
 * one at path, plus perhaps a stale path.tmp that the next begin empties.
 *
 * Thread safety: a writer is used by one thread at a time; it may pass
 * between threads through any synchronising hand-off (a channel, an owner
 * call). commit with a log runs on that log's owner thread. */
typedef struct sw__log_writer {
    int fd;       /* -1 once finished */
    char *path;   /* the final name; owned */
    char *tmp;    /* path.tmp; owned */
    uint8_t *buf; /* records not yet written */
    size_t len, cap;
    uint64_t size; /* bytes written to tmp */
    bool failed;   /* a write failed: only abort is left */
    int err;       /* errno of the latest failure */
    char errmsg[320];
} sw__log_writer;

/* Starts a replacement for path. Returns SW_OK; SW_EINVAL (NULL argument);
 * SW_ENOMEM; SW_EEXIST when another writer holds path.tmp; SW_EIO (err).
 * On failure *w holds nothing to abort. */
int sw__log_writer_begin(sw__log_writer *w, const char *path, char *err, size_t errlen);

/* Buffers r; writes the buffer out once it holds 1 MiB. Returns SW_OK;
 * SW_EINVAL (NULL w, a finished writer, or r that sw__rec_size refuses);
 * SW_ENOMEM; SW_EIO when a write fails (then, or earlier): abort. */
int sw__log_writer_append(sw__log_writer *w, const sw__rec *r);

/* Writes everything buffered and, when sync, fdatasyncs. SW_OK; SW_EINVAL;
 * SW_EIO (abort). */
int sw__log_writer_flush(sw__log_writer *w, bool sync);

/* Finishes the replacement (see above). With log non-NULL, log must be the
 * open log of the same path with nothing pending: on success its file is
 * now the new one, every record in it durable, and appends go there.
 * Returns SW_OK. SW_EINVAL (NULL or finished w; a log with pending records
 * or that has failed; the writer left untouched, to abort or retry).
 * SW_EIO: if the rename had not happened, path.tmp is removed and path
 * (and log) is as before; if only the directory fsync failed, the new file
 * is in place and log, switched to it, has failed for good, since a crash
 * could still bring the old name back. Either way w is finished (err in
 * w->errmsg until then; an abort afterwards is a harmless no-op). */
int sw__log_writer_commit(sw__log_writer *w, sw__log *log);

/* Closes and removes path.tmp and frees the writer; harmless on a finished
 * or zeroed writer. */
void sw__log_writer_abort(sw__log_writer *w);

#endif
