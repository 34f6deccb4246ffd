/* Unit tests of account.h: the Account and the Ledger, every status. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "steward/account.h"

static void test_account_statuses(void **state)
{
    (void)state;
    sw_account *a;
    assert_int_equal(sw_account_new(NULL, 0), SW_EINVAL);
    assert_int_equal(sw_account_new(&a, -1), SW_EINVAL);
    assert_int_equal(sw_account_new(&a, 100), SW_OK);
    assert_int_equal(sw_account_balance(a), 100);
    assert_int_equal(sw_account_deposit(a, 50), SW_OK);
    assert_int_equal(sw_account_deposit(a, 0), SW_EINVAL);
    assert_int_equal(sw_account_deposit(a, -5), SW_EINVAL); /* not a withdrawal */
    assert_int_equal(sw_account_withdraw(a, -5), SW_EINVAL);
    assert_int_equal(sw_account_withdraw(a, 0), SW_EINVAL);
    assert_int_equal(sw_account_balance(a), 150);
    assert_int_equal(sw_account_withdraw(a, 151), SW_EFUNDS);
    assert_int_equal(sw_account_balance(a), 150); /* unchanged */
    assert_int_equal(sw_account_withdraw(a, 150), SW_OK);
    assert_int_equal(sw_account_balance(a), 0);
    assert_int_equal(sw_account_deposit(a, INT64_MAX), SW_OK);
    assert_int_equal(sw_account_deposit(a, 1), SW_EOVERFLOW);
    assert_int_equal(sw_account_balance(a), INT64_MAX); /* unchanged */
    assert_int_equal(sw_account_deposit(NULL, 1), SW_EINVAL);
    assert_int_equal(sw_account_withdraw(NULL, 1), SW_EINVAL);
    assert_int_equal(sw_account_balance(NULL), 0);
    sw_account_free(a);
    sw_account_free(NULL);
    assert_string_equal(sw_strerror(SW_EFUNDS), "insufficient funds");
}

static void test_many_accounts(void **state)
{
    (void)state;
    /* Thousands of accounts alive at once on a few pool threads. */
    enum { N = 5000 };
    sw_account **as = calloc(N, sizeof *as);
    for (int i = 0; i < N; i++)
        assert_int_equal(sw_account_new(&as[i], i), SW_OK);
    for (int i = 0; i < N; i++)
        assert_int_equal(sw_account_deposit(as[i], 1), SW_OK);
    for (int i = 0; i < N; i++)
        assert_int_equal(sw_account_balance(as[i]), i + 1);
    for (int i = 0; i < N; i++)
        sw_account_free(as[i]);
    free(as);
}

static void test_ledger_open_close(void **state)
{
    (void)state;
    sw_ledger *l;
    assert_int_equal(sw_ledger_open(NULL, NULL), SW_EINVAL);
    sw_ledger_options bad = {.fsync = (enum sw_fsync)9};
    assert_int_equal(sw_ledger_open(&l, &bad), SW_EINVAL);
    sw_ledger_options huge = {.shards = 100000};
    assert_int_equal(sw_ledger_open(&l, &huge), SW_EINVAL);
    assert_int_equal(sw_ledger_close(NULL), SW_EINVAL);
    sw_ledger_options three = {.shards = 3};
    assert_int_equal(sw_ledger_open(&l, &three), SW_OK);
    assert_int_equal(sw_ledger_close(l), SW_OK);
}

static void test_ledger_statuses(void **state)
{
    (void)state;
    sw_ledger *l;
    sw_ledger_options opts = {.shards = 4};
    assert_int_equal(sw_ledger_open(&l, &opts), SW_OK);
    int64_t bal = -1;
    assert_int_equal(sw_ledger_create(l, 1, 100), SW_OK);
    assert_int_equal(sw_ledger_create(l, 1, 5), SW_EEXIST);
    assert_int_equal(sw_ledger_balance(l, 1, &bal), SW_OK);
    assert_int_equal(bal, 100); /* the failed create changed nothing */
    assert_int_equal(sw_ledger_create(l, 2, -1), SW_EINVAL);
    assert_int_equal(sw_ledger_balance(l, 2, &bal), SW_ENOTFOUND);
    assert_int_equal(sw_ledger_balance(l, 1, NULL), SW_EINVAL);
    assert_int_equal(sw_ledger_create(l, 2, 0), SW_OK);

    assert_int_equal(sw_ledger_deposit(l, 1, 0), SW_EINVAL);
    assert_int_equal(sw_ledger_deposit(l, 1, -3), SW_EINVAL);
    assert_int_equal(sw_ledger_deposit(l, 99, 3), SW_ENOTFOUND);
    assert_int_equal(sw_ledger_withdraw(l, 99, 3), SW_ENOTFOUND);
    assert_int_equal(sw_ledger_withdraw(l, 1, 101), SW_EFUNDS);
    assert_int_equal(sw_ledger_withdraw(l, 1, 0), SW_EINVAL);
    assert_int_equal(sw_ledger_withdraw(l, 1, 40), SW_OK);
    assert_int_equal(sw_ledger_balance(l, 1, &bal), SW_OK);
    assert_int_equal(bal, 60);

    assert_int_equal(sw_ledger_transfer(l, 1, 1, 5), SW_EINVAL);
    assert_int_equal(sw_ledger_transfer(l, 1, 2, 0), SW_EINVAL);
    assert_int_equal(sw_ledger_transfer(l, 1, 99, 5), SW_ENOTFOUND);
    assert_int_equal(sw_ledger_transfer(l, 99, 1, 5), SW_ENOTFOUND);
    assert_int_equal(sw_ledger_transfer(l, 1, 2, 61), SW_EFUNDS);
    assert_int_equal(sw_ledger_transfer(l, 1, 2, 60), SW_OK);
    assert_int_equal(sw_ledger_balance(l, 1, &bal), SW_OK);
    assert_int_equal(bal, 0);
    assert_int_equal(sw_ledger_balance(l, 2, &bal), SW_OK);
    assert_int_equal(bal, 60);

    int64_t total = 0;
    uint64_t accounts = 0;
    assert_int_equal(sw_ledger_total(l, &total, &accounts), SW_OK);
    assert_int_equal(accounts, 2);
    assert_int_equal(total, 60);

    assert_int_equal(sw_ledger_create(l, 3, INT64_MAX - 10), SW_OK);
    assert_int_equal(sw_ledger_deposit(l, 3, 11), SW_EOVERFLOW);
    assert_int_equal(sw_ledger_transfer(l, 2, 3, 11), SW_EOVERFLOW);
    assert_int_equal(sw_ledger_balance(l, 2, &bal), SW_OK);
    assert_int_equal(bal, 60); /* the failed transfer changed nothing */
    assert_int_equal(sw_ledger_transfer(l, 2, 3, 10), SW_OK);
    assert_int_equal(sw_ledger_balance(l, 3, &bal), SW_OK);
    assert_int_equal(bal, INT64_MAX);
    /* The sum of all balances no longer fits in an int64. */
    assert_int_equal(sw_ledger_total(l, &total, NULL), SW_EOVERFLOW);

    assert_int_equal(sw_ledger_deposit(NULL, 1, 1), SW_EINVAL);
    assert_int_equal(sw_ledger_transfer(NULL, 1, 2, 1), SW_EINVAL);
    assert_int_equal(sw_ledger_create(NULL, 1, 1), SW_EINVAL);
    assert_int_equal(sw_ledger_total(NULL, NULL, NULL), SW_EINVAL);
    assert_int_equal(sw_ledger_close(l), SW_OK);
}

static void test_ledger_transfers_every_pair(void **state)
{
    (void)state;
    /* Ids land on every pair of shards, local and cross-shard alike. */
    sw_ledger *l;
    sw_ledger_options opts = {.shards = 5};
    assert_int_equal(sw_ledger_open(&l, &opts), SW_OK);
    enum { N = 40 };
    for (uint64_t id = 0; id < N; id++)
        assert_int_equal(sw_ledger_create(l, id, 1000), SW_OK);
    for (uint64_t a = 0; a < N; a++)
        for (uint64_t b = 0; b < N; b++)
            if (a != b)
                assert_int_equal(sw_ledger_transfer(l, a, b, 1 + (int64_t)((a + b) % 7)), SW_OK);
    int64_t total;
    assert_int_equal(sw_ledger_total(l, &total, NULL), SW_OK);
    assert_int_equal(total, 1000 * N);
    assert_int_equal(sw_ledger_close(l), SW_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_account_statuses),
        cmocka_unit_test(test_many_accounts),
        cmocka_unit_test(test_ledger_open_close),
        cmocka_unit_test(test_ledger_statuses),
        cmocka_unit_test(test_ledger_transfers_every_pair),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
