/* Tasks: stackful coroutines run M:N on the pool's threads.
 *
 * DESIGN
 *
 * The pool. N threads (STEWARD_THREADS, else one per CPU), started on first
 * use by sw_go or sw_owner_start. Each runs a loop on its own stack (the
 * scheduler context) that picks the next thing to run: an owner's posts (a
 * job, owner.c), a task due to time out, a runnable task. A task runs until
 * it parks, yields or ends, then switches back to its thread's loop, as to
 * Go's g0; except that a task that parks having woken another switches
 * straight to it (direct_next), and the one resumed commits the park:
 * one switch per hand-off where two tasks ping-pong, not two.
 *
 * Run queues, as in Go's scheduler. Each thread has:
 *  - `runnext`: the task it woke last, run next (a ping-pong pair stays on
 *    one thread, and the woken one runs while the waker's data is warm in
 *    cache). Only its thread touches it: others never steal it.
 *  - a ring of RING tasks: pushed and popped by its thread, stolen from by
 *    idle threads, half at a time (the head moves by CAS, the tail by its
 *    thread alone). A full ring moves half of itself to the global queue.
 *  - `inject`: tasks woken by plain threads, a Treiber stack that its thread
 *    empties into its ring (or a thief, when its thread is busy).
 *  - `jobs`: owners' posts, likewise.
 * New tasks from a plain thread go to the global queue (a locked list).
 * A thread looks at the global queue every GLOBAL_TICK picks, so tasks
 * there are never starved by local ones, and when it has nothing local.
 *
 * Sleeping. A thread with nothing to run, to steal or to time out looks
 * for work for IDLE_SPIN_NS, then announces `sleeping` (seq_cst) and counts itself in `g_nidle`,
 * looks at every queue once more, and sleeps on its futex until its next timer. A pusher publishes
 * (seq_cst), then reads `sleeping` (or g_nidle for work any thread may steal): one of the two sees
 * the other. The waker that exchanges `sleeping` from 1 to 0 is the one that issues the futex wake.
 *
 * Parking (the parker's task half, sync.h). A task that must wait stores
 * its parker and deadline in itself and switches to its thread's loop;
 * only there, once the task no longer runs, is the park committed: a CAS of
 * the parker's state from EMPTY to TASK + the task's number (or, on a
 * direct switch, in the task switched to, first thing). A notifier's
 * exchange that finds TASK makes the task runnable (task_wake); a
 * failed CAS (already NOTIFIED) resumes the task at once. Committing
 * before the switch would let a notifier on another thread resume the task
 * while its registers are still being saved.
 *
 * Timers. A timed park adds the task to its thread's timer heap before the
 * commit. The heap's lock orders the two ways out: the thread's loop pops a
 * due task and CASes its parker from TASK to EMPTY (timed out), under the
 * lock; a task woken by a notifier removes itself from that heap, under the
 * same lock, before it returns. So the parker, on the task's stack, is only
 * read under the lock while the task cannot have left its park.
 *
 * Stacks are mapped in slabs of SLAB_STACKS, each stack with a guard page
 * below it. A task takes one when it first runs, not when it is started, so
 * that a burst of sw_go costs small structs, and gives it back when it
 * ends: a thread reuses its own last stacks, warm in cache. Where the
 * kernel has MADV_GUARD_INSTALL (Linux 6.13) the guard lives in the page
 * tables and the slab stays one mapping; elsewhere it is an mprotect'd
 * page, which splits the mapping, and vm.max_map_count (65530 by default)
 * then bounds the tasks alive at once to about 32,000.
 * Idle stacks beyond HOT_STACKS give their pages back to the kernel
 * (MADV_DONTNEED).
 *
 * Task numbers. A parker is one 32-bit word (an owner's message must stay
 * one cache line), so the TASK state names the task by number:
 * g_mem.chunks maps numbers to tasks, which are never freed, only reused.
 */
#define _GNU_SOURCE
#include "steward/task.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "base/sync.h"
#include "task/ctx.h"
#include "task/pool.h"
#include "task/task_int.h"
#include "base/base.h"

#if defined(__SANITIZE_ADDRESS__)
#define SW__ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SW__ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define SW__TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SW__TSAN 1
#endif
#endif
#ifdef SW__ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#ifdef SW__TSAN
#include <sanitizer/tsan_interface.h>
#endif

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

/* A ring's size: Go's. */
#define RING 256u
/* A thread looks at the global queue first once every GLOBAL_TICK picks
 * (Go's 61: prime, so it does not beat with other periodic patterns). */
#define GLOBAL_TICK 61u
/* Stacks per mapping. */
#define SLAB_STACKS 16u
/* Idle tasks, and idle stacks, a thread keeps for itself; and the idle
 * stacks of the pool beyond which more give their pages back. */
#define LOCAL_FREE 64u
#define HOT_STACKS 16384u
/* How long a thread with nothing to do looks for work before it sleeps:
 * about what a futex sleep and wake-up cost it and its waker here. */
#define IDLE_SPIN_NS 50000
/* Task numbers: a table of chunks, so that it grows without moving. */
#define NUM_CHUNK 65536u
#define NUM_CHUNKS 16384u

enum why { WHY_PARK, WHY_YIELD, WHY_EXIT };

struct worker;

/* An idle task or stack in a free list (for a stack, at its top). */
struct node {
    struct node *next;
};

/* Idle tasks or stacks: a thread's own, or the pool's (under g_mem.lock). */
struct cache {
    struct node *head;
    size_t n;
};

struct sw__task {
    struct sw__task *next; /* first, as a struct node: queues and free lists */
    sw__ctx ctx;
    sw_task_fn fn;
    void *arg;
    struct sw__local local;
    struct worker *w; /* the thread it runs, or last ran, on */
    enum why why;     /* why it switched back to the loop */
    uint32_t num;     /* its number in g_mem.chunks */
    char *stack;      /* usable [stack, stack + g_stack_size), or NULL before it first runs */
    /* A park: its parker and deadline (-1: none). */
    sw__parker *park;
    int64_t deadline;
    /* Its timer: the heap it is in (NULL: none; cleared only under that
     * heap's lock) and its index there (under the lock). */
    _Atomic(struct worker *) timer_w;
    size_t heap_at;
    void *fake_stack; /* ASan's, while switched away */
#ifdef SW__TSAN
    void *fiber;
#endif
};

_Static_assert(offsetof(struct sw__task, next) == 0 && offsetof(struct sw__job, next) == 0,
               "tasks and jobs link as struct nodes do");

struct worker {
    /* The ring: head moved by CAS (this thread and thieves), tail by this
     * thread alone. */
    alignas(SW__CACHE_LINE) _Atomic uint32_t head;
    alignas(SW__CACHE_LINE) _Atomic uint32_t tail;
    _Atomic(struct sw__task *) ring[RING];
    /* Pushed to by other threads. */
    alignas(SW__CACHE_LINE) _Atomic(struct sw__task *) inject;
    _Atomic(struct sw__job *) jobs;
    _Atomic uint32_t sleeping; /* futex: 1 while this thread sleeps or is about to */
    /* Timers: a min-heap on deadline, guarded by tlock. */
    alignas(SW__CACHE_LINE) sw__lock tlock;
    struct sw__task **heap;
    size_t nheap, heap_cap;
    _Atomic int64_t next_due; /* heap[0]'s deadline, INT64_MAX when empty: read unlocked */
    /* This thread's alone. */
    alignas(SW__CACHE_LINE) struct sw__task *runnext;
    struct cache tasks, stacks; /* idle ones */
    unsigned tick;
    unsigned index;
    sw__ctx sched;            /* the loop's context while a task runs */
    struct sw__task *back;    /* the task that switched back to the loop */
    struct sw__task *handoff; /* a task whose park the next one to run commits */
    pthread_t thread;
    void *fake_stack; /* ASan's, while a task runs */
#ifdef SW__ASAN
    const void *stack_lo;
    size_t stack_size;
#endif
#ifdef SW__TSAN
    void *fiber;
#endif
};

struct pool {
    unsigned n;
    struct worker *w;
};

static _Atomic(struct pool *) g_pool;
static pthread_mutex_t g_pool_mu = PTHREAD_MUTEX_INITIALIZER;
static _Atomic unsigned g_nidle, g_nspinning;

/* The global queue and the pool's idle tasks. */
static struct {
    alignas(SW__CACHE_LINE) sw__lock lock;
    struct sw__task *head, *tail;
    _Atomic size_t n;
} g_runq = {SW__LOCK_INIT};

static struct {
    alignas(SW__CACHE_LINE) sw__lock lock;
    struct cache tasks, stacks; /* idle ones */
    _Atomic size_t have_stacks; /* stacks.n + slab_left, read unlocked */
    char *slab;                 /* the unused rest of the last slab */
    unsigned slab_left;
    uint32_t ntasks;
    struct sw__task **chunks[NUM_CHUNKS];
} g_mem = {SW__LOCK_INIT};

static size_t g_stack_size, g_page;
static _Atomic long fail_after = -1;

/* The running task and the pool thread of this thread. Read through the
 * calls below, never cached across a switch: a task may resume elsewhere. */
static _Thread_local struct sw__task *tls_task;
static _Thread_local struct worker *tls_worker;

#define OPAQUE __attribute__((noinline))

static OPAQUE struct sw__task *current(void)
{
    __asm__ __volatile__("" ::: "memory");
    return tls_task;
}

static OPAQUE struct worker *this_worker(void)
{
    __asm__ __volatile__("" ::: "memory");
    return tls_worker;
}

static bool task_park(sw__parker *p, int64_t deadline_ns, const _Atomic uint32_t *sleep_hint,
                      int *rc);

void sw__task_fail_after(long n)
{
    atomic_store_explicit(&fail_after, n, memory_order_relaxed);
}

/* ---- waking sleeping threads ---- */

/* Wakes w if it sleeps; false if it did not (it runs, or looks for work). */
static bool wake(struct worker *w)
{
    /* Seq_cst: after the caller's seq_cst publication (Dekker with idle). */
    if (atomic_load_explicit(&w->sleeping, memory_order_seq_cst) &&
        atomic_exchange_explicit(&w->sleeping, 0, memory_order_relaxed)) {
        sw__futex_wake(&w->sleeping, 1);
        return true;
    }
    return false;
}

/* Wakes one sleeping thread, if any, for work any thread may take. */
static void wake_one(struct pool *p)
{
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&g_nidle, memory_order_relaxed) == 0 ||
        atomic_load_explicit(&g_nspinning, memory_order_relaxed) > 0)
        return;
    unsigned start = sw__rand_below(p->n);
    for (unsigned i = 0; i < p->n; i++) {
        struct worker *w = &p->w[(start + i) % p->n];
        if (atomic_load_explicit(&w->sleeping, memory_order_relaxed) &&
            atomic_exchange_explicit(&w->sleeping, 0, memory_order_relaxed)) {
            sw__futex_wake(&w->sleeping, 1);
            return;
        }
    }
}

/* ---- the global queue ---- */

static void global_put(struct sw__task *first, struct sw__task *last, size_t n)
{
    last->next = NULL;
    sw__lock_acquire(&g_runq.lock);
    if (g_runq.tail)
        g_runq.tail->next = first;
    else
        g_runq.head = first;
    g_runq.tail = last;
    atomic_store_explicit(&g_runq.n, atomic_load_explicit(&g_runq.n, memory_order_relaxed) + n,
                          memory_order_seq_cst);
    sw__lock_release(&g_runq.lock);
}

static bool global_empty(void)
{
    return atomic_load_explicit(&g_runq.n, memory_order_seq_cst) == 0;
}

/* ---- the ring ---- */

static uint32_t ring_len(struct worker *w)
{
    uint32_t h = atomic_load_explicit(&w->head, memory_order_acquire);
    uint32_t t = atomic_load_explicit(&w->tail, memory_order_acquire);
    return t - h;
}

/* Moves half of a full ring, and t, to the global queue; false if thieves
 * made room meanwhile. */
static bool ring_spill(struct worker *w, struct sw__task *t, uint32_t h, uint32_t tail)
{
    uint32_t n = (tail - h) / 2; /* RING / 2: the ring is full */
    struct sw__task *batch[RING / 2] = {NULL};
    for (uint32_t i = 0; i < n; i++)
        batch[i] = atomic_load_explicit(&w->ring[(h + i) % RING], memory_order_relaxed);
    /* Release: our later writes of these slots come after the thieves'
     * reads, which see the head moved. */
    if (!atomic_compare_exchange_strong_explicit(&w->head, &h, h + n, memory_order_release,
                                                 memory_order_relaxed))
        return false;
    for (uint32_t i = 0; i < n; i++)
        batch[i]->next = batch[i + 1 < n ? i + 1 : 0];
    batch[n - 1]->next = t;
    global_put(batch[0], t, n + 1);
    return true;
}

/* Appends t to this thread's ring (or the global queue when it is full). */
static void ring_put(struct worker *w, struct sw__task *t)
{
    for (;;) {
        /* Acquire: pairs with the thieves' CAS, so we reuse a slot only
         * after they read it. */
        uint32_t h = atomic_load_explicit(&w->head, memory_order_acquire);
        uint32_t tail = atomic_load_explicit(&w->tail, memory_order_relaxed);
        if (tail - h < RING) {
            atomic_store_explicit(&w->ring[tail % RING], t, memory_order_relaxed);
            /* Seq_cst: publishes the slot (release), ordered before the
             * idle check of wake_one (Dekker with idle). */
            atomic_store_explicit(&w->tail, tail + 1, memory_order_seq_cst);
            return;
        }
        if (ring_spill(w, t, h, tail))
            return;
    }
}

static struct sw__task *ring_get(struct worker *w)
{
    for (;;) {
        uint32_t h = atomic_load_explicit(&w->head, memory_order_acquire);
        uint32_t tail = atomic_load_explicit(&w->tail, memory_order_relaxed);
        if (h == tail)
            return NULL;
        struct sw__task *t = atomic_load_explicit(&w->ring[h % RING], memory_order_relaxed);
        if (atomic_compare_exchange_weak_explicit(&w->head, &h, h + 1, memory_order_release,
                                                  memory_order_relaxed))
            return t;
    }
}

/* Steals half of v's ring into w's (empty) ring; returns one of them to run,
 * or NULL if v had none. */
static struct sw__task *ring_steal(struct worker *w, struct worker *v)
{
    uint32_t tail = atomic_load_explicit(&w->tail, memory_order_relaxed);
    for (;;) {
        uint32_t h = atomic_load_explicit(&v->head, memory_order_acquire);
        uint32_t vt = atomic_load_explicit(&v->tail, memory_order_acquire);
        uint32_t n = vt - h;
        n -= n / 2;
        if (n == 0)
            return NULL;
        if (n > RING / 2)
            continue; /* read head and tail at different times: again */
        for (uint32_t i = 0; i < n; i++) {
            struct sw__task *t =
                atomic_load_explicit(&v->ring[(h + i) % RING], memory_order_relaxed);
            atomic_store_explicit(&w->ring[(tail + i) % RING], t, memory_order_relaxed);
        }
        /* Acq_rel: the slots we read were written before v published them,
         * and v may reuse them once it sees the head moved. */
        if (!atomic_compare_exchange_strong_explicit(&v->head, &h, h + n, memory_order_acq_rel,
                                                     memory_order_relaxed))
            continue;
        struct sw__task *t =
            atomic_load_explicit(&w->ring[(tail + n - 1) % RING], memory_order_relaxed);
        if (n > 1)
            atomic_store_explicit(&w->tail, tail + n - 1, memory_order_seq_cst);
        return t;
    }
}

/* ---- making tasks runnable ---- */

/* t, woken by this thread, runs next here; the task it displaces goes to
 * the ring, where idle threads may steal it. */
static void put_next(struct pool *p, struct worker *w, struct sw__task *t)
{
    struct sw__task *old = w->runnext;
    w->runnext = t;
    if (old) {
        ring_put(w, old);
        wake_one(p);
    }
}

static struct sw__task *task_of(uint32_t num)
{
    return g_mem.chunks[num / NUM_CHUNK][num % NUM_CHUNK];
}

static void task_wake(uint32_t state)
{
    struct sw__task *t = task_of(state - SW__PARK_TASK);
    struct pool *p = atomic_load_explicit(&g_pool, memory_order_acquire);
    struct worker *w = this_worker();
    if (w) {
        put_next(p, w, t);
        return;
    }
    /* A plain thread: to the thread the task last ran on, which may be busy
     * with a task that does not park: then a sleeping thread is woken too,
     * and steals it (steal). */
    struct worker *to = t->w;
    struct sw__task *head = atomic_load_explicit(&to->inject, memory_order_relaxed);
    do
        t->next = head;
    while (!atomic_compare_exchange_weak_explicit(&to->inject, &head, t, memory_order_seq_cst,
                                                  memory_order_relaxed));
    if (!wake(to))
        wake_one(p);
}

void sw__pool_submit(unsigned i, struct sw__job *job)
{
    struct pool *p = atomic_load_explicit(&g_pool, memory_order_acquire);
    struct worker *w = &p->w[i];
    struct sw__job *head = atomic_load_explicit(&w->jobs, memory_order_relaxed);
    do
        job->next = head;
    /* Seq_cst: Dekker with idle (wake reads `sleeping` after). Release
     * publishes the job and what its submitter did. */
    while (!atomic_compare_exchange_weak_explicit(&w->jobs, &head, job, memory_order_seq_cst,
                                                  memory_order_relaxed));
    wake(w);
}

/* ---- timers ---- */

static void heap_set(struct worker *w, size_t i, struct sw__task *t)
{
    w->heap[i] = t;
    t->heap_at = i;
}

static void heap_up(struct worker *w, size_t i)
{
    struct sw__task *t = w->heap[i];
    while (i > 0 && w->heap[(i - 1) / 2]->deadline > t->deadline) {
        heap_set(w, i, w->heap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    heap_set(w, i, t);
}

static void heap_down(struct worker *w, size_t i)
{
    struct sw__task *t = w->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= w->nheap)
            break;
        if (c + 1 < w->nheap && w->heap[c + 1]->deadline < w->heap[c]->deadline)
            c++;
        if (w->heap[c]->deadline >= t->deadline)
            break;
        heap_set(w, i, w->heap[c]);
        i = c;
    }
    heap_set(w, i, t);
}

static void heap_remove(struct worker *w, size_t i)
{
    struct sw__task *last = w->heap[--w->nheap];
    if (i < w->nheap) {
        heap_set(w, i, last);
        heap_up(w, i);
        heap_down(w, last->heap_at);
    }
    atomic_store_explicit(&w->next_due, w->nheap ? w->heap[0]->deadline : INT64_MAX,
                          memory_order_relaxed);
}

/* Adds t, switched away to park with a deadline, to this thread's heap;
 * false when out of memory (the park then times out at once). */
static bool timer_add(struct worker *w, struct sw__task *t)
{
    sw__lock_acquire(&w->tlock);
    if (w->nheap == w->heap_cap) {
        size_t cap = w->heap_cap ? 2 * w->heap_cap : 64;
        struct sw__task **h = realloc(w->heap, cap * sizeof *h);
        if (!h) {
            sw__lock_release(&w->tlock);
            return false;
        }
        w->heap = h;
        w->heap_cap = cap;
    }
    atomic_store_explicit(&t->timer_w, w, memory_order_relaxed);
    heap_set(w, w->nheap++, t);
    heap_up(w, t->heap_at);
    atomic_store_explicit(&w->next_due, w->heap[0]->deadline, memory_order_relaxed);
    sw__lock_release(&w->tlock);
    return true;
}

/* Takes t's timer out of whatever heap holds it, if any still does. */
static void timer_cancel(struct sw__task *t)
{
    /* Acquire: pairs with run_timers' release, so that once we see NULL it
     * is done with our parker, and we may leave the park. Only this task
     * sets it (while parked), and only under the lock of the heap it names
     * can anyone else clear it. */
    struct worker *w = atomic_load_explicit(&t->timer_w, memory_order_acquire);
    if (!w)
        return;
    sw__lock_acquire(&w->tlock);
    if (atomic_load_explicit(&t->timer_w, memory_order_relaxed)) {
        heap_remove(w, t->heap_at);
        atomic_store_explicit(&t->timer_w, NULL, memory_order_relaxed);
    }
    sw__lock_release(&w->tlock);
}

/* Times out the due tasks of w's heap. */
static void run_timers(struct pool *p, struct worker *w)
{
    if (atomic_load_explicit(&w->next_due, memory_order_relaxed) == INT64_MAX)
        return;
    int64_t now = sw__now_ns();
    if (atomic_load_explicit(&w->next_due, memory_order_relaxed) > now)
        return;
    sw__lock_acquire(&w->tlock);
    while (w->nheap && w->heap[0]->deadline <= now) {
        struct sw__task *t = w->heap[0];
        heap_remove(w, 0);
        uint32_t parked = SW__PARK_TASK + t->num;
        /* Acquire: as a notifier's exchange, for what the task wrote. */
        bool fire = atomic_compare_exchange_strong_explicit(
            &t->park->state, &parked, SW__PARK_EMPTY, memory_order_acquire, memory_order_relaxed);
        /* Release, after our last touch of the parker: a task woken by a
         * notifier meanwhile may leave its park once it sees this. */
        atomic_store_explicit(&t->timer_w, NULL, memory_order_release);
        if (fire)
            put_next(p, w, t);
        /* else a notifier got there first and made it runnable */
    }
    sw__lock_release(&w->tlock);
}

/* ---- stacks and task memory ---- */

static void task_main(void *arg);

static bool alloc_fails(void)
{
    return sw__fault_fires(&fail_after);
}

/* Maps a slab of stacks, each with a guard page below it. Called with
 * g_mem.lock held; false when out of memory. */
static bool slab_map(void)
{
    size_t each = g_page + g_stack_size;
    if (alloc_fails())
        return false;
    char *slab = mmap(NULL, SLAB_STACKS * each, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (slab == MAP_FAILED)
        return false;
    for (unsigned i = 0; i < SLAB_STACKS; i++) {
        char *guard = slab + i * each;
        if (madvise(guard, g_page, MADV_GUARD_INSTALL) != 0 &&
            mprotect(guard, g_page, PROT_NONE) != 0) {
            munmap(slab, SLAB_STACKS * each);
            return false;
        }
    }
    g_mem.slab = slab;
    g_mem.slab_left = SLAB_STACKS;
    atomic_fetch_add_explicit(&g_mem.have_stacks, SLAB_STACKS, memory_order_relaxed);
    return true;
}

static struct node *stack_node(char *stack)
{
    return (struct node *)(stack + g_stack_size - 16); /* the top: touched by any use */
}

static char *node_stack(struct node *n)
{
    return (char *)n + 16 - g_stack_size;
}

/* One from the thread's cache, else the pool's. */
static struct node *cache_get(struct cache *own, struct cache *pool)
{
    struct node *n = own ? own->head : NULL;
    if (n) {
        own->head = n->next;
        own->n--;
        return n;
    }
    sw__lock_acquire(&g_mem.lock);
    n = pool->head;
    if (n) {
        pool->head = n->next;
        pool->n--;
        if (pool == &g_mem.stacks)
            atomic_fetch_sub_explicit(&g_mem.have_stacks, 1, memory_order_relaxed);
    }
    sw__lock_release(&g_mem.lock);
    return n;
}

/* Into the thread's cache; beyond LOCAL_FREE, half of it to the pool's in
 * one lock hold. */
static void cache_put(struct cache *own, struct cache *pool, struct node *n)
{
    n->next = own->head;
    own->head = n;
    if (++own->n <= LOCAL_FREE)
        return;
    struct node *first = own->head, *last = first;
    size_t move = LOCAL_FREE / 2;
    for (size_t i = 1; i < move; i++)
        last = last->next;
    own->head = last->next;
    own->n -= move;
    if (pool == &g_mem.stacks) {
        /* Idle stacks beyond HOT_STACKS give their pages back. Relaxed: a
         * rough count is enough for a policy. */
        if (atomic_load_explicit(&g_mem.have_stacks, memory_order_relaxed) >= HOT_STACKS)
            for (struct node *c = first, *next;; c = next) {
                next = c->next; /* read before the pages go */
                madvise(node_stack(c), g_stack_size - g_page, MADV_DONTNEED);
                if (c == last)
                    break;
            }
        atomic_fetch_add_explicit(&g_mem.have_stacks, move, memory_order_relaxed);
    }
    sw__lock_acquire(&g_mem.lock);
    last->next = pool->head;
    pool->head = first;
    pool->n += move;
    sw__lock_release(&g_mem.lock);
}

/* A stack for a task that first runs on w. */
static char *stack_get(struct worker *w)
{
    struct node *n = cache_get(&w->stacks, &g_mem.stacks);
    if (n)
        return node_stack(n);
    sw__lock_acquire(&g_mem.lock);
    char *stack = NULL;
    if (g_mem.slab_left || slab_map()) {
        stack = g_mem.slab + g_page;
        g_mem.slab += g_page + g_stack_size;
        g_mem.slab_left--;
        atomic_fetch_sub_explicit(&g_mem.have_stacks, 1, memory_order_relaxed);
    }
    sw__lock_release(&g_mem.lock);
    return stack;
}

/* Whether a task started now will find a stack: maps a slab if no stack
 * is idle (so sw_go can say SW_ENOMEM). A burst may still outrun it; a
 * task that then finds no stack when it first runs ends the process (as
 * Go does when it has no memory for a stack). */
static bool stacks_ready(struct worker *w)
{
    if ((w && w->stacks.n) || atomic_load_explicit(&g_mem.have_stacks, memory_order_relaxed))
        return true;
    sw__lock_acquire(&g_mem.lock);
    bool ok = g_mem.slab_left || g_mem.stacks.n || slab_map();
    sw__lock_release(&g_mem.lock);
    return ok;
}

/* An idle task (no stack), or NULL when out of memory. */
static struct sw__task *task_alloc(struct worker *w)
{
    struct sw__task *t = (struct sw__task *)cache_get(w ? &w->tasks : NULL, &g_mem.tasks);
    if (t)
        return t;
    size_t size = (sizeof *t + SW__CACHE_LINE - 1) & ~(size_t)(SW__CACHE_LINE - 1);
    t = alloc_fails() ? NULL : aligned_alloc(SW__CACHE_LINE, size);
    if (!t)
        return NULL;
    sw__lock_acquire(&g_mem.lock);
    uint32_t num = g_mem.ntasks;
    struct sw__task **chunk = num / NUM_CHUNK < NUM_CHUNKS ? g_mem.chunks[num / NUM_CHUNK] : NULL;
    if (!chunk && num / NUM_CHUNK < NUM_CHUNKS)
        chunk = g_mem.chunks[num / NUM_CHUNK] =
            alloc_fails() ? NULL : calloc(NUM_CHUNK, sizeof *chunk);
    if (chunk) {
        *t = (struct sw__task){.num = num};
        chunk[num % NUM_CHUNK] = t;
        g_mem.ntasks++;
    }
    sw__lock_release(&g_mem.lock);
    if (!chunk) {
        free(t);
        return NULL;
    }
    return t;
}

/* Gives an ended task's stack and struct back for reuse. */
static void task_release(struct worker *w, struct sw__task *t)
{
    cache_put(&w->stacks, &g_mem.stacks, stack_node(t->stack));
    t->stack = NULL;
    cache_put(&w->tasks, &g_mem.tasks, (struct node *)t);
}

/* Gives t, about to run for the first time on w, its stack. */
static void task_start(struct worker *w, struct sw__task *t)
{
    t->stack = stack_get(w);
    if (!t->stack) {
        sw__logmsg(SW_LOG_ERROR, "out of memory for a task's stack (%zu bytes)", g_stack_size);
        abort();
    }
#ifdef SW__ASAN
    __asan_unpoison_memory_region(t->stack, g_stack_size);
#endif
    sw__ctx_make(&t->ctx, t->stack, g_stack_size, task_main, t);
}

/* ---- switching ---- */

static void commit_park(struct pool *p, struct worker *w, struct sw__task *t);

/* Saves the running context into from (its ASan fake stack into *fake) and
 * runs task next on w's thread. */
static void switch_into(struct worker *w, sw__ctx *from, void **fake, struct sw__task *next)
{
    next->w = w;
    tls_task = next;
    sw__local_switch(&next->local);
#ifdef SW__TSAN
    __tsan_switch_to_fiber(next->fiber, 0);
#endif
#ifdef SW__ASAN
    __sanitizer_start_switch_fiber(fake, next->stack, g_stack_size);
#else
    (void)fake;
#endif
    sw__ctx_swap(from, &next->ctx);
}

/* The task a parking task may switch to directly, skipping its thread's
 * loop: the one it woke last (runnext), if that has run before. Every
 * GLOBAL_TICK switches the loop runs anyway, for its jobs, timers and the
 * global queue. */
static struct sw__task *direct_next(struct worker *w)
{
    struct sw__task *n = w->runnext;
    if (!n || !n->stack || ++w->tick % GLOBAL_TICK == 0)
        return NULL;
    w->runnext = NULL;
    return n;
}

/* The task's side: away from t, saying why, to its thread's loop or (a
 * park) straight to the next task; the park of t is then committed by
 * that task (handoff), once t's registers are saved. Returns when t is
 * resumed, perhaps on another thread. */
static void switch_out(struct sw__task *t, enum why why)
{
    struct worker *w = t->w;
    t->why = why;
    struct sw__task *next = why == WHY_PARK ? direct_next(w) : NULL;
    if (next) {
        w->handoff = t;
        switch_into(w, &t->ctx, &t->fake_stack, next);
    } else {
        w->back = t;
#ifdef SW__TSAN
        __tsan_switch_to_fiber(w->fiber, 0);
#endif
#ifdef SW__ASAN
        __sanitizer_start_switch_fiber(why == WHY_EXIT ? NULL : &t->fake_stack, w->stack_lo,
                                       w->stack_size);
#endif
        sw__ctx_swap(&t->ctx, &w->sched);
    }
#ifdef SW__ASAN
    __sanitizer_finish_switch_fiber(t->fake_stack, NULL, NULL);
#endif
    /* Resumed: by a loop (run), or by a task that parked (handoff). */
    w = t->w;
    struct sw__task *parked = w->handoff;
    if (parked) {
        w->handoff = NULL;
        commit_park(atomic_load_explicit(&g_pool, memory_order_relaxed), w, parked);
    }
}

static void task_main(void *arg)
{
    struct sw__task *t = arg;
#ifdef SW__ASAN
    __sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
    t->fn(t->arg);
    switch_out(t, WHY_EXIT);
    abort(); /* an ended task is never resumed */
}

/* Commits t's park (see DESIGN), on t's thread, t switched away. */
static void commit_park(struct pool *p, struct worker *w, struct sw__task *t)
{
    if (t->deadline >= 0 && (sw__now_ns() >= t->deadline || !timer_add(w, t))) {
        put_next(p, w, t); /* the state stays EMPTY: it times out */
        return;
    }
    uint32_t empty = SW__PARK_EMPTY;
    /* Release: pairs with the notifier's acquire exchange; it then sees t
     * whole, t->w included. After this, t is not ours to touch. */
    if (atomic_compare_exchange_strong_explicit(&t->park->state, &empty, SW__PARK_TASK + t->num,
                                                memory_order_release, memory_order_acquire))
        return;
    timer_cancel(t); /* notified before we could park it: run it again */
    put_next(p, w, t);
}

/* Runs t on this thread until it parks, yields or ends. */
static void run(struct pool *p, struct worker *w, struct sw__task *t)
{
    if (!t->stack)
        task_start(w, t);
    switch_into(w, &w->sched, &w->fake_stack, t);
#ifdef SW__ASAN
    __sanitizer_finish_switch_fiber(w->fake_stack, NULL, NULL);
#endif
    tls_task = NULL;
    sw__local_switch(NULL);
    t = w->back; /* not t, if t switched to another task directly */
    switch (t->why) {
    case WHY_PARK:
        commit_park(p, w, t);
        break;
    case WHY_YIELD:
        ring_put(w, t);
        break;
    case WHY_EXIT:
        task_release(w, t);
        break;
    }
}

/* ---- the loop ---- */

/* A Treiber stack's list (pushed last first) in push order. Jobs and tasks
 * both link through a first member `next`, as a struct node does. */
static void *in_push_order(void *lifo)
{
    struct node *n = lifo, *fifo = NULL;
    while (n) {
        struct node *next = n->next;
        n->next = fifo;
        fifo = n;
        n = next;
    }
    return fifo;
}

static bool run_jobs(struct worker *w)
{
    if (!atomic_load_explicit(&w->jobs, memory_order_relaxed))
        return false;
    /* Acquire: pairs with the submitters' release. */
    struct sw__job *fifo =
        in_push_order(atomic_exchange_explicit(&w->jobs, NULL, memory_order_acquire));
    while (fifo) {
        struct sw__job *next = fifo->next; /* the job may be requeued as it runs */
        fifo->run(fifo);
        fifo = next;
    }
    return true;
}

/* Moves the tasks plain threads woke for thread `from` (w itself, or a
 * victim of steal) into w's ring; true if there were any. */
static bool take_injected(struct pool *p, struct worker *w, struct worker *from)
{
    if (!atomic_load_explicit(&from->inject, memory_order_relaxed))
        return false;
    /* Acquire: pairs with the wakers' seq_cst push. */
    struct sw__task *fifo =
        in_push_order(atomic_exchange_explicit(&from->inject, NULL, memory_order_acquire));
    for (struct sw__task *t = fifo, *next; t; t = next) {
        next = t->next;
        ring_put(w, t);
    }
    wake_one(p);
    return true;
}

/* Takes a share of the global queue: one to run, some more into the ring. */
static struct sw__task *global_get(struct pool *p, struct worker *w)
{
    if (global_empty())
        return NULL;
    sw__lock_acquire(&g_runq.lock);
    size_t n = atomic_load_explicit(&g_runq.n, memory_order_relaxed);
    size_t take = n / p->n + 1;
    if (take > n)
        take = n;
    if (take > RING / 2)
        take = RING / 2;
    struct sw__task *first = g_runq.head, *last = first;
    for (size_t i = 1; i < take; i++)
        last = last->next;
    if (take) {
        g_runq.head = last->next;
        if (!g_runq.head)
            g_runq.tail = NULL;
        atomic_store_explicit(&g_runq.n, n - take, memory_order_relaxed);
    }
    sw__lock_release(&g_runq.lock);
    if (!take)
        return NULL;
    for (struct sw__task *t = first->next; take > 1; take--) {
        struct sw__task *next = t->next;
        ring_put(w, t);
        t = next;
    }
    return first;
}

static struct sw__task *steal(struct pool *p, struct worker *w)
{
    unsigned start = sw__rand_below(p->n);
    for (unsigned i = 0; i < p->n; i++) {
        struct worker *v = &p->w[(start + i) % p->n];
        if (v == w)
            continue;
        struct sw__task *t = ring_steal(w, v);
        if (t || (take_injected(p, w, v) && (t = ring_get(w))))
            return t;
    }
    return NULL;
}

static bool work_anywhere(struct pool *p, struct worker *w)
{
    if (atomic_load_explicit(&w->jobs, memory_order_seq_cst) ||
        atomic_load_explicit(&w->inject, memory_order_seq_cst) || !global_empty())
        return true;
    for (unsigned i = 0; i < p->n; i++)
        if (ring_len(&p->w[i]) || atomic_load_explicit(&p->w[i].inject, memory_order_seq_cst))
            return true;
    return atomic_load_explicit(&w->next_due, memory_order_relaxed) <= sw__now_ns();
}

/* Looks for work for up to IDLE_SPIN_NS before sleeping, so that work
 * that comes soon (a task woken by a thread, the next sw_go of a loop)
 * costs its submitter no futex wake and us no sleep. Past the first
 * microsecond it yields the CPU between looks, so a spinning thread takes
 * little from threads that have work. Submitters of work any thread may
 * take wake nobody while one spins (g_nspinning): it will find the work.
 * Every thread may spin: one that holds parked tasks must, for a plain
 * thread's wake-up of one of them to cost no futex wake (measured with one
 * spinner allowed on 2 CPUs, a thread-task round trip took 15-40 us). */
static bool idle_spin(struct pool *p, struct worker *w)
{
    bool found = false;
    atomic_fetch_add_explicit(&g_nspinning, 1, memory_order_seq_cst);
    int64_t start = sw__now_ns();
    for (int64_t now = start; now - start < IDLE_SPIN_NS; now = sw__now_ns()) {
        if ((found = work_anywhere(p, w)))
            break;
        if (now - start < SW__SPIN_NS)
            for (int i = 0; i < 64; i++)
                sw__cpu_relax();
        else
            sched_yield();
    }
    atomic_fetch_sub_explicit(&g_nspinning, 1, memory_order_seq_cst);
    return found;
}

static void idle(struct pool *p, struct worker *w)
{
    if (idle_spin(p, w))
        return;
    atomic_store_explicit(&w->sleeping, 1, memory_order_seq_cst);
    atomic_fetch_add_explicit(&g_nidle, 1, memory_order_seq_cst);
    if (!work_anywhere(p, w)) {
        int64_t due = atomic_load_explicit(&w->next_due, memory_order_relaxed);
        sw__futex_wait(&w->sleeping, 1, due == INT64_MAX ? -1 : due);
    }
    atomic_fetch_sub_explicit(&g_nidle, 1, memory_order_relaxed);
    atomic_store_explicit(&w->sleeping, 0, memory_order_relaxed);
}

static struct sw__task *next_task(struct pool *p, struct worker *w)
{
    struct sw__task *t;
    if (++w->tick % GLOBAL_TICK == 0 && (t = global_get(p, w)))
        return t;
    if ((t = w->runnext)) {
        w->runnext = NULL;
        return t;
    }
    if ((t = ring_get(w)))
        return t;
    if (take_injected(p, w, w))
        return ring_get(w);
    if ((t = global_get(p, w)))
        return t;
    return steal(p, w);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct pool *p;
    while (!(p = atomic_load_explicit(&g_pool, memory_order_acquire)))
        sched_yield(); /* the pool is being published */
    tls_worker = w;
#ifdef SW__TSAN
    w->fiber = __tsan_get_current_fiber();
#endif
#ifdef SW__ASAN
    pthread_attr_t attr;
    void *lo = NULL;
    size_t size = 0;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        pthread_attr_getstack(&attr, &lo, &size);
        pthread_attr_destroy(&attr);
    }
    w->stack_lo = lo;
    w->stack_size = size;
#endif
    for (;;) {
        run_jobs(w);
        run_timers(p, w);
        struct sw__task *t = next_task(p, w);
        if (t)
            run(p, w, t);
        else if (!atomic_load_explicit(&w->jobs, memory_order_relaxed))
            idle(p, w);
    }
    return NULL;
}

/* ---- the pool ---- */

static unsigned threads_wanted(void)
{
    const char *env = getenv("STEWARD_THREADS");
    if (env) {
        char *end;
        unsigned long n = strtoul(env, &end, 10);
        if (*env && !*end && n >= 1 && n <= 1024)
            return (unsigned)n;
    }
    return sw__cpus();
}

static size_t stack_size_wanted(size_t page)
{
    size_t size = 64 * 1024;
    const char *env = getenv("STEWARD_STACK_SIZE");
    if (env) {
        char *end;
        unsigned long long n = strtoull(env, &end, 10);
        if (*env && !*end && n <= (1ull << 30))
            size = n < 16 * 1024 ? 16 * 1024 : (size_t)n;
    }
    return (size + page - 1) / page * page;
}

/* Creates the pool. Threads already started stay (they idle forever) if a
 * later one fails: a pool is never torn down while the process runs. */
static struct pool *pool_create(void)
{
    long page = sysconf(_SC_PAGESIZE);
    g_page = page > 0 ? (size_t)page : 4096;
    g_stack_size = stack_size_wanted(g_page);
    unsigned n = threads_wanted();
    struct pool *p = alloc_fails() ? NULL : calloc(1, sizeof *p);
    struct worker *w = alloc_fails() ? NULL : sw__alloc_lines(n * sizeof *w);
    if (!p || !w) {
        free(p);
        free(w);
        return NULL;
    }
    p->n = n;
    p->w = w;
    for (unsigned i = 0; i < n; i++) {
        w[i].index = i;
        w[i].tlock = (sw__lock)SW__LOCK_INIT;
        atomic_init(&w[i].next_due, INT64_MAX);
    }
    /* Release: a parker that finds a TASK state sees the hooks. */
    static const struct sw__task_hooks hooks = {task_park, task_wake};
    atomic_store_explicit(&sw__task_hooks, &hooks, memory_order_release);
    /* Published before the threads start: they wait for it (worker_main). */
    atomic_store_explicit(&g_pool, p, memory_order_release);
    for (unsigned i = 0; i < n; i++)
        if (pthread_create(&w[i].thread, NULL, worker_main, &w[i]) != 0) {
            atomic_store_explicit(&g_pool, NULL, memory_order_release);
            return NULL; /* the started threads reference w: keep it */
        }
    return p;
}

static void pool_atfork_child(void)
{
    /* The child has none of the parent's pool threads: start afresh. The
     * parent's pool memory, tasks and stacks stay allocated in the child,
     * unused. */
    atomic_store(&g_pool, NULL);
    atomic_store(&g_nidle, 0);
    atomic_store(&g_nspinning, 0);
    pthread_mutex_init(&g_pool_mu, NULL);
    g_runq.head = g_runq.tail = NULL;
    atomic_store(&g_runq.n, 0);
    g_runq.lock = (sw__lock)SW__LOCK_INIT;
    g_mem.lock = (sw__lock)SW__LOCK_INIT;
    g_mem.tasks = g_mem.stacks = (struct cache){0};
    g_mem.slab_left = 0;
    atomic_store(&g_mem.have_stacks, 0);
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
    }
    pthread_mutex_unlock(&g_pool_mu);
    return p;
}

unsigned sw__pool_threads(void)
{
    struct pool *p = atomic_load_explicit(&g_pool, memory_order_acquire);
    return p ? p->n : threads_wanted();
}

unsigned sw__pool_start(void)
{
    struct pool *p = pool_get();
    return p ? p->n : 0;
}

/* ---- the public calls ---- */

int sw_go(sw_task_fn fn, void *arg)
{
    if (!fn)
        return SW_EINVAL;
    struct pool *p = pool_get();
    if (!p)
        return SW_EIO;
    struct worker *w = this_worker();
    struct sw__task *t = stacks_ready(w) ? task_alloc(w) : NULL;
    if (!t)
        return SW_ENOMEM;
    t->fn = fn;
    t->arg = arg;
    t->local = (struct sw__local){0};
    atomic_store_explicit(&t->timer_w, NULL, memory_order_relaxed);
#ifdef SW__TSAN
    if (!t->fiber) /* kept with the struct: GCC 12's TSan takes ms to make one */
        t->fiber = __tsan_create_fiber(0);
#endif
    if (w) {
        ring_put(w, t);
    } else {
        global_put(t, t, 1);
    }
    wake_one(p);
    return SW_OK;
}

int sw_in_task(void)
{
    return current() != NULL;
}

void sw_yield(void)
{
    struct sw__task *t = current();
    if (t)
        switch_out(t, WHY_YIELD);
    else
        sched_yield();
}

void sw_sleep(int64_t ns)
{
    if (ns <= 0) {
        sw_yield();
        return;
    }
    int64_t deadline = sw__deadline(ns);
    if (current()) {
        sw__parker p;
        sw__parker_init(&p);
        int rc;
        task_park(&p, deadline, NULL, &rc);
        return;
    }
    struct timespec ts = {deadline / 1000000000, deadline % 1000000000};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

/* Whether this thread has another task to run now. */
static bool busy_here(struct worker *w)
{
    return w->runnext || ring_len(w) || atomic_load_explicit(&w->inject, memory_order_relaxed) ||
           atomic_load_explicit(&w->jobs, memory_order_relaxed);
}

static bool task_park(sw__parker *p, int64_t deadline_ns, const _Atomic uint32_t *sleep_hint,
                      int *rc)
{
    struct sw__task *t = current();
    if (!t)
        return false;
    /* With nothing else to run here, the notifier is on another thread:
     * spin briefly for it, as a thread would, before paying two switches. */
    if (!busy_here(t->w) &&
        !(sleep_hint && atomic_load_explicit(sleep_hint, memory_order_relaxed))) {
        int64_t end = sw__now_ns() + SW__SPIN_NS;
        if (deadline_ns >= 0 && deadline_ns < end)
            end = deadline_ns;
        do {
            for (int i = 0; i < 64; i++) {
                if (sw__parker_notified(p)) {
                    *rc = SW_OK;
                    return true;
                }
                sw__cpu_relax();
            }
        } while (sw__now_ns() < end);
    }
    t->park = p;
    t->deadline = deadline_ns;
    switch_out(t, WHY_PARK);
    /* Acquire: pairs with the notifier's release. */
    if (atomic_load_explicit(&p->state, memory_order_acquire) == SW__PARK_NOTIFIED) {
        if (deadline_ns >= 0)
            timer_cancel(t);
        *rc = SW_OK;
    } else {
        *rc = SW_ETIMEDOUT; /* the timer moved it back to EMPTY, or the deadline had passed */
    }
    return true;
}
