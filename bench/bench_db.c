/* The owner/Db/Account benchmark: steward's Db, Account and owner calls
 * under the loads of the Go peer in bench/peers/go/db, beside a C peer built
 * in here (a hash map under one pthread mutex) and the cache-line floor.
 *
 * Usage: bench_db [duration_ms [runs]]   (defaults: 500 ms, 3 runs)
 *
 * Every measurement runs for duration_ms (the 64-client points for half of
 * it), runs times, and the best run counts. Each result is one "name value"
 * line, with the Go peer's names where it has the same measurement:
 *   db.cpus, db.pool_threads   online CPUs; steward's owner pool threads
 *   db.steward_ops.N           N threads on one Db (sw_db_open(&db, NULL)),
 *                              50/50 sw_db_store / sw_db_fetch of random keys
 *                              out of NKEYS preloaded ones, ops/s
 *   db.steward_sharded_ops.N   the same on a Db of SHARDS_PER_CPU shards per
 *                              CPU (db.sharded_shards)
 *   db.c_mutex_ops.N           the same on the C peer below
 *   db.c_owner_ops.N           the same C map under one owner instead of its
 *                              mutex (sw_owner_call_inline)
 *   acct.steward_ops.N         N threads on one sw_account, deposit, withdraw
 *                              and balance at random, 1:1:1, ops/s
 *   owner.call_ns              one thread's sw_owner_call of a no-op on one
 *                              owner, ns per call
 *   owner.mutex_ns             the same no-op under a pthread mutex lock and
 *                              unlock, ns per call
 *   owner.floor_ns             the cache-line floor (common.h), ns per round
 *                              trip ("nan" with a single CPU)
 *   owner.switch_ns            the switch floor (common.h): ns per switch
 *                              between two threads on one CPU
 * N runs over DB_CLIENTS and ACCT_CLIENTS, which bench/run.sh and the Go
 * peer repeat. Each client draws its ops from its own xorshift64, and checks
 * what it fetches; the Account's final balance is checked against the
 * clients' own sums (money is conserved).
 */
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "steward/account.h"
#include "steward/db.h"
#include "steward/owner.h"

#include "common.h"

const char *bench_name = "bench_db";

enum {
    NKEYS = 100000,   /* keys in the Db, all preloaded */
    KLEN = 16,        /* every key's length */
    VLEN = 16,        /* every value's length */
    STOP_EVERY = 64,  /* ops between two looks at the stop flag */
    BATCH = 1024,     /* owner calls between two reads of the clock */
    MAX_CLIENTS = 64, /* the most client threads a point has */
    /* The second Db's shards per CPU: with callers running their own
     * requests, shards are what lets CPUs work in parallel (see
     * docs/benchmarks.md for the shard counts measured). */
    SHARDS_PER_CPU = 4,
};

static const int DB_CLIENTS[] = {1, 2, 8, 64};
static const int ACCT_CLIENTS[] = {1, 8};

#define OPENING_BALANCE ((int64_t)1000000000000) /* far from 0 and from INT64_MAX */

/* Key i is "key:" and i in 12 digits; its value is "val:" and the same. A
 * store always writes a key's own value, so every fetch can be checked. */
static char keys[NKEYS][KLEN], vals[NKEYS][VLEN];

/* The key an op works on: from the high half of r, as in the Go peer (the
 * low bit says whether a Db op stores). */
static size_t key_of(uint64_t r)
{
    return (size_t)(((r >> 32) * NKEYS) >> 32);
}

static void make_keys(void)
{
    char buf[32];
    for (int i = 0; i < NKEYS; i++) {
        snprintf(buf, sizeof buf, "key:%012d", i);
        memcpy(keys[i], buf, KLEN);
        snprintf(buf, sizeof buf, "val:%012d", i);
        memcpy(vals[i], buf, VLEN);
    }
}

/* ---- the C peer: open addressing under one mutex ----
 *
 * Fixed 16-byte keys and values, linear probing, a power-of-two table kept
 * at most half full, no deletes (the benchmark needs none). A slot's hash is
 * 0 while it is empty; real hashes are never 0. */

struct cslot {
    uint64_t hash;
    char key[KLEN];
    char val[VLEN];
};

struct cmap {
    pthread_mutex_t mu;
    size_t mask;         /* guarded by mu: capacity - 1 */
    size_t count;        /* guarded by mu */
    struct cslot *slots; /* guarded by mu */
};

static uint64_t chash(const char *key)
{
    uint64_t a, b;
    memcpy(&a, key, 8);
    memcpy(&b, key + 8, 8);
    uint64_t h = a ^ (b * 0x9e3779b97f4a7c15u);
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9u; /* splitmix64's finaliser */
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebu;
    h ^= h >> 31;
    return h ? h : 1;
}

/* The slot of key, or the empty slot where it would go. */
static struct cslot *cmap_find(const struct cmap *m, uint64_t h, const char *key)
{
    for (size_t i = h & m->mask;; i = (i + 1) & m->mask) {
        struct cslot *s = &m->slots[i];
        if (s->hash == 0 || (s->hash == h && memcmp(s->key, key, KLEN) == 0))
            return s;
    }
}

static void cmap_alloc(struct cmap *m, size_t cap)
{
    m->slots = calloc(cap, sizeof *m->slots);
    if (!m->slots)
        bench_die("cmap", "out of memory");
    m->mask = cap - 1;
}

static void cmap_grow(struct cmap *m)
{
    struct cslot *old = m->slots;
    size_t cap = m->mask + 1;
    cmap_alloc(m, 2 * cap);
    for (size_t i = 0; i < cap; i++)
        if (old[i].hash)
            *cmap_find(m, old[i].hash, old[i].key) = old[i];
    free(old);
}

static void cmap_init(struct cmap *m)
{
    pthread_mutex_init(&m->mu, NULL);
    m->count = 0;
    cmap_alloc(m, 16);
}

static void cmap_store(struct cmap *m, const char *key, const char *val)
{
    uint64_t h = chash(key);
    pthread_mutex_lock(&m->mu);
    struct cslot *s = cmap_find(m, h, key);
    if (s->hash == 0) {
        if (2 * (m->count + 1) > m->mask + 1) {
            cmap_grow(m);
            s = cmap_find(m, h, key);
        }
        s->hash = h;
        memcpy(s->key, key, KLEN);
        m->count++;
    }
    memcpy(s->val, val, VLEN);
    pthread_mutex_unlock(&m->mu);
}

/* Copies key's value to val; false if there is no such key. */
static bool cmap_fetch(struct cmap *m, const char *key, char *val)
{
    uint64_t h = chash(key);
    pthread_mutex_lock(&m->mu);
    struct cslot *s = cmap_find(m, h, key);
    bool found = s->hash != 0;
    if (found)
        memcpy(val, s->val, VLEN);
    pthread_mutex_unlock(&m->mu);
    return found;
}

static void cmap_destroy(struct cmap *m)
{
    free(m->slots);
    pthread_mutex_destroy(&m->mu);
}

/* ---- the ops: one op of a client, on its target, from its random r ---- */

typedef void (*client_op)(void *target, uint64_t r, int64_t *net);

static void check_value(size_t k, const char *val, size_t vlen)
{
    if (vlen != VLEN || memcmp(val, vals[k], VLEN) != 0)
        bench_die("fetch", "wrong value");
}

static void op_steward_db(void *target, uint64_t r, int64_t *net)
{
    (void)net;
    size_t k = key_of(r);
    if (r & 1) {
        bench_must(sw_db_store(target, keys[k], KLEN, vals[k], VLEN), "sw_db_store");
        return;
    }
    char val[VLEN];
    size_t vlen;
    bench_must(sw_db_fetch(target, keys[k], KLEN, val, sizeof val, &vlen), "sw_db_fetch");
    check_value(k, val, vlen);
}

static void op_c_mutex(void *target, uint64_t r, int64_t *net)
{
    (void)net;
    size_t k = key_of(r);
    if (r & 1) {
        cmap_store(target, keys[k], vals[k]);
        return;
    }
    char val[VLEN];
    if (!cmap_fetch(target, keys[k], val))
        bench_die("cmap_fetch", "key not found");
    check_value(k, val, VLEN);
}

/* The C peer's map under an owner instead of its mutex: the same work, so
 * the two differ only in what serializes it. The request travels inline. */
struct cmap_req {
    const char *key;
    const char *val; /* store: the value; fetch: NULL */
    char out[VLEN];  /* fetch: the value */
    bool found;
};

static void cmap_owner_fn(void *state, void *arg)
{
    struct cmap *m = state;
    struct cmap_req *r = arg;
    uint64_t h = chash(r->key);
    struct cslot *s = cmap_find(m, h, r->key);
    r->found = s->hash != 0;
    if (r->val) /* preloaded: every key is present */
        memcpy(s->val, r->val, VLEN);
    else if (r->found)
        memcpy(r->out, s->val, VLEN);
}

static void op_c_owner(void *target, uint64_t r, int64_t *net)
{
    (void)net;
    size_t k = key_of(r);
    struct cmap_req q = {.key = keys[k], .val = r & 1 ? vals[k] : NULL};
    bench_must(sw_owner_call_inline(target, cmap_owner_fn, &q, sizeof q), "sw_owner_call_inline");
    if (!q.found)
        bench_die("cmap_owner_fn", "key not found");
    if (!q.val)
        check_value(k, q.out, VLEN);
}

/* Deposit, withdraw or balance (1:1:1), 1 cent at a time; *net is what this
 * client has added to the balance. */
static void op_steward_account(void *target, uint64_t r, int64_t *net)
{
    switch ((r >> 32) % 3) {
    case 0:
        bench_must(sw_account_deposit(target, 1), "sw_account_deposit");
        (*net)++;
        break;
    case 1: {
        int rc = sw_account_withdraw(target, 1);
        if (rc == SW_OK)
            (*net)--;
        else if (rc != SW_EFUNDS)
            bench_must(rc, "sw_account_withdraw");
        break;
    }
    default:
        if (sw_account_balance(target) < 0)
            bench_die("sw_account_balance", "negative balance");
    }
}

/* ---- clients: N threads running an op until stop ----
 *
 * The main thread sleeps for the duration, raises `stop` and joins the
 * clients; the rate is every op they made over the whole span, as the
 * buffered loads of bench_chan.c count. */

struct load {
    client_op op;                 /* immutable */
    void *target;                 /* immutable */
    alignas(64) atomic_bool stop; /* set by main, read by the clients */
};

struct client {
    alignas(64) struct load *load;
    uint64_t seed;
    int64_t ops; /* written by the client, read after join */
    int64_t net; /* likewise */
};

static void *client_main(void *arg)
{
    struct client *c = arg;
    struct load *l = c->load;
    uint64_t s = c->seed;
    int64_t net = 0, i;
    for (i = 0;; i++) {
        /* Relaxed: the flag carries no data; a late look costs a few ops. */
        if (i % STOP_EVERY == 0 && atomic_load_explicit(&l->stop, memory_order_relaxed))
            break;
        l->op(l->target, bench_xorshift64(&s), &net);
    }
    c->ops = i;
    c->net = net;
    return NULL;
}

static void spawn(pthread_t *t, void *(*fn)(void *), void *arg)
{
    int rc = pthread_create(t, NULL, fn, arg);
    if (rc != 0)
        bench_die("pthread_create", strerror(rc));
}

/* Runs n clients of op on target for duration_ns; returns ops/s and adds
 * the clients' net to *net. */
static double load_rate(client_op op, void *target, int n, int64_t duration_ns, int64_t *net)
{
    static struct client clients[MAX_CLIENTS];
    pthread_t threads[MAX_CLIENTS];
    struct load l = {.op = op, .target = target};
    atomic_init(&l.stop, false);

    int64_t start = bench_now_ns();
    for (int i = 0; i < n; i++) {
        clients[i] = (struct client){.load = &l, .seed = 0x9e3779b97f4a7c15u * (uint64_t)(i + 1)};
        spawn(&threads[i], client_main, &clients[i]);
    }
    struct timespec d = {duration_ns / 1000000000, duration_ns % 1000000000};
    nanosleep(&d, NULL);
    atomic_store_explicit(&l.stop, true, memory_order_relaxed);
    int64_t ops = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(threads[i], NULL);
        ops += clients[i].ops;
        *net += clients[i].net;
    }
    int64_t end = bench_now_ns();
    return (double)ops * 1e9 / (double)(end - start);
}

/* The best of runs load_rate, printed as "name.n value". */
static void report_rate(const char *name, client_op op, void *target, int n, int64_t duration_ns,
                        long runs, int64_t *net)
{
    if (n == MAX_CLIENTS)
        duration_ns /= 2; /* the slowest points to run: keep the section short */
    double best = 0;
    for (long r = 0; r < runs; r++) {
        double x = load_rate(op, target, n, duration_ns, net);
        if (x > best)
            best = x;
    }
    printf("%s.%d %.1f\n", name, n, best);
    fflush(stdout);
}

/* ---- the owner call round trip ---- */

static void noop(void *state, void *arg)
{
    (void)state;
    (void)arg;
}

static double owner_call_ns(sw_owner *o, int64_t duration_ns)
{
    int64_t calls = 0, start = bench_now_ns(), end;
    do {
        for (int i = 0; i < BATCH; i++, calls++)
            bench_must(sw_owner_call(o, noop, NULL), "sw_owner_call");
        end = bench_now_ns();
    } while (end - start < duration_ns);
    return (double)(end - start) / (double)calls;
}

/* The same no-op through a function pointer, under a pthread mutex: what
 * an uncontended owner call costs beside a lock and an unlock. */
static pthread_mutex_t noop_mu = PTHREAD_MUTEX_INITIALIZER;
static void (*volatile noop_ptr)(void *, void *) = noop;

static double mutex_call_ns(int64_t duration_ns)
{
    static int state;
    int64_t calls = 0, start = bench_now_ns(), end;
    do {
        for (int i = 0; i < BATCH; i++, calls++) {
            pthread_mutex_lock(&noop_mu);
            noop_ptr(&state, NULL);
            pthread_mutex_unlock(&noop_mu);
        }
        end = bench_now_ns();
    } while (end - start < duration_ns);
    return (double)(end - start) / (double)calls;
}

/* ---- driver ---- */

static void bench_db(int64_t duration_ns, long runs)
{
    sw_db *db, *dbs;
    sw_db_options so = {.shards = SHARDS_PER_CPU * (unsigned)sysconf(_SC_NPROCESSORS_ONLN)};
    struct cmap cm;
    sw_owner *co;
    bench_must(sw_db_open(&db, NULL), "sw_db_open");
    bench_must(sw_db_open(&dbs, &so), "sw_db_open");
    cmap_init(&cm);
    bench_must(sw_owner_start(&co, &cm), "sw_owner_start");
    for (int i = 0; i < NKEYS; i++) {
        bench_must(sw_db_store(db, keys[i], KLEN, vals[i], VLEN), "preload");
        bench_must(sw_db_store(dbs, keys[i], KLEN, vals[i], VLEN), "preload");
        cmap_store(&cm, keys[i], vals[i]);
    }
    if (sw_db_count(db) != NKEYS || sw_db_count(dbs) != NKEYS || cm.count != NKEYS)
        bench_die("preload", "wrong key count");
    printf("db.sharded_shards %u\n", so.shards);
    int64_t net = 0;
    for (size_t i = 0; i < sizeof DB_CLIENTS / sizeof DB_CLIENTS[0]; i++) {
        int n = DB_CLIENTS[i];
        report_rate("db.steward_ops", op_steward_db, db, n, duration_ns, runs, &net);
        report_rate("db.steward_sharded_ops", op_steward_db, dbs, n, duration_ns, runs, &net);
        report_rate("db.c_mutex_ops", op_c_mutex, &cm, n, duration_ns, runs, &net);
        report_rate("db.c_owner_ops", op_c_owner, co, n, duration_ns, runs, &net);
    }
    if (sw_db_count(db) != NKEYS || sw_db_count(dbs) != NKEYS)
        bench_die("db", "wrong key count after the load");
    bench_must(sw_db_close(db), "sw_db_close");
    bench_must(sw_db_close(dbs), "sw_db_close");
    sw_owner_free(co);
    cmap_destroy(&cm);
}

static void bench_account(int64_t duration_ns, long runs)
{
    sw_account *a;
    bench_must(sw_account_new(&a, OPENING_BALANCE), "sw_account_new");
    int64_t net = 0;
    for (size_t i = 0; i < sizeof ACCT_CLIENTS / sizeof ACCT_CLIENTS[0]; i++)
        report_rate("acct.steward_ops", op_steward_account, a, ACCT_CLIENTS[i], duration_ns, runs,
                    &net);
    if (sw_account_balance(a) != OPENING_BALANCE + net)
        bench_die("account", "money not conserved");
    sw_account_free(a);
}

/* The lowest of runs measurements of a floor. */
static double lowest_ns(double (*floor_ns)(int64_t), int64_t duration_ns, long runs)
{
    double best = floor_ns(duration_ns);
    for (long r = 1; r < runs; r++) {
        double x = floor_ns(duration_ns);
        if (x < best)
            best = x;
    }
    return best;
}

static void bench_owner(int64_t duration_ns, long runs)
{
    static int state;
    sw_owner *o;
    bench_must(sw_owner_start(&o, &state), "sw_owner_start");
    double best = owner_call_ns(o, duration_ns);
    for (long r = 1; r < runs; r++) {
        double x = owner_call_ns(o, duration_ns);
        if (x < best)
            best = x;
    }
    sw_owner_free(o);
    printf("owner.call_ns %.1f\n", best);
    printf("owner.mutex_ns %.1f\n", lowest_ns(mutex_call_ns, duration_ns, runs));
    printf("owner.floor_ns %.1f\n", lowest_ns(bench_floor_ns, duration_ns, runs));
    printf("owner.switch_ns %.1f\n", lowest_ns(bench_switch_ns, duration_ns, runs));
}

int main(int argc, char **argv)
{
    int64_t duration_ns = (int64_t)bench_arg(argc, argv, 1, 500) * 1000000;
    long runs = bench_arg(argc, argv, 2, 3);
    make_keys();
    printf("db.cpus %ld\n", sysconf(_SC_NPROCESSORS_ONLN));
    printf("db.pool_threads %u\n", sw_owner_pool_size());
    fflush(stdout);
    bench_db(duration_ns, runs);
    bench_account(duration_ns, runs);
    bench_owner(duration_ns, runs);
    return 0;
}
