/* Owners: logical single-threaded objects on a fixed pool of threads.
 *
 * DESIGN
 *
 * Threads. A process-wide pool of N threads starts on first use. Each owner
 * is pinned at start to one pool thread (its `home`, round robin). Callers
 * are any threads; they touch an owner only through its mailbox word and its
 * in-flight counter, which share a cache line.
 *
 * Mailbox. Each owner has one intrusive mailbox: a Treiber stack of messages
 * whose head word also carries two flags, IDLE (the owner is not scheduled on
 * its home thread) and CLOSED (stop has been requested; nothing more may be
 * pushed). A call's message lives on the caller's stack with the caller's
 * parker as its reply slot, so a completion can only reach the thread that
 * asked. A post's message comes from a fixed pool of nodes per pool thread
 * (SW_OWNER_POST_LIMIT of them): that is what bounds posts. One CAS pushes a
 * message, checks CLOSED and clears IDLE at once; the pusher that cleared
 * IDLE must schedule the owner, by pushing it on its home thread's run queue
 * (another Treiber stack) and waking that thread if it sleeps.
 *
 * Running. A pool thread pops its whole run queue, and for each owner takes
 * the whole mailbox (one CAS), reverses it into arrival order and runs every
 * message: the owner serves all queued requests per wake-up. Then, while no
 * other owner waits for the thread, it polls the owner's mailbox a little
 * longer, the owner still scheduled, so that a caller's next request is a
 * single CAS; then it sets IDLE on an empty mailbox. If new messages came
 * it goes round again, and after a few rounds, if others wait, it requeues
 * the owner behind them for fairness. An owner is on a run queue at most once, and only its
 * home thread runs it, so its requests run one at a time, in the order each
 * caller pushed them (a Treiber push is linearisable; the reversal restores
 * arrival order).
 *
 * Stop. sw_owner_stop pushes the owner's embedded STOP message and sets
 * CLOSED in the same CAS, so STOP is the last message ever queued and runs
 * after everything queued before; the home thread then marks the owner
 * STOP_DONE and wakes the stopper. The handle stays valid (later calls get
 * SW_ECLOSED) until sw_owner_free. A caller that finds CLOSED backs out; the
 * in-flight counter (incremented before the push, decremented by the caller
 * when it backs out, or by the home thread once its message ran) lets
 * sw_owner_free release the memory only when no caller is still inside.
 *
 * No lost wake-up. A pool thread that finds its run queue empty announces
 * `sleeping` (seq_cst), checks the queue again, and only then futex-waits; a
 * scheduler pushes (seq_cst) and then reads `sleeping`. One of the two sees
 * the other. Callers wait on their own parker (see sync.h).
 *
 * No deadlock. Pool threads never wait on other threads: sw_owner_call is
 * refused on them, a post from them allocates instead of waiting for room,
 * and a stop from them completes asynchronously.
 */
#define _GNU_SOURCE
#include "steward/owner.h"

#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../base/sync.h"

enum msg_kind { MSG_CALL, MSG_POST, MSG_POST_HEAP, MSG_STOP };

struct msg {
    struct msg *next; /* mailbox link: written by the pusher before its CAS */
    sw_owner_fn fn;
    void *arg;
    sw__parker *reply; /* CALL, STOP: the waiting thread's parker (STOP: may be NULL) */
    enum msg_kind kind;
    /* CALL: futex words of other sleeping callers that this caller must wake
     * once it is woken itself (see reply_all); written by the home thread
     * before it notifies this caller. */
    _Atomic uint32_t *wake[2];
};

#define MB_IDLE ((uintptr_t)1)
#define MB_CLOSED ((uintptr_t)2)
#define MB_FLAGS (MB_IDLE | MB_CLOSED)

struct pool_thread;

struct sw_owner {
    /* Written by every caller and by the home thread: one line. */
    alignas(SW__CACHE_LINE) _Atomic uintptr_t mailbox;
    _Atomic int64_t inflight;
    struct sw_owner *next_run;   /* run queue link: written by the scheduler */
    void *state;                 /* immutable */
    struct pool_thread *home;    /* immutable */
    sw_owner_batch_fn batch_end; /* immutable; may be NULL */
    struct msg stop;             /* written once, by the thread that claimed STOP_CLAIMED */
    _Atomic uint32_t life;       /* LIFE_* bits */
};

#define LIFE_STOP_CLAIMED 1u /* one thread won the right to queue STOP */
#define LIFE_STOP_DONE 2u    /* the home thread ran STOP */
#define LIFE_FREE_REQ 4u     /* sw_owner_free came from a pool thread before STOP_DONE */

struct pool_thread {
    /* Pushed to by schedulers, popped by this thread. */
    alignas(SW__CACHE_LINE) _Atomic(sw_owner *) runq;
    _Atomic uint32_t sleeping; /* futex: 1 while this thread sleeps or is about to */
    /* The post nodes: guarded by free_lock. */
    alignas(SW__CACHE_LINE) sw__lock free_lock;
    struct msg *free;
    uint32_t space_waiters;
    _Atomic uint32_t space_seq; /* futex for posters waiting for room */
    struct msg *nodes;          /* immutable: the SW_OWNER_POST_LIMIT pooled nodes */
    pthread_t thread;
    /* Set by this thread while a batch_end hook runs (an fsync, typically):
     * read by waiting callers, who then sleep rather than spin. */
    alignas(SW__CACHE_LINE) _Atomic uint32_t committing;
};

struct pool {
    unsigned n;
    _Atomic unsigned next; /* round-robin assignment */
    struct pool_thread *threads;
};

static _Atomic(struct pool *) g_pool;
static pthread_mutex_t g_pool_mu = PTHREAD_MUTEX_INITIALIZER;
static _Thread_local struct pool_thread *tls_home; /* set on pool threads only */

/* An idle pool thread polls for this long before it sleeps, in bursts of
 * IDLE_SPINS pauses (about a microsecond) between yields. */
#define IDLE_POLL_NS 200000
#define IDLE_SPINS 32
/* How long a pool thread keeps waiting on the owner it just served, while
 * no other owner needs it (await_more). */
#define OWNER_POLL_NS 50000
/* Mailbox rounds an owner gets before it yields its thread to others that
 * wait. */
#define FAIR_ROUNDS 4

/* ---- scheduling ---- */

static void schedule(sw_owner *o)
{
    struct pool_thread *pt = o->home;
    sw_owner *head = atomic_load_explicit(&pt->runq, memory_order_relaxed);
    do {
        o->next_run = head;
        /* Seq_cst: pairs with the seq_cst store of `sleeping` in idle_wait
         * (Dekker: one of us sees the other). Release publishes next_run. */
    } while (!atomic_compare_exchange_weak_explicit(&pt->runq, &head, o, memory_order_seq_cst,
                                                    memory_order_relaxed));
    if (atomic_load_explicit(&pt->sleeping, memory_order_seq_cst) &&
        atomic_exchange_explicit(&pt->sleeping, 0, memory_order_relaxed))
        sw__futex_wake(&pt->sleeping, 1);
}

/* Pushes m; SW_ECLOSED (nothing pushed) once the owner is closed. With
 * close set, the push also closes the mailbox (only STOP does that). */
static int mailbox_push(sw_owner *o, struct msg *m, uintptr_t close)
{
    uintptr_t old = atomic_load_explicit(&o->mailbox, memory_order_relaxed);
    do {
        if (old & MB_CLOSED)
            return SW_ECLOSED;
        m->next = (struct msg *)(old & ~MB_FLAGS);
        /* Release: the message's fields are visible to the home thread, which
         * takes the mailbox with acquire. Acquire: when we find IDLE, we see
         * everything the home thread did before it set IDLE (its last use of
         * next_run), since we are about to write next_run ourselves. */
    } while (!atomic_compare_exchange_weak_explicit(&o->mailbox, &old, (uintptr_t)m | close,
                                                    memory_order_acq_rel, memory_order_relaxed));
    if (old & MB_IDLE)
        schedule(o);
    return SW_OK;
}

/* ---- post nodes ---- */

static struct msg *node_take(struct pool_thread *pt, bool wait)
{
    sw__lock_acquire(&pt->free_lock);
    for (;;) {
        struct msg *m = pt->free;
        if (m) {
            pt->free = m->next;
            sw__lock_release(&pt->free_lock);
            return m;
        }
        if (!wait) {
            sw__lock_release(&pt->free_lock);
            return NULL;
        }
        pt->space_waiters++;
        uint32_t seq = atomic_load_explicit(&pt->space_seq, memory_order_relaxed);
        sw__lock_release(&pt->free_lock);
        sw__futex_wait(&pt->space_seq, seq, -1);
        sw__lock_acquire(&pt->free_lock);
        pt->space_waiters--;
    }
}

/* Returns a list of pooled nodes (linked through next) in one lock hold. */
static void nodes_give(struct pool_thread *pt, struct msg *first, struct msg *last)
{
    sw__lock_acquire(&pt->free_lock);
    last->next = pt->free;
    pt->free = first;
    bool wake = pt->space_waiters > 0;
    if (wake)
        atomic_fetch_add_explicit(&pt->space_seq, 1, memory_order_relaxed);
    sw__lock_release(&pt->free_lock);
    if (wake)
        sw__futex_wake(&pt->space_seq, INT32_MAX);
}

/* ---- the pool thread ---- */

static void release_owner(sw_owner *o)
{
    /* Callers that found CLOSED may still be backing out: a few instructions. */
    while (atomic_load_explicit(&o->inflight, memory_order_acquire) != 0)
        sched_yield();
    free(o);
}

/* After STOP ran: wake the stopper, or free the owner if a pool thread asked
 * for that meanwhile. This is the home thread's last touch of the owner. */
static void finish_stop(sw_owner *o)
{
    sw__parker *reply = o->stop.reply;
    /* Acq_rel: publishes every effect of the owner's messages to whoever sees
     * STOP_DONE, and sees the FREE_REQ of a pool thread. */
    uint32_t old = atomic_fetch_or_explicit(&o->life, LIFE_STOP_DONE, memory_order_acq_rel);
    if (old & LIFE_FREE_REQ)
        release_owner(o);
    else if (reply)
        sw__unpark(reply);
}

/* Most sleeping callers one batch wakes through a tree; the rest are woken
 * one by one. */
#define WAKE_TREE_MAX 64

/* Completes the calls of one batch (linked through next). Callers still
 * spinning just see their parker notified. Sleeping callers need a futex
 * wake each, a syscall that would cost the home thread a microsecond per
 * caller; instead they form a binary tree: the home thread wakes the root,
 * and each woken caller wakes its two children (sw_owner_call), so the
 * syscalls run in parallel on the callers' own time. A caller found
 * SLEEPING stays so until notified (calls have no deadline), and children
 * are notified before their parents, so a parent woken early (spuriously)
 * never wakes a child that is not yet notified. */
static void reply_all(struct msg *calls)
{
    struct msg *sleepers[WAKE_TREE_MAX];
    size_t n = 0;
    for (struct msg *m = calls, *next; m; m = next) {
        next = m->next;
        if (n < WAKE_TREE_MAX &&
            atomic_load_explicit(&m->reply->state, memory_order_relaxed) == SW__PARK_SLEEPING)
            sleepers[n++] = m;
        else
            sw__unpark(m->reply); /* our last touch of this caller's message */
    }
    for (size_t i = 0; i < n; i++)
        for (size_t c = 0; c < 2; c++)
            sleepers[i]->wake[c] =
                2 * i + 1 + c < n ? &sleepers[2 * i + 1 + c]->reply->state : NULL;
    if (n == 0)
        return;
    _Atomic uint32_t *root = &sleepers[0]->reply->state; /* read before the root may go */
    for (size_t i = n; i-- > 0;)
        /* Release: pairs with the caller's acquire in sw__park; publishes
         * wake[] and everything the owner function wrote. */
        atomic_store_explicit(&sleepers[i]->reply->state, SW__PARK_NOTIFIED, memory_order_release);
    sw__futex_wake(root, 1);
}

/* Runs one taken batch (newest first, as popped), then replies to its
 * calls. Returns true when it ran the STOP message: the owner is then gone
 * for this thread. */
static bool run_batch(struct pool_thread *pt, sw_owner *o, struct msg *lifo)
{
    struct msg *m = NULL;
    while (lifo) { /* reverse into arrival order */
        struct msg *next = lifo->next;
        lifo->next = m;
        m = lifo;
        lifo = next;
    }
    struct msg *freed = NULL, *freed_last = NULL, *calls = NULL;
    int64_t done = 0;
    bool stopped = false;
    while (m) {
        struct msg *next = m->next;
        if (m->kind == MSG_STOP) {
            stopped = true; /* STOP is always the last message */
            break;
        }
        m->fn(o->state, m->arg);
        done++;
        if (m->kind == MSG_CALL) {
            m->next = calls;
            calls = m;
        } else if (m->kind == MSG_POST) {
            m->next = freed;
            freed = m;
            if (!freed_last)
                freed_last = m;
        } else {
            free(m);
        }
        m = next;
    }
    if (o->batch_end && done) {
        atomic_store_explicit(&pt->committing, 1, memory_order_relaxed);
        o->batch_end(o->state);
        atomic_store_explicit(&pt->committing, 0, memory_order_relaxed);
    }
    reply_all(calls);
    if (freed)
        nodes_give(pt, freed, freed_last);
    /* Release: the stopper's acquire load of inflight sees every effect of
     * the messages counted here. */
    atomic_fetch_sub_explicit(&o->inflight, done, memory_order_release);
    if (stopped)
        finish_stop(o);
    return stopped;
}

static bool runq_nonempty(struct pool_thread *pt)
{
    return atomic_load_explicit(&pt->runq, memory_order_relaxed) != NULL;
}

/* After a batch: waits a little for the owner's next request while no other
 * owner needs this thread. Meanwhile the owner stays scheduled (not IDLE),
 * so a caller's request is one CAS on the mailbox, with no run queue push
 * and no wake-up: a caller that calls again at once (the common case)
 * costs the fewest cache-line transfers there can be. Returns true when a
 * message came. */
static bool await_more(struct pool_thread *pt, sw_owner *o)
{
    int64_t start = sw__now_ns();
    for (;;) {
        for (int i = 0; i < IDLE_SPINS; i++) {
            if (atomic_load_explicit(&o->mailbox, memory_order_relaxed) & ~MB_FLAGS)
                return true;
            if (runq_nonempty(pt))
                return false;
            sw__cpu_relax();
        }
        if (sw__now_ns() - start > OWNER_POLL_NS)
            return false;
        sched_yield(); /* a caller on this CPU needs it to make its request */
    }
}

static void run_owner(struct pool_thread *pt, sw_owner *o)
{
    for (int round = 0;; round++) {
        /* Acquire: pairs with the release push of every message taken. */
        uintptr_t old = atomic_load_explicit(&o->mailbox, memory_order_acquire);
        while (!atomic_compare_exchange_weak_explicit(&o->mailbox, &old, old & MB_CLOSED,
                                                      memory_order_acquire, memory_order_acquire))
            ;
        if (run_batch(pt, o, (struct msg *)(old & ~MB_FLAGS)))
            return;
        if (!await_more(pt, o)) {
            uintptr_t empty = 0;
            if (atomic_compare_exchange_strong_explicit(&o->mailbox, &empty, MB_IDLE,
                                                        memory_order_acq_rel, memory_order_relaxed))
                return;
        }
        if (round + 1 >= FAIR_ROUNDS && runq_nonempty(pt)) {
            schedule(o); /* still not idle: we own its place in the queue */
            return;
        }
    }
}

static sw_owner *runq_take(struct pool_thread *pt)
{
    /* Acquire: pairs with the seq_cst CAS in schedule (next_run links). */
    sw_owner *lifo = atomic_exchange_explicit(&pt->runq, NULL, memory_order_acquire);
    sw_owner *fifo = NULL;
    while (lifo) {
        sw_owner *next = lifo->next_run;
        lifo->next_run = fifo;
        fifo = lifo;
        lifo = next;
    }
    return fifo;
}

/* Waits for work: polls the run queue, yielding the CPU between short
 * spins, for up to IDLE_POLL_NS, then sleeps on the futex. Yielding matters
 * as much as polling: a caller that runs on this same CPU cannot send the
 * next request while we spin, and the scheduler likes to put a caller and
 * the owner it wakes on one CPU. */
static void idle_wait(struct pool_thread *pt)
{
    int64_t start = sw__now_ns();
    for (;;) {
        for (int i = 0; i < IDLE_SPINS; i++) {
            if (runq_nonempty(pt))
                return;
            sw__cpu_relax();
        }
        if (sw__now_ns() - start > IDLE_POLL_NS)
            break;
        sched_yield();
    }
    atomic_store_explicit(&pt->sleeping, 1, memory_order_seq_cst);
    if (atomic_load_explicit(&pt->runq, memory_order_seq_cst) == NULL)
        sw__futex_wait(&pt->sleeping, 1, -1);
    atomic_store_explicit(&pt->sleeping, 0, memory_order_relaxed);
}

static void *pool_main(void *arg)
{
    struct pool_thread *pt = arg;
    tls_home = pt;
    for (;;) {
        sw_owner *o = runq_take(pt);
        if (!o) {
            idle_wait(pt);
            continue;
        }
        while (o) {
            sw_owner *next = o->next_run; /* o may be freed by run_owner */
            run_owner(pt, o);
            o = next;
        }
    }
    return NULL;
}

/* ---- the pool ---- */

static unsigned pool_threads_wanted(void)
{
    const char *env = getenv("STEWARD_THREADS");
    if (env) {
        char *end;
        unsigned long n = strtoul(env, &end, 10);
        if (*env && !*end && n >= 1 && n <= 1024)
            return (unsigned)n;
    }
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    return cpus >= 1 ? (unsigned)cpus : 1;
}

static int pool_thread_init(struct pool_thread *pt)
{
    pt->nodes = calloc(SW_OWNER_POST_LIMIT, sizeof(struct msg));
    if (!pt->nodes)
        return SW_ENOMEM;
    for (size_t i = 0; i < SW_OWNER_POST_LIMIT; i++)
        pt->nodes[i].next = i + 1 < SW_OWNER_POST_LIMIT ? &pt->nodes[i + 1] : NULL;
    pt->free = pt->nodes;
    pt->free_lock = (sw__lock)SW__LOCK_INIT;
    return SW_OK;
}

/* Creates the pool. Threads already started stay (they idle forever) if a
 * later one fails: a pool is never torn down while the process runs. */
static struct pool *pool_create(void)
{
    unsigned n = pool_threads_wanted();
    struct pool *p = calloc(1, sizeof *p);
    struct pool_thread *threads = aligned_alloc(SW__CACHE_LINE, n * sizeof *threads);
    if (!p || !threads)
        goto fail;
    for (unsigned i = 0; i < n; i++) {
        memset(&threads[i], 0, sizeof threads[i]);
        if (pool_thread_init(&threads[i]) != SW_OK)
            goto fail;
    }
    for (unsigned i = 0; i < n; i++)
        if (pthread_create(&threads[i].thread, NULL, pool_main, &threads[i]) != 0)
            return NULL; /* the started threads reference threads[]: keep it */
    p->n = n;
    p->threads = threads;
    return p;
fail:
    if (threads)
        for (unsigned i = 0; i < n; i++)
            free(threads[i].nodes);
    free(threads);
    free(p);
    return NULL;
}

static void pool_atfork_child(void)
{
    /* The child has none of the parent's pool threads: start afresh. The
     * parent's pool memory stays allocated in the child, unused. */
    atomic_store(&g_pool, NULL);
    pthread_mutex_init(&g_pool_mu, NULL);
}

static struct pool *pool_get(void)
{
    struct pool *p = atomic_load_explicit(&g_pool, memory_order_acquire);
    if (p)
        return p;
    static bool atfork_done;
    pthread_mutex_lock(&g_pool_mu);
    p = atomic_load_explicit(&g_pool, memory_order_relaxed);
    if (!p) {
        if (!atfork_done && pthread_atfork(NULL, NULL, pool_atfork_child) == 0)
            atfork_done = true;
        p = pool_create();
        /* Release: pairs with the acquire load above. */
        atomic_store_explicit(&g_pool, p, memory_order_release);
    }
    pthread_mutex_unlock(&g_pool_mu);
    return p;
}

unsigned sw_owner_pool_size(void)
{
    struct pool *p = pool_get();
    return p ? p->n : 0;
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
    struct pool *p = pool_get();
    if (!p)
        return SW_EIO;
    sw_owner *o = aligned_alloc(SW__CACHE_LINE, sizeof *o);
    if (!o)
        return SW_ENOMEM;
    *o = (sw_owner){.state = state, .batch_end = opts ? opts->batch_end : NULL};
    atomic_init(&o->mailbox, MB_IDLE);
    atomic_init(&o->inflight, 0);
    atomic_init(&o->life, 0);
    unsigned i = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed);
    o->home = &p->threads[i % p->n];
    *out = o;
    return SW_OK;
}

/* Counts the caller in before it touches the mailbox, so the stopper does
 * not free the owner under it. Seq_cst: ordered before the push. */
static void enter(sw_owner *o)
{
    atomic_fetch_add_explicit(&o->inflight, 1, memory_order_seq_cst);
}

static void leave(sw_owner *o)
{
    /* Release: pairs with the stopper's acquire load of inflight. */
    atomic_fetch_sub_explicit(&o->inflight, 1, memory_order_release);
}

int sw_owner_call(sw_owner *o, sw_owner_fn fn, void *arg)
{
    if (!o || !fn || tls_home)
        return SW_EINVAL;
    sw__parker reply;
    sw__parker_init(&reply);
    struct msg m = {.fn = fn, .arg = arg, .reply = &reply, .kind = MSG_CALL};
    enter(o);
    if (mailbox_push(o, &m, 0) != SW_OK) {
        leave(o);
        return SW_ECLOSED;
    }
    sw__park_hint(&reply, -1, &o->home->committing);
    /* Our part of the wake-up tree (see reply_all). */
    for (int c = 0; c < 2; c++)
        if (m.wake[c])
            sw__futex_wake(m.wake[c], 1);
    return SW_OK;
}

int sw_owner_post(sw_owner *o, sw_owner_fn fn, void *arg)
{
    if (!o || !fn)
        return SW_EINVAL;
    if ((atomic_load_explicit(&o->mailbox, memory_order_relaxed) & MB_CLOSED))
        return SW_ECLOSED; /* cheap early out; the push checks again */
    bool on_pool = tls_home != NULL;
    struct msg *m = node_take(o->home, !on_pool);
    enum msg_kind kind = MSG_POST;
    if (!m) {
        m = malloc(sizeof *m);
        kind = MSG_POST_HEAP;
        if (!m)
            return SW_ENOMEM;
    }
    *m = (struct msg){.fn = fn, .arg = arg, .kind = kind};
    enter(o);
    if (mailbox_push(o, m, 0) != SW_OK) {
        leave(o);
        if (kind == MSG_POST)
            nodes_give(o->home, m, m);
        else
            free(m);
        return SW_ECLOSED;
    }
    return SW_OK;
}

/* Queues STOP once; returns true if this thread did it. */
static bool request_stop(sw_owner *o, sw__parker *done)
{
    if (atomic_fetch_or_explicit(&o->life, LIFE_STOP_CLAIMED, memory_order_acq_rel) &
        LIFE_STOP_CLAIMED)
        return false;
    o->stop = (struct msg){.kind = MSG_STOP, .reply = done};
    mailbox_push(o, &o->stop, MB_CLOSED); /* cannot fail: only STOP closes */
    return true;
}

static void wait_stop_done(sw_owner *o)
{
    /* Rare: a second stopper, or free after a pool thread's stop. */
    while (!(atomic_load_explicit(&o->life, memory_order_acquire) & LIFE_STOP_DONE)) {
        struct timespec ts = {0, 200000};
        nanosleep(&ts, NULL);
    }
}

void sw_owner_stop(sw_owner *o)
{
    if (!o)
        return;
    if (tls_home) {
        request_stop(o, NULL); /* the home thread finishes it */
        return;
    }
    sw__parker done;
    sw__parker_init(&done);
    if (request_stop(o, &done))
        sw__park(&done, -1);
    else
        wait_stop_done(o);
}

void sw_owner_free(sw_owner *o)
{
    if (!o)
        return;
    if (!tls_home) {
        sw_owner_stop(o);
        release_owner(o);
        return;
    }
    request_stop(o, NULL);
    uint32_t old = atomic_fetch_or_explicit(&o->life, LIFE_FREE_REQ, memory_order_acq_rel);
    if (old & LIFE_STOP_DONE)
        release_owner(o);
}
