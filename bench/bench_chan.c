/* The channel benchmark: steward's channels under the same loads as the Go
 * peer in bench/peers/go/chan, plus the physical floor of a cross-core round
 * trip, which only C can measure.
 *
 * Usage: bench_chan [duration_ms [runs [name]]]   (defaults: 500 ms, 3 runs)
 *
 * Every measurement runs for duration_ms, runs times, and the best run
 * counts; with a name, only the measurements whose name contains it run.
 * Each result is one "name value" line, with the Go peer's names:
 *   chan.pingpong_ns   unbuffered ping-pong, ns per round trip
 *   chan.pingpong_pinned_ns  the same with the two threads pinned to CPUs 0
 *                      and 1, as the floor's are: the channel's own cost
 *                      beside the floor, whatever the scheduler does ("nan"
 *                      with a single CPU; no Go peer)
 *   chan.buf1_msgs     capacity 1024, 1 producer -> 1 consumer, messages/s
 *   chan.buf4_msgs     capacity 1024, 4 producers -> 1 consumer, messages/s
 *   chan.select2_ops   one consumer selecting over 2 channels (capacity
 *                      1024), each fed by its own producer, receives/s
 *   chan.floor_ns      two threads pinned to CPUs 0 and 1 bouncing one cache
 *                      line, ns per round trip ("nan" with a single CPU;
 *                      see common.h)
 */
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "steward/chan.h"

#include "common.h"

const char *bench_name = "bench_chan";

enum {
    BUF_CAP = 1024,    /* the buffered channels' capacity */
    BATCH = 1024,      /* round trips between two reads of the clock */
    STOP_EVERY = 64,   /* sends between two looks at the stop flag */
    MAX_PRODUCERS = 4, /* the most producers a load has */
};

static sw_chan *new_chan(size_t cap)
{
    sw_chan *ch = sw_chan_new(sizeof(int64_t), cap);
    if (!ch) {
        fprintf(stderr, "bench_chan: sw_chan_new: out of memory\n");
        exit(1);
    }
    return ch;
}

static void spawn(pthread_t *t, void *(*fn)(void *), void *arg)
{
    int rc = pthread_create(t, NULL, fn, arg);
    if (rc != 0) {
        fprintf(stderr, "bench_chan: pthread_create: %s\n", strerror(rc));
        exit(1);
    }
}

static void join(pthread_t t)
{
    pthread_join(t, NULL);
}

/* ---- unbuffered ping-pong ---- */

struct pingpong {
    sw_chan *ping, *pong;
    bool pinned; /* the far side runs on CPU 1, the near side on CPU 0 */
};

static void pin_to(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    int rc = pthread_setaffinity_np(pthread_self(), sizeof set, &set);
    if (rc != 0) {
        fprintf(stderr, "bench_chan: pthread_setaffinity_np: %s\n", strerror(rc));
        exit(1);
    }
}

/* The far side: answers every ping with its value plus one, until a
 * negative ping. */
static void *pong_main(void *arg)
{
    struct pingpong *pp = arg;
    if (pp->pinned)
        pin_to(1);
    for (;;) {
        int64_t v;
        bench_must(sw_chan_recv(pp->ping, &v), "recv ping");
        if (v < 0)
            return NULL;
        v++;
        bench_must(sw_chan_send(pp->pong, &v), "send pong");
    }
}

static double pingpong_run(int64_t duration_ns, bool pinned)
{
    struct pingpong pp = {new_chan(0), new_chan(0), pinned};
    pthread_t t;
    cpu_set_t before;
    if (pinned) {
        pthread_getaffinity_np(pthread_self(), sizeof before, &before);
        pin_to(0);
    }
    spawn(&t, pong_main, &pp);
    int64_t rounds = 0, start = bench_now_ns(), end;
    do {
        for (int i = 0; i < BATCH; i++, rounds++) {
            int64_t v = rounds;
            bench_must(sw_chan_send(pp.ping, &v), "send ping");
            bench_must(sw_chan_recv(pp.pong, &v), "recv pong");
            if (v != rounds + 1) {
                fprintf(stderr, "bench_chan: pong %lld, want %lld\n", (long long)v,
                        (long long)(rounds + 1));
                exit(1);
            }
        }
        end = bench_now_ns();
    } while (end - start < duration_ns);
    int64_t stop = -1;
    bench_must(sw_chan_send(pp.ping, &stop), "send stop");
    join(t);
    if (pinned)
        pthread_setaffinity_np(pthread_self(), sizeof before, &before);
    sw_chan_free(pp.ping);
    sw_chan_free(pp.pong);
    return (double)(end - start) / (double)rounds;
}

static double pingpong_ns(int64_t duration_ns)
{
    return pingpong_run(duration_ns, false);
}

static double pingpong_pinned_ns(int64_t duration_ns)
{
    if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
        return NAN;
    return pingpong_run(duration_ns, true);
}

/* ---- buffered loads: producers -> channels -> one consumer ----
 *
 * The main thread sleeps for the duration, raises `stop`, joins the
 * producers and closes the channels; the consumer drains them and stops at
 * SW_ECLOSED. The rate is everything received over the whole span. */

struct load {
    sw_chan *ch[2];
    int nchan;
    alignas(64) atomic_bool stop; /* set by main, read by the producers */
    alignas(64) int64_t received; /* written by the consumer, read after join */
};

struct producer {
    struct load *load;
    sw_chan *ch;
};

static void *producer_main(void *arg)
{
    struct producer *p = arg;
    for (int64_t i = 0;; i++) {
        /* Relaxed: the flag carries no data; a late look costs a few sends. */
        if (i % STOP_EVERY == 0 && atomic_load_explicit(&p->load->stop, memory_order_relaxed))
            return NULL;
        bench_must(sw_chan_send(p->ch, &i), "send");
    }
}

static void *consume_one(void *arg)
{
    struct load *l = arg;
    int64_t n = 0, v;
    int rc;
    for (;;) {
        rc = sw_chan_recv(l->ch[0], &v);
        if (rc != SW_OK)
            break;
        n++;
    }
    if (rc != SW_ECLOSED)
        bench_must(rc, "recv");
    l->received = n;
    return NULL;
}

/* Selects over both channels; a closed one becomes a NULL case, never ready,
 * as a nil channel in Go. */
static void *consume_select(void *arg)
{
    struct load *l = arg;
    int64_t n = 0, v0, v1;
    sw_case cases[2] = {{l->ch[0], SW_RECV, &v0, 0}, {l->ch[1], SW_RECV, &v1, 0}};
    int open = 2;
    while (open > 0) {
        int i = sw_select(cases, 2, -1);
        if (i < 0)
            bench_must(i, "select");
        if (cases[i].status == SW_ECLOSED) {
            cases[i].chan = NULL;
            open--;
            continue;
        }
        bench_must(cases[i].status, "select case");
        n++;
    }
    l->received = n;
    return NULL;
}

static double load_rate(int nchan, int nproducers, void *(*consume)(void *), int64_t duration_ns)
{
    struct load l = {.nchan = nchan};
    struct producer prods[MAX_PRODUCERS];
    pthread_t consumer, threads[MAX_PRODUCERS];
    for (int c = 0; c < nchan; c++)
        l.ch[c] = new_chan(BUF_CAP);
    atomic_init(&l.stop, false);

    int64_t start = bench_now_ns();
    spawn(&consumer, consume, &l);
    for (int i = 0; i < nproducers; i++) {
        prods[i] = (struct producer){&l, l.ch[i % nchan]};
        spawn(&threads[i], producer_main, &prods[i]);
    }
    struct timespec d = {duration_ns / 1000000000, duration_ns % 1000000000};
    nanosleep(&d, NULL);
    atomic_store_explicit(&l.stop, true, memory_order_relaxed);
    for (int i = 0; i < nproducers; i++)
        join(threads[i]);
    for (int c = 0; c < nchan; c++)
        bench_must(sw_chan_close(l.ch[c]), "close");
    join(consumer);
    int64_t end = bench_now_ns();

    for (int c = 0; c < nchan; c++)
        sw_chan_free(l.ch[c]);
    return (double)l.received * 1e9 / (double)(end - start);
}

static double buf1_rate(int64_t duration_ns)
{
    return load_rate(1, 1, consume_one, duration_ns);
}

static double buf4_rate(int64_t duration_ns)
{
    return load_rate(1, 4, consume_one, duration_ns);
}

static double select2_rate(int64_t duration_ns)
{
    return load_rate(2, 2, consume_select, duration_ns);
}

/* ---- driver ---- */

static const struct bench benches[] = {
    {"chan.pingpong_ns", pingpong_ns, true},
    {"chan.pingpong_pinned_ns", pingpong_pinned_ns, true},
    {"chan.buf1_msgs", buf1_rate, false},
    {"chan.buf4_msgs", buf4_rate, false},
    {"chan.select2_ops", select2_rate, false},
    {"chan.floor_ns", bench_floor_ns, true},
};

int main(int argc, char **argv)
{
    int64_t duration_ns = (int64_t)bench_arg(argc, argv, 1, 500) * 1000000;
    long runs = bench_arg(argc, argv, 2, 3);
    const char *only = argc > 3 ? argv[3] : "";
    printf("chan.cpus %ld\n", sysconf(_SC_NPROCESSORS_ONLN));
    bench_run_all(benches, sizeof benches / sizeof benches[0], duration_ns, runs, only, NULL);
    return 0;
}
