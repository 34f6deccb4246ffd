/* libFuzzer target: the RESP request parser and, a little, the reply encoder
 * (src/server/resp.h).
 *
 * The input is a header that sets the parser up and says where to cut the
 * stream, then the stream of one connection:
 *
 *   byte 0     flags: 1 auth required; 2 limits follow; 4 an allocation
 *              count follows (a pass where one allocation fails)
 *   4 bytes    with flag 2: max_inline - 1, max_bulk / 3, max_multibulk and
 *              max_query / 8 (a 0 byte: that limit's default)
 *   1 byte     with flag 4: allocations that succeed before one fails
 *   1 byte     n: the number of cut sizes that follow (n & 15); with 0 the
 *              stream goes in one byte at a time
 *   n bytes    cut sizes, each byte + 1, used in turn
 *   the rest   the stream
 *
 * The stream is parsed whole, cut as the header says, and (when short) one
 * byte at a time. Each piece is a fresh heap copy, freed as soon as the
 * parser has taken it, so that AddressSanitizer catches a parser that keeps
 * a pointer into a buffer its caller may reuse. Every way must give the same
 * trace: each command argument by argument, then the last status, the error
 * and the bytes the parser holds. Every call must leave *used <= len (== len
 * unless a command came), an error must stick until reset, and a reset
 * parser must work again. With a failing allocation the trace must be a
 * prefix of the whole one ended by SW_ENOMEM. Each command is also encoded
 * back as a multibulk (sw__resp_add_array, sw__resp_add_bulk) and parsed
 * again: the same arguments must come back. The other encoders get a few
 * byte-exact checks on the first argument.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/resp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Streams longer than this are not also fed one byte at a time. */
#define BYTEWISE_MAX 2048

/* A growable byte string: the traces and the expected encodings. */
typedef struct vec {
    uint8_t *p;
    size_t n, cap;
} vec;

static void check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_resp: invariant broken: %s\n", what);
        abort();
    }
}

static void put(vec *v, const void *p, size_t n)
{
    if (v->n + n > v->cap) {
        size_t cap = v->cap ? v->cap : 256;
        while (cap < v->n + n)
            cap *= 2;
        v->p = realloc(v->p, cap);
        check(v->p != NULL, "out of memory in the harness");
        v->cap = cap;
    }
    if (n > 0)
        memcpy(v->p + v->n, p, n);
    v->n += n;
}

static void put_size(vec *v, size_t x)
{
    put(v, &x, sizeof x);
}

static void put_str(vec *v, const char *s)
{
    put(v, s, strlen(s));
}

static void put_fmt(vec *v, const char *fmt, size_t x)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, fmt, x);
    put(v, tmp, (size_t)n);
}

/* How the parser is set up, from the header. */
typedef struct setup {
    sw__resp_limits lim;
    bool auth;
    bool fault;
    long fault_after;
    const uint8_t *cuts;
    size_t ncuts;
    const uint8_t *stream;
    size_t len;
} setup;

static bool read_setup(const uint8_t *d, size_t n, setup *s)
{
    memset(s, 0, sizeof *s);
    size_t at = 1;
    if (n < 2)
        return false;
    s->auth = d[0] & 1;
    if (d[0] & 2) {
        if (n < at + 4)
            return false;
        s->lim.max_inline = d[at] + 1u;
        s->lim.max_bulk = d[at + 1] * 3u;
        s->lim.max_multibulk = d[at + 2];
        s->lim.max_query = d[at + 3] * 8u;
        at += 4;
    }
    if (d[0] & 4) {
        if (n < at + 1)
            return false;
        s->fault = true;
        s->fault_after = d[at++];
    }
    if (n < at + 1)
        return false;
    s->ncuts = d[at++] & 15;
    if (n < at + s->ncuts)
        return false;
    s->cuts = d + at;
    at += s->ncuts;
    s->stream = d + at;
    s->len = n - at;
    return true;
}

static void parser_new(sw__resp_parser *p, const setup *s)
{
    check(sw__resp_parser_init(p, &s->lim) == SW_OK, "init");
    sw__resp_parser_set_auth_required(p, s->auth);
}

static void trace_cmd(vec *t, const sw__resp_cmd *c)
{
    check(c->argc >= 1 && c->argv != NULL, "a command has arguments");
    put(t, "C", 1);
    put(t, &c->is_inline, sizeof c->is_inline);
    put_size(t, c->argc);
    for (size_t i = 0; i < c->argc; i++) {
        check(c->argv[i].ptr != NULL, "argv[i].ptr is never NULL");
        put_size(t, c->argv[i].len);
        put(t, c->argv[i].ptr, c->argv[i].len);
    }
}

/* The end of a trace: the last status, the error, what the parser holds. */
static void trace_end(vec *t, sw__resp_parser *p, int rc)
{
    put(t, "E", 1);
    put(t, &rc, sizeof rc);
    int code = sw__resp_parser_errcode(p);
    put(t, &code, sizeof code);
    const char *es = sw__resp_parser_errstr(p);
    check((code == SW__RESP_PERR_NONE) == (es == NULL), "an error has a text");
    if (es)
        put_str(t, es);
    check((rc == SW_EAGAIN) == (code == SW__RESP_PERR_NONE), "EAGAIN iff no error");
    check(rc != SW_ENOMEM || code == SW__RESP_PERR_NOMEM, "ENOMEM is PERR_NOMEM");
    if (rc == SW_EAGAIN)
        put_size(t, sw__resp_parser_buffered(p));
}

/* An error sticks: later calls fail the same way, taking every byte. */
static void check_sticky(sw__resp_parser *p, int rc)
{
    int code = sw__resp_parser_errcode(p);
    sw__resp_cmd cmd;
    size_t used = 12345;
    check(sw__resp_parse(p, "PING\r\n", 6, &used, &cmd) == rc, "an error sticks");
    check(used == 6, "an error takes every byte");
    check(sw__resp_parse(p, NULL, 0, &used, &cmd) == rc, "an error sticks (len 0)");
    check(sw__resp_parser_errcode(p) == code, "the error code sticks");
}

/* After a reset the parser works again, whatever it went through. Tiny
 * limits may refuse even PING, but never with a wrong command. */
static void check_reset(sw__resp_parser *p)
{
    sw__resp_parser_reset(p);
    check(sw__resp_parser_errcode(p) == SW__RESP_PERR_NONE, "reset clears the error");
    sw__resp_cmd cmd;
    size_t used = 0;
    int rc = sw__resp_parse(p, "*1\r\n$4\r\nPING\r\n", 14, &used, &cmd);
    check(rc == SW_OK || rc == SW_EIO, "a reset parser parses");
    check(rc != SW_OK || (used == 14 && cmd.argc == 1 && cmd.argv[0].len == 4 &&
                          memcmp(cmd.argv[0].ptr, "PING", 4) == 0 && !cmd.is_inline),
          "a reset parser parses PING");
}

static void check_encoders(const sw__resp_cmd *c);

/* Encodes c as a multibulk and parses it again with a default parser. */
static void check_roundtrip(const sw__resp_cmd *c)
{
    sw__resp_buf b;
    sw__resp_buf_init(&b, c->argc & 1 ? 3 : 2);
    check(sw__resp_add_array(&b, c->argc) == SW_OK, "add_array");
    for (size_t i = 0; i < c->argc; i++)
        check(sw__resp_add_bulk(&b, c->argv[i].ptr, c->argv[i].len) == SW_OK, "add_bulk");
    sw__resp_parser p;
    check(sw__resp_parser_init(&p, NULL) == SW_OK, "init");
    sw__resp_cmd back;
    size_t used = 0, len = sw__resp_buf_len(&b);
    int rc = sw__resp_parse(&p, sw__resp_buf_data(&b), len, &used, &back);
    check(rc == SW_OK && used == len, "an encoded command parses whole");
    check(back.argc == c->argc && !back.is_inline, "the same arguments come back");
    for (size_t i = 0; i < c->argc; i++)
        check(back.argv[i].len == c->argv[i].len &&
                  memcmp(back.argv[i].ptr, c->argv[i].ptr, c->argv[i].len) == 0,
              "the same bytes come back");
    sw__resp_buf_consume(&b, len / 2);
    check(sw__resp_buf_len(&b) == len - len / 2, "consume");
    sw__resp_parser_destroy(&p);
    sw__resp_buf_free(&b);
    check_encoders(c);
}

/* The line encoders on the first argument as a C string: byte for byte. */
static void check_line(int proto, int (*add)(sw__resp_buf *, const char *), char lead,
                       const char *s)
{
    sw__resp_buf b;
    sw__resp_buf_init(&b, proto);
    check(add(&b, s) == SW_OK, "add_simple/add_error");
    vec want = {0};
    put(&want, &lead, 1);
    for (const char *q = s; *q; q++)
        put(&want, *q == '\r' || *q == '\n' ? " " : q, 1);
    put(&want, "\r\n", 2);
    check(sw__resp_buf_len(&b) == want.n && memcmp(sw__resp_buf_data(&b), want.p, want.n) == 0,
          "a simple string or error, CR and LF as spaces");
    free(want.p);
    sw__resp_buf_free(&b);
}

static bool is_bignum(const char *s)
{
    if (*s == '-')
        s++;
    if (*s == '\0')
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

static void check_bignum(int proto, const char *s)
{
    sw__resp_buf b;
    sw__resp_buf_init(&b, proto);
    int rc = sw__resp_add_bignum(&b, s);
    vec want = {0};
    if (is_bignum(s)) {
        check(rc == SW_OK, "add_bignum takes digits");
        if (proto == 3) {
            put(&want, "(", 1);
        } else {
            put_fmt(&want, "$%zu\r\n", strlen(s));
        }
        put_str(&want, s);
        put(&want, "\r\n", 2);
    } else {
        check(rc == SW_EINVAL, "add_bignum refuses what is not digits");
    }
    bool same = sw__resp_buf_len(&b) == want.n &&
                (want.n == 0 || memcmp(sw__resp_buf_data(&b), want.p, want.n) == 0);
    check(same, "a big number, byte for byte");
    free(want.p);
    sw__resp_buf_free(&b);
}

static void check_verbatim(const sw__resp_arg *a)
{
    sw__resp_buf b;
    sw__resp_buf_init(&b, 3);
    check(sw__resp_add_verbatim(&b, "txt", a->ptr, a->len) == SW_OK, "add_verbatim");
    vec want = {0};
    put_fmt(&want, "=%zu\r\ntxt:", a->len + 4);
    put(&want, a->ptr, a->len);
    put(&want, "\r\n", 2);
    check(sw__resp_buf_len(&b) == want.n && memcmp(sw__resp_buf_data(&b), want.p, want.n) == 0,
          "a verbatim string, byte for byte");
    free(want.p);
    sw__resp_buf_free(&b);
}

static void check_encoders(const sw__resp_cmd *c)
{
    char s[257];
    size_t n = c->argv[0].len < sizeof s - 1 ? c->argv[0].len : sizeof s - 1;
    memcpy(s, c->argv[0].ptr, n);
    s[n] = '\0';
    for (int proto = 2; proto <= 3; proto++) {
        check_line(proto, sw__resp_add_simple, '+', s);
        check_line(proto, sw__resp_add_error, '-', s);
        check_bignum(proto, s);
    }
    check_verbatim(&c->argv[0]);
}

/* One call on buf[0 .. len): checks *used and records a command. */
static int step(sw__resp_parser *p, const char *buf, size_t len, size_t *used, vec *t,
                bool roundtrip)
{
    sw__resp_cmd cmd;
    *used = SIZE_MAX;
    int rc = sw__resp_parse(p, buf, len, used, &cmd);
    check(*used <= len, "*used <= len");
    check(rc == SW_OK || rc == SW_EAGAIN || rc == SW_EIO || rc == SW_ENOMEM, "a known status");
    check(rc == SW_OK || *used == len, "*used == len unless a command came");
    if (rc == SW_OK) {
        check(*used > 0, "a command takes bytes");
        trace_cmd(t, &cmd);
        if (roundtrip)
            check_roundtrip(&cmd);
    }
    return rc;
}

/* How to cut the stream: into pieces of the sizes in cuts, used in turn;
 * one byte each when there are none; all in one when whole. With fault, an
 * allocation fails after fault_after more. */
typedef struct plan {
    const uint8_t *cuts;
    size_t ncuts;
    bool whole;
    bool roundtrip; /* encode each command back and check it */
    bool fault;
} plan;

static size_t piece_size(const plan *pl, size_t k, size_t left)
{
    size_t n = pl->whole ? left : pl->ncuts ? pl->cuts[k % pl->ncuts] + 1u : 1;
    return n < left ? n : left;
}

/* Parses the stream as pl says, each piece a heap copy freed once taken,
 * and returns the trace. Then checks that an error sticks and that a reset
 * parser works. */
static vec run(const setup *s, const plan *pl)
{
    sw__resp_parser p;
    parser_new(&p, s);
    vec t = {0};
    int rc = SW_EAGAIN;
    size_t at = 0, used;
    if (pl->fault)
        sw__resp_fail_alloc(s->fault_after);
    for (size_t k = 0; at < s->len && (rc == SW_OK || rc == SW_EAGAIN); k++) {
        size_t piece = piece_size(pl, k, s->len - at), off = 0;
        char *buf = malloc(piece);
        check(buf != NULL, "out of memory in the harness");
        memcpy(buf, s->stream + at, piece);
        do {
            rc = step(&p, buf + off, piece - off, &used, &t, pl->roundtrip);
            off += used;
        } while (rc == SW_OK && off < piece);
        free(buf);
        at += piece;
    }
    if (rc == SW_OK || rc == SW_EAGAIN)
        rc = step(&p, NULL, 0, &used, &t, false);
    if (pl->fault)
        sw__resp_fail_alloc(-1);
    trace_end(&t, &p, rc);
    if (rc != SW_EAGAIN)
        check_sticky(&p, rc);
    check_reset(&p);
    sw__resp_parser_destroy(&p);
    return t;
}

static void same(const vec *a, const vec *b, const char *what)
{
    check(a->n == b->n && memcmp(a->p, b->p, a->n) == 0, what);
}

/* With an allocation failing: the whole trace's commands up to some point,
 * then ENOMEM; or, when the failure never came, the whole trace itself. */
static void run_fault(const setup *s, const vec *whole)
{
    vec t = run(s, &(plan){.cuts = s->cuts, .ncuts = s->ncuts, .fault = true});
    if (t.n == whole->n && memcmp(t.p, whole->p, t.n) == 0) {
        free(t.p);
        return;
    }
    /* The trace ends "E" ENOMEM PERR_NOMEM "out of memory". */
    static const char oom[] = "out of memory";
    size_t tail = 1 + 2 * sizeof(int) + sizeof oom - 1;
    check(t.n >= tail && t.p[t.n - tail] == 'E', "a failed allocation ends the trace");
    int rc;
    memcpy(&rc, t.p + t.n - tail + 1, sizeof rc);
    check(rc == SW_ENOMEM, "a failed allocation gives SW_ENOMEM");
    check(t.n - tail <= whole->n && memcmp(t.p, whole->p, t.n - tail) == 0,
          "the commands before a failed allocation are the right ones");
    free(t.p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup s;
    if (!read_setup(data, size, &s))
        return -1; /* not an input: keep it out of the corpus */
    vec whole = run(&s, &(plan){.whole = true, .roundtrip = true});
    vec cut = run(&s, &(plan){.cuts = s.cuts, .ncuts = s.ncuts});
    same(&whole, &cut, "the same trace whatever the cuts");
    free(cut.p);
    if (s.ncuts > 0 && s.len <= BYTEWISE_MAX) {
        vec bytes = run(&s, &(plan){0});
        same(&whole, &bytes, "the same trace one byte at a time");
        free(bytes.p);
    }
    if (s.fault)
        run_fault(&s, &whole);
    free(whole.p);
    return 0;
}
