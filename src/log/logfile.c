/* One append-only log file: recovery, group commit, failure handling and the
 * atomic replace used by compaction.
 *
 * DESIGN
 *
 * File format. A log is nothing but records back to back (record.h), from
 * offset 0: no file header, so an empty file is a valid empty log, and any
 * prefix of a log that ends on a record boundary is a valid log.
 *
 * Group commit. The owner appends records into an in-memory batch; flush
 * writes the batch with one pwrite at the file's known end (explicit offsets,
 * never O_APPEND, so that undoing a failed batch with ftruncate leaves no
 * hole before the next write) and, in the `always` policy, one fdatasync.
 * fdatasync also makes the new file size durable. Callers are acknowledged
 * only after flush returns SW_OK, so any number of callers of one loop turn
 * share one write and one fdatasync.
 *
 * Torn tail or corruption. Scanning stops at the first offset X where no
 * valid record starts. A process crash during an append leaves a prefix of
 * the batch, so the bytes from X are a prefix of one record; a power cut can
 * also leave the file longer with zeros where the data did not reach the
 * disk. So, ignoring trailing zero bytes, the bytes from X are a torn tail
 * exactly when they could be the beginning of the single record at X: fewer
 * than 8 of them, or a header with a plausible length whose extent covers
 * them all and a body consistent with that length as far as it goes (a
 * complete body that only fails its CRC is a torn write too). Anything else
 * is corruption: a valid-looking record would have to end before data that
 * an interrupted append cannot leave. The body repeats its length (its
 * fields add up to the header's length), which is what makes the rule safe:
 * a bit flip in the length of a record in the middle of the file cannot pass
 * for a torn tail, since that record's intact body disagrees with it. The
 * price is that arbitrary non-zero garbage after the last record, which no
 * crash of ours leaves, is refused as corruption rather than dropped.
 *
 * Lost pages. A power cut can also leave the pages of unsynced writes on
 * disk in any subset, not only as a prefix: writeback goes page by page in
 * no promised order, and a file system that does not write data before the
 * size that covers it (or a device that reorders) shows the result. A page
 * that never made it reads as zeros, with records after it. The rule above
 * calls that corruption (non-zero bytes follow the bad record), and the
 * file alone cannot tell such a hole from a durable page zeroed later. So
 * the log keeps a watermark in itself: flush starts a write with a SYNCED
 * record (record.h) whenever an fdatasync has completed since the last
 * such mark, its num the durable prefix (`synced`) at that moment; in
 * `always` that is one record per batch (16 bytes at most in a file below
 * 2 GiB), under everysec about one a second. A mark claims only what was durable before it was
 * written, so no crash can make it lie. Recovery then widens the rule: the
 * bytes from X that the codec calls corrupt are a torn tail after all when
 *  - they show a lost page where one must be if X is the first record a
 *    lost page broke: a whole 4096-aligned page of zeros that overlaps the
 *    record claimed at X ([X, X + 8 + its length), capped at the end of the
 *    file), or the rest of X's own page from X all zeros; and
 *  - no complete, valid SYNCED record as the log writes them (sw__rec_mark)
 *    at any later offset claims a num above X. The search tries every byte
 *    offset, since record boundaries past a hole are unknown. A mark past X
 *    means X was durable before the crash, so the zeros are damage to
 *    durable data: refused, as before.
 * The cut drops every record after X: no mark proves them durable, so none
 * was acknowledged under `always` (each batch's successor opens with a mark
 * covering it) nor synced under everysec. The zero-page test and the search
 * run only for a file the codec already calls corrupt; an ordinary open
 * never pays for them. What the rule cannot catch: durable data zeroed (or
 * corrupted within a record that holds a whole zero page) past the last
 * mark written is cut as lost, not refused. That is the last batch under
 * `always` and about the last second under everysec; under `no`, where the
 * only fdatasyncs are a compaction's and the Ledger's debits, most of the
 * file. A session's first mark waits for its first fdatasync (open cannot
 * know that what it read is durable: a process crash leaves unsynced data
 * in the page cache). And since a value may hold any bytes, a mark forged
 * inside one can only turn a cut into a refusal, never the reverse.
 *
 * Recovery replays up to X, then truncates a torn tail (and fsyncs) before
 * the first append, or refuses to open on corruption without writing
 * anything.
 *
 * A full disk. Appending first makes sure disk space is allocated for the
 * record (fallocate with FALLOC_FL_KEEP_SIZE, a megabyte at a time, so
 * that the file's size and bytes, and so what a crash can leave, do not
 * change), and refuses the record when there is none. The caller has not
 * changed anything yet, so it refuses its request and stays consistent;
 * once space returns, the next append gets it. Writes into allocated space
 * do not run out of room, so a flush does not fail for a full disk, after
 * the callers' changes are in memory, which no undo could take back (the
 * Db's and Ledger's tables). Where fallocate is not supported, a full disk
 * fails the write instead, as below.
 *
 * Failures. A failed write leaves part of the batch in the file: flush
 * truncates the file back to the batch's start, so the half batch can never
 * be replayed, discards the batch and returns SW_EIO; the log remains usable
 * (a disk that was full may have room later). A failed fdatasync is worse:
 * Linux may have dropped the dirty pages and will not report the error
 * again, so earlier unsynced writes are in doubt too and a retry could lie.
 * flush then truncates the batch away (best effort), and the log fails for
 * good: every later call returns SW_EIO until it is reopened, which re-reads
 * what the file really holds. A failed truncation also fails the log for
 * good: the file may end with a partial batch, which a reopen would treat as
 * a torn tail (or replay the batch's complete records, never acknowledged:
 * an unacknowledged write may survive, as after any crash, but an
 * acknowledged one is never lost).
 *
 * Threads. The owner thread does everything but sw__log_sync, which may run
 * on a background thread (everysec). Every fdatasync, the owner's and the
 * background one's, runs under sync_mu and checks the sticky `failed` flag
 * inside it, so when one of them consumes a writeback error the other cannot
 * report success for the same pages. sync_mu also covers the fd swap of a
 * compaction commit, so a background sync never uses a closed descriptor.
 */
#define _GNU_SOURCE
#include "log/logfile.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "log/crc32c.h"
#include "base/base.h"

#define READ_CHUNK ((size_t)1 << 20)     /* replay reads this much at a time */
#define WRITER_FLUSH ((size_t)1 << 20)   /* a writer writes out at this size */
#define BATCH_KEEP ((size_t)1 << 20)     /* a batch buffer above this is freed after a flush */
#define RESERVE_STEP ((uint64_t)1 << 20) /* disk space is reserved this far ahead */
#define WRITEV_MAX 2                     /* buffers in one write: a SYNCED mark and a batch */
/* The unit in which a power cut loses unsynced data, and in which disk
 * space is reserved: the page cache's page (4096 bytes on every platform
 * steward runs on). */
#define PAGE ((uint64_t)4096)

enum op {
    OP_OPEN = 1,
    OP_READ,
    OP_WRITE,
    OP_FSYNC,
    OP_TRUNCATE,
    OP_DIRSYNC,
    OP_RENAME,
    OP_LOCK,
    OP_ALLOCATE
};

static const char *op_name(int op)
{
    static const char *const names[] = {
        "?",      "open",  "read",     "write", "fdatasync", "ftruncate", "fsync of directory",
        "rename", "flock", "fallocate"};
    return op > 0 && op <= OP_ALLOCATE ? names[op] : names[0];
}

/* ---- fault injection ---------------------------------------------------- */

/* Remaining failures per kind. Relaxed: each counter stands alone and
 * publishes no other data. */
static _Atomic int faults[SW__LOG_FAULT_COUNT];

void sw__log_fail_next(enum sw__log_fault fault, int count)
{
    if ((int)fault < 0 || fault >= SW__LOG_FAULT_COUNT)
        return;
    atomic_store_explicit(&faults[fault], count > 0 ? count : 0, memory_order_relaxed);
}

static bool fault_take(enum sw__log_fault fault)
{
    int n = atomic_load_explicit(&faults[fault], memory_order_relaxed);
    while (n > 0) {
        if (atomic_compare_exchange_weak_explicit(&faults[fault], &n, n - 1, memory_order_relaxed,
                                                  memory_order_relaxed))
            return true;
    }
    return false;
}

/* The observer (logfile.h). Relaxed: a test sets it while no log is in
 * use, and the thread that starts the logs afterwards orders the rest. */
static _Atomic(sw__io_observer_fn) observer;
static void *_Atomic observer_ctx;

void sw__log_observe(sw__io_observer_fn fn, void *ctx)
{
    atomic_store_explicit(&observer_ctx, ctx, memory_order_relaxed);
    atomic_store_explicit(&observer, fn, memory_order_relaxed);
}

static void observe(enum sw__io_op op, int fd, const char *path, const char *path2, uint64_t off,
                    const void *data, size_t len)
{
    sw__io_observer_fn fn = atomic_load_explicit(&observer, memory_order_relaxed);
    if (fn) {
        sw__io_event ev = {op, fd, path, path2, off, data, len};
        fn(atomic_load_explicit(&observer_ctx, memory_order_relaxed), &ev);
    }
}

/* ---- system calls, with the hooks --------------------------------------- */

/* Points part[] at bytes [skip, skip + len) of the buffers iov[0 .. cnt)
 * (cnt <= WRITEV_MAX) taken back to back; returns how many parts. */
static int iov_slice(const struct iovec *iov, int cnt, size_t skip, size_t len, struct iovec *part)
{
    int n = 0;
    for (int i = 0; i < cnt && len > 0; i++) {
        size_t have = iov[i].iov_len;
        if (skip >= have) {
            skip -= have;
            continue;
        }
        size_t take = have - skip < len ? have - skip : len;
        part[n++] = (struct iovec){(uint8_t *)iov[i].iov_base + skip, take};
        len -= take;
        skip = 0;
    }
    return n;
}

/* Reports the first len bytes of part[] as one WRITE at off: one write
 * system call is one event, as the power-loss model wants (and, should the
 * copy find no memory, one event per buffer, still exact). */
static void observe_written(int fd, uint64_t off, const struct iovec *part, int cnt, size_t len)
{
    if (atomic_load_explicit(&observer, memory_order_relaxed) == NULL)
        return;
    if (part[0].iov_len >= len) {
        observe(SW__IO_WRITE, fd, NULL, NULL, off, part[0].iov_base, len);
        return;
    }
    uint8_t *joined = malloc(len);
    size_t at = 0;
    for (int i = 0; i < cnt && at < len; i++) {
        size_t take = part[i].iov_len < len - at ? part[i].iov_len : len - at;
        if (joined != NULL)
            memcpy(joined + at, part[i].iov_base, take);
        else
            observe(SW__IO_WRITE, fd, NULL, NULL, off + at, part[i].iov_base, take);
        at += take;
    }
    if (joined != NULL)
        observe(SW__IO_WRITE, fd, NULL, NULL, off, joined, len);
    free(joined);
}

/* Writes the buffers iov[0 .. cnt) (cnt <= WRITEV_MAX) back to back at off
 * with pwritev; -1 with errno on failure (part may be written). */
static int write_allv(int fd, const struct iovec *iov, int cnt, uint64_t off)
{
    size_t len = 0, done = 0;
    for (int i = 0; i < cnt; i++)
        len += iov[i].iov_len;
    while (done < len) {
        if (fault_take(SW__LOG_FAULT_WRITE)) {
            errno = EIO;
            return -1;
        }
        size_t chunk = len - done;
        bool cut = fault_take(SW__LOG_FAULT_SHORT_WRITE);
        if (cut)
            chunk /= 2;
        struct iovec part[WRITEV_MAX];
        int parts = iov_slice(iov, cnt, done, chunk, part);
        ssize_t n = chunk > 0 ? pwritev(fd, part, parts, (off_t)(off + done)) : 0;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n > 0)
            observe_written(fd, off + done, part, parts, (size_t)n);
        if (cut || n == 0) {
            errno = cut ? ENOSPC : EIO;
            return -1;
        }
        done += (size_t)n;
    }
    return 0;
}

/* Writes all of buf at off; -1 with errno on failure (part may be written). */
static int write_all(int fd, const uint8_t *buf, size_t len, uint64_t off)
{
    struct iovec one = {(void *)buf, len};
    return write_allv(fd, &one, 1, off);
}

static int do_fdatasync(int fd)
{
    if (fault_take(SW__LOG_FAULT_FSYNC)) {
        errno = EIO;
        return -1;
    }
    observe(SW__IO_SYNC_START, fd, NULL, NULL, 0, NULL, 0);
    int rc;
    do
        rc = fdatasync(fd);
    while (rc < 0 && errno == EINTR);
    if (rc == 0)
        observe(SW__IO_DATASYNC, fd, NULL, NULL, 0, NULL, 0);
    return rc;
}

static int do_truncate(int fd, uint64_t size)
{
    if (fault_take(SW__LOG_FAULT_TRUNCATE)) {
        errno = EIO;
        return -1;
    }
    int rc;
    do
        rc = ftruncate(fd, (off_t)size);
    while (rc < 0 && errno == EINTR);
    if (rc == 0)
        observe(SW__IO_TRUNCATE, fd, NULL, NULL, size, NULL, 0);
    return rc;
}

/* fsyncs the directory that holds path, so that a new or renamed name in it
 * survives a crash. */
static int sync_dir(const char *path)
{
    if (fault_take(SW__LOG_FAULT_DIRSYNC)) {
        errno = EIO;
        return -1;
    }
    const char *slash = strrchr(path, '/');
    char *dir =
        slash == NULL ? strdup(".") : strndup(path, slash == path ? 1 : (size_t)(slash - path));
    if (dir == NULL)
        return -1;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(dir);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    int saved = errno;
    close(fd);
    errno = saved;
    if (rc == 0)
        observe(SW__IO_DIRSYNC, -1, path, NULL, 0, NULL, 0);
    return rc;
}

/* Reads exactly len bytes at off; -1 with errno (EIO for an early end). */
static int read_at(int fd, uint8_t *buf, size_t len, uint64_t off)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(fd, buf + done, len - done, (off_t)(off + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO; /* the file shrank under us */
            return -1;
        }
        done += (size_t)n;
    }
    return 0;
}

static void fmt(char *out, size_t outlen, const char *f, ...) __attribute__((format(printf, 3, 4)));

static void fmt(char *out, size_t outlen, const char *f, ...)
{
    if (out == NULL || outlen == 0)
        return;
    va_list ap;
    va_start(ap, f);
    vsnprintf(out, outlen, f, ap);
    va_end(ap);
}

/* ---- scanning ------------------------------------------------------------ */

/* A window on the file: buf holds the bytes [base, base + len). */
struct reader {
    int fd;
    uint64_t size;
    uint8_t *buf;
    size_t cap;
    uint64_t base;
    size_t len;
};

/* Makes the window hold [off, off + need) (need <= size - off), reading
 * ahead up to a chunk. SW_OK, SW_ENOMEM, or SW_EIO with errno. */
static int reader_fill(struct reader *rd, uint64_t off, size_t need)
{
    if (off >= rd->base && off + need <= rd->base + rd->len)
        return SW_OK;
    size_t keep = 0;
    if (off >= rd->base && off < rd->base + rd->len) {
        keep = (size_t)(rd->base + rd->len - off);
        memmove(rd->buf, rd->buf + (off - rd->base), keep);
    }
    rd->base = off;
    rd->len = keep;
    size_t want = need > READ_CHUNK ? need : READ_CHUNK;
    if (want > rd->size - off)
        want = (size_t)(rd->size - off);
    if (want > rd->cap) {
        uint8_t *nb = realloc(rd->buf, want);
        if (nb == NULL)
            return SW_ENOMEM;
        rd->buf = nb;
        rd->cap = want;
    }
    if (read_at(rd->fd, rd->buf + keep, want - keep, off + keep) < 0)
        return SW_EIO;
    rd->len = want;
    return SW_OK;
}

/* The end of the file without its trailing zero bytes, but not below off. */
static int trimmed_end(struct reader *rd, uint64_t off, uint64_t *end)
{
    uint8_t chunk[4096];
    uint64_t z = rd->size;
    while (z > off) {
        size_t n = z - off < sizeof chunk ? (size_t)(z - off) : sizeof chunk;
        if (read_at(rd->fd, chunk, n, z - n) < 0)
            return SW_EIO;
        while (n > 0 && chunk[n - 1] == 0) {
            n--;
            z--;
        }
        if (n > 0)
            break;
    }
    *end = z;
    return SW_OK;
}

/* Classifies the bytes from off, where no valid record starts, by the
 * codec's rule in the DESIGN comment (sw__rec_torn), filling info->tail and
 * info->why. */
static int classify_codec(struct reader *rd, uint64_t off, sw__log_info *info)
{
    uint64_t z;
    if (trimmed_end(rd, off, &z) != SW_OK)
        return SW_EIO;
    info->tail = SW__LOG_TORN;
    if (z - off < SW__REC_HEADER) {
        info->why = z == off ? "zero-filled tail" : "incomplete header";
        return SW_OK;
    }
    int rc = reader_fill(rd, off, SW__REC_HEADER);
    if (rc != SW_OK)
        return rc;
    const uint8_t *h = rd->buf + (off - rd->base);
    uint64_t body =
        (uint64_t)h[0] | (uint64_t)h[1] << 8 | (uint64_t)h[2] << 16 | (uint64_t)h[3] << 24;
    info->tail = SW__LOG_CORRUPT;
    if (body == 0 || body > SW__REC_MAX_BODY) {
        info->why = "invalid record length";
        return SW_OK;
    }
    if (z - off > SW__REC_HEADER + body) {
        /* The whole record is in the file: say what is wrong with it. */
        rc = reader_fill(rd, off, (size_t)(SW__REC_HEADER + body));
        if (rc != SW_OK)
            return rc;
        h = rd->buf + (off - rd->base);
        uint32_t crc =
            (uint32_t)h[4] | (uint32_t)h[5] << 8 | (uint32_t)h[6] << 16 | (uint32_t)h[7] << 24;
        info->why = sw__crc32c(0, h + SW__REC_HEADER, (size_t)body) != crc
                        ? "checksum mismatch, with data after the record"
                        : "malformed record, with data after it";
        return SW_OK;
    }
    rc = reader_fill(rd, off, (size_t)(z - off));
    if (rc != SW_OK)
        return rc;
    if (!sw__rec_torn(rd->buf + (off - rd->base), (size_t)(z - off), SW__REC_MAX_BODY)) {
        info->why = "record body disagrees with its length";
        return SW_OK;
    }
    info->tail = SW__LOG_TORN;
    /* Whole in the file (trailing zeros included), the record can only have
     * failed its CRC, or carry zeros where its last bytes should be. */
    info->why = rd->size - off < SW__REC_HEADER + body ? "incomplete record"
                                                       : "checksum mismatch in the last record";
    return SW_OK;
}

/* Sets *zero to whether the bytes [from, to) of the file (to - from <=
 * PAGE) are all zero. */
static int all_zero(struct reader *rd, uint64_t from, uint64_t to, bool *zero)
{
    int rc = reader_fill(rd, from, (size_t)(to - from));
    if (rc != SW_OK)
        return rc;
    const uint8_t *p = rd->buf + (from - rd->base);
    size_t n = (size_t)(to - from);
    *zero = n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
    return SW_OK;
}

/* Sets *lost to whether the bytes from off show a page lost by a power cut
 * where the first record it broke would start at off (DESIGN): a whole
 * zero page overlapping the record claimed at off, or zeros from off to the
 * end of its page, with more of the file after either. */
static int lost_pages(struct reader *rd, uint64_t off, bool *lost)
{
    uint64_t extent = rd->size;
    if (rd->size - off >= SW__REC_HEADER) {
        int rc = reader_fill(rd, off, SW__REC_HEADER);
        if (rc != SW_OK)
            return rc;
        const uint8_t *h = rd->buf + (off - rd->base);
        uint64_t claimed = SW__REC_HEADER + ((uint64_t)h[0] | (uint64_t)h[1] << 8 |
                                             (uint64_t)h[2] << 16 | (uint64_t)h[3] << 24);
        if (claimed < rd->size - off)
            extent = off + claimed;
    }
    *lost = false;
    for (uint64_t p = off - off % PAGE; p < extent && p + PAGE <= rd->size && !*lost; p += PAGE) {
        int rc = all_zero(rd, p > off ? p : off, p + PAGE, lost);
        if (rc != SW_OK)
            return rc;
    }
    return SW_OK;
}

/* Sets *durable to whether a valid SYNCED mark at some offset after off
 * claims more than off, i.e. that off was durable. Every offset is tried:
 * past a lost page, record boundaries are unknown. */
static int marked_durable(struct reader *rd, uint64_t off, bool *durable)
{
    *durable = false;
    for (uint64_t at = off + 1; at + SW__REC_MARK_MIN <= rd->size; at++) {
        size_t n = rd->size - at < SW__REC_MARK_MAX ? (size_t)(rd->size - at) : SW__REC_MARK_MAX;
        int rc = reader_fill(rd, at, n);
        if (rc != SW_OK)
            return rc;
        uint64_t num;
        if (sw__rec_mark(rd->buf + (at - rd->base), n, &num) && num > off) {
            *durable = true;
            break;
        }
    }
    return SW_OK;
}

/* Classifies the bytes from off, where no valid record starts: the codec's
 * rule, widened to pages lost by a power cut (DESIGN). */
static int classify_tail(struct reader *rd, uint64_t off, sw__log_info *info)
{
    int rc = classify_codec(rd, off, info);
    if (rc != SW_OK || info->tail != SW__LOG_CORRUPT)
        return rc;
    bool lost, durable = false;
    rc = lost_pages(rd, off, &lost);
    if (rc == SW_OK && lost)
        rc = marked_durable(rd, off, &durable);
    if (rc != SW_OK || !lost)
        return rc;
    if (durable) {
        info->why = "zeroed pages in data that a later SYNCED mark says was durable";
    } else {
        info->tail = SW__LOG_TORN;
        info->why = "pages lost by a power cut";
    }
    return SW_OK;
}

/* Replays every valid record of the open file fd through fn and classifies
 * what follows. SW_OK (see info), SW_ENOMEM, SW_EIO (errno), or fn's status. */
static int scan_fd(int fd, sw__log_replay_fn fn, void *ctx, sw__log_info *info)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return SW_EIO;
    memset(info, 0, sizeof *info);
    info->file_size = (uint64_t)st.st_size;
    info->why = "";
    struct reader rd = {.fd = fd, .size = info->file_size};
    uint64_t off = 0;
    int rc = SW_OK;
    while (off < rd.size) {
        size_t avail = rd.base + rd.len > off ? (size_t)(rd.base + rd.len - off) : 0;
        if (avail == 0) {
            rc = reader_fill(&rd, off, 1); /* reads ahead a chunk */
            if (rc != SW_OK)
                break;
            continue;
        }
        sw__rec r;
        size_t used = 0;
        int d = sw__rec_decode(rd.buf + (off - rd.base), avail, SW__REC_MAX_BODY, &r, &used);
        if (d == SW_OK) {
            /* The log's own marks mean nothing to the layers above. */
            if (fn != NULL && r.type != SW__REC_SYNCED && (rc = fn(ctx, &r)) != SW_OK)
                break;
            info->records++;
            info->count[r.type]++;
            off += used;
            continue;
        }
        uint64_t left = rd.size - off;
        if (d == SW_EAGAIN && avail < left) {
            rc = reader_fill(&rd, off, used < left ? used : (size_t)left);
            if (rc != SW_OK)
                break;
            continue;
        }
        rc = classify_tail(&rd, off, info);
        break;
    }
    info->good_size = off;
    free(rd.buf);
    return rc;
}

/* ---- messages ------------------------------------------------------------ */

static const char *errstr(int e, char *buf, size_t len)
{
    return strerror_r(e, buf, len); /* the GNU variant: thread-safe */
}

/* Records a failure of op at offset off in the log's own message. */
static void note(sw__log *log, int op, int e, uint64_t off)
{
    char eb[128];
    log->err = e;
    fmt(log->errmsg, sizeof log->errmsg, "%s: %s at offset %" PRIu64 " failed: %s", log->path,
        op_name(op), off, errstr(e, eb, sizeof eb));
}

/* Marks the log failed for good; the first failure is the one kept.
 * Relaxed: the flag publishes nothing else, and the fdatasync paths read it
 * under sync_mu. */
static void fail_for_good(sw__log *log, int op, int e)
{
    uint32_t expect = 0, want = (uint32_t)op << 16 | ((uint32_t)e & 0xffff);
    atomic_compare_exchange_strong_explicit(&log->failed, &expect, want, memory_order_relaxed,
                                            memory_order_relaxed);
}

/* The answer to any call on a log that has failed for good. */
static int refuse(sw__log *log)
{
    char eb[128];
    uint32_t f = atomic_load_explicit(&log->failed, memory_order_relaxed);
    log->err = (int)(f & 0xffff);
    fmt(log->errmsg, sizeof log->errmsg,
        "%s: the log failed earlier (%s: %s) and accepts no more writes; reopen it", log->path,
        op_name((int)(f >> 16)), errstr(log->err, eb, sizeof eb));
    return SW_EIO;
}

/* ---- disk space ----------------------------------------------------------- */

/* The errors that mean "no room": the disk, the user's quota, the file's
 * size limit. They refuse a write; they do not fail the log. */
static bool no_room(int e)
{
    return e == ENOSPC || e == EDQUOT || e == EFBIG;
}

/* Makes sure the file has disk space allocated up to end (see logfile.h):
 * a step beyond end when the disk has it, else exactly what end needs. */
static int make_room(sw__log *log, uint64_t end)
{
    if (end <= log->alloc || log->no_prealloc)
        return SW_OK;
    static atomic_bool warned;
    char eb[128];
    uint64_t from = atomic_load_explicit(&log->written, memory_order_relaxed);
    uint64_t want[2] = {(end + RESERVE_STEP) & ~(PAGE - 1), (end + PAGE - 1) & ~(PAGE - 1)};
    int e = ENOSPC;
    for (int i = 0; i < 2 && !fault_take(SW__LOG_FAULT_NOSPACE); i++) {
        int rc;
        do
            rc = fallocate(log->fd, FALLOC_FL_KEEP_SIZE, (off_t)from, (off_t)(want[i] - from));
        while (rc < 0 && errno == EINTR);
        if (rc == 0) {
            log->alloc = want[i];
            return SW_OK;
        }
        e = errno;
        if (!no_room(e)) { /* cannot reserve here: go on without (logfile.h) */
            log->no_prealloc = true;
            if (!atomic_exchange(&warned, true))
                sw__logmsg(SW_LOG_WARN,
                           "%s: cannot reserve disk space (%s): a full disk will fail the log "
                           "rather than refuse writes",
                           log->path, errstr(e, eb, sizeof eb));
            return SW_OK;
        }
    }
    note(log, OP_ALLOCATE, e, from);
    return SW_EIO;
}

/* Room for bytes more beyond the pending batch and the held bytes, and
 * for the SYNCED mark the flush may write before the batch. */
static int room_for(sw__log *log, size_t bytes)
{
    uint64_t end = atomic_load_explicit(&log->written, memory_order_relaxed) + SW__REC_MARK_MAX +
                   log->len + log->held + bytes;
    return end <= log->alloc ? SW_OK : make_room(log, end);
}

int sw__log_reserve(sw__log *log, size_t bytes)
{
    if (log == NULL || log->path == NULL)
        return SW_EINVAL;
    if (atomic_load_explicit(&log->failed, memory_order_relaxed) != 0)
        return refuse(log);
    return room_for(log, bytes);
}

/* A hold also keeps room for a SYNCED mark: flushes in between may use up
 * the mark's room that each append counts, and the held record may be the
 * first of a batch, after a mark. */
int sw__log_hold(sw__log *log, size_t bytes)
{
    int rc = sw__log_reserve(log, bytes + SW__REC_MARK_MAX);
    if (rc == SW_OK)
        log->held += bytes + SW__REC_MARK_MAX;
    return rc;
}

void sw__log_release(sw__log *log, size_t bytes)
{
    if (log == NULL)
        return;
    bytes += SW__REC_MARK_MAX;
    log->held -= bytes < log->held ? bytes : log->held;
}

bool sw__log_nospace(const sw__log *log)
{
    return log != NULL && !sw__log_failed(log) && no_room(log->err);
}

/* Gives back the space reserved past the file's end, when closing. ext4
 * frees blocks past the end on a truncation to the same size, tmpfs on a
 * hole punched there; neither changes what the file holds, so neither is
 * reported to the observer. */
static void return_room(sw__log *log)
{
    uint64_t end = atomic_load_explicit(&log->written, memory_order_relaxed);
    if (log->alloc <= end || sw__log_failed(log))
        return;
    (void)!ftruncate(log->fd, (off_t)end);
    (void)!fallocate(log->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)end,
                     (off_t)(log->alloc - end));
}

/* ---- opening and recovery ------------------------------------------------ */

/* Opens path read-write under an exclusive lock, creating it (and making its
 * name durable) when create is set and it is absent. */
static int open_locked(const char *path, bool create, int *fdp, char *err, size_t errlen)
{
    char eb[128];
    bool created = false;
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && create) {
        fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        created = fd >= 0;
    }
    if (fd < 0) {
        fmt(err, errlen, "%s: open failed: %s", path, errstr(errno, eb, sizeof eb));
        return SW_EIO;
    }
    observe(SW__IO_OPEN, fd, path, NULL, 0, NULL, 0);
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;
        close(fd);
        fmt(err, errlen, "%s: %s", path,
            e == EWOULDBLOCK ? "already open elsewhere (locked)" : errstr(e, eb, sizeof eb));
        return e == EWOULDBLOCK ? SW_EEXIST : SW_EIO;
    }
    if (created && sync_dir(path) < 0) {
        fmt(err, errlen, "%s: fsync of its directory failed: %s", path,
            errstr(errno, eb, sizeof eb));
        close(fd);
        return SW_EIO;
    }
    *fdp = fd;
    return SW_OK;
}

/* Scans fd, replaying through fn, and cuts a torn tail (warning on stderr
 * when warn is set). Corruption is reported in info, not as a failure. */
static int recover(int fd, const char *path, sw__log_replay_fn fn, void *ctx, sw__log_info *info,
                   bool warn, char *err, size_t errlen)
{
    char eb[128];
    int rc = scan_fd(fd, fn, ctx, info);
    if (rc == SW_EIO)
        fmt(err, errlen, "%s: read failed: %s", path, errstr(errno, eb, sizeof eb));
    if (rc != SW_OK || info->tail != SW__LOG_TORN)
        return rc;
    uint64_t dropped = info->file_size - info->good_size;
    if (warn)
        sw__logmsg(SW_LOG_WARN,
                   "warning: %s: torn tail at offset %" PRIu64 " (%s): truncating %" PRIu64
                   " bytes",
                   path, info->good_size, info->why, dropped);
    if (do_truncate(fd, info->good_size) < 0 || do_fdatasync(fd) < 0) {
        fmt(err, errlen, "%s: cutting the torn tail at offset %" PRIu64 " failed: %s", path,
            info->good_size, errstr(errno, eb, sizeof eb));
        return SW_EIO;
    }
    return SW_OK;
}

int sw__log_open(sw__log *log, const char *path, sw__log_replay_fn fn, void *ctx, char *err,
                 size_t errlen)
{
    fmt(err, errlen, "%s", "");
    if (log == NULL || path == NULL)
        return SW_EINVAL;
    memset(log, 0, sizeof *log);
    log->fd = -1;
    int fd = -1, rc;
    char *copy = strdup(path);
    if (copy == NULL)
        return SW_ENOMEM;
    rc = open_locked(path, true, &fd, err, errlen);
    if (rc != SW_OK)
        goto fail;
    rc = recover(fd, path, fn, ctx, &log->opened, true, err, errlen);
    if (rc != SW_OK)
        goto fail;
    if (log->opened.tail == SW__LOG_CORRUPT) {
        fmt(err, errlen,
            "%s: corrupt record at offset %" PRIu64 " (%s), %" PRIu64
            " bytes before the end of the file; refusing to open, nothing changed",
            path, log->opened.good_size, log->opened.why,
            log->opened.file_size - log->opened.good_size);
        rc = SW_EIO;
        goto fail;
    }
    if (pthread_mutex_init(&log->sync_mu, NULL) != 0) {
        rc = SW_ENOMEM;
        goto fail;
    }
    log->fd = fd;
    log->path = copy;
    atomic_store_explicit(&log->written, log->opened.good_size, memory_order_relaxed);
    atomic_store_explicit(&log->synced, log->opened.good_size, memory_order_relaxed);
    /* What open found may sit only in the page cache (a process crash
     * leaves it there, unsynced): the first mark waits for an fdatasync of
     * this session, which covers it. */
    log->marked = log->opened.good_size;
    return SW_OK;
fail:
    if (fd >= 0)
        close(fd);
    free(copy);
    return rc;
}

void sw__log_close(sw__log *log)
{
    if (log == NULL || log->path == NULL)
        return;
    return_room(log);
    close(log->fd);
    pthread_mutex_destroy(&log->sync_mu);
    free(log->path);
    free(log->buf);
    log->fd = -1;
    log->path = NULL;
    log->buf = NULL;
    log->len = log->cap = 0;
}

/* ---- group commit -------------------------------------------------------- */

int sw__log_append(sw__log *log, const sw__rec *r)
{
    if (log == NULL || log->path == NULL)
        return SW_EINVAL;
    size_t n = sw__rec_size(r);
    if (n == 0)
        return SW_EINVAL;
    if (atomic_load_explicit(&log->failed, memory_order_relaxed) != 0)
        return refuse(log);
    if (room_for(log, n) != SW_OK)
        return SW_EIO;
    if (n > log->cap - log->len) {
        if (n > SIZE_MAX / 2 - log->len)
            return SW_ENOMEM;
        size_t cap = log->cap < 65536 ? 65536 : log->cap;
        while (cap < log->len + n)
            cap *= 2;
        uint8_t *nb = realloc(log->buf, cap);
        if (nb == NULL)
            return SW_ENOMEM;
        log->buf = nb;
        log->cap = cap;
    }
    log->len += sw__rec_encode(log->buf + log->len, r);
    return SW_OK;
}

/* Forgets the pending batch, and its buffer when a big batch grew it. */
static void drop_batch(sw__log *log)
{
    log->len = 0;
    if (log->cap > BATCH_KEEP) {
        free(log->buf);
        log->buf = NULL;
        log->cap = 0;
    }
}

/* Truncates away a batch that may not be acknowledged, which began at
 * start; when that fails too the log fails for good. */
static void undo_batch(sw__log *log, uint64_t start)
{
    log->alloc = start; /* a truncation frees the space reserved past it */
    if (do_truncate(log->fd, start) == 0)
        return;
    char eb[128];
    int e = errno;
    fail_for_good(log, OP_TRUNCATE, e);
    size_t used = strlen(log->errmsg);
    fmt(log->errmsg + used, sizeof log->errmsg - used,
        "; truncating back to offset %" PRIu64 " failed too (%s): the log accepts no more writes",
        start, errstr(e, eb, sizeof eb));
}

/* The fdatasync of a flush: makes [0, end) durable, the batch being
 * [start, end). */
static int flush_sync(sw__log *log, uint64_t start, uint64_t end)
{
    int rc = SW_OK, e = 0;
    pthread_mutex_lock(&log->sync_mu);
    if (atomic_load_explicit(&log->failed, memory_order_relaxed) != 0) {
        rc = SW_EIO; /* a background sync failed: these pages are in doubt */
    } else if (end > atomic_load_explicit(&log->synced, memory_order_relaxed)) {
        if (do_fdatasync(log->fd) < 0) {
            e = errno;
            fail_for_good(log, OP_FSYNC, e);
            rc = SW_EIO;
        } else {
            atomic_store_explicit(&log->synced, end, memory_order_relaxed);
        }
    }
    if (rc == SW_OK) /* Release: pairs with the acquire in sw__log_sync. */
        atomic_store_explicit(&log->written, end, memory_order_release);
    pthread_mutex_unlock(&log->sync_mu);
    if (rc == SW_OK)
        return SW_OK;
    if (e != 0) {
        note(log, OP_FSYNC, e, start);
        size_t used = strlen(log->errmsg);
        fmt(log->errmsg + used, sizeof log->errmsg - used,
            "; the log accepts no more writes until reopened");
    } else {
        refuse(log);
    }
    if (end > start)
        undo_batch(log, start);
    return SW_EIO;
}

/* Encodes the SYNCED mark for a durable prefix of `synced` bytes into out
 * (SW__REC_MARK_MAX bytes); returns its size. */
static size_t encode_mark(uint8_t *out, uint64_t synced)
{
    return sw__rec_encode(out, &(sw__rec){.type = SW__REC_SYNCED, .num = (int64_t)synced});
}

void sw__log_rewind(sw__log *log, size_t pending)
{
    if (log != NULL && pending < log->len)
        log->len = pending;
}

int sw__log_flush(sw__log *log, bool sync)
{
    if (log == NULL || log->path == NULL)
        return SW_EINVAL;
    if (atomic_load_explicit(&log->failed, memory_order_relaxed) != 0) {
        drop_batch(log);
        return refuse(log);
    }
    /* Only the owner stores `written`, so its own load needs no order. */
    uint64_t start = atomic_load_explicit(&log->written, memory_order_relaxed), end = start;
    if (log->len > 0) {
        /* Relaxed: synced is a number stored after its fdatasync returned;
         * a stale one only makes the mark claim less. */
        uint64_t synced = atomic_load_explicit(&log->synced, memory_order_relaxed);
        uint8_t mark[SW__REC_MARK_MAX];
        size_t mlen = synced > log->marked ? encode_mark(mark, synced) : 0;
        struct iovec iov[WRITEV_MAX] = {{mark, mlen}, {log->buf, log->len}};
        if (write_allv(log->fd, iov, WRITEV_MAX, start) < 0) {
            note(log, OP_WRITE, errno, start);
            drop_batch(log);
            undo_batch(log, start);
            return SW_EIO;
        }
        end = start + mlen + log->len;
        if (mlen > 0)
            log->marked = synced;
        drop_batch(log);
        if (!sync) {
            /* Release: pairs with the acquire in sw__log_sync. */
            atomic_store_explicit(&log->written, end, memory_order_release);
            return SW_OK;
        }
    } else if (!sync) {
        return SW_OK;
    }
    return flush_sync(log, start, end);
}

int sw__log_sync(sw__log *log)
{
    if (log == NULL || log->path == NULL)
        return SW_EINVAL;
    int rc = SW_OK;
    pthread_mutex_lock(&log->sync_mu);
    if (atomic_load_explicit(&log->failed, memory_order_relaxed) != 0) {
        rc = SW_EIO;
    } else {
        /* Acquire: pairs with the owner's release stores after its writes. */
        uint64_t w = atomic_load_explicit(&log->written, memory_order_acquire);
        if (w > atomic_load_explicit(&log->synced, memory_order_relaxed)) {
            if (do_fdatasync(log->fd) < 0) {
                fail_for_good(log, OP_FSYNC, errno);
                rc = SW_EIO;
            } else {
                atomic_store_explicit(&log->synced, w, memory_order_relaxed);
            }
        }
    }
    pthread_mutex_unlock(&log->sync_mu);
    return rc;
}

uint64_t sw__log_size(const sw__log *log)
{
    return log == NULL ? 0 : atomic_load_explicit(&log->written, memory_order_acquire);
}

uint64_t sw__log_synced(const sw__log *log)
{
    return log == NULL ? 0 : atomic_load_explicit(&log->synced, memory_order_relaxed);
}

size_t sw__log_pending(const sw__log *log)
{
    return log == NULL ? 0 : log->len;
}

bool sw__log_failed(const sw__log *log)
{
    return log != NULL && atomic_load_explicit(&log->failed, memory_order_relaxed) != 0;
}

int sw__log_errno(const sw__log *log)
{
    return log == NULL ? 0 : log->err;
}

const char *sw__log_errmsg(const sw__log *log)
{
    return log == NULL ? "" : log->errmsg;
}

/* ---- verify and repair --------------------------------------------------- */

int sw__log_verify(const char *path, sw__log_replay_fn fn, void *ctx, sw__log_info *info, char *err,
                   size_t errlen)
{
    char eb[128];
    fmt(err, errlen, "%s", "");
    if (path == NULL || info == NULL)
        return SW_EINVAL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fmt(err, errlen, "%s: open failed: %s", path, errstr(errno, eb, sizeof eb));
        return SW_EIO;
    }
    /* A shared lock that cannot be had means a live owner; let go at once,
     * so that this check never keeps the owner from opening. */
    bool in_use = flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
    if (!in_use)
        flock(fd, LOCK_UN);
    int rc = scan_fd(fd, fn, ctx, info);
    if (rc == SW_EIO)
        fmt(err, errlen, "%s: read failed: %s", path, errstr(errno, eb, sizeof eb));
    info->in_use = in_use;
    close(fd);
    return rc;
}

int sw__log_repair(const char *path, sw__log_info *info, char *err, size_t errlen)
{
    fmt(err, errlen, "%s", "");
    if (path == NULL || info == NULL)
        return SW_EINVAL;
    int fd;
    int rc = open_locked(path, false, &fd, err, errlen);
    if (rc != SW_OK)
        return rc;
    rc = recover(fd, path, NULL, NULL, info, false, err, errlen);
    close(fd);
    return rc;
}

/* ---- compaction: the atomic replace -------------------------------------- */

static void writer_note(sw__log_writer *w, int op, int e)
{
    char eb[128];
    w->err = e;
    fmt(w->errmsg, sizeof w->errmsg, "%s: %s failed: %s", op == OP_RENAME ? w->path : w->tmp,
        op_name(op), errstr(e, eb, sizeof eb));
}

/* Releases everything; removes tmp first when asked, while still holding
 * its lock, so that it never removes another writer's file. */
static void writer_finish(sw__log_writer *w, bool remove_tmp)
{
    if (remove_tmp && w->tmp != NULL && unlink(w->tmp) == 0)
        observe(SW__IO_UNLINK, -1, w->tmp, NULL, 0, NULL, 0);
    if (w->fd >= 0)
        close(w->fd);
    free(w->path);
    free(w->tmp);
    free(w->buf);
    w->fd = -1;
    w->path = w->tmp = NULL;
    w->buf = NULL;
    w->len = w->cap = 0;
}

int sw__log_writer_begin(sw__log_writer *w, const char *path, char *err, size_t errlen)
{
    char eb[128];
    fmt(err, errlen, "%s", "");
    if (w == NULL || path == NULL)
        return SW_EINVAL;
    memset(w, 0, sizeof *w);
    w->fd = -1;
    size_t n = strlen(path);
    w->path = strdup(path);
    w->tmp = malloc(n + 5);
    if (w->path == NULL || w->tmp == NULL) {
        writer_finish(w, false);
        return SW_ENOMEM;
    }
    memcpy(w->tmp, path, n);
    memcpy(w->tmp + n, ".tmp", 5);
    int rc = SW_EIO;
    w->fd = open(w->tmp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        fmt(err, errlen, "%s: open failed: %s", w->tmp, errstr(errno, eb, sizeof eb));
        goto fail;
    }
    observe(SW__IO_OPEN, w->fd, w->tmp, NULL, 0, NULL, 0);
    if (flock(w->fd, LOCK_EX | LOCK_NB) < 0) {
        if (errno == EWOULDBLOCK)
            rc = SW_EEXIST;
        fmt(err, errlen, "%s: %s", w->tmp,
            rc == SW_EEXIST ? "another compaction holds it" : errstr(errno, eb, sizeof eb));
        goto fail;
    }
    if (ftruncate(w->fd, 0) < 0) { /* a stale one from a crashed compaction */
        fmt(err, errlen, "%s: ftruncate failed: %s", w->tmp, errstr(errno, eb, sizeof eb));
        goto fail;
    }
    observe(SW__IO_TRUNCATE, w->fd, NULL, NULL, 0, NULL, 0);
    return SW_OK;
fail:
    writer_finish(w, false);
    return rc;
}

static int writer_write_out(sw__log_writer *w)
{
    if (w->len == 0)
        return SW_OK;
    if (write_all(w->fd, w->buf, w->len, w->size) < 0) {
        writer_note(w, OP_WRITE, errno);
        w->failed = true;
        return SW_EIO;
    }
    w->size += w->len;
    w->len = 0;
    return SW_OK;
}

int sw__log_writer_append(sw__log_writer *w, const sw__rec *r)
{
    if (w == NULL || w->tmp == NULL)
        return SW_EINVAL;
    size_t n = sw__rec_size(r);
    if (n == 0)
        return SW_EINVAL;
    if (w->failed)
        return SW_EIO;
    if (n > w->cap - w->len) {
        size_t cap = w->len + n < WRITER_FLUSH + 65536 ? WRITER_FLUSH + 65536 : w->len + n;
        uint8_t *nb = realloc(w->buf, cap);
        if (nb == NULL)
            return SW_ENOMEM;
        w->buf = nb;
        w->cap = cap;
    }
    w->len += sw__rec_encode(w->buf + w->len, r);
    return w->len >= WRITER_FLUSH ? writer_write_out(w) : SW_OK;
}

int sw__log_writer_flush(sw__log_writer *w, bool sync)
{
    if (w == NULL || w->tmp == NULL)
        return SW_EINVAL;
    if (w->failed || writer_write_out(w) != SW_OK)
        return SW_EIO;
    if (sync && do_fdatasync(w->fd) < 0) {
        writer_note(w, OP_FSYNC, errno);
        w->failed = true;
        return SW_EIO;
    }
    return SW_OK;
}

/* Makes the committed file log's file; the writer hands its descriptor (and
 * the lock on it) over. */
static void writer_adopt(sw__log_writer *w, sw__log *log)
{
    pthread_mutex_lock(&log->sync_mu);
    int old = log->fd;
    log->fd = w->fd;
    atomic_store_explicit(&log->synced, w->size, memory_order_relaxed);
    atomic_store_explicit(&log->written, w->size, memory_order_release);
    pthread_mutex_unlock(&log->sync_mu);
    log->alloc = w->size; /* nothing reserved in the new file yet */
    log->marked = 0;      /* the new file holds no mark: its next write says it is durable */
    close(old);
    w->fd = -1;
}

int sw__log_writer_commit(sw__log_writer *w, sw__log *log)
{
    if (w == NULL || w->tmp == NULL)
        return SW_EINVAL;
    if (log != NULL && (log->path == NULL || log->len > 0 || sw__log_failed(log) ||
                        strcmp(log->path, w->path) != 0))
        return SW_EINVAL;
    if (sw__log_writer_flush(w, true) != SW_OK) {
        writer_finish(w, true);
        return SW_EIO;
    }
    if (rename(w->tmp, w->path) < 0) {
        writer_note(w, OP_RENAME, errno);
        writer_finish(w, true);
        return SW_EIO;
    }
    observe(SW__IO_RENAME, -1, w->tmp, w->path, 0, NULL, 0);
    int rc = SW_OK;
    if (sync_dir(w->path) < 0) {
        writer_note(w, OP_DIRSYNC, errno);
        rc = SW_EIO;
    }
    if (log != NULL) {
        writer_adopt(w, log);
        if (rc != SW_OK) {
            fail_for_good(log, OP_DIRSYNC, w->err);
            refuse(log);
        }
    }
    writer_finish(w, false);
    return rc;
}

void sw__log_writer_abort(sw__log_writer *w)
{
    if (w == NULL || w->tmp == NULL)
        return;
    writer_finish(w, true);
}
