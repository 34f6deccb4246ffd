/* The durable store benchmark: a durable Db's sw_db_store throughput with
 * 1, 8 and 64 client threads in each fsync policy, for bench/run.sh to set
 * beside redis-server with appendonly and the same appendfsync.
 *
 * Usage: bench_durable [duration_ms]   (default 1000; 64 clients: half)
 *
 * Every point opens a Db (default shards) in a fresh directory made by
 * mkdtemp under /tmp, the filesystem redis-server's appendonly file is on in
 * bench/run.sh, stores for the duration, and then checks the data: the Db is
 * closed, reopened (replaying its logs) and must hold the same keys, each
 * with its own value. The directory is removed afterwards. Each result is one
 * "name value" line:
 *   durable.cpus, durable.pool_threads   online CPUs; owner pool threads
 *   durable.shards             the shards of each point's Db (the default)
 *   durable.MODE.N      MODE (always, everysec, no), N client threads each
 *                       storing 16-byte values under random 16-byte keys
 *                       out of NKEYS, stores/s
 *   durable.group_commit   durable.always.64 / durable.always.1: how much
 *                       group commit gains from 64 waiting clients
 * Keys are "key:" and 12 digits, as redis-benchmark -r writes them.
 */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
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

#include "common.h"
#include "steward/db.h"
#include "steward/owner.h"

const char *bench_name = "bench_durable";

enum {
    NKEYS = 100000,   /* the keys a client draws from */
    KLEN = 16,        /* every key's length */
    VLEN = 16,        /* every value's length */
    MAX_CLIENTS = 64, /* the most client threads a point has */
    NCHECK = 4096,    /* keys fetched back after the reopen */
};

static const int CLIENTS[] = {1, 8, 64};

static const struct {
    const char *name;
    enum sw_fsync fsync;
} MODES[] = {
    {"always", SW_FSYNC_ALWAYS},
    {"everysec", SW_FSYNC_EVERYSEC},
    {"no", SW_FSYNC_NO},
};

/* Key i is "key:" and i in 12 digits; its value is "val:" and the same. A
 * store always writes a key's own value, so the reopened Db can be checked. */
static char keys[NKEYS][KLEN], vals[NKEYS][VLEN];

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

/* ---- the data directory ---- */

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Removes dir and everything in it. */
static void remove_tree(const char *dir)
{
    if (nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
        fprintf(stderr, "bench_durable: could not remove %s\n", dir);
}

/* ---- clients: N threads storing until stop ----
 *
 * The main thread sleeps for the duration, raises `stop` and joins the
 * clients; the rate is every store they made over the whole span. A store
 * takes microseconds at least, so each client looks at the flag before
 * every one. */

struct load {
    sw_db *db;                    /* immutable */
    alignas(64) atomic_bool stop; /* set by main, read by the clients */
};

struct client {
    alignas(64) struct load *load;
    uint64_t seed;
    int64_t ops; /* written by the client, read after join */
};

static void *client_main(void *arg)
{
    struct client *c = arg;
    struct load *l = c->load;
    uint64_t s = c->seed;
    int64_t ops = 0;
    /* Relaxed: the flag carries no data; a late look costs one store. */
    while (!atomic_load_explicit(&l->stop, memory_order_relaxed)) {
        size_t k = (size_t)(((bench_xorshift64(&s) >> 32) * NKEYS) >> 32);
        bench_must(sw_db_store(l->db, keys[k], KLEN, vals[k], VLEN), "sw_db_store");
        ops++;
    }
    c->ops = ops;
    return NULL;
}

/* Runs n clients on db for duration_ns; returns stores/s. */
static double store_rate(sw_db *db, int n, int64_t duration_ns)
{
    static struct client clients[MAX_CLIENTS];
    pthread_t threads[MAX_CLIENTS];
    struct load l = {.db = db};
    atomic_init(&l.stop, false);

    int64_t start = bench_now_ns();
    for (int i = 0; i < n; i++) {
        clients[i] = (struct client){.load = &l, .seed = 0x9e3779b97f4a7c15u * (uint64_t)(i + 1)};
        int rc = pthread_create(&threads[i], NULL, client_main, &clients[i]);
        if (rc != 0)
            bench_die("pthread_create", strerror(rc));
    }
    struct timespec d = {duration_ns / 1000000000, duration_ns % 1000000000};
    nanosleep(&d, NULL);
    atomic_store_explicit(&l.stop, true, memory_order_relaxed);
    int64_t ops = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(threads[i], NULL);
        ops += clients[i].ops;
    }
    int64_t end = bench_now_ns();
    return (double)ops * 1e9 / (double)(end - start);
}

/* Reopens the Db in dir, which held count keys when it was closed, and
 * checks that it still does, with their own values. */
static void check_reopen(const char *dir, enum sw_fsync fsync, size_t count)
{
    sw_db *db;
    sw_db_options opts = {.dir = dir, .fsync = fsync};
    bench_must(sw_db_open(&db, &opts), "sw_db_open (reopen)");
    if (sw_db_count(db) != count)
        bench_die("reopen", "the key count changed");
    size_t found = 0;
    for (int i = 0; i < NCHECK; i++) {
        size_t k = (size_t)i * (NKEYS / NCHECK);
        char val[VLEN];
        size_t vlen;
        int rc = sw_db_fetch(db, keys[k], KLEN, val, sizeof val, &vlen);
        if (rc == SW_ENOTFOUND)
            continue;
        bench_must(rc, "sw_db_fetch");
        if (vlen != VLEN || memcmp(val, vals[k], VLEN) != 0)
            bench_die("reopen", "wrong value");
        found++;
    }
    if (found == 0)
        bench_die("reopen", "no stored key found");
    bench_must(sw_db_close(db), "sw_db_close (reopen)");
}

/* The shards of the Db in dir: its shard logs. */
static unsigned shard_logs(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        bench_die("opendir", strerror(errno));
    unsigned n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += strncmp(e->d_name, "db-shard-", 9) == 0;
    closedir(d);
    return n;
}

static unsigned g_shards; /* of the last point's Db, for the report */

/* One point: a fresh Db in its own directory, n clients, stores/s. */
static double run_point(enum sw_fsync fsync, int n, int64_t duration_ns)
{
    char dir[] = "/tmp/steward-bench-durable-XXXXXX";
    if (!mkdtemp(dir))
        bench_die("mkdtemp", strerror(errno));
    sw_db *db;
    sw_db_options opts = {.dir = dir, .fsync = fsync};
    bench_must(sw_db_open(&db, &opts), "sw_db_open");
    g_shards = shard_logs(dir);
    double rate = store_rate(db, n, duration_ns);
    size_t count = sw_db_count(db);
    if (count == 0 || count > NKEYS)
        bench_die("store", "wrong key count after the load");
    bench_must(sw_db_close(db), "sw_db_close");
    check_reopen(dir, fsync, count);
    remove_tree(dir);
    return rate;
}

int main(int argc, char **argv)
{
    int64_t duration_ns = (int64_t)bench_arg(argc, argv, 1, 1000) * 1000000;
    make_keys();
    printf("durable.cpus %ld\n", sysconf(_SC_NPROCESSORS_ONLN));
    printf("durable.pool_threads %u\n", sw_owner_pool_size());
    fflush(stdout);
    double always1 = 0, always64 = 0;
    for (size_t m = 0; m < sizeof MODES / sizeof MODES[0]; m++)
        for (size_t i = 0; i < sizeof CLIENTS / sizeof CLIENTS[0]; i++) {
            int n = CLIENTS[i];
            /* The 64-client points are the slowest to start and stop. */
            double rate =
                run_point(MODES[m].fsync, n, n == MAX_CLIENTS ? duration_ns / 2 : duration_ns);
            printf("durable.%s.%d %.1f\n", MODES[m].name, n, rate);
            fflush(stdout);
            if (MODES[m].fsync == SW_FSYNC_ALWAYS && n == 1)
                always1 = rate;
            if (MODES[m].fsync == SW_FSYNC_ALWAYS && n == MAX_CLIENTS)
                always64 = rate;
        }
    printf("durable.group_commit %.2f\n", always1 > 0 ? always64 / always1 : 0.0);
    printf("durable.shards %u\n", g_shards);
    return 0;
}
