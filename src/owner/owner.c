/* Owners: serialization domains. A request runs on whichever thread holds
 * the owner: the caller itself when the owner is free, else the thread that
 * holds it, which combines the queued requests into one batch.
 *
 * DESIGN
 *
 * The word. Each owner has one mailbox word: a Treiber stack of queued
 * messages whose low bits carry two flags, FREE (nobody holds the owner;
 * then the stack is empty) and CLOSED (stop has been requested; nothing more
 * may be pushed). One CAS on it takes a free owner, or pushes a message
 * onto a held one; whoever turns FREE off holds the owner. Holding is what
 * makes requests run one at a time: only the holder runs them, and the next
 * holder sees all it did (it takes the owner with acquire after the last
 * one let go, or handed over, with release).
 *
 * Calls. sw_owner_call on a free owner takes it (one CAS), runs fn on the
 * caller's thread and, if nothing was queued meanwhile, lets it go (one
 * CAS from "held, empty" to FREE). On a held owner the caller pushes its
 * message, which lives on its stack with its parker as the reply slot (a
 * completion can only reach the thread that asked), and waits: spinning
 * briefly, then on its own futex. If the push finds the owner FREE after
 * all, the pusher holds it, its own message queued, and serves it. A caller
 * that finds the owner held queues at once: spinning first for it to come
 * free, as a mutex's barging does (64 to 1024 pauses), measured 0.6-0.9x
 * of queueing with 2 to 64 clients on 2 cores (2026-12-05).
 *
 * Combining. The holder, once its own request has run, takes the mailbox
 * (one atomic), reverses it into arrival order and runs every message of
 * it, and again while more has come, as one batch: then batch_end (group
 * commit), then the replies. So batch_end runs once per batch, before any
 * caller of the batch is answered, whoever holds the owner. The holder
 * keeps going while mail keeps coming, up to HOLD_MAX requests; then it
 * hands the owner over with the next taken batch (handover): to the oldest
 * waiting caller in it, who runs the batch as the new holder and then goes
 * on as one, or, if the batch holds no call (posts only), to a pool
 * thread. The taken batch travels in `pending`, a field only the holder
 * touches.
 *
 * Posts. A post never runs inside sw_owner_post: a post that finds the
 * owner free pushes its message, which makes it the holder, and passes the
 * owner at once to a pool thread (its run queue). Later, whoever holds the
 * owner runs it, the poster too if it then holds the owner for a call of
 * its own. Its message comes from a fixed set of nodes per pool thread
 * (SW_OWNER_POST_LIMIT of them): that bounds posts.
 *
 * Inside fn. A depth counts the owner functions (and batch_end hooks)
 * running on this thread, or in this task (sw__local: a task that blocks
 * inside fn takes its depth along). At depth > 0 sw_owner_call is
 * refused (a holder waiting for another owner could deadlock with it),
 * posts never wait for room, and stop and free complete asynchronously: a
 * stop that finds the owner free passes it to a pool thread.
 *
 * Stop. sw_owner_stop pushes the owner's embedded STOP message and sets
 * CLOSED in the same CAS, so STOP is the last message ever queued and runs
 * after everything queued before. A stopper that finds the owner free holds
 * it and runs STOP itself; otherwise the holder runs it in a later batch.
 * Whoever runs STOP marks the owner STOP_DONE and wakes the stopper, and
 * touches the owner no more: the owner is never let go again.
 *
 * Free. The in-flight counter holds one count for the owner itself, from
 * start until it is freed and its stop is done, and one for every caller
 * and stopper from before its first touch of the owner (a poster: before
 * it waits for room) until it is done with it (a stopper: once the stop is
 * done). A caller that takes the owner counts itself out at once, since
 * holding is what keeps the owner alive (STOP can only run on a holder,
 * and nothing touches the owner after STOP); a queued caller is counted
 * out by the holder that takes its message; a caller that finds CLOSED
 * counts itself out as it backs out. Whoever drops the last
 * count frees the memory (unref), so a free never waits: a caller still
 * backing out, or a poster still waiting for room, frees the owner as it
 * leaves, and a caller that began before the free never touches freed
 * memory. Waiting callers read nothing of the owner: their sleep hint is a
 * word of a global table (g_hints).
 *
 * No lost wake-up. FREE is set only by the holder's CAS from "held and
 * empty", so a message pushed onto a held owner is always taken by its
 * holder. An owner passed to a pool thread is a job in its queue, which
 * the pool (src/task/sched.c) never loses: see its sleeping protocol.
 * Callers wait on their own parker (see sync.h).
 *
 * No deadlock. A thread waits only as a caller of one owner (holding
 * none: calls from owner functions are refused), or as a poster for room
 * (never at depth > 0), or as a stopper (ditto). A holder never waits for
 * another thread (wait_for_company only yields its CPU once).
 *
 * verify/owner.pml models this protocol (take, queue, combine, hand over,
 * release, stop while held, free) for spin; docs/verification.md says what
 * it checks. A change here that moves a shared access changes the model too.
 */
#define _GNU_SOURCE
#include "steward/owner.h"

#include <assert.h>
#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/sync.h"
#include "task/pool.h"
#include "owner/owner_int.h"

enum msg_kind { MSG_CALL, MSG_CALL_INLINE, MSG_POST, MSG_POST_HEAP, MSG_STOP };

/* A message: one cache line. A call's message lives on the caller's stack
 * with its reply slot and, for sw_owner_call_inline, its request inside:
 * the holder reads and writes only this line, and the caller spins on it,
 * so a combined small call moves one line to the holder's core and back. */
struct msg {
    struct msg *next; /* mailbox link: written by the pusher before its CAS */
    sw_owner_fn fn;
    uint32_t kind;    /* enum msg_kind */
    sw__parker reply; /* CALL, CALL_INLINE: the caller waits on it */
    union {
        void *arg;                             /* CALL, POST */
        unsigned char in[SW_OWNER_INLINE_MAX]; /* CALL_INLINE: the request */
    } u;
};
static_assert(sizeof(struct msg) == SW__CACHE_LINE, "a message is one cache line");

/* A call on the caller's stack: its message, then what only a caller that
 * waits needs. Both are written by the thread that answers it, before it
 * notifies the caller. */
struct call {
    struct msg m;
    /* Futex words of other sleeping callers that this caller must wake once
     * it is woken itself (see reply_all). */
    _Atomic uint32_t *wake[2];
    /* Set instead of an answer: this caller now holds the owner, and its
     * request is in the owner's `pending` batch (see handover). */
    bool handed;
};

static struct call *call_of(struct msg *m)
{
    return (struct call *)((char *)m - offsetof(struct call, m));
}

#define MB_FREE ((uintptr_t)1)
#define MB_CLOSED ((uintptr_t)2)
#define MB_FLAGS (MB_FREE | MB_CLOSED)

struct home;

struct sw_owner {
    /* Written by every caller and by the holder: one line. */
    alignas(SW__CACHE_LINE) _Atomic uintptr_t mailbox;
    _Atomic int64_t inflight;
    struct msg *pending;         /* holder only: a taken batch not yet run */
    struct sw__job job;          /* its link in a pool thread's job queue (schedule) */
    void *state;                 /* immutable */
    struct home *home;           /* immutable: where posts' nodes come from and run */
    _Atomic uint32_t *hint;      /* immutable: this owner's word in g_hints */
    sw_owner_batch_fn batch_end; /* immutable; may be NULL */
    unsigned last_batch;         /* holder only: the requests of the last committed batch */
    struct msg stop;             /* written once, by the thread that claimed STOP_CLAIMED */
    sw__parker *stop_reply;      /* with stop: the stopper's parker, or NULL */
    _Atomic uint32_t life;       /* LIFE_* bits */
};

#define LIFE_STOP_CLAIMED 1u /* one thread won the right to queue STOP */
#define LIFE_STOP_DONE 2u    /* a holder ran STOP */
#define LIFE_FREE_REQ 4u     /* sw_owner_free came from inside an owner function before STOP_DONE */

/* A pool thread as owners see it: where the posts of the owners homed
 * there run, and the nodes their messages come from. */
struct home {
    /* The post nodes: guarded by free_lock. */
    alignas(SW__CACHE_LINE) sw__lock free_lock;
    struct msg *free;
    uint32_t space_waiters;
    _Atomic uint32_t space_seq; /* futex for posters waiting for room */
    struct msg *nodes;          /* immutable: the SW_OWNER_POST_LIMIT pooled nodes */
    unsigned thread;            /* immutable: its pool thread */
};

struct homes {
    unsigned n;
    _Atomic unsigned next; /* round-robin homes */
    struct home *h;
};

static _Atomic(struct homes *) g_homes;
static pthread_mutex_t g_homes_mu = PTHREAD_MUTEX_INITIALIZER;

/* Owner functions and batch_end hooks running here, on this thread or in
 * this task (see DESIGN). */
static unsigned depth(void)
{
    return sw__local()->owner_depth;
}

static void depth_add(int d)
{
    sw__local()->owner_depth += (unsigned)d;
}

/* Sleep hints: the number of owners, among those that share the word, that
 * run a batch_end hook (an fsync, typically) now. Their waiting callers
 * then sleep rather than spin. A table that lives as long as the process,
 * so that a waiting caller may read its word after the owner is gone.
 * Owners share a word round robin: a commit on one makes the waiting
 * callers of the others on that word sleep too, which costs them only a
 * futex wake; 64 lines (4 KiB) keep that rare. */
#define HINT_SLOTS 64
static struct {
    alignas(SW__CACHE_LINE) _Atomic uint32_t n;
} g_hints[HINT_SLOTS];

/* The most requests one thread runs per holding before it hands the owner
 * over: a bound on how long a caller works for others. 4, 16, 64 and 256
 * measured alike on 2 cores (make bench, Db and C map under an owner, 2-64
 * clients, 2026-12-05); 1 halved the rate. 64 also keeps group commit's
 * batches whole for 64 writers. */
#define HOLD_MAX 64

/* Most sleeping callers one batch wakes through a tree; the rest are woken
 * one by one. As many as one holding runs (HOLD_MAX), in 512 bytes of the
 * holder's stack. */
#define WAKE_TREE_MAX 64

/* ---- allocation, with fault injection ---- */

static _Atomic long fail_after = -1;

void sw__owner_fail_alloc_after(long n)
{
    atomic_store_explicit(&fail_after, n, memory_order_relaxed);
}

static bool alloc_fails(void)
{
    return sw__fault_fires(&fail_after);
}

/* ---- the pool ---- */

/* Passes o, held by this thread, to its home pool thread, which runs its
 * pending batch (owner_job). */
static void schedule(sw_owner *o)
{
    /* Release (in the submit): publishes pending and everything the
     * holders of o did. */
    sw__pool_submit(o->home->thread, &o->job);
}

/* ---- the mailbox ---- */

/* What a push or a take found. */
enum entry {
    ENTRY_CLOSED, /* the owner is closed: nothing was pushed */
    ENTRY_QUEUED, /* pushed onto a held owner: its holder will run it */
    ENTRY_HOLDER  /* the owner was free: this thread holds it now */
};

/* Pushes m (with close: and closes the mailbox, which only STOP does). */
static enum entry mailbox_push(sw_owner *o, struct msg *m, uintptr_t close)
{
    uintptr_t old = atomic_load_explicit(&o->mailbox, memory_order_relaxed);
    do {
        if (old & MB_CLOSED)
            return ENTRY_CLOSED;
        m->next = (struct msg *)(old & ~MB_FLAGS);
        /* Release: the holder, which takes the mailbox with acquire, sees the
         * message. Acquire: finding FREE, we see all the last holder did. */
    } while (!atomic_compare_exchange_weak_explicit(&o->mailbox, &old, (uintptr_t)m | close,
                                                    memory_order_acq_rel, memory_order_relaxed));
    return (old & MB_FREE) ? ENTRY_HOLDER : ENTRY_QUEUED;
}

/* Takes o if it is free: the caller's fast path. */
static bool try_take(sw_owner *o)
{
    uintptr_t free = MB_FREE;
    /* Acquire: pairs with the release in let_go; we see all the last
     * holder did. */
    return atomic_compare_exchange_strong_explicit(&o->mailbox, &free, 0, memory_order_acquire,
                                                   memory_order_relaxed);
}

/* Lets o go if nothing is queued; false if mail came, and o is still ours. */
static bool let_go(sw_owner *o)
{
    uintptr_t empty = 0;
    /* Release: pairs with try_take's and mailbox_push's acquire. */
    return atomic_compare_exchange_strong_explicit(&o->mailbox, &empty, MB_FREE,
                                                   memory_order_release, memory_order_relaxed);
}

static bool has_mail(sw_owner *o)
{
    return (atomic_load_explicit(&o->mailbox, memory_order_relaxed) & ~MB_FLAGS) != 0;
}

/* Takes every queued message (leaving CLOSED, if set) and returns them in
 * arrival order; their callers are counted out of inflight now, while the
 * line is ours: after the replies, a caller's next request would be fighting
 * us for it. Early is safe: o cannot be freed while we hold it. */
static struct msg *take(sw_owner *o)
{
    /* Acquire: pairs with the release push of every message taken. */
    uintptr_t old = atomic_fetch_and_explicit(&o->mailbox, MB_CLOSED, memory_order_acquire);
    struct msg *lifo = (struct msg *)(old & ~MB_FLAGS), *fifo = NULL;
    int64_t taken = 0;
    while (lifo) {
        struct msg *next = lifo->next;
        taken += lifo->kind != MSG_STOP;
        lifo->next = fifo;
        fifo = lifo;
        lifo = next;
    }
    if (taken)
        atomic_fetch_sub_explicit(&o->inflight, taken, memory_order_relaxed);
    return fifo;
}

/* ---- post nodes ---- */

static struct msg *node_take(struct home *h, bool wait)
{
    sw__lock_acquire(&h->free_lock);
    for (;;) {
        struct msg *m = h->free;
        if (m) {
            h->free = m->next;
            sw__lock_release(&h->free_lock);
            return m;
        }
        if (!wait) {
            sw__lock_release(&h->free_lock);
            return NULL;
        }
        h->space_waiters++;
        uint32_t seq = atomic_load_explicit(&h->space_seq, memory_order_relaxed);
        sw__lock_release(&h->free_lock);
        sw__futex_wait(&h->space_seq, seq, -1);
        sw__lock_acquire(&h->free_lock);
        h->space_waiters--;
    }
}

/* Returns a list of pooled nodes (linked through next) in one lock hold. */
static void nodes_give(struct home *h, struct msg *first, struct msg *last)
{
    sw__lock_acquire(&h->free_lock);
    last->next = h->free;
    h->free = first;
    bool wake = h->space_waiters > 0;
    if (wake)
        atomic_fetch_add_explicit(&h->space_seq, 1, memory_order_relaxed);
    sw__lock_release(&h->free_lock);
    if (wake)
        sw__futex_wake(&h->space_seq, INT32_MAX);
}

/* ---- holding an owner ---- */

/* Drops one count of o's in-flight counter, and frees o if it was the
 * last: the owner's own count (dropped once it is freed and its stop is
 * done), or a caller's (dropped as it leaves). Whoever drops the last one
 * frees, so nobody waits for the others: a caller backing out, or a poster
 * waiting for room, just keeps o alive until it is out. */
static void unref(sw_owner *o)
{
    /* Acq_rel: whoever frees sees every other count's last touch of o. */
    if (atomic_fetch_sub_explicit(&o->inflight, 1, memory_order_acq_rel) == 1)
        free(o);
}

/* After STOP ran: wake the stopper, or free the owner if an owner function
 * asked for that meanwhile. This is the holder's last touch of the owner. */
static void finish_stop(sw_owner *o)
{
    sw__parker *reply = o->stop_reply;
    /* Acq_rel: publishes every effect of the owner's messages to whoever sees
     * STOP_DONE, and sees the FREE_REQ of an owner function. */
    uint32_t old = atomic_fetch_or_explicit(&o->life, LIFE_STOP_DONE, memory_order_acq_rel);
    if (reply)
        sw__unpark(reply); /* the stopper is counted in: o outlives this */
    if (old & LIFE_FREE_REQ)
        unref(o);
}

/* Completes the calls of one batch (linked through next). Callers still
 * spinning just see their parker notified. Sleeping callers need a futex
 * wake each, a syscall that would cost the holder a microsecond per caller;
 * instead they form a binary tree: the holder wakes the root, and each
 * woken caller wakes its two children (wait_answer), so the syscalls run in
 * parallel on the callers' own time. A caller found SLEEPING stays so until
 * notified (calls have no deadline), and children are notified before their
 * parents, so a parent woken early (spuriously) never wakes a child that is
 * not yet notified. */
static void reply_all(struct msg *calls)
{
    struct msg *sleepers[WAKE_TREE_MAX];
    size_t n = 0;
    for (struct msg *m = calls, *next; m; m = next) {
        next = m->next;
        if (n < WAKE_TREE_MAX &&
            atomic_load_explicit(&m->reply.state, memory_order_relaxed) == SW__PARK_SLEEPING)
            sleepers[n++] = m;
        else
            sw__unpark(&m->reply); /* our last touch of this caller's message */
    }
    for (size_t i = 0; i < n; i++)
        for (size_t c = 0; c < 2; c++)
            call_of(sleepers[i])->wake[c] =
                2 * i + 1 + c < n ? &sleepers[2 * i + 1 + c]->reply.state : NULL;
    if (n == 0)
        return;
    _Atomic uint32_t *root = &sleepers[0]->reply.state; /* read before the root may go */
    for (size_t i = n; i-- > 0;)
        /* Release: pairs with the caller's acquire in sw__park; publishes
         * wake[] and everything the owner function wrote. */
        atomic_store_explicit(&sleepers[i]->reply.state, SW__PARK_NOTIFIED, memory_order_release);
    sw__futex_wake(root, 1);
}

/* One batch being run: the calls to answer and the pooled nodes to give
 * back once it is committed. */
struct batch {
    unsigned ran;
    bool stopped; /* STOP ran: the owner is gone for this thread */
    struct msg *calls;
    struct msg *nodes, *nodes_last;
};

/* Runs the messages of list (arrival order) into b. self is the holder's
 * own call, which it does not answer (it is the caller). */
static void run_list(sw_owner *o, struct msg *m, const struct msg *self, struct batch *b)
{
    while (m) {
        struct msg *next = m->next;
        if (m->kind == MSG_STOP) {
            b->stopped = true; /* STOP is always the last message */
            return;
        }
        m->fn(o->state, m->kind == MSG_CALL_INLINE ? (void *)m->u.in : m->u.arg);
        b->ran++;
        if (m->kind == MSG_POST) {
            m->next = b->nodes;
            b->nodes = m;
            if (!b->nodes_last)
                b->nodes_last = m;
        } else if (m->kind == MSG_POST_HEAP) {
            free(m);
        } else if (m != self) {
            m->next = b->calls;
            b->calls = m;
        }
        m = next;
    }
}

/* Whether a batch much smaller than the last one should give the callers
 * answered last time a moment to queue again before it commits: yields
 * once, and returns true if mail came. Without it, the first writers back
 * from a commit start the next one with few others. Measured side by side
 * with the old pool-thread design (64 writers, appendfsync always, 2 CPUs,
 * 2026-12-05): 47-74K stores/s without, 68-87K with, the old 80-86K. A
 * lone writer never waits. */
static bool wait_for_company(sw_owner *o, const struct batch *b)
{
    if (b->ran * 4 > o->last_batch) /* a quarter: only a batch far below the last */
        return false;
    sched_yield();
    return has_mail(o);
}

/* Ends a batch: group commit, then the answers. */
static void end_batch(sw_owner *o, struct batch *b)
{
    if (o->batch_end && b->ran) {
        o->last_batch = b->ran;
        atomic_fetch_add_explicit(o->hint, 1, memory_order_relaxed);
        o->batch_end(o->state);
        atomic_fetch_sub_explicit(o->hint, 1, memory_order_relaxed);
    }
    reply_all(b->calls);
    if (b->nodes)
        nodes_give(o->home, b->nodes, b->nodes_last); /* pooled nodes come from the home */
}

/* Passes o, with list (taken, arrival order, not empty), to the oldest
 * waiting caller in list, or to a pool thread if list holds no call. */
static void handover(sw_owner *o, struct msg *list)
{
    o->pending = list;
    for (struct msg *m = list; m; m = m->next) {
        if (m->kind == MSG_CALL || m->kind == MSG_CALL_INLINE) {
            call_of(m)->handed = true;
            /* Release (in sw__unpark): publishes pending and the owner's state. */
            sw__unpark(&m->reply);
            return;
        }
    }
    schedule(o);
}

/* Runs what the mailbox holds into batch b while mail comes, STOP has not
 * run and the holding (ran requests before b) is under HOLD_MAX. */
static void take_more(sw_owner *o, struct batch *b, const struct msg *self, unsigned ran)
{
    while (!b->stopped && ran + b->ran < HOLD_MAX && has_mail(o))
        run_list(o, take(o), self, b);
}

/* Goes on holding o, with batch b begun (its requests run, not yet
 * committed): takes what the mailbox holds into it, batch by batch, until o
 * can be let go, STOP has run, or HOLD_MAX requests have run and o is
 * handed over. self: as for run_list. The caller is at depth + 1. */
static void hold_on(sw_owner *o, struct batch *b, const struct msg *self)
{
    unsigned ran = 0;
    for (;;) {
        take_more(o, b, self, ran);
        if (o->batch_end && !b->stopped && wait_for_company(o, b))
            take_more(o, b, self, ran);
        end_batch(o, b);
        if (b->stopped) {
            finish_stop(o);
            return;
        }
        ran += b->ran;
        if (let_go(o))
            return;
        struct msg *list = take(o);
        if (ran >= HOLD_MAX) {
            handover(o, list);
            return;
        }
        *b = (struct batch){0};
        run_list(o, list, self, b);
    }
}

/* Runs o's requests while this thread holds it: first list (arrival order;
 * may be NULL), then as hold_on. */
static void hold(sw_owner *o, struct msg *list, const struct msg *self)
{
    struct batch b = {0};
    depth_add(1);
    run_list(o, list, self, &b);
    hold_on(o, &b, self);
    depth_add(-1);
}

/* ---- the pool thread ---- */

/* A pool thread runs an owner passed to it (schedule), outside any task. */
static void owner_job(struct sw__job *job)
{
    sw_owner *o = (sw_owner *)((char *)job - offsetof(sw_owner, job));
    struct msg *list = o->pending;
    o->pending = NULL;
    hold(o, list, NULL); /* o may be freed, or requeued, here */
}

static int home_init(struct home *h, unsigned thread)
{
    h->nodes = alloc_fails() ? NULL : calloc(SW_OWNER_POST_LIMIT, sizeof(struct msg));
    if (!h->nodes)
        return SW_ENOMEM;
    for (size_t i = 0; i < SW_OWNER_POST_LIMIT; i++)
        h->nodes[i].next = i + 1 < SW_OWNER_POST_LIMIT ? &h->nodes[i + 1] : NULL;
    h->free = h->nodes;
    h->free_lock = (sw__lock)SW__LOCK_INIT;
    h->thread = thread;
    return SW_OK;
}

/* The homes, one per pool thread, on the pool (started if need be). */
static struct homes *homes_create(void)
{
    unsigned n = sw__pool_threads();
    struct homes *hs = alloc_fails() ? NULL : sw__alloc_lines(sizeof *hs);
    struct home *h = alloc_fails() ? NULL : sw__alloc_lines(n * sizeof *h);
    if (!hs || !h)
        goto fail;
    for (unsigned i = 0; i < n; i++)
        if (home_init(&h[i], i) != SW_OK)
            goto fail;
    if (sw__pool_start() != n) /* started last: a failure above starts no thread */
        goto fail;
    hs->n = n;
    hs->h = h;
    return hs;
fail:
    if (h)
        for (unsigned i = 0; i < n; i++)
            free(h[i].nodes);
    free(h);
    free(hs);
    return NULL;
}

static void homes_atfork_child(void)
{
    /* The child starts a fresh pool (src/task), and fresh homes on it. The
     * parent's stay allocated in the child, unused. */
    atomic_store(&g_homes, NULL);
    pthread_mutex_init(&g_homes_mu, NULL);
}

static struct homes *homes_get(void)
{
    struct homes *hs = atomic_load_explicit(&g_homes, memory_order_acquire);
    if (hs)
        return hs;
    static bool atfork_done;
    pthread_mutex_lock(&g_homes_mu);
    hs = atomic_load_explicit(&g_homes, memory_order_relaxed);
    if (!hs) {
        if (!atfork_done && pthread_atfork(NULL, NULL, homes_atfork_child) == 0)
            atfork_done = true;
        hs = homes_create();
        /* Release: pairs with the acquire load above. */
        atomic_store_explicit(&g_homes, hs, memory_order_release);
    }
    pthread_mutex_unlock(&g_homes_mu);
    return hs;
}

unsigned sw_owner_pool_size(void)
{
    struct homes *hs = homes_get();
    return hs ? hs->n : 0;
}

/* ---- the public calls ---- */

int sw_owner_start(sw_owner **out, void *state)
{
    return sw_owner_start_ex(out, state, NULL);
}

int sw_owner_start_ex(sw_owner **out, void *state, const sw_owner_options *opts)
{
    if (!out)
        return SW_EINVAL;
    *out = NULL;
    struct homes *p = homes_get();
    if (!p)
        return SW_EIO;
    sw_owner *o = alloc_fails() ? NULL : aligned_alloc(SW__CACHE_LINE, sizeof *o);
    if (!o)
        return SW_ENOMEM;
    unsigned i = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed);
    *o = (sw_owner){.state = state,
                    .batch_end = opts ? opts->batch_end : NULL,
                    .job = {.run = owner_job},
                    .home = &p->h[i % p->n],
                    .hint = &g_hints[i % HINT_SLOTS].n};
    atomic_init(&o->mailbox, MB_FREE);
    atomic_init(&o->inflight, 1); /* the owner's own count, until it is freed */
    atomic_init(&o->life, 0);
    *out = o;
    return SW_OK;
}

/* Counts the caller in before it touches anything else of the owner, so
 * that a free does not release the owner under it (see unref). Seq_cst:
 * ordered before the take or push. */
static void enter(sw_owner *o)
{
    atomic_fetch_add_explicit(&o->inflight, 1, memory_order_seq_cst);
}

static void leave(sw_owner *o)
{
    unref(o);
}

/* Waits for a queued call's answer. Returns true if the owner was handed
 * to us instead: we hold it, and our message is in its pending batch. */
static bool wait_answer(struct call *c, const _Atomic uint32_t *hint)
{
    sw__park_hint(&c->m.reply, -1, hint);
    if (c->handed)
        return true;
    /* Our part of the wake-up tree (see reply_all). */
    for (int i = 0; i < 2; i++)
        if (c->wake[i])
            sw__futex_wake(c->wake[i], 1);
    return false;
}

/* Queues the call c (its fn, kind and request set) and sees it run: by the
 * holder, or by this thread if it finds the owner free after all or is
 * handed it. Called counted in (enter). */
static int call_queued(sw_owner *o, struct call *c)
{
    sw__parker_init(&c->m.reply);
    c->wake[0] = c->wake[1] = NULL;
    c->handed = false;
    /* Read before the push: once our message has run, the owner may be
     * freed under us. */
    const _Atomic uint32_t *hint = o->hint;
    switch (mailbox_push(o, &c->m, 0)) {
    case ENTRY_CLOSED:
        leave(o);
        return SW_ECLOSED;
    case ENTRY_HOLDER:
        hold(o, NULL, &c->m); /* the holder's take counted us out */
        return SW_OK;
    case ENTRY_QUEUED:
        break;
    }
    if (wait_answer(c, hint)) {
        struct msg *list = o->pending;
        o->pending = NULL;
        hold(o, list, &c->m);
    }
    return SW_OK;
}

/* The fast path: takes a free owner and runs fn(state, arg) here; with no
 * batch_end and nothing queued meanwhile, that is all: two atomic
 * operations on the owner besides the in-flight count. */
static bool call_here(sw_owner *o, sw_owner_fn fn, void *arg, struct sw__local *l)
{
    if (!try_take(o))
        return false;
    leave(o); /* holding keeps o alive from here */
    l->owner_depth++;
    fn(o->state, arg);
    if (o->batch_end || !let_go(o)) {
        struct batch b = {.ran = 1};
        hold_on(o, &b, NULL);
    }
    l->owner_depth--;
    return true;
}

int sw_owner_call(sw_owner *o, sw_owner_fn fn, void *arg)
{
    struct sw__local *l = sw__local();
    if (!o || !fn || l->owner_depth)
        return SW_EINVAL;
    enter(o);
    if (call_here(o, fn, arg, l))
        return SW_OK;
    alignas(SW__CACHE_LINE) struct call c;
    c.m.fn = fn;
    c.m.kind = MSG_CALL;
    c.m.u.arg = arg;
    return call_queued(o, &c);
}

int sw_owner_call_inline(sw_owner *o, sw_owner_fn fn, void *req, size_t size)
{
    struct sw__local *l = sw__local();
    if (!o || !fn || l->owner_depth || size > SW_OWNER_INLINE_MAX || (!req && size))
        return SW_EINVAL;
    enter(o);
    if (call_here(o, fn, req, l))
        return SW_OK;
    alignas(SW__CACHE_LINE) struct call c;
    c.m.fn = fn;
    c.m.kind = MSG_CALL_INLINE;
    if (size)
        memcpy(c.m.u.in, req, size);
    int rc = call_queued(o, &c);
    if (rc == SW_OK && size)
        memcpy(req, c.m.u.in, size);
    return rc;
}

int sw_owner_post(sw_owner *o, sw_owner_fn fn, void *arg)
{
    if (!o || !fn)
        return SW_EINVAL;
    enter(o); /* before the wait for room, too: a free meanwhile waits for us */
    if ((atomic_load_explicit(&o->mailbox, memory_order_relaxed) & MB_CLOSED)) {
        leave(o);
        return SW_ECLOSED; /* cheap early out; the push checks again */
    }
    struct msg *m = node_take(o->home, depth() == 0);
    enum msg_kind kind = MSG_POST;
    if (!m) {
        m = alloc_fails() ? NULL : malloc(sizeof *m);
        kind = MSG_POST_HEAP;
        if (!m) {
            leave(o);
            return SW_ENOMEM;
        }
    }
    m->fn = fn;
    m->kind = kind;
    m->u.arg = arg;
    enum entry e = mailbox_push(o, m, 0);
    if (e == ENTRY_CLOSED) {
        struct home *home = o->home; /* o may be gone once we leave */
        leave(o);
        if (kind == MSG_POST)
            nodes_give(home, m, m);
        else
            free(m);
        return SW_ECLOSED;
    }
    if (e == ENTRY_HOLDER)
        schedule(o); /* never run inside the post; the pool thread's take counts us out */
    return SW_OK;
}

/* Queues STOP once, with done as the stopper's parker (NULL: nobody
 * waits); false if another thread did it. A stop that finds the owner free
 * runs it here, or, inside an owner function, passes it to the pool. */
static bool request_stop(sw_owner *o, sw__parker *done)
{
    if (atomic_fetch_or_explicit(&o->life, LIFE_STOP_CLAIMED, memory_order_acq_rel) &
        LIFE_STOP_CLAIMED)
        return false;
    o->stop = (struct msg){.kind = MSG_STOP};
    o->stop_reply = done;
    /* Cannot find CLOSED: only STOP closes. */
    if (mailbox_push(o, &o->stop, MB_CLOSED) == ENTRY_HOLDER) {
        if (depth())
            schedule(o);
        else
            hold(o, NULL, NULL);
    }
    return true;
}

static void wait_stop_done(sw_owner *o)
{
    /* Rare: a second stopper, or free after a stop from an owner function. */
    while (!(atomic_load_explicit(&o->life, memory_order_acquire) & LIFE_STOP_DONE)) {
        struct timespec ts = {0, 200000};
        nanosleep(&ts, NULL);
    }
}

/* A stopper, like a caller, is counted in while it touches the owner, so
 * that a free from an owner function meanwhile cannot release it under it. */
void sw_owner_stop(sw_owner *o)
{
    if (!o)
        return;
    enter(o);
    if (depth()) {
        request_stop(o, NULL); /* a holder finishes it */
    } else {
        sw__parker done;
        sw__parker_init(&done);
        if (request_stop(o, &done))
            sw__park(&done, -1);
        else
            wait_stop_done(o);
    }
    leave(o);
}

void sw_owner_free(sw_owner *o)
{
    if (!o)
        return;
    if (!depth()) {
        sw_owner_stop(o);
        unref(o); /* the owner's own count */
        return;
    }
    enter(o);
    request_stop(o, NULL);
    uint32_t old = atomic_fetch_or_explicit(&o->life, LIFE_FREE_REQ, memory_order_acq_rel);
    if (old & LIFE_STOP_DONE)
        unref(o); /* the owner's own count; else finish_stop drops it */
    leave(o);
}
