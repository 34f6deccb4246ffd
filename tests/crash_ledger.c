/* Crash test of the durable Ledger: a child makes random transfers (across
 * shards and within them) with SW_FSYNC_ALWAYS and reports each
 * acknowledged one to the parent; the parent kills it with SIGKILL at a
 * random moment and reopens the directory. Invariants after every crash:
 * the total is exactly the opening total (no money created or destroyed),
 * and every balance is the previous round's plus the acknowledged
 * transfers, give or take the one transfer that was in flight, which must
 * be wholly applied or not at all.
 *
 * Usage: [STEWARD_SEED=n] crash_ledger [rounds]  (the child: crash_ledger --child DIR SEED)
 * The seed (printed at the start) picks every transfer (each child gets
 * its own seed drawn from it) and when each child is killed.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tmpdir.h"

#include "account/ledger_int.h"
#include "crash_util.h"
#include "steward/account.h"

enum { ACCOUNTS = 40, OPENING = 10000 };

static int g_rounds = 20;
static uint64_t g_rng; /* the parent's generator: seed_stream(0) */

struct xfer {
    uint64_t from, to;
    int64_t amount;
};

static sw_ledger *open_ledger(const char *dir)
{
    sw_ledger *l = NULL;
    sw_ledger_options opts = {.shards = 4, .dir = dir, .fsync = SW_FSYNC_ALWAYS};
    return sw_ledger_open(&l, &opts) == SW_OK ? l : NULL;
}

/* The child: transfer until killed, with transfers drawn from its own
 * generator (rng, a seed the parent drew); after each acknowledged one,
 * tell the parent what it was. */
static int child_main(const char *dir, uint64_t rng)
{
    sw_ledger *l = open_ledger(dir);
    if (!l)
        return 3;
    for (unsigned done = 0;; done++) {
        /* Compact often, so that kills land in and around compactions. */
        if (done % 40 == 39 && sw__ledger_compact(l) != SW_OK)
            return 6;
        uint64_t r = rng_next(&rng);
        struct xfer x = {r % ACCOUNTS, (r >> 16) % ACCOUNTS, 1 + (int64_t)((r >> 32) % 3000)};
        if (x.from == x.to)
            continue;
        int rc = sw_ledger_transfer(l, x.from, x.to, x.amount);
        if (rc == SW_EFUNDS)
            continue;
        if (rc != SW_OK)
            return 4;
        if (write(STDOUT_FILENO, &x, sizeof x) != sizeof x)
            return 5;
    }
}

static void apply_ack(const void *rec, void *ctx)
{
    struct xfer x;
    memcpy(&x, rec, sizeof x);
    int64_t *want = ctx;
    want[x.from] -= x.amount;
    want[x.to] += x.amount;
}

static void test_kill9_conserves_money(void **state)
{
    (void)state;
    char self[4096];
    crash_self(self, sizeof self);
    sw_ledger *l = open_ledger(g_dir);
    assert_non_null(l);
    for (uint64_t id = 0; id < ACCOUNTS; id++)
        assert_int_equal(sw_ledger_create(l, id, OPENING), SW_OK);
    sw_ledger_close(l);

    int64_t want[ACCOUNTS];
    for (int i = 0; i < ACCOUNTS; i++)
        want[i] = OPENING;
    long acked = 0, in_flight_applied = 0;
    for (int round = 0; round < g_rounds; round++) {
        char seed[24];
        snprintf(seed, sizeof seed, "%" PRIu64, rng_next(&g_rng));
        long target = (long)(rng_next(&g_rng) % 300);
        long n = crash_run(self, g_dir, seed, sizeof(struct xfer), target, &g_rng, apply_ack, want);
        assert_true(n >= 0);
        acked += n;

        l = open_ledger(g_dir);
        assert_non_null(l);
        int64_t total;
        uint64_t count;
        assert_int_equal(sw_ledger_total(l, &total, &count), SW_OK);
        assert_int_equal(count, ACCOUNTS);
        assert_int_equal(total, (int64_t)ACCOUNTS * OPENING);
        /* Differences from the model: none, or one whole transfer. */
        int64_t got[ACCOUNTS];
        int off = 0;
        int64_t sum = 0;
        for (uint64_t id = 0; id < ACCOUNTS; id++) {
            assert_int_equal(sw_ledger_balance(l, id, &got[id]), SW_OK);
            assert_true(got[id] >= 0);
            if (got[id] != want[id]) {
                off++;
                sum += got[id] - want[id];
            }
        }
        if (off != 0 && !(off == 2 && sum == 0))
            fail_msg("round %d: %d balances differ from the acknowledged transfers", round, off);
        in_flight_applied += off != 0;
        memcpy(want, got, sizeof want); /* the next round starts from here */
        sw_ledger_close(l);
    }
    printf("%d kills, %ld acknowledged transfers, money conserved; %ld unacknowledged "
           "transfers found wholly applied\n",
           g_rounds, acked, in_flight_applied);
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--child") == 0)
        return child_main(argv[2], (uint64_t)strtoull(argv[3], NULL, 10));
    if (argc > 1)
        g_rounds = atoi(argv[1]);
    if (g_rounds < 1 || argc > 2) {
        fprintf(stderr, "usage: [STEWARD_SEED=n] crash_ledger [rounds]\n");
        return 2;
    }
    seed_init(argc, argv);
    g_rng = seed_stream(0);
    printf("crash_ledger: %d rounds\n", g_rounds);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_kill9_conserves_money, tmpdir_setup, tmpdir_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
