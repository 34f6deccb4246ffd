/* hiredis_client: drives a live server (stewardd, or redis-server to check
 * the test itself) through hiredis, the C client most others are built on.
 *
 * Three checks, each of every reply:
 *   - one connection pipelines 10,000 commands (SET then GET of binary keys
 *     and values with embedded NULs, plus GETs of absent keys) and reads the
 *     replies back in order;
 *   - a 16 MiB binary value makes the round trip unchanged;
 *   - several threads, each on its own connection, pipeline SET/GET/INCR on
 *     keys of their own and INCR on one shared counter: every reply must be
 *     the thread's own, and the shared counter must end exact.
 *
 * Usage: hiredis_client HOST PORT [threads] [commands-per-thread]
 * Exits 0 when everything matched, 1 on any mismatch (each one printed),
 * 2 on bad usage or when the server cannot be reached.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

enum {
    PIPELINE_COMMANDS = 10000,
    BIG_VALUE = 16 << 20,
    BATCH = 100,   /* commands a thread pipelines before reading */
    MAX_ERRORS = 5 /* mismatches printed per check before it stops */
};

static const char *g_host;
static int g_port;
static unsigned g_run; /* makes this run's keys distinct from an earlier run's */

/* Prints one mismatch. Thread safety: any thread (one fprintf per line). */
static void report(const char *check, long index, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "hiredis_client: FAIL %s, command %ld: %s\n", check, index, msg);
}

static redisContext *connect_server(void)
{
    struct timeval tv = {30, 0};
    redisContext *c = redisConnectWithTimeout(g_host, g_port, tv);
    if (c == NULL || c->err) {
        fprintf(stderr, "hiredis_client: cannot connect to %s:%d: %s\n", g_host, g_port,
                c ? c->errstr : "out of memory");
        redisFree(c);
        return NULL;
    }
    /* A server that stops answering fails the test instead of hanging it. */
    redisSetTimeout(c, tv);
    return c;
}

/* Describes a reply for a failure message. */
static const char *describe(const redisReply *r, char *buf, size_t cap)
{
    if (r == NULL)
        return "no reply (connection error)";
    switch (r->type) {
    case REDIS_REPLY_STRING:
        snprintf(buf, cap, "bulk of %zu bytes", r->len);
        break;
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
        snprintf(buf, cap, "%s \"%.200s\"", r->type == REDIS_REPLY_STATUS ? "status" : "error",
                 r->str);
        break;
    case REDIS_REPLY_INTEGER:
        snprintf(buf, cap, "integer %lld", r->integer);
        break;
    case REDIS_REPLY_NIL:
        snprintf(buf, cap, "nil");
        break;
    default:
        snprintf(buf, cap, "reply of type %d", r->type);
    }
    return buf;
}

/* Reads the next reply; NULL (after a message) when the connection failed. */
static redisReply *next_reply(redisContext *c, const char *check, long index)
{
    void *r = NULL;
    if (redisGetReply(c, &r) != REDIS_OK || r == NULL) {
        report(check, index, "connection error: %s", c->errstr);
        return NULL;
    }
    return r;
}

/* 0 when r is a bulk string of exactly these bytes; else -1, reported. */
static int expect_bulk(const redisReply *r, const void *want, size_t len, const char *check,
                       long index)
{
    char d[256];
    if (r->type != REDIS_REPLY_STRING) {
        report(check, index, "expected a bulk of %zu bytes, got %s", len, describe(r, d, sizeof d));
        return -1;
    }
    if (r->len != len || memcmp(r->str, want, len) != 0) {
        size_t at = 0;
        while (at < len && at < r->len && r->str[at] == ((const char *)want)[at])
            at++;
        report(check, index, "bulk differs: %zu bytes expected, %zu got, first difference at %zu",
               len, r->len, at);
        return -1;
    }
    return 0;
}

static int expect_status(const redisReply *r, const char *want, const char *check, long index)
{
    char d[256];
    if (r->type != REDIS_REPLY_STATUS || strcmp(r->str, want) != 0) {
        report(check, index, "expected +%s, got %s", want, describe(r, d, sizeof d));
        return -1;
    }
    return 0;
}

static int expect_integer(const redisReply *r, long long want, const char *check, long index)
{
    char d[256];
    if (r->type != REDIS_REPLY_INTEGER || r->integer != want) {
        report(check, index, "expected :%lld, got %s", want, describe(r, d, sizeof d));
        return -1;
    }
    return 0;
}

static int expect_nil(const redisReply *r, const char *check, long index)
{
    char d[256];
    if (r->type != REDIS_REPLY_NIL) {
        report(check, index, "expected nil, got %s", describe(r, d, sizeof d));
        return -1;
    }
    return 0;
}

/* Key i of the pipeline check: binary, with NULs, a CR LF and a 0xff. */
static size_t pipeline_key(char *buf, long i)
{
    int n = snprintf(buf, 64, "hc%u", g_run);
    memcpy(buf + n, "\0k\r\n\xff", 5);
    n += 5;
    n += snprintf(buf + n, 32, "%ld", i);
    buf[n++] = '\0';
    return (size_t)n;
}

/* Value i: 0 to 300 bytes of a pattern that holds NULs and every byte value;
 * its first byte is NUL whenever it is not empty. */
static size_t pipeline_value(char *buf, long i)
{
    size_t len = (size_t)(i * 7919 % 301);
    for (size_t j = 0; j < len; j++)
        buf[j] = (char)(uint8_t)((size_t)i * 31 + j * 7);
    if (len > 0)
        buf[0] = '\0';
    return len;
}

/* Command j of the pipeline, j = 0 .. PIPELINE_COMMANDS-1: in each group of
 * four, SET key i, GET key i, GET of a key never set, SET key i again with
 * GET (which returns the value the first SET stored). */
static void append_pipeline_command(redisContext *c, long j)
{
    char key[128], val[512];
    long i = j / 4;
    size_t klen = pipeline_key(key, i), vlen = pipeline_value(val, i);
    switch (j % 4) {
    case 0:
        redisAppendCommand(c, "SET %b %b", key, klen, val, vlen);
        break;
    case 1:
        redisAppendCommand(c, "GET %b", key, klen);
        break;
    case 2:
        redisAppendCommand(c, "GET %b", key, klen - 1); /* a prefix: never set */
        break;
    default:
        redisAppendCommand(c, "SET %b %b GET", key, klen, val, vlen);
    }
}

static int check_pipeline_reply(const redisReply *r, long j)
{
    char val[512];
    size_t vlen = pipeline_value(val, j / 4);
    switch (j % 4) {
    case 0:
        return expect_status(r, "OK", "pipeline SET", j);
    case 2:
        return expect_nil(r, "pipeline GET of an absent key", j);
    default:
        return expect_bulk(r, val, vlen, "pipeline GET", j);
    }
}

static int check_pipeline(void)
{
    int errors = 0;
    redisContext *c = connect_server();
    if (c == NULL)
        return 1;
    for (long j = 0; j < PIPELINE_COMMANDS; j++)
        append_pipeline_command(c, j);
    for (long j = 0; j < PIPELINE_COMMANDS; j++) {
        redisReply *r = next_reply(c, "pipeline", j);
        if (r == NULL) {
            errors++;
            break;
        }
        if (check_pipeline_reply(r, j) != 0 && ++errors >= MAX_ERRORS) {
            freeReplyObject(r);
            break;
        }
        freeReplyObject(r);
    }
    redisFree(c);
    printf("hiredis_client: pipeline of %d commands: %s\n", PIPELINE_COMMANDS,
           errors ? "FAILED" : "ok");
    return errors != 0;
}

/* One command, one reply; NULL after a message when the connection failed. */
static redisReply *command(redisContext *c, const char *check, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    if (r == NULL)
        report(check, 0, "connection error: %s", c->errstr);
    return r;
}

/* Sends cmd and checks its reply with the given expectation. */
#define CHECK_CMD(expectation, ...)                            \
    do {                                                       \
        redisReply *r_ = command(c, "big value", __VA_ARGS__); \
        if (r_ == NULL || (expectation) != 0)                  \
            errors++;                                          \
        freeReplyObject(r_);                                   \
    } while (0)

static int check_big_value(void)
{
    int errors = 0;
    char key[64];
    size_t klen = (size_t)snprintf(key, sizeof key, "hc%u:big", g_run) + 1; /* with its NUL */
    char *val = malloc(BIG_VALUE);
    redisContext *c = connect_server();
    if (val == NULL || c == NULL)
        goto done;
    for (size_t j = 0; j < BIG_VALUE; j++)
        val[j] = (char)(uint8_t)(j * 2654435761u >> 13);
    memset(val + 1000, 0, 100);
    CHECK_CMD(expect_status(r_, "OK", "SET 16 MiB", 0), "SET %b %b", key, klen, val,
              (size_t)BIG_VALUE);
    CHECK_CMD(expect_integer(r_, BIG_VALUE, "STRLEN 16 MiB", 0), "STRLEN %b", key, klen);
    CHECK_CMD(expect_bulk(r_, val, BIG_VALUE, "GET 16 MiB", 0), "GET %b", key, klen);
    CHECK_CMD(expect_bulk(r_, val + 990, 20, "GETRANGE 16 MiB", 0), "GETRANGE %b 990 1009", key,
              klen);
    CHECK_CMD(expect_integer(r_, 1, "DEL 16 MiB", 0), "DEL %b", key, klen);
done:
    redisFree(c);
    free(val);
    if (val == NULL || c == NULL)
        errors++;
    printf("hiredis_client: 16 MiB value: %s\n", errors ? "FAILED" : "ok");
    return errors != 0;
}

struct worker {
    pthread_t thread;
    int id;
    long commands;
    int errors; /* written by the worker, read after the join */
};

/* Worker w's key i, and the value its round r stores there. */
static size_t worker_key(char *buf, int w, long i)
{
    return (size_t)snprintf(buf, 64, "hc%u:w%d:%ld", g_run, w, i % 50);
}

static size_t worker_value(char *buf, int w, long i)
{
    int n = snprintf(buf, 64, "w%d-i%ld-", w, i);
    buf[n++] = '\0';
    n += snprintf(buf + n, 64, "%d", w * 1000003 + (int)i);
    return (size_t)n;
}

/* Command i of worker w, in groups of four: SET own key, GET it back, INCR
 * its own counter, INCR the shared counter. */
static void append_worker_command(redisContext *c, int w, long i)
{
    char key[64], val[160];
    size_t klen = worker_key(key, w, i / 4), vlen = worker_value(val, w, i / 4);
    switch (i % 4) {
    case 0:
        redisAppendCommand(c, "SET %b %b", key, klen, val, vlen);
        break;
    case 1:
        redisAppendCommand(c, "GET %b", key, klen);
        break;
    case 2:
        redisAppendCommand(c, "INCR hc%u:count:%d", g_run, w);
        break;
    default:
        redisAppendCommand(c, "INCR hc%u:shared", g_run);
    }
}

static int check_worker_reply(const redisReply *r, int w, long i)
{
    char val[160], d[256];
    size_t vlen = worker_value(val, w, i / 4);
    switch (i % 4) {
    case 0:
        return expect_status(r, "OK", "thread SET", i);
    case 1:
        return expect_bulk(r, val, vlen, "thread GET (another connection's reply?)", i);
    case 2:
        return expect_integer(r, i / 4 + 1, "thread INCR of its own counter", i);
    default:
        if (r->type != REDIS_REPLY_INTEGER || r->integer < 1) {
            report("thread INCR shared", i, "got %s", describe(r, d, sizeof d));
            return -1;
        }
        return 0;
    }
}

static void *worker_main(void *arg)
{
    struct worker *wk = arg;
    redisContext *c = connect_server();
    if (c == NULL) {
        wk->errors = 1;
        return NULL;
    }
    for (long base = 0; base < wk->commands && wk->errors < MAX_ERRORS; base += BATCH) {
        long end = base + BATCH < wk->commands ? base + BATCH : wk->commands;
        for (long i = base; i < end; i++)
            append_worker_command(c, wk->id, i);
        for (long i = base; i < end; i++) {
            redisReply *r = next_reply(c, "thread", i);
            if (r == NULL) {
                wk->errors = MAX_ERRORS;
                break;
            }
            wk->errors += check_worker_reply(r, wk->id, i) != 0;
            freeReplyObject(r);
            if (wk->errors >= MAX_ERRORS)
                break; /* the connection is dropped below, unread replies and all */
        }
    }
    redisFree(c);
    return NULL;
}

static int check_threads(int threads, long commands)
{
    int errors = 0, started = 0;
    struct worker *wk = calloc((size_t)threads, sizeof(*wk));
    if (wk == NULL)
        return 1;
    commands -= commands % 4;
    for (; started < threads; started++) {
        wk[started].id = started;
        wk[started].commands = commands;
        if (pthread_create(&wk[started].thread, NULL, worker_main, &wk[started]) != 0) {
            fprintf(stderr, "hiredis_client: cannot start thread %d\n", started);
            errors++;
            break;
        }
    }
    for (int i = 0; i < started; i++) {
        pthread_join(wk[i].thread, NULL);
        errors += wk[i].errors;
    }
    free(wk);
    if (errors == 0) {
        redisContext *c = connect_server();
        if (c == NULL)
            return 1;
        long long want = (long long)threads * (commands / 4);
        redisReply *r = command(c, "threads", "GET hc%u:shared", g_run);
        char buf[32];
        snprintf(buf, sizeof buf, "%lld", want);
        if (r == NULL || expect_bulk(r, buf, strlen(buf), "shared counter total", 0) != 0)
            errors++;
        freeReplyObject(r);
        redisFree(c);
    }
    printf("hiredis_client: %d threads x %ld commands: %s\n", threads, commands,
           errors ? "FAILED" : "ok");
    return errors != 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s HOST PORT [threads] [commands-per-thread]\n", argv[0]);
        return 2;
    }
    g_host = argv[1];
    g_port = atoi(argv[2]);
    int threads = argc > 3 ? atoi(argv[3]) : 8;
    long commands = argc > 4 ? atol(argv[4]) : 4000;
    if (g_port <= 0 || threads <= 0 || commands < 4) {
        fprintf(stderr, "%s: bad port, thread count or command count\n", argv[0]);
        return 2;
    }
    g_run = (unsigned)getpid();

    redisContext *probe = connect_server();
    if (probe == NULL)
        return 2;
    redisFree(probe);

    int failed = check_pipeline();
    failed += check_big_value();
    failed += check_threads(threads, commands);
    printf("hiredis_client: %d passed, %d failed\n", 3 - failed, failed);
    return failed ? 1 : 0;
}
