/* A Promela model of the channel protocol of src/chan/chan.c, with the parker
 * of src/base/sync.h and sync.c under it, checked exhaustively with spin by
 * tools/verify.sh. docs/verification.md says what it covers, what it leaves
 * out, and how each part maps to the code.
 *
 * Each inline stands for the chan.c (or sync.c) function it names, with the
 * same steps in the same order. A step -- one atomic block here -- holds at
 * most one access to a word that threads touch without the channel lock
 * (sendx, recvx, a slot's seq, an op's claim word, a parker's state, the
 * futex), as each is one atomic instruction in the code. Taking the lock
 * joins the step after it, releasing it the step before, and work on data
 * only the lock holder touches (the wait queues, `closed`, a claimed op's
 * result) and on the thread's own locals joins a neighbouring step. By
 * Lipton's reduction no thread can tell these steps from the code's finer
 * ones. Where a step holds more than one such access, the comment there
 * says why that loses no interleaving of the code.
 *
 * One compiled model runs every configuration: in pan's environment,
 * CHAN_CFG picks the threads and channels, CHAN_BUG one deliberately broken
 * variant (which the check must catch), and CHAN_PARK=0 puts the parker's
 * specification in place of sync.c's futex protocol (for quicker runs),
 * CHAN_PARK=2 the parker of a task (park commits after the switch).
 */

#define NPROC 5  /* threads, at most */
#define NCH 2    /* channels, at most */
#define NV 4     /* values are 1..NV; 0 is a zeroed element */
#define MAXCAP 2 /* ring slots per channel */
#define QMAX NPROC

#define NONE 255

/* SW_OK, SW_ECLOSED, SW_EAGAIN, SW_ETIMEDOUT, and chan.c's SLOW */
#define OK 0
#define ECLOSED 1
#define EAGAIN 2
#define SLOW 3
#define ETIMEDOUT 4

#define SEND 0 /* SW_SEND */
#define RECV 1 /* SW_RECV */

/* a call's timeout_ns: -1, 0, or > 0 */
#define BLOCK 0
#define TRY 1
#define TIMED 2

/* chan.c's flags */
#define X_CLOSED 1
#define X_WAITERS 2
#define X_SHIFT 2
#define SEQ_WAIT 1

/* sync.h's parker states (P_TASK: a parked task; sync.h adds its number) */
#define P_EMPTY 0
#define P_NOTIFIED 1
#define P_SLEEPING 2
#define P_TASK 3

/* chan.c's rendezvous slot: its kind (rv.kind) and flags (rv.flags) */
#define RV_EMPTY 0
#define RV_SETUP 1
#define RV_RECV 2
#define RV_SEND 3
#define RV_CLAIMED 4
#define RV_QSEND 1
#define RV_QRECV 2
#define RV_CLOSED 4
#define PARKED 5 /* rv_op's answer: we waited in the slot */
#define MYK(d) (((d) == SEND) -> RV_SEND : RV_RECV)
#define PEERK(d) (((d) == SEND) -> RV_RECV : RV_SEND)
#define QF(d) (((d) == SEND) -> RV_QSEND : RV_QRECV)
#define RVKIND(c) rvk[c]

/* The broken variants (CHAN_BUG). */
#define BUG_WAITERS 1 /* ring_send ignores X_WAITERS */
#define BUG_ARM 2     /* the pumps never arm a slot */
#define BUG_CLAIM 3   /* a pump reads the claim word, and writes it a step later */
#define BUG_PARK 4    /* sw__park loads the state, then stores SLEEPING: no CAS */
#define BUG_CLOSE 5   /* sw_chan_close does not set X_CLOSED in sendx */
#define BUG_CAS 6     /* ring_recv claims its stamp by a plain store, a step after its look */
#define BUG_SLOTQ 7   /* rv_enter does not look at the flags again after its CAS to SETUP */
#define BUG_RAISE 8   /* the locked path looks at the slot, and raises its flag a step later */
#define BUG_TASK 9    /* a task's park commits TASK before it has switched away */
#define BUG_RETRACT 10 /* a timed-out slot waiter empties the slot by a plain store, not a CAS */

byte cfg;      /* CHAN_CFG */
byte bug;      /* CHAN_BUG */
byte fullpark; /* CHAN_PARK: 0 the parker's specification, 1 sync.c's futex parker, 2 a task */
byte witness;  /* CHAN_WITNESS */

/* ---- the channels ---- */

byte cap[NCH];             /* ch->cap: immutable (threads get it in env) */
bool lk[NCH];              /* ch->lock */
bool closed[NCH];          /* ch->closed: guarded by the lock */
byte sendx[NCH];           /* ch->sendx: stamp << X_SHIFT | flags */
byte recvx[NCH];           /* ch->recvx */
byte seq[NCH * MAXCAP];    /* a slot's seq: lap base << 1 | SEQ_WAIT */
byte sdata[NCH * MAXCAP];  /* a slot's element; zeroed when freed */
byte qbuf[NCH * 2 * QMAX]; /* ch->sendq, ch->recvq: waiter ids, head first */
byte qlen[NCH * 2];
byte rvk[NCH]; /* ch->rv.kind */
byte rvf[NCH]; /* ch->rv.flags */
byte rvw[NCH]; /* the thread waiting in the slot (the code keeps no such field: its
                * parker, status and element are the slot's own; see rv_wait) */
byte rvv[NCH]; /* rv.small: the value of the sender waiting in the slot */

/* ---- the threads' ops ----
 * Waiter w = 2p + k is case k of thread p (0 for a send or a receive), and
 * points at op p. small[p] is where a receive case's element goes. */

bool wq[NPROC * 2];   /* waiter.queued: guarded by the lock */
byte wval[NPROC * 2]; /* waiter.elem of a send case: its value */
bool claimed[NPROC];  /* op.claimed */
byte pstate[NPROC];   /* op.parker.state */
bool fw[NPROC];       /* asleep in futex_wait on op.parker.state */
byte fired[NPROC];    /* op.fired: written by the claimer */
byte status[NPROC];   /* op.status: written by the claimer */
byte small[NPROC];    /* blocked.small */
bool runs[NPROC];     /* a task: it runs on some thread (ghost; 1 for a thread) */
bool rq[NPROC];       /* a task: made runnable, not yet resumed (ghost) */

/* ---- ghost state, for the properties ---- */

byte nclaims[NPROC]; /* claims of op p that succeeded since its op_init */
byte got[NV + 1];    /* how many times each value was handed to a receiver */
bool sentok[NV + 1]; /* its send returned SW_OK (written as the sender ends) */
bool eclosed[NCH];   /* a receiver was told SW_ECLOSED */
byte sendersleft;    /* threads a closer waits for */

/* ---- a thread's view: env = cap[0] | cap[1] << 2 | bug << 4 | fullpark << 8 ---- */

#define CAP(c) ((((c) == 0) -> (env & 3) : ((env >> 2) & 3)))
#define OLAP(c) (((CAP(c) == 0) -> 1 : ((CAP(c) == 1) -> 2 : 4))) /* ch->one_lap */
#define BG ((env >> 4) & 15)
#define FP (((env >> 8) & 3) == 1) /* sync.c's futex parker */
#define TP (((env >> 8) & 3) == 2) /* the parker of a task */
#define SP (((env >> 8) & 3) == 0) /* the parker's specification */

/* ---- the ring's arithmetic: stamp_of, slot_of, lap_base, stamp_next, ordinal ---- */

#define STAMP(x) ((x) >> X_SHIFT)
#define IDX(s, c) ((s) % OLAP(c))
#define BASE(s, c) ((s) - IDX(s, c))
#define NEXT(s, c) (((IDX(s, c) + 1 < CAP(c)) -> ((s) + 1) : (BASE(s, c) + OLAP(c))))
#define ORD(s, c) (((s) / OLAP(c)) * CAP(c) + IDX(s, c))
#define SLOT(s, c) ((c) * MAXCAP + IDX(s, c))
#define QI(c, d) ((c) * 2 + (d))
#define WID(p, k) ((p) * 2 + (k))
#define OPOF(w) ((w) / 2)
#define CASEOF(w) ((w) % 2)

/* ring_settled (ring_empty, ring_full): by the indexes, the buffer is empty
 * (for a receive) or full (for a send) */
#define SETTLED(c, dir)                                                    \
    ((((dir) == RECV) -> (STAMP(sendx[c]) == STAMP(recvx[c]))              \
                      : (ORD(STAMP(sendx[c]), c) >= ORD(STAMP(recvx[c]), c) + CAP(c))))

/* The lock, as a plain mutex (verify/lock.pml checks its futex protocol). */
#define LOCK(c) lk[c] == 0 -> lk[c] = 1
#define UNLOCK(c) lk[c] = 0

/* A thread spinning under the lock for a transient slot waits, in the
 * model, for a ring word of the channel to change from a snapshot taken in
 * the first step of its last pump, before the loads that made it wait (see
 * ring_send). */
#define RESNAP(c) ssx = sendx[c]; srx = recvx[c]; sq0 = seq[(c) * MAXCAP]; sq1 = seq[(c) * MAXCAP + 1]
#define CHANGED(c)                                                          \
    (sendx[c] != ssx || recvx[c] != srx || seq[(c) * MAXCAP] != sq0 ||      \
     seq[(c) * MAXCAP + 1] != sq1)
#define UNSNAP ssx = 0; srx = 0; sq0 = 0; sq1 = 0

/* Ghost checks at the steps where a value moves: handed to a receiver
 * (exactly once), or into a channel (never after a receiver was told the
 * channel is closed and drained). */
#define DELIVER(val) got[val]++; assert((val) != 0 && got[val] == 1)
#define ENTER(c) assert(!eclosed[c])

/* Witnesses: with CHAN_WITNESS=n, reaching point n is an error, so a check
 * that finds it shows the model does reach that path (docs/verification.md
 * lists them). */
#define WITNESS(n) assert(witness != (n))
#define WITNESS_IF(n, cond) assert(witness != (n) || !(cond))

/* The locals of every thread; the inlines work on them. ph is the step of
 * the inline running (0 between them). */
#define LOCALS                                                          \
    byte x, s, sl, sq, k, k2, k3, w, rc, v, old, prc, done, i, ph;      \
    byte ssx, srx, sq0, sq1, first, cur, cc, cd, cv, fk, okm;           \
    byte rvp = NONE; /* a slot waiter we claimed, to notify */             \
    byte st;         /* rv_op's step */                                    \
    bool owres, kick, mr, moved, mine, sn, lf, aw

/* ---- the parker: sync.h, sync.c ---- */

/* The result of a completed op, read by its thread once notified (or
 * after its own pump completed it). */
#define TAKE_RESULT                                          \
    assert(claimed[me] && nclaims[me] == 1);                 \
    rc = status[me]; v = small[me]; fk = fired[me]

/* finish(done, self), its start: whether self's op is in done (our own
 * pump completed it: nobody waits for it); then finish_loop notifies the
 * others. */
#define FINISH_PROLOGUE(self)                                \
    mine = ((self) == me && ((done >> me) & 1));             \
    if                                                       \
    :: mine -> done = done & ~(1 << me); TAKE_RESULT; WITNESS(12) \
    :: else -> skip                                          \
    fi

/* A task's wake-up (the hooks' wake, task_wake), or its timer's: the task goes on a run
 * queue. It must have switched away, and not be queued already: otherwise
 * it would run twice, or on two threads at once. */
#define MAKE_RUNNABLE(p)                                     \
    assert(!runs[p] && !rq[p]);                              \
    rq[p] = 1;                                               \
    WITNESS(20)

/* finish's loop: sw__unpark for each op of `done`, after the locks are
 * released. sw__unpark exchanges NOTIFIED, then, with the futex parker,
 * does futex_wake when the old state was SLEEPING: a step of its own, for by
 * then the waiter may have seen NOTIFIED, returned, and parked again for its
 * next call at the same address; that park takes the wake as spurious. */
inline finish_loop()
{
    do
    :: done == 0 && ph == 0 -> break
    :: atomic {
            done != 0 && ph == 0 ->
            k2 = 0;
            do
            :: (done >> k2) & 1 -> break
            :: else -> k2++
            od;
            done = done & ~(1 << k2);
            old = pstate[k2];
            pstate[k2] = P_NOTIFIED;
            if
            :: FP && old == P_SLEEPING -> ph = 9; WITNESS(13) /* futex_wake */
            :: TP && old == P_TASK -> ph = 10 /* task_wake */
            :: else -> old = 0; k2 = 0
            fi
        }
    :: atomic { ph == 9 -> fw[k2] = 0; old = 0; k2 = 0; ph = 0 }
    :: atomic { ph == 10 -> MAKE_RUNNABLE(k2); old = 0; k2 = 0; ph = 0 }
    od
}

/* sw__unpark of the waiter we claimed in a rendezvous slot (rvp), which
 * rv_complete does at once, under the channel lock when it holds it: the
 * exchange, then futex_wake or task_wake as in finish_loop. */
inline rv_notify()
{
    atomic {
        k2 = rvp;
        rvp = NONE;
        old = pstate[k2];
        pstate[k2] = P_NOTIFIED;
        if
        :: FP && old == P_SLEEPING -> ph = 9
        :: TP && old == P_TASK -> ph = 10
        :: else -> old = 0; k2 = 0
        fi
    };
    if
    :: atomic { ph == 9 -> fw[k2] = 0; old = 0; k2 = 0; ph = 0 }
    :: atomic { ph == 10 -> MAKE_RUNNABLE(k2); old = 0; k2 = 0; ph = 0 }
    :: atomic { ph == 0 -> skip }
    fi
}

/* sw__park(&op[me].parker, deadline), a deadline set when `timed`; prc =
 * SW_OK (and the op's result taken) or SW_ETIMEDOUT.
 *
 * With CHAN_PARK=0, the parker's specification: park returns SW_OK once
 * the state is NOTIFIED; a timed park may instead time out while it is not.
 *
 * Otherwise, sync.c's protocol. spin_for only reads the state,
 * spinning then yielding, and returns early only on NOTIFIED: the same as
 * the CAS EMPTY -> SLEEPING failing on NOTIFIED at that moment, so its looks
 * are that CAS. A CAS failing on SLEEPING (after a spurious wake-up) falls
 * through to sleep again. At the deadline, CAS SLEEPING -> EMPTY gives
 * SW_ETIMEDOUT, or finds NOTIFIED. futex_wait(state, SLEEPING) sleeps only
 * while the state is SLEEPING, until a futex_wake (or the deadline); then
 * sw__parker_notified looks again. */
inline park(timed)
{
    do
    :: atomic { SP && pstate[me] == P_NOTIFIED -> prc = OK; TAKE_RESULT; break }
    :: atomic {
            SP && (timed) ->
            if
            :: pstate[me] == P_NOTIFIED -> prc = OK; TAKE_RESULT
            :: else -> prc = ETIMEDOUT
            fi;
            break
        }
    :: atomic {
            FP && ph == 0 && BG != BUG_PARK ->
            old = pstate[me];
            if
            :: old == P_EMPTY -> pstate[me] = P_SLEEPING
            :: else -> skip
            fi;
            if
            :: old == P_NOTIFIED -> prc = OK; TAKE_RESULT; old = 0; break
            :: else -> old = 0; ph = 1
            fi
        }
    :: atomic {
            FP && ph == 0 && BG == BUG_PARK ->
            old = pstate[me];
            if
            :: old == P_NOTIFIED -> prc = OK; TAKE_RESULT; old = 0; break
            :: else -> old = 0; ph = 3
            fi
        }
    :: atomic { ph == 3 -> pstate[me] = P_SLEEPING; ph = 1 }
    /* A task (CHAN_PARK=2): it switches away first, then its scheduler
     * commits the park by a CAS EMPTY -> TASK; on NOTIFIED the CAS fails and
     * the task resumes at once. Whoever moves the state out of TASK (the
     * notifier's exchange, the timer's CAS TASK -> EMPTY) makes it runnable,
     * and it resumes with SW_OK when notified, else SW_ETIMEDOUT. BUG_TASK
     * commits the park before switching away. */
    :: atomic { TP && ph == 0 && BG != BUG_TASK -> runs[me] = 0; ph = 5 }
    :: atomic {
            ph == 5 ->
            if
            :: pstate[me] == P_EMPTY -> pstate[me] = P_TASK; ph = 7
            :: else -> runs[me] = 1; ph = 0; prc = OK; TAKE_RESULT; WITNESS(14); break
            fi
        }
    :: atomic {
            TP && ph == 0 && BG == BUG_TASK ->
            if
            :: pstate[me] == P_EMPTY -> pstate[me] = P_TASK; ph = 6
            :: else -> prc = OK; TAKE_RESULT; break
            fi
        }
    :: atomic { ph == 6 -> runs[me] = 0; ph = 7 }
    :: atomic {
            ph == 7 && (timed) && pstate[me] == P_TASK ->
            pstate[me] = P_EMPTY;
            MAKE_RUNNABLE(me);
            WITNESS(15)
        }
    :: atomic {
            ph == 7 && rq[me] ->
            rq[me] = 0;
            runs[me] = 1;
            ph = 0;
            if
            :: pstate[me] == P_NOTIFIED -> prc = OK; TAKE_RESULT
            :: else -> prc = ETIMEDOUT
            fi;
            break
        }
    :: atomic {
            ph == 1 && (timed) ->
            if
            :: pstate[me] == P_SLEEPING -> pstate[me] = P_EMPTY; prc = ETIMEDOUT
            :: else -> prc = OK; TAKE_RESULT
            fi;
            ph = 0;
            break
        }
    :: atomic {
            ph == 1 ->
            if
            :: pstate[me] == P_SLEEPING ->
                fw[me] = 1;
                if
                :: fw[me] == 0 -> WITNESS_IF(1, pstate[me] != P_NOTIFIED) /* a late futex_wake */
                :: (timed) -> fw[me] = 0
                fi
            :: else -> skip
            fi;
            ph = 0;
            if
            :: pstate[me] == P_NOTIFIED -> prc = OK; TAKE_RESULT; break
            :: else -> skip
            fi
        }
    od
}

/* ---- chan.c: ops and wait queues (bodies of steps that hold the lock) ---- */

/* op_init, blocked_init */
inline op_init(val0, val1)
{
    claimed[me] = 0; nclaims[me] = 0; pstate[me] = P_EMPTY;
    fired[me] = 0; status[me] = 0; small[me] = 0;
    wval[WID(me, 0)] = val0; wval[WID(me, 1)] = val1
}

/* waitq_push */
inline q_push(qi, w)
{
    assert(qlen[qi] < QMAX);
    qbuf[(qi) * QMAX + qlen[qi]] = w;
    qlen[qi]++;
    wq[w] = 1
}

/* waitq_remove */
inline q_remove(qi, w)
{
    if
    :: wq[w] ->
        k = 0;
        do
        :: qbuf[(qi) * QMAX + k] == w -> break
        :: else -> k++; assert(k < qlen[qi])
        od;
        do
        :: k + 1 < qlen[qi] -> qbuf[(qi) * QMAX + k] = qbuf[(qi) * QMAX + k + 1]; k++
        :: else -> break
        od;
        qlen[qi]--;
        qbuf[(qi) * QMAX + qlen[qi]] = 0;
        wq[w] = 0;
        k = 0
    :: else -> skip
    fi
}

/* waitq_claim: pops waiters until one whose op we claim by CAS 0 -> 1 (the
 * others' ops were claimed elsewhere and are dropped); result in w. A claim
 * word that is 1 stays 1 while its waiter is queued, so the failed CASes
 * commute with everything and share the step. (BUG_CLAIM: the claim is
 * written by record_claim, a step later.) */
inline waitq_claim(qi)
{
    w = NONE;
    do
    :: qlen[qi] == 0 -> break
    :: else ->
        w = qbuf[(qi) * QMAX];
        q_remove(qi, w);
        if
        :: !claimed[OPOF(w)] ->
            if
            :: BG != BUG_CLAIM -> claimed[OPOF(w)] = 1
            :: else -> skip
            fi;
            break
        :: else -> w = NONE; WITNESS(3) /* claimed elsewhere: dropped */
        fi
    od
}

/* claimed(): the claimer records the result and lists the op for finish() */
inline record_claim(w, st)
{
    if
    :: BG == BUG_CLAIM -> claimed[OPOF(w)] = 1
    :: else -> skip
    fi;
    nclaims[OPOF(w)]++;
    assert(nclaims[OPOF(w)] == 1);
    status[OPOF(w)] = st;
    fired[OPOF(w)] = CASEOF(w);
    done = done | (1 << OPOF(w))
}

/* claim_all: every queued waiter of a side, with a status; receivers get
 * a zeroed element. Successful claims of different ops commute. */
inline claim_all(c, dir, st)
{
    do
    :: true ->
        waitq_claim(QI(c, dir));
        if
        :: w == NONE -> break
        :: else ->
            if
            :: (dir) == RECV -> small[OPOF(w)] = 0; eclosed[c] = 1
            :: else -> WITNESS(9) /* a blocked sender */
            fi;
            record_claim(w, st)
        fi
    od;
    w = 0
}

/* enqueue: waitq_push, and X_WAITERS on a buffered channel's index, or
 * the side's flag in an unbuffered channel's slot state */
inline enqueue(c, dir, w)
{
    q_push(QI(c, dir), w);
    if
    :: CAP(c) > 0 && (dir) == SEND -> sendx[c] = sendx[c] | X_WAITERS
    :: CAP(c) > 0 && (dir) == RECV -> recvx[c] = recvx[c] | X_WAITERS
    :: else -> rvf[c] = rvf[c] | QF(dir)
    fi
}

/* sync_flags: drops X_WAITERS of a side whose queue emptied. Both sides in
 * one step: the flag bits change only under the lock, a lock-free CAS
 * cannot succeed on a word whose flag is set, so each clear is the only
 * change its word sees, and no other step reads both words. */
inline sync_flags(c)
{
    if
    :: CAP(c) > 0 && qlen[QI(c, SEND)] == 0 -> sendx[c] = sendx[c] & ~X_WAITERS
    :: else -> skip
    fi;
    if
    :: CAP(c) > 0 && qlen[QI(c, RECV)] == 0 -> recvx[c] = recvx[c] & ~X_WAITERS
    :: else -> skip
    fi;
    if
    :: CAP(c) == 0 && qlen[QI(c, SEND)] == 0 -> rvf[c] = rvf[c] & ~RV_QSEND
    :: else -> skip
    fi;
    if
    :: CAP(c) == 0 && qlen[QI(c, RECV)] == 0 -> rvf[c] = rvf[c] & ~RV_QRECV
    :: else -> skip
    fi
}

/* ---- chan.c: the ring, lock-free: ring_send, ring_recv ----
 * Result in rc (and v), kick.
 *
 * A look is one step: the index, the slot's seq, and (when the slot is
 * behind) the other index, then the claim CAS when the slot is ready. In
 * the code these are separate loads; but the CAS validates the index, and a
 * ready slot's seq cannot change before its stamp is claimed (only arming
 * can, and the later exchange sees WAIT either way), so an index gone stale
 * between the loads only sends the code round its loop again, or to an
 * answer (full, empty) that also held at the last load.
 *
 * A spin on a transient slot (backoff, look again) is a wait for one of the
 * words the look read to change: a look at the same values decides the
 * same, and a thread spinning forever would hide a deadlock from the
 * end-state check. Giving up after TRANSIENT_SPINS (not settle) may happen
 * at any look. The element is copied in the step that publishes (or frees)
 * the slot: nobody else may touch it between the claim and that step, and
 * in a model where someone did, a value would be lost or duplicated either
 * way. */

inline ring_send(c, val, settle)
{
    rc = NONE;
    do
    :: atomic {
            ph == 0 ->
            x = sendx[c];
            if
            :: (x & X_CLOSED) != 0 -> rc = ECLOSED; x = 0; break
            :: (x & X_CLOSED) == 0 && (x & X_WAITERS) != 0 && BG != BUG_WAITERS ->
                rc = SLOW; x = 0; break
            :: else ->
                s = STAMP(x); sl = SLOT(s, c); sq = seq[sl];
                if
                :: (sq >> 1) == BASE(s, c) -> sendx[c] = NEXT(s, c) << X_SHIFT; ph = 2
                :: (sq >> 1) < BASE(s, c) && ORD(s, c) >= ORD(STAMP(recvx[c]), c) + CAP(c) ->
                    rc = EAGAIN; x = 0; s = 0; sq = 0; break
                :: (sq >> 1) < BASE(s, c) && ORD(s, c) < ORD(STAMP(recvx[c]), c) + CAP(c) ->
                    ph = 1 /* transient: a receiver is between claim and free */
                :: (sq >> 1) > BASE(s, c) -> skip /* x was stale */
                fi
            fi
        }
    :: atomic { ph == 1 && !(settle) -> rc = SLOW; ph = 0; x = 0; s = 0; sq = 0; break }
    :: atomic { ph == 1 && (sendx[c] != x || seq[sl] != sq) -> ph = 0; WITNESS(6) }
    :: atomic {
            ph == 2 ->
            ENTER(c);
            sdata[sl] = val;
            kick = seq[sl] & SEQ_WAIT;
            WITNESS_IF(4, kick); /* the slot was armed */
            seq[sl] = (BASE(s, c) + 1) << 1;
            rc = OK; ph = 0; x = 0; s = 0; sq = 0;
            break
        }
    od
}

inline ring_recv(c, settle)
{
    rc = NONE;
    do
    :: atomic {
            ph == 0 ->
            x = recvx[c];
            if
            :: (x & X_WAITERS) != 0 -> rc = SLOW; x = 0; break
            :: else ->
                s = STAMP(x); sl = SLOT(s, c); sq = seq[sl];
                if
                :: (sq >> 1) == BASE(s, c) + 1 && BG != BUG_CAS -> recvx[c] = NEXT(s, c) << X_SHIFT; ph = 2
                :: (sq >> 1) == BASE(s, c) + 1 && BG == BUG_CAS -> ph = 4
                :: (sq >> 1) < BASE(s, c) + 1 && STAMP(sendx[c]) == s ->
                    if
                    :: (sendx[c] & X_CLOSED) != 0 -> rc = ECLOSED; eclosed[c] = 1
                    :: else -> rc = EAGAIN
                    fi;
                    x = 0; s = 0; sq = 0;
                    break
                :: (sq >> 1) < BASE(s, c) + 1 && STAMP(sendx[c]) != s ->
                    ph = 1 /* transient: a sender is between claim and publish */
                :: (sq >> 1) > BASE(s, c) + 1 -> skip /* x was stale */
                fi
            fi
        }
    :: atomic { ph == 1 && !(settle) -> rc = SLOW; ph = 0; x = 0; s = 0; sq = 0; break }
    :: atomic { ph == 1 && (recvx[c] != x || seq[sl] != sq) -> ph = 0; WITNESS(6) }
    :: atomic { ph == 4 -> recvx[c] = NEXT(s, c) << X_SHIFT; ph = 2 }
    :: atomic {
            ph == 2 ->
            v = sdata[sl];
            DELIVER(v);
            sdata[sl] = 0;
            kick = seq[sl] & SEQ_WAIT;
            WITNESS_IF(4, kick);
            seq[sl] = (BASE(s, c) + OLAP(c)) << 1;
            rc = OK; ph = 0; x = 0; s = 0; sq = 0;
            break
        }
    od
}

/* ---- chan.c: the ring, pumps (lock held) ----
 * pump, with pump_recvs and pump_sends, as one loop whose steps are:
 *   PR   pump_recvs' look at the head slot: claim the head receiver and move
 *        recvx; or, closed and drained, claim every receiver with
 *        SW_ECLOSED; or arm the slot (slot_arm);
 *   PRF  free the slot claimed, handing its element over;
 *   PS   pump_sends' look: claim the head sender and move sendx, or arm;
 *   PSP  publish the slot, with the sender's element;
 *   PSYNC sync_flags, and with unl the unlock and finish's start.
 * PLOCK (pump_unlocked) takes the lock in the step of the first look.
 * A look is one step up to its claim: while our side's queue is not empty
 * X_WAITERS is set (asserted: the DESIGN's invariant, on which this step
 * relies), so only we move that index, and a slot ready for us
 * stays so until we take it; the closed-and-drained test reads sendx, which
 * cannot change while it is closed or while its stamp is ours to wait for;
 * the arm is a CAS on the seq just read, so a slot that changed meanwhile is
 * the same as one that changed before the look. The claim's result is
 * recorded with the slot's exchange: the owner reads it only after its
 * notification (and BUG_CLAIM needs a step between claim and record). */

#define PLOCK 11
#define PR 12
#define PRF 13
#define PS 14
#define PSP 15
#define PROUND 16
#define PSYNC 17
#define PDONE 18

/* slot_arm: CAS SEQ_WAIT onto the seq just read */
#define ARM                                                              \
    if                                                                   \
    :: (sq & SEQ_WAIT) == 0 && BG != BUG_ARM -> seq[sl] = sq | SEQ_WAIT; WITNESS(11) \
    :: else -> skip                                                      \
    fi

/* lck: take the lock first; unl: unlock (and start finish(done, self)) in
 * the last step; snp: snapshot the ring words in the first step. */
inline pump(c, lck, unl, self, snp)
{
    ph = ((lck) -> PLOCK : PR); mr = 0; moved = 0; sn = snp;
    do
    :: ph == PDONE -> ph = 0; break
    :: atomic {
            ph != PDONE && (ph != PLOCK || lk[c] == 0) ->
            if
            :: sn -> RESNAP(c); sn = 0
            :: else -> skip
            fi;
            do
            :: ph == PLOCK -> lk[c] = 1; ph = PR
            :: ph == PR && qlen[QI(c, RECV)] == 0 -> ph = PS
            :: ph == PR && qlen[QI(c, RECV)] > 0 ->
                x = recvx[c]; s = STAMP(x); sl = SLOT(s, c); sq = seq[sl];
                assert((x & X_WAITERS) != 0);
                ph = PS;
                if
                :: (sq >> 1) == BASE(s, c) + 1 ->
                    waitq_claim(QI(c, RECV));
                    if
                    :: w != NONE ->
                        recvx[c] = (NEXT(s, c) << X_SHIFT) | (x & X_WAITERS);
                        ph = PRF
                    :: else -> skip
                    fi
                :: (sq >> 1) != BASE(s, c) + 1 && (sendx[c] & X_CLOSED) != 0 && STAMP(sendx[c]) == s ->
                    WITNESS(5); /* closed and drained */
                    claim_all(c, RECV, ECLOSED);
                    mr = 1
                :: (sq >> 1) != BASE(s, c) + 1 && ((sendx[c] & X_CLOSED) == 0 || STAMP(sendx[c]) != s) ->
                    ARM
                fi;
                x = 0;
                break
            :: ph == PRF ->
                record_claim(w, OK);
                small[OPOF(w)] = sdata[sl];
                DELIVER(sdata[sl]);
                sdata[sl] = 0;
                seq[sl] = (BASE(s, c) + OLAP(c)) << 1;
                w = 0; s = 0; sl = 0; sq = 0;
                mr = 1;
                ph = PR;
                break
            :: ph == PS && qlen[QI(c, SEND)] == 0 -> ph = PROUND
            :: ph == PS && qlen[QI(c, SEND)] > 0 ->
                x = sendx[c]; s = STAMP(x); sl = SLOT(s, c); sq = seq[sl];
                assert((x & X_WAITERS) != 0);
                ph = PROUND;
                if
                :: (sq >> 1) == BASE(s, c) ->
                    waitq_claim(QI(c, SEND));
                    if
                    :: w != NONE ->
                        sendx[c] = (NEXT(s, c) << X_SHIFT) | (x & (X_WAITERS | X_CLOSED));
                        ph = PSP
                    :: else -> skip
                    fi
                :: else -> ARM
                fi;
                x = 0;
                break
            :: ph == PSP ->
                /* A WAIT here was armed for the receive side: pump loops. */
                record_claim(w, OK);
                ENTER(c);
                sdata[sl] = wval[w];
                seq[sl] = (BASE(s, c) + 1) << 1;
                w = 0; s = 0; sl = 0; sq = 0;
                moved = 1;
                ph = PS;
                break
            :: ph == PROUND && (mr || moved) -> mr = 0; moved = 0; ph = PR
            :: ph == PROUND && !mr && !moved -> ph = PSYNC
            :: ph == PSYNC ->
                sync_flags(c);
                if
                :: unl -> UNLOCK(c); FINISH_PROLOGUE(self)
                :: else -> skip
                fi;
                ph = PDONE;
                break
            od
        }
    od
}

/* pump_unlocked */
inline pump_unlocked(c)
{
    pump(c, 1, 1, NONE, 0);
    finish_loop()
}

/* ring_attempt_locked: select's locked attempt on a buffered channel. The
 * transient-slot spin waits for a ring word to change since the snapshot
 * its last pump took in its first step. After a kick, the loop pumps once
 * more and returns. */
inline ring_attempt_locked(c, dir, val)
{
    rc = NONE; lf = 0;
    do
    :: pump(c, 0, 0, NONE, 1);
        if
        :: rc != NONE -> UNSNAP; break
        :: else -> skip
        fi;
        atomic {
            if
            :: (dir) == SEND && closed[c] -> rc = ECLOSED
            :: ((dir) == RECV || !closed[c]) && qlen[QI(c, dir)] > 0 ->
                rc = ((SETTLED(c, dir)) -> EAGAIN : SLOW)
            :: ((dir) == RECV || !closed[c]) && qlen[QI(c, dir)] == 0 -> lf = 1
            fi
        };
        if
        :: lf ->
            lf = 0;
            if
            :: (dir) == SEND -> ring_send(c, val, 1)
            :: else -> ring_recv(c, 1)
            fi;
            if
            :: rc == ECLOSED && (dir) == RECV -> v = 0
            :: else -> skip
            fi;
            if
            :: kick -> kick = 0 /* pump again */
            :: else -> UNSNAP; break
            fi
        :: !lf && rc == SLOW -> atomic { CHANGED(c) -> rc = NONE; WITNESS(8) }
        :: !lf && rc != SLOW -> UNSNAP; break
        fi
    od
}

/* ---- chan.c: the rendezvous slot of an unbuffered channel ---- */

/* rv_claim + rv_complete's writes: claim the slot's waiter (a CAS of the
 * kind to CLAIMED) and move the value; the claimer then
 * notifies it (rv_notify). The claimer alone touches the slot's fields and
 * the waiter's result until that notification, so the writes join the
 * claim's step. */
#define RV_CLAIM(c, dir, val)                                   \
    rvk[c] = RV_CLAIMED;                                        \
    rvp = rvw[c];                                               \
    claimed[rvp] = 1;                                           \
    nclaims[rvp]++;                                             \
    assert(nclaims[rvp] == 1);                                  \
    ENTER(c);                                                   \
    if                                                          \
    :: (dir) == SEND -> small[rvp] = (val); DELIVER(val)        \
    :: else -> v = rvv[c]; DELIVER(v)                           \
    fi;                                                         \
    status[rvp] = OK

/* rv_raise: the read-modify-write of the flags (lock held), then (a step
 * of its own) the wait for the kind to leave SETUP, RV_WAIT; a lock
 * holder's looks at the slot join that step (a SETUP that comes after it is
 * a waiter that will see the flag and back out: the looks take it for
 * EMPTY, as they would have a moment before) */
#define RV_RAISE(c, f) rvf[c] = rvf[c] | (f)
#define RV_WAIT(c) (RVKIND(c) != RV_SETUP)

/* rv_op: a look at the kind, and the claim CAS it decides on, in one step
 * (the CAS validates the look); while a waiter is in SETUP the look waits,
 * as the code spins. To wait in the slot: a look at the flags, then
 * rv_enter: the CAS EMPTY -> SETUP, the look at the flags again (backing
 * out, SETUP -> EMPTY, if one is up), then the publishing store of our
 * kind, each a step (between the last two we write the slot's fields,
 * which nobody else reads). Result in rc: OK (we claimed the waiter: rvp),
 * EAGAIN, SLOW (take the lock) or PARKED (we wait in the slot: rv_wait
 * follows). BUG_SLOTQ skips the second look at the flags. */
inline rv_op(c, dir, val, mode)
{
    rc = NONE;
    st = 0;
    do
    :: atomic {
            st == 0 && RVKIND(c) != RV_SETUP ->
            x = rvk[c];
            if
            :: x == PEERK(dir) -> RV_CLAIM(c, dir, val); rc = OK; WITNESS(19)
            :: x != PEERK(dir) && (mode) == TRY -> rc = ((x == MYK(dir)) -> EAGAIN : SLOW)
            :: x != PEERK(dir) && (mode) != TRY && x != RV_EMPTY -> rc = SLOW
            :: x == RV_EMPTY && (mode) != TRY -> st = 1
            fi;
            x = 0;
            if
            :: rc != NONE -> break
            :: else -> skip
            fi
        }
    :: atomic {
            st == 1 ->
            if
            :: rvf[c] != 0 -> rc = SLOW; st = 0; break
            :: else -> st = 2
            fi
        }
    :: atomic {
            st == 2 ->
            if
            :: rvk[c] == RV_EMPTY -> rvk[c] = RV_SETUP; st = 3
            :: else -> st = 0
            fi
        }
    :: atomic {
            st == 3 ->
            if
            :: rvf[c] == 0 || BG == BUG_SLOTQ -> st = 4
            :: else -> rvk[c] = RV_EMPTY; st = 5; WITNESS(21) /* backs out */
            fi
        }
    :: atomic {
            st == 5 ->
            if
            :: rvf[c] != 0 -> rc = SLOW; st = 0; break
            :: else -> st = 0
            fi
        }
    :: atomic {
            st == 4 ->
            claimed[me] = 0; nclaims[me] = 0; pstate[me] = P_EMPTY;
            fired[me] = 0; status[me] = 0; small[me] = 0;
            rvw[c] = me;
            rvv[c] = (((dir) == SEND) -> (val) : 0);
            rvk[c] = MYK(dir);
            rc = PARKED;
            st = 0;
            break
        }
    od
}

/* rv_wait, once published: park; at the deadline take the waiter back out
 * by a CAS of our kind to EMPTY, or, when a peer claimed it first, wait for
 * its notification; then empty the slot (a store CLAIMED -> EMPTY).
 * BUG_RETRACT takes it back by a plain store, claimed or not. */
inline rv_wait(c, dir, mode)
{
    park((mode) == TIMED);
    if
    :: prc == OK -> skip
    :: prc != OK ->
        atomic {
            if
            :: BG == BUG_RETRACT || RVKIND(c) == MYK(dir) ->
                rvk[c] = RV_EMPTY;
                rvw[c] = 0;
                rvv[c] = 0;
                claimed[me] = 1;
                nclaims[me]++;
                assert(nclaims[me] == 1);
                rc = ETIMEDOUT;
                WITNESS(17)
            :: else -> rc = NONE; WITNESS(18) /* a peer claimed us first */
            fi
        };
        if
        :: rc == NONE -> park(0)
        :: else -> skip
        fi
    fi;
    prc = 0;
    if
    :: rc != ETIMEDOUT ->
        atomic {
            assert(RVKIND(c) == RV_CLAIMED);
            rvk[c] = RV_EMPTY;
            rvw[c] = 0;
            rvv[c] = 0
        }
    :: else -> skip
    fi
}

/* ---- chan.c: unbuffered attempts (bodies of a locked step) ----
 * The caller raised a flag first, so no waiter enters the slot meanwhile:
 * the slot's waiter, if any, came before the queued ones and goes first. */

inline unbuf_send_locked(c, val)
{
    if
    :: closed[c] -> rc = ECLOSED
    :: !closed[c] && RVKIND(c) == RV_RECV -> RV_CLAIM(c, SEND, val); rc = OK; WITNESS(16)
    :: !closed[c] && RVKIND(c) != RV_RECV ->
        waitq_claim(QI(c, RECV));
        if
        :: w == NONE -> rc = EAGAIN
        :: else ->
            ENTER(c);
            small[OPOF(w)] = val;
            DELIVER(val);
            record_claim(w, OK);
            rc = OK
        fi
    fi;
    w = 0
}

inline unbuf_recv_locked(c)
{
    if
    :: RVKIND(c) == RV_SEND -> RV_CLAIM(c, RECV, 0); rc = OK; WITNESS(16)
    :: else ->
        waitq_claim(QI(c, SEND));
        if
        :: w != NONE -> v = wval[w]; ENTER(c); DELIVER(v); record_claim(w, OK); rc = OK
        :: else ->
            if
            :: closed[c] -> v = 0; rc = ECLOSED; eclosed[c] = 1
            :: else -> rc = EAGAIN
            fi
        fi
    fi;
    w = 0
}

/* ---- chan.c: blocking ---- */

/* op_wait: park; at the deadline claim the op ourselves, or, when a peer
 * claimed it first, wait without a deadline for its notification. owres:
 * a peer completed the op. */
inline op_wait(timed)
{
    park(timed);
    if
    :: prc == OK -> owres = 1
    :: prc != OK ->
        atomic {
            if
            :: !claimed[me] -> claimed[me] = 1; nclaims[me]++; owres = 0
            :: else -> owres = 1; WITNESS(2) /* a peer claimed it first */
            fi
        };
        if
        :: owres -> park(0)
        :: else -> skip
        fi
    fi;
    prc = 0
}

/* await (blocked_result is the result park took) */
inline await(c, dir, timed)
{
    op_wait(timed);
    if
    :: owres -> owres = 0
    :: else ->
        atomic { LOCK(c); q_remove(QI(c, dir), WID(me, 0)); sync_flags(c); UNLOCK(c); WITNESS(10) };
        rc = ETIMEDOUT
    fi
}

/* unbuf_op: the slot (rv_op), else the lock. The locked critical section
 * is two steps: taking the lock with rv_raise's read-modify-write, then
 * its wait for SETUP to end with the looks and the one claim at most that
 * follow (see RV_WAIT). A claimed slot waiter is notified under the lock,
 * as rv_complete does; queued ones once it is released. BUG_RAISE raises
 * no flag before the look (the enqueue raises it, a step later). */
inline unbuf_op(c, dir, val, mode)
{
    rv_op(c, dir, val, mode);
    if
    :: rc == OK -> rv_notify()
    :: rc == PARKED -> rv_wait(c, dir, mode)
    :: rc == EAGAIN -> skip
    :: rc == SLOW ->
        atomic {
            LOCK(c);
            if
            :: BG != BUG_RAISE -> RV_RAISE(c, QF(dir))
            :: else -> skip
            fi
        };
        atomic {
            RV_WAIT(c) ->
            if
            :: (dir) == SEND -> unbuf_send_locked(c, val)
            :: else -> unbuf_recv_locked(c)
            fi;
            if
            :: rc == EAGAIN && (mode) != TRY && BG != BUG_RAISE -> op_init(val, 0); enqueue(c, dir, WID(me, 0))
            :: else -> skip
            fi;
            if
            :: rvp == NONE && !(rc == EAGAIN && (mode) != TRY && BG == BUG_RAISE) ->
                if
                :: !(rc == EAGAIN && (mode) != TRY) -> sync_flags(c)
                :: else -> skip
                fi;
                UNLOCK(c);
                FINISH_PROLOGUE(NONE)
            :: else -> skip
            fi
        };
        if
        :: rc == EAGAIN && (mode) != TRY && BG == BUG_RAISE ->
            atomic { op_init(val, 0); enqueue(c, dir, WID(me, 0)); UNLOCK(c); FINISH_PROLOGUE(NONE) }
        :: else -> skip
        fi;
        if
        :: rvp != NONE -> rv_notify(); atomic { sync_flags(c); UNLOCK(c); FINISH_PROLOGUE(NONE) }
        :: else -> skip
        fi;
        if
        :: rc == EAGAIN && (mode) != TRY -> aw = 1 /* chan_op awaits */
        :: else -> finish_loop()
        fi
    fi
}

/* ring_slow's try loop: until our waiter is served, or the indexes show
 * the buffer full (empty): then leave the queue, SW_EAGAIN */
inline ring_slow_try(c, dir)
{
    do
    :: pump(c, 0, 0, NONE, 1);
        if
        :: atomic { !wq[WID(me, 0)] -> UNLOCK(c); FINISH_PROLOGUE(me); UNSNAP; break }
        :: atomic {
                wq[WID(me, 0)] && SETTLED(c, dir) ->
                q_remove(QI(c, dir), WID(me, 0));
                sync_flags(c);
                UNLOCK(c);
                FINISH_PROLOGUE(NONE);
                rc = EAGAIN;
                UNSNAP;
                break
            }
        :: atomic { wq[WID(me, 0)] && !SETTLED(c, dir) && CHANGED(c) -> WITNESS(7) }
        fi
    od;
    finish_loop();
    if
    :: rc == EAGAIN -> skip
    :: rc != EAGAIN && mine -> mine = 0
    :: rc != EAGAIN && !mine -> aw = 1 /* chan_op awaits */
    fi
}

/* ring_slow: queue, pump (which may serve us at once), wait */
inline ring_slow(c, dir, val, mode)
{
    atomic {
        LOCK(c);
        if
        :: (dir) == SEND && closed[c] -> UNLOCK(c); rc = ECLOSED
        :: else -> op_init(val, 0); enqueue(c, dir, WID(me, 0)); rc = NONE
        fi
    };
    if
    :: rc == ECLOSED -> skip
    :: rc == NONE && (mode) != TRY ->
        pump(c, 0, 1, me, 0);
        finish_loop();
        if
        :: mine -> mine = 0
        :: else -> aw = 1 /* chan_op awaits */
        fi
    :: rc == NONE && (mode) == TRY -> ring_slow_try(c, dir)
    fi
}

/* chan_op: one send or receive (sw_chan_send, _recv, _try_*, _*_timeout);
 * result in rc and, for a receive, v */
inline chan_op(c, dir, val, mode)
{
    if
    :: CAP(c) == 0 -> unbuf_op(c, dir, val, mode)
    :: CAP(c) > 0 ->
        if
        :: (dir) == SEND -> ring_send(c, val, (mode) == TRY)
        :: else -> ring_recv(c, (mode) == TRY)
        fi;
        if
        :: kick -> kick = 0; pump_unlocked(c)
        :: else -> skip
        fi;
        if
        :: rc == SLOW || (rc == EAGAIN && (mode) != TRY) -> ring_slow(c, dir, val, mode)
        :: rc == ECLOSED && (dir) == RECV -> v = 0
        :: else -> skip
        fi
    fi;
    /* await, for every path that queued a waiter and must wait (a try
     * call's await has a deadline of now) */
    if
    :: aw -> aw = 0; await(c, dir, (mode) != BLOCK)
    :: else -> skip
    fi
}

/* sw_chan_close; wt: first wait until every sender has returned. The fetch_or
 * of X_CLOSED shares the locked step: it commutes with the claims (other
 * words), and a lock-free send's CAS either precedes the step or fails. */
inline chan_close(c, wt)
{
    atomic {
        (!(wt) || sendersleft == 0) && lk[c] == 0 ->
        lk[c] = 1;
        if
        :: closed[c] -> UNLOCK(c); FINISH_PROLOGUE(NONE); rc = ECLOSED
        :: else ->
            closed[c] = 1;
            claim_all(c, SEND, ECLOSED);
            if
            :: CAP(c) == 0 ->
                /* The slot's waiter fails like the queued ones; it is
                 * notified under the lock, they once it is released. The
                 * wait for SETUP to end breaks the step. */
                RV_RAISE(c, RV_CLOSED);
                RV_WAIT(c);
                if
                :: RVKIND(c) == RV_SEND || RVKIND(c) == RV_RECV ->
                    rvp = rvw[c];
                    if
                    :: RVKIND(c) == RV_RECV -> small[rvp] = 0; eclosed[c] = 1
                    :: else -> WITNESS(9)
                    fi;
                    rvk[c] = RV_CLAIMED;
                    claimed[rvp] = 1;
                    nclaims[rvp]++;
                    assert(nclaims[rvp] == 1);
                    status[rvp] = ECLOSED
                :: else -> skip
                fi;
                claim_all(c, RECV, ECLOSED);
                sync_flags(c);
                if
                :: rvp == NONE -> UNLOCK(c); FINISH_PROLOGUE(NONE)
                :: else -> skip
                fi
            :: CAP(c) > 0 && BG != BUG_CLOSE -> sendx[c] = sendx[c] | X_CLOSED
            :: CAP(c) > 0 && BG == BUG_CLOSE -> skip
            fi;
            rc = OK
        fi
    };
    if
    :: rc == OK && CAP(c) > 0 -> pump(c, 0, 1, NONE, 0)
    :: rvp != NONE -> rv_notify(); atomic { UNLOCK(c); FINISH_PROLOGUE(NONE) }
    :: else -> skip
    fi;
    finish_loop()
}

/* ---- chan.c: sw_select over two cases ----
 * Case k is (ck, dk, vk), the Selector's parameters; lo and hi are its
 * channels in lock (address) order, one channel when lo == hi. */

#define SETCASE(n)                          \
    cur = (n);                              \
    cc = ((cur == 0) -> c0 : c1);           \
    cd = ((cur == 0) -> d0 : d1);           \
    cv = ((cur == 0) -> v0 : v1)

/* lock_all: blocks holding lo while hi is taken; raises, on each
 * unbuffered channel, the flag of each case's side (rv_raise), then waits
 * for their slots to leave SETUP, a step later */
#define SEL_RAISE(c, d)                     \
    if                                      \
    :: CAP(c) == 0 -> RV_RAISE(c, QF(d))    \
    :: else -> skip                         \
    fi

inline lock_all()
{
    atomic {
        LOCK(lo);
        if
        :: hi != lo -> LOCK(hi)
        :: else -> skip
        fi;
        SEL_RAISE(c0, d0);
        SEL_RAISE(c1, d1)
    };
    atomic { (CAP(c0) > 0 || RV_WAIT(c0)) && (CAP(c1) > 0 || RV_WAIT(c1)) }
}

/* unlock_all (sync_flags on each channel, then unlock), then finish(done,
 * NULL); a slot waiter the poll claimed is notified before, under the
 * locks, as rv_complete does */
inline unlock_all_finish()
{
    if
    :: rvp != NONE -> rv_notify()
    :: else -> skip
    fi;
    atomic {
        sync_flags(lo);
        sync_flags(hi);
        if
        :: hi != lo -> UNLOCK(hi)
        :: else -> skip
        fi;
        UNLOCK(lo);
        FINISH_PROLOGUE(NONE)
    };
    finish_loop()
}

/* select_fast: every channel buffered: the cases in a random order, lock-free */
inline select_fast()
{
    if
    :: CAP(c0) > 0 && CAP(c1) > 0 ->
        if
        :: first = 0
        :: first = 1
        fi;
        k3 = 0;
        do
        :: k3 == 2 -> break
        :: k3 < 2 ->
            SETCASE((k3 == 0) -> first : 1 - first);
            if
            :: cd == SEND -> ring_send(cc, cv, 0)
            :: else -> ring_recv(cc, 0)
            fi;
            if
            :: kick -> kick = 0; pump_unlocked(cc)
            :: else -> skip
            fi;
            if
            :: rc == EAGAIN -> k3++
            :: rc == SLOW -> break
            :: rc != EAGAIN && rc != SLOW ->
                if
                :: rc == ECLOSED && cd == RECV -> v = 0
                :: else -> skip
                fi;
                fk = cur;
                break
            fi
        od
    :: else -> skip
    fi
}

/* select_run's locked polls: attempt_locked on each case, in a random order */
inline select_poll()
{
    if
    :: first = 0
    :: first = 1
    fi;
    lock_all();
    k3 = 0;
    do
    :: k3 == 2 -> break
    :: k3 < 2 ->
        SETCASE((k3 == 0) -> first : 1 - first);
        if
        :: CAP(cc) > 0 -> ring_attempt_locked(cc, cd, cv)
        :: CAP(cc) == 0 && cd == SEND -> atomic { unbuf_send_locked(cc, cv) }
        :: CAP(cc) == 0 && cd == RECV -> atomic { unbuf_recv_locked(cc) }
        fi;
        if
        :: rc == EAGAIN -> k3++
        :: rc != EAGAIN -> fk = cur; break
        fi
    od
}

/* select_block: queue a waiter on each channel, pump the buffered ones,
 * park; then take the locks again and dequeue every waiter */
inline select_block(mode)
{
    atomic { op_init(v0, v1); enqueue(c0, d0, WID(me, 0)) };
    atomic { enqueue(c1, d1, WID(me, 1)) };
    /* pump each buffered channel, once, in lock order */
    k3 = 0;
    do
    :: k3 == 2 -> k3 = 0; break
    :: k3 < 2 ->
        cc = ((k3 == 0) -> lo : hi);
        if
        :: (k3 == 0 || hi != lo) && CAP(cc) > 0 -> pump(cc, 0, 0, NONE, 0)
        :: else -> skip
        fi;
        k3++
    od;
    cc = 0;
    unlock_all_finish();
    op_wait((mode) == TIMED);
    /* One step past the locks: each flag clear is the only change its word
     * sees (see sync_flags). */
    atomic {
        lock_all();
        q_remove(QI(c0, d0), WID(me, 0));
        q_remove(QI(c1, d1), WID(me, 1));
        sync_flags(c0);
        sync_flags(c1);
        if
        :: hi != lo -> UNLOCK(hi)
        :: else -> skip
        fi;
        UNLOCK(lo)
    };
    if
    :: !owres -> rc = ETIMEDOUT
    :: else -> owres = 0
    fi
}

/* sw_select (select_run): result in fk (the case that ran; NONE for none), rc, v */
inline select2(mode)
{
    fk = NONE;
    select_fast();
    if
    :: fk == NONE ->
        select_poll();
        if
        :: fk != NONE || (mode) == TRY ->
            if
            :: fk == NONE -> rc = EAGAIN
            :: else -> skip
            fi;
            unlock_all_finish()
        :: fk == NONE && (mode) != TRY -> select_block(mode)
        fi
    :: fk != NONE -> skip
    fi;
    k3 = 0; first = 0; cur = 0; cc = 0; cd = 0; cv = 0
}

/* ---- the threads ---- */

/* Sends n values, v0 on, to channel c; stops at SW_ECLOSED. Records which
 * were sent as it ends. */
proctype Sender(byte me; byte c; byte v0; byte n; byte mode; short env)
{
    LOCALS;
    do
    :: i == n -> break
    :: i < n ->
        chan_op(c, SEND, v0 + i, mode);
        if
        :: rc == OK -> okm = okm | (1 << i); i++
        :: rc == ECLOSED -> i = n
        :: rc == EAGAIN || rc == ETIMEDOUT -> assert(mode != BLOCK); i++
        fi;
        rc = 0
    od;
    atomic {
        i = 0;
        do
        :: i < n -> sentok[v0 + i] = (okm >> i) & 1; i++
        :: i == n -> break
        od;
        sendersleft--
    }
}

/* Receives n values (255: until SW_ECLOSED) from channel c. */
proctype Receiver(byte me; byte c; byte n; byte mode; short env)
{
    LOCALS;
    do
    :: i == n -> break
    :: i < n ->
        chan_op(c, RECV, 0, mode);
        if
        :: rc == OK -> assert(v != 0); i++
        :: rc == ECLOSED -> assert(v == 0); i = n
        :: rc == EAGAIN || rc == ETIMEDOUT -> assert(mode != BLOCK && v == 0); i++
        fi;
        rc = 0; v = 0
    od
}

/* Closes the channels of mask chans: at any time, or, with after, once
 * every sender has returned. */
proctype Closer(byte me; byte chans; bool after; short env)
{
    LOCALS;
    do
    :: i == NCH -> break
    :: i < NCH && ((chans >> i) & 1) -> chan_close(i, after); assert(rc == OK); i++
    :: i < NCH && ((chans >> i) & 1) == 0 -> i++
    od
}

/* Runs selects over the cases (c0, d0, v0) and (c1, d1, v1) until n of
 * them ran a case; the first with mode0, the others blocking. A send case
 * that ran with SW_OK marks its value sent (so a configuration with a send
 * case has n = 1). */
proctype Selector(byte me; byte c0; byte d0; byte v0; byte c1; byte d1; byte v1; byte n; byte mode0; short env)
{
    LOCALS;
    byte lo = ((c0 < c1) -> c0 : c1);
    byte hi = ((c0 < c1) -> c1 : c0);
    byte md;
    bool started;
    do
    :: i == n -> break
    :: i < n ->
        md = (started -> BLOCK : mode0);
        started = 1;
        select2(md);
        if
        :: fk == NONE -> assert((rc == EAGAIN || rc == ETIMEDOUT) && md != BLOCK)
        :: fk != NONE ->
            i++;
            cd = ((fk == 0) -> d0 : d1);
            if
            :: cd == RECV && rc == OK -> assert(v != 0)
            :: cd == RECV && rc == ECLOSED -> assert(v == 0)
            :: cd == SEND && rc == OK -> okm = okm | (1 << fk)
            :: cd == SEND && rc == ECLOSED -> skip
            fi
        fi;
        cd = 0; v = 0; rc = 0; fk = 0; md = 0
    od;
    atomic {
        if
        :: (okm & 1) -> sentok[v0] = 1
        :: else -> skip
        fi;
        if
        :: (okm & 2) -> sentok[v1] = 1
        :: else -> skip
        fi;
        sendersleft--
    }
}

/* ---- the configurations (CHAN_CFG) ---- */

#define OLG(n) (((n) == 0) -> 1 : (((n) == 1) -> 2 : 4))

init
{
    byte j, t, inb;
    short env;
    c_code {
        char *e = getenv("CHAN_CFG"), *b = getenv("CHAN_BUG"), *p = getenv("CHAN_PARK");
        char *wi = getenv("CHAN_WITNESS");
        now.cfg = e ? atoi(e) : 1;
        now.bug = b ? atoi(b) : 0;
        now.fullpark = p ? atoi(p) : 1;
        now.witness = wi ? atoi(wi) : 0;
    };
    atomic {
        if
        :: cfg == 1 || cfg == 3 || cfg == 6 || cfg == 9 || cfg >= 16 -> skip
        :: cfg == 2 || cfg == 4 || cfg == 10 || cfg == 12 || cfg == 13 || cfg == 14 -> cap[0] = 1
        :: cfg == 5 -> cap[0] = 2
        :: cfg == 7 || cfg == 15 -> cap[0] = 1; cap[1] = 1
        :: cfg == 8 || cfg == 11 -> cap[0] = 1
        fi;
        env = cap[0] | (cap[1] << 2) | (bug << 4) | (fullpark << 8);
        j = 0;
        do
        :: j == NPROC -> j = 0; break
        :: else -> runs[j] = 1; j++
        od;
        if
        :: cfg == 1 || cfg == 2 ->
            /* MPMC: two senders, two receivers, one value each */
            sendersleft = 2;
            run Sender(0, 0, 1, 1, BLOCK, env);
            run Sender(1, 0, 2, 1, BLOCK, env);
            run Receiver(2, 0, 1, BLOCK, env);
            run Receiver(3, 0, 1, BLOCK, env)
        :: cfg == 3 || cfg == 4 ->
            /* the close racing two blocked senders and a draining receiver */
            sendersleft = 2;
            run Sender(0, 0, 1, 1, BLOCK, env);
            run Sender(1, 0, 2, 1, BLOCK, env);
            run Receiver(2, 0, 255, BLOCK, env);
            run Closer(3, 1, 0, env)
        :: cfg == 5 ->
            /* capacity 2, past a lap: three values, two receivers until
             * closed, closed once the sender returned */
            sendersleft = 1;
            run Sender(0, 0, 1, 3, BLOCK, env);
            run Receiver(1, 0, 255, BLOCK, env);
            run Receiver(2, 0, 255, BLOCK, env);
            run Closer(3, 1, 1, env)
        :: cfg == 6 || cfg == 7 || cfg == 8 ->
            /* two selects over receives on a and b, a sender on each, who
             * may race to claim the first select */
            sendersleft = 3;
            run Selector(0, 0, RECV, 0, 1, RECV, 0, 2, BLOCK, env);
            run Sender(1, 0, 1, 1, BLOCK, env);
            run Sender(2, 1, 2, 1, BLOCK, env)
        :: cfg == 9 || cfg == 10 ->
            /* a timed receive racing a plain one: it may time out while a
             * peer claims it */
            sendersleft = 1;
            run Sender(0, 0, 1, 2, BLOCK, env);
            run Receiver(1, 0, 1, TIMED, env);
            run Receiver(2, 0, 255, BLOCK, env);
            run Closer(3, 1, 1, env)
        :: cfg == 11 ->
            /* a timed select over a buffered and an unbuffered channel,
             * then a blocking one */
            sendersleft = 3;
            run Selector(0, 0, RECV, 0, 1, RECV, 0, 2, TIMED, env);
            run Sender(1, 0, 1, 1, BLOCK, env);
            run Sender(2, 1, 2, 1, BLOCK, env)
        :: cfg == 12 ->
            /* try-sends racing a blocked sender (queued: they take the
             * lock and wait out transient slots) and a receiver */
            sendersleft = 2;
            run Sender(0, 0, 1, 1, BLOCK, env);
            run Sender(1, 0, 2, 2, TRY, env);
            run Receiver(2, 0, 255, BLOCK, env);
            run Closer(3, 1, 1, env)
        :: cfg == 13 ->
            /* try-receives racing a blocked receiver and a sender */
            sendersleft = 1;
            run Sender(0, 0, 1, 2, BLOCK, env);
            run Receiver(1, 0, 255, BLOCK, env);
            run Receiver(2, 0, 2, TRY, env);
            run Closer(3, 1, 1, env)
        :: cfg == 14 ->
            /* select { a <- 1; <-b } racing a receiver on a, a sender on b,
             * and the close of both */
            run Selector(0, 0, SEND, 1, 1, RECV, 0, 1, BLOCK, env);
            run Receiver(1, 0, 255, BLOCK, env);
            run Sender(2, 1, 2, 1, BLOCK, env);
            run Closer(3, 3, 0, env)
        :: cfg == 15 ->
            /* a select whose locked poll finds a receiver queued on a and a
             * transient slot there, and waits it out under the locks */
            sendersleft = 2;
            run Selector(0, 0, RECV, 0, 1, RECV, 0, 1, BLOCK, env);
            run Receiver(1, 0, 1, BLOCK, env);
            run Sender(2, 0, 1, 2, BLOCK, env)
        :: cfg == 16 ->
            /* unbuffered: a receiver (in the slot, or queued) and a select
             * over receives on a and b (queued: never in the slot), a sender
             * of two values on a */
            sendersleft = 2;
            run Receiver(0, 0, 1, BLOCK, env);
            run Selector(1, 0, RECV, 0, 1, RECV, 0, 1, BLOCK, env);
            run Sender(2, 0, 1, 2, BLOCK, env)
        :: cfg == 17 ->
            /* unbuffered: try-sends racing a blocked sender and a receiver
             * until closed */
            sendersleft = 2;
            run Sender(0, 0, 1, 1, BLOCK, env);
            run Sender(1, 0, 2, 2, TRY, env);
            run Receiver(2, 0, 255, BLOCK, env);
            run Closer(3, 1, 1, env)
        :: cfg == 18 ->
            /* unbuffered: timed sends, a timed and a plain receive, close */
            sendersleft = 1;
            run Sender(0, 0, 1, 2, TIMED, env);
            run Receiver(1, 0, 1, TIMED, env);
            run Receiver(2, 0, 255, BLOCK, env);
            run Closer(3, 1, 1, env)
        fi
    }

    /* Every thread returned: otherwise this is an invalid end state, a
     * deadlock or a lost wake-up. Every value whose send returned SW_OK was
     * received exactly once or is still in a full slot, no other value was
     * received, and a channel that told a receiver SW_ECLOSED holds none. */
    (_nr_pr == 1);
    d_step {
        t = 1;
        do
        :: t > NV -> break
        :: else ->
            inb = 0;
            j = 0;
            do
            :: j == NCH * MAXCAP -> break
            :: else ->
                if
                :: j % MAXCAP < cap[j / MAXCAP] && ((seq[j] >> 1) % OLG(cap[j / MAXCAP])) == 1 ->
                    assert(!eclosed[j / MAXCAP]);
                    if
                    :: sdata[j] == t -> inb++
                    :: else -> skip
                    fi
                :: else -> skip
                fi;
                j++
            od;
            assert(got[t] + inb == sentok[t]);
            t++
        od;
        /* Nothing is left queued, flagged, locked or asleep. */
        j = 0;
        do
        :: j == NCH -> break
        :: else ->
            assert(qlen[QI(j, SEND)] == 0 && qlen[QI(j, RECV)] == 0);
            assert((sendx[j] & X_WAITERS) == 0 && (recvx[j] & X_WAITERS) == 0);
            assert(rvk[j] == RV_EMPTY && (rvf[j] & (RV_QSEND | RV_QRECV)) == 0);
            assert(!lk[j]);
            j++
        od;
        j = 0;
        do
        :: j == NPROC -> break
        :: else -> assert(!fw[j] && runs[j] && !rq[j]); j++
        od
    }
}
