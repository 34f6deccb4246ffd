/* Owners: logical single-threaded objects on a fixed pool of threads.
 *
 * DESIGN
 *
 * Threads. A process-wide pool of N threads starts on first use. Each owner
 * gets a home thread at start (round robin), and runs there whenever that
 * thread is awake. Callers are any threads; they touch an owner only through
 * its mailbox word and its in-flight counter, which share a cache line.
 *
 * Few awake threads. Waking a sleeping thread costs a futex syscall and,
 * worse, the wait until the kernel runs it (tens of microseconds in a VM),
 * while a thread spinning for work takes a CPU from the callers. So the pool
 * keeps as few threads awake as the load needs. One idle thread at a time
 * is the pool's `spinner`: an owner whose home sleeps is scheduled on the
 * spinner instead (unless the spinner is full or committing), and a thread
 * going idle while another one spins goes to sleep at once. Each thread
 * weighs its load every LOAD_WINDOW_NS (rebalance): one that the spinner
 * could stand in for lets its owners go and sleeps, and a full one sends
 * other homes' owners home. Under a light load one thread serves every
 * owner and the rest sleep; as work backs up, homes are woken and their
 * owners go back to them, up to awake_max threads awake (one CPU fewer
 * than the machine has: every request also needs its caller to run), past
 * which only a committing or missing spinner wakes a home. Running an
 * owner elsewhere is safe for the same reason its requests never overlap:
 * it is on at most one run queue at a time, and whoever runs it next first
 * sees (through the IDLE handshake and the run queue's release/acquire)
 * everything its last run did.
 *
 * Mailbox. Each owner has one intrusive mailbox: a Treiber stack of messages
 * whose head word also carries two flags, IDLE (no pool thread holds the
 * owner) and CLOSED (stop has been requested; nothing more may be
 * pushed). A call's message lives on the caller's stack with the caller's
 * parker as its reply slot, so a completion can only reach the thread that
 * asked. A post's message comes from a fixed pool of nodes per pool thread
 * (SW_OWNER_POST_LIMIT of them): that is what bounds posts. One CAS pushes a
 * message, checks CLOSED and clears IDLE at once; the pusher that cleared
 * IDLE must schedule the owner, by pushing it on a pool thread's run queue
 * (another Treiber stack: its home's, or the spinner's, see above) and
 * waking that thread if it sleeps.
 *
 * Running. A pool thread keeps the owners it was given in a small hot set
 * (HOT_MAX), round robin: for each with mail it takes the whole mailbox (one
 * CAS), reverses it into arrival order and runs every message, so an owner
 * serves all queued requests per turn. An owner in the hot set stays
 * scheduled (not IDLE) while it is quiet, for OWNER_POLL_NS: a caller's
 * next request is then a single CAS, with no run queue push and no wake-up,
 * and a Db's shards that share a thread all stay on that footing. Then the
 * thread sets IDLE on its empty mailbox. An owner that finds the hot set
 * full runs a few rounds and then goes IDLE or, if mail keeps coming, back
 * on the run queue behind the others. An owner is held by at most one
 * thread at a time (on its run queue or in its hot set), so its requests
 * run one at a time, in the order each caller pushed them (a Treiber push
 * is linearisable; the reversal restores arrival order).
 *
 * Stop. sw_owner_stop pushes the owner's embedded STOP message and sets
 * CLOSED in the same CAS, so STOP is the last message ever queued and runs
 * after everything queued before; the running thread then marks the owner
 * STOP_DONE and wakes the stopper. The handle stays valid (later calls get
 * SW_ECLOSED) until sw_owner_free. A caller that finds CLOSED backs out; the
 * in-flight counter (incremented before the push, decremented by the caller
 * when it backs out, or by the running thread once it has taken the
 * message) lets sw_owner_free release the memory only when no caller is
 * still inside; the messages taken run before STOP, hence before the
 * memory can go.
 *
 * No lost wake-up. A pool thread that finds its run queue empty announces
 * `sleeping` (seq_cst), checks the queue again, and only then futex-waits; a
 * scheduler pushes (seq_cst) and then reads `sleeping`. One of the two sees
 * the other. Callers wait on their own parker (see sync.h).
 *
 * No deadlock. Pool threads never wait on other threads: sw_owner_call is
 * refused on them, a post from them allocates instead of waiting for room,
 * and a stop from them completes asynchronously.
 *
 * verify/owner.pml models this protocol (mailboxes, run queues, sleep,
 * replies, stop and free) for spin; docs/verification.md says what it
 * checks. A change here that moves a shared access changes the model too.
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
#include <unistd.h>

#include "../base/sync.h"

enum msg_kind { MSG_CALL, MSG_CALL_INLINE, MSG_POST, MSG_POST_HEAP, MSG_STOP };

/* A message: one cache line. A call's message lives on the caller's stack
 * with its reply slot and, for sw_owner_call_inline, its request inside:
 * the owner's thread reads and writes only this line, and the caller spins
 * on it, so a small call moves one line to the owner's core and back. */
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

/* A call on the caller's stack: its message, then what only a sleeping
 * caller needs. */
struct call {
    struct msg m;
    /* Futex words of other sleeping callers that this caller must wake once
     * it is woken itself (see reply_all); written by the running thread
     * before it notifies this caller. */
    _Atomic uint32_t *wake[2];
};

static struct call *call_of(struct msg *m)
{
    return (struct call *)((char *)m - offsetof(struct call, m));
}

#define MB_IDLE ((uintptr_t)1)
#define MB_CLOSED ((uintptr_t)2)
#define MB_FLAGS (MB_IDLE | MB_CLOSED)

struct pool_thread;

struct sw_owner {
    /* Written by every caller and by the thread running it: one line. */
    alignas(SW__CACHE_LINE) _Atomic uintptr_t mailbox;
    _Atomic int64_t inflight;
    struct sw_owner *next_run;   /* run queue link: written by the scheduler */
    void *state;                 /* immutable */
    struct pool_thread *home;    /* immutable */
    sw_owner_batch_fn batch_end; /* immutable; may be NULL */
    struct msg stop;             /* written once, by the thread that claimed STOP_CLAIMED */
    sw__parker *stop_reply;      /* with stop: the stopper's parker, or NULL */
    _Atomic uint32_t life;       /* LIFE_* bits */
};

#define LIFE_STOP_CLAIMED 1u /* one thread won the right to queue STOP */
#define LIFE_STOP_DONE 2u    /* the running thread ran STOP */
#define LIFE_FREE_REQ 4u     /* sw_owner_free came from a pool thread before STOP_DONE */

struct pool;

struct pool_thread {
    /* Pushed to by schedulers, popped by this thread. */
    alignas(SW__CACHE_LINE) _Atomic(sw_owner *) runq;
    _Atomic uint32_t sleeping; /* futex: 1 while this thread sleeps or is about to */
    struct pool *pool;         /* immutable */
    /* Written by this thread only, read by schedulers (a line of their own,
     * away from the run queue's). mode: MODE_POLLING while this thread
     * polls for work (it takes a scheduled owner within about a
     * microsecond), MODE_COMMITTING while it runs a batch_end hook (it will
     * be slow), MODE_BUSY otherwise. load: the share of its last load
     * window it was busy, in thousandths (see rebalance). */
    alignas(SW__CACHE_LINE) _Atomic uint32_t mode;
    _Atomic uint32_t load;
    /* How many owners of this home run a batch_end hook (an fsync,
     * typically) now, wherever they run: their waiting callers then sleep
     * rather than spin. */
    alignas(SW__CACHE_LINE) _Atomic uint32_t committing;
    /* The post nodes: guarded by free_lock. */
    alignas(SW__CACHE_LINE) sw__lock free_lock;
    struct msg *free;
    uint32_t space_waiters;
    _Atomic uint32_t space_seq; /* futex for posters waiting for room */
    struct msg *nodes;          /* immutable: the SW_OWNER_POST_LIMIT pooled nodes */
    pthread_t thread;
};

enum { MODE_BUSY, MODE_POLLING, MODE_COMMITTING };

struct pool {
    /* The thread that takes the owners of sleeping homes; NULL if none.
     * Claimed by a thread that starts polling while the role is free or its
     * holder is not polling; given up by the holder when it goes to sleep. */
    alignas(SW__CACHE_LINE) _Atomic(struct pool_thread *) spinner;
    /* Threads not asleep, and the most that a growing load wakes: one CPU
     * stays the callers', since every request needs a caller to run too. */
    _Atomic unsigned awake;
    unsigned awake_max;
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
/* How long a pool thread keeps an owner scheduled after its last request
 * (see struct hot_set), and how many it keeps so. */
#define OWNER_POLL_NS 50000
#define HOT_MAX 16
/* A pool thread weighs its load (the share of the time it was busy, in
 * thousandths) over windows of LOAD_WINDOW_NS: see rebalance. */
#define LOAD_WINDOW_NS 100000
#define LOAD_FULL 750  /* a thread this busy takes no more owners, and sheds others' */
#define LOAD_MERGE 600 /* two threads this busy together are one too many */
/* Mailbox rounds an owner that found the hot set full gets before it
 * yields its thread to others that wait. */
#define FAIR_ROUNDS 4

/* ---- scheduling ---- */

static bool pool_at_cap(struct pool *p)
{
    return atomic_load_explicit(&p->awake, memory_order_relaxed) >= p->awake_max;
}

/* Where o runs next: its home, unless the home sleeps and the spinner has
 * room: it polls, or it is busy but below LOAD_FULL. A full spinner leaves
 * the home to be woken instead (unless awake_max threads are awake
 * already): that is how the pool wakes more threads as load grows. Only a
 * hint: whichever thread is chosen, the push and the `sleeping` handshake
 * in schedule make sure it runs o. */
static struct pool_thread *schedule_target(sw_owner *o)
{
    struct pool_thread *home = o->home;
    if (!atomic_load_explicit(&home->sleeping, memory_order_relaxed))
        return home;
    struct pool_thread *s = atomic_load_explicit(&home->pool->spinner, memory_order_relaxed);
    if (!s || s == home)
        return home;
    uint32_t mode = atomic_load_explicit(&s->mode, memory_order_relaxed);
    if (mode == MODE_POLLING ||
        (mode == MODE_BUSY && (atomic_load_explicit(&s->load, memory_order_relaxed) < LOAD_FULL ||
                               pool_at_cap(home->pool))))
        return s;
    return home;
}

static void schedule(sw_owner *o)
{
    struct pool_thread *pt = schedule_target(o);
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
        /* Release: the message's fields are visible to the running thread, which
         * takes the mailbox with acquire. Acquire: when we find IDLE, we see
         * everything the running thread did before it set IDLE (its last use of
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
 * for that meanwhile. This is the running thread's last touch of the owner. */
static void finish_stop(sw_owner *o)
{
    sw__parker *reply = o->stop_reply;
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
 * wake each, a syscall that would cost the running thread a microsecond per
 * caller; instead they form a binary tree: the running thread wakes the root,
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

/* Runs one taken batch (newest first, as popped), then replies to its
 * calls. Returns true when it ran the STOP message: the owner is then gone
 * for this thread. */
static bool run_batch(struct pool_thread *pt, sw_owner *o, struct msg *lifo)
{
    struct msg *m = NULL;
    int64_t taken = 0;
    while (lifo) { /* reverse into arrival order */
        struct msg *next = lifo->next;
        taken += lifo->kind != MSG_STOP;
        lifo->next = m;
        m = lifo;
        lifo = next;
    }
    /* The callers of these messages are counted out now, while the line
     * is still ours from taking the mailbox: after the replies, a caller's
     * next request would be fighting us for it. Early is safe: the owner
     * can be freed only after STOP_DONE, which this thread sets after
     * running them (finish_stop). */
    atomic_fetch_sub_explicit(&o->inflight, taken, memory_order_relaxed);
    struct msg *freed = NULL, *freed_last = NULL, *calls = NULL;
    int64_t done = 0;
    bool stopped = false;
    while (m) {
        struct msg *next = m->next;
        if (m->kind == MSG_STOP) {
            stopped = true; /* STOP is always the last message */
            break;
        }
        m->fn(o->state, m->kind == MSG_CALL_INLINE ? (void *)m->u.in : m->u.arg);
        done++;
        if (m->kind == MSG_CALL || m->kind == MSG_CALL_INLINE) {
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
        atomic_fetch_add_explicit(&o->home->committing, 1, memory_order_relaxed);
        atomic_store_explicit(&pt->mode, MODE_COMMITTING, memory_order_relaxed);
        o->batch_end(o->state);
        atomic_store_explicit(&pt->mode, MODE_BUSY, memory_order_relaxed);
        atomic_fetch_sub_explicit(&o->home->committing, 1, memory_order_relaxed);
    }
    reply_all(calls);
    if (freed)
        nodes_give(o->home, freed, freed_last); /* pooled nodes come from the home */
    if (stopped)
        finish_stop(o);
    return stopped;
}

static bool runq_nonempty(struct pool_thread *pt)
{
    return atomic_load_explicit(&pt->runq, memory_order_relaxed) != NULL;
}

/* Takes the spinner role (see DESIGN) unless another thread holds it and
 * is polling; true if pt holds it now. The role is a scheduling hint, so
 * relaxed order will do: schedule's handshake makes any choice safe. */
static bool spinner_claim(struct pool_thread *pt)
{
    _Atomic(struct pool_thread *) *role = &pt->pool->spinner;
    struct pool_thread *s = atomic_load_explicit(role, memory_order_relaxed);
    for (;;) {
        if (s == pt)
            return true;
        if (s && atomic_load_explicit(&s->mode, memory_order_relaxed) == MODE_POLLING)
            return false;
        if (atomic_compare_exchange_weak_explicit(role, &s, pt, memory_order_relaxed,
                                                  memory_order_relaxed))
            return true;
    }
}

static void spinner_release(struct pool_thread *pt)
{
    struct pool_thread *self = pt;
    atomic_compare_exchange_strong_explicit(&pt->pool->spinner, &self, NULL, memory_order_relaxed,
                                            memory_order_relaxed);
}

/* Takes o's whole mailbox (leaving only its CLOSED flag, so o stays
 * scheduled) and runs it; true when it ran STOP (o is then gone for this
 * thread). */
static bool serve(struct pool_thread *pt, sw_owner *o)
{
    /* Acquire: pairs with the release push of every message taken. */
    uintptr_t old = atomic_load_explicit(&o->mailbox, memory_order_acquire);
    while (!atomic_compare_exchange_weak_explicit(&o->mailbox, &old, old & MB_CLOSED,
                                                  memory_order_acquire, memory_order_acquire))
        ;
    return run_batch(pt, o, (struct msg *)(old & ~MB_FLAGS));
}

static bool has_mail(sw_owner *o)
{
    return (atomic_load_explicit(&o->mailbox, memory_order_relaxed) & ~MB_FLAGS) != 0;
}

/* Lets o go: marks it IDLE if its mailbox is empty (a later push schedules
 * it again); false if mail came meanwhile, and o is still ours. */
static bool let_go(sw_owner *o)
{
    uintptr_t empty = 0;
    /* Release: a later scheduler (who reads IDLE with acquire) and whoever
     * runs o next see everything o's runs here did. */
    return atomic_compare_exchange_strong_explicit(&o->mailbox, &empty, MB_IDLE,
                                                   memory_order_acq_rel, memory_order_relaxed);
}

/* An owner that found the hot set full: serves it for a few rounds, then
 * lets it go, or requeues it behind the others if mail keeps coming. */
static void run_overflow(struct pool_thread *pt, sw_owner *o)
{
    for (int round = 0; round < FAIR_ROUNDS; round++) {
        if (serve(pt, o) || let_go(o))
            return;
    }
    schedule(o); /* still not idle: we own its place in a queue */
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

/* The spinner's poll: watches the run queue, yielding the CPU between
 * short spins, for up to IDLE_POLL_NS; true if work came. Yielding matters
 * as much as polling: a caller that runs on this same CPU cannot send the
 * next request while we spin, and the scheduler likes to put a caller and
 * the owner it wakes on one CPU. */
static bool spinner_poll(struct pool_thread *pt)
{
    int64_t start = sw__now_ns();
    for (;;) {
        for (int i = 0; i < IDLE_SPINS; i++) {
            if (runq_nonempty(pt))
                return true;
            sw__cpu_relax();
        }
        if (sw__now_ns() - start > IDLE_POLL_NS)
            break;
        sched_yield();
    }
    spinner_release(pt);
    return false;
}

/* Waits for work: as the spinner, polls first (spinner_poll); then, or at
 * once while another thread polls, sleeps on the futex. */
static void idle_wait(struct pool_thread *pt)
{
    atomic_store_explicit(&pt->mode, MODE_POLLING, memory_order_relaxed);
    bool work = spinner_claim(pt) && spinner_poll(pt);
    atomic_store_explicit(&pt->mode, MODE_BUSY, memory_order_relaxed);
    if (work)
        return;
    atomic_store_explicit(&pt->sleeping, 1, memory_order_seq_cst);
    if (atomic_load_explicit(&pt->runq, memory_order_seq_cst) == NULL) {
        atomic_fetch_sub_explicit(&pt->pool->awake, 1, memory_order_relaxed);
        sw__futex_wait(&pt->sleeping, 1, -1);
        atomic_fetch_add_explicit(&pt->pool->awake, 1, memory_order_relaxed);
    }
    atomic_store_explicit(&pt->sleeping, 0, memory_order_relaxed);
}

/* The owners a pool thread holds scheduled: each is not IDLE, so a caller's
 * request to it is one CAS on its mailbox, with no run queue push and no
 * wake-up; the thread polls their mailboxes and serves them round robin. An
 * owner leaves the set (goes IDLE) after OWNER_POLL_NS without mail. */
struct hot_set {
    unsigned n;
    sw_owner *o[HOT_MAX];
    int64_t last[HOT_MAX]; /* when each last had mail */
};

static void hot_remove(struct hot_set *h, unsigned i)
{
    h->n--;
    h->o[i] = h->o[h->n];
    h->last[i] = h->last[h->n];
}

/* Adds the owners of the run queue to the hot set (those that do not fit
 * are served and let go at once); true if there were any. */
static bool hot_admit(struct pool_thread *pt, struct hot_set *h, int64_t now)
{
    sw_owner *o = runq_take(pt);
    if (!o)
        return false;
    while (o) {
        sw_owner *next = o->next_run; /* o may be freed, or requeued, below */
        if (h->n < HOT_MAX) {
            h->o[h->n] = o;
            h->last[h->n] = now;
            h->n++;
        } else {
            run_overflow(pt, o);
        }
        o = next;
    }
    return true;
}

/* One pass over the hot set: serves every owner with mail, lets go of
 * those quiet for OWNER_POLL_NS. True if any request ran. */
static bool hot_serve(struct pool_thread *pt, struct hot_set *h, int64_t now)
{
    bool ran = false;
    for (unsigned i = 0; i < h->n;) {
        sw_owner *o = h->o[i];
        if (has_mail(o)) {
            ran = true;
            h->last[i] = now;
            if (serve(pt, o)) {
                hot_remove(h, i);
                continue;
            }
        } else if (now - h->last[i] > OWNER_POLL_NS && let_go(o)) {
            hot_remove(h, i);
            continue;
        }
        i++;
    }
    return ran;
}

/* Polls the hot set and the run queue for a burst of spins, as the
 * spinner if the role is free; yields the CPU if nothing came. */
static void hot_poll(struct pool_thread *pt, struct hot_set *h)
{
    atomic_store_explicit(&pt->mode, MODE_POLLING, memory_order_relaxed);
    spinner_claim(pt); /* meanwhile, take the owners of sleeping homes too */
    for (int i = 0; i < IDLE_SPINS; i++) {
        if (runq_nonempty(pt))
            goto out;
        for (unsigned k = 0; k < h->n; k++)
            if (has_mail(h->o[k]))
                goto out;
        sw__cpu_relax();
    }
    sched_yield(); /* a caller on this CPU needs it to make its request */
out:
    atomic_store_explicit(&pt->mode, MODE_BUSY, memory_order_relaxed);
}

/* Moves owners to where the load wants them, once per load window, given
 * the time this thread was busy in it.
 *   - A thread that is not the spinner, while the spinner is awake and the
 *     two of them together were busy less than LOAD_MERGE, is one thread
 *     too many: it lets its quiet owners go (their next request takes them
 *     to the spinner, since their home is about to sleep) and, its hot set
 *     empty, goes to sleep.
 *   - A thread at LOAD_FULL or more lets the quiet owners of other homes
 *     go, to be run at home (woken if need be, see schedule_target).
 * Letting go is the IDLE handshake, so an owner with mail stays until a
 * later window. */
static void rebalance(struct pool_thread *pt, struct hot_set *h, int64_t busy, int64_t window)
{
    uint32_t load = (uint32_t)(busy * 1000 / window);
    atomic_store_explicit(&pt->load, load, memory_order_relaxed);
    bool full = load >= LOAD_FULL && !pool_at_cap(pt->pool), merge = false;
    struct pool_thread *s = atomic_load_explicit(&pt->pool->spinner, memory_order_relaxed);
    if (!full && s && s != pt && !atomic_load_explicit(&s->sleeping, memory_order_relaxed))
        merge = load + atomic_load_explicit(&s->load, memory_order_relaxed) < LOAD_MERGE;
    if (!merge && !full)
        return;
    for (unsigned i = 0; i < h->n;) {
        sw_owner *o = h->o[i];
        if ((merge || o->home != pt) && !has_mail(o) && let_go(o)) {
            hot_remove(h, i);
            continue;
        }
        i++;
    }
}

static void *pool_main(void *arg)
{
    struct pool_thread *pt = arg;
    tls_home = pt;
    struct hot_set hot = {0};
    int64_t window = sw__now_ns(), prev = window, busy = 0;
    bool was_busy = false;
    for (;;) {
        int64_t now = sw__now_ns();
        if (was_busy)
            busy += now - prev;
        prev = now;
        if (now - window >= LOAD_WINDOW_NS) {
            rebalance(pt, &hot, busy, now - window);
            window = now;
            busy = 0;
        }
        bool admitted = hot_admit(pt, &hot, now);
        bool ran = hot_serve(pt, &hot, now);
        was_busy = ran || admitted;
        if (was_busy)
            continue;
        if (hot.n == 0)
            idle_wait(pt);
        else
            hot_poll(pt, &hot);
    }
    return NULL;
}

/* ---- the pool ---- */

static unsigned online_cpus(void)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    return cpus >= 1 ? (unsigned)cpus : 1;
}

static unsigned pool_threads_wanted(void)
{
    const char *env = getenv("STEWARD_THREADS");
    if (env) {
        char *end;
        unsigned long n = strtoul(env, &end, 10);
        if (*env && !*end && n >= 1 && n <= 1024)
            return (unsigned)n;
    }
    return online_cpus();
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
    struct pool *p = sw__alloc_lines(sizeof *p);
    struct pool_thread *threads = sw__alloc_lines(n * sizeof *threads);
    if (!p || !threads)
        goto fail;
    for (unsigned i = 0; i < n; i++) {
        threads[i].pool = p;
        if (pool_thread_init(&threads[i]) != SW_OK)
            goto fail;
    }
    unsigned cpus = online_cpus();
    p->awake_max = cpus > 1 ? cpus - 1 : 1;
    atomic_init(&p->awake, n);
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

/* Sends the call c (its fn, kind and request set) and waits for it. */
static int call(sw_owner *o, struct call *c)
{
    sw__parker_init(&c->m.reply);
    c->wake[0] = c->wake[1] = NULL;
    /* The sleep hint lives in the home thread's struct, which outlives
     * every owner: once our message has run, the owner may be freed under
     * us, so we read nothing of it after the push. */
    const _Atomic uint32_t *hint = &o->home->committing;
    enter(o);
    if (mailbox_push(o, &c->m, 0) != SW_OK) {
        leave(o);
        return SW_ECLOSED;
    }
    sw__park_hint(&c->m.reply, -1, hint);
    /* Our part of the wake-up tree (see reply_all). */
    for (int i = 0; i < 2; i++)
        if (c->wake[i])
            sw__futex_wake(c->wake[i], 1);
    return SW_OK;
}

int sw_owner_call(sw_owner *o, sw_owner_fn fn, void *arg)
{
    if (!o || !fn || tls_home)
        return SW_EINVAL;
    alignas(SW__CACHE_LINE) struct call c;
    c.m.fn = fn;
    c.m.kind = MSG_CALL;
    c.m.u.arg = arg;
    return call(o, &c);
}

int sw_owner_call_inline(sw_owner *o, sw_owner_fn fn, void *req, size_t size)
{
    if (!o || !fn || tls_home || size > SW_OWNER_INLINE_MAX || (!req && size))
        return SW_EINVAL;
    alignas(SW__CACHE_LINE) struct call c;
    c.m.fn = fn;
    c.m.kind = MSG_CALL_INLINE;
    if (size)
        memcpy(c.m.u.in, req, size);
    int rc = call(o, &c);
    if (rc == SW_OK && size)
        memcpy(req, c.m.u.in, size);
    return rc;
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
    m->fn = fn;
    m->kind = kind;
    m->u.arg = arg;
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
    o->stop = (struct msg){.kind = MSG_STOP};
    o->stop_reply = done;
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
        request_stop(o, NULL); /* the running thread finishes it */
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
