/* Stress tests of chan.h, each checking an invariant:
 *   - many producers and consumers through unbuffered and buffered channels:
 *     every value delivered exactly once, in order per producer;
 *   - select consumers and select producers over several channels: the same;
 *   - close racing with blocked senders, receivers and selects, and with
 *     lock-free sends and receives on buffered channels: every send that
 *     succeeded is received exactly once, none that failed is;
 *   - the non-blocking calls are exact: never SW_EAGAIN when the counts of
 *     returned calls prove the buffer non-empty (or not full);
 *   - a ping-pong of many rounds: each reply is the request plus one;
 *   - every kind of send and receive racing on one unbuffered channel (its
 *     lock-free rendezvous slot against the locked queues), then a close:
 *     every send that succeeded is received exactly once;
 *   - timeouts of a microsecond or two on both sides of an unbuffered
 *     channel, racing the claims: the same.
 *
 * Usage: [STEWARD_SEED=n] stress_chan [threads] [values-per-producer]
 * The seed (printed at the start) picks the moments of the racing closes.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "steward/chan.h"
#include "support.h"

static int g_threads = 4;
static int64_t g_size = 20000;

enum { MAX_THREADS = 64, MAX_CHANS = 4 };

/* A value carries its producer and its sequence number. */
static uint64_t make_value(uint64_t producer, uint64_t seq)
{
    return producer << 40 | seq;
}

struct shared {
    sw_chan *chans[MAX_CHANS];
    int nchans;
    int use_select;           /* producers/consumers use sw_select */
    _Atomic uint32_t *seen;   /* [producer * size + seq] */
    _Atomic int64_t received; /* successful receives */
    _Atomic int64_t sent;     /* successful sends */
    int producers;
};

struct worker {
    pthread_t thread;
    struct shared *sh;
    uint64_t id;
    int failures;
};

static void *producer_main(void *arg)
{
    struct worker *w = arg;
    struct shared *sh = w->sh;
    for (int64_t i = 0; i < g_size; i++) {
        uint64_t v = make_value(w->id, (uint64_t)i);
        int rc;
        if (sh->use_select) {
            sw_case cases[MAX_CHANS];
            for (int c = 0; c < sh->nchans; c++)
                cases[c] = (sw_case){sh->chans[c], SW_SEND, &v, 0};
            int idx = sw_select(cases, (size_t)sh->nchans, -1);
            rc = idx >= 0 ? cases[idx].status : idx;
        } else {
            rc = sw_chan_send(sh->chans[i % sh->nchans], &v);
        }
        if (rc != SW_OK)
            w->failures++;
        else
            atomic_fetch_add(&sh->sent, 1);
    }
    return NULL;
}

/* Receives until every channel is closed and drained. Checks that values of
 * one producer arrive in increasing order (per channel, when not selecting). */
static void *consumer_main(void *arg)
{
    struct worker *w = arg;
    struct shared *sh = w->sh;
    int64_t last[MAX_THREADS][MAX_CHANS];
    memset(last, 0xff, sizeof last);
    sw_case cases[MAX_CHANS];
    uint64_t vals[MAX_CHANS];
    for (int c = 0; c < sh->nchans; c++)
        cases[c] = (sw_case){sh->chans[c], SW_RECV, &vals[c], 0};
    int open = sh->nchans;
    while (open > 0) {
        int c = sw_select(cases, (size_t)sh->nchans, -1);
        if (c < 0 || cases[c].status == SW_ECLOSED) {
            if (c < 0 || vals[c] != 0)
                w->failures++;
            if (c >= 0)
                cases[c].chan = NULL; /* a closed channel is never ready again */
            open--;
            continue;
        }
        uint64_t v = vals[c];
        uint64_t p = v >> 40, seq = v & ((1ULL << 40) - 1);
        if (p >= (uint64_t)sh->producers || seq >= (uint64_t)g_size) {
            w->failures++;
            continue;
        }
        if (!sh->use_select && (int64_t)seq <= last[p][c])
            w->failures++; /* FIFO per producer broken */
        last[p][c] = (int64_t)seq;
        atomic_fetch_add(&sh->seen[p * (uint64_t)g_size + seq], 1);
        atomic_fetch_add(&sh->received, 1);
    }
    return NULL;
}

/* Runs producers and consumers, closes the channels once the producers are
 * done, and checks that every value was received exactly once. */
static void run_mpmc(size_t cap, int nchans, int use_select, int producers, int consumers)
{
    struct shared sh = {.nchans = nchans, .use_select = use_select, .producers = producers};
    for (int c = 0; c < nchans; c++) {
        sh.chans[c] = sw_chan_new(sizeof(uint64_t), cap);
        assert_non_null(sh.chans[c]);
    }
    sh.seen = calloc((size_t)producers * (size_t)g_size, sizeof *sh.seen);
    assert_non_null(sh.seen);
    struct worker prod[MAX_THREADS], cons[MAX_THREADS];
    for (int i = 0; i < consumers; i++) {
        cons[i] = (struct worker){.sh = &sh, .id = (uint64_t)i};
        assert_int_equal(pthread_create(&cons[i].thread, NULL, consumer_main, &cons[i]), 0);
    }
    for (int i = 0; i < producers; i++) {
        prod[i] = (struct worker){.sh = &sh, .id = (uint64_t)i};
        assert_int_equal(pthread_create(&prod[i].thread, NULL, producer_main, &prod[i]), 0);
    }
    for (int i = 0; i < producers; i++) {
        pthread_join(prod[i].thread, NULL);
        assert_int_equal(prod[i].failures, 0);
    }
    for (int c = 0; c < nchans; c++)
        assert_int_equal(sw_chan_close(sh.chans[c]), SW_OK);
    for (int i = 0; i < consumers; i++) {
        pthread_join(cons[i].thread, NULL);
        assert_int_equal(cons[i].failures, 0);
    }
    int64_t total = (int64_t)producers * g_size;
    assert_int_equal(atomic_load(&sh.received), total);
    for (int64_t i = 0; i < total; i++)
        if (atomic_load(&sh.seen[i]) != 1)
            fail_msg("value %lld seen %u times", (long long)i, atomic_load(&sh.seen[i]));
    for (int c = 0; c < nchans; c++)
        sw_chan_free(sh.chans[c]);
    free(sh.seen);
}

static int half(void)
{
    return g_threads / 2 > 0 ? g_threads / 2 : 1;
}

static void test_mpmc_unbuffered(void **state)
{
    (void)state;
    run_mpmc(0, 1, 0, half(), half());
}

static void test_mpmc_buffered_1(void **state)
{
    (void)state;
    run_mpmc(1, 1, 0, half(), half());
}

static void test_mpmc_buffered_64(void **state)
{
    (void)state;
    run_mpmc(64, 1, 0, g_threads, half());
}

static void test_select_consumers(void **state)
{
    (void)state;
    run_mpmc(0, 3, 0, half(), half());
    run_mpmc(8, 3, 0, half(), half());
}

static void test_select_producers(void **state)
{
    (void)state;
    run_mpmc(0, 3, 1, half(), half());
    run_mpmc(4, 2, 1, half(), half());
}

/* Close racing with blocked operations: senders and receivers (plain, timed
 * and selecting) hammer one channel while the main thread closes it at a
 * random moment. Every OK send must be received exactly once. */
struct race {
    sw_chan *ch;
    _Atomic int64_t sent, received;
    _Atomic uint32_t *seen;
    int64_t per_sender;
};

struct racer {
    pthread_t thread;
    struct race *r;
    uint64_t id;
    int bad;
};

/* Counts a value a receiver got, if a sender made it (else a bad one). */
static void race_record(struct racer *me, uint64_t v)
{
    uint64_t p = v >> 40, seq = v & ((1ULL << 40) - 1);
    if (seq >= (uint64_t)me->r->per_sender) {
        me->bad++;
        return;
    }
    atomic_fetch_add(&me->r->seen[p * (uint64_t)me->r->per_sender + seq], 1);
    atomic_fetch_add(&me->r->received, 1);
}

/* Runs one race on a fresh channel of capacity cap: senders and receivers
 * (their counts in the halves of the thread count) on it, then close --
 * within close_within_us microseconds, at a moment drawn from rng, or (0)
 * once the senders are done. Every send that succeeded must be received
 * exactly once, and nothing be left buffered. */
static void race_run(size_t cap, int64_t per_sender, void *(*send)(void *), void *(*recv)(void *),
                     long close_within_us, uint64_t *rng)
{
    int senders = half(), receivers = half();
    struct race r = {.ch = sw_chan_new(sizeof(uint64_t), cap), .per_sender = per_sender};
    r.seen = calloc((size_t)senders * (size_t)r.per_sender, sizeof *r.seen);
    assert_non_null(r.ch);
    assert_non_null(r.seen);
    struct racer s[MAX_THREADS], rc[MAX_THREADS];
    for (int i = 0; i < receivers; i++) {
        rc[i] = (struct racer){.r = &r, .id = (uint64_t)i};
        assert_int_equal(pthread_create(&rc[i].thread, NULL, recv, &rc[i]), 0);
    }
    for (int i = 0; i < senders; i++) {
        s[i] = (struct racer){.r = &r, .id = (uint64_t)i};
        assert_int_equal(pthread_create(&s[i].thread, NULL, send, &s[i]), 0);
    }
    if (close_within_us > 0) {
        sleep_us((int64_t)(rng_next(rng) % (uint64_t)close_within_us));
        assert_int_equal(sw_chan_close(r.ch), SW_OK);
    }
    for (int i = 0; i < senders; i++) {
        pthread_join(s[i].thread, NULL);
        assert_int_equal(s[i].bad, 0);
    }
    if (close_within_us <= 0)
        assert_int_equal(sw_chan_close(r.ch), SW_OK);
    for (int i = 0; i < receivers; i++) {
        void *bad;
        pthread_join(rc[i].thread, &bad);
        assert_null(bad);
        assert_int_equal(rc[i].bad, 0);
    }
    assert_int_equal(atomic_load(&r.sent), atomic_load(&r.received));
    for (int64_t i = 0; i < senders * r.per_sender; i++)
        assert_true(atomic_load(&r.seen[i]) <= 1);
    assert_int_equal(sw_chan_len(r.ch), 0);
    free(r.seen);
    sw_chan_free(r.ch);
}

static void *race_sender(void *arg)
{
    struct racer *me = arg;
    for (int64_t i = 0; i < me->r->per_sender; i++) {
        uint64_t v = make_value(me->id, (uint64_t)i);
        int rc;
        switch (i % 3) {
        case 0:
            rc = sw_chan_send(me->r->ch, &v);
            break;
        case 1:
            rc = sw_chan_send_timeout(me->r->ch, &v, 200000);
            break;
        default: {
            sw_case c = {me->r->ch, SW_SEND, &v, 0};
            int idx = sw_select(&c, 1, 100000);
            rc = idx >= 0 ? c.status : idx;
        }
        }
        if (rc == SW_OK)
            atomic_fetch_add(&me->r->sent, 1);
        else if (rc == SW_ECLOSED)
            return NULL;
        else if (rc != SW_ETIMEDOUT)
            me->bad++;
    }
    return NULL;
}

static void *race_receiver(void *arg)
{
    struct racer *me = arg;
    for (int64_t i = 0;; i++) {
        uint64_t v = 0;
        int rc;
        if (i % 2)
            rc = sw_chan_recv_timeout(me->r->ch, &v, 100000);
        else
            rc = sw_chan_recv(me->r->ch, &v);
        if (rc == SW_ECLOSED)
            return NULL;
        if (rc == SW_ETIMEDOUT)
            continue;
        if (rc != SW_OK) {
            me->bad++;
            continue;
        }
        race_record(me, v);
    }
}

static void test_close_race(void **state)
{
    (void)state;
    uint64_t rng = seed_stream(1);
    for (int round = 0; round < 20; round++)
        race_run((size_t)(round % 3) * 4, g_size / 10 + 1, race_sender, race_receiver, 3000, &rng);
}

/* Close racing with lock-free operations on buffered channels: senders use
 * plain and non-blocking sends, receivers blocking, non-blocking and
 * selecting receives, so sends land in the ring lock-free right up to the
 * close. A send either lands before the close and is drained, or fails. */
static void *fast_sender(void *arg)
{
    struct racer *me = arg;
    for (int64_t i = 0; i < me->r->per_sender; i++) {
        uint64_t v = make_value(me->id, (uint64_t)i);
        int rc = i % 4 == 3 ? sw_chan_try_send(me->r->ch, &v) : sw_chan_send(me->r->ch, &v);
        if (rc == SW_OK)
            atomic_fetch_add(&me->r->sent, 1);
        else if (rc == SW_ECLOSED)
            return NULL;
        else if (rc != SW_EAGAIN)
            me->bad++;
    }
    return NULL;
}

static void *fast_receiver(void *arg)
{
    struct racer *me = arg;
    for (int64_t i = 0;; i++) {
        uint64_t v = 0;
        int rc;
        if (i % 3 == 0) {
            rc = sw_chan_recv(me->r->ch, &v);
        } else if (i % 3 == 1) {
            rc = sw_chan_try_recv(me->r->ch, &v);
        } else {
            sw_case c[2] = {{me->r->ch, SW_RECV, &v, 0}, {NULL, SW_RECV, NULL, 0}};
            int idx = sw_select(c, 2, i % 2 ? -1 : 0);
            rc = idx >= 0 ? c[idx].status : idx;
        }
        if (rc == SW_ECLOSED) {
            if (v != 0)
                me->bad++; /* the zero value after close */
            return NULL;
        }
        if (rc == SW_EAGAIN)
            continue;
        if (rc != SW_OK) {
            me->bad++;
            continue;
        }
        race_record(me, v);
    }
}

static void test_close_race_fast(void **state)
{
    (void)state;
    static const size_t caps[] = {1, 2, 16, 1024};
    uint64_t rng = seed_stream(2);
    for (int round = 0; round < 24; round++)
        race_run(caps[round % 4], g_size / 10 + 1, fast_sender, fast_receiver, 2000, &rng);
}

/* The non-blocking calls are exact even while other threads are half-way
 * through lock-free operations on the same slots. One receiver counts what
 * it took: when more sends have returned than it took, the buffer is not
 * empty, so a try_recv (or a select with timeout 0) must find a value. One
 * sender counts what it sent: when fewer values are buffered than cap
 * (sent minus receives returned), a try_send must succeed. */
struct exact {
    sw_chan *ch[2];
    _Atomic int64_t done[2]; /* per channel: sends (or receives) that returned SW_OK */
    int64_t per_thread;
};

static void *exact_sender(void *arg)
{
    struct exact *e = arg;
    for (int64_t i = 0; i < e->per_thread; i++) {
        uint64_t v = (uint64_t)i;
        if (sw_chan_send(e->ch[i % 2], &v) != SW_OK)
            return (void *)1;
        atomic_fetch_add(&e->done[i % 2], 1);
    }
    return NULL;
}

static void *exact_receiver(void *arg)
{
    struct exact *e = arg;
    uint64_t v;
    while (sw_chan_recv(e->ch[0], &v) == SW_OK)
        atomic_fetch_add(&e->done[0], 1);
    return NULL;
}

static void test_try_exact(void **state)
{
    (void)state;
    int threads = half();
    for (size_t cap = 1; cap <= 4; cap *= 2) {
        /* Many senders, one receiver using try_recv and select(0). */
        struct exact e = {.ch = {sw_chan_new(8, cap), sw_chan_new(8, cap)},
                          .per_thread = g_size / 4 + 1};
        assert_true(e.ch[0] && e.ch[1]);
        pthread_t t[MAX_THREADS];
        for (int i = 0; i < threads; i++)
            assert_int_equal(pthread_create(&t[i], NULL, exact_sender, &e), 0);
        int64_t total = threads * e.per_thread, got[2] = {0, 0};
        for (int64_t k = 0; got[0] + got[1] < total; k++) {
            int64_t returned[2] = {atomic_load(&e.done[0]), atomic_load(&e.done[1])};
            uint64_t v;
            int rc, c = (int)(k % 3);
            bool ready;
            if (c < 2) {
                rc = sw_chan_try_recv(e.ch[c], &v);
                ready = returned[c] > got[c];
            } else {
                sw_case cs[2] = {{e.ch[0], SW_RECV, &v, 0}, {e.ch[1], SW_RECV, &v, 0}};
                int idx = sw_select(cs, 2, 0);
                rc = idx >= 0 ? cs[idx].status : idx;
                c = idx;
                ready = returned[0] + returned[1] > got[0] + got[1];
            }
            if (rc == SW_OK)
                got[c]++;
            else if (rc != SW_EAGAIN || ready)
                fail_msg("cap %zu: rc %d with %lld+%lld returned, %lld+%lld taken", cap, rc,
                         (long long)returned[0], (long long)returned[1], (long long)got[0],
                         (long long)got[1]);
        }
        for (int i = 0; i < threads; i++) {
            void *bad;
            pthread_join(t[i], &bad);
            assert_null(bad);
        }
        sw_chan_free(e.ch[0]);
        sw_chan_free(e.ch[1]);

        /* Many receivers, one sender using try_send. */
        struct exact f = {.ch = {sw_chan_new(8, cap), NULL}};
        assert_non_null(f.ch[0]);
        for (int i = 0; i < threads; i++)
            assert_int_equal(pthread_create(&t[i], NULL, exact_receiver, &f), 0);
        int64_t sent = 0;
        while (sent < total) {
            int64_t taken = atomic_load(&f.done[0]);
            uint64_t v = (uint64_t)sent;
            int rc = sw_chan_try_send(f.ch[0], &v);
            if (rc == SW_OK)
                sent++;
            else if (rc != SW_EAGAIN || sent - taken < (int64_t)cap)
                fail_msg("cap %zu: rc %d with %lld sent, %lld taken", cap, rc, (long long)sent,
                         (long long)taken);
        }
        assert_int_equal(sw_chan_close(f.ch[0]), SW_OK);
        for (int i = 0; i < threads; i++)
            pthread_join(t[i], NULL);
        assert_int_equal(atomic_load(&f.done[0]), total);
        sw_chan_free(f.ch[0]);
    }
}

/* Every kind of operation on one unbuffered channel at once, so that the
 * rendezvous slot's lock-free paths race the locked ones: senders use plain,
 * timed, non-blocking and selecting sends, receivers the same receives,
 * until the main thread closes the channel once the senders are done. Every
 * send that succeeded is received exactly once, and no other value is. */
static int mixed_op(sw_chan *ch, enum sw_dir dir, uint64_t *v, int64_t i)
{
    switch (i % 5) {
    case 0:
    case 1:
        return dir == SW_SEND ? sw_chan_send(ch, v) : sw_chan_recv(ch, v);
    case 2:
        return dir == SW_SEND ? sw_chan_send_timeout(ch, v, 20000)
                              : sw_chan_recv_timeout(ch, v, 20000);
    case 3:
        return dir == SW_SEND ? sw_chan_try_send(ch, v) : sw_chan_try_recv(ch, v);
    default: {
        sw_case c = {ch, dir, v, 0};
        int idx = sw_select(&c, 1, i % 2 ? -1 : 50000);
        return idx >= 0 ? c.status : idx;
    }
    }
}

static void *mixed_sender(void *arg)
{
    struct racer *me = arg;
    for (int64_t i = 0; i < me->r->per_sender; i++) {
        uint64_t v = make_value(me->id, (uint64_t)i);
        int rc = mixed_op(me->r->ch, SW_SEND, &v, i + (int64_t)me->id);
        if (rc == SW_OK)
            atomic_fetch_add(&me->r->sent, 1);
        else if (rc != SW_ETIMEDOUT && rc != SW_EAGAIN)
            me->bad++;
    }
    return NULL;
}

static void *mixed_receiver(void *arg)
{
    struct racer *me = arg;
    for (int64_t i = (int64_t)me->id;; i++) {
        uint64_t v = 0;
        int rc = mixed_op(me->r->ch, SW_RECV, &v, i);
        if (rc == SW_ECLOSED)
            return v == 0 ? NULL : (void *)1;
        if (rc == SW_ETIMEDOUT || rc == SW_EAGAIN)
            continue;
        if (rc != SW_OK) {
            me->bad++;
            continue;
        }
        race_record(me, v);
    }
}

static void test_unbuffered_mixed(void **state)
{
    (void)state;
    race_run(0, g_size, mixed_sender, mixed_receiver, 0, NULL);
}

/* Timeouts of a microsecond or two on both sides of an unbuffered channel,
 * so that a waiter's deadline often passes just as a peer claims it: the
 * waiter must then lose its retract and take the value (or status) after
 * all. Every send that succeeded is received exactly once. */
static void *tight_sender(void *arg)
{
    struct racer *me = arg;
    for (int64_t i = 0; i < me->r->per_sender; i++) {
        uint64_t v = make_value(me->id, (uint64_t)i);
        int rc = sw_chan_send_timeout(me->r->ch, &v, 1000 + (i % 4) * 500);
        if (rc == SW_OK)
            atomic_fetch_add(&me->r->sent, 1);
        else if (rc != SW_ETIMEDOUT)
            me->bad++;
    }
    return NULL;
}

static void *tight_receiver(void *arg)
{
    struct racer *me = arg;
    for (int64_t i = 0;; i++) {
        uint64_t v = 0;
        int rc = sw_chan_recv_timeout(me->r->ch, &v, 1000 + (i % 4) * 500);
        if (rc == SW_ECLOSED)
            return NULL;
        if (rc == SW_ETIMEDOUT) {
            if (v != 0)
                me->bad++;
            continue;
        }
        if (rc != SW_OK) {
            me->bad++;
            continue;
        }
        race_record(me, v);
    }
}

static void test_timeout_race(void **state)
{
    (void)state;
    race_run(0, g_size, tight_sender, tight_receiver, 0, NULL);
}

/* Ping-pong: the main thread sends n, the echo thread answers n + 1. */
struct pong {
    sw_chan *ping, *pong;
};

static void *echo_main(void *arg)
{
    struct pong *p = arg;
    int64_t v;
    while (sw_chan_recv(p->ping, &v) == SW_OK) {
        v++;
        sw_chan_send(p->pong, &v);
    }
    return NULL;
}

static void test_ping_pong(void **state)
{
    (void)state;
    struct pong p = {sw_chan_new(sizeof(int64_t), 0), sw_chan_new(sizeof(int64_t), 0)};
    assert_true(p.ping && p.pong);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, echo_main, &p), 0);
    int64_t rounds = g_size * 50; /* a million at the default size */
    for (int64_t i = 0; i < rounds; i++) {
        int64_t v = i * 2;
        assert_int_equal(sw_chan_send(p.ping, &v), SW_OK);
        assert_int_equal(sw_chan_recv(p.pong, &v), SW_OK);
        if (v != i * 2 + 1)
            fail_msg("round %lld: got %lld", (long long)i, (long long)v);
    }
    assert_int_equal(sw_chan_close(p.ping), SW_OK);
    pthread_join(t, NULL);
    sw_chan_free(p.ping);
    sw_chan_free(p.pong);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        g_threads = atoi(argv[1]);
    if (argc > 2)
        g_size = atoll(argv[2]);
    if (g_threads < 2 || g_threads > MAX_THREADS || g_size < 1 || g_size >= (1LL << 40)) {
        fprintf(stderr,
                "usage: [STEWARD_SEED=n] stress_chan [threads 2..%d] [values per producer]\n",
                MAX_THREADS);
        return 2;
    }
    seed_init(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mpmc_unbuffered),  cmocka_unit_test(test_mpmc_buffered_1),
        cmocka_unit_test(test_mpmc_buffered_64), cmocka_unit_test(test_select_consumers),
        cmocka_unit_test(test_select_producers), cmocka_unit_test(test_close_race),
        cmocka_unit_test(test_close_race_fast),  cmocka_unit_test(test_try_exact),
        cmocka_unit_test(test_ping_pong),        cmocka_unit_test(test_unbuffered_mixed),
        cmocka_unit_test(test_timeout_race),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
