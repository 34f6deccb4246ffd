/* The cache-line floor, shared by the benchmarks that compare a round trip
 * between threads with the physical cost of one: two threads pinned to CPUs
 * 0 and 1 bounce one cache line with atomics.
 */
#ifndef STEWARD_BENCH_FLOOR_H
#define STEWARD_BENCH_FLOOR_H

#include <stdint.h>

/* Bounces one cache line between threads pinned to CPUs 0 and 1 for about
 * duration_ns and returns the ns per round trip; NAN with a single CPU.
 * Exits the program, with a message, if a thread cannot be started or
 * pinned. */
double bench_floor_ns(int64_t duration_ns);

#endif
