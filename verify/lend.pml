/* A Promela model of how stewardd's shards are run and woken: the
 * "Wake-ups" and "Lending" paragraphs of src/server/server.h, as
 * shard_wait, shard_main and srv_lend in src/server/loop.c and
 * inbox_push_quiet, route_serve_inbox and route_send_replies in
 * src/server/route.c run them (commit 3c6959f). A shard is run by whoever
 * holds its `turn` mutex: its own thread, for each of its turns, or a
 * thread whose push found the shard asleep and that took the mutex with
 * trylock (a lender). tools/verify.sh checks it exhaustively with spin;
 * docs/verification.md says what it covers and what it leaves out.
 *
 * The protocol, each inline named after the function it stands for:
 *  - the shard's own thread (Shard: shard_main, shard_wait, shard_turn)
 *    holds `turn` for each turn. Before it sleeps in epoll_wait it
 *    computes its timeout (0 while the shard is busy: messages set aside,
 *    a client's reply to write); with a timeout it stores sleeping = 1 and
 *    then looks at its inbox (both seq_cst), and a message there makes the
 *    timeout 0. It lets `turn` go, sleeps in epoll_wait until its eventfd
 *    is written (or the timeout passes), takes `turn` again, stores
 *    sleeping = 0, and runs a turn: it takes its whole inbox and handles
 *    every message, PAUSE included, sends what they produced (lending in
 *    turn), writes its clients' replies.
 *  - a pusher (Pusher; answer: inbox_push_quiet) pushes a message onto a
 *    shard's inbox (one CAS), then loads `sleeping`; if it is 1 and its
 *    exchange of 0 returns 1, the pusher answers for the shard: it lends
 *    itself (srv_lend, as send_exec and route_send_replies do), or, for a
 *    PAUSE, writes the eventfd (srv_wake, as world_enter does).
 *  - srv_lend (LEND): with appendfsync always, or when trylock of `turn`
 *    fails, the eventfd write. Else rounds: take the inbox and handle it
 *    up to a PAUSE, which stays set aside for the shard's own thread
 *    (serve: route_serve_inbox), then send what the round produced to the
 *    other shard, lending to it in turn, nested (send_a, send_b:
 *    route_send_replies); if the shard is now busy, the lender will wake
 *    the shard; else it stores sleeping = 1 and looks at the inbox, and
 *    when the look finds a message and its exchange of sleeping to 0
 *    returns 1, another round, or, after round LEND_ROUNDS, it will wake
 *    the shard for it; else it stops. Then it lets `turn` go, and writes
 *    the eventfd if it decided to wake the shard.
 *
 * Why no wake-up is lost. A shard is asleep only when `sleeping` is 1:
 * whoever holds `turn` and is about to stop running it (its thread before
 * epoll_wait, a lender at the end of a round) stores sleeping = 1 and
 * only then looks at the inbox; a pusher pushes and only then loads
 * `sleeping`. Both are sequentially consistent, so of a push and a look
 * one comes first: either the look sees the message (the thread sleeps
 * with timeout 0, the lender goes on), or the pusher sees the flag. The
 * exchange of 0 then picks exactly one of those who saw it (the holder's
 * own exchange, after a look that found a message, among them) to answer
 * for the shard: the holder goes on, or the pusher takes `turn` and serves
 * the inbox itself, which it can do only once the holder has let go, or,
 * when trylock fails, writes the eventfd, which makes the thread's next
 * epoll_wait return, whenever that comes. (The holder it failed against
 * is the thread itself, or a lender at the end of a round, whose flag the
 * pusher took: that lender's look came before the push, or its exchange
 * lost to the pusher's, and either way it stops and leaves the message to
 * the thread.) While `sleeping` is 0 the shard is not asleep:
 * its thread or a lender holds `turn` and will look at the inbox before
 * it lets go, or the thread is on its way to a turn, or whoever cleared
 * the flag answers for it. A lender that stops with work for the thread
 * (a PAUSE set aside, a reply to write, its rounds used up) leaves
 * `sleeping` at 0 and writes the eventfd after it lets go, and the
 * thread's turn takes whatever came meanwhile. The order of the store and
 * the look is what matters, on either side (BUG_THREAD_LOOK_FIRST,
 * BUG_LEND_LOOK_FIRST, BUG_NO_RECHECK); an early store only makes a
 * pusher answer for a shard still held, which costs an eventfd write
 * (LEND_EARLY_SLEEP, no bug).
 *
 * Why no deadlock. A thread waits for a `turn` mutex only as the shard's
 * own thread back from epoll_wait, and then it holds no mutex: not its
 * own, which is the one it waits for, and no other, since it lends only
 * during its turn and lets go of what it lent itself to before its turn
 * ends. A lender holds its own shard's `turn` (a shard thread in its
 * turn) and the shards it lends itself to, nested, but takes each with
 * trylock and never waits. So no thread waits while holding a mutex, and
 * no cycle of waits can form. In the model even a blocking lock would not
 * deadlock: a shard is seen asleep only while its holder lets go without
 * waiting for anything. The trylock is for what the model leaves out, a
 * turn that waits: a PAUSE's handling waits for the world holder, who
 * waits for every other shard's PAUSE, the lender's own among them.
 *
 * What is checked:
 *  - every message pushed is handled, exactly once, in push order per
 *    pusher (and per shard, for the messages one shard sends another):
 *    each handling asserts that the message is the next of its stream
 *    (`mseq[m] == nexts[mst[m]]`); at the end, once every pusher is done
 *    and every shard thread sleeps in epoll_wait with no timeout and its
 *    eventfd unwritten, every stream's messages have all been handled
 *    (`nexts[s] == nsent[s]`), no client's reply is left unwritten
 *    (`!flush[s]`), and no inbox or set-aside list holds a message. The
 *    shard's timeout is infinite here, so a lost wake-up shows as a
 *    message never handled (in the code the cron's timeout would hide it
 *    for up to 1/hz s). A thread stuck on a mutex is an invalid end state.
 *  - one runner at a time: `inside[s]` counts the threads running shard s
 *    (the thread from its lock to its unlock, a lender from its trylock to
 *    its unlock); every take and every handling asserts it is 1.
 *  - a PAUSE is handled only by its shard's own thread.
 *
 * The model: one shard, or two, each with its thread, whose messages make
 * it send one to the other; two or three pushers, each pushing up to three
 * messages to its shard, one at a time: plain ones, PAUSEs, replies to a
 * client of the shard, messages to send on. Steps: each access to a word
 * shared outside `turn` (the inbox, `sleeping`, `turn`, the eventfd) is a
 * step of its own; what `turn` guards (the set-aside list, the handling,
 * the out-queue, `flush`) joins a neighbouring step, taking `turn` the
 * step after it and letting it go the step before it (Lipton's
 * reduction: no interleaving is lost). The thread's read of the eventfd
 * shares the step of its store of sleeping = 0, and a depth-C lend's
 * failed trylock its eventfd write; each place says why nothing is lost.
 * The eventfd is a flag (its counter not 0): epoll_wait returns when it
 * is set, or at once with timeout 0, and reports it if it is set then;
 * the thread reads it (clears it) once it holds `turn` again. In pan's
 * environment LEND_CFG picks the configuration, LEND_BUG a deliberately
 * broken variant (which the checks must catch), LEND_WITNESS a path the
 * configuration must reach; LEND_EARLY_SLEEP=1 a variant that is no bug
 * (below), which the checks must pass.
 */

#define NSH 2 /* shards, at most */
#define NP 3  /* pushers, at most */
#define NJ 3  /* messages per pusher, at most */
#define QM 8  /* room in an inbox, a set-aside list, an out-queue */
/* Message ids: pusher p's j-th is p * NJ + j + 1; the message its
 * handling sends to the other shard (M_FWD) is that + NP * NJ. */
#define NM (2 * NP * NJ + 1)
#define FWD_OF(m) ((m) + NP * NJ)
/* The streams whose order is checked: each pusher's; each shard's
 * messages to the other. */
#define NST (NP + NSH)

/* What handling a message does. */
#define M_PLAIN 0 /* runs on whoever runs the shard (an EXEC, a lock's messages) */
#define M_PAUSE 1 /* only the shard's own thread handles it: a lender stops before it */
#define M_REPLY 2 /* leaves a reply for a client of the shard: its thread writes it (flush) */
#define M_FWD 3   /* sends a message to the other shard (a part's READY, an EXEC's reply) */

/* The broken variants (LEND_BUG). */
#define BUG_NO_RECHECK 1        /* a lender stores sleeping = 1 and stops, without looking at the inbox again */
#define BUG_THREAD_LOOK_FIRST 2 /* the shard thread looks at the inbox, then stores sleeping = 1 */
#define BUG_PAUSE_NOWAKE 3      /* a lender that stops at a PAUSE does not wake the shard */
#define BUG_TRYLOCK_NOWAKE 4    /* a lender whose trylock fails does not write the eventfd */
#define BUG_NO_TRYLOCK 5        /* a lender runs the shard without `turn`: its exchange as its right */
#define BUG_SERVE_PAUSE 6       /* a lender handles a PAUSE too */
#define BUG_BUSY_REPLY 7        /* shard_busy leaves out the replies to write (sh->flush) */
#define BUG_LEND_LOOK_FIRST 8   /* a lender looks at the inbox, then stores sleeping = 1 */

/* LEND_EARLY_SLEEP=1: a lender stores sleeping = 1 before each round's
 * take instead of after the round, then looks and exchanges as before.
 * No bug: a pusher that sees the flag early answers for the shard, and
 * its trylock fails while the lender holds it, so it writes the eventfd
 * (a wake-up too many, none lost). The checks must pass. */
bool early;

/* The witnesses (LEND_WITNESS). */
#define W_LEND 1          /* a lender handles a message */
#define W_SECOND 2        /* a lender handles a message in its second round */
#define W_TRYLOCK_FAILS 3 /* a lender's trylock fails: it writes the eventfd */
#define W_PAUSE_LEFT 4    /* a lender stops at a PAUSE, leaving it to the thread, which it wakes */
#define W_ROUNDS_OUT 5    /* a lender stops after LEND_ROUNDS rounds, a message left, and wakes the shard */
#define W_PUSHER_ANSWERS 6 /* a lender's look finds a message, and its pusher's exchange won */
#define W_NESTED 7        /* a lender lends, nested, to the other shard */
#define W_THREAD_LENDS 8  /* a shard thread, in its turn, lends to the other shard */
#define W_LOOK_SEES 9     /* the thread's look after sleeping = 1 finds a message: timeout 0 */
#define W_THREAD_WAITS 10 /* the thread, back from epoll_wait, waits for `turn` held by a lender */
#define W_REPLY_WAKE 11   /* a lender wakes the shard for a client's reply */
#define W_TRYLOCK_LENDER 12 /* a lender's trylock fails on a shard another lender holds */

#define WITNESS(n) assert(witness != (n))
#define WITNESS_IF(n, cond) assert(witness != (n) || !(cond))

byte cfg, bug, witness;

/* ---- the configuration, set before the run ---- */

byte nsh;         /* shards */
byte np;          /* pushers */
byte nj[NP];      /* messages pusher p pushes */
byte dst[NP];     /* the shard it pushes to */
byte mk[NM];      /* what handling message m does (M_...) */
byte mst[NM];     /* ghost: m's stream */
byte mseq[NM];    /* ghost: m's place in its stream */
byte nsent[NST];  /* ghost: the messages of each stream */
byte rounds;      /* LEND_ROUNDS (4 in the code) */
bool always;      /* appendfsync always: srv_lend only wakes */

/* ---- each shard: the words shared outside `turn` ---- */

byte inbox[NSH * QM]; /* sh->inbox: the Treiber stack and inbox_take's reversal, a FIFO */
byte inn[NSH];
bit sleeping[NSH];    /* sh->sleeping */
byte turn[NSH];       /* sh->turn: 0 free, else the holder's who + 1 */
bit efd[NSH];         /* sh->efd: the eventfd's counter is not 0 */

/* ---- guarded by `turn` ---- */

byte defq[NSH * QM]; /* sh->deferred: taken, not yet handled (a lender's PAUSE and what follows) */
byte dn[NSH];
byte oq[NSH * QM];   /* sh->outq to the other shard */
byte on[NSH];
bit flush[NSH];      /* sh->flush: a client's reply to write */
bit lent[NSH];       /* sh->lent: a lender runs it */

/* ---- ghosts ---- */

byte nexts[NST];   /* the next place due in each stream */
byte inside[NSH];  /* the threads running each shard */
bit asleep[NSH];   /* the thread is in epoll_wait with no timeout */

/* Who: shard thread s is s, pusher p is NSH + p; `turn` holds who + 1. */

/* shard_busy: work for the shard's own thread (messages set aside, a
 * reply to write; compaction and connections to retry are not modelled:
 * they count as a reply does). */
#define BUSY(s) (dn[s] > 0 || (flush[s] && bug != BUG_BUSY_REPLY))

/* Handles m on shard s, in round r of a lender (0 on the thread). */
inline handle(s, m, r)
{
    assert(inside[s] == 1);              /* one runner at a time */
    assert(mk[m] != M_PAUSE || me == s); /* a PAUSE on its own thread only */
    assert(mseq[m] == nexts[mst[m]]);    /* once each, in its stream's order */
    nexts[mst[m]]++;
    WITNESS_IF(W_LEND, lent[s]);
    WITNESS_IF(W_SECOND, lent[s] && r > 0);
    if
    :: mk[m] == M_REPLY -> flush[s] = 1
    :: mk[m] == M_FWD -> oq[(s) * QM + on[s]] = FWD_OF(m); on[s]++
    :: else -> skip
    fi
}

/* route_serve_inbox, in the step of its inbox_take: the inbox goes behind
 * the messages set aside, and they are handled in order; a lender stops
 * at a PAUSE, which stays set aside. Then whether there is anything to
 * send (snd). */
inline serve(s, r)
{
    assert(inside[s] == 1);
    i_ = 0;
    do
    :: i_ < inn[s] ->
        assert(dn[s] < QM);
        defq[(s) * QM + dn[s]] = inbox[(s) * QM + i_];
        inbox[(s) * QM + i_] = 0;
        dn[s]++;
        i_++
    :: else -> break
    od;
    inn[s] = 0;
    do
    :: dn[s] > 0 && mk[defq[(s) * QM]] == M_PAUSE && lent[s] && bug != BUG_SERVE_PAUSE ->
        WITNESS(W_PAUSE_LEFT);
        break
    :: dn[s] > 0 && !(mk[defq[(s) * QM]] == M_PAUSE && lent[s] && bug != BUG_SERVE_PAUSE) ->
        m_ = defq[(s) * QM];
        i_ = 1;
        do
        :: i_ < dn[s] -> defq[(s) * QM + i_ - 1] = defq[(s) * QM + i_]; i_++
        :: else -> break
        od;
        dn[s]--;
        defq[(s) * QM + dn[s]] = 0;
        handle(s, m_, r)
    :: dn[s] == 0 -> break
    od;
    snd = (on[s] > 0);
    i_ = 0;
    m_ = 0
}

/* inbox_push_quiet's CAS, for the chain of shard s's out-queue to the
 * other shard, t (route_send_replies), in the order it was sent. */
inline push_out(s, t)
{
    t = 1 - s;
    i_ = 0;
    do
    :: i_ < on[s] ->
        assert(inn[t] < QM);
        inbox[(t) * QM + inn[t]] = oq[(s) * QM + i_];
        inn[t]++;
        oq[(s) * QM + i_] = 0;
        i_++
    :: else -> break
    od;
    on[s] = 0;
    i_ = 0
}

/* inbox_push_quiet's answer, after its push: `sleeping` loaded, then
 * exchanged to 0 if it was 1; v is 1 if this thread answers for x. */
inline answer(x, v)
{
    v = sleeping[x];
    if
    :: v -> d_step { v = sleeping[x]; sleeping[x] = 0 }
    :: else -> skip
    fi
}

/* A lender lets go of x (its unlock; the ghosts). */
#define LET_GO(x)                                            \
    lent[x] = 0;                                             \
    inside[x]--;                                             \
    if                                                       \
    :: bug != BUG_NO_TRYLOCK -> assert(turn[x] == me + 1); turn[x] = 0 \
    :: else -> skip                                          \
    fi

/* srv_lend by `me` to shard x, at its depths: A (a pusher, or a shard
 * thread in its turn), B (nested in A), C (nested in B: with two shards,
 * a shard this thread holds, so its trylock fails). Each depth has its
 * own locals: g (got `turn`), r (the round), w (will wake), v (an
 * answer, a look), k (stop). LEND(x, SEND, D, g, r, w, v, k) is the
 * body, a macro (an inline cannot take another as a parameter); SEND is
 * the send of its rounds, to depth D + 1. */
#define LEND(x, SEND, D, g, r, w, v, k)                                                  \
    d_step {                                                                             \
        /* appendfsync always: the wake; else trylock (BUG_NO_TRYLOCK: not even that) */ \
        if                                                                               \
        :: always -> w = 1                                                               \
        :: !always && bug == BUG_NO_TRYLOCK -> g = 1                                     \
        :: !always && bug != BUG_NO_TRYLOCK && turn[x] == 0 -> turn[x] = me + 1; g = 1   \
        :: else ->                                                                       \
            WITNESS(W_TRYLOCK_FAILS);                                                    \
            WITNESS_IF(W_TRYLOCK_LENDER, lent[x]);                                       \
            /* its holder looks at the inbox before it lets go */                        \
            w = (bug != BUG_TRYLOCK_NOWAKE)                                              \
        fi;                                                                              \
        if                                                                               \
        :: g ->                                                                          \
            inside[x]++;                                                                 \
            lent[x] = 1;                                                                 \
            WITNESS_IF(W_THREAD_LENDS, me < NSH);                                        \
            WITNESS_IF(W_NESTED, D == 2)                                                 \
        :: else -> skip                                                                  \
        fi                                                                               \
    };                                                                                   \
    if                                                                                   \
    :: g ->                                                                              \
        do                                                                               \
        :: true ->                                                                       \
            if                                                                           \
            :: early_ -> sleeping[x] = 1                                                 \
            :: else -> skip                                                              \
            fi;                                                                          \
            d_step { serve(x, r) };                                                      \
            SEND(x);                                                                     \
            /* the shard busy, or the last round: stop, and wake it; else               \
             * asleep again (sleeping = 1), then the look */                             \
            d_step {                                                                     \
                if                                                                       \
                :: BUSY(x) && !(bug == BUG_PAUSE_NOWAKE && dn[x] > 0) ->                 \
                    WITNESS_IF(W_REPLY_WAKE, flush[x]);                                  \
                    w = 1;                                                               \
                    k = 1                                                                \
                :: bug == BUG_PAUSE_NOWAKE && dn[x] > 0 -> k = 1                         \
                :: else ->                                                               \
                    if                                                                   \
                    :: bug == BUG_NO_RECHECK -> sleeping[x] = 1; k = 1                   \
                    :: early || bug == BUG_LEND_LOOK_FIRST -> skip                       \
                    :: else -> sleeping[x] = 1                                           \
                    fi                                                                   \
                fi;                                                                      \
                if                                                                       \
                :: k -> LET_GO(x)                                                        \
                :: else -> skip                                                          \
                fi                                                                       \
            };                                                                           \
            if                                                                           \
            :: k -> break                                                                \
            :: else -> skip                                                              \
            fi;                                                                          \
            d_step {                                                                     \
                v = (inn[x] > 0);                                                        \
                if                                                                       \
                :: !v && bug != BUG_LEND_LOOK_FIRST -> LET_GO(x); k = 1                  \
                :: else -> skip                                                          \
                fi                                                                       \
            };                                                                           \
            if                                                                           \
            :: lookfirst -> d_step { sleeping[x] = 1; if :: !v -> LET_GO(x); k = 1 :: else -> skip fi } \
            :: else -> skip                                                              \
            fi;                                                                          \
            if                                                                           \
            :: k -> break                                                                \
            :: else -> skip                                                              \
            fi;                                                                          \
            d_step {                                                                     \
                v = sleeping[x];                                                         \
                sleeping[x] = 0;                                                         \
                if                                                                       \
                :: !v -> WITNESS(W_PUSHER_ANSWERS); LET_GO(x); k = 1                     \
                :: v && r + 1 == rounds -> /* its rounds used up: the thread's */          \
                    WITNESS(W_ROUNDS_OUT);                                               \
                    w = 1;                                                               \
                    LET_GO(x);                                                           \
                    k = 1                                                                \
                :: else -> r++                                                           \
                fi                                                                       \
            };                                                                           \
            if                                                                           \
            :: k -> break                                                                \
            :: else -> skip                                                              \
            fi                                                                           \
        od;                                                                              \
        g = 0;                                                                           \
        r = 0;                                                                           \
        v = 0;                                                                           \
        k = 0                                                                            \
    :: else -> skip                                                                      \
    fi;                                                                                  \
    if                                                                                   \
    :: w -> efd[x] = 1; w = 0 /* srv_wake */                                             \
    :: else -> skip                                                                      \
    fi

/* Depth C: with two shards, the one it sends to is held by this thread,
 * its trylock fails (and no other thread can let it go meanwhile: the
 * failed trylock and the eventfd write are one step). */
inline lend_c(x)
{
    d_step {
        assert(turn[x] != 0 || bug == BUG_NO_TRYLOCK);
        WITNESS(W_TRYLOCK_FAILS);
        if
        :: bug != BUG_TRYLOCK_NOWAKE -> efd[x] = 1
        :: else -> skip
        fi
    }
}

/* route_send_replies from shard s at each depth: the push of its
 * out-queue's chain, the answer, and the lend one depth deeper. */
inline send_c(s)
{
    if
    :: snd ->
        snd = 0;
        d_step { push_out(s, tc) };
        answer(tc, vc);
        if
        :: vc -> vc = 0; lend_c(tc)
        :: else -> skip
        fi
    :: else -> skip
    fi
}

inline lend_b(x)
{
    LEND(x, send_c, 2, gb, rb, wb, vb, kb)
}

inline send_b(s)
{
    if
    :: snd ->
        snd = 0;
        d_step { push_out(s, tb) };
        answer(tb, vb);
        if
        :: vb -> vb = 0; lend_b(tb)
        :: else -> skip
        fi
    :: else -> skip
    fi
}

inline lend_a(x)
{
    LEND(x, send_b, 1, ga, ra, wa, va, ka)
}

inline send_a(s)
{
    if
    :: snd ->
        snd = 0;
        d_step { push_out(s, ta) };
        answer(ta, va);
        if
        :: va -> va = 0; lend_a(ta)
        :: else -> skip
        fi
    :: else -> skip
    fi
}

/* ---- the threads ---- */

/* The locals of srv_lend at each depth, and of its variants: what a
 * thread that pushes (and so may lend) needs. early_ and lookfirst are
 * local copies of two variants, so that their extra steps are tests of
 * local words (partial-order reduction keeps those cheap). */
#define LENDER_LOCALS                                 \
    byte i_, m_;                                      \
    bit snd, ga, wa, va, ka, gb, wb, vb, kb, vc;      \
    byte ra, rb, ta, tb, tc;                          \
    bit early_ = early;                               \
    bit lookfirst = (bug == BUG_LEND_LOOK_FIRST)

/* A shard's own thread (shard_main): it holds `turn` from the start. */
proctype Shard(byte me)
{
    LENDER_LOCALS;
    bit inf, rep;
    do
    :: /* shard_wait: the timeout (after the turn before, which ended
        * with conn_flush_all), then sleeping = 1, the look, and the
        * unlock; BUG_THREAD_LOOK_FIRST looks first */
        d_step {
            flush[me] = 0;
            inf = !BUSY(me);
            if
            :: inf && bug != BUG_THREAD_LOOK_FIRST -> sleeping[me] = 1
            :: inf && bug == BUG_THREAD_LOOK_FIRST && inn[me] > 0 -> inf = 0
            :: else -> skip
            fi
        };
        d_step {
            if
            :: inf && bug != BUG_THREAD_LOOK_FIRST && inn[me] > 0 -> inf = 0; WITNESS(W_LOOK_SEES)
            :: inf && bug == BUG_THREAD_LOOK_FIRST -> sleeping[me] = 1
            :: else -> skip
            fi;
            asleep[me] = inf;
            inside[me]--;
            turn[me] = 0
        };
        /* epoll_wait: until the eventfd is written, or at once with
         * timeout 0, reporting the eventfd if it is set */
end_wait:
        d_step {
            efd[me] || !inf ->
            rep = efd[me];
            asleep[me] = 0;
            inf = 0;
            WITNESS_IF(W_THREAD_WAITS, turn[me] != 0)
        };
        /* turn again, sleeping = 0, and shard_events' read of the
         * eventfd: one step, since a write between them would be read
         * all the same, and the turn that follows takes its message */
        d_step {
            turn[me] == 0 ->
            turn[me] = me + 1;
            inside[me]++;
            sleeping[me] = 0;
            if
            :: rep -> efd[me] = 0
            :: else -> skip
            fi;
            rep = 0
        };
        /* shard_turn: the inbox, the sends */
        d_step { serve(me, 0) };
        send_a(me)
    od
}

/* A thread that pushes its messages to shard dst[p], one at a time: a
 * PAUSE as world_enter does (srv_wake), the others as send_exec and
 * route_send_replies do (srv_lend). */
proctype Pusher(byte p)
{
    LENDER_LOCALS;
    byte me = NSH + p, d = dst[p], n = nj[p], j;
    bit v, pause;
    do
    :: j < n ->
        d_step {
            assert(inn[d] < QM);
            m_ = p * NJ + j + 1;
            inbox[d * QM + inn[d]] = m_;
            inn[d]++;
            pause = (mk[m_] == M_PAUSE);
            m_ = 0
        };
        answer(d, v);
        if
        :: v && pause -> efd[d] = 1
        :: v && !pause -> lend_a(d)
        :: else -> skip
        fi;
        v = 0;
        pause = 0;
        j++
    :: else -> break
    od
}

/* ---- the run ---- */

/* Pusher p's j-th message is of kind k. */
#define MSG(p, j, k) nj[p] = (j) + 1; mk[(p) * NJ + (j) + 1] = (k)

init
{
    byte p, j, s, m;
    c_code {
        char *e = getenv("LEND_CFG"), *b = getenv("LEND_BUG"), *w = getenv("LEND_WITNESS"),
             *y = getenv("LEND_EARLY_SLEEP");
        now.cfg = e ? atoi(e) : 1;
        now.bug = b ? atoi(b) : 0;
        now.witness = w ? atoi(w) : 0;
        now.early = y && atoi(y);
    };
    atomic {
        nsh = 1;
        np = 2;
        rounds = 2;
        if
        :: cfg == 1 ->
            /* lend-two: two pushers of two messages each */
            MSG(0, 0, M_PLAIN); MSG(0, 1, M_PLAIN);
            MSG(1, 0, M_PLAIN); MSG(1, 1, M_PLAIN)
        :: cfg == 2 ->
            /* lend-three: three pushers of a message each (two lenders
             * and a pusher whose trylock fails against one) */
            np = 3;
            MSG(0, 0, M_PLAIN);
            MSG(1, 0, M_PLAIN);
            MSG(2, 0, M_PLAIN)
        :: cfg == 3 || cfg == 5 ->
            /* lend-pause: a PAUSE between two messages, beside two
             * messages; lend-always: the same with appendfsync always */
            MSG(0, 0, M_PLAIN); MSG(0, 1, M_PAUSE); MSG(0, 2, M_PLAIN);
            MSG(1, 0, M_PLAIN); MSG(1, 1, M_PLAIN);
            always = (cfg == 5)
        :: cfg == 4 ->
            /* lend-reply: a reply for a client of the shard, beside two
             * messages */
            MSG(0, 0, M_REPLY); MSG(0, 1, M_PLAIN);
            MSG(1, 0, M_PLAIN); MSG(1, 1, M_PLAIN)
        :: cfg == 6 ->
            /* lend-rounds: the code's LEND_ROUNDS, three pushers of two
             * messages each: while one lends, the others' four can come
             * one round after another, and a fifth after the last */
            rounds = 4;
            np = 3;
            MSG(0, 0, M_PLAIN); MSG(0, 1, M_PLAIN);
            MSG(1, 0, M_PLAIN); MSG(1, 1, M_PLAIN);
            MSG(2, 0, M_PLAIN); MSG(2, 1, M_PLAIN)
        :: cfg == 7 ->
            /* lend-shards: two shards; a pusher to each, whose message
             * makes its shard send one to the other */
            nsh = 2;
            dst[1] = 1;
            MSG(0, 0, M_FWD);
            MSG(1, 0, M_FWD)
        :: cfg == 8 ->
            /* lend-shards-more: as 7, and a second message to shard 1 */
            nsh = 2;
            dst[1] = 1;
            MSG(0, 0, M_FWD);
            MSG(1, 0, M_FWD); MSG(1, 1, M_PLAIN)
        fi;
        /* the streams: each pusher's, and each shard's to the other */
        p = 0;
        do
        :: p < np ->
            j = 0;
            do
            :: j < nj[p] ->
                m = p * NJ + j + 1;
                mst[m] = p;
                mseq[m] = j;
                nsent[p]++;
                if
                :: mk[m] == M_FWD ->
                    mst[FWD_OF(m)] = NP + dst[p];
                    mseq[FWD_OF(m)] = nsent[NP + dst[p]];
                    nsent[NP + dst[p]]++
                :: else -> skip
                fi;
                j++
            :: else -> break
            od;
            p++
        :: else -> break
        od;
        s = 0;
        do
        :: s < nsh -> turn[s] = s + 1; inside[s] = 1; run Shard(s); s++
        :: else -> break
        od;
        p = 0;
        do
        :: p < np -> run Pusher(p); p++
        :: else -> break
        od
    }

    /* Every pusher done, and every shard thread asleep for good: in
     * epoll_wait with no timeout and its eventfd unwritten. Otherwise (a
     * thread stuck on `turn`) an invalid end state. */
    (_nr_pr == 1 + nsh && asleep[0] && !efd[0] && (nsh < 2 || asleep[1] && !efd[1]));
    d_step {
        s = 0;
        do
        :: s < nsh ->
            assert(!flush[s]); /* no reply left unwritten */
            assert(inside[s] == 0 && turn[s] == 0);
            s++
        :: else -> break
        od;
        s = 0;
        do
        :: s < NST -> assert(nexts[s] == nsent[s]); s++ /* every message handled */
        :: else -> break
        od;
        assert(inn[0] == 0 && dn[0] == 0 && inn[1] == 0 && dn[1] == 0)
    }
}
