/* Stress test of the Db: threads store and fetch at once, each on keys of
 * its own and on keys shared by all. Invariants: a fetch of a thread's own
 * key returns exactly the value that thread stored last (a reply never goes
 * to the wrong caller, and nothing is lost or torn); a fetch of a shared key
 * returns one of the values some thread stored there, whole; the final count
 * is exact.
 *
 * Usage: [STEWARD_SEED=n] stress_db [threads] [operations-per-thread]
 * The seed (printed at the start) picks every operation each thread makes.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "steward/db.h"
#include "support.h"

static int g_threads = 16;
static long g_ops = 20000;

enum { OWN_KEYS = 500, SHARED_KEYS = 64 };

struct worker {
    pthread_t thread;
    sw_db *db;
    int id;
    uint32_t version[OWN_KEYS]; /* what this thread stored last under each own key */
    int bad;
};

/* A value names its writer, key and version, and is padded to a length that
 * depends on them, so a torn or misdirected value cannot pass the check. */
static size_t make_value(char *buf, int writer, int key, uint32_t version)
{
    int n = snprintf(buf, 64, "w%d:k%d:v%u:", writer, key, version);
    size_t len = (size_t)n + (size_t)((writer * 7 + key + (int)version) % 40);
    memset(buf + n, 'a' + writer % 26, len - (size_t)n);
    return len;
}

static size_t own_key(char *buf, int writer, int key)
{
    return (size_t)snprintf(buf, 32, "own:%d:%d", writer, key);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    uint64_t rng = seed_stream((uint64_t)w->id);
    char key[32], val[128], want[128], got[128];
    for (long i = 0; i < g_ops; i++) {
        uint64_t x = rng_next(&rng);
        int k = (int)(x % OWN_KEYS);
        size_t kl = own_key(key, w->id, k), n = 0;
        switch (x >> 60 & 3) {
        case 0: { /* store own */
            size_t vl = make_value(val, w->id, k, ++w->version[k]);
            if (sw_db_store(w->db, key, kl, val, vl) != SW_OK)
                w->bad++;
            break;
        }
        case 1: { /* fetch own: must be exactly our last store */
            int rc = sw_db_fetch(w->db, key, kl, got, sizeof got, &n);
            if (w->version[k] == 0) {
                if (rc != SW_ENOTFOUND)
                    w->bad++;
                break;
            }
            size_t wl = make_value(want, w->id, k, w->version[k]);
            if (rc != SW_OK || n != wl || memcmp(got, want, wl) != 0)
                w->bad++;
            break;
        }
        case 2: { /* store shared */
            int s = (int)((x >> 20) % SHARED_KEYS);
            size_t skl = (size_t)snprintf(key, sizeof key, "shared:%d", s);
            size_t vl = make_value(val, w->id, s, (uint32_t)i);
            if (sw_db_store(w->db, key, skl, val, vl) != SW_OK)
                w->bad++;
            break;
        }
        default: { /* fetch shared: whole, and really for this key */
            int s = (int)((x >> 20) % SHARED_KEYS);
            size_t skl = (size_t)snprintf(key, sizeof key, "shared:%d", s);
            int rc = sw_db_fetch(w->db, key, skl, got, sizeof got - 1, &n);
            if (rc == SW_ENOTFOUND)
                break;
            int writer, kk;
            unsigned version;
            got[n < sizeof got - 1 ? n : sizeof got - 1] = 0;
            if (rc != SW_OK || sscanf(got, "w%d:k%d:v%u:", &writer, &kk, &version) != 3 || kk != s)
                w->bad++;
            else if (n != make_value(want, writer, kk, version) || memcmp(got, want, n) != 0)
                w->bad++;
        }
        }
    }
    return NULL;
}

static void test_concurrent_own_and_shared(void **state)
{
    (void)state;
    sw_db *db;
    assert_int_equal(sw_db_open(&db, NULL), SW_OK);
    struct worker *ws = calloc((size_t)g_threads, sizeof *ws);
    assert_non_null(ws);
    for (int i = 0; i < g_threads; i++) {
        ws[i].db = db;
        ws[i].id = i;
        assert_int_equal(pthread_create(&ws[i].thread, NULL, worker_main, &ws[i]), 0);
    }
    size_t own = 0;
    for (int i = 0; i < g_threads; i++) {
        pthread_join(ws[i].thread, NULL);
        assert_int_equal(ws[i].bad, 0);
        for (int k = 0; k < OWN_KEYS; k++)
            own += ws[i].version[k] != 0;
    }
    /* Every own key that was stored is there with its last value. */
    for (int i = 0; i < g_threads; i++)
        for (int k = 0; k < OWN_KEYS; k++) {
            char key[32], want[128], got[128];
            size_t kl = own_key(key, i, k), n = 0;
            int rc = sw_db_fetch(db, key, kl, got, sizeof got, &n);
            if (!ws[i].version[k]) {
                assert_int_equal(rc, SW_ENOTFOUND);
                continue;
            }
            size_t wl = make_value(want, i, k, ws[i].version[k]);
            assert_int_equal(rc, SW_OK);
            assert_int_equal(n, wl);
            assert_memory_equal(got, want, wl);
        }
    size_t count = sw_db_count(db);
    assert_true(count >= own && count <= own + SHARED_KEYS);
    sw_db_close(db);
    free(ws);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        g_threads = atoi(argv[1]);
    if (argc > 2)
        g_ops = atol(argv[2]);
    if (g_threads < 1 || g_threads > 1024 || g_ops < 1) {
        fprintf(stderr, "usage: [STEWARD_SEED=n] stress_db [threads] [operations per thread]\n");
        return 2;
    }
    seed_init(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concurrent_own_and_shared),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
