/* Writes the seed corpora of the fuzz targets: a handful of small inputs
 * each, in the input formats their headers describe. The RESP and record
 * seeds are written by hand here; the recovery seeds are real logs, made by
 * running a Db, a Ledger and stewardd's kv shards (db/shard.h) against a
 * temporary directory, plus a few written record by record (a lone
 * transfer half, a snapshot) or as operations (transactions across
 * shards). The output is committed under tests/fuzz/corpus/; run this
 * again only when a format changes:
 *
 *   cmake -S tests/fuzz -B build/fuzz -DCMAKE_C_COMPILER=clang
 *   cmake --build build/fuzz --target mkcorpus
 *   build/fuzz/mkcorpus tests/fuzz/corpus
 */
#define _GNU_SOURCE /* mkdtemp */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "db/shard.h"
#include "log/datadir.h"
#include "log/record.h"
#include "steward/account.h"
#include "steward/db.h"

#define MARKER "|SW|"

static const char *g_out;

/* A growable byte string. */
typedef struct buf {
    uint8_t *p;
    size_t n, cap;
} buf;

static void die(const char *what)
{
    fprintf(stderr, "mkcorpus: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void put(buf *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (b->p == NULL)
            die("realloc");
    }
    if (n)
        memcpy(b->p + b->n, p, n);
    b->n += n;
}

static void put_str(buf *b, const char *s)
{
    put(b, s, strlen(s));
}

static void put_byte(buf *b, uint8_t c)
{
    put(b, &c, 1);
}

static void save(const char *target, const char *name, const buf *b)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", g_out, target);
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        die(path);
    snprintf(path, sizeof path, "%s/%s/%s", g_out, target, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(b->p, 1, b->n, f) != b->n || fclose(f) != 0)
        die(path);
}

static void read_into(buf *b, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        die(path);
    uint8_t chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        put(b, chunk, n);
    fclose(f);
}

static void put_rec(buf *b, uint8_t type, int64_t num, const void *a, size_t alen, const void *bb,
                    size_t blen)
{
    sw__rec r = {.type = type, .num = num, .a = a, .alen = alen, .b = bb, .blen = blen};
    uint8_t out[512];
    size_t n = sw__rec_encode(out, &r);
    if (n == 0 || n > sizeof out) {
        fprintf(stderr, "mkcorpus: cannot encode a record\n");
        exit(1);
    }
    put(b, out, n);
}

/* ---- fuzz_resp: flags, [limits], [fault], cut count, cuts, stream ---------- */

static void resp(const char *name, const uint8_t *head, size_t hn, const char *stream, size_t sn)
{
    buf b = {0};
    put(&b, head, hn);
    put(&b, stream, sn);
    save("fuzz_resp", name, &b);
    free(b.p);
}

#define RESP(name, head, stream) resp(name, head, sizeof head, stream, sizeof stream - 1)

static void resp_seeds(void)
{
    static const uint8_t plain[] = {0x00, 0x02, 3, 7};
    static const uint8_t bytewise[] = {0x00, 0x00};
    static const uint8_t auth[] = {0x01, 0x01, 9};
    static const uint8_t limits[] = {0x02, 7, 2, 3, 8, 0x01, 4};
    static const uint8_t fault[] = {0x04, 3, 0x01, 5};
    RESP("multibulk", plain, "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n");
    RESP("inline", bytewise, "SET key \"a\\x41\\n\" 'it\\'s'\r\nPING\n   \r\nGET  k\n");
    RESP("pipeline", plain,
         "*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$0\r\n\r\nGET k\r\n*0\r\n*-1\r\n"
         "*1\r\n$4\r\nPING\r\n");
    RESP("binary", plain, "*2\r\n$4\r\nECHO\r\n$6\r\na\0\r\nb\xff\r\n");
    RESP("expected_dollar", bytewise, "*2\r\n$3\r\nGET\r\n:1\r\n");
    RESP("bad_multibulk", plain, "*1x\r\n");
    RESP("bad_bulk", plain, "*1\r\n$-5\r\n");
    RESP("unbalanced", bytewise, "SET \"abc\r\n");
    RESP("limits", limits, "*2\r\n$3\r\nGET\r\n$9\r\nlongvalue\r\nAAAAAAAAAAAA\r\n");
    RESP("unauth", auth, "*11\r\n$1\r\na\r\n");
    RESP("fault", fault, "*2\r\n$4\r\nECHO\r\n$20\r\n01234567890123456789\r\nSET \"x\" y\r\n");
}

/* ---- fuzz_record: flags, [max_body - 1], records ------------------------- */

static void record_seeds(void)
{
    static const uint8_t txid[16] = "0123456789abcdef";
    uint8_t xfer[24], epoch[4] = {1, 0, 0, 0};
    memcpy(xfer, txid, 16);
    memcpy(xfer + 16, "\x07\0\0\0\0\0\0\0", 8);
    struct {
        const char *name;
        uint8_t type;
        int64_t num;
        const void *a, *b;
        size_t alen, blen;
    } recs[] = {
        {"put", SW__REC_PUT, 0, "key", "value", 3, 5},
        {"put_expiry", SW__REC_PUT, 4102444800000, "k", "", 1, 0},
        {"del", SW__REC_DEL, 0, "key", NULL, 3, 0},
        {"expire", SW__REC_EXPIRE, -1, "key", NULL, 3, 0},
        {"acct_set", SW__REC_ACCT_SET, 1000, "\x07\0\0\0\0\0\0\0", NULL, 8, 0},
        {"xfer_debit", SW__REC_XFER_DEBIT, 250, xfer, epoch, 24, 4},
        {"xfer_credit", SW__REC_XFER_CREDIT, INT64_MAX, xfer, epoch, 24, 4},
        {"xfer_done", SW__REC_XFER_DONE, INT64_MIN, txid, NULL, 16, 0},
        {"snapshot_begin", SW__REC_SNAPSHOT_BEGIN, 3, NULL, NULL, 0, 0},
        {"snapshot_end", SW__REC_SNAPSHOT_END, 3, NULL, NULL, 0, 0},
        {"synced", SW__REC_SYNCED, 4096, NULL, NULL, 0, 0},
    };
    buf all = {0};
    put_byte(&all, 0x01); /* fix CRCs */
    for (size_t i = 0; i < sizeof recs / sizeof recs[0]; i++) {
        buf b = {0};
        put_byte(&b, 0x00);
        put_rec(&b, recs[i].type, recs[i].num, recs[i].a, recs[i].alen, recs[i].b, recs[i].blen);
        save("fuzz_record", recs[i].name, &b);
        put(&all, b.p + 1, b.n - 1);
        free(b.p);
    }
    save("fuzz_record", "log", &all);
    all.n -= 3; /* torn: the last record cut short */
    save("fuzz_record", "log_torn", &all);
    buf small = {0};
    put(&small, "\x03\x0f", 2); /* fix CRCs, a max_body of 16 */
    put(&small, all.p + 1, all.n - 1);
    save("fuzz_record", "small_max_body", &small);
    free(small.p);
    free(all.p);
}

/* ---- fuzz_recovery: flags, pieces cut at MARKER -------------------------- */

static char g_tmp[64];

static void fresh_dir(void)
{
    if (g_tmp[0]) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
        if (system(cmd) != 0)
            die("rm");
    }
    strcpy(g_tmp, "/tmp/steward-mkcorpus-XXXXXX");
    if (mkdtemp(g_tmp) == NULL)
        die("mkdtemp");
}

static void put_log(buf *b, const char *kind, unsigned shard)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s-shard-%04u.log", g_tmp, kind, shard);
    read_into(b, path);
}

static void ok(int rc, const char *what)
{
    if (rc != SW_OK) {
        fprintf(stderr, "mkcorpus: %s: %s\n", what, sw_strerror(rc));
        exit(1);
    }
}

/* A real Db log of shards shards, after a few writes of every kind. */
static void db_log(unsigned shards)
{
    fresh_dir();
    sw_db *db;
    sw_db_options o = {.shards = shards, .dir = g_tmp, .fsync = SW_FSYNC_NO};
    ok(sw_db_open(&db, &o), "sw_db_open");
    ok(sw_db_store(db, "alpha", 5, "one", 3), "store");
    ok(sw_db_store(db, "beta", 4, "two\0bytes", 9), "store");
    ok(sw_db_store(db, "", 0, "empty key", 9), "store");
    ok(sw_db_store(db, "alpha", 5, "uno", 3), "store");
    ok(sw_db_store_ex(db, "gamma", 5, "later", 5, 4102444800000), "store_ex");
    ok(sw_db_expire(db, "beta", 4, 4102444800000), "expire");
    ok(sw_db_delete(db, "alpha", 5), "delete");
    ok(sw_db_close(db), "sw_db_close");
}

/* A real Ledger of shards shards: accounts, deposits, transfers. */
static void ledger_log(unsigned shards)
{
    fresh_dir();
    sw_ledger *l;
    sw_ledger_options o = {.shards = shards, .dir = g_tmp, .fsync = SW_FSYNC_NO};
    ok(sw_ledger_open(&l, &o), "sw_ledger_open");
    for (uint64_t id = 1; id <= 4; id++)
        ok(sw_ledger_create(l, id, 100), "create");
    ok(sw_ledger_deposit(l, 1, 50), "deposit");
    ok(sw_ledger_withdraw(l, 2, 30), "withdraw");
    for (uint64_t id = 1; id <= 4; id++)
        ok(sw_ledger_transfer(l, id, id % 4 + 1, 10 * (int64_t)id), "transfer");
    ok(sw_ledger_close(l), "sw_ledger_close");
}

/* Writes one key on one of stewardd's kv shards (shard.h). */
static void kv_put(sw__shard *s, const char *key, const char *val, int64_t expire_ms)
{
    size_t klen = strlen(key);
    ok(sw__shard_put(s, sw__hash(key, klen), key, klen, val, strlen(val), expire_ms, NULL, NULL,
                     NULL),
       "sw__shard_put");
}

/* Logs part `part` of transaction txid (of 2) on s, putting key = val,
 * and with decide decides and applies it, as stewardd does (kv.c, txn.c). */
static sw__shard_tx *kv_part(sw__shard *s, uint64_t txid, unsigned part, const char *key,
                             const char *val, bool decide)
{
    sw__rec w = {.type = SW__REC_PUT, .a = key, .alen = strlen(key), .b = val, .blen = strlen(val)};
    sw__shard_tx *tx;
    ok(sw__shard_tx_prepare(s, txid, 2, part, &w, 1, &tx), "sw__shard_tx_prepare");
    ok(sw__shard_commit(s), "sw__shard_commit");
    if (decide) {
        ok(sw__shard_tx_decide(s, tx), "sw__shard_tx_decide");
        kv_put(s, key, val, 0);
        sw__shard_tx_applied(s);
        ok(sw__shard_commit(s), "sw__shard_commit");
    }
    return tx;
}

/* Real kv logs of two shards, left as a crash leaves them: a transaction
 * decided and forgotten on both; one whose parts are both logged but only
 * shard 0 logged its DECIDED; one of which only shard 0's part is logged
 * (never decided); and a unit of several writes on shard 1. */
static void kv_log(void)
{
    fresh_dir();
    sw__shard *sh[2];
    unsigned n = 2;
    uint64_t next;
    char err[256];
    ok(sw__datadir_open(g_tmp, "kv", &n, n, err, sizeof err), "sw__datadir_open");
    ok(sw__shards_open(sh, 2, g_tmp, "kv", SW_FSYNC_NO, &next, err, sizeof err), "sw__shards_open");
    kv_put(sh[0], "alpha", "one", 0);
    kv_put(sh[1], "beta", "two", 4102444800000);
    sw__shard_tx *a = kv_part(sh[0], 1, 0, "alpha", "tx1", true);
    sw__shard_tx *b = kv_part(sh[1], 1, 1, "beta", "tx1", true);
    sw__shard_tx_forget(sh[0], a);
    sw__shard_tx_forget(sh[1], b);
    kv_part(sh[1], 2, 1, "gamma", "tx2", false); /* the crash came before its DECIDED */
    kv_part(sh[0], 2, 0, "alpha", "tx2", true);
    kv_part(sh[0], 3, 0, "delta", "tx3", false); /* part 1 never logged */
    sw__shard_unit_begin(sh[1]);
    kv_put(sh[1], "epsilon", "unit", 0);
    kv_put(sh[1], "zeta", "unit", 4102444800000);
    ok(sw__shard_unit_end(sh[1]), "sw__shard_unit_end");
    ok(sw__shard_commit(sh[1]), "sw__shard_commit");
    for (int i = 0; i < 2; i++)
        ok(sw__shard_close(sh[i]), "sw__shard_close");
}

static void recovery_seed(const char *name, uint8_t flags, const char *kind, unsigned shards,
                          size_t cut)
{
    buf b = {0};
    put_byte(&b, flags);
    for (unsigned i = 0; i < shards; i++) {
        if (i > 0)
            put_str(&b, MARKER);
        put_log(&b, kind, i);
    }
    b.n -= cut;
    save("fuzz_recovery", name, &b);
    free(b.p);
}

/* Ledger records written one by one: a transfer's debit without its credit,
 * and a snapshot of epoch 1 followed by halves of epochs 0 and 1. */
static void ledger_crafted(void)
{
    uint8_t acct[8] = {9}, xfer[24] = "txid-lone-debit!", epoch0[4] = {0}, epoch1[4] = {1};
    xfer[16] = 9;
    buf b = {0};
    put_byte(&b, 0x01);
    put_rec(&b, SW__REC_ACCT_SET, 500, acct, 8, NULL, 0);
    put_rec(&b, SW__REC_XFER_DEBIT, 200, xfer, 24, epoch0, 4);
    save("fuzz_recovery", "ledger_lone_debit", &b);
    b.n = 1;
    put_rec(&b, SW__REC_SNAPSHOT_BEGIN, 1, NULL, 0, NULL, 0);
    put_rec(&b, SW__REC_ACCT_SET, 500, acct, 8, NULL, 0);
    put_rec(&b, SW__REC_SNAPSHOT_END, 1, NULL, 0, NULL, 0);
    put_rec(&b, SW__REC_XFER_CREDIT, 70, xfer, 24, epoch0, 4);
    xfer[0] = 'T';
    put_rec(&b, SW__REC_XFER_CREDIT, 30, xfer, 24, epoch1, 4);
    save("fuzz_recovery", "ledger_snapshot", &b);
    free(b.p);
}

/* One 12-byte operation of fuzz_recovery's flag 16 (see encode_ops). */
static void put_op(buf *b, uint8_t type, uint8_t key, uint8_t txid, uint8_t epoch, int64_t num)
{
    uint8_t op[12] = {type, key, txid, epoch};
    for (int i = 0; i < 8; i++)
        op[4 + i] = (uint8_t)((uint64_t)num >> (8 * i));
    put(b, op, sizeof op);
}

static void ops_seeds(void)
{
    buf b = {0};
    put_byte(&b, 0x10);
    put_op(&b, SW__REC_PUT, 1, 0, 0, 0);
    put_op(&b, SW__REC_PUT, 2, 0, 0, 4102444800000);
    put_op(&b, SW__REC_DEL, 1, 0, 0, 0);
    put_op(&b, SW__REC_EXPIRE, 2, 0, 0, 0);
    put_op(&b, SW__REC_PUT, 3, 0, 0, 1);
    save("fuzz_recovery", "db_ops", &b);
    b.n = 0;
    put_byte(&b, 0x11);
    put_op(&b, SW__REC_ACCT_SET, 0, 0, 0, 100);
    put_op(&b, SW__REC_ACCT_SET, 1, 0, 0, 50);
    put_op(&b, SW__REC_XFER_DEBIT, 0, 1, 0, 30);
    put_op(&b, SW__REC_XFER_CREDIT, 1, 1, 0, 30);
    put_op(&b, SW__REC_XFER_DEBIT, 1, 2, 0, 10);
    save("fuzz_recovery", "ledger_ops", &b);
    b.n = 0;
    put_byte(&b, 0x11);
    put_op(&b, SW__REC_SNAPSHOT_BEGIN, 0, 0, 0, 1);
    put_op(&b, SW__REC_ACCT_SET, 0, 0, 0, 100);
    put_op(&b, SW__REC_SNAPSHOT_END, 0, 0, 0, 1);
    put_op(&b, SW__REC_XFER_DEBIT, 0, 3, 1, 5);
    put_str(&b, MARKER);
    put_op(&b, SW__REC_ACCT_SET, 1, 0, 0, 0);
    put_op(&b, SW__REC_XFER_CREDIT, 1, 3, 1, 5);
    put_op(&b, SW__REC_XFER_CREDIT, 1, 4, 1, 7);
    save("fuzz_recovery", "ledger_ops_two_shards", &b);
    /* Flag 32: a page lost by a power cut, records after it, and a SYNCED
     * mark among them that does not (then does) prove the hole durable. */
    for (int proven = 0; proven < 2; proven++) {
        b.n = 0;
        put_byte(&b, 0x30);
        put_op(&b, SW__REC_PUT, 1, 0, 0, 0);
        put_op(&b, SW__REC_SYNCED, 0, 0, 0, 0);
        put_op(&b, SW__REC_PUT, 2, 0, 0, 0);
        put_str(&b, "|Z|");
        put_op(&b, SW__REC_PUT, 3, 0, 0, 0);
        put_op(&b, SW__REC_SYNCED, 0, 0, 0, proven ? 4096 : 20);
        put_op(&b, SW__REC_DEL, 1, 0, 0, 0);
        save("fuzz_recovery", proven ? "db_ops_zeroed_page" : "db_ops_lost_page", &b);
    }
    free(b.p);
}

/* The head of a TX_PART operation (encode_ops): writes operations follow. */
static void put_part(buf *b, int64_t txid, uint8_t nparts, uint8_t part, uint8_t writes,
                     uint8_t shape)
{
    put_op(b, SW__REC_TX_PART, nparts, part, (uint8_t)(writes | shape), txid);
}

/* stewardd's kind (flag 64) as operations: transactions across shards. */
static void kv_ops_seeds(void)
{
    const int64_t later = 4102444800000, past = 100; /* against the harness's clock, 1 << 24 */
    buf b = {0};
    /* Transaction 5 applies at shard 0's DECIDED and at the end of shard
     * 1's log (decided by the DECIDED on 0); 6 is never decided (part 1
     * missing); 7 has every part and no DECIDED: it applies at both ends. */
    put_byte(&b, 0x50);
    put_op(&b, SW__REC_PUT, 1, 0, 'a', 0);
    put_part(&b, 5, 2, 0, 2, 0);
    put_op(&b, SW__REC_PUT, 2, 0, 'b', 0);
    put_op(&b, SW__REC_DEL, 1, 0, 0, 0);
    put_op(&b, SW__REC_TX_DECIDED, 0, 0, 0, 5);
    put_op(&b, SW__REC_PUT, 2, 0, 'c', 0);
    put_part(&b, 6, 2, 0, 1, 0);
    put_op(&b, SW__REC_PUT, 3, 0, 'x', 0);
    put_part(&b, 7, 2, 0, 1, 0);
    put_op(&b, SW__REC_PUT, 4, 0, 'y', 0);
    put_str(&b, MARKER);
    put_part(&b, 5, 2, 1, 1, 0);
    put_op(&b, SW__REC_PUT, 5, 0, 'd', 0);
    put_part(&b, 7, 2, 1, 1, 0);
    put_op(&b, SW__REC_PUT, 6, 0, 'z', later);
    save("fuzz_recovery", "kv_ops_tx", &b);
    /* A unit (txid 0, one part) applies where it stands. */
    b.n = 0;
    put_byte(&b, 0x50);
    put_op(&b, SW__REC_PUT, 1, 0, 'a', 0);
    put_part(&b, 0, 1, 0, 3, 0);
    put_op(&b, SW__REC_PUT, 2, 0, 'b', 0);
    put_op(&b, SW__REC_DEL, 1, 0, 0, 0);
    put_op(&b, SW__REC_EXPIRE, 2, 0, 0, later);
    put_op(&b, SW__REC_PUT, 3, 0, 'c', past);
    save("fuzz_recovery", "kv_ops_unit", &b);
    /* A PART whose writes are not whole records: refused. */
    b.n = 0;
    put_byte(&b, 0x50);
    put_op(&b, SW__REC_PUT, 1, 0, 'a', 0);
    put_part(&b, 4, 2, 0, 1, 0x80);
    put_op(&b, SW__REC_PUT, 2, 0, 'b', 0);
    save("fuzz_recovery", "kv_ops_cut_part", &b);
    /* A power cut lost shard 0's DECIDED: every part is there, so the
     * transaction is decided all the same. */
    b.n = 0;
    put_byte(&b, 0x70);
    put_part(&b, 8, 2, 0, 1, 0);
    put_op(&b, SW__REC_PUT, 1, 0, 'p', 0);
    put_str(&b, "|Z|");
    put_op(&b, SW__REC_TX_DECIDED, 0, 0, 0, 8);
    put_str(&b, MARKER);
    put_part(&b, 8, 2, 1, 1, 0);
    put_op(&b, SW__REC_PUT, 2, 0, 'q', 0);
    save("fuzz_recovery", "kv_ops_lost_decided", &b);
    /* Shard 1 compacted after deciding transaction 10: its DECIDED, carried
     * first into the new file, then the snapshot, which holds its write;
     * shard 0 crashed before its own DECIDED: its part applies at the end. */
    b.n = 0;
    put_byte(&b, 0x50);
    put_op(&b, SW__REC_PUT, 1, 0, 'a', 0);
    put_part(&b, 10, 2, 0, 1, 0);
    put_op(&b, SW__REC_PUT, 1, 0, 't', 0);
    put_str(&b, MARKER);
    put_op(&b, SW__REC_TX_DECIDED, 0, 0, 0, 10);
    put_op(&b, SW__REC_PUT, 2, 0, 't', 0);
    put_op(&b, SW__REC_PUT, 3, 0, 'z', 0);
    save("fuzz_recovery", "kv_ops_compacted", &b);
    /* The bug KV_TOLERATE_EXPIRE_AT_END names: key 1's deadline passed;
     * a decided part left at the end of shard 0's log clears it. */
    b.n = 0;
    put_byte(&b, 0x50);
    put_op(&b, SW__REC_PUT, 1, 0, 'a', past);
    put_part(&b, 9, 2, 0, 1, 0);
    put_op(&b, SW__REC_EXPIRE, 1, 0, 0, 0);
    put_str(&b, MARKER);
    put_part(&b, 9, 2, 1, 1, 0);
    put_op(&b, SW__REC_PUT, 2, 0, 'b', 0);
    save("fuzz_recovery", "kv_ops_expire_at_end", &b);
    free(b.p);
}

static void recovery_seeds(void)
{
    ops_seeds();
    kv_ops_seeds();
    db_log(1);
    recovery_seed("db", 0x00, "db", 1, 0);
    recovery_seed("db_torn", 0x00, "db", 1, 5);
    buf b = {0};
    put_byte(&b, 0x08);
    put_str(&b, "steward db 1 shards 1\n" MARKER);
    put_log(&b, "db", 0);
    save("fuzz_recovery", "db_meta", &b);
    free(b.p);
    db_log(2);
    recovery_seed("db_two_shards", 0x02, "db", 2, 0);
    ledger_log(1);
    recovery_seed("ledger", 0x01, "ledger", 1, 0);
    ledger_log(2);
    recovery_seed("ledger_two_shards", 0x03, "ledger", 2, 0);
    recovery_seed("ledger_two_torn", 0x05, "ledger", 2, 7);
    ledger_crafted();
    kv_log();
    recovery_seed("kv_two_shards", 0x42, "kv", 2, 0);
    recovery_seed("kv_torn", 0x40, "kv", 2, 5);
    fresh_dir();
    rmdir(g_tmp);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    g_out = argv[1];
    if (mkdir(g_out, 0755) != 0 && errno != EEXIST)
        die(g_out);
    resp_seeds();
    record_seeds();
    recovery_seeds();
    return 0;
}
