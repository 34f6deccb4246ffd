/* libFuzzer target: recovery of a whole data directory, through the public
 * sw_db_open and sw_ledger_open (db.h, account.h) and sw__log_verify
 * (src/log/logfile.h).
 *
 * The input is one flags byte, then pieces cut at each "|SW|":
 *
 *   byte 0     flags: 1 a Ledger directory (else a Db); 2 fix the CRC of
 *              every record whose length fits (so the fuzzer reaches the
 *              replay); 4 SW_FSYNC_ALWAYS (else SW_FSYNC_NO); 8 the first
 *              piece is the meta file's text (else a valid one is written);
 *              16 each log piece is a list of operations (see encode_ops)
 *              that the harness encodes as valid records, so that the
 *              fuzzer works on what the records mean, not on their bytes;
 *              32 each "|Z|" in a log piece becomes zeros up to the next
 *              4096-byte boundary of the log (a whole page when it is on
 *              one), as a power cut that lost pages leaves: the pieces
 *              between are encoded (16) and CRC-fixed (2) on their own
 *   pieces     the logs of shards 0, 1, ... (at most MAX_LOGS; one, maybe
 *              empty, at least); the shard count is their number
 *
 * Each run writes a fresh directory under $STEWARD_FUZZ_TMP (default
 * /dev/shm, else /tmp), the layout of datadir.h: KIND.meta and
 * KIND-shard-NNNN.log. What must hold:
 *  - sw__log_verify classifies each file as a walk with sw__rec_decode and
 *    sw__rec_torn does, widened to lost pages as logfile.c's DESIGN comment
 *    says (written again here from that text, over bytes in memory): clean,
 *    torn at the same offset, or corrupt there; its replay skips SYNCED
 *    marks and counts them;
 *  - the open never crashes, leaks or hangs, and returns SW_OK or SW_EIO
 *    (SW_EINVAL too when the meta file is fuzzed); a corrupt file means
 *    SW_EIO, and a refused open leaves every corrupt file as it was;
 *  - after a successful open, a write and a close, every log is clean and
 *    no shorter than its valid part, and a second open succeeds and finds
 *    the same state (the Db's count and the written key; the Ledger's
 *    total and number of accounts), so recovery is idempotent.
 * The directory is removed after each run.
 */
#define _GNU_SOURCE /* memmem */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log/crc32c.h"
#include "log/datadir.h"
#include "log/logfile.h"
#include "log/record.h"
#include "steward/account.h"
#include "steward/db.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MARKER "|SW|"
#define HOLE "|Z|"
#define PAGE 4096
#define MAX_LOGS 4

/* The key the Db run writes, and the account the Ledger run creates. */
#define PROBE_KEY "\xff-fuzz-probe"
#define PROBE_ID UINT64_C(0xf0f0f0f0f0f0f0f0)

static char g_base[PATH_MAX - 64]; /* this process's folder; runs use g_base/d */

/* Where a broken invariant is reported: the stderr the process started
 * with. tools/fuzz.sh runs this target with -close_fd_mask=2, which sends
 * the library's warnings (a torn tail cut, a transfer settled: a line or two
 * a run) to /dev/null, but only after LLVMFuzzerInitialize has kept a copy. */
static FILE *g_report;

static void remove_base(void);

static void check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(g_report ? g_report : stderr, "fuzz_recovery: invariant broken: %s\n", what);
        fflush(g_report);
        remove_base(); /* the crash report does not need the folder */
        abort();
    }
}

/* ---- files ----------------------------------------------------------------- */

static void write_file(const char *path, const uint8_t *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    check(fd >= 0, "cannot create a file in the run's directory");
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        check(w > 0, "cannot write a file in the run's directory");
        p += w;
        n -= (size_t)w;
    }
    close(fd);
}

/* The file's bytes (malloc'd, *n of them); NULL when it cannot be read. */
static uint8_t *read_file(const char *path, size_t *n)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    size_t len = (size_t)st.st_size, got = 0;
    uint8_t *p = malloc(len ? len : 1);
    check(p != NULL, "out of memory in the harness");
    while (got < len) {
        ssize_t r = read(fd, p + got, len - got);
        check(r > 0, "cannot read back a log");
        got += (size_t)r;
    }
    close(fd);
    *n = len;
    return p;
}

/* Empties and removes dir (flat: recovery makes no subfolders). */
static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *e;
    char path[PATH_MAX];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

static void remove_base(void)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/d", g_base);
    remove_dir(dir);
    rmdir(g_base);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    int fd = dup(2);
    g_report = fd >= 0 ? fdopen(fd, "w") : NULL;
    setenv("STEWARD_THREADS", "2", 0); /* a small owner pool: one per shard is plenty */
    const char *tmp = getenv("STEWARD_FUZZ_TMP");
    struct stat st;
    if (tmp == NULL || tmp[0] == '\0')
        tmp = stat("/dev/shm", &st) == 0 && access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(g_base, sizeof g_base, "%s/steward-fuzz-XXXXXX", tmp);
    check(mkdtemp(g_base) != NULL, "cannot create the fuzzing folder");
    atexit(remove_base);
    return 0;
}

/* ---- the oracle: a log classified with the codec alone ------------------- */

typedef struct scan {
    uint64_t good;    /* the end of the last valid record */
    uint64_t records; /* valid records */
    enum sw__log_tail tail;
    bool near_expiry; /* a PUT or EXPIRE whose deadline may pass during the run */
} scan;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The lost-pages rule, for bytes from x that the codec calls corrupt: a
 * whole zero page overlapping the record claimed at x (or zeros from x to
 * the end of its page), more of the file after it, and no SYNCED mark
 * (a, b empty) at a later offset claiming more than x. */
static bool lost_pages(const uint8_t *p, size_t n, size_t x)
{
    size_t extent = n;
    if (n - x >= SW__REC_HEADER && SW__REC_HEADER + (uint64_t)get_le32(p + x) < n - x)
        extent = x + SW__REC_HEADER + get_le32(p + x);
    bool zeros = false;
    for (size_t pg = x - x % PAGE; !zeros && pg < extent && pg + PAGE <= n; pg += PAGE) {
        zeros = true;
        for (size_t i = pg > x ? pg : x; zeros && i < pg + PAGE; i++)
            zeros = p[i] == 0;
    }
    for (size_t at = x + 1; zeros && at < n; at++) {
        sw__rec r;
        size_t used;
        zeros = !(sw__rec_decode(p + at, n - at, SW__REC_MAX_BODY, &r, &used) == SW_OK &&
                  r.type == SW__REC_SYNCED && r.alen == 0 && r.blen == 0 && r.num > (int64_t)x);
    }
    return zeros;
}

static scan scan_bytes(const uint8_t *p, size_t n)
{
    scan s = {.tail = SW__LOG_CLEAN};
    int64_t now = now_ms();
    while (s.good < n) {
        sw__rec r;
        size_t used;
        if (sw__rec_decode(p + s.good, n - s.good, SW__REC_MAX_BODY, &r, &used) != SW_OK) {
            bool torn = sw__rec_torn(p + s.good, n - s.good, SW__REC_MAX_BODY) ||
                        lost_pages(p, n, (size_t)s.good);
            s.tail = torn ? SW__LOG_TORN : SW__LOG_CORRUPT;
            break;
        }
        if ((r.type == SW__REC_PUT || r.type == SW__REC_EXPIRE) && r.num > now - 1000 &&
            r.num < now + 3600 * 1000)
            s.near_expiry = true;
        s.records++;
        s.good += used;
    }
    return s;
}

static int count_record(void *ctx, const sw__rec *r)
{
    (void)r;
    ++*(uint64_t *)ctx;
    return SW_OK;
}

/* sw__log_verify on path must agree with the oracle. */
static void check_verify(const char *path, const scan *want, uint64_t size)
{
    sw__log_info info;
    char err[512];
    uint64_t seen = 0;
    check(sw__log_verify(path, count_record, &seen, &info, err, sizeof err) == SW_OK,
          "sw__log_verify reads a readable log");
    uint64_t sum = 0;
    for (int t = 0; t <= SW__REC_TYPE_MAX; t++)
        sum += info.count[t];
    check(info.file_size == size && info.good_size <= size, "verify: sizes");
    check(info.records == seen + info.count[SW__REC_SYNCED] && sum == info.records,
          "verify: records counted once, the SYNCED marks counted but not replayed");
    check(info.tail == want->tail, "verify: clean, torn or corrupt, as the codec says");
    check(info.good_size == want->good && info.records == want->records,
          "verify: the valid prefix is the codec's");
    check((info.tail == SW__LOG_CLEAN) == (info.good_size == size), "verify: clean iff whole");
    check(info.why != NULL && !info.in_use, "verify: why is set, nothing holds the file");
}

/* ---- one run ------------------------------------------------------------- */

typedef struct run {
    bool ledger, fix, always, meta_fuzzed, ops, holes;
    const char *kind;
    char dir[PATH_MAX - 128];
    unsigned nlogs;
    uint8_t *log[MAX_LOGS]; /* what was written, CRCs fixed if asked */
    size_t len[MAX_LOGS];
    scan scan[MAX_LOGS];
} run;

static void fix_crcs(uint8_t *p, size_t n)
{
    size_t at = 0;
    while (n - at >= SW__REC_HEADER) {
        size_t body = get_le32(p + at);
        if (body == 0 || body > n - at - SW__REC_HEADER)
            return;
        uint32_t crc = sw__crc32c(0, p + at + SW__REC_HEADER, body);
        for (int i = 0; i < 4; i++)
            p[at + 4 + (size_t)i] = (uint8_t)(crc >> (8 * i));
        at += SW__REC_HEADER + body;
    }
}

/* Encodes a list of 12-byte operations as records: [type] [key] [txid]
 * [epoch] [num: 8 bytes, little-endian]. key picks one of 8 account ids
 * (ACCT_SET, the XFER halves) or 1-byte keys (PUT, DEL, EXPIRE); txid and
 * epoch fill the XFER halves' fields. A type the codec refuses is skipped;
 * a short last operation ends the list. Returns the bytes (malloc'd). */
static uint8_t *encode_ops(const uint8_t *p, size_t n, size_t *outlen)
{
    size_t cap = (n / 12 + 1) * 64, len = 0;
    uint8_t *out = malloc(cap);
    check(out != NULL, "out of memory in the harness");
    for (; n >= 12; p += 12, n -= 12) {
        uint8_t a[24] = {0}, b[4] = {p[3]}, key = p[1];
        uint64_t num = 0;
        for (int i = 0; i < 8; i++)
            num |= (uint64_t)p[4 + i] << (8 * i);
        sw__rec r = {.type = p[0], .num = (int64_t)num, .a = a};
        bool xfer = r.type == SW__REC_XFER_DEBIT || r.type == SW__REC_XFER_CREDIT;
        if (r.type == SW__REC_PUT || r.type == SW__REC_DEL || r.type == SW__REC_EXPIRE) {
            a[0] = key;
            r.alen = 1;
            r.b = b;
            r.blen = r.type == SW__REC_PUT;
        } else if (r.type == SW__REC_ACCT_SET || xfer || r.type == SW__REC_XFER_DONE) {
            a[0] = p[2];                    /* the txid, for the XFER records */
            a[xfer ? 16 : 0] = key % 8 + 1; /* the account id */
            r.alen = xfer ? 24 : r.type == SW__REC_XFER_DONE ? 16 : 8;
            r.b = b;
            r.blen = xfer ? 4 : 0;
        }
        size_t need = sw__rec_size(&r);
        if (need == 0)
            continue;
        check(len + need <= cap, "encode_ops: room");
        len += sw__rec_encode(out + len, &r);
    }
    *outlen = len;
    return out;
}

/* One segment of a log piece, encoded (flag 16) and CRC-fixed (flag 2) as
 * asked, appended to *out (of *len bytes, malloc'd). */
static void add_segment(const run *r, const uint8_t *p, size_t n, uint8_t **out, size_t *len)
{
    uint8_t *seg = NULL;
    size_t slen = n;
    if (r->ops) {
        seg = encode_ops(p, n, &slen);
    } else {
        seg = malloc(n ? n : 1);
        check(seg != NULL, "out of memory in the harness");
        if (n)
            memcpy(seg, p, n);
    }
    if (r->fix)
        fix_crcs(seg, slen);
    *out = realloc(*out, *len + slen + 1);
    check(*out != NULL, "out of memory in the harness");
    if (slen)
        memcpy(*out + *len, seg, slen);
    *len += slen;
    free(seg);
}

/* A log piece as the file to write: with flag 32, its segments between
 * HOLE markers with zeros up to the next page boundary in between. */
static uint8_t *make_log(const run *r, const uint8_t *p, size_t n, size_t *outlen)
{
    uint8_t *out = NULL;
    size_t len = 0;
    for (;;) {
        const uint8_t *h = r->holes ? memmem(p, n, HOLE, sizeof HOLE - 1) : NULL;
        size_t seg = h ? (size_t)(h - p) : n;
        add_segment(r, p, seg, &out, &len);
        if (h == NULL)
            break;
        size_t pad = PAGE - len % PAGE;
        out = realloc(out, len + pad + 1);
        check(out != NULL, "out of memory in the harness");
        memset(out + len, 0, pad);
        len += pad;
        n -= seg + sizeof HOLE - 1;
        p = h + sizeof HOLE - 1;
    }
    *outlen = len;
    return out;
}

static void log_path(const run *r, unsigned i, char *out, size_t cap)
{
    check(sw__datadir_log_path(out, cap, r->dir, r->kind, i) == SW_OK, "log path");
}

/* Cuts the input into the meta text and the logs, and writes them. */
static void lay_out(run *r, const uint8_t *p, size_t n)
{
    const uint8_t *piece[MAX_LOGS + 1];
    size_t plen[MAX_LOGS + 1], np = 0;
    size_t max = MAX_LOGS + (r->meta_fuzzed ? 1 : 0);
    for (;;) {
        const uint8_t *m = memmem(p, n, MARKER, sizeof MARKER - 1);
        piece[np] = p;
        plen[np] = m && np + 1 < max ? (size_t)(m - p) : n;
        np++;
        if (plen[np - 1] == n)
            break;
        n -= plen[np - 1] + sizeof MARKER - 1;
        p = m + sizeof MARKER - 1;
    }
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s.meta", r->dir, r->kind);
    size_t first = 0;
    if (r->meta_fuzzed) {
        write_file(path, piece[0], plen[0]);
        first = 1;
    }
    r->nlogs = np > first ? (unsigned)(np - first) : 1;
    if (!r->meta_fuzzed) {
        char meta[64];
        int m = snprintf(meta, sizeof meta, "steward %s 1 shards %u\n", r->kind, r->nlogs);
        write_file(path, (const uint8_t *)meta, (size_t)m);
    }
    for (unsigned i = 0; i < r->nlogs; i++) {
        size_t len = first + i < np ? plen[first + i] : 0;
        r->log[i] = make_log(r, piece[first + i], len, &len);
        r->len[i] = len;
        r->scan[i] = scan_bytes(r->log[i], len);
        log_path(r, i, path, sizeof path);
        write_file(path, r->log[i], len);
    }
}

/* What an open found, to compare with a second open. */
typedef struct state {
    int rc;
    size_t count;
    int64_t total;
    uint64_t accounts;
} state;

static int open_db(run *r, sw_db **db)
{
    enum sw_fsync fsync = r->always ? SW_FSYNC_ALWAYS : SW_FSYNC_NO;
    sw_db_options o = {.shards = r->nlogs, .dir = r->dir, .fsync = fsync};
    return sw_db_open(db, &o);
}

static int open_ledger(run *r, sw_ledger **l)
{
    enum sw_fsync fsync = r->always ? SW_FSYNC_ALWAYS : SW_FSYNC_NO;
    sw_ledger_options o = {.shards = r->nlogs, .dir = r->dir, .fsync = fsync};
    return sw_ledger_open(l, &o);
}

/* Opens, writes the probe, records the state, closes. */
static int first_open(run *r, state *st)
{
    int rc;
    memset(st, 0, sizeof *st);
    if (!r->ledger) {
        sw_db *db;
        rc = open_db(r, &db);
        if (rc != SW_OK)
            return rc;
        check(sw_db_store(db, PROBE_KEY, sizeof PROBE_KEY - 1, "v", 1) == SW_OK,
              "a recovered Db takes a write");
        st->count = sw_db_count(db);
        check(sw_db_close(db) == SW_OK, "sw_db_close");
        return SW_OK;
    }
    sw_ledger *l;
    rc = open_ledger(r, &l);
    if (rc != SW_OK)
        return rc;
    int c = sw_ledger_create(l, PROBE_ID, 5);
    check(c == SW_OK || c == SW_EEXIST, "a recovered Ledger takes a create");
    st->rc = sw_ledger_total(l, &st->total, &st->accounts);
    check(st->rc == SW_OK || st->rc == SW_EOVERFLOW, "sw_ledger_total");
    check(sw_ledger_close(l) == SW_OK, "sw_ledger_close");
    return SW_OK;
}

/* The second open must succeed and find what the first left. */
static void second_open(run *r, const state *want, bool exact)
{
    state st = {0};
    if (!r->ledger) {
        sw_db *db;
        check(open_db(r, &db) == SW_OK, "a Db that opened once opens again");
        char v[2];
        size_t vlen = 0;
        check(sw_db_fetch(db, PROBE_KEY, sizeof PROBE_KEY - 1, v, sizeof v, &vlen) == SW_OK &&
                  vlen == 1 && v[0] == 'v',
              "the write before the close is there after the reopen");
        st.count = sw_db_count(db);
        if (exact && st.count != want->count)
            fprintf(g_report ? g_report : stderr,
                    "fuzz_recovery: first open: %zu keys; second: %zu\n", want->count, st.count);
        check(!exact || st.count == want->count, "the Db reopens with the same keys");
        check(sw_db_close(db) == SW_OK, "sw_db_close");
        return;
    }
    sw_ledger *l;
    check(open_ledger(r, &l) == SW_OK, "a Ledger that opened once opens again");
    st.rc = sw_ledger_total(l, &st.total, &st.accounts);
    if (st.rc != want->rc || st.accounts != want->accounts || st.total != want->total)
        fprintf(g_report ? g_report : stderr,
                "fuzz_recovery: first open: total %lld (%s), %llu accounts; "
                "second: total %lld (%s), %llu accounts\n",
                (long long)want->total, sw_errname(want->rc), (unsigned long long)want->accounts,
                (long long)st.total, sw_errname(st.rc), (unsigned long long)st.accounts);
    check(st.rc == want->rc && st.accounts == want->accounts,
          "the Ledger reopens with the same accounts");
    check(st.rc != SW_OK || st.total == want->total,
          "the Ledger reopens with the same total: recovery settles once");
    check(sw_ledger_close(l) == SW_OK, "sw_ledger_close");
}

static void after_success(run *r, const state *st)
{
    bool exact = true;
    for (unsigned i = 0; i < r->nlogs; i++) {
        check(r->scan[i].tail != SW__LOG_CORRUPT, "an open with a corrupt log succeeded");
        exact = exact && !r->scan[i].near_expiry;
        char path[PATH_MAX];
        log_path(r, i, path, sizeof path);
        size_t n;
        uint8_t *p = read_file(path, &n);
        check(p != NULL, "a log is there after the close");
        scan now = scan_bytes(p, n);
        check(now.tail == SW__LOG_CLEAN, "every log is clean after an open and a close");
        check(n >= r->scan[i].good && memcmp(p, r->log[i], r->scan[i].good) == 0,
              "recovery keeps the valid prefix of every log");
        check_verify(path, &now, n);
        free(p);
    }
    second_open(r, st, exact);
}

static void after_failure(run *r, int rc)
{
    check(rc == SW_EIO || (r->meta_fuzzed && rc == SW_EINVAL),
          "a refused open says SW_EIO (or SW_EINVAL for a foreign meta file)");
    for (unsigned i = 0; i < r->nlogs; i++) {
        if (r->scan[i].tail != SW__LOG_CORRUPT)
            continue;
        char path[PATH_MAX];
        log_path(r, i, path, sizeof path);
        size_t n;
        uint8_t *p = read_file(path, &n);
        /* A shard after the one that failed may never have been opened. */
        check(p == NULL || (n == r->len[i] && memcmp(p, r->log[i], n) == 0),
              "a refused open leaves a corrupt log as it was");
        free(p);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return -1;
    run r = {.ledger = data[0] & 1,
             .fix = data[0] & 2,
             .always = data[0] & 4,
             .meta_fuzzed = data[0] & 8,
             .ops = data[0] & 16,
             .holes = data[0] & 32};
    r.kind = r.ledger ? "ledger" : "db";
    snprintf(r.dir, sizeof r.dir, "%s/d", g_base);
    remove_dir(r.dir);
    check(mkdir(r.dir, 0755) == 0, "cannot create the run's directory");
    lay_out(&r, data + 1, size - 1);

    bool corrupt = false;
    for (unsigned i = 0; i < r.nlogs; i++) {
        char path[PATH_MAX];
        log_path(&r, i, path, sizeof path);
        check_verify(path, &r.scan[i], r.len[i]);
        corrupt = corrupt || r.scan[i].tail == SW__LOG_CORRUPT;
    }
    state st;
    int rc = first_open(&r, &st);
    check(!corrupt || rc != SW_OK, "a corrupt log refuses the open");
    if (rc == SW_OK)
        after_success(&r, &st);
    else
        after_failure(&r, rc);

    for (unsigned i = 0; i < r.nlogs; i++)
        free(r.log[i]);
    remove_dir(r.dir);
    return 0;
}
