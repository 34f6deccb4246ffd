/* Stress tests of owner.h, each checking an invariant:
 *   - many threads calling and posting to many owners: every request runs
 *     exactly once, each call's answer reaches its own caller, and each
 *     caller's requests run in the order it made them;
 *   - owners stopped while callers are mid-call: every call either ran
 *     (SW_OK) or did not (SW_ECLOSED), and the owner's count says which;
 *   - load in bursts with pauses, so that pool threads sleep and owners run
 *     away from their sleeping home thread: an owner still runs one request
 *     at a time, each caller's in order, and owners are seen to move.
 *
 * Usage: stress_owner [threads] [calls-per-thread]
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <cmocka.h>

#include "steward/owner.h"

static int g_threads = 8;
static long g_calls = 20000;

enum { MAX_THREADS = 256, OWNERS = 64 };

/* An owner's state: how many requests it ran, and the last sequence number
 * it saw from each thread (to check per-caller order). */
struct obj {
    int64_t runs;
    int64_t last_seq[MAX_THREADS];
};

struct req {
    int thread;
    int64_t seq;
    uint64_t token; /* echoed back: proves the answer is this caller's */
    uint64_t answer;
    int order_broken;
};

static void serve(void *state, void *arg)
{
    struct obj *o = state;
    struct req *r = arg;
    o->runs++;
    if (r->seq <= o->last_seq[r->thread])
        r->order_broken = 1;
    if (o->last_seq[r->thread] >= 0) /* keep a poison mark from serve_post */
        o->last_seq[r->thread] = r->seq;
    r->answer = r->token * 2654435761u + 1;
}

/* Posted requests carry their data in the pointer itself. */
static void serve_post(void *state, void *arg)
{
    struct obj *o = state;
    uintptr_t v = (uintptr_t)arg;
    int thread = (int)(v >> 40);
    int64_t seq = (int64_t)(v & ((1ULL << 40) - 1));
    o->runs++;
    if (seq <= o->last_seq[thread])
        o->last_seq[thread] = INT64_MIN / 2; /* poison: order broken */
    else if (o->last_seq[thread] >= 0)
        o->last_seq[thread] = seq;
}

struct caller {
    pthread_t thread;
    int id;
    sw_owner **owners;
    struct obj *objs;
    int64_t seq[OWNERS];
    long calls_ok, posts_ok;
    int failures;
};

static void *caller_main(void *arg)
{
    struct caller *c = arg;
    uint64_t x = (uint64_t)c->id * 0x9E3779B97F4A7C15u + 1;
    for (long i = 0; i < g_calls; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int k = (int)(x % OWNERS);
        int64_t seq = ++c->seq[k];
        if (x % 4 == 0) {
            uintptr_t v = ((uintptr_t)c->id << 40) | (uintptr_t)seq;
            if (sw_owner_post(c->owners[k], serve_post, (void *)v) == SW_OK)
                c->posts_ok++;
            else
                c->failures++;
            continue;
        }
        struct req r = {.thread = c->id, .seq = seq, .token = x};
        if (sw_owner_call(c->owners[k], serve, &r) != SW_OK)
            c->failures++;
        else if (r.answer != x * 2654435761u + 1 || r.order_broken)
            c->failures++;
        else
            c->calls_ok++;
    }
    return NULL;
}

static void test_many_callers_many_owners(void **state)
{
    (void)state;
    sw_owner *owners[OWNERS];
    struct obj *objs = calloc(OWNERS, sizeof *objs);
    for (int k = 0; k < OWNERS; k++)
        assert_int_equal(sw_owner_start(&owners[k], &objs[k]), SW_OK);
    struct caller *cs = calloc((size_t)g_threads, sizeof *cs);
    for (int i = 0; i < g_threads; i++) {
        cs[i] = (struct caller){.id = i, .owners = owners, .objs = objs};
        pthread_create(&cs[i].thread, NULL, caller_main, &cs[i]);
    }
    long total = 0;
    for (int i = 0; i < g_threads; i++) {
        pthread_join(cs[i].thread, NULL);
        assert_int_equal(cs[i].failures, 0);
        total += cs[i].calls_ok + cs[i].posts_ok;
    }
    for (int k = 0; k < OWNERS; k++)
        sw_owner_stop(owners[k]); /* runs the posts still queued */
    long runs = 0;
    for (int k = 0; k < OWNERS; k++) {
        runs += objs[k].runs;
        for (int t = 0; t < g_threads; t++)
            assert_true(objs[k].last_seq[t] >= 0); /* no poisoned order */
        sw_owner_free(owners[k]);
    }
    assert_int_equal(runs, total); /* every request exactly once */
    assert_int_equal(total, (long)g_threads * g_calls);
    free(cs);
    free(objs);
}

/* Stop while callers are mid-call: callers hammer one owner until they get
 * SW_ECLOSED; the handle stays valid after stop, so they may keep trying. */
struct hammer {
    pthread_t thread;
    sw_owner *o;
    long ok, closed;
    int bad;
};

static void count_run(void *state, void *arg)
{
    (void)arg;
    ++*(int64_t *)state;
}

static void *hammer_main(void *arg)
{
    struct hammer *h = arg;
    for (;;) {
        int rc = (h->ok + h->closed) % 3 ? sw_owner_call(h->o, count_run, NULL)
                                         : sw_owner_post(h->o, count_run, NULL);
        if (rc == SW_OK)
            h->ok++;
        else if (rc == SW_ECLOSED) {
            if (++h->closed >= 3)
                return NULL;
        } else {
            h->bad++;
            return NULL;
        }
    }
}

static void test_stop_while_mid_call(void **state)
{
    (void)state;
    for (int round = 0; round < 20; round++) {
        int64_t runs = 0;
        sw_owner *o;
        sw_owner_start(&o, &runs);
        struct hammer *hs = calloc((size_t)g_threads, sizeof *hs);
        for (int i = 0; i < g_threads; i++) {
            hs[i] = (struct hammer){.o = o};
            pthread_create(&hs[i].thread, NULL, hammer_main, &hs[i]);
        }
        struct timespec ts = {0, (long)(rand() % 2000) * 1000};
        nanosleep(&ts, NULL);
        sw_owner_stop(o);
        int64_t after_stop = runs; /* the owner runs nothing more */
        long ok = 0;
        for (int i = 0; i < g_threads; i++) {
            pthread_join(hs[i].thread, NULL);
            assert_int_equal(hs[i].bad, 0);
            ok += hs[i].ok;
        }
        assert_int_equal(runs, after_stop);
        assert_int_equal(runs, ok);
        sw_owner_free(o);
        free(hs);
    }
}

/* Bursts and pauses. Each owner notes whether two of its requests ever
 * overlapped (they must not; under TSan the plain fields would also race)
 * and the pool threads it ran on. */
enum { BURST_OWNERS = 32, BURST_CALLERS = 4, BURST_OPS = 64 };

struct roaming {
    int inside;   /* 1 while a request runs */
    int overlaps; /* requests found another one running */
    int64_t runs;
    int64_t last_seq[BURST_CALLERS];
    int order_broken;
    pthread_t first; /* the first pool thread it ran on */
    int moved;       /* it ran on another one since */
};

struct roam_req {
    int caller;
    int64_t seq;
};

static void roam_note(struct roaming *o, int caller, int64_t seq)
{
    if (o->inside)
        o->overlaps++;
    o->inside = 1;
    if (o->runs++ == 0)
        o->first = pthread_self();
    else if (!pthread_equal(o->first, pthread_self()))
        o->moved = 1;
    if (seq <= o->last_seq[caller])
        o->order_broken = 1;
    o->last_seq[caller] = seq;
    for (volatile int i = 0; i < 50; i++) /* a little work, to widen any overlap */
        ;
    o->inside = 0;
}

static void roam_call(void *state, void *arg)
{
    struct roam_req *r = arg;
    roam_note(state, r->caller, r->seq);
}

static void roam_fence(void *state, void *arg)
{
    (void)state, (void)arg;
}

static void roam_post(void *state, void *arg)
{
    uintptr_t v = (uintptr_t)arg;
    roam_note(state, (int)(v >> 40), (int64_t)(v & ((1ULL << 40) - 1)));
}

struct roamer {
    pthread_t thread;
    int id, rounds;
    sw_owner **owners;
    int64_t seq[BURST_OWNERS];
    long sent;
    int failures;
};

static void *roamer_main(void *arg)
{
    struct roamer *c = arg;
    uint64_t x = (uint64_t)c->id * 0x9E3779B97F4A7C15u + 7;
    for (int round = 0; round < c->rounds; round++) {
        for (int i = 0; i < BURST_OPS; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            int k = (int)(x % BURST_OWNERS);
            int64_t seq = ++c->seq[k];
            int rc;
            if (x & 64) {
                rc = sw_owner_post(c->owners[k], roam_post,
                                   (void *)(((uintptr_t)c->id << 40) | (uintptr_t)seq));
            } else {
                struct roam_req r = {.caller = c->id, .seq = seq};
                rc = sw_owner_call(c->owners[k], roam_call, &r);
            }
            if (rc == SW_OK)
                c->sent++;
            else
                c->failures++;
        }
        /* Long enough for every pool thread to stop polling and sleep. */
        struct timespec ts = {0, 1000000 + (long)(x % 1000) * 1000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static void test_owners_roam_one_at_a_time(void **state)
{
    (void)state;
    sw_owner *owners[BURST_OWNERS];
    struct roaming *objs = calloc(BURST_OWNERS, sizeof *objs);
    for (int k = 0; k < BURST_OWNERS; k++)
        assert_int_equal(sw_owner_start(&owners[k], &objs[k]), SW_OK);
    struct roamer cs[BURST_CALLERS];
    for (int i = 0; i < BURST_CALLERS; i++)
        cs[i] = (struct roamer){.id = i, .rounds = 25, .owners = owners};
    long sent = 0;
    int moved = 0;
    /* Moving needs a sleeping home and another thread awake: rounds of
     * bursts until some owner has moved (the first round, in practice). */
    for (int attempt = 0; attempt < 20 && !moved; attempt++) {
        for (int i = 0; i < BURST_CALLERS; i++) {
            cs[i].sent = 0;
            pthread_create(&cs[i].thread, NULL, roamer_main, &cs[i]);
        }
        for (int i = 0; i < BURST_CALLERS; i++) {
            pthread_join(cs[i].thread, NULL);
            assert_int_equal(cs[i].failures, 0);
            sent += cs[i].sent;
        }
        /* A call after every request of the round: then `moved` is ours
         * to read. */
        for (int k = 0; k < BURST_OWNERS; k++) {
            assert_int_equal(sw_owner_call(owners[k], roam_fence, NULL), SW_OK);
            moved |= objs[k].moved;
        }
    }
    long runs = 0;
    for (int k = 0; k < BURST_OWNERS; k++) {
        sw_owner_free(owners[k]);
        assert_int_equal(objs[k].overlaps, 0);
        assert_int_equal(objs[k].order_broken, 0);
        runs += objs[k].runs;
    }
    assert_int_equal(runs, sent); /* every request exactly once */
    if (sw_owner_pool_size() > 1)
        assert_true(moved);
    free(objs);
}

int main(int argc, char **argv)
{
    /* At least four pool threads, so that owners have somewhere to move
     * even on a small machine (the environment may still say otherwise). */
    setenv("STEWARD_THREADS", "4", 0);
    if (argc > 1)
        g_threads = atoi(argv[1]);
    if (argc > 2)
        g_calls = atol(argv[2]);
    if (g_threads < 1 || g_threads > MAX_THREADS || g_calls < 1) {
        fprintf(stderr, "usage: stress_owner [threads 1..%d] [calls per thread]\n", MAX_THREADS);
        return 2;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_many_callers_many_owners),
        cmocka_unit_test(test_stop_while_mid_call),
        cmocka_unit_test(test_owners_roam_one_at_a_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
