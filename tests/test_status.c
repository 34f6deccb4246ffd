/* Unit tests of status.h: every code has a distinct message and name. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "base/base.h"
#include "steward/status.h"

static void test_messages(void **state)
{
    (void)state;
    assert_string_equal(sw_strerror(SW_OK), "ok");
    assert_string_equal(sw_strerror(SW_EFUNDS), "insufficient funds");
    assert_string_equal(sw_strerror(SW_ENOTFOUND), "not found");
    assert_string_equal(sw_strerror(12345), "unknown status");
    assert_string_equal(sw_errname(SW_EFUNDS), "SW_EFUNDS");
    assert_string_equal(sw_errname(-999), "SW_E?");
}

struct sink {
    int calls, level;
    char msg[128];
};

static void sink_fn(void *ctx, int level, const char *msg)
{
    struct sink *s = ctx;
    s->calls++;
    s->level = level;
    snprintf(s->msg, sizeof s->msg, "%s", msg);
}

/* The hook gets each line once, prefixed, with its level and its own
 * context; a new hook replaces the old one; NULL goes back to stderr. */
static void test_log_hook(void **state)
{
    (void)state;
    struct sink a = {0}, b = {0};
    sw_set_log(sink_fn, &a);
    sw__logmsg(SW_LOG_WARN, "shard %d: %s", 3, "cut");
    assert_int_equal(a.calls, 1);
    assert_int_equal(a.level, SW_LOG_WARN);
    assert_string_equal(a.msg, "steward: shard 3: cut");
    sw_set_log(sink_fn, &b);
    sw__logmsg(SW_LOG_ERROR, "failed");
    assert_int_equal(a.calls, 1);
    assert_int_equal(b.calls, 1);
    assert_int_equal(b.level, SW_LOG_ERROR);
    assert_string_equal(b.msg, "steward: failed");
    sw_set_log(NULL, &b); /* back to stderr: b hears nothing more */
    sw__logmsg(SW_LOG_WARN, "to stderr (expected in the test's output)");
    assert_int_equal(b.calls, 1);
}

static void test_codes_distinct(void **state)
{
    (void)state;
    static const int codes[] = {SW_OK,        SW_ECLOSED, SW_EAGAIN,    SW_ETIMEDOUT,
                                SW_ENOMEM,    SW_EINVAL,  SW_ENOTFOUND, SW_EFUNDS,
                                SW_EOVERFLOW, SW_EIO,     SW_EEXIST};
    size_t n = sizeof codes / sizeof codes[0];
    for (size_t i = 0; i < n; i++) {
        assert_true(codes[i] <= 0);
        for (size_t j = i + 1; j < n; j++) {
            assert_int_not_equal(codes[i], codes[j]);
            assert_string_not_equal(sw_strerror(codes[i]), sw_strerror(codes[j]));
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_messages),
        cmocka_unit_test(test_codes_distinct),
        cmocka_unit_test(test_log_hook),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
