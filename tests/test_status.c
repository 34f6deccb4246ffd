/* Unit tests of status.h: every code has a distinct message and name. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
