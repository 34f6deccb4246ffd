/* The task benchmark: steward's tasks (task.h) under the same loads as the
 * Go peer in bench/peers/go/task, which bench/run.sh runs beside it with
 * GOMAXPROCS=1 and GOMAXPROCS=2. Ping-pong between two threads and the
 * cache-line floor are bench_chan's (chan.pingpong_ns, chan.floor_ns).
 *
 * Usage: bench_task [duration_ms [runs]]   (defaults: 500 ms, 3 runs)
 *
 * Every measurement is driven from a task, as the Go peer drives its own
 * from a goroutine: main starts one driver task per measurement and waits
 * for it on an sw_wg. Every timed measurement runs for duration_ms, runs
 * times, and the best run counts. The parked-memory measurement runs once,
 * first, in a fresh process: finished tasks' stacks are kept for reuse (as
 * Go keeps finished goroutines), so a second run would measure that cache,
 * not new tasks. Each result is one "name value" line, with the Go peer's
 * names:
 *   task.cpus           CPUs online
 *   task.threads        pool threads that run tasks (STEWARD_THREADS)
 *   task.parked_tasks   tasks parked for task.parked_bytes: 100000, or
 *                       fewer when sw_go failed first (the reason goes to
 *                       stderr)
 *   task.parked_bytes   resident memory (VmRSS, from /proc/self/statm) per
 *                       task parked on a channel receive
 *   task.pingpong_ns    two tasks ping-ponging over two unbuffered
 *                       channels, ns per round trip
 *   task.spawn_ns       sw_go of a task that runs and finishes: batches of
 *                       1024 started from one task, then an sw_wg_wait;
 *                       total time / tasks
 *   task.select_ns      a server task selecting over two unbuffered
 *                       channels, a client task sending on each in turn and
 *                       waiting for the answer on a third: ns per round trip
 *   task.select2_ops    one task selecting over two channels (capacity
 *                       1024), each fed by its own task: receives/s
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "steward/chan.h"
#include "steward/owner.h"
#include "steward/task.h"

#include "common.h"

const char *bench_name = "bench_task";

enum {
    PARKED_TASKS = 100000, /* tasks parked for task.parked_bytes */
    SPAWN_BATCH = 1024,    /* tasks started between two waits */
    BATCH = 1024,          /* round trips between two reads of the clock */
    BUF_CAP = 1024,        /* the select2 load's channel capacity */
    STOP_EVERY = 64,       /* sends between two looks at the stop flag */
};

/* A task counts itself started just before its receive, so when the last
 * one has, a few may still be on their way to park: this pause lets them
 * before the reading. Parking takes microseconds; 20 ms is ample, and the
 * Go peer waits the same. */
static const int64_t PARK_SETTLE_NS = 20000000;

static sw_chan *new_chan(size_t cap)
{
    sw_chan *ch = sw_chan_new(sizeof(int64_t), cap);
    if (!ch)
        bench_die("sw_chan_new", "out of memory");
    return ch;
}

static sw_wg *new_wg(void)
{
    sw_wg *wg = sw_wg_new();
    if (!wg)
        bench_die("sw_wg_new", "out of memory");
    return wg;
}

static void go(sw_task_fn fn, void *arg)
{
    bench_must(sw_go(fn, arg), "sw_go");
}

/* sw_select waiting as long as it takes: the index of the case that ran.
 * Exits the program when none did. */
static size_t must_select(sw_case *cases, size_t n)
{
    int i = sw_select(cases, n, -1);
    if (i < 0) {
        bench_die("sw_select", sw_strerror(i));
        exit(1); /* not reached: for the compiler, which cannot see bench_die exit */
    }
    return (size_t)i;
}

/* ---- the driver: each measurement runs in a task of its own ---- */

struct driven {
    double (*run)(int64_t duration_ns); /* immutable */
    int64_t duration_ns;                /* immutable */
    double result;                      /* written by the driver, read after the wait */
    sw_wg *wg;                          /* done once the driver has finished */
};

static void driver_main(void *arg)
{
    struct driven *d = arg;
    d->result = d->run(d->duration_ns);
    sw_wg_done(d->wg);
}

/* Runs run(duration_ns) in a new task; waits for it on this thread. */
static double in_task(double (*run)(int64_t), int64_t duration_ns)
{
    struct driven d = {run, duration_ns, 0, new_wg()};
    sw_wg_add(d.wg, 1);
    go(driver_main, &d);
    sw_wg_wait(d.wg);
    sw_wg_free(d.wg);
    return d.result;
}

/* ---- resident memory per parked task ---- */

/* The resident set, in bytes: /proc/self/statm's second field (pages).
 * Read with read(2) into a stack buffer, so the reading itself allocates
 * nothing that could show in it. */
static int64_t rss_bytes(void)
{
    char buf[128];
    int fd = open("/proc/self/statm", O_RDONLY);
    if (fd < 0)
        bench_die("/proc/self/statm", strerror(errno));
    ssize_t n = read(fd, buf, sizeof buf - 1);
    int err = errno;
    close(fd);
    if (n <= 0)
        bench_die("/proc/self/statm", n < 0 ? strerror(err) : "empty");
    buf[n] = '\0';
    long long size, resident;
    if (sscanf(buf, "%lld %lld", &size, &resident) != 2)
        bench_die("/proc/self/statm", "unexpected format");
    return (int64_t)resident * sysconf(_SC_PAGESIZE);
}

struct park {
    sw_chan *ch; /* never sent on: closed to wake everyone */
    sw_wg *started, *done;
};

static void parked_main(void *arg)
{
    struct park *p = arg;
    sw_wg_done(p->started);
    int64_t v;
    int rc = sw_chan_recv(p->ch, &v);
    if (rc != SW_ECLOSED)
        bench_must(rc, "parked recv");
    sw_wg_done(p->done);
}

static long parked_tasks; /* written by the driver, read after in_task */

/* Parks up to PARKED_TASKS tasks on one channel's receive and returns the
 * growth of the resident set per parked task; then closes the channel,
 * which wakes them all, and waits until they have finished. A failed sw_go
 * ends the spawning: what parked so far is measured, and stderr says why. */
static double parked_bytes(int64_t unused)
{
    (void)unused;
    struct park p = {new_chan(0), new_wg(), new_wg()};
    int64_t before = rss_bytes();
    long n = 0;
    for (; n < PARKED_TASKS; n++) {
        sw_wg_add(p.started, 1);
        sw_wg_add(p.done, 1);
        int rc = sw_go(parked_main, &p);
        if (rc != SW_OK) {
            sw_wg_add(p.started, -1);
            sw_wg_add(p.done, -1);
            fprintf(stderr,
                    "bench_task: sw_go failed after %ld parked tasks: %s (each stack with its "
                    "guard page may take two of the kernel's vm.max_map_count mappings)\n",
                    n, sw_strerror(rc));
            break;
        }
    }
    sw_wg_wait(p.started);
    sw_sleep(PARK_SETTLE_NS);
    int64_t after = rss_bytes();
    bench_must(sw_chan_close(p.ch), "close");
    sw_wg_wait(p.done);
    sw_wg_free(p.started);
    sw_wg_free(p.done);
    sw_chan_free(p.ch);
    parked_tasks = n;
    return n > 0 ? (double)(after - before) / (double)n : 0;
}

/* ---- ping-pong between two tasks ---- */

struct pingpong {
    sw_chan *ping, *pong;
    sw_wg *done; /* done once the far side has returned */
};

/* The far side: answers every ping with its value plus one, until a
 * negative ping. */
static void pong_main(void *arg)
{
    struct pingpong *pp = arg;
    for (;;) {
        int64_t v;
        bench_must(sw_chan_recv(pp->ping, &v), "recv ping");
        if (v < 0)
            break;
        v++;
        bench_must(sw_chan_send(pp->pong, &v), "send pong");
    }
    sw_wg_done(pp->done);
}

static double pingpong_ns(int64_t duration_ns)
{
    struct pingpong pp = {new_chan(0), new_chan(0), new_wg()};
    sw_wg_add(pp.done, 1);
    go(pong_main, &pp);
    int64_t rounds = 0, start = bench_now_ns(), end;
    do {
        for (int i = 0; i < BATCH; i++, rounds++) {
            int64_t v = rounds;
            bench_must(sw_chan_send(pp.ping, &v), "send ping");
            bench_must(sw_chan_recv(pp.pong, &v), "recv pong");
            if (v != rounds + 1)
                bench_die("ping-pong", "wrong answer");
        }
        end = bench_now_ns();
    } while (end - start < duration_ns);
    int64_t stop = -1;
    bench_must(sw_chan_send(pp.ping, &stop), "send stop");
    sw_wg_wait(pp.done);
    sw_wg_free(pp.done);
    sw_chan_free(pp.ping);
    sw_chan_free(pp.pong);
    return (double)(end - start) / (double)rounds;
}

/* ---- starting tasks ---- */

static void spawned_main(void *wg)
{
    sw_wg_done(wg);
}

/* Batches of SPAWN_BATCH tasks, started from this task (they first queue on
 * its thread, and run once it parks in the wait, unless another thread
 * steals them sooner), each batch waited for; ns per task over the span. */
static double spawn_ns(int64_t duration_ns)
{
    sw_wg *wg = new_wg();
    int64_t n = 0, start = bench_now_ns(), end;
    do {
        sw_wg_add(wg, SPAWN_BATCH);
        for (int i = 0; i < SPAWN_BATCH; i++)
            go(spawned_main, wg);
        sw_wg_wait(wg);
        n += SPAWN_BATCH;
        end = bench_now_ns();
    } while (end - start < duration_ns);
    sw_wg_free(wg);
    return (double)(end - start) / (double)n;
}

/* ---- select round trip ---- */

struct selectrt {
    sw_chan *a, *b, *reply;
    sw_wg *done; /* done once the server has returned */
};

/* The server answers v from a with v + 1 and v from b with v + 2, on
 * reply, until the answer would be negative. */
static void select_server_main(void *arg)
{
    struct selectrt *s = arg;
    int64_t va, vb;
    sw_case cases[2] = {{s->a, SW_RECV, &va, 0}, {s->b, SW_RECV, &vb, 0}};
    for (;;) {
        size_t i = must_select(cases, 2);
        bench_must(cases[i].status, "select case");
        int64_t v = i == 0 ? va + 1 : vb + 2;
        if (v < 0)
            break;
        bench_must(sw_chan_send(s->reply, &v), "send reply");
    }
    sw_wg_done(s->done);
}

static double select_ns(int64_t duration_ns)
{
    struct selectrt s = {new_chan(0), new_chan(0), new_chan(0), new_wg()};
    sw_wg_add(s.done, 1);
    go(select_server_main, &s);
    int64_t rounds = 0, start = bench_now_ns(), end;
    do {
        for (int i = 0; i < BATCH; i++, rounds++) {
            int64_t v = rounds;
            bool odd = rounds % 2 == 1;
            bench_must(sw_chan_send(odd ? s.b : s.a, &v), "send request");
            bench_must(sw_chan_recv(s.reply, &v), "recv reply");
            if (v != rounds + (odd ? 2 : 1))
                bench_die("select", "wrong answer");
        }
        end = bench_now_ns();
    } while (end - start < duration_ns);
    int64_t stop = -10; /* -10 + 1 < 0: the server stops without answering */
    bench_must(sw_chan_send(s.a, &stop), "send stop");
    sw_wg_wait(s.done);
    sw_wg_free(s.done);
    sw_chan_free(s.a);
    sw_chan_free(s.b);
    sw_chan_free(s.reply);
    return (double)(end - start) / (double)rounds;
}

/* ---- select over two buffered channels, each fed by a task ----
 *
 * The driver sleeps (parked) for the duration, raises `stop`, waits for the
 * producers and closes the channels; the consumer drains them and stops
 * when both are closed. The rate is everything received over the span, as
 * in bench_chan's chan.select2_ops. */

struct load {
    sw_chan *ch[2];
    atomic_bool stop; /* set by the driver, read by the producers */
    sw_wg *producers; /* done as each producer returns */
    sw_wg *consumer;  /* done once the consumer has returned */
    int64_t received; /* written by the consumer, read after its wait */
};

struct producer {
    struct load *load;
    sw_chan *ch;
};

static void producer_main(void *arg)
{
    struct producer *p = arg;
    for (int64_t i = 0;; i++) {
        /* Relaxed: the flag carries no data; a late look costs a few sends. */
        if (i % STOP_EVERY == 0 && atomic_load_explicit(&p->load->stop, memory_order_relaxed))
            break;
        bench_must(sw_chan_send(p->ch, &i), "send");
    }
    sw_wg_done(p->load->producers);
}

/* A closed channel becomes a NULL case, never ready, as a nil channel in
 * Go. */
static void consumer_main(void *arg)
{
    struct load *l = arg;
    int64_t n = 0, v0, v1;
    sw_case cases[2] = {{l->ch[0], SW_RECV, &v0, 0}, {l->ch[1], SW_RECV, &v1, 0}};
    int open = 2;
    while (open > 0) {
        size_t i = must_select(cases, 2);
        if (cases[i].status == SW_ECLOSED) {
            cases[i].chan = NULL;
            open--;
            continue;
        }
        bench_must(cases[i].status, "select case");
        n++;
    }
    l->received = n;
    sw_wg_done(l->consumer);
}

static double select2_ops(int64_t duration_ns)
{
    struct load l = {.ch = {new_chan(BUF_CAP), new_chan(BUF_CAP)}};
    atomic_init(&l.stop, false);
    l.producers = new_wg();
    l.consumer = new_wg();
    struct producer prods[2] = {{&l, l.ch[0]}, {&l, l.ch[1]}};

    int64_t start = bench_now_ns();
    sw_wg_add(l.consumer, 1);
    go(consumer_main, &l);
    sw_wg_add(l.producers, 2);
    for (int i = 0; i < 2; i++)
        go(producer_main, &prods[i]);
    sw_sleep(duration_ns);
    atomic_store_explicit(&l.stop, true, memory_order_relaxed);
    sw_wg_wait(l.producers);
    for (int c = 0; c < 2; c++)
        bench_must(sw_chan_close(l.ch[c]), "close");
    sw_wg_wait(l.consumer);
    int64_t end = bench_now_ns();

    sw_wg_free(l.producers);
    sw_wg_free(l.consumer);
    for (int c = 0; c < 2; c++)
        sw_chan_free(l.ch[c]);
    return (double)l.received * 1e9 / (double)(end - start);
}

/* ---- main ---- */

static double noop(int64_t unused)
{
    (void)unused;
    return 0;
}

static const struct bench benches[] = {
    {"task.pingpong_ns", pingpong_ns, true},
    {"task.spawn_ns", spawn_ns, true},
    {"task.select_ns", select_ns, true},
    {"task.select2_ops", select2_ops, false},
};

int main(int argc, char **argv)
{
    int64_t duration_ns = (int64_t)bench_arg(argc, argv, 1, 500) * 1000000;
    long runs = bench_arg(argc, argv, 2, 3);
    unsigned threads = sw_owner_pool_size();
    if (threads == 0)
        bench_die("sw_owner_pool_size", "the pool did not start");
    printf("task.cpus %ld\n", sysconf(_SC_NPROCESSORS_ONLN));
    printf("task.threads %u\n", threads);
    fflush(stdout);

    /* One task first, so that whatever the first sw_go sets up is not
     * counted as the parked tasks' memory. */
    in_task(noop, 0);
    double bytes = in_task(parked_bytes, 0);
    printf("task.parked_tasks %ld\n", parked_tasks);
    printf("task.parked_bytes %.1f\n", bytes);
    fflush(stdout);

    bench_run_all(benches, sizeof benches / sizeof benches[0], duration_ns, runs, "", in_task);
    return 0;
}
