/* What the test programs share besides their checks (checks.h includes
 * this): the monotonic clock, sleeps, and the seed that replays a run.
 * Header-only and static, so each test program has its own copy.
 *
 * The seed. A test that draws random numbers calls seed_init once at the
 * start of main: the seed is STEWARD_SEED (decimal) when that is set, else
 * a fresh one from getrandom, and either way it is printed once as
 *     seed: N (replay: STEWARD_SEED=N program args...)
 * Every generator the test uses then starts from seed_stream(k), k a number
 * fixed per thread or per use (a worker's index, a test's own constant), so
 * one seed gives each thread the same numbers in the same order, whatever
 * the others do. The seed fixes every random choice a test makes (which
 * key, which owner, how long a nap, when to close or kill); where the
 * outcome also depends on how threads interleave, the kernel still decides
 * that, so a replay repeats the test's choices, not its schedule.
 */
#ifndef STEWARD_TESTS_SUPPORT_H
#define STEWARD_TESTS_SUPPORT_H

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* ---- clocks and sleeps ---- */

/* The monotonic clock, in nanoseconds. */
static inline int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Sleeps at least ns nanoseconds (not at all for ns <= 0), even across
 * signals. */
static inline void sleep_ns(int64_t ns)
{
    if (ns <= 0)
        return;
    struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static inline void sleep_us(int64_t us)
{
    sleep_ns(us * 1000);
}

static inline void sleep_ms(int64_t ms)
{
    sleep_ns(ms * 1000000);
}

/* ---- random numbers and the seed ---- */

/* splitmix64's finaliser: a bijection of 64 bits that spreads each input
 * bit over the whole output. */
static inline uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* The next number of a generator (splitmix64): any state is a good one,
 * 0 included, and each generator is one uint64_t its thread owns. */
static inline uint64_t rng_next(uint64_t *state)
{
    return mix64(*state += 0x9e3779b97f4a7c15u);
}

/* The seed, and whether seed_init has set it. */
struct test_seed {
    uint64_t value;
    bool set;
};

static inline struct test_seed *seed_state(void)
{
    static struct test_seed seed;
    return &seed;
}

/* Sets the seed from STEWARD_SEED, or draws one, and prints it with the
 * command line that replays it; returns it. Call once, from main, before
 * any thread starts. A STEWARD_SEED that is not a decimal number ends the
 * program with status 2. */
static inline uint64_t seed_init(int argc, char **argv)
{
    struct test_seed *s = seed_state();
    const char *env = getenv("STEWARD_SEED");
    if (env && *env) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(env, &end, 10);
        if (errno || *end || *env == '-' || *env == '+' || *env == ' ') {
            fprintf(stderr, "STEWARD_SEED=%s: not a decimal number below 2^64\n", env);
            exit(2);
        }
        s->value = v;
    } else if (getrandom(&s->value, sizeof s->value, GRND_NONBLOCK) != (ssize_t)sizeof s->value) {
        s->value = mix64((uint64_t)now_ns() ^ (uint64_t)getpid() << 32);
    }
    s->set = true;
    printf("seed: %" PRIu64 " (replay: STEWARD_SEED=%" PRIu64, s->value, s->value);
    for (int i = 0; i < argc; i++)
        printf(" %s", argv[i]);
    printf(")\n");
    fflush(stdout); /* before any fork, and before cmocka's own lines */
    return s->value;
}

/* The starting state of generator k: the seed and k through the mixer, so
 * that generators of neighbouring k share nothing. Aborts if seed_init has
 * not run, rather than run unseeded. */
static inline uint64_t seed_stream(uint64_t k)
{
    struct test_seed *s = seed_state();
    if (!s->set) {
        fprintf(stderr, "seed_stream(%" PRIu64 ") before seed_init\n", k);
        abort();
    }
    return mix64(s->value ^ mix64(k + 0x9e3779b97f4a7c15u));
}

#endif
