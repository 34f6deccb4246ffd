/* Stress test of the Ledger: threads make random transfers among hundreds
 * of accounts on several shards while a checker takes totals and reads
 * balances. Invariants: the total is the same at every moment the checker
 * looks, no balance is ever seen below zero, and at the end each account's
 * balance is its opening balance plus what the successful transfers moved.
 *
 * Usage: [STEWARD_SEED=n] stress_ledger [threads] [transfers-per-thread]
 * The seed (printed at the start) picks every transfer each thread makes.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "steward/account.h"
#include "support.h"

static int g_threads = 8;
static long g_transfers = 20000;

enum { ACCOUNTS = 300, OPENING = 1000 };

struct shared {
    sw_ledger *l;
    _Atomic int64_t delta[ACCOUNTS]; /* what successful transfers moved */
    _Atomic int stop;
};

struct worker {
    pthread_t thread;
    struct shared *sh;
    uint64_t rng; /* this thread's generator: seed_stream(its index) */
    long ok, funds;
    int bad;
};

static void *transfer_main(void *arg)
{
    struct worker *w = arg;
    for (long i = 0; i < g_transfers; i++) {
        uint64_t x = rng_next(&w->rng);
        uint64_t from = x % ACCOUNTS, to = (x >> 20) % ACCOUNTS;
        int64_t amount = 1 + (int64_t)((x >> 40) % 400);
        if (from == to)
            continue;
        int rc = sw_ledger_transfer(w->sh->l, from, to, amount);
        if (rc == SW_OK) {
            atomic_fetch_sub(&w->sh->delta[from], amount);
            atomic_fetch_add(&w->sh->delta[to], amount);
            w->ok++;
        } else if (rc == SW_EFUNDS) {
            w->funds++;
        } else {
            w->bad++;
        }
    }
    return NULL;
}

static void *checker_main(void *arg)
{
    struct worker *w = arg;
    uint64_t id = 0;
    do { /* at least once: on a loaded machine the transfers may all be done first */
        int64_t total = 0, bal = 0;
        uint64_t n = 0;
        if (sw_ledger_total(w->sh->l, &total, &n) != SW_OK ||
            total != (int64_t)ACCOUNTS * OPENING || n != ACCOUNTS)
            w->bad++;
        for (int i = 0; i < 50; i++, id = (id + 1) % ACCOUNTS)
            if (sw_ledger_balance(w->sh->l, id, &bal) != SW_OK || bal < 0)
                w->bad++;
        w->ok++;
    } while (!atomic_load(&w->sh->stop));
    return NULL;
}

static void test_money_conserved(void **state)
{
    (void)state;
    struct shared *sh = calloc(1, sizeof *sh);
    assert_non_null(sh);
    sw_ledger_options opts = {.shards = 7};
    assert_int_equal(sw_ledger_open(&sh->l, &opts), SW_OK);
    for (uint64_t id = 0; id < ACCOUNTS; id++)
        assert_int_equal(sw_ledger_create(sh->l, id, OPENING), SW_OK);
    struct worker *ws = calloc((size_t)g_threads + 1, sizeof *ws);
    assert_non_null(ws);
    for (int i = 0; i < g_threads; i++) {
        ws[i] = (struct worker){.sh = sh, .rng = seed_stream((uint64_t)i)};
        assert_int_equal(pthread_create(&ws[i].thread, NULL, transfer_main, &ws[i]), 0);
    }
    struct worker *checker = &ws[g_threads];
    *checker = (struct worker){.sh = sh};
    assert_int_equal(pthread_create(&checker->thread, NULL, checker_main, checker), 0);
    long ok = 0, funds = 0;
    for (int i = 0; i < g_threads; i++) {
        pthread_join(ws[i].thread, NULL);
        assert_int_equal(ws[i].bad, 0);
        ok += ws[i].ok;
        funds += ws[i].funds;
    }
    atomic_store(&sh->stop, 1);
    pthread_join(checker->thread, NULL);
    assert_int_equal(checker->bad, 0);
    assert_true(checker->ok > 0);
    assert_true(ok > 0);
    printf("transfers: %ld ok, %ld insufficient funds; %ld totals checked\n", ok, funds,
           checker->ok);
    for (uint64_t id = 0; id < ACCOUNTS; id++) {
        int64_t bal;
        assert_int_equal(sw_ledger_balance(sh->l, id, &bal), SW_OK);
        assert_int_equal(bal, OPENING + atomic_load(&sh->delta[id]));
    }
    sw_ledger_close(sh->l);
    free(ws);
    free(sh);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        g_threads = atoi(argv[1]);
    if (argc > 2)
        g_transfers = atol(argv[2]);
    if (g_threads < 1 || g_threads > 1024 || g_transfers < 1) {
        fprintf(stderr, "usage: [STEWARD_SEED=n] stress_ledger [threads] [transfers per thread]\n");
        return 2;
    }
    seed_init(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_money_conserved),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
