/* A Promela model of the crash atomicity of stewardd's durable
 * multi-shard writes (MSET, DEL, MSETNX with --dir): the records each
 * shard logs for its part of a transaction, compaction, and the recovery
 * rule of sw__shards_open, as the "transactions across shards" comment of
 * src/db/shard.h states them. verify/txn.pml checks the key locks and the
 * messages that carry a transaction between its shards; this model takes
 * their outcome as given (a part's keys are locked from its grant to its
 * APPLY; LOCKs reach every shard in one order; a part answers only after
 * its turn's commit) and checks what is in the logs after a crash at any
 * moment, and what recovery makes of it. tools/verify.sh checks it
 * exhaustively with spin; docs/verification.md says what it covers.
 *
 * The protocol, each inline named after the function it stands for:
 *  - tx_prepare, at a part's grant: the part logs one PART record (the
 *    transaction, and its writes) without applying it, and is live on its
 *    shard; then READY. A part that refuses (no log room; MSETNX finding a
 *    key) logs nothing and answers READY with its refusal.
 *  - all_ready, on the coordinator: every part ready and none refused, the
 *    transaction is decided: the client's reply, and APPLY to every part.
 *    Else the refusal is the reply, and UNLOCK to every part (tx_unlock:
 *    the part is forgotten undecided, its keys unlocked).
 *  - tx_decide, at APPLY: the part logs DECIDED, applies its writes to the
 *    table (logging nothing more), unlocks its keys; then DONE.
 *  - all_done, at the last DONE: FORGET to every part (tx_forget: the part
 *    is no longer live; no lock effect).
 *  - a single-key write: runs when its key is not locked (else it waits,
 *    parked or holding its connection), and logs a PUT.
 *  - an EXEC (txn.c's exec_kind; transaction 1 with TXLOG_CFG 7 and 8):
 *    its parts log nothing at their grant; once every one is locked,
 *    APPLY (its RUN, exec_run): the part runs its commands, applying its
 *    writes to the table, and logs them as its PART (live), its key still
 *    locked; DONE. At the last DONE the reply, and COMMIT to each part:
 *    DECIDED logged, nothing applied, unlocked; then FORGET as above.
 *  - a pair (a RENAME of k0 to k1 across the two shards, as specified for
 *    txn.c; transaction 1 with TXLOG_CFG 9 and 10): its parts lock and
 *    read their keys at their grant and log nothing; once both have read
 *    (k0 exists: it writes), PREPARE: part S logs its PART, a DEL of k0,
 *    part D a PUT to k1 of the value S read, or D refuses; then as any
 *    transaction (all_ready, tx_decide: the DEL and the PUT applied at
 *    APPLY, FORGET). The history records which transaction made each
 *    write, since a DEL and a copied value name none.
 *  - compaction (compact_start, compact_step, as in src/db/db_log.c): a new
 *    file, which first gets the shard's live parts again (a PART for an
 *    undecided one, a DECIDED for a decided one); then, one chunk per turn,
 *    a snapshot of the table as PUT records (a chunk is a key here; a key
 *    with no value has none); every record logged meanwhile goes to the new
 *    file too (sw__db_compact_note). After the last chunk the new file
 *    replaces the log, but not while a live part of the shard has applied
 *    writes and no DECIDED (SWITCH_WAITS): its transaction may still be
 *    undecided, and the snapshot holds its writes. db_log.c lacks that
 *    wait today (BUG_EXEC_SNAP, caught as torn).
 *  - crash: at any moment between two turns. A turn's records are
 *    committed at its end, before its answers leave (group commit), so a
 *    log is exactly the records committed: with appendfsync always that is
 *    power loss as well as a process crash; with everysec or no it is a
 *    process crash (the kernel keeps what was written). A compaction under
 *    way is lost (its file is not yet in place).
 *  - recovery (shards_open): a transaction is decided if any log holds its
 *    DECIDED, or every log its PART. Each log is replayed in order; a
 *    decided part is applied where its shard's DECIDED stands, or, where
 *    its log has its PART and no DECIDED after it, at the end of the log,
 *    and then a DECIDED is logged there. An undecided part is never
 *    applied.
 *
 * What is checked, after recovery: take, for each key, the writes the
 * running system applied to it in order (its history), and add the parts
 * of every transaction that was decided (every PART logged, not called
 * off) but had not yet applied on that shard: their keys were locked, so
 * they come last. The recovered value of a key must be a value of its
 * history (stray: else recovery made up a write, e.g. a part called off),
 * and so names a prefix of it, the writes recovery kept. Then:
 *  - lost: no write after that prefix was acknowledged (a single-key write
 *    once committed; a transaction once its client was replied to), so no
 *    acknowledged write is lost and no later write is undone by an earlier
 *    one;
 *  - torn: every transaction is in both keys' prefixes or in neither;
 *  - with TXLOG_CFG 5, the recovered server goes on: both keys are
 *    written, one shard may compact, and a second crash and recovery must
 *    find those writes and nothing else changed (undone).
 *
 * The model: two shards, key k0 on shard 0 and k1 on shard 1 (and k2 on
 * shard 0 in the chunked configuration), each holding value 7 at first
 * (a PUT in each log; k1 has no value at first beside a pair); one or two transactions, each writing its id to k0
 * and k1 (transaction 1 before transaction 2 at both shards, as `sched`
 * orders them); single-key writes of values 3 and 4 (5 and 6 after the
 * first recovery, with TXLOG_CFG 5). Every move is a turn
 * of one shard (handling one message, or a compaction step) or of a
 * coordinator, and is one atomic step. In pan's environment TXLOG_CFG
 * picks the configuration, TXLOG_BUG a deliberately broken variant (which
 * the checks must catch), TXLOG_WITNESS a path the configuration must
 * reach; TXLOG_EVERYSEC=1 makes the crash a power cut with appendfsync
 * everysec (each log keeps any prefix of what was written since its last
 * sync), which the checks must catch tearing a transaction: the limit
 * that shard.h states; TXLOG_NOLOST=1 leaves the check `lost` out.
 */

#define NS 2   /* shards */
#define NT 2   /* transactions 1 .. NT */
#define NKEY 3 /* k0 and k2 on shard 0, k1 on shard 1 */
#define NW 2   /* single-key writes */
#define LMAX 9 /* records per log */
#define HM 5   /* writes per key's history */
#define INIT 7 /* every key's value before the run */

/* A record: PART(t) (its writes: t's value to its key on the shard),
 * DECIDED(t), PUT(k, v). */
#define PART(t) (16 + (t))
#define DEC(t) (32 + (t))
#define PUT(k, v) (64 + (k) * 8 + (v))
#define IS_PART(r) ((r) >= 16 && (r) < 32)
#define IS_DEC(r) ((r) >= 32 && (r) < 48)
#define IS_PUT(r) ((r) >= 64)
#define RT(r) ((r) & 15)
#define RK(r) (((r) - 64) / 8)
#define RV(r) ((r) & 7)

/* Part (t, s): transaction t's part on shard s, and its state ... */
#define P(t, s) ((t) * NS + (s))
#define P_NONE 0    /* no such part */
#define P_LOCK 1    /* its LOCK sent: in the inbox, or pending */
#define P_READY 2   /* granted: PART logged, live, READY sent */
#define P_REFUSED 3 /* granted, refused: nothing logged, READY (the refusal) sent */
#define P_DONE 4    /* APPLY handled: DECIDED logged, applied, unlocked, DONE sent */
#define P_OFF 5     /* UNLOCK handled: forgotten undecided, unlocked */
#define P_GONE 6    /* FORGET handled */
#define P_RAN 7     /* an EXEC's part: APPLY (RUN) handled: applied, PART logged, live, DONE sent */
#define P_READ 8    /* a pair's part: granted, its key read, READY sent; nothing logged yet */

/* Transaction t's coordinator: its state */
#define T_NONE 0     /* no such transaction */
#define T_LOCKING 1  /* LOCKs sent, READYs awaited */
#define T_APPLYING 2 /* decided: replied to, APPLYs sent, DONEs awaited */
#define T_ABORTING 3 /* a part refused: the refusal replied, UNLOCKs sent */
#define T_FORGET 4   /* every DONE in: FORGETs sent */
#define T_RUNNING 5  /* an EXEC: every part locked, APPLYs (RUN) sent, DONEs awaited */
#define T_PREPARING 6 /* a pair: both parts read, decided to write, PREPAREs sent */

byte cfg, bug, witness;
bool everysec; /* TXLOG_EVERYSEC: a power cut keeps any prefix of each log since its last sync */
bool nolost;   /* TXLOG_NOLOST: leave out the check `lost`, to show that `torn` alone catches a variant */

/* ---- the configuration, set before the run ---- */

byte ntx;          /* transactions */
bool refuse;       /* transaction 1's part on shard 1 may refuse */
byte wkey[NW];     /* single-key write i: its key (NONE: no such write), */
byte wafter[NW];   /* sent once transaction wafter[i] is replied to (0: at any time) */
byte maxcmp;       /* compactions per shard */
byte nchunk[NS];   /* snapshot chunks (keys) per shard */
bool twice;        /* the recovered server goes on, and crashes again */
/* Transaction 1 is an EXEC (txn.c's exec_kind): its parts lock at their
 * grant and log nothing; at APPLY (RUN) each runs its commands, applying
 * its writes, and logs them as its PART (sw__shard_unit_end_part); the
 * reply follows the last RUN; COMMIT logs DECIDED and unlocks. */
bool exec1;
#define IS_EXEC(t) (exec1 && (t) == 1)
/* Transaction 1 is a pair (txn.c's RENAME across two shards, k0 to k1):
 * its parts lock and read their keys at their grant and log nothing; once
 * both have read, PREPARE: part S (shard 0) logs its PART, a DEL of k0,
 * part D (shard 1) its PART, a PUT to k1 of the value S read (prd); then
 * as any transaction. k1 does not exist at first. */
bool pair1;
#define IS_PAIR(t) (pair1 && (t) == 1)
/* What part (t, s) writes to its key: its id, or the pair's DEL (0, no
 * value) and PUT of prd. */
#define PV(t, s) (IS_PAIR(t) -> ((s) == 0 -> 0 : prd) : (t))
#define NONE 255

/* ---- the shards ---- */

byte lg[NS * LMAX]; /* the log: what a crash leaves */
byte ln[NS];
byte dur[NS];       /* its records a crash keeps for sure (commits, or syncs with everysec) */
byte nf[NS * LMAX]; /* a compaction's new file */
byte nfn[NS];
byte cmp[NS];       /* 0: no compaction; else the next chunk, from 1 */
byte ncmp[NS];      /* compactions started */
byte tab[NKEY];     /* the table: each key's value, 0 none */
byte lk[NKEY];      /* the transaction holding its lock, 0 none */
byte pst[(NT + 1) * NS];
bool live[(NT + 1) * NS]; /* the part is live on its shard (sw__shard_tx_forget not yet) */
bool pdec[(NT + 1) * NS]; /* its DECIDED is logged */
bool plog[(NT + 1) * NS]; /* ghost: its PART is logged */
byte prd;                 /* the pair's part S read k0: D's PUT writes it */
byte tst[NT + 1];
byte wst[NW]; /* single-key write i done (committed) */

/* ---- ghosts: each key's history, and what was acknowledged ---- */

byte hist[NKEY * HM];
byte histt[NKEY * HM]; /* the transaction of each of those writes, 0 for none */
byte hn[NKEY];
bool acked[NT + 1];   /* the client was replied to: decided */
bool aborted[NT + 1]; /* the client was replied to: called off */

/* ---- recovery ---- */

byte rt[NKEY];          /* the recovered table */
byte rt1[NKEY];         /* the first recovery's, with twice */
bool rdec[NT + 1];      /* decided, as recovery sees it */
byte relog[NS];         /* where the first recovery logged a DECIDED (ghost), else NONE */
byte round;             /* recoveries done */

/* Scratch, only ever used inside one d_step. */
hidden byte i_, j_, t_, r_, k_, v_, p_, q_, s_, pv_;
hidden byte pp_[NT + 1];  /* part t's PART met in this log and not yet applied */
hidden byte snap_[NT + 1]; /* ... and a PUT of its key met after it */
hidden byte pk_[NKEY];     /* the prefix of key k's history that recovery kept */
hidden byte lost, torn, stray, undone; /* the checks' verdicts (bits cannot be hidden) */
hidden byte in0, in1;

/* The broken variants (TXLOG_BUG). */
#define BUG_NO_REEMIT 1    /* a compaction does not write the live parts first */
#define BUG_FORGET_EARLY 2 /* a part is forgotten at its own DECIDED, not at FORGET */
#define BUG_AT_PART 3      /* recovery applies a decided part where its PART stands */
#define BUG_UNDECIDED 4    /* recovery applies a part whose PART it meets, decided or not */
#define BUG_NO_NOTE 5      /* a PART or DECIDED logged during a compaction is not copied into the new file */
#define BUG_REEMIT_PART 6  /* a compaction writes a decided live part as its PART, not a DECIDED */
#define BUG_NO_RELOG 7     /* recovery applies a part at its log's end but logs no DECIDED there */
#define BUG_REFUSED_PART 8 /* a part that refuses logs its PART all the same */
#define BUG_ANSWER_EARLY 9 /* a part answers READY or DONE before its turn's commit */
#define BUG_FORGET_AT_READY 10 /* the coordinator sends FORGET at the last READY, with the APPLYs */
/* db_log.c's compact_step today: a compaction replaces the log while a
 * live part on its shard whose writes are applied (an EXEC's, a world
 * operation's unit) has no DECIDED yet; its snapshot holds those writes. */
#define BUG_EXEC_SNAP 11
#define BUG_EXEC_RUN_UNLOCK 12 /* an EXEC's part unlocks its key at its RUN, not at its COMMIT */
/* A pair's part D makes its PUT at PREPARE as a plain write (logged,
 * applied), as a memory-only server does, not as a PART. */
#define BUG_PAIR_PLAIN 13

/* The witnesses (TXLOG_WITNESS). */
#define W_AT_END 1        /* recovery applies a part at its log's end (no DECIDED after its PART) */
#define W_SNAP_BETWEEN 2  /* ... at its DECIDED, with a snapshot PUT of its key between PART and DECIDED */
#define W_BY_PARTS 3      /* a transaction decided by its PARTs alone: no DECIDED in any log */
#define W_UNDECIDED 4     /* recovery leaves a logged PART unapplied: undecided */
#define W_REEMIT_PART 5   /* a compaction writes a live undecided part's PART first */
#define W_REEMIT_DEC 6    /* a compaction writes a live decided part's DECIDED first */
#define W_BETWEEN_CHUNKS 7 /* a record logged between two snapshot chunks */
#define W_DEC_ALONE 8     /* recovery meets a DECIDED with no PART before it: the writes are in the snapshot */
#define W_RELOGGED 9      /* the second recovery applies a part at the DECIDED the first logged */
#define W_ABORT_LOGGED 10 /* recovery meets the PART of a transaction called off */
#define W_SET_WAITS 11    /* a write sent after the reply finds its key still locked */
#define W_EXEC_SNAP 12    /* a snapshot chunk holds an EXEC part's write before its DECIDED */
#define W_SWITCH_WAITS 13 /* a compaction's last chunk waits for an applied part's DECIDED */
#define W_PAIR_SNAP_READ 14 /* a compaction starts while a pair's part has read its key, before its PART */

#define WITNESS(n) assert(witness != (n))
#define WITNESS_IF(n, cond) assert(witness != (n) || !(cond))

/* Key k's shard. A transaction's part on shard s writes key s (k0, k1). */
#define KSH(k) ((k) % NS)

/* ---- the logs ---- */

/* Appends r to shard s's log, and to the new file of a compaction under
 * way (sw__db_compact_note). Committed at the turn's end, which the answer
 * waits for: here, at once, unless the records only become durable when
 * synced (everysec) or the answer goes before the commit (BUG_ANSWER_EARLY,
 * whose commit comes with the shard's next turn, or its own). */
inline append(s, r)
{
    assert(ln[s] < LMAX);
    lg[s * LMAX + ln[s]] = r;
    ln[s]++;
    if
    :: cmp[s] != 0 && !(bug == BUG_NO_NOTE && !IS_PUT(r)) ->
        assert(nfn[s] < LMAX);
        nf[s * LMAX + nfn[s]] = r;
        nfn[s]++;
        WITNESS_IF(W_BETWEEN_CHUNKS, cmp[s] > 1)
    :: else -> skip
    fi
}

inline commit(s)
{
    if
    :: !everysec -> dur[s] = ln[s]
    :: else -> skip
    fi
}

/* k's history gets v (the write was applied in memory). */
inline history(k, v, t)
{
    assert(hn[k] < HM);
    hist[k * HM + hn[k]] = v;
    histt[k * HM + hn[k]] = t;
    hn[k]++
}

/* ---- a part on its shard ---- */

/* The grant (enqueue, take): its key is free and transaction 1's part
 * there has gone first. tx_prepare logs the PART; or the part refuses and
 * logs nothing. Its key stays locked until APPLY or UNLOCK. */
#define GRANTABLE(t, s) (pst[P(t, s)] == P_LOCK && lk[s] == 0 && ((t) == 1 || pst[P(1, s)] != P_LOCK))

inline tx_prepare(t, s)
{
    lk[s] = t;
    if
    :: IS_EXEC(t) -> pst[P(t, s)] = P_READY /* prepare_exec: log room held, nothing logged */
    :: IS_PAIR(t) && s == 1 && bug == BUG_PAIR_PLAIN ->
        /* D's PUT made and logged as a plain write, as memory-only does */
        append(s, PUT(s, prd));
        tab[s] = prd;
        history(s, prd, t);
        plog[P(t, s)] = true;
        pst[P(t, s)] = P_READY;
        commit(s)
    :: else ->
        append(s, PART(t));
        plog[P(t, s)] = true;
        live[P(t, s)] = true;
        pst[P(t, s)] = P_READY;
        if
        :: bug != BUG_ANSWER_EARLY -> commit(s)
        :: else -> skip
        fi
    fi
}

/* A pair's part granted: it locks and reads its key (S: k0, whose value
 * D will write), and logs nothing. */
inline pair_read(t, s)
{
    lk[s] = t;
    pst[P(t, s)] = P_READ;
    if
    :: s == 0 -> prd = tab[0]
    :: else -> skip
    fi
}

/* An EXEC's RUN (run_exec_part): its commands run, applying its writes;
 * their records are its PART, and the part is live; DONE after the
 * commit. Its key stays locked until COMMIT. */
inline exec_run(t, s)
{
    tab[s] = t;
    history(s, t, t);
    append(s, PART(t));
    plog[P(t, s)] = true;
    live[P(t, s)] = true;
    pst[P(t, s)] = P_RAN;
    if
    :: bug == BUG_EXEC_RUN_UNLOCK -> lk[s] = 0
    :: else -> skip
    fi;
    commit(s)
}

inline tx_refuse(t, s)
{
    lk[s] = t;
    pst[P(t, s)] = P_REFUSED;
    if
    :: bug == BUG_REFUSED_PART ->
        append(s, PART(t));
        plog[P(t, s)] = true;
        commit(s)
    :: else -> skip
    fi
}

/* APPLY: DECIDED logged, the writes applied, the key unlocked; DONE. */
inline tx_decide(t, s)
{
    append(s, DEC(t));
    pdec[P(t, s)] = true;
    if
    :: !IS_EXEC(t) && !(IS_PAIR(t) && s == 1 && bug == BUG_PAIR_PLAIN) ->
        /* an EXEC's COMMIT: applied at its RUN */
        pv_ = PV(t, s);
        tab[s] = pv_;
        history(s, pv_, t)
    :: else -> skip
    fi;
    lk[s] = 0;
    pst[P(t, s)] = P_DONE;
    if
    :: bug == BUG_FORGET_EARLY -> live[P(t, s)] = false
    :: else -> skip
    fi;
    if
    :: bug != BUG_ANSWER_EARLY -> commit(s)
    :: else -> skip
    fi
}

/* UNLOCK after a refusal: the part is forgotten undecided (its PART stays
 * in the log, never to be applied), its key unlocked. */
inline tx_unlock(t, s)
{
    live[P(t, s)] = false;
    lk[s] = 0;
    pst[P(t, s)] = P_OFF
}

/* FORGET: every part's DECIDED is logged, so compactions may drop it. */
inline tx_forget(t, s)
{
    live[P(t, s)] = false;
    pst[P(t, s)] = P_GONE
}

/* ---- the coordinator ---- */

#define READIED(t, s) (pst[P(t, s)] == P_READY || pst[P(t, s)] == P_REFUSED)

inline all_ready(t)
{
    if
    :: IS_EXEC(t) -> tst[t] = T_RUNNING /* its token clean: APPLY (RUN) */
    :: !IS_EXEC(t) && pst[P(t, 0)] == P_READY && pst[P(t, 1)] == P_READY ->
        tst[t] = T_APPLYING;
        acked[t] = true;
        if
        :: bug == BUG_FORGET_AT_READY -> tst[t] = T_FORGET
        :: else -> skip
        fi
    :: !IS_EXEC(t) && !(pst[P(t, 0)] == P_READY && pst[P(t, 1)] == P_READY) ->
        tst[t] = T_ABORTING;
        aborted[t] = true
    fi
}

/* An EXEC's coordinator at the last DONE of its RUN: every PART logged,
 * decided; the reply, and COMMIT to every part. */
inline exec_done(t)
{
    tst[t] = T_APPLYING;
    acked[t] = true
}

/* The compaction of shard s may not replace its log yet: a live part
 * there has applied its writes (an EXEC's, at its RUN) and has no DECIDED
 * logged, so its transaction may still be undecided, and the snapshot
 * holds its writes. The rule that db_log.c lacks (BUG_EXEC_SNAP). */
#define SWITCH_WAITS(s) (bug != BUG_EXEC_SNAP && exec1 && live[P(1, s)] && !pdec[P(1, s)] && pst[P(1, s)] == P_RAN)

/* ---- compaction ---- */

/* compact_start: the new file gets the live parts first. */
inline compact_start(s)
{
    WITNESS_IF(W_PAIR_SNAP_READ, pst[P(1, s)] == P_READ);
    ncmp[s]++;
    nfn[s] = 0;
    t_ = 1;
    do
    :: t_ <= NT ->
        if
        :: live[P(t_, s)] && bug != BUG_NO_REEMIT ->
            if
            :: pdec[P(t_, s)] && bug != BUG_REEMIT_PART ->
                nf[s * LMAX + nfn[s]] = DEC(t_);
                WITNESS(W_REEMIT_DEC)
            :: else ->
                nf[s * LMAX + nfn[s]] = PART(t_);
                WITNESS_IF(W_REEMIT_PART, !pdec[P(t_, s)])
            fi;
            nfn[s]++
        :: else -> skip
        fi;
        t_++
    :: else -> break
    od;
    cmp[s] = 1
}

/* The chunk's key: shard 0's k0, then k2; shard 1's k1. */
#define CHUNK_KEY(s, c) ((s) + NS * ((c) - 1))

/* compact_step: the next chunk; after the last, the new file (synced,
 * renamed) is the log. */
inline compact_step(s)
{
    k_ = CHUNK_KEY(s, cmp[s]);
    WITNESS_IF(W_EXEC_SNAP, exec1 && k_ == s && tab[k_] == 1 && !pdec[P(1, s)]);
    if
    :: tab[k_] != 0 ->
        assert(nfn[s] < LMAX);
        nf[s * LMAX + nfn[s]] = PUT(k_, tab[k_]);
        nfn[s]++
    :: else -> skip
    fi;
    cmp[s]++;
    if
    :: cmp[s] > nchunk[s] ->
        i_ = 0;
        do
        :: i_ < nfn[s] ->
            lg[s * LMAX + i_] = nf[s * LMAX + i_];
            i_++
        :: else -> break
        od;
        do
        :: i_ < ln[s] ->
            lg[s * LMAX + i_] = 0;
            i_++
        :: else -> break
        od;
        ln[s] = nfn[s];
        dur[s] = nfn[s];
        cmp[s] = 0;
        do
        :: nfn[s] > 0 ->
            nfn[s]--;
            nf[s * LMAX + nfn[s]] = 0
        :: else -> break
        od
    :: else -> skip
    fi
}

/* ---- recovery (sw__shards_open) ---- */

/* Applies part (t, s) to the recovered table. */
inline recover_apply(t, s)
{
    rt[s] = PV(t, s)
}

/* Replays shard s's log. */
inline replay(s)
{
    t_ = 1;
    do
    :: t_ <= NT ->
        pp_[t_] = 0;
        snap_[t_] = 0;
        t_++
    :: else -> break
    od;
    i_ = 0;
    do
    :: i_ < ln[s] ->
        r_ = lg[s * LMAX + i_];
        if
        :: IS_PUT(r_) ->
            rt[RK(r_)] = RV(r_);
            t_ = 1;
            do
            :: t_ <= NT ->
                if
                :: pp_[t_] && RK(r_) == s -> snap_[t_] = 1
                :: else -> skip
                fi;
                t_++
            :: else -> break
            od
        :: IS_PART(r_) ->
            t_ = RT(r_);
            WITNESS_IF(W_UNDECIDED, !rdec[t_]);
            WITNESS_IF(W_ABORT_LOGGED, aborted[t_]);
            if
            :: rdec[t_] && bug == BUG_AT_PART -> recover_apply(t_, s); pp_[t_] = 2
            :: rdec[t_] && bug != BUG_AT_PART -> pp_[t_] = 1
            :: else -> skip
            fi
        :: IS_DEC(r_) ->
            t_ = RT(r_);
            WITNESS_IF(W_DEC_ALONE, pp_[t_] == 0);
            if
            :: pp_[t_] == 1 ->
                WITNESS_IF(W_SNAP_BETWEEN, snap_[t_]);
                WITNESS_IF(W_RELOGGED, round == 1 && relog[s] == i_);
                recover_apply(t_, s)
            :: else -> skip
            fi;
            pp_[t_] = 0
        fi;
        i_++
    :: else -> break
    od;
    /* the decided parts with no DECIDED after their PART: at the end */
    t_ = 1;
    do
    :: t_ <= NT ->
        if
        :: pp_[t_] != 0 ->
            if
            :: pp_[t_] == 1 ->
                WITNESS(W_AT_END);
                recover_apply(t_, s)
            :: else -> skip
            fi;
            if
            :: bug != BUG_NO_RELOG ->
                relog[s] = ln[s];
                append(s, DEC(t_));
                dur[s] = ln[s]
            :: else -> skip
            fi
        :: else -> skip
        fi;
        t_++
    :: else -> break
    od
}

/* Whether log s holds record r: found. */
inline holds(s, r, found)
{
    found = 0;
    j_ = 0;
    do
    :: j_ < ln[s] ->
        if
        :: lg[s * LMAX + j_] == r -> found = 1
        :: else -> skip
        fi;
        j_++
    :: else -> break
    od
}

inline shards_open()
{
    /* which transactions are decided: a DECIDED anywhere, or every PART */
    t_ = 1;
    do
    :: t_ <= NT ->
        holds(0, DEC(t_), in0);
        holds(1, DEC(t_), in1);
        holds(0, PART(t_), p_);
        holds(1, PART(t_), q_);
        rdec[t_] = in0 || in1 || (p_ && q_) || (bug == BUG_UNDECIDED && (p_ || q_));
        WITNESS_IF(W_BY_PARTS, p_ && q_ && !in0 && !in1);
        t_++
    :: else -> break
    od;
    k_ = 0;
    do
    :: k_ < NKEY ->
        rt[k_] = 0;
        k_++
    :: else -> break
    od;
    replay(0);
    replay(1);
    round++
}

/* ---- the checks ---- */

/* The crash: each log keeps what was committed (with everysec, any
 * prefix at least as long as its last sync); a compaction under way is
 * lost. Then each decided part that had not applied joins its key's
 * history, last. */
inline crash()
{
    s_ = 0;
    do
    :: s_ < NS ->
        do
        :: ln[s_] > dur[s_] && everysec -> break
        :: ln[s_] > dur[s_] ->
            ln[s_]--;
            lg[s_ * LMAX + ln[s_]] = 0
        :: else -> break
        od;
        cmp[s_] = 0;
        do
        :: nfn[s_] > 0 ->
            nfn[s_]--;
            nf[s_ * LMAX + nfn[s_]] = 0
        :: else -> break
        od;
        s_++
    :: else -> break
    od
}

inline pending_parts()
{
    t_ = 1;
    do
    :: t_ <= NT ->
        if
        :: !aborted[t_] && plog[P(t_, 0)] && plog[P(t_, 1)] ->
            s_ = 0;
            do
            :: s_ < NS ->
                if
                :: pst[P(t_, s_)] == P_READY ->
                    pv_ = PV(t_, s_);
                    history(s_, pv_, t_)
                :: else -> skip
                fi;
                s_++
            :: else -> break
            od
        :: else -> skip
        fi;
        t_++
    :: else -> break
    od
}

/* Whether t is in key k's history before position p: found. */
inline kept(k, p, t, found)
{
    found = 0;
    j_ = 0;
    do
    :: j_ < p ->
        if
        :: histt[k * HM + j_] == t -> found = 1
        :: else -> skip
        fi;
        j_++
    :: else -> break
    od
}

/* The verdicts: pk_[k] is the prefix of k's history that its recovered
 * value names. */
inline check()
{
    lost = 0;
    torn = 0;
    stray = 0;
    k_ = 0;
    do
    :: k_ < NKEY ->
        p_ = 0;
        i_ = 0;
        do
        :: i_ < hn[k_] ->
            if
            :: hist[k_ * HM + i_] == rt[k_] -> p_ = i_ + 1
            :: else -> skip
            fi;
            i_++
        :: else -> break
        od;
        stray = stray || (p_ == 0 && hn[k_] > 0);
        i_ = p_;
        do
        :: i_ < hn[k_] ->
            v_ = histt[k_ * HM + i_];
            lost = lost || (!everysec && (v_ == 0 || acked[v_]));
            i_++
        :: else -> break
        od;
        pk_[k_] = p_;
        k_++
    :: else -> break
    od;
    assert(!stray);
    assert(nolost || !lost);
    t_ = 1;
    do
    :: t_ <= NT ->
        kept(0, pk_[0], t_, in0);
        kept(1, pk_[1], t_, in1);
        torn = torn || in0 != in1;
        t_++
    :: else -> break
    od;
    assert(!torn)
}

/* ---- the second life, with twice ---- */

/* The recovered server: no part live (each decided part now has its
 * DECIDED after its PART, or neither record), no compaction. Both keys
 * are written (values 5 and 6), and one shard may compact once (a
 * compaction then runs in one go). */
inline second_life()
{
    d_step {
        k_ = 0;
        do
        :: k_ < NKEY ->
            tab[k_] = rt[k_];
            rt1[k_] = rt[k_];
            k_++
        :: else -> break
        od;
        t_ = 1;
        do
        :: t_ <= NT ->
            live[P(t_, 0)] = false;
            live[P(t_, 1)] = false;
            t_++
        :: else -> break
        od;
        append(0, PUT(0, 5));
        tab[0] = 5;
        dur[0] = ln[0];
        append(1, PUT(1, 6));
        tab[1] = 6;
        dur[1] = ln[1]
    };
    if
    :: d_step { compact_start(0); compact_step(0); do :: cmp[0] != 0 -> compact_step(0) :: else -> break od }
    :: d_step { compact_start(1); compact_step(1) }
    :: skip
    fi;
    atomic { crash() };
    d_step {
        shards_open();
        undone = 0;
        k_ = 0;
        do
        :: k_ < NKEY ->
            undone = undone || rt[k_] != (k_ == 0 -> 5 : (k_ == 1 -> 6 : rt1[k_]));
            k_++
        :: else -> break
        od;
        assert(!undone)
    }
}

/* ---- the run ---- */

init
{
    c_code {
        char *e = getenv("TXLOG_CFG"), *b = getenv("TXLOG_BUG"), *w = getenv("TXLOG_WITNESS"),
             *f = getenv("TXLOG_EVERYSEC"), *n = getenv("TXLOG_NOLOST");
        now.cfg = e ? atoi(e) : 1;
        now.bug = b ? atoi(b) : 0;
        now.witness = w ? atoi(w) : 0;
        now.everysec = f && atoi(f);
        now.nolost = n && atoi(n);
    };
    d_step {
        wkey[0] = NONE;
        wkey[1] = NONE;
        relog[0] = NONE;
        relog[1] = NONE;
        nchunk[0] = 1;
        nchunk[1] = 1;
        maxcmp = 1;
        if
        :: cfg == 1 ->
            /* one: transaction 1, and a write of k0 at any time */
            ntx = 1;
            wkey[0] = 0
        :: cfg == 2 ->
            /* refuse: transaction 1, whose part on shard 1 may refuse;
             * then transaction 2 */
            ntx = 2;
            refuse = true
        :: cfg == 3 ->
            /* two: transactions 1 and 2, and a write of k1 at any time */
            ntx = 2;
            wkey[0] = 1
        :: cfg == 4 ->
            /* chunks: shard 0 holds k0 and k2, its snapshot in two chunks;
             * transaction 1; a write of k2 at any time, one of k0 once the
             * transaction is replied to */
            ntx = 1;
            nchunk[0] = 2;
            wkey[0] = 2;
            wkey[1] = 0;
            wafter[1] = 1
        :: cfg == 5 ->
            /* twice: transaction 1, a write of k0 at any time; after the
             * recovery, the server goes on and crashes again */
            ntx = 1;
            wkey[0] = 0;
            twice = true
        :: cfg == 6 ->
            /* recompact: transaction 1, a write of k1 once it is replied
             * to, two compactions per shard */
            ntx = 1;
            wkey[0] = 1;
            wafter[0] = 1;
            maxcmp = 2
        :: cfg == 7 ->
            /* exec: transaction 1 is an EXEC; shard 0 holds k0 and k2,
             * snapshotted in two chunks; a write of k0 at any time */
            ntx = 1;
            exec1 = true;
            nchunk[0] = 2;
            wkey[0] = 0
        :: cfg == 8 ->
            /* exec-two: transaction 1 is an EXEC, then transaction 2 (an
             * MSET); a write of k1 at any time */
            ntx = 2;
            exec1 = true;
            wkey[0] = 1
        :: cfg == 9 || cfg == 10 ->
            /* pair: transaction 1 is a RENAME of k0 to k1 (k1 does not
             * exist at first); a write of k0 at any time, one of k1 once
             * the RENAME is replied to; with 10, part D may refuse at
             * PREPARE */
            ntx = 1;
            pair1 = true;
            refuse = (cfg == 10);
            wkey[0] = 0;
            wkey[1] = 1;
            wafter[1] = 1
        fi;
        /* every key has a value at first, logged */
        k_ = 0;
        do
        :: k_ < NKEY ->
            if
            :: pair1 && k_ == 1 -> history(k_, 0, 0) /* no value at first */
            :: !(pair1 && k_ == 1) && (k_ < NS || nchunk[0] > 1) ->
                tab[k_] = INIT;
                append(KSH(k_), PUT(k_, INIT));
                commit(KSH(k_));
                dur[KSH(k_)] = ln[KSH(k_)];
                history(k_, INIT, 0)
            :: else -> skip
            fi;
            k_++
        :: else -> break
        od;
        /* the LOCKs are pushed: transaction 1's first at every shard */
        t_ = 1;
        do
        :: t_ <= ntx ->
            tst[t_] = T_LOCKING;
            pst[P(t_, 0)] = P_LOCK;
            pst[P(t_, 1)] = P_LOCK;
            t_++
        :: else -> break
        od
    };
    /* Every move a turn of a shard or a coordinator, until a crash. */
    do
    :: d_step { GRANTABLE(1, 0) && !pair1 -> tx_prepare(1, 0) }
    :: d_step { GRANTABLE(1, 1) && !pair1 -> tx_prepare(1, 1) }
    :: d_step { GRANTABLE(1, 1) && refuse && !pair1 -> tx_refuse(1, 1) }
    /* a pair: the reads, the decision (k0 always exists: write), PREPARE */
    :: d_step { GRANTABLE(1, 0) && pair1 -> pair_read(1, 0) }
    :: d_step { GRANTABLE(1, 1) && pair1 -> pair_read(1, 1) }
    :: d_step { tst[1] == T_LOCKING && pst[P(1, 0)] == P_READ && pst[P(1, 1)] == P_READ -> tst[1] = T_PREPARING }
    :: d_step { tst[1] == T_PREPARING && pst[P(1, 0)] == P_READ -> tx_prepare(1, 0) }
    :: d_step { tst[1] == T_PREPARING && pst[P(1, 1)] == P_READ -> tx_prepare(1, 1) }
    :: d_step { tst[1] == T_PREPARING && pst[P(1, 1)] == P_READ && refuse -> tx_refuse(1, 1) }
    :: d_step { GRANTABLE(2, 0) -> tx_prepare(2, 0) }
    :: d_step { GRANTABLE(2, 1) -> tx_prepare(2, 1) }
    :: d_step { (tst[1] == T_LOCKING || tst[1] == T_PREPARING) && READIED(1, 0) && READIED(1, 1) -> all_ready(1) }
    :: d_step { tst[2] == T_LOCKING && READIED(2, 0) && READIED(2, 1) -> all_ready(2) }
    :: d_step { tst[1] == T_RUNNING && pst[P(1, 0)] == P_READY -> exec_run(1, 0) }
    :: d_step { tst[1] == T_RUNNING && pst[P(1, 1)] == P_READY -> exec_run(1, 1) }
    :: d_step { tst[1] == T_RUNNING && pst[P(1, 0)] == P_RAN && pst[P(1, 1)] == P_RAN -> exec_done(1) }
    :: d_step {
            (tst[1] == T_APPLYING || tst[1] == T_FORGET) &&
            (pst[P(1, 0)] == P_READY || pst[P(1, 0)] == P_RAN) ->
            tx_decide(1, 0)
        }
    :: d_step {
            (tst[1] == T_APPLYING || tst[1] == T_FORGET) &&
            (pst[P(1, 1)] == P_READY || pst[P(1, 1)] == P_RAN) ->
            tx_decide(1, 1)
        }
    :: d_step { (tst[2] == T_APPLYING || tst[2] == T_FORGET) && pst[P(2, 0)] == P_READY -> tx_decide(2, 0) }
    :: d_step { (tst[2] == T_APPLYING || tst[2] == T_FORGET) && pst[P(2, 1)] == P_READY -> tx_decide(2, 1) }
    :: d_step { tst[1] == T_ABORTING && READIED(1, 0) -> tx_unlock(1, 0) }
    :: d_step { tst[1] == T_ABORTING && READIED(1, 1) -> tx_unlock(1, 1) }
    :: d_step { tst[1] == T_APPLYING && pst[P(1, 0)] == P_DONE && pst[P(1, 1)] == P_DONE -> tst[1] = T_FORGET }
    :: d_step { tst[2] == T_APPLYING && pst[P(2, 0)] == P_DONE && pst[P(2, 1)] == P_DONE -> tst[2] = T_FORGET }
    :: d_step { tst[1] == T_FORGET && pst[P(1, 0)] == P_DONE -> tx_forget(1, 0) }
    :: d_step { tst[1] == T_FORGET && pst[P(1, 1)] == P_DONE -> tx_forget(1, 1) }
    :: d_step { tst[2] == T_FORGET && pst[P(2, 0)] == P_DONE -> tx_forget(2, 0) }
    :: d_step { tst[2] == T_FORGET && pst[P(2, 1)] == P_DONE -> tx_forget(2, 1) }
    /* single-key writes: value 3 + i */
    :: d_step {
            wkey[0] != NONE && !wst[0] && lk[wkey[0]] == 0 &&
            (wafter[0] == 0 || acked[wafter[0]] || aborted[wafter[0]]) ->
            append(KSH(wkey[0]), PUT(wkey[0], 3));
            tab[wkey[0]] = 3;
            history(wkey[0], 3, 0);
            commit(KSH(wkey[0]));
            wst[0] = true
        }
    :: d_step {
            wkey[1] != NONE && !wst[1] && lk[wkey[1]] == 0 &&
            (wafter[1] == 0 || acked[wafter[1]] || aborted[wafter[1]]) ->
            append(KSH(wkey[1]), PUT(wkey[1], 4));
            tab[wkey[1]] = 4;
            history(wkey[1], 4, 0);
            commit(KSH(wkey[1]));
            wst[1] = true
        }
    :: witness == W_SET_WAITS &&
       ((wafter[0] != 0 && acked[wafter[0]] && !wst[0] && lk[wkey[0]] != 0) ||
        (wafter[1] != 0 && acked[wafter[1]] && !wst[1] && lk[wkey[1]] != 0)) ->
        WITNESS(W_SET_WAITS)
    /* compactions */
    :: d_step { cmp[0] == 0 && ncmp[0] < maxcmp -> compact_start(0) }
    :: d_step { cmp[1] == 0 && ncmp[1] < maxcmp -> compact_start(1) }
    :: d_step { cmp[0] != 0 && !(cmp[0] == nchunk[0] && SWITCH_WAITS(0)) -> compact_step(0) }
    :: d_step { cmp[1] != 0 && !(cmp[1] == nchunk[1] && SWITCH_WAITS(1)) -> compact_step(1) }
    :: witness == W_SWITCH_WAITS && ((cmp[0] != 0 && cmp[0] == nchunk[0] && SWITCH_WAITS(0)) ||
                                     (cmp[1] != 0 && cmp[1] == nchunk[1] && SWITCH_WAITS(1))) ->
        WITNESS(W_SWITCH_WAITS)
    /* everysec's syncer; and the commit of a turn whose answer went
     * before it (BUG_ANSWER_EARLY) */
    :: d_step { dur[0] < ln[0] -> dur[0] = ln[0] }
    :: d_step { dur[1] < ln[1] -> dur[1] = ln[1] }
    :: break /* the crash */
    od;
    atomic { crash() };
    d_step {
        pending_parts();
        shards_open();
        check()
    };
    if
    :: twice -> second_life()
    :: else -> skip
    fi
}
