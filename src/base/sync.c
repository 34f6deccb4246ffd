/* The slow paths of the parker and the futex mutex, the clock, the
 * per-thread random generator and cache-line allocation. */
#define _GNU_SOURCE
#include "base/sync.h"

#include <errno.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

bool sw__fault_fires(_Atomic long *after)
{
    long n = atomic_load_explicit(after, memory_order_relaxed);
    while (n > 0) {
        if (atomic_compare_exchange_weak_explicit(after, &n, n - 1, memory_order_relaxed,
                                                  memory_order_relaxed))
            return false;
    }
    return n == 0;
}

unsigned sw__cpus(void)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    return cpus >= 1 ? (unsigned)cpus : 1;
}

unsigned sw__default_shards(void)
{
    unsigned cpus = sw__cpus();
    return cpus > 4 ? cpus : cpus > 1 ? cpus - 1 : 1;
}

int64_t sw__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t sw__deadline(int64_t timeout_ns)
{
    if (timeout_ns < 0)
        return -1;
    int64_t now = sw__now_ns();
    return timeout_ns > INT64_MAX - now ? INT64_MAX : now + timeout_ns;
}

void *sw__alloc_lines(size_t size)
{
    if (size > SIZE_MAX - SW__CACHE_LINE)
        return NULL;
    size_t rounded =
        size ? (size + SW__CACHE_LINE - 1) / SW__CACHE_LINE * SW__CACHE_LINE : SW__CACHE_LINE;
    void *p = aligned_alloc(SW__CACHE_LINE, rounded);
    if (p)
        memset(p, 0, rounded);
    return p;
}

void sw__futex_wait(_Atomic uint32_t *word, uint32_t expect, int64_t deadline_ns)
{
    struct timespec ts, *tsp = NULL;
    if (deadline_ns >= 0) {
        ts.tv_sec = deadline_ns / 1000000000;
        ts.tv_nsec = deadline_ns % 1000000000;
        tsp = &ts;
    }
    /* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline, so a
     * wait interrupted by a signal never stretches the timeout. */
    syscall(SYS_futex, word, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, expect, tsp, NULL,
            FUTEX_BITSET_MATCH_ANY);
}

void sw__futex_wake(_Atomic uint32_t *word, int count)
{
    syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, count, NULL, NULL, 0);
}

/* Spins on the parker for up to SW__SPIN_NS, then yields for up to
 * SW__YIELD_NS. The clock is read once every 64 pauses: cheap next to them. */
static bool spin_for(sw__parker *p, int64_t deadline_ns, const _Atomic uint32_t *sleep_hint)
{
    int64_t start = sw__now_ns();
    int64_t spin_end = start + SW__SPIN_NS, yield_end = spin_end + SW__YIELD_NS;
    if (deadline_ns >= 0 && deadline_ns < yield_end)
        yield_end = deadline_ns;
    if (spin_end > yield_end)
        spin_end = yield_end;
    for (;;) {
        for (int i = 0; i < 64; i++) {
            if (sw__parker_notified(p))
                return true;
            sw__cpu_relax();
        }
        int64_t now = sw__now_ns();
        if (now >= yield_end)
            return false;
        /* Relaxed: a hint; being late costs a few more spins. */
        if (sleep_hint && atomic_load_explicit(sleep_hint, memory_order_relaxed))
            return false;
        if (now >= spin_end)
            sched_yield();
    }
}

int sw__park(sw__parker *p, int64_t deadline_ns)
{
    return sw__park_hint(p, deadline_ns, NULL);
}

const struct sw__task_hooks *_Atomic sw__task_hooks;

static _Thread_local struct sw__local tls_local;
static _Thread_local struct sw__local *tls_local_cur;

/* Not inlined, and opaque to the optimiser: a _Thread_local's address
 * computed before a task's switch must not be reused after it, when the
 * task may run on another thread. */
__attribute__((noinline)) struct sw__local *sw__local(void)
{
    __asm__ __volatile__("" ::: "memory");
    struct sw__local *l = tls_local_cur;
    return l ? l : &tls_local;
}

void sw__local_switch(struct sw__local *l)
{
    tls_local_cur = l;
}

int sw__park_hint(sw__parker *p, int64_t deadline_ns, const _Atomic uint32_t *sleep_hint)
{
    int rc;
    /* Acquire: pairs with the task layer's release of its hooks. */
    const struct sw__task_hooks *tasks =
        atomic_load_explicit(&sw__task_hooks, memory_order_acquire);
    if (tasks && tasks->park(p, deadline_ns, sleep_hint, &rc))
        return rc;
    if (spin_for(p, deadline_ns, sleep_hint))
        return SW_OK;
    for (;;) {
        uint32_t expect = SW__PARK_EMPTY;
        /* Acquire on failure: the state is NOTIFIED, and we must see what the
         * notifier wrote before it. Pairs with the release in sw__unpark. */
        if (!atomic_compare_exchange_strong_explicit(&p->state, &expect, SW__PARK_SLEEPING,
                                                     memory_order_acquire, memory_order_acquire))
            if (expect == SW__PARK_NOTIFIED)
                return SW_OK;
        if (deadline_ns >= 0 && sw__now_ns() >= deadline_ns) {
            expect = SW__PARK_SLEEPING;
            if (atomic_compare_exchange_strong_explicit(&p->state, &expect, SW__PARK_EMPTY,
                                                        memory_order_acquire, memory_order_acquire))
                return SW_ETIMEDOUT;
            return SW_OK; /* notified after all */
        }
        sw__futex_wait(&p->state, SW__PARK_SLEEPING, deadline_ns);
        if (sw__parker_notified(p))
            return SW_OK;
    }
}

void sw__lock_slow(sw__lock *l)
{
    for (int i = 0; i < 200; i++) {
        sw__cpu_relax();
        uint32_t expect = 0;
        if (atomic_load_explicit(&l->word, memory_order_relaxed) == 0 &&
            atomic_compare_exchange_weak_explicit(&l->word, &expect, 1, memory_order_acquire,
                                                  memory_order_relaxed))
            return;
    }
    /* Mark the lock contended (2) whenever we take it from here on: we cannot
     * know whether other sleepers remain, so the release must wake one. */
    while (atomic_exchange_explicit(&l->word, 2, memory_order_acquire) != 0)
        sw__futex_wait(&l->word, 2, -1);
}

static _Thread_local uint64_t rand_state;

uint64_t sw__rand64(void)
{
    uint64_t x = rand_state;
    if (x == 0) {
        /* Seed from the clock and this thread's address space position, so
         * that threads started together still differ. */
        x = (uint64_t)sw__now_ns() ^ ((uint64_t)(uintptr_t)&rand_state * 0x9E3779B97F4A7C15u);
        if (x == 0)
            x = 0x9E3779B97F4A7C15u;
    }
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rand_state = x;
    return x * 0x2545F4914F6CDD1Du;
}
