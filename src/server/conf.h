/* stewardd's configuration: one table of options that are both its
 * command-line flags (--port 6380) and the directives of its config file
 * (port 6380, in redis.conf's syntax), so the two cannot drift apart.
 * --help, the sample contrib/stewardd.conf and the man page stewardd.1 list
 * the same names, and tests hold them to this table.
 *
 * A command line is `stewardd [FILE] [--option value]...`: the defaults,
 * then FILE, then the flags in order, so a flag overrides the file. The
 * parsers (conf_set, conf_parse) do no I/O; conf_load reads a file and
 * conf_args a command line, and nothing here prints. Every error comes
 * back as a status with one line in err, naming the file and line or the
 * flag: "stewardd.conf:12: unknown directive 'foo'".
 *
 * Thread safety: the table is immutable; each function works on the
 * configuration it is given, which the caller must not share meanwhile.
 */
#ifndef STEWARD_SERVER_CONF_H
#define STEWARD_SERVER_CONF_H

#include <stdbool.h>
#include <stddef.h>

#include "server/server.h"

/* How an option's value is read and where it is stored. */
enum conf_kind {
    CONF_INT,      /* an int in [lo, hi] */
    CONF_UNSIGNED, /* an unsigned in [lo, hi] */
    CONF_SECONDS,  /* an int64_t in [lo, hi] */
    CONF_BYTES,    /* a size_t of at least lo, with Redis's units (256mb) */
    CONF_YESNO,    /* a bool: yes or no */
    CONF_FSYNC,    /* an enum sw_fsync: always, everysec or no */
    CONF_ADDR,     /* a char array: an IPv4 or IPv6 address of lo to hi bytes */
    CONF_STRING,   /* a char * of ours (conf_free frees it): from lo to hi bytes, no NUL */
};

struct conf_option {
    const char *name;  /* the flag without its dashes, and the directive */
    const char *value; /* how --help names the value: "N", "PATH", "yes|no" */
    const char *dflt;  /* the default as a value ("6380"), or NULL if unset */
    const char *unset; /* what the server does when it is unset, or NULL */
    const char *help;  /* what it sets, in a few words */
    enum conf_kind kind;
    size_t offset; /* of its field in struct srv_config */
    long long lo, hi;
};

/* Every option, in the order --help lists them. */
extern const struct conf_option conf_options[];
extern const size_t conf_option_count;

/* What the command line asks for. */
enum conf_action {
    CONF_RUN,     /* serve with the configuration */
    CONF_HELP,    /* --help or -h: print the options and exit */
    CONF_VERSION, /* --version or -v: print the version and exit */
};

/* Sets *c to the defaults; nothing to free. */
void conf_defaults(struct srv_config *c);

/* Frees the strings of c (dir, requirepass, config_file) and sets them to
 * NULL. */
void conf_free(struct srv_config *c);

/* The option of a name (any case, without dashes), or NULL. */
const struct conf_option *conf_find(const char *name, size_t len);

/* Sets option o of *c to the value v (len bytes, which may hold a NUL).
 * SW_OK; SW_EINVAL with a message in err when v is not a value of o
 * ("bad value 'x' for 'port': expected an integer from 0 to 65535"), *c
 * unchanged; SW_ENOMEM ("out of memory"). err: errlen bytes, always
 * NUL-terminated when errlen > 0. */
int conf_set(struct srv_config *c, const struct conf_option *o, const char *v, size_t len,
             char *err, size_t errlen);

/* Applies a config file's text (len bytes; file names it in messages) to
 * *c, line by line: blank lines and lines starting with '#' are skipped;
 * every other line is a directive and its one argument, which may be
 * quoted as in redis.conf ("a b", 'a b', with \n \t \xHH escapes in double
 * quotes). A later line overrides an earlier one. SW_OK; SW_EINVAL with
 * "FILE:LINE: why" in err (unknown directive, wrong number of arguments,
 * unbalanced quotes, bad value) and *c unchanged; SW_ENOMEM, *c unchanged. */
int conf_parse(struct srv_config *c, const char *text, size_t len, const char *file, char *err,
               size_t errlen);

/* Reads the file at path and applies it with conf_parse. SW_OK; SW_EIO
 * ("cannot read PATH: why") when it cannot be read; as conf_parse
 * otherwise. *c is unchanged on error. */
int conf_load(struct srv_config *c, const char *path, char *err, size_t errlen);

/* Reads a command line into *c: the defaults, then the config file if
 * argv[1] is one (it does not start with '-'; c->config_file gets its
 * absolute path), then each --option value. --help, -h, --version and -v
 * stop the reading where they stand and set *action. SW_OK, with *c to
 * free with conf_free (for CONF_HELP and CONF_VERSION too); SW_EINVAL
 * (an unknown flag, a flag without its value, an argument that is no
 * flag, a bad value) or the errors of conf_load, with the message in err,
 * *c the defaults and nothing to free. */
int conf_args(struct srv_config *c, int argc, char *const *argv, enum conf_action *action,
              char *err, size_t errlen);

/* Fault injection for tests: the next n allocations of this file succeed
 * and every one after them fails, until a test sets n = -1. */
void conf_fail_alloc_after(long n);

#endif
