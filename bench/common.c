/* The cache-line floor (see common.h): the cheapest round trip two threads
 * can make, one cache line passed back and forth. Thread A writes an odd
 * value and waits for B to write the next even one. The spins have no pause
 * instruction: the floor is the line's transfer alone. And the switch floor:
 * the cheapest handoff between two threads that share one CPU.
 */
#include "common.h"

#include "steward/status.h"

#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { BATCH = 1024 }; /* round trips between two reads of the clock */

struct bounce {
    alignas(64) _Atomic int64_t word;
    int64_t duration_ns; /* immutable */
    double ns;           /* the result, written by A, read after join */
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void fail(const char *what, int rc)
{
    fprintf(stderr, "bench floor: %s: %s\n", what, strerror(rc));
    exit(1);
}

static void pin(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    int rc = pthread_setaffinity_np(pthread_self(), sizeof set, &set);
    if (rc != 0)
        fail("pthread_setaffinity_np", rc);
}

/* Runs b and a, each on a thread of its own, on arg, until both return. */
static void run_pair(void *(*a)(void *), void *(*b)(void *), void *arg)
{
    pthread_t ta, tb;
    int rc = pthread_create(&tb, NULL, b, arg);
    if (rc != 0)
        fail("pthread_create", rc);
    rc = pthread_create(&ta, NULL, a, arg);
    if (rc != 0)
        fail("pthread_create", rc);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
}

/* B answers v with v + 1 until it sees -1. Acquire loads pair with A's
 * release stores, and B's release stores with A's acquire loads. */
static void *bounce_b(void *arg)
{
    struct bounce *b = arg;
    pin(1);
    for (int64_t want = 1;; want += 2) {
        for (;;) {
            int64_t v = atomic_load_explicit(&b->word, memory_order_acquire);
            if (v == want)
                break;
            if (v < 0)
                return NULL;
        }
        atomic_store_explicit(&b->word, want + 1, memory_order_release);
    }
}

static void *bounce_a(void *arg)
{
    struct bounce *b = arg;
    pin(0);
    int64_t rounds = 0, start = now_ns(), end;
    do {
        for (int i = 0; i < BATCH; i++, rounds++) {
            atomic_store_explicit(&b->word, 2 * rounds + 1, memory_order_release);
            while (atomic_load_explicit(&b->word, memory_order_acquire) != 2 * rounds + 2)
                ;
        }
        end = now_ns();
    } while (end - start < b->duration_ns);
    atomic_store_explicit(&b->word, -1, memory_order_release);
    b->ns = (double)(end - start) / (double)rounds;
    return NULL;
}

double bench_floor_ns(int64_t duration_ns)
{
    if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
        return NAN;
    struct bounce b = {.duration_ns = duration_ns};
    atomic_init(&b.word, 0);
    run_pair(bounce_a, bounce_b, &b);
    return b.ns;
}

/* The switch floor: two threads pinned to CPU 0 hand a turn to each other,
 * each yielding the CPU until the turn is its own, so every handoff is one
 * switch between threads in the kernel. */
struct handoff {
    _Atomic int64_t turn; /* even: A's, odd: B's; -1: stop */
    int64_t duration_ns;  /* immutable */
    double ns;            /* the result, written by A, read after join */
};

static void *handoff_b(void *arg)
{
    struct handoff *h = arg;
    pin(0);
    for (int64_t want = 1;; want += 2) {
        int64_t v;
        while ((v = atomic_load_explicit(&h->turn, memory_order_acquire)) != want) {
            if (v < 0)
                return NULL;
            sched_yield();
        }
        atomic_store_explicit(&h->turn, want + 1, memory_order_release);
    }
}

static void *handoff_a(void *arg)
{
    struct handoff *h = arg;
    pin(0);
    int64_t turns = 0, start = now_ns(), end;
    do {
        for (int i = 0; i < BATCH; i++, turns += 2) {
            atomic_store_explicit(&h->turn, turns + 1, memory_order_release);
            while (atomic_load_explicit(&h->turn, memory_order_acquire) != turns + 2)
                sched_yield();
        }
        end = now_ns();
    } while (end - start < h->duration_ns);
    atomic_store_explicit(&h->turn, -1, memory_order_release);
    h->ns = (double)(end - start) / (double)turns;
    return NULL;
}

double bench_switch_ns(int64_t duration_ns)
{
    struct handoff h = {.duration_ns = duration_ns};
    atomic_init(&h.turn, 0);
    run_pair(handoff_a, handoff_b, &h);
    return h.ns;
}

int64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void bench_die(const char *what, const char *why)
{
    fprintf(stderr, "%s: %s: %s\n", bench_name, what, why);
    exit(1);
}

void bench_must(int rc, const char *what)
{
    if (rc != SW_OK)
        bench_die(what, sw_strerror(rc));
}

long bench_arg(int argc, char **argv, int i, long dflt)
{
    if (argc <= i)
        return dflt;
    char *end;
    long v = strtol(argv[i], &end, 10);
    if (*end != '\0' || v <= 0) {
        fprintf(stderr, "usage: %s [duration_ms [runs]]\n", bench_name);
        exit(2);
    }
    return v;
}
