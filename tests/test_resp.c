/* Unit tests of src/server/resp: the RESP request parser (multibulk and
 * inline, empty requests, binary arguments, pipelines of 10,000 commands, a
 * 5 MiB bulk in small pieces, Redis's inline quoting, every limit and error
 * with Redis's exact text, the same result for every split of a stream, a
 * random-stream split fuzzer, which bytes are copied and which are not,
 * failed allocations) and the reply encoder, byte for byte in RESP2 and
 * RESP3. The random splits and limits come from the seed (STEWARD_SEED
 * replays a run; see support.h). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "server/resp.h"
#include "support.h"

/* ---- helpers ------------------------------------------------------------- */

/* The random workloads' generator: each test starts it at seed_stream of
 * a number of its own, so one test's numbers do not depend on which tests
 * ran before it. */
static uint64_t rng_state;

static uint64_t rng(void)
{
    return rng_next(&rng_state);
}

/* A growable byte string, for building streams. */
typedef struct sb {
    char *p;
    size_t n, cap;
} sb;

static void sb_put(sb *s, const void *p, size_t n)
{
    if (s->n + n + 1 > s->cap) {
        s->cap = (s->n + n + 1) * 2;
        s->p = realloc(s->p, s->cap);
        assert_non_null(s->p);
    }
    if (n)
        memcpy(s->p + s->n, p, n);
    s->n += n;
    s->p[s->n] = '\0';
}

static void sb_str(sb *s, const char *z)
{
    sb_put(s, z, strlen(z));
}

static void sb_fmt(sb *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_fmt(sb *s, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < sizeof tmp);
    sb_put(s, tmp, (size_t)n);
}

static void sb_bulk(sb *s, const void *p, size_t n)
{
    sb_fmt(s, "$%zu\r\n", n);
    sb_put(s, p, n);
    sb_put(s, "\r\n", 2);
}

/* A multibulk request of C strings. */
static void sb_cmd(sb *s, size_t argc, ...)
{
    va_list ap;
    va_start(ap, argc);
    sb_fmt(s, "*%zu\r\n", argc);
    for (size_t i = 0; i < argc; i++) {
        const char *a = va_arg(ap, const char *);
        sb_bulk(s, a, strlen(a));
    }
    va_end(ap);
}

static void sb_free(sb *s)
{
    free(s->p);
    memset(s, 0, sizeof *s);
}

/* A parsed command, deep-copied. */
struct pcmd {
    size_t argc;
    char **argv;
    size_t *lens;
    bool is_inline;
};

/* What a parser made of a stream: its commands, then how it ended. */
struct run {
    struct pcmd *cmds;
    size_t n, cap;
    int status; /* of the last call: SW_EAGAIN, or the error */
    int perr;
    char err[128];
    size_t buffered; /* held at the end, when status is SW_EAGAIN */
};

static void run_add(struct run *r, const sw__resp_cmd *c)
{
    assert_true(c->argc >= 1);
    assert_non_null(c->argv);
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 16;
        r->cmds = realloc(r->cmds, r->cap * sizeof *r->cmds);
        assert_non_null(r->cmds);
    }
    struct pcmd *x = &r->cmds[r->n++];
    x->argc = c->argc;
    x->is_inline = c->is_inline;
    x->argv = malloc(c->argc * sizeof *x->argv);
    x->lens = malloc(c->argc * sizeof *x->lens);
    assert_non_null(x->argv);
    assert_non_null(x->lens);
    for (size_t i = 0; i < c->argc; i++) {
        assert_non_null(c->argv[i].ptr);
        x->lens[i] = c->argv[i].len;
        x->argv[i] = malloc(c->argv[i].len + 1);
        assert_non_null(x->argv[i]);
        memcpy(x->argv[i], c->argv[i].ptr, c->argv[i].len);
        x->argv[i][c->argv[i].len] = '\0';
    }
}

static void run_free(struct run *r)
{
    for (size_t i = 0; i < r->n; i++) {
        for (size_t k = 0; k < r->cmds[i].argc; k++)
            free(r->cmds[i].argv[k]);
        free(r->cmds[i].argv);
        free(r->cmds[i].lens);
    }
    free(r->cmds);
    memset(r, 0, sizeof *r);
}

static void run_equal(const struct run *a, const struct run *b)
{
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        const struct pcmd *x = &a->cmds[i], *y = &b->cmds[i];
        assert_int_equal(x->argc, y->argc);
        assert_int_equal(x->is_inline, y->is_inline);
        for (size_t k = 0; k < x->argc; k++) {
            assert_int_equal(x->lens[k], y->lens[k]);
            assert_memory_equal(x->argv[k], y->argv[k], x->lens[k] + 1);
        }
    }
    assert_int_equal(a->status, b->status);
    assert_int_equal(a->perr, b->perr);
    assert_string_equal(a->err, b->err);
    assert_int_equal(a->buffered, b->buffered);
}

/* How a stream is cut: the size of the next chunk, given what is left. */
typedef size_t (*chunker)(size_t off, size_t left, void *ctx);

static size_t chunk_whole(size_t off, size_t left, void *ctx)
{
    (void)off;
    (void)ctx;
    return left;
}

static size_t chunk_fixed(size_t off, size_t left, void *ctx)
{
    (void)off;
    size_t n = *(size_t *)ctx;
    return n < left ? n : left;
}

/* ctx: a list of cut offsets, ascending, ended by SIZE_MAX. */
static size_t chunk_at(size_t off, size_t left, void *ctx)
{
    for (const size_t *c = ctx; *c != SIZE_MAX; c++) {
        if (*c > off && *c - off < left)
            return *c - off;
    }
    return left;
}

/* ctx: the largest chunk; sizes are uniform in [1, max]. */
static size_t chunk_random(size_t off, size_t left, void *ctx)
{
    (void)off;
    size_t n = 1 + (size_t)(rng() % *(size_t *)ctx);
    return n < left ? n : left;
}

/* Feeds s to a new parser in the chunks `next` makes. Each chunk is a
 * separate allocation of its exact size, freed once parsed, so that ASan
 * catches a command that points into an earlier chunk or past a chunk. */
static void run_stream(const sw__resp_limits *lim, bool auth, const char *s, size_t len,
                       chunker next, void *ctx, struct run *r)
{
    sw__resp_parser p;
    assert_int_equal(sw__resp_parser_init(&p, lim), SW_OK);
    sw__resp_parser_set_auth_required(&p, auth);
    memset(r, 0, sizeof *r);
    r->status = SW_EAGAIN;
    size_t off = 0;
    do {
        size_t n = len - off ? next(off, len - off, ctx) : 0;
        assert_true(n <= len - off && (n > 0 || len == off));
        char *chunk = n ? malloc(n) : NULL;
        assert_true(chunk || n == 0);
        if (n)
            memcpy(chunk, s + off, n);
        size_t at = 0;
        for (;;) {
            size_t used = SIZE_MAX;
            sw__resp_cmd cmd;
            int st = sw__resp_parse(&p, chunk ? chunk + at : NULL, n - at, &used, &cmd);
            assert_true(used <= n - at);
            at += used;
            if (st == SW_OK) {
                run_add(r, &cmd);
                continue;
            }
            r->status = st;
            if (st == SW_EAGAIN) {
                assert_int_equal(at, n);
                assert_int_equal(sw__resp_parser_errcode(&p), SW__RESP_PERR_NONE);
                assert_null(sw__resp_parser_errstr(&p));
                break;
            }
            assert_true(st == SW_EIO || st == SW_ENOMEM);
            r->perr = sw__resp_parser_errcode(&p);
            assert_int_not_equal(r->perr, SW__RESP_PERR_NONE);
            const char *e = sw__resp_parser_errstr(&p);
            assert_non_null(e);
            assert_true(strlen(e) < sizeof r->err);
            strcpy(r->err, e);
            /* Sticky: the next call says the same, whatever it is given. */
            assert_int_equal(sw__resp_parse(&p, "PING\r\n", 6, &used, &cmd), st);
            assert_int_equal(used, 6);
            assert_string_equal(sw__resp_parser_errstr(&p), r->err);
            break;
        }
        free(chunk);
        off += n;
    } while (off < len && r->status == SW_EAGAIN);
    if (r->status == SW_EAGAIN)
        r->buffered = sw__resp_parser_buffered(&p);
    sw__resp_parser_destroy(&p);
}

/* Checks that every way of cutting s gives ref: every single cut, every
 * pair of cuts for short streams, byte by byte, and random chunks. */
static void check_splits(const sw__resp_limits *lim, bool auth, const char *s, size_t len,
                         const struct run *ref)
{
    struct run r;
    size_t one = 1;
    run_stream(lim, auth, s, len, chunk_fixed, &one, &r);
    run_equal(&r, ref);
    run_free(&r);
    size_t step = len > 3000 ? len / 1500 : 1;
    for (size_t k = 1; k < len; k += step) {
        size_t cuts[] = {k, SIZE_MAX};
        run_stream(lim, auth, s, len, chunk_at, cuts, &r);
        run_equal(&r, ref);
        run_free(&r);
    }
    if (len <= 120) {
        for (size_t i = 1; i < len; i++) {
            for (size_t j = i + 1; j < len; j++) {
                size_t cuts[] = {i, j, SIZE_MAX};
                run_stream(lim, auth, s, len, chunk_at, cuts, &r);
                run_equal(&r, ref);
                run_free(&r);
            }
        }
    }
    for (int round = 0; round < 20; round++) {
        size_t max = 1 + (size_t)(rng() % (round < 10 ? 8 : 64));
        run_stream(lim, auth, s, len, chunk_random, &max, &r);
        run_equal(&r, ref);
        run_free(&r);
    }
}

/* The whole stream in one call, then check_splits against that. */
static void parse_all(const sw__resp_limits *lim, bool auth, const char *s, size_t len,
                      struct run *r)
{
    run_stream(lim, auth, s, len, chunk_whole, NULL, r);
    check_splits(lim, auth, s, len, r);
}

#define A(lit) (lit), (sizeof(lit) - 1)

/* Checks command c: inline or not, then argc (pointer, length) pairs. */
static void expect_cmd(const struct pcmd *c, bool is_inline, size_t argc, ...)
{
    assert_int_equal(c->is_inline, is_inline);
    assert_int_equal(c->argc, argc);
    va_list ap;
    va_start(ap, argc);
    for (size_t i = 0; i < argc; i++) {
        const char *p = va_arg(ap, const char *);
        size_t n = va_arg(ap, size_t);
        assert_int_equal(c->lens[i], n);
        assert_memory_equal(c->argv[i], p, n);
    }
    va_end(ap);
}

/* The error a stream ends in, with the commands before it. */
static void expect_error(const sw__resp_limits *lim, bool auth, const char *s, size_t len,
                         size_t ncmds, int perr, const char *text)
{
    struct run r;
    parse_all(lim, auth, s, len, &r);
    assert_int_equal(r.n, ncmds);
    assert_int_equal(r.status, perr == SW__RESP_PERR_NOMEM ? SW_ENOMEM : SW_EIO);
    assert_int_equal(r.perr, perr);
    assert_string_equal(r.err, text);
    run_free(&r);
}

/* The stream parses without error, leaving the request pending or not. */
static void expect_pending(const sw__resp_limits *lim, bool auth, const char *s, size_t len,
                           size_t ncmds)
{
    struct run r;
    parse_all(lim, auth, s, len, &r);
    assert_int_equal(r.status, SW_EAGAIN);
    assert_int_equal(r.n, ncmds);
    run_free(&r);
}

static bool inside(const void *p, size_t n, const void *buf, size_t len)
{
    const char *c = p, *b = buf;
    return c >= b && c + n <= b + len;
}

/* ---- parser: requests ---------------------------------------------------- */

static void test_multibulk(void **state)
{
    (void)state;
    static const char s[] = "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n";
    struct run r;
    parse_all(NULL, false, s, sizeof s - 1, &r);
    assert_int_equal(r.n, 1);
    expect_cmd(&r.cmds[0], false, 3, A("SET"), A("key"), A("value"));
    assert_int_equal(r.status, SW_EAGAIN);
    assert_int_equal(r.buffered, 0);
    run_free(&r);

    /* One call, one command: *used stops right after it. */
    sw__resp_parser p;
    assert_int_equal(sw__resp_parser_init(&p, NULL), SW_OK);
    static const char two[] = "*1\r\n$4\r\nPING\r\nPING\r\n";
    size_t used;
    sw__resp_cmd cmd;
    assert_int_equal(sw__resp_parse(&p, two, sizeof two - 1, &used, &cmd), SW_OK);
    assert_int_equal(used, 14);
    assert_false(cmd.is_inline);
    assert_int_equal(sw__resp_parse(&p, two + 14, sizeof two - 1 - 14, &used, &cmd), SW_OK);
    assert_int_equal(used, 6);
    assert_true(cmd.is_inline);
    assert_int_equal(cmd.argc, 1);
    assert_memory_equal(cmd.argv[0].ptr, "PING", 4);
    assert_int_equal(sw__resp_parse(&p, NULL, 0, &used, &cmd), SW_EAGAIN);
    assert_int_equal(used, 0);
    sw__resp_parser_destroy(&p);
}

static void test_inline(void **state)
{
    (void)state;
    static const char s[] = "PING\r\nSET a b\nGET  a\t \r\nECHO x\r\r\n";
    struct run r;
    parse_all(NULL, false, s, sizeof s - 1, &r);
    assert_int_equal(r.n, 4);
    expect_cmd(&r.cmds[0], true, 1, A("PING"));
    expect_cmd(&r.cmds[1], true, 3, A("SET"), A("a"), A("b"));
    expect_cmd(&r.cmds[2], true, 2, A("GET"), A("a"));
    expect_cmd(&r.cmds[3], true, 2, A("ECHO"), A("x"));
    run_free(&r);
}

static void test_empty_requests(void **state)
{
    (void)state;
    /* *0, *-1, any negative count, blank lines: all skipped, as Redis does. */
    static const char s[] = "*0\r\n*-1\r\n*-10\r\n\r\n\n   \t\r\n\v\f\r\n"
                            "*1\r\n$4\r\nPING\r\n*0\r\n\n";
    struct run r;
    parse_all(NULL, false, s, sizeof s - 1, &r);
    assert_int_equal(r.n, 1);
    expect_cmd(&r.cmds[0], false, 1, A("PING"));
    assert_int_equal(r.buffered, 0);
    run_free(&r);
    /* Only empty requests: no command at all. */
    parse_all(NULL, false, "*0\r\n\r\n*-1\r\n", 11, &r);
    assert_int_equal(r.n, 0);
    assert_int_equal(r.status, SW_EAGAIN);
    run_free(&r);
}

static void test_binary_args(void **state)
{
    (void)state;
    static const char bin[] = "a\0b\r\nc\r\n$3\r\n*1\r\n\0";
    sb s = {0};
    sb_str(&s, "*4\r\n");
    sb_bulk(&s, "SET", 3);
    sb_bulk(&s, bin, sizeof bin - 1);
    sb_bulk(&s, "", 0);
    sb_bulk(&s, "\r\n", 2);
    sb_cmd(&s, 1, "PING");
    struct run r;
    parse_all(NULL, false, s.p, s.n, &r);
    assert_int_equal(r.n, 2);
    expect_cmd(&r.cmds[0], false, 4, A("SET"), bin, sizeof bin - 1, A(""), A("\r\n"));
    expect_cmd(&r.cmds[1], false, 1, A("PING"));
    run_free(&r);
    sb_free(&s);
}

/* The stream of the split tests: every kind of request, pipelined. */
static void standard_stream(sb *s)
{
    static const char bin[] = "x\0y\r\n*2\r\n$1\r\nz";
    sb_cmd(s, 3, "SET", "key", "value");
    sb_str(s, "PING\r\n");
    sb_str(s, "SET a b\n");
    sb_str(s, "*0\r\n*-1\r\n\r\n   \t\r\n");
    sb_str(s, "*3\r\n");
    sb_bulk(s, "APPEND", 6);
    sb_bulk(s, bin, sizeof bin - 1);
    sb_bulk(s, "", 0);
    sb_str(s, "ECHO \"hello\\x41\\n\" 'it\\'s' plain\r\n");
    sb_cmd(s, 1, "PING");
    sb_str(s, "*-10\r\n");
    sb_cmd(s, 2, "GET", "a longer key, so that splits fall inside it");
    sb_str(s, "*1\r\n$4\r\nQUIT\r\n");
}

static void test_pipeline_splits(void **state)
{
    (void)state;
    rng_state = seed_stream(11);
    sb s = {0};
    standard_stream(&s);
    struct run r;
    parse_all(NULL, false, s.p, s.n, &r);
    assert_int_equal(r.n, 8);
    expect_cmd(&r.cmds[0], false, 3, A("SET"), A("key"), A("value"));
    expect_cmd(&r.cmds[1], true, 1, A("PING"));
    expect_cmd(&r.cmds[2], true, 3, A("SET"), A("a"), A("b"));
    expect_cmd(&r.cmds[3], false, 3, A("APPEND"), A("x\0y\r\n*2\r\n$1\r\nz"), A(""));
    expect_cmd(&r.cmds[4], true, 4, A("ECHO"), A("helloA\n"), A("it's"), A("plain"));
    expect_cmd(&r.cmds[5], false, 1, A("PING"));
    expect_cmd(&r.cmds[6], false, 2, A("GET"), A("a longer key, so that splits fall inside it"));
    expect_cmd(&r.cmds[7], false, 1, A("QUIT"));
    assert_int_equal(r.status, SW_EAGAIN);
    assert_int_equal(r.buffered, 0);
    /* Every prefix: the commands complete within it, and nothing else. */
    for (size_t k = 0; k < s.n; k++) {
        struct run pre;
        run_stream(NULL, false, s.p, k, chunk_whole, NULL, &pre);
        assert_true(pre.n <= r.n);
        assert_int_equal(pre.status, SW_EAGAIN);
        run_free(&pre);
    }
    run_free(&r);
    sb_free(&s);
}

/* A request whole in one buffer is not copied; a spanning one is copied
 * only as far as it must be. */
static void test_zero_copy(void **state)
{
    (void)state;
    sw__resp_parser p;
    assert_int_equal(sw__resp_parser_init(&p, NULL), SW_OK);
    size_t used;
    sw__resp_cmd cmd;
    static const char whole[] = "*2\r\n$3\r\nGET\r\n$5\r\nhello\r\nSET k \"v w\"\r\n";
    assert_int_equal(sw__resp_parse(&p, whole, sizeof whole - 1, &used, &cmd), SW_OK);
    for (size_t i = 0; i < cmd.argc; i++)
        assert_true(inside(cmd.argv[i].ptr, cmd.argv[i].len, whole, used));
    assert_int_equal(p.arena_cap, 0);
    size_t at = used;
    assert_int_equal(sw__resp_parse(&p, whole + at, sizeof whole - 1 - at, &used, &cmd), SW_OK);
    assert_int_equal(cmd.argc, 3);
    assert_true(inside(cmd.argv[0].ptr, 3, whole + at, used));
    assert_true(inside(cmd.argv[1].ptr, 1, whole + at, used));
    assert_false(inside(cmd.argv[2].ptr, 3, whole, sizeof whole)); /* quoted: decoded */
    assert_memory_equal(cmd.argv[2].ptr, "v w", 3);

    /* Cut inside the second header: the first argument is held, the second,
     * all in the last buffer, points there. */
    char a[] = "*2\r\n$3\r\nGET\r\n$", b[] = "5\r\nhello\r\n";
    assert_int_equal(sw__resp_parse(&p, a, sizeof a - 1, &used, &cmd), SW_EAGAIN);
    assert_int_equal(used, sizeof a - 1);
    assert_int_equal(sw__resp_parser_buffered(&p), 4); /* "GET" and "$" */
    memset(a, '#', sizeof a - 1);                      /* the caller reuses its buffer */
    assert_int_equal(sw__resp_parse(&p, b, sizeof b - 1, &used, &cmd), SW_OK);
    assert_int_equal(cmd.argc, 2);
    assert_memory_equal(cmd.argv[0].ptr, "GET", 3);
    assert_false(inside(cmd.argv[0].ptr, 3, a, sizeof a));
    assert_true(inside(cmd.argv[1].ptr, 5, b, sizeof b));
    assert_memory_equal(cmd.argv[1].ptr, "hello", 5);

    /* Cut inside a payload: its bytes are gathered, then returned whole. */
    char c[] = "*1\r\n$5\r\nhel", d[] = "lo\r\n";
    assert_int_equal(sw__resp_parse(&p, c, sizeof c - 1, &used, &cmd), SW_EAGAIN);
    memset(c, '#', sizeof c - 1);
    assert_int_equal(sw__resp_parse(&p, d, sizeof d - 1, &used, &cmd), SW_OK);
    assert_int_equal(cmd.argc, 1);
    assert_int_equal(cmd.argv[0].len, 5);
    assert_memory_equal(cmd.argv[0].ptr, "hello", 5);
    assert_int_equal(sw__resp_parse(&p, NULL, 0, &used, &cmd), SW_EAGAIN);
    assert_int_equal(sw__resp_parser_buffered(&p), 0);
    sw__resp_parser_destroy(&p);
}

/* Redis skips the byte after a header's '\r' and the two after a payload
 * without looking at them; so does the parser. */
static void test_lenient_terminators(void **state)
{
    (void)state;
    static const char s[] = "*1\rX$4\r\nPINGxy*2\r\n$4\r ECHO\n\n$1\r\nz??";
    struct run r;
    parse_all(NULL, false, s, sizeof s - 1, &r);
    assert_int_equal(r.n, 2);
    expect_cmd(&r.cmds[0], false, 1, A("PING"));
    expect_cmd(&r.cmds[1], false, 2, A("ECHO"), A("z"));
    run_free(&r);
}

struct quote_case {
    const char *line; /* without its "\r\n" */
    size_t argc;
    const char *args[4];
    size_t lens[4];
};

static void test_inline_quoting(void **state)
{
    (void)state;
    rng_state = seed_stream(5);
    static const struct quote_case cases[] = {
        {"SET a b", 3, {"SET", "a", "b"}, {3, 1, 1}},
        {"  SET \t a   b  ", 3, {"SET", "a", "b"}, {3, 1, 1}},
        {"ECHO \"a b\"", 2, {"ECHO", "a b"}, {4, 3}},
        {"ECHO \"\\n\\r\\t\\b\\a\\\\\\\"\"", 2, {"ECHO", "\n\r\t\b\a\\\""}, {4, 7}},
        {"ECHO \"\\x41\\x4a\\x4A\\xzz\\x4\"", 2, {"ECHO", "AJJxzzx4"}, {4, 8}},
        {"ECHO \"\\q\\x00\"", 2, {"ECHO", "q\0"}, {4, 2}},
        {"ECHO 'it\\'s'", 2, {"ECHO", "it's"}, {4, 4}},
        {"ECHO 'a\\nb'", 2, {"ECHO", "a\\nb"}, {4, 4}},
        {"ECHO 'a\"b' \"a'b\"", 3, {"ECHO", "a\"b", "a'b"}, {4, 3, 3}},
        {"ECHO \"\" ''", 3, {"ECHO", "", ""}, {4, 0, 0}},
        {"foo\"bar baz\" x", 2, {"foobar baz", "x"}, {10, 1}},
        {"foo'bar'", 1, {"foobar"}, {6}},
        {"\"a\"\vb", 2, {"a", "b"}, {1, 1}},
        {"a\vb", 1, {"a\vb"}, {3}},
        {"\va", 1, {"a"}, {1}},
        {"a\rb", 2, {"a", "b"}, {1, 1}},
        {"PING\r", 1, {"PING"}, {4}},
        {"\"\"", 1, {""}, {0}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct quote_case *c = &cases[i];
        sb s = {0};
        sb_str(&s, c->line);
        sb_str(&s, "\r\n");
        struct run r;
        parse_all(NULL, false, s.p, s.n, &r);
        assert_int_equal(r.status, SW_EAGAIN);
        assert_int_equal(r.n, 1);
        assert_int_equal(r.cmds[0].argc, c->argc);
        for (size_t k = 0; k < c->argc; k++) {
            assert_int_equal(r.cmds[0].lens[k], c->lens[k]);
            assert_memory_equal(r.cmds[0].argv[k], c->args[k], c->lens[k]);
        }
        run_free(&r);
        sb_free(&s);
    }
    /* NUL is an ordinary byte of an inline request here. */
    static const char nul[] = "ECHO a\0b \"c\0d\"\r\n";
    struct run r;
    parse_all(NULL, false, nul, sizeof nul - 1, &r);
    assert_int_equal(r.n, 1);
    expect_cmd(&r.cmds[0], true, 3, A("ECHO"), A("a\0b"), A("c\0d"));
    run_free(&r);
}

/* ---- parser: errors ------------------------------------------------------ */

struct err_case {
    const char *s;
    size_t len; /* 0: strlen(s) */
    size_t ncmds;
    int perr;
    const char *text;
};

static void test_errors(void **state)
{
    (void)state;
    rng_state = seed_stream(7);
    static const char *const mb = "Protocol error: invalid multibulk length";
    static const char *const bl = "Protocol error: invalid bulk length";
    static const char *const uq = "Protocol error: unbalanced quotes in request";
    enum { MB = SW__RESP_PERR_MULTIBULK_LEN, BL = SW__RESP_PERR_BULK_LEN };
    enum { DL = SW__RESP_PERR_EXPECTED_DOLLAR, UQ = SW__RESP_PERR_UNBALANCED };
    static const struct err_case cases[] = {
        {"*20000000\r\n", 0, 0, MB, mb},
        {"*3000000000\r\n", 0, 0, MB, mb},
        {"*1048577\r\n", 0, 0, MB, mb},
        {"*abc\r\n", 0, 0, MB, mb},
        {"*-0\r\n", 0, 0, MB, mb},
        {"*01\r\n", 0, 0, MB, mb},
        {"*+1\r\n", 0, 0, MB, mb},
        {"*\r\n", 0, 0, MB, mb},
        {"* 1\r\n", 0, 0, MB, mb},
        {"*1 \r\n", 0, 0, MB, mb},
        {"*1\0\r\n", 5, 0, MB, mb},
        {"*99999999999999999999\r\n", 0, 0, MB, mb},
        {"*-9223372036854775809\r\n", 0, 0, MB, mb},
        {"*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n", 0, 0, DL,
         "Protocol error: expected '$', got 'f'"},
        {"*1\r\n\r\n", 0, 0, DL, "Protocol error: expected '$', got ' '"},
        {"*1\r\n\n\r\n", 0, 0, DL, "Protocol error: expected '$', got ' '"},
        {"*1\r\n\0\r\n", 7, 0, DL, "Protocol error: expected '$', got ' '"},
        {"*1\r\n\xff\r\n", 0, 0, DL, "Protocol error: expected '$', got '\xff'"},
        {"*1\r\n:1\r\n", 0, 0, DL, "Protocol error: expected '$', got ':'"},
        {"*1\r\n$-1\r\n", 0, 0, BL, bl},
        {"*1\r\n$abc\r\n", 0, 0, BL, bl},
        {"*1\r\n$\r\n", 0, 0, BL, bl},
        {"*1\r\n$01\r\n", 0, 0, BL, bl},
        {"*1\r\n$+1\r\n", 0, 0, BL, bl},
        {"*1\r\n$536870913\r\n", 0, 0, BL, bl},
        {"*1\r\n$99999999999999999999\r\n", 0, 0, BL, bl},
        {"SET \"a b\r\n", 0, 0, UQ, uq},
        {"SET 'a b\r\n", 0, 0, UQ, uq},
        {"SET \"a\"b\r\n", 0, 0, UQ, uq},
        {"SET 'a'b\r\n", 0, 0, UQ, uq},
        {"SET \"a\\\"\r\n", 0, 0, UQ, uq},
        {"SET 'a\\'\r\n", 0, 0, UQ, uq},
        {"SET \"a\\\r\n", 0, 0, UQ, uq},
        {"SET \"a\"\"b\"\r\n", 0, 0, UQ, uq},
        /* Earlier commands come out first. */
        {"PING\r\n*1\r\n$4\r\nPING\r\n*x\r\n*1\r\n$4\r\nPING\r\n", 0, 2, MB, mb},
        {"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nECHO \"x\r\n", 0, 1, UQ, uq},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct err_case *c = &cases[i];
        expect_error(NULL, false, c->s, c->len ? c->len : strlen(c->s), c->ncmds, c->perr, c->text);
    }
    /* Just within the limits: no error, the request waits for the rest. */
    expect_pending(NULL, false, "*1048576\r\n", 10, 0);
    expect_pending(NULL, false, "*1\r\n$536870912\r\n", 16, 0);
    expect_pending(NULL, false, "*2\r\n$0\r\n\r\n$0\r", 13, 0);
}

static void test_error_sticky_and_reset(void **state)
{
    (void)state;
    sw__resp_parser p;
    assert_int_equal(sw__resp_parser_init(&p, NULL), SW_OK);
    size_t used;
    sw__resp_cmd cmd;
    static const char bad[] = "*1\r\n$x\r\n*1\r\n$4\r\nPING\r\n";
    assert_int_equal(sw__resp_parse(&p, bad, sizeof bad - 1, &used, &cmd), SW_EIO);
    assert_int_equal(used, sizeof bad - 1);
    assert_int_equal(sw__resp_parser_errcode(&p), SW__RESP_PERR_BULK_LEN);
    assert_string_equal(sw__resp_parser_errstr(&p), "Protocol error: invalid bulk length");
    assert_int_equal(sw__resp_parse(&p, "PING\r\n", 6, &used, &cmd), SW_EIO);
    assert_int_equal(sw__resp_parse(&p, NULL, 0, &used, &cmd), SW_EIO);
    assert_int_equal(used, 0);
    /* The encoder makes the reply Redis sends. */
    sw__resp_buf b;
    sw__resp_buf_init(&b, 2);
    assert_int_equal(sw__resp_add_errorf(&b, "ERR %s", sw__resp_parser_errstr(&p)), SW_OK);
    static const char want[] = "-ERR Protocol error: invalid bulk length\r\n";
    assert_int_equal(sw__resp_buf_len(&b), sizeof want - 1);
    assert_memory_equal(sw__resp_buf_data(&b), want, sizeof want - 1);
    sw__resp_buf_free(&b);
    /* reset: a fresh stream. */
    sw__resp_parser_reset(&p);
    assert_int_equal(sw__resp_parser_errcode(&p), SW__RESP_PERR_NONE);
    assert_null(sw__resp_parser_errstr(&p));
    assert_int_equal(sw__resp_parse(&p, "PING\r\n", 6, &used, &cmd), SW_OK);
    assert_int_equal(cmd.argc, 1);
    /* reset also drops a half-read request. */
    assert_int_equal(sw__resp_parse(&p, "*2\r\n$3\r\nGET\r\n$1\r", 16, &used, &cmd), SW_EAGAIN);
    assert_true(sw__resp_parser_buffered(&p) > 0);
    sw__resp_parser_reset(&p);
    assert_int_equal(sw__resp_parser_buffered(&p), 0);
    assert_int_equal(sw__resp_parse(&p, "*1\r\n$4\r\nPING\r\n", 14, &used, &cmd), SW_OK);
    assert_memory_equal(cmd.argv[0].ptr, "PING", 4);
    sw__resp_parser_destroy(&p);
}

static void test_limits(void **state)
{
    (void)state;
    rng_state = seed_stream(3);
    sw__resp_parser p;
    assert_int_equal(sw__resp_parser_init(&p, NULL), SW_OK);
    assert_int_equal(p.lim.max_multibulk, 1024 * 1024);
    assert_int_equal(p.lim.max_bulk, (size_t)512 * 1024 * 1024);
    assert_int_equal(p.lim.max_query, (size_t)1024 * 1024 * 1024);
    assert_int_equal(p.lim.max_inline, 64 * 1024);
    sw__resp_limits half = {.max_bulk = 100};
    assert_int_equal(sw__resp_parser_set_limits(&p, &half), SW_OK);
    assert_int_equal(p.lim.max_bulk, 100);
    assert_int_equal(p.lim.max_multibulk, 1024 * 1024);
    sw__resp_parser_destroy(&p);

    /* proto-max-bulk-len, configured. */
    sb s = {0};
    char big[101];
    memset(big, 'v', sizeof big);
    sb_str(&s, "*2\r\n");
    sb_bulk(&s, "ECHO", 4);
    sb_bulk(&s, big, 100);
    sb_str(&s, "*2\r\n");
    sb_bulk(&s, "ECHO", 4);
    sb_bulk(&s, big, 101);
    expect_error(&half, false, s.p, s.n, 1, SW__RESP_PERR_BULK_LEN,
                 "Protocol error: invalid bulk length");
    sb_free(&s);

    /* max_multibulk, configured. */
    sw__resp_limits four = {.max_multibulk = 4};
    expect_pending(&four, false, "*4\r\n", 4, 0);
    expect_error(&four, false, "*5\r\n", 4, 0, SW__RESP_PERR_MULTIBULK_LEN,
                 "Protocol error: invalid multibulk length");

    /* Changed at run time: applies from the next header. */
    assert_int_equal(sw__resp_parser_init(&p, NULL), SW_OK);
    size_t used;
    sw__resp_cmd cmd;
    assert_int_equal(sw__resp_parse(&p, "*1\r\n$5\r\nhel", 11, &used, &cmd), SW_EAGAIN);
    sw__resp_limits tiny = {.max_bulk = 3};
    assert_int_equal(sw__resp_parser_set_limits(&p, &tiny), SW_OK);
    assert_int_equal(sw__resp_parse(&p, "lo\r\n*1\r\n$4\r\n", 12, &used, &cmd), SW_OK);
    assert_int_equal(cmd.argv[0].len, 5);
    assert_int_equal(sw__resp_parse(&p, "*1\r\n$4\r\n", 8, &used, &cmd), SW_EIO);
    assert_int_equal(sw__resp_parser_errcode(&p), SW__RESP_PERR_BULK_LEN);
    sw__resp_parser_destroy(&p);
}

/* Lines without their terminator: Redis's 64 KiB. */
static void test_big_lines(void **state)
{
    (void)state;
    rng_state = seed_stream(9);
    size_t max = 64 * 1024;
    sb s = {0};
    /* An inline request of exactly 64 KiB is fine; one byte more is not. */
    for (size_t i = 0; i < max; i++)
        sb_put(&s, "a", 1);
    sb_str(&s, "\n");
    struct run r;
    run_stream(NULL, false, s.p, s.n, chunk_whole, NULL, &r);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.cmds[0].lens[0], max);
    run_free(&r);
    size_t sz = 4096;
    run_stream(NULL, false, s.p, s.n, chunk_fixed, &sz, &r);
    assert_int_equal(r.n, 1);
    run_free(&r);
    s.n--;
    sb_str(&s, "a");
    expect_error(NULL, false, s.p, s.n, 0, SW__RESP_PERR_BIG_INLINE,
                 "Protocol error: too big inline request");
    sb_str(&s, "\n");
    expect_error(NULL, false, s.p, s.n, 0, SW__RESP_PERR_BIG_INLINE,
                 "Protocol error: too big inline request");
    sb_free(&s);

    /* The count line. */
    sb_str(&s, "*");
    for (size_t i = 0; i < max; i++)
        sb_put(&s, "1", 1);
    expect_error(NULL, false, s.p, s.n, 0, SW__RESP_PERR_BIG_MBULK_COUNT,
                 "Protocol error: too big mbulk count string");
    s.n--;
    sb_str(&s, "\r\n"); /* 64 KiB with its '\r': read, then refused as a number */
    expect_error(NULL, false, s.p, s.n, 0, SW__RESP_PERR_MULTIBULK_LEN,
                 "Protocol error: invalid multibulk length");
    sb_free(&s);

    /* A bulk's length line. */
    sb_str(&s, "PING\r\n*1\r\n$");
    for (size_t i = 0; i < max; i++)
        sb_put(&s, "1", 1);
    expect_error(NULL, false, s.p, s.n, 1, SW__RESP_PERR_BIG_BULK_COUNT,
                 "Protocol error: too big bulk count string");
    sb_free(&s);

    /* The configured maximum, with every split. */
    sw__resp_limits small = {.max_inline = 8};
    expect_pending(&small, false, "12345678", 8, 0);
    expect_error(&small, false, "123456789", 9, 0, SW__RESP_PERR_BIG_INLINE,
                 "Protocol error: too big inline request");
    expect_pending(&small, false, "1234567\r\n", 9, 1);
    expect_pending(&small, false, "*1\r\n$123456\r", 13, 0);
    expect_error(&small, false, "*1\r\n$12345678", 13, 0, SW__RESP_PERR_BIG_BULK_COUNT,
                 "Protocol error: too big bulk count string");
    expect_error(&small, false, "*00000000", 9, 0, SW__RESP_PERR_BIG_MBULK_COUNT,
                 "Protocol error: too big mbulk count string");
}

static void test_unauthenticated(void **state)
{
    (void)state;
    rng_state = seed_stream(13);
    expect_error(NULL, true, "*11\r\n", 5, 0, SW__RESP_PERR_UNAUTH_MULTIBULK,
                 "Protocol error: unauthenticated multibulk length");
    expect_error(NULL, true, "*10\r\n$16385\r\n", 13, 0, SW__RESP_PERR_UNAUTH_BULK,
                 "Protocol error: unauthenticated bulk length");
    /* The plain checks come first, as in Redis. */
    expect_error(NULL, true, "*20000000\r\n", 11, 0, SW__RESP_PERR_MULTIBULK_LEN,
                 "Protocol error: invalid multibulk length");
    expect_error(NULL, true, "*1\r\n$536870913\r\n", 16, 0, SW__RESP_PERR_BULK_LEN,
                 "Protocol error: invalid bulk length");
    expect_pending(NULL, true, "*10\r\n$16384\r\n", 13, 0);
    expect_pending(NULL, true, "*-5\r\n", 5, 0);
    /* Inline requests are not limited. */
    sb s = {0};
    sb_str(&s, "AUTH a b c d e f g h i j k l m n o p\r\n");
    struct run r;
    parse_all(NULL, true, s.p, s.n, &r);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.cmds[0].argc, 17);
    run_free(&r);
    sb_free(&s);
    /* Authenticated: the limits are gone. */
    sw__resp_parser p;
    assert_int_equal(sw__resp_parser_init(&p, NULL), SW_OK);
    sw__resp_parser_set_auth_required(&p, true);
    size_t used;
    sw__resp_cmd cmd;
    assert_int_equal(sw__resp_parse(&p, "*2\r\n$4\r\nAUTH\r\n$1\r\np\r\n", 21, &used, &cmd), SW_OK);
    sw__resp_parser_set_auth_required(&p, false);
    assert_int_equal(sw__resp_parse(&p, "*11\r\n$16385\r\n", 13, &used, &cmd), SW_EAGAIN);
    sw__resp_parser_destroy(&p);
}

static void test_query_limit(void **state)
{
    (void)state;
    rng_state = seed_stream(17);
    sw__resp_limits lim = {.max_query = 64};
    const char *text = "Closing client that reached max query buffer length";
    /* A request of exactly 64 bytes passes, twice in a row: the limit is per
     * request; 65 bytes do not. */
    sb s = {0};
    char v[64];
    memset(v, 'v', sizeof v);
    for (int i = 0; i < 2; i++) {
        sb_str(&s, "*2\r\n$4\r\nECHO\r\n$43\r\n");
        sb_put(&s, v, 43);
        sb_str(&s, "\r\n");
    }
    assert_int_equal(s.n, 128);
    struct run r;
    parse_all(&lim, false, s.p, s.n, &r);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.status, SW_EAGAIN);
    run_free(&r);
    sb_free(&s);
    sb_str(&s, "PING\r\n*2\r\n$4\r\nECHO\r\n$44\r\n");
    sb_put(&s, v, 44);
    sb_str(&s, "\r\n");
    expect_error(&lim, false, s.p, s.n, 1, SW__RESP_PERR_QUERY_LIMIT, text);
    sb_free(&s);
    /* An inline line longer than the request limit but not than 64 KiB. */
    sb_put(&s, v, 64);
    sb_str(&s, "\r\n");
    expect_error(&lim, false, s.p, s.n, 0, SW__RESP_PERR_QUERY_LIMIT, text);
    sb_free(&s);
    /* Empty requests count as requests of their own. */
    for (int i = 0; i < 40; i++)
        sb_str(&s, "*0\r\n");
    sb_cmd(&s, 1, "PING");
    expect_pending(&lim, false, s.p, s.n, 1);
    sb_free(&s);
}

/* ---- parser: volume ------------------------------------------------------ */

static void test_pipeline_10000(void **state)
{
    (void)state;
    rng_state = seed_stream(19);
    enum { N = 10000 };
    sb s = {0};
    char k[32], v[32];
    for (int i = 0; i < N; i++) {
        snprintf(k, sizeof k, "key:%d", i);
        snprintf(v, sizeof v, "value:%d", i);
        if (i % 5 == 4)
            sb_fmt(&s, "INCR %s\r\n", k);
        else
            sb_cmd(&s, 3, "SET", k, v);
    }
    sw__resp_parser p;
    assert_int_equal(sw__resp_parser_init(&p, NULL), SW_OK);
    size_t at = 0, used, n = 0;
    sw__resp_cmd cmd;
    while (sw__resp_parse(&p, s.p + at, s.n - at, &used, &cmd) == SW_OK) {
        snprintf(k, sizeof k, "key:%zu", n);
        snprintf(v, sizeof v, "value:%zu", n);
        assert_int_equal(cmd.is_inline, n % 5 == 4);
        assert_int_equal(cmd.argc, n % 5 == 4 ? 2 : 3);
        assert_int_equal(cmd.argv[1].len, strlen(k));
        assert_memory_equal(cmd.argv[1].ptr, k, strlen(k));
        if (n % 5 != 4)
            assert_memory_equal(cmd.argv[2].ptr, v, strlen(v));
        for (size_t i = 0; i < cmd.argc; i++)
            assert_true(inside(cmd.argv[i].ptr, cmd.argv[i].len, s.p + at, used));
        at += used;
        n++;
    }
    assert_int_equal(n, N);
    assert_int_equal(at, s.n);
    assert_int_equal(p.arena_cap, 0); /* nothing was copied */
    sw__resp_parser_destroy(&p);
    /* The same in random chunks. */
    struct run whole, r;
    run_stream(NULL, false, s.p, s.n, chunk_whole, NULL, &whole);
    assert_int_equal(whole.n, N);
    size_t maxes[] = {1, 7, 100, 5000};
    for (size_t i = 0; i < sizeof maxes / sizeof maxes[0]; i++) {
        run_stream(NULL, false, s.p, s.n, chunk_random, &maxes[i], &r);
        run_equal(&r, &whole);
        run_free(&r);
    }
    run_free(&whole);
    sb_free(&s);
}

static void test_big_bulk(void **state)
{
    (void)state;
    rng_state = seed_stream(23);
    size_t big = (size_t)5 << 20;
    sb s = {0};
    sb_str(&s, "*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n");
    sb_fmt(&s, "$%zu\r\n", big);
    size_t head = s.n;
    for (size_t i = 0; i < big; i++) {
        char c = (char)(i * 31 + (i >> 13));
        sb_put(&s, &c, 1);
    }
    sb_str(&s, "\r\n");
    sb_cmd(&s, 1, "PING");

    /* In 1000-byte pieces: gathered once, never larger than needed. */
    sw__resp_parser p;
    assert_int_equal(sw__resp_parser_init(&p, NULL), SW_OK);
    size_t at = 0, used;
    sw__resp_cmd cmd;
    int st = SW_EAGAIN;
    char piece[1000];
    while (at < s.n) {
        size_t n = s.n - at < sizeof piece ? s.n - at : sizeof piece;
        memcpy(piece, s.p + at, n);
        st = sw__resp_parse(&p, piece, n, &used, &cmd);
        if (st == SW_OK) {
            at += used;
            break;
        }
        assert_int_equal(st, SW_EAGAIN);
        at += n;
        if (at > head + 4096)
            assert_true(sw__resp_parser_buffered(&p) >= at - head);
    }
    assert_int_equal(st, SW_OK);
    assert_int_equal(cmd.argc, 3);
    assert_int_equal(cmd.argv[2].len, big);
    assert_memory_equal(cmd.argv[2].ptr, s.p + head, big);
    assert_true(p.arena_cap <= big + 6);
    /* The next call frees it. */
    assert_int_equal(sw__resp_parse(&p, s.p + at, s.n - at, &used, &cmd), SW_OK);
    assert_memory_equal(cmd.argv[0].ptr, "PING", 4);
    assert_int_equal(p.arena_cap, 0);
    assert_int_equal(sw__resp_parser_buffered(&p), 0);

    /* Whole: pointed at, not copied. */
    sw__resp_parser_reset(&p);
    assert_int_equal(sw__resp_parse(&p, s.p, s.n, &used, &cmd), SW_OK);
    assert_true(cmd.argv[2].ptr == s.p + head);
    assert_int_equal(p.arena_cap, 0);
    sw__resp_parser_destroy(&p);

    /* Random chunk sizes agree with the whole. */
    struct run whole, r;
    run_stream(NULL, false, s.p, s.n, chunk_whole, NULL, &whole);
    assert_int_equal(whole.n, 2);
    size_t maxes[] = {17, 4096, 100000};
    for (size_t i = 0; i < sizeof maxes / sizeof maxes[0]; i++) {
        run_stream(NULL, false, s.p, s.n, chunk_random, &maxes[i], &r);
        run_equal(&r, &whole);
        run_free(&r);
    }
    run_free(&whole);
    sb_free(&s);
}

/* Random streams of protocol fragments under small limits: every way of
 * cutting one gives the same commands and the same end. */
static void test_fuzz_splits(void **state)
{
    (void)state;
    rng_state = seed_stream(29);
    static const struct {
        const char *p;
        size_t n;
    } pieces[] = {
        {A("*")},
        {A("$")},
        {A("0")},
        {A("1")},
        {A("2")},
        {A("3")},
        {A("-")},
        {A("\r\n")},
        {A("\r")},
        {A("\n")},
        {A("\"")},
        {A("'")},
        {A("\\")},
        {A("x")},
        {A("4")},
        {A("a")},
        {A(" ")},
        {A("\t")},
        {A("\v")},
        {A("\0")},
        {A("12")},
        {A("PING")},
        {A("*1\r\n$4\r\nPING\r\n")},
        {A("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n")},
        {A("$3\r\nabc\r\n")},
        {A("*0\r\n")},
        {A("*-1\r\n")},
        {A("SET a \"b c\"\r\n")},
        {A("ECHO '\\'x'\r\n")},
    };
    size_t np = sizeof pieces / sizeof pieces[0];
    for (int round = 0; round < 1500; round++) {
        sb s = {0};
        size_t n = 1 + (size_t)(rng() % 40);
        for (size_t i = 0; i < n; i++) {
            size_t k = (size_t)(rng() % np);
            sb_put(&s, pieces[k].p, pieces[k].n);
        }
        sw__resp_limits small = {.max_inline = 1 + rng() % 20,
                                 .max_bulk = 1 + rng() % 10,
                                 .max_query = 1 + rng() % 80,
                                 .max_multibulk = 1 + rng() % 5};
        const sw__resp_limits *lim = round % 3 == 0 ? NULL : &small;
        bool auth = round % 4 == 1;
        struct run whole, r;
        run_stream(lim, auth, s.p, s.n, chunk_whole, NULL, &whole);
        size_t one = 1, max = 1 + (size_t)(rng() % 12);
        run_stream(lim, auth, s.p, s.n, chunk_fixed, &one, &r);
        run_equal(&r, &whole);
        run_free(&r);
        for (int k = 0; k < 4; k++) {
            run_stream(lim, auth, s.p, s.n, chunk_random, &max, &r);
            run_equal(&r, &whole);
            run_free(&r);
        }
        run_free(&whole);
        sb_free(&s);
    }
}

/* ---- parser: failures ---------------------------------------------------- */

static void test_parser_oom(void **state)
{
    (void)state;
    sb s = {0};
    standard_stream(&s);
    char v[3000];
    memset(v, 'z', sizeof v);
    sb_str(&s, "*2\r\n");
    sb_bulk(&s, "ECHO", 4);
    sb_bulk(&s, v, sizeof v);
    struct run ref;
    size_t sz = 5;
    run_stream(NULL, false, s.p, s.n, chunk_fixed, &sz, &ref);
    assert_int_equal(ref.status, SW_EAGAIN);
    long after = 0;
    for (;; after++) {
        struct run r;
        sw__resp_fail_alloc(after);
        run_stream(NULL, false, s.p, s.n, chunk_fixed, &sz, &r);
        sw__resp_fail_alloc(-1);
        if (r.status == SW_EAGAIN) {
            run_equal(&r, &ref);
            run_free(&r);
            break;
        }
        assert_int_equal(r.status, SW_ENOMEM);
        assert_int_equal(r.perr, SW__RESP_PERR_NOMEM);
        assert_string_equal(r.err, "out of memory");
        assert_true(r.n <= ref.n);
        run_free(&r);
    }
    assert_true(after > 3);
    run_free(&ref);
    sb_free(&s);
}

static void test_parser_bad_args(void **state)
{
    (void)state;
    sw__resp_parser p;
    size_t used = 77;
    sw__resp_cmd cmd;
    assert_int_equal(sw__resp_parser_init(NULL, NULL), SW_EINVAL);
    assert_int_equal(sw__resp_parser_set_limits(NULL, NULL), SW_EINVAL);
    assert_int_equal(sw__resp_parser_init(&p, NULL), SW_OK);
    assert_int_equal(sw__resp_parse(NULL, "x", 1, &used, &cmd), SW_EINVAL);
    assert_int_equal(sw__resp_parse(&p, "x", 1, NULL, &cmd), SW_EINVAL);
    assert_int_equal(sw__resp_parse(&p, "x", 1, &used, NULL), SW_EINVAL);
    assert_int_equal(sw__resp_parse(&p, NULL, 1, &used, &cmd), SW_EINVAL);
    assert_int_equal(used, 77);
    assert_int_equal(sw__resp_parse(&p, NULL, 0, &used, &cmd), SW_EAGAIN);
    assert_int_equal(used, 0);
    assert_null(sw__resp_parser_errstr(&p));
    assert_null(sw__resp_parser_errstr(NULL));
    assert_int_equal(sw__resp_parser_errcode(NULL), SW__RESP_PERR_NONE);
    assert_int_equal(sw__resp_parser_buffered(NULL), 0);
    /* Nothing changed: the parser still works. */
    assert_int_equal(sw__resp_parse(&p, "PING\r\n", 6, &used, &cmd), SW_OK);
    sw__resp_parser_destroy(&p);
    sw__resp_parser_destroy(NULL);
    sw__resp_parser_reset(NULL);
    sw__resp_parser_set_auth_required(NULL, true);
    /* destroy, then init again. */
    assert_int_equal(sw__resp_parser_init(&p, NULL), SW_OK);
    assert_int_equal(sw__resp_parse(&p, "*1\r\n$4\r\nPI", 10, &used, &cmd), SW_EAGAIN);
    sw__resp_parser_destroy(&p);
    assert_int_equal(sw__resp_parser_init(&p, NULL), SW_OK);
    assert_int_equal(sw__resp_parse(&p, "PING\r\n", 6, &used, &cmd), SW_OK);
    sw__resp_parser_destroy(&p);
}

/* ---- encoder ------------------------------------------------------------- */

/* Runs one add on a fresh buffer of protocol proto and checks its bytes. */
#define ENC(proto, want, call)                                             \
    do {                                                                   \
        sw__resp_buf b_;                                                   \
        sw__resp_buf_init(&b_, proto);                                     \
        sw__resp_buf *b = &b_;                                             \
        assert_int_equal((call), SW_OK);                                   \
        assert_int_equal(sw__resp_buf_len(b), sizeof(want) - 1);           \
        assert_memory_equal(sw__resp_buf_data(b), want, sizeof(want) - 1); \
        sw__resp_buf_free(b);                                              \
    } while (0)

/* The same in both protocols. */
#define ENC23(want, call)   \
    do {                    \
        ENC(2, want, call); \
        ENC(3, want, call); \
    } while (0)

static void test_enc_scalars(void **state)
{
    (void)state;
    ENC23("+OK\r\n", sw__resp_add_simple(b, "OK"));
    ENC23("+\r\n", sw__resp_add_simple(b, ""));
    ENC23("+a  b\r\n", sw__resp_add_simple(b, "a\r\nb"));
    ENC23("-ERR unknown command\r\n", sw__resp_add_error(b, "ERR unknown command"));
    ENC23(
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
        sw__resp_add_error(b, "WRONGTYPE Operation against a key holding the wrong kind of value"));
    ENC23("-ERR a b\r\n", sw__resp_add_error(b, "ERR a\nb"));
    ENC23("-ERR insufficient funds\r\n", sw__resp_add_errorf(b, "ERR %s", "insufficient funds"));
    ENC23("-ERR x 42 y\r\n", sw__resp_add_errorf(b, "ERR x %d%sy", 42, "\r"));
    ENC23(":0\r\n", sw__resp_add_int(b, 0));
    ENC23(":-1\r\n", sw__resp_add_int(b, -1));
    ENC23(":1234567890\r\n", sw__resp_add_int(b, 1234567890));
    ENC23(":9223372036854775807\r\n", sw__resp_add_int(b, INT64_MAX));
    ENC23(":-9223372036854775808\r\n", sw__resp_add_int(b, INT64_MIN));
    ENC23("$5\r\nhello\r\n", sw__resp_add_bulk(b, "hello", 5));
    ENC23("$0\r\n\r\n", sw__resp_add_bulk(b, "", 0));
    ENC23("$0\r\n\r\n", sw__resp_add_bulk(b, NULL, 0));
    ENC23("$7\r\na\0b\r\nc\n\r\n", sw__resp_add_bulk(b, "a\0b\r\nc\n", 7));
    ENC23("$3\r\nabc\r\n", sw__resp_add_bulk_cstr(b, "abc"));
    ENC23("raw\r\n", sw__resp_add_raw(b, "raw\r\n", 5));
    ENC(2, "$-1\r\n", sw__resp_add_null(b));
    ENC(3, "_\r\n", sw__resp_add_null(b));
    ENC(2, "*-1\r\n", sw__resp_add_null_array(b));
    ENC(3, "_\r\n", sw__resp_add_null_array(b));
    ENC(2, ":1\r\n", sw__resp_add_bool(b, true));
    ENC(2, ":0\r\n", sw__resp_add_bool(b, false));
    ENC(3, "#t\r\n", sw__resp_add_bool(b, true));
    ENC(3, "#f\r\n", sw__resp_add_bool(b, false));

    /* A long formatted error (past the encoder's stack buffer). */
    char msg[600];
    memset(msg, 'm', sizeof msg - 1);
    msg[sizeof msg - 1] = '\0';
    msg[100] = '\n';
    sw__resp_buf b;
    sw__resp_buf_init(&b, 2);
    assert_int_equal(sw__resp_add_errorf(&b, "ERR %s!", msg), SW_OK);
    assert_int_equal(sw__resp_buf_len(&b), 1 + 4 + 599 + 1 + 2);
    const char *d = sw__resp_buf_data(&b);
    assert_memory_equal(d, "-ERR mm", 7);
    assert_int_equal(d[5 + 100], ' ');
    assert_memory_equal(d + sw__resp_buf_len(&b) - 4, "m!\r\n", 4);
    sw__resp_buf_free(&b);
}

static void test_enc_aggregates(void **state)
{
    (void)state;
    ENC23("*3\r\n", sw__resp_add_array(b, 3));
    ENC23("*0\r\n", sw__resp_add_array(b, 0));
    ENC(2, "*4\r\n", sw__resp_add_map(b, 2));
    ENC(3, "%2\r\n", sw__resp_add_map(b, 2));
    ENC(2, "*3\r\n", sw__resp_add_set(b, 3));
    ENC(3, "~3\r\n", sw__resp_add_set(b, 3));
    ENC(2, "*2\r\n", sw__resp_add_push(b, 2));
    ENC(3, ">2\r\n", sw__resp_add_push(b, 2));

    /* A whole reply: HELLO's map, in both protocols. */
    for (int proto = 2; proto <= 3; proto++) {
        sw__resp_buf b;
        sw__resp_buf_init(&b, proto);
        assert_int_equal(sw__resp_add_map(&b, 2), SW_OK);
        assert_int_equal(sw__resp_add_bulk_cstr(&b, "server"), SW_OK);
        assert_int_equal(sw__resp_add_bulk_cstr(&b, "steward"), SW_OK);
        assert_int_equal(sw__resp_add_bulk_cstr(&b, "proto"), SW_OK);
        assert_int_equal(sw__resp_add_int(&b, proto), SW_OK);
        assert_int_equal(sw__resp_add_array(&b, 2), SW_OK);
        assert_int_equal(sw__resp_add_null(&b), SW_OK);
        assert_int_equal(sw__resp_add_bool(&b, true), SW_OK);
        assert_int_equal(b.status, SW_OK);
        const char *want = proto == 2
                               ? "*4\r\n$6\r\nserver\r\n$7\r\nsteward\r\n$5\r\nproto\r\n:2\r\n"
                                 "*2\r\n$-1\r\n:1\r\n"
                               : "%2\r\n$6\r\nserver\r\n$7\r\nsteward\r\n$5\r\nproto\r\n:3\r\n"
                                 "*2\r\n_\r\n#t\r\n";
        assert_int_equal(sw__resp_buf_len(&b), strlen(want));
        assert_memory_equal(sw__resp_buf_data(&b), want, strlen(want));
        sw__resp_buf_free(&b);
    }
}

static void test_enc_double_and_more(void **state)
{
    (void)state;
    ENC(3, ",3.5\r\n", sw__resp_add_double(b, 3.5));
    ENC(2, "$3\r\n3.5\r\n", sw__resp_add_double(b, 3.5));
    ENC(3, ",-2\r\n", sw__resp_add_double(b, -2.0));
    ENC(3, ",0\r\n", sw__resp_add_double(b, 0.0));
    ENC(3, ",0.10000000000000001\r\n", sw__resp_add_double(b, 0.1));
    ENC(2, "$19\r\n0.10000000000000001\r\n", sw__resp_add_double(b, 0.1));
    ENC(3, ",1.0000000000000001e+300\r\n", sw__resp_add_double(b, 1e300));
    ENC(3, ",inf\r\n", sw__resp_add_double(b, INFINITY));
    ENC(3, ",-inf\r\n", sw__resp_add_double(b, -INFINITY));
    ENC(2, "$3\r\ninf\r\n", sw__resp_add_double(b, INFINITY));
    ENC(2, "$4\r\n-inf\r\n", sw__resp_add_double(b, -INFINITY));
    ENC(3, ",nan\r\n", sw__resp_add_double(b, NAN));
    ENC(2, "$3\r\nnan\r\n", sw__resp_add_double(b, NAN));
    ENC(3, "=9\r\ntxt:hello\r\n", sw__resp_add_verbatim(b, "txt", "hello", 5));
    ENC(3, "=4\r\nmkd:\r\n", sw__resp_add_verbatim(b, "mkd", NULL, 0));
    ENC(2, "$5\r\nhello\r\n", sw__resp_add_verbatim(b, "txt", "hello", 5));
    ENC(3, "(3492890328409238509324850943850943825024385\r\n",
        sw__resp_add_bignum(b, "3492890328409238509324850943850943825024385"));
    ENC(3, "(-12\r\n", sw__resp_add_bignum(b, "-12"));
    ENC(2, "$3\r\n-12\r\n", sw__resp_add_bignum(b, "-12"));
}

static void test_enc_buffer(void **state)
{
    (void)state;
    sw__resp_buf b;
    sw__resp_buf_init(&b, 7); /* not 2 or 3: RESP2 */
    assert_int_equal(b.proto, 2);
    assert_int_equal(sw__resp_buf_len(&b), 0);
    assert_non_null(sw__resp_buf_data(&b));
    assert_int_equal(sw__resp_add_null(&b), SW_OK);
    sw__resp_buf_set_proto(&b, 3);
    assert_int_equal(sw__resp_add_null(&b), SW_OK);
    assert_memory_equal(sw__resp_buf_data(&b), "$-1\r\n_\r\n", 8);
    /* Partial writes: consume, add more, the rest stays in order. */
    sw__resp_buf_consume(&b, 3);
    assert_int_equal(sw__resp_buf_len(&b), 5);
    assert_memory_equal(sw__resp_buf_data(&b), "\r\n_\r\n", 5);
    sb want = {0};
    sb_put(&want, "\r\n_\r\n", 5);
    for (int i = 0; i < 2000; i++) {
        assert_int_equal(sw__resp_add_int(&b, i), SW_OK);
        sb_fmt(&want, ":%d\r\n", i);
        if (i % 100 == 0) {
            sw__resp_buf_consume(&b, 7);
            memmove(want.p, want.p + 7, want.n - 7);
            want.n -= 7;
        }
    }
    assert_int_equal(sw__resp_buf_len(&b), want.n);
    assert_memory_equal(sw__resp_buf_data(&b), want.p, want.n);
    sw__resp_buf_consume(&b, SIZE_MAX);
    assert_int_equal(sw__resp_buf_len(&b), 0);
    assert_int_equal(sw__resp_add_simple(&b, "OK"), SW_OK);
    assert_memory_equal(sw__resp_buf_data(&b), "+OK\r\n", 5);
    sb_free(&want);

    /* Bad arguments: SW_EINVAL, nothing written, status unchanged. */
    size_t len = sw__resp_buf_len(&b);
    assert_int_equal(sw__resp_add_simple(&b, NULL), SW_EINVAL);
    assert_int_equal(sw__resp_add_error(&b, NULL), SW_EINVAL);
    assert_int_equal(sw__resp_add_errorf(&b, NULL), SW_EINVAL);
    assert_int_equal(sw__resp_add_bulk(&b, NULL, 1), SW_EINVAL);
    assert_int_equal(sw__resp_add_bulk_cstr(&b, NULL), SW_EINVAL);
    assert_int_equal(sw__resp_add_raw(&b, NULL, 1), SW_EINVAL);
    assert_int_equal(sw__resp_add_verbatim(&b, "tx", "a", 1), SW_EINVAL);
    assert_int_equal(sw__resp_add_verbatim(&b, NULL, "a", 1), SW_EINVAL);
    assert_int_equal(sw__resp_add_verbatim(&b, "txt", NULL, 1), SW_EINVAL);
    assert_int_equal(sw__resp_add_bignum(&b, NULL), SW_EINVAL);
    assert_int_equal(sw__resp_add_bignum(&b, ""), SW_EINVAL);
    assert_int_equal(sw__resp_add_bignum(&b, "-"), SW_EINVAL);
    assert_int_equal(sw__resp_add_bignum(&b, "12a"), SW_EINVAL);
    assert_int_equal(sw__resp_add_bignum(&b, "+1"), SW_EINVAL);
    sw__resp_buf_set_proto(&b, 2);
    assert_int_equal(sw__resp_add_map(&b, SIZE_MAX), SW_EINVAL);
    assert_int_equal(sw__resp_buf_len(&b), len);
    assert_int_equal(b.status, SW_OK);
    sw__resp_buf_free(&b);
    sw__resp_buf_free(NULL);
}

static void test_enc_oom(void **state)
{
    (void)state;
    char v[5000];
    memset(v, 'v', sizeof v);
    for (long after = 0; after < 3; after++) {
        sw__resp_buf b;
        sw__resp_buf_init(&b, 3);
        assert_int_equal(sw__resp_add_simple(&b, "OK"), SW_OK); /* one allocation */
        sw__resp_fail_alloc(after);
        int st = SW_OK;
        size_t ok_len = sw__resp_buf_len(&b);
        for (int i = 0; i < 10 && st == SW_OK; i++) {
            st = sw__resp_add_bulk(&b, v, sizeof v);
            if (st == SW_OK)
                ok_len = sw__resp_buf_len(&b);
        }
        sw__resp_fail_alloc(-1);
        assert_int_equal(st, SW_ENOMEM);
        assert_int_equal(b.status, SW_ENOMEM);
        /* Nothing half-written, and it sticks. */
        assert_int_equal(sw__resp_buf_len(&b), ok_len);
        assert_int_equal(sw__resp_add_int(&b, 1), SW_ENOMEM);
        assert_int_equal(sw__resp_add_simple(&b, "x"), SW_ENOMEM);
        assert_int_equal(sw__resp_buf_len(&b), ok_len);
        assert_memory_equal(sw__resp_buf_data(&b), "+OK\r\n", 5);
        sw__resp_buf_free(&b);
    }
}

int main(int argc, char **argv)
{
    seed_init(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_multibulk),
        cmocka_unit_test(test_inline),
        cmocka_unit_test(test_empty_requests),
        cmocka_unit_test(test_binary_args),
        cmocka_unit_test(test_pipeline_splits),
        cmocka_unit_test(test_zero_copy),
        cmocka_unit_test(test_lenient_terminators),
        cmocka_unit_test(test_inline_quoting),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_error_sticky_and_reset),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_big_lines),
        cmocka_unit_test(test_unauthenticated),
        cmocka_unit_test(test_query_limit),
        cmocka_unit_test(test_pipeline_10000),
        cmocka_unit_test(test_big_bulk),
        cmocka_unit_test(test_fuzz_splits),
        cmocka_unit_test(test_parser_oom),
        cmocka_unit_test(test_parser_bad_args),
        cmocka_unit_test(test_enc_scalars),
        cmocka_unit_test(test_enc_aggregates),
        cmocka_unit_test(test_enc_double_and_more),
        cmocka_unit_test(test_enc_buffer),
        cmocka_unit_test(test_enc_oom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
