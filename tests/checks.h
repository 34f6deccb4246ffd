/* Checks made off the test's own thread, for tests that run code in tasks
 * and helper threads: cmocka's assertions longjmp to the test's frame, from
 * whatever stack they run on, so only the main thread may make them. The
 * others CHECK, which records the first failure (and counts them all), and
 * the test calls assert_no_bad once they are done. Include after cmocka.h;
 * one copy per test program. It brings support.h (clocks, sleeps, the
 * seed) with it. */
#ifndef STEWARD_TESTS_CHECKS_H
#define STEWARD_TESTS_CHECKS_H

#include <stdatomic.h>
#include <stdint.h>

#include "support.h"

static _Atomic int g_bad_line;
static const char *_Atomic g_bad_what;
static _Atomic int64_t g_bad_count;

static void note_bad(int line, const char *what)
{
    int none = 0;
    atomic_fetch_add(&g_bad_count, 1);
    if (atomic_compare_exchange_strong(&g_bad_line, &none, line))
        atomic_store(&g_bad_what, what);
}

#define CHECK(c) ((c) ? (void)0 : note_bad(__LINE__, #c))

/* Fails the test if a CHECK failed since the last call. */
static void assert_no_bad(void)
{
    int line = atomic_exchange(&g_bad_line, 0);
    if (line)
        fail_msg("%lld checks failed in tasks or helper threads; the first, line %d: %s",
                 (long long)atomic_exchange(&g_bad_count, 0), line, atomic_load(&g_bad_what));
}

/* A cmocka setup: a test starts with no failure recorded. */
static int reset_bad(void **state)
{
    (void)state;
    atomic_store(&g_bad_line, 0);
    atomic_store(&g_bad_count, 0);
    return 0;
}

#endif
