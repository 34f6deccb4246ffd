/* Stress tests of chan.h, each checking an invariant:
 *   - many producers and consumers through unbuffered and buffered channels:
 *     every value delivered exactly once, in order per producer;
 *   - select consumers and select producers over several channels: the same;
 *   - close racing with blocked senders, receivers and selects: every send
 *     that succeeded is received exactly once, none that failed is;
 *   - a ping-pong of many rounds: each reply is the request plus one.
 *
 * Usage: stress_chan [threads] [values-per-producer]
 */
#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "steward/chan.h"

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
    for (int c = 0; c < nchans; c++)
        sh.chans[c] = sw_chan_new(sizeof(uint64_t), cap);
    sh.seen = calloc((size_t)producers * (size_t)g_size, sizeof *sh.seen);
    assert_non_null(sh.seen);
    struct worker prod[MAX_THREADS], cons[MAX_THREADS];
    for (int i = 0; i < consumers; i++) {
        cons[i] = (struct worker){.sh = &sh, .id = (uint64_t)i};
        pthread_create(&cons[i].thread, NULL, consumer_main, &cons[i]);
    }
    for (int i = 0; i < producers; i++) {
        prod[i] = (struct worker){.sh = &sh, .id = (uint64_t)i};
        pthread_create(&prod[i].thread, NULL, producer_main, &prod[i]);
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
        uint64_t p = v >> 40, seq = v & ((1ULL << 40) - 1);
        atomic_fetch_add(&me->r->seen[p * (uint64_t)me->r->per_sender + seq], 1);
        atomic_fetch_add(&me->r->received, 1);
    }
}

static void test_close_race(void **state)
{
    (void)state;
    int rounds = 20;
    for (int round = 0; round < rounds; round++) {
        int senders = half(), receivers = half();
        struct race r = {.ch = sw_chan_new(sizeof(uint64_t), (size_t)(round % 3) * 4),
                         .per_sender = g_size / 10 + 1};
        r.seen = calloc((size_t)senders * (size_t)r.per_sender, sizeof *r.seen);
        struct racer s[MAX_THREADS], rc[MAX_THREADS];
        for (int i = 0; i < senders; i++) {
            s[i] = (struct racer){.r = &r, .id = (uint64_t)i};
            pthread_create(&s[i].thread, NULL, race_sender, &s[i]);
        }
        for (int i = 0; i < receivers; i++) {
            rc[i] = (struct racer){.r = &r, .id = (uint64_t)i};
            pthread_create(&rc[i].thread, NULL, race_receiver, &rc[i]);
        }
        struct timespec ts = {0, (long)(rand() % 3000) * 1000};
        nanosleep(&ts, NULL);
        assert_int_equal(sw_chan_close(r.ch), SW_OK);
        for (int i = 0; i < senders; i++) {
            pthread_join(s[i].thread, NULL);
            assert_int_equal(s[i].bad, 0);
        }
        for (int i = 0; i < receivers; i++) {
            pthread_join(rc[i].thread, NULL);
            assert_int_equal(rc[i].bad, 0);
        }
        assert_int_equal(atomic_load(&r.sent), atomic_load(&r.received));
        for (int64_t i = 0; i < senders * r.per_sender; i++)
            assert_true(atomic_load(&r.seen[i]) <= 1);
        free(r.seen);
        sw_chan_free(r.ch);
    }
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
    pthread_t t;
    pthread_create(&t, NULL, echo_main, &p);
    int64_t rounds = g_size * 50; /* a million at the default size */
    for (int64_t i = 0; i < rounds; i++) {
        int64_t v = i * 2;
        assert_int_equal(sw_chan_send(p.ping, &v), SW_OK);
        assert_int_equal(sw_chan_recv(p.pong, &v), SW_OK);
        if (v != i * 2 + 1)
            fail_msg("round %lld: got %lld", (long long)i, (long long)v);
    }
    sw_chan_close(p.ping);
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
        fprintf(stderr, "usage: stress_chan [threads 2..%d] [values per producer]\n", MAX_THREADS);
        return 2;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mpmc_unbuffered),  cmocka_unit_test(test_mpmc_buffered_1),
        cmocka_unit_test(test_mpmc_buffered_64), cmocka_unit_test(test_select_consumers),
        cmocka_unit_test(test_select_producers), cmocka_unit_test(test_close_race),
        cmocka_unit_test(test_ping_pong),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
