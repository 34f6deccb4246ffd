/* Internal synchronisation primitives shared by the channel and owner layers:
 * a futex wrapper, a parker (one waiting thread, spin, then sleep), a small
 * futex mutex, and the spin-wait policy both use.
 *
 * Linux-only: they sit directly on futex(2), one futex word per waiter, so
 * that a wake-up touches exactly the thread it is meant for.
 */
#ifndef STEWARD_BASE_SYNC_H
#define STEWARD_BASE_SYNC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "steward/status.h"

#if defined(__x86_64__) || defined(__i386__)
#define sw__cpu_relax() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define sw__cpu_relax() __asm__ __volatile__("yield" ::: "memory")
#else
#define sw__cpu_relax() ((void)0)
#endif

#define SW__CACHE_LINE 64

/* size zeroed bytes in whole cache lines of their own (free with free()),
 * or NULL: for data that many threads read while others write nearby, such
 * as a table of owner handles that every caller reads. */
void *sw__alloc_lines(size_t size);

/* Fault injection for tests: a countdown, -1 when off. True when the event
 * it guards (an allocation, typically) must fail: once *after has counted
 * down to 0, every one fails until a test sets it back to -1. Relaxed: the
 * counter orders nothing, it only has to stay free of data races. */
bool sw__fault_fires(_Atomic long *after);

/* The online CPUs, at least 1. */
unsigned sw__cpus(void);

/* The default shard count of the Db, the Ledger and stewardd, as DESIGN.md
 * sets it: one per CPU above 4 CPUs, and max(1, CPUs - 1) on 4 or fewer
 * (chosen when every request was handed to a pool thread; docs/benchmarks.md
 * measures a sharded Db beside it). */
unsigned sw__default_shards(void);

/* The monotonic clock, in nanoseconds. */
int64_t sw__now_ns(void);

/* An absolute CLOCK_MONOTONIC deadline for a relative timeout: -1 (forever)
 * for timeout_ns < 0, now + timeout_ns otherwise, saturating. */
int64_t sw__deadline(int64_t timeout_ns);

/* futex(2) on a private 32-bit word. sw__futex_wait sleeps while *word ==
 * expect, until woken, a signal, or deadline_ns (absolute, monotonic; -1 for
 * none); callers re-check their condition, so every return is a hint. */
void sw__futex_wait(_Atomic uint32_t *word, uint32_t expect, int64_t deadline_ns);
void sw__futex_wake(_Atomic uint32_t *word, int count);

/* How long a waiter spins, then yields, before it sleeps. Spinning pays
 * when the peer runs on another core and answers within a microsecond or
 * two; beyond that the peer is probably not running, and with more threads
 * than cores it needs our CPU: yielding hands it over at once, where a
 * futex sleep and wake-up would cost ~15 us. Measured with 16 client
 * threads on 2 cores, a 20 us spin made the Db 6x slower than this. */
#define SW__SPIN_NS 1000
#define SW__YIELD_NS 200000

/* A parker: one waiter (a thread or a task) waits on it, any one thread
 * (or several, racing) notify it. Lives wherever the waiter wants: usually
 * its stack.
 *
 * A thread: EMPTY -> NOTIFIED (by sw__unpark), or EMPTY -> SLEEPING (by the
 * waiter, just before futex_wait) -> NOTIFIED. The notifier issues a
 * futex_wake only when it replaced SLEEPING, so a spinning waiter costs no
 * syscall. Since the notifier's exchange is the last thing it does to the
 * parker, the waiter may free the parker's memory as soon as it sees
 * NOTIFIED; the futex_wake that may follow touches only the address, which is
 * harmless (at worst a spurious wake-up of a later parker there, which
 * re-checks its state).
 *
 * A task: EMPTY -> TASK, set by the scheduler once the task has switched
 * away (never before: a notifier could then resume it while it still runs),
 * then TASK -> NOTIFIED by the notifier, which makes the task runnable; or
 * TASK -> EMPTY by the scheduler's timer at the deadline. Whoever moves the
 * state out of TASK resumes the task, so it resumes exactly once. The TASK
 * state names the task: SW__PARK_TASK plus its number (so that a parker
 * stays one 32-bit word, and an owner's message one cache line). */
enum { SW__PARK_EMPTY = 0, SW__PARK_NOTIFIED = 1, SW__PARK_SLEEPING = 2, SW__PARK_TASK = 3 };

typedef struct sw__parker {
    _Atomic uint32_t state;
} sw__parker;

static inline void sw__parker_init(sw__parker *p)
{
    atomic_store_explicit(&p->state, SW__PARK_EMPTY, memory_order_relaxed);
}

static inline bool sw__parker_notified(sw__parker *p)
{
    /* Acquire: pairs with the release in sw__unpark, so whatever the notifier
     * wrote before notifying is visible once this returns true. */
    return atomic_load_explicit(&p->state, memory_order_acquire) == SW__PARK_NOTIFIED;
}

/* Waits until notified (SW_OK) or until deadline_ns passes (SW_ETIMEDOUT;
 * -1 means never). After SW_ETIMEDOUT a notification may still arrive; the
 * parker is back in EMPTY and can be waited on again. Inside a task it parks
 * the task, and the thread runs others meanwhile. */
int sw__park(sw__parker *p, int64_t deadline_ns);

/* As sw__park, but stops spinning and sleeps at once when *sleep_hint is
 * non-zero (checked every microsecond or so): the notifier says it will be
 * slow (an fsync is under way), so spinning would only take its CPU. */
int sw__park_hint(sw__parker *p, int64_t deadline_ns, const _Atomic uint32_t *sleep_hint);

/* The parker's task half. Base knows no tasks: the task layer (src/task)
 * installs these when its pool starts, before any task exists.
 *  park: parks the running task on p and returns true with the result in
 *        *rc; false, touching nothing, on a plain thread;
 *  wake: makes runnable the task a parker's TASK state names. */
struct sw__task_hooks {
    bool (*park)(sw__parker *p, int64_t deadline_ns, const _Atomic uint32_t *sleep_hint, int *rc);
    void (*wake)(uint32_t state);
};
extern const struct sw__task_hooks *_Atomic sw__task_hooks; /* NULL: no task yet */

static inline void sw__unpark(sw__parker *p)
{
    /* Release: pairs with the acquire load in sw__parker_notified/sw__park.
     * Acquire: pairs with the scheduler's release of a TASK state, so the
     * task it names is seen whole. */
    uint32_t old = atomic_exchange_explicit(&p->state, SW__PARK_NOTIFIED, memory_order_acq_rel);
    if (old == SW__PARK_SLEEPING)
        sw__futex_wake(&p->state, 1);
    else if (old >= SW__PARK_TASK) /* a task parked: the hooks are in */
        atomic_load_explicit(&sw__task_hooks, memory_order_acquire)->wake(old);
}

/* What belongs to the running code rather than to its thread: a task
 * carries its own from thread to thread, a plain thread has one of its own.
 * The pointer stays right for as long as the code that got it runs, across
 * blocking calls too (a task's is in the task); what must never be kept
 * across a blocking call is a _Thread_local's address, which is what this
 * call hides. */
struct sw__local {
    unsigned owner_depth; /* owner functions running here (owner.c) */
};
struct sw__local *sw__local(void);

/* The task layer, as it switches: l is the running task's own (NULL: back
 * to the thread's). */
void sw__local_switch(struct sw__local *l);

/* A mutex on one futex word (0 free, 1 held, 2 held and someone may sleep).
 * Spins briefly before sleeping; held only for a few dozen instructions by
 * the channel and owner code. */
typedef struct sw__lock {
    _Atomic uint32_t word;
} sw__lock;

#define SW__LOCK_INIT \
    {                 \
        0             \
    }

void sw__lock_slow(sw__lock *l);

static inline void sw__lock_acquire(sw__lock *l)
{
    uint32_t expect = 0;
    /* Acquire: pairs with the release in sw__lock_release. */
    if (!atomic_compare_exchange_strong_explicit(&l->word, &expect, 1, memory_order_acquire,
                                                 memory_order_relaxed))
        sw__lock_slow(l);
}

static inline void sw__lock_release(sw__lock *l)
{
    /* Release: pairs with the acquire in sw__lock_acquire/sw__lock_slow. */
    if (atomic_exchange_explicit(&l->word, 0, memory_order_release) == 2)
        sw__futex_wake(&l->word, 1);
}

/* A per-thread xorshift generator, seeded once per thread. */
uint64_t sw__rand64(void);

/* A uniform value in [0, n), n > 0 (Lemire's multiply-shift; the bias is
 * below 2^-32 for any n a select can have). */
static inline uint32_t sw__rand_below(uint32_t n)
{
    return (uint32_t)(((sw__rand64() >> 32) * (uint64_t)n) >> 32);
}

#endif
