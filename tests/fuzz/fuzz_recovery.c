/* libFuzzer target: recovery of a whole data directory, through the public
 * sw_db_open and sw_ledger_open (db.h, account.h), stewardd's
 * sw__shards_open (src/db/shard.h) and sw__log_verify (src/log/logfile.h).
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
 *              between are encoded (16) and CRC-fixed (2) on their own;
 *              64 stewardd's directory, kind "kv" (1 is then ignored),
 *              opened as stewardd opens it: sw__datadir_open, then
 *              sw__shards_open, with its transactions across shards
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
 *
 * The kv kind checks more, since recovery there decides what transactions
 * happened. Its runs set the clock (sw__wall_ms_set) to KV_NOW, so a
 * deadline has passed or not whatever the machine's time, and the state
 * compared is each shard's whole set of live keys (sw__shard_scan: key,
 * value, deadline). An oracle (the model below) replays the records from
 * shard.h's rules, written again here: writes apply in log order; a PART
 * of one part (txid 0) applies where it stands; a PART of several waits
 * for a DECIDED of its txid later in its own shard's log and applies
 * there, or else, once every log is read, applies at the end of its log if
 * its transaction is decided (a DECIDED of its txid in any log, or a PART
 * of every part index); keys whose deadline has passed are dropped last,
 * so that the state is what a replay of the logs with the DECIDED records
 * recovery adds gives. A record that breaks the format (a PART whose
 * header is not 8 bytes, whose part is not below its count, whose txid is
 * not 0 exactly when it has one part; writes in it that are not whole
 * PUT, DEL or EXPIRE records with num >= 0; a DECIDED with a or b, or txid
 * 0; a record of the Ledger; a negative deadline) must refuse the open.
 * What must hold:
 *  - the open returns what the model says (SW_EIO for a corrupt log or a
 *    refused record, else SW_OK) and a refused open changes no log but
 *    for cutting a torn tail;
 *  - after it, every shard holds the model's keys; *next_txid is one past
 *    the largest txid in the logs' valid parts;
 *  - a write on every shard (sw__shard_put, sw__shard_commit: key 0x01,
 *    which the operations write too), a close and a second open find the
 *    same keys on every shard, and the same next_txid: the DECIDED records
 *    the first recovery logged make the second decide the same way, and
 *    apply each part before the write, not after.
 * Nothing is said of the keys where the rules say nothing: for a txid
 * with two PARTs in one shard's log (stewardd writes one a shard: a
 * compaction carries a live part into a new file, never twice into one),
 * or whose PARTs disagree on the number of parts (stewardd gives them all
 * the same). Recovery gives those no single meaning (it decides a part by
 * its own count, so the DECIDED it logs for one can decide another on the
 * next open; a DECIDED applies the latest waiting copy of a part, and the
 * end of the log the earliest), so neither the model's keys nor the second
 * open's are compared there. The other checks still run.
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

#include "base/base.h"
#include "db/shard.h"
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
/* The key the kv run writes on every shard: one the operations write too. */
#define KV_PROBE "\x01"

static char g_base[PATH_MAX - 64]; /* this process's folder; runs use g_base/d */

/* Where a broken invariant is reported: the stderr the process started
 * with. tools/fuzz.sh runs this target with -close_fd_mask=2, which sends
 * the library's warnings (a torn tail cut, a transfer settled: a line or two
 * a run) to /dev/null, but only after LLVMFuzzerInitialize has kept a copy. */
static FILE *g_report;

static void remove_base(void);

static FILE *report(void)
{
    return g_report ? g_report : stderr;
}

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

/* Whether a deadline may pass during the run (the Db's runs keep the real
 * clock). */
static bool near(int64_t deadline, int64_t now)
{
    return deadline > now - 1000 && deadline < now + 3600 * 1000;
}

/* Whether a write, or one inside a PART, sets such a deadline. */
static bool sets_near_deadline(const sw__rec *r, int64_t now)
{
    if (r->type == SW__REC_PUT || r->type == SW__REC_EXPIRE)
        return near(r->num, now);
    if (r->type != SW__REC_TX_PART)
        return false;
    const uint8_t *b = r->b;
    for (size_t at = 0, used; at < r->blen; at += used) {
        sw__rec w;
        if (sw__rec_decode(b + at, r->blen - at, SW__REC_MAX_BODY, &w, &used) != SW_OK)
            return false;
        if ((w.type == SW__REC_PUT || w.type == SW__REC_EXPIRE) && near(w.num, now))
            return true;
    }
    return false;
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
        s.near_expiry = s.near_expiry || sets_near_deadline(&r, now);
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
    bool ledger, fix, always, meta_fuzzed, ops, holes, kv;
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

/* The record of one 12-byte operation that is not a PART (see encode_ops);
 * its a and b point into a (24 bytes) and b (4 bytes). */
static sw__rec op_rec(const uint8_t *p, uint8_t *a, uint8_t *b)
{
    uint8_t key = p[1];
    uint64_t num = 0;
    for (int i = 0; i < 8; i++)
        num |= (uint64_t)p[4 + i] << (8 * i);
    memset(a, 0, 24);
    memset(b, 0, 4);
    b[0] = p[3];
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
    } else if (r.type == SW__REC_TX_DECIDED && (p[3] & 0x80)) {
        r.alen = 1; /* a DECIDED with a key: malformed */
    }
    return r;
}

/* Room for an encoded operation's record: the largest, an XFER half, takes
 * 8 + 1 + 10 + 1 + 24 + 1 + 4 bytes; a PART of k writes no more than its
 * k + 1 operations' worth. */
#define OP_ROOM 64
#define PART_WRITES 7

/* Encodes the PART operation at p (n >= 12 bytes left) at out (room for
 * OP_ROOM bytes an operation it uses) and returns the input bytes it used;
 * *outlen: the record's size. See encode_ops. */
static size_t encode_part(const uint8_t *p, size_t n, uint8_t *out, size_t *outlen)
{
    uint8_t head[9] = {p[1], 0, 0, 0, p[2], 0, 0, 0, 0}, shape = p[3];
    uint8_t writes[PART_WRITES * OP_ROOM] = {0};
    size_t used = 12, blen = 0;
    for (unsigned i = 0; i < (shape & PART_WRITES) && n - used >= 12; i++, used += 12) {
        uint8_t a[24], b[4];
        sw__rec w = op_rec(p + used, a, b);
        blen += sw__rec_encode(writes + blen, &w); /* 0 for a type the codec refuses */
    }
    if (shape & 0x80)
        blen = blen ? blen - 1 : 1; /* not whole records */
    uint64_t txid = 0;
    for (int i = 0; i < 8; i++)
        txid |= (uint64_t)p[4 + i] << (8 * i);
    sw__rec r = {.type = SW__REC_TX_PART,
                 .num = (int64_t)txid,
                 .a = head,
                 .alen = shape & 0x40 ? 9 : 8,
                 .b = writes,
                 .blen = blen};
    *outlen = sw__rec_encode(out, &r);
    return used;
}

/* Encodes a list of 12-byte operations as records: [type] [key] [txid]
 * [epoch] [num: 8 bytes, little-endian]. key picks one of 8 account ids
 * (ACCT_SET, the XFER halves) or 1-byte keys (PUT, DEL, EXPIRE, whose
 * value is the epoch byte); txid and epoch fill the XFER halves' fields.
 * A TX_DECIDED has num as its txid, and a 1-byte a (malformed) when the
 * epoch byte has bit 0x80. A TX_PART is [11] [nparts] [part] [shape]
 * [txid: 8 bytes], followed by shape & 7 operations (fewer if the list
 * ends) that are its writes, encoded as above whatever their type (so a
 * PART may hold what no PART may); shape 0x40 gives its a a ninth byte
 * and 0x80 drops the writes' last byte (or makes them one zero byte):
 * both malformed. A type the codec refuses is skipped; a short last
 * operation ends the list. Returns the bytes (malloc'd). */
static uint8_t *encode_ops(const uint8_t *p, size_t n, size_t *outlen)
{
    size_t cap = (n / 12 + 1) * OP_ROOM, len = 0;
    uint8_t *out = malloc(cap);
    check(out != NULL, "out of memory in the harness");
    while (n >= 12) {
        size_t used = 12, rlen = 0;
        if (p[0] == SW__REC_TX_PART) {
            used = encode_part(p, n, out + len, &rlen);
        } else {
            uint8_t a[24], b[4];
            sw__rec r = op_rec(p, a, b);
            check(len + sw__rec_size(&r) <= cap, "encode_ops: room");
            rlen = sw__rec_encode(out + len, &r); /* 0: skipped */
        }
        check(len + rlen <= cap, "encode_ops: room");
        len += rlen;
        p += used;
        n -= used;
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
        /* With the meta file fuzzed, the input may hold no log piece. */
        bool given = first + i < np;
        size_t len = given ? plen[first + i] : 0;
        r->log[i] = make_log(r, given ? piece[first + i] : (const uint8_t *)"", len, &len);
        r->len[i] = len;
        r->scan[i] = scan_bytes(r->log[i], len);
        log_path(r, i, path, sizeof path);
        write_file(path, r->log[i], len);
    }
}

/* ---- the kv kind: sets of keys -------------------------------------------- */

/* The kv runs' clock (sw__wall_ms_set): a deadline at or below it has
 * passed. Small, so that an operation's num with only its low bytes set is
 * a deadline past and one with a higher byte set a deadline to come. */
#define KV_NOW ((int64_t)1 << 24)

/* A bug this target found, since fixed: sw__shards_open dropped the keys
 * whose deadline had passed as it finished each log, before it applied
 * the parts left at the logs' ends. So an EXPIRE in such a part (a
 * PERSIST, say) missed a key that had expired meanwhile; the next open
 * replayed the part at the DECIDED the first had logged, before that
 * shard's keys were dropped, found the key and revived it. Recovery now
 * drops them once it has settled; regress/fuzz_recovery/kv_ops_expire_at_end
 * shows the bug. Set this to 1 to skip the two comparisons of keys in that
 * case (model_settle) against a recovery that has it back. */
#define KV_TOLERATE_EXPIRE_AT_END 0

/* A shard's keys as the harness keeps them: copies, owned by the set. */
typedef struct kv_item {
    uint8_t *key, *val;
    size_t klen, vlen;
    int64_t expire; /* 0: none */
} kv_item;

typedef struct kv_set {
    kv_item *e;
    size_t n, cap;
} kv_set;

static uint8_t *dup_bytes(const void *p, size_t n)
{
    uint8_t *q = malloc(n ? n : 1);
    check(q != NULL, "out of memory in the harness");
    if (n)
        memcpy(q, p, n);
    return q;
}

/* The index of key in s, or s->n when it is not there. */
static size_t kv_find(const kv_set *s, const void *key, size_t klen)
{
    size_t i = 0;
    while (i < s->n &&
           !(s->e[i].klen == klen && (klen == 0 || memcmp(s->e[i].key, key, klen) == 0)))
        i++;
    return i;
}

static void kv_put(kv_set *s, const void *key, size_t klen, const void *val, size_t vlen,
                   int64_t expire)
{
    size_t i = kv_find(s, key, klen);
    if (i == s->n) {
        if (s->n == s->cap) {
            s->cap = s->cap ? 2 * s->cap : 16;
            s->e = realloc(s->e, s->cap * sizeof *s->e);
            check(s->e != NULL, "out of memory in the harness");
        }
        s->e[s->n++] = (kv_item){.key = dup_bytes(key, klen), .klen = klen};
    } else {
        free(s->e[i].val);
    }
    s->e[i].val = dup_bytes(val, vlen);
    s->e[i].vlen = vlen;
    s->e[i].expire = expire;
}

static void kv_remove(kv_set *s, size_t i)
{
    free(s->e[i].key);
    free(s->e[i].val);
    s->e[i] = s->e[--s->n];
}

static void kv_free(kv_set *s)
{
    while (s->n > 0)
        kv_remove(s, s->n - 1);
    free(s->e);
    *s = (kv_set){0};
}

/* Whether a key reads as present at KV_NOW. */
static bool kv_live(int64_t expire)
{
    return expire == 0 || expire > KV_NOW;
}

static int kv_cmp(const void *a, const void *b)
{
    const kv_item *x = a, *y = b;
    size_t n = x->klen < y->klen ? x->klen : y->klen;
    int c = n ? memcmp(x->key, y->key, n) : 0;
    return c ? c : (x->klen > y->klen) - (x->klen < y->klen);
}

/* Drops the keys whose deadline has passed, and sorts the rest by key. */
static void kv_settle(kv_set *s)
{
    for (size_t i = s->n; i-- > 0;)
        if (!kv_live(s->e[i].expire))
            kv_remove(s, i);
    if (s->n)
        qsort(s->e, s->n, sizeof *s->e, kv_cmp);
}

static bool kv_same(const kv_item *x, const kv_item *y)
{
    return kv_cmp(x, y) == 0 && x->vlen == y->vlen && x->expire == y->expire &&
           (x->vlen == 0 || memcmp(x->val, y->val, x->vlen) == 0);
}

static void print_hex(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n && i < 32; i++)
        fprintf(report(), "%02x", p[i]);
    fprintf(report(), n > 32 ? "... (%zu bytes)" : " (%zu bytes)", n);
}

/* The first difference between two sets, for the report. */
static void kv_print_diff(const kv_set *a, const char *aname, const kv_set *b, const char *bname,
                          unsigned shard, size_t i)
{
    const kv_set *set[2] = {a, b};
    const char *name[2] = {aname, bname};
    for (int k = 0; k < 2; k++) {
        fprintf(report(), "fuzz_recovery: shard %u, %s: %zu live keys; key #%zu: ", shard, name[k],
                set[k]->n, i);
        if (i >= set[k]->n) {
            fprintf(report(), "none\n");
            continue;
        }
        const kv_item *e = &set[k]->e[i];
        print_hex(e->key, e->klen);
        fprintf(report(), " value ");
        print_hex(e->val, e->vlen);
        fprintf(report(), " deadline %lld\n", (long long)e->expire);
    }
}

/* Sets a and b (kv_settle'd) must be equal: what says why. */
static void kv_compare(const kv_set *a, const char *aname, const kv_set *b, const char *bname,
                       unsigned shard, const char *what)
{
    size_t i = 0;
    while (i < a->n && i < b->n && kv_same(&a->e[i], &b->e[i]))
        i++;
    bool same = i == a->n && i == b->n;
    if (!same)
        kv_print_diff(a, aname, b, bname, shard, i);
    check(same, what);
}

/* ---- the kv kind: the model --------------------------------------------- */

/* A PART of several parts, as the model met it. */
typedef struct mpart {
    uint64_t txid;
    uint32_t nparts, part;
    unsigned shard;
    const uint8_t *b; /* its writes, in the run's copy of the log */
    size_t blen;
    bool waiting; /* not applied (yet) */
} mpart;

/* What recovery must make of the run's logs (the top of the file). */
typedef struct model {
    kv_set kv[MAX_LOGS];
    mpart *part; /* in the order met: shard by shard, each in log order */
    size_t nparts;
    uint64_t *decided; /* the txids of the DECIDED records */
    size_t ndecided;
    uint64_t max_txid;
    bool refused;       /* a record recovery must refuse: the open says SW_EIO */
    bool undefined;     /* the rules do not say what these records mean */
    bool expire_at_end; /* KV_TOLERATE_EXPIRE_AT_END's case */
} model;

/* Whether a PART's writes are whole PUT, DEL and EXPIRE records, none with
 * a negative num. */
static bool model_writes_ok(const uint8_t *b, size_t blen)
{
    for (size_t at = 0, used; at < blen; at += used) {
        sw__rec w;
        if (sw__rec_decode(b + at, blen - at, SW__REC_MAX_BODY, &w, &used) != SW_OK || w.num < 0 ||
            (w.type != SW__REC_PUT && w.type != SW__REC_DEL && w.type != SW__REC_EXPIRE))
            return false;
    }
    return true;
}

static void model_write(kv_set *kv, const sw__rec *w)
{
    size_t i = kv_find(kv, w->a, w->alen);
    if (w->type == SW__REC_PUT)
        kv_put(kv, w->a, w->alen, w->b, w->blen, w->num);
    else if (i < kv->n && w->type == SW__REC_DEL)
        kv_remove(kv, i);
    else if (i < kv->n) /* EXPIRE: even a key whose deadline has passed is still there */
        kv->e[i].expire = w->num;
}

/* Applies a PART's writes (model_writes_ok). Returns whether one is an
 * EXPIRE of a key still there whose deadline has passed:
 * KV_TOLERATE_EXPIRE_AT_END's case, for a part applied at the end of its
 * log. */
static bool model_apply(kv_set *kv, const uint8_t *b, size_t blen)
{
    bool expired = false;
    for (size_t at = 0, used; at < blen; at += used) {
        sw__rec w;
        check(sw__rec_decode(b + at, blen - at, SW__REC_MAX_BODY, &w, &used) == SW_OK,
              "model: a PART's writes decode");
        size_t i = kv_find(kv, w.a, w.alen);
        expired = expired || (w.type == SW__REC_EXPIRE && i < kv->n && !kv_live(kv->e[i].expire));
        model_write(kv, &w);
    }
    return expired;
}

static void model_part(model *m, unsigned shard, const sw__rec *r)
{
    if (r->alen != 8) {
        m->refused = true;
        return;
    }
    uint32_t nparts = get_le32(r->a), part = get_le32((const uint8_t *)r->a + 4);
    bool unit = nparts == 1;
    if (!model_writes_ok(r->b, r->blen) || part >= nparts || r->num < 0 || (r->num == 0 && !unit)) {
        m->refused = true;
        return;
    }
    uint64_t txid = (uint64_t)r->num;
    m->max_txid = txid > m->max_txid ? txid : m->max_txid;
    if (unit) { /* a transaction of one part: it applies where it stands */
        model_apply(&m->kv[shard], r->b, r->blen);
        return;
    }
    for (size_t i = 0; i < m->nparts; i++)
        if (m->part[i].txid == txid && (m->part[i].shard == shard || m->part[i].nparts != nparts))
            m->undefined = true;
    m->part[m->nparts++] = (mpart){txid, nparts, part, shard, r->b, r->blen, true};
}

static void model_decided(model *m, unsigned shard, const sw__rec *r)
{
    if (r->alen || r->blen || r->num <= 0) {
        m->refused = true;
        return;
    }
    uint64_t txid = (uint64_t)r->num;
    m->max_txid = txid > m->max_txid ? txid : m->max_txid;
    m->decided[m->ndecided++] = txid;
    for (size_t i = 0; i < m->nparts; i++) { /* its shard's part applies here */
        mpart *p = &m->part[i];
        if (p->waiting && p->shard == shard && p->txid == txid) {
            model_apply(&m->kv[shard], p->b, p->blen);
            p->waiting = false;
        }
    }
}

static void model_record(model *m, unsigned shard, const sw__rec *r)
{
    switch (r->type) {
    case SW__REC_SYNCED:
    case SW__REC_SNAPSHOT_BEGIN:
    case SW__REC_SNAPSHOT_END:
        return;
    case SW__REC_PUT:
    case SW__REC_DEL:
    case SW__REC_EXPIRE:
        if (r->num < 0 && r->type != SW__REC_DEL)
            m->refused = true; /* a negative deadline */
        else
            model_write(&m->kv[shard], r);
        return;
    case SW__REC_TX_PART:
        model_part(m, shard, r);
        return;
    case SW__REC_TX_DECIDED:
        model_decided(m, shard, r);
        return;
    default:
        m->refused = true; /* the Ledger's */
    }
}

/* Whether transaction txid is decided: a DECIDED of it anywhere, or a
 * PART of each of its parts (they agree on the count, or the model says
 * nothing anyway). */
static bool model_is_decided(const model *m, uint64_t txid)
{
    for (size_t i = 0; i < m->ndecided; i++)
        if (m->decided[i] == txid)
            return true;
    uint32_t want = 0, have = 0;
    for (size_t i = 0; i < m->nparts; i++) {
        if (m->part[i].txid != txid)
            continue;
        bool again = false;
        for (size_t j = 0; j < i && !again; j++)
            again = m->part[j].txid == txid && m->part[j].part == m->part[i].part;
        want = m->part[i].nparts;
        have += !again;
    }
    return have == want;
}

/* Every log read: the parts still waiting apply at the end of their logs
 * if decided; then the keys whose deadline has passed go. */
static void model_settle(model *m, unsigned nlogs)
{
    for (size_t i = 0; i < m->nparts; i++) {
        mpart *p = &m->part[i];
        if (p->waiting && model_is_decided(m, p->txid)) {
            m->expire_at_end = model_apply(&m->kv[p->shard], p->b, p->blen) || m->expire_at_end;
            p->waiting = false;
        }
    }
    for (unsigned i = 0; i < nlogs; i++)
        kv_settle(&m->kv[i]);
}

/* Runs the model over the valid part of every log. */
static void model_build(const run *r, model *m)
{
    size_t most = 1;
    memset(m, 0, sizeof *m);
    for (unsigned i = 0; i < r->nlogs; i++)
        most += r->len[i] / SW__REC_MARK_MIN; /* the smallest record */
    m->part = malloc(most * sizeof *m->part);
    m->decided = malloc(most * sizeof *m->decided);
    check(m->part && m->decided, "out of memory in the harness");
    for (unsigned i = 0; i < r->nlogs && !m->refused; i++) {
        for (size_t at = 0, used; at < r->scan[i].good && !m->refused; at += used) {
            sw__rec rec;
            check(sw__rec_decode(r->log[i] + at, r->scan[i].good - at, SW__REC_MAX_BODY, &rec,
                                 &used) == SW_OK,
                  "model: the valid part of a log decodes");
            model_record(m, i, &rec);
        }
    }
    if (!m->refused)
        model_settle(m, r->nlogs);
}

static void model_free(model *m)
{
    for (unsigned i = 0; i < MAX_LOGS; i++)
        kv_free(&m->kv[i]);
    free(m->part);
    free(m->decided);
}

/* ---- the kv kind: opens --------------------------------------------------- */

/* Opens the run's directory as stewardd does (server.c): the meta file,
 * then every shard at once. *meta_refused: the meta file was. */
static int kv_open(const run *r, sw__shard **sh, uint64_t *next_txid, bool *meta_refused)
{
    char err[512];
    unsigned n = r->nlogs;
    int rc = sw__datadir_open(r->dir, "kv", &n, n, err, sizeof err);
    *meta_refused = rc != SW_OK;
    if (rc != SW_OK)
        return rc;
    enum sw_fsync fsync = r->always ? SW_FSYNC_ALWAYS : SW_FSYNC_NO;
    return sw__shards_open(sh, r->nlogs, r->dir, "kv", fsync, next_txid, err, sizeof err);
}

/* Every shard's live keys, sorted. */
static void kv_snapshot(sw__shard **sh, unsigned n, kv_set *out)
{
    for (unsigned i = 0; i < n; i++) {
        sw__shard_item *items = NULL;
        size_t cap = 0, got = 0;
        uint64_t cursor = 0;
        do {
            check(sw__shard_scan(sh[i], &cursor, &items, &cap, &got) == SW_OK, "sw__shard_scan");
            for (size_t k = 0; k < got; k++) {
                const sw__shard_item *it = &items[k];
                check(kv_find(&out[i], it->key, it->klen) == out[i].n,
                      "a scan of a shard left alone reports each key once");
                kv_put(&out[i], it->key, it->klen, it->val, it->vlen, it->expire_ms);
            }
        } while (cursor != 0);
        free(items);
        kv_settle(&out[i]);
    }
}

static void kv_close(sw__shard **sh, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        check(sw__shard_close(sh[i]) == SW_OK, "sw__shard_close");
}

/* What an open found, to compare with a second open. */
typedef struct state {
    int rc;
    size_t count;
    int64_t total;
    uint64_t accounts;
    kv_set kv[MAX_LOGS]; /* the kv kind's live keys, the probe included */
    uint64_t next_txid;
    bool kv_inexact; /* the second open's keys need not be the first's (kv_first_open) */
} state;

/* Writes KV_PROBE on every shard, after what recovery applied: a part
 * that recovery applied at the end of a log without logging its DECIDED
 * would apply again after it on the next open. */
static void kv_probe(sw__shard **sh, unsigned n, kv_set *kv)
{
    for (unsigned i = 0; i < n; i++) {
        check(sw__shard_put(sh[i], sw__hash(KV_PROBE, 1), KV_PROBE, 1, "v", 1, 0, NULL, NULL,
                            NULL) == SW_OK &&
                  sw__shard_commit(sh[i]) == SW_OK,
              "a recovered kv shard takes a write");
        kv_put(&kv[i], KV_PROBE, 1, "v", 1, 0);
        kv_settle(&kv[i]);
    }
}

/* The kv kind's first open: the model's answer, its keys and next_txid;
 * then the probe and a close. */
static int kv_first_open(run *r, state *st)
{
    model m;
    model_build(r, &m);
    bool corrupt = false, meta_refused;
    for (unsigned i = 0; i < r->nlogs; i++)
        corrupt = corrupt || r->scan[i].tail == SW__LOG_CORRUPT;
    int want = m.refused || corrupt ? SW_EIO : SW_OK;
    sw__shard *sh[MAX_LOGS];
    int rc = kv_open(r, sh, &st->next_txid, &meta_refused);
    check(!meta_refused || r->meta_fuzzed, "the meta file the harness writes opens");
    if (!meta_refused && rc != want)
        fprintf(report(), "fuzz_recovery: the model says %s, the open %s\n", sw_errname(want),
                sw_errname(rc));
    check(meta_refused || rc == want,
          "the kv open refuses (SW_EIO) exactly a corrupt log or a record that breaks the format");
    /* Where the rules say nothing, or the known bug shows, neither the
     * model's keys nor the second open's are compared (the top of the file). */
    st->kv_inexact = m.undefined || (KV_TOLERATE_EXPIRE_AT_END && m.expire_at_end);
    if (rc == SW_OK) {
        kv_snapshot(sh, r->nlogs, st->kv);
        for (unsigned i = 0; i < r->nlogs && !st->kv_inexact; i++)
            kv_compare(&m.kv[i], "model", &st->kv[i], "open", i,
                       "recovery applies exactly the decided parts, each where the rules say");
        if (st->next_txid != m.max_txid + 1)
            fprintf(report(), "fuzz_recovery: next_txid %llu, largest txid %llu\n",
                    (unsigned long long)st->next_txid, (unsigned long long)m.max_txid);
        check(st->next_txid == m.max_txid + 1, "next_txid is one past every txid in the logs");
        kv_probe(sh, r->nlogs, st->kv);
        kv_close(sh, r->nlogs);
    }
    model_free(&m);
    return rc;
}

/* The second open must find what the first left. */
static void kv_second_open(run *r, const state *want)
{
    sw__shard *sh[MAX_LOGS];
    uint64_t next_txid = 0;
    bool meta_refused;
    check(kv_open(r, sh, &next_txid, &meta_refused) == SW_OK,
          "a kv directory that opened once opens again");
    check(next_txid == want->next_txid, "the second open has the first's next_txid");
    kv_set got[MAX_LOGS] = {{0}};
    kv_snapshot(sh, r->nlogs, got);
    for (unsigned i = 0; i < r->nlogs; i++) {
        if (!want->kv_inexact)
            kv_compare(&want->kv[i], "first open", &got[i], "second open", i,
                       "the kv shards reopen with the same keys: recovery decides once");
        kv_free(&got[i]);
    }
    kv_close(sh, r->nlogs);
}

/* A refused kv open changes no log, but may have cut a torn tail. */
static void kv_after_failure(run *r)
{
    for (unsigned i = 0; i < r->nlogs; i++) {
        char path[PATH_MAX];
        log_path(r, i, path, sizeof path);
        size_t n;
        uint8_t *p = read_file(path, &n);
        check(p != NULL, "a log is there after a refused open");
        bool cut = r->scan[i].tail == SW__LOG_TORN && n == r->scan[i].good;
        check((n == r->len[i] || cut) && (n == 0 || memcmp(p, r->log[i], n) == 0),
              "a refused kv open leaves every log as it was (a torn tail may go)");
        free(p);
    }
}

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
    if (r->kv)
        return kv_first_open(r, st);
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
    if (r->kv) {
        kv_second_open(r, want);
        return;
    }
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
    if (r->kv) {
        kv_after_failure(r);
        return;
    }
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
    run r = {.ledger = (data[0] & 1) && !(data[0] & 64),
             .fix = data[0] & 2,
             .always = data[0] & 4,
             .meta_fuzzed = data[0] & 8,
             .ops = data[0] & 16,
             .holes = data[0] & 32,
             .kv = data[0] & 64};
    r.kind = r.kv ? "kv" : r.ledger ? "ledger" : "db";
    /* The kv kind's deadlines are read against a clock of its own. */
    sw__wall_ms_set(r.kv ? KV_NOW : 0);
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
    for (unsigned i = 0; i < MAX_LOGS; i++)
        kv_free(&st.kv[i]);
    remove_dir(r.dir);
    return 0;
}
