/* stewardd's argument parsing (src/server/args.c): Redis's strict
 * integers, INCRBYFLOAT's long doubles and their output, and glob
 * patterns; a key argument's build with the dispatcher's hashes
 * (kkey_init, src/server/kv.c); and its configuration (src/server/conf.c):
 * flags, config files in redis.conf's syntax, and every error they can
 * give. */
#define _XOPEN_SOURCE 700 /* realpath */
#include <ctype.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "server/cmd.h"
#include "server/conf.h"
#include "tmpdir.h"

static bool ll(const char *s, long long *v)
{
    return arg_ll(s, strlen(s), v);
}

static void test_integers(void **state)
{
    (void)state;
    long long v;
    assert_true(ll("0", &v) && v == 0);
    assert_true(ll("-1", &v) && v == -1);
    assert_true(ll("9223372036854775807", &v) && v == LLONG_MAX);
    assert_true(ll("-9223372036854775808", &v) && v == LLONG_MIN);
    const char *bad[] = {"",
                         "-",
                         "+1",
                         "01",
                         "-0",
                         " 1",
                         "1 ",
                         "1.0",
                         "9223372036854775808",
                         "-9223372036854775809",
                         "1e3",
                         "0x10",
                         "12a"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(ll(bad[i], &v));
    unsigned long long u;
    assert_true(arg_ull("18446744073709551615", 20, &u) && u == ULLONG_MAX);
    assert_false(arg_ull("18446744073709551616", 20, &u));
    assert_false(arg_ull("-1", 2, &u));
    /* A NUL inside is not a digit. */
    assert_false(arg_ll("1\0002", 3, &v));
}

static void test_floats(void **state)
{
    (void)state;
    long double v;
    char buf[64];
    assert_true(arg_ld("10.5", 4, &v));
    assert_int_equal(fmt_ld(buf, sizeof buf, v), 4);
    assert_string_equal(buf, "10.5");
    assert_true(arg_ld("3.0e3", 5, &v));
    fmt_ld(buf, sizeof buf, v);
    assert_string_equal(buf, "3000");
    assert_true(arg_ld("-0", 2, &v));
    fmt_ld(buf, sizeof buf, v);
    assert_string_equal(buf, "0");
    long double a, b;
    assert_true(arg_ld("10.5", 4, &a) && arg_ld("0.1", 3, &b));
    fmt_ld(buf, sizeof buf, a + b);
    assert_string_equal(buf, "10.6");
    /* 17 decimals of a long double, as redis-server 7.0 prints them: its
     * INCRBYFLOAT of 5000 by 0.1 answers this very string. */
    assert_true(arg_ld("5000", 4, &a));
    fmt_ld(buf, sizeof buf, a + b);
    assert_string_equal(buf, "5000.10000000000000009");
    assert_false(arg_ld(" 1", 2, &v));
    assert_false(arg_ld("1 ", 2, &v));
    assert_false(arg_ld("nan", 3, &v));
    assert_false(arg_ld("", 0, &v));
    assert_false(arg_ld("1e99999", 7, &v));
    assert_false(arg_ld("abc", 3, &v));
    /* Too small a buffer gives 0, never a cut number. */
    assert_int_equal(fmt_ld(buf, 3, 12345.5L), 0);
}

static bool gm(const char *p, const char *s)
{
    return glob_match(p, strlen(p), s, strlen(s), false);
}

static void test_glob(void **state)
{
    (void)state;
    assert_true(gm("*", ""));
    assert_true(gm("*", "anything"));
    assert_true(gm("h?llo", "hello"));
    assert_false(gm("h?llo", "hllo"));
    assert_true(gm("h*llo", "heeeello"));
    assert_true(gm("h[ae]llo", "hallo"));
    assert_false(gm("h[ae]llo", "hillo"));
    assert_true(gm("h[^e]llo", "hallo"));
    assert_false(gm("h[^e]llo", "hello"));
    assert_true(gm("h[a-b]llo", "hbllo"));
    assert_true(gm("h[b-a]llo", "hallo")); /* a reversed range, as Redis reads it */
    assert_true(gm("h\\*llo", "h*llo"));
    assert_false(gm("h\\*llo", "hello"));
    assert_true(gm("a*b*c", "aXXbYYc"));
    assert_false(gm("a*b*c", "aXXbYY"));
    assert_true(gm("foo\\", "foo\\"));
    assert_true(glob_match("A*", 2, "abc", 3, true));
    assert_false(glob_match("A*", 2, "abc", 3, false));
    /* Many stars against a long miss stays fast (it backtracks only to
     * the last star). */
    char s[4001];
    memset(s, 'a', 4000);
    s[4000] = 0;
    assert_false(gm("*a*a*a*a*a*a*a*a*a*a*a*b", s));
}

static void test_arg_is(void **state)
{
    (void)state;
    sw__resp_arg a = {"NX", 2};
    assert_true(arg_is(&a, "nx"));
    assert_false(arg_is(&a, "xx"));
    sw__resp_arg b = {"nxx", 3};
    assert_false(arg_is(&b, "nx"));
}

/* cmd_lookup bisects the table: it must stay sorted, and find every name
 * in any case. */
static void test_command_table(void **state)
{
    (void)state;
    for (size_t i = 1; i < cmd_count; i++)
        assert_true(strcmp(cmd_table[i - 1].name, cmd_table[i].name) < 0);
    for (size_t i = 0; i < cmd_count; i++) {
        char up[32];
        size_t n = strlen(cmd_table[i].name);
        for (size_t j = 0; j < n; j++)
            up[j] = (char)toupper((unsigned char)cmd_table[i].name[j]);
        assert_ptr_equal(&cmd_table[i], cmd_lookup(cmd_table[i].name, n));
        assert_ptr_equal(&cmd_table[i], cmd_lookup(up, n));
    }
    assert_null(cmd_lookup("nosuchcommand", 13));
}

/* ---- configuration (conf.c) ---------------------------------------------- */

static void assert_str_or_null(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        assert_ptr_equal(a, b);
    else
        assert_string_equal(a, b);
}

static void assert_config_equal(const struct srv_config *a, const struct srv_config *b)
{
    assert_int_equal(a->port, b->port);
    assert_string_equal(a->bind, b->bind);
    assert_str_or_null(a->dir, b->dir);
    assert_int_equal(a->fsync, b->fsync);
    assert_int_equal(a->shards, b->shards);
    assert_str_or_null(a->requirepass, b->requirepass);
    assert_int_equal(a->maxclients, b->maxclients);
    assert_int_equal(a->timeout_s, b->timeout_s);
    assert_int_equal(a->obuf_limit, b->obuf_limit);
    assert_int_equal(a->obuf_stall_s, b->obuf_stall_s);
    assert_int_equal(a->max_bulk, b->max_bulk);
    assert_int_equal(a->max_query, b->max_query);
    assert_int_equal(a->protected_mode, b->protected_mode);
    assert_int_equal(a->hz, b->hz);
    assert_str_or_null(a->config_file, b->config_file);
}

static int parse(struct srv_config *c, const char *text, char *err, size_t errlen)
{
    return conf_parse(c, text, strlen(text), "t.conf", err, errlen);
}

/* Writes text to g_dir/name; returns the path (static storage). */
static const char *write_file(const char *name, const char *text)
{
    static char path[128];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
    return path;
}

/* The table: unique lowercase names found in any case, one default each
 * (a value or a word for unset), and every default value parses to what
 * conf_defaults sets. */
static void test_conf_table(void **state)
{
    (void)state;
    struct srv_config dflt, c;
    conf_defaults(&dflt);
    char err[256];
    for (size_t i = 0; i < conf_option_count; i++) {
        const struct conf_option *o = &conf_options[i];
        char up[64];
        size_t n = strlen(o->name);
        for (size_t j = 0; j <= n; j++)
            up[j] = (char)toupper((unsigned char)o->name[j]);
        assert_ptr_equal(conf_find(o->name, n), o);
        assert_ptr_equal(conf_find(up, n), o);
        for (size_t j = 0; j < n; j++)
            assert_true(islower((unsigned char)o->name[j]) || o->name[j] == '-');
        assert_true((o->dflt == NULL) != (o->unset == NULL));
        assert_non_null(o->value);
        assert_non_null(o->help);
        if (o->dflt) {
            conf_defaults(&c);
            assert_int_equal(conf_set(&c, o, o->dflt, strlen(o->dflt), err, sizeof err), SW_OK);
            assert_config_equal(&c, &dflt);
            conf_free(&c);
        }
    }
    assert_null(conf_find("nosuchoption", 12));
    assert_null(conf_find("por", 3));
    assert_null(conf_find("--port", 6));
}

/* Every option, set to a value that is not its default. */
static const char *const every[][2] = {
    {"port", "7001"},
    {"bind", "::1"},
    {"dir", "/var/lib/stewardd"},
    {"appendfsync", "always"},
    {"shards", "3"},
    {"requirepass", "s3cret"},
    {"maxclients", "77"},
    {"timeout", "300"},
    {"client-output-buffer-limit", "1mb"},
    {"client-output-stall", "5"},
    {"proto-max-bulk-len", "2mb"},
    {"client-query-buffer-limit", "3gb"},
    {"protected-mode", "no"},
    {"hz", "100"},
};
#define N_EVERY (sizeof every / sizeof every[0])

static void expect_every(struct srv_config *want)
{
    conf_defaults(want);
    want->port = 7001;
    strcpy(want->bind, "::1");
    want->dir = "/var/lib/stewardd";
    want->fsync = SW_FSYNC_ALWAYS;
    want->shards = 3;
    want->requirepass = "s3cret";
    want->maxclients = 77;
    want->timeout_s = 300;
    want->obuf_limit = 1 << 20;
    want->obuf_stall_s = 5;
    want->max_bulk = 2 << 20;
    want->max_query = (size_t)3 << 30;
    want->protected_mode = false;
    want->hz = 100;
}

/* A file with every directive sets every field, and the same values as
 * flags give the same configuration. */
static void test_conf_every_directive(void **state)
{
    (void)state;
    assert_int_equal(N_EVERY, conf_option_count);
    char text[2048] = "", *argv[1 + 2 * N_EVERY], flags[N_EVERY][64], err[256];
    argv[0] = "stewardd";
    for (size_t i = 0; i < N_EVERY; i++) {
        assert_non_null(conf_find(every[i][0], strlen(every[i][0])));
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(every[i][0], every[j][0]);
        snprintf(text + strlen(text), sizeof text - strlen(text), "%s %s\n", every[i][0],
                 every[i][1]);
        snprintf(flags[i], sizeof flags[i], "--%s", every[i][0]);
        argv[1 + 2 * i] = flags[i];
        argv[2 + 2 * i] = (char *)every[i][1];
    }
    struct srv_config want, file, cli;
    expect_every(&want);
    conf_defaults(&file);
    assert_int_equal(parse(&file, text, err, sizeof err), SW_OK);
    assert_config_equal(&file, &want);

    enum conf_action action;
    assert_int_equal(conf_args(&cli, 1 + 2 * N_EVERY, argv, &action, err, sizeof err), SW_OK);
    assert_int_equal(action, CONF_RUN);
    assert_config_equal(&cli, &file);
    conf_free(&file);
    conf_free(&cli);
}

/* The file first, then the flags in order: a flag overrides the file, a
 * later flag or line an earlier one, and the rest stays the file's. */
static void test_conf_flags_override(void **state)
{
    (void)state;
    const char *path = write_file("s.conf", "port 7001\ndir /a\nport 7002\nhz 20\n");
    char *argv[] = {"stewardd", (char *)path, "--port", "7003", "--dir", "/b", "--dir", "/c"};
    struct srv_config c;
    enum conf_action action;
    char err[256];
    assert_int_equal(conf_args(&c, 8, argv, &action, err, sizeof err), SW_OK);
    assert_int_equal(action, CONF_RUN);
    assert_int_equal(c.port, 7003);
    assert_string_equal(c.dir, "/c");
    assert_int_equal(c.hz, 20);
    char *abs = realpath(path, NULL);
    assert_non_null(abs);
    assert_string_equal(c.config_file, abs);
    free(abs);
    conf_free(&c);

    /* Without the flags, the file's last line wins; without a file, no
     * config_file. */
    assert_int_equal(conf_args(&c, 2, argv, &action, err, sizeof err), SW_OK);
    assert_int_equal(c.port, 7002);
    assert_string_equal(c.dir, "/a");
    conf_free(&c);
    char *none[] = {"stewardd"};
    struct srv_config dflt;
    conf_defaults(&dflt);
    assert_int_equal(conf_args(&c, 1, none, &action, err, sizeof err), SW_OK);
    assert_config_equal(&c, &dflt);
}

/* redis.conf's line syntax: comments, blanks, CRLF, quotes and escapes,
 * names and words in any case. */
static void test_conf_syntax(void **state)
{
    (void)state;
    struct srv_config c, dflt;
    char err[256];
    conf_defaults(&dflt);
    conf_defaults(&c);
    assert_int_equal(parse(&c, "", err, sizeof err), SW_OK);
    assert_int_equal(
        parse(&c, "\n\n   \n\t\r\n# port 1\n   # it's \"unbalanced\n", err, sizeof err), SW_OK);
    assert_config_equal(&c, &dflt);

    assert_int_equal(
        parse(&c, "  PORT\t7001\r\nappendfsync ALWAYS\nprotected-mode Yes\nhz 20", err, sizeof err),
        SW_OK);
    assert_int_equal(c.port, 7001);
    assert_int_equal(c.fsync, SW_FSYNC_ALWAYS);
    assert_true(c.protected_mode);
    assert_int_equal(c.hz, 20);

    static const struct {
        const char *line, *value;
    } quoted[] = {
        {"requirepass \"a b\"", "a b"},
        {"requirepass \"\\x41\\x7a\\n\\r\\t\\b\\a\\\"\\\\\\q\"", "Az\n\r\t\b\a\"\\q"},
        {"requirepass \"\\x4\"", "x4"},
        {"requirepass 'it\\'s \"quoted\" \\n'", "it's \"quoted\" \\n"},
        {"requirepass \"\"", ""},
        {"requirepass ''  ", ""},
        {"requirepass ab\"c d\"", "abc d"},
        {"requirepass a'b'", "ab"},
        {"requirepass #notacomment", "#notacomment"},
    };
    for (size_t i = 0; i < sizeof quoted / sizeof quoted[0]; i++) {
        assert_int_equal(parse(&c, quoted[i].line, err, sizeof err), SW_OK);
        assert_string_equal(c.requirepass, quoted[i].value);
    }
    static const char *const binds[] = {"0.0.0.0", "::",        "127.0.0.1",
                                        "::1",     "fe80::1%1", "2001:db8::ffff:1.2.3.4"};
    for (size_t i = 0; i < sizeof binds / sizeof binds[0]; i++) {
        char line[64];
        snprintf(line, sizeof line, "bind %s", binds[i]);
        int rc = parse(&c, line, err, sizeof err);
        if (strchr(binds[i], '%'))
            assert_int_equal(rc, SW_EINVAL); /* inet_pton takes no zone, nor does the server */
        else
            assert_string_equal(c.bind, binds[i]);
    }
    assert_int_equal(parse(&c, "dir \"/data/my dir\"", err, sizeof err), SW_OK);
    assert_string_equal(c.dir, "/data/my dir");
    conf_free(&c);
}

struct bad {
    const char *text, *msg;
};

static void expect_errors(const struct bad *b, size_t n)
{
    struct srv_config c, dflt;
    conf_defaults(&dflt);
    char err[256];
    for (size_t i = 0; i < n; i++) {
        conf_defaults(&c);
        err[0] = 0;
        assert_int_equal(parse(&c, b[i].text, err, sizeof err), SW_EINVAL);
        assert_string_equal(err, b[i].msg);
        assert_config_equal(&c, &dflt); /* nothing changed, earlier lines included */
    }
}

/* The errors of the file's syntax, each with its line number. */
static void test_conf_errors(void **state)
{
    (void)state;
    char longname[200];
    memset(longname, 'x', 100);
    strcpy(longname + 100, " 1");
    char longmsg[200];
    snprintf(longmsg, sizeof longmsg, "t.conf:1: unknown directive '%.64s'", longname);
    const struct bad b[] = {
        {"foo bar\n", "t.conf:1: unknown directive 'foo'"},
        {"port 1\n\n# c\nfoo\n", "t.conf:4: unknown directive 'foo'"},
        {"\"po rt\" 1", "t.conf:1: unknown directive 'po rt'"},
        {"--port 1", "t.conf:1: unknown directive '--port'"},
        {longname, longmsg},
        {"\n# c\nport\n", "t.conf:3: wrong number of arguments for 'port': expected 1, got 0"},
        {"port 1 2", "t.conf:1: wrong number of arguments for 'port': expected 1, got 2"},
        {"port 1 # a comment", "t.conf:1: wrong number of arguments for 'port': expected 1, got 4"},
        {"bind 127.0.0.1 ::1", "t.conf:1: wrong number of arguments for 'bind': expected 1, got 2"},
        {"port \"1", "t.conf:1: unbalanced quotes"},
        {"port \"1\"2", "t.conf:1: unbalanced quotes"},
        {"port 1\nrequirepass 'a", "t.conf:2: unbalanced quotes"},
        {"requirepass \"a\\\"", "t.conf:1: unbalanced quotes"},
        {"port 6380\nport abc", "t.conf:2: bad value 'abc' for 'port': expected an integer from 0 "
                                "to 65535"},
    };
    expect_errors(b, sizeof b / sizeof b[0]);
}

/* A bad value for every option, with its message (a string's value is
 * never quoted back: it may be a password). */
static void test_conf_bad_values(void **state)
{
    (void)state;
    char bind64[80] = "bind ";
    memset(bind64 + 5, 'a', 64);
    strcpy(bind64 + 5 + 64, "\n");
    char bind64msg[200];
    snprintf(bind64msg, sizeof bind64msg,
             "t.conf:1: bad value '%.64s' for 'bind': expected an IPv4 or IPv6 address",
             bind64 + 5);
    char bigval[120], bigmsg[200];
    memset(bigval, '9', 100);
    bigval[100] = 0;
    snprintf(bigmsg, sizeof bigmsg,
             "bad value '%.64s' for 'port': expected an integer from 0 to 65535", bigval);
    const struct bad b[] = {
        {"port abc", "t.conf:1: bad value 'abc' for 'port': expected an integer from 0 to 65535"},
        {"port 65536",
         "t.conf:1: bad value '65536' for 'port': expected an integer from 0 to 65535"},
        {"port -1", "t.conf:1: bad value '-1' for 'port': expected an integer from 0 to 65535"},
        {"bind \"\"", "t.conf:1: bad value '' for 'bind': expected an IPv4 or IPv6 address"},
        {bind64, bind64msg},
        {"bind \"::1\\x00\"", "t.conf:1: bad value '::1' for 'bind': expected an IPv4 or IPv6 "
                              "address"},
        {"bind localhost", "t.conf:1: bad value 'localhost' for 'bind': expected an IPv4 or IPv6 "
                           "address"},
        {"bind 127.0.0.256", "t.conf:1: bad value '127.0.0.256' for 'bind': expected an IPv4 or "
                             "IPv6 address"},
        {"dir ''", "t.conf:1: bad value for 'dir': expected a non-empty value without NUL bytes"},
        {"appendfsync sometimes", "t.conf:1: bad value 'sometimes' for 'appendfsync': expected "
                                  "always, everysec or no"},
        {"shards 0", "t.conf:1: bad value '0' for 'shards': expected an integer from 1 to 4096"},
        {"shards 4097",
         "t.conf:1: bad value '4097' for 'shards': expected an integer from 1 to 4096"},
        {"requirepass \"a\\x00b\"", "t.conf:1: bad value for 'requirepass': expected a value "
                                    "without NUL bytes"},
        {"maxclients 0", "t.conf:1: bad value '0' for 'maxclients': expected an integer from 1 to "
                         "1000000"},
        {"timeout -1", "t.conf:1: bad value '-1' for 'timeout': expected an integer from 0 to "
                       "1099511627776"},
        {"client-output-buffer-limit 1xb", "t.conf:1: bad value '1xb' for "
                                           "'client-output-buffer-limit': expected a size such as "
                                           "1048576, 512kb, 64mb or 1gb"},
        {"client-output-stall 1099511627777", "t.conf:1: bad value '1099511627777' for "
                                              "'client-output-stall': expected an integer from 0 "
                                              "to 1099511627776"},
        {"proto-max-bulk-len 1000", "t.conf:1: bad value '1000' for 'proto-max-bulk-len': "
                                    "expected a size of at least 1mb"},
        {"client-query-buffer-limit 1kb", "t.conf:1: bad value '1kb' for "
                                          "'client-query-buffer-limit': expected a size of at "
                                          "least 1mb"},
        {"protected-mode maybe", "t.conf:1: bad value 'maybe' for 'protected-mode': expected yes "
                                 "or no"},
        {"hz 0", "t.conf:1: bad value '0' for 'hz': expected an integer from 1 to 500"},
        {"hz 501", "t.conf:1: bad value '501' for 'hz': expected an integer from 1 to 500"},
    };
    expect_errors(b, sizeof b / sizeof b[0]);
    /* Every option has its case above. */
    for (size_t i = 0; i < conf_option_count; i++) {
        bool seen = false;
        size_t n = strlen(conf_options[i].name);
        for (size_t j = 0; j < sizeof b / sizeof b[0]; j++)
            seen |= !strncmp(b[j].text, conf_options[i].name, n) && b[j].text[n] == ' ';
        assert_true(seen);
    }
    /* conf_set names the directive; a long value is cut in the message. */
    struct srv_config c;
    char err[256];
    conf_defaults(&c);
    assert_int_equal(conf_set(&c, conf_find("port", 4), bigval, 100, err, sizeof err), SW_EINVAL);
    assert_string_equal(err, bigmsg);
    assert_int_equal(c.port, 6380);
}

/* Reading files: unreadable ones, and one bigger than the first buffer
 * with an error far down. */
static void test_conf_load(void **state)
{
    (void)state;
    struct srv_config c, dflt;
    char err[512], want[512];
    conf_defaults(&dflt);
    conf_defaults(&c);
    char path[128];
    snprintf(path, sizeof path, "%s/missing.conf", g_dir);
    assert_int_equal(conf_load(&c, path, err, sizeof err), SW_EIO);
    snprintf(want, sizeof want, "cannot read %s: No such file or directory", path);
    assert_string_equal(err, want);
    assert_int_equal(conf_load(&c, g_dir, err, sizeof err), SW_EIO);
    snprintf(want, sizeof want, "cannot read %s: Is a directory", g_dir);
    assert_string_equal(err, want);
    assert_config_equal(&c, &dflt);

    size_t cap = 64 * 1024;
    char *text = malloc(cap);
    assert_non_null(text);
    text[0] = 0;
    for (int i = 1; i < 3000; i++)
        strcat(text, i % 2 ? "# a comment line\n" : "port 7001\n");
    strcat(text, "hz 11\nfoo 1\n");
    const char *big = write_file("big.conf", text);
    assert_int_equal(conf_load(&c, big, err, sizeof err), SW_EINVAL);
    snprintf(want, sizeof want, "%s:3001: unknown directive 'foo'", big);
    assert_string_equal(err, want);
    assert_config_equal(&c, &dflt);
    text[strlen(text) - strlen("foo 1\n")] = 0;
    big = write_file("big.conf", text);
    assert_int_equal(conf_load(&c, big, err, sizeof err), SW_OK);
    assert_int_equal(c.port, 7001);
    assert_int_equal(c.hz, 11);
    free(text);

    /* A file's errors come through conf_args the same way. */
    char *argv[] = {"stewardd", path, "--port", "1"};
    enum conf_action action;
    assert_int_equal(conf_args(&c, 4, argv, &action, err, sizeof err), SW_EIO);
    snprintf(want, sizeof want, "cannot read %s: No such file or directory", path);
    assert_string_equal(err, want);
    assert_config_equal(&c, &dflt);
}

/* The command line's own errors, and --help and --version. */
static void test_conf_args(void **state)
{
    (void)state;
    static const struct {
        int argc;
        char *argv[5];
        const char *msg;
    } bad[] = {
        {3, {"stewardd", "--foo", "1"}, "unknown option --foo"},
        {2, {"stewardd", "-x"}, "unknown option -x"},
        {3, {"stewardd", "--", "1"}, "unknown option --"},
        {3, {"stewardd", "-port", "1"}, "unknown option -port"},
        {2, {"stewardd", "--port"}, "--port needs a value"},
        {4, {"stewardd", "--port", "1", "--hz"}, "--hz needs a value"},
        {3,
         {"stewardd", "a.conf", "b.conf"},
         "unexpected argument 'b.conf': a config file comes first, then --option value pairs"},
        {4,
         {"stewardd", "--port", "1", "2"},
         "unexpected argument '2': a config file comes first, then --option value pairs"},
        {3,
         {"stewardd", "--port", "x"},
         "bad value 'x' for --port: expected an integer from 0 to 65535"},
        {5,
         {"stewardd", "--port", "1", "--dir", ""},
         "bad value for --dir: expected a non-empty value without NUL bytes"},
        {3,
         {"stewardd", "--protected-mode", "on"},
         "bad value 'on' for --protected-mode: expected yes or no"},
    };
    struct srv_config c, dflt;
    conf_defaults(&dflt);
    enum conf_action action;
    char err[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(conf_args(&c, bad[i].argc, bad[i].argv, &action, err, sizeof err),
                         SW_EINVAL);
        assert_string_equal(err, bad[i].msg);
        assert_config_equal(&c, &dflt);
    }
    static const struct {
        int argc;
        char *argv[4];
        enum conf_action action;
    } stop[] = {
        {2, {"stewardd", "--help"}, CONF_HELP},
        {2, {"stewardd", "-h"}, CONF_HELP},
        {2, {"stewardd", "--version"}, CONF_VERSION},
        {2, {"stewardd", "-v"}, CONF_VERSION},
        /* Read before the file, which is not read, and before bad values. */
        {3, {"stewardd", "/nonexistent.conf", "--help"}, CONF_HELP},
        {4, {"stewardd", "--port", "x", "--version"}, CONF_VERSION},
        /* Where a value stands it is a value. */
        {3, {"stewardd", "--requirepass", "--help"}, CONF_RUN},
    };
    for (size_t i = 0; i < sizeof stop / sizeof stop[0]; i++) {
        assert_int_equal(conf_args(&c, stop[i].argc, stop[i].argv, &action, err, sizeof err),
                         SW_OK);
        assert_int_equal(action, stop[i].action);
        conf_free(&c);
    }
}

/* Every allocation fails in turn: each failure says "out of memory" and
 * leaves the configuration as it was (ASan checks that nothing leaks). */
static void test_conf_out_of_memory(void **state)
{
    (void)state;
    char text[8192] = "";
    while (strlen(text) < 5000)
        strcat(text, "# a comment to pass the first read buffer\n");
    strcat(text, "dir /a\nrequirepass pw\n");
    const char *path = write_file("oom.conf", text);
    char *argv[] = {"stewardd", (char *)path, "--dir", "/b", "--requirepass", "x"};
    struct srv_config c, before;
    enum conf_action action;
    char err[256];
    int failures = 0, rc = SW_ENOMEM;
    for (long n = 0; rc == SW_ENOMEM; n++) {
        conf_fail_alloc_after(n);
        rc = conf_args(&c, 6, argv, &action, err, sizeof err);
        conf_fail_alloc_after(-1);
        if (rc == SW_ENOMEM) {
            assert_string_equal(err, "out of memory");
            failures++;
        }
    }
    assert_int_equal(rc, SW_OK);
    /* Two read buffers, the line buffer, dir and requirepass from the file,
     * the file's path, dir and requirepass from the flags. */
    assert_int_equal(failures, 8);
    assert_string_equal(c.dir, "/b");
    assert_string_equal(c.requirepass, "x");

    /* conf_load on a configuration with strings of its own: its copy fails too. */
    conf_defaults(&before);
    assert_int_equal(conf_load(&before, path, err, sizeof err), SW_OK);
    rc = SW_ENOMEM;
    for (long n = 0; rc == SW_ENOMEM; n++) {
        conf_fail_alloc_after(n);
        rc = conf_load(&c, path, err, sizeof err);
        conf_fail_alloc_after(-1);
        if (rc == SW_ENOMEM) {
            assert_string_equal(err, "out of memory");
            assert_string_equal(c.dir, "/b");
            assert_string_equal(c.requirepass, "x");
        }
    }
    assert_int_equal(rc, SW_OK);
    before.config_file = c.config_file;
    assert_config_equal(&c, &before);
    before.config_file = NULL;
    conf_free(&before);
    conf_fail_alloc_after(0);
    assert_int_equal(conf_set(&c, conf_find("dir", 3), "/d", 2, err, sizeof err), SW_ENOMEM);
    conf_fail_alloc_after(-1);
    assert_string_equal(err, "out of memory");
    assert_string_equal(c.dir, "/a");
    conf_free(&c);
}

/* contrib/stewardd.conf names every directive and sets only defaults. */
static void test_conf_sample(void **state)
{
    (void)state;
    struct srv_config c, dflt;
    char err[512];
    conf_defaults(&dflt);
    conf_defaults(&c);
    assert_int_equal(conf_load(&c, STEWARD_SAMPLE_CONF, err, sizeof err), SW_OK);
    assert_config_equal(&c, &dflt);
    FILE *f = fopen(STEWARD_SAMPLE_CONF, "r");
    assert_non_null(f);
    bool seen[64] = {false};
    assert_true(conf_option_count <= 64);
    char line[512];
    while (fgets(line, sizeof line, f)) {
        /* "name value" or, for an option unset by default, "# name value". */
        const char *p = line[0] == '#' && line[1] == ' ' ? line + 2 : line;
        for (size_t i = 0; i < conf_option_count; i++) {
            size_t n = strlen(conf_options[i].name);
            if (!strncmp(p, conf_options[i].name, n) && p[n] == ' ')
                seen[i] = true;
        }
    }
    fclose(f);
    for (size_t i = 0; i < conf_option_count; i++)
        if (!seen[i])
            fail_msg("contrib/stewardd.conf lacks '%s'", conf_options[i].name);
}

/* The hash kkey_init gives argument i of x, the key checked built. */
static uint64_t key_hash_of(struct exec *x, size_t i)
{
    struct kkey k;
    assert_int_equal(SW_OK, kkey_init(x, &k, i));
    assert_int_equal(x->db, k.db);
    assert_int_equal(x->argv[i].len + 1, k.len);
    assert_int_equal(x->db, (unsigned char)k.p[0]);
    assert_memory_equal(x->argv[i].ptr, k.p + 1, x->argv[i].len);
    uint64_t h = k.hash;
    kkey_free(&k);
    return h;
}

/* A key's own hash: its database's byte, then its bytes. */
static uint64_t key_hash_real(int db, const char *key)
{
    char buf[64];
    buf[0] = (char)db;
    memcpy(buf + 1, key, strlen(key));
    return sw__hash(buf, strlen(key) + 1);
}

/* The dispatcher's key hashes, carried with a command (struct keyhash):
 * kkey_init takes a key's hash from the memo only while the exec still has
 * the arguments and the database it was made for, and hashes otherwise. A
 * memo used past that would file a key under another key's hash, lost to
 * every later lookup. The memo holds a hash that is not the key's, so the
 * hash kkey_init returns says which one it used. */
static void test_key_hash_memo(void **state)
{
    (void)state;
    struct srv_shard shards[4];
    struct srv s = {.n = 4, .shards = shards};
    memset(shards, 0, sizeof shards);
    sw__resp_arg argv[3] = {
        {.ptr = "MGET", .len = 4}, {.ptr = "alpha", .len = 5}, {.ptr = "beta", .len = 4}};
    uint64_t memo[3] = {0, 0x1234, 0};
    /* A world operation's exec: any shard's key may be built. */
    struct exec x = {.srv = &s,
                     .self = &shards[0],
                     .world = true,
                     .db = 0,
                     .argc = 3,
                     .argv = argv,
                     .kh = {.argv = argv, .db = 0, .hash = memo}};
    assert_int_equal(0x1234, key_hash_of(&x, 1));                   /* the memo */
    assert_int_equal(key_hash_real(0, "beta"), key_hash_of(&x, 2)); /* 0: not known */

    struct exec y = x; /* another database (SELECT in EXEC, COPY's DB) */
    y.db = 3;
    assert_int_equal(key_hash_real(3, "alpha"), key_hash_of(&y, 1));

    sw__resp_arg other[3]; /* other arguments in a copy (a queued command) */
    memcpy(other, argv, sizeof other);
    y = x;
    y.argv = other;
    assert_int_equal(key_hash_real(0, "alpha"), key_hash_of(&y, 1));

    y = x; /* no memo */
    y.kh.hash = NULL;
    assert_int_equal(key_hash_real(0, "alpha"), key_hash_of(&y, 1));

    /* Outside a world operation the key's shard comes from the hash used:
     * the memo's is allowed on its own shard, refused on another. */
    y = x;
    y.world = false;
    y.self = &shards[srv_shard_of(&s, 0x1234)];
    struct kkey k;
    assert_int_equal(SW_OK, kkey_init(&y, &k, 1));
    assert_ptr_equal(y.self, k.sh);
    kkey_free(&k);
    y.self = &shards[(srv_shard_of(&s, 0x1234) + 1) % 4];
    assert_int_equal(SW_EINVAL, kkey_init(&y, &k, 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_integers),
        cmocka_unit_test(test_floats),
        cmocka_unit_test(test_glob),
        cmocka_unit_test(test_arg_is),
        cmocka_unit_test(test_key_hash_memo),
        cmocka_unit_test(test_command_table),
        cmocka_unit_test(test_conf_table),
        cmocka_unit_test(test_conf_every_directive),
        cmocka_unit_test_setup_teardown(test_conf_flags_override, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test(test_conf_syntax),
        cmocka_unit_test(test_conf_errors),
        cmocka_unit_test(test_conf_bad_values),
        cmocka_unit_test_setup_teardown(test_conf_load, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test(test_conf_args),
        cmocka_unit_test_setup_teardown(test_conf_out_of_memory, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test(test_conf_sample),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
