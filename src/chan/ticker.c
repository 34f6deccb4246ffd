/* A thread that ticks until its quit channel closes (see ticker.h). */
#include "chan/ticker.h"

static void *ticker_main(void *arg)
{
    sw__ticker *t = arg;
    while (sw_chan_recv_timeout(t->quit, NULL, t->period_ns) == SW_ETIMEDOUT)
        t->fn(t->ctx);
    return NULL;
}

int sw__ticker_start(sw__ticker *t, int64_t period_ns, void (*fn)(void *ctx), void *ctx)
{
    *t = (sw__ticker){.fn = fn, .ctx = ctx, .period_ns = period_ns, .quit = sw_chan_new(0, 0)};
    if (!t->quit)
        return SW_ENOMEM;
    if (pthread_create(&t->thread, NULL, ticker_main, t) != 0)
        return SW_EIO;
    t->running = true;
    return SW_OK;
}

void sw__ticker_stop(sw__ticker *t)
{
    if (t->running) {
        sw_chan_close(t->quit);
        pthread_join(t->thread, NULL);
        t->running = false;
    }
    sw_chan_free(t->quit);
    t->quit = NULL;
}
