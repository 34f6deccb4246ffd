/* The Db's hash table: binary-safe keys and values, one table per shard.
 *
 * The caller hashes each key (the Db uses XXH3_64bits) and passes the hash.
 * The table uses only its low 32 bits: the Db picks the shard with the high
 * bits, so the two stay independent. Two keys are the same key when their
 * bytes are equal; the hash only has to be the same for equal keys.
 *
 * Every entry is one allocation holding a short header, the key and the value,
 * and it never moves: a resize moves only the 8-byte pointers to it. Growth
 * and shrinking are incremental, so no call does more than a small constant
 * amount of work (see the DESIGN comment in table.c).
 *
 * Thread safety: a table belongs to one thread (its shard's owner) and takes
 * no locks; every function below is "owner thread only" unless it says
 * otherwise.
 */
#ifndef STEWARD_DB_TABLE_H
#define STEWARD_DB_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "steward/status.h"

/* One slot array (its groups are defined in table.c). All fields: owner
 * thread only. */
struct sw__table_group;
typedef struct sw__table_array {
    struct sw__table_group *groups; /* n groups, cache-line aligned inside mem */
    void *mem;                      /* the allocation that holds groups */
    size_t n;                       /* number of groups; 0 when none */
    size_t count;                   /* entries stored in this array */
} sw__table_array;

/* A complete type so that it can be embedded; touch it only through the
 * functions below. All fields: owner thread only. */
typedef struct sw__table {
    sw__table_array cur; /* receives every insert */
    sw__table_array old; /* drained into cur during a resize; n == 0 otherwise */
    size_t mig;          /* the next group of old to drain */
    size_t bytes;        /* bytes allocated for arrays and entries */
} sw__table;

/* Initialises an empty table; it allocates nothing until the first put.
 * Returns SW_OK, or SW_EINVAL when t is NULL. */
int sw__table_init(sw__table *t);

/* Frees every entry and both slot arrays and leaves t empty, as after init
 * (so destroying twice is harmless). Every pointer the table handed out
 * becomes invalid. t may be NULL. */
void sw__table_destroy(sw__table *t);

/* Inserts key -> val, or replaces the value (and clears any expiry) when the
 * key is present. The table copies both: the caller keeps its buffers, which
 * may even point into this table's own entries (from sw__table_get).
 * key may be NULL only when klen is 0, val only when vlen is 0.
 * Returns SW_OK; SW_ENOMEM when memory runs out, with the table unchanged
 * (the old value, if any, still there); SW_EINVAL for a NULL t or a NULL
 * pointer with a non-zero length, with the table unchanged. */
int sw__table_put(sw__table *t, uint64_t hash, const void *key, size_t klen, const void *val,
                  size_t vlen);

/* As sw__table_put, and the entry gets the expiry time expire_ms (an opaque
 * 64-bit stamp for the Db, e.g. Unix time in ms; the table never interprets
 * it), or none when expire_ms is 0: entries without one spend no byte on it.
 * Returns as sw__table_put, and SW_EINVAL for a negative expire_ms. */
int sw__table_put_ex(sw__table *t, uint64_t hash, const void *key, size_t klen, const void *val,
                     size_t vlen, int64_t expire_ms);

/* Finds a key. Returns SW_OK and sets *val and *vlen to the stored value, or
 * SW_ENOTFOUND (outputs untouched); SW_EINVAL for a NULL t, val or vlen, or a
 * NULL key with a non-zero klen. *val points into the table (no alignment
 * promised; never NULL, even for an empty value) and stays valid until the
 * next modifying call on the table (put, put_ex, set_expire, del, rehash,
 * destroy); lookups, scans and sw__table_next do not modify it. */
int sw__table_get(const sw__table *t, uint64_t hash, const void *key, size_t klen, const void **val,
                  size_t *vlen);

/* Prefetching, for a caller about to look up several keys: step 0 starts
 * loading the slot group where hash's key would be; step 1, once that has
 * had time to arrive (after step 0 of the other keys), the entry whose tag
 * matches there. Both only hint the processor: they change nothing and
 * cannot fail, so the lookups that follow overlap their cache misses
 * rather than take them one after another. Reads t: the thread that may
 * read it (as sw__table_get). */
void sw__table_prefetch(const sw__table *t, uint64_t hash, int step);

/* As sw__table_get, and sets *expire_ms to the entry's expiry (0 for none)
 * when expire_ms is not NULL. Same statuses and lifetime. */
int sw__table_get_ex(const sw__table *t, uint64_t hash, const void *key, size_t klen,
                     const void **val, size_t *vlen, int64_t *expire_ms);

/* Sets (expire_ms > 0) or removes (expire_ms == 0) the expiry of a present
 * key, keeping its value. Returns SW_OK; SW_ENOTFOUND; SW_ENOMEM when the
 * entry had to grow or shrink and memory ran out, with the table unchanged;
 * SW_EINVAL as for sw__table_put or for a negative expire_ms. */
int sw__table_set_expire(sw__table *t, uint64_t hash, const void *key, size_t klen,
                         int64_t expire_ms);

/* Removes a key and frees its entry. Returns SW_OK, SW_ENOTFOUND, or
 * SW_EINVAL as for sw__table_get. Never allocates, so it cannot fail for
 * lack of memory (a shrink that cannot get memory is simply skipped). */
int sw__table_del(sw__table *t, uint64_t hash, const void *key, size_t klen);

/* The number of entries; 0 for a NULL t. */
size_t sw__table_count(const sw__table *t);

/* Bytes the table has allocated: slot arrays plus entries, each entry counted
 * as the allocator holds it (with glibc: usable size plus its chunk header),
 * not including the sw__table struct itself. For INFO memory. */
size_t sw__table_memory(const sw__table *t);

/* One entry as sw__table_scan and sw__table_next_item report it; pointers
 * as from sw__table_get. */
typedef struct sw__table_item {
    const void *key;
    size_t klen;
    const void *val;
    size_t vlen;
    int64_t expire_ms; /* 0: none */
} sw__table_item;

/* The number of slot positions a sw__table_next cursor goes through (0 ..
 * this); a uniformly random start among them finds a roughly uniformly
 * random entry (RANDOMKEY). 0 for a NULL or empty table. */
size_t sw__table_slots(const sw__table *t);

/* As sw__table_next, filling a whole item (with its expiry). */
int sw__table_next_item(const sw__table *t, size_t *cursor, sw__table_item *it);

/* Walks every entry in slot order. Start with *cursor = 0; each call returns
 * SW_OK with the next entry's key and value (the pointers live as long as the
 * ones sw__table_get returns) and advances *cursor, then SW_ENOTFOUND at the
 * end; SW_EINVAL for a NULL argument. Visits each entry exactly once only if
 * the table is not modified during the walk; after a modification the walk
 * stays memory-safe but may skip or repeat entries (use sw__table_scan for
 * that case). Any of key, klen, val, vlen may be NULL when not wanted. */
int sw__table_next(const sw__table *t, size_t *cursor, const void **key, size_t *klen,
                   const void **val, size_t *vlen);

/* A resumable scan in the manner of Redis SCAN, safe across modifications
 * and resizes: the cursor is a position in hash space (the low 32 bits of the
 * hashes), not in a slot array. Start with *cursor = 0 and call until it
 * comes back 0. A key present for the whole scan is reported exactly once; a
 * key added or removed meanwhile may or may not be. Each call fills
 * items[0 .. *count) with at most cap entries (all the keys of a hash
 * interval) and may report none while the cursor is not yet 0, since it
 * bounds the empty space one call crosses.
 * Returns SW_OK; SW_EOVERFLOW when more than cap keys share the hash value at
 * the cursor: *count is then the cap needed and *cursor points at that value;
 * SW_EINVAL for a NULL argument, cap 0, or a cursor above UINT32_MAX (which no
 * scan returns). The items point into the table and live as long as pointers
 * from sw__table_get. */
int sw__table_scan(const sw__table *t, uint64_t *cursor, sw__table_item *items, size_t cap,
                   size_t *count);

/* Does up to `steps` units of pending resize work (one unit drains one group
 * of at most 7 entries), e.g. from an idle loop; modifying calls already do
 * two units each. Returns true while a resize is still in progress. */
bool sw__table_rehash(sw__table *t, size_t steps);

/* Checks every invariant of the table (counts, tags, overflow counters,
 * reachability of every entry, byte accounting); for tests, O(n). Returns
 * true when all hold. */
bool sw__table_check(const sw__table *t);

/* Fault injection for tests: after n more successful allocations, every
 * allocation by any table fails until the next call; n < 0 (the default)
 * turns failures off. Process-wide; thread safety: any thread. */
void sw__table_fail_alloc_after(long n);

#endif
