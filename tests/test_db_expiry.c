/* Unit tests of the Db's expiry: deadlines, lazy expiry on every access,
 * the active sweep, and deadlines across a reopen of a durable Db. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <cmocka.h>

#include "steward/db.h"
#include "tmpdir.h"

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
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

    int64_t later = now_ms() + 60000;
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
    assert_int_equal(sw_db_expire(db, "k", 1, now_ms() - 1), SW_OK);
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
    /* A margin that a slow (sanitized, loaded) machine still meets. */
    int64_t deadline = now_ms() + 500;
    assert_int_equal(sw_db_store_ex(db, "a", 1, "1", 1, deadline), SW_OK);
    assert_int_equal(sw_db_store_ex(db, "b", 1, "2", 1, deadline), SW_OK);
    assert_int_equal(sw_db_store_ex(db, "c", 1, "3", 1, deadline), SW_OK);
    if (now_ms() < deadline - 1) /* only meaningful while still before it */
        assert_int_equal(sw_db_fetch(db, "a", 1, v, sizeof v, &n), SW_OK);
    while (now_ms() <= deadline)
        sleep_ms(20);
    /* Every call sees the key gone, whether or not the sweep got to it. */
    assert_int_equal(sw_db_fetch(db, "a", 1, v, sizeof v, &n), SW_ENOTFOUND);
    assert_int_equal(sw_db_delete(db, "b", 1), SW_ENOTFOUND);
    assert_int_equal(sw_db_deadline(db, "c", 1, &d), SW_ENOTFOUND);
    assert_int_equal(sw_db_expire(db, "c", 1, 0), SW_ENOTFOUND);
    sw_db_close(db);
}

static void test_active_sweep(void **state)
{
    (void)state;
    sw_db *db;
    assert_int_equal(sw_db_open(&db, NULL), SW_OK);
    char k[16];
    /* Soon, but with a margin that a slow (sanitized, loaded) machine
     * still meets while it stores the keys. */
    int64_t soon = now_ms() + 1000;
    for (int i = 0; i < 2000; i++) {
        int kl = snprintf(k, sizeof k, "k%d", i);
        assert_int_equal(sw_db_store_ex(db, k, (size_t)kl, "x", 1, i % 2 ? soon : 0), SW_OK);
    }
    if (now_ms() < soon - 1) /* only meaningful while still before it */
        assert_int_equal(sw_db_count(db), 2000);
    /* Nobody touches the keys: the sweep alone must remove the expired half. */
    for (int i = 0; i < 400 && sw_db_count(db) != 1000; i++) /* up to 20 s: TSan on a busy box */
        sleep_ms(50);
    assert_int_equal(sw_db_count(db), 1000);
    sw_db_close(db);
}

static void test_deadlines_survive_reopen(void **state)
{
    (void)state;
    sw_db *db;
    sw_db_options opts = {.dir = g_dir, .fsync = SW_FSYNC_ALWAYS};
    assert_int_equal(sw_db_open(&db, &opts), SW_OK);
    int64_t far = now_ms() + 3600000;
    sw_db_store_ex(db, "long", 4, "1", 1, far);
    sw_db_store_ex(db, "short", 5, "2", 1, now_ms() + 50);
    sw_db_store(db, "later", 5, "3", 1);
    sw_db_expire(db, "later", 5, now_ms() + 50);
    sw_db_store(db, "plain", 5, "4", 1);
    sw_db_close(db);
    sleep_ms(80);
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
        cmocka_unit_test(test_deadlines),
        cmocka_unit_test(test_lazy_expiry),
        cmocka_unit_test(test_active_sweep),
        cmocka_unit_test_setup_teardown(test_deadlines_survive_reopen, tmpdir_setup,
                                        tmpdir_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
