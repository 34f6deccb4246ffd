/* The Db: a goroutine-safe map of byte strings to byte strings (Store and
 * Fetch), sharded over owners.
 *
 * Keys and values may hold any bytes, NUL included, and may be empty. Keys
 * are hashed (xxHash) to shards; each shard's map is owned by one owner
 * (see owner.h) and reached only through messages, so no lock guards it.
 * Every call waits for its shard's answer: when sw_db_store returns SW_OK,
 * every later fetch, from any thread, sees the value.
 */
#ifndef STEWARD_DB_H
#define STEWARD_DB_H

#include <stddef.h>
#include <stdint.h>

#include "steward/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sw_db sw_db;

typedef struct sw_db_options {
    unsigned shards;     /* 0: one per CPU above 4 CPUs, max(1, CPUs - 1) on 4 or fewer */
    const char *dir;     /* NULL: memory only; else the append-only log lives here */
    enum sw_fsync fsync; /* with dir: when the log is synced */
} sw_db_options;

/* Opens a Db in *out. opts NULL: memory only, defaults.
 *
 * With opts->dir, the Db is durable: the directory (created if missing)
 * holds one append-only log per shard, replayed on open. A torn tail (the
 * remains of a crash mid-append) is cut with a warning (through the log
 * hook, sw_set_log in status.h); corruption before a log's end refuses the
 * open (SW_EIO, with the file and offset logged) and changes nothing. The shard count is the
 * directory's: 0 takes it, another count is refused (SW_EINVAL). opts->fsync says when a write is
 * on disk before it is acknowledged: SW_FSYNC_ALWAYS (group commit: one write and one fdatasync per
 * batch of requests, then the answers; nothing acknowledged is lost, even on power failure),
 * SW_FSYNC_EVERYSEC (synced by a background thread once a second: a process crash loses nothing
 * acknowledged, a power failure up to about a second), SW_FSYNC_NO (the OS
 * decides). The log is compacted in the background once it grows past about
 * twice the shard's live data.
 *
 * Returns SW_OK; SW_EINVAL (out NULL, more than 4096 shards, an unknown
 * fsync policy, or a shard count the directory does not have); SW_EEXIST
 * (the directory is open in another Db or process); SW_EIO (the directory
 * or a log cannot be read or written, or is corrupt; the reason is
 * logged); SW_ENOMEM. Thread safety: any thread. */
int sw_db_open(sw_db **out, const sw_db_options *opts);

/* Finishes every operation under way, syncs the logs of a durable Db,
 * stops the shards and frees the Db and its data, whatever it returns. No
 * thread may use it once this is called. SW_OK; SW_EIO when a log's final
 * write or sync failed, or an earlier commit had failed (so a write may
 * have been refused SW_EIO, and the disk may lack what memory held; the
 * reason is logged); SW_EINVAL for NULL. */
int sw_db_close(sw_db *db);

/* Stores val (vlen bytes) under key (klen bytes), replacing any old value.
 * Both are copied. SW_OK; SW_EINVAL if db is NULL, or key/val is NULL with a
 * non-zero length; SW_ENOMEM (nothing changes); SW_EIO (durable Db), for
 * one of two reasons:
 *  - the disk has no room for the write: nothing changes, and the Db goes
 *    on (reads, and writes once there is room again);
 *  - the log could not be written or synced: the store is not
 *    acknowledged, and the key's shard refuses every later request with
 *    SW_EIO until reopened.
 * The same holds for every write below (delete, store_ex, expire). Thread
 * safety (for all sw_db_* below): any thread but an owner function's,
 * until sw_db_close. */
int sw_db_store(sw_db *db, const void *key, size_t klen, const void *val, size_t vlen);

/* Fetches the value of key. SW_OK: *vlen is the value's full length and the
 * first min(cap, *vlen) bytes are copied to val (as snprintf does: call with
 * cap 0 to learn the length). SW_ENOTFOUND: no such key (*vlen untouched).
 * SW_EINVAL if db or vlen is NULL, key is NULL with klen > 0, or val is NULL
 * with cap > 0. SW_EIO (durable Db): the key's shard failed an earlier
 * commit, and refuses every request, reads too, until reopened: its memory
 * may hold writes its disk does not, and nothing is served from them. */
int sw_db_fetch(sw_db *db, const void *key, size_t klen, void *val, size_t cap, size_t *vlen);

/* Deletes key. SW_OK; SW_ENOTFOUND if absent; SW_EINVAL as above; SW_EIO
 * as for sw_db_store. */
int sw_db_delete(sw_db *db, const void *key, size_t klen);

/* Expiry. A key may carry a deadline: an absolute wall-clock time in
 * milliseconds since the Unix epoch (CLOCK_REALTIME), or 0 for none. From
 * its deadline on, the key is gone for every call: fetches, deletes, TTLs
 * and expires find nothing (lazily, on access), and each shard also sweeps
 * expired keys in the background about ten times a second. A durable Db
 * logs deadlines, and recovery drops the keys whose deadline has passed.
 * sw_db_count may include expired keys not yet swept. */

/* As sw_db_store, with the key's deadline (0: none; < 0: SW_EINVAL). A
 * plain sw_db_store removes a deadline, as Redis's SET does. */
int sw_db_store_ex(sw_db *db, const void *key, size_t klen, const void *val, size_t vlen,
                   int64_t expire_at_ms);

/* Sets the deadline of a present key (0 removes it; a deadline already
 * past deletes the key). SW_OK; SW_ENOTFOUND (absent or expired); SW_EINVAL
 * (a negative deadline, or as above); SW_ENOMEM; SW_EIO as for
 * sw_db_store. */
int sw_db_expire(sw_db *db, const void *key, size_t klen, int64_t expire_at_ms);

/* The deadline of a present key in *expire_at_ms (0: none). SW_OK;
 * SW_ENOTFOUND; SW_EINVAL (or a NULL expire_at_ms); SW_EIO as for
 * sw_db_fetch. */
int sw_db_deadline(sw_db *db, const void *key, size_t klen, int64_t *expire_at_ms);

/* The number of keys, summed over the shards (each shard's count is exact
 * at the moment it answers). 0 for NULL. */
size_t sw_db_count(sw_db *db);

#ifdef __cplusplus
}
#endif
#endif
