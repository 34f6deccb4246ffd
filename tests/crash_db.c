/* Crash test of the durable Db: a child process stores keys with
 * SW_FSYNC_ALWAYS and reports each acknowledged store to the parent through
 * a pipe; the parent kills it with SIGKILL at a random moment, reopens the
 * directory and checks that every acknowledged key is back with its value.
 * Many rounds on one directory, so recovery also runs over the remains of
 * earlier crashes (torn tails included).
 *
 * Usage: [STEWARD_SEED=n] crash_db [rounds]     (the child: crash_db --child DIR ROUND)
 * The seed (printed at the start) picks when each child is killed: after
 * how many acknowledgements, and how long a pause after the last one read.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tmpdir.h"

#include "crash_util.h"
#include "steward/db.h"

static int g_rounds = 20;
static uint64_t g_rng; /* the parent's generator: seed_stream(0) */

static size_t key_of(char *buf, int round, uint32_t i)
{
    return (size_t)snprintf(buf, 48, "r%d-k%u", round, i);
}

static size_t value_of(char *buf, int round, uint32_t i)
{
    /* Lengths vary so that records straddle pages and writes at random. */
    int n = snprintf(buf, 32, "v%d-%u-", round, i);
    size_t len = (size_t)n + (i * 37u + (uint32_t)round) % 300;
    memset(buf + n, 'a' + (int)(i % 26), len - (size_t)n);
    return len;
}

enum { SHARDS = 3 }; /* the db's, in the child and in the parent's checks */

/* The child: store until killed; after each acknowledged store, tell the
 * parent its number. */
static int child_main(const char *dir, int round)
{
    sw_db *db;
    sw_db_options opts = {.shards = SHARDS, .dir = dir, .fsync = SW_FSYNC_ALWAYS};
    if (sw_db_open(&db, &opts) != SW_OK)
        return 3;
    char k[48], v[512];
    for (uint32_t i = 0;; i++) {
        size_t kl = key_of(k, round, i), vl = value_of(v, round, i);
        if (sw_db_store(db, k, kl, v, vl) != SW_OK)
            return 4;
        if (write(STDOUT_FILENO, &i, sizeof i) != sizeof i)
            return 5;
    }
}

static void note_ack(const void *rec, void *ctx)
{
    uint32_t i;
    memcpy(&i, rec, sizeof i);
    *(uint32_t *)ctx = i + 1;
}

/* Runs one child for a random number of acknowledgements, kills it, and
 * returns how many stores it acknowledged (numbered 0 .. n-1). */
static uint32_t crash_round(int round, const char *self)
{
    char rs[16];
    snprintf(rs, sizeof rs, "%d", round);
    uint32_t acked = 0;
    long target = (long)(rng_next(&g_rng) % 400);
    long n = crash_run(self, g_dir, rs, sizeof(uint32_t), target, &g_rng, note_ack, &acked);
    assert_true(n >= 0);
    return acked;
}

static void test_kill9_keeps_every_acknowledged_store(void **state)
{
    (void)state;
    char self[4096];
    crash_self(self, sizeof self);
    uint32_t *acked = calloc((size_t)g_rounds, sizeof *acked);
    assert_non_null(acked);
    uint64_t total = 0;
    for (int round = 0; round < g_rounds; round++) {
        acked[round] = crash_round(round, self);
        total += acked[round];
        /* Reopen and check this round and every earlier one. */
        sw_db *db;
        /* The child's count: a child killed before it wrote the meta file
         * leaves none, and the default here would then be recorded. */
        sw_db_options opts = {.shards = SHARDS, .dir = g_dir, .fsync = SW_FSYNC_ALWAYS};
        assert_int_equal(sw_db_open(&db, &opts), SW_OK);
        for (int r = 0; r <= round; r++) {
            char k[48], v[512], got[512];
            for (uint32_t i = 0; i < acked[r]; i++) {
                size_t kl = key_of(k, r, i), vl = value_of(v, r, i), gl = 0;
                int rc = sw_db_fetch(db, k, kl, got, sizeof got, &gl);
                if (rc != SW_OK || gl != vl || memcmp(got, v, vl) != 0)
                    fail_msg("round %d: acknowledged store %u of round %d lost (%s)", round, i, r,
                             sw_strerror(rc));
            }
        }
        sw_db_close(db);
    }
    printf("%d kills, %llu acknowledged stores, every one recovered\n", g_rounds,
           (unsigned long long)total);
    free(acked);
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--child") == 0)
        return child_main(argv[2], atoi(argv[3]));
    if (argc > 1)
        g_rounds = atoi(argv[1]);
    if (g_rounds < 1 || argc > 2) {
        fprintf(stderr, "usage: [STEWARD_SEED=n] crash_db [rounds]\n");
        return 2;
    }
    seed_init(argc, argv);
    g_rng = seed_stream(0);
    printf("crash_db: %d rounds\n", g_rounds);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_kill9_keeps_every_acknowledged_store, tmpdir_setup,
                                        tmpdir_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
