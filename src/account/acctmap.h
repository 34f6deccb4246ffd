/* A map of account ids to account records, for one Ledger shard.
 *
 * Open addressing with linear probing over a power-of-two array of records
 * stored inline (an id and two int64s: 24 bytes, no pointer chasing).
 * Accounts are never removed, so there are no tombstones. Growth doubles the
 * array and reinserts; ids are mixed with a 64-bit finaliser first, so
 * sequential ids spread evenly.
 *
 * Thread safety: owner thread only (the shard's owner), like the Db's table.
 */
#ifndef STEWARD_ACCOUNT_ACCTMAP_H
#define STEWARD_ACCOUNT_ACCTMAP_H

#include <stddef.h>
#include <stdint.h>

struct sw__acct {
    uint64_t id;
    int64_t balance;    /* >= 0 always */
    int64_t pending_in; /* reserved by transfers on their way in; >= 0 */
    uint8_t used;
};

struct sw__acctmap {
    struct sw__acct *slots;
    size_t mask; /* capacity - 1; capacity 0 when slots is NULL */
    size_t count;
};

/* The account with this id, or NULL. Valid until the next insert. */
struct sw__acct *sw__acctmap_find(struct sw__acctmap *m, uint64_t id);

/* Inserts a new, zeroed account (the caller sets its fields); NULL when out
 * of memory (the map is unchanged). The id must not be present. */
struct sw__acct *sw__acctmap_insert(struct sw__acctmap *m, uint64_t id);

void sw__acctmap_destroy(struct sw__acctmap *m);

/* The 64-bit finaliser used to spread ids (over slots, and over shards). */
static inline uint64_t sw__mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

#endif
