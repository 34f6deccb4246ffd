/* What the benchmark programs share: the clock, failing loudly, a fast
 * random generator, their command line, the cache-line floor (two threads
 * pinned to CPUs 0 and 1 bouncing one cache line with atomics), against
 * which a round trip between threads is compared, and the switch floor (two
 * threads taking turns on CPU 0), the least a thread switch costs.
 */
#ifndef STEWARD_BENCH_COMMON_H
#define STEWARD_BENCH_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The program's name, for messages; each program defines it. */
extern const char *bench_name;

/* The monotonic clock, in ns. */
int64_t bench_now_ns(void);

/* Reports "bench_name: what: why" and exits 1: a benchmark has no use for a
 * failed call. */
void bench_die(const char *what, const char *why);

/* bench_die(what, sw_strerror(rc)) unless rc is SW_OK. */
void bench_must(int rc, const char *what);

/* argv[i] as a positive number, dflt when absent; exits with the usage
 * line "usage: bench_name [duration_ms [runs]]" when it is not one. */
long bench_arg(int argc, char **argv, int i, long dflt);

/* xorshift64: fast, and good enough to pick keys. */
static inline uint64_t bench_xorshift64(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* Bounces one cache line between threads pinned to CPUs 0 and 1 for about
 * duration_ns and returns the ns per round trip; NAN with a single CPU.
 * Exits the program, with a message, if a thread cannot be started or
 * pinned. */
double bench_floor_ns(int64_t duration_ns);

/* Two threads pinned to CPU 0 handing a turn back and forth, each calling
 * sched_yield until the turn is its own, for about duration_ns: returns the
 * ns per handoff, i.e. per switch between threads on one CPU. Whenever
 * threads waiting for answers outnumber the CPUs, each answer costs at
 * least one such switch. Exits like bench_floor_ns on failure. */
double bench_switch_ns(int64_t duration_ns);

/* One measurement of a benchmark program: its printed name, and a function
 * that runs it for about duration_ns and returns its figure. */
struct bench {
    const char *name;
    double (*run)(int64_t duration_ns);
    bool lower_is_better; /* ns and bytes; rates are higher-better */
};

/* Runs each of the n benches whose name contains only ("" for all) runs
 * times, through call (NULL: b->run itself; a program whose loads must run
 * somewhere else passes its own), and prints "name best" for each. */
void bench_run_all(const struct bench *benches, size_t n, int64_t duration_ns, long runs,
                   const char *only, double (*call)(double (*run)(int64_t), int64_t duration_ns));

#endif
