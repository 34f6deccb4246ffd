/* Stress tests of owner.h, each checking invariants that fail if broken:
 *   - every request once: threads call, call inline and post to a few
 *     owners; each call's fn writes an answer derived from that call's own
 *     token, which its caller checks, and an owner must see each thread's
 *     requests numbered 1, 2, 3... (nothing lost, nothing run twice, each
 *     caller's posts and calls in the order it made them);
 *   - one at a time: all threads on one owner; fn marks an atomic "inside"
 *     flag and bumps a plain counter across a short delay, which would lose
 *     counts (and race, for TSan) if two requests ever overlapped;
 *   - batch_end: all threads on one owner with a commit hook; a caller,
 *     once answered, finds the batch its request ran in committed, and no
 *     batch is empty or left uncommitted; it reports how many calls ran on
 *     another thread than their caller's (combining) and how many runs show
 *     a handover;
 *   - stop racing calls and posts, from a plain thread, from a caller in
 *     mid-stream and from an owner function: every request either ran
 *     (SW_OK) or did not (SW_ECLOSED), the owner's count says which, and
 *     nothing runs once sw_owner_stop has returned;
 *   - free racing callers: callers still inside their last call, and callers
 *     queued behind a busy owner, while the owner is freed from a plain
 *     thread, from another thread, and from its own owner function (ASan
 *     checks that nobody touches the freed owner);
 *   - many owners on few threads: 1000 owners, a pool of 4, posts and calls;
 *   - calls from owner functions refused with SW_EINVAL, whether the owner
 *     is held by a caller or by a pool thread;
 *   - handover: more than HOLD_MAX requests run while callers queue, so the
 *     owner is handed to the oldest waiting caller, which then runs the
 *     others' calls on its own thread; with posts made before the calls,
 *     the handed caller runs them too, each before its poster's call;
 *   - a poster waiting for room while its owner is freed (the owner must
 *     stay alive until the poster has left).
 *
 * Usage: [STEWARD_SEED=n] stress_owner [threads] [calls-per-thread]
 * The seed (printed at the start) picks every request each worker makes
 * (which owner, post or call) and the moments of the racing stops and
 * frees.
 */
#define _GNU_SOURCE /* gettid(), for wait_parked */
#include <assert.h>
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
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <cmocka.h>

#include "steward/owner.h"
#include "support.h"

static int g_threads = 8;
static long g_calls = 20000;

enum {
    MAX_THREADS = 256,
    MAIN_ID = MAX_THREADS, /* the main thread's id, past every worker's */
    NOWHERE = -2,          /* ran_on before a request has run */
    /* Requests that run ahead of the queued callers in the handover test:
     * more than HOLD_MAX (64 in owner.c), so that the holder must hand
     * the owner over rather than run them. */
    HANDOVER_FILL = 256,
};

/* Which test thread this is: a worker's id, MAIN_ID, or -1 on the pool's
 * threads. Owner functions read it only to observe where the runtime ran
 * them; a real owner function must not rely on thread identity. */
static _Thread_local int tls_me = -1;
/* While a test thread is inside a call: whether its own request has run on
 * it yet. A request that runs on a caller before the caller's own has been
 * run is proof of a handover (see note_handover). */
static _Thread_local bool tls_calling, tls_own_ran;

/* The generators' numbers (seed_stream's k): worker i's requests use
 * STREAM_WORKER + i, the nesting test's STREAM_NEST + i, and the main
 * thread's choices in a test STREAM_MAIN + a number of that test's. */
enum { STREAM_WORKER = 0, STREAM_NEST = 1000, STREAM_MAIN = 2000 };

/* The answer a call's fn writes for its token (splitmix64's finaliser). */
static uint64_t answer_of(uint64_t token)
{
    token ^= token >> 30;
    token *= 0xbf58476d1ce4e5b9u;
    token ^= token >> 27;
    token *= 0x94d049bb133111ebu;
    return token ^ (token >> 31);
}

static void wait_flag(_Atomic int *flag)
{
    while (!atomic_load_explicit(flag, memory_order_acquire))
        sleep_us(100);
}

/* ---- parked threads ----
 *
 * owner.h has no count of queued callers, so the tests that need a caller
 * known to be queued (or a poster known to wait for room) ask the kernel.
 * The thread publishes its id just before its call; before its message is
 * pushed it never sleeps (it spins, yields, then futex-waits on the parker
 * in its call's frame). So: asleep in futex(2), with no context switch
 * between two looks 2 ms apart, and (own_stack) on a futex word just above
 * its stack pointer, which a sanitizer's internal lock never is. Should the
 * word be elsewhere (ASan's fake stacks), 100 ms of unbroken sleep will do. */
struct task_view {
    char state;
    long nr; /* the system call it is in; -1 if unknown */
    unsigned long arg0, sp;
    long switches;
};

static bool read_task(pid_t tid, struct task_view *v)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p || p[1] != ' ')
        return false;
    v->state = p[2];
    v->nr = -1;
    snprintf(path, sizeof path, "/proc/self/task/%d/syscall", (int)tid);
    f = fopen(path, "r");
    if (f) {
        if (fscanf(f, "%ld %lx %*x %*x %*x %*x %*x %lx", &v->nr, &v->arg0, &v->sp) != 3)
            v->nr = -1;
        fclose(f);
    }
    snprintf(path, sizeof path, "/proc/self/task/%d/status", (int)tid);
    f = fopen(path, "r");
    if (!f)
        return false;
    long vol = -1, invol = -1;
    while (fgets(buf, sizeof buf, f)) {
        sscanf(buf, "voluntary_ctxt_switches: %ld", &vol);
        sscanf(buf, "nonvoluntary_ctxt_switches: %ld", &invol);
    }
    fclose(f);
    v->switches = vol + invol;
    return vol >= 0 && invol >= 0;
}

static void wait_parked(pid_t tid, bool own_stack)
{
    long last = -1;
    int still = 0;
    for (;;) {
        struct task_view v;
        bool asleep = read_task(tid, &v) && v.state == 'S' && (v.nr == SYS_futex || v.nr == -1);
        if (asleep && v.switches == last) {
            bool mine =
                v.nr == SYS_futex && (!own_stack || (v.arg0 >= v.sp && v.arg0 - v.sp < 65536));
            if (mine || ++still >= 50)
                return;
        } else {
            still = 0;
        }
        last = asleep ? v.switches : -1;
        sleep_us(2000);
    }
}

static pid_t wait_tid(_Atomic pid_t *tid)
{
    pid_t t;
    while ((t = atomic_load_explicit(tid, memory_order_acquire)) == 0)
        sleep_us(100);
    return t;
}

/* ---- the checked owner state ---- */

struct obj {
    /* One at a time: set at entry, cleared at exit, relaxed so that it
     * gives TSan no ordering of its own. */
    _Atomic int inside;
    _Atomic long overlaps;
    int64_t runs;                  /* plain: a lost count means an overlap */
    int64_t order_broken;          /* a request out of its thread's order */
    int64_t last_seq[MAX_THREADS]; /* per thread: its last request run */
    int64_t posts_on_poster;       /* posts run on the thread that posted them */
    int64_t handovers_seen;        /* requests run on a caller before its own */
    /* The commit hook's: batches committed, requests since the last one. */
    int64_t batches, uncommitted, empty_batches;
    int64_t extra;             /* requests that are not counted in runs (a stop) */
    _Atomic int64_t committed; /* = batches, for callers to read */
};

static void obj_enter(struct obj *o)
{
    if (atomic_exchange_explicit(&o->inside, 1, memory_order_relaxed) != 0)
        atomic_fetch_add_explicit(&o->overlaps, 1, memory_order_relaxed);
}

static void obj_exit(struct obj *o)
{
    if (atomic_exchange_explicit(&o->inside, 0, memory_order_relaxed) != 1)
        atomic_fetch_add_explicit(&o->overlaps, 1, memory_order_relaxed);
}

/* The body common to every request: count it across a short delay (which
 * widens any overlap) and check it is its thread's next one. */
static void obj_run(struct obj *o, int thread, int64_t seq)
{
    int64_t n = o->runs;
    for (volatile int i = 0; i < 8; i++)
        ;
    o->runs = n + 1;
    if (seq != o->last_seq[thread] + 1)
        o->order_broken++;
    o->last_seq[thread] = seq;
    o->uncommitted++;
}

/* A request of someone else's ran on a caller before the caller's own:
 * only a handed-over caller runs a batch in which its own request is not
 * first (a caller that takes a free owner runs its own request first). */
static void note_handover(struct obj *o)
{
    if (tls_me >= 0 && tls_calling && !tls_own_ran)
        o->handovers_seen++;
}

/* A call's request; it fits an inline call. */
struct req {
    int32_t thread, ran_on;
    int64_t seq;
    uint64_t token, answer;
    int32_t times; /* how often fn ran it: must end as 1 (or 0 if refused) */
    int32_t batch; /* the batches committed before the one it ran in */
};
static_assert(sizeof(struct req) <= SW_OWNER_INLINE_MAX, "a req travels inline");

static void serve_call(void *state, void *arg)
{
    struct obj *o = state;
    struct req *r = arg;
    obj_enter(o);
    if (r->thread == tls_me)
        tls_own_ran = true;
    else
        note_handover(o);
    obj_run(o, r->thread, r->seq);
    r->times++;
    r->ran_on = tls_me;
    r->answer = answer_of(r->token);
    r->batch = (int32_t)o->batches;
    obj_exit(o);
}

/* Posts carry their thread and sequence number in the pointer. */
static void *post_arg(int thread, int64_t seq)
{
    return (void *)(((uintptr_t)thread << 40) | (uintptr_t)seq);
}

static void serve_post(void *state, void *arg)
{
    struct obj *o = state;
    uintptr_t v = (uintptr_t)arg;
    int thread = (int)(v >> 40);
    obj_enter(o);
    if (thread == tls_me)
        o->posts_on_poster++;
    note_handover(o);
    obj_run(o, thread, (int64_t)(v & ((1ULL << 40) - 1)));
    obj_exit(o);
}

/* The commit hook: once per batch, after its requests, before its answers. */
static void commit(void *state)
{
    struct obj *o = state;
    obj_enter(o);
    if (o->uncommitted == 0)
        o->empty_batches++;
    o->uncommitted = 0;
    o->batches++;
    /* Release: pairs with the caller's acquire load after its answer. */
    atomic_store_explicit(&o->committed, o->batches, memory_order_release);
    obj_exit(o);
}

static int call_req(sw_owner *o, struct req *r, bool inl)
{
    tls_calling = true;
    tls_own_ran = false;
    int rc =
        inl ? sw_owner_call_inline(o, serve_call, r, sizeof *r) : sw_owner_call(o, serve_call, r);
    tls_calling = false;
    return rc;
}

/* ---- workers: mixed posts, calls and inline calls ---- */

struct run {
    int nowners;
    sw_owner **owners;
    struct obj *objs;
    bool batched;      /* the owners have the commit hook */
    bool until_closed; /* go on until SW_ECLOSED (one owner only) */
    long stop_at;      /* worker 0 stops owner 0 before this op; -1: never */
};

struct worker {
    pthread_t thread;
    int id;
    struct run *run;
    long ops;
    int64_t *sent; /* per owner: requests accepted (the last seq) */
    _Atomic int last_ran;
    long calls, posts, closed, elsewhere, early, failures;
};

/* One request to a random owner; returns its status. */
static int worker_op(struct worker *w, uint64_t x, long i)
{
    struct run *run = w->run;
    int k = (int)(x % (uint64_t)run->nowners);
    int64_t seq = w->sent[k] + 1;
    unsigned kind = (unsigned)(x >> 40) % 8;
    int rc;
    if (kind < 2) {
        rc = sw_owner_post(run->owners[k], serve_post, post_arg(w->id, seq));
        w->posts += rc == SW_OK;
    } else {
        struct req r = {.thread = w->id,
                        .ran_on = NOWHERE,
                        .seq = seq,
                        .token = ((uint64_t)w->id << 40) ^ (uint64_t)i,
                        .batch = -1};
        rc = call_req(run->owners[k], &r, kind == 2);
        if (rc == SW_OK) {
            w->calls++;
            if (r.times != 1 || r.answer != answer_of(r.token))
                w->failures++; /* not run exactly once, or someone else's answer */
            w->elsewhere += r.ran_on != w->id;
            /* Acquire: pairs with the release store in commit. */
            if (run->batched &&
                atomic_load_explicit(&run->objs[k].committed, memory_order_acquire) <= r.batch)
                w->early++; /* answered before its batch was committed */
        } else if (r.times != 0) {
            w->failures++; /* refused, yet it ran */
        }
    }
    if (rc == SW_OK) {
        w->sent[k] = seq;
        if (w->closed)
            w->failures++; /* accepted after the owner refused us */
    } else if (rc == SW_ECLOSED && run->until_closed) {
        w->closed++;
    } else {
        w->failures++;
    }
    return rc;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    tls_me = w->id;
    uint64_t rng = seed_stream(STREAM_WORKER + (uint64_t)w->id);
    for (long i = 0; i < w->ops; i++) {
        uint64_t x = rng_next(&rng);
        if (w->id == 0 && i == w->run->stop_at)
            sw_owner_stop(w->run->owners[0]); /* a plain thread, mid-stream */
        worker_op(w, x, i);
        if (w->run->until_closed && w->closed >= 3)
            break;
    }
    return NULL;
}

static struct worker *workers_new(struct run *run, long ops)
{
    struct worker *ws = calloc((size_t)g_threads, sizeof *ws);
    assert_non_null(ws);
    for (int t = 0; t < g_threads; t++) {
        ws[t].id = t;
        ws[t].run = run;
        ws[t].ops = ops;
        ws[t].sent = calloc((size_t)run->nowners, sizeof *ws[t].sent);
        assert_non_null(ws[t].sent);
    }
    return ws;
}

static void workers_start(struct worker *ws, void *(*fn)(void *))
{
    for (int t = 0; t < g_threads; t++)
        assert_int_equal(pthread_create(&ws[t].thread, NULL, fn, &ws[t]), 0);
}

static void workers_join(struct worker *ws)
{
    for (int t = 0; t < g_threads; t++)
        pthread_join(ws[t].thread, NULL);
}

static void workers_free(struct worker *ws)
{
    for (int t = 0; t < g_threads; t++)
        free(ws[t].sent);
    free(ws);
}

struct tally {
    long requests, calls, elsewhere, handovers, posts_on_poster, batches;
};

/* Checks the run's invariants once every owner has stopped (or been freed
 * after its last request ran), and sums what it saw. */
static struct tally check_run(struct run *run, struct worker *ws)
{
    struct tally t = {0};
    for (int i = 0; i < g_threads; i++) {
        assert_int_equal(ws[i].failures, 0);
        assert_int_equal(ws[i].early, 0);
        t.calls += ws[i].calls;
        t.elsewhere += ws[i].elsewhere;
    }
    for (int k = 0; k < run->nowners; k++) {
        struct obj *o = &run->objs[k];
        assert_int_equal(atomic_load(&o->overlaps), 0);
        assert_int_equal(o->order_broken, 0);
        int64_t sent = 0;
        for (int i = 0; i < g_threads; i++) {
            assert_int_equal(o->last_seq[i], ws[i].sent[k]); /* all of them, in order */
            sent += ws[i].sent[k];
        }
        assert_int_equal(o->runs, sent); /* each once */
        if (run->batched) {
            assert_int_equal(o->uncommitted, 0);
            assert_int_equal(o->empty_batches, 0);
            assert_true(o->batches <= o->runs + o->extra);
        }
        t.requests += o->runs;
        t.handovers += o->handovers_seen;
        t.posts_on_poster += o->posts_on_poster;
        t.batches += o->batches;
    }
    return t;
}

static void print_tally(const char *name, struct tally t)
{
    printf("%s: %ld requests, %ld calls, %ld of them run on another thread; "
           "%ld runs show a handover; %ld posts run on their poster; %ld batches\n",
           name, t.requests, t.calls, t.elsewhere, t.handovers, t.posts_on_poster, t.batches);
}

/* Starts n owners, runs the workers on them, stops them and checks. */
static struct tally run_mixed(int n, bool batched, long ops)
{
    sw_owner **owners = calloc((size_t)n, sizeof *owners);
    struct obj *objs = calloc((size_t)n, sizeof *objs);
    assert_true(owners && objs);
    sw_owner_options opts = {.batch_end = batched ? commit : NULL};
    for (int k = 0; k < n; k++)
        assert_int_equal(sw_owner_start_ex(&owners[k], &objs[k], &opts), SW_OK);
    struct run run = {
        .nowners = n, .owners = owners, .objs = objs, .batched = batched, .stop_at = -1};
    struct worker *ws = workers_new(&run, ops);
    workers_start(ws, worker_main);
    workers_join(ws);
    for (int k = 0; k < n; k++)
        sw_owner_stop(owners[k]); /* runs the posts still queued */
    struct tally t = check_run(&run, ws);
    assert_int_equal(t.requests, (long)g_threads * ops);
    for (int k = 0; k < n; k++)
        sw_owner_free(owners[k]);
    workers_free(ws);
    free(objs);
    free(owners);
    return t;
}

/* ---- the tests ---- */

static void test_every_request_once_in_order(void **state)
{
    (void)state;
    print_tally("4 owners", run_mixed(4, false, g_calls / 2));
}

static void test_one_at_a_time(void **state)
{
    (void)state;
    print_tally("1 owner", run_mixed(1, false, g_calls / 4));
}

/* Whether a call can run on a thread other than its caller's depends on
 * two callers meeting at the owner, which the scheduler may never arrange
 * (one core, or callers that happen to run one after another): `elsewhere`
 * is reported, not asserted here; test_handover forces it. */
static void test_batch_end_before_answers(void **state)
{
    (void)state;
    print_tally("1 owner, batch_end", run_mixed(1, true, g_calls / 4));
}

static void test_many_owners_few_threads(void **state)
{
    (void)state;
    print_tally("1000 owners", run_mixed(1000, false, g_calls / 8));
}

/* Stop while callers and posters race it. Who stops: the main thread (a
 * plain thread, maybe finding the owner free), worker 0 in mid-stream, or an
 * owner function (asynchronous, and then main's stop waits for it). */
static void stop_from_fn(void *state, void *arg)
{
    struct obj *o = state;
    obj_enter(o);
    sw_owner_stop(arg);
    o->uncommitted++; /* a request of its batch, for the commit hook */
    o->extra++;
    obj_exit(o);
}

static void test_stop_races_calls_and_posts(void **state)
{
    (void)state;
    uint64_t rng = seed_stream(STREAM_MAIN + 1);
    for (int round = 0; round < 6; round++) {
        struct obj *obj = calloc(1, sizeof *obj);
        assert_non_null(obj);
        sw_owner *o;
        sw_owner_options opts = {.batch_end = round % 2 ? commit : NULL};
        assert_int_equal(sw_owner_start_ex(&o, obj, &opts), SW_OK);
        int how = round % 3;
        struct run run = {.nowners = 1,
                          .owners = &o,
                          .objs = obj,
                          .batched = round % 2,
                          .until_closed = true,
                          .stop_at = how == 1 ? (long)(rng_next(&rng) % 200) : -1};
        struct worker *ws = workers_new(&run, INT32_MAX);
        workers_start(ws, worker_main);
        sleep_us((int64_t)(rng_next(&rng) % 1000));
        if (how == 2)
            assert_int_equal(sw_owner_post(o, stop_from_fn, o), SW_OK);
        if (how != 1)
            sw_owner_stop(o); /* from now on nothing runs */
        int64_t after_stop = how != 1 ? obj->runs : -1;
        workers_join(ws);
        sw_owner_stop(o);
        if (how != 1)
            assert_int_equal(obj->runs, after_stop);
        struct tally t = check_run(&run, ws); /* accepted = ran, in order */
        long ok = 0;
        for (int i = 0; i < g_threads; i++) {
            assert_int_equal(ws[i].closed, 3); /* each saw the stop */
            ok += ws[i].calls + ws[i].posts;
        }
        assert_int_equal(t.requests, ok);
        sw_owner_free(o);
        workers_free(ws);
        free(obj);
    }
}

/* Free while callers are still inside their last call: each worker's last
 * request is a call whose fn raises its flag; once all are up the owner is
 * freed, while holders may still be answering and callers returning. */
struct last_req {
    struct req r;
    _Atomic int *ran;
};

static void serve_last(void *state, void *arg)
{
    struct last_req *l = arg;
    serve_call(state, &l->r);
    atomic_store_explicit(l->ran, 1, memory_order_release);
}

static void *last_call_main(void *arg)
{
    struct worker *w = arg;
    worker_main(w);
    struct last_req l = {
        .r = {.thread = w->id, .ran_on = NOWHERE, .seq = w->sent[0] + 1, .token = 7, .batch = -1},
        .ran = &w->last_ran};
    tls_calling = true;
    tls_own_ran = false;
    if (sw_owner_call(w->run->owners[0], serve_last, &l) != SW_OK || l.r.times != 1)
        w->failures++;
    else
        w->sent[0]++;
    tls_calling = false;
    return NULL; /* the handle is not ours to touch any more */
}

static void free_after_last_calls(int round, uint64_t *rng)
{
    struct obj *obj = calloc(1, sizeof *obj);
    assert_non_null(obj);
    sw_owner *o;
    sw_owner_options opts = {.batch_end = round % 2 ? commit : NULL};
    assert_int_equal(sw_owner_start_ex(&o, obj, &opts), SW_OK);
    struct run run = {.nowners = 1, .owners = &o, .objs = obj, .batched = round % 2, .stop_at = -1};
    struct worker *ws = workers_new(&run, 0);
    for (int i = 0; i < g_threads; i++)
        ws[i].ops = (long)(rng_next(rng) % 300);
    workers_start(ws, last_call_main);
    for (int i = 0; i < g_threads; i++)
        wait_flag(&ws[i].last_ran);
    sw_owner_free(o);
    workers_join(ws);
    check_run(&run, ws);
    workers_free(ws);
    free(obj);
}

/* Free while callers are queued behind a busy owner: the owner is held by
 * a post that waits for `gate`, and each caller is seen parked before the
 * owner is freed: by main as the gate opens, by a helper thread while it is
 * closed, or by the gate post itself once it opens. */
struct blocked_caller {
    pthread_t thread;
    int id;
    struct blocked *b;
    _Atomic pid_t tid;
    int rc;
    struct req r;
};

struct blocked {
    sw_owner *o;
    struct obj *obj;
    int how;
    _Atomic int gate;
    _Atomic pid_t helper_tid;
    struct blocked_caller *c;
};

static void gate_post(void *state, void *arg)
{
    struct blocked *b = arg;
    (void)state;
    wait_flag(&b->gate);
    if (b->how == 2)
        sw_owner_free(b->o); /* asynchronous: the queued callers still run */
}

static void *blocked_caller_main(void *arg)
{
    struct blocked_caller *c = arg;
    tls_me = c->id;
    c->r = (struct req){.thread = c->id, .ran_on = NOWHERE, .seq = 1, .token = 99, .batch = -1};
    atomic_store_explicit(&c->tid, gettid(), memory_order_release);
    c->rc = call_req(c->b->o, &c->r, c->id % 2);
    return NULL;
}

static void *free_helper_main(void *arg)
{
    struct blocked *b = arg;
    atomic_store_explicit(&b->helper_tid, gettid(), memory_order_release);
    sw_owner_free(b->o);
    return NULL;
}

static void free_with_queued_callers(int how)
{
    struct blocked b = {.how = how, .obj = calloc(1, sizeof *b.obj)};
    b.c = calloc((size_t)g_threads, sizeof *b.c);
    assert_true(b.obj && b.c);
    assert_int_equal(sw_owner_start(&b.o, b.obj), SW_OK);
    assert_int_equal(sw_owner_post(b.o, gate_post, &b), SW_OK);
    for (int i = 0; i < g_threads; i++) {
        b.c[i] = (struct blocked_caller){.id = i, .b = &b};
        assert_int_equal(pthread_create(&b.c[i].thread, NULL, blocked_caller_main, &b.c[i]), 0);
    }
    for (int i = 0; i < g_threads; i++)
        wait_parked(wait_tid(&b.c[i].tid), true);
    pthread_t helper;
    if (how == 1) {
        assert_int_equal(pthread_create(&helper, NULL, free_helper_main, &b), 0);
        wait_parked(wait_tid(&b.helper_tid), true); /* its stop is queued behind the callers */
    }
    atomic_store_explicit(&b.gate, 1, memory_order_release);
    if (how == 0)
        sw_owner_free(b.o);
    if (how == 1)
        pthread_join(helper, NULL);
    for (int i = 0; i < g_threads; i++) {
        pthread_join(b.c[i].thread, NULL);
        assert_int_equal(b.c[i].rc, SW_OK); /* queued before the stop: it ran */
        assert_int_equal(b.c[i].r.times, 1);
        assert_int_equal(b.c[i].r.answer, answer_of(99));
    }
    assert_int_equal(b.obj->runs, g_threads);
    assert_int_equal(atomic_load(&b.obj->overlaps), 0);
    free(b.c);
    free(b.obj);
}

static void test_free_racing_callers(void **state)
{
    (void)state;
    uint64_t rng = seed_stream(STREAM_MAIN + 2);
    for (int round = 0; round < 2; round++)
        free_after_last_calls(round, &rng);
    for (int how = 0; how < 3; how++)
        free_with_queued_callers(how);
}

/* Calls from owner functions are refused, wherever the owner is held: by a
 * caller (a call's fn, or a post run by a combining caller) or by a pool
 * thread (a post to a free owner). Posts from owner functions are allowed:
 * they go to a sink owner, which counts them. */
enum { NEST_OWNERS = 8 };

struct nest {
    sw_owner *owners[NEST_OWNERS];
    sw_owner *sink;
    struct obj objs[NEST_OWNERS];
    int64_t sink_runs;                /* the sink's state */
    int64_t refused_bad[NEST_OWNERS]; /* a call that was not refused */
    int64_t on_pool[NEST_OWNERS], on_caller[NEST_OWNERS], posted[NEST_OWNERS];
};
static struct nest *g_nest;

static void sink_fn(void *state, void *arg)
{
    (void)arg;
    ++*(int64_t *)state;
}

static void nested_fn(void *state, void *arg)
{
    struct obj *o = state;
    int k = (int)(o - g_nest->objs), other = (int)((uintptr_t)arg % NEST_OWNERS);
    obj_enter(o);
    int rc1 = sw_owner_call(g_nest->owners[k], sink_fn, &g_nest->sink_runs);
    int rc2 = sw_owner_call(g_nest->owners[other], sink_fn, &g_nest->sink_runs);
    int rc3 = sw_owner_call_inline(g_nest->sink, sink_fn, NULL, 0);
    if (rc1 != SW_EINVAL || rc2 != SW_EINVAL || rc3 != SW_EINVAL)
        g_nest->refused_bad[k]++;
    if (tls_me < 0)
        g_nest->on_pool[k]++;
    else
        g_nest->on_caller[k]++;
    if (sw_owner_post(g_nest->sink, sink_fn, &g_nest->sink_runs) == SW_OK)
        g_nest->posted[k]++;
    obj_exit(o);
}

static void *nest_worker_main(void *arg)
{
    struct worker *w = arg;
    tls_me = w->id;
    uint64_t rng = seed_stream(STREAM_NEST + (uint64_t)w->id);
    for (long i = 0; i < w->ops; i++) {
        uint64_t x = rng_next(&rng);
        sw_owner *o = g_nest->owners[x % NEST_OWNERS];
        int rc = (x >> 40) % 3 ? sw_owner_call(o, nested_fn, (void *)(uintptr_t)(x >> 20))
                               : sw_owner_post(o, nested_fn, (void *)(uintptr_t)(x >> 20));
        w->failures += rc != SW_OK;
    }
    return NULL;
}

static void fence(void *state, void *arg)
{
    (void)state, (void)arg;
}

static void test_calls_from_fn_refused(void **state)
{
    (void)state;
    struct nest *n = calloc(1, sizeof *n);
    assert_non_null(n);
    g_nest = n;
    for (int k = 0; k < NEST_OWNERS; k++)
        assert_int_equal(sw_owner_start(&n->owners[k], &n->objs[k]), SW_OK);
    assert_int_equal(sw_owner_start(&n->sink, &n->sink_runs), SW_OK);
    /* First, one of each for certain: a post to a free owner runs on a pool
     * thread, a call on a free owner on its caller (a fresh owner each, as
     * the pool thread may still hold the first when the fence returns). */
    assert_int_equal(sw_owner_post(n->owners[0], nested_fn, NULL), SW_OK);
    assert_int_equal(sw_owner_call(n->owners[0], fence, NULL), SW_OK);
    assert_int_equal(n->on_pool[0], 1);
    assert_int_equal(sw_owner_call(n->owners[1], nested_fn, NULL), SW_OK);
    assert_int_equal(n->on_caller[1], 1);
    struct run run = {.nowners = 1};
    struct worker *ws = workers_new(&run, g_calls / 16);
    workers_start(ws, nest_worker_main);
    workers_join(ws);
    for (int k = 0; k < NEST_OWNERS; k++)
        sw_owner_stop(n->owners[k]); /* their last posts to the sink are queued now */
    sw_owner_stop(n->sink);
    int64_t on_pool = 0, on_caller = 0, posted = 0;
    for (int i = 0; i < g_threads; i++)
        assert_int_equal(ws[i].failures, 0);
    for (int k = 0; k < NEST_OWNERS; k++) {
        assert_int_equal(n->refused_bad[k], 0);
        assert_int_equal(atomic_load(&n->objs[k].overlaps), 0);
        on_pool += n->on_pool[k];
        on_caller += n->on_caller[k];
        posted += n->posted[k];
        sw_owner_free(n->owners[k]);
    }
    assert_int_equal(on_pool + on_caller, (int64_t)g_threads * (g_calls / 16) + 2);
    assert_int_equal(n->sink_runs, posted); /* no call ran; every post did */
    sw_owner_free(n->sink);
    printf("nested calls refused: %lld on pool threads, %lld on callers\n", (long long)on_pool,
           (long long)on_caller);
    workers_free(ws);
    free(n);
    g_nest = NULL;
}

/* Handover, made certain: a post holds the owner on a pool thread; behind
 * it HANDOVER_FILL posts and a hook, all run in one batch; the hook lets
 * the callers go and waits until each is seen parked, so their calls are
 * queued after the holder has run more than HOLD_MAX requests. The holder
 * must then hand the owner to the oldest of them, which runs every
 * caller's call on its own thread: a queued caller runs requests only if
 * it was handed the owner. With posts_first, each caller posts before it
 * calls: the handed caller then runs every post with the calls (a post
 * never runs inside sw_owner_post, but later it runs wherever the owner is
 * held), and each caller's post before its call. */
struct hand_caller {
    pthread_t thread;
    int id;
    struct hand *h;
    _Atomic pid_t tid;
    int rc, post_rc;
    int ran_on, post_ran_on; /* tls_me where its call and its post ran */
    bool post_before;        /* its post had run when its call ran */
};

struct hand {
    sw_owner *o;
    int k;
    bool posts_first;
    _Atomic int gate, gate_running, go;
    struct hand_caller *c;
};

static void hand_gate(void *state, void *arg)
{
    struct hand *h = arg;
    (void)state;
    atomic_store_explicit(&h->gate_running, 1, memory_order_release);
    wait_flag(&h->gate);
}

static void hand_hook(void *state, void *arg)
{
    struct hand *h = arg;
    (void)state;
    atomic_store_explicit(&h->go, 1, memory_order_release);
    for (int i = 0; i < h->k; i++)
        wait_parked(wait_tid(&h->c[i].tid), true);
}

static void hand_call(void *state, void *arg)
{
    (void)state;
    struct hand_caller *c = arg;
    c->ran_on = tls_me;
    c->post_before = c->post_ran_on != NOWHERE;
}

static void hand_post(void *state, void *arg)
{
    (void)state;
    ((struct hand_caller *)arg)->post_ran_on = tls_me;
}

static void *hand_caller_main(void *arg)
{
    struct hand_caller *c = arg;
    tls_me = c->id;
    wait_flag(&c->h->go);
    if (c->h->posts_first)
        c->post_rc = sw_owner_post(c->h->o, hand_post, c);
    atomic_store_explicit(&c->tid, gettid(), memory_order_release);
    c->rc = sw_owner_call(c->h->o, hand_call, c);
    return NULL;
}

static void handover(bool posts_first)
{
    struct hand h = {.k = g_threads, .posts_first = posts_first};
    h.c = calloc((size_t)h.k, sizeof *h.c);
    assert_non_null(h.c);
    assert_int_equal(sw_owner_start(&h.o, NULL), SW_OK);
    for (int i = 0; i < h.k; i++) {
        h.c[i] = (struct hand_caller){.id = i, .h = &h, .ran_on = NOWHERE, .post_ran_on = NOWHERE};
        assert_int_equal(pthread_create(&h.c[i].thread, NULL, hand_caller_main, &h.c[i]), 0);
    }
    assert_int_equal(sw_owner_post(h.o, hand_gate, &h), SW_OK);
    /* The pool thread took the gate post alone, so the fill and the hook
     * run in its next take, all in one batch. */
    wait_flag(&h.gate_running);
    for (int i = 0; i < HANDOVER_FILL; i++)
        assert_int_equal(sw_owner_post(h.o, fence, NULL), SW_OK);
    assert_int_equal(sw_owner_post(h.o, hand_hook, &h), SW_OK);
    atomic_store_explicit(&h.gate, 1, memory_order_release);
    for (int i = 0; i < h.k; i++)
        pthread_join(h.c[i].thread, NULL);
    sw_owner_stop(h.o); /* the posts have run */
    int handed = h.c[0].ran_on;
    for (int i = 0; i < h.k; i++) {
        assert_int_equal(h.c[i].rc, SW_OK);
        assert_int_equal(h.c[i].post_rc, SW_OK);
        /* One caller, handed the owner, ran its own fn and all the others'. */
        if (handed < 0 || handed >= h.k || h.c[i].ran_on != handed)
            fail_msg("caller %d's call ran on %d and caller 0's on %d (-1: a pool thread); "
                     "all should have run on one caller",
                     i, h.c[i].ran_on, handed);
        if (posts_first && (h.c[i].post_ran_on != handed || !h.c[i].post_before))
            fail_msg("caller %d's post ran on %d, %s its call; it should have run on the "
                     "handed caller %d, before the call",
                     i, h.c[i].post_ran_on, h.c[i].post_before ? "before" : "after", handed);
    }
    sw_owner_free(h.o);
    free(h.c);
}

static void test_handover(void **state)
{
    (void)state;
    handover(false);
}

static void test_handover_with_posts(void **state)
{
    (void)state;
    handover(true);
}

/* A poster waiting for room while its owner is freed. One pool thread's
 * post nodes are all taken (a gate post holds an owner at home there, with
 * the rest queued behind it), so a post to another owner with the same home
 * waits for room; the owner is freed meanwhile from a helper thread. free
 * must wait for the poster, as it does for blocked callers, and the poster
 * must then get SW_ECLOSED (or SW_OK, if it got room before the stop) and
 * not touch freed memory (ASan). The helper's free would wait for the
 * gate, so main opens it once the free has returned, or after a while. */
struct room {
    sw_owner *home_owner, *o;
    _Atomic int gate, freeing, freed;
    _Atomic pid_t poster_tid;
    int rc;
    int64_t runs;
};

static void room_gate(void *state, void *arg)
{
    (void)state;
    wait_flag(&((struct room *)arg)->gate);
}

static void *room_poster_main(void *arg)
{
    struct room *r = arg;
    atomic_store_explicit(&r->poster_tid, gettid(), memory_order_release);
    r->rc = sw_owner_post(r->o, sink_fn, &r->runs);
    return NULL;
}

static void *room_free_main(void *arg)
{
    struct room *r = arg;
    atomic_store_explicit(&r->freeing, 1, memory_order_release);
    sw_owner_free(r->o);
    atomic_store_explicit(&r->freed, 1, memory_order_release);
    return NULL;
}

static void test_free_waits_for_poster_waiting_for_room(void **state)
{
    (void)state;
    struct room r = {0};
    unsigned n = sw_owner_pool_size();
    assert_true(n >= 1);
    /* Homes are dealt round-robin, one per sw_owner_start, and nothing else
     * starts owners now: n starts later, the home comes round again. */
    sw_owner **skip = calloc(n, sizeof *skip);
    assert_non_null(skip);
    assert_int_equal(sw_owner_start(&r.home_owner, NULL), SW_OK);
    for (unsigned i = 0; i + 1 < n; i++)
        assert_int_equal(sw_owner_start(&skip[i], NULL), SW_OK);
    assert_int_equal(sw_owner_start(&r.o, &r.runs), SW_OK);
    /* Every node of that home is free now (no other test is running):
     * SW_OWNER_POST_LIMIT posts take them all. */
    assert_int_equal(sw_owner_post(r.home_owner, room_gate, &r), SW_OK);
    for (int i = 1; i < SW_OWNER_POST_LIMIT; i++)
        assert_int_equal(sw_owner_post(r.home_owner, fence, NULL), SW_OK);
    pthread_t poster, freer;
    assert_int_equal(pthread_create(&poster, NULL, room_poster_main, &r), 0);
    wait_parked(wait_tid(&r.poster_tid), false); /* waiting for room */
    assert_int_equal(pthread_create(&freer, NULL, room_free_main, &r), 0);
    wait_flag(&r.freeing);
    for (int i = 0; i < 200 && !atomic_load(&r.freed); i++)
        sleep_us(1000);
    atomic_store_explicit(&r.gate, 1, memory_order_release);
    pthread_join(poster, NULL);
    pthread_join(freer, NULL);
    assert_true(r.rc == SW_ECLOSED || r.rc == SW_OK);
    assert_int_equal(r.runs, r.rc == SW_OK); /* an accepted post ran before the stop */
    sw_owner_free(r.home_owner);
    for (unsigned i = 0; i + 1 < n; i++)
        sw_owner_free(skip[i]);
    free(skip);
}

int main(int argc, char **argv)
{
    /* A pool of four, so that 1000 owners share a few threads and posts to
     * free owners go elsewhere even on one CPU (the environment may still
     * say otherwise). */
    setenv("STEWARD_THREADS", "4", 0);
    if (argc > 1)
        g_threads = atoi(argv[1]);
    if (argc > 2)
        g_calls = atol(argv[2]);
    if (g_threads < 1 || g_threads > MAX_THREADS || g_calls < 8 || g_calls >= (1L << 40)) {
        fprintf(stderr,
                "usage: [STEWARD_SEED=n] stress_owner [threads 1..%d] [calls per thread, 8 or "
                "more]\n",
                MAX_THREADS);
        return 2;
    }
    seed_init(argc, argv);
    tls_me = MAIN_ID;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_request_once_in_order),
        cmocka_unit_test(test_one_at_a_time),
        cmocka_unit_test(test_batch_end_before_answers),
        cmocka_unit_test(test_many_owners_few_threads),
        cmocka_unit_test(test_stop_races_calls_and_posts),
        cmocka_unit_test(test_free_racing_callers),
        cmocka_unit_test(test_calls_from_fn_refused),
        cmocka_unit_test(test_handover),
        cmocka_unit_test(test_handover_with_posts),
        /* Last: while free does not wait for a poster blocked for room,
         * this one is a use after free, which ends the process. */
        cmocka_unit_test(test_free_waits_for_poster_waiting_for_room),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
