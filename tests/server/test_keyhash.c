/* The dispatcher's key hashes, carried with a command (struct keyhash):
 * kkey_init takes a key's hash from the memo only while the exec still has
 * the arguments and the database it was made for, and hashes otherwise. A
 * memo used past that would file a key under another key's hash: lost to
 * every later lookup. Each check below gives the memo a hash that is not
 * the key's, so the hash kkey_init returns says which one it used.
 */
#include <stdio.h>
#include <string.h>

#include "server/cmd.h"

static int failures;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                              \
        }                                                                            \
    } while (0)

/* The hash kkey_init gives argument i of x (0 when it fails). */
static uint64_t hash_of(struct exec *x, size_t i)
{
    struct kkey k;
    if (kkey_init(x, &k, i) != SW_OK)
        return 0;
    uint64_t h = k.hash;
    CHECK(k.db == x->db && k.len == x->argv[i].len + 1 && (unsigned char)k.p[0] == x->db);
    CHECK(memcmp(k.p + 1, x->argv[i].ptr, x->argv[i].len) == 0);
    kkey_free(&k);
    return h;
}

/* The key's own hash: its database's byte, then its bytes. */
static uint64_t real_hash(int db, const char *key)
{
    char buf[64];
    buf[0] = (char)db;
    memcpy(buf + 1, key, strlen(key));
    return sw__hash(buf, strlen(key) + 1);
}

int main(void)
{
    struct srv_shard shards[4];
    struct srv s = {.n = 4, .shards = shards};
    memset(shards, 0, sizeof shards);
    sw__resp_arg argv[3] = {
        {.ptr = "MGET", .len = 4}, {.ptr = "alpha", .len = 5}, {.ptr = "beta", .len = 4}};
    uint64_t memo[3] = {0, 0x1234, 0};
    /* A world operation's exec: any shard's key may be built. */
    struct exec x = {.srv = &s,
                     .self = &shards[0],
                     .world = true,
                     .db = 0,
                     .argc = 3,
                     .argv = argv,
                     .kh = {.argv = argv, .db = 0, .hash = memo}};

    /* The memo, where it knows the key. */
    CHECK(hash_of(&x, 1) == 0x1234);
    /* 0: not known, hashed. */
    CHECK(hash_of(&x, 2) == real_hash(0, "beta"));

    /* Another database (SELECT in EXEC, COPY's DB): hashed. */
    struct exec y = x;
    y.db = 3;
    CHECK(hash_of(&y, 1) == real_hash(3, "alpha"));

    /* Other arguments in a copy of the exec (a queued command): hashed. */
    sw__resp_arg other[3];
    memcpy(other, argv, sizeof other);
    y = x;
    y.argv = other;
    CHECK(hash_of(&y, 1) == real_hash(0, "alpha"));

    /* No memo. */
    y = x;
    y.kh.hash = NULL;
    CHECK(hash_of(&y, 1) == real_hash(0, "alpha"));

    /* Outside a world operation, the key's shard still comes from the hash
     * used: the memo's shard for 0x1234 is not touched unless it is x's. */
    y = x;
    y.world = false;
    y.self = &shards[srv_shard_of(&s, 0x1234)];
    struct kkey k;
    CHECK(kkey_init(&y, &k, 1) == SW_OK && k.sh == y.self);
    kkey_free(&k);
    y.self = &shards[(srv_shard_of(&s, 0x1234) + 1) % 4];
    CHECK(kkey_init(&y, &k, 1) == SW_EINVAL);

    if (failures)
        return 1;
    printf("test_keyhash: all passed\n");
    return 0;
}
