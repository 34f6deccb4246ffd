/* Unit tests of src/db/table.h: every function and every status it lists,
 * a million keys, colliding hashes, a random workload checked against a
 * simple model, scans across resizes, and allocation failures. The
 * workload's numbers come from the seed (STEWARD_SEED replays a run; see
 * support.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "db/table.h"
#include "support.h"

/* FNV-1a with murmur3's finaliser: a decent hash that needs no library. */
static uint64_t hash_bytes(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ULL;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    return h ^ (h >> 33);
}

/* The random workloads' generator: each test starts it at seed_stream of
 * a number of its own, so one test's numbers do not depend on which tests
 * ran before it. */
static uint64_t rng_state;

static uint64_t rng(void)
{
    return rng_next(&rng_state);
}

static int put_s(sw__table *t, const char *k, const char *v)
{
    return sw__table_put(t, hash_bytes(k, strlen(k)), k, strlen(k), v, strlen(v));
}

/* Asserts that key k holds exactly the bytes v[0 .. vlen). */
static void expect(const sw__table *t, const void *k, size_t klen, const void *v, size_t vlen)
{
    const void *got = NULL;
    size_t glen = 12345;
    assert_int_equal(sw__table_get(t, hash_bytes(k, klen), k, klen, &got, &glen), SW_OK);
    assert_non_null(got);
    assert_int_equal(glen, vlen);
    if (vlen)
        assert_memory_equal(got, v, vlen);
}

static void expect_absent(const sw__table *t, const void *k, size_t klen)
{
    const void *got = NULL;
    size_t glen = 0;
    assert_int_equal(sw__table_get(t, hash_bytes(k, klen), k, klen, &got, &glen), SW_ENOTFOUND);
}

static void test_empty(void **state)
{
    (void)state;
    sw__table t;
    assert_int_equal(sw__table_init(NULL), SW_EINVAL);
    assert_int_equal(sw__table_init(&t), SW_OK);
    assert_int_equal(sw__table_count(&t), 0);
    assert_int_equal(sw__table_memory(&t), 0);
    expect_absent(&t, "a", 1);
    assert_int_equal(sw__table_del(&t, hash_bytes("a", 1), "a", 1), SW_ENOTFOUND);
    assert_int_equal(sw__table_set_expire(&t, 1, "a", 1, 5), SW_ENOTFOUND);
    size_t cur = 0;
    assert_int_equal(sw__table_next(&t, &cur, NULL, NULL, NULL, NULL), SW_ENOTFOUND);
    uint64_t sc = 0;
    sw__table_item items[4];
    size_t n = 99;
    assert_int_equal(sw__table_scan(&t, &sc, items, 4, &n), SW_OK);
    assert_int_equal(n, 0);
    assert_int_equal(sc, 0);
    assert_false(sw__table_rehash(&t, 10));
    assert_true(sw__table_check(&t));
    sw__table_destroy(&t);
    sw__table_destroy(&t); /* harmless twice */
    sw__table_destroy(NULL);
    assert_int_equal(sw__table_count(NULL), 0);
    assert_int_equal(sw__table_memory(NULL), 0);
    assert_false(sw__table_check(NULL));
    assert_false(sw__table_rehash(NULL, 1));
}

static void test_invalid_arguments(void **state)
{
    (void)state;
    sw__table t;
    sw__table_init(&t);
    assert_int_equal(put_s(&t, "k", "v"), SW_OK);
    size_t mem = sw__table_memory(&t);
    const void *v;
    size_t vl;
    int64_t ex;
    assert_int_equal(sw__table_put(NULL, 1, "k", 1, "v", 1), SW_EINVAL);
    assert_int_equal(sw__table_put(&t, 1, NULL, 1, "v", 1), SW_EINVAL);
    assert_int_equal(sw__table_put(&t, 1, "k", 1, NULL, 1), SW_EINVAL);
    assert_int_equal(sw__table_put_ex(&t, 1, "k", 1, "v", 1, -1), SW_EINVAL);
    assert_int_equal(sw__table_get(NULL, 1, "k", 1, &v, &vl), SW_EINVAL);
    assert_int_equal(sw__table_get(&t, 1, NULL, 1, &v, &vl), SW_EINVAL);
    assert_int_equal(sw__table_get(&t, 1, "k", 1, NULL, &vl), SW_EINVAL);
    assert_int_equal(sw__table_get(&t, 1, "k", 1, &v, NULL), SW_EINVAL);
    assert_int_equal(sw__table_get_ex(&t, 1, NULL, 1, &v, &vl, &ex), SW_EINVAL);
    assert_int_equal(sw__table_set_expire(NULL, 1, "k", 1, 1), SW_EINVAL);
    assert_int_equal(sw__table_set_expire(&t, 1, NULL, 1, 1), SW_EINVAL);
    assert_int_equal(sw__table_set_expire(&t, hash_bytes("k", 1), "k", 1, -5), SW_EINVAL);
    assert_int_equal(sw__table_del(NULL, 1, "k", 1), SW_EINVAL);
    assert_int_equal(sw__table_del(&t, 1, NULL, 1), SW_EINVAL);
    assert_int_equal(sw__table_next(NULL, &(size_t){0}, NULL, NULL, NULL, NULL), SW_EINVAL);
    assert_int_equal(sw__table_next(&t, NULL, NULL, NULL, NULL, NULL), SW_EINVAL);
    sw__table_item items[2];
    size_t n;
    uint64_t sc = 0;
    assert_int_equal(sw__table_scan(NULL, &sc, items, 2, &n), SW_EINVAL);
    assert_int_equal(sw__table_scan(&t, NULL, items, 2, &n), SW_EINVAL);
    assert_int_equal(sw__table_scan(&t, &sc, NULL, 2, &n), SW_EINVAL);
    assert_int_equal(sw__table_scan(&t, &sc, items, 0, &n), SW_EINVAL);
    assert_int_equal(sw__table_scan(&t, &sc, items, 2, NULL), SW_EINVAL);
    sc = (uint64_t)UINT32_MAX + 1;
    assert_int_equal(sw__table_scan(&t, &sc, items, 2, &n), SW_EINVAL);
    /* Nothing changed. */
    assert_int_equal(sw__table_count(&t), 1);
    assert_int_equal(sw__table_memory(&t), mem);
    expect(&t, "k", 1, "v", 1);
    assert_true(sw__table_check(&t));
    sw__table_destroy(&t);
}

static void test_put_get_replace_delete(void **state)
{
    (void)state;
    sw__table t;
    sw__table_init(&t);
    assert_int_equal(put_s(&t, "alpha", "1"), SW_OK);
    assert_int_equal(put_s(&t, "beta", "22"), SW_OK);
    assert_int_equal(sw__table_count(&t), 2);
    expect(&t, "alpha", 5, "1", 1);
    expect(&t, "beta", 4, "22", 2);
    expect_absent(&t, "gamma", 5);
    expect_absent(&t, "alph", 4); /* a prefix is another key */

    assert_int_equal(put_s(&t, "alpha", "3"), SW_OK); /* same size: in place */
    expect(&t, "alpha", 5, "3", 1);
    assert_int_equal(put_s(&t, "alpha", "a longer value"), SW_OK);
    expect(&t, "alpha", 5, "a longer value", 14);
    assert_int_equal(sw__table_count(&t), 2);

    assert_int_equal(sw__table_del(&t, hash_bytes("alpha", 5), "alpha", 5), SW_OK);
    assert_int_equal(sw__table_del(&t, hash_bytes("alpha", 5), "alpha", 5), SW_ENOTFOUND);
    expect_absent(&t, "alpha", 5);
    expect(&t, "beta", 4, "22", 2);
    assert_int_equal(sw__table_count(&t), 1);
    /* A wrong hash for a present key does not find it: the caller owns
     * hashing. */
    assert_int_equal(sw__table_del(&t, hash_bytes("beta", 4) + 1, "beta", 4), SW_ENOTFOUND);
    assert_true(sw__table_check(&t));
    sw__table_destroy(&t);
}

static void test_binary_keys(void **state)
{
    (void)state;
    sw__table t;
    sw__table_init(&t);
    static const char k0[] = "a", k1[] = "a\0", k2[] = "a\0\0", k3[] = "\0a";
    const void *keys[] = {k0, k1, k2, k3, ""};
    size_t lens[] = {1, 2, 3, 2, 0};
    static const char vals[][4] = {"v\0a", "\0\0\0", "x", "\0", ""};
    size_t vlens[] = {3, 3, 1, 1, 0};
    for (int i = 0; i < 5; i++)
        assert_int_equal(
            sw__table_put(&t, hash_bytes(keys[i], lens[i]), keys[i], lens[i], vals[i], vlens[i]),
            SW_OK);
    assert_int_equal(sw__table_count(&t), 5);
    for (int i = 0; i < 5; i++)
        expect(&t, keys[i], lens[i], vals[i], vlens[i]);

    /* The empty key, with NULL pointers and zero lengths. */
    uint64_t h0 = hash_bytes("", 0);
    assert_int_equal(sw__table_put(&t, h0, NULL, 0, NULL, 0), SW_OK);
    assert_int_equal(sw__table_count(&t), 5);
    const void *v = NULL;
    size_t vl = 1;
    assert_int_equal(sw__table_get(&t, h0, NULL, 0, &v, &vl), SW_OK);
    assert_non_null(v);
    assert_int_equal(vl, 0);
    assert_int_equal(sw__table_put(&t, h0, NULL, 0, "full", 4), SW_OK);
    expect(&t, "", 0, "full", 4);
    assert_int_equal(sw__table_del(&t, h0, NULL, 0), SW_OK);
    expect_absent(&t, "", 0);
    expect(&t, k1, 2, "\0\0\0", 3);
    assert_true(sw__table_check(&t));
    sw__table_destroy(&t);
}

static void test_large_values(void **state)
{
    (void)state;
    sw__table t;
    sw__table_init(&t);
    size_t big = (size_t)8 << 20;
    unsigned char *v = malloc(big);
    assert_non_null(v);
    for (size_t i = 0; i < big; i++)
        v[i] = (unsigned char)(i * 131 + (i >> 12));
    assert_int_equal(put_s(&t, "small", "x"), SW_OK);
    size_t before = sw__table_memory(&t);
    assert_int_equal(sw__table_put(&t, hash_bytes("big", 3), "big", 3, v, big), SW_OK);
    assert_true(sw__table_memory(&t) >= before + big);
    expect(&t, "big", 3, v, big);

    /* Lengths that need 2- and 4-byte length fields, for keys too. */
    size_t klen = 70000;
    unsigned char *k = malloc(klen);
    assert_non_null(k);
    memset(k, 0, klen);
    k[klen - 1] = 1;
    assert_int_equal(sw__table_put(&t, hash_bytes(k, klen), k, klen, v, 300), SW_OK);
    expect(&t, k, klen, v, 300);
    assert_int_equal(sw__table_put(&t, hash_bytes(k, klen), k, klen, v, 66000), SW_OK);
    expect(&t, k, klen, v, 66000);
    expect_absent(&t, k, klen - 1);

    /* Replace the big value with a small one, then back. */
    assert_int_equal(sw__table_put(&t, hash_bytes("big", 3), "big", 3, v + 5, 10), SW_OK);
    expect(&t, "big", 3, v + 5, 10);
    assert_int_equal(sw__table_put(&t, hash_bytes("big", 3), "big", 3, v, big), SW_OK);
    expect(&t, "big", 3, v, big);
    assert_int_equal(sw__table_del(&t, hash_bytes("big", 3), "big", 3), SW_OK);
    assert_int_equal(sw__table_del(&t, hash_bytes(k, klen), k, klen), SW_OK);
    assert_int_equal(sw__table_memory(&t), before);
    assert_true(sw__table_check(&t));
    free(k);
    free(v);
    sw__table_destroy(&t);
}

/* A value passed back from the table itself (as SET k GET k would). */
static void test_aliased_value(void **state)
{
    (void)state;
    sw__table t;
    sw__table_init(&t);
    uint64_t h = hash_bytes("k", 1);
    assert_int_equal(put_s(&t, "k", "0123456789"), SW_OK);
    const void *v;
    size_t vl;
    assert_int_equal(sw__table_get(&t, h, "k", 1, &v, &vl), SW_OK);
    assert_int_equal(sw__table_put(&t, h, "k", 1, v, vl), SW_OK); /* in place, same bytes */
    expect(&t, "k", 1, "0123456789", 10);
    assert_int_equal(sw__table_get(&t, h, "k", 1, &v, &vl), SW_OK);
    assert_int_equal(sw__table_put(&t, h, "k", 1, (const char *)v + 2, 5), SW_OK); /* new entry */
    expect(&t, "k", 1, "23456", 5);
    /* The key itself may come from the table too. */
    size_t cur = 0;
    const void *key;
    size_t kl;
    assert_int_equal(sw__table_next(&t, &cur, &key, &kl, NULL, NULL), SW_OK);
    assert_int_equal(sw__table_put(&t, h, key, kl, "longer value", 12), SW_OK);
    expect(&t, "k", 1, "longer value", 12);
    assert_true(sw__table_check(&t));
    sw__table_destroy(&t);
}

static void test_expiry(void **state)
{
    (void)state;
    sw__table t;
    sw__table_init(&t);
    uint64_t h = hash_bytes("k", 1);
    const void *v;
    size_t vl;
    int64_t ex = -1;
    assert_int_equal(put_s(&t, "k", "val"), SW_OK);
    size_t plain = sw__table_memory(&t);
    assert_int_equal(sw__table_get_ex(&t, h, "k", 1, &v, &vl, &ex), SW_OK);
    assert_int_equal(ex, 0);
    assert_int_equal(sw__table_get_ex(&t, h, "k", 1, &v, &vl, NULL), SW_OK);

    assert_int_equal(sw__table_set_expire(&t, h, "k", 1, 1700000000123LL), SW_OK);
    assert_int_equal(sw__table_get_ex(&t, h, "k", 1, &v, &vl, &ex), SW_OK);
    assert_int_equal(ex, 1700000000123LL);
    expect(&t, "k", 1, "val", 3);
    assert_true(sw__table_memory(&t) >= plain); /* 8 more bytes, maybe in the same chunk */
    assert_int_equal(sw__table_set_expire(&t, h, "k", 1, 42), SW_OK); /* in place */
    assert_int_equal(sw__table_get_ex(&t, h, "k", 1, &v, &vl, &ex), SW_OK);
    assert_int_equal(ex, 42);

    /* A put with an expiry keeps the new one; a plain put clears it. */
    assert_int_equal(sw__table_put_ex(&t, h, "k", 1, "new", 3, 77), SW_OK);
    assert_int_equal(sw__table_get_ex(&t, h, "k", 1, &v, &vl, &ex), SW_OK);
    assert_int_equal(ex, 77);
    expect(&t, "k", 1, "new", 3);
    assert_int_equal(put_s(&t, "k", "nex"), SW_OK);
    assert_int_equal(sw__table_get_ex(&t, h, "k", 1, &v, &vl, &ex), SW_OK);
    assert_int_equal(ex, 0);
    assert_int_equal(sw__table_memory(&t), plain);

    assert_int_equal(sw__table_set_expire(&t, h, "k", 1, 9), SW_OK);
    assert_int_equal(sw__table_set_expire(&t, h, "k", 1, 0), SW_OK); /* persist */
    assert_int_equal(sw__table_get_ex(&t, h, "k", 1, &v, &vl, &ex), SW_OK);
    assert_int_equal(ex, 0);
    expect(&t, "k", 1, "nex", 3);
    assert_int_equal(sw__table_set_expire(&t, h, "k", 1, 0), SW_OK); /* already none */

    /* The scan reports expiries. */
    assert_int_equal(sw__table_put_ex(&t, hash_bytes("e", 1), "e", 1, "", 0, 5), SW_OK);
    sw__table_item items[4];
    size_t n;
    uint64_t sc = 0;
    int64_t seen = 0;
    do {
        assert_int_equal(sw__table_scan(&t, &sc, items, 4, &n), SW_OK);
        for (size_t i = 0; i < n; i++)
            seen += items[i].expire_ms;
    } while (sc != 0);
    assert_int_equal(seen, 5);
    assert_true(sw__table_check(&t));
    sw__table_destroy(&t);
}

/* 16-byte keys and values, as the server's sizing target uses them. */
static void key16(uint32_t i, unsigned char k[16])
{
    memcpy(k, "steward:", 8);
    for (int b = 0; b < 8; b++)
        k[8 + b] = (unsigned char)((uint64_t)i * 0x9e3779b97f4a7c15ULL >> (8 * b));
}

static void val16(uint32_t i, unsigned char v[16])
{
    for (int b = 0; b < 16; b++)
        v[b] = (unsigned char)(i >> (b % 4 * 8)) ^ (unsigned char)b;
}

static size_t heap_in_use(void)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 33)
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
#else
    return 0;
#endif
}

static void test_million(void **state)
{
    (void)state;
    enum { N = 1000000 };
    sw__table t;
    unsigned char k[16], v[16];
    const void *got;
    size_t glen;
    size_t heap0 = heap_in_use();
    sw__table_init(&t);
    for (uint32_t i = 0; i < N; i++) {
        key16(i, k);
        val16(i, v);
        assert_int_equal(sw__table_put(&t, hash_bytes(k, 16), k, 16, v, 16), SW_OK);
    }
    assert_int_equal(sw__table_count(&t), N);
    size_t heap1 = heap_in_use();
    printf("# table: %zu keys of 16 B with 16 B values: %.1f bytes/key by sw__table_memory "
           "(%zu groups%s)",
           sw__table_count(&t), (double)sw__table_memory(&t) / N, t.cur.n,
           t.old.n ? ", resize in progress" : "");
    if (heap1 > heap0)
        printf(", %.1f bytes/key by mallinfo2", (double)(heap1 - heap0) / N);
    printf("\n");

    for (uint32_t i = 0; i < N; i++) {
        key16(i, k);
        val16(i, v);
        assert_int_equal(sw__table_get(&t, hash_bytes(k, 16), k, 16, &got, &glen), SW_OK);
        assert_int_equal(glen, 16);
        assert_memory_equal(got, v, 16);
    }
    for (uint32_t i = 0; i < N; i += 2) {
        key16(i, k);
        assert_int_equal(sw__table_del(&t, hash_bytes(k, 16), k, 16), SW_OK);
    }
    assert_int_equal(sw__table_count(&t), N / 2);
    for (uint32_t i = 0; i < N; i++) {
        key16(i, k);
        int rc = sw__table_get(&t, hash_bytes(k, 16), k, 16, &got, &glen);
        assert_int_equal(rc, i % 2 ? SW_OK : SW_ENOTFOUND);
    }
    assert_true(sw__table_check(&t));
    sw__table_destroy(&t);
}

/* Many different keys with one hash, and hashes that differ only in the high
 * bits (the Db's shard bits), which the table ignores. */
static void run_collisions(uint64_t (*hash_of)(uint32_t), uint32_t n)
{
    sw__table t;
    sw__table_init(&t);
    char k[32], v[32];
    for (uint32_t i = 0; i < n; i++) {
        snprintf(k, sizeof k, "collide-%u", (unsigned)i);
        snprintf(v, sizeof v, "v%u", (unsigned)i);
        assert_int_equal(sw__table_put(&t, hash_of(i), k, strlen(k), v, strlen(v)), SW_OK);
    }
    assert_int_equal(sw__table_count(&t), n);
    assert_true(sw__table_check(&t));
    for (uint32_t i = 0; i < n; i += 2) {
        snprintf(k, sizeof k, "collide-%u", (unsigned)i);
        assert_int_equal(sw__table_del(&t, hash_of(i), k, strlen(k)), SW_OK);
    }
    assert_true(sw__table_check(&t));
    for (uint32_t i = 0; i < n; i++) {
        snprintf(k, sizeof k, "collide-%u", (unsigned)i);
        snprintf(v, sizeof v, "v%u", (unsigned)i);
        const void *got;
        size_t gl;
        int rc = sw__table_get(&t, hash_of(i), k, strlen(k), &got, &gl);
        assert_int_equal(rc, i % 2 ? SW_OK : SW_ENOTFOUND);
        if (rc == SW_OK) {
            assert_int_equal(gl, strlen(v));
            assert_memory_equal(got, v, gl);
        }
    }
    for (uint32_t i = 1; i < n; i += 2) {
        snprintf(k, sizeof k, "collide-%u", (unsigned)i);
        assert_int_equal(sw__table_del(&t, hash_of(i), k, strlen(k)), SW_OK);
    }
    assert_int_equal(sw__table_count(&t), 0);
    assert_true(sw__table_check(&t));
    sw__table_destroy(&t);
}

static uint64_t same_hash(uint32_t i)
{
    (void)i;
    return 0x1234567890abcdefULL;
}

static uint64_t high_bits_only(uint32_t i)
{
    return (uint64_t)(i + 1) << 32 | 0xdeadbeef;
}

static uint64_t few_hashes(uint32_t i)
{
    return hash_bytes(&(uint32_t){i % 3}, sizeof(uint32_t));
}

static void test_colliding_hashes(void **state)
{
    (void)state;
    run_collisions(same_hash, 1500);
    run_collisions(high_bits_only, 1000);
    run_collisions(few_hashes, 1200);
}

/* ---- the model ------------------------------------------------------------ */

enum { MKEYS = 6000 };

struct model {
    uint32_t ver[MKEYS]; /* 0: absent */
    int64_t expire[MKEYS];
    size_t count;
};

static size_t mkey(uint32_t id, unsigned char *buf)
{
    size_t len = 4 + id % 13;
    memcpy(buf, &id, 4);
    for (size_t j = 4; j < len; j++)
        buf[j] = (unsigned char)(id * 31 + j * 7);
    return len;
}

static size_t mval(uint32_t id, uint32_t ver, unsigned char *buf)
{
    size_t len = (id + ver) % 50;
    for (size_t j = 0; j < len; j++)
        buf[j] = (unsigned char)(id ^ (ver * 7 + j));
    return len;
}

/* A quarter of the keys share 16 hashes, to keep collision chains busy. */
static uint64_t mhash(uint32_t id, const unsigned char *k, size_t klen)
{
    return id % 4 == 0 ? (id % 16) * 0x0101010101010101ULL : hash_bytes(k, klen);
}

static void model_verify(const sw__table *t, const struct model *m)
{
    assert_int_equal(sw__table_count(t), m->count);
    unsigned char k[32], v[64];
    for (uint32_t id = 0; id < MKEYS; id++) {
        size_t kl = mkey(id, k);
        const void *got;
        size_t gl;
        int64_t ex;
        int rc = sw__table_get_ex(t, mhash(id, k, kl), k, kl, &got, &gl, &ex);
        if (!m->ver[id]) {
            assert_int_equal(rc, SW_ENOTFOUND);
            continue;
        }
        assert_int_equal(rc, SW_OK);
        size_t vl = mval(id, m->ver[id], v);
        assert_int_equal(gl, vl);
        if (vl)
            assert_memory_equal(got, v, vl);
        assert_int_equal(ex, m->expire[id]);
    }
    assert_true(sw__table_check(t));
}

/* One random operation; put_bias (of 100) says how often it writes. */
static void model_op(sw__table *t, struct model *m, unsigned put_bias)
{
    uint32_t id = (uint32_t)(rng() % MKEYS);
    unsigned char k[32], v[64];
    size_t kl = mkey(id, k);
    uint64_t h = mhash(id, k, kl);
    unsigned r = (unsigned)(rng() % 100);
    if (r < put_bias) {
        uint32_t ver = m->ver[id] + 1;
        int64_t ex = r % 5 == 0 ? (int64_t)(rng() % 1000000) + 1 : 0;
        size_t vl = mval(id, ver, v);
        assert_int_equal(sw__table_put_ex(t, h, k, kl, v, vl, ex), SW_OK);
        m->count += m->ver[id] == 0;
        m->ver[id] = ver;
        m->expire[id] = ex;
    } else if (r < 97) {
        int rc = sw__table_del(t, h, k, kl);
        assert_int_equal(rc, m->ver[id] ? SW_OK : SW_ENOTFOUND);
        m->count -= m->ver[id] != 0;
        m->ver[id] = 0;
    } else {
        int64_t ex = (int64_t)(rng() % 3);
        int rc = sw__table_set_expire(t, h, k, kl, ex);
        assert_int_equal(rc, m->ver[id] ? SW_OK : SW_ENOTFOUND);
        if (m->ver[id])
            m->expire[id] = ex;
    }
    assert_int_equal(sw__table_count(t), m->count);
}

static void test_model(void **state)
{
    (void)state;
    static struct model m;
    memset(&m, 0, sizeof m);
    rng_state = seed_stream(20240611);
    sw__table t;
    sw__table_init(&t);
    /* Grow, shrink, grow again: put-heavy, delete-heavy, then balanced. */
    static const unsigned bias[] = {90, 10, 85, 5, 55};
    for (size_t phase = 0; phase < sizeof bias / sizeof bias[0]; phase++) {
        for (int i = 0; i < 30000; i++) {
            model_op(&t, &m, bias[phase]);
            if (i % 5000 == 4999)
                model_verify(&t, &m);
        }
    }
    model_verify(&t, &m);
    sw__table_destroy(&t);
}

/* ---- iteration ------------------------------------------------------------ */

/* Counts visits per id through sw__table_next; keys are "n<id>". */
static void next_visits(const sw__table *t, unsigned *visits, uint32_t n)
{
    memset(visits, 0, n * sizeof *visits);
    size_t cur = 0;
    const void *k, *v;
    size_t kl, vl;
    while (sw__table_next(t, &cur, &k, &kl, &v, &vl) == SW_OK) {
        uint32_t id;
        assert_int_equal(kl, sizeof id);
        memcpy(&id, k, sizeof id);
        assert_true(id < n);
        assert_int_equal(vl, 1);
        visits[id]++;
    }
    assert_int_equal(sw__table_next(t, &cur, &k, &kl, &v, &vl), SW_ENOTFOUND);
}

static int put_id(sw__table *t, uint32_t id)
{
    return sw__table_put(t, hash_bytes(&id, sizeof id), &id, sizeof id, "x", 1);
}

static int del_id(sw__table *t, uint32_t id)
{
    return sw__table_del(t, hash_bytes(&id, sizeof id), &id, sizeof id);
}

static void test_next_visits_each_once(void **state)
{
    (void)state;
    enum { N = 5000 };
    static unsigned visits[N];
    sw__table t;
    sw__table_init(&t);
    bool saw_resize = false;
    for (uint32_t id = 0; id < N; id++) {
        assert_int_equal(put_id(&t, id), SW_OK);
        if (id % 97 == 0 || (t.old.n && id % 7 == 0)) { /* also while a resize is in progress */
            saw_resize |= t.old.n != 0;
            next_visits(&t, visits, N);
            for (uint32_t j = 0; j < N; j++)
                assert_int_equal(visits[j], j <= id);
        }
    }
    assert_true(saw_resize);
    sw__table_destroy(&t);
}

/* Runs a scan with small batches, calling mutate between batches; returns
 * the number of calls. */
static size_t scan_all(sw__table *t, unsigned *visits, uint32_t n, size_t cap,
                       void (*mutate)(sw__table *, size_t))
{
    sw__table_item items[16];
    uint64_t sc = 0;
    size_t calls = 0;
    memset(visits, 0, n * sizeof *visits);
    do {
        size_t got;
        assert_int_equal(sw__table_scan(t, &sc, items, cap, &got), SW_OK);
        assert_true(got <= cap);
        for (size_t i = 0; i < got; i++) {
            uint32_t id;
            assert_int_equal(items[i].klen, sizeof id);
            memcpy(&id, items[i].key, sizeof id);
            assert_true(id < n);
            visits[id]++;
        }
        if (mutate)
            mutate(t, calls);
        calls++;
    } while (sc != 0);
    return calls;
}

enum { SCAN_N = 40000 };

/* Grows the table: ids from 10000 up are added, 40 per batch. */
static void mutate_grow(sw__table *t, size_t call)
{
    for (uint32_t i = 0; i < 40; i++) {
        uint32_t id = 10000 + (uint32_t)call * 40 + i;
        if (id < SCAN_N)
            assert_int_equal(put_id(t, id), SW_OK);
    }
}

/* Shrinks the table: ids from 1000 up are deleted, 150 per batch. */
static void mutate_shrink(sw__table *t, size_t call)
{
    for (uint32_t i = 0; i < 150; i++) {
        uint32_t id = 1000 + (uint32_t)call * 150 + i;
        if (id < SCAN_N)
            assert_int_equal(del_id(t, id), SW_OK);
    }
}

static void test_scan(void **state)
{
    (void)state;
    static unsigned visits[SCAN_N];
    sw__table t;
    sw__table_init(&t);
    for (uint32_t id = 0; id < 10000; id++)
        assert_int_equal(put_id(&t, id), SW_OK);

    /* Unmodified: exactly once each. */
    scan_all(&t, visits, SCAN_N, 16, NULL);
    for (uint32_t id = 0; id < SCAN_N; id++)
        assert_int_equal(visits[id], id < 10000);

    /* Growing through several resizes: the first 10000 exactly once, the
     * added ones at most once. */
    size_t before = t.cur.n;
    scan_all(&t, visits, SCAN_N, 7, mutate_grow);
    assert_true(t.cur.n > before);
    for (uint32_t id = 0; id < SCAN_N; id++)
        assert_true(id < 10000 ? visits[id] == 1 : visits[id] <= 1);
    for (uint32_t id = 0; id < SCAN_N; id++)
        assert_int_equal(put_id(&t, id), SW_OK);
    assert_int_equal(sw__table_count(&t), SCAN_N);

    /* Shrinking: the first 1000 stay and are seen exactly once. */
    before = t.cur.n;
    scan_all(&t, visits, SCAN_N, 5, mutate_shrink);
    assert_true(t.cur.n < before);
    for (uint32_t id = 0; id < SCAN_N; id++)
        assert_true(id < 1000 ? visits[id] == 1 : visits[id] <= 1);
    assert_true(sw__table_check(&t));
    sw__table_destroy(&t);
}

static void test_scan_overflow(void **state)
{
    (void)state;
    sw__table t;
    sw__table_init(&t);
    for (uint32_t id = 0; id < 20; id++)
        assert_int_equal(sw__table_put(&t, 99, &id, sizeof id, "x", 1), SW_OK);
    sw__table_item items[20];
    size_t n;
    uint64_t sc = 0;
    int rc;
    while ((rc = sw__table_scan(&t, &sc, items, 5, &n)) == SW_OK)
        assert_int_equal(n, 0); /* the empty space before hash 99 */
    assert_int_equal(rc, SW_EOVERFLOW);
    assert_int_equal(n, 20);
    assert_int_equal(sw__table_scan(&t, &sc, items, n, &n), SW_OK);
    assert_int_equal(n, 20);
    sw__table_destroy(&t);
}

/* ---- allocation failures ------------------------------------------------- */

static void test_enomem_basic(void **state)
{
    (void)state;
    sw__table t;
    sw__table_init(&t);
    sw__table_fail_alloc_after(0);
    assert_int_equal(put_s(&t, "k", "v"), SW_ENOMEM); /* the entry */
    assert_int_equal(sw__table_count(&t), 0);
    assert_int_equal(sw__table_memory(&t), 0);
    sw__table_fail_alloc_after(1);
    assert_int_equal(put_s(&t, "k", "v"), SW_ENOMEM); /* the first slot array */
    assert_int_equal(sw__table_memory(&t), 0);
    sw__table_fail_alloc_after(-1);
    assert_int_equal(put_s(&t, "k", "v"), SW_OK);
    assert_int_equal(put_s(&t, "j", "w"), SW_OK);
    size_t mem = sw__table_memory(&t);

    sw__table_fail_alloc_after(0);
    assert_int_equal(put_s(&t, "new", "v"), SW_ENOMEM);
    assert_int_equal(put_s(&t, "k", "a longer value"), SW_ENOMEM);
    expect(&t, "k", 1, "v", 1); /* the old value is still there */
    uint64_t hk = hash_bytes("k", 1);
    assert_int_equal(sw__table_set_expire(&t, hk, "k", 1, 5), SW_ENOMEM);
    assert_int_equal(sw__table_put_ex(&t, hk, "k", 1, "v", 1, 5), SW_ENOMEM);
    int64_t ex = -1;
    const void *v;
    size_t vl;
    assert_int_equal(sw__table_get_ex(&t, hk, "k", 1, &v, &vl, &ex), SW_OK);
    assert_int_equal(ex, 0);
    assert_int_equal(sw__table_count(&t), 2);
    assert_int_equal(sw__table_memory(&t), mem);
    expect_absent(&t, "new", 3);
    sw__table_fail_alloc_after(-1);
    /* Sizes no allocation could hold; the bytes are never read. */
    assert_int_equal(sw__table_put(&t, 7, "k", SIZE_MAX - 2, "v", 1), SW_ENOMEM);
    assert_int_equal(sw__table_put(&t, 7, "k", 1, "v", SIZE_MAX - 8), SW_ENOMEM);
    assert_int_equal(sw__table_put(&t, 7, "k", SIZE_MAX / 2, "v", SIZE_MAX / 2), SW_ENOMEM);
    assert_int_equal(sw__table_count(&t), 2);
    assert_int_equal(sw__table_memory(&t), mem);
    sw__table_fail_alloc_after(0);
    /* What needs no memory still works. */
    assert_int_equal(put_s(&t, "k", "z"), SW_OK);
    expect(&t, "k", 1, "z", 1);
    assert_int_equal(sw__table_del(&t, hash_bytes("j", 1), "j", 1), SW_OK);
    assert_true(sw__table_check(&t));
    sw__table_fail_alloc_after(-1);
    sw__table_destroy(&t);
}

/* When the bigger slot array cannot be had, the table fills its current
 * one to the last slot, then reports SW_ENOMEM, and grows once it can. */
static void test_enomem_growth(void **state)
{
    (void)state;
    sw__table t;
    sw__table_init(&t);
    uint32_t id = 0;
    while (t.cur.n < 50 || t.old.n || t.cur.count < t.cur.n * 6)
        assert_int_equal(put_id(&t, id++), SW_OK);
    size_t n = t.cur.n;
    int rc;
    for (;;) {
        sw__table_fail_alloc_after(1); /* the entry succeeds, the array fails */
        rc = put_id(&t, id);
        if (rc != SW_OK)
            break;
        id++;
        assert_int_equal(t.cur.n, n);
    }
    sw__table_fail_alloc_after(-1);
    assert_int_equal(rc, SW_ENOMEM);
    assert_int_equal(sw__table_count(&t), n * 7); /* every slot used */
    assert_true(sw__table_check(&t));
    for (uint32_t j = 0; j < id; j++)
        expect(&t, &j, sizeof j, "x", 1);
    expect_absent(&t, &id, sizeof id);
    assert_int_equal(put_id(&t, id), SW_OK);
    assert_true(t.cur.n > n);
    while (sw__table_rehash(&t, 1))
        ;
    assert_true(sw__table_check(&t));
    for (uint32_t j = 0; j <= id; j++)
        expect(&t, &j, sizeof j, "x", 1);
    sw__table_destroy(&t);
}

/* Fails the k-th allocation of each operation in turn, for every k until the
 * operation succeeds; a failed one must leave the table exactly as it was. */
static void test_enomem_every_step(void **state)
{
    (void)state;
    sw__table t;
    sw__table_init(&t);
    for (uint32_t id = 0; id < 400; id++) {
        size_t count = sw__table_count(&t), mem = sw__table_memory(&t);
        unsigned char v[40];
        memset(v, (int)id, sizeof v);
        for (long k = 0;; k++) {
            sw__table_fail_alloc_after(k);
            int rc = sw__table_put(&t, hash_bytes(&id, 4), &id, 4, v, id % 40);
            sw__table_fail_alloc_after(-1);
            if (rc == SW_OK)
                break;
            assert_int_equal(rc, SW_ENOMEM);
            assert_int_equal(sw__table_count(&t), count);
            assert_int_equal(sw__table_memory(&t), mem);
            expect_absent(&t, &id, 4);
        }
        if (id % 3 == 0) { /* deletes (which may shrink) never fail */
            uint32_t old = id / 2;
            sw__table_fail_alloc_after(0);
            int rc = del_id(&t, old);
            sw__table_fail_alloc_after(-1);
            assert_true(rc == SW_OK || rc == SW_ENOTFOUND);
        }
    }
    assert_true(sw__table_check(&t));
    sw__table_destroy(&t);
}

static void test_rehash_and_memory(void **state)
{
    (void)state;
    sw__table t;
    sw__table_init(&t);
    uint32_t id = 0;
    while (t.cur.n < 100 || !t.old.n)
        assert_int_equal(put_id(&t, id++), SW_OK);
    size_t mem = sw__table_memory(&t);
    assert_true(sw__table_rehash(&t, 1));
    assert_false(sw__table_rehash(&t, SIZE_MAX));
    assert_true(sw__table_memory(&t) < mem); /* the old array is gone */
    assert_true(sw__table_check(&t));
    /* Deleting everything shrinks the table back to a small array. */
    for (uint32_t j = 0; j < id; j++)
        assert_int_equal(del_id(&t, j), SW_OK);
    while (sw__table_rehash(&t, 1))
        ;
    assert_int_equal(sw__table_count(&t), 0);
    assert_int_equal(t.cur.n, 1);
    assert_true(sw__table_check(&t));
    sw__table_destroy(&t);
    assert_int_equal(sw__table_memory(&t), 0);
}

/* A prefetch is a hint: on an empty table, on present and absent keys,
 * mid-resize, it changes nothing a lookup or the checker can see. */
static void test_prefetch_changes_nothing(void **state)
{
    (void)state;
    sw__table t;
    sw__table_init(&t);
    sw__table_prefetch(&t, 42, 0);
    sw__table_prefetch(&t, 42, 1);
    uint32_t id = 0;
    while (t.cur.n < 100 || !t.old.n)
        assert_int_equal(put_id(&t, id++), SW_OK);
    size_t count = sw__table_count(&t), mem = sw__table_memory(&t);
    for (uint32_t j = 0; j < 2 * id; j++)
        for (int step = 0; step < 2; step++)
            sw__table_prefetch(&t, hash_bytes(&j, sizeof j), step);
    assert_int_equal(sw__table_count(&t), count);
    assert_int_equal(sw__table_memory(&t), mem);
    assert_true(sw__table_check(&t));
    for (uint32_t j = 0; j < 2 * id; j++) {
        const void *v;
        size_t n;
        int rc = sw__table_get(&t, hash_bytes(&j, sizeof j), &j, sizeof j, &v, &n);
        assert_int_equal(rc, j < id ? SW_OK : SW_ENOTFOUND);
    }
    sw__table_destroy(&t);
}

int main(int argc, char **argv)
{
    seed_init(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_invalid_arguments),
        cmocka_unit_test(test_put_get_replace_delete),
        cmocka_unit_test(test_binary_keys),
        cmocka_unit_test(test_large_values),
        cmocka_unit_test(test_aliased_value),
        cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_million),
        cmocka_unit_test(test_colliding_hashes),
        cmocka_unit_test(test_model),
        cmocka_unit_test(test_next_visits_each_once),
        cmocka_unit_test(test_scan),
        cmocka_unit_test(test_scan_overflow),
        cmocka_unit_test(test_enomem_basic),
        cmocka_unit_test(test_enomem_growth),
        cmocka_unit_test(test_enomem_every_step),
        cmocka_unit_test(test_rehash_and_memory),
        cmocka_unit_test(test_prefetch_changes_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
