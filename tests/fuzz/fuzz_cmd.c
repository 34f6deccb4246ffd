/* fuzz_cmd: every stewardd command's argument parsing and semantics.
 *
 * Input: a RESP request stream (multibulk or inline, as a client would
 * send it). Each request runs, in this thread, against a one-shard server
 * held in memory (with a memory-only Ledger): the command table lookup and
 * arity check as the dispatcher does them, then the command itself as a
 * world operation (it may touch every shard); after MULTI, each command is
 * queued as the dispatcher queues it (multi_queue: checked, +QUEUED or the
 * error that flags the transaction), and EXEC runs the queue. Checks after
 * every command:
 *  - it wrote exactly one complete reply (no more, no less, no torn item);
 *  - the shard's per-database key counts add up to its table's count.
 * The keyspace is emptied, and MULTI and WATCH ended, before each input,
 * so inputs replay alike.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/cmd.h"
#include "server/loop_int.h"

static struct srv g_srv;
static struct conn *g_conn;

static void setup(void)
{
    g_srv.n = 1;
    g_srv.lfd = -1;
    g_srv.cfg = (struct srv_config){.port = 6380,
                                    .bind = "127.0.0.1",
                                    .maxclients = 100,
                                    .obuf_limit = (size_t)1 << 30,
                                    .max_bulk = 1 << 20,
                                    .max_query = 1 << 22,
                                    .hz = 10};
    pthread_mutex_init(&g_srv.world, NULL);
    g_srv.shards = calloc(1, sizeof *g_srv.shards);
    struct srv_shard *sh = &g_srv.shards[0];
    sh->srv = &g_srv;
    sh->efd = sh->epfd = -1;
    char err[128];
    if (sw__shard_open(&sh->core, 0, NULL, "kv", SW_FSYNC_NO, err, sizeof err) != SW_OK)
        abort();
    kv_attach(sh);
    srv_shard_bind(sh);
    if (sw_ledger_open(&g_srv.ledger, NULL) != SW_OK)
        abort();
    g_conn = calloc(1, sizeof *g_conn);
    g_conn->sh = sh;
    g_conn->fd = -1;
    sw__resp_parser_init(&g_conn->parser, NULL);
}

/* Skips one RESP item at p; returns its end, or NULL if it is not whole. */
static const char *skip_item(const char *p, const char *end, int depth)
{
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl || nl == p || nl[-1] != '\r' || depth > 64)
        return NULL;
    /* The length on the line, read within the line: strtoll would skip a
     * "\r\n" as white space and read past the reply. */
    long long n = 0;
    bool neg = p + 1 < nl && p[1] == '-';
    for (const char *q = p + 1 + neg; q < nl - 1 && *q >= '0' && *q <= '9' && n < (1LL << 40); q++)
        n = n * 10 + (*q - '0');
    if (neg)
        n = -n;
    switch (p[0]) {
    case '+':
    case '-':
    case ':':
    case '_':
    case ',':
    case '#':
    case '(':
        return nl + 1;
    case '$':
    case '=':
    case '!':
        if (n < 0)
            return nl + 1;
        return end - (nl + 1) >= n + 2 ? nl + 1 + n + 2 : NULL;
    case '*':
    case '~':
    case '>':
    case '%': {
        if (n < 0)
            return nl + 1;
        long long items = p[0] == '%' ? 2 * n : n;
        const char *q = nl + 1;
        for (long long i = 0; q && i < items; i++)
            q = skip_item(q, end, depth + 1);
        return q;
    }
    default:
        return NULL;
    }
}

static void check_one_reply(const sw__resp_buf *out, const sw__resp_cmd *cmd)
{
    const char *p = sw__resp_buf_data(out), *end = p + sw__resp_buf_len(out);
    const char *q = out->status == SW_OK ? skip_item(p, end, 0) : end;
    if (q != end) {
        fprintf(stderr, "fuzz_cmd: '%.*s' wrote %s reply: %.*s\n", (int)cmd->argv[0].len,
                cmd->argv[0].ptr, q ? "more than one" : "no complete",
                (int)(end - p > 200 ? 200 : end - p), p);
        abort();
    }
}

static void check_counts(void)
{
    struct srv_shard *sh = &g_srv.shards[0];
    size_t sum = 0;
    for (int db = 0; db < SRV_DBS; db++)
        sum += sh->keys[db];
    if (sum != sw__shard_count(sh->core)) {
        fprintf(stderr, "fuzz_cmd: key counts say %zu, the shard holds %zu\n", sum,
                sw__shard_count(sh->core));
        abort();
    }
}

/* The length of the string at argument i of x, 0 when there is none. */
static size_t value_len(struct exec *x, size_t i)
{
    struct kkey k;
    const void *v;
    size_t n = 0;
    int64_t e;
    if (kkey_init(x, &k, i) != SW_OK)
        return 0;
    if (kv_get(&k, &v, &n, &e) != SW_OK)
        n = 0;
    kkey_free(&k);
    return n;
}

/* LCS is quadratic by definition (as in Redis): two 32 KiB values are a
 * billion table cells, seconds of instrumented work, which the fuzzer
 * reports as a hang. Its parsing and replies are what is under test, and
 * small values reach every branch of them. */
#define LCS_MAX_CELLS ((size_t)1 << 20)

static bool too_slow(struct exec *x)
{
    if (!arg_is(&x->argv[0], "lcs") || x->argc < 3) /* (LCS's arity error: quick) */
        return false;
    size_t a = value_len(x, 1), b = value_len(x, 2);
    return b != 0 && a > LCS_MAX_CELLS / b;
}

static void run(const sw__resp_cmd *cmd)
{
    sw__resp_buf out;
    sw__resp_buf_init(&out, g_conn->proto);
    const struct cmd_def *d = cmd_lookup(cmd->argv[0].ptr, cmd->argv[0].len);
    struct exec x = {.srv = &g_srv,
                     .self = &g_srv.shards[0],
                     .c = g_conn,
                     .world = true,
                     .db = g_conn->db,
                     .argc = cmd->argc,
                     .argv = cmd->argv,
                     .out = &out};
    bool queued = g_conn->in_multi && !(d && (d->flags & CMD_TXCTL));
    if (arg_is(&cmd->argv[0], "shutdown") ||
        arg_is(&cmd->argv[0], "config") || /* no limits raised past what a run can hold */
        too_slow(&x) || (queued && arg_is(&cmd->argv[0], "lcs"))) { /* its values unknown yet */
        sw__resp_add_error(&out, "ERR not run");
    } else if (queued) {
        multi_queue(g_conn, cmd, d, NULL); /* its reply is the connection's output */
        sw__resp_add_raw(&out, sw__resp_buf_data(&g_conn->out), sw__resp_buf_len(&g_conn->out));
        sw__resp_buf_consume(&g_conn->out, sw__resp_buf_len(&g_conn->out));
    } else if (!d || !cmd_arity_ok(d, cmd->argc)) {
        sw__resp_add_error(&out, "ERR not run");
    } else {
        d->fn(&x);
    }
    check_one_reply(&out, cmd);
    check_counts();
    sw__resp_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_conn)
        setup();
    kv_flush(&g_srv.shards[0], -1);
    multi_conn_closed(g_conn);
    g_conn->db = 0;
    g_conn->proto = 2;
    g_conn->authed = true;
    g_conn->life = CONN_OPEN; /* QUIT in the last input closes it */
    sw__resp_parser_reset(&g_conn->parser);
    const char *p = (const char *)data;
    size_t left = size;
    for (int n = 0; n < 64 && left > 0; n++) {
        sw__resp_cmd cmd;
        size_t used = 0;
        if (sw__resp_parse(&g_conn->parser, p, left, &used, &cmd) != SW_OK)
            break;
        p += used;
        left -= used;
        run(&cmd);
    }
    return 0;
}
