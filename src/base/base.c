/* The log hook and the wall clock (base.h). */
#define _GNU_SOURCE
#include "base/base.h"

#include <stdarg.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

/* The hook and its context change together, under a lock that a message
 * holds only to copy them: so a logger never pairs a new function with an
 * old context, and a hook may itself call sw_set_log. Logging is rare. */
static pthread_mutex_t g_log_lock = PTHREAD_MUTEX_INITIALIZER;
static sw_log_fn g_log_fn; /* guarded by g_log_lock; NULL: stderr */
static void *g_log_ctx;    /* guarded by g_log_lock */

void sw_set_log(sw_log_fn fn, void *ctx)
{
    pthread_mutex_lock(&g_log_lock);
    g_log_fn = fn;
    g_log_ctx = fn ? ctx : NULL;
    pthread_mutex_unlock(&g_log_lock);
}

void sw__logmsg(int level, const char *fmt, ...)
{
    char msg[1024];
    int at = snprintf(msg, sizeof msg, "steward: ");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg + at, sizeof msg - (size_t)at, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&g_log_lock);
    sw_log_fn fn = g_log_fn;
    void *ctx = g_log_ctx;
    pthread_mutex_unlock(&g_log_lock);
    if (fn)
        fn(ctx, level, msg);
    else
        fprintf(stderr, "%s\n", msg);
}

static _Atomic int64_t g_fake_ms;

void sw__wall_ms_set(int64_t ms)
{
    atomic_store_explicit(&g_fake_ms, ms, memory_order_relaxed);
}

int64_t sw__wall_ms(void)
{
    int64_t fake = atomic_load_explicit(&g_fake_ms, memory_order_relaxed);
    if (fake)
        return fake;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
