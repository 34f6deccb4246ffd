/* A ticker: a thread that calls fn(ctx) every period until stopped, built
 * on a channel (the thread waits on a receive with a timeout; stopping
 * closes the channel, which wakes it at once). The Db's expiry sweep, the
 * everysec syncer and the Ledger's compactor each run on one.
 */
#ifndef STEWARD_CHAN_TICKER_H
#define STEWARD_CHAN_TICKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "steward/chan.h"

typedef struct sw__ticker {
    pthread_t thread;
    sw_chan *quit; /* closed by sw__ticker_stop */
    bool running;
    void (*fn)(void *ctx); /* immutable while running */
    void *ctx;
    int64_t period_ns;
} sw__ticker;

/* Starts the thread; fn first runs one period from now. SW_OK; SW_ENOMEM;
 * SW_EIO if the thread cannot start (t is then safe to stop). */
int sw__ticker_start(sw__ticker *t, int64_t period_ns, void (*fn)(void *ctx), void *ctx);

/* Stops and joins the thread (a call of fn under way finishes first).
 * Harmless on a zeroed ticker or one that failed to start. Not from fn. */
void sw__ticker_stop(sw__ticker *t);

#endif
