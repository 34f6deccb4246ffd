/* The small services every layer shares: the log hook's sending side, the
 * wall clock (which tests may set), and the hashing that places a key on a
 * shard.
 */
#ifndef STEWARD_BASE_BASE_H
#define STEWARD_BASE_BASE_H

#include <stddef.h>
#include <stdint.h>

#include "steward/status.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

/* Sends one line to the log hook (sw_set_log), or to stderr: printf's
 * format, no trailing newline; "steward: " is prepended. Thread safety: any
 * thread. */
void sw__logmsg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The wall clock in ms since the Unix epoch: the unit of deadlines (key
 * expiry). Thread safety: any thread. */
int64_t sw__wall_ms(void);

/* Test hook: from now on sw__wall_ms returns ms (which must be > 0), or the
 * real clock again for 0. Relaxed: tests set it between operations, and
 * each caller reads it once per decision. Thread safety: any thread. */
void sw__wall_ms_set(int64_t ms);

/* The hash of a key (XXH3, 64 bits). By convention the high 32 bits pick
 * its shard (sw__shard_of) and the low 32 its place in the shard's table,
 * so the two stay independent. */
static inline uint64_t sw__hash(const void *key, size_t klen)
{
    return XXH3_64bits(key, klen);
}

/* The shard, of n, that a 64-bit hash belongs to: the high 32 bits scaled
 * to [0, n) by a multiply and a shift (Lemire), so n need not be a power
 * of two. Every sharded object (the Db, the Ledger, stewardd) places its
 * keys with this, which lets stewardd read a Db's directory. */
static inline unsigned sw__shard_of(uint64_t hash, unsigned n)
{
    return (unsigned)(((hash >> 32) * (uint64_t)n) >> 32);
}

#endif
