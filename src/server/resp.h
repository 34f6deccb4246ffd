/* RESP, the Redis protocol, for stewardd: a request parser and a reply
 * encoder. Neither does any I/O: the parser takes bytes and returns commands,
 * the encoder appends replies to a growable buffer; the event loop moves the
 * bytes. That keeps both fuzzable and lets the tests drive every split of a
 * stream.
 *
 * Requests are what redis-server 7 accepts: multibulk (`*<n>\r\n` then n
 * times `$<len>\r\n<len bytes>\r\n`, binary-safe) and inline (one line of
 * words ending in "\n" or "\r\n", with Redis's quoting rules), with Redis's
 * limits and its exact error texts (see sw__resp_parse). Replies are RESP2 or
 * RESP3, chosen per buffer (HELLO switches a connection).
 *
 * Thread safety: a parser or a buffer is used by one thread at a time (its
 * connection's); distinct ones are independent. sw__resp_fail_alloc: any
 * thread, meant for tests.
 */
#ifndef STEWARD_SERVER_RESP_H
#define STEWARD_SERVER_RESP_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "steward/status.h"

/* ---- limits -------------------------------------------------------------- */

/* The most arguments a multibulk request may announce. redis-server 6 had
 * this very limit; redis-server 7 allows up to INT_MAX but grows its argument
 * array as the arguments arrive, as this parser does. */
#define SW__RESP_MAX_MULTIBULK ((size_t)1024 * 1024)
/* proto-max-bulk-len: the largest bulk argument. */
#define SW__RESP_MAX_BULK ((size_t)512 << 20)
/* client-query-buffer-limit: the largest request, counted in raw bytes. */
#define SW__RESP_MAX_QUERY ((size_t)1 << 30)
/* PROTO_INLINE_MAX_SIZE: how long a line (an inline request, a `*<n>` or a
 * `$<len>` line) may grow before its terminator. */
#define SW__RESP_MAX_INLINE ((size_t)64 * 1024)
/* While a connection has not authenticated (the server calls
 * sw__resp_parser_set_auth_required), Redis allows at most this many
 * arguments and this long a bulk. */
#define SW__RESP_UNAUTH_MULTIBULK 10
#define SW__RESP_UNAUTH_BULK 16384

/* The parser's limits. A field that is 0 takes its default (the macro above
 * of the same name). */
typedef struct sw__resp_limits {
    size_t max_multibulk; /* a larger `*<n>`: "invalid multibulk length" */
    size_t max_bulk;      /* a larger `$<len>`: "invalid bulk length" */
    size_t max_query;     /* a request of more raw bytes: SW__RESP_PERR_QUERY_LIMIT */
    size_t max_inline;    /* a longer unterminated line: "too big ..." */
} sw__resp_limits;

/* ---- the parser ---------------------------------------------------------- */

/* Why a parser stopped. Each has a fixed text (sw__resp_parser_errstr), the
 * one redis-server replies with after "-ERR ", except where noted. */
enum sw__resp_perr {
    SW__RESP_PERR_NONE = 0,
    SW__RESP_PERR_MULTIBULK_LEN,    /* "Protocol error: invalid multibulk length" */
    SW__RESP_PERR_BULK_LEN,         /* "Protocol error: invalid bulk length" */
    SW__RESP_PERR_EXPECTED_DOLLAR,  /* "Protocol error: expected '$', got 'X'" */
    SW__RESP_PERR_BIG_INLINE,       /* "Protocol error: too big inline request" */
    SW__RESP_PERR_BIG_MBULK_COUNT,  /* "Protocol error: too big mbulk count string" */
    SW__RESP_PERR_BIG_BULK_COUNT,   /* "Protocol error: too big bulk count string" */
    SW__RESP_PERR_UNBALANCED,       /* "Protocol error: unbalanced quotes in request" */
    SW__RESP_PERR_UNAUTH_MULTIBULK, /* "Protocol error: unauthenticated multibulk length" */
    SW__RESP_PERR_UNAUTH_BULK,      /* "Protocol error: unauthenticated bulk length" */
    /* "Closing client that reached max query buffer length": redis-server
     * logs this line and closes the connection without a reply. */
    SW__RESP_PERR_QUERY_LIMIT,
    /* "out of memory": an allocation failed; close without a reply. */
    SW__RESP_PERR_NOMEM
};

/* One argument: len bytes at ptr, binary-safe and NOT NUL-terminated. ptr is
 * never NULL, even when len is 0. */
typedef struct sw__resp_arg {
    const char *ptr;
    size_t len;
} sw__resp_arg;

/* One request. See sw__resp_parse for how long argv and its bytes live. */
typedef struct sw__resp_cmd {
    size_t argc;              /* >= 1 */
    const sw__resp_arg *argv; /* argc entries; argv[0] is the command name */
    bool is_inline;           /* it came as an inline request */
} sw__resp_cmd;

/* The parser for one connection's request stream. Embed it anywhere; every
 * field is private to resp.c. Owned by the connection's thread. */
typedef struct sw__resp_parser {
    sw__resp_limits lim;
    bool auth_required; /* apply the unauthenticated limits */
    int state;          /* what the next byte is: see resp.c */
    int perr;           /* an enum sw__resp_perr; sticky once set */
    char errbuf[48];    /* the text of SW__RESP_PERR_EXPECTED_DOLLAR */
    bool has_cmd;       /* the last call returned a command: free it on entry */
    bool is_inline;     /* the current request is inline */
    size_t req_bytes;   /* raw bytes of the current request taken by earlier calls */
    size_t nexpect;     /* multibulk: arguments announced but not yet complete */
    size_t bulk_left;   /* payload bytes of the current bulk still to come */
    size_t tail_left;   /* bytes of its "\r\n" still to come (2 .. 0) */
    bool bulk_partial;  /* the current bulk is being gathered in the arena */
    /* A line that spans calls, gathered from its first byte. */
    char *line;
    size_t line_len, line_cap;
    size_t line_term; /* where its terminator is in line, or SIZE_MAX if not seen */
    /* The bytes of the current request's arguments that the parser holds. */
    char *arena;
    size_t arena_len, arena_cap;
    /* The arguments so far. argoff[i] is argument i's offset in arena, or
     * SIZE_MAX when argv[i].ptr points into the caller's current buffer. */
    sw__resp_arg *argv;
    size_t *argoff;
    size_t argc, arg_cap;
    size_t held; /* arguments [0, held) are all in the arena */
} sw__resp_parser;

/* Initialises p with the limits in lim (NULL: all defaults; a 0 field: its
 * default). Allocates nothing. Returns SW_OK, or SW_EINVAL when p is NULL. */
int sw__resp_parser_init(sw__resp_parser *p, const sw__resp_limits *lim);

/* Frees what p holds; p may then be initialised again. Any command it
 * returned is gone. p may be NULL. */
void sw__resp_parser_destroy(sw__resp_parser *p);

/* Back to the start of a stream, keeping the limits and the auth setting:
 * drops any partial request, any returned command and any error. */
void sw__resp_parser_reset(sw__resp_parser *p);

/* Changes the limits (CONFIG SET proto-max-bulk-len, client-query-buffer-
 * limit); they apply from the next line parsed. NULL or 0 fields: defaults.
 * Returns SW_OK or SW_EINVAL when p is NULL. */
int sw__resp_parser_set_limits(sw__resp_parser *p, const sw__resp_limits *lim);

/* Whether the connection still has to authenticate. While it does, a
 * multibulk request may announce at most SW__RESP_UNAUTH_MULTIBULK arguments
 * and a bulk may be at most SW__RESP_UNAUTH_BULK bytes, as in redis-server.
 * Inline requests have no such limit (nor have they in Redis). */
void sw__resp_parser_set_auth_required(sw__resp_parser *p, bool required);

/* Parses the next request from buf[0 .. len), which continues the bytes of
 * earlier calls. Requests may be split at any byte: a part of one is held by
 * the parser until the rest arrives. Several requests in one buffer come out
 * one per call: call again with buf + *used and len - *used.
 *
 * Returns:
 *  - SW_OK: *cmd is the next command and *used is the number of bytes of buf
 *    taken up to its end (bytes after it are not looked at). Empty requests
 *    (`*0`, `*-1` and any `*<negative>`, and inline lines of only spaces)
 *    are skipped, as Redis does, and never returned.
 *  - SW_EAGAIN: no complete command: every byte was taken (*used = len) and
 *    what belongs to an incomplete request is kept by the parser.
 *  - SW_EIO: a protocol error. sw__resp_parser_errcode and _errstr say which;
 *    reply "-ERR <errstr>" (except where enum sw__resp_perr says otherwise),
 *    then close the connection, as Redis does. The parser stays in this
 *    state: later calls return SW_EIO again until it is reset. *used = len.
 *  - SW_ENOMEM: an allocation failed; the parser is in error state
 *    SW__RESP_PERR_NOMEM as above. *used = len.
 *  - SW_EINVAL: p, used or cmd is NULL, or buf is NULL with len > 0; nothing
 *    changes.
 * buf may be NULL when len is 0 (that only frees the previous command).
 *
 * Lifetime of a command: argv and every argv[i].ptr stay valid until the
 * next call of any sw__resp_parser_* function on p (parse, reset, destroy,
 * ...). In addition, an argument whose bytes all arrived in this call's buf
 * points straight into buf (no copy), so it is also valid only while the
 * caller keeps those bytes of buf unchanged. An argument that spans calls is
 * copied into the parser, and so are the complete arguments of a request
 * that is still incomplete when a call returns: the caller may reuse its
 * buffer after every call. A request that arrives whole in one buffer is
 * never copied (inline arguments with quotes are decoded into the parser).
 *
 * Limits and errors (texts exactly as redis-server 7's):
 *  - `*<n>` where n is not a number (Redis's strict form: optional '-', no
 *    '+', no leading zero, no spaces, fits in 64 bits) or n > max_multibulk:
 *    "Protocol error: invalid multibulk length"; n > 10 while auth is
 *    required: "Protocol error: unauthenticated multibulk length".
 *  - A byte other than '$' where a bulk starts: "Protocol error: expected
 *    '$', got 'X'" (X is the byte; '\r', '\n' and NUL read as ' ').
 *  - `$<len>` where len is not a number, is negative, or > max_bulk:
 *    "Protocol error: invalid bulk length"; len > 16384 while auth is
 *    required: "Protocol error: unauthenticated bulk length".
 *  - max_inline + 1 bytes of a line without its terminator ('\n' for
 *    inline, '\r' for the others): "Protocol error: too big inline request",
 *    "... too big mbulk count string", "... too big bulk count string".
 *  - An inline line with an unterminated quote, or a closing quote followed
 *    by anything but a space: "Protocol error: unbalanced quotes in request".
 *  - A request that needs more than max_query raw bytes: SW__RESP_PERR_QUERY_
 *    LIMIT. (Redis counts its whole query buffer; the server bounds its own
 *    read buffer, so per request is what the parser can count.)
 * Like Redis, the byte after the '\r' that ends a `*` or `$` line and the two
 * bytes after a bulk's payload are skipped without being looked at. Unlike
 * Redis, whose search for a line's end stops at a NUL byte (so that it waits
 * until the line is "too big"), NUL is an ordinary byte here: in a `*` or
 * `$` line it makes the number invalid, in an inline request it is part of a
 * word. Each error is found at the same byte of the stream whatever the
 * split of the stream into calls. */
int sw__resp_parse(sw__resp_parser *p, const char *buf, size_t len, size_t *used,
                   sw__resp_cmd *cmd);

/* The parser's error: an enum sw__resp_perr, SW__RESP_PERR_NONE if none. */
int sw__resp_parser_errcode(const sw__resp_parser *p);

/* The text of the parser's error (without the "ERR " prefix), NULL if none.
 * Valid until the parser is reset or destroyed. */
const char *sw__resp_parser_errstr(const sw__resp_parser *p);

/* Bytes the parser holds for the current incomplete request (for INFO's
 * qbuf): its gathered line and arguments. */
size_t sw__resp_parser_buffered(const sw__resp_parser *p);

/* ---- the reply encoder --------------------------------------------------- */

/* A growable output buffer: the bytes to send are data[head .. len). Owned
 * by its connection's thread. Every add writes a whole item or, when memory
 * runs out, nothing; a failure also sticks in status, so that a caller may
 * encode a whole reply and check once (a reply cut short must not be sent:
 * close the connection). */
typedef struct sw__resp_buf {
    char *data;
    size_t head, len, cap;
    int proto;  /* 2 or 3: RESP2 or RESP3 */
    int status; /* SW_OK, or SW_ENOMEM once an add failed */
} sw__resp_buf;

/* An empty buffer for protocol 2 or 3 (anything else reads as 2). Allocates
 * nothing. b must not be NULL. */
void sw__resp_buf_init(sw__resp_buf *b, int proto);

/* Frees the bytes; b may then be initialised again. b may be NULL. */
void sw__resp_buf_free(sw__resp_buf *b);

/* The protocol of later adds (HELLO): 2 or 3, anything else reads as 2. */
void sw__resp_buf_set_proto(sw__resp_buf *b, int proto);

/* The bytes to send and their number; the pointer is valid until the next
 * add, consume or free. */
const char *sw__resp_buf_data(const sw__resp_buf *b);
size_t sw__resp_buf_len(const sw__resp_buf *b);

/* Drops the first n bytes to send (they were written); n larger than the
 * length drops them all. Clears nothing else (status stays). */
void sw__resp_buf_consume(sw__resp_buf *b, size_t n);

/* Each add returns SW_OK, or SW_ENOMEM (nothing written; b->status set), or
 * SW_EINVAL where noted (nothing written, status unchanged). b must not be
 * NULL; once b->status is SW_ENOMEM every add returns SW_ENOMEM. */

/* "+<s>\r\n". Any '\r' or '\n' in s is written as a space. */
int sw__resp_add_simple(sw__resp_buf *b, const char *s);

/* "-<msg>\r\n", msg beginning with its code ("ERR ...", "WRONGTYPE ...");
 * '\r' and '\n' in msg are written as spaces, as Redis does. */
int sw__resp_add_error(sw__resp_buf *b, const char *msg);

/* The same with printf formatting. SW_EINVAL on a formatting error. */
int sw__resp_add_errorf(sw__resp_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ":<n>\r\n". */
int sw__resp_add_int(sw__resp_buf *b, int64_t n);

/* "$<n>\r\n<bytes>\r\n", binary-safe. p may be NULL when n is 0; SW_EINVAL
 * when it is NULL otherwise. */
int sw__resp_add_bulk(sw__resp_buf *b, const void *p, size_t n);

/* The same for a NUL-terminated string (SW_EINVAL if NULL). */
int sw__resp_add_bulk_cstr(sw__resp_buf *b, const char *s);

/* A null: RESP2 "$-1\r\n", RESP3 "_\r\n". */
int sw__resp_add_null(sw__resp_buf *b);

/* A null array: RESP2 "*-1\r\n", RESP3 "_\r\n". */
int sw__resp_add_null_array(sw__resp_buf *b);

/* Headers for n elements to follow: array "*<n>\r\n"; map RESP3 "%<n>\r\n"
 * (n pairs), RESP2 "*<2n>\r\n"; set RESP3 "~<n>\r\n", RESP2 "*<n>\r\n";
 * push RESP3 "><n>\r\n", RESP2 "*<n>\r\n". Map: SW_EINVAL if 2n overflows. */
int sw__resp_add_array(sw__resp_buf *b, size_t n);
int sw__resp_add_map(sw__resp_buf *b, size_t n);
int sw__resp_add_set(sw__resp_buf *b, size_t n);
int sw__resp_add_push(sw__resp_buf *b, size_t n);

/* A double as redis-server 7.0 writes it ("%.17g"; "inf", "-inf", "nan"):
 * RESP3 ",<d>\r\n", RESP2 a bulk string of the same text. */
int sw__resp_add_double(sw__resp_buf *b, double d);

/* RESP3 "#t\r\n" / "#f\r\n"; RESP2 ":1\r\n" / ":0\r\n". */
int sw__resp_add_bool(sw__resp_buf *b, bool v);

/* Verbatim string: RESP3 "=<n+4>\r\n<fmt>:<bytes>\r\n" with fmt exactly 3
 * characters ("txt", "mkd"); RESP2 a bulk string of the bytes. SW_EINVAL if
 * fmt is not 3 characters or p is NULL with n > 0. */
int sw__resp_add_verbatim(sw__resp_buf *b, const char *fmt, const void *p, size_t n);

/* Big number: RESP3 "(<digits>\r\n", RESP2 a bulk string. SW_EINVAL unless
 * digits is an optional '-' and one or more decimal digits. */
int sw__resp_add_bignum(sw__resp_buf *b, const char *digits);

/* n raw bytes of protocol, as they are (a reply built elsewhere). SW_EINVAL
 * when p is NULL with n > 0. */
int sw__resp_add_raw(sw__resp_buf *b, const void *p, size_t n);

/* ---- fault injection ----------------------------------------------------- */

/* For tests: after `after` more successful allocations by the parser or the
 * encoder (anywhere in the process), one allocation fails; a negative
 * `after` turns this off. Thread safety: any thread. */
void sw__resp_fail_alloc(long after);

#endif
