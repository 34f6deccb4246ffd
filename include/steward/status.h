/* steward status codes.
 *
 * Every steward function that can fail returns an int: SW_OK (0) or one of the
 * negative SW_E* codes below. The codes live in their own range (-1 .. -99) and
 * never clash with errno values, which steward never returns.
 */
#ifndef STEWARD_STATUS_H
#define STEWARD_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

/* X(name, value, message): the one table that defines the codes, their
 * numbers and their messages. sw_strerror and sw_errname are generated from it.
 */
#define SW_STATUS_MAP(X)                   \
    X(SW_OK, 0, "ok")                      \
    X(SW_ECLOSED, -1, "closed")            \
    X(SW_EAGAIN, -2, "would block")        \
    X(SW_ETIMEDOUT, -3, "timed out")       \
    X(SW_ENOMEM, -4, "out of memory")      \
    X(SW_EINVAL, -5, "invalid argument")   \
    X(SW_ENOTFOUND, -6, "not found")       \
    X(SW_EFUNDS, -7, "insufficient funds") \
    X(SW_EOVERFLOW, -8, "overflow")        \
    X(SW_EIO, -9, "i/o error")             \
    X(SW_EEXIST, -10, "already exists")

enum sw_status {
#define SW__STATUS_ENUM(name, value, msg) name = (value),
    SW_STATUS_MAP(SW__STATUS_ENUM)
#undef SW__STATUS_ENUM
};

/* A short lowercase message for a status ("insufficient funds" for
 * SW_EFUNDS); "unknown status" for a value that is not a steward status.
 * The string is static: never free it. Thread safety: any thread. */
const char *sw_strerror(int status);

/* The code's name as a string ("SW_EFUNDS"); "SW_E?" for an unknown value.
 * Static storage. Thread safety: any thread. */
const char *sw_errname(int status);

#ifdef __cplusplus
}
#endif
#endif
