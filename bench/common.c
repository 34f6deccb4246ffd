/* The two floors (see common.h), one ping-pong each: thread A writes an
 * odd value and waits for B to write the next even one. The cache-line
 * floor puts A and B on CPUs 0 and 1 and spins with no pause instruction,
 * so a round trip is the line's transfer alone; the switch floor puts both
 * on CPU 0 and yields while waiting, so each half of a round trip is one
 * switch between threads in the kernel.
 */
#include "common.h"

#include "steward/status.h"

#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { BATCH = 1024 }; /* round trips between two reads of the clock */

struct bounce {
    alignas(64) _Atomic int64_t word; /* odd: B's turn, even: A's; -1: stop */
    int64_t duration_ns;              /* immutable */
    int cpu_b;                        /* immutable: B's CPU (A's is 0) */
    bool yield;                       /* immutable: wait with sched_yield, else spin */
    double ns;                        /* per round trip: written by A, read after join */
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

/* B answers v with v + 1 until it sees -1. Acquire loads pair with A's
 * release stores, and B's release stores with A's acquire loads. */
static void *bounce_b(void *arg)
{
    struct bounce *b = arg;
    const bool yield = b->yield; /* a local, so the spin loads nothing else */
    pin(b->cpu_b);
    for (int64_t want = 1;; want += 2) {
        int64_t v;
        while ((v = atomic_load_explicit(&b->word, memory_order_acquire)) != want) {
            if (v < 0)
                return NULL;
            if (yield)
                sched_yield();
        }
        atomic_store_explicit(&b->word, want + 1, memory_order_release);
    }
}

static void *bounce_a(void *arg)
{
    struct bounce *b = arg;
    const bool yield = b->yield;
    pin(0);
    int64_t rounds = 0, start = now_ns(), end;
    do {
        for (int i = 0; i < BATCH; i++, rounds++) {
            atomic_store_explicit(&b->word, 2 * rounds + 1, memory_order_release);
            while (atomic_load_explicit(&b->word, memory_order_acquire) != 2 * rounds + 2)
                if (yield)
                    sched_yield();
        }
        end = now_ns();
    } while (end - start < b->duration_ns);
    atomic_store_explicit(&b->word, -1, memory_order_release);
    b->ns = (double)(end - start) / (double)rounds;
    return NULL;
}

/* Runs the ping-pong for about duration_ns; ns per round trip. */
static double bounce(int cpu_b, bool yield, int64_t duration_ns)
{
    struct bounce b = {.duration_ns = duration_ns, .cpu_b = cpu_b, .yield = yield};
    atomic_init(&b.word, 0);
    pthread_t ta, tb;
    int rc = pthread_create(&tb, NULL, bounce_b, &b);
    if (rc != 0)
        fail("pthread_create", rc);
    rc = pthread_create(&ta, NULL, bounce_a, &b);
    if (rc != 0)
        fail("pthread_create", rc);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    return b.ns;
}

double bench_floor_ns(int64_t duration_ns)
{
    if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
        return NAN;
    return bounce(1, false, duration_ns);
}

double bench_switch_ns(int64_t duration_ns)
{
    return bounce(0, true, duration_ns) / 2; /* two switches per round trip */
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

void bench_run_all(const struct bench *benches, size_t n, int64_t duration_ns, long runs,
                   const char *only, double (*call)(double (*run)(int64_t), int64_t duration_ns))
{
    for (size_t k = 0; k < n; k++) {
        const struct bench *b = &benches[k];
        if (!strstr(b->name, only))
            continue;
        double best = 0;
        for (long r = 0; r < runs; r++) {
            double x = call ? call(b->run, duration_ns) : b->run(duration_ns);
            if (r == 0 || (b->lower_is_better ? x < best : x > best))
                best = x;
        }
        printf("%s %.1f\n", b->name, best);
        fflush(stdout);
    }
}
