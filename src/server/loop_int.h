/* The shard loop's internals: what loop.c (a shard thread's turn), conn.c
 * (connections) and route.c (where commands run, messages between shards)
 * call across files. Commands never use these; their interface is cmd.h.
 *
 * Thread rules: every function here runs on a shard thread, on that shard's
 * own connections and messages, unless its comment says otherwise.
 */
#ifndef STEWARD_SERVER_LOOP_INT_H
#define STEWARD_SERVER_LOOP_INT_H

#include "server/server.h"

/* ---- loop.c ----------------------------------------------------------------- */

/* Commits the log records a world operation appended to sh, if any. The
 * world holder's thread, sh being paused (or its own). */
void srv_commit_dirty(struct srv_shard *sh);

/* sh's log cannot take what the memory already holds: stops the server at
 * once, replying nothing more (restart recovers every acknowledged write). */
_Noreturn void srv_log_lost(struct srv_shard *sh);

/* ---- conn.c ----------------------------------------------------------------- */

/* Accepts the clients waiting on the listening socket (a few at a time). */
void conn_accept(struct srv_shard *sh);

/* Takes the clients other shards' threads accepted for sh (its
 * `incoming`) as sh's connections. */
void conn_adopt(struct srv_shard *sh);

/* Closes the clients still on their way to sh, whose thread has ended. */
void conn_incoming_drop(struct srv_shard *sh);

/* epoll reported events (EPOLLIN, EPOLLOUT, ...) on c's socket. */
void conn_ready(struct conn *c, uint32_t events);

/* The end of a turn: writes every connection whose output grew. */
void conn_flush_all(struct srv_shard *sh);

/* Cron: closes clients idle past the timeout or not reading their replies. */
void conn_cron(struct srv_shard *sh);

/* Frees the dead connections that no message refers to any more. */
void conn_reap(struct srv_shard *sh);

/* Stopping: sends what each client has ready, then closes every one. */
void conn_close_all(struct srv_shard *sh);

/* Closes c at once (CONN_DEAD); it is freed later by conn_reap. */
void conn_close(struct conn *c);

/* Holds cmd (CONN_IN_HELD) until c's requests away have come back. */
void conn_hold(struct conn *c, const sw__resp_cmd *cmd);

/* Appends a reply slot (a message) to c's reply queue. */
void conn_queue_slot(struct conn *c, struct msg *m);

/* The buffer the next reply to c goes to: its output while nothing is
 * queued ahead, else a new slot (*slot) at the back of its queue. NULL when
 * out of memory. */
sw__resp_buf *conn_reply_to(struct conn *c, struct msg **slot);

/* A reply from conn_reply_to is complete: it and those finished behind it
 * move to the output. */
void conn_replied(struct conn *c, struct msg *slot);

/* An EXEC of c has come back from another shard with its reply in m. */
void conn_take_reply(struct conn *c, struct msg *m);

/* c's held command may run now: runs it, and the input behind it. */
void conn_resume(struct conn *c);

/* ---- loop.c ----------------------------------------------------------------- */

/* Wakes sh's thread (its eventfd). Any thread. */
void srv_wake(struct srv_shard *sh);

/* ---- route.c ---------------------------------------------------------------- */

/* Appends m to the list head..tail linked by next (a shard's set-aside,
 * parked, pending or delayed messages). */
static inline void msg_append(struct msg **head, struct msg **tail, struct msg *m)
{
    m->next = NULL;
    if (*tail)
        (*tail)->next = m;
    else
        *head = m;
    *tail = m;
}

/* A message of c (an EXEC with cmd's arguments copied, or a reply slot),
 * with the hashes of cmd's keys in c's database where hash is not NULL
 * (struct keyhash's hash, copied). NULL when out of memory. Freed by
 * msg_free. */
struct msg *msg_new(struct conn *c, enum msg_kind kind, const sw__resp_cmd *cmd,
                    const struct cmd_def *def, const uint64_t *hash);
void msg_free(struct msg *m);

struct kkey;

/* kkey_build for a, an argument of m's command (a key in database db),
 * with its hash from m's (m->hash, for m->db) where it has one. */
int kkey_of(struct srv *s, const struct msg *m, int db, const sw__resp_arg *a, struct kkey *k);

/* The hashes of the keys an EXEC names, into h (at most cap): those of
 * its queued commands (queue, linked by qnext; each hashed from its memo
 * where it has one) and its nw watched keys w; how many, or cap + 1 when
 * there are more or a key cannot be built (no memory). Reads the
 * messages only: any thread that holds them. */
size_t route_exec_keys(struct srv *s, const struct msg *queue, const struct watched *w, size_t nw,
                       uint64_t *h, size_t cap);

/* Frees this thread's spare messages (msg_free keeps some for msg_new):
 * when a thread that handled messages is done with them. */
void msg_spare_drain(void);

/* Makes sh the calling thread's own shard: the messages of sh it frees it
 * keeps for its msg_new; another shard's go back to that shard. */
void msg_home(const struct srv_shard *sh);

/* Frees the messages other threads gave back to sh. After every shard
 * thread has ended. */
void msg_back_free(struct srv_shard *sh);

/* Runs one command of c here, on its keys' shard or as a world operation.
 * Returns false when c must stop parsing for now (the command is held, or
 * c is closing). */
bool route_dispatch(struct conn *c, const sw__resp_cmd *cmd);

/* Ends the world operation this shard holds: commits the other shards' new
 * log records and lets them go. */
void route_world_leave(struct srv_shard *me);

/* Handles every message in sh's inbox (and those set aside). */
void route_serve_inbox(struct srv_shard *sh);

/* Sends this turn's messages, one push per shard; after the commit. True
 * if some went to sh itself (a transaction's part, or answer, here). */
bool route_send_replies(struct srv_shard *sh);

/* Queues m for shard `to`: it leaves after this turn's commit, in order
 * with the turn's other messages to `to`. */
void route_send(struct srv_shard *sh, unsigned to, struct msg *m);

/* Runs an EXEC here and queues it home with its reply. */
void route_run_exec(struct srv_shard *sh, struct msg *m);

/* Counts a command of c that runs (statistics, idle time). */
void route_count(struct conn *c);

/* Replies "unknown command" for cmd. */
void route_reply_unknown(sw__resp_buf *out, const sw__resp_cmd *cmd);

/* ---- keytab.c ----------------------------------------------------------------- */

/* The link where the key of len bytes at key (with its hash) is, or would
 * go; t->cap must be non-zero. keytab_find: its entry, or NULL. */
struct keyent **keytab_slot(struct keytab *t, uint64_t hash, const void *key, size_t len);
struct keyent *keytab_find(struct keytab *t, uint64_t hash, const void *key, size_t len);

/* Makes room for one more entry, growing the buckets: false only when out
 * of memory with no buckets yet (a full table just chains longer). */
bool keytab_room(struct keytab *t);

/* Links e (hash, len and key set) at slot, from keytab_slot; unlinks the
 * entry at slot. Neither allocates or frees an entry: they are the
 * caller's. keytab_free frees the buckets, once the caller has freed the
 * entries (walking t->b). */
void keytab_link(struct keytab *t, struct keyent **slot, struct keyent *e);
void keytab_unlink(struct keytab *t, struct keyent **slot);
void keytab_free(struct keytab *t);

/* ---- multi.c ------------------------------------------------------------------ */

/* Inside MULTI: checks and queues cmd (d NULL: unknown; its keys' hashes
 * in the queue's database: hash, or NULL), replying +QUEUED or the error
 * that flags the transaction. The queued command keeps the hashes for
 * every later look at its keys. Returns false when c closes. */
bool multi_queue(struct conn *c, const sw__resp_cmd *cmd, const struct cmd_def *d,
                 const uint64_t *hash);

/* Whether c's EXEC may run on c's shard: every key it queued or watches is
 * there, and it queued nothing for every shard or for the connection. */
bool multi_here(struct conn *c);

/* Whether no key c queued is locked against its command on c's shard,
 * and no key it watches there is held exclusively. */
bool multi_keys_free(struct conn *c);

/* Whether c's EXEC may run as a transaction on the key locks (txn.c):
 * each command it queued names keys of one shard at most, or is one that
 * runs in a piece per shard of its keys (txn_cuts), and none is for
 * every shard or for the connection, but SELECT (each queued command
 * has the database its SELECTs gave it). multi_cmd_shard: where queued command
 * m runs (its keys' shard, or c's when it names none); NULL when its keys
 * span shards. */
bool multi_lockable(struct conn *c);
struct srv_shard *multi_cmd_shard(struct conn *c, const struct msg *m);

/* c's EXEC starts as a transaction: takes its queue (linked by qnext), its
 * watch token (*tok, NULL if none, to check once every key is locked) and
 * its watched keys (*w, n of them: the caller's to free), leaving c out of
 * MULTI. multi_tok_dirty: whether a watched key changed; multi_tok_done
 * lets the token go. multi_look looks at the watched keys w[0 .. n) of sh
 * (an expired one is removed, which marks its tokens). */
struct msg *multi_take(struct conn *c, struct wtok **tok, struct watched **w, size_t *n);
bool multi_tok_dirty(struct wtok *t);
void multi_tok_done(struct wtok *t);
void multi_look(struct srv_shard *sh, const struct watched *w, size_t n);

/* c closes: its transaction and watches go. */
void multi_conn_closed(struct conn *c);

/* Cron: drops the retired watch tokens; closing: frees the watched keys. */
void multi_gc(struct srv_shard *sh);
void multi_shard_free(struct srv_shard *sh);

/* ---- txn.c ------------------------------------------------------------------ */

/* What a multi-key command does as a transaction, or NULL if it runs as a
 * world operation instead. */
const struct txn_kind *txn_kind_of(const struct cmd_def *d, size_t argc);

/* Whether a command of d, queued for an EXEC with its keys over shards,
 * runs there in a piece per shard of its keys: one whose replies merge
 * into its own (MGET, EXISTS, MSET, DEL, UNLINK), or a joint, whose writes
 * follow from reads on its shards (MSETNX; RENAME, RENAMENX, COPY, MOVE,
 * LCS). Others make the EXEC a world operation. */
bool txn_cuts(const struct cmd_def *d, size_t argc);

/* Starts c's EXEC (cmd), whose keys span shards, as a transaction on the
 * key locks (multi_lockable). Returns false when c must stop parsing. */
bool txn_start_exec(struct conn *c, const sw__resp_cmd *cmd, const struct cmd_def *d);

/* Starts cmd, whose keys span shards, as a transaction of kind k; hash:
 * its keys' hashes (struct keyhash's), or NULL. Returns false when c must
 * stop parsing for now. */
bool txn_start(struct conn *c, const sw__resp_cmd *cmd, const struct cmd_def *d,
               const struct txn_kind *k, const uint64_t *hash);

/* Gathers cmd, a transaction of kind k (hash: its keys' hashes, or NULL),
 * with the MGETs or MSETs of c's input gathered just before it, to start
 * as one transaction when a command of another kind comes, or the input
 * pass ends (txn_gather_flush); other kinds start at once (txn_start).
 * Returns false when c must stop parsing for now. */
bool txn_gather(struct conn *c, const sw__resp_cmd *cmd, const struct cmd_def *d,
                const struct txn_kind *k, const uint64_t *hash);

/* Starts what sh has gathered, if anything, as one transaction: before
 * anything else of the gathering connection runs, and before its input
 * pass ends. False when that closed the connection (out of memory), or it
 * was closed already: then the gathered commands are dropped. */
bool txn_gather_flush(struct srv_shard *sh);

/* A world operation of c is due: true if it may start now; false if it
 * waits (held) for the transactions under way, which no new one joins. */
bool txn_world_may_start(struct conn *c, const sw__resp_cmd *cmd);

/* c's world operation is over: transactions may start again. */
void txn_world_done(struct conn *c);

/* Whether one of the n keys whose hashes h holds is a key of one of c's
 * transactions under way (or may be: hashes are compared). */
bool txn_conn_touches(const struct conn *c, const uint64_t *h, size_t n);

/* Whether the key of len bytes at p (stored form, with its hash) is not
 * locked against a command on sh (write: held at all; read: held
 * exclusively). */
bool txn_key_free(struct srv_shard *sh, uint64_t hash, const char *p, size_t len, bool write);

/* Whether none of the keys of a command of d is locked against it on sh;
 * hash: its keys' hashes (struct keyhash's), or NULL. */
bool txn_keys_free(struct srv_shard *sh, const struct cmd_def *d, size_t argc,
                   const sw__resp_arg *argv, int db, const uint64_t *hash);

/* Holds c's command cmd until what it waits for (why) is over. */
void txn_wait(struct conn *c, const sw__resp_cmd *cmd, enum conn_wait why);

/* Runs the EXEC m here, or parks it until its keys are unlocked. */
void txn_exec(struct srv_shard *sh, struct msg *m);

/* Handles a transaction's message (MSG_LOCK ... MSG_UNLOCK). */
void txn_handle(struct srv_shard *sh, struct msg *m);

/* Each turn: retries the connections waiting for a world operation or for
 * one to end. */
void txn_retry(struct srv_shard *sh);

/* c is closing: it waits for nothing any more. */
void txn_conn_closed(struct conn *c);

/* Frees sh's lock table (closing). */
void txn_shard_free(struct srv_shard *sh);

#endif
