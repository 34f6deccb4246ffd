/* A Db shard: one table of keys (with deadlines) and, when durable, its
 * journal, compaction and expiry sweep. The library's Db runs each shard
 * behind an owner (db.c); stewardd runs each on a shard thread of its own.
 * This header is the only way in from outside src/db.
 *
 * A write applies to the table and appends its record to the journal's
 * pending batch; sw__shard_commit ends the batch (one write, and one
 * fdatasync with SW_FSYNC_ALWAYS) and must run before any write of the
 * batch is acknowledged, or any value read in it is sent anywhere. Once a
 * commit has failed, the shard refuses everything with SW_EIO: its memory
 * may hold writes its disk lacks.
 *
 * Deadlines are absolute wall-clock ms (sw__wall_ms, base.h); 0 is none. A
 * key whose deadline has passed reads as absent and is removed when met
 * (lazily) or swept; its removal logs nothing, since recovery drops it
 * again by its deadline.
 *
 * Thread safety: every function but sw__shard_journal runs on the shard's
 * thread (the owner holding it, or its server thread), or on a thread that
 * holds the shard paused (a world operation). Nothing here locks.
 */
#ifndef STEWARD_DB_SHARD_H
#define STEWARD_DB_SHARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/table.h"
#include "log/journal.h"
#include "steward/status.h"

typedef struct sw__shard sw__shard;

/* One entry as a scan reports it; its pointers live until the shard's next
 * change. */
typedef sw__table_item sw__shard_item;

/* Called for each key the shard removes because its deadline passed (met
 * lazily, or swept), with the key and its deadline; not for deletes the
 * caller asks for. The key's bytes live only for the call. */
typedef void (*sw__shard_gone_fn)(void *ctx, const void *key, size_t klen, int64_t expire_ms);

/* Opens shard index in *out: an empty table, or with dir the journal
 * dir/KIND-shard-NNNN.log (kind "db" for the Db, "kv" for stewardd) replayed
 * into it, keys already past their deadline dropped. Returns SW_OK;
 * SW_EINVAL, SW_EIO or SW_ENOMEM with err saying why (*out NULL). */
int sw__shard_open(sw__shard **out, unsigned index, const char *dir, const char *kind,
                   enum sw_fsync fsync, char *err, size_t errlen);

/* Abandons a compaction under way, syncs and closes the journal, and frees
 * the shard. SW_OK; SW_EIO when the final sync failed or a commit had
 * failed before (logged). NULL: SW_OK. */
int sw__shard_close(sw__shard *s);

/* Has gone(ctx, ...) called for every key removed by expiry from now on. */
void sw__shard_on_gone(sw__shard *s, sw__shard_gone_fn gone, void *ctx);

/* Whether the shard has a journal. */
bool sw__shard_durable(const sw__shard *s);

/* sw__table_prefetch on the shard's table: a hint before several gets,
 * on the shard's thread; never fails, changes nothing. */
void sw__shard_prefetch(const sw__shard *s, uint64_t hash, int step);

/* The key's value and deadline (*expire_ms, 0 for none). SW_OK: *val points
 * into the shard until its next change; SW_ENOTFOUND (absent, or expired:
 * then removed, and the gone hook called); SW_EIO once failed. */
int sw__shard_get(sw__shard *s, uint64_t hash, const void *key, size_t klen, const void **val,
                  size_t *vlen, int64_t *expire_ms);

/* Stores key -> val with deadline expire_ms (0: none), logged. With
 * prev_ms, *prev_ms becomes the old entry's deadline (0 for none; expired
 * or not), or -1 when there was none. With w, *rc becomes SW_EIO if the
 * batch's commit fails (w lives until then). Returns SW_OK; SW_ENOMEM or
 * SW_EIO with nothing changed: the shard has failed, or its disk has no
 * room for the record (sw__shard_nospace). */
int sw__shard_put(sw__shard *s, uint64_t hash, const void *key, size_t klen, const void *val,
                  size_t vlen, int64_t expire_ms, int64_t *prev_ms, sw__journal_waiter *w, int *rc);

/* Deletes the key, logged. *prev_ms (if not NULL) becomes its deadline.
 * SW_OK; SW_ENOTFOUND when absent or expired; SW_ENOMEM; SW_EIO. w, rc as
 * for sw__shard_put. */
int sw__shard_delete(sw__shard *s, uint64_t hash, const void *key, size_t klen, int64_t *prev_ms,
                     sw__journal_waiter *w, int *rc);

/* Sets (expire_ms > 0) or clears (0) the deadline of a present key,
 * logged; a deadline at or before now deletes the key instead (*deleted,
 * if not NULL, says which). *prev_ms as for sw__shard_delete. SW_OK;
 * SW_ENOTFOUND; SW_ENOMEM; SW_EIO. w, rc as for sw__shard_put. */
int sw__shard_expire(sw__shard *s, uint64_t hash, const void *key, size_t klen, int64_t expire_ms,
                     int64_t *prev_ms, bool *deleted, sw__journal_waiter *w, int *rc);

/* A full disk. Every logged write first makes sure its record has disk
 * space (logfile.h), and is refused SW_EIO, changing nothing, when it has
 * not; the shard stays usable, and takes writes again once there is room.
 * A caller that makes several writes that must be all or none first
 * reserves room for them all: sw__shard_reserve(s, sum of
 * sw__shard_write_bytes(...) over its writes to s) makes sure that many
 * bytes of records will fit (SW_OK, also for a memory-only shard; SW_EIO:
 * no room, or failed), as long as nothing else is logged to s in between.
 * sw__shard_write_bytes is an upper bound on the log bytes of a put of a
 * klen-byte key and a vlen-byte value, and (with vlen 0) of a delete or a
 * deadline change. sw__shard_nospace: the errno (ENOSPC, EDQUOT, EFBIG) of
 * the latest refusal, if it was for want of room, else 0. */
int sw__shard_reserve(sw__shard *s, size_t bytes);
/* Room held for writes a later request makes (a transaction's second
 * step): sw__shard_hold keeps bytes free for them against everything
 * logged meanwhile (SW_OK, also memory-only; SW_EIO as above), and
 * sw__shard_release gives them back, just before those writes or when
 * they are called off. */
int sw__shard_hold(sw__shard *s, size_t bytes);
void sw__shard_release(sw__shard *s, size_t bytes);
size_t sw__shard_write_bytes(size_t klen, size_t vlen);
int sw__shard_nospace(const sw__shard *s);

/* Drops every key of a memory-only shard at once (SW_OK), without the gone
 * hook; SW_EINVAL for a durable one, which must delete key by key so that
 * its log says so. */
int sw__shard_clear(sw__shard *s);

/* One step of a resumable scan that never skips a key present throughout
 * (sw__table_scan's contract: start with *cursor 0, done when it comes back
 * 0). *items (cap *cap, malloc'd; NULL and 0 at first) is grown as needed
 * and is the caller's to free; *n items are filled, expired ones included.
 * SW_OK; SW_ENOMEM. */
int sw__shard_scan(const sw__shard *s, uint64_t *cursor, sw__shard_item **items, size_t *cap,
                   size_t *n);

/* A roughly uniformly random entry for which want(ctx, item) holds, found
 * from a random slot onwards (RANDOMKEY). SW_OK; SW_ENOTFOUND. */
int sw__shard_random(const sw__shard *s, bool (*want)(void *ctx, const sw__shard_item *it),
                     void *ctx, sw__shard_item *out);

/* The active expiry sweep's step: removes the expired keys among the next
 * few thousand of a resumable scan (gone hook called for each). Returns how
 * many it removed. */
size_t sw__shard_sweep(sw__shard *s);

/* Ends the batch: writes (and with SW_FSYNC_ALWAYS syncs) the records
 * appended since the last commit, then advances a compaction in progress,
 * or starts one when the log has grown past twice the live data. SW_OK
 * (also for a memory-only shard); SW_EIO when the journal has failed, now
 * or before. */
int sw__shard_commit(sw__shard *s);

/* Whether a compaction is under way: it advances a chunk per commit, so a
 * server loop with nothing to do should commit again soon. */
bool sw__shard_compacting(const sw__shard *s);

/* Entries in the table, expired ones not yet removed included. */
size_t sw__shard_count(const sw__shard *s);

/* Bytes the table holds (INFO memory). */
size_t sw__shard_memory(const sw__shard *s);

/* Compactions completed since open (tests, INFO). */
uint64_t sw__shard_compactions(const sw__shard *s);

/* ---- transactions across shards -------------------------------------------
 *
 * stewardd's writes whose keys span shards (a multi-key command, a
 * transaction's part) must be in the logs whole or not at all, across a
 * crash. Each shard taking part in transaction txid logs one PART record
 * (txid, the number of parts, its own index among them, and its writes, as
 * records of their own inside it) before any shard applies anything
 * (sw__shard_tx_prepare). Once every part is logged, the transaction is
 * decided, and each shard logs DECIDED(txid) and then applies its writes
 * (sw__shard_tx_decide, the caller's writes, sw__shard_tx_applied), which
 * log nothing of their own. A part called off (another part refused) is
 * forgotten undecided, and never applied.
 *
 * Recovery (sw__shards_open) applies a part iff its transaction is decided:
 * a DECIDED record of its txid in any shard's log, or every part of it
 * logged. It applies the part where its own shard's DECIDED stands in that
 * shard's log, the point the write was applied; where that shard never
 * logged its DECIDED, at the end of its log (its keys were locked from the
 * PART on, so nothing later in that log touches them), and then logs the
 * DECIDED there, so that later recoveries decide the same way.
 *
 * A compaction drops records, so a shard keeps each of its parts live
 * until sw__shard_tx_forget (the caller's word that every part's DECIDED is
 * in its log), and a compaction starting meanwhile writes them first in its
 * new file: an undecided part's PART record, a decided one's DECIDED (its
 * writes are in the table, which the snapshot holds). So no record another
 * shard's recovery needs is ever dropped early. A unit's part (below) has
 * its writes in the table before its decision, so a snapshot may hold
 * them: a compaction's new file does not replace the log while such a
 * part is undecided.
 *
 * Power loss. Whatever the fsync policy, the commit that ends a batch
 * holding a PART or a DECIDED syncs the log (as the Ledger's transfers
 * do): a transaction is decided only once every PART is on disk, and a
 * part is forgotten only once every DECIDED is. Otherwise, with everysec,
 * a power cut could keep a decided transaction's PART on one shard and
 * lose it on another, and recovery would then drop a part whose shard had
 * synced it, and the writes after it there, acknowledged, would outlive
 * it; or lose a DECIDED that a forgotten part's shard no longer carries.
 * So a transaction across shards is never lost once acknowledged, and
 * never half there, under every policy.
 */

/* A part of a transaction, live on its shard until sw__shard_tx_forget. */
typedef struct sw__shard_tx sw__shard_tx;

/* Logs the part `part` (of nparts, 1 < nparts <= SW__MAX_SHARDS) of
 * transaction txid, whose writes on s are writes[0 .. n) (PUT and DEL
 * records, keys and values as sw__shard_put takes them), without applying
 * them, and holds log room for its DECIDED. *tx: the live part. SW_OK;
 * SW_EIO (no room for the record, or failed; nothing logged); SW_ENOMEM;
 * SW_EINVAL (a write that is not a PUT or a DEL). A memory-only shard logs
 * nothing: SW_OK with *tx NULL, and the other calls take NULL. */
int sw__shard_tx_prepare(sw__shard *s, uint64_t txid, unsigned nparts, unsigned part,
                         const sw__rec *writes, size_t n, sw__shard_tx **tx);

/* Every part is logged: logs the DECIDED record (in the room held, so only
 * a failed shard refuses it: SW_EIO). The writes the caller makes next, up
 * to sw__shard_tx_applied, are the part's own (exactly its PART's): they
 * apply to the table and log nothing of their own. */
int sw__shard_tx_decide(sw__shard *s, sw__shard_tx *tx);
void sw__shard_tx_applied(sw__shard *s);

/* Drops a live part: decided, once every part's DECIDED is in its log; or
 * undecided, called off (it is then never applied, and its room is given
 * back). */
void sw__shard_tx_forget(sw__shard *s, sw__shard_tx *tx);

/* Units: several writes as one in the log. Between sw__shard_unit_begin
 * and sw__shard_unit_end, writes apply to the table as ever, each refused
 * (SW_EIO, nothing changed) when its record would not fit, but their
 * records wait; the end logs them as one: a single write as its own
 * record, several as a transaction of one part, whose PART record applies
 * where it stands. So a crash keeps all of them or none. A memory-only
 * shard has no units (begin does nothing). sw__shard_unit_writes: how many
 * writes wait. sw__shard_unit_end_part ends it instead as part `part` of
 * nparts of transaction txid (a unit across shards: a world operation's),
 * live as *tx; once every part is logged and committed, the caller calls
 * sw__shard_tx_decide and sw__shard_tx_applied, with no writes between,
 * and then sw__shard_tx_forget once every DECIDED is committed. Both ends
 * return SW_OK, or SW_EIO (the log failed) or SW_ENOMEM, the writes then
 * unlogged: the caller must stop, as for a failed commit. */
void sw__shard_unit_begin(sw__shard *s);
/* Room for a unit's end, held ahead: a unit begun later (one per
 * reservation) can then end even with no room left for more (a read-only
 * part of a transaction still logs its PART). sw__shard_unit_reserve:
 * SW_OK (also memory-only), or SW_EIO as for a write; unreserve gives one
 * back, for a unit that will not begin after all. */
int sw__shard_unit_reserve(sw__shard *s);
void sw__shard_unit_unreserve(sw__shard *s);
size_t sw__shard_unit_writes(const sw__shard *s);
int sw__shard_unit_end(sw__shard *s);
int sw__shard_unit_end_part(sw__shard *s, uint64_t txid, unsigned nparts, unsigned part,
                            sw__shard_tx **tx);

/* A unit set aside (sw__shard_unit_suspend): its writes' records, not yet
 * logged, and the log room held for them. The caller keeps it; nothing in
 * it is the caller's to read. */
typedef struct sw__shard_unit {
    bool on; /* a unit was under way */
    uint8_t *buf;
    size_t len, cap, n, holds, held;
} sw__shard_unit;

/* Sets the unit under way aside into *u, so that the writes made meanwhile
 * (other requests') log records of their own, and sw__shard_unit_resume
 * takes it up again, its later writes adding to the same records: a unit
 * that spans requests (an EXEC's part that waits, mid-run, for another
 * shard's reads). While set aside its writes are applied but undecided,
 * so a compaction's new file does not replace the log (as for a unit's
 * part). A shard with no unit under way (memory-only) sets nothing aside.
 * Neither fails. A unit set aside must be resumed, and ended, before the
 * shard closes. */
void sw__shard_unit_suspend(sw__shard *s, sw__shard_unit *u);
void sw__shard_unit_resume(sw__shard *s, sw__shard_unit *u);

/* Opens shards 0 .. n-1 of the data directory dir (n and fsync as each
 * sw__shard_open), replaying their logs, then settles the transactions
 * across them as above. *next_txid: one past every txid in the logs, where
 * the next transaction's may start. Returns as sw__shard_open; on failure
 * every out[i] is NULL. dir NULL: n memory-only shards. */
int sw__shards_open(sw__shard **out, unsigned n, const char *dir, const char *kind,
                    enum sw_fsync fsync, uint64_t *next_txid, char *err, size_t errlen);

/* The shard's journal, for the everysec syncer (journal.h), which syncs
 * it from its own thread: the only use allowed off the shard's thread.
 * NULL for a memory-only shard. */
sw__journal *sw__shard_journal(sw__shard *s);

#endif
