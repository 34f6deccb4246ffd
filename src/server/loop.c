/* stewardd's shard threads: each runs an epoll loop whose turn accepts and
 * reads (conn.c), handles the inbox (route.c), commits the turn's log
 * records, and only then sends the replies home and to the clients, with a
 * cron between turns. Also starting and stopping the threads. The DESIGN
 * comment is in server.h.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "server/cmd.h"
#include "server/loop_int.h"

static const uint32_t LISTEN_TAG = 1; /* epoll data of the listening socket */
static const uint32_t EVENT_TAG = 2;  /* and of the eventfd */

/* The shard this thread runs (set by shard_main), for srv_may_touch; NULL
 * on every other thread. */
static _Thread_local const struct srv_shard *current;

void srv_shard_bind(const struct srv_shard *sh)
{
    current = sh;
}

bool srv_may_touch(const struct srv_shard *sh)
{
    return current == sh || (current && current->world_held);
}

/* ---- commit ---------------------------------------------------------------------- */

void srv_log_lost(struct srv_shard *sh)
{
    fprintf(stderr,
            "stewardd: shard %u: the log cannot be written or synced; stopping now so that "
            "nothing unsaved is acknowledged (restart recovers every acknowledged write)\n",
            sh->index);
    _exit(1);
}

/* The end of a batch of writes on sh: one write (and fsync) for all. */
static void commit(struct srv_shard *sh)
{
    if (sw__shard_commit(sh->core) != SW_OK)
        srv_log_lost(sh);
    sh->dirty = false;
}

void srv_commit_dirty(struct srv_shard *sh)
{
    assert(srv_may_touch(sh));
    if (sh->dirty)
        commit(sh);
}

/* ---- cron -------------------------------------------------------------------- */

static void cron(struct srv_shard *sh)
{
    kv_sweep(sh);
    kv_rates_sample(sh);
    multi_gc(sh);
    conn_cron(sh);
}

/* One round of whoever runs sh: its inbox handled (up to a PAUSE), the
 * writes committed, then what that produced sent (lending, in turn, to the
 * shards it wakes). Whether it sent sh messages of its own. */
static bool serve_round(struct srv_shard *sh)
{
    route_serve_inbox(sh);
    commit(sh);
    return route_send_replies(sh);
}

/* ---- the loop ------------------------------------------------------------------ */

/* Whether sh has work for its own thread now, which a lender leaves it:
 * a compaction under way, messages set aside (a PAUSE among them),
 * connections to retry, replies for its clients. */
static bool shard_busy(const struct srv_shard *sh)
{
    return sw__shard_compacting(sh->core) || sh->deferred || sh->spinning || sh->flush;
}

static int turn_timeout(struct srv_shard *sh)
{
    if (shard_busy(sh))
        return 0;
    if (atomic_load_explicit(&sh->srv->stopping, memory_order_relaxed))
        return 10;
    int64_t period = 1000 / sh->srv->cfg.hz;
    int64_t left = sh->last_cron_ms + period - sh->now_ms;
    return left < 0 ? 0 : (int)left;
}

/* sh's side of the wake-up handshake (server.h): marks sh asleep, then
 * says whether its inbox has messages after all. Sequentially consistent,
 * against a pusher's push and then its look at the flag: one of the two
 * sees the other. By whoever holds sh, about to let it go. */
static bool fall_asleep(struct srv_shard *sh)
{
    atomic_store_explicit(&sh->sleeping, 1, memory_order_seq_cst);
    return atomic_load_explicit(&sh->inbox, memory_order_seq_cst) != NULL;
}

/* Waits for events, with sh let go meanwhile; returns how many. The
 * sleeping flag makes pushers lend themselves to sh or wake it (see
 * server.h). */
static int shard_wait(struct srv_shard *sh, struct epoll_event *ev, int max)
{
    int timeout = turn_timeout(sh);
    if (timeout > 0 && fall_asleep(sh))
        timeout = 0;
    pthread_mutex_unlock(&sh->turn);
    int n = epoll_wait(sh->epfd, ev, max, timeout);
    pthread_mutex_lock(&sh->turn);
    atomic_store_explicit(&sh->sleeping, 0, memory_order_relaxed);
    return n;
}

void srv_wake(struct srv_shard *sh)
{
    atomic_fetch_add_explicit(&sh->st_wakeups, 1, memory_order_relaxed);
    uint64_t one = 1;
    ssize_t w = write(sh->efd, &one, sizeof one);
    (void)w; /* EAGAIN: the counter is already non-zero, so it will wake */
}

/* The most rounds a lender serves: past them, sh's own thread takes over,
 * and the lender goes back to its own clients. */
enum { LEND_ROUNDS = 4 };

void srv_lend(struct srv_shard *sh)
{
    struct srv *s = sh->srv;
    if ((s->cfg.dir && s->cfg.fsync == SW_FSYNC_ALWAYS) || pthread_mutex_trylock(&sh->turn) != 0) {
        srv_wake(sh); /* its holder looks at the inbox before it lets go */
        return;
    }
    const struct srv_shard *was = current;
    current = sh;
    sh->lent = true;
    bool wake = false;
    for (int round = 0;; round++) {
        atomic_fetch_add_explicit(&sh->st_lent_turns, 1, memory_order_relaxed);
        sh->now_ms = kv_now();
        serve_round(sh);
        if (shard_busy(sh)) {
            wake = true;
            break;
        }
        /* Asleep again, as shard_wait leaves it; a message that came
         * meanwhile is this lender's to serve, unless its pusher took the
         * flag first and answers for it; past its rounds, the lender wakes
         * the shard's own thread for it instead. */
        if (!fall_asleep(sh) || !atomic_exchange_explicit(&sh->sleeping, 0, memory_order_seq_cst))
            break;
        if (round + 1 == LEND_ROUNDS) {
            wake = true;
            break;
        }
    }
    sh->lent = false;
    current = was;
    pthread_mutex_unlock(&sh->turn);
    if (wake)
        srv_wake(sh);
}

static void shard_stop_clients(struct srv_shard *sh)
{
    epoll_ctl(sh->epfd, EPOLL_CTL_DEL, sh->srv->lfd, NULL);
    conn_adopt(sh);
    conn_close_all(sh);
}

/* Handles what epoll_wait reported. */
static void shard_events(struct srv_shard *sh, const struct epoll_event *ev, int n)
{
    for (int i = 0; i < n; i++) {
        if (ev[i].data.ptr == (void *)(uintptr_t)LISTEN_TAG) {
            conn_accept(sh);
        } else if (ev[i].data.ptr == (void *)(uintptr_t)EVENT_TAG) {
            uint64_t v;
            ssize_t r = read(sh->efd, &v, sizeof v);
            (void)r;
        } else {
            conn_ready(ev[i].data.ptr, ev[i].events);
        }
    }
}

/* The most rounds of messages a turn serves: messages it sent itself (a
 * transaction's part on this shard, the part's answer, its unlock) are
 * served in the same turn, without a return to epoll_wait in between (and
 * what other shards sent meanwhile with them), but the clients' input is
 * not kept waiting long. */
enum { TURN_ROUNDS = 4 };

/* The rest of a turn. Group commit: what the turn wrote is committed
 * before any reply leaves, home (send_replies) or to a client (flush). */
static void shard_turn(struct srv_shard *sh)
{
    if (atomic_load_explicit(&sh->incoming, memory_order_relaxed))
        conn_adopt(sh);
    txn_retry(sh);
    for (int round = 0; round < TURN_ROUNDS; round++)
        if (!serve_round(sh)) /* nothing sent to itself */
            break;
    conn_flush_all(sh);
    if (sh->now_ms - sh->last_cron_ms >= 1000 / sh->srv->cfg.hz) {
        sh->last_cron_ms = sh->now_ms;
        cron(sh);
    }
    conn_reap(sh);
}

/* Whether sh may exit: the server stops, every shard is quiet (has dropped
 * its clients and will start no more work) and no message is left. The
 * first time it sees the server stopping, sh drops its clients and counts
 * itself quiet. */
static bool shard_may_exit(struct srv_shard *sh, bool *quiet)
{
    struct srv *s = sh->srv;
    if (!atomic_load_explicit(&s->stopping, memory_order_acquire))
        return false;
    if (!*quiet) {
        shard_stop_clients(sh);
        *quiet = true;
        atomic_fetch_add_explicit(&s->quiet, 1, memory_order_acq_rel);
    }
    return atomic_load_explicit(&s->quiet, memory_order_acquire) == s->n &&
           atomic_load_explicit(&s->inflight, memory_order_acquire) == 0 &&
           !atomic_load_explicit(&sh->inbox, memory_order_acquire) && !sh->deferred;
}

static void *shard_main(void *arg)
{
    struct srv_shard *sh = arg;
    struct epoll_event ev[256];
    bool quiet = false;
    srv_shard_bind(sh);
    msg_home(sh);
    pthread_mutex_lock(&sh->turn);
    sh->now_ms = sh->last_cron_ms = kv_now();
    do {
        int n = shard_wait(sh, ev, 256);
        sh->now_ms = kv_now();
        shard_events(sh, ev, n);
        shard_turn(sh);
    } while (!shard_may_exit(sh, &quiet));
    commit(sh);
    conn_reap(sh);
    /* `sleeping` is 0 from here on: no pusher lends itself to sh or wakes
     * it, and a late UNLOCK stays in the inbox for srv_close. */
    pthread_mutex_unlock(&sh->turn);
    msg_spare_drain();
    return NULL;
}

void srv_stop(struct srv *s)
{
    atomic_store_explicit(&s->stopping, true, memory_order_release);
    for (unsigned i = 0; i < s->n; i++)
        srv_wake(&s->shards[i]);
}

static int shard_setup(struct srv_shard *sh)
{
    sh->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (sh->epfd < 0)
        return -1;
    struct epoll_event e = {.events = EPOLLIN | EPOLLEXCLUSIVE,
                            .data.ptr = (void *)(uintptr_t)LISTEN_TAG};
    if (epoll_ctl(sh->epfd, EPOLL_CTL_ADD, sh->srv->lfd, &e) != 0)
        return -1;
    struct epoll_event w = {.events = EPOLLIN, .data.ptr = (void *)(uintptr_t)EVENT_TAG};
    return epoll_ctl(sh->epfd, EPOLL_CTL_ADD, sh->efd, &w);
}

int srv_run(struct srv *s)
{
    unsigned started = 0;
    int rc = 0;
    for (; started < s->n; started++) {
        struct srv_shard *sh = &s->shards[started];
        if (shard_setup(sh) != 0 || pthread_create(&sh->thread, NULL, shard_main, sh) != 0) {
            fprintf(stderr, "stewardd: cannot start shard %u: %s\n", started, strerror(errno));
            /* The shards not started will never start work: count them quiet. */
            atomic_fetch_add_explicit(&s->quiet, s->n - started, memory_order_acq_rel);
            srv_stop(s);
            rc = -1;
            break;
        }
    }
    for (unsigned i = 0; i < started; i++)
        pthread_join(s->shards[i].thread, NULL);
    return rc;
}
