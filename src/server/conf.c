/* stewardd's options (conf.h): the table, the value parsers, redis.conf's
 * line syntax, and the two drivers that read a file and a command line. */
#define _XOPEN_SOURCE 700 /* realpath */
#include "server/conf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/sync.h"
#include "log/datadir.h"
#include "server/cmd.h"

#define FIELD(f) offsetof(struct srv_config, f)
#define FIELD_SIZE(f) sizeof(((struct srv_config *)0)->f)
#define NO_LIMIT LLONG_MAX

/* A name or a value quoted in a message is cut to this many bytes. */
#define QUOTE_MAX 64

/* One line per option; conf_defaults below gives the same defaults as
 * values, and test_server_args checks that each dflt parses to them. */
const struct conf_option conf_options[] = {
    {"port", "N", "6380", NULL, "TCP port to listen on", CONF_INT, FIELD(port), 0, 65535},
    {"bind", "ADDR", "127.0.0.1", NULL, "IPv4 or IPv6 address to listen on", CONF_ADDR, FIELD(bind),
     1, FIELD_SIZE(bind) - 1},
    {"dir", "PATH", NULL, "memory only", "keep the data durable in PATH", CONF_STRING, FIELD(dir),
     1, NO_LIMIT},
    {"appendfsync", "always|everysec|no", "everysec", NULL, "when the log is synced to disk",
     CONF_FSYNC, FIELD(fsync), 0, 0},
    {"shards", "N", NULL, "CPUs, or CPUs - 1 up to 4 CPUs", "shard threads", CONF_UNSIGNED,
     FIELD(shards), 1, SW__MAX_SHARDS},
    {"requirepass", "PASSWORD", NULL, "none", "clients must AUTH with PASSWORD first", CONF_STRING,
     FIELD(requirepass), 0, NO_LIMIT},
    {"maxclients", "N", "10000", NULL, "most clients connected at once", CONF_UNSIGNED,
     FIELD(maxclients), 1, 1000000},
    {"timeout", "SECONDS", "0", NULL, "close clients idle this long; 0: never", CONF_SECONDS,
     FIELD(timeout_s), 0, 1LL << 40},
    {"client-output-buffer-limit", "BYTES", "256mb", NULL,
     "most unsent reply bytes per client; 0: no limit", CONF_BYTES, FIELD(obuf_limit), 0, 0},
    {"client-output-stall", "SECONDS", "60", NULL,
     "close a client that reads no reply this long; 0: never", CONF_SECONDS, FIELD(obuf_stall_s), 0,
     1LL << 40},
    {"proto-max-bulk-len", "BYTES", "512mb", NULL, "largest argument, at least 1mb", CONF_BYTES,
     FIELD(max_bulk), 1 << 20, 0},
    {"client-query-buffer-limit", "BYTES", "1gb", NULL, "largest request, at least 1mb", CONF_BYTES,
     FIELD(max_query), 1 << 20, 0},
    {"protected-mode", "yes|no", "yes", NULL, "without a password, only loopback clients",
     CONF_YESNO, FIELD(protected_mode), 0, 0},
    {"hz", "N", "10", NULL, "background work (expiry, timeouts) per second", CONF_INT, FIELD(hz), 1,
     500},
};
const size_t conf_option_count = sizeof conf_options / sizeof conf_options[0];

static const char *const fsync_words[] = {
    [SW_FSYNC_EVERYSEC] = "everysec", [SW_FSYNC_ALWAYS] = "always", [SW_FSYNC_NO] = "no"};

void conf_defaults(struct srv_config *c)
{
    *c = (struct srv_config){.port = 6380,
                             .bind = "127.0.0.1",
                             .fsync = SW_FSYNC_EVERYSEC,
                             .maxclients = 10000,
                             .obuf_limit = (size_t)256 << 20,
                             .obuf_stall_s = 60,
                             .max_bulk = SW__RESP_MAX_BULK,
                             .max_query = SW__RESP_MAX_QUERY,
                             .protected_mode = true,
                             .hz = 10};
}

/* ---- allocation, with fault injection ------------------------------------ */

static _Atomic long fail_after = -1;

void conf_fail_alloc_after(long n)
{
    atomic_store_explicit(&fail_after, n, memory_order_relaxed);
}

static void *conf_alloc(size_t size)
{
    return sw__fault_fires(&fail_after) ? NULL : malloc(size);
}

/* A NUL-terminated copy of len bytes at p, or NULL. */
static char *conf_strndup(const char *p, size_t len)
{
    char *s = conf_alloc(len + 1);
    if (s) {
        memcpy(s, p, len);
        s[len] = 0;
    }
    return s;
}

/* Sets *dst to a copy of src (NULL stays NULL); false when out of memory. */
static bool dup_string(char **dst, const char *src)
{
    *dst = src ? conf_strndup(src, strlen(src)) : NULL;
    return !src || *dst;
}

void conf_free(struct srv_config *c)
{
    free(c->dir);
    free(c->requirepass);
    free(c->config_file);
    c->dir = c->requirepass = c->config_file = NULL;
}

/* *dst = *src with strings of its own; SW_ENOMEM leaves nothing to free. */
static int conf_copy(struct srv_config *dst, const struct srv_config *src)
{
    *dst = *src;
    bool ok = dup_string(&dst->dir, src->dir);
    ok = dup_string(&dst->requirepass, src->requirepass) && ok;
    ok = dup_string(&dst->config_file, src->config_file) && ok;
    if (!ok)
        conf_free(dst);
    return ok ? SW_OK : SW_ENOMEM;
}

/* ---- values -------------------------------------------------------------- */

const struct conf_option *conf_find(const char *name, size_t len)
{
    sw__resp_arg a = {name, len};
    for (size_t i = 0; i < conf_option_count; i++)
        if (arg_is(&a, conf_options[i].name))
            return &conf_options[i];
    return NULL;
}

/* The index of v among words (any case), or -1. */
static int word_index(const char *v, size_t len, const char *const *words, size_t n)
{
    sw__resp_arg a = {v, len};
    for (size_t i = 0; i < n; i++)
        if (arg_is(&a, words[i]))
            return (int)i;
    return -1;
}

/* Stores the value of a string or an address option; SW_EINVAL if its
 * length is out of bounds, it holds a NUL, or it is no address. */
static int set_string(struct srv_config *c, const struct conf_option *o, const char *v, size_t len)
{
    char *field = (char *)c + o->offset;
    if (len < (unsigned long long)o->lo || len > (unsigned long long)o->hi || memchr(v, 0, len))
        return SW_EINVAL;
    if (o->kind == CONF_ADDR) {
        /* What the server will bind to (server.c), checked now so that a
         * bad one is found with its line, before anything opens. */
        char addr[FIELD_SIZE(bind)]; /* len < hi + 1 */
        unsigned char bin[sizeof(struct in6_addr)];
        memcpy(addr, v, len);
        addr[len] = 0;
        if (inet_pton(AF_INET, addr, bin) != 1 && inet_pton(AF_INET6, addr, bin) != 1)
            return SW_EINVAL;
        memcpy(field, addr, len + 1);
        return SW_OK;
    }
    char *s = conf_strndup(v, len);
    if (!s)
        return SW_ENOMEM;
    free(*(char **)field);
    *(char **)field = s;
    return SW_OK;
}

/* Stores v in o's field of *c; SW_EINVAL (c unchanged) or SW_ENOMEM. */
static int apply(struct srv_config *c, const struct conf_option *o, const char *v, size_t len)
{
    static const char *const yesno[] = {"no", "yes"};
    char *field = (char *)c + o->offset;
    long long n = 0;
    size_t z = 0;
    int w;
    switch (o->kind) {
    case CONF_INT:
    case CONF_UNSIGNED:
    case CONF_SECONDS:
        if (!arg_ll(v, len, &n) || n < o->lo || n > o->hi)
            return SW_EINVAL;
        if (o->kind == CONF_INT)
            *(int *)field = (int)n;
        else if (o->kind == CONF_UNSIGNED)
            *(unsigned *)field = (unsigned)n;
        else
            *(int64_t *)field = n;
        return SW_OK;
    case CONF_BYTES:
        if (!arg_size(v, len, &z) || z < (unsigned long long)o->lo)
            return SW_EINVAL;
        *(size_t *)field = z;
        return SW_OK;
    case CONF_YESNO:
        w = word_index(v, len, yesno, sizeof yesno / sizeof yesno[0]);
        if (w < 0)
            return SW_EINVAL;
        *(bool *)field = w == 1;
        return SW_OK;
    case CONF_FSYNC:
        w = word_index(v, len, fsync_words, sizeof fsync_words / sizeof fsync_words[0]);
        if (w < 0)
            return SW_EINVAL;
        *(enum sw_fsync *)field = (enum sw_fsync)w;
        return SW_OK;
    case CONF_ADDR:
    case CONF_STRING:
        return set_string(c, o, v, len);
    }
    return SW_EINVAL;
}

/* What a value of o looks like, for a message. */
static void expected(const struct conf_option *o, char *buf, size_t cap)
{
    switch (o->kind) {
    case CONF_INT:
    case CONF_UNSIGNED:
    case CONF_SECONDS:
        snprintf(buf, cap, "an integer from %lld to %lld", o->lo, o->hi);
        break;
    case CONF_BYTES:
        if (o->lo > 0 && o->lo % (1 << 20) == 0)
            snprintf(buf, cap, "a size of at least %lldmb", o->lo >> 20);
        else
            snprintf(buf, cap, "a size such as 1048576, 512kb, 64mb or 1gb");
        break;
    case CONF_YESNO:
        snprintf(buf, cap, "yes or no");
        break;
    case CONF_FSYNC:
        snprintf(buf, cap, "always, everysec or no");
        break;
    case CONF_ADDR:
        snprintf(buf, cap, "an IPv4 or IPv6 address");
        break;
    case CONF_STRING:
        snprintf(buf, cap, "a%s value without NUL bytes", o->lo > 0 ? " non-empty" : "");
        break;
    }
}

static void say(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void say(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (errlen > 0)
        vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* conf_set, naming the option as a flag (--port) or as a directive
 * ('port'). A string's value is never quoted back: it may be a password. */
static int set_value(struct srv_config *c, const struct conf_option *o, const char *v, size_t len,
                     bool flag, char *err, size_t errlen)
{
    int rc = apply(c, o, v, len);
    if (rc == SW_ENOMEM) {
        say(err, errlen, "out of memory");
    } else if (rc != SW_OK) {
        char want[64], got[QUOTE_MAX + 8] = "";
        expected(o, want, sizeof want);
        if (o->kind != CONF_STRING)
            snprintf(got, sizeof got, " '%.*s'", (int)(len > QUOTE_MAX ? QUOTE_MAX : len), v);
        say(err, errlen, "bad value%s for %s%s%s: expected %s", got, flag ? "--" : "'", o->name,
            flag ? "" : "'", want);
    }
    return rc;
}

int conf_set(struct srv_config *c, const struct conf_option *o, const char *v, size_t len,
             char *err, size_t errlen)
{
    return set_value(c, o, v, len, false, err, errlen);
}

/* ---- the config file ----------------------------------------------------- */

/* The words of a line, decoded: the first three (a directive takes one
 * argument; a third word only says there are too many) and how many. */
struct words {
    size_t n;
    const char *p[3];
    size_t len[3];
};

static bool is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\v' || ch == '\f';
}

static int hex(char ch)
{
    return ch >= '0' && ch <= '9'   ? ch - '0'
           : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
           : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                    : -1;
}

static char unescape(char ch)
{
    return ch == 'n'   ? '\n'
           : ch == 'r' ? '\r'
           : ch == 't' ? '\t'
           : ch == 'b' ? '\b'
           : ch == 'a' ? '\a'
                       : ch;
}

/* The byte that a quoted part of line s gives at s[*i], moving *i past
 * what it took, as redis.conf reads it: double quotes take \xHH, \n, \r,
 * \t, \b, \a and \ before any other byte; single quotes take only \'. */
static char quoted_byte(const char *s, size_t len, size_t *i, char quote)
{
    size_t at = *i;
    if (quote == '"' && s[at] == '\\' && at + 3 < len && s[at + 1] == 'x' && hex(s[at + 2]) >= 0 &&
        hex(s[at + 3]) >= 0) {
        *i += 4;
        return (char)(hex(s[at + 2]) * 16 + hex(s[at + 3]));
    }
    if (quote == '"' && s[at] == '\\' && at + 1 < len) {
        *i += 2;
        return unescape(s[at + 1]);
    }
    if (quote == '\'' && s[at] == '\\' && at + 1 < len && s[at + 1] == '\'') {
        *i += 2;
        return '\'';
    }
    *i += 1;
    return s[at];
}

/* Splits a line (len bytes, no newline) into words as redis.conf does:
 * words part at blanks; a quote opens a quoted part, even inside a word,
 * and a closing quote ends the word, so it must be followed by a blank or
 * the end. The words go to buf (len + 1 bytes: each takes at most its
 * bytes and a NUL, and every word but the last is followed by a blank).
 * False on unbalanced quotes. */
static bool split(const char *s, size_t len, char *buf, struct words *w)
{
    size_t i = 0, o = 0;
    w->n = 0;
    for (;;) {
        while (i < len && is_space(s[i]))
            i++;
        if (i == len)
            return true;
        size_t start = o;
        char quote = 0;
        while (i < len && (quote || !is_space(s[i]))) {
            if (!quote && (s[i] == '"' || s[i] == '\'')) {
                quote = s[i++];
            } else if (quote && s[i] == quote) {
                i++;
                if (i < len && !is_space(s[i]))
                    return false;
                quote = 0;
                break;
            } else if (quote) {
                buf[o++] = quoted_byte(s, len, &i, quote);
            } else {
                buf[o++] = s[i++];
            }
        }
        if (quote)
            return false;
        if (w->n < 3) {
            w->p[w->n] = buf + start;
            w->len[w->n] = o - start;
        }
        w->n++;
        buf[o++] = 0;
    }
}

/* One line of a config file: SW_OK, or a status with its reason in msg. */
static int parse_line(struct srv_config *c, const char *line, size_t len, char *buf, char *msg,
                      size_t cap)
{
    size_t i = 0;
    while (i < len && is_space(line[i]))
        i++;
    if (i == len || line[i] == '#')
        return SW_OK; /* a blank line or a comment, whatever it holds */
    struct words w;
    if (!split(line, len, buf, &w)) {
        say(msg, cap, "unbalanced quotes");
        return SW_EINVAL;
    }
    const struct conf_option *o = conf_find(w.p[0], w.len[0]);
    if (!o) {
        say(msg, cap, "unknown directive '%.*s'",
            (int)(w.len[0] > QUOTE_MAX ? QUOTE_MAX : w.len[0]), w.p[0]);
        return SW_EINVAL;
    }
    if (w.n != 2) {
        say(msg, cap, "wrong number of arguments for '%s': expected 1, got %zu", o->name, w.n - 1);
        return SW_EINVAL;
    }
    return set_value(c, o, w.p[1], w.len[1], false, msg, cap);
}

int conf_parse(struct srv_config *c, const char *text, size_t len, const char *file, char *err,
               size_t errlen)
{
    struct srv_config t;
    char *buf = NULL, msg[256];
    unsigned line = 0;
    int rc = conf_copy(&t, c);
    if (rc == SW_OK)
        buf = conf_alloc(len + 1);
    if (rc == SW_OK && !buf)
        rc = SW_ENOMEM;
    size_t at = 0;
    while (rc == SW_OK && at < len) {
        const char *nl = memchr(text + at, '\n', len - at);
        size_t end = nl ? (size_t)(nl - text) : len;
        line++;
        rc = parse_line(&t, text + at, end - at, buf, msg, sizeof msg);
        at = end + 1;
    }
    free(buf);
    if (rc == SW_ENOMEM) {
        say(err, errlen, "out of memory");
    } else if (rc != SW_OK) {
        say(err, errlen, "%s:%u: %s", file, line, msg);
    }
    if (rc != SW_OK) {
        conf_free(&t);
        return rc;
    }
    conf_free(c);
    *c = t;
    return SW_OK;
}

/* Reads the whole file at path into *text (ours to free) and *len: SW_OK,
 * SW_EIO with errno set, or SW_ENOMEM. */
static int read_file(const char *path, char **text, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return SW_EIO;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    int rc = SW_OK;
    for (;;) {
        if (n == cap) {
            char *g = conf_alloc(cap ? cap * 2 : 4096);
            if (!g) {
                rc = SW_ENOMEM;
                break;
            }
            if (n > 0)
                memcpy(g, buf, n);
            free(buf);
            buf = g;
            cap = cap ? cap * 2 : 4096;
        }
        ssize_t got = read(fd, buf + n, cap - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            rc = SW_EIO;
        if (got <= 0)
            break;
        n += (size_t)got;
    }
    int saved = errno;
    close(fd);
    errno = saved;
    if (rc != SW_OK) {
        free(buf);
        return rc;
    }
    *text = buf;
    *len = n;
    return SW_OK;
}

int conf_load(struct srv_config *c, const char *path, char *err, size_t errlen)
{
    char *text = NULL;
    size_t len = 0;
    int rc = read_file(path, &text, &len);
    if (rc == SW_EIO)
        say(err, errlen, "cannot read %s: %s", path, strerror(errno));
    else if (rc == SW_ENOMEM)
        say(err, errlen, "out of memory");
    else
        rc = conf_parse(c, text, len, path, err, errlen);
    free(text);
    return rc;
}

/* ---- the command line ---------------------------------------------------- */

/* The flags' shape, before the file is read: a typo in a flag is found
 * first, and --help works beside a broken file. Sets *action when --help
 * or --version comes before any error. */
static int check_flags(int argc, char *const *argv, int first, enum conf_action *action, char *err,
                       size_t errlen)
{
    for (int i = first; i < argc; i += 2) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            *action = CONF_HELP;
            return SW_OK;
        }
        if (!strcmp(a, "--version") || !strcmp(a, "-v")) {
            *action = CONF_VERSION;
            return SW_OK;
        }
        if (a[0] != '-') {
            say(err, errlen,
                "unexpected argument '%s': a config file comes first, then --option value pairs",
                a);
            return SW_EINVAL;
        }
        if (strncmp(a, "--", 2) != 0 || !conf_find(a + 2, strlen(a + 2))) {
            say(err, errlen, "unknown option %s", a);
            return SW_EINVAL;
        }
        if (i + 1 >= argc) {
            say(err, errlen, "%s needs a value", a);
            return SW_EINVAL;
        }
    }
    return SW_OK;
}

/* Records the config file's absolute path, as redis-server's INFO shows
 * it (the path as given, if it has none). */
static int set_config_file(struct srv_config *c, const char *path)
{
    char *abs = realpath(path, NULL);
    const char *p = abs ? abs : path;
    char *s = conf_strndup(p, strlen(p));
    free(abs);
    if (!s)
        return SW_ENOMEM;
    free(c->config_file);
    c->config_file = s;
    return SW_OK;
}

int conf_args(struct srv_config *c, int argc, char *const *argv, enum conf_action *action,
              char *err, size_t errlen)
{
    conf_defaults(c); /* what *c holds on error: nothing to free */
    struct srv_config t = *c;
    *action = CONF_RUN;
    int first = argc > 1 && argv[1][0] != '-' ? 2 : 1;
    int rc = check_flags(argc, argv, first, action, err, errlen);
    if (rc != SW_OK || *action != CONF_RUN)
        return rc;
    if (first == 2)
        rc = conf_load(&t, argv[1], err, errlen);
    if (rc == SW_OK && first == 2) {
        rc = set_config_file(&t, argv[1]);
        if (rc != SW_OK)
            say(err, errlen, "out of memory");
    }
    for (int i = first; rc == SW_OK && i < argc; i += 2) {
        const struct conf_option *o = conf_find(argv[i] + 2, strlen(argv[i] + 2));
        rc = set_value(&t, o, argv[i + 1], strlen(argv[i + 1]), true, err, errlen);
    }
    if (rc != SW_OK)
        conf_free(&t);
    else
        *c = t;
    return rc;
}
