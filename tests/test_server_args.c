/* stewardd's argument parsing (src/server/args.c): Redis's strict
 * integers, INCRBYFLOAT's long doubles and their output, and glob
 * patterns. */
#include <ctype.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "server/cmd.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_integers),      cmocka_unit_test(test_floats),
        cmocka_unit_test(test_glob),          cmocka_unit_test(test_arg_is),
        cmocka_unit_test(test_command_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
