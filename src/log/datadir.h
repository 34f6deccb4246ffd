/* A data directory: the folder a durable Db or Ledger keeps its logs in,
 * with a small meta file that records the shard count (a key's shard
 * depends on it, so a directory is only ever opened with its own count).
 */
#ifndef STEWARD_LOG_DATADIR_H
#define STEWARD_LOG_DATADIR_H

#include <stddef.h>

/* Opens (creating, mode 0755) the directory dir for objects of `kind`
 * ("db", "ledger"), whose meta file is dir/KIND.meta. *shards: 0 takes the
 * directory's count (or dflt for a new directory); another count than the
 * directory's is refused with SW_EINVAL. A new meta file is written
 * atomically (temporary file, fsync, rename, directory fsync).
 * Returns SW_OK with *shards set; SW_EINVAL; SW_EIO (unreadable, malformed,
 * or not writable). err says why. */
int sw__datadir_open(const char *dir, const char *kind, unsigned *shards, unsigned dflt, char *err,
                     size_t errlen);

/* The most shards a Db or Ledger may have. */
#define SW__MAX_SHARDS 4096

/* Checks the options every sharded object takes: the shard count (0 for
 * the default, at most SW__MAX_SHARDS) and the fsync policy (an int, since
 * a caller may pass any value). SW_OK, or SW_EINVAL with err saying why. */
int sw__check_shards_fsync(unsigned shards, int fsync, char *err, size_t errlen);

/* The path of shard i's log: dir/KIND-shard-NNNN.log. Returns SW_OK, or
 * SW_EINVAL if it does not fit in cap bytes. */
int sw__datadir_log_path(char *out, size_t cap, const char *dir, const char *kind, unsigned i);

#endif
