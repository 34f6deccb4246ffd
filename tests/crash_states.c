/* Power-loss crash states of the durable Db, Ledger and stewardd, in the manner of
 * ALICE (Pillai et al., OSDI 2014) and CrashMonkey (Mohan et al., OSDI
 * 2018): a workload runs once with every file operation of the log layer
 * recorded (through sw__log_observe) together with the moments its callers
 * were answered; then, for every point of the trace, the on-disk states a
 * power cut there may leave are built in a scratch directory and opened
 * with the real code.
 *
 * The persistence model (ext4 data=ordered, as docs/durability.md states):
 *  - a file's data and size as of the start of its last completed
 *    fdatasync are on disk;
 *  - of the writes and truncations after that, in order, any prefix is on
 *    disk, and of the first write not wholly there any prefix cut at a
 *    512-byte sector boundary, with or without the file's size already
 *    extended over the rest of that write, which then reads as zeros;
 *    each file independently;
 *  - the directory's names as of its last fsync are there, and of the name
 *    changes after it (create, rename, unlink) any prefix, in order.
 * The second mode drops the ordering of one file's pending data, as a file
 * system that writes back page by page in no order (or a reordering
 * device) may: the file is as long as its pending writes reach (or cut at
 * a sector boundary short of that), and of the 4096-byte pages that cover
 * the pending range any subset holds the new data, the others zeros; the
 * page that holds the durable end keeps its durable bytes either way. The
 * log tells such holes from corruption with its SYNCED marks (logfile.c's
 * DESIGN comment). This mode covers every file whose pending changes are
 * appends (every log; not a compaction's file before its first fdatasync,
 * which has its truncation pending), at the crash point right after each
 * write to it and each fdatasync of it: every subset while it has at most
 * three pending pages, else PAGE_SAMPLES of them drawn at random, then one
 * more with the size cut.
 * The states of the two modes are counted apart, and so are the tails
 * cut as lost pages.
 *
 * Each state must open (a torn tail is cut, never called corruption).
 * The Db: each thread's keys on each shard read as the state after a prefix
 * of the thread's ops there, holding every op the policy made durable
 * (always: every answered one; everysec: those answered before the last
 * completed fdatasync of that shard's log began). The Ledger: no balance
 * below zero; always: exactly the balances of the answered ops plus some
 * of those in flight, each whole; everysec (transfers only): the total
 * unchanged. stewardd: the Db's workload sent by two Redis clients to a
 * server running in this process (two shard threads, so half the commands
 * are routed to the other shard, and commits happen at the end of a server
 * turn), as SET and DEL, save that every fourth put of a round is an MSET
 * of its key and another of the client's keys, on the other shard (a
 * transaction across the shards) or, every other time, on the same one,
 * both to the round's version; and between those, each client moves two
 * tokens of its own by RENAME, each between a pair of keys: one pair on the
 * two shards (a transaction across them: the source's delete and the
 * destination's put are PARTs of it), one on one shard (one record), the
 * destination always absent, and each round puts each token, where it is,
 * at the round's version. Its states are opened as stewardd opens its keys
 * (sw__shards_open, which settles the transactions) and checked as the
 * Db's, an MSET or a RENAME counting on both shards; and with always, whole
 * across the shards: each client's keys read as the state after its
 * answered ops, with or without the one in flight, so no MSET or RENAME is
 * ever there in part (a token at both of its keys, or once put at neither,
 * is named as such). With everysec each shard is checked on its own, as
 * each log keeps a prefix of its own, and no token may be at both of its
 * keys; an answered MSET is among the ops each must hold once its log is
 * synced, which its shards do for a transaction whatever the policy
 * (db/shard.h): without that, a power cut dropped such an MSET while later
 * writes on one of its shards stayed, and this check failed.
 * The workloads compact, so the states cover compaction's snapshot files,
 * their fdatasync, the renames and the directory fsyncs. A state that fails
 * is kept on disk, and its directory printed.
 *
 * Usage: crash_states [KEYS_PER_THREAD [ROUNDS [SAMPLES [PAGE_SAMPLES]]]]
 * (defaults: make test's). SAMPLES: how many of the pending changes'
 * prefixes a crash point with many pending (everysec) tries at random,
 * beside the newest. PAGE_SAMPLES (default 2): how many subsets of the
 * pending pages the second mode draws where there are more than three.
 */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "support.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "base/base.h"
#include "account/ledger_int.h"
#include "db/db_int.h"
#include "log/datadir.h"
#include "log/logfile.h"
#include "server/server.h"
#include "steward/account.h"
#include "steward/db.h"

#define THREADS 2
#define SHARDS 2
#define SECTOR 512
#define PAGE 4096
#define MAX_FD 4096

static unsigned g_keys = 24;   /* per thread */
static unsigned g_rounds = 10; /* puts of every key, then a delete of every third */

/* ---- the workload ---------------------------------------------------------- */

/* Thread t's op i: a put of version v (>= 1) or a delete (v == 0) of key
 * k; with `pair` (stewardd's workload only), an MSET that puts version v of
 * key2 too, a key of the thread on the other shard; with `rename`
 * (stewardd's only), a RENAME of k, which holds a token at version v, to
 * key2, which is absent: after it k is absent and key2 holds version v. */
struct wop {
    unsigned key;
    unsigned ver;
    bool pair;
    bool rename;
    unsigned key2;
};

static struct wop *g_ops[THREADS];
static size_t g_nops[THREADS];

/* stewardd's workload gives each thread two tokens besides its g_keys
 * keys, each moved by RENAME between a pair of keys of its own (numbered
 * from g_keys up): pair 0's keys are on two shards (a transaction across
 * them), pair 1's on one (one record in one log). A token's value is its
 * pair's first key's, so it reads the same at either key. g_tok[t][2 * j
 * + i]: key i of pair j; g_nkeys[t]: the keys to read (some numbers past
 * g_keys may be skipped, and read absent). */
enum { TOKENS = 2, TOKEN_OPS = 5 /* per round: TOKENS puts and three RENAMEs */ };
#define MAX_KEYS (1024 + 64)
static unsigned g_tok[THREADS][2 * TOKENS];
static unsigned g_nkeys[THREADS];
/* The op of thread t that first puts token j: once it is answered, the
 * token is at one of its keys in every state (always). */
static size_t g_tok_made[THREADS][TOKENS];

/* A token's key is long (TOKEN_KEY bytes), and so is its delete's
 * record: a sector boundary then often falls inside the delete that
 * follows a RENAME's put, and a crash state cut there shows whether the
 * two were one record (on one shard) or not. */
#define TOKEN_KEY 240
#define KEY_CAP (TOKEN_KEY + 8)

static void key_name(unsigned t, unsigned k, char *out, size_t cap)
{
    if (k < g_keys) {
        snprintf(out, cap, "t%u-key-%u", t, k);
        return;
    }
    size_t n = (size_t)snprintf(out, cap, "t%u-tok-%u-", t, k);
    for (; n < TOKEN_KEY && n + 1 < cap; n++)
        out[n] = (char)('a' + (n + k) % 26);
    out[n] = 0;
}

/* The token pair that key k of thread t is of; TOKENS for none. */
static unsigned token_of(unsigned t, unsigned k)
{
    for (unsigned j = 0; k >= g_keys && j < 2 * TOKENS; j++)
        if (g_tok[t][j] == k)
            return j / 2;
    return TOKENS;
}

/* The key whose values key k's are: its token pair's first, for a token's
 * key. */
static unsigned value_key(unsigned t, unsigned k)
{
    unsigned j = token_of(t, k);
    return j < TOKENS ? g_tok[t][2 * j] : k;
}

/* A value whose length moves records across sector boundaries. */
static size_t value_of(unsigned t, unsigned k, unsigned ver, char *out, size_t cap)
{
    k = value_key(t, k);
    size_t len = 8 + (size_t)((k * 37 + ver * 101 + t * 11) % 700);
    if (len > cap)
        len = cap;
    int head = snprintf(out, cap, "v%u:", ver);
    for (size_t i = (size_t)head; i < len; i++)
        out[i] = (char)('a' + (i + k + ver) % 26);
    return len;
}

static bool g_kv; /* the run is stewardd's */
static unsigned shard_of_key(unsigned t, unsigned k);

/* The first of thread t's keys after k, not yet put this round (done), on
 * k's shard (same) or another; g_keys if there is none. */
static unsigned partner(unsigned t, unsigned k, const bool *done, bool same)
{
    unsigned p = k + 1;
    while (p < g_keys && (done[p] || (shard_of_key(t, p) == shard_of_key(t, k)) != same))
        p++;
    return p;
}

/* The first key number of thread t past `after`, other than `not`, on
 * shard sh (any: SHARDS). */
static unsigned spare_key(unsigned t, unsigned after, unsigned not, unsigned sh)
{
    unsigned k = after + 1;
    while (k == not || (sh != SHARDS && shard_of_key(t, k) != sh))
        k++;
    assert_true(k < MAX_KEYS);
    return k;
}

/* Chooses thread t's token keys (stewardd's workload; the Db's has none). */
static void plan_tokens(unsigned t)
{
    unsigned *k = g_tok[t];
    g_nkeys[t] = g_keys;
    if (!g_kv)
        return;
    k[0] = g_keys;
    k[1] = spare_key(t, k[0], k[0], 1 - shard_of_key(t, k[0])); /* the other shard */
    k[2] = spare_key(t, k[0], k[1], SHARDS);
    k[3] = spare_key(t, k[2], k[1], shard_of_key(t, k[2])); /* the same shard */
    for (unsigned j = 0; j < 2 * TOKENS; j++)
        g_nkeys[t] = k[j] + 1 > g_nkeys[t] ? k[j] + 1 : g_nkeys[t];
}

/* Thread t's token ops of round r due before its put of key k (at, per
 * pair, the key that holds the token); returns the op after them. Each
 * round puts each token at version r where it is, moves pair 1's once and
 * pair 0's there and back, spread over the round, so that the RENAMEs fall
 * between the other ops (and compactions) at many points of the trace. */
static size_t plan_token_ops(unsigned t, unsigned r, unsigned k, unsigned *at, size_t n)
{
    static const struct {
        bool move; /* a RENAME; else a put */
        unsigned token;
    } step[TOKEN_OPS] = {{false, 0}, {false, 1}, {true, 0}, {true, 1}, {true, 0}};
    for (unsigned s = 0; s < TOKEN_OPS; s++) {
        if (k != g_keys * (s + 1) / (TOKEN_OPS + 1))
            continue;
        unsigned j = step[s].token;
        unsigned from = g_tok[t][2 * j + at[j]], to = g_tok[t][2 * j + 1 - at[j]];
        if (!step[s].move) {
            if (r == 1)
                g_tok_made[t][j] = n;
            g_ops[t][n++] = (struct wop){.key = from, .ver = r};
        } else {
            g_ops[t][n++] = (struct wop){.key = from, .ver = r, .rename = true, .key2 = to};
            at[j] = 1 - at[j];
        }
    }
    return n;
}

/* Thread t's puts of round r, from op n on; returns the op after them.
 * stewardd's workload makes every fourth an MSET of its key and a partner,
 * whose own put of the round it replaces: so the ops are fewer but the
 * keys written the same, and every put changes its key's version, which
 * makes half an MSET show. Partners alternate: on the other shard (a
 * transaction across shards), then on the same one (two writes that must
 * be one record, or a torn tail could keep the first). Its token ops go
 * in between (plan_token_ops). */
static size_t plan_round(unsigned t, unsigned r, size_t n, unsigned *at)
{
    bool done[1024] = {0};
    unsigned puts = 0;
    for (unsigned k = 0; k < g_keys; k++) {
        if (g_kv)
            n = plan_token_ops(t, r, k, at, n);
        if (done[k])
            continue;
        struct wop op = {.key = k, .ver = r};
        unsigned p = g_kv && puts % 4 == 3 ? partner(t, k, done, puts % 8 == 7) : g_keys;
        if (p < g_keys) {
            op.pair = true;
            op.key2 = p;
            done[p] = true;
        }
        g_ops[t][n++] = op;
        puts++;
    }
    return n;
}

static void plan(void)
{
    for (unsigned t = 0; t < THREADS; t++) {
        size_t n = 0;
        unsigned at[TOKENS] = {0};
        plan_tokens(t);
        g_ops[t] = calloc((size_t)(g_keys + TOKEN_OPS) * (g_rounds + 1), sizeof *g_ops[t]);
        assert_non_null(g_ops[t]);
        for (unsigned r = 1; r <= g_rounds; r++)
            n = plan_round(t, r, n, at);
        for (unsigned k = 0; k < g_keys; k += 3)
            g_ops[t][n++] = (struct wop){.key = k, .ver = 0};
        g_nops[t] = n;
    }
}

/* ---- the trace ---------------------------------------------------------------- */

enum { EV_IO, EV_ACK };

struct tev {
    int type;
    sw__io_event io; /* EV_IO; path, path2 and data point into the trace's own copies */
    unsigned thread; /* EV_ACK: op `index` of `thread` was answered */
    size_t index;
};

static pthread_mutex_t g_trace_mu = PTHREAD_MUTEX_INITIALIZER;
static struct tev *g_trace;
static size_t g_ntrace, g_captrace;

static struct tev *trace_push(void)
{
    if (g_ntrace == g_captrace) {
        g_captrace = g_captrace ? g_captrace * 2 : 4096;
        g_trace = realloc(g_trace, g_captrace * sizeof *g_trace);
        if (!g_trace)
            abort();
    }
    return &g_trace[g_ntrace++];
}

static char *dup_or_null(const void *p, size_t len)
{
    if (!p)
        return NULL;
    char *c = malloc(len + 1);
    if (!c)
        abort();
    memcpy(c, p, len);
    c[len] = 0;
    return c;
}

static void record_io(void *ctx, const sw__io_event *ev)
{
    (void)ctx;
    pthread_mutex_lock(&g_trace_mu);
    struct tev *e = trace_push();
    *e = (struct tev){.type = EV_IO, .io = *ev};
    e->io.path = ev->path ? dup_or_null(ev->path, strlen(ev->path)) : NULL;
    e->io.path2 = ev->path2 ? dup_or_null(ev->path2, strlen(ev->path2)) : NULL;
    e->io.data = ev->data ? dup_or_null(ev->data, ev->len) : NULL;
    pthread_mutex_unlock(&g_trace_mu);
}

static void record_ack(unsigned t, size_t i)
{
    pthread_mutex_lock(&g_trace_mu);
    *trace_push() = (struct tev){.type = EV_ACK, .thread = t, .index = i};
    pthread_mutex_unlock(&g_trace_mu);
}

struct worker {
    pthread_t thread;
    sw_db *db;
    unsigned t;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    char k[32], v[800];
    for (size_t i = 0; i < g_nops[w->t]; i++) {
        struct wop op = g_ops[w->t][i];
        key_name(w->t, op.key, k, sizeof k);
        int rc;
        if (op.ver) {
            size_t n = value_of(w->t, op.key, op.ver, v, sizeof v);
            rc = sw_db_store(w->db, k, strlen(k), v, n);
        } else {
            rc = sw_db_delete(w->db, k, strlen(k));
        }
        if (rc != SW_OK) {
            fprintf(stderr, "crash_states: op %zu of thread %u: %s\n", i, w->t, sw_strerror(rc));
            abort();
        }
        record_ack(w->t, i);
    }
    return NULL;
}

/* ---- stewardd's workload: the Db's ops, sent by Redis clients ------------------------- */

static struct srv g_srv;
static int g_port;

/* Sends one command (RESP, argc arguments, in one write: small writes in
 * a row would wait on Nagle's algorithm) and reads its one-line reply into
 * reply; false when the connection fails. */
static bool kv_call(int fd, int argc, const char *const *argv, const size_t *lens, char *reply,
                    size_t cap)
{
    char req[2048]; /* an MSET of two of the longest values */
    size_t n = (size_t)snprintf(req, sizeof req, "*%d\r\n", argc);
    for (int i = 0; i < argc; i++) {
        if (n + lens[i] + 32 > sizeof req)
            return false;
        n += (size_t)snprintf(req + n, sizeof req - n, "$%zu\r\n", lens[i]);
        memcpy(req + n, argv[i], lens[i]);
        memcpy(req + n + lens[i], "\r\n", 2);
        n += lens[i] + 2;
    }
    if (write(fd, req, n) != (ssize_t)n)
        return false;
    size_t got = 0;
    while (got < 2 || reply[got - 2] != '\r' || reply[got - 1] != '\n') {
        if (got + 1 >= cap || read(fd, reply + got, 1) != 1)
            return false;
        got++;
    }
    reply[got - 2] = 0;
    return true;
}

/* The command that sends op (of thread t) into argv and lens, its
 * arguments' text in k, k2, v and v2; returns its argument count, and in
 * *want the reply it must get. */
static int kv_command(unsigned t, const struct wop *op, const char **argv, size_t *lens,
                      char k[KEY_CAP], char k2[KEY_CAP], char v[800], char v2[800],
                      const char **want)
{
    key_name(t, op->key, k, KEY_CAP);
    k2[0] = 0;
    size_t n = op->ver && !op->rename ? value_of(t, op->key, op->ver, v, 800) : 0, n2 = 0;
    if (op->pair || op->rename)
        key_name(t, op->key2, k2, KEY_CAP);
    if (op->pair)
        n2 = value_of(t, op->key2, op->ver, v2, 800);
    argv[0] = op->rename ? "RENAME" : op->pair ? "MSET" : op->ver ? "SET" : "DEL";
    argv[1] = k;
    argv[2] = op->rename ? k2 : v;
    argv[3] = k2;
    argv[4] = v2;
    lens[0] = strlen(argv[0]);
    lens[1] = strlen(k);
    lens[2] = op->rename ? strlen(k2) : n;
    lens[3] = strlen(k2);
    lens[4] = n2;
    *want = op->ver ? "+OK" : ":1";
    return op->pair ? 5 : op->ver ? 3 : 2;
}

/* A client of the server recorded: the thread's ops as SET, MSET, RENAME
 * and DEL, one connection, each op answered before the next is sent. */
static void *kv_worker_main(void *arg)
{
    struct worker *w = arg;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
        abort();
    char k[KEY_CAP], k2[KEY_CAP], v[800], v2[800], reply[128];
    for (size_t i = 0; i < g_nops[w->t]; i++) {
        const char *argv[5], *want;
        size_t lens[5];
        int argc = kv_command(w->t, &g_ops[w->t][i], argv, lens, k, k2, v, v2, &want);
        if (!kv_call(fd, argc, argv, lens, reply, sizeof reply) || strcmp(reply, want) != 0) {
            fprintf(stderr, "crash_states: op %zu of client %u: %s\n", i, w->t, reply);
            abort();
        }
        record_ack(w->t, i);
    }
    close(fd);
    return NULL;
}

static void no_compact_floor(void *state, void *arg)
{
    (void)arg;
    ((struct sw__shard *)state)->compact_min = 0; /* compact as soon as the log is twice the data */
}

/* ---- the Ledger's workload -------------------------------------------------------- */

#define ACCOUNTS 8
#define OPENING 1000

/* Thread t's op i on the Ledger: a transfer, deposit or withdrawal, and
 * the status it got (set by the worker, read after the join). */
struct lop {
    enum { L_XFER, L_DEPOSIT, L_WITHDRAW } kind;
    uint64_t from, to;
    int64_t amount;
    int rc;
};

static struct lop *g_lops[THREADS];
static bool g_ledger;         /* the run is the Ledger's */
static bool g_transfers_only; /* everysec: the total is then exactly conserved */

static void plan_ledger(void)
{
    for (unsigned t = 0; t < THREADS; t++) {
        uint64_t rng = seed_stream(100 + t);
        g_nops[t] = (size_t)g_keys * g_rounds;
        g_lops[t] = calloc(g_nops[t], sizeof *g_lops[t]);
        assert_non_null(g_lops[t]);
        for (size_t i = 0; i < g_nops[t]; i++) {
            uint64_t r = rng_next(&rng);
            struct lop *o = &g_lops[t][i];
            o->kind = g_transfers_only || r % 4 < 2 ? L_XFER : r % 4 == 2 ? L_DEPOSIT : L_WITHDRAW;
            o->from = 1 + (r >> 8) % ACCOUNTS;
            o->to = 1 + (r >> 16) % ACCOUNTS;
            o->amount = 1 + (int64_t)((r >> 32) % 700);
        }
    }
}

static void *ledger_worker_main(void *arg)
{
    struct worker *w = arg;
    sw_ledger *l = (sw_ledger *)w->db;
    for (size_t i = 0; i < g_nops[w->t]; i++) {
        struct lop *o = &g_lops[w->t][i];
        /* Thread 0 also compacts now and then, so crash points fall in and
         * around compactions. */
        if (w->t == 0 && i % 40 == 39 && sw__ledger_compact(l) != SW_OK)
            abort();
        if (o->kind == L_XFER)
            o->rc = sw_ledger_transfer(l, o->from, o->to, o->amount);
        else if (o->kind == L_DEPOSIT)
            o->rc = sw_ledger_deposit(l, o->from, o->amount);
        else
            o->rc = sw_ledger_withdraw(l, o->from, o->amount);
        if (o->rc != SW_OK && o->rc != SW_EFUNDS && o->rc != SW_EINVAL) {
            fprintf(stderr, "crash_states: ledger op %zu of thread %u: %s\n", i, w->t,
                    sw_strerror(o->rc));
            abort();
        }
        record_ack(w->t, i);
    }
    return NULL;
}

/* Adds op o's effect, if it took effect, to the balances (index id - 1). */
static void lop_apply(const struct lop *o, int64_t *bal)
{
    if (o->rc != SW_OK)
        return;
    if (o->kind == L_XFER) {
        bal[o->from - 1] -= o->amount;
        bal[o->to - 1] += o->amount;
    } else {
        bal[o->from - 1] += o->kind == L_DEPOSIT ? o->amount : -o->amount;
    }
}

/* ---- the files: what is durable and what is pending ---------------------------- */

struct buf {
    uint8_t *p;
    size_t len;
};

static void buf_set_len(struct buf *b, size_t len)
{
    if (len > b->len) {
        b->p = realloc(b->p, len ? len : 1);
        if (!b->p)
            abort();
        memset(b->p + b->len, 0, len - b->len);
    }
    b->len = len;
}

static void buf_write(struct buf *b, uint64_t off, const void *data, size_t len)
{
    if (off + len > b->len)
        buf_set_len(b, (size_t)(off + len));
    memcpy(b->p + off, data, len);
}

/* A file (an inode): its durable content and the changes since. */
struct file {
    struct buf durable;
    const struct tev **ops; /* WRITE and TRUNCATE events after durable, in order */
    size_t nops, capops;
    size_t sync_mark; /* ops made durable by the fdatasync in progress */
    /* Ops answered per thread when the fdatasync in progress began, and
     * when the last completed one began: those are in the file for sure. */
    size_t start_acked[THREADS], sync_acked[THREADS];
};

/* A name change of the directory not yet made durable. */
struct dirop {
    enum { D_CREATE, D_RENAME, D_UNLINK } kind;
    char a[64], b[64];
    int file;
};

#define MAX_FILES 256
#define MAX_NAMES 64

struct name {
    char name[64];
    int file;
};

struct model {
    struct file files[MAX_FILES];
    int nfiles;
    struct name durable[MAX_NAMES]; /* the directory as of its last fsync */
    int ndurable;
    struct dirop pend[MAX_NAMES];
    int npend;
    int fd_file[MAX_FD];
};

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static void apply_op(struct buf *b, const struct tev *e)
{
    if (e->io.op == SW__IO_WRITE)
        buf_write(b, e->io.off, e->io.data, e->io.len);
    else
        buf_set_len(b, (size_t)e->io.off);
}

/* The directory after the first n pending changes. */
static int names_after(const struct model *m, int n, struct name *out)
{
    int k = m->ndurable;
    memcpy(out, m->durable, (size_t)k * sizeof *out);
    for (int i = 0; i < n; i++) {
        const struct dirop *d = &m->pend[i];
        int at = -1;
        for (int j = 0; j < k; j++)
            if (strcmp(out[j].name, d->a) == 0)
                at = j;
        if (d->kind == D_CREATE) {
            if (at < 0) {
                at = k++;
                snprintf(out[at].name, sizeof out[at].name, "%s", d->a);
            }
            out[at].file = d->file;
        } else if (at >= 0) {
            int file = out[at].file;
            out[at] = out[--k];
            if (d->kind == D_RENAME) {
                int to = -1;
                for (int j = 0; j < k; j++)
                    if (strcmp(out[j].name, d->b) == 0)
                        to = j;
                if (to < 0) {
                    to = k++;
                    snprintf(out[to].name, sizeof out[to].name, "%s", d->b);
                }
                out[to].file = file;
            }
        }
    }
    return k;
}

static int file_of_name(const struct model *m, const char *name)
{
    struct name cur[MAX_NAMES];
    int n = names_after(m, m->npend, cur);
    for (int i = 0; i < n; i++)
        if (strcmp(cur[i].name, name) == 0)
            return cur[i].file;
    return -1;
}

static int new_file(struct model *m)
{
    assert_true(m->nfiles < MAX_FILES);
    memset(&m->files[m->nfiles], 0, sizeof m->files[0]);
    return m->nfiles++;
}

static void push_dirop(struct model *m, struct dirop d)
{
    assert_true(m->npend < MAX_NAMES);
    m->pend[m->npend++] = d;
}

/* Advances the model over one recorded event; acked: the ops answered
 * so far. */
static void model_step(struct model *m, const struct tev *e, const size_t acked[THREADS])
{
    if (e->type != EV_IO)
        return;
    const sw__io_event *io = &e->io;
    struct file *f = io->fd >= 0 && io->fd < MAX_FD && m->fd_file[io->fd] >= 0
                         ? &m->files[m->fd_file[io->fd]]
                         : NULL;
    switch (io->op) {
    case SW__IO_OPEN: {
        const char *name = base_name(io->path);
        int file = file_of_name(m, name);
        if (file < 0) {
            file = new_file(m);
            struct dirop d = {.kind = D_CREATE, .file = file};
            snprintf(d.a, sizeof d.a, "%s", name);
            push_dirop(m, d);
        }
        assert_true(io->fd >= 0 && io->fd < MAX_FD);
        m->fd_file[io->fd] = file;
        break;
    }
    case SW__IO_WRITE:
    case SW__IO_TRUNCATE:
        assert_non_null(f);
        if (f->nops == f->capops) {
            f->capops = f->capops ? f->capops * 2 : 64;
            f->ops = realloc(f->ops, f->capops * sizeof *f->ops);
            assert_non_null(f->ops);
        }
        f->ops[f->nops++] = e;
        break;
    case SW__IO_SYNC_START:
        assert_non_null(f);
        f->sync_mark = f->nops;
        memcpy(f->start_acked, acked, sizeof f->start_acked);
        break;
    case SW__IO_DATASYNC:
        assert_non_null(f);
        for (size_t i = 0; i < f->sync_mark; i++)
            apply_op(&f->durable, f->ops[i]);
        memmove(f->ops, f->ops + f->sync_mark, (f->nops - f->sync_mark) * sizeof *f->ops);
        f->nops -= f->sync_mark;
        f->sync_mark = 0;
        memcpy(f->sync_acked, f->start_acked, sizeof f->sync_acked);
        break;
    case SW__IO_RENAME: {
        struct dirop d = {.kind = D_RENAME};
        snprintf(d.a, sizeof d.a, "%s", base_name(io->path));
        snprintf(d.b, sizeof d.b, "%s", base_name(io->path2));
        push_dirop(m, d);
        break;
    }
    case SW__IO_UNLINK: {
        struct dirop d = {.kind = D_UNLINK};
        snprintf(d.a, sizeof d.a, "%s", base_name(io->path));
        push_dirop(m, d);
        break;
    }
    case SW__IO_DIRSYNC:
        m->ndurable = names_after(m, m->npend, m->durable);
        m->npend = 0;
        break;
    }
}

/* ---- crash states ---------------------------------------------------------------- */

/* One file's state after a crash: its first `ops` pending changes, then of
 * the next (a write) the bytes up to `cut` (a file offset), the size
 * extended over the whole write when `extend`. cut == 0: nothing of it.
 * The second mode (`pages`): every pending write, the file `size` bytes
 * long, and bit j of `lost` set for each page (PAGE bytes, counted from the
 * one that holds the durable end) that never reached the disk and reads
 * as zeros, save the durable bytes it holds. */
struct fchoice {
    size_t ops;
    uint64_t cut;
    bool extend;
    bool pages;
    uint64_t lost;
    uint64_t size;
};

static void file_content(const struct file *f, const struct fchoice *c, struct buf *out)
{
    out->len = 0;
    buf_set_len(out, f->durable.len);
    if (f->durable.len)
        memcpy(out->p, f->durable.p, f->durable.len);
    for (size_t i = 0; i < (c->pages ? f->nops : c->ops); i++)
        apply_op(out, f->ops[i]);
    if (c->pages) {
        uint64_t d = f->durable.len, first = d / PAGE * PAGE;
        buf_set_len(out, (size_t)c->size);
        for (unsigned j = 0; j < 64; j++) {
            uint64_t from = first + j * PAGE, to = from + PAGE;
            from = from > d ? from : d;
            to = to < c->size ? to : c->size;
            if (c->lost >> j & 1 && from < to)
                memset(out->p + from, 0, (size_t)(to - from));
        }
        return;
    }
    if (c->cut == 0 || c->ops >= f->nops)
        return;
    const sw__io_event *w = &f->ops[c->ops]->io;
    buf_write(out, w->off, w->data, (size_t)(c->cut - w->off));
    if (c->extend && out->len < w->off + w->len)
        buf_set_len(out, (size_t)(w->off + w->len));
}

/* The states checked at one crash point. */
struct state {
    struct fchoice f[MAX_FILES];
    int dirops;
};

static int g_scratch_n;
static char g_root[64];

/* Writes the state into a fresh directory; returns its path. */
static void materialize(const struct model *m, const struct state *s, char *dir, size_t cap)
{
    snprintf(dir, cap, "%s/s%d", g_root, g_scratch_n++);
    assert_int_equal(mkdir(dir, 0755), 0);
    struct name names[MAX_NAMES];
    int n = names_after(m, s->dirops, names);
    struct buf content = {0};
    for (int i = 0; i < n; i++) {
        file_content(&m->files[names[i].file], &s->f[names[i].file], &content);
        char path[512];
        snprintf(path, sizeof path, "%.400s/%.63s", dir, names[i].name);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, content.p, content.len), (ssize_t)content.len);
        close(fd);
    }
    free(content.p);
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    char path[512];
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(path, sizeof path, "%.200s/%.255s", dir, e->d_name);
            unlink(path);
        }
    closedir(d);
    rmdir(dir);
}

/* The key as stored: stewardd's keys begin with their database's number
 * (0 here). Returns its length. */
static size_t stored_key(unsigned t, unsigned k, char *out, size_t cap)
{
    size_t at = g_kv ? 1 : 0;
    out[0] = 0;
    key_name(t, k, out + at, cap - at);
    return at + strlen(out + at);
}

static unsigned shard_of_key(unsigned t, unsigned k)
{
    char key[KEY_CAP + 1];
    size_t len = stored_key(t, k, key, sizeof key);
    return sw__shard_of(sw__hash(key, len), SHARDS);
}

/* What a key reads as, from the Db or (stewardd's) from its shards: 0
 * absent, v a put of version v; -1 for a value no put of the workload
 * wrote. */
static long read_key(sw_db *db, sw__shard *const *kv, unsigned t, unsigned k)
{
    char key[KEY_CAP + 1], got[800], want[800];
    size_t klen = stored_key(t, k, key, sizeof key), glen = 0;
    int rc;
    if (kv) {
        const void *val;
        int64_t expire;
        uint64_t h = sw__hash(key, klen);
        rc = sw__shard_get(kv[shard_of_key(t, k)], h, key, klen, &val, &glen, &expire);
        if (rc == SW_OK && glen < sizeof got) {
            memcpy(got, val, glen);
            got[glen] = 0;
        }
    } else {
        rc = sw_db_fetch(db, key, klen, got, sizeof got, &glen);
    }
    if (rc == SW_ENOTFOUND)
        return 0;
    unsigned ver = 0;
    if (rc != SW_OK || glen >= sizeof got || sscanf(got, "v%u:", &ver) != 1 || ver == 0)
        return -1;
    size_t n = value_of(t, k, ver, want, sizeof want);
    return glen == n && memcmp(got, want, n) == 0 ? (long)ver : -1;
}

/* Every shard, for is_prefix. */
#define ALL_SHARDS SHARDS

/* Sets key k to version v in want, if k is on shard sh (or sh is
 * ALL_SHARDS), keeping count of the keys where want and got differ. */
static void want_put(long *want, const long *got, size_t *mismatched, unsigned t, unsigned sh,
                     unsigned k, long v)
{
    if (sh != ALL_SHARDS && shard_of_key(t, k) != sh)
        return;
    *mismatched -= want[k] != got[k];
    want[k] = v;
    *mismatched += want[k] != got[k];
}

/* Whether what thread t's keys on shard sh read as is the state after the
 * first p of t's ops, for some p in [lo, hi], counting only their writes
 * on that shard (an MSET's or a RENAME's on each of its keys' shards): a log keeps a
 * prefix of what was written to it, and one thread's ops reach a shard's
 * log in the order the thread made them. lo and hi count t's ops (on any
 * shard) that must be, and that may be, there. sh == ALL_SHARDS: the keys
 * on every shard, all after the same p. */
static bool is_prefix(const long *got, unsigned t, unsigned sh, size_t lo, size_t hi)
{
    long want[MAX_KEYS];
    size_t mismatched = 0;
    for (unsigned k = 0; k < g_nkeys[t]; k++) {
        want[k] = 0;
        mismatched += (sh == ALL_SHARDS || shard_of_key(t, k) == sh) && got[k] != 0;
    }
    for (size_t i = 0;; i++) {
        if (i >= lo && mismatched == 0)
            return true;
        if (i >= hi || i >= g_nops[t])
            return false;
        struct wop op = g_ops[t][i];
        want_put(want, got, &mismatched, t, sh, op.key, op.rename ? 0 : op.ver);
        if (op.pair || op.rename)
            want_put(want, got, &mismatched, t, sh, op.key2, op.ver);
    }
}

/* The two modes of the model (the opening comment): their states are
 * counted apart. */
enum { MODE_PREFIX, MODE_PAGES, MODES };
static const char *const g_mode_name[MODES] = {"prefix", "lost pages"};
static int g_mode;
static long g_states[MODES], g_torn[MODES], g_lost[MODES], g_failed;

/* The torn tails recovery cuts are expected here: count them, quietly,
 * and those it cut as pages lost by a power cut apart. */
static void count_warning(void *ctx, int level, const char *msg)
{
    (void)ctx;
    if (level == SW_LOG_WARN && strstr(msg, "torn tail")) {
        g_torn[g_mode]++;
        g_lost[g_mode] += strstr(msg, "pages lost") != NULL;
    } else {
        fprintf(stderr, "%s\n", msg);
    }
}

static enum sw_fsync g_fsync;

/* The file a state names as shard sh's log. */
static int shard_file(const struct model *m, const struct state *s, unsigned sh)
{
    char want[32];
    snprintf(want, sizeof want, "%s-shard-%04u.log", g_kv ? "kv" : "db", sh);
    struct name names[MAX_NAMES];
    int n = names_after(m, s->dirops, names);
    for (int i = 0; i < n; i++)
        if (strcmp(names[i].name, want) == 0)
            return names[i].file;
    return -1;
}

/* Whether each of thread t's tokens (stewardd's) is at one of its pair's
 * keys: a RENAME is there whole or not at all, so a token is never at
 * both, whatever the policy (a transaction's PARTs are synced before its
 * reply, and each later op waits for that reply); and with always, once
 * its first put is answered, never at neither. (is_prefix says which key
 * and which version; this says what went wrong.) NULL when it holds. */
static const char *check_tokens(const long *got, unsigned t, const size_t acked[THREADS])
{
    static const char *const both[TOKENS] = {
        "a RENAME across shards half done: its token at both keys",
        "a RENAME on one shard half done: its token at both keys"};
    static const char *const neither[TOKENS] = {
        "a RENAME across shards half done: its token at neither key",
        "a RENAME on one shard half done: its token at neither key"};
    for (unsigned j = 0; g_kv && j < TOKENS; j++) {
        bool a = got[g_tok[t][2 * j]] != 0, b = got[g_tok[t][2 * j + 1]] != 0;
        if (a && b)
            return both[j];
        if (!a && !b && g_fsync == SW_FSYNC_ALWAYS && acked[t] > g_tok_made[t][j])
            return neither[j];
    }
    return NULL;
}

/* Checks what the opened Db holds: per thread and shard, a prefix of the
 * thread's ops on that shard that has every op the fsync policy made
 * durable (always: every answered op; everysec: every op answered when the
 * last completed fdatasync of the shard's log began) and at most one op
 * past the answered ones (the one in flight). With always, also one
 * prefix for all of the thread's keys, so that an MSET or a RENAME
 * (stewardd's) is there whole or not at all: the thread's one op in
 * flight is the only one that may be missing, and then from every shard.
 * NULL when it holds. */
static const char *check_db(sw_db *db, sw__shard *const *kv, const struct model *m,
                            const struct state *s, const size_t acked[THREADS])
{
    long got[MAX_KEYS];
    for (unsigned t = 0; t < THREADS; t++) {
        for (unsigned k = 0; k < g_nkeys[t]; k++)
            if ((got[k] = read_key(db, kv, t, k)) < 0)
                return "a value no write of the workload made";
        const char *why = check_tokens(got, t, acked);
        if (why)
            return why;
        for (unsigned sh = 0; sh < SHARDS; sh++) {
            int file = shard_file(m, s, sh);
            if (file < 0)
                return "a shard's log is missing from the state";
            size_t lo = g_fsync == SW_FSYNC_ALWAYS ? acked[t] : m->files[file].sync_acked[t];
            if (!is_prefix(got, t, sh, lo, acked[t] + 1))
                return lo == acked[t] ? "an answered write is lost, or the log is not a prefix"
                                      : "a synced write is lost, or the log is not a prefix";
        }
        if (g_fsync == SW_FSYNC_ALWAYS && !is_prefix(got, t, ALL_SHARDS, acked[t], acked[t] + 1))
            return "half an MSET or RENAME: one shard has its part, the other not";
    }
    return NULL;
}

/* Checks the opened Ledger: no balance below zero; with everysec (only
 * transfers) the total unchanged; with always, the balances exactly those
 * of every answered op plus some of the ops in flight (one per thread),
 * each wholly or not at all. NULL when it holds. */
static const char *check_ledger(sw_ledger *l, const size_t acked[THREADS])
{
    int64_t got[ACCOUNTS], total = 0;
    for (unsigned a = 0; a < ACCOUNTS; a++) {
        if (sw_ledger_balance(l, a + 1, &got[a]) != SW_OK)
            return "an account is missing";
        if (got[a] < 0)
            return "a balance below zero";
        total += got[a];
    }
    if (g_transfers_only)
        return total == (int64_t)ACCOUNTS * OPENING ? NULL : "money created or destroyed";
    for (unsigned subset = 0; subset < 1u << THREADS; subset++) {
        int64_t want[ACCOUNTS];
        for (unsigned a = 0; a < ACCOUNTS; a++)
            want[a] = OPENING;
        bool possible = true;
        for (unsigned t = 0; t < THREADS; t++) {
            for (size_t i = 0; i < acked[t]; i++)
                lop_apply(&g_lops[t][i], want);
            if (subset >> t & 1) {
                possible &= acked[t] < g_nops[t];
                if (possible)
                    lop_apply(&g_lops[t][acked[t]], want);
            }
        }
        if (possible && memcmp(want, got, sizeof want) == 0)
            return NULL;
    }
    return "the balances are not those of the answered ops (and some in flight)";
}

/* Opens the state and checks it against the answers given before the
 * crash point. */
static void check_state(const struct model *m, const struct state *s, const size_t acked[THREADS],
                        size_t point)
{
    char dir[128];
    materialize(m, s, dir, sizeof dir);
    g_states[g_mode]++;
    sw_db *db = NULL;
    sw_ledger *l = NULL;
    int rc;
    const char *why;
    sw__shard *kv[SHARDS] = {0};
    if (g_ledger) {
        sw_ledger_options lo = {.shards = SHARDS, .dir = dir, .fsync = g_fsync};
        rc = sw_ledger_open(&l, &lo);
        why = rc == SW_OK ? check_ledger(l, acked) : "the open refused it";
    } else if (g_kv) { /* as stewardd opens its keys (server.c) */
        char err[256];
        unsigned n = SHARDS;
        uint64_t next;
        rc = sw__datadir_open(dir, "kv", &n, SHARDS, err, sizeof err);
        if (rc == SW_OK)
            rc = sw__shards_open(kv, SHARDS, dir, "kv", g_fsync, &next, err, sizeof err);
        why = rc == SW_OK ? check_db(NULL, kv, m, s, acked) : "the open refused it";
        for (unsigned i = 0; i < SHARDS; i++)
            sw__shard_close(kv[i]);
    } else {
        sw_db_options opts = {.shards = SHARDS, .dir = dir, .fsync = g_fsync};
        rc = sw_db_open(&db, &opts);
        why = rc == SW_OK ? check_db(db, NULL, m, s, acked) : "the open refused it";
    }
    if (l)
        sw_ledger_close(l);
    if (db)
        sw_db_close(db);
    if (why) {
        g_failed++;
        fprintf(stderr, "crash_states: trace point %zu (%s mode): %s; the state is kept in %s\n",
                point, g_mode_name[g_mode], why, dir);
        return;
    }
    remove_dir(dir);
}

/* A hash of what a state puts on disk and what it is checked against, so
 * that a state seen before at the same answers is not checked again. */
static uint64_t state_hash(const struct model *m, const struct state *s,
                           const size_t acked[THREADS])
{
    struct name names[MAX_NAMES];
    int n = names_after(m, s->dirops, names);
    uint64_t h = sw__hash(acked, THREADS * sizeof acked[0]);
    struct buf content = {0};
    for (int i = 0; i < n; i++) {
        file_content(&m->files[names[i].file], &s->f[names[i].file], &content);
        h = h * 31 + sw__hash(names[i].name, strlen(names[i].name));
        h = h * 31 + sw__hash(content.p ? (const void *)content.p : "", content.len);
    }
    free(content.p);
    return h;
}

#define SEEN_BITS 20
static uint64_t *g_seen;

static bool seen_before(uint64_t h)
{
    size_t mask = ((size_t)1 << SEEN_BITS) - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        if (g_seen[i] == h)
            return true;
        if (g_seen[i] == 0) {
            g_seen[i] = h;
            return false;
        }
    }
}

static void try_state(const struct model *m, const struct state *s, const size_t acked[THREADS],
                      size_t point)
{
    uint64_t h = state_hash(m, s, acked) | 1;
    if (seen_before(h))
        return;
    check_state(m, s, acked, point);
}

/* Sampling, for crash points with many changes pending (everysec): every
 * prefix up to g_exhaustive of them, else g_samples of them at random. */
static size_t g_exhaustive = 4, g_samples = 4;
static uint64_t g_rng;

/* The states where file i has its first k changes and part of the write
 * after them: cut at each sector boundary inside it (all of them when
 * every is set, else the first, the last and one at random), with and
 * without the file's size extended over the rest. */
static void try_cuts(const struct model *m, struct state *s, int i, size_t k,
                     const size_t acked[THREADS], size_t point, bool every)
{
    const sw__io_event *w = &m->files[i].ops[k]->io;
    uint64_t first = w->off % SECTOR ? w->off : (w->off / SECTOR + 1) * SECTOR;
    uint64_t cuts = first < w->off + w->len ? (w->off + w->len - 1 - first) / SECTOR + 1 : 0;
    for (uint64_t j = 0; j < cuts; j++) {
        if (!every && j != 0 && j != cuts - 1 && j != rng_next(&g_rng) % cuts)
            continue;
        uint64_t c = j == 0 ? first : (first / SECTOR + j) * SECTOR;
        for (int ext = 0; ext < 2; ext++) {
            s->f[i] = (struct fchoice){.ops = k, .cut = c, .extend = ext};
            try_state(m, s, acked, point);
        }
    }
}

/* Every file wholly as far as the crash point, or wholly durable. */
static void set_all(const struct model *m, struct state *s, bool pending)
{
    for (int i = 0; i < m->nfiles; i++)
        s->f[i] = (struct fchoice){.ops = pending ? m->files[i].nops : 0};
    s->dirops = pending ? m->npend : 0;
}

/* The states of one crash point: all durable; all there; and for each file
 * with changes pending, each prefix of its changes and each sector cut of
 * the first write left out (with and without the size extended), the
 * other files wholly there; and each prefix of the directory's changes. */
static void crash_point(const struct model *m, const size_t acked[THREADS], size_t point)
{
    static struct state s;
    set_all(m, &s, false);
    try_state(m, &s, acked, point);
    set_all(m, &s, true);
    try_state(m, &s, acked, point);
    for (int d = 0; d < m->npend; d++) {
        s.dirops = d;
        try_state(m, &s, acked, point);
    }
    for (int i = 0; i < m->nfiles; i++) {
        const struct file *f = &m->files[i];
        for (size_t k = 0; k < f->nops; k++) {
            /* Every prefix while few changes are pending (always: one
             * batch); past that the newest change in full and a seeded
             * sample of the others. The newest is explored wholly at the
             * crash point right after it, so every write gets every cut. */
            bool newest = k + 1 == f->nops;
            if (f->nops > g_exhaustive && !newest && rng_next(&g_rng) % f->nops >= g_samples)
                continue;
            set_all(m, &s, true);
            s.f[i] = (struct fchoice){.ops = k};
            try_state(m, &s, acked, point);
            if (f->ops[k]->io.op == SW__IO_WRITE)
                try_cuts(m, &s, i, k, acked, point, newest);
        }
    }
}

/* The second mode: any subset of the pages of a file's pending writes on
 * disk. It applies to a file whose pending changes are all writes at or
 * past its durable end (every append of a log; a compaction's file before
 * its first fdatasync has a truncation pending, and is left to the first
 * mode); *end is where they end. */
static bool appends_only(const struct file *f, uint64_t *end)
{
    uint64_t d = f->durable.len, e = d;
    for (size_t k = 0; k < f->nops; k++) {
        const sw__io_event *w = &f->ops[k]->io;
        if (w->op != SW__IO_WRITE || w->off < d)
            return false;
        e = w->off + w->len > e ? w->off + w->len : e;
    }
    *end = e;
    return e > d;
}

/* The states of the second mode for file i at the crash point right after
 * a write to it or an fdatasync of it, the other files wholly there: every
 * subset of the pending pages while there are at most g_page_exhaustive of
 * them, else g_page_samples subsets drawn at random (each page lost with
 * odds 1/2), all with the file as long as its writes; then one subset
 * drawn at random with the size cut at a random sector boundary. The crash
 * points after it, up to the file's next write or fdatasync, give the file
 * the same states and only more answers, which ask nothing more of them:
 * under `always` an answered op is durable, and this mode leaves the
 * durable bytes alone; under everysec the bound that answers set (at most
 * one op past them) only widens. The second mode draws from its own
 * stream, so that the first mode's samples do not depend on it. */
static unsigned g_page_exhaustive = 3;
static size_t g_page_samples = 2;
static uint64_t g_page_rng;

static void crash_point_pages(const struct model *m, int i, const size_t acked[THREADS],
                              size_t point)
{
    static struct state s;
    const struct file *f = &m->files[i];
    uint64_t end;
    if (!appends_only(f, &end))
        return;
    uint64_t d = f->durable.len, pages = (end + PAGE - 1) / PAGE - d / PAGE;
    /* Pages past the 64th always reach the disk (in these workloads no file
     * has that many pending). */
    uint64_t all = pages >= 64 ? UINT64_MAX : (UINT64_C(1) << pages) - 1;
    bool every = pages <= g_page_exhaustive;
    size_t n = every ? (size_t)all + 1 : g_page_samples;
    set_all(m, &s, true);
    for (size_t j = 0; j < n; j++) {
        uint64_t lost = every ? j : rng_next(&g_page_rng) & all;
        s.f[i] = (struct fchoice){.pages = true, .lost = lost, .size = end};
        try_state(m, &s, acked, point);
    }
    uint64_t sectors = (end - 1) / SECTOR - d / SECTOR; /* boundaries in (d, end) */
    if (sectors > 0) {
        uint64_t size = (d / SECTOR + 1 + rng_next(&g_page_rng) % sectors) * SECTOR;
        s.f[i] = (struct fchoice){.pages = true, .lost = rng_next(&g_page_rng) & all, .size = size};
        try_state(m, &s, acked, point);
    }
}

/* ---- the test ------------------------------------------------------------------- */

/* Reads every file of dir into the model as durable, named in the
 * directory (the image the recording starts from). */
static void load_base(struct model *m, const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[512];
        snprintf(path, sizeof path, "%.200s/%.255s", dir, e->d_name);
        int fd = open(path, O_RDONLY);
        assert_true(fd >= 0);
        struct stat st;
        assert_int_equal(fstat(fd, &st), 0);
        int file = new_file(m);
        buf_set_len(&m->files[file].durable, (size_t)st.st_size);
        if (st.st_size)
            assert_int_equal(read(fd, m->files[file].durable.p, (size_t)st.st_size), st.st_size);
        close(fd);
        assert_true(m->ndurable < MAX_NAMES);
        snprintf(m->durable[m->ndurable].name, sizeof m->durable[0].name, "%.63s", e->d_name);
        m->durable[m->ndurable++].file = file;
    }
    closedir(d);
}

/* Stands in for the everysec syncer, which runs once a second: syncs
 * every shard's log (the same call, sw__log_sync, on its own thread) every
 * few hundred microseconds while the workers write. */
struct syncer {
    pthread_t thread;
    sw__log *logs[SHARDS];
    _Atomic bool stop;
    long syncs;
};

static void *syncer_main(void *arg)
{
    struct syncer *y = arg;
    while (!atomic_load(&y->stop)) {
        for (unsigned i = 0; i < SHARDS; i++)
            if (sw__log_sync(y->logs[i]) == SW_OK)
                y->syncs++;
        sleep_us(300);
    }
    return NULL;
}

/* Runs the workers (and with everysec the syncer) to the end. */
static void run_workers(void *obj, void *(*fn)(void *), sw__log *logs[SHARDS], long *syncs)
{
    struct syncer y = {0};
    memcpy(y.logs, logs, sizeof y.logs);
    if (g_fsync == SW_FSYNC_EVERYSEC)
        assert_int_equal(pthread_create(&y.thread, NULL, syncer_main, &y), 0);
    struct worker w[THREADS];
    for (unsigned t = 0; t < THREADS; t++) {
        w[t] = (struct worker){.db = obj, .t = t};
        assert_int_equal(pthread_create(&w[t].thread, NULL, fn, &w[t]), 0);
    }
    for (unsigned t = 0; t < THREADS; t++)
        assert_int_equal(pthread_join(w[t].thread, NULL), 0);
    if (g_fsync == SW_FSYNC_EVERYSEC) {
        atomic_store(&y.stop, true);
        assert_int_equal(pthread_join(y.thread, NULL), 0);
    }
    *syncs = y.syncs;
}

/* Records the workload on a Db with the given policy, and returns its
 * compactions. */
static uint64_t record_db(const char *dir, long *syncs)
{
    sw_db *db = NULL;
    sw_db_options opts = {.shards = SHARDS, .dir = dir, .fsync = g_fsync};
    sw__log_observe(record_io, NULL);
    assert_int_equal(sw_db_open(&db, &opts), SW_OK);
    sw__log *logs[SHARDS];
    for (unsigned i = 0; i < SHARDS; i++) {
        assert_int_equal(sw_owner_call(db->shards[i].owner, no_compact_floor, NULL), SW_OK);
        logs[i] = &db->shards[i].j.log;
    }
    run_workers(db, worker_main, logs, syncs);
    uint64_t compactions = 0;
    for (unsigned i = 0; i < SHARDS; i++)
        compactions += sw__shard_compactions(&db->shards[i]);
    assert_int_equal(sw_db_close(db), SW_OK);
    sw__log_observe(NULL, NULL);
    return compactions;
}

static void base_db(const char *dir)
{
    sw_db *db = NULL;
    sw_db_options opts = {.shards = SHARDS, .dir = dir, .fsync = g_fsync};
    assert_int_equal(sw_db_open(&db, &opts), SW_OK); /* meta and empty logs */
    assert_int_equal(sw_db_close(db), SW_OK);
}

static struct srv_config kv_config(const char *dir)
{
    return (struct srv_config){.port = 0, /* any free one */
                               .bind = "127.0.0.1",
                               .dir = (char *)dir,
                               .fsync = g_fsync,
                               .shards = SHARDS,
                               .maxclients = 64,
                               .obuf_limit = (size_t)1 << 26,
                               .obuf_stall_s = 60,
                               .max_bulk = (size_t)1 << 20,
                               .max_query = (size_t)1 << 26,
                               .protected_mode = true,
                               .hz = 10};
}

static void base_kv(const char *dir)
{
    struct srv_config cfg = kv_config(dir);
    char err[256];
    assert_int_equal(srv_open(&g_srv, &cfg, err, sizeof err), SW_OK); /* meta and empty logs */
    srv_close(&g_srv);
}

static void *server_main(void *arg)
{
    srv_run(arg);
    return NULL;
}

/* Records the workload sent to a stewardd running in this process (so
 * that the observer sees its logs), and returns its compactions. */
static uint64_t record_kv(const char *dir, long *syncs)
{
    struct srv_config cfg = kv_config(dir);
    char err[256];
    sw__log_observe(record_io, NULL);
    assert_int_equal(srv_open(&g_srv, &cfg, err, sizeof err), SW_OK);
    sw__log *logs[SHARDS];
    for (unsigned i = 0; i < SHARDS; i++) {
        struct sw__shard *core = g_srv.shards[i].core;
        core->compact_min = 0; /* before the shard threads start */
        logs[i] = &core->j.log;
    }
    struct sockaddr_in a;
    socklen_t alen = sizeof a;
    assert_int_equal(getsockname(g_srv.lfd, (struct sockaddr *)&a, &alen), 0);
    g_port = ntohs(a.sin_port);
    pthread_t server;
    assert_int_equal(pthread_create(&server, NULL, server_main, &g_srv), 0);
    run_workers(NULL, kv_worker_main, logs, syncs);
    srv_stop(&g_srv);
    assert_int_equal(pthread_join(server, NULL), 0);
    uint64_t compactions = 0;
    for (unsigned i = 0; i < SHARDS; i++)
        compactions += sw__shard_compactions(g_srv.shards[i].core);
    srv_close(&g_srv);
    sw__log_observe(NULL, NULL);
    return compactions;
}

static void base_ledger(const char *dir)
{
    sw_ledger *l = NULL;
    sw_ledger_options opts = {.shards = SHARDS, .dir = dir, .fsync = g_fsync};
    assert_int_equal(sw_ledger_open(&l, &opts), SW_OK);
    for (uint64_t id = 1; id <= ACCOUNTS; id++)
        assert_int_equal(sw_ledger_create(l, id, OPENING), SW_OK);
    assert_int_equal(sw_ledger_close(l), SW_OK);
}

static uint64_t record_ledger(const char *dir, long *syncs)
{
    sw_ledger *l = NULL;
    sw_ledger_options opts = {.shards = SHARDS, .dir = dir, .fsync = g_fsync};
    sw__log_observe(record_io, NULL);
    assert_int_equal(sw_ledger_open(&l, &opts), SW_OK);
    sw__log *logs[SHARDS];
    for (unsigned i = 0; i < SHARDS; i++)
        logs[i] = &l->shards[i].j.log;
    run_workers(l, ledger_worker_main, logs, syncs);
    uint64_t compactions = atomic_load(&l->epoch);
    assert_int_equal(sw_ledger_close(l), SW_OK);
    sw__log_observe(NULL, NULL);
    return compactions;
}

static void reset(void)
{
    for (size_t i = 0; i < g_ntrace; i++) {
        free((void *)g_trace[i].io.path);
        free((void *)g_trace[i].io.path2);
        free((void *)g_trace[i].io.data);
    }
    g_ntrace = 0;
    memset(g_states, 0, sizeof g_states);
    memset(g_torn, 0, sizeof g_torn);
    memset(g_lost, 0, sizeof g_lost);
    g_failed = 0;
    if (g_seen)
        memset(g_seen, 0, ((size_t)1 << SEEN_BITS) * sizeof *g_seen);
    for (unsigned t = 0; t < THREADS; t++) {
        free(g_ops[t]);
        free(g_lops[t]);
        g_ops[t] = NULL;
        g_lops[t] = NULL;
    }
    if (g_ledger)
        plan_ledger();
    else
        plan();
}

enum workload { W_DB, W_LEDGER, W_KV };
static const char *const g_work_name[] = {"db", "ledger", "stewardd"};

static void run(enum workload work, enum sw_fsync fsync, const char *mode)
{
    bool ledger = work == W_LEDGER;
    g_ledger = ledger;
    g_kv = work == W_KV;
    g_transfers_only = ledger && fsync != SW_FSYNC_ALWAYS;
    g_fsync = fsync;
    reset();
    snprintf(g_root, sizeof g_root, "/dev/shm/steward-crash-XXXXXX");
    if (!mkdtemp(g_root)) {
        snprintf(g_root, sizeof g_root, "/tmp/steward-crash-XXXXXX");
        assert_non_null(mkdtemp(g_root));
    }
    char dir[128];
    snprintf(dir, sizeof dir, "%s/recorded", g_root);
    assert_int_equal(mkdir(dir, 0755), 0);
    if (ledger) /* the base image */
        base_ledger(dir);
    else if (g_kv)
        base_kv(dir);
    else
        base_db(dir);

    static struct model m;
    for (int i = 0; i < m.nfiles; i++) {
        free(m.files[i].durable.p);
        free(m.files[i].ops);
    }
    memset(&m, 0, sizeof m);
    memset(m.fd_file, 0xff, sizeof m.fd_file);
    load_base(&m, dir);
    long syncs = 0;
    uint64_t compactions = ledger ? record_ledger(dir, &syncs)
                           : g_kv ? record_kv(dir, &syncs)
                                  : record_db(dir, &syncs);

    sw_set_log(count_warning, NULL);
    if (!g_seen)
        g_seen = calloc((size_t)1 << SEEN_BITS, sizeof *g_seen);
    assert_non_null(g_seen);
    size_t acked[THREADS] = {0};
    for (size_t i = 0; i <= g_ntrace; i++) {
        g_mode = MODE_PREFIX;
        crash_point(&m, acked, i);
        g_mode = MODE_PAGES;
        const sw__io_event *last =
            i > 0 && g_trace[i - 1].type == EV_IO ? &g_trace[i - 1].io : NULL;
        if (last && (last->op == SW__IO_WRITE || last->op == SW__IO_DATASYNC))
            crash_point_pages(&m, m.fd_file[last->fd], acked, i);
        if (i == g_ntrace)
            break;
        const struct tev *e = &g_trace[i];
        if (e->type == EV_ACK)
            acked[e->thread] = e->index + 1;
        model_step(&m, e, acked);
    }
    sw_set_log(NULL, NULL);
    printf("crash_states: %s, appendfsync %s: %zu trace events, %llu compactions, %ld background "
           "syncs, %ld failed\n",
           g_work_name[work], mode, g_ntrace, (unsigned long long)compactions, syncs, g_failed);
    if (g_kv) {
        size_t renames[TOKENS] = {0};
        for (unsigned t = 0; t < THREADS; t++)
            for (size_t i = 0; i < g_nops[t]; i++)
                if (g_ops[t][i].rename)
                    renames[token_of(t, g_ops[t][i].key)]++; /* pair 0 across, pair 1 on one */
        printf("crash_states: %s, appendfsync %s: %zu RENAMEs across shards, %zu on one shard\n",
               g_work_name[work], mode, renames[0], renames[1]);
    }
    for (int k = 0; k < MODES; k++)
        printf("crash_states: %s, appendfsync %s, %s mode: %ld crash states checked (%ld with a "
               "torn tail cut, %ld of them as lost pages)\n",
               g_work_name[work], mode, g_mode_name[k], g_states[k], g_torn[k], g_lost[k]);
    assert_true(compactions >= 1);
    assert_int_equal(g_failed, 0);
    remove_dir(dir);
    rmdir(g_root);
}

static void test_db_always(void **state)
{
    (void)state;
    run(W_DB, SW_FSYNC_ALWAYS, "always");
}

static void test_db_everysec(void **state)
{
    (void)state;
    run(W_DB, SW_FSYNC_EVERYSEC, "everysec");
}

static void test_ledger_always(void **state)
{
    (void)state;
    run(W_LEDGER, SW_FSYNC_ALWAYS, "always");
}

static void test_ledger_everysec(void **state)
{
    (void)state;
    run(W_LEDGER, SW_FSYNC_EVERYSEC, "everysec");
}

static void test_kv_always(void **state)
{
    (void)state;
    run(W_KV, SW_FSYNC_ALWAYS, "always");
}

static void test_kv_everysec(void **state)
{
    (void)state;
    run(W_KV, SW_FSYNC_EVERYSEC, "everysec");
}

int main(int argc, char **argv)
{
    if (argc > 1)
        g_keys = (unsigned)strtoul(argv[1], NULL, 10);
    if (argc > 2)
        g_rounds = (unsigned)strtoul(argv[2], NULL, 10);
    if (argc > 3)
        g_samples = (size_t)strtoul(argv[3], NULL, 10);
    if (argc > 4)
        g_page_samples = (size_t)strtoul(argv[4], NULL, 10);
    if (g_keys < 3 || g_rounds < 2 || g_keys > 1024) {
        fprintf(stderr, "usage: crash_states [KEYS_PER_THREAD 3..1024 [ROUNDS >= 2 [SAMPLES "
                        "[PAGE_SAMPLES]]]]\n");
        return 2;
    }
    seed_init(argc, argv);
    g_rng = seed_stream(1);
    g_page_rng = seed_stream(2);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_db_always),     cmocka_unit_test(test_db_everysec),
        cmocka_unit_test(test_ledger_always), cmocka_unit_test(test_ledger_everysec),
        cmocka_unit_test(test_kv_always),     cmocka_unit_test(test_kv_everysec),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
