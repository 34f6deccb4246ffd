/* Unit tests of the Db's expiry: deadlines, lazy expiry on every access,
 * the active sweep, and deadlines across a reopen of a durable Db.
 *
 * Every deadline is relative to a clock the test sets (sw__wall_ms_set):
 * a test stores keys with deadlines after T0, moves the clock, and asserts
 * exactly what must be gone, with no sleep that hopes a deadline has
 * passed. Only the sweep's ticker runs on real time; its test waits for
 * the sweep, but what the sweep removes is decided by the set clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "base/base.h"
#include "steward/db.h"
#include "support.h"
#include "tmpdir.h"

/* The wall clock while a test runs: 2023-11-14 22:13:20 UTC, in ms. Far
 * from the real time either way, so a deadline made from the real clock by
 * mistake is plainly wrong. */
#define T0 1700000000000LL

static int clock_setup(void **state)
{
    (void)state;
    sw__wall_ms_set(T0);
    return 0;
}

static int clock_teardown(void **state)
{
    (void)state;
    sw__wall_ms_set(0);
    return 0;
}

static int durable_setup(void **state)
{
    return tmpdir_setup(state) == 0 ? clock_setup(state) : -1;
}

static int durable_teardown(void **state)
{
    clock_teardown(state);
    return tmpdir_teardown(state);
}

static void test_deadlines(void **state)
{
    (void)state;
    sw_db *db;
    assert_int_equal(sw_db_open(&db, NULL), SW_OK);
    char v[8];
    size_t n;
    int64_t d = -1;
    assert_int_equal(sw_db_store_ex(db, "k", 1, "v", 1, -5), SW_EINVAL);
    assert_int_equal(sw_db_expire(db, "k", 1, 1), SW_ENOTFOUND); /* absent */
    assert_int_equal(sw_db_expire(db, "k", 1, -1), SW_EINVAL);
    assert_int_equal(sw_db_deadline(db, "k", 1, NULL), SW_EINVAL);
    assert_int_equal(sw_db_deadline(db, "k", 1, &d), SW_ENOTFOUND);

    int64_t later = T0 + 60000;
    assert_int_equal(sw_db_store_ex(db, "k", 1, "v", 1, later), SW_OK);
    assert_int_equal(sw_db_deadline(db, "k", 1, &d), SW_OK);
    assert_int_equal(d, later);
    assert_int_equal(sw_db_expire(db, "k", 1, 0), SW_OK); /* persist */
    assert_int_equal(sw_db_deadline(db, "k", 1, &d), SW_OK);
    assert_int_equal(d, 0);
    assert_int_equal(sw_db_expire(db, "k", 1, later), SW_OK);
    assert_int_equal(sw_db_store(db, "k", 1, "w", 1), SW_OK); /* a plain store clears it */
    assert_int_equal(sw_db_deadline(db, "k", 1, &d), SW_OK);
    assert_int_equal(d, 0);
    /* A deadline already past deletes the key. */
    assert_int_equal(sw_db_expire(db, "k", 1, T0 - 1), SW_OK);
    assert_int_equal(sw_db_fetch(db, "k", 1, v, sizeof v, &n), SW_ENOTFOUND);
    assert_int_equal(sw_db_count(db), 0);
    /* So does a deadline of now: a key is gone from its deadline on. */
    assert_int_equal(sw_db_store(db, "k", 1, "x", 1), SW_OK);
    assert_int_equal(sw_db_expire(db, "k", 1, T0), SW_OK);
    assert_int_equal(sw_db_fetch(db, "k", 1, v, sizeof v, &n), SW_ENOTFOUND);
    assert_int_equal(sw_db_count(db), 0);
    sw_db_close(db);
}

static void test_lazy_expiry(void **state)
{
    (void)state;
    sw_db *db;
    assert_int_equal(sw_db_open(&db, NULL), SW_OK);
    char v[8];
    size_t n;
    int64_t d;
    int64_t deadline = T0 + 500;
    assert_int_equal(sw_db_store_ex(db, "a", 1, "1", 1, deadline), SW_OK);
    assert_int_equal(sw_db_store_ex(db, "b", 1, "2", 1, deadline), SW_OK);
    assert_int_equal(sw_db_store_ex(db, "c", 1, "3", 1, deadline), SW_OK);
    assert_int_equal(sw_db_fetch(db, "a", 1, v, sizeof v, &n), SW_OK);
    /* A millisecond before the deadline every key is still there. */
    sw__wall_ms_set(deadline - 1);
    assert_int_equal(sw_db_fetch(db, "a", 1, v, sizeof v, &n), SW_OK);
    assert_int_equal(sw_db_deadline(db, "b", 1, &d), SW_OK);
    assert_int_equal(d, deadline);
    assert_int_equal(sw_db_deadline(db, "c", 1, &d), SW_OK);
    assert_int_equal(d, deadline);
    sw__wall_ms_set(deadline);
    /* Every call sees the key gone, whether or not the sweep got to it. */
    assert_int_equal(sw_db_fetch(db, "a", 1, v, sizeof v, &n), SW_ENOTFOUND);
    assert_int_equal(sw_db_delete(db, "b", 1), SW_ENOTFOUND);
    assert_int_equal(sw_db_deadline(db, "c", 1, &d), SW_ENOTFOUND);
    assert_int_equal(sw_db_expire(db, "c", 1, 0), SW_ENOTFOUND);
    sw_db_close(db);
}

/* Waits, with a generous bound, for sw_db_count to come down to want: only
 * the sweep (a real-time ticker, ten times a second) lowers it, and TSan
 * on a loaded machine may take seconds per tick. Returns the last count. */
static size_t wait_count(sw_db *db, size_t want)
{
    int64_t give_up = now_ns() + 60 * 1000000000LL;
    size_t n;
    while ((n = sw_db_count(db)) != want && now_ns() < give_up)
        sleep_ms(10);
    return n;
}

static void test_active_sweep(void **state)
{
    (void)state;
    sw_db *db;
    assert_int_equal(sw_db_open(&db, NULL), SW_OK);
    char k[16];
    int64_t soon = T0 + 1000;
    for (int i = 0; i < 2000; i++) {
        int kl = snprintf(k, sizeof k, "k%d", i);
        assert_int_equal(sw_db_store_ex(db, k, (size_t)kl, "x", 1, i % 2 ? soon : 0), SW_OK);
    }
    /* The clock stands before every deadline: whatever the sweep has
     * looked at so far, it removed nothing. */
    assert_int_equal(sw_db_count(db), 2000);
    sw__wall_ms_set(soon);
    /* Nobody touches the keys: the sweep alone must remove the expired half. */
    assert_int_equal(wait_count(db, 1000), 1000);
    /* The survivors are the keys with no deadline. */
    char v[8];
    size_t n;
    for (int i = 0; i < 2000; i++) {
        int kl = snprintf(k, sizeof k, "k%d", i);
        assert_int_equal(sw_db_fetch(db, k, (size_t)kl, v, sizeof v, &n),
                         i % 2 ? SW_ENOTFOUND : SW_OK);
    }
    sw_db_close(db);
}

static void test_deadlines_survive_reopen(void **state)
{
    (void)state;
    sw_db *db;
    sw_db_options opts = {.dir = g_dir, .fsync = SW_FSYNC_ALWAYS};
    assert_int_equal(sw_db_open(&db, &opts), SW_OK);
    int64_t far = T0 + 3600000, near = T0 + 50;
    assert_int_equal(sw_db_store_ex(db, "long", 4, "1", 1, far), SW_OK);
    assert_int_equal(sw_db_store_ex(db, "short", 5, "2", 1, near), SW_OK);
    assert_int_equal(sw_db_store(db, "later", 5, "3", 1), SW_OK);
    assert_int_equal(sw_db_expire(db, "later", 5, near), SW_OK);
    assert_int_equal(sw_db_store(db, "plain", 5, "4", 1), SW_OK);
    assert_int_equal(sw_db_count(db), 4);
    sw_db_close(db);
    /* Down while the two near deadlines pass. */
    sw__wall_ms_set(near + 30);
    assert_int_equal(sw_db_open(&db, &opts), SW_OK);
    int64_t d;
    assert_int_equal(sw_db_deadline(db, "long", 4, &d), SW_OK);
    assert_int_equal(d, far);
    assert_int_equal(sw_db_deadline(db, "plain", 5, &d), SW_OK);
    assert_int_equal(d, 0);
    assert_int_equal(sw_db_deadline(db, "short", 5, &d), SW_ENOTFOUND);
    assert_int_equal(sw_db_deadline(db, "later", 5, &d), SW_ENOTFOUND);
    assert_int_equal(sw_db_count(db), 2); /* recovery dropped the expired keys */
    sw_db_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_deadlines, clock_setup, clock_teardown),
        cmocka_unit_test_setup_teardown(test_lazy_expiry, clock_setup, clock_teardown),
        cmocka_unit_test_setup_teardown(test_active_sweep, clock_setup, clock_teardown),
        cmocka_unit_test_setup_teardown(test_deadlines_survive_reopen, durable_setup,
                                        durable_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
