/* sw_wg: Go's WaitGroup, for tasks and threads alike.
 *
 * A count and a list of waiters, under one short lock. A waiter queues its
 * parker (on its stack) while the count is above zero and parks; the call
 * that brings the count to zero takes the whole list under the lock and
 * notifies each waiter after releasing it. A waiter's node is only touched
 * before its notification, so it may return (and its stack move on) at
 * once after. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/sync.h"
#include "steward/task.h"
#include "base/base.h"

struct waiter {
    sw__parker parker;
    struct waiter *next;
};

struct sw_wg {
    sw__lock lock;
    int64_t count;
    struct waiter *waiters;
};

sw_wg *sw_wg_new(void)
{
    sw_wg *wg = calloc(1, sizeof *wg);
    if (wg)
        wg->lock = (sw__lock)SW__LOCK_INIT;
    return wg;
}

void sw_wg_add(sw_wg *wg, int64_t delta)
{
    if (!wg)
        return;
    sw__lock_acquire(&wg->lock);
    int64_t count;
    bool past_max = __builtin_add_overflow(wg->count, delta, &count); /* count >= 0: only up */
    if (past_max || count < 0) {
        sw__lock_release(&wg->lock);
        sw__logmsg(SW_LOG_ERROR, "sw_wg_add: the WaitGroup's count would go %s",
                   past_max ? "past INT64_MAX" : "below zero");
        abort();
    }
    wg->count = count;
    struct waiter *w = NULL;
    if (count == 0) {
        w = wg->waiters;
        wg->waiters = NULL;
    }
    sw__lock_release(&wg->lock);
    while (w) {
        struct waiter *next = w->next; /* read before: w may be gone once notified */
        sw__unpark(&w->parker);
        w = next;
    }
}

void sw_wg_done(sw_wg *wg)
{
    sw_wg_add(wg, -1);
}

void sw_wg_wait(sw_wg *wg)
{
    if (!wg)
        return;
    struct waiter me;
    sw__parker_init(&me.parker);
    sw__lock_acquire(&wg->lock);
    if (wg->count == 0) {
        sw__lock_release(&wg->lock);
        return;
    }
    me.next = wg->waiters;
    wg->waiters = &me;
    sw__lock_release(&wg->lock);
    sw__park(&me.parker, -1);
}

void sw_wg_free(sw_wg *wg)
{
    free(wg);
}
