/* Stress tests of task.h, each checking an invariant that fails if broken:
 *   - tasks and plain threads mixed on one unbuffered and one buffered
 *     channel, senders and receivers of both kinds, by direct calls, by
 *     select and with timeouts: every message received exactly once;
 *   - work stealing under an unbalanced load: one task starts many
 *     CPU-bound tasks (they never block), which all begin on its thread;
 *     every one runs once, on pool threads, and with more than one pool
 *     thread, on more than one of them;
 *   - a select storm: tasks and threads selecting (sends and receives,
 *     with timeouts of every kind) over several channels while another
 *     task closes them one by one: every value a sender saw accepted is
 *     received exactly once, and no other;
 *   - timers: pairs of a sender and a receiver (mostly tasks) that each
 *     wait a random short time, the receiver in sw_chan_recv_timeout or
 *     sw_select, the sender after a random sw_sleep in
 *     sw_chan_send_timeout: a value is received if and only if its send
 *     returned SW_OK, a receive that times out leaves its buffer alone, and
 *     every sleep lasts at least what it asked.
 *
 * Usage: [STEWARD_SEED=n] stress_task [threads] [size]
 * threads: the plain threads (and as many tasks) of each role; size: the
 * messages, tasks or rounds of a test, scaled per test. The seed (printed
 * at the start) picks every timeout and nap.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "steward/chan.h"
#include "steward/owner.h"
#include "steward/task.h"
#include "checks.h"

static int g_threads = 8;
static int64_t g_size = 20000;

enum { MAX_THREADS = 64 };

#define US 1000LL

/* ---- helpers ---- */

/* Each worker's generator starts at seed_stream(its id plus a number per
 * role: 0, 1000, 2000, 3000; a timer pair's, 4000 plus its index). */

/* A random timeout for a channel call: now and then 0 (never wait) or -1
 * (forever, where the caller can afford it), else up to max_ns. */
static int64_t random_timeout(uint64_t *x, int64_t max_ns, bool forever_ok)
{
    uint64_t r = rng_next(x);
    switch (r % 8) {
    case 0:
        return 0;
    case 1:
        return forever_ok ? -1 : 1;
    default:
        return (int64_t)((r >> 8) % (uint64_t)max_ns) + 1;
    }
}

/* A role played by g_threads plain threads and g_threads tasks: each
 * worker knows its index (0 .. 2 * g_threads - 1) and whether it is a
 * task; tasks count down a wait group, threads are joined. */
struct worker {
    pthread_t thread;
    int id;
    bool is_task;
    void *shared;
    sw_wg *wg;
    void (*fn)(struct worker *);
};

static void worker_task(void *arg)
{
    struct worker *w = arg;
    CHECK(sw_in_task() == 1);
    w->fn(w);
    sw_wg_done(w->wg);
}

static void *worker_thread(void *arg)
{
    struct worker *w = arg;
    CHECK(sw_in_task() == 0);
    w->fn(w);
    return NULL;
}

/* Starts n workers of fn, alternately a task and a thread, ids first..
 * first + n - 1 (worker i is a task when i is even). */
static struct worker *crew_start(int n, int first, void *shared, void (*fn)(struct worker *))
{
    struct worker *ws = calloc((size_t)n, sizeof *ws);
    assert_non_null(ws);
    sw_wg *wg = sw_wg_new();
    assert_non_null(wg);
    for (int i = 0; i < n; i++) {
        ws[i] = (struct worker){
            .id = first + i, .is_task = i % 2 == 0, .shared = shared, .wg = wg, .fn = fn};
        if (ws[i].is_task) {
            sw_wg_add(wg, 1);
            assert_int_equal(sw_go(worker_task, &ws[i]), SW_OK);
        } else {
            assert_int_equal(pthread_create(&ws[i].thread, NULL, worker_thread, &ws[i]), 0);
        }
    }
    return ws;
}

static void crew_join(struct worker *ws, int n)
{
    for (int i = 0; i < n; i++)
        if (!ws[i].is_task)
            pthread_join(ws[i].thread, NULL);
    sw_wg_wait(ws[0].wg);
    sw_wg_free(ws[0].wg);
    free(ws);
}

/* ---- (1) tasks and threads on one unbuffered and one buffered channel ---- */

struct mixed {
    sw_chan *ch[2]; /* unbuffered, buffered */
    int64_t per;    /* messages per sender */
    _Atomic uint8_t *seen;
    _Atomic int64_t received, by_task, by_thread;
};

static void mixed_sender(struct worker *w)
{
    struct mixed *m = w->shared;
    uint64_t x = seed_stream((uint64_t)w->id);
    for (int64_t i = 0; i < m->per; i++) {
        int64_t v = w->id * m->per + i;
        sw_chan *ch = m->ch[i % 2];
        switch (w->id % 3) {
        case 0: /* direct */
            CHECK(sw_chan_send(ch, &v) == SW_OK);
            break;
        case 1: { /* select over both */
            sw_case cases[2] = {{.chan = m->ch[0], .dir = SW_SEND, .elem = &v},
                                {.chan = m->ch[1], .dir = SW_SEND, .elem = &v}};
            int k = sw_select(cases, 2, -1);
            CHECK(k == 0 || k == 1);
            CHECK(k >= 0 && cases[k].status == SW_OK);
            break;
        }
        default: { /* with a timeout, retried until it goes */
            int rc;
            while ((rc = sw_chan_send_timeout(ch, &v, random_timeout(&x, 200 * US, true))) ==
                       SW_ETIMEDOUT ||
                   rc == SW_EAGAIN)
                ;
            CHECK(rc == SW_OK);
        }
        }
    }
}

static void mixed_got(struct mixed *m, struct worker *w, int64_t v, int64_t total)
{
    CHECK(v >= 0 && v < total);
    if (v < 0 || v >= total)
        return;
    atomic_fetch_add(&m->seen[v], 1);
    atomic_fetch_add(&m->received, 1);
    atomic_fetch_add(w->is_task ? &m->by_task : &m->by_thread, 1);
}

static void mixed_receiver(struct worker *w)
{
    struct mixed *m = w->shared;
    int64_t total = 2 * g_threads * m->per, v;
    uint64_t x = seed_stream((uint64_t)w->id + 1000);
    switch (w->id % 3) {
    case 0: { /* select until both are closed */
        int64_t vals[2];
        sw_case cases[2] = {{.chan = m->ch[0], .dir = SW_RECV, .elem = &vals[0]},
                            {.chan = m->ch[1], .dir = SW_RECV, .elem = &vals[1]}};
        for (int open = 2; open > 0;) {
            int k = sw_select(cases, 2, -1);
            CHECK(k == 0 || k == 1);
            if (k < 0)
                return;
            if (cases[k].status == SW_ECLOSED) {
                cases[k].chan = NULL;
                open--;
            } else {
                CHECK(cases[k].status == SW_OK);
                mixed_got(m, w, vals[k], total);
            }
        }
        break;
    }
    case 1: /* direct: the unbuffered one until closed, then the buffered */
        for (int c = 0; c < 2; c++) {
            int rc;
            while ((rc = sw_chan_recv(m->ch[c], &v)) == SW_OK)
                mixed_got(m, w, v, total);
            CHECK(rc == SW_ECLOSED);
        }
        break;
    default: /* with timeouts, from each in turn */
        for (int open = 3, c = 0; open != 0; c = !c) {
            if (!(open & (1 << c)))
                continue;
            v = -5;
            int rc = sw_chan_recv_timeout(m->ch[c], &v, random_timeout(&x, 100 * US, false));
            if (rc == SW_OK) {
                mixed_got(m, w, v, total);
            } else if (rc == SW_ECLOSED) {
                open &= ~(1 << c);
            } else {
                CHECK(rc == SW_ETIMEDOUT || rc == SW_EAGAIN);
                CHECK(v == -5);
            }
        }
    }
}

static void test_mixed_exactly_once(void **state)
{
    (void)state;
    struct mixed m = {.ch = {sw_chan_new(sizeof(int64_t), 0), sw_chan_new(sizeof(int64_t), 16)},
                      .per = g_size / 2};
    int64_t total = 2 * g_threads * m.per;
    m.seen = calloc((size_t)total, sizeof *m.seen);
    assert_true(m.ch[0] && m.ch[1] && m.seen);
    struct worker *receivers = crew_start(2 * g_threads, 0, &m, mixed_receiver);
    struct worker *senders = crew_start(2 * g_threads, 0, &m, mixed_sender);
    crew_join(senders, 2 * g_threads);
    assert_int_equal(sw_chan_close(m.ch[0]), SW_OK);
    assert_int_equal(sw_chan_close(m.ch[1]), SW_OK);
    crew_join(receivers, 2 * g_threads);
    assert_no_bad();
    for (int64_t i = 0; i < total; i++)
        if (atomic_load(&m.seen[i]) != 1)
            fail_msg("message %lld received %d times", (long long)i, atomic_load(&m.seen[i]));
    assert_int_equal(atomic_load(&m.received), total);
    printf("mixed: %lld messages, %lld received by tasks, %lld by threads\n", (long long)total,
           (long long)atomic_load(&m.by_task), (long long)atomic_load(&m.by_thread));
    sw_chan_free(m.ch[0]);
    sw_chan_free(m.ch[1]);
    free(m.seen);
}

/* ---- (2) work stealing ---- */

enum { MAX_SEEN_THREADS = 256 };

struct stealing {
    int64_t n;
    sw_wg *wg;   /* the busy tasks of a wave */
    sw_wg *done; /* the spawner */
    _Atomic int64_t ran;
    _Atomic uintptr_t threads[MAX_SEEN_THREADS]; /* the pthread_t each ran on, once */
    _Atomic int overflow;
};

/* Adds the calling thread to the set, if it is new there. */
static void note_thread(struct stealing *s)
{
    uintptr_t me = (uintptr_t)pthread_self();
    for (int i = 0; i < MAX_SEEN_THREADS; i++) {
        uintptr_t cur = atomic_load(&s->threads[i]);
        if (cur == 0 && atomic_compare_exchange_strong(&s->threads[i], &cur, me))
            return;
        if (cur == me)
            return;
    }
    atomic_store(&s->overflow, 1);
}

/* About 50 us of work that never blocks. */
static void busy_task(void *arg)
{
    struct stealing *s = arg;
    int64_t until = now_ns() + 50 * US;
    volatile uint64_t sink = 0;
    while (now_ns() < until)
        for (int i = 0; i < 100; i++)
            sink += (uint64_t)i;
    note_thread(s);
    atomic_fetch_add(&s->ran, 1);
    sw_wg_done(s->wg);
}

/* Starts them all from one task: they begin on its thread, which is busy
 * starting them; the other pool threads can only get them by stealing.
 * In waves, to bound the stacks mapped at once. */
static void spawner_task(void *arg)
{
    struct stealing *s = arg;
    enum { WAVE = 10000 };
    for (int64_t started = 0; started < s->n;) {
        int64_t wave = s->n - started < WAVE ? s->n - started : WAVE;
        sw_wg_add(s->wg, wave);
        for (int64_t i = 0; i < wave; i++) {
            int rc = sw_go(busy_task, s);
            CHECK(rc == SW_OK);
            if (rc != SW_OK)
                sw_wg_done(s->wg);
        }
        sw_wg_wait(s->wg);
        started += wave;
    }
    sw_wg_done(s->done);
}

static void test_work_stealing(void **state)
{
    (void)state;
    struct stealing *s = calloc(1, sizeof *s);
    assert_non_null(s);
    s->n = g_size;
    s->wg = sw_wg_new();
    s->done = sw_wg_new();
    assert_true(s->wg && s->done);
    sw_wg_add(s->done, 1);
    assert_int_equal(sw_go(spawner_task, s), SW_OK);
    sw_wg_wait(s->done);
    assert_no_bad();
    assert_int_equal(atomic_load(&s->ran), s->n);
    assert_int_equal(atomic_load(&s->overflow), 0);
    int distinct = 0;
    for (int i = 0; i < MAX_SEEN_THREADS; i++) {
        uintptr_t t = atomic_load(&s->threads[i]);
        if (t == 0)
            break;
        distinct++;
        assert_false(pthread_equal((pthread_t)t, pthread_self())); /* tasks run on the pool */
    }
    unsigned pool = sw_owner_pool_size();
    printf("work stealing: %lld tasks of ~50 us ran on %d of %u pool threads\n", (long long)s->n,
           distinct, pool);
    assert_true(distinct >= 1 && (unsigned)distinct <= pool);
    if (pool > 1)
        assert_true(distinct > 1);
    sw_wg_free(s->done);
    sw_wg_free(s->wg);
    free(s);
}

/* ---- (3) a select storm ---- */

enum { STORM_CHANS = 4 };

struct storm {
    sw_chan *ch[STORM_CHANS];
    int64_t per, total;
    _Atomic uint8_t *sent, *got;
    _Atomic int64_t accepted; /* sends that returned SW_OK: the closer's clock */
    _Atomic int64_t closed_seen, timeouts;
};

static void storm_sender(struct worker *w)
{
    struct storm *s = w->shared;
    uint64_t x = seed_stream((uint64_t)w->id + 2000);
    sw_case cases[STORM_CHANS];
    int64_t v;
    int open = STORM_CHANS;
    for (int k = 0; k < STORM_CHANS; k++)
        cases[k] = (sw_case){.chan = s->ch[k], .dir = SW_SEND, .elem = &v};
    for (int64_t i = 0; i < s->per && open > 0; i++) {
        v = w->id * s->per + i;
        while (open > 0) {
            int k = sw_select(cases, STORM_CHANS, random_timeout(&x, 100 * US, true));
            if (k == SW_ETIMEDOUT || k == SW_EAGAIN) {
                atomic_fetch_add(&s->timeouts, 1);
                continue;
            }
            CHECK(k >= 0 && k < STORM_CHANS);
            if (k < 0)
                return;
            if (cases[k].status == SW_ECLOSED) { /* sent nothing: try the others */
                cases[k].chan = NULL;
                open--;
                atomic_fetch_add(&s->closed_seen, 1);
                continue;
            }
            CHECK(cases[k].status == SW_OK);
            atomic_store(&s->sent[v], 1);
            atomic_fetch_add(&s->accepted, 1);
            break;
        }
    }
}

static void storm_receiver(struct worker *w)
{
    struct storm *s = w->shared;
    uint64_t x = seed_stream((uint64_t)w->id + 3000);
    sw_case cases[STORM_CHANS];
    int64_t vals[STORM_CHANS];
    for (int k = 0; k < STORM_CHANS; k++)
        cases[k] = (sw_case){.chan = s->ch[k], .dir = SW_RECV, .elem = &vals[k]};
    for (int open = STORM_CHANS; open > 0;) {
        for (int k = 0; k < STORM_CHANS; k++)
            vals[k] = -3;
        int k = sw_select(cases, STORM_CHANS, random_timeout(&x, 100 * US, true));
        if (k == SW_ETIMEDOUT || k == SW_EAGAIN) {
            for (int j = 0; j < STORM_CHANS; j++)
                CHECK(vals[j] == -3); /* nothing taken */
            atomic_fetch_add(&s->timeouts, 1);
            continue;
        }
        CHECK(k >= 0 && k < STORM_CHANS);
        if (k < 0)
            return;
        if (cases[k].status == SW_ECLOSED) {
            CHECK(vals[k] == 0);
            cases[k].chan = NULL;
            open--;
            continue;
        }
        CHECK(cases[k].status == SW_OK);
        int64_t v = vals[k];
        CHECK(v >= 0 && v < s->total);
        if (v >= 0 && v < s->total)
            atomic_fetch_add(&s->got[v], 1);
    }
}

/* Closes all the channels but the last as the accepted sends reach
 * 1/STORM_CHANS, 2/STORM_CHANS... of the total; the main thread closes
 * the last once the senders are done, so every value finds a way. */
static void storm_closer(void *arg)
{
    struct worker *w = arg;
    struct storm *s = w->shared;
    for (int k = 0; k + 1 < STORM_CHANS; k++) {
        int64_t at = s->total * (k + 1) / STORM_CHANS;
        while (atomic_load(&s->accepted) < at)
            sw_sleep(50 * US);
        CHECK(sw_chan_close(s->ch[k]) == SW_OK);
    }
    sw_wg_done(w->wg);
}

static void test_select_storm(void **state)
{
    (void)state;
    struct storm s = {.per = g_size / 4};
    s.total = 2 * g_threads * s.per;
    s.sent = calloc((size_t)s.total, 1);
    s.got = calloc((size_t)s.total, 1);
    assert_true(s.sent && s.got);
    for (int k = 0; k < STORM_CHANS; k++) {
        static const size_t caps[STORM_CHANS] = {0, 4, 0, 1};
        s.ch[k] = sw_chan_new(sizeof(int64_t), caps[k]);
        assert_non_null(s.ch[k]);
    }
    struct worker closer = {.shared = &s, .wg = sw_wg_new()};
    assert_non_null(closer.wg);
    sw_wg_add(closer.wg, 1);
    assert_int_equal(sw_go(storm_closer, &closer), SW_OK);
    struct worker *receivers = crew_start(g_threads, 0, &s, storm_receiver);
    struct worker *senders = crew_start(2 * g_threads, 0, &s, storm_sender);
    crew_join(senders, 2 * g_threads);
    sw_wg_wait(closer.wg); /* every value was accepted, so it has closed its three */
    assert_int_equal(sw_chan_close(s.ch[STORM_CHANS - 1]), SW_OK);
    crew_join(receivers, g_threads);
    assert_no_bad();
    int64_t sent = 0;
    for (int64_t i = 0; i < s.total; i++) {
        if (atomic_load(&s.got[i]) != atomic_load(&s.sent[i]))
            fail_msg("value %lld: send %s, received %d times", (long long)i,
                     atomic_load(&s.sent[i]) ? "accepted" : "refused", atomic_load(&s.got[i]));
        sent += atomic_load(&s.sent[i]);
    }
    /* The last channel stays open until the senders are done: all went. */
    assert_int_equal(sent, s.total);
    printf("select storm: %lld values, %lld closed cases met by senders, %lld timeouts\n",
           (long long)s.total, (long long)atomic_load(&s.closed_seen),
           (long long)atomic_load(&s.timeouts));
    sw_wg_free(closer.wg);
    for (int k = 0; k < STORM_CHANS; k++)
        sw_chan_free(s.ch[k]);
    free(s.sent);
    free(s.got);
}

/* ---- (4) timers ---- */

/* One pair: its channel, and per round whether the send returned SW_OK
 * and how often the receiver got that round's value. Round 0's send
 * waits as long as it takes, so every pair succeeds at least once. */
struct pair {
    sw_chan *ch;
    int64_t rounds;
    uint8_t *ok;  /* the sender's */
    uint8_t *got; /* the receiver's */
    int64_t oks, timeouts, sleeps;
    sw_wg *wg;
    pthread_t sender_thread, receiver_thread;
    bool sender_is_thread, receiver_is_thread;
    uint64_t seed;
};

static void pair_send(struct pair *p)
{
    uint64_t x = p->seed;
    for (int64_t r = 0; r < p->rounds; r++) {
        int64_t nap = (int64_t)(rng_next(&x) % (200 * US));
        int64_t t0 = now_ns();
        sw_sleep(nap);
        CHECK(now_ns() - t0 >= nap);
        p->sleeps++;
        int rc = r == 0 ? sw_chan_send(p->ch, &r)
                        : sw_chan_send_timeout(p->ch, &r, random_timeout(&x, 300 * US, false));
        if (rc == SW_OK) {
            p->ok[r] = 1;
            p->oks++;
        } else {
            CHECK(rc == SW_ETIMEDOUT || rc == SW_EAGAIN);
        }
    }
    CHECK(sw_chan_close(p->ch) == SW_OK);
}

static void pair_recv(struct pair *p)
{
    uint64_t x = mix64(p->seed ^ 0x5555);
    for (uint64_t i = 0;; i++) {
        int64_t v = -7, timeout = random_timeout(&x, 300 * US, false);
        int rc;
        if (i % 4 == 3) {
            sw_case c[2] = {{.chan = NULL, .dir = SW_RECV},
                            {.chan = p->ch, .dir = SW_RECV, .elem = &v}};
            rc = sw_select(c, 2, timeout);
            if (rc >= 0) {
                CHECK(rc == 1);
                rc = c[1].status;
            }
        } else {
            rc = sw_chan_recv_timeout(p->ch, &v, timeout);
        }
        if (rc == SW_ECLOSED) {
            CHECK(v == 0);
            break;
        }
        if (rc != SW_OK) {
            CHECK(rc == SW_ETIMEDOUT || rc == SW_EAGAIN);
            CHECK(v == -7); /* left unchanged */
            p->timeouts++;
            if (rng_next(&x) % 4 == 0) {
                int64_t nap = (int64_t)(rng_next(&x) % (100 * US)), t0 = now_ns();
                sw_sleep(nap);
                CHECK(now_ns() - t0 >= nap);
            }
            continue;
        }
        CHECK(v >= 0 && v < p->rounds);
        if (v >= 0 && v < p->rounds)
            p->got[v]++;
    }
}

static void pair_send_task(void *arg)
{
    pair_send(arg);
    sw_wg_done(((struct pair *)arg)->wg);
}

static void pair_recv_task(void *arg)
{
    pair_recv(arg);
    sw_wg_done(((struct pair *)arg)->wg);
}

static void *pair_send_thread(void *arg)
{
    pair_send(arg);
    return NULL;
}

static void *pair_recv_thread(void *arg)
{
    pair_recv(arg);
    return NULL;
}

static void test_timers(void **state)
{
    (void)state;
    int npairs = 4 * g_threads;
    int64_t rounds = g_size / 100 < 10 ? 10 : g_size / 100;
    struct pair *ps = calloc((size_t)npairs, sizeof *ps);
    sw_wg *wg = sw_wg_new();
    assert_true(ps && wg);
    for (int i = 0; i < npairs; i++) {
        struct pair *p = &ps[i];
        p->ch = sw_chan_new(sizeof(int64_t), i % 3 == 0); /* a third buffered */
        p->rounds = rounds;
        p->ok = calloc((size_t)rounds, 1);
        p->got = calloc((size_t)rounds, 1);
        p->wg = wg;
        p->seed = seed_stream((uint64_t)i + 4000);
        /* Mostly tasks; a plain thread on one side of every eighth pair. */
        p->sender_is_thread = i % 8 == 6;
        p->receiver_is_thread = i % 8 == 7;
        assert_true(p->ch && p->ok && p->got);
    }
    for (int i = 0; i < npairs; i++) {
        struct pair *p = &ps[i];
        if (p->receiver_is_thread) {
            assert_int_equal(pthread_create(&p->receiver_thread, NULL, pair_recv_thread, p), 0);
        } else {
            sw_wg_add(wg, 1);
            assert_int_equal(sw_go(pair_recv_task, p), SW_OK);
        }
        if (p->sender_is_thread) {
            assert_int_equal(pthread_create(&p->sender_thread, NULL, pair_send_thread, p), 0);
        } else {
            sw_wg_add(wg, 1);
            assert_int_equal(sw_go(pair_send_task, p), SW_OK);
        }
    }
    for (int i = 0; i < npairs; i++) {
        if (ps[i].receiver_is_thread)
            pthread_join(ps[i].receiver_thread, NULL);
        if (ps[i].sender_is_thread)
            pthread_join(ps[i].sender_thread, NULL);
    }
    sw_wg_wait(wg);
    assert_no_bad();
    int64_t oks = 0, timeouts = 0;
    for (int i = 0; i < npairs; i++) {
        struct pair *p = &ps[i];
        for (int64_t r = 0; r < rounds; r++)
            if (p->got[r] != p->ok[r])
                fail_msg("pair %d round %lld: send %s, value received %d times", i, (long long)r,
                         p->ok[r] ? "returned SW_OK" : "timed out", p->got[r]);
        assert_int_equal(p->ok[0], 1);
        assert_int_equal(p->sleeps, rounds);
        oks += p->oks;
        timeouts += p->timeouts;
        sw_chan_free(p->ch);
        free(p->ok);
        free(p->got);
    }
    printf("timers: %d pairs x %lld rounds: %lld values delivered in time, %lld receives timed "
           "out\n",
           npairs, (long long)rounds, (long long)oks, (long long)timeouts);
    sw_wg_free(wg);
    free(ps);
}

int main(int argc, char **argv)
{
    /* A pool of four, so that stealing has thieves even on one CPU (the
     * environment may still say otherwise). */
    setenv("STEWARD_THREADS", "4", 0);
    if (argc > 1)
        g_threads = atoi(argv[1]);
    if (argc > 2)
        g_size = atoll(argv[2]);
    if (g_threads < 1 || g_threads > MAX_THREADS || g_size < 8 || g_size >= (1LL << 32)) {
        fprintf(stderr, "usage: [STEWARD_SEED=n] stress_task [threads 1..%d] [size, 8 or more]\n",
                MAX_THREADS);
        return 2;
    }
    seed_init(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_mixed_exactly_once, reset_bad),
        cmocka_unit_test_setup(test_work_stealing, reset_bad),
        cmocka_unit_test_setup(test_select_storm, reset_bad),
        cmocka_unit_test_setup(test_timers, reset_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
