/* RESP for stewardd: the request parser and the reply encoder, with no I/O.
 *
 * DESIGN
 *
 * The parser is a state machine over the byte stream of one connection:
 *
 *   START --'*'--> MBCOUNT --> BULKHDR <--> BULK --(last)--> command
 *     |                `--(n <= 0)--> skipped
 *     `--other--> INLINE --> command, or skipped when blank
 *
 * and ERROR, which is sticky. Each state takes as many bytes as it can from
 * the caller's buffer. Its decisions depend only on the bytes of the stream,
 * never on where the stream was cut into calls: a line's terminator is
 * searched for in at most max_inline + 1 bytes of it, and a request may use
 * at most max_query bytes, so every error is found at the same byte whatever
 * the split (the tests feed every split and compare).
 *
 * Buffers and ownership. A request that arrives whole in one call is never
 * copied: its arguments point into the caller's buffer. When a call ends in
 * the middle of a request, the parser keeps what it needs, since the caller
 * may reuse its buffer:
 *  - line: a `*`, `$` or inline line cut short, gathered from its first byte
 *    (at most max_inline + 2 bytes);
 *  - arena: the bytes of the request's arguments: the complete ones that
 *    were in the caller's buffer are copied in ("held") when the call
 *    returns, and a bulk cut short is gathered here, its final length known
 *    from its header, so the arena grows by doubling but never past what the
 *    bulk needs (a header claiming 512 MiB costs nothing until bytes come).
 * An argument whose bytes all come in the call that completes the request
 * still points into that call's buffer: a 5 MiB value after a header that
 * was cut off is not copied. Arguments in the arena are kept as offsets
 * while it may move, and become pointers when the command is returned. The
 * command lives until the next call on the parser, which frees it and
 * shrinks any buffer grown past SW__RESP_KEEP, so that one big request does
 * not pin memory for the rest of the connection.
 *
 * The encoder appends to one growable buffer; each add reserves its whole
 * size first, so it writes all of an item or nothing.
 */
#include "server/resp.h"

#include <limits.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parser buffers beyond this are freed once their request is done. */
#define SW__RESP_KEEP ((size_t)16 * 1024)
#define SW__RESP_KEEP_ARGS ((size_t)1024)

/* An argument that points into the caller's buffer rather than the arena. */
#define NOOFF SIZE_MAX

enum { S_START, S_MBCOUNT, S_BULKHDR, S_BULK, S_INLINE, S_ERROR };

/* What a state returns: go on, need more bytes, a command is complete, an
 * empty request was skipped, or an error was recorded. */
enum { R_CONT, R_MORE, R_CMD, R_EMPTY, R_ERR };

/* ---- allocation, with the fault hook ------------------------------------- */

/* Allocations left before the injected failure; -1 when off. Relaxed: the
 * counter stands alone and publishes no other data. */
static _Atomic long fail_after = -1;

void sw__resp_fail_alloc(long after)
{
    atomic_store_explicit(&fail_after, after < 0 ? -1 : after, memory_order_relaxed);
}

static bool fault_hit(void)
{
    long n = atomic_load_explicit(&fail_after, memory_order_relaxed);
    while (n >= 0) {
        if (atomic_compare_exchange_weak_explicit(&fail_after, &n, n - 1, memory_order_relaxed,
                                                  memory_order_relaxed))
            return n == 0;
    }
    return false;
}

static void *xrealloc(void *ptr, size_t n)
{
    return fault_hit() ? NULL : realloc(ptr, n);
}

/* Room for need bytes in *buf: the capacity doubles, but not past hint when
 * hint >= need (0: no cap). */
static int grow(char **buf, size_t *cap, size_t need, size_t hint)
{
    if (need <= *cap)
        return SW_OK;
    size_t nc = *cap ? *cap : 64;
    while (nc < need)
        nc = nc > SIZE_MAX / 2 ? need : nc * 2;
    if (hint >= need && nc > hint)
        nc = hint;
    char *n = xrealloc(*buf, nc);
    if (n == NULL)
        return SW_ENOMEM;
    *buf = n;
    *cap = nc;
    return SW_OK;
}

/* ---- parser: set-up and errors ------------------------------------------- */

static const char *const perr_text[] = {
    [SW__RESP_PERR_NONE] = NULL,
    [SW__RESP_PERR_MULTIBULK_LEN] = "Protocol error: invalid multibulk length",
    [SW__RESP_PERR_BULK_LEN] = "Protocol error: invalid bulk length",
    [SW__RESP_PERR_EXPECTED_DOLLAR] = "Protocol error: expected '$', got '?'",
    [SW__RESP_PERR_BIG_INLINE] = "Protocol error: too big inline request",
    [SW__RESP_PERR_BIG_MBULK_COUNT] = "Protocol error: too big mbulk count string",
    [SW__RESP_PERR_BIG_BULK_COUNT] = "Protocol error: too big bulk count string",
    [SW__RESP_PERR_UNBALANCED] = "Protocol error: unbalanced quotes in request",
    [SW__RESP_PERR_UNAUTH_MULTIBULK] = "Protocol error: unauthenticated multibulk length",
    [SW__RESP_PERR_UNAUTH_BULK] = "Protocol error: unauthenticated bulk length",
    [SW__RESP_PERR_QUERY_LIMIT] = "Closing client that reached max query buffer length",
    [SW__RESP_PERR_NOMEM] = "out of memory",
};

static size_t or_default(size_t v, size_t def, size_t max)
{
    if (v == 0)
        return def;
    return v > max ? max : v;
}

int sw__resp_parser_set_limits(sw__resp_parser *p, const sw__resp_limits *lim)
{
    if (p == NULL)
        return SW_EINVAL;
    sw__resp_limits l = lim ? *lim : (sw__resp_limits){0};
    /* The caps keep max + 2 and the like from overflowing. */
    p->lim.max_multibulk = or_default(l.max_multibulk, SW__RESP_MAX_MULTIBULK, SIZE_MAX / 4);
    p->lim.max_bulk = or_default(l.max_bulk, SW__RESP_MAX_BULK, SIZE_MAX / 4);
    p->lim.max_query = or_default(l.max_query, SW__RESP_MAX_QUERY, SIZE_MAX / 4);
    p->lim.max_inline = or_default(l.max_inline, SW__RESP_MAX_INLINE, SIZE_MAX / 4);
    return SW_OK;
}

int sw__resp_parser_init(sw__resp_parser *p, const sw__resp_limits *lim)
{
    if (p == NULL)
        return SW_EINVAL;
    memset(p, 0, sizeof *p);
    p->state = S_START;
    p->line_term = NOOFF;
    return sw__resp_parser_set_limits(p, lim);
}

void sw__resp_parser_destroy(sw__resp_parser *p)
{
    if (p == NULL)
        return;
    free(p->line);
    free(p->arena);
    free(p->argv);
    free(p->argoff);
    memset(p, 0, sizeof *p);
    p->line_term = NOOFF;
}

void sw__resp_parser_set_auth_required(sw__resp_parser *p, bool required)
{
    if (p != NULL)
        p->auth_required = required;
}

int sw__resp_parser_errcode(const sw__resp_parser *p)
{
    return p ? p->perr : SW__RESP_PERR_NONE;
}

const char *sw__resp_parser_errstr(const sw__resp_parser *p)
{
    if (p == NULL || p->perr == SW__RESP_PERR_NONE)
        return NULL;
    return p->perr == SW__RESP_PERR_EXPECTED_DOLLAR ? p->errbuf : perr_text[p->perr];
}

size_t sw__resp_parser_buffered(const sw__resp_parser *p)
{
    return p ? p->line_len + p->arena_len : 0;
}

static int fail(sw__resp_parser *p, int code)
{
    p->perr = code;
    p->state = S_ERROR;
    return R_ERR;
}

/* "expected '$', got 'X'". Redis replaces CR and LF in error texts with
 * spaces; a NUL byte, which cannot be in a C string (and never reaches this
 * check in Redis, whose line search stops at it), reads as a space too. */
static int fail_dollar(sw__resp_parser *p, char got)
{
    static const char head[] = "Protocol error: expected '$', got '";
    size_t n = sizeof head - 1;
    memcpy(p->errbuf, head, n);
    p->errbuf[n++] = got == '\r' || got == '\n' || got == '\0' ? ' ' : got;
    p->errbuf[n++] = '\'';
    p->errbuf[n] = '\0';
    return fail(p, SW__RESP_PERR_EXPECTED_DOLLAR);
}

/* Forgets the current request (its command, if returned, is gone) and gives
 * back buffers that one big request grew. */
static void end_request(sw__resp_parser *p)
{
    p->argc = p->held = 0;
    p->arena_len = p->line_len = 0;
    p->line_term = NOOFF;
    p->req_bytes = 0;
    p->nexpect = 0;
    p->bulk_partial = false;
    p->has_cmd = false;
    p->state = S_START;
    if (p->arena_cap > SW__RESP_KEEP) {
        free(p->arena);
        p->arena = NULL;
        p->arena_cap = 0;
    }
    if (p->line_cap > SW__RESP_KEEP) {
        free(p->line);
        p->line = NULL;
        p->line_cap = 0;
    }
    if (p->arg_cap > SW__RESP_KEEP_ARGS) {
        free(p->argv);
        free(p->argoff);
        p->argv = NULL;
        p->argoff = NULL;
        p->arg_cap = 0;
    }
}

void sw__resp_parser_reset(sw__resp_parser *p)
{
    if (p == NULL)
        return;
    end_request(p);
    p->perr = SW__RESP_PERR_NONE;
    p->errbuf[0] = '\0';
}

/* ---- parser: helpers ----------------------------------------------------- */

/* Redis's string2ll: an optional '-', then "0" alone or digits without a
 * leading zero, nothing else, within the range of long long. */
static bool parse_ll(const char *s, size_t n, long long *out)
{
    if (n == 1 && s[0] == '0') {
        *out = 0;
        return true;
    }
    size_t i = n > 0 && s[0] == '-';
    if (i == n || s[i] < '1' || s[i] > '9')
        return false;
    unsigned long long v = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (ULLONG_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    unsigned long long top = (unsigned long long)LLONG_MAX;
    if (s[0] != '-') {
        if (v > top)
            return false;
        *out = (long long)v;
    } else {
        if (v > top + 1)
            return false;
        *out = v == top + 1 ? LLONG_MIN : -(long long)v;
    }
    return true;
}

static int arena_put(sw__resp_parser *p, const char *src, size_t n, size_t hint)
{
    if (n == 0)
        return SW_OK;
    if (grow(&p->arena, &p->arena_cap, p->arena_len + n, hint) != SW_OK)
        return SW_ENOMEM;
    memcpy(p->arena + p->arena_len, src, n);
    p->arena_len += n;
    return SW_OK;
}

static int line_put(sw__resp_parser *p, const char *src, size_t n)
{
    if (n == 0)
        return SW_OK;
    if (grow(&p->line, &p->line_cap, p->line_len + n, 0) != SW_OK)
        return SW_ENOMEM;
    memcpy(p->line + p->line_len, src, n);
    p->line_len += n;
    return SW_OK;
}

static void line_done(sw__resp_parser *p)
{
    p->line_len = 0;
    p->line_term = NOOFF;
}

/* Adds an argument: at ptr (off NOOFF), or at off in the arena. */
static int arg_push(sw__resp_parser *p, const char *ptr, size_t off, size_t len)
{
    if (p->argc == p->arg_cap) {
        size_t nc = p->arg_cap ? p->arg_cap * 2 : 8;
        if (nc > SIZE_MAX / sizeof(sw__resp_arg))
            return SW_ENOMEM;
        sw__resp_arg *a = xrealloc(p->argv, nc * sizeof *a);
        if (a == NULL)
            return SW_ENOMEM;
        p->argv = a;
        size_t *o = xrealloc(p->argoff, nc * sizeof *o);
        if (o == NULL)
            return SW_ENOMEM;
        p->argoff = o;
        p->arg_cap = nc;
    }
    p->argv[p->argc] = (sw__resp_arg){.ptr = ptr, .len = len};
    p->argoff[p->argc] = off;
    p->argc++;
    return SW_OK;
}

/* Copies the complete arguments that still point into the caller's buffer
 * into the arena: called before a call returns in the middle of a request,
 * and before a bulk starts being gathered there (so it stays at the end). */
static int hold_args(sw__resp_parser *p)
{
    for (; p->held < p->argc; p->held++) {
        size_t i = p->held, off = p->arena_len;
        if (p->argoff[i] != NOOFF)
            continue;
        if (arena_put(p, p->argv[i].ptr, p->argv[i].len, 0) != SW_OK)
            return SW_ENOMEM;
        p->argoff[i] = off;
        p->argv[i].ptr = NULL;
    }
    return SW_OK;
}

/* Fills cmd with the finished request; arena offsets become pointers. */
static void finish(sw__resp_parser *p, sw__resp_cmd *cmd)
{
    for (size_t i = 0; i < p->argc; i++) {
        if (p->argoff[i] != NOOFF)
            p->argv[i].ptr = p->arena ? p->arena + p->argoff[i] : "";
    }
    cmd->argc = p->argc;
    cmd->argv = p->argv;
    cmd->is_inline = p->is_inline;
    p->has_cmd = true;
}

/* ---- parser: lines ------------------------------------------------------- */

/* The terminator is known to be at line[line_term]: takes the `extra` bytes
 * that must follow it. */
static int line_tail(sw__resp_parser *p, const char *buf, size_t end, size_t *pos, size_t extra,
                     const char **line, size_t *n)
{
    size_t have = p->line_len - p->line_term - 1, want = extra - have;
    size_t take = end - *pos < want ? end - *pos : want;
    if (line_put(p, buf + *pos, take) != SW_OK)
        return fail(p, SW__RESP_PERR_NOMEM);
    *pos += take;
    if (take < want)
        return R_MORE;
    *line = p->line;
    *n = p->line_term;
    return R_CONT;
}

/* A line ending at the first `term`, followed by `extra` bytes that are not
 * looked at. *line and *n: its bytes before term, in buf when it is all
 * there, else in p->line. Error `big` when max_inline + 1 of its bytes hold
 * no term. */
static int gather_line(sw__resp_parser *p, const char *buf, size_t end, size_t *pos, char term,
                       size_t extra, int big, const char **line, size_t *n)
{
    size_t avail = end - *pos, scan = p->lim.max_inline + 1;
    if (p->line_term != NOOFF)
        return line_tail(p, buf, end, pos, extra, line, n);
    if (avail == 0)
        return R_MORE;
    const char *s = buf + *pos;
    scan -= p->line_len; /* line_len <= max_inline while no term is seen */
    const char *t = memchr(s, term, avail < scan ? avail : scan);
    if (t == NULL) {
        if (p->line_len + avail > p->lim.max_inline)
            return fail(p, big);
        if (line_put(p, s, avail) != SW_OK)
            return fail(p, SW__RESP_PERR_NOMEM);
        *pos = end;
        return R_MORE;
    }
    size_t k = (size_t)(t - s);
    if (p->line_len == 0 && avail - k - 1 >= extra) {
        *line = s;
        *n = k;
        *pos += k + 1 + extra;
        return R_CONT;
    }
    p->line_term = p->line_len + k;
    if (line_put(p, s, k + 1) != SW_OK)
        return fail(p, SW__RESP_PERR_NOMEM);
    *pos += k + 1;
    return line_tail(p, buf, end, pos, extra, line, n);
}

/* ---- parser: states ------------------------------------------------------ */

static int st_start(sw__resp_parser *p, const char *buf, size_t end, size_t *pos)
{
    if (*pos == end)
        return R_MORE;
    p->is_inline = buf[*pos] != '*';
    p->state = p->is_inline ? S_INLINE : S_MBCOUNT;
    return R_CONT;
}

static int st_mbcount(sw__resp_parser *p, const char *buf, size_t end, size_t *pos)
{
    const char *l;
    size_t n;
    int r = gather_line(p, buf, end, pos, '\r', 1, SW__RESP_PERR_BIG_MBULK_COUNT, &l, &n);
    if (r != R_CONT)
        return r;
    long long v;
    bool ok = parse_ll(l + 1, n - 1, &v); /* l[0] is the '*' */
    line_done(p);
    if (!ok || (v > 0 && (unsigned long long)v > p->lim.max_multibulk))
        return fail(p, SW__RESP_PERR_MULTIBULK_LEN);
    if (p->auth_required && v > SW__RESP_UNAUTH_MULTIBULK)
        return fail(p, SW__RESP_PERR_UNAUTH_MULTIBULK);
    if (v <= 0)
        return R_EMPTY;
    p->nexpect = (size_t)v;
    p->state = S_BULKHDR;
    return R_CONT;
}

static int st_bulkhdr(sw__resp_parser *p, const char *buf, size_t end, size_t *pos)
{
    const char *l;
    size_t n;
    int r = gather_line(p, buf, end, pos, '\r', 1, SW__RESP_PERR_BIG_BULK_COUNT, &l, &n);
    if (r != R_CONT)
        return r;
    if (n == 0 || l[0] != '$') {
        char got = n ? l[0] : '\r';
        line_done(p);
        return fail_dollar(p, got);
    }
    long long v;
    bool ok = parse_ll(l + 1, n - 1, &v);
    line_done(p);
    if (!ok || v < 0 || (unsigned long long)v > p->lim.max_bulk)
        return fail(p, SW__RESP_PERR_BULK_LEN);
    if (p->auth_required && v > SW__RESP_UNAUTH_BULK)
        return fail(p, SW__RESP_PERR_UNAUTH_BULK);
    p->bulk_left = (size_t)v;
    p->tail_left = 2;
    p->bulk_partial = false;
    p->state = S_BULK;
    return R_CONT;
}

static int bulk_done(sw__resp_parser *p)
{
    p->bulk_partial = false;
    if (--p->nexpect == 0)
        return R_CMD;
    p->state = S_BULKHDR;
    return R_CONT;
}

static int st_bulk(sw__resp_parser *p, const char *buf, size_t end, size_t *pos)
{
    size_t avail = end - *pos;
    if (!p->bulk_partial) {
        if (avail >= p->bulk_left && avail - p->bulk_left >= 2) {
            if (arg_push(p, buf + *pos, NOOFF, p->bulk_left) != SW_OK)
                return fail(p, SW__RESP_PERR_NOMEM);
            *pos += p->bulk_left + 2;
            return bulk_done(p);
        }
        /* Cut short: gather it in the arena, after the arguments before it. */
        if (hold_args(p) != SW_OK || arg_push(p, NULL, p->arena_len, p->bulk_left) != SW_OK)
            return fail(p, SW__RESP_PERR_NOMEM);
        p->held = p->argc;
        p->bulk_partial = true;
    }
    size_t take = avail < p->bulk_left ? avail : p->bulk_left;
    if (arena_put(p, buf + *pos, take, p->arena_len + p->bulk_left) != SW_OK)
        return fail(p, SW__RESP_PERR_NOMEM);
    *pos += take;
    p->bulk_left -= take;
    avail -= take;
    take = avail < p->tail_left ? avail : p->tail_left;
    *pos += take;
    p->tail_left -= take;
    if (p->bulk_left > 0 || p->tail_left > 0)
        return R_MORE;
    return bulk_done(p);
}

/* ---- parser: inline requests --------------------------------------------- */

/* isspace() in the C locale: what separates words and may follow a quote. */
static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* What ends an unquoted word (Redis's list: no '\v' or '\f'). */
static bool ends_word(char c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

static int hex_val(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static char unescape(char c)
{
    switch (c) {
    case 'n':
        return '\n';
    case 'r':
        return '\r';
    case 't':
        return '\t';
    case 'b':
        return '\b';
    case 'a':
        return '\a';
    default:
        return c;
    }
}

/* Decodes the quoted part that starts at s[*i] (the quote) into the arena,
 * which has room for n - *i more bytes; *i ends past the closing quote.
 * Returns false for unbalanced quotes. */
static bool unquote(sw__resp_parser *p, const char *s, size_t n, size_t *i)
{
    char q = s[*i], *out = p->arena + p->arena_len;
    size_t k = *i + 1;
    for (;;) {
        if (k == n)
            return false;
        if (q == '"' && s[k] == '\\' && k + 3 < n && s[k + 1] == 'x' && hex_val(s[k + 2]) >= 0 &&
            hex_val(s[k + 3]) >= 0) {
            *out++ = (char)(hex_val(s[k + 2]) * 16 + hex_val(s[k + 3]));
            k += 4;
        } else if (q == '"' && s[k] == '\\' && k + 1 < n) {
            *out++ = unescape(s[k + 1]);
            k += 2;
        } else if (q == '\'' && s[k] == '\\' && k + 1 < n && s[k + 1] == '\'') {
            *out++ = '\'';
            k += 2;
        } else if (s[k] == q) {
            /* A closing quote must end the word. */
            if (k + 1 < n && !is_space(s[k + 1]))
                return false;
            *i = k + 1;
            p->arena_len = (size_t)(out - p->arena);
            return true;
        } else {
            *out++ = s[k++];
        }
    }
}

/* Splits an inline line as Redis's sdssplitargs does: words separated by
 * spaces; a word is plain bytes, optionally followed by one quoted part
 * ("..." with \n \r \t \b \a \xHH and \<any>, or '...' with \'). Plain words
 * point into s; quoted ones are decoded into the arena. 1: unbalanced. */
static int split_inline(sw__resp_parser *p, const char *s, size_t n)
{
    size_t i = 0;
    for (;;) {
        while (i < n && is_space(s[i]))
            i++;
        if (i == n)
            return SW_OK;
        size_t j = i;
        while (j < n && !ends_word(s[j]) && s[j] != '"' && s[j] != '\'')
            j++;
        if (j == n || ends_word(s[j])) {
            if (arg_push(p, s + i, NOOFF, j - i) != SW_OK)
                return SW_ENOMEM;
            i = j;
            continue;
        }
        size_t off = p->arena_len;
        if (grow(&p->arena, &p->arena_cap, off + (n - i), 0) != SW_OK)
            return SW_ENOMEM;
        memcpy(p->arena + off, s + i, j - i);
        p->arena_len += j - i;
        if (!unquote(p, s, n, &j))
            return 1;
        if (arg_push(p, NULL, off, p->arena_len - off) != SW_OK)
            return SW_ENOMEM;
        i = j;
    }
}

static int st_inline(sw__resp_parser *p, const char *buf, size_t end, size_t *pos)
{
    const char *l;
    size_t n;
    int r = gather_line(p, buf, end, pos, '\n', 0, SW__RESP_PERR_BIG_INLINE, &l, &n);
    if (r != R_CONT)
        return r;
    if (n > 0 && l[n - 1] == '\r')
        n--;
    r = split_inline(p, l, n);
    if (r == 1)
        return fail(p, SW__RESP_PERR_UNBALANCED);
    if (r != SW_OK)
        return fail(p, SW__RESP_PERR_NOMEM);
    return p->argc == 0 ? R_EMPTY : R_CMD;
}

/* ---- parser: the driver -------------------------------------------------- */

/* Runs the states on buf[*pos .. end) until the request is done or the
 * bytes run out. */
static int run_request(sw__resp_parser *p, const char *buf, size_t end, size_t *pos)
{
    for (;;) {
        int r;
        switch (p->state) {
        case S_START:
            r = st_start(p, buf, end, pos);
            break;
        case S_MBCOUNT:
            r = st_mbcount(p, buf, end, pos);
            break;
        case S_BULKHDR:
            r = st_bulkhdr(p, buf, end, pos);
            break;
        case S_BULK:
            r = st_bulk(p, buf, end, pos);
            break;
        case S_INLINE:
            r = st_inline(p, buf, end, pos);
            break;
        default:
            r = R_ERR;
            break;
        }
        if (r != R_CONT)
            return r;
    }
}

static int error_status(const sw__resp_parser *p)
{
    return p->perr == SW__RESP_PERR_NOMEM ? SW_ENOMEM : SW_EIO;
}

int sw__resp_parse(sw__resp_parser *p, const char *buf, size_t len, size_t *used, sw__resp_cmd *cmd)
{
    if (p == NULL || used == NULL || cmd == NULL || (buf == NULL && len > 0))
        return SW_EINVAL;
    *used = len;
    if (p->perr != SW__RESP_PERR_NONE)
        return error_status(p);
    if (p->has_cmd)
        end_request(p);
    if (len == 0)
        return SW_EAGAIN;
    size_t pos = 0;
    for (;;) {
        /* The request may use max_query bytes in all: look no further. */
        size_t start = pos, room = 0;
        if (p->req_bytes < p->lim.max_query)
            room = p->lim.max_query - p->req_bytes;
        size_t end = len - start > room ? start + room : len;
        int r = run_request(p, buf, end, &pos);
        if (r == R_CMD) {
            finish(p, cmd);
            *used = pos;
            return SW_OK;
        }
        if (r == R_EMPTY) {
            end_request(p);
            continue;
        }
        if (r == R_ERR)
            return error_status(p);
        if (end < len) {
            fail(p, SW__RESP_PERR_QUERY_LIMIT);
            return SW_EIO;
        }
        if (hold_args(p) != SW_OK) {
            fail(p, SW__RESP_PERR_NOMEM);
            return SW_ENOMEM;
        }
        p->req_bytes += end - start;
        return SW_EAGAIN;
    }
}

/* ---- encoder ------------------------------------------------------------- */

void sw__resp_buf_init(sw__resp_buf *b, int proto)
{
    memset(b, 0, sizeof *b);
    b->proto = proto == 3 ? 3 : 2;
    b->status = SW_OK;
}

void sw__resp_buf_free(sw__resp_buf *b)
{
    if (b == NULL)
        return;
    free(b->data);
    b->data = NULL;
    b->head = b->len = b->cap = 0;
}

void sw__resp_buf_set_proto(sw__resp_buf *b, int proto)
{
    b->proto = proto == 3 ? 3 : 2;
}

const char *sw__resp_buf_data(const sw__resp_buf *b)
{
    return b->data ? b->data + b->head : "";
}

size_t sw__resp_buf_len(const sw__resp_buf *b)
{
    return b->len - b->head;
}

void sw__resp_buf_consume(sw__resp_buf *b, size_t n)
{
    if (n >= b->len - b->head)
        b->head = b->len = 0;
    else
        b->head += n;
}

/* Room for n more bytes at data + len, or SW_ENOMEM (sticky). */
static int reserve(sw__resp_buf *b, size_t n)
{
    if (b->status != SW_OK)
        return b->status;
    if (b->cap - b->len >= n)
        return SW_OK;
    if (b->head > 0) {
        memmove(b->data, b->data + b->head, b->len - b->head);
        b->len -= b->head;
        b->head = 0;
        if (b->cap - b->len >= n)
            return SW_OK;
    }
    if (n > SIZE_MAX / 4 - b->len || grow(&b->data, &b->cap, b->len + n, 0) != SW_OK)
        b->status = SW_ENOMEM;
    return b->status;
}

static void put(sw__resp_buf *b, const void *p, size_t n)
{
    if (n > 0)
        memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void put_crlf(sw__resp_buf *b)
{
    b->data[b->len++] = '\r';
    b->data[b->len++] = '\n';
}

/* Writes v in decimal to out (room for 20 bytes); returns the length. */
static size_t fmt_u64(char *out, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

/* "<type><n>\r\n", n signed. */
static int add_num(sw__resp_buf *b, char type, bool neg, uint64_t n)
{
    char tmp[24];
    size_t k = 0;
    tmp[k++] = type;
    if (neg)
        tmp[k++] = '-';
    k += fmt_u64(tmp + k, n);
    tmp[k++] = '\r';
    tmp[k++] = '\n';
    if (reserve(b, k) != SW_OK)
        return b->status;
    put(b, tmp, k);
    return SW_OK;
}

/* "<type><bytes>\r\n" with CR and LF written as spaces. */
static int add_line(sw__resp_buf *b, char type, const char *s, size_t n)
{
    if (n > SIZE_MAX / 4 || reserve(b, n + 3) != SW_OK)
        return b->status == SW_OK ? SW_EINVAL : b->status;
    b->data[b->len++] = type;
    for (size_t i = 0; i < n; i++)
        b->data[b->len++] = s[i] == '\r' || s[i] == '\n' ? ' ' : s[i];
    put_crlf(b);
    return SW_OK;
}

int sw__resp_add_simple(sw__resp_buf *b, const char *s)
{
    if (s == NULL)
        return SW_EINVAL;
    return add_line(b, '+', s, strlen(s));
}

int sw__resp_add_error(sw__resp_buf *b, const char *msg)
{
    if (msg == NULL)
        return SW_EINVAL;
    return add_line(b, '-', msg, strlen(msg));
}

int sw__resp_add_errorf(sw__resp_buf *b, const char *fmt, ...)
{
    if (fmt == NULL)
        return SW_EINVAL;
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return SW_EINVAL;
    if ((size_t)n < sizeof small)
        return add_line(b, '-', small, (size_t)n);
    if (reserve(b, (size_t)n + 3) != SW_OK)
        return b->status;
    /* Format again straight into the buffer, then fix the text up. */
    char *at = b->data + b->len + 1;
    va_start(ap, fmt);
    vsnprintf(at, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->data[b->len] = '-';
    for (int i = 0; i < n; i++) {
        if (at[i] == '\r' || at[i] == '\n')
            at[i] = ' ';
    }
    b->len += (size_t)n + 1;
    put_crlf(b);
    return SW_OK;
}

int sw__resp_add_int(sw__resp_buf *b, int64_t n)
{
    uint64_t mag = n < 0 ? (uint64_t)0 - (uint64_t)n : (uint64_t)n;
    return add_num(b, ':', n < 0, mag);
}

/* "<type><n>\r\n<n bytes>\r\n", the n bytes in two pieces (a bulk string
 * is '$'; a verbatim string is '=' with its "txt:" as the first piece). */
static int add_blob(sw__resp_buf *b, char type, const void *p1, size_t n1, const void *p2,
                    size_t n2)
{
    size_t n = n1 + n2;
    if (n1 > SIZE_MAX / 4 || n2 > SIZE_MAX / 4 || reserve(b, n + 26) != SW_OK)
        return b->status == SW_OK ? SW_EINVAL : b->status;
    b->data[b->len++] = type;
    b->len += fmt_u64(b->data + b->len, n);
    put_crlf(b);
    put(b, p1, n1);
    put(b, p2, n2);
    put_crlf(b);
    return SW_OK;
}

int sw__resp_add_bulk(sw__resp_buf *b, const void *p, size_t n)
{
    if (p == NULL && n > 0)
        return SW_EINVAL;
    return add_blob(b, '$', p, n, NULL, 0);
}

int sw__resp_add_bulk_cstr(sw__resp_buf *b, const char *s)
{
    if (s == NULL)
        return SW_EINVAL;
    return add_blob(b, '$', s, strlen(s), NULL, 0);
}

int sw__resp_add_raw(sw__resp_buf *b, const void *p, size_t n)
{
    if (p == NULL && n > 0)
        return SW_EINVAL;
    if (reserve(b, n) != SW_OK)
        return b->status;
    put(b, p, n);
    return SW_OK;
}

int sw__resp_add_null(sw__resp_buf *b)
{
    return b->proto == 3 ? sw__resp_add_raw(b, "_\r\n", 3) : sw__resp_add_raw(b, "$-1\r\n", 5);
}

int sw__resp_add_null_array(sw__resp_buf *b)
{
    return b->proto == 3 ? sw__resp_add_raw(b, "_\r\n", 3) : sw__resp_add_raw(b, "*-1\r\n", 5);
}

int sw__resp_add_array(sw__resp_buf *b, size_t n)
{
    return add_num(b, '*', false, n);
}

int sw__resp_add_map(sw__resp_buf *b, size_t n)
{
    if (b->proto == 3)
        return add_num(b, '%', false, n);
    if (n > SIZE_MAX / 2)
        return SW_EINVAL;
    return add_num(b, '*', false, (uint64_t)n * 2);
}

int sw__resp_add_set(sw__resp_buf *b, size_t n)
{
    return add_num(b, b->proto == 3 ? '~' : '*', false, n);
}

int sw__resp_add_push(sw__resp_buf *b, size_t n)
{
    return add_num(b, b->proto == 3 ? '>' : '*', false, n);
}

int sw__resp_add_double(sw__resp_buf *b, double d)
{
    char tmp[40];
    int n;
    if (isnan(d))
        n = snprintf(tmp, sizeof tmp, "nan");
    else if (isinf(d))
        n = snprintf(tmp, sizeof tmp, "%s", d > 0 ? "inf" : "-inf");
    else
        n = snprintf(tmp, sizeof tmp, "%.17g", d);
    if (n < 0 || (size_t)n >= sizeof tmp)
        return SW_EINVAL;
    if (b->proto != 3)
        return add_blob(b, '$', tmp, (size_t)n, NULL, 0);
    return add_line(b, ',', tmp, (size_t)n);
}

int sw__resp_add_bool(sw__resp_buf *b, bool v)
{
    if (b->proto == 3)
        return sw__resp_add_raw(b, v ? "#t\r\n" : "#f\r\n", 4);
    return sw__resp_add_raw(b, v ? ":1\r\n" : ":0\r\n", 4);
}

int sw__resp_add_verbatim(sw__resp_buf *b, const char *fmt, const void *p, size_t n)
{
    if (fmt == NULL || strlen(fmt) != 3 || (p == NULL && n > 0))
        return SW_EINVAL;
    if (b->proto != 3)
        return add_blob(b, '$', p, n, NULL, 0);
    char head[4] = {fmt[0], fmt[1], fmt[2], ':'};
    return add_blob(b, '=', head, 4, p, n);
}

int sw__resp_add_bignum(sw__resp_buf *b, const char *digits)
{
    if (digits == NULL)
        return SW_EINVAL;
    size_t n = strlen(digits), i = digits[0] == '-';
    if (i == n)
        return SW_EINVAL;
    for (; i < n; i++) {
        if (digits[i] < '0' || digits[i] > '9')
            return SW_EINVAL;
    }
    if (b->proto != 3)
        return add_blob(b, '$', digits, n, NULL, 0);
    return add_line(b, '(', digits, n);
}
