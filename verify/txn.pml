/* A Promela model of the lock protocol that issue 17 is to give stewardd's
 * multi-key commands (MSET, MGET, DEL, RENAME, ...) and EXEC in place of
 * today's world operation, which pauses every shard: only the shards that
 * hold a command's keys take part, and single-key commands on other keys
 * keep running. It is written before the code, to settle the protocol;
 * tools/verify.sh checks it exhaustively with spin, and docs/verification.md
 * says what it covers.
 *
 * The protocol, after VLL (Ren, Thomson and Abadi, VLDB 2012) and
 * Dragonfly's transactions, fitted to stewardd's shard threads:
 *  - Each shard keeps, per key, the transaction holding it exclusively (a
 *    write) or how many hold it shared (a read), and a FIFO of lock
 *    requests that wait. A request locks all its keys on that shard at
 *    once or waits whole; it is granted when it conflicts neither with a
 *    holder nor with an earlier request still waiting (so a stream of
 *    readers cannot starve a writer).
 *  - A multi-key command (a transaction) is run by its client's shard, the
 *    coordinator: it asks the shards that hold its keys for their locks
 *    one shard at a time, in ascending shard order, waiting for each grant
 *    before the next request; then has each shard run its part; then,
 *    when every part has run, releases every lock. A whole-keyspace
 *    command (FLUSHALL) is a transaction that locks every key of every
 *    shard, in the same order.
 *  - A single-key command takes no lock: its shard runs it at once unless
 *    its key is locked by a transaction that conflicts (a write lock, or
 *    any lock for a write), and then queues it until that lock goes.
 *
 * Why it cannot deadlock: a transaction waiting at shard s holds locks
 * only at shards below s, and waits only for transactions holding locks at
 * s (or queued before it there), which have acquired, or are acquiring, at
 * shards above s; following who waits for whom only ever climbs the shard
 * order, so no cycle. Single-key commands hold nothing. Why it is atomic:
 * every key of a transaction is locked from before its first part runs
 * until after its last, and no command reads or writes a locked key in
 * between; so a client sees either none of it or all of it.
 *
 * The model: two shards of two keys (key k is on shard k / 2), a value per
 * key (the id of the transaction that wrote it last; 0 at first), and
 * processes for the transactions and readers of each configuration
 * (TXN_CFG). Messages are the shard threads' inboxes; each process has its
 * own reply channel. TXN_BUG picks a broken variant that a check must
 * catch; TXN_WITNESS a path that a configuration must reach.
 */

#define NS 2 /* shards */
#define NK 2 /* keys per shard */
#define NKEY (NS * NK)
#define NP 5 /* processes with a reply channel, ids 1 .. NP - 1 */
#define QN 4 /* requests one shard can have waiting */

#define S_MODE 1 /* shared: a read */
#define X_MODE 2 /* exclusive: a write */
#define READ 255 /* RUN's value for a read */

mtype = {LOCK, RUN, UNLOCK, GET, GRANT, DONE, VAL};

/* A shard's inbox: op, process id, key mask on that shard (bit k for its
 * key k), and the mode (LOCK, UNLOCK), the value to write or READ (RUN),
 * or nothing (GET). */
chan inbox[NS] = [NP * 2] of {mtype, byte, byte, byte};
/* Process p's replies: kind, and up to two values. */
chan reply[NP] = [2] of {mtype, byte, byte};

byte cfg, bug, witness;

byte val[NKEY];
byte xheld[NKEY]; /* the process holding the key exclusively, 0 none */
byte sheld[NKEY]; /* how many hold it shared */
/* Lock requests waiting, per shard, in arrival order. */
byte wq_id[NS * QN], wq_mask[NS * QN], wq_mode[NS * QN];
byte wq_n[NS];
/* Single-key GETs waiting, per shard. */
byte gq_id[NS * QN], gq_key[NS * QN];
byte gq_n[NS];
/* Per shard: how many transactions hold locks there now (for the
 * parallelism witness and the end's check). */
byte holders[NS];
byte finished; /* processes done */

#define BUG_ORDER 1     /* process 2 takes its shards in descending order */
#define BUG_PIECEMEAL 2 /* a transaction locks, runs and unlocks one shard at a time */
#define BUG_GET_NOWAIT 3 /* a single-key GET ignores locks */

#define WITNESS(n) assert(witness != (n))
#define WITNESS_IF(n, cond) assert(witness != (n) || !(cond))

#define KEY(s, k) ((s) * NK + (k))

/* res := whether a request (mask, mode) on shard s conflicts with a holder,
 * or with one of the first `upto` requests waiting there. */
inline conflicts(s, mask, mode, upto, res)
{
    res = false;
    ci = 0;
    do
    :: ci < NK ->
        if
        :: ((mask >> ci) & 1) && (xheld[KEY(s, ci)] != 0 || (mode == X_MODE && sheld[KEY(s, ci)] > 0)) ->
            res = true
        :: else -> skip
        fi;
        ci++
    :: else -> break
    od;
    ci = 0;
    do
    :: ci < upto ->
        if
        :: (wq_mask[s * QN + ci] & mask) != 0 && (mode == X_MODE || wq_mode[s * QN + ci] == X_MODE) ->
            res = true
        :: else -> skip
        fi;
        ci++
    :: else -> break
    od;
    ci = 0
}

inline take(s, id, mask, mode)
{
    ti = 0;
    do
    :: ti < NK ->
        if
        :: ((mask >> ti) & 1) && mode == X_MODE -> xheld[KEY(s, ti)] = id
        :: ((mask >> ti) & 1) && mode == S_MODE -> sheld[KEY(s, ti)]++
        :: else -> skip
        fi;
        ti++
    :: else -> break
    od;
    ti = 0;
    holders[s]++
}

inline release(s, mask, mode)
{
    ri = 0;
    do
    :: ri < NK ->
        if
        :: ((mask >> ri) & 1) && mode == X_MODE -> xheld[KEY(s, ri)] = 0
        :: ((mask >> ri) & 1) && mode == S_MODE -> sheld[KEY(s, ri)]--
        :: else -> skip
        fi;
        ri++
    :: else -> break
    od;
    ri = 0;
    holders[s]--
}

/* After a release: grants, in order, every waiting request that conflicts
 * with no holder and no request before it; then answers every waiting
 * GET whose key is no longer locked for writing. */
inline grant_waiting(s)
{
    gi = 0;
    do
    :: gi < wq_n[s] ->
        conflicts(s, wq_mask[s * QN + gi], wq_mode[s * QN + gi], gi, c);
        if
        :: !c ->
            take(s, wq_id[s * QN + gi], wq_mask[s * QN + gi], wq_mode[s * QN + gi]);
            reply[wq_id[s * QN + gi]]!GRANT(0, 0);
            gj = gi; /* close the gap */
            do
            :: gj + 1 < wq_n[s] ->
                wq_id[s * QN + gj] = wq_id[s * QN + gj + 1];
                wq_mask[s * QN + gj] = wq_mask[s * QN + gj + 1];
                wq_mode[s * QN + gj] = wq_mode[s * QN + gj + 1];
                gj++
            :: else -> break
            od;
            wq_n[s]--;
            wq_id[s * QN + wq_n[s]] = 0;
            wq_mask[s * QN + wq_n[s]] = 0;
            wq_mode[s * QN + wq_n[s]] = 0
        :: else -> gi++
        fi
    :: else -> break
    od;
    gi = 0;
    do
    :: gi < gq_n[s] ->
        if
        :: xheld[gq_key[s * QN + gi]] == 0 ->
            reply[gq_id[s * QN + gi]]!VAL(val[gq_key[s * QN + gi]], 0);
            gj = gi;
            do
            :: gj + 1 < gq_n[s] ->
                gq_id[s * QN + gj] = gq_id[s * QN + gj + 1];
                gq_key[s * QN + gj] = gq_key[s * QN + gj + 1];
                gj++
            :: else -> break
            od;
            gq_n[s]--;
            gq_id[s * QN + gq_n[s]] = 0;
            gq_key[s * QN + gq_n[s]] = 0
        :: else -> gi++
        fi
    :: else -> break
    od;
    gi = 0;
    gj = 0;
    c = false
}

/* A shard thread: each message of its inbox, one at a time. */
proctype shard(byte s)
{
    mtype op;
    byte id, mask, arg, k, first;
    byte ci, ti, ri, gi, gj; /* the inlines' counters */
    bool c;
end:
    do
    :: atomic {
            inbox[s]?op(id, mask, arg) ->
            if
            :: op == LOCK ->
                conflicts(s, mask, arg, wq_n[s], c);
                if
                :: !c ->
                    take(s, id, mask, arg);
                    WITNESS_IF(1, holders[s] >= 2);
                    reply[id]!GRANT(0, 0)
                :: else ->
                    assert(wq_n[s] < QN);
                    wq_id[s * QN + wq_n[s]] = id;
                    wq_mask[s * QN + wq_n[s]] = mask;
                    wq_mode[s * QN + wq_n[s]] = arg;
                    wq_n[s]++;
                    WITNESS(3)
                fi
            :: op == RUN ->
                /* The part of a transaction on this shard; its locks are
                 * held, so nothing else touches these keys meanwhile. */
                first = 0;
                k = 0;
                do
                :: k < NK ->
                    if
                    :: (mask >> k) & 1 ->
                        assert(xheld[KEY(s, k)] == id || (arg == READ && sheld[KEY(s, k)] > 0))
                    :: else -> skip
                    fi;
                    if
                    :: ((mask >> k) & 1) && arg != READ -> val[KEY(s, k)] = arg
                    :: ((mask >> k) & 1) && arg == READ && first == 0 -> first = val[KEY(s, k)] + 1
                    :: else -> skip
                    fi;
                    k++
                :: else -> break
                od;
                reply[id]!DONE(first, 0);
                k = 0;
                first = 0
            :: op == UNLOCK ->
                release(s, mask, arg);
                grant_waiting(s)
            :: op == GET ->
                /* mask: the key's bit on this shard */
                k = (mask == 2 -> 1 : 0);
                if
                :: xheld[KEY(s, k)] == 0 || bug == BUG_GET_NOWAIT ->
                    reply[id]!VAL(val[KEY(s, k)], 0)
                :: else ->
                    assert(gq_n[s] < QN);
                    gq_id[s * QN + gq_n[s]] = id;
                    gq_key[s * QN + gq_n[s]] = KEY(s, k);
                    gq_n[s]++;
                    WITNESS(2)
                fi;
                k = 0
            fi;
            c = false;
            op = LOCK;
            id = 0;
            mask = 0;
            arg = 0
        }
    od
}

/* ---- transactions ---- */

inline acquire(s, mask)
{
    if
    :: mask != 0 ->
        inbox[s]!LOCK(id, mask, mode);
        reply[id]?GRANT(_, _)
    :: else -> skip
    fi
}

inline run_part(s, mask, out)
{
    if
    :: mask != 0 ->
        inbox[s]!RUN(id, mask, (mode == X_MODE -> v : READ));
        reply[id]?DONE(out, _)
    :: else -> skip
    fi
}

inline unlock(s, mask)
{
    if
    :: mask != 0 -> inbox[s]!UNLOCK(id, mask, mode)
    :: else -> skip
    fi
}

/* Transaction id: its keys on shard 0 (m0) and shard 1 (m1), a write of v
 * to all of them (mode X_MODE) or a read of them (S_MODE: one key per
 * shard, which must read alike). */
proctype txn(byte id; byte m0; byte m1; byte mode; byte v)
{
    byte r0, r1;
    if
    :: bug == BUG_PIECEMEAL ->
        acquire(0, m0);
        run_part(0, m0, r0);
        unlock(0, m0);
        acquire(1, m1);
        run_part(1, m1, r1);
        unlock(1, m1)
    :: else ->
        if
        :: bug == BUG_ORDER && id == 2 ->
            acquire(1, m1);
            acquire(0, m0)
        :: else ->
            acquire(0, m0);
            acquire(1, m1)
        fi;
        run_part(0, m0, r0);
        run_part(1, m1, r1);
        unlock(0, m0);
        unlock(1, m1)
    fi;
    /* A read of one key per shard sees one transaction's writes, or
     * none (values are 1 + the writer's id; 0 means no read). */
    assert(mode != S_MODE || m0 == 0 || m1 == 0 || r0 == r1);
    finished++
}

/* Single-key reads, one after the other: GET key a, then GET key b. A
 * transaction writing both must not be seen half done: once a shows its
 * write, so does b (b's value is the same or a later writer's; with one
 * writer, just not 0). */
proctype getter(byte id; byte a; byte b)
{
    byte va, vb;
    inbox[a / NK]!GET(id, 1 << (a % NK), 0);
    reply[id]?VAL(va, _);
    inbox[b / NK]!GET(id, 1 << (b % NK), 0);
    reply[id]?VAL(vb, _);
    assert(va == 0 || vb != 0);
    finished++
}

init
{
    c_code {
        char *e = getenv("TXN_CFG"), *b = getenv("TXN_BUG"), *w = getenv("TXN_WITNESS");
        now.cfg = e ? atoi(e) : 1;
        now.bug = b ? atoi(b) : 0;
        now.witness = w ? atoi(w) : 0;
    };
    atomic {
        run shard(0);
        run shard(1);
        if
        :: cfg == 1 ->
            /* mset-mget: two MSETs of the same two keys (one per shard)
             * and an MGET of them. */
            run txn(1, 1, 1, X_MODE, 1);
            run txn(2, 1, 1, X_MODE, 2);
            run txn(3, 1, 1, S_MODE, 0)
        :: cfg == 2 ->
            /* mset-gets: an MSET and single-key GETs of its keys, in both
             * orders. */
            run txn(1, 1, 1, X_MODE, 1);
            run getter(2, KEY(0, 0), KEY(1, 0));
            run getter(3, KEY(1, 0), KEY(0, 0))
        :: cfg == 3 ->
            /* disjoint: MSETs of different keys on the same shards run at
             * once; an MGET of one's keys beside them. */
            run txn(1, 1, 1, X_MODE, 1);
            run txn(2, 2, 2, X_MODE, 2);
            run txn(3, 1, 1, S_MODE, 0)
        :: cfg == 4 ->
            /* world: FLUSHALL (every key of every shard, writing 0) with an
             * MSET and an MGET. */
            run txn(1, 1, 1, X_MODE, 1);
            run txn(2, 3, 3, X_MODE, 0);
            run txn(3, 1, 1, S_MODE, 0)
        :: cfg == 5 ->
            /* one-shard: an MSET of two keys of one shard, and GETs. */
            run txn(1, 3, 0, X_MODE, 1);
            run getter(2, KEY(0, 0), KEY(0, 1));
            run getter(3, KEY(0, 1), KEY(0, 0))
        fi
    }
    /* The end: every process finished and every message handled; then no
     * lock is held and nothing waits. */
    finished == 3 && len(inbox[0]) == 0 && len(inbox[1]) == 0;
    assert(holders[0] == 0 && holders[1] == 0 && wq_n[0] == 0 && wq_n[1] == 0 &&
           gq_n[0] == 0 && gq_n[1] == 0)
}
