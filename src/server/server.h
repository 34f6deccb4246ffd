/* stewardd's internals: the server, its shard threads, connections and the
 * messages between shards.
 *
 * DESIGN
 *
 * Shared nothing, thread per shard. The server runs N shard threads. Each
 * has its own epoll loop, its connections and 1/N of the keys. All threads
 * wait on one listening socket with EPOLLEXCLUSIVE, so the kernel hands
 * each new connection to one of them, but not evenly (a burst of connects,
 * or one after another, mostly to the same thread); the thread that
 * accepts gives it to the shard with the fewest connections, itself on a
 * tie, through that shard's `incoming` stack and a wake-up. Each holds a
 * Db shard (table and journal, src/db) that only its thread touches (or a
 * thread it is lent to, below). A key's shard is picked from its hash, as
 * the library's Db does.
 *
 * A command whose keys are all on the connection's own shard runs at once,
 * in the loop. A command whose keys are all on one other shard travels
 * there as a message (an EXEC: the command's arguments, copied) and comes
 * back as the same message carrying the encoded reply.
 *
 * Transactions (txn.c). MSET, MGET, DEL, UNLINK, EXISTS and MSETNX whose
 * keys span shards run as a transaction: one part per shard of its keys,
 * each a message holding that shard's keys. So do RENAME, RENAMENX, COPY,
 * MOVE and LCS (a pair: two keys on two shards, whose writes are known
 * only once both are read): each part locks its key (LCS shared, the
 * others exclusively) and reads it at the grant; from both reads the
 * coordinator decides as the command would on one shard, and what it
 * writes (the value put at the destination; the source deleted but for
 * COPY) goes through a second round (PREPARE: logged as PARTs, or on a
 * memory-only server the destination's put made, which may fail alone)
 * before the reply and a third (APPLY) after it, as MSET's writes do. A
 * memory-only server's source prepares nothing: its delete waits for the
 * APPLY, and both parts hold their keys until then. COPY writes on one
 * shard only: that part makes its write at once, the source's lets its
 * key go, and the reply follows the write. An EXEC is a transaction too,
 * unless it queued a command for every shard (a queued SELECT is answered
 * by the coordinator, and the connection takes its database with the
 * reply, waiting for it meanwhile): a part holds its
 * shard's commands and watched keys, locks them all exclusively, and once
 * every part is locked (no watched key changed: EXEC's check) runs its
 * commands (RUN, as APPLY), logging their writes as its PART; the reply
 * follows the last part's run, and each part's decision and unlock a
 * third message (COMMIT; a memory-only server unlocks at the run, and the
 * coordinator frees the parts itself). A
 * queued command whose keys span shards is cut into a piece per shard:
 * MSET, MGET, DEL, UNLINK and EXISTS run their pieces as they come, and
 * their replies merge into its own; MSETNX, RENAME, RENAMENX, COPY, MOVE
 * and LCS are joints (txn.c), whose writes follow from reads on their
 * shards: a part stops at the piece, reads, sets its log unit aside and
 * answers (STEP); once every part of the joint has, the coordinator
 * decides as on one shard and sends them on (a RUN again) with the
 * writes, a destination's put before its source's delete. A part's
 * writes, before and after its stops, stay one PART. A part takes a lock
 * on each of its keys on its shard (shared for a read, exclusive for a write) and runs
 * once all are granted; its keys stay locked until every part has run, and
 * then the coordinator (the client's shard) unlocks them. A read, or a
 * write that cannot be refused (no log), runs at its grant and the unlock
 * follows the last part's answer: one round trip. A durable write logs its
 * part's writes at the grant, as one PART record of the transaction
 * (db/shard.h), without applying them; MSETNX first counts the keys that
 * exist, and logs nothing if one does. Once every part has answered (each
 * PART committed: synced, with appendfsync always), the transaction is
 * decided: the client gets its reply, and each part (APPLY) logs DECIDED,
 * applies its writes and unlocks its keys. A refused part (no room on the
 * disk) calls the whole off. When every part has applied, the coordinator
 * lets each forget its PART, which a compaction keeps until then. A crash
 * therefore keeps all of a transaction or none of it: recovery applies a
 * part only if every part was logged or one was decided.
 * Single-key commands take no lock:
 * they run unless a key of theirs is locked against them, and otherwise
 * wait (a connection holds its input; an EXEC is parked) until the unlock.
 * So nobody sees a part's writes before every part has been granted: the
 * transaction happens at that moment, to every observer. A pipeline's run
 * of MGETs, or of MSETs, is gathered into one such transaction of all
 * their keys (txn.c, "gathering"): the protocol does not change, only the
 * number of keys, and each command gets its own reply.
 *
 * Why transactions cannot deadlock. A turn that started transactions sends
 * its messages at its end while holding the server's `sched` mutex, so
 * every shard receives the parts of any two transactions in the same order,
 * and grants them first come, first served: a part is granted when no
 * holder and no earlier waiting part conflicts with it. A part therefore
 * waits only for parts of transactions scheduled before its own, which
 * wait only for earlier ones still: no cycle. Parts never wait for anything
 * else (a transaction is not sent while an EXEC of its connection on one
 * of its keys is away, so no part waits behind one; a pair's, an EXEC's or a durable write's
 * later steps, PREPARE, APPLY and COMMIT, lock nothing and never wait; an
 * EXEC's part stopped at a joint waits only for its own transaction's
 * other parts, which hold all their locks already, and the joints are
 * decided in queue order, which every part meets them in),
 * and single-key commands hold nothing: they
 * wait, but nothing waits for them. verify/txn.pml checks the
 * protocol (docs/verification.md).
 *
 * World operations. A command on every shard (DBSIZE, KEYS, SCAN, FLUSHALL,
 * INFO), WATCH on another shard's key, and an EXEC with a command of that
 * kind, run as a "world" operation on the connection's thread: it
 * first waits, holding its input, until no transaction is under way (no
 * new one starts meanwhile: the two sides each raise a counter, then read
 * the other's, sequentially consistent, so one sees the other); then it
 * takes the world lock, pauses each other shard (a PAUSE message: the shard
 * acknowledges and waits), works on their tables directly, commits their
 * journals, and lets them go. Only the holder of the world lock pauses
 * other shards, a shard waiting for it keeps answering PAUSE messages, and
 * a paused shard waits for nothing but its release.

 * Reply order. A connection's replies leave in request order: while any of
 * its requests is away on another shard, later replies queue behind it, each
 * in its own slot (a message), and the queue drains from the front as
 * replies come back. A connection's commands on one key run in its order:
 * requests to one shard arrive there in order, a command (or an EXEC on
 * the connection's shard) on a key of a transaction of its connection
 * under way waits for that transaction, a transaction (or an EXEC over
 * shards) waits for its connection's single-shard commands away
 * (MSG_EXEC) on one of its keys (an EXEC's keys: its queued commands' and
 * its watched ones), MULTI waits for nothing, and a world operation
 * or another command on the connection (WATCH, HELLO, ...) waits for all
 * its connection's requests away (route.c's must_wait). Commands on keys
 * of different shards may run in either order, as they may on a Redis
 * Cluster.
 *
 * Group commit. Nothing a shard writes to a socket or sends back to another
 * shard leaves before the end of its loop turn, where the turn's log
 * records are written (and, with appendfsync always, fsynced) in one go. A
 * reply thus never reports a write the disk does not have, nor a value read
 * from one. If the log cannot be written the server stops at once, sending
 * nothing more, as redis-server does when its AOF fsync fails.
 *
 * Wake-ups. A shard's inbox is a lock-free stack (push: one CAS; the shard
 * takes the whole stack at once and reverses it into arrival order). Before
 * it sleeps in epoll_wait a shard sets its `sleeping` flag and looks at the
 * inbox once more; a producer that pushed and then sees the flag clears it
 * and writes the shard's eventfd. Both sides use sequentially consistent
 * operations, so one of them always sees the other: no wake-up is lost.
 *
 * Lending. A wake-up (an eventfd write, the sleeper's epoll_wait return
 * and a context switch) costs more than the message it wakes for, and on
 * fewer cores than shards it is most of a transaction's cost. So a shard
 * is an owner, as the library's are: whoever holds its `turn` mutex runs
 * it. Its thread holds it for each turn and lets it go to sleep; a shard
 * thread whose pushes find a shard asleep takes it (trylock: it never
 * waits) and serves that inbox itself (srv_lend), as a free owner runs a
 * call on its caller. A lent shard handles its messages up to a PAUSE,
 * commits, sends what they produced (lending in turn), writes its
 * clients' replies and goes back to sleep as its thread would. It never
 * runs a connection's input (one that may go on waits, WAIT_TURN, for its
 * own thread, which is woken) nor anything that waits; a shard that needs
 * its thread (a PAUSE, a waiting connection) is woken instead. No
 * deadlock: a thread waits only for its own shard's mutex, holding none.
 * Not with appendfsync always, whose fsync belongs on the shard's own
 * thread, beside the others'. verify/lend.pml checks that no message is
 * left unhandled and no two threads run a shard at once.
 *
 * Files. loop.c is a shard thread and its turn (wait, inbox, commit, flush,
 * cron); conn.c a connection's life (accept, read, parse, answer in order,
 * write, close); route.c where each command runs, the messages and inboxes
 * between shards and the world's pause protocol; txn.c transactions and
 * key locks; multi.c MULTI, EXEC and WATCH. loop_int.h joins them.
 */
#ifndef STEWARD_SERVER_SERVER_H
#define STEWARD_SERVER_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "db/shard.h"
#include "server/resp.h"
#include "log/journal.h"
#include "steward/account.h"

#define SRV_VERSION "0.1.0"
/* The Redis version stewardd answers as (INFO's redis_version, HELLO's
 * version): the release whose commands, replies and errors it follows, and
 * the one its tests compare it with. Clients pick features by it (RESP3,
 * SET's GET option, CLIENT SETINFO after 7.2), so it says what stewardd
 * serves, never more; steward_version says which stewardd it is. */
#define SRV_REDIS_VERSION "7.0.15"
#define SRV_DBS 16        /* SELECT 0 .. 15 */
#define SRV_MSG_CLASSES 3 /* the size classes of spare messages (route.c) */

/* ---- configuration -------------------------------------------------------- */

/* Filled from the flags and the config file by conf.c, whose table names
 * every field but config_file. */
struct srv_config {
    int port;
    char bind[64];
    char *dir; /* NULL: memory only */
    enum sw_fsync fsync;
    unsigned shards;
    char *requirepass; /* NULL or "": none */
    unsigned maxclients;
    int64_t timeout_s;    /* idle clients are closed after this; 0: never */
    size_t obuf_limit;    /* a client whose unsent replies pass this is closed */
    int64_t obuf_stall_s; /* ... or whose replies sit unread this long */
    size_t max_bulk;      /* proto-max-bulk-len */
    size_t max_query;     /* client-query-buffer-limit */
    bool protected_mode;  /* refuse non-loopback clients without a password */
    int hz;               /* active expiry and timeouts, times per second */
    char *config_file;    /* the config file's absolute path, for INFO; NULL: none */
};

/* ---- connections and messages --------------------------------------------- */

enum msg_kind {
    MSG_EXEC,  /* a command for the shard of its keys */
    MSG_REPLY, /* an EXEC back home with its reply */
    MSG_PAUSE, /* a world operation stops the shard */
    MSG_SLOT,  /* a reply slot in a connection's queue, never sent */
    /* A multi-shard transaction's part (txn.c), one message per shard that
     * travels between the coordinator and that shard: */
    MSG_LOCK,    /* lock the part's keys, then prepare (or, read-only: run) */
    MSG_READY,   /* back at the coordinator: locked, prepared or refused */
    MSG_APPLY,   /* decided: log so, make the writes, unlock (EXEC's: run the commands) */
    MSG_DONE,    /* back at the coordinator: the step made and committed */
    MSG_COMMIT,  /* an EXEC's part: its decision; unlock */
    MSG_PREPARE, /* a pair's part (RENAME, ...): log its writes, now decided on (memory: put) */
    MSG_UNLOCK,  /* the end: unlock if still locked, forget; not answered */
    MSG_STEP,    /* back at the coordinator: an EXEC's part stopped at a joint's piece, read */
};

struct conn;
struct srv_shard;
struct cmd_def;
struct txn;
struct txn_kind;
struct klock;
struct wtok;

/* A key a connection watches (multi.c), stored form (its database first):
 * for EXEC's look, on its shard, and nothing else. */
struct watched {
    struct srv_shard *sh;
    uint64_t hash;
    size_t len;
    char *key;
};

/* A PAUSE message's state: the futex word `pause` of struct msg. The world
 * holder sets PAUSE_SENT before each push (having waited for PAUSE_LEFT if
 * the message was used before); each later state is one release store that
 * the other side's acquire load (wait_word, route.c) pairs with. */
enum msg_pause {
    PAUSE_SENT,     /* pushed; the shard has not stopped yet */
    PAUSE_ACKED,    /* the shard has stopped and handed its state to the holder */
    PAUSE_RELEASED, /* the holder is done with the shard's state and hands it back */
    PAUSE_LEFT,     /* the shard no longer reads the message: the holder may reuse it */
};

/* A message between shards, and also a reply slot in a connection's queue.
 * Fields: written by the thread that holds the message at the moment (its
 * origin until pushed, then the receiver); an inbox push publishes them. */
struct msg {
    struct msg *next;  /* inbox link */
    struct msg *qnext; /* the connection's reply queue link (origin only) */
    enum msg_kind kind;
    bool done;              /* a slot whose reply is in out */
    bool skipped;           /* MSG_EXEC: not run, its client being over the output limit */
    struct srv_shard *from; /* the origin shard */
    /* The connection it answers: the origin's; the executing shard reads
     * only its atomics (away_bytes, gone). */
    struct conn *c;
    const struct cmd_def *cmd;
    int db;
    size_t argc;
    sw__resp_arg *argv; /* into the message's own allocation */
    uint64_t *hash;     /* argv's keys' hashes in db (struct keyhash), or NULL */
    sw__resp_buf out;   /* the reply */
    /* MSG_PAUSE: an enum msg_pause, kept a 32-bit word for the futex. */
    _Atomic uint32_t pause;
    /* A transaction's part (txn.c): its transaction (the coordinator's), the
     * lock table entries of its keys (the executing shard's), the log room
     * it holds there, and what its prepare found. */
    struct txn *txn;           /* the coordinator's: only it reads this */
    const struct txn_kind *tk; /* what the part does (immutable) */
    struct klock **locks;      /* lock_room, or allocated when more */
    size_t nlocks;
    struct klock **lock_room; /* in the message's own allocation: lock_cap of them */
    size_t lock_cap;
    int64_t found;
    /* A durable write's part: its transaction's id, how many parts it has
     * and this one's index (set by the coordinator), and its PART, live on
     * the executing shard from its log until forgotten. */
    uint64_t txid;
    uint32_t nparts, partno;
    sw__shard_tx *stx;
    /* An EXEC's part: its queued commands on this shard, in queue order
     * (each answers into its own out), and the watched keys here. */
    struct msg **subs;
    size_t nsubs;
    struct watched *wkeys;
    size_t nwkeys;
    /* A queued command whose keys span shards (txn_cuts): its pieces, by
     * shard (NULL where none), each that shard's keys under its name, and
     * (but for a pair's) after them in their allocation each key's shard (a
     * uint32_t); they are freed with it. joint: the command is a joint, or
     * this is a joint's piece (txn.c, "joints"); step: what the piece's part
     * does with it next (txn.c's enum piece_step), and held: the log room
     * its write has held since its read. */
    struct msg **pieces;
    size_t npieces;
    bool joint;
    uint8_t step;
    size_t held;
    bool reserved; /* the log room its run's end needs, held */
    /* An EXEC's part: the next of its commands to run; on a durable server
     * with a joint's piece among them, room for its unit set aside while it
     * waits there (made with the part, freed with it; unit->on while set
     * aside). Kept out of line: every message carries this struct. */
    size_t at;
    sw__shard_unit *unit;
    /* A pair's part (RENAME, RENAMENX, COPY, MOVE, LCS across two shards;
     * part 0 the source's, part 1 the destination's): its key's value
     * and deadline as read at the grant (the source's; LCS's both), and
     * the write the coordinator's decision gives it, once PREPAREd. */
    char *val;
    size_t vlen;
    int64_t expire;
    bool put, del, prepared;
    int rc;
    int64_t due_us;      /* the test seam's delay (srv.test_txn_delay_us): when it ends */
    unsigned size_class; /* its allocation's (route.c's spares) */
};

/* A shard's chained hash table of keys (keytab.c). Each entry begins with
 * a struct keyent, whose key points at the entry's own copy. */
struct keyent {
    struct keyent *next; /* bucket chain */
    uint64_t hash;
    size_t len;
    const char *key;
};
struct keytab {
    struct keyent **b; /* buckets, cap a power of two; NULL: empty */
    size_t cap, n;
};

/* A shard's key locks (txn.c): the keys the transactions it takes part in
 * have locked or wait for. */
struct ltab {
    struct keytab t;
    struct klock *spare; /* freed locks of the usual size, for reuse */
    size_t nspare;
};

/* A connection's life; it only moves down this list. */
enum conn_life {
    CONN_OPEN, /* reads, runs and replies */
    /* Reads and runs no more, and is closed once its output and reply queue
     * have been sent: after QUIT or SHUTDOWN (conn_close_after_flush), a
     * protocol error, or a reply cut short. */
    CONN_CLOSING,
    /* Closed and off the shard's list, its socket gone; conn_reap frees it
     * once none of its messages is away and it is off the flush list. */
    CONN_DEAD,
};

/* Whether a connection parses the input it has, and if not, why. */
enum conn_input {
    CONN_IN_ON, /* parses and runs its input, and reads more while open */
    /* A command that spans shards (held_cmd) waits until every request of
     * this connection away on another shard is back, as it must see their
     * effects; conn_take_reply resumes it. */
    CONN_IN_HELD,
    /* Back-pressure: AWAY_MAX requests are away, so the socket is not read
     * until most of them are back (conn_write resumes it). */
    CONN_IN_PAUSED,
};

/* Why a held connection (CONN_IN_HELD) waits, besides its requests away. */
enum conn_wait {
    WAIT_NONE,
    WAIT_LOCK,  /* a key of held_cmd is locked by a transaction here */
    WAIT_WORLD, /* held_cmd is a world operation and transactions are live */
    WAIT_SCHED, /* held_cmd is a transaction and a world operation is due */
    WAIT_TURN,  /* held_cmd may run, on the shard's own thread's next turn (srv_lend) */
};

/* One client connection; its shard thread's only (or the world holder's
 * while that shard is paused). */
struct conn {
    int fd;
    uint64_t id;
    struct srv_shard *sh;
    sw__resp_parser parser;
    sw__resp_buf out;          /* replies ready to send, in order */
    struct msg *qhead, *qtail; /* replies not yet in out, in request order */
    size_t away;               /* messages of this connection held elsewhere */
    size_t slot_bytes;         /* bytes of the finished replies in the queue */
    /* Bytes of replies other shards have made for it that have not come
     * into out yet, and whether it is dead (CONN_DEAD, mirrored): both read
     * by those shards, which run nothing more for a client already over
     * its output limit or gone (see run_exec). */
    _Atomic size_t away_bytes;
    _Atomic bool gone;
    int db;
    int proto; /* 2 or 3 (HELLO) */
    enum conn_life life;
    enum conn_input input;
    bool authed;           /* AUTH passed, or no password is set */
    sw__resp_cmd held_cmd; /* CONN_IN_HELD: the command that waits */
    enum conn_wait wait;   /* and on what, when not just its requests away */
    bool world_wanted;     /* counted in srv.world_wanted (txn.c) */
    size_t txns;           /* its transactions' replies under way (counted in away too) */
    struct txn *txn_list;  /* and those transactions (txn.c) */
    /* MULTI and WATCH (multi.c): the queued commands (linked by qnext), an
     * error while queueing, the watch token and the keys watched. */
    bool in_multi, multi_err;
    struct msg *mq_head, *mq_tail;
    /* The database of the commands queued next: the connection's at MULTI,
     * then each queued SELECT's. db_pending: an EXEC on the key locks that
     * SELECTs is away, and the connection's next commands wait for its
     * reply, which sets db (unless the EXEC was called off). */
    int mq_db;
    bool db_pending;
    struct wtok *wtok;
    struct watched *watched;
    size_t nwatched;
    struct conn *wait_next; /* the shard's waiting list, while wait != WAIT_NONE */
    size_t rpos, rlen;      /* unparsed bytes of rbuf */
    bool want_write;        /* EPOLLOUT registered: output is left to send */
    bool in_flush_list;     /* queued for the end of this turn's flush (flush_next) */
    struct conn *flush_next;
    struct conn *prev, *next; /* the shard's list of connections (or of dead ones) */
    char *name;
    char *lib_name, *lib_ver;
    char addr[64];
    int64_t created_ms, last_ms; /* last_ms: last command (idle timeout) */
    int64_t stalled_since_ms;    /* when unsent output last made no progress; 0: none */
    uint64_t cmds;
    char rbuf[16384];
};

/* ---- shards --------------------------------------------------------------- */

struct srv;

/* Samples per instantaneous rate: INFO reports their mean, as Redis does
 * (16 samples 100 ms apart, so a rate follows the last 1.6 s). */
#define SRV_RATE_SAMPLES 16
#define SRV_RATE_PERIOD_MS 100

/* One instantaneous rate (INFO stats): a counter's per-second rate over its
 * last SRV_RATE_SAMPLES samples. The shard's thread only (or the world
 * holder's while the shard is paused). */
struct srv_rate {
    int64_t last_ms; /* when the counter was last read; 0: never */
    uint64_t last;   /* and what it read */
    unsigned next;   /* the sample to overwrite next */
    uint64_t per_sec[SRV_RATE_SAMPLES];
};

/* A sum of key deadlines, as offsets from srv.start_ms (INFO's avg_ttl):
 * 128 bits where the compiler has them, which no sum of int64 deadlines
 * over size_t keys overflows; else 64, unsigned so that adds and subtracts
 * wrap and cancel exactly, which is exact while the true sum fits. */
#ifdef __SIZEOF_INT128__
typedef __int128 srv_ttl_sum;
#else
typedef uint64_t srv_ttl_sum;
#endif

/* Consecutive MGETs, or consecutive MSETs, of one connection's input whose
 * keys span shards, gathered to run as one transaction (txn.c,
 * "Gathering"): the combined command (the name, then each command's keys,
 * with their values, in order; the keys' hashes beside them) and each
 * command's key count. Its arrays are the shard's, made at its first use
 * and kept; what it holds is flushed before the connection's input pass
 * ends and before anything else of that connection runs. */
struct gather {
    struct conn *c; /* whose commands; NULL: none gathered */
    const struct txn_kind *k;
    const struct cmd_def *d;
    int db;
    size_t ncmds, argc, nbytes;
    sw__resp_arg *argv; /* GATHER_ARGS: the combined command's arguments */
    uint64_t *hash;     /* GATHER_ARGS: their keys' hashes (struct keyhash's) */
    size_t *cmd_keys;   /* GATHER_CMDS: each command's keys */
    char *bytes;        /* GATHER_BYTES: the arguments' bytes */
};

struct srv_shard {
    /* Read and written by other threads: the inbox and its wake-up. */
    _Alignas(64) _Atomic(struct msg *) inbox; /* pushed by anyone, taken by this thread */
    _Atomic uint32_t sleeping;                /* this thread may be in epoll_wait */
    int efd;                                  /* eventfd; immutable */
    /* Held by whoever runs the shard: its thread for a turn, or a shard
     * thread that found it asleep and serves its inbox itself (srv_lend). */
    pthread_mutex_t turn;
    /* Messages this shard made, freed by other threads, per size class:
     * pushed by anyone, taken by whoever runs the shard (route.c). */
    _Atomic(struct msg *) msg_back[SRV_MSG_CLASSES];
    /* Its connections, and those on their way to it: read by every
     * accepting thread, which gives a new client to the shard with the
     * fewest (conn.c). */
    _Atomic unsigned nconns;
    /* Clients another shard's thread accepted for this one (linked by
     * next): pushed by it, taken by this thread at its next turn. */
    _Atomic(struct conn *) incoming;

    /* This thread's only (or its pauser's while paused). */
    _Alignas(64) struct srv *srv;
    unsigned index;
    pthread_t thread;
    int epfd;
    sw__shard *core;                      /* the keys: table and journal (db/shard.h) */
    size_t keys[SRV_DBS];                 /* keys per database (expired ones until swept) */
    size_t expires[SRV_DBS];              /* of which with a deadline */
    struct conn *conns;                   /* every open connection of this shard */
    struct conn *flush;                   /* connections with output this turn */
    struct msg *deferred, *deferred_tail; /* inbox messages set aside during a world wait */
    struct msg **outq;                    /* per destination shard: messages to send after commit */
    struct msg **outq_tail;
    struct msg *pauses; /* one per shard: for this shard's world operations */
    struct conn *dead;  /* closed connections waiting for their away messages */
    bool dirty;         /* log records appended this turn (by anyone) */
    size_t room;        /* log bytes a multi-key write will take here (kv_room_add) */
    int refusing;       /* errno of the latest write refused for want of disk
                           space, 0 once one is logged again (kv.c) */
    bool world_held;    /* this shard holds the world (route.c) */
    bool lent;          /* another shard's thread runs it (srv_lend) */
    /* Transactions (txn.c): the key locks, the parts waiting for theirs
     * (in arrival order), the EXECs waiting for a locked key, and the
     * connections waiting (enum conn_wait). */
    struct ltab locks;
    struct keytab watches; /* the watched keys (multi.c) */
    struct msg *pending, *pending_tail;
    struct msg *parked, *parked_tail;
    struct conn *waiting;
    unsigned spinning;                  /* of which not WAIT_LOCK: retried every turn */
    uint64_t lock_scans, lock_arrivals; /* txn.c's stamps on this shard's key locks */
    bool scheduling; /* this turn started transactions: its messages leave under sched */
    struct msg *delayed, *delayed_tail; /* the test seam's parts, in arrival order */
    struct gather gather;               /* a connection's MGETs or MSETs, gathered (txn.c) */
    sw__shard_tx *unit_tx;              /* a world operation's unit: this shard's part (route.c) */
    int64_t now_ms;                     /* the turn's clock */
    int64_t last_cron_ms;
    /* The deadlines of the keys with one, summed per database, for INFO's
     * exact avg_ttl (kv.c). */
    srv_ttl_sum ttl_sum[SRV_DBS];
    /* INFO's instantaneous rates of commands and network bytes, which the
     * cron samples (kv_rates_sample) and INFO reads as a world operation. */
    struct srv_rate rate_cmds, rate_in, rate_out;
    /* Statistics (this thread writes; INFO reads them relaxed). */
    _Atomic uint64_t st_cmds, st_conns, st_rejected, st_expired, st_hits, st_misses;
    _Atomic uint64_t st_in_bytes, st_out_bytes;
    /* Turns of this shard another shard's thread served (srv_lend), and
     * wake-ups written to its eventfd (any thread writes these); world
     * operations it started (route.c). */
    _Atomic uint64_t st_lent_turns, st_wakeups, st_world_ops;
    _Atomic int st_refusing; /* refusing, for INFO */
};

struct srv {
    struct srv_config cfg;
    unsigned n;
    struct srv_shard *shards;
    int lfd; /* the listening socket */
    sw_ledger *ledger;
    /* A test seam: odd shards set each step of a part aside this long,
     * serving everything else meanwhile, which widens the windows a
     * missing lock would open (the environment's
     * STEWARDD_TEST_TXN_DELAY_US; tests/server/test_redis_py.py). */
    unsigned test_txn_delay_us;
    _Atomic bool stopping; /* written once, read by every shard each turn */
    int64_t start_ms;
    char run_id[41];
    sw__syncer syncer;
    /* Written by any shard, each group on cache lines of its own, away
     * from the fields above that every shard reads all the time. */
    _Alignas(64) pthread_mutex_t world; /* held by the one shard running a world operation */
    /* Transactions (txn.c). Parts are pushed to their shards' inboxes
     * under `sched`, so every shard sees transactions in one order. */
    _Alignas(64) pthread_mutex_t sched;
    _Alignas(64) _Atomic long txns_live; /* scheduled and not finished */
    _Atomic long world_wanted;           /* world operations waiting: no new transaction starts */
    _Atomic uint64_t next_txid;          /* a durable write's transaction id (db/shard.h) */
    _Alignas(64) _Atomic long inflight;  /* EXEC messages not yet back home */
    _Atomic unsigned quiet;              /* shards that will start no more work */
    _Atomic uint32_t nclients;           /* across shards, for maxclients */
    _Atomic uint64_t next_id;
};

/* ---- the loop (loop.c, conn.c, route.c) ------------------------------------ */

/* Starts the shard threads and waits until they exit (SHUTDOWN, SIGTERM).
 * Returns 0 when they stopped cleanly. Main thread only. */
int srv_run(struct srv *s);

/* Asks every shard to stop (any thread, async-signal-safe). */
void srv_stop(struct srv *s);

/* The shard of an internal key's hash. */
static inline unsigned srv_shard_of(const struct srv *s, uint64_t hash)
{
    return sw__shard_of(hash, s->n);
}

/* A connection's output gained bytes: have it flushed at the end of the
 * turn. Thread safety: c's shard thread only. */
void srv_conn_touch(struct conn *c);

/* c's local address, "host:port" (CLIENT LIST's laddr). Thread safety:
 * c's shard thread, or a world operation's. */
void conn_local_addr(const struct conn *c, char *buf, size_t cap);

/* Closes c once its output and reply queue are sent; it runs nothing more
 * (QUIT, SHUTDOWN). The connection's thread only. */
void conn_close_after_flush(struct conn *c);

/* Whether the calling thread may touch sh's keys and connections: sh is
 * the shard it runs, or the shard it runs holds the world (so every other
 * shard is paused). For assertions. Thread safety: any thread. */
bool srv_may_touch(const struct srv_shard *sh);

/* Makes the calling thread sh's thread (shard_main, and a test or fuzz
 * harness that runs commands on a shard by hand). */
void srv_shard_bind(const struct srv_shard *sh);

/* sh may be asleep and has messages (inbox_push_quiet said so): serves
 * them on this thread, as sh's own thread would at a turn, if sh is free
 * and that is safe; else wakes sh. Thread safety: a shard thread in its
 * turn, holding nothing but its own shard (and shards it lends itself to). */
void srv_lend(struct srv_shard *sh);

/* ---- opening (server.c) ----------------------------------------------------- */

/* Opens the server in *s (caller's memory): copies cfg, whose strings stay
 * the caller's (CONFIG SET may put a new requirepass in s->cfg, which the
 * caller then frees instead of its own), opens the data directory and
 * replays every shard's log, opens the Ledger and binds the listening
 * socket. Returns SW_OK, or SW_EINVAL / SW_EIO / SW_EEXIST / SW_ENOMEM with
 * err saying why; either way srv_close must follow. Main thread only. */
int srv_open(struct srv *s, const struct srv_config *cfg, char *err, size_t errlen);

/* After srv_run has returned (or after a failed srv_open): syncs and closes
 * the logs and the Ledger and frees what srv_open took. Main thread only. */
void srv_close(struct srv *s);

#endif
