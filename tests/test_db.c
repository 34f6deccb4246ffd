/* Unit tests of db.h: every status, binary safety, the fetch length
 * contract, big values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "steward/db.h"

static sw_db *open_db(unsigned shards)
{
    sw_db *db = NULL;
    sw_db_options opts = {.shards = shards};
    assert_int_equal(sw_db_open(&db, shards ? &opts : NULL), SW_OK);
    return db;
}

static void test_open_errors(void **state)
{
    (void)state;
    sw_db *db;
    assert_int_equal(sw_db_open(NULL, NULL), SW_EINVAL);
    sw_db_options bad_fsync = {.fsync = (enum sw_fsync)42};
    assert_int_equal(sw_db_open(&db, &bad_fsync), SW_EINVAL);
    assert_null(db);
    sw_db_options huge = {.shards = 5000};
    assert_int_equal(sw_db_open(&db, &huge), SW_EINVAL);
    assert_int_equal(sw_db_close(NULL), SW_EINVAL);
    assert_int_equal(sw_db_count(NULL), 0);
}

static void test_argument_errors(void **state)
{
    (void)state;
    sw_db *db = open_db(0);
    size_t n;
    char buf[4];
    assert_int_equal(sw_db_store(NULL, "k", 1, "v", 1), SW_EINVAL);
    assert_int_equal(sw_db_store(db, NULL, 1, "v", 1), SW_EINVAL);
    assert_int_equal(sw_db_store(db, "k", 1, NULL, 1), SW_EINVAL);
    assert_int_equal(sw_db_fetch(NULL, "k", 1, buf, 4, &n), SW_EINVAL);
    assert_int_equal(sw_db_fetch(db, "k", 1, buf, 4, NULL), SW_EINVAL);
    assert_int_equal(sw_db_fetch(db, NULL, 1, buf, 4, &n), SW_EINVAL);
    assert_int_equal(sw_db_fetch(db, "k", 1, NULL, 4, &n), SW_EINVAL);
    assert_int_equal(sw_db_delete(NULL, "k", 1), SW_EINVAL);
    assert_int_equal(sw_db_delete(db, NULL, 1), SW_EINVAL);
    assert_int_equal(sw_db_count(db), 0); /* nothing was stored */
    sw_db_close(db);
}

static void test_store_fetch_delete(void **state)
{
    (void)state;
    sw_db *db = open_db(3);
    char buf[64];
    size_t n = 999;
    assert_int_equal(sw_db_fetch(db, "id-1", 4, buf, sizeof buf, &n), SW_ENOTFOUND);
    assert_int_equal(n, 999); /* untouched */
    assert_int_equal(sw_db_store(db, "id-3383", 7, "John", 4), SW_OK);
    assert_int_equal(sw_db_store(db, "id-2218", 7, "Ralph", 5), SW_OK);
    assert_int_equal(sw_db_fetch(db, "id-3383", 7, buf, sizeof buf, &n), SW_OK);
    assert_int_equal(n, 4);
    assert_memory_equal(buf, "John", 4);
    assert_int_equal(sw_db_store(db, "id-3383", 7, "Johnny", 6), SW_OK); /* replace */
    assert_int_equal(sw_db_fetch(db, "id-3383", 7, buf, sizeof buf, &n), SW_OK);
    assert_int_equal(n, 6);
    assert_memory_equal(buf, "Johnny", 6);
    assert_int_equal(sw_db_count(db), 2);
    assert_int_equal(sw_db_delete(db, "id-3383", 7), SW_OK);
    assert_int_equal(sw_db_delete(db, "id-3383", 7), SW_ENOTFOUND);
    assert_int_equal(sw_db_fetch(db, "id-3383", 7, buf, sizeof buf, &n), SW_ENOTFOUND);
    assert_int_equal(sw_db_count(db), 1);
    sw_db_close(db);
}

static void test_fetch_length_contract(void **state)
{
    (void)state;
    sw_db *db = open_db(0);
    sw_db_store(db, "k", 1, "0123456789", 10);
    char buf[16];
    memset(buf, '#', sizeof buf);
    size_t n = 0;
    /* cap 0: learn the length, copy nothing. */
    assert_int_equal(sw_db_fetch(db, "k", 1, NULL, 0, &n), SW_OK);
    assert_int_equal(n, 10);
    /* A short buffer gets the first cap bytes and the full length. */
    assert_int_equal(sw_db_fetch(db, "k", 1, buf, 4, &n), SW_OK);
    assert_int_equal(n, 10);
    assert_memory_equal(buf, "0123####", 8);
    sw_db_close(db);
}

static void test_binary_and_empty(void **state)
{
    (void)state;
    sw_db *db = open_db(0);
    const char k1[] = {'a', 0, 'b'}, k2[] = {'a', 0, 'c'};
    const char v1[] = {0, 0, 1, 0};
    char buf[8];
    size_t n;
    assert_int_equal(sw_db_store(db, k1, 3, v1, 4), SW_OK);
    assert_int_equal(sw_db_fetch(db, k2, 3, buf, 8, &n), SW_ENOTFOUND);
    assert_int_equal(sw_db_fetch(db, "a", 1, buf, 8, &n), SW_ENOTFOUND); /* not a C string */
    assert_int_equal(sw_db_fetch(db, k1, 3, buf, 8, &n), SW_OK);
    assert_int_equal(n, 4);
    assert_memory_equal(buf, v1, 4);
    /* The empty key and the empty value are values like any other. */
    assert_int_equal(sw_db_store(db, NULL, 0, "e", 1), SW_OK);
    assert_int_equal(sw_db_store(db, "x", 1, NULL, 0), SW_OK);
    assert_int_equal(sw_db_fetch(db, "", 0, buf, 8, &n), SW_OK);
    assert_int_equal(n, 1);
    n = 99;
    assert_int_equal(sw_db_fetch(db, "x", 1, buf, 8, &n), SW_OK);
    assert_int_equal(n, 0);
    assert_int_equal(sw_db_count(db), 3);
    sw_db_close(db);
}

static void test_big_value(void **state)
{
    (void)state;
    sw_db *db = open_db(0);
    size_t big = 16u << 20;
    unsigned char *v = malloc(big), *out = malloc(big);
    for (size_t i = 0; i < big; i++)
        v[i] = (unsigned char)(i * 131 + (i >> 16));
    assert_int_equal(sw_db_store(db, "big", 3, v, big), SW_OK);
    size_t n = 0;
    assert_int_equal(sw_db_fetch(db, "big", 3, out, big, &n), SW_OK);
    assert_int_equal(n, big);
    assert_memory_equal(out, v, big);
    free(v);
    free(out);
    sw_db_close(db);
}

static void test_many_keys(void **state)
{
    (void)state;
    sw_db *db = open_db(4);
    enum { N = 100000 };
    char key[32], val[32];
    for (int i = 0; i < N; i++) {
        int kl = snprintf(key, sizeof key, "key:%d", i);
        int vl = snprintf(val, sizeof val, "val:%d", i * 7);
        assert_int_equal(sw_db_store(db, key, (size_t)kl, val, (size_t)vl), SW_OK);
    }
    assert_int_equal(sw_db_count(db), N);
    for (int i = 0; i < N; i += 3) {
        int kl = snprintf(key, sizeof key, "key:%d", i);
        int vl = snprintf(val, sizeof val, "val:%d", i * 7);
        char got[32];
        size_t n;
        assert_int_equal(sw_db_fetch(db, key, (size_t)kl, got, sizeof got, &n), SW_OK);
        assert_int_equal(n, (size_t)vl);
        assert_memory_equal(got, val, n);
    }
    sw_db_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_errors),        cmocka_unit_test(test_argument_errors),
        cmocka_unit_test(test_store_fetch_delete), cmocka_unit_test(test_fetch_length_contract),
        cmocka_unit_test(test_binary_and_empty),   cmocka_unit_test(test_big_value),
        cmocka_unit_test(test_many_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
