/* A shard's log with its fsync policy and group commit (see journal.h). */
#include "log/journal.h"
#include "base/base.h"

#include <stdio.h>
#include <string.h>

int sw__journal_open(sw__journal *j, const char *path, enum sw_fsync fsync, sw__log_replay_fn fn,
                     void *ctx, const char *name, char *err, size_t errlen)
{
    *j = (sw__journal){.fsync = fsync};
    snprintf(j->name, sizeof j->name, "%s", name);
    int rc = sw__log_open(&j->log, path, fn, ctx, err, errlen);
    j->open = rc == SW_OK;
    return rc;
}

size_t sw__journal_mark(const sw__journal *j)
{
    return sw__log_pending(&j->log);
}

int sw__journal_append(sw__journal *j, const sw__rec *r)
{
    return j->failed ? SW_EIO : sw__log_append(&j->log, r);
}

void sw__journal_rewind(sw__journal *j, size_t mark)
{
    sw__log_rewind(&j->log, mark);
}

int sw__journal_reserve(sw__journal *j, size_t bytes)
{
    return j->failed ? SW_EIO : sw__log_reserve(&j->log, bytes);
}

int sw__journal_hold(sw__journal *j, size_t bytes)
{
    return j->failed ? SW_EIO : sw__log_hold(&j->log, bytes);
}

void sw__journal_release(sw__journal *j, size_t bytes)
{
    sw__log_release(&j->log, bytes);
}

void sw__journal_wait(sw__journal *j, sw__journal_waiter *w, int *rc)
{
    w->rc = rc;
    w->next = j->waits;
    j->waits = w;
}

bool sw__journal_commit(sw__journal *j)
{
    if (!j->waits && sw__journal_mark(j) == 0) /* nothing appended since the last commit */
        return !j->failed;
    bool sync = j->fsync == SW_FSYNC_ALWAYS || j->sync_batch;
    j->sync_batch = false;
    if (sw__log_flush(&j->log, sync) != SW_OK) {
        for (sw__journal_waiter *w = j->waits; w; w = w->next)
            *w->rc = SW_EIO;
        if (!j->failed)
            sw__logmsg(SW_LOG_ERROR,
                       "%s: %s; the writes of this batch were refused, and it refuses "
                       "every request until reopened",
                       j->name, sw__log_errmsg(&j->log));
        j->failed = true;
    }
    j->waits = NULL;
    return !j->failed;
}

int sw__journal_close(sw__journal *j)
{
    if (!j->open)
        return SW_OK;
    int rc = j->failed ? SW_EIO : SW_OK;
    if (rc == SW_OK && sw__log_flush(&j->log, true) != SW_OK) {
        sw__logmsg(SW_LOG_ERROR, "%s: final sync failed: %s", j->name, sw__log_errmsg(&j->log));
        rc = SW_EIO;
    }
    sw__log_close(&j->log);
    j->open = false;
    return rc;
}

static void sync_all(void *ctx)
{
    sw__syncer *s = ctx;
    for (size_t i = 0; i < s->n; i++) {
        sw__journal *j = s->get(s->ctx, i);
        if (sw__log_sync(&j->log) != SW_OK)
            sw__logmsg(SW_LOG_ERROR, "%s: background sync failed: %s", j->name,
                       strerror(sw__log_errno(&j->log)));
    }
}

int sw__syncer_start(sw__syncer *s, sw__journal_get_fn get, void *ctx, size_t n)
{
    s->get = get;
    s->ctx = ctx;
    s->n = n;
    return sw__ticker_start(&s->ticker, 1000000000, sync_all, s);
}

void sw__syncer_stop(sw__syncer *s)
{
    sw__ticker_stop(&s->ticker);
}
