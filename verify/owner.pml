/* A Promela model of the owner protocol of src/owner/owner.c -- an owner
 * as a serialization domain: the mailbox word (take, queue, let go), the
 * holder's batches (combining, batch_end, the replies and their wake-up
 * tree), handover to a waiting caller or to a pool thread, the pool
 * threads' run queues and sleep, stop while held, and free -- with the
 * parker of src/base/sync.c under the calls, checked exhaustively with
 * spin by tools/verify.sh. docs/verification.md says what it covers, what
 * it leaves out, and how each part maps to the code.
 *
 * Each inline stands for the owner.c (or sync.c) function it names, with
 * the same steps in the same order. A step -- one atomic block -- holds at
 * most one access to a word that threads share (an owner's mailbox word,
 * in-flight counter or life word, a run queue, a pool thread's `sleeping`,
 * a parker's state, a futex); work on a thread's own data and on what only
 * the holder of an owner touches (its state, `pending`, the messages it
 * has taken, the fields of a caller's struct call that the caller reads
 * only once notified) joins a neighbouring step. By Lipton's reduction no
 * thread can tell these steps from the code's finer ones. Three steps
 * hold a look and the access it leads to, and lose nothing by it: hold's
 * has_mail look joins the take it leads to, and let_go's failed CAS the
 * take after it, because the mail they see stays until this holder takes
 * it (only the holder takes), and more mail arriving between the look and
 * the take changes neither the look's answer nor anything else; and a
 * CAS loop (mailbox_push, schedule) is its one successful CAS, its failed
 * tries being looks. request_stop's fetch_or of STOP_CLAIMED is a step of
 * its own: two threads may stop one owner (the stop-race configuration),
 * and the loser may act -- set FREE_REQ, leave, let the owner go -- before
 * the winner's push. The sw_owner_stop inside an ordinary thread's
 * sw_owner_free, after its own stop, is one step: its enter and leave can
 * drop no last count (the owner's own is still there), its fetch_or finds
 * STOP claimed and its load finds it done, as they always will by then.
 *
 * sw_owner_post, backing out with SW_ECLOSED, reads o->home (for
 * nodes_give) before leave(o), as owner.c does since commit daa0994: its
 * own leave, or another caller's since, may drop the last count and free
 * o. OWNER_BUG=11 (BUG_HOME) restores the order before that fix, and the
 * `stop` configuration finds the use after free. The same commit counted
 * the stopper in (enter before request_stop, leave once the stop is done;
 * OWNER_BUG=14 drops that) and made finish_stop wake the stopper before it
 * drops the owner's own count for a free from an owner function
 * (OWNER_BUG=13 does one or the other, as before); the `stop-race`
 * configuration, a stop from an ordinary thread racing a free from an
 * owner function, catches both.
 *
 * One compiled model runs every configuration: in pan's environment,
 * OWNER_CFG picks the threads and their requests, OWNER_BUG one
 * deliberately broken variant (which the check must catch), OWNER_WITNESS a
 * path that the configuration must reach.
 */

#define NT 2  /* pool threads, at most */
#define NO 2  /* owners */
#define NC 3  /* callers, at most; parker NC is the stopper's */
#define NJ 2  /* requests per caller, at most */
#define QM 7  /* messages one mailbox can hold: NC * NJ and STOP */

/* Message ids: request j of caller c is c * NJ + j + 1; STOP is STOPID
 * (each owner has its own STOP message; an id names it within its owner). */
#define NID (NC * NJ + 2)
#define STOPID (NC * NJ + 1)
#define MSG(c, j) ((c) * NJ + (j) + 1)
#define MC(id) (((id) - 1) / NJ)
#define MJ(id) (((id) - 1) % NJ)
/* A caller's requests: bit 2j is request j's owner, bit 2j + 1 set for a
 * post (else a call). */
#define OWNER_OF(c, j) ((ops[c] >> (2 * (j))) & 1)
#define IS_POST(c, j) ((ops[c] >> (2 * (j) + 1)) & 1)
#define IS_CALL(id) ((id) != STOPID && !IS_POST(MC(id), MJ(id)))

/* sync.h's parker states */
#define P_EMPTY 0
#define P_NOTIFIED 1
#define P_SLEEPING 2

/* enum entry: what mailbox_push found */
#define ENTRY_CLOSED 1
#define ENTRY_QUEUED 2
#define ENTRY_HOLDER 3

/* The broken variants (OWNER_BUG). */
#define BUG_DEKKER 1  /* idle_wait sleeps without looking at the run queue again */
#define BUG_LETGO 2   /* let_go stores FREE over whatever the mailbox holds */
#define BUG_TREE 3    /* reply_all notifies parents before their children */
#define BUG_FREE 4    /* sw_owner_free frees the owner at once, not dropping its count */
#define BUG_CLOSED 5  /* mailbox_push ignores CLOSED */
#define BUG_LIFE 6    /* finish_stop loads FREE_REQ, then sets STOP_DONE: two steps */
#define BUG_HANDED 7  /* handover sets `handed` after the unpark */
#define BUG_COUNT 8   /* take does not count its callers out of inflight */
#define BUG_REPLY 9   /* end_batch replies before batch_end */
#define BUG_TRYTAKE 10 /* try_take loads FREE, then stores 0: no CAS */
#define BUG_HOME 11   /* sw_owner_post reads o->home after leave: owner.c's order (see Caller) */
#define BUG_ORDER 12  /* take runs the stack as it is, newest first: no reversal */
#define BUG_WAKE 13   /* finish_stop drops the owner's count for FREE_REQ instead of waking the stopper */
#define BUG_SCOUNT 14 /* sw_owner_stop does not count the stopper in (no enter, no leave) */

byte cfg;     /* OWNER_CFG */
byte bug;     /* OWNER_BUG */
byte witness; /* OWNER_WITNESS */

/* ---- the configuration, set by init before any thread runs ---- */

byte npool;    /* pool threads */
byte holdmax;  /* HOLD_MAX, scaled down */
byte treemax;  /* WAKE_TREE_MAX, scaled down */
bool hasbe;    /* the owners have a batch_end hook */
byte ops[NC];  /* each caller's requests, as above */
byte nreq[NC]; /* how many */
byte freer;    /* the message whose fn calls sw_owner_free(freeof), or 0 */
byte freeof;
bool stopper;  /* an ordinary thread stops owner 0 ... */
bool sfree;    /* ... and then frees it */

/* ---- the owners ---- */

byte mq[NO * QM];  /* the mailbox's messages, oldest first (see mailbox_push) */
byte mlen[NO];
bool mfree[NO];    /* MB_FREE */
bool mclosed[NO];  /* MB_CLOSED */
byte inflight[NO]; /* o->inflight: the owner's own count and its callers' */
bool claimed[NO];  /* LIFE_STOP_CLAIMED */
bool stopdone[NO]; /* LIFE_STOP_DONE */
bool freereq[NO];  /* LIFE_FREE_REQ */
bool stopwait[NO]; /* o->stop_reply is the stopper's parker (else NULL) */
byte pend[NO * QM]; /* o->pending: holder only */
byte pn[NO];

/* ---- the pool threads ---- */

byte runq[NT];     /* pt->runq: the owners on it, a bit each */
bool sleeping[NT]; /* pt->sleeping */
bool tfw[NT];      /* asleep in futex_wait on pt->sleeping */

/* ---- the parkers: callers 0..NC-1, the stopper NC; the callers' struct call ---- */

byte pst[NC + 1];  /* the parker's state */
bool fw[NC + 1];   /* asleep in futex_wait on it */
byte signals;      /* spurious wake-ups (signals) that may still come */
byte wl[NC * 2];   /* struct call's wake[k]: a caller + 1, or 0 */
bool handed[NC];   /* struct call's handed */

/* ---- ghost state, for the properties ---- */

byte nhold[NO];    /* threads that hold the owner: never more than 1 */
byte hid[NO];      /* which (its tid + 1), or 0 */
byte ran[NID];     /* how many times each request's fn ran */
bool ended[NID];   /* the batch_end of its batch ran */
bool pushed[NID];  /* it got in: taken on the fast path, or pushed */
bool stopq[NO];    /* the owner's STOP is queued */
bool freed[NO];    /* the owner's memory is gone */
byte begun[NO];    /* requests that have counted themselves in, and the stopper once called */
byte calls_to[NO]; /* requests the configuration sends to each owner, and its stopper */

/* Witnesses: with OWNER_WITNESS=n, reaching point n is an error, so a
 * check that finds it shows the model does reach that path. 1: a call takes
 * the owner on the fast path. 2: a call runs on another caller's thread
 * (combined). 3: a waiting caller is handed the owner. 4: a handover goes
 * to the pool (its list has no call). 5: a stopper finds the owner free and
 * runs STOP itself. 6: a call gets SW_ECLOSED. 7: a late futex_wake lands
 * on a caller's later park. 8: sw_owner_free from an owner function finds
 * the stop done and frees. 9: finish_stop finds FREE_REQ and frees. 10: a
 * call's push finds the owner free (after its try_take failed). 11: a
 * caller wakes its child in the wake-up tree. 12: schedule wakes a sleeping
 * pool thread. 13: a sleeper beyond the tree is unparked directly. 14: a
 * stop from an owner function finds the owner free and schedules it. 15: a
 * signal ends a caller's futex_wait. 16: an unpark must wake a sleeper.
 * 17: STOP runs on a thread other than the stopper (stop while held). 18:
 * a holder takes more mail into a batch that has run requests. 19: a post
 * backs out with SW_ECLOSED after its push. 20: a post's early look finds
 * CLOSED. 21: a post finds the owner free and schedules it. 22: one
 * runq_take takes two owners. 23: a caller's or poster's leave drops the
 * last count and frees the owner. 24: the fast path lets go right after
 * its fn. 25: finish_stop wakes a waiting stopper while FREE_REQ is set
 * (the stop-race). 26: a stopper loses the claim and waits in
 * wait_stop_done. 27: the stopper's leave drops the last count and frees
 * the owner. 28: the leave of sw_owner_free from an owner function drops
 * the last count and frees the owner. */
#define WITNESS(n) assert(witness != (n))
#define WITNESS_IF(n, cond) assert(witness != (n) || !(cond))

#define HOME(o) ((o) % npool)
#define BIT(o) (1 << (o))

/* A thread starts, or stops, holding o. */
#define BECOME(o) nhold[o]++; assert(nhold[o] == 1); hid[o] = tid + 1
#define RELEASE(o) assert(hid[o] == tid + 1); nhold[o]--; hid[o] = 0

/* The locals of every thread that may hold an owner; the inlines work on
 * them. tid names the thread: a caller's index, NC for the stopper, NC + 1
 * + t for pool thread t. tl/tn: a taken list not yet run (arrival order);
 * bb/bn: the requests run in this batch; bran, hran: b.ran and hold's ran;
 * self: the holder's own request (0 for none); ntk: take's count of
 * callers, taken out of inflight in the next step; fp: 1 on call_here's
 * fast path before its leave (which joins the step that runs its
 * request), 2 after it; fr: finish_stop's FREE_REQ seen. */
#define LOCALS                                                          \
    byte tid, tl[QM], tn, bb[QM], bn, bran, hran, self, ntk;            \
    byte sl[NC], sn, i, k, c, tg, old, rc, prc, hc;                     \
    byte fp;                                                            \
    bool bstopped, dofree, got, fr

/* ---- sync.c: the parker ---- */

/* futex_wake on parker p's state: wakes p if it sleeps there; if it does
 * not yet, or no longer, the wake lands on a later futex_wait of p, which
 * takes it as spurious. */
#define FUTEX_WAKE_PARKER(p) fw[p] = 0

/* sw__unpark(&parker p): exchange NOTIFIED, then futex_wake if the old
 * state was SLEEPING -- a step of its own: by then p may have seen
 * NOTIFIED, returned, and parked again for its next call. */
inline unpark(p)
{
    atomic { old = pst[p]; pst[p] = P_NOTIFIED };
    if
    :: old == P_SLEEPING -> atomic { WITNESS(16); FUTEX_WAKE_PARKER(p); old = 0 }
    :: else -> old = 0
    fi
}

/* sw__park(&parker me, -1) and sw__park_hint: spin_for only reads the
 * state and returns early only on NOTIFIED, the same as the CAS EMPTY ->
 * SLEEPING failing on NOTIFIED, so the CAS stands for its looks (the hint
 * only shortens the spinning). A CAS failing on SLEEPING (after a
 * spurious wake-up) sleeps again. futex_wait(state, SLEEPING) sleeps only
 * while the state is SLEEPING, until a futex_wake or, while `signals`
 * allows, a signal; then sw__parker_notified looks again. Calls have no
 * deadline. */
inline park(me)
{
    do
    :: atomic {
            old = pst[me];
            if
            :: old == P_EMPTY -> pst[me] = P_SLEEPING
            :: else -> skip
            fi;
            if
            :: old == P_NOTIFIED -> old = 0; break
            :: else -> old = 0
            fi
        };
        atomic {
            if
            :: pst[me] == P_SLEEPING -> fw[me] = 1
            :: else -> skip
            fi
        };
        /* woken (or not asleep at all), then sw__parker_notified */
        atomic {
            if
            :: fw[me] == 0 -> WITNESS_IF(7, pst[me] != P_NOTIFIED)
            :: fw[me] == 1 && signals > 0 -> WITNESS(15); signals--; fw[me] = 0
            fi;
            if
            :: pst[me] == P_NOTIFIED -> break
            :: else -> skip
            fi
        }
    od
}

/* ---- owner.c: the mailbox ---- */

/* mailbox_push(o, id, close) -> res: one CAS that checks CLOSED, pushes,
 * and sets CLOSED for STOP; it finds the owner FREE (then the pusher holds
 * it), or held. The Treiber stack and take's reversal are, together, a
 * FIFO queue in the order of the pushes' CASes: mq holds it oldest first.
 * (BUG_CLOSED: it ignores CLOSED.) */
inline mailbox_push(o, id, close, res)
{
    atomic {
        assert(!freed[o]);
        if
        :: mclosed[o] && bug != BUG_CLOSED -> res = ENTRY_CLOSED
        :: else ->
            assert(!stopq[o]); /* STOP is the last message ever queued */
            assert(mlen[o] < QM);
            mq[(o) * QM + mlen[o]] = id;
            mlen[o]++;
            if
            :: close -> mclosed[o] = 1; stopq[o] = 1
            :: else -> pushed[id] = 1
            fi;
            if
            :: mfree[o] -> mfree[o] = 0; res = ENTRY_HOLDER; BECOME(o)
            :: else -> res = ENTRY_QUEUED
            fi
        fi
    }
}

/* take(o), the fetch_and: every queued message into tl, in arrival order
 * (BUG_ORDER: newest first); CLOSED stays. Its count of callers is taken
 * out of inflight in the next step (ntk; BUG_COUNT: never). The body of a
 * step. */
#define TAKEN(o, n) mq[(o) * QM + ((bug == BUG_ORDER) -> (mlen[o] - 1 - (n)) : (n))]

inline take(o)
{
    assert(!freed[o] && hid[o] == tid + 1 && tn == 0);
    do
    :: tn == mlen[o] -> break
    :: else ->
        tl[tn] = TAKEN(o, tn);
        if
        :: tl[tn] != STOPID && bug != BUG_COUNT -> ntk++
        :: else -> skip
        fi;
        tn++
    od;
    do
    :: mlen[o] == 0 -> break
    :: else -> mlen[o]--; mq[(o) * QM + mlen[o]] = 0
    od
}

/* unref(o), the body of a step: one fetch_sub of the in-flight counter,
 * and whoever drops the last count frees o (leave is unref). COUNT_OUT is
 * take's fetch_sub of its callers, which never drops the last count (the
 * owner's own stays until its stop is done). unref_own drops the owner's
 * own count (BUG_FREE: frees o at once). enter(o) is the fetch_add that
 * counts a thread in, before its first other touch of o. leave's w names
 * the witness of its dropping the last count: 23 for a caller or a
 * poster, 27 for the stopper, 28 for a free from an owner function. */
#define UNREF(o)                                                        \
    assert(!freed[o] && inflight[o] > 0);                               \
    inflight[o]--;                                                      \
    if                                                                  \
    :: inflight[o] == 0 -> freed[o] = 1                                 \
    :: else -> skip                                                     \
    fi
#define COUNT_OUT(o) assert(inflight[o] > ntk); inflight[o] = inflight[o] - ntk; ntk = 0

inline enter(o)
{
    atomic { assert(!freed[o]); inflight[o]++ }
}

inline leave(o, w)
{
    atomic { UNREF(o); WITNESS_IF(w, freed[o]) }
}

inline unref_own(o)
{
    atomic {
        if
        :: bug != BUG_FREE -> UNREF(o)
        :: else -> assert(!freed[o]); freed[o] = 1
        fi
    }
}

/* ---- the pool's job queues (owner.c's schedule, src/task/sched.c) ---- */

/* schedule(o), by o's holder: sw__pool_submit's push on the home thread's
 * job stack (a seq_cst CAS, publishing `pending`), then wake's load and
 * exchange of `sleeping` --
 * one step: the code exchanges only after loading 1, the same as the
 * exchange alone, which writes 0 over 0 when it finds 0 -- and the
 * futex_wake. */
inline schedule(o)
{
    tg = HOME(o);
    atomic {
        assert(!freed[o] && (runq[tg] & BIT(o)) == 0);
        runq[tg] = runq[tg] | BIT(o);
        RELEASE(o)
    };
    atomic { old = sleeping[tg]; sleeping[tg] = 0 };
    if
    :: old -> atomic { WITNESS_IF(12, tfw[tg]); tfw[tg] = 0; old = 0 }
    :: else -> skip
    fi;
    tg = 0
}

/* ---- owner.c: stop and free ---- */

/* request_stop(o, done) -> won: the fetch_or of STOP_CLAIMED, a step of
 * its own (see the top); the winner writes o->stop_reply (wait: the
 * stopper's parker, else NULL), which its push of STOP with CLOSED
 * publishes. What the push found is left in res: finding the owner free,
 * the caller of request_stop holds it, and runs STOP itself (hold, in
 * Stopper) or, from an owner function, schedules it (in free_from_fn). */
inline request_stop(o, wait, won, res)
{
    atomic {
        assert(!freed[o]);
        won = !claimed[o];
        claimed[o] = 1
    };
    if
    :: won -> atomic { stopwait[o] = wait; mailbox_push(o, STOPID, 1, res) };
        assert(res != ENTRY_CLOSED)
    :: else -> skip
    fi
}

/* wait_stop_done(o): loads of o->life until STOP_DONE (the nanosleeps
 * between them are time, left out): one step, taken once STOP_DONE is set,
 * or once o is freed -- a load of freed memory, which the model asserts
 * against; the loads before it are looks. */
inline wait_stop_done(o)
{
    atomic { stopdone[o] || freed[o] -> assert(!freed[o]); WITNESS(26) }
}

/* finish_stop(o): stop_reply is read first (the holder's); then one
 * fetch_or sets STOP_DONE and sees FREE_REQ (BUG_LIFE: a load, then the
 * or) -- the holder's last touch of o, which it never lets go. Then it
 * unparks the stopper, if one waits, and drops the owner's own count, if
 * an owner function asked for a free meanwhile (the waiting stopper is
 * counted in, so o outlives the unpark). BUG_WAKE: one or the other, the
 * drop winning, as before commit daa0994. */
inline finish_stop(o)
{
    atomic {
        assert(!freed[o]);
        hc = stopwait[o];
        fr = freereq[o];
        if
        :: bug != BUG_LIFE -> stopdone[o] = 1; RELEASE(o)
        :: else -> skip
        fi
    };
    if
    :: bug == BUG_LIFE -> atomic { stopdone[o] = 1; RELEASE(o) }
    :: else -> skip
    fi;
    if
    :: hc && !(fr && bug == BUG_WAKE) -> hc = 0; WITNESS_IF(25, fr); unpark(NC)
    :: else -> hc = 0
    fi;
    if
    :: fr -> fr = 0; WITNESS(9); unref_own(o)
    :: else -> skip
    fi
}

/* sw_owner_free(fo) from an owner function: enter; request_stop(fo, NULL)
 * and, if its push found fo free, schedule (an owner function never holds
 * another owner's STOP); one fetch_or sets FREE_REQ and sees STOP_DONE,
 * and whichever of it and finish_stop comes second drops the owner's own
 * count; leave. */
inline free_from_fn(fo)
{
    enter(fo);
    request_stop(fo, 0, got, prc);
    if
    :: prc == ENTRY_HOLDER -> WITNESS(14); prc = 0; got = 0; schedule(fo)
    :: else -> prc = 0; got = 0
    fi;
    atomic { assert(!freed[fo]); freereq[fo] = 1; old = stopdone[fo] };
    if
    :: old -> old = 0; WITNESS(8); unref_own(fo)
    :: else -> skip
    fi;
    leave(fo, 28)
}

/* ---- owner.c: holding an owner ---- */

/* run_list(o, list, self, &b): runs tl (arrival order) into the batch: each
 * fn in one step with the checks (one holder, requests once each and in
 * their caller's order, nothing after STOP, which ends the list). The
 * first step takes ntk out of inflight (take's count), or on the fast
 * path is call_here's leave. An fn that frees an owner (freer) runs its
 * free's steps in the middle. call_here's fn(o->state, arg) is such a
 * list of one. */
inline run_list(o)
{
    k = 0;
    do
    :: atomic {
            assert(!freed[o] && nhold[o] == 1 && hid[o] == tid + 1);
            if
            :: fp == 1 -> UNREF(o); fp = 2 /* call_here's leave */
            :: else -> COUNT_OUT(o)
            fi;
            do
            :: k == tn -> break
            :: k < tn && tl[k] == STOPID ->
                assert(k == tn - 1); /* STOP is always the last message */
                WITNESS_IF(17, tid != NC);
                bstopped = 1;
                tl[k] = 0;
                k++;
                break
            :: k < tn && tl[k] != STOPID ->
                c = MC(tl[k]);
                assert(OWNER_OF(c, MJ(tl[k])) == o && !stopdone[o]);
                /* after its caller's earlier requests to o that got in */
                i = 0;
                do
                :: i == MJ(tl[k]) -> break
                :: else ->
                    assert(OWNER_OF(c, i) != o || !pushed[MSG(c, i)] || ran[MSG(c, i)] == 1);
                    i++
                od;
                i = 0;
                ran[tl[k]]++;
                assert(ran[tl[k]] == 1);
                WITNESS_IF(2, tid < NC && c != tid && IS_CALL(tl[k]));
                c = 0;
                bb[bn] = tl[k];
                bn++;
                bran++;
                dofree = (tl[k] == freer);
                tl[k] = 0;
                k++;
                if
                :: dofree -> break
                :: else -> skip
                fi
            od;
            if
            :: k == tn -> k = 0; tn = 0
            :: else -> skip
            fi
        };
        if
        :: dofree -> dofree = 0; free_from_fn(freeof)
        :: else -> break
        fi
    od
}

/* batch_end: the ghost marks the requests of the batch; end_clear empties
 * it. */
inline batch_end()
{
    k = 0;
    do
    :: k == bn -> break
    :: else -> ended[bb[k]] = 1; k++
    od;
    k = 0
}

inline end_clear()
{
    k = 0;
    do
    :: k == bn -> break
    :: else -> bb[k] = 0; k++
    od;
    k = 0;
    bn = 0;
    bran = 0
}

/* reply_all over the calls of the batch, newest first as the code's
 * `calls` list has them (posts and self are not answered): each caller's
 * state is loaded (a step, which checks that batch_end ran); one found
 * SLEEPING joins the tree while it has fewer than treemax, any other is
 * unparked at once. Then the sleepers are notified children first
 * (BUG_TREE: parents first), the wake links written with the first (the
 * sleepers read them only once notified), and the root woken. */
#define NOTIFY_ORDER(k) ((bug == BUG_TREE) -> (k) : (sn - 1 - (k)))

inline reply_all()
{
    i = bn;
    do
    :: atomic {
            do
            :: i > 0 && (!IS_CALL(bb[i - 1]) || bb[i - 1] == self) -> i--
            :: else -> break
            od;
            if
            :: i == 0 -> break
            :: else ->
                i--;
                assert(ended[bb[i]]); /* batch_end before any answer of its batch */
                c = MC(bb[i]);
                if
                :: pst[c] == P_SLEEPING && sn < treemax -> sl[sn] = c + 1; sn++; c = 0
                :: pst[c] == P_SLEEPING && sn >= treemax -> WITNESS(13); c++
                :: else -> c++
                fi
            fi
        };
        if
        :: c > 0 -> unpark(c - 1); c = 0
        :: else -> skip
        fi
    od;
    if
    :: sn > 0 ->
        atomic {
            i = 0;
            do
            :: i == sn -> break
            :: else ->
                wl[(sl[i] - 1) * 2] = ((2 * i + 1 < sn) -> sl[2 * i + 1] : 0);
                wl[(sl[i] - 1) * 2 + 1] = ((2 * i + 2 < sn) -> sl[2 * i + 2] : 0);
                i++
            od;
            i = 0;
            pst[sl[NOTIFY_ORDER(0)] - 1] = P_NOTIFIED;
            k = 1
        };
        do
        :: atomic { k < sn -> pst[sl[NOTIFY_ORDER(k)] - 1] = P_NOTIFIED; k++ }
        :: k == sn -> break
        od;
        atomic {
            FUTEX_WAKE_PARKER(sl[0] - 1);
            k = 0;
            do
            :: k == NC -> break
            :: else -> sl[k] = 0; k++
            od;
            k = 0;
            sn = 0
        }
    :: else -> skip
    fi
}

/* handover(o, list): the count-out of the take before it, o->pending =
 * list and the choice of the oldest call in it are the holder's and join
 * one step with it; that caller's `handed` is set there too (the caller
 * reads it only once notified), and the unpark's exchange, which hands o
 * over, follows (BUG_HANDED: sets `handed` after the unpark). A list with
 * no call goes to the pool (schedule). */
inline handover(o)
{
    atomic {
        COUNT_OUT(o);
        hc = 0;
        k = 0;
        do
        :: k == tn -> break
        :: else ->
            pend[(o) * QM + k] = tl[k];
            if
            :: hc == 0 && IS_CALL(tl[k]) -> hc = MC(tl[k]) + 1
            :: else -> skip
            fi;
            tl[k] = 0;
            k++
        od;
        pn[o] = tn;
        tn = 0;
        k = 0;
        if
        :: hc > 0 && bug != BUG_HANDED -> handed[hc - 1] = 1
        :: else -> skip
        fi
    };
    if
    :: hc > 0 ->
        atomic { old = pst[hc - 1]; pst[hc - 1] = P_NOTIFIED; RELEASE(o) };
        if
        :: old == P_SLEEPING -> atomic { WITNESS(16); FUTEX_WAKE_PARKER(hc - 1); old = 0 }
        :: else -> old = 0
        fi;
        if
        :: bug == BUG_HANDED -> handed[hc - 1] = 1
        :: else -> skip
        fi;
        hc = 0
    :: else -> WITNESS(4); schedule(o)
    fi
}

/* hold(o, list, self) and hold_on(o, b, self): the list is in tl, self
 * set. Each pass is a batch: run_list, then take and run while there is
 * mail and the batch is under holdmax (has_mail's look joins the take, see
 * the top), then end_batch (batch_end, reply_all); after STOP,
 * finish_stop; else let_go (a CAS 0 -> FREE: BUG_LETGO stores FREE over
 * whatever is there, the messages lost), or, mail having come, take, then
 * handover when over holdmax or the next pass with the taken list.
 * call_here's fast path (fp) first tries let_go right after its fn when
 * there is no batch_end (its batch ends there, with nothing to commit or
 * answer), and goes on as hold_on with its batch begun otherwise. */
#define MAY_TAKE (!bstopped && hran + bran < holdmax)
#define EMPTY(o) (mlen[o] == 0 && !mclosed[o])

#define LET_GO(o)                                                       \
    assert(!freed[o]);                                                  \
    k = 0;                                                              \
    do                                                                  \
    :: k == mlen[o] -> break                                            \
    :: else -> mq[(o) * QM + k] = 0; k++                                \
    od;                                                                 \
    mlen[o] = 0;                                                        \
    mclosed[o] = 0;                                                     \
    mfree[o] = 1;                                                       \
    RELEASE(o)

inline hold(o)
{
    hran = 0;
    do
    :: run_list(o);
        if
        :: fp ->
            fp = 0;
            if
            :: atomic {
                    !hasbe && (EMPTY(o) || bug == BUG_LETGO) ->
                    WITNESS(24);
                    LET_GO(o);
                    batch_end();
                    end_clear()
                };
                break
            :: atomic { !hasbe && !EMPTY(o) && bug != BUG_LETGO -> skip }
            :: hasbe -> skip
            fi
        :: else -> skip
        fi;
        if
        :: atomic { MAY_TAKE && mlen[o] > 0 -> WITNESS_IF(18, bran > 0); take(o) }
        :: atomic {
                !MAY_TAKE || mlen[o] == 0 ->
                if
                :: bug != BUG_REPLY -> batch_end()
                :: else -> skip
                fi
            };
            reply_all();
            if
            :: bug == BUG_REPLY -> batch_end()
            :: else -> skip
            fi;
            if
            :: bstopped -> atomic { end_clear(); bstopped = 0 }; finish_stop(o); break
            :: else -> skip
            fi;
            hran = hran + bran;
            if
            :: atomic { EMPTY(o) || bug == BUG_LETGO -> LET_GO(o); end_clear() };
                break
            :: atomic { !EMPTY(o) && bug != BUG_LETGO -> end_clear(); take(o) };
                if
                :: hran >= holdmax -> handover(o); break
                :: else -> skip
                fi
            fi
        fi
    od;
    hran = 0;
    self = 0
}

/* ---- owner.c: the pool thread ---- */

/* idle_wait (sched.c's idle, after its spin): the thread announces
 * `sleeping` (seq_cst), looks at the run queue again (BUG_DEKKER: does
 * not), and futex-waits only if it is empty. */
inline idle_wait()
{
    atomic { sleeping[me] = 1 };
    atomic {
        if
        :: runq[me] == 0 || bug == BUG_DEKKER -> got = 1
        :: else -> skip
        fi
    };
    if
    :: got ->
        atomic {
            if
            :: sleeping[me] -> tfw[me] = 1
            :: else -> skip
            fi
        };
end_sleep:
        tfw[me] == 0
    :: else -> skip
    fi;
    atomic { sleeping[me] = 0; got = 0 }
}

/* pool_main (sched.c's worker_main and run_jobs): runq_take (one
 * exchange) takes every owner on the run queue, each held by this thread from then on; for each, in an order the model
 * leaves free (the code's is FIFO), o->pending becomes the list that hold
 * runs. A runq_take that finds nothing leads to idle_wait. */
proctype Pool(byte me)
{
    LOCALS;
    byte adm, o;
    tid = NC + 1 + me;
    do
    :: atomic {
            runq[me] != 0 ->
            adm = runq[me];
            runq[me] = 0;
            o = 0;
            do
            :: o == NO -> break
            :: else ->
                if
                :: (adm >> o) & 1 -> BECOME(o)
                :: else -> skip
                fi;
                o++
            od;
            o = 0
        };
        do
        :: adm == 0 -> break
        :: adm != 0 ->
            atomic {
                WITNESS_IF(22, adm == BIT(0) + BIT(1));
                if
                :: adm & 1 -> o = 0
                :: adm & 2 -> o = 1
                fi;
                adm = adm & ~BIT(o);
                k = 0;
                do
                :: k == pn[o] -> break
                :: else -> tl[k] = pend[(o) * QM + k]; pend[(o) * QM + k] = 0; k++
                od;
                tn = pn[o];
                pn[o] = 0;
                k = 0
            };
            hold(o);
            o = 0
        od
    :: atomic { runq[me] == 0 -> skip };
        idle_wait()
    od
}

/* ---- owner.c: the public calls ---- */

/* The freer's request (whose fn frees owner freeof) starts only once every
 * other request to freeof has counted itself in, and the stopper of freeof
 * has called sw_owner_stop: no thread may use the handle once
 * sw_owner_free is called. */
#define GATE(c, j) \
    (freer != MSG(c, j) || begun[freeof] + (OWNER_OF(c, j) == freeof) == calls_to[freeof])

/* Makes its requests in order. A call: enter (the in-flight count), then
 * call_here's try_take (a CAS FREE -> 0; BUG_TRYTAKE: a look, then a
 * store); taking the owner it runs its fn (its leave joins that step),
 * then lets the owner go at once if there is no batch_end, else goes on as
 * hold_on (both in hold, with fp set); else call_queued: its parker, wake
 * links and `handed` reset (its own), the push, and by what the push
 * found: back out (leave, SW_ECLOSED), hold (found it free), or
 * wait_answer: park, then hold if handed the owner (o->pending as the
 * list), else wake its children in the reply's wake-up tree. A post:
 * enter, the early look for CLOSED (leave, SW_ECLOSED), the push, and
 * schedule if it found the owner free; on CLOSED, leave and nodes_give
 * (see BUG_HOME). */
proctype Caller(byte me)
{
    LOCALS;
    byte j, o, id;
    bool hold_it;
    tid = me;
    do
    :: j == nreq[me] -> break
    :: atomic {
            j < nreq[me] && GATE(me, j) && !IS_POST(me, j) ->
            o = OWNER_OF(me, j);
            id = MSG(me, j);
            assert(!freed[o]);
            inflight[o]++;
            begun[o]++
        };
        /* call_here */
        atomic {
            assert(!freed[o]);
            got = mfree[o] && mlen[o] == 0 && !mclosed[o];
            if
            :: got && bug != BUG_TRYTAKE -> mfree[o] = 0; BECOME(o)
            :: else -> skip
            fi;
            if
            :: got ->
                WITNESS(1);
                pushed[id] = 1;
                tl[0] = id;
                tn = 1;
                self = id;
                fp = 1; /* leave(o), in hold's first step */
                hold_it = 1
            :: else ->
                pst[me] = P_EMPTY;
                wl[me * 2] = 0;
                wl[me * 2 + 1] = 0;
                handed[me] = 0
            fi
        };
        if
        :: got && bug == BUG_TRYTAKE -> atomic { mfree[o] = 0; BECOME(o) }
        :: else -> skip
        fi;
        got = 0;
        if
        :: !hold_it ->
            /* call_queued */
            mailbox_push(o, id, 0, rc);
            if
            :: rc == ENTRY_CLOSED -> atomic { WITNESS(6); leave(o, 23) }
            :: rc == ENTRY_HOLDER -> WITNESS(10); self = id; hold_it = 1
            :: rc == ENTRY_QUEUED ->
                park(me);
                atomic {
                    if
                    :: handed[me] ->
                        WITNESS(3);
                        assert(!freed[o]);
                        BECOME(o);
                        k = 0;
                        do
                        :: k == pn[o] -> break
                        :: else -> tl[k] = pend[(o) * QM + k]; pend[(o) * QM + k] = 0; k++
                        od;
                        tn = pn[o];
                        pn[o] = 0;
                        k = 0;
                        self = id;
                        hold_it = 1
                    :: else -> skip
                    fi
                };
                /* wait_answer's part of the wake-up tree */
                k = 0;
                do
                :: k == 2 || hold_it -> break
                :: else ->
                    if
                    :: wl[me * 2 + k] != 0 ->
                        atomic {
                            WITNESS_IF(11, fw[wl[me * 2 + k] - 1]);
                            FUTEX_WAKE_PARKER(wl[me * 2 + k] - 1)
                        }
                    :: else -> skip
                    fi;
                    k++
                od;
                k = 0
            fi
        :: else -> skip
        fi;
        if
        :: hold_it -> hold(o); hold_it = 0
        :: else -> skip
        fi;
        /* the answer: SW_OK only once our own request ran and its batch
         * ended */
        assert(rc == ENTRY_CLOSED || ended[id]);
        rc = 0;
        o = 0;
        id = 0;
        j++
    :: atomic {
            j < nreq[me] && GATE(me, j) && IS_POST(me, j) ->
            o = OWNER_OF(me, j);
            id = MSG(me, j);
            assert(!freed[o]);
            inflight[o]++;
            begun[o]++
        };
        /* the cheap early out: a look at CLOSED */
        atomic {
            assert(!freed[o]);
            if
            :: mclosed[o] -> rc = ENTRY_CLOSED; WITNESS(20)
            :: else -> skip
            fi
        };
        if
        :: rc == ENTRY_CLOSED -> leave(o, 23)
        :: else ->
            mailbox_push(o, id, 0, rc);
            if
            :: rc == ENTRY_CLOSED ->
                /* leave, and the node back to o->home's pool: owner.c reads
                 * o->home after leave (BUG_HOME), when the leave, or a free
                 * since, may have released o; the model reads it before */
                if
                :: bug == BUG_HOME -> leave(o, 23); atomic { assert(!freed[o]) }
                :: else -> atomic { WITNESS(19); leave(o, 23) }
                fi
            :: rc == ENTRY_HOLDER -> WITNESS(21); schedule(o)
            :: rc == ENTRY_QUEUED -> skip
            fi
        fi;
        rc = 0;
        o = 0;
        id = 0;
        j++
    od
}

/* sw_owner_stop from an ordinary thread, then (sfree) sw_owner_free:
 * enter (BUG_SCOUNT: none), request_stop with the stopper's parker; having
 * won the claim and found the owner free, it holds it and runs STOP
 * itself; having won, it parks until finish_stop unparks it; having lost
 * (the stop-race: an owner function's free claimed first), it waits in
 * wait_stop_done; then leave (BUG_SCOUNT: none). sw_owner_free's own
 * sw_owner_stop finds STOP claimed and done (one step, see the top), and
 * unref drops the owner's own count: whoever drops the last frees, this
 * thread or a caller still backing out (BUG_FREE: frees at once). me is
 * NC. */
proctype Stopper(byte me; byte o)
{
    LOCALS;
    bool won;
    tid = NC;
    /* the call (the ghost `begun`: sw_owner_free may come from now on),
     * and enter, its first touch of o */
    if
    :: bug != BUG_SCOUNT -> atomic { enter(o); begun[o]++ }
    :: else -> begun[o]++
    fi;
    request_stop(o, 1, won, rc);
    if
    :: won ->
        if
        :: rc == ENTRY_HOLDER -> rc = 0; WITNESS(5); hold(o)
        :: else -> rc = 0
        fi;
        park(me)
    :: else -> wait_stop_done(o)
    fi;
    /* every request that got in before STOP ran before the stop was done */
    atomic {
        assert(stopdone[o]);
        k = 1;
        do
        :: k == STOPID -> break
        :: else ->
            assert(!pushed[k] || OWNER_OF(MC(k), MJ(k)) != o || ran[k] == 1);
            k++
        od;
        k = 0
    };
    if
    :: bug != BUG_SCOUNT -> leave(o, 27)
    :: else -> skip
    fi;
    if
    :: sfree ->
        /* sw_owner_free: no thread may use the handle once it is called,
         * so the model calls it once every request to o has counted
         * itself in */
        begun[o] == calls_to[o];
        atomic { assert(!freed[o] && claimed[o] && stopdone[o]) };
        unref_own(o)
    :: else -> skip
    fi
}

/* ---- the configurations (OWNER_CFG) ----
 * ops per caller: request j's owner at bit 2j, post at bit 2j + 1. */
#define CALL(o) (o)
#define POST(o) ((o) | 2)
#define REQS(a, b) ((a) | ((b) << 2))

init
{
    byte c, j, k;
    c_code {
        char *e = getenv("OWNER_CFG"), *b = getenv("OWNER_BUG"), *w = getenv("OWNER_WITNESS");
        now.cfg = e ? atoi(e) : 1;
        now.bug = b ? atoi(b) : 0;
        now.witness = w ? atoi(w) : 0;
    };
    atomic {
        npool = 1;
        holdmax = 1;
        treemax = 2;
        mfree[0] = 1;
        mfree[1] = 1;
        inflight[0] = 1; /* the owner's own count */
        inflight[1] = 1;
        if
        :: cfg == 1 ->
            /* calls: three callers on one owner, the first twice; HOLD_MAX
             * 1, so a holder with mail hands over; a tree of one; no
             * batch_end */
            treemax = 1;
            ops[0] = REQS(CALL(0), CALL(0)); nreq[0] = 2;
            ops[1] = CALL(0); nreq[1] = 1;
            ops[2] = CALL(0); nreq[2] = 1
        :: cfg == 2 ->
            /* combine: three callers, one call each, HOLD_MAX 2 (the holder
             * takes again within its batch), a tree of two, one signal,
             * batch_end */
            holdmax = 2;
            hasbe = 1;
            ops[0] = CALL(0); nreq[0] = 1;
            ops[1] = CALL(0); nreq[1] = 1;
            ops[2] = CALL(0); nreq[2] = 1;
            signals = 1
        :: cfg == 3 ->
            /* posts: posts and a call to one owner */
            ops[0] = REQS(POST(0), CALL(0)); nreq[0] = 2;
            ops[1] = REQS(POST(0), POST(0)); nreq[1] = 2
        :: cfg == 4 ->
            /* two-owners: a post to each owner (one pool thread), then
             * calls to owner 0; batch_end */
            hasbe = 1;
            ops[0] = REQS(POST(0), CALL(0)); nreq[0] = 2;
            ops[1] = REQS(POST(1), CALL(0)); nreq[1] = 2
        :: cfg == 5 ->
            /* stop: a stop and free of owner 0 racing calls and a post */
            ops[0] = REQS(CALL(0), CALL(0)); nreq[0] = 2;
            ops[1] = REQS(CALL(0), POST(0)); nreq[1] = 2;
            stopper = 1;
            sfree = 1
        :: cfg == 6 ->
            /* free-self: a call's fn frees its own owner, racing a post and
             * a call; batch_end */
            hasbe = 1;
            ops[0] = REQS(CALL(0), CALL(0)); nreq[0] = 2;
            ops[1] = POST(0); nreq[1] = 1;
            ops[2] = CALL(0); nreq[2] = 1;
            freer = MSG(0, 1);
            freeof = 0
        :: cfg == 7 ->
            /* free-other: two pool threads; an owner function of owner 1
             * frees owner 0 while calls to it race the stop */
            npool = 2;
            holdmax = 2;
            ops[0] = REQS(CALL(0), CALL(0)); nreq[0] = 2;
            ops[1] = POST(1); nreq[1] = 1;
            freer = MSG(1, 0);
            freeof = 0
        :: cfg == 8 ->
            /* stop-race: two pool threads; an ordinary thread stops owner
             * 0 (and does not free it) while a post's fn on owner 1 frees
             * it, racing a call and a post to it */
            npool = 2;
            ops[0] = POST(1); nreq[0] = 1;
            ops[1] = REQS(CALL(0), POST(0)); nreq[1] = 2;
            freer = MSG(0, 0);
            freeof = 0;
            stopper = 1
        fi;
        calls_to[0] = calls_to[0] + stopper; /* the stopper's call */
        c = 0;
        do
        :: c == NC -> break
        :: else ->
            j = 0;
            do
            :: j == nreq[c] -> break
            :: else -> calls_to[OWNER_OF(c, j)]++; j++
            od;
            c++
        od;
        run Pool(0);
        if
        :: npool > 1 -> run Pool(1)
        :: else -> skip
        fi;
        c = 0;
        do
        :: c == NC -> break
        :: c < NC && nreq[c] > 0 -> run Caller(c); c++
        :: c < NC && nreq[c] == 0 -> c++
        od;
        if
        :: stopper -> run Stopper(NC, 0)
        :: else -> skip
        fi
    }

    /* Every caller and the stopper returned (otherwise: an invalid end
     * state, a lost wake-up), and every pool thread is asleep. */
    (_nr_pr == 1 + npool);
    (tfw[0] && (npool < 2 || tfw[1]));
    d_step {
        /* every request that got in ran, once, and its batch ended */
        k = 1;
        do
        :: k == STOPID -> break
        :: else -> assert(ran[k] == pushed[k] && ended[k] == pushed[k]); k++
        od;
        k = 0;
        do
        :: k == NO -> break
        :: else ->
            assert(mlen[k] == 0 && pn[k] == 0);
            assert(inflight[k] == !freed[k]); /* the owner's own count, or none */
            assert(!mclosed[k] || freed[k]); /* a stopped owner was freed */
            assert(stopdone[k] || mfree[k] && nhold[k] == 0);
            assert(stopdone[k] == claimed[k]); /* every stop claimed was done */
            k++
        od;
        k = 0;
        do
        :: k == NT -> break
        :: else -> assert(runq[k] == 0); k++
        od;
        k = 0;
        do
        :: k == NC + 1 -> break
        :: else -> assert(!fw[k]); k++
        od
    }
}
