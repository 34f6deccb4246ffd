/* A Promela model of the owner protocol of src/owner/owner.c -- mailboxes,
 * run queues, the IDLE handshake, the pool threads' sleep, the replies and
 * their wake-up tree, stop and free -- with the parker of src/base/sync.c
 * under the calls, checked exhaustively with spin by tools/verify.sh.
 * docs/verification.md says what it covers, what it leaves out, and how
 * each part maps to the code.
 *
 * Each inline stands for the owner.c (or sync.c) function it names, with
 * the same steps in the same order. A step -- one atomic block -- holds at
 * most one access to a word that threads share (an owner's mailbox word or
 * in-flight counter, a run queue, a pool thread's `sleeping`, a parker's
 * state, a futex); work on a thread's own data and on what only the holder
 * of an owner touches (its state, the messages it has taken) joins a
 * neighbouring step. By Lipton's reduction no thread can tell these steps
 * from the code's finer ones.
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
#define QM 6  /* messages one mailbox can hold: NC * NJ, or fewer and STOP */
#define FAIR 2 /* FAIR_ROUNDS, scaled down */

/* Message ids: request j of caller c is c * NJ + j + 1; STOP is STOPID. */
#define NID (NC * NJ + 2)
#define STOPID (NC * NJ + 1)
#define MSG(c, j) ((c) * NJ + (j) + 1)
#define MC(id) (((id) - 1) / NJ)
#define MJ(id) (((id) - 1) % NJ)
/* A caller's requests: bit 2j is request j's owner, bit 2j + 1 set for a
 * post (else a call). */
#define OWNER_OF(c, j) ((ops[c] >> (2 * (j))) & 1)
#define IS_POST(c, j) ((ops[c] >> (2 * (j) + 1)) & 1)

/* sync.h's parker states */
#define P_EMPTY 0
#define P_NOTIFIED 1
#define P_SLEEPING 2

/* SW_OK, SW_ECLOSED */
#define OK 0
#define ECLOSED 1

/* where[o], the ghost of who holds owner o: nobody (it is IDLE), the pusher
 * that cleared IDLE (it must schedule o), run queue t, pool thread t (its
 * hot set, or run_overflow), or nobody ever again (its STOP ran). */
#define W_NONE 0
#define W_PUSHER 1
#define W_RQ(t) (2 + (t))
#define W_HELD(t) (2 + NT + (t))
#define W_GONE (2 + 2 * NT)

/* The broken variants (OWNER_BUG). */
#define BUG_DEKKER 1 /* idle_wait sleeps without looking at the run queue again */
#define BUG_LETGO 2  /* let_go sets IDLE without checking that the mailbox is empty */
#define BUG_TREE 3   /* reply_all notifies parents before their children */
#define BUG_FREE 4   /* release_owner does not wait for callers still inside */
#define BUG_CLOSED 5 /* mailbox_push ignores CLOSED */
#define BUG_LIFE 6   /* finish_stop loads FREE_REQ, then sets STOP_DONE: two steps */

byte cfg;     /* OWNER_CFG */
byte bug;     /* OWNER_BUG */
byte witness; /* OWNER_WITNESS */

/* ---- the configuration, set by init before any thread runs ---- */

byte npool;   /* pool threads */
byte hotmax;  /* HOT_MAX, scaled down */
byte treemax; /* WAKE_TREE_MAX, scaled down */
byte ops[NC];  /* each caller's requests, as above */
byte nreq[NC]; /* how many */

/* ---- the owners ---- */

byte mq[NO * QM];  /* the mailbox's messages, oldest first (see below) */
byte mlen[NO];
bool idle[NO];     /* MB_IDLE */
bool closed[NO];   /* MB_CLOSED */
byte inflight[NO]; /* o->inflight */

/* ---- the pool threads ---- */

byte runq[NT];     /* pt->runq: the owners on it, a bit each */
bool sleeping[NT]; /* pt->sleeping */
bool tfw[NT];      /* asleep in futex_wait on pt->sleeping */

/* ---- the parkers: callers 0..NC-1, the stopper NC ---- */

byte pst[NC + 1];   /* the parker's state */
bool fw[NC + 1];    /* asleep in futex_wait on it */
byte signals;       /* spurious wake-ups (signals) that may still come */
byte wl[NC * 2];    /* struct call's wake[k]: a caller + 1, or 0 */

/* ---- ghost state, for the properties ---- */

byte where[NO];    /* see W_* */
byte ran[NID];     /* how many times each message's fn ran */
bool pushed[NID];  /* its push succeeded */
bool stopdone[NO]; /* LIFE_STOP_DONE */
bool freereq[NO];  /* LIFE_FREE_REQ */
bool stopwait[NO]; /* o->stop_reply is the stopper's parker (else NULL) */
byte freer;        /* the message whose fn calls sw_owner_free(owner 0), or 0 */
bool freed[NO];    /* the owner's memory is gone */
byte begun[NO];    /* requests that have counted themselves in */
byte calls_to[NO]; /* requests the configuration sends to each owner */

/* Witnesses: with OWNER_WITNESS=n, reaching point n is an error, so a
 * check that finds it shows the model does reach that path. */
#define WITNESS(n) assert(witness != (n))
#define WITNESS_IF(n, cond) assert(witness != (n) || !(cond))

#define HOME(o) ((o) % npool)
#define BIT(o) (1 << (o))
#define NHOT(h) (((h) & 1) + (((h) >> 1) & 1))

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
    :: old == P_SLEEPING -> atomic { WITNESS(6); FUTEX_WAKE_PARKER(p); old = 0 }
    :: else -> old = 0
    fi
}

/* sw__park(&parker me, -1): spin_for only reads the state and returns
 * early only on NOTIFIED, the same as the CAS EMPTY -> SLEEPING failing on
 * NOTIFIED, so the CAS stands for its looks. A CAS failing on SLEEPING
 * (after a spurious wake-up) sleeps again. futex_wait(state, SLEEPING)
 * sleeps only while the state is SLEEPING, until a futex_wake or, while
 * `signals` allows, a signal; then sw__parker_notified looks again. Calls
 * have no deadline. */
inline park()
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
            :: fw[me] == 0 -> WITNESS_IF(3, pst[me] != P_NOTIFIED)
            :: fw[me] == 1 && signals > 0 -> WITNESS(10); signals--; fw[me] = 0
            fi;
            if
            :: pst[me] == P_NOTIFIED -> break
            :: else -> skip
            fi
        }
    od
}

/* ---- owner.c: scheduling ---- */

/* schedule(o): schedule_target is a hint (the spinner's role, its mode and
 * load, `awake`), and the code is safe whichever thread it names, so the
 * model lets it name any. The push on the run queue (seq_cst CAS), the
 * exchange of `sleeping` and the futex_wake are a step each. The code loads
 * `sleeping` first and exchanges only if it saw 1: the same as the
 * exchange alone, which writes 0 over 0 when it finds 0.
 * requeue: run_overflow's, by the thread holding o. */
inline schedule(o, requeue)
{
    if
    :: tg = 0
    :: npool > 1 -> tg = 1
    fi;
    atomic {
        assert(!freed[o] && (runq[tg] & BIT(o)) == 0);
        assert(where[o] == ((requeue) -> W_HELD(me) : W_PUSHER));
        runq[tg] = runq[tg] | BIT(o);
        where[o] = W_RQ(tg)
    };
    atomic { old = sleeping[tg]; sleeping[tg] = 0 };
    if
    :: old -> atomic { WITNESS_IF(7, tfw[tg]); tfw[tg] = 0; old = 0 }
    :: else -> skip
    fi;
    tg = 0
}

/* mailbox_push(o, id, close): one CAS that checks CLOSED, pushes, clears
 * IDLE (and sets CLOSED for STOP); the pusher that cleared IDLE schedules
 * o. The Treiber stack and the reversal in run_batch are, together, a FIFO
 * queue in the order of the pushes' CASes: mq holds it oldest first. */
inline mailbox_push(o, id, close)
{
    atomic {
        assert(!freed[o]);
        if
        :: closed[o] && bug != BUG_CLOSED -> rc = ECLOSED
        :: else ->
            rc = OK;
            assert(mlen[o] < QM);
            mq[(o) * QM + mlen[o]] = id;
            mlen[o]++;
            pushed[id] = 1;
            closed[o] = closed[o] || close;
            wasidle = idle[o];
            idle[o] = 0;
            if
            :: wasidle -> assert(where[o] == W_NONE); where[o] = W_PUSHER
            :: else -> skip
            fi
        fi
    };
    if
    :: wasidle -> schedule(o, 0); wasidle = 0
    :: else -> skip
    fi
}

/* ---- owner.c: the pool thread ---- */

/* let_go(o): CAS mailbox 0 -> IDLE. (BUG_LETGO: it sets IDLE whatever the
 * mailbox holds.) */
#define LET_GO_OK(o) (mlen[o] == 0 && !closed[o] && !idle[o] || bug == BUG_LETGO)
#define LET_GO(o) assert(where[o] == W_HELD(me) && !freed[o]); idle[o] = 1; where[o] = W_NONE

/* reply_all over the calls of the batch bb[0..bn-1], newest first as the
 * code's `calls` list has them: each caller's state is loaded (a step); one
 * found SLEEPING joins the tree while it has fewer than treemax, any other
 * is unparked at once (exchange, then futex_wake: steps of their own).
 * Then the sleepers are notified children first (BUG_TREE: parents first),
 * the wake links written with the first (the sleepers read them only once
 * notified), and the root woken. The batch's slots are cleared as the walk
 * passes them. */
#define NOTIFY_ORDER(k) ((bug == BUG_TREE) -> (k) : (sn - 1 - (k)))

inline reply_all()
{
    i = bn;
    do
    :: atomic {
            do
            :: i > 0 && (bb[i - 1] == STOPID || IS_POST(MC(bb[i - 1]), MJ(bb[i - 1]))) ->
                i--; bb[i] = 0
            :: else -> break
            od;
            if
            :: i == 0 -> bn = 0; break
            :: else ->
                i--;
                c = MC(bb[i]);
                bb[i] = 0;
                if
                :: pst[c] == P_SLEEPING && sn < treemax -> sl[sn] = c + 1; sn++; c = 0
                :: pst[c] == P_SLEEPING && sn >= treemax -> WITNESS(8); c++
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

/* serve(o) and run_batch: takes the whole mailbox (one CAS, leaving
 * CLOSED), counts its callers out of `inflight` (a step of its own, before
 * the functions run), runs the functions in arrival order, replies to the
 * calls, and runs finish_stop if STOP came (it is the last message).
 * `stopped` tells the caller o is gone for this thread. take(o) is the
 * first step's body, so that hot_serve's has_mail look can join it: the
 * mail it sees stays until its holder takes it. */
inline take(o)
{
    assert(!freed[o] && where[o] == W_HELD(me) && !idle[o]);
    WITNESS_IF(1, me != HOME(o) && mlen[o] > 0);
    bn = mlen[o];
    k = 0;
    do
    :: k == bn -> break
    :: else -> bb[k] = mq[(o) * QM + k]; mq[(o) * QM + k] = 0; k++
    od;
    mlen[o] = 0;
    k = 0
}

/* release_owner(o): waits until no caller is inside (BUG_FREE: does
 * not), then frees. */
inline release_owner(o)
{
    atomic { (inflight[o] == 0 || bug == BUG_FREE) -> freed[o] = 1 }
}

/* finish_stop(o): one fetch_or sets STOP_DONE and sees FREE_REQ (BUG_LIFE:
 * a load, then the or); that is the running thread's last touch of o. Then
 * it frees o, if a pool thread asked for that meanwhile, or unparks the
 * stopper, if one waits. */
inline finish_stop(o)
{
    if
    :: bug != BUG_LIFE ->
        atomic { assert(!freed[o]); stopdone[o] = 1; where[o] = W_GONE; old = freereq[o] }
    :: else ->
        atomic { assert(!freed[o]); old = freereq[o] };
        atomic { stopdone[o] = 1; where[o] = W_GONE }
    fi;
    if
    :: old -> old = 0; WITNESS(12); release_owner(o)
    :: !old && stopwait[o] -> unpark(NC)
    :: !old && !stopwait[o] -> skip
    fi
}

/* sw_owner_free(owner 0) from an owner function (the freer's post, alone
 * in its batch, so its fn runs last): request_stop pushes STOP with no
 * stopper to wake; then one fetch_or sets FREE_REQ and sees STOP_DONE, and
 * whichever of it and finish_stop comes second releases the memory. */
inline free_from_pool()
{
    mailbox_push(0, STOPID, 1);
    assert(rc == OK);
    atomic { assert(!freed[0]); freereq[0] = 1; old = stopdone[0] };
    if
    :: old -> old = 0; WITNESS(11); release_owner(0)
    :: else -> skip
    fi
}

inline run_taken(o)
{
    atomic {
        assert(!freed[o]);
        k = 0;
        do
        :: k == bn -> break
        :: else ->
            if
            :: bb[k] != STOPID -> inflight[o]--
            :: else -> skip
            fi;
            k++
        od;
        /* the functions, each in arrival order after its caller's earlier
         * requests to o; STOP ends the batch */
        k = 0;
        do
        :: k == bn -> break
        :: bb[k] == STOPID -> assert(k == bn - 1); stopped = 1; break
        :: else ->
            c = MC(bb[k]);
            assert(OWNER_OF(c, MJ(bb[k])) == o);
            assert(MJ(bb[k]) == 0 || OWNER_OF(c, 0) != o || !pushed[MSG(c, 0)] || ran[MSG(c, 0)] == 1);
            ran[bb[k]]++;
            assert(ran[bb[k]] == 1);
            if
            :: bb[k] == freer -> assert(bn == 1); dofree = 1
            :: else -> skip
            fi;
            c = 0;
            k++
        od;
        k = 0
    };
    if
    :: dofree -> free_from_pool(); dofree = 0
    :: else -> skip
    fi;
    reply_all();
    if
    :: stopped -> finish_stop(o)
    :: else -> skip
    fi
}

inline serve(o)
{
    atomic { take(o) };
    run_taken(o)
}

/* run_overflow(o): up to FAIR rounds of serve and let_go (whose CAS fails
 * while mail is there), then o goes back on a run queue. */
inline run_overflow(o)
{
    r = 0;
    do
    :: r == FAIR -> WITNESS(4); schedule(o, 1); break
    :: r < FAIR ->
        serve(o);
        if
        :: stopped -> stopped = 0; break
        :: else -> skip
        fi;
        if
        :: atomic { LET_GO_OK(o) -> LET_GO(o) }; break
        :: atomic { !LET_GO_OK(o) -> WITNESS(5) }; r++
        fi
    od;
    r = 0
}

/* idle_wait: the thread announces `sleeping` (seq_cst), looks at the run
 * queue again (BUG_DEKKER: does not), and futex-waits only if it is empty.
 * The spinner's poll before it, which returns as soon as the run queue has
 * work, changes nothing that pool_main's next pass would not: a stutter,
 * left out. The poll is bounded, so the thread may go on to sleep at any
 * time. */
inline idle_wait()
{
    atomic { sleeping[me] = 1 };
    atomic {
        if
        :: runq[me] == 0 || bug == BUG_DEKKER -> gosleep = 1
        :: else -> skip
        fi
    };
    if
    :: gosleep ->
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
    atomic { sleeping[me] = 0; gosleep = 0 }
}

/* pool_main: each pass admits the run queue (owners that do not fit in the
 * hot set run as overflow), serves hot owners with mail, lets go of quiet
 * ones (after OWNER_POLL_NS, or in rebalance: at any time, here), and,
 * holding none, waits for work. The order and the timing are the code's
 * choice (hints and clocks); the model explores them all. */
proctype Pool(byte me)
{
    byte hot, adm, o, bb[QM], bn, sl[NC], sn, i, k, c, r, tg, old, rc;
    bool stopped, gosleep, ov, dofree, wasidle;
    do
    :: atomic {
            /* hot_admit: runq_take, one exchange */
            runq[me] != 0 ->
            adm = runq[me];
            runq[me] = 0;
            o = 0;
            do
            :: o == NO -> break
            :: else ->
                if
                :: (adm >> o) & 1 -> assert(where[o] == W_RQ(me)); where[o] = W_HELD(me)
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
                if
                :: adm & 1 -> o = 0
                :: adm & 2 -> o = 1
                fi;
                adm = adm & ~BIT(o);
                if
                :: NHOT(hot) < hotmax -> hot = hot | BIT(o)
                :: else -> ov = 1
                fi
            };
            if
            :: ov -> run_overflow(o); ov = 0
            :: else -> skip
            fi;
            o = 0
        od
    :: atomic { (hot & 1) && mlen[0] > 0 -> o = 0; take(o); goto served }
    :: atomic { (hot & 2) && mlen[1] > 0 -> o = 1; take(o) };
served:
        /* hot_serve: has_mail and serve */
        run_taken(o);
        if
        :: stopped -> hot = hot & ~BIT(o); stopped = 0
        :: else -> skip
        fi;
        o = 0
    :: atomic { (hot & 1) && LET_GO_OK(0) -> LET_GO(0); hot = hot & ~1 }
    :: atomic { (hot & 2) && LET_GO_OK(1) -> LET_GO(1); hot = hot & ~2 }
    :: hot == 0 -> idle_wait()
    od
}

/* Makes its requests in order: enter (the in-flight count; a call's parker
 * and wake links are reset with it, being the caller's own), push, and for
 * a call, park, then wake its children in the reply's wake-up tree. */
proctype Caller(byte me)
{
    byte j, o, id, rc, tg, old, k;
    bool wasidle;
    do
    :: j == nreq[me] -> break
    :: j < nreq[me] && (freer != MSG(me, j) || begun[0] == calls_to[0]) ->
        /* (the freer frees owner 0 only once every request to it has
         * counted itself in: no thread may use the handle after
         * sw_owner_free) */
        o = OWNER_OF(me, j);
        id = MSG(me, j);
        atomic {
            assert(!freed[o]);
            if
            :: !IS_POST(me, j) -> pst[me] = P_EMPTY; wl[me * 2] = 0; wl[me * 2 + 1] = 0
            :: else -> skip
            fi;
            inflight[o]++;
            begun[o]++
        };
        mailbox_push(o, id, 0);
        if
        :: rc == ECLOSED ->
            /* leave */
            atomic { assert(!freed[o]); inflight[o]--; WITNESS_IF(2, !IS_POST(me, j)) }
        :: rc == OK && IS_POST(me, j) -> skip
        :: rc == OK && !IS_POST(me, j) ->
            park();
            k = 0;
            do
            :: k == 2 -> break
            :: else ->
                if
                :: wl[me * 2 + k] != 0 ->
                    atomic {
                        WITNESS_IF(9, fw[wl[me * 2 + k] - 1]);
                        FUTEX_WAKE_PARKER(wl[me * 2 + k] - 1)
                    }
                :: else -> skip
                fi;
                k++
            od;
            k = 0;
            /* the reply: our own request ran, once, before it */
            assert(ran[id] == 1)
        fi;
        rc = 0;
        o = 0;
        id = 0;
        j++
    od
}

/* sw_owner_stop, then sw_owner_free, from an ordinary thread: request_stop
 * pushes STOP with CLOSED (STOP_CLAIMED, with one stopper, is a word that
 * no one else reads: it joins the step), then the stopper parks until
 * finish_stop, and release_owner waits for the callers still inside
 * (BUG_FREE: does not) before the memory goes. me is NC. */
proctype Stopper(byte me; byte o)
{
    byte rc, tg, old, k;
    bool wasidle;
    mailbox_push(o, STOPID, 1);
    assert(rc == OK);
    park();
    /* every request queued before STOP ran before the stop was done */
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
    /* sw_owner_free: no thread may use the handle once it is called, so
     * the model calls it once every request to o has counted itself in */
    begun[o] == calls_to[o];
    release_owner(o)
}

/* ---- the configurations (OWNER_CFG) ----
 * ops per caller: request j's owner at bit 2j, post at bit 2j + 1. */
#define CALL(o) (o)
#define POST(o) ((o) | 2)
#define REQS(a, b) ((a) | ((b) << 2))

init
{
    byte c, j, k;
    bool stopper;
    c_code {
        char *e = getenv("OWNER_CFG"), *b = getenv("OWNER_BUG"), *w = getenv("OWNER_WITNESS");
        now.cfg = e ? atoi(e) : 1;
        now.bug = b ? atoi(b) : 0;
        now.witness = w ? atoi(w) : 0;
    };
    atomic {
        npool = 2;
        hotmax = 2;
        treemax = 2;
        idle[0] = 1;
        idle[1] = 1;
        if
        :: cfg == 1 ->
            /* calls: two callers, two calls each, on both owners */
            ops[0] = REQS(CALL(0), CALL(0)); nreq[0] = 2;
            ops[1] = REQS(CALL(0), CALL(1)); nreq[1] = 2
        :: cfg == 2 ->
            /* overflow: one owner per hot set, so a second one runs as
             * overflow while posts keep coming to it */
            hotmax = 1;
            ops[0] = REQS(CALL(0), CALL(1)); nreq[0] = 2;
            ops[1] = REQS(POST(1), POST(1)); nreq[1] = 2
        :: cfg == 3 ->
            /* tree: three callers sleep on one owner (a tree of two, one
             * unparked directly), and one signal may wake any of them */
            npool = 1;
            ops[0] = CALL(0); nreq[0] = 1;
            ops[1] = CALL(0); nreq[1] = 1;
            ops[2] = CALL(0); nreq[2] = 1;
            signals = 1
        :: cfg == 4 ->
            /* posts: a post, then a call, which must find the post run */
            ops[0] = REQS(POST(0), CALL(0)); nreq[0] = 2;
            ops[1] = REQS(POST(1), CALL(0)); nreq[1] = 2
        :: cfg == 5 ->
            /* stop: a stop and free of owner 0 racing calls and a post */
            npool = 1;
            ops[0] = REQS(CALL(0), CALL(0)); nreq[0] = 2;
            ops[1] = POST(0); nreq[1] = 1;
            stopper = 1;
            stopwait[0] = 1
        :: cfg == 6 ->
            /* free from a pool thread: an owner function of owner 1 frees
             * owner 0 while calls to it race the stop */
            ops[0] = REQS(CALL(0), CALL(0)); nreq[0] = 2;
            ops[1] = POST(1); nreq[1] = 1;
            freer = MSG(1, 0)
        fi;
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
        /* every message pushed ran, once; nothing is queued */
        k = 1;
        do
        :: k == STOPID -> break
        :: else -> assert(ran[k] == pushed[k]); k++
        od;
        k = 0;
        do
        :: k == NO -> break
        :: else ->
            assert(mlen[k] == 0 && inflight[k] == 0);
            assert(!closed[k] || freed[k]); /* a stopped owner was freed */
            assert(where[k] == W_GONE || where[k] == W_NONE && idle[k]);
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
