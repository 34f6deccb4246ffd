/* A Promela model of the key-lock protocol of stewardd's multi-key
 * commands (MSET, MGET, DEL, UNLINK, EXISTS, MSETNX whose keys span
 * shards, an EXEC on the key locks, a joint in one, and RENAME, RENAMENX,
 * MOVE, COPY, LCS whose two keys are on two shards), as
 * src/server/txn.c and src/server/route.c run it (the pair transactions
 * as specified for txn.c, being written alongside): each
 * transaction's parts reach the shards of its keys in the one order that
 * the `sched` mutex gives them, each shard grants them FIFO, and only those
 * shards take part; single-key commands beside them take no lock; a world
 * operation (FLUSHALL, DBSIZE, KEYS) waits until no transaction is live.
 * It follows the code's steps, as verify/owner.pml follows owner.c's;
 * tools/verify.sh checks it exhaustively with spin, and
 * docs/verification.md says what it covers and what it leaves out.
 *
 * What is modelled, each inline named after the function it stands for:
 *  - txn_start, on the coordinator (the client's shard): txns_live++, then
 *    a seq_cst load of world_wanted; while a world operation wants the
 *    world it undoes the increment and waits (WAIT_SCHED, retried every
 *    turn). Else its parts, one per shard of its keys, leave at the end of
 *    the turn (route_send_replies): under `sched`, one inbox push per
 *    shard, in ascending shard order. Two transactions' pushes never
 *    interleave, so every shard receives their LOCKs in one order; other
 *    messages (a single-key command's EXEC, send_exec) are pushed without
 *    `sched` and may come between.
 *  - enqueue (LOCK): a part is granted at once when no key of it is held
 *    against it (held_against: a write, any holder; a read, an exclusive
 *    holder) and no part waiting there wants one of its keys; else it
 *    joins the shard's pending FIFO.
 *  - take, with prepare: on its grant a part locks its keys; a read (MGET)
 *    runs at once, and so does a write when the server has no log
 *    (runs_at_grant); a logged write only prepares: it logs its PART
 *    record (sw__shard_tx_prepare), not applied, and the part is live on
 *    its shard. Then READY to the coordinator, after the turn's commit.
 *  - all_ready, on the coordinator at the last READY: when the parts ran
 *    at their grant, the reply and txns_live-- (finish), and UNLOCK to
 *    each part at the turn's end (no answer awaited). A logged write is
 *    decided here: its reply goes out now, with APPLY to each part, which
 *    logs its DECIDED, writes, unlocks and answers DONE; at the last DONE
 *    (all_done), txns_live-- and FORGET to each part (sw__shard_tx_forget:
 *    the part is no longer live; no lock effect). verify/txlog.pml checks
 *    those records across a crash; here FORGET asserts what it relies on,
 *    that every part's DECIDED is logged by then.
 *  - unlock: the part's locks go; then the EXECs parked there whose keys
 *    are free run, in order (unpark); then the connections of this shard
 *    waiting for a lock run their command again (resume, WAIT_LOCK), each
 *    waiting again if it must; then, if a released key had parts waiting,
 *    the grant scan.
 *  - grant: in arrival order, each pending part is granted that has no
 *    holder against it and no conflict (X-X, X-S, S-X; S-S is none) on a
 *    key with an earlier part that this scan left pending (the scan's
 *    stamps).
 *  - single-key commands (route_dispatch, txn_exec, txn_keys_free): no
 *    lock. On the client's own shard a command runs at once unless its key
 *    is held against it (a write: any holder; a read: an exclusive one),
 *    and then the connection waits (WAIT_LOCK) until an unlock resumes it;
 *    on another shard it is an EXEC, run on arrival or parked there, FIFO,
 *    until an unlock. A write held up by shared holders only waits: it
 *    holds no read part back, so a stream of MGETs of its key can delay it
 *    (txn.c once had it set writer_waiting on the key, which stopped
 *    further shared grants; that deadlocked, and is the bug variant
 *    BUG_WRITER_FLAG here).
 *  - route_dispatch holds a transaction (an EXEC on the locks too) while
 *    its client has single-key EXECs away on other shards on one of its
 *    keys (must_wait), so a part never passes its own client's parked
 *    EXEC on a key of both. Here each client has one command in flight at
 *    a time (it waits for each reply before the next), so that holds by
 *    construction, and grant and enqueue need no parked_for check.
 *  - the world operation (txn_world_may_start, world_enter, the run,
 *    txn_world_done): world_wanted++, then a seq_cst load of txns_live,
 *    waiting while it is not 0; then every shard paused, the run, and
 *    world_wanted--.
 *  - EXEC on the key locks (txn_start_exec, split_exec, prepare_exec,
 *    run_exec_part, exec_done; src/server/multi.c's tokens): its client
 *    WATCHes a key first (on its own shard: it waits while the key is held
 *    at all), which registers its token there; every write of the key
 *    marks the token dirty (multi_touch). The EXEC's parts, one per shard
 *    of its commands' and watched keys, leave under `sched` like any
 *    transaction's and lock all their keys exclusively; at its grant a
 *    part looks at its watched keys (expiry, not modelled) and holds log
 *    room, then READY. At the last READY the coordinator looks at the
 *    token: dirty, the null reply and UNLOCK to every part; else APPLY
 *    (RUN) to every part, which runs its commands (SETs of the client's
 *    id here); durable, it logs their writes as its PART and keeps its
 *    locks, memory-only it lets go of them; then DONE. At the last DONE
 *    the reply; memory-only, nothing more (the locks are gone, and the
 *    coordinator frees the parts: no UNLOCK); durable, COMMIT to every part (DECIDED, unlock, DONE), and at
 *    the last of those DONEs txns_live-- and the end (UNLOCK in the code,
 *    which only forgets the part: FORGET here). A local EXEC (every key
 *    and watched key on its connection's shard) runs in one step on that
 *    shard: route_dispatch's multi_keys_free, then cmd_exec's look at the
 *    token.
 *  - pair transactions (RENAME, RENAMENX, MOVE, COPY, LCS whose two keys
 *    are on two shards; pairtx): a part S on the source key's shard, a
 *    part D on the destination's, pushed under `sched` and granted as any
 *    transaction's parts, exclusive (LCS: shared). At its grant a part
 *    reads its key and answers READY with it. At the last READY the
 *    coordinator decides from the reads as the one-shard command would
 *    (RENAME: "no such key" without the source; RENAMENX and MOVE: 0 with
 *    the destination; COPY: 0 without the source or with the destination;
 *    LCS: its answer): nothing to write, the reply, txns_live-- and UNLOCK
 *    to both. COPY writes D alone: UNLOCK to S at once, APPLY to D (a
 *    plain write of the value S read, which may fail), the reply at D's
 *    DONE. RENAME-like, PREPARE to both: durable, each part logs its
 *    writes as its PART (S: DEL; D: PUT of the value S read) or is
 *    refused; memory-only, D makes its PUT (or fails for memory) and S
 *    does nothing. At the last READY, a part failed: the error, UNLOCK to
 *    both; else the reply, APPLY to both (S deletes, D, durable, puts;
 *    each logs its DECIDED when durable, unlocks, answers DONE), and at
 *    the last DONE txns_live-- (durable: then FORGET).
 *  - an EXEC's joint (jointexec: an EXEC that queued a RENAME of k0 to k1,
 *    its keys on two shards): its parts lock their keys exclusively and
 *    READY as any EXEC's; at the RUN each reaches the joint's piece, reads
 *    its key (joint_read), sets its log unit aside and answers STEP. At
 *    the last STEP the coordinator decides as RENAME would: nothing to
 *    write ("no such key"), RUN again to both, which run on to their end;
 *    else RUN to D alone, which puts the value S read (it may fail, for
 *    memory or log room) and runs on to its end (DONE); then RUN to S,
 *    which deletes the source only if D's put was made. Each part's end is
 *    an EXEC part's: durable, its PART logged and its locks kept until
 *    COMMIT; memory-only, its locks let go.
 *
 * Steps. A shard's handling of one message is one step (atomic), and so
 * is a connection's command on its own shard: the shard thread does one
 * or the other at a time, on what only it touches, besides its pushes.
 * The coordinator runs on its shard's thread too, but touches only its own
 * record, txns_live and its pushes; it is a process of its own here, which
 * only adds interleavings. Each of its reactions to a READY or a DONE is
 * one step (the last one's all_ready or all_done included); each inbox
 * push is one step, a transaction's first LOCK push taking `sched` and its
 * last letting it go (APPLY and UNLOCK are pushed without it, as from a
 * turn that starts no transaction); txns_live-- in finish comes before
 * the UNLOCKs are pushed, as in the code; a logged write's reply (and its
 * client's next command, when it has one) comes in the step of its last
 * READY. The two halves of each seq_cst handshake are steps of their own.
 * The world operation's pause, run and world_wanted-- are one step: every
 * other shard is paused and its own shard's thread runs it; that
 * txn_world_done comes a little later in the code changes nothing but how
 * long a transaction backs off.
 *
 * Why it cannot deadlock: a part waits for a holder of one of its keys,
 * or for an earlier part still pending on one. A holder that came after
 * it was granted only if it conflicts with no part pending before it, so
 * a part waits only for transactions whose LOCKs were pushed before its
 * own, at every shard in the same order: no cycle. Single-key commands
 * hold nothing, and run once their key is free. A world operation waits
 * for the live transactions, which never wait for it; a transaction that
 * comes after its increment of world_wanted backs off without waiting for
 * anything. writer_waiting broke this argument (BUG_WRITER_FLAG): a read
 * part pending on a key was held back by it, and so waited for a later
 * read transaction that the scan had granted the key to (S-S) before a
 * single-key write came for it. The ww-order configuration (9) found
 * txn.c deadlocking so; with the flag gone (txn.c's fix) it passes.
 *
 * Why it is atomic: a part's writes happen while it holds its locks, and
 * no part lets go of its locks before every part of its transaction is
 * granted (and, when it runs at its grant, has run): UNLOCK and APPLY go
 * out only at the last READY. So a single-key read that sees one key's
 * new value ran after that key's part let go, after every part was
 * granted; a later read of another key of the transaction waits for its
 * part's lock or finds the write done. An MGET holds its shared locks over
 * the same span, so it reads its keys at one moment in the order of the
 * writes. A logged write's client has its reply before the writes are
 * made, but its keys are locked until then, so its next read waits for
 * them (mset-ryw, 10). A world operation runs only while no transaction is
 * live, and none goes live until it is done; a logged write stays live
 * until its last DONE, not its reply (BUG_LIVE_AT_REPLY), so a world
 * operation never runs between its parts' APPLYs.
 *
 * Why an EXEC keeps WATCH's promise and is atomic: its token is looked at
 * once every part holds its locks, exclusive, on the watched keys too, so
 * no write of a watched key comes between that look and the EXEC's run
 * (BUG_EXEC_EARLY_CHECK looks before, BUG_EXEC_SHARED lets readers in).
 * Every part is locked before any runs, and each keeps its locks until it
 * has run, so a reader that saw one part's writes finds every other part
 * run or locked (BUG_EXEC_MEM_READY lets go at READY). Durable, a part's
 * writes are visible only from its COMMIT, when every PART is logged and
 * the EXEC is decided: no reader sees a write that a crash could undo,
 * and nobody writes a part's keys between its PART and its DECIDED, as
 * txlog.pml's recovery rule needs (BUG_EXEC_RUN_UNLOCK lets go at the
 * run). A durable MSET's reply comes before its APPLY: a local EXEC
 * watching one of its keys, which takes no lock, must wait for it as a
 * read does, or it runs though a write of the key was acknowledged after
 * its WATCH (BUG_LOCAL_WATCH, which multi.c does today).
 *
 * Why a pair is atomic and linearizable: both parts hold their locks from
 * their grant, where they read, to the decision, so the reads are of one
 * moment, and a RENAME's parts keep them until their writes are made
 * (D's PUT, memory-only, comes at PREPARE, under its lock; S's DEL at
 * APPLY): a reader that sees either write finds the other made or its key
 * locked (BUG_PAIR_S_EARLY lets S go at the decision, BUG_PAIR_D_SHARED
 * lets readers past D). Its reply waits for PREPARE's READYs, since D's
 * PUT or a part's PART may fail (BUG_PAIR_REPLY_EARLY), and it stays live
 * until its last DONE: memory-only, D's PUT is in the table before S's DEL,
 * and a world operation reads the tables past the locks
 * (BUG_PAIR_LIVE_AT_REPLY). COPY lets S go at the decision, not before
 * (BUG_PAIR_COPY_EARLY): D is locked from before then until its write, so
 * COPY takes effect at the decision, when both keys are locked; a write of
 * the source after it is a later write, and nobody reads the destination
 * before the copy is in. Its reply waits for D's write, which may fail
 * (BUG_PAIR_COPY_REPLY). No new wait: PREPARE and APPLY go to parts that
 * hold their locks, so the FIFO argument above stands.
 *
 * The model: two shards of two keys (key k on shard k % 2: k0 and k2 on
 * shard 0, k1 and k3 on shard 1), each key's value (the id of its last
 * writer; 0 at first; beside pairs, 0 is no value and the source k0 holds
 * TOK at first) and lock, two shard threads handling their inboxes,
 * and a process per client: its connection on its own shard, which also
 * coordinates its transaction. A client has one command in flight at a
 * time, and every transaction has a part on both shards. One compiled
 * model runs every configuration: in pan's environment, TXN_CFG picks the
 * clients, TXN_BUG one deliberately broken variant (which the check must
 * catch), TXN_WITNESS a path that the configuration must reach.
 */

#define NS 2 /* shards */
#define NK 2 /* keys per shard */
#define NKEY (NS * NK)
#define KEY(s, i) ((s) + NS * (i)) /* key i of shard s */
#define NP 7 /* clients, ids 1 .. NP - 1 */
#define QN 3 /* parts pending, or EXECs parked, per shard */
#define NONE 255

mtype = {LOCK, APPLY, COMMIT, UNLOCK, FORGET, EXEC, READY, DONE, VAL, PREPARE, STEP};

/* A shard's inbox: the message and a client id (the transaction's or the
 * EXEC's). */
chan inbox[NS] = [NP] of {mtype, byte};
/* Client id's answers: READY or DONE from a shard, or VAL (a single-key
 * command's reply, which carries the value read). */
chan reply[NP] = [3] of {mtype, byte};

byte cfg, bug, witness;
bool nowatch; /* TXN_NOWATCH: leave out WATCH's check at an EXEC's run, to show that a reader catches a variant */

/* ---- the configuration, set by init before any client runs ---- */

bool logged;        /* the server has a log: writes prepare, then apply */
byte mcheck;        /* what an MGET checks: CHECK_ONE, CHECK_PREFIX or nothing */
/* order, a ghost that keeps a search small: 0, or the transactions push
 * their parts in id order and the single-key client starts once
 * transaction `order`'s have left. */
byte order;
byte pmask[NP * NS]; /* transaction id's keys on shard s: bit i for KEY(s, i) */
bool pwrite[NP];    /* it writes (MSET), else reads (MGET) */
byte nclients;
byte nryw; /* the client id that reads its transaction's writes after its reply, else 0 */
/* An EXEC on the key locks (txn_start_exec): transaction exid (0: none)
 * is one, pexec[exid]; its queued commands SET its id to its keys (pmask),
 * and its client WATCHes key wk first (NONE: no watch). pwrite[exid] is
 * its lock mode: exclusive (BUG_EXEC_SHARED: shared). */
bool pexec[NP];
byte exid;
byte wk;
/* A pair transaction (RENAME, RENAMENX, MOVE, COPY or LCS whose two keys
 * are on two shards): pkind[id] (0: none), and the source key's shard
 * psrc[id], where its part S is; its part D is on the other shard. Its keys
 * are KEY(s, 0) of each shard. pwrite[id] is its lock mode: exclusive, but
 * shared for LCS. pmayfail[id]: D's write may fail for memory
 * (memory-only), or a part may be refused for the disk (durable; COPY's D
 * alone, whose write is a plain one). npryw: the client that GETs the
 * destination once the pair has replied success, else 0. sgid: a client
 * that SETs the source, then GETs the destination (COPY's check), else 0. */
byte pkind[NP];
byte psrc[NP];
bool pmayfail[NP];
byte npryw;
byte sgid;
/* An EXEC with a joint (jointexec): transaction jid (0: none), pjoint[jid];
 * its queue is one RENAME of k0 to k1, from psrc[jid]'s key to the other's,
 * and pmayfail[jid] says D's put may fail. */
bool pjoint[NP];
byte jid;

/* ---- the shards ---- */

byte val[NKEY];
bool excl[NKEY];    /* klock.excl */
byte shared[NKEY];  /* klock.shared */
byte waiting[NKEY]; /* klock.waiting: parts pending that want it */
bool ww[NKEY];      /* klock.writer_waiting: BUG_WRITER_FLAG only, else never set */
byte pend[NS * QN]; /* sh->pending: transaction ids, arrival order */
byte pn[NS];
byte park[NS * QN]; /* sh->parked: the EXECs' client ids, arrival order */
byte kn[NS];
bool plocked[NP * NS]; /* part (id, s) holds its locks */
byte pread[NP * NS];   /* the value a read part read */
byte xholders[NS];     /* ghost: write parts holding locks on the shard */
byte holders[NS];      /* ghost: parts holding locks on the shard */
/* A logged write part on its shard (sw__shard_tx_*): live from its PART
 * (logged at the grant) until its FORGET (nlive counts them); decided once
 * its DECIDED is logged (at its APPLY). */
byte nlive;
bool pdec[NP * NS];
/* The EXEC's parts: those that have run (bit s), and, durable, how many
 * have logged their PART (at the run: the EXEC is decided at NS). */
byte exran;
byte exlog;
/* The WATCH of wk: done; the token's dirty flag (struct wtok, marked by
 * every write of wk, the EXEC's own included); and a ghost, wk written (or
 * a write of it acknowledged) by another client since the WATCH. */
bool wdone, tok, wother;
/* A pair's state: pval, what D writes (S's read, carried to D by PREPARE,
 * or by COPY's APPLY); pfail, the part's write failed or it was refused;
 * plog, durable: its PART is logged and not yet forgotten; pout, a ghost:
 * what its client was replied (OUT_*). sgot and sgdone, ghosts: what
 * sgid's GET of the destination returned, once it has. */
byte pval[NP];
bool pfail[NP * NS];
bool plog[NP * NS];
byte pout[NP];
byte sgot;
bool sgdone;
/* A joint's parts: stopped at the joint (read), and what the decision
 * gives each to do there (JW_*). */
bool jstop[NP * NS];
byte jw[NP * NS];

/* ---- the clients ---- */

byte chome[NP];  /* the client's shard */
byte rywof[NP];  /* a client reading its own transaction's writes after its reply: that transaction, else 0 */
byte ckey[NP];   /* its single-key command: the key, */
bool cwr[NP];    /* a write (SET of its id) or a read (GET), */
bool cwaits[NP]; /* and whether it waits on its own shard (WAIT_LOCK) */
bool cseen[NP];  /* ghost: a GET of it has returned the EXEC's write */

byte txns_live, world_wanted;
byte replied; /* ghost: logged transactions replied to whose parts are not all done */
byte pushed; /* ghost: the last transaction whose parts left (for `order`) */
byte sched; /* the transaction whose turn holds `sched`, 0 none */
byte finished; /* clients done */

/* Scratch for the inlines' loops: only ever used inside one atomic step
 * that cannot block, so kept out of the state. */
hidden byte kf_k, tk_i, tk_k, ul_i, ul_k, up_i, up_j, up_c, rs_c, gr_i, gr_j, gr_id, gr_k, gr_sm,
    gr_sx, eq_i, eq_k;
hidden byte kf_f, ul_w, gr_ok, gr_hc, gr_st, eq_f; /* bits cannot be hidden */

/* The broken variants (TXN_BUG). */
#define BUG_NO_SCHED 1    /* parts pushed without sched: two transactions, two orders */
#define BUG_GET_NOLOCK 2  /* a single-key read ignores the locks */
#define BUG_READ_EARLY 3  /* a read part lets go of its shared locks at its grant */
#define BUG_WORLD_NOWAIT 4 /* a world operation does not wait for txns_live */
#define BUG_EARLY_APPLY 5 /* the coordinator sends a part APPLY at its READY, not at the last */
#define BUG_WRITE_EARLY 6 /* a memory-only write part lets go of its locks at its grant */
#define BUG_NO_BACKOFF 7  /* txn_start ignores world_wanted */
#define BUG_SCAN_JUMP 8   /* the grant scan ignores the earlier parts still pending */
#define BUG_ENQ_JUMP 9    /* enqueue ignores the parts waiting: free when no holder is against it */
/* txn.c before its fix: a single-key write held up by shared holders sets
 * writer_waiting on its key, and no read part is granted the key (at
 * enqueue or in the scan) until the last shared holder lets go, which
 * clears it; an unlock whose unpark ran an EXEC also scans. */
#define BUG_WRITER_FLAG 10
#define BUG_PART_UNLOCK 11 /* a logged write part lets go of its locks when it logs its PART (its grant) */
#define BUG_LIVE_AT_REPLY 12 /* a logged write's txns_live-- comes with its reply, not at the last DONE */
#define BUG_FORGET_EARLY 13 /* the coordinator sends FORGET with the APPLYs, not at the last DONE */
#define BUG_EXEC_EARLY_CHECK 14 /* an EXEC's coordinator looks at the WATCH token at the first READY */
#define BUG_EXEC_SHARED 15  /* an EXEC's part takes shared locks, not exclusive */
#define BUG_EXEC_MEM_READY 16 /* a memory-only EXEC's part lets go of its locks at its READY, not its run */
#define BUG_EXEC_RUN_UNLOCK 17 /* a durable EXEC's part lets go of its locks at its run, not its COMMIT */
/* A local EXEC (all its keys and watched keys on its connection's shard)
 * runs when its queued commands' keys are free, whatever holds its watched
 * keys: multi.c's multi_keys_free today. */
#define BUG_LOCAL_WATCH 18
/* Pair transactions: */
#define BUG_PAIR_S_EARLY 19 /* a RENAME's part S lets go of its lock at the decision, before its DEL */
#define BUG_PAIR_D_SHARED 20 /* a pair's part D locks its key shared, not exclusive */
#define BUG_PAIR_REPLY_EARLY 21 /* a RENAME's reply at the decision, before PREPARE's READYs */
#define BUG_PAIR_COPY_EARLY 22 /* COPY's part S lets go of its lock at its grant (its read), not at the decision */
#define BUG_PAIR_COPY_REPLY 23 /* COPY replies at the decision, not at D's DONE */
#define BUG_PAIR_LIVE_AT_REPLY 24 /* a RENAME's txns_live-- comes with its reply, not at its last DONE */
/* An EXEC's joint: */
#define BUG_JOINT_STOP_UNLOCK 25 /* a memory-only part lets go of its locks where it stops */
#define BUG_JOINT_DEL_EARLY 26 /* S's delete goes with D's put, not after it is made */

/* The witnesses (TXN_WITNESS). */
#define W_PARALLEL 1    /* two write parts hold locks on one shard at once */
#define W_GET_WAITS 2   /* a single-key GET waits for a lock */
#define W_PENDING 3     /* a part waits in pending */
#define W_WORLD_WAITS 4 /* a world operation waits for a live transaction */
#define W_WRITE_WAITS 5 /* a single-key SET waits for a read part's shared lock */
#define W_PARKED 6      /* an EXEC from another shard is parked */
#define W_BACKOFF 7     /* a transaction backs off for a world operation */
#define W_WW_BLOCKS 8   /* a read part waits behind writer_waiting (BUG_WRITER_FLAG only) */
#define W_SCAN_HOLDS 9  /* the grant scan holds a part back behind an earlier pending one */
#define W_RESUMED 10    /* an unlock resumes a connection's command, which runs */
#define W_RYW_WAITS 11  /* a client's read of its own write, after the reply, waits for the part's lock */
#define W_LIVE_REPLIED 12 /* a world operation waits for a transaction already replied to */
#define W_EXEC_ABORT 13   /* an EXEC finds its WATCH token dirty, and is called off */
#define W_EXEC_WAITS 14   /* an EXEC's part waits in pending while an MSET's part holds the shard's key */
#define W_MSET_WAITS_EXEC 15 /* an MSET's part waits in pending while an EXEC's part holds its key */
#define W_SET_WAITS_EXEC 16 /* a single-key SET waits for an EXEC's part's lock */
#define W_GET_WAITS_COMMIT 17 /* a GET waits for a durable EXEC's part that has run and replied, before its COMMIT */
#define W_LOCAL_WAITS 18  /* a local EXEC waits for a lock on its watched key */
#define W_PAIR_FAIL 19    /* a pair's write fails, or a part is refused, at PREPARE (COPY: at APPLY) */
#define W_PAIR_NOOP 20    /* a pair decides from its reads that nothing is to be written */
#define W_PAIR_PENDING 21 /* a pair's part waits in pending while a write part holds its shard's key */
#define W_PAIR_COPY_WINDOW 22 /* the source is written between COPY's decision and D's write */
#define W_PAIR_NX 23      /* a RENAMENX (or MOVE, COPY) finds the source and the destination: 0 */
#define W_JOINT_FAIL 24   /* a joint's put fails: its source stays */
#define W_JOINT_WAITS 25  /* a GET waits for the lock of a joint's part stopped at the joint */

#define WITNESS(n) assert(witness != (n))
#define WITNESS_IF(n, cond) assert(witness != (n) || !(cond))

/* Client c's single-key command waits on shard s: for an EXEC's part's
 * lock; a GET, for a durable EXEC's part that has run (its client replied
 * to), before its COMMIT. */
#define EXEC_WAIT_WITNESSES(c, s)                                                                  \
    WITNESS_IF(W_SET_WAITS_EXEC, cwr[c] && exid != 0 && plocked[exid * NS + (s)]);                \
    WITNESS_IF(W_GET_WAITS_COMMIT, !cwr[c] && exid != 0 && logged && replied > 0 &&               \
                                       plocked[exid * NS + (s)]);                                 \
    WITNESS_IF(W_JOINT_WAITS, !cwr[c] && jid != 0 && plocked[jid * NS + (s)] &&                   \
                                  jstop[jid * NS + (s)] && jw[jid * NS + (s)] == JW_NONE)

#define CHECK_ONE 1    /* both keys from one MSET, or neither */
#define CHECK_PREFIX 2 /* never a single-key writer's SET of k1 without its SET of k0 */

#define CHECK_PAIR 3   /* the pair's token neither lost nor doubled (VALID_PAIR) */

/* Pair transactions: the token a RENAME moves, the source's value at first
 * (a value of 0 is a key that does not exist, in their configurations);
 * their kinds; what their client was replied. */
#define TOK 8
#define PK_RENAME 1   /* RENAME: "no such key" without the source */
#define PK_RENAMENX 2 /* RENAMENX, and MOVE: 0 without the source or with the destination */
#define PK_COPY 3     /* COPY without REPLACE: as RENAMENX, and writes D alone */
#define PK_LCS 4      /* LCS: reads both, shared, writes nothing */
#define OUT_DONE 1    /* written */
#define OUT_NOOP 2    /* nothing to write (0, "no such key", LCS's answer) */
#define OUT_ERR 3     /* a write failed or was refused: called off */
/* What k0 and k1 may hold at one moment beside pairs that move TOK between
 * them, and MSETs of both: one TOK and one absent, or no TOK and both one
 * MSET's, or one of them absent. Never TOK twice, never both absent. */
#define VALID_PAIR(a, b)                                                                          \
    (((a) == TOK && (b) == 0) || ((a) == 0 && (b) == TOK) ||                                      \
     ((a) != TOK && (b) != TOK && (a) + (b) != 0 && ((a) == (b) || (a) == 0 || (b) == 0)))

/* What a joint's part does at the joint, once decided (jw). */
#define JW_NONE 0
#define JW_PASS 1
#define JW_PUT 2
#define JW_DEL 3

#define BIT(m, i) (((m) >> (i)) & 1)
/* An EXEC's part, with a joint or without: it answers DONE at its run's
 * end and, durable, lets go at its COMMIT. */
#define EXECLIKE(id) (pexec[id] || pjoint[id])
/* Part (id, s) locks its keys exclusively (a write), else shared. */
#define XL(id, s) (pwrite[id] && !(bug == BUG_PAIR_D_SHARED && pkind[id] != 0 && (s) != psrc[id]))
#define RUNS_AT_GRANT(id) (!pwrite[id] || !logged)

/* ---- a shard: single-key commands ---- */

/* txn_keys_free for client c's command on its key's shard: f := whether
 * it may run now. A write held up by shared holders just waits (with
 * BUG_WRITER_FLAG, it sets writer_waiting). */
inline keys_free(c, f)
{
    kf_k = ckey[c];
    f = !(excl[kf_k] || (cwr[c] && shared[kf_k] > 0)) || (bug == BUG_GET_NOLOCK && !cwr[c]);
    if
    :: !f && cwr[c] && shared[kf_k] > 0 ->
        if
        :: bug == BUG_WRITER_FLAG -> ww[kf_k] = true
        :: else -> skip
        fi;
        WITNESS(W_WRITE_WAITS)
    :: else -> skip
    fi
}

/* Key k is written by client (or transaction) w: multi_touch marks the
 * tokens watching it. The ghost wother notes a write by another client
 * since the WATCH. And txlog.pml's premise: nobody else writes a key of a
 * durable EXEC's part between its PART (its run) and its DECIDED (its
 * COMMIT). */
inline touch(k, w)
{
    if
    :: wdone && k == wk ->
        tok = true;
        if
        :: w != exid -> wother = true
        :: else -> skip
        fi
    :: else -> skip
    fi;
    assert(w == exid || !logged || !BIT(exran, (k) % NS) || pdec[exid * NS + (k) % NS] ||
           !BIT(pmask[exid * NS + (k) % NS], (k) / NS))
}

/* A value v read: if it is the EXEC's write, the EXEC is decided (every
 * part's PART logged), so no crash can undo what the reader saw. */
#define SEEN_DECIDED(v) assert(exid == 0 || (v) != exid || !logged || exlog == NS)

/* Client c's GET of key k reads val[k]: no reader sees half an EXEC. Once
 * a GET of it has returned the EXEC's write, the EXEC has run on the shard
 * of every key of it that c reads next. */
inline saw(c, k)
{
    assert(!cseen[c] || !BIT(pmask[exid * NS + (k) % NS], (k) / NS) || BIT(exran, (k) % NS));
    SEEN_DECIDED(val[k]);
    if
    :: exid != 0 && val[k] == exid -> cseen[c] = true
    :: else -> skip
    fi
}

/* The command runs (route_run_exec, or run_here): its reply goes home. */
inline run_single(c)
{
    if
    :: cwr[c] ->
        val[ckey[c]] = c;
        touch(ckey[c], c);
        reply[c]!VAL(0)
    :: else ->
        saw(c, ckey[c]);
        reply[c]!VAL(val[ckey[c]])
    fi
}

/* ---- a shard: the parts ---- */

/* take, with prepare: locks part (id, s), runs it if it runs at its grant
 * (a read, or a write with no log), and answers READY. */
inline take(s, id)
{
    if
    :: (bug == BUG_READ_EARLY && !pwrite[id] && !pexec[id] && pkind[id] == 0) ||
       (bug == BUG_WRITE_EARLY && pwrite[id] && !logged && !EXECLIKE(id) && pkind[id] == 0) ||
       (bug == BUG_PART_UNLOCK && pwrite[id] && logged && !EXECLIKE(id) && pkind[id] == 0) ||
       (bug == BUG_EXEC_MEM_READY && pexec[id] && !logged) ||
       (bug == BUG_PAIR_COPY_EARLY && pkind[id] == PK_COPY && s == psrc[id]) ->
        skip /* takes its locks and lets go of them at once: as if never taken */
    :: else ->
        tk_i = 0;
        do
        :: tk_i < NK ->
            tk_k = KEY(s, tk_i);
            if
            :: BIT(pmask[id * NS + s], tk_i) && XL(id, s) -> excl[tk_k] = true
            :: BIT(pmask[id * NS + s], tk_i) && !XL(id, s) -> shared[tk_k]++
            :: else -> skip
            fi;
            tk_i++
        :: else -> break
        od;
        plocked[id * NS + s] = true;
        holders[s]++;
        if
        :: XL(id, s) ->
            xholders[s]++;
            WITNESS_IF(W_PARALLEL, xholders[s] >= 2)
        :: else -> skip
        fi
    fi;
    /* prepare: a logged write logs its PART (sw__shard_tx_prepare), live
     * until its FORGET; a read reads its keys (pread keeps the last); a
     * write with no log writes. An EXEC's part (prepare_exec) looks at its
     * watched keys, which only an expiry would change (not modelled), and
     * holds log room: nothing here. */
    if
    :: EXECLIKE(id) -> skip
    :: pkind[id] != 0 -> /* a pair's part reads its key, whatever it will write */
        pread[id * NS + s] = val[KEY(s, 0)]
    :: else ->
        if
        :: pwrite[id] && logged -> nlive++
        :: else -> skip
        fi;
        tk_i = 0;
        do
        :: tk_i < NK ->
            tk_k = KEY(s, tk_i);
            if
            :: BIT(pmask[id * NS + s], tk_i) && !pwrite[id] ->
                SEEN_DECIDED(val[tk_k]);
                pread[id * NS + s] = val[tk_k]
            :: BIT(pmask[id * NS + s], tk_i) && pwrite[id] && !logged ->
                val[tk_k] = id;
                touch(tk_k, id)
            :: else -> skip
            fi;
            tk_i++
        :: else -> break
        od
    fi;
    reply[id]!READY(s)
}

/* The APPLY's DECIDED record (sw__shard_tx_decide) and writes (exec_part). */
inline apply_writes(s, id)
{
    pdec[id * NS + s] = true;
    tk_i = 0;
    do
    :: tk_i < NK ->
        if
        :: BIT(pmask[id * NS + s], tk_i) ->
            val[KEY(s, tk_i)] = id;
            touch(KEY(s, tk_i), id)
        :: else -> skip
        fi;
        tk_i++
    :: else -> break
    od
}

/* enqueue: a LOCK has arrived. Free at once when no key is held against
 * it and no part waiting wants one of its keys; else pending. */
inline enqueue(s, id)
{
    eq_f = true;
    eq_i = 0;
    do
    :: eq_i < NK ->
        eq_k = KEY(s, eq_i);
        if
        :: BIT(pmask[id * NS + s], eq_i) &&
           (excl[eq_k] || (XL(id, s) && shared[eq_k] > 0) ||
            (!pwrite[id] && ww[eq_k]) /* BUG_WRITER_FLAG */ ||
            (waiting[eq_k] > 0 && bug != BUG_ENQ_JUMP)) ->
            WITNESS_IF(W_WW_BLOCKS, !pwrite[id] && ww[eq_k] && !excl[eq_k]);
            eq_f = false
        :: else -> skip
        fi;
        eq_i++
    :: else -> break
    od;
    if
    :: eq_f -> take(s, id)
    :: else ->
        eq_i = 0;
        do
        :: eq_i < NK ->
            if
            :: BIT(pmask[id * NS + s], eq_i) -> waiting[KEY(s, eq_i)]++
            :: else -> skip
            fi;
            eq_i++
        :: else -> break
        od;
        assert(pn[s] < QN);
        pend[s * QN + pn[s]] = id;
        pn[s]++;
        WITNESS(W_PENDING);
        WITNESS_IF(W_EXEC_WAITS, pexec[id] && xholders[s] > 0);
        WITNESS_IF(W_MSET_WAITS_EXEC, !pexec[id] && pwrite[id] && exid != 0 && plocked[exid * NS + s]);
        WITNESS_IF(W_PAIR_PENDING, pkind[id] != 0 && xholders[s] > 0)
    fi
}

/* grant: the scan, in arrival order. gr_sm and gr_sx are the scan's
 * stamps: bit i set in gr_sm when a part held back wants KEY(s, i), in
 * gr_sx when one of those wants it exclusively. */
inline grant(s)
{
    gr_sm = 0;
    gr_sx = 0;
    gr_i = 0;
    do
    :: gr_i < pn[s] ->
        gr_id = pend[s * QN + gr_i];
        gr_hc = false; /* a holder against it */
        gr_st = false; /* an earlier part held back in this scan */
        gr_j = 0;
        do
        :: gr_j < NK ->
            gr_k = KEY(s, gr_j);
            if
            :: BIT(pmask[gr_id * NS + s], gr_j) &&
               (excl[gr_k] || (XL(gr_id, s) && shared[gr_k] > 0) ||
                (!pwrite[gr_id] && ww[gr_k]) /* BUG_WRITER_FLAG */) ->
                WITNESS_IF(W_WW_BLOCKS, !pwrite[gr_id] && ww[gr_k] && !excl[gr_k]);
                gr_hc = true
            :: else -> skip
            fi;
            if
            :: BIT(pmask[gr_id * NS + s], gr_j) && BIT(gr_sm, gr_j) &&
               (XL(gr_id, s) || BIT(gr_sx, gr_j)) && bug != BUG_SCAN_JUMP ->
                gr_st = true
            :: else -> skip
            fi;
            gr_j++
        :: else -> break
        od;
        WITNESS_IF(W_SCAN_HOLDS, gr_st && !gr_hc);
        gr_ok = !gr_hc && !gr_st;
        if
        :: !gr_ok -> /* later parts wait behind it on its keys */
            gr_j = 0;
            do
            :: gr_j < NK ->
                if
                :: BIT(pmask[gr_id * NS + s], gr_j) ->
                    if
                    :: XL(gr_id, s) -> gr_sx = gr_sx | (1 << gr_j)
                    :: else -> skip
                    fi;
                    gr_sm = gr_sm | (1 << gr_j)
                :: else -> skip
                fi;
                gr_j++
            :: else -> break
            od;
            gr_i++
        :: else ->
            gr_j = gr_i; /* out of pending, keeping the order */
            do
            :: gr_j + 1 < pn[s] ->
                pend[s * QN + gr_j] = pend[s * QN + gr_j + 1];
                gr_j++
            :: else -> break
            od;
            pn[s]--;
            pend[s * QN + pn[s]] = 0;
            gr_j = 0;
            do
            :: gr_j < NK ->
                if
                :: BIT(pmask[gr_id * NS + s], gr_j) -> waiting[KEY(s, gr_j)]--
                :: else -> skip
                fi;
                gr_j++
            :: else -> break
            od;
            take(s, gr_id)
        fi
    :: else -> break
    od
}

/* unpark: the parked EXECs whose keys are free now run, in order. With
 * BUG_WRITER_FLAG, as txn.c did then, running one makes the unlock scan
 * (ul_w). */
inline unpark(s)
{
    up_i = 0;
    do
    :: up_i < kn[s] ->
        up_c = park[s * QN + up_i];
        keys_free(up_c, kf_f);
        if
        :: kf_f ->
            run_single(up_c);
            ul_w = ul_w || bug == BUG_WRITER_FLAG;
            up_j = up_i;
            do
            :: up_j + 1 < kn[s] ->
                park[s * QN + up_j] = park[s * QN + up_j + 1];
                up_j++
            :: else -> break
            od;
            kn[s]--;
            park[s * QN + kn[s]] = 0
        :: else -> up_i++
        fi
    :: else -> break
    od
}

/* resume(WAIT_LOCK): each connection of this shard that waits for a lock
 * runs its command again (route_dispatch), and waits again if it must. */
inline resume(s)
{
    rs_c = 1;
    do
    :: rs_c < NP ->
        if
        :: cwaits[rs_c] && chome[rs_c] == s ->
            keys_free(rs_c, kf_f);
            if
            :: kf_f ->
                cwaits[rs_c] = false;
                WITNESS(W_RESUMED);
                run_single(rs_c)
            :: else -> skip
            fi
        :: else -> skip
        fi;
        rs_c++
    :: else -> break
    od
}

/* unlock: part (id, s) lets go of its locks; then the commands waiting,
 * then the parts, scanned only when a released key has parts waiting: an
 * EXEC or a command that runs takes no lock, so frees no part. */
inline unlock(s, id)
{
    ul_w = false;
    if
    :: plocked[id * NS + s] ->
        ul_i = 0;
        do
        :: ul_i < NK ->
            ul_k = KEY(s, ul_i);
            if
            :: BIT(pmask[id * NS + s], ul_i) ->
                if
                :: XL(id, s) -> excl[ul_k] = false
                :: else ->
                    shared[ul_k]--;
                    if
                    :: shared[ul_k] == 0 -> ww[ul_k] = false /* BUG_WRITER_FLAG */
                    :: else -> skip
                    fi
                fi;
                ul_w = ul_w || waiting[ul_k] > 0
            :: else -> skip
            fi;
            ul_i++
        :: else -> break
        od;
        plocked[id * NS + s] = false;
        holders[s]--;
        if
        :: XL(id, s) -> xholders[s]--
        :: else -> skip
        fi
    :: else -> skip
    fi;
    if
    :: kn[s] > 0 -> unpark(s)
    :: else -> skip
    fi;
    resume(s);
    if
    :: ul_w -> grant(s)
    :: else -> skip
    fi
}

/* APPLY (RUN) of an EXEC's part (run_exec_part): its queued commands run,
 * here SETs of its id to its keys. The part holding the watched key checks
 * WATCH's promise: nobody else has written the key since the WATCH. A
 * durable part logs its writes as its PART (sw__shard_unit_end_part) and
 * keeps its locks until its COMMIT; a memory-only one lets go of them at
 * once. */
inline exec_run(s, id)
{
    assert(nowatch || wk == NONE || wk % NS != s || !wother);
    tk_i = 0;
    do
    :: tk_i < NK ->
        if
        :: BIT(pmask[id * NS + s], tk_i) ->
            val[KEY(s, tk_i)] = id;
            touch(KEY(s, tk_i), id)
        :: else -> skip
        fi;
        tk_i++
    :: else -> break
    od;
    exran = exran | (1 << s);
    if
    :: logged ->
        exlog++;
        nlive++;
        if
        :: bug == BUG_EXEC_RUN_UNLOCK -> unlock(s, id)
        :: else -> skip
        fi
    :: else -> unlock(s, id)
    fi
}

/* PREPARE of a pair's part (RENAME-like: writes on both parts), every
 * part having read at its grant and the coordinator having decided to
 * write. Durable, the part logs its writes as its PART (S: DEL of the
 * source; D: PUT of the value S read), applying nothing, and is live; or
 * it is refused (the disk full) and logs nothing. Memory-only, D makes its
 * PUT now, under its lock, or fails for memory and writes nothing; S does
 * nothing until its APPLY. Then READY. */
inline pair_prepare(s, id)
{
    if
    :: logged ->
        if
        :: pmayfail[id] -> pfail[id * NS + s] = true
        :: true ->
            plog[id * NS + s] = true;
            nlive++
        fi
    :: !logged && s != psrc[id] ->
        if
        :: pmayfail[id] -> pfail[id * NS + s] = true
        :: true ->
            val[KEY(s, 0)] = pval[id];
            touch(KEY(s, 0), id)
        fi
    :: else -> skip
    fi;
    WITNESS_IF(W_PAIR_FAIL, pfail[id * NS + s])
}

/* APPLY of a pair's part, then its unlock. RENAME-like, every part
 * prepared: S deletes the source (durable, after its DECIDED); D, durable,
 * logs its DECIDED and makes its PUT (memory-only it made it at PREPARE).
 * COPY: D alone, a plain write of the value S read (a PUT logged at the
 * turn's commit), which may fail (memory, or the disk) and then writes
 * nothing. COPY's check: a client whose GET of the destination returned it
 * absent after its SET of the source had returned must find its own value
 * copied, since COPY then comes after its SET. */
inline pair_apply(s, id)
{
    if
    :: pkind[id] == PK_COPY ->
        if
        :: pmayfail[id] ->
            pfail[id * NS + s] = true;
            WITNESS(W_PAIR_FAIL)
        :: true ->
            assert(!sgdone || sgot != 0 || pval[id] == sgid);
            WITNESS_IF(W_PAIR_COPY_WINDOW, val[KEY(1 - s, 0)] != pval[id]);
            val[KEY(s, 0)] = pval[id];
            touch(KEY(s, 0), id)
        fi
    :: pkind[id] != PK_COPY && s == psrc[id] ->
        pdec[id * NS + s] = logged;
        val[KEY(s, 0)] = 0;
        touch(KEY(s, 0), id)
    :: pkind[id] != PK_COPY && s != psrc[id] ->
        pdec[id * NS + s] = logged;
        if
        :: logged ->
            val[KEY(s, 0)] = pval[id];
            touch(KEY(s, 0), id)
        :: else -> skip
        fi
    fi;
    unlock(s, id)
}

/* RUN of a joint EXEC's part (run_exec_part). First it reaches the joint's
 * piece: it reads its key (joint_read), sets its unit aside and answers
 * STEP. Sent on once the joint is decided, it makes its write there (D's
 * put, which may fail and then writes nothing; S's delete) and runs to its
 * end as an EXEC's part does: durable, its PART logged (sw__shard_unit_end_part)
 * and its locks kept until its COMMIT; memory-only, its locks let go. */
inline joint_run(s, id)
{
    if
    :: !jstop[id * NS + s] ->
        jstop[id * NS + s] = true;
        pread[id * NS + s] = val[KEY(s, 0)];
        if
        :: bug == BUG_JOINT_STOP_UNLOCK && !logged -> unlock(s, id)
        :: else -> skip
        fi;
        reply[id]!STEP(s)
    :: else ->
        if
        :: jw[id * NS + s] == JW_PUT ->
            if
            :: pmayfail[id] ->
                pfail[id * NS + s] = true;
                WITNESS(W_JOINT_FAIL)
            :: true ->
                val[KEY(s, 0)] = pval[id];
                touch(KEY(s, 0), id)
            fi
        :: jw[id * NS + s] == JW_DEL ->
            val[KEY(s, 0)] = 0;
            touch(KEY(s, 0), id)
        :: else -> skip
        fi;
        if
        :: logged -> nlive++
        :: else -> unlock(s, id)
        fi;
        reply[id]!DONE(s)
    fi
}

/* A shard thread: the messages of its inbox, one at a time (handle,
 * txn_handle). */
proctype shard(byte s)
{
    mtype op;
    byte id;
end:
    do
    :: atomic {
            inbox[s]?op(id) ->
            if
            :: op == LOCK -> enqueue(s, id)
            :: op == APPLY && !EXECLIKE(id) && pkind[id] == 0 ->
                apply_writes(s, id);
                unlock(s, id);
                reply[id]!DONE(s)
            :: op == APPLY && pexec[id] -> /* an EXEC's RUN */
                exec_run(s, id);
                reply[id]!DONE(s)
            :: op == APPLY && pjoint[id] -> /* a joint EXEC's RUN */
                joint_run(s, id)
            :: op == COMMIT -> /* a durable EXEC's part: DECIDED logged, unlock */
                pdec[id * NS + s] = true;
                unlock(s, id);
                reply[id]!DONE(s)
            :: op == UNLOCK && !(EXECLIKE(id) && !plocked[id * NS + s]) && pkind[id] == 0 ->
                unlock(s, id)
            :: op == UNLOCK && EXECLIKE(id) && !plocked[id * NS + s] ->
                skip /* an EXEC's part that let go at its run or COMMIT: forgotten only */
            :: op == PREPARE -> /* a pair's part: its writes prepared */
                pair_prepare(s, id);
                reply[id]!READY(s)
            :: op == APPLY && pkind[id] != 0 ->
                pair_apply(s, id);
                reply[id]!DONE(s)
            :: op == UNLOCK && pkind[id] != 0 -> /* called off, or nothing to write there */
                if
                :: plog[id * NS + s] -> /* its PART forgotten, undecided */
                    plog[id * NS + s] = false;
                    nlive--
                :: else -> skip
                fi;
                unlock(s, id)
            :: op == FORGET ->
                /* sw__shard_tx_forget, no lock effect. txlog.pml relies on
                 * every part's DECIDED being logged by now. */
                assert(pdec[id * NS] && pdec[id * NS + 1]);
                nlive--
            :: op == EXEC -> /* txn_exec */
                keys_free(id, kf_f);
                if
                :: kf_f -> run_single(id)
                :: else ->
                    assert(kn[s] < QN);
                    park[s * QN + kn[s]] = id;
                    kn[s]++;
                    WITNESS(W_PARKED);
                    WITNESS_IF(W_GET_WAITS, !cwr[id]);
                    WITNESS_IF(W_RYW_WAITS, rywof[id] != 0);
                    EXEC_WAIT_WITNESSES(id, s)
                fi
            fi;
            op = LOCK;
            id = 0
        }
    od
}

/* ---- the clients ---- */

/* Client id's single-key command on key k: a SET of its id (wr) or a
 * GET; out := the value read. On its own shard it runs at once or waits
 * (WAIT_LOCK); on another it is an EXEC (send_exec). */
inline single(id, k, wr, out)
{
    atomic {
        ckey[id] = k;
        cwr[id] = wr;
        if
        :: k % NS == chome[id] ->
            keys_free(id, kf_f);
            if
            :: kf_f -> run_single(id)
            :: else ->
                cwaits[id] = true;
                WITNESS_IF(W_GET_WAITS, !wr);
                WITNESS_IF(W_RYW_WAITS, rywof[id] != 0);
                EXEC_WAIT_WITNESSES(id, chome[id])
            fi
        :: else -> inbox[k % NS]!EXEC(id)
        fi
    };
    reply[id]?VAL(out)
}

/* Pushes message `op` of transaction id to the shards of its parts, one
 * push per shard in ascending order, as route_send_replies does at the end
 * of the turn. */
inline push_each(id, op)
{
    if
    :: atomic { pmask[id * NS] != 0 -> inbox[0]!op(id) }
    :: else -> skip
    fi;
    if
    :: atomic { pmask[id * NS + 1] != 0 -> inbox[1]!op(id) }
    :: else -> skip
    fi
}

/* finish: the reply into the client's slot; txns_live--. */
inline finish()
{
    txns_live--
}

/* The client of transaction t, once its reply has come: GET k0 (an EXEC
 * to shard 0, as its home is shard 1), then GET k1 (here). The only
 * writer of both, it must read its own writes, though its parts may not
 * have applied them yet. It is client id (the same connection, in the
 * code). */
proctype ryw(byte id; byte t)
{
    byte v;
    single(id, KEY(0, 0), false, v);
    assert(v == t);
    single(id, KEY(1, 0), false, v);
    assert(v == t);
    finished++
}

/* A client's transaction (txn_start, then the coordinator's all_ready and
 * all_done): an MSET of its id to its keys, or an MGET of them, checked
 * when its reply comes. A logged write is decided at the last READY: its
 * reply goes out then, with the APPLYs; txns_live-- and the FORGETs wait
 * for the last DONE. */
proctype txn(byte id)
{
    byte left, s, r0, r1;
    /* txn_start: count in, then look at world_wanted; back off while a
     * world operation wants the world (WAIT_SCHED, retried every turn). */
    do
    :: txns_live++;
        if
        :: world_wanted == 0 || bug == BUG_NO_BACKOFF -> break
        :: atomic { world_wanted > 0 && bug != BUG_NO_BACKOFF -> txns_live--; WITNESS(W_BACKOFF) };
            world_wanted == 0
        fi
    od;
    /* The turn's end (route_send_replies): under sched, one push per
     * shard, ascending. Taking sched joins the first push, letting it go
     * the last. */
    atomic {
        (sched == 0 || bug == BUG_NO_SCHED) && (order == 0 || pushed == id - 1) ->
        if
        :: bug != BUG_NO_SCHED -> sched = id
        :: else -> skip
        fi;
        inbox[0]!LOCK(id)
    };
    atomic {
        inbox[1]!LOCK(id);
        if
        :: order != 0 -> pushed = id
        :: else -> skip
        fi;
        if
        :: bug != BUG_NO_SCHED -> sched = 0
        :: else -> skip
        fi
    };
    left = 2;
    /* The READYs: at the last, all_ready. A logged write is decided
     * there: its reply (and so its client's next command) goes out now. */
    do
    :: left == 0 -> break
    :: atomic {
            reply[id]??READY(s) ->
            left--;
            if
            :: bug == BUG_EARLY_APPLY && !RUNS_AT_GRANT(id) -> inbox[s]!APPLY(id)
            :: else -> skip
            fi;
            if
            :: left == 0 && RUNS_AT_GRANT(id) -> finish()
            :: left == 0 && !RUNS_AT_GRANT(id) -> /* the reply */
                replied++;
                /* its write of a watched key is acknowledged: WATCH's
                 * promise counts it from now, though it applies later */
                if
                :: wdone && wk != NONE && BIT(pmask[id * NS + wk % NS], wk / NS) -> wother = true
                :: else -> skip
                fi;
                if
                :: bug == BUG_LIVE_AT_REPLY -> finish()
                :: else -> skip
                fi;
                if
                :: nryw != 0 -> run ryw(nryw, id)
                :: else -> skip
                fi
            :: else -> skip
            fi;
            s = 0
        }
    od;
    if
    :: RUNS_AT_GRANT(id) -> push_each(id, UNLOCK) /* they ran: unlock */
    :: else -> /* logged writes: apply; at the last DONE, all_done */
        if
        :: bug != BUG_EARLY_APPLY -> push_each(id, APPLY)
        :: else -> skip
        fi;
        if
        :: bug == BUG_FORGET_EARLY -> push_each(id, FORGET)
        :: else -> skip
        fi;
        left = 2;
        do
        :: left == 0 -> break
        :: atomic {
                reply[id]??DONE(s) ->
                left--;
                if
                :: left == 0 ->
                    replied--;
                    if
                    :: bug != BUG_LIVE_AT_REPLY -> finish()
                    :: else -> skip
                    fi
                :: else -> skip
                fi;
                s = 0
            }
        od;
        /* every part's DECIDED is logged: they may forget it */
        if
        :: bug != BUG_FORGET_EARLY -> push_each(id, FORGET)
        :: else -> skip
        fi
    fi;
    /* An MGET read a key per shard (its part's last, when it has two):
     * both from one MSET, or neither; or, beside a single-key writer's
     * SET k0, then SET k1, never its k1 without its k0. */
    atomic {
        r0 = pread[id * NS];
        r1 = pread[id * NS + 1];
        if
        :: !pwrite[id] && mcheck == CHECK_ONE -> assert(r0 == r1)
        :: !pwrite[id] && mcheck == CHECK_PREFIX -> assert(r1 == 0 || r0 != 0)
        :: !pwrite[id] && mcheck == CHECK_PAIR -> assert(VALID_PAIR(r0, r1))
        :: else -> skip
        fi;
        finished++
    }
}

/* Single-key GETs of a, then b, one after the other; the one MSET of
 * both must not show half: once a shows it, so does b. Beside an EXEC
 * and another writer of a (only), saw() checks instead (only): half is
 * 0. (A parameter, not a look at exid: a check of locals only keeps
 * spin's partial-order reduction.) */
proctype getter(byte id; byte a; byte b; bool half)
{
    byte va, vb;
    single(id, a, false, va);
    single(id, b, false, vb);
    assert(!half || va == 0 || vb != 0);
    finished++
}

/* Single-key SETs of a, then b (NONE: no second), one after the other. */
proctype setter(byte id; byte a; byte b)
{
    byte v;
    order == 0 || pushed == order;
    single(id, a, true, v);
    if
    :: b != NONE -> single(id, b, true, v)
    :: else -> skip
    fi;
    finished++
}

/* A world operation (DBSIZE, KEYS, FLUSHALL): it sees k0 and k1 from one
 * MSET, or neither; beside pairs, VALID_PAIR. */
proctype world(byte id)
{
    byte w0, w1;
    world_wanted++;
    if
    :: bug == BUG_WORLD_NOWAIT || txns_live == 0
    :: bug != BUG_WORLD_NOWAIT && txns_live > 0 ->
        WITNESS(W_WORLD_WAITS);
        WITNESS_IF(W_LIVE_REPLIED, replied > 0);
        txns_live == 0
    fi;
    atomic {
        /* every other shard paused: world_enter, the run, world_leave */
        w0 = val[KEY(0, 0)];
        w1 = val[KEY(1, 0)];
        assert((mcheck != CHECK_PAIR && w0 == w1) || (mcheck == CHECK_PAIR && VALID_PAIR(w0, w1)));
        world_wanted--;
        finished++
    }
}

/* WATCH wk on the client's own shard (cmd_watch; it waits, as a write,
 * while wk is held at all): its token is registered. */
inline watch()
{
    atomic { !excl[wk] && shared[wk] == 0 -> wdone = true }
}

/* A client's EXEC on the key locks (txn_start_exec, then the coordinator's
 * all_ready, exec_done and all_done): WATCH wk, MULTI, its SETs queued
 * (which touch nothing shared), EXEC. One part per shard, each locking
 * its keys and the watched ones, exclusively; at the last READY (every
 * part holds its locks) the coordinator looks at the token: dirty, the
 * null reply and UNLOCK to every part; else APPLY (RUN), and at the last
 * DONE the reply. Memory-only, each part let go of its locks at its run:
 * then UNLOCK (nothing left but the message). Durable, COMMIT (DECIDED,
 * unlock), and at its last DONE the end: UNLOCK in the code, which finds
 * no lock and forgets the part (FORGET here). No world operation runs in
 * these configurations, so txn_start's back-off is left out. */
proctype exectx(byte id)
{
    byte left, s;
    bool ab;
    watch();
    txns_live++;
    atomic {
        sched == 0 ->
        sched = id;
        inbox[0]!LOCK(id)
    };
    atomic {
        inbox[1]!LOCK(id);
        sched = 0
    };
    left = 2;
    do
    :: left == 0 -> break
    :: atomic {
            reply[id]??READY(s) ->
            left--;
            if
            :: left == 0 && bug != BUG_EXEC_EARLY_CHECK -> ab = tok
            :: left == 1 && bug == BUG_EXEC_EARLY_CHECK -> ab = tok
            :: else -> skip
            fi;
            if
            :: left == 0 && ab -> /* the null reply */
                WITNESS(W_EXEC_ABORT);
                finish()
            :: else -> skip
            fi;
            s = 0
        }
    od;
    if
    :: ab -> push_each(id, UNLOCK)
    :: else ->
        push_each(id, APPLY);
        left = 2;
        do
        :: left == 0 -> break
        :: atomic {
                reply[id]??DONE(s) ->
                left--;
                if
                :: left == 0 && !logged -> finish() /* the reply; all_done */
                :: left == 0 && logged -> replied++ /* the reply */
                :: else -> skip
                fi;
                s = 0
            }
        od;
        if
        :: !logged -> skip /* the parts let go at their run: freed at home */
        :: else ->
            push_each(id, COMMIT);
            left = 2;
            do
            :: left == 0 -> break
            :: atomic {
                    reply[id]??DONE(s) ->
                    left--;
                    if
                    :: left == 0 ->
                        replied--;
                        finish()
                    :: else -> skip
                    fi;
                    s = 0
                }
            od;
            push_each(id, FORGET)
        fi
    fi;
    finished++
}

/* A local EXEC: WATCH wk, then MULTI, SET k2, EXEC, with every key on the
 * connection's shard (multi_here): run_here's cmd_exec, one step. It runs
 * once its queued commands' keys are free (multi_keys_free), and, but for
 * BUG_LOCAL_WATCH (multi.c today), once no part holds the watched key
 * exclusively, as a read of it would wait; then looks at the token, and
 * runs its SET when it is clean. */
proctype localexec(byte id)
{
    watch();
    if
    :: witness == W_LOCAL_WAITS && bug != BUG_LOCAL_WATCH && excl[wk] -> WITNESS(W_LOCAL_WAITS)
    :: else -> skip
    fi;
    atomic {
        (bug == BUG_LOCAL_WATCH || !excl[wk]) ->
        if
        :: !tok ->
            assert(!wother);
            val[KEY(0, 1)] = id;
            touch(KEY(0, 1), id)
        :: else -> skip
        fi;
        finished++
    }
}

/* ---- pair transactions ---- */

/* The pair's client once replied success: GET the destination (its next
 * command, the same connection), which must hold what the pair wrote. */
proctype pairryw(byte id; byte t)
{
    byte v;
    single(id, KEY(1 - psrc[t], 0), false, v);
    assert(v == pval[t]);
    finished++
}

/* The pair's success reply (the client's next command, when it has one,
 * may follow at once); rep notes it, as the coordinator's record does. */
inline pair_reply(id)
{
    pout[id] = OUT_DONE;
    replied++;
    rep = true;
    if
    :: npryw != 0 ->
        nclients++;
        run pairryw(npryw, id)
    :: else -> skip
    fi
}

/* A pair transaction's client and coordinator: txn_start and its LOCKs
 * as any transaction's; at the last READY of the reads, the decision, as
 * the one-shard command makes it; then, RENAME-like, PREPARE to both
 * parts, and at the last READY the reply (or, a part failed, the error and
 * UNLOCKs), APPLY to both, and at the last DONE the end (durable: FORGET);
 * COPY, UNLOCK to S and APPLY to D, and the reply at D's DONE. */
proctype pairtx(byte id)
{
    byte left, s, ps, rs, rd;
    bool wr, bad, rep;
    ps = psrc[id];
    do
    :: txns_live++;
        if
        :: world_wanted == 0 || bug == BUG_NO_BACKOFF -> break
        :: atomic { world_wanted > 0 && bug != BUG_NO_BACKOFF -> txns_live--; WITNESS(W_BACKOFF) };
            world_wanted == 0
        fi
    od;
    atomic {
        sched == 0 || bug == BUG_NO_SCHED ->
        if
        :: bug != BUG_NO_SCHED -> sched = id
        :: else -> skip
        fi;
        inbox[0]!LOCK(id)
    };
    atomic {
        inbox[1]!LOCK(id);
        if
        :: bug != BUG_NO_SCHED -> sched = 0
        :: else -> skip
        fi
    };
    /* The reads: each part read its key at its grant. At the last READY,
     * the decision. */
    left = 2;
    do
    :: left == 0 -> break
    :: atomic {
            reply[id]??READY(s) ->
            left--;
            if
            :: left == 0 ->
                rs = pread[id * NS + ps];
                rd = pread[id * NS + 1 - ps];
                wr = pkind[id] != PK_LCS && rs != 0 && (pkind[id] == PK_RENAME || rd == 0);
                /* both read under their locks: one moment's values */
                if
                :: mcheck == CHECK_PAIR -> assert(VALID_PAIR(pread[id * NS], pread[id * NS + 1]))
                :: else -> skip
                fi;
                if
                :: !wr -> /* the reply, and UNLOCK to both */
                    WITNESS(W_PAIR_NOOP);
                    WITNESS_IF(W_PAIR_NX, pkind[id] != PK_LCS && rs != 0);
                    pout[id] = OUT_NOOP;
                    finish()
                :: else ->
                    pval[id] = rs;
                    if
                    :: (bug == BUG_PAIR_REPLY_EARLY && pkind[id] != PK_COPY) ||
                       (bug == BUG_PAIR_COPY_REPLY && pkind[id] == PK_COPY) ->
                        pair_reply(id)
                    :: else -> skip
                    fi
                fi
            :: else -> skip
            fi;
            s = 0
        }
    od;
    if
    :: !wr -> push_each(id, UNLOCK)
    :: wr && pkind[id] == PK_COPY -> /* S has nothing to write: unlocked now */
        if
        :: ps == 0 ->
            inbox[0]!UNLOCK(id);
            inbox[1]!APPLY(id)
        :: else ->
            inbox[0]!APPLY(id);
            inbox[1]!UNLOCK(id)
        fi;
        atomic {
            reply[id]??DONE(s) ->
            if
            :: rep -> replied--
            :: !rep && pfail[id * NS + 1 - ps] -> pout[id] = OUT_ERR
            :: !rep && !pfail[id * NS + 1 - ps] ->
                pair_reply(id);
                replied--
            fi;
            finish();
            s = 0
        }
    :: wr && pkind[id] != PK_COPY ->
        if
        :: bug == BUG_PAIR_S_EARLY -> inbox[ps]!UNLOCK(id)
        :: else -> skip
        fi;
        push_each(id, PREPARE);
        left = 2;
        do
        :: left == 0 -> break
        :: atomic {
                reply[id]??READY(s) ->
                left--;
                if
                :: left == 0 && (pfail[id * NS] || pfail[id * NS + 1]) -> /* called off */
                    bad = true;
                    if
                    :: rep -> replied--
                    :: else -> pout[id] = OUT_ERR
                    fi;
                    finish()
                :: left == 0 && !pfail[id * NS] && !pfail[id * NS + 1] ->
                    if
                    :: !rep -> pair_reply(id)
                    :: else -> skip
                    fi;
                    if
                    :: bug == BUG_PAIR_LIVE_AT_REPLY -> finish()
                    :: else -> skip
                    fi
                :: else -> skip
                fi;
                s = 0
            }
        od;
        if
        :: bad -> push_each(id, UNLOCK)
        :: else ->
            push_each(id, APPLY);
            left = 2;
            do
            :: left == 0 -> break
            :: atomic {
                    reply[id]??DONE(s) ->
                    left--;
                    if
                    :: left == 0 ->
                        replied--;
                        if
                        :: bug != BUG_PAIR_LIVE_AT_REPLY -> finish()
                        :: else -> skip
                        fi
                    :: else -> skip
                    fi;
                    s = 0
                }
            od;
            if
            :: logged -> push_each(id, FORGET)
            :: else -> skip
            fi
        fi
    fi;
    finished++
}

/* An EXEC that queued RENAME k0 k1 (its keys on two shards: a joint;
 * txn_start_exec, all_ready, joints_advance, exec_done). Its parts lock
 * and READY as any EXEC's (no WATCH here); RUN to both; at the last STEP
 * the decision, from S's read: no source, nothing to write, RUN to both;
 * else D's put first, RUN to D alone, and once D is back (its DONE: it ran
 * on to its end) S's delete if the put was made, RUN to S. At the last
 * DONE the reply; durable, then COMMIT to both and, at their DONEs, the
 * end (FORGET). */
proctype jointexec(byte id)
{
    byte left, s, ps, pd;
    bool wr;
    ps = psrc[id];
    pd = 1 - ps;
    do
    :: txns_live++;
        if
        :: world_wanted == 0 || bug == BUG_NO_BACKOFF -> break
        :: atomic { world_wanted > 0 && bug != BUG_NO_BACKOFF -> txns_live--; WITNESS(W_BACKOFF) };
            world_wanted == 0
        fi
    od;
    atomic {
        sched == 0 ->
        sched = id;
        inbox[0]!LOCK(id)
    };
    atomic {
        inbox[1]!LOCK(id);
        sched = 0
    };
    left = 2;
    do
    :: left == 0 -> break
    :: atomic { reply[id]??READY(s) -> left--; s = 0 }
    od;
    push_each(id, APPLY);
    left = 2;
    do
    :: left == 0 -> break
    :: atomic {
            reply[id]??STEP(s) ->
            left--;
            if
            :: left == 0 -> /* the decision, as RENAME's on one shard */
                if
                :: mcheck == CHECK_PAIR -> assert(VALID_PAIR(pread[id * NS], pread[id * NS + 1]))
                :: else -> skip
                fi;
                wr = pread[id * NS + ps] != 0;
                if
                :: !wr ->
                    pout[id] = OUT_NOOP;
                    jw[id * NS] = JW_PASS;
                    jw[id * NS + 1] = JW_PASS
                :: else ->
                    pval[id] = pread[id * NS + ps];
                    jw[id * NS + pd] = JW_PUT;
                    if
                    :: bug == BUG_JOINT_DEL_EARLY -> jw[id * NS + ps] = JW_DEL
                    :: else -> skip
                    fi
                fi
            :: else -> skip
            fi;
            s = 0
        }
    od;
    left = 2;
    if
    :: !wr || bug == BUG_JOINT_DEL_EARLY -> push_each(id, APPLY)
    :: else ->
        inbox[pd]!APPLY(id);
        atomic {
            reply[id]??DONE(s) -> /* D's: its put made, or failed */
            left--;
            if
            :: pfail[id * NS + pd] -> jw[id * NS + ps] = JW_PASS
            :: else -> jw[id * NS + ps] = JW_DEL
            fi;
            s = 0
        };
        inbox[ps]!APPLY(id)
    fi;
    do
    :: left == 0 -> break
    :: atomic {
            reply[id]??DONE(s) ->
            left--;
            if
            :: left == 0 -> /* the reply (exec_done) */
                if
                :: wr && pfail[id * NS + pd] -> pout[id] = OUT_ERR
                :: wr && !pfail[id * NS + pd] -> pout[id] = OUT_DONE
                :: else -> skip
                fi;
                if
                :: logged -> replied++
                :: else -> finish()
                fi
            :: else -> skip
            fi;
            s = 0
        }
    od;
    if
    :: !logged -> skip /* the parts let go at their run: freed at home */
    :: else ->
        push_each(id, COMMIT);
        left = 2;
        do
        :: left == 0 -> break
        :: atomic {
                reply[id]??DONE(s) ->
                left--;
                if
                :: left == 0 ->
                    replied--;
                    finish()
                :: else -> skip
                fi;
                s = 0
            }
        od;
        push_each(id, FORGET)
    fi;
    finished++
}

/* GET a, then GET b, beside RENAMEs of k0 to k1: reading the source first
 * (srcfirst), never both absent; the destination first, never the token in
 * both. Either would be half a RENAME. */
proctype pgetter(byte id; byte a; byte b; bool srcfirst)
{
    byte va, vb;
    single(id, a, false, va);
    single(id, b, false, vb);
    assert(srcfirst || va != TOK || vb != TOK);
    assert(!srcfirst || va != 0 || vb != 0);
    finished++
}

/* SET a (of the client's id), then GET b; the GET's value is noted for
 * COPY's check (pair_apply). */
proctype setget(byte id; byte a; byte b)
{
    byte v;
    single(id, a, true, v);
    single(id, b, false, v);
    atomic {
        sgot = v;
        sgdone = true;
        finished++
    }
}

/* Pair transaction id of the client of shard home: kind k, from the key of
 * shard src to the other's. */
inline mkpair(id, home, k, src)
{
    chome[id] = home;
    pkind[id] = k;
    psrc[id] = src;
    pwrite[id] = (k != PK_LCS);
    pmask[id * NS] = 1;
    pmask[id * NS + 1] = 1;
    run pairtx(id)
}

#define K0 KEY(0, 0)
#define K1 KEY(1, 0)
#define K2 KEY(0, 1)
#define K3 KEY(1, 1)

/* Transaction id of client id on shard home: write (MSET) or not (MGET),
 * its keys on shard 0 (m0) and shard 1 (m1). */
inline mktxn(id, home, wr, m0, m1)
{
    chome[id] = home;
    pwrite[id] = wr;
    pmask[id * NS] = m0;
    pmask[id * NS + 1] = m1;
    run txn(id)
}

/* The EXEC of client id on shard home, its keys on shard 0 (m0) and
 * shard 1 (m1), watching key w. */
inline mkexec(id, home, m0, m1, w)
{
    chome[id] = home;
    pexec[id] = true;
    exid = id;
    wk = w;
    pwrite[id] = (bug != BUG_EXEC_SHARED);
    pmask[id * NS] = m0;
    pmask[id * NS + 1] = m1;
    run exectx(id)
}

/* The EXEC of client id on shard home that queued RENAME from the key of
 * shard src to the other's: a joint. */
inline mkjoint(id, home, src)
{
    chome[id] = home;
    pjoint[id] = true;
    jid = id;
    psrc[id] = src;
    pwrite[id] = true;
    pmask[id * NS] = 1;
    pmask[id * NS + 1] = 1;
    run jointexec(id)
}

init
{
    c_code {
        char *e = getenv("TXN_CFG"), *b = getenv("TXN_BUG"), *w = getenv("TXN_WITNESS"),
             *n = getenv("TXN_NOWATCH");
        now.cfg = e ? atoi(e) : 1;
        now.bug = b ? atoi(b) : 0;
        now.witness = w ? atoi(w) : 0;
        now.nowatch = n && atoi(n);
    };
    atomic {
        wk = NONE;
        run shard(0);
        run shard(1);
        if
        :: cfg == 1 || cfg == 2 ->
            /* mset-mget: two MSETs of k0 and k1 and an MGET of them;
             * logged writes (1) or memory-only (2). */
            logged = (cfg == 1);
            mcheck = CHECK_ONE;
            mktxn(1, 0, true, 1, 1);
            mktxn(2, 1, true, 1, 1);
            mktxn(3, 0, false, 1, 1);
            nclients = 3
        :: cfg == 3 || cfg == 4 ->
            /* mset-gets: an MSET of k0 and k1; two clients of shard 0,
             * one doing GET k0 then GET k1 (here, then an EXEC), the other
             * GET k1 then GET k0 (an EXEC, then here); logged (3) or
             * memory-only (4). */
            logged = (cfg == 3);
            mktxn(1, 1, true, 1, 1);
            chome[2] = 0;
            run getter(2, K0, K1, true);
            chome[3] = 0;
            run getter(3, K1, K0, true);
            nclients = 3
        :: cfg == 5 ->
            /* set-mget: SET k0 then SET k1 from shard 1 (an EXEC, then
             * here); two MGETs of k0 and k1. */
            mcheck = CHECK_PREFIX;
            chome[1] = 1;
            run setter(1, K0, K1);
            mktxn(2, 0, false, 1, 1);
            mktxn(3, 1, false, 1, 1);
            nclients = 3
        :: cfg == 6 ->
            /* disjoint: MSETs of k0, k1 and of k2, k3 (the same shards);
             * an MGET of k0 and k1 beside them. Memory-only. */
            mcheck = CHECK_ONE;
            mktxn(1, 0, true, 1, 1);
            mktxn(2, 1, true, 2, 2);
            mktxn(3, 0, false, 1, 1);
            nclients = 3
        :: cfg == 7 ->
            /* world: two MSETs of k0 and k1 and a world operation. Logged. */
            logged = true;
            mktxn(1, 0, true, 1, 1);
            mktxn(2, 1, true, 1, 1);
            run world(3);
            nclients = 3
        :: cfg == 8 ->
            /* scan: parts of two keys of one shard. MSET k0, k3; MGET k2,
             * k1; MSET k0, k2, k1; MGET k2, k1. Memory-only. */
            mcheck = CHECK_ONE;
            mktxn(1, 0, true, 1, 2);
            mktxn(2, 1, false, 2, 1);
            mktxn(3, 0, true, 3, 1);
            mktxn(4, 1, false, 2, 1);
            nclients = 4
        :: cfg == 9 ->
            /* ww-order: MSET k0, k3; MSET k2, k3; MGET k0, k2, k1; MSET
             * k2, k1; MGET k0, k1, their parts leaving in that order; then
             * SET k0 from shard 1. Memory-only. txn.c deadlocked here
             * before its fix (BUG_WRITER_FLAG; see docs/verification.md). */
            order = 5;
            mktxn(1, 0, true, 1, 2);
            mktxn(2, 0, true, 2, 2);
            mktxn(3, 0, false, 3, 1);
            mktxn(4, 1, true, 2, 1);
            mktxn(5, 1, false, 1, 1);
            chome[6] = 1;
            run setter(6, K0, NONE);
            nclients = 6
        :: cfg == 10 ->
            /* mset-ryw: a logged MSET of k0 and k1 from shard 1; once
             * replied to, its client GETs k0 (an EXEC), then k1 (here), and
             * must read its own writes. */
            logged = true;
            nryw = 2;
            chome[2] = 1;
            rywof[2] = 1;
            mktxn(1, 1, true, 1, 1);
            nclients = 2
        :: cfg == 11 || cfg == 12 ->
            /* exec-set: client 1 of shard 0 does WATCH k0, MULTI, SET k0,
             * SET k1, EXEC (a part per shard); client 2 of shard 1, SET k0
             * (an EXEC to shard 0); two clients of shard 0, GET k0 then
             * GET k1 (here, then an EXEC), and GET k1 then GET k0; logged
             * (11) or memory-only (12). */
            logged = (cfg == 11);
            mkexec(1, 0, 1, 1, K0);
            chome[2] = 1;
            run setter(2, K0, NONE);
            chome[3] = 0;
            run getter(3, K0, K1, false);
            chome[4] = 0;
            run getter(4, K1, K0, false);
            nclients = 4
        :: cfg == 13 || cfg == 14 ->
            /* exec-mset: that EXEC (WATCH k0; SET k0, SET k1), an MSET of
             * k0 and k1 from shard 1 and an MGET of them from shard 0;
             * logged (13) or memory-only (14). */
            logged = (cfg == 13);
            mcheck = CHECK_ONE;
            mkexec(1, 0, 1, 1, K0);
            mktxn(2, 1, true, 1, 1);
            mktxn(3, 0, false, 1, 1);
            nclients = 3
        :: cfg == 15 ->
            /* exec-local: a logged MSET of k0 and k1 from shard 1; client
             * 2 of shard 0 does WATCH k0, MULTI, SET k2, EXEC: a local
             * EXEC, which must not run once the MSET is acknowledged. */
            logged = true;
            wk = K0;
            mktxn(1, 1, true, 1, 1);
            chome[2] = 0;
            run localexec(2);
            nclients = 2
        :: cfg == 16 || cfg == 17 ->
            /* pair-gets: RENAME k0 k1 (k0 holds the token, k1 does not
             * exist) from a client of shard 1; two clients of shard 0,
             * GET k0 then GET k1 (here, then an EXEC), and GET k1 then GET
             * k0. Memory-only (16): D's PUT may fail for memory; durable
             * (17): either part may be refused, and the client, replied
             * success, GETs k1 (an EXEC). */
            logged = (cfg == 17);
            val[K0] = TOK;
            pmayfail[1] = true;
            if
            :: logged ->
                npryw = 4;
                chome[4] = 1;
                rywof[4] = 1
            :: else -> skip
            fi;
            mkpair(1, 1, PK_RENAME, 0);
            chome[2] = 0;
            run pgetter(2, K0, K1, true);
            chome[3] = 0;
            run pgetter(3, K1, K0, false);
            nclients = 3
        :: cfg == 18 || cfg == 19 ->
            /* pair-mget: RENAME k0 k1 from shard 0, RENAME k1 k0 from
             * shard 1 (their parts in opposite orders), an MGET of k0, k1
             * from shard 0; memory-only (18) or durable (19). */
            logged = (cfg == 19);
            mcheck = CHECK_PAIR;
            val[K0] = TOK;
            pmayfail[1] = true;
            mkpair(1, 0, PK_RENAME, 0);
            mkpair(2, 1, PK_RENAME, 1);
            mktxn(3, 0, false, 1, 1);
            nclients = 3
        :: cfg == 20 ->
            /* pair-mset: RENAMENX k0 k1 from shard 0, RENAME k1 k0 from
             * shard 1, an MSET of k0, k1 from shard 0; durable. */
            logged = true;
            mcheck = CHECK_PAIR;
            val[K0] = TOK;
            mkpair(1, 0, PK_RENAMENX, 0);
            mkpair(2, 1, PK_RENAME, 1);
            mktxn(3, 0, true, 1, 1);
            nclients = 3
        :: cfg == 21 ->
            /* pair-copy: COPY k0 k1 from a client of shard 1, whose write
             * on D may fail (memory, or the disk); it GETs k1 once replied
             * success. A client of shard 0 does SET k0, then GET k1 (an
             * EXEC). Memory-only; durable, COPY takes the same steps
             * (D's plain write is committed at the turn's end, before its
             * DONE). */
            val[K0] = TOK;
            pmayfail[1] = true;
            npryw = 3;
            chome[3] = 1;
            rywof[3] = 1;
            sgid = 2;
            mkpair(1, 1, PK_COPY, 0);
            chome[2] = 0;
            run setget(2, K0, K1);
            nclients = 2
        :: cfg == 22 ->
            /* pair-lcs: RENAME k0 k1 from shard 0, RENAME k1 k0 from
             * shard 1, an LCS of k0, k1 (shared locks) from shard 0;
             * memory-only. */
            mcheck = CHECK_PAIR;
            val[K0] = TOK;
            mkpair(1, 0, PK_RENAME, 0);
            mkpair(2, 1, PK_RENAME, 1);
            mkpair(3, 0, PK_LCS, 0);
            nclients = 3
        :: cfg == 23 ->
            /* pair-world: RENAME k0 k1 from shard 0, and a world
             * operation; memory-only (D's PUT comes at PREPARE, before
             * S's DEL). */
            mcheck = CHECK_PAIR;
            val[K0] = TOK;
            mkpair(1, 0, PK_RENAME, 0);
            run world(2);
            nclients = 2
        :: cfg == 24 ->
            /* pair-mset-lcs, run by hand (about 5.5 million states): as
             * 20, and an LCS of k0, k1 from shard 1. */
            logged = true;
            mcheck = CHECK_PAIR;
            val[K0] = TOK;
            mkpair(1, 0, PK_RENAMENX, 0);
            mkpair(2, 1, PK_RENAME, 1);
            mktxn(3, 0, true, 1, 1);
            mkpair(4, 1, PK_LCS, 0);
            nclients = 4
        :: cfg == 25 || cfg == 26 ->
            /* exec-joint-gets: an EXEC of RENAME k0 k1 (k0 holds the
             * token, k1 does not exist) from a client of shard 1, whose
             * put on D may fail (memory, or log room); two clients of shard
             * 0, GET k0 then GET k1, and GET k1 then GET k0. Memory-only
             * (25) or durable (26). */
            logged = (cfg == 26);
            val[K0] = TOK;
            pmayfail[1] = true;
            mkjoint(1, 1, 0);
            chome[2] = 0;
            run pgetter(2, K0, K1, true);
            chome[3] = 0;
            run pgetter(3, K1, K0, false);
            nclients = 3
        :: cfg == 27 ->
            /* exec-joint-mget: that EXEC from shard 0, RENAME k1 k0 from
             * shard 1 (a pair, its parts in the other order), an MGET of
             * k0, k1 from shard 0; memory-only. */
            mcheck = CHECK_PAIR;
            val[K0] = TOK;
            mkjoint(1, 0, 0);
            mkpair(2, 1, PK_RENAME, 1);
            mktxn(3, 0, false, 1, 1);
            nclients = 3
        fi
    }
    /* The end: every client done, every message handled; then no lock is
     * held, nothing waits, and no transaction or world operation is
     * live. */
    finished == nclients && len(inbox[0]) == 0 && len(inbox[1]) == 0;
    assert(holders[0] == 0 && holders[1] == 0 && pn[0] == 0 && pn[1] == 0 && kn[0] == 0 &&
           kn[1] == 0 && txns_live == 0 && world_wanted == 0);
    assert(!excl[0] && !excl[1] && !excl[2] && !excl[3] &&
           shared[0] + shared[1] + shared[2] + shared[3] == 0 &&
           waiting[0] + waiting[1] + waiting[2] + waiting[3] == 0 &&
           !ww[0] && !ww[1] && !ww[2] && !ww[3]);
    assert(!cwaits[1] && !cwaits[2] && !cwaits[3] && !cwaits[4] && !cwaits[5] && !cwaits[6]);
    /* And beside pairs: every one replied; the token neither lost nor
     * doubled; after one RENAME of k0 to k1, the token where its reply
     * says. (One assertion: one step, as before pairs were modelled.) */
    assert(replied == 0 && nlive == 0 &&
           (pkind[1] == 0 || pout[1] != 0) && (pkind[2] == 0 || pout[2] != 0) &&
           (pkind[3] == 0 || pout[3] != 0) && (pkind[4] == 0 || pout[4] != 0) &&
           (mcheck != CHECK_PAIR || VALID_PAIR(val[K0], val[K1])) &&
           (jid == 0 || pout[jid] != 0) &&
           (!(cfg == 16 || cfg == 17 || cfg == 23 || cfg == 25 || cfg == 26) ||
            (pout[1] == OUT_DONE && val[K0] == 0 && val[K1] == TOK) ||
            (pout[1] != OUT_DONE && val[K0] == TOK && val[K1] == 0)))
}
