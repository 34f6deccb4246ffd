/* Unit tests of task.h: sw_go's status, where a task runs (sw_in_task),
 * sw_yield and sw_sleep in a task and on a thread, the wait group (with
 * its abort on a negative count), tasks on channels (with threads, with
 * each other, with timeouts and select, woken by close), tasks calling
 * owners (a busy owner parks the task, not its thread; the owner-function
 * depth follows a task that parks inside one), a million tasks, a hundred
 * thousand parked at once, and a stack overflow that dies on the guard page.
 *
 * Tasks never call cmocka's assertions (they longjmp to the test's frame,
 * from another stack): they CHECK, which records the first failure, and
 * the test asserts there was none once its tasks are done.
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "chan/chan_int.h"
#include "steward/chan.h"
#include "steward/owner.h"
#include "steward/task.h"
#include "checks.h"

#define MS 1000000LL
#define HOUR (3600LL * 1000 * MS)

#if defined(__has_feature)
#define HAS_FEATURE(x) __has_feature(x)
#else
#define HAS_FEATURE(x) 0
#endif
#if defined(__SANITIZE_THREAD__) || HAS_FEATURE(thread_sanitizer)
#define UNDER_TSAN 1
#else
#define UNDER_TSAN 0
#endif
#if defined(__SANITIZE_ADDRESS__) || HAS_FEATURE(address_sanitizer)
#define UNDER_ASAN 1
#else
#define UNDER_ASAN 0
#endif

/* Sizes. A million tasks take about a second in a plain build; the
 * sanitizers make every switch and every stack far dearer, so they run a
 * tenth. Under TSan a task is a TSan fiber, and fibers count against its
 * limit of live threads (8128 in the runtime GCC 12 ships; Clang 14's has
 * none so low), so there at most a few thousand are alive at once.
 * -D overrides each. */
#ifndef MILLION
#define MILLION (UNDER_TSAN || UNDER_ASAN ? 100000 : 1000000)
#endif
#ifndef PARKED
#define PARKED (UNDER_TSAN ? 4000 : 100000)
#endif
/* Tasks alive at once in the million. Each one alive may hold a stack
 * (sw_go's SW_ENOMEM is for a stack that could not be mapped) with its
 * guard page, which on kernels without MADV_GUARD_INSTALL is a mapping
 * of its own: a million at once would need far more than Linux's default
 * vm.max_map_count of 65530. Go would queue them all on 2 KiB stacks;
 * here they go in waves, and PARKED tests many alive at once. */
#ifndef WAVE
#define WAVE (UNDER_TSAN ? 1000 : 10000)
#endif

/* ---- helpers ---- */

/* A poll interval for the main thread, which is a plain thread. */
static void nap(void)
{
    sleep_us(100);
}

/* Waits until at least n operations are queued on ch's dir side: the
 * tasks concerned have taken the blocking path (they are parked), with no
 * sleep that hopes so. */
static void wait_queued(sw_chan *ch, enum sw_dir dir, size_t n)
{
    while (sw__chan_waiting(ch, dir) < n)
        nap();
}

static void wait_count(_Atomic int64_t *count, int64_t n)
{
    while (atomic_load(count) < n)
        nap();
}

static sw_wg *wg_new(void)
{
    sw_wg *wg = sw_wg_new();
    assert_non_null(wg);
    return wg;
}

/* Starts fn(arg) as a task counted in wg (from the main thread). */
static void go(sw_wg *wg, sw_task_fn fn, void *arg)
{
    sw_wg_add(wg, 1);
    int rc = sw_go(fn, arg);
    if (rc != SW_OK) {
        sw_wg_done(wg);
        fail_msg("sw_go: %s", sw_strerror(rc));
    }
}

/* As go, from inside a task. */
static void go_checked(sw_wg *wg, sw_task_fn fn, void *arg)
{
    sw_wg_add(wg, 1);
    int rc = sw_go(fn, arg);
    CHECK(rc == SW_OK);
    if (rc != SW_OK)
        sw_wg_done(wg);
}

/* Runs fn(arg) in a task and waits for it to end. */
struct in_task {
    sw_task_fn fn;
    void *arg;
    sw_wg *wg;
};

static void in_task_main(void *p)
{
    struct in_task *t = p;
    CHECK(sw_in_task() == 1);
    t->fn(t->arg);
    sw_wg_done(t->wg);
}

static void run_in_task(sw_task_fn fn, void *arg)
{
    struct in_task t = {.fn = fn, .arg = arg, .wg = wg_new()};
    go(t.wg, in_task_main, &t);
    sw_wg_wait(t.wg);
    /* Freed as soon as the wait returns, although the task may still be
     * inside its sw_wg_done: the wait group must allow that (it is all a
     * waiter can know), and ASan checks that it does. */
    sw_wg_free(t.wg);
    assert_no_bad();
}

/* ---- sw_go, sw_in_task ---- */

static void test_go_invalid(void **state)
{
    (void)state;
    assert_int_equal(sw_go(NULL, NULL), SW_EINVAL);
    int x = 0;
    assert_int_equal(sw_go(NULL, &x), SW_EINVAL);
    sw_wg_free(NULL); /* a no-op */
}

struct where {
    _Atomic int ran, in_task;
    sw_wg *wg;
};

static void note_in_task(void *arg)
{
    struct where *w = arg;
    atomic_store(&w->in_task, sw_in_task());
    atomic_store(&w->ran, 1);
    sw_wg_done(w->wg);
}

static void *thread_in_task(void *arg)
{
    *(int *)arg = sw_in_task();
    return NULL;
}

static void post_in_task(void *state, void *arg)
{
    (void)state;
    struct where *w = arg;
    atomic_store(&w->in_task, sw_in_task());
    atomic_store(&w->ran, 1);
}

/* From a task: the child runs once the starter lets it (here, its wait). */
static void start_one_from_task(void *arg)
{
    struct where *w = arg;
    sw_wg *wg = sw_wg_new();
    CHECK(wg != NULL);
    if (!wg)
        return;
    struct where child = {.wg = wg};
    go_checked(wg, note_in_task, &child);
    sw_wg_wait(wg);
    sw_wg_free(wg);
    CHECK(atomic_load(&child.ran) == 1);
    CHECK(atomic_load(&child.in_task) == 1);
    atomic_store(&w->ran, 1);
}

static void test_task_runs(void **state)
{
    (void)state;
    assert_int_equal(sw_in_task(), 0); /* main is a plain thread */
    struct where w = {.wg = wg_new(), .in_task = -1};
    go(w.wg, note_in_task, &w);
    sw_wg_wait(w.wg);
    assert_int_equal(atomic_load(&w.ran), 1);
    assert_int_equal(atomic_load(&w.in_task), 1);
    sw_wg_free(w.wg);

    int in = -1;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, thread_in_task, &in), 0);
    pthread_join(t, NULL);
    assert_int_equal(in, 0); /* another plain thread */

    /* An owner's post runs on a pool thread, the threads that run tasks,
     * but it is not a task. */
    sw_owner *o;
    assert_int_equal(sw_owner_start(&o, NULL), SW_OK);
    struct where p = {.in_task = -1};
    assert_int_equal(sw_owner_post(o, post_in_task, &p), SW_OK);
    sw_owner_stop(o);
    assert_int_equal(atomic_load(&p.ran), 1);
    assert_int_equal(atomic_load(&p.in_task), 0);
    sw_owner_free(o);

    struct where nested = {0};
    run_in_task(start_one_from_task, &nested);
    assert_int_equal(atomic_load(&nested.ran), 1);
}

/* ---- sw_yield ---- */

static void test_yield_on_thread(void **state)
{
    (void)state;
    for (int i = 0; i < 100; i++)
        sw_yield(); /* sched_yield: returns */
    assert_int_equal(sw_in_task(), 0);
}

/* Two tasks in lockstep: each publishes step i, then yields until the
 * other has published step i too. Started from one task, both begin on
 * its thread; were sw_yield not to run the other, the first would spin
 * there forever. */
enum { YIELD_STEPS = 2000 };

struct lockstep {
    _Atomic int64_t step[2];
    _Atomic int64_t total; /* steps taken by both */
    sw_wg *wg;
};

struct stepper {
    struct lockstep *ls;
    int me;
};

static void step_task(void *arg)
{
    struct stepper *s = arg;
    struct lockstep *ls = s->ls;
    for (int64_t i = 1; i <= YIELD_STEPS; i++) {
        atomic_store(&ls->step[s->me], i);
        atomic_fetch_add(&ls->total, 1);
        while (atomic_load(&ls->step[!s->me]) < i)
            sw_yield();
    }
    sw_wg_done(ls->wg);
}

static void start_steppers(void *arg)
{
    struct lockstep *ls = arg;
    struct stepper s[2] = {{ls, 0}, {ls, 1}};
    go_checked(ls->wg, step_task, &s[0]);
    go_checked(ls->wg, step_task, &s[1]);
    sw_yield(); /* in a task: lets them run, and carries on */
    sw_wg_wait(ls->wg);
}

static void test_yield_alternates_tasks(void **state)
{
    (void)state;
    struct lockstep ls = {.wg = wg_new()};
    run_in_task(start_steppers, &ls);
    assert_int_equal(atomic_load(&ls.total), 2 * YIELD_STEPS);
    assert_int_equal(atomic_load(&ls.step[0]), YIELD_STEPS);
    assert_int_equal(atomic_load(&ls.step[1]), YIELD_STEPS);
    sw_wg_free(ls.wg);
}

/* ---- sw_sleep ---- */

static const int64_t sleep_times[] = {1, 1000, 100000, 1 * MS, 5 * MS, 20 * MS};

/* Each sleep lasts at least what it was asked; how much longer is the
 * scheduler's business, and not checked. */
static void sleep_each(void *arg)
{
    (void)arg;
    for (size_t i = 0; i < sizeof sleep_times / sizeof *sleep_times; i++) {
        int64_t t0 = now_ns();
        sw_sleep(sleep_times[i]);
        CHECK(now_ns() - t0 >= sleep_times[i]);
    }
    sw_sleep(0);  /* as sw_yield */
    sw_sleep(-1); /* likewise */
    sw_sleep(INT64_MIN);
}

struct sleepers {
    sw_wg *wg;
    _Atomic int64_t done;
};

static void sleeper_task(void *arg)
{
    struct sleepers *s = arg;
    for (int i = 0; i < 5; i++) {
        int64_t t0 = now_ns();
        sw_sleep(2 * MS);
        CHECK(now_ns() - t0 >= 2 * MS);
    }
    atomic_fetch_add(&s->done, 1);
    sw_wg_done(s->wg);
}

static void test_sleep(void **state)
{
    (void)state;
    sleep_each(NULL); /* on the main thread */
    assert_no_bad();
    run_in_task(sleep_each, NULL);
    /* More sleepers than pool threads, all at once. */
    int n = 4 * (int)sw_owner_pool_size() + 4;
    struct sleepers s = {.wg = wg_new()};
    for (int i = 0; i < n; i++)
        go(s.wg, sleeper_task, &s);
    sw_wg_wait(s.wg);
    assert_int_equal(atomic_load(&s.done), n);
    sw_wg_free(s.wg);
    assert_no_bad();
}

/* ---- sw_wg ---- */

static void wait_at_zero(void *arg)
{
    sw_wg *wg = arg;
    sw_wg_wait(wg); /* the count is zero: returns at once */
    sw_wg_add(wg, 2);
    sw_wg_add(wg, -1);
    sw_wg_done(wg);
    sw_wg_wait(wg);
}

static void test_wg_basics(void **state)
{
    (void)state;
    sw_wg *wg = wg_new();
    sw_wg_wait(wg); /* zero: at once */
    sw_wg_add(wg, 3);
    sw_wg_done(wg);
    sw_wg_done(wg);
    sw_wg_done(wg);
    sw_wg_wait(wg);
    sw_wg_add(wg, 5);
    sw_wg_add(wg, -5); /* a negative delta counts out */
    sw_wg_wait(wg);
    sw_wg_add(wg, 0);
    sw_wg_wait(wg);
    run_in_task(wait_at_zero, wg); /* the same, in a task */
    sw_wg_wait(wg);
    sw_wg_free(wg);
    /* A NULL WaitGroup: every call is a no-op. */
    sw_wg_add(NULL, 1);
    sw_wg_done(NULL);
    sw_wg_wait(NULL);
    sw_wg_free(NULL);
}

struct counted {
    sw_wg *wg;
    _Atomic int64_t n;
    int64_t seen; /* n as the waiter found it when its wait returned */
    _Atomic int waiting;
};

static void count_task(void *arg)
{
    struct counted *c = arg;
    sw_yield();
    atomic_fetch_add(&c->n, 1);
    sw_wg_done(c->wg);
}

enum { WG_WORKERS = 200 };

static void test_wg_thread_waits_for_tasks(void **state)
{
    (void)state;
    struct counted c = {.wg = wg_new()};
    for (int round = 0; round < 3; round++) { /* a wait group is reusable */
        for (int i = 0; i < WG_WORKERS; i++)
            go(c.wg, count_task, &c);
        sw_wg_wait(c.wg);
        assert_int_equal(atomic_load(&c.n), (round + 1) * WG_WORKERS);
    }
    sw_wg_free(c.wg);
}

static void wait_for_tasks(void *arg)
{
    struct counted *c = arg;
    for (int i = 0; i < WG_WORKERS; i++)
        go_checked(c->wg, count_task, c);
    sw_wg_wait(c->wg);
    c->seen = atomic_load(&c->n);
}

static void test_wg_task_waits_for_tasks(void **state)
{
    (void)state;
    struct counted c = {.wg = wg_new()};
    run_in_task(wait_for_tasks, &c);
    assert_int_equal(c.seen, WG_WORKERS);
    sw_wg_free(c.wg);
}

static void wait_for_threads(void *arg)
{
    struct counted *c = arg;
    atomic_store(&c->waiting, 1);
    sw_wg_wait(c->wg);
    c->seen = atomic_load(&c->n);
}

static void *count_thread(void *arg)
{
    struct counted *c = arg;
    /* Mostly after the task has begun its wait (it may not be parked yet,
     * which is fine: the wait is right either way). */
    while (!atomic_load(&c->waiting))
        nap();
    atomic_fetch_add(&c->n, 1);
    sw_wg_done(c->wg);
    return NULL;
}

enum { WG_THREADS = 4 };

static void test_wg_task_waits_for_threads(void **state)
{
    (void)state;
    struct counted c = {.wg = wg_new()};
    sw_wg_add(c.wg, WG_THREADS);
    pthread_t t[WG_THREADS];
    for (int i = 0; i < WG_THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, count_thread, &c), 0);
    run_in_task(wait_for_threads, &c);
    assert_int_equal(c.seen, WG_THREADS);
    for (int i = 0; i < WG_THREADS; i++)
        pthread_join(t[i], NULL);
    sw_wg_free(c.wg);
}

/* ---- deaths, in forked children ---- */

/* Runs fn in a child with its stderr on a pipe and no core dump; returns
 * the child's wait status, and in *said whether it wrote anything to
 * stderr. */
static int in_child(void (*fn)(void *), void *arg, int *said)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct rlimit none = {0, 0};
        if (setrlimit(RLIMIT_CORE, &none) != 0 || dup2(fds[1], STDERR_FILENO) < 0)
            _exit(5); /* could not set the child up: the test fails */
        close(fds[0]);
        fn(arg);
        _exit(3); /* survived: the test fails */
    }
    close(fds[1]);
    char buf[512];
    ssize_t n, total = 0;
    while ((n = read(fds[0], buf, sizeof buf)) > 0)
        total += n;
    close(fds[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    *said = total > 0;
    return status;
}

static void done_below_zero(void *arg)
{
    sw_wg *wg = arg;
    sw_wg_done(wg);
}

static void add_below_zero(void *arg)
{
    sw_wg *wg = arg;
    sw_wg_add(wg, 2);
    sw_wg_add(wg, -3);
}

static void add_past_max(void *arg)
{
    sw_wg *wg = arg;
    sw_wg_add(wg, INT64_MAX);
    sw_wg_add(wg, 1);
}

static void done_below_zero_then_exit(void *arg)
{
    done_below_zero(arg);
    _exit(3); /* survived */
}

static void done_below_zero_in_task(void *arg)
{
    (void)arg;
    sw_wg *wg = sw_wg_new(), *gate = sw_wg_new();
    if (!wg || !gate)
        _exit(4);
    sw_wg_add(gate, 1);
    if (sw_go(done_below_zero_then_exit, wg) != SW_OK)
        _exit(4);
    sw_wg_wait(gate); /* never done: the task ends the child either way */
}

static void expect_abort(void (*fn)(void *), void *arg, const char *what)
{
    int said = 0;
    int status = in_child(fn, arg, &said);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT)
        fail_msg("%s: the child should have died of SIGABRT; %s %d", what,
                 WIFSIGNALED(status) ? "it died of signal" : "it exited with",
                 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
    if (!said)
        fail_msg("%s: the abort should say why on stderr", what);
}

/* A count below zero (or past INT64_MAX) is a bug in the caller: it
 * aborts, saying why. The
 * children start no thread (but the third), so TSan allows them. */
static void test_wg_negative_aborts(void **state)
{
    (void)state;
    sw_wg *wg = wg_new();
    expect_abort(done_below_zero, wg, "sw_wg_done at zero");
    expect_abort(add_below_zero, wg, "sw_wg_add below zero");
    expect_abort(add_past_max, wg, "sw_wg_add past INT64_MAX");
    sw_wg_wait(wg); /* the parent's copy is untouched */
    sw_wg_free(wg);
    /* In a task the child starts a pool: TSan kills a child that starts
     * threads after a fork of a multi-threaded process (die_after_fork=1),
     * and whether this one has its pool by now is the runtime's business. */
    if (!UNDER_TSAN)
        expect_abort(done_below_zero_in_task, NULL, "sw_wg_done at zero in a task");
}

/* Recursion that no optimiser can flatten: a volatile array per frame,
 * and work after the call. */
static __attribute__((noinline)) int64_t dive(int64_t depth, int64_t limit)
{
    volatile char frame[256];
    frame[0] = (char)depth;
    frame[sizeof frame - 1] = (char)(depth >> 8);
    if (depth >= limit)
        return frame[0];
    return dive(depth + 1, limit) + frame[sizeof frame - 1];
}

enum { CHILD_STACK = 64 * 1024 };

static _Atomic int64_t g_dive_result;

static void dive_task(void *arg)
{
    (void)arg;
    /* Four times the stack in frames of at least 256 bytes. */
    atomic_store(&g_dive_result, dive(0, 4 * CHILD_STACK / 256));
    _exit(3); /* it returned: no guard page stopped it */
}

static void overflow_in_child(void *arg)
{
    (void)arg;
    char size[32];
    snprintf(size, sizeof size, "%d", CHILD_STACK);
    setenv("STEWARD_STACK_SIZE", size, 1); /* read when the child's pool starts */
    sw_wg *wg = sw_wg_new();
    if (!wg)
        _exit(4);
    sw_wg_add(wg, 1);
    if (sw_go(dive_task, NULL) != SW_OK)
        _exit(4);
    sw_wg_wait(wg); /* never done: the task ends the child either way */
}

/* A task that overflows its stack dies on the guard page with SIGSEGV.
 * The child sets a 64 KiB stack and recurses through four times that;
 * without a guard page the frames would run on into whatever lies below
 * (another task's stack, typically) and the task might return. It runs
 * first, before this process has a pool, so the child starts its own
 * whatever the pool does about fork.
 * Skipped under the sanitizers, whose own SIGSEGV handler (handle_segv=1)
 * reports the overflow and ends the process its own way (an abort under
 * ASan's abort_on_error=1, exit code 66 under TSan), and whose
 * instrumentation changes the frames: the plain build checks it. */
static void test_stack_overflow_dies(void **state)
{
    (void)state;
    if (UNDER_TSAN || UNDER_ASAN) { /* see above: the plain build checks it */
        print_message("skipped: the sanitizer's own SIGSEGV handler ends the process\n");
        skip();
    }
    int said = 0;
    int status = in_child(overflow_in_child, NULL, &said);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGSEGV)
        fail_msg("the child should have died of SIGSEGV; %s %d",
                 WIFSIGNALED(status) ? "it died of signal"
                                     : "it exited with (3: the deep recursion returned)",
                 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
}

/* ---- tasks on channels ---- */

enum { ROUNDS = 20000 };

struct pingpong {
    sw_chan *ping, *pong;
    sw_wg *wg;
    int64_t rounds;
};

static void ping_task(void *arg)
{
    struct pingpong *p = arg;
    for (int64_t i = 0; i < p->rounds; i++) {
        int64_t v = -1;
        CHECK(sw_chan_send(p->ping, &i) == SW_OK);
        CHECK(sw_chan_recv(p->pong, &v) == SW_OK);
        CHECK(v == i + 1);
    }
    sw_wg_done(p->wg);
}

static void pong_task(void *arg)
{
    struct pingpong *p = arg;
    for (int64_t i = 0; i < p->rounds; i++) {
        int64_t v = -1;
        CHECK(sw_chan_recv(p->ping, &v) == SW_OK);
        CHECK(v == i);
        v++;
        CHECK(sw_chan_send(p->pong, &v) == SW_OK);
    }
    sw_wg_done(p->wg);
}

static void start_pingpong(void *arg)
{
    struct pingpong *p = arg;
    go_checked(p->wg, ping_task, p);
    go_checked(p->wg, pong_task, p);
}

/* Two tasks over unbuffered channels: once started from the main thread
 * (anywhere in the pool), once from a task (both on its thread first). */
static void test_task_pingpong(void **state)
{
    (void)state;
    for (int from_task = 0; from_task < 2; from_task++) {
        struct pingpong p = {.ping = sw_chan_new(sizeof(int64_t), 0),
                             .pong = sw_chan_new(sizeof(int64_t), 0),
                             .wg = wg_new(),
                             .rounds = ROUNDS};
        assert_true(p.ping && p.pong);
        if (from_task)
            run_in_task(start_pingpong, &p);
        else
            start_pingpong(&p);
        sw_wg_wait(p.wg);
        assert_no_bad();
        sw_wg_free(p.wg);
        sw_chan_free(p.ping);
        sw_chan_free(p.pong);
    }
}

struct stream {
    sw_chan *ch;
    sw_wg *wg;
    int64_t n;
};

static void send_stream(void *arg)
{
    struct stream *s = arg;
    for (int64_t i = 0; i < s->n; i++)
        CHECK(sw_chan_send(s->ch, &i) == SW_OK);
    sw_wg_done(s->wg);
}

static void recv_stream(void *arg)
{
    struct stream *s = arg;
    for (int64_t i = 0; i < s->n; i++) {
        int64_t v = -1;
        CHECK(sw_chan_recv(s->ch, &v) == SW_OK);
        CHECK(v == i);
    }
    sw_wg_done(s->wg);
}

/* A task and a thread over one unbuffered channel, both ways. */
static void test_task_and_thread(void **state)
{
    (void)state;
    struct stream s = {.ch = sw_chan_new(sizeof(int64_t), 0), .wg = wg_new(), .n = ROUNDS};
    assert_non_null(s.ch);
    go(s.wg, send_stream, &s); /* task sends, thread receives */
    for (int64_t i = 0; i < s.n; i++) {
        int64_t v = -1;
        assert_int_equal(sw_chan_recv(s.ch, &v), SW_OK);
        assert_int_equal(v, i);
    }
    sw_wg_wait(s.wg);
    go(s.wg, recv_stream, &s); /* thread sends, task receives */
    for (int64_t i = 0; i < s.n; i++)
        assert_int_equal(sw_chan_send(s.ch, &i), SW_OK);
    sw_wg_wait(s.wg);
    assert_no_bad();
    /* Each side parked for certain: a task waits for the thread, then the
     * thread for the task. */
    go(s.wg, recv_stream, &(struct stream){.ch = s.ch, .wg = s.wg, .n = 1});
    wait_queued(s.ch, SW_RECV, 1);
    int64_t zero = 0;
    assert_int_equal(sw_chan_send(s.ch, &zero), SW_OK);
    sw_wg_wait(s.wg);
    assert_no_bad();
    sw_wg_free(s.wg);
    sw_chan_free(s.ch);
}

/* A plain thread wakes a task whose pool thread is busy with a task that
 * never parks: another pool thread must take the woken task over (it
 * steals from the busy thread's inject stack). The receiver starts a
 * spinner just before it parks, which runs on the receiver's thread
 * unless another steals it first; the spinner spins until the receiver
 * has its value, with a generous deadline that only a broken scheduler
 * reaches. */
struct busy_thread {
    sw_chan *ch;
    sw_wg *wg;
    _Atomic int spinning, received;
};

static void spin_until_received(void *arg)
{
    struct busy_thread *b = arg;
    atomic_store(&b->spinning, 1);
    int64_t deadline = now_ns() + 30 * 1000 * MS;
    while (!atomic_load(&b->received) && now_ns() < deadline)
        ;
    CHECK(atomic_load(&b->received));
    sw_wg_done(b->wg);
}

static void receive_while_thread_busy(void *arg)
{
    struct busy_thread *b = arg;
    go_checked(b->wg, spin_until_received, b);
    int64_t v = -1;
    CHECK(sw_chan_recv(b->ch, &v) == SW_OK && v == 42);
    atomic_store(&b->received, 1);
    sw_wg_done(b->wg);
}

static void test_wake_while_thread_busy(void **state)
{
    (void)state;
    if (sw_owner_pool_size() < 2) { /* CTest sets STEWARD_THREADS=4, so this runs there */
        print_message("skipped: one pool thread, so no other could take the task over; "
                      "run with STEWARD_THREADS=2 or more\n");
        skip();
    }
    struct busy_thread b = {.ch = sw_chan_new(sizeof(int64_t), 0), .wg = wg_new()};
    assert_non_null(b.ch);
    go(b.wg, receive_while_thread_busy, &b);
    wait_queued(b.ch, SW_RECV, 1);
    while (!atomic_load(&b.spinning))
        nap();
    int64_t v = 42;
    assert_int_equal(sw_chan_send(b.ch, &v), SW_OK);
    sw_wg_wait(b.wg);
    assert_no_bad();
    sw_wg_free(b.wg);
    sw_chan_free(b.ch);
}

/* Producers and consumers, all tasks, through a small buffer. */
enum { BUF_PRODUCERS = 4, BUF_CONSUMERS = 4, BUF_VALUES = 5000 };

struct buffered {
    sw_chan *ch;
    sw_wg *producers, *consumers;
    _Atomic uint8_t seen[BUF_PRODUCERS * BUF_VALUES];
    _Atomic int next_producer;
};

static void buf_producer(void *arg)
{
    struct buffered *b = arg;
    int64_t p = atomic_fetch_add(&b->next_producer, 1);
    for (int64_t i = 0; i < BUF_VALUES; i++) {
        int64_t v = p * BUF_VALUES + i;
        CHECK(sw_chan_send(b->ch, &v) == SW_OK);
    }
    sw_wg_done(b->producers);
}

static void buf_consumer(void *arg)
{
    struct buffered *b = arg;
    int64_t last[BUF_PRODUCERS];
    for (int p = 0; p < BUF_PRODUCERS; p++)
        last[p] = -1;
    int64_t v;
    int rc;
    while ((rc = sw_chan_recv(b->ch, &v)) == SW_OK) {
        CHECK(v >= 0 && v < BUF_PRODUCERS * BUF_VALUES);
        if (v < 0 || v >= BUF_PRODUCERS * BUF_VALUES)
            continue;
        atomic_fetch_add(&b->seen[v], 1);
        int64_t p = v / BUF_VALUES;
        CHECK(v > last[p]); /* FIFO: one producer's values in its order */
        last[p] = v;
    }
    CHECK(rc == SW_ECLOSED);
    sw_wg_done(b->consumers);
}

static void test_buffered_between_tasks(void **state)
{
    (void)state;
    struct buffered *b = calloc(1, sizeof *b);
    assert_non_null(b);
    b->ch = sw_chan_new(sizeof(int64_t), 8);
    assert_non_null(b->ch);
    b->producers = wg_new();
    b->consumers = wg_new();
    for (int i = 0; i < BUF_CONSUMERS; i++)
        go(b->consumers, buf_consumer, b);
    for (int i = 0; i < BUF_PRODUCERS; i++)
        go(b->producers, buf_producer, b);
    sw_wg_wait(b->producers);
    assert_int_equal(sw_chan_close(b->ch), SW_OK);
    sw_wg_wait(b->consumers);
    assert_no_bad();
    for (int i = 0; i < BUF_PRODUCERS * BUF_VALUES; i++)
        if (atomic_load(&b->seen[i]) != 1)
            fail_msg("value %d received %d times", i, atomic_load(&b->seen[i]));
    sw_wg_free(b->producers);
    sw_wg_free(b->consumers);
    sw_chan_free(b->ch);
    free(b);
}

/* Timeouts in a task: a wait that times out takes nothing and sends
 * nothing; one that a peer beats returns SW_OK with the value. */
struct timed {
    sw_chan *ch;
    int64_t value;
    int rc;
};

static void recv_times_out(void *arg)
{
    struct timed *t = arg;
    int64_t v = 77;
    int64_t t0 = now_ns();
    CHECK(sw_chan_recv_timeout(t->ch, &v, 20 * MS) == SW_ETIMEDOUT);
    CHECK(now_ns() - t0 >= 20 * MS);
    CHECK(v == 77); /* left unchanged */
    CHECK(sw_chan_recv_timeout(t->ch, &v, 0) == SW_EAGAIN);
    int64_t x = 5;
    t0 = now_ns();
    CHECK(sw_chan_send_timeout(t->ch, &x, 10 * MS) == SW_ETIMEDOUT);
    CHECK(now_ns() - t0 >= 10 * MS);
    CHECK(sw_chan_send_timeout(t->ch, &x, 0) == SW_EAGAIN);
}

static void recv_an_hour(void *arg)
{
    struct timed *t = arg;
    t->value = -1;
    t->rc = sw_chan_recv_timeout(t->ch, &t->value, HOUR);
}

static void send_an_hour(void *arg)
{
    struct timed *t = arg;
    t->rc = sw_chan_send_timeout(t->ch, &t->value, HOUR);
}

static void recv_an_hour_task(void *arg)
{
    struct in_task *t = arg;
    recv_an_hour(t->arg);
    sw_wg_done(t->wg);
}

static void send_an_hour_task(void *arg)
{
    struct in_task *t = arg;
    send_an_hour(t->arg);
    sw_wg_done(t->wg);
}

static void test_timeouts_in_task(void **state)
{
    (void)state;
    struct timed t = {.ch = sw_chan_new(sizeof(int64_t), 0)};
    assert_non_null(t.ch);
    run_in_task(recv_times_out, &t);
    int64_t v;
    assert_int_equal(sw_chan_try_recv(t.ch, &v), SW_EAGAIN); /* nothing was sent */

    sw_wg *wg = wg_new();
    struct in_task it = {.arg = &t, .wg = wg};
    go(wg, recv_an_hour_task, &it);
    wait_queued(t.ch, SW_RECV, 1);
    int64_t x = 42;
    assert_int_equal(sw_chan_send(t.ch, &x), SW_OK);
    sw_wg_wait(wg);
    assert_int_equal(t.rc, SW_OK);
    assert_int_equal(t.value, 42);

    t.value = 43;
    go(wg, send_an_hour_task, &it);
    wait_queued(t.ch, SW_SEND, 1);
    v = 0;
    assert_int_equal(sw_chan_recv(t.ch, &v), SW_OK);
    assert_int_equal(v, 43);
    sw_wg_wait(wg);
    assert_int_equal(t.rc, SW_OK);
    assert_no_bad();
    sw_wg_free(wg);
    sw_chan_free(t.ch);
}

/* A task selects over channels fed by other tasks, each of which sends
 * its values in order, then closes its channel. */
enum { FEEDERS = 4, FEED_VALUES = 3000 };

struct feed {
    sw_chan *ch[FEEDERS];
    sw_wg *wg;
    int64_t got[FEEDERS];
    int64_t selects;
};

struct feeder {
    struct feed *f;
    int k;
};

static void feeder_task(void *arg)
{
    struct feeder *fd = arg;
    for (int64_t i = 0; i < FEED_VALUES; i++) {
        int64_t v = (int64_t)fd->k << 32 | i;
        CHECK(sw_chan_send(fd->f->ch[fd->k], &v) == SW_OK);
    }
    CHECK(sw_chan_close(fd->f->ch[fd->k]) == SW_OK);
    sw_wg_done(fd->f->wg);
}

static void selector_task(void *arg)
{
    struct feed *f = arg;
    struct feeder fd[FEEDERS];
    sw_case cases[FEEDERS];
    int64_t vals[FEEDERS];
    for (int k = 0; k < FEEDERS; k++) {
        fd[k] = (struct feeder){f, k};
        cases[k] = (sw_case){.chan = f->ch[k], .dir = SW_RECV, .elem = &vals[k]};
        go_checked(f->wg, feeder_task, &fd[k]);
    }
    for (int open = FEEDERS; open > 0;) {
        int i = sw_select(cases, FEEDERS, -1);
        f->selects++;
        CHECK(i >= 0 && i < FEEDERS);
        if (i < 0 || i >= FEEDERS)
            break;
        if (cases[i].status == SW_ECLOSED) {
            CHECK(vals[i] == 0);
            cases[i].chan = NULL; /* never ready again */
            open--;
            continue;
        }
        CHECK(cases[i].status == SW_OK);
        CHECK(vals[i] >> 32 == i);
        CHECK((vals[i] & 0xffffffff) == f->got[i]); /* in order */
        f->got[i]++;
    }
    sw_wg_wait(f->wg); /* the feeders have returned: their channels may go */
}

/* A select with a timeout in a task: it times out after at least the
 * time, SW_EAGAIN at 0, and returns the case a thread beats it with. */
struct sel_timeout {
    sw_chan *a, *b;
    _Atomic int long_wait; /* the quick selects are done */
    int beaten;
    int64_t got;
};

static void select_times_out(void *arg)
{
    struct sel_timeout *s = arg;
    int64_t va = 9, vb = 9;
    sw_case cases[2] = {{.chan = s->a, .dir = SW_RECV, .elem = &va},
                        {.chan = s->b, .dir = SW_RECV, .elem = &vb}};
    CHECK(sw_select(cases, 2, 0) == SW_EAGAIN);
    int64_t t0 = now_ns();
    CHECK(sw_select(cases, 2, 20 * MS) == SW_ETIMEDOUT);
    CHECK(now_ns() - t0 >= 20 * MS);
    CHECK(va == 9 && vb == 9);
    atomic_store(&s->long_wait, 1);
    s->beaten = sw_select(cases, 2, HOUR);
    s->got = s->beaten == 1 ? vb : -1;
}

static void test_select_in_task(void **state)
{
    (void)state;
    struct feed f = {.wg = wg_new()};
    for (int k = 0; k < FEEDERS; k++) {
        f.ch[k] = sw_chan_new(sizeof(int64_t), (size_t)(k % 2) * 4); /* unbuffered, buffered */
        assert_non_null(f.ch[k]);
    }
    run_in_task(selector_task, &f);
    for (int k = 0; k < FEEDERS; k++) {
        assert_int_equal(f.got[k], FEED_VALUES);
        sw_chan_free(f.ch[k]);
    }
    assert_true(f.selects == FEEDERS * (FEED_VALUES + 1));
    sw_wg_free(f.wg);

    struct sel_timeout s = {.a = sw_chan_new(sizeof(int64_t), 0),
                            .b = sw_chan_new(sizeof(int64_t), 0)};
    assert_true(s.a && s.b);
    sw_wg *wg = wg_new();
    struct in_task it = {.fn = select_times_out, .arg = &s, .wg = wg};
    go(wg, in_task_main, &it);
    /* Once the select waits for an hour, beat it. A select that timed out
     * has dequeued itself before it returned (chan_int.h), so the count
     * is the long one's. */
    while (!atomic_load(&s.long_wait))
        nap();
    wait_queued(s.b, SW_RECV, 1);
    int64_t x = 1234;
    assert_int_equal(sw_chan_send(s.b, &x), SW_OK);
    sw_wg_wait(wg);
    assert_no_bad();
    assert_int_equal(s.beaten, 1);
    assert_int_equal(s.got, 1234);
    sw_wg_free(wg);
    sw_chan_free(s.a);
    sw_chan_free(s.b);
}

/* Close wakes parked tasks: a receiver, a sender on a full buffer and a
 * select, each seen parked before the close. */
struct closing {
    sw_chan *unbuf, *full, *other;
    sw_wg *wg;
    int recv_rc, send_rc, select_rc, select_status;
    int64_t recv_v, select_v;
};

static void recv_until_closed(void *arg)
{
    struct closing *c = arg;
    c->recv_v = 99;
    c->recv_rc = sw_chan_recv(c->unbuf, &c->recv_v);
    sw_wg_done(c->wg);
}

static void send_until_closed(void *arg)
{
    struct closing *c = arg;
    int64_t v = 2;
    c->send_rc = sw_chan_send(c->full, &v);
    sw_wg_done(c->wg);
}

static void select_until_closed(void *arg)
{
    struct closing *c = arg;
    c->select_v = 99;
    sw_case cases[2] = {{.chan = NULL, .dir = SW_RECV}, /* never ready */
                        {.chan = c->other, .dir = SW_RECV, .elem = &c->select_v}};
    c->select_rc = sw_select(cases, 2, -1);
    c->select_status = cases[1].status;
    sw_wg_done(c->wg);
}

static void test_close_wakes_parked_tasks(void **state)
{
    (void)state;
    struct closing c = {.unbuf = sw_chan_new(sizeof(int64_t), 0),
                        .full = sw_chan_new(sizeof(int64_t), 1),
                        .other = sw_chan_new(sizeof(int64_t), 0),
                        .wg = wg_new()};
    assert_true(c.unbuf && c.full && c.other);
    int64_t one = 1;
    assert_int_equal(sw_chan_send(c.full, &one), SW_OK);
    sw_wg_add(c.wg, 3);
    assert_int_equal(sw_go(recv_until_closed, &c), SW_OK);
    assert_int_equal(sw_go(send_until_closed, &c), SW_OK);
    assert_int_equal(sw_go(select_until_closed, &c), SW_OK);
    wait_queued(c.unbuf, SW_RECV, 1);
    wait_queued(c.full, SW_SEND, 1);
    wait_queued(c.other, SW_RECV, 1);
    assert_int_equal(sw_chan_close(c.unbuf), SW_OK);
    assert_int_equal(sw_chan_close(c.full), SW_OK);
    assert_int_equal(sw_chan_close(c.other), SW_OK);
    sw_wg_wait(c.wg);
    assert_int_equal(c.recv_rc, SW_ECLOSED);
    assert_int_equal(c.recv_v, 0); /* zeroed */
    assert_int_equal(c.send_rc, SW_ECLOSED);
    assert_int_equal(c.select_rc, 1);
    assert_int_equal(c.select_status, SW_ECLOSED);
    assert_int_equal(c.select_v, 0);
    int64_t v = 0;
    assert_int_equal(sw_chan_recv(c.full, &v), SW_OK); /* the buffered one, not the refused */
    assert_int_equal(v, 1);
    assert_int_equal(sw_chan_recv(c.full, &v), SW_ECLOSED);
    sw_wg_free(c.wg);
    sw_chan_free(c.unbuf);
    sw_chan_free(c.full);
    sw_chan_free(c.other);
}

/* ---- tasks calling owners ---- */

struct sum {
    int64_t total;              /* the owner's state */
    _Atomic int64_t runs;       /* counted as well, to read while busy */
    _Atomic int64_t calls_done; /* calls that returned SW_OK */
};

static void add_fn(void *state, void *arg)
{
    struct sum *s = state;
    s->total += *(int64_t *)arg;
    atomic_fetch_add(&s->runs, 1);
}

enum { CALLER_TASKS = 200, CALLS_EACH = 200 };

struct callers {
    sw_owner *o;
    struct sum *s;
    sw_wg *wg;
};

static void caller_task(void *arg)
{
    struct callers *c = arg;
    for (int64_t i = 0; i < CALLS_EACH; i++) {
        int64_t v = i;
        int rc = i % 2 ? sw_owner_call(c->o, add_fn, &v)
                       : sw_owner_call_inline(c->o, add_fn, &v, sizeof v);
        CHECK(rc == SW_OK);
        if (rc == SW_OK)
            atomic_fetch_add(&c->s->calls_done, 1);
        if (i % 16 == 0)
            sw_yield();
    }
    sw_wg_done(c->wg);
}

static void test_owner_calls_from_tasks(void **state)
{
    (void)state;
    struct sum s = {0};
    struct callers c = {.s = &s, .wg = wg_new()};
    assert_int_equal(sw_owner_start(&c.o, &s), SW_OK);
    for (int i = 0; i < CALLER_TASKS; i++)
        go(c.wg, caller_task, &c);
    sw_wg_wait(c.wg);
    assert_no_bad();
    sw_owner_stop(c.o);
    assert_int_equal(atomic_load(&s.calls_done), CALLER_TASKS * CALLS_EACH);
    assert_int_equal(s.total, (int64_t)CALLER_TASKS * (CALLS_EACH * (CALLS_EACH - 1) / 2));
    sw_owner_free(c.o);
    sw_wg_free(c.wg);
}

/* A task that calls a busy owner parks; its thread runs other tasks. A
 * plain thread holds the owner (its function waits on a gate channel);
 * more tasks than the pool has threads call it, and every one of them
 * must get into its call, which it could not if each caller held its
 * thread. Then more tasks run to the end, while the owner is still busy. */
struct busy {
    sw_owner *o;
    struct sum s;
    sw_chan *gate;
    _Atomic int inside;
    _Atomic int64_t entered, others;
    sw_wg *callers, *free_tasks;
};

static void hold_on_gate(void *state, void *arg)
{
    (void)state;
    struct busy *b = arg;
    atomic_store(&b->inside, 1);
    CHECK(sw_chan_recv(b->gate, NULL) == SW_OK);
}

static void *holder_main(void *arg)
{
    struct busy *b = arg;
    CHECK(sw_owner_call(b->o, hold_on_gate, b) == SW_OK);
    return NULL;
}

static void busy_caller(void *arg)
{
    struct busy *b = arg;
    int64_t one = 1;
    atomic_fetch_add(&b->entered, 1);
    CHECK(sw_owner_call(b->o, add_fn, &one) == SW_OK);
    sw_wg_done(b->callers);
}

static void free_task(void *arg)
{
    struct busy *b = arg;
    atomic_fetch_add(&b->others, 1);
    sw_wg_done(b->free_tasks);
}

static void test_busy_owner_parks_task(void **state)
{
    (void)state;
    struct busy *b = calloc(1, sizeof *b);
    assert_non_null(b);
    b->gate = sw_chan_new(0, 0);
    assert_non_null(b->gate);
    b->callers = wg_new();
    b->free_tasks = wg_new();
    assert_int_equal(sw_owner_start(&b->o, &b->s), SW_OK);
    int n = 2 * (int)sw_owner_pool_size() + 4;
    pthread_t holder;
    assert_int_equal(pthread_create(&holder, NULL, holder_main, b), 0);
    while (!atomic_load(&b->inside))
        nap();
    for (int i = 0; i < n; i++)
        go(b->callers, busy_caller, b);
    wait_count(&b->entered, n); /* all in their calls: none holds a thread */
    for (int i = 0; i < n; i++)
        go(b->free_tasks, free_task, b);
    sw_wg_wait(b->free_tasks);
    assert_int_equal(atomic_load(&b->others), n);
    assert_int_equal(atomic_load(&b->s.runs), 0); /* the owner is still held */
    assert_int_equal(sw_chan_send(b->gate, NULL), SW_OK);
    sw_wg_wait(b->callers);
    pthread_join(holder, NULL);
    assert_no_bad();
    assert_int_equal(atomic_load(&b->s.runs), n);
    assert_int_equal(b->s.total, n);
    sw_owner_free(b->o);
    sw_wg_free(b->callers);
    sw_wg_free(b->free_tasks);
    sw_chan_free(b->gate);
    free(b);
}

/* sw_owner_call from an owner function run by a task is refused, as on
 * a thread; a post is not. */
struct nested {
    sw_owner *outer, *inner;
    struct sum s;
    int call_rc, inline_rc, post_rc, outer_rc;
};

static void nested_fn(void *state, void *arg)
{
    (void)arg;
    struct nested *n = state;
    int64_t one = 1;
    n->call_rc = sw_owner_call(n->inner, add_fn, &one);
    n->inline_rc = sw_owner_call_inline(n->inner, add_fn, &one, sizeof one);
    static int64_t ten = 10; /* a post's arg lives until it has run */
    n->post_rc = sw_owner_post(n->inner, add_fn, &ten);
}

static void call_nested(void *arg)
{
    struct nested *n = arg;
    n->outer_rc = sw_owner_call(n->outer, nested_fn, NULL);
}

static void test_call_from_owner_fn_in_task(void **state)
{
    (void)state;
    struct nested n = {0};
    assert_int_equal(sw_owner_start(&n.outer, &n), SW_OK);
    assert_int_equal(sw_owner_start(&n.inner, &n.s), SW_OK);
    run_in_task(call_nested, &n);
    assert_int_equal(n.outer_rc, SW_OK);
    assert_int_equal(n.call_rc, SW_EINVAL);
    assert_int_equal(n.inline_rc, SW_EINVAL);
    assert_int_equal(n.post_rc, SW_OK);
    sw_owner_stop(n.inner);
    assert_int_equal(n.s.total, 10);
    sw_owner_free(n.inner);
    sw_owner_free(n.outer);
}

/* The owner-function depth follows the task (task.h: steward's own
 * per-thread state follows the task). A task parks inside an owner
 * function; the tasks it started there run meanwhile, first on its
 * thread, and their calls must be allowed; when it resumes, perhaps on
 * another thread, its own call must still be refused. */
struct depth {
    sw_owner *outer, *inner;
    struct sum s;
    sw_chan *gate;
    sw_wg *started;
    int ntasks;
    _Atomic int64_t refused; /* calls of the started tasks refused */
    int late_rc, outer_rc;
};

static void depth_caller(void *arg)
{
    struct depth *d = arg;
    int64_t one = 1;
    int rc = sw_owner_call(d->inner, add_fn, &one);
    if (rc != SW_OK)
        atomic_fetch_add(&d->refused, 1);
    sw_wg_done(d->started);
}

static void park_inside(void *state, void *arg)
{
    (void)arg;
    struct depth *d = state;
    for (int i = 0; i < d->ntasks; i++)
        go_checked(d->started, depth_caller, d);
    CHECK(sw_chan_recv(d->gate, NULL) == SW_OK); /* parks, holding outer */
    int64_t one = 1;
    d->late_rc = sw_owner_call(d->inner, add_fn, &one);
}

static void call_park_inside(void *arg)
{
    struct depth *d = arg;
    d->outer_rc = sw_owner_call(d->outer, park_inside, NULL);
}

static void test_owner_depth_follows_task(void **state)
{
    (void)state;
    struct depth d = {.gate = sw_chan_new(0, 0),
                      .started = wg_new(),
                      .ntasks = 4 * (int)sw_owner_pool_size() + 4};
    assert_non_null(d.gate);
    assert_int_equal(sw_owner_start(&d.outer, &d), SW_OK);
    assert_int_equal(sw_owner_start(&d.inner, &d.s), SW_OK);
    sw_wg *wg = wg_new();
    struct in_task it = {.fn = call_park_inside, .arg = &d, .wg = wg};
    go(wg, in_task_main, &it);
    wait_queued(d.gate, SW_RECV, 1); /* the task is parked in the function */
    sw_wg_wait(d.started);           /* and the tasks it started have run */
    assert_int_equal(atomic_load(&d.refused), 0);
    assert_int_equal(atomic_load(&d.s.runs), d.ntasks);
    assert_int_equal(sw_chan_send(d.gate, NULL), SW_OK);
    sw_wg_wait(wg);
    assert_no_bad();
    assert_int_equal(d.outer_rc, SW_OK);
    assert_int_equal(d.late_rc, SW_EINVAL);
    assert_int_equal(atomic_load(&d.s.runs), d.ntasks);
    sw_owner_free(d.inner);
    sw_owner_free(d.outer);
    sw_wg_free(wg);
    sw_wg_free(d.started);
    sw_chan_free(d.gate);
}

/* ---- many tasks ---- */

struct many {
    sw_wg *wg;
    _Atomic int64_t n;
    sw_chan *ch;
    sw_wg *gate;
    _Atomic int64_t woke, arrived;
};

static void bump_task(void *arg)
{
    struct many *m = arg;
    atomic_fetch_add_explicit(&m->n, 1, memory_order_relaxed);
    sw_wg_done(m->wg);
}

static void test_million_tasks(void **state)
{
    (void)state;
    struct many m = {.wg = wg_new()};
    for (int64_t started = 0; started < MILLION;) {
        int64_t wave = MILLION - started < WAVE ? MILLION - started : WAVE;
        sw_wg_add(m.wg, wave);
        for (int64_t i = 0; i < wave; i++) {
            int rc = sw_go(bump_task, &m);
            if (rc != SW_OK) {
                sw_wg_add(m.wg, -(wave - i));
                sw_wg_wait(m.wg);
                fail_msg("sw_go failed after %lld tasks: %s", (long long)(started + i),
                         sw_strerror(rc));
            }
        }
        started += wave;
        sw_wg_wait(m.wg);
    }
    assert_int_equal(atomic_load(&m.n), MILLION);
    sw_wg_free(m.wg);
}

static void park_on_chan(void *arg)
{
    struct many *m = arg;
    CHECK(sw_chan_recv(m->ch, NULL) == SW_ECLOSED);
    atomic_fetch_add(&m->woke, 1);
    sw_wg_done(m->wg);
}

static void park_on_wg(void *arg)
{
    struct many *m = arg;
    atomic_fetch_add(&m->arrived, 1);
    sw_wg_wait(m->gate);
    atomic_fetch_add(&m->woke, 1);
    sw_wg_done(m->wg);
}

/* Starts n tasks of fn; on a failure, gets the started ones out with
 * release(m) and fails. */
static void go_many(struct many *m, sw_task_fn fn, int64_t n, void (*release)(struct many *))
{
    sw_wg_add(m->wg, n);
    for (int64_t i = 0; i < n; i++) {
        int rc = sw_go(fn, m);
        if (rc != SW_OK) {
            sw_wg_add(m->wg, -(n - i));
            release(m);
            sw_wg_wait(m->wg);
            fail_msg("sw_go failed with %lld tasks parked: %s (each parked task holds a "
                     "stack and its guard page, two mappings: see vm.max_map_count)",
                     (long long)i, sw_strerror(rc));
        }
    }
}

static void close_ch(struct many *m)
{
    sw_chan_close(m->ch);
}

static void open_gate(struct many *m)
{
    sw_wg_done(m->gate);
}

/* PARKED tasks parked at once on one channel, all seen queued there, then
 * all woken by its close; then as many parked on one wait group. */
static void test_many_parked(void **state)
{
    (void)state;
    struct many m = {.wg = wg_new(), .gate = wg_new(), .ch = sw_chan_new(0, 0)};
    assert_non_null(m.ch);
    go_many(&m, park_on_chan, PARKED, close_ch);
    wait_queued(m.ch, SW_RECV, PARKED);
    assert_int_equal(atomic_load(&m.woke), 0);
    assert_int_equal(sw_chan_close(m.ch), SW_OK);
    sw_wg_wait(m.wg);
    assert_no_bad();
    assert_int_equal(atomic_load(&m.woke), PARKED);

    atomic_store(&m.woke, 0);
    sw_wg_add(m.gate, 1);
    go_many(&m, park_on_wg, PARKED, open_gate);
    wait_count(&m.arrived, PARKED);
    assert_int_equal(atomic_load(&m.woke), 0);
    sw_wg_done(m.gate);
    sw_wg_wait(m.wg);
    assert_int_equal(atomic_load(&m.woke), PARKED);
    sw_wg_free(m.wg);
    sw_wg_free(m.gate);
    sw_chan_free(m.ch);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        /* First, while this process has no pool (see the test). */
        cmocka_unit_test_setup(test_stack_overflow_dies, reset_bad),
        cmocka_unit_test_setup(test_wg_negative_aborts, reset_bad),
        cmocka_unit_test_setup(test_go_invalid, reset_bad),
        cmocka_unit_test_setup(test_task_runs, reset_bad),
        cmocka_unit_test_setup(test_yield_on_thread, reset_bad),
        cmocka_unit_test_setup(test_yield_alternates_tasks, reset_bad),
        cmocka_unit_test_setup(test_sleep, reset_bad),
        cmocka_unit_test_setup(test_wg_basics, reset_bad),
        cmocka_unit_test_setup(test_wg_thread_waits_for_tasks, reset_bad),
        cmocka_unit_test_setup(test_wg_task_waits_for_tasks, reset_bad),
        cmocka_unit_test_setup(test_wg_task_waits_for_threads, reset_bad),
        cmocka_unit_test_setup(test_task_pingpong, reset_bad),
        cmocka_unit_test_setup(test_task_and_thread, reset_bad),
        cmocka_unit_test_setup(test_wake_while_thread_busy, reset_bad),
        cmocka_unit_test_setup(test_buffered_between_tasks, reset_bad),
        cmocka_unit_test_setup(test_timeouts_in_task, reset_bad),
        cmocka_unit_test_setup(test_select_in_task, reset_bad),
        cmocka_unit_test_setup(test_close_wakes_parked_tasks, reset_bad),
        cmocka_unit_test_setup(test_owner_calls_from_tasks, reset_bad),
        cmocka_unit_test_setup(test_busy_owner_parks_task, reset_bad),
        cmocka_unit_test_setup(test_call_from_owner_fn_in_task, reset_bad),
        cmocka_unit_test_setup(test_owner_depth_follows_task, reset_bad),
        cmocka_unit_test_setup(test_million_tasks, reset_bad),
        cmocka_unit_test_setup(test_many_parked, reset_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
