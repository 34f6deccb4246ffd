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

/* When a durable object's log reaches the disk (the Db, the Ledger): a
 * write is acknowledged after one fdatasync of its batch (SW_FSYNC_ALWAYS),
 * or with the log synced once a second in the background
 * (SW_FSYNC_EVERYSEC), or whenever the OS writes it (SW_FSYNC_NO). db.h
 * says what each promises. */
enum sw_fsync { SW_FSYNC_EVERYSEC, SW_FSYNC_ALWAYS, SW_FSYNC_NO };

/* Log levels: a warning is something steward handled (a torn log tail cut,
 * a compaction given up and retried later); an error is something the
 * caller will also see as a status (a final sync that failed). */
enum sw_log_level { SW_LOG_WARN = 1, SW_LOG_ERROR = 2 };

/* Receives every message steward has for a human: msg is one line without
 * its newline, starting with "steward: ", and lives only for the call. */
typedef void (*sw_log_fn)(void *ctx, int level, const char *msg);

/* Sends steward's messages to fn(ctx, level, msg) from now on; fn NULL
 * sends them back to stderr (the default). steward prints nothing else on
 * its own. fn may run on any steward thread, at any time, concurrently with
 * itself, and must not call back into the object that logs (keep it to
 * recording the line). Thread safety: any thread; a message being logged
 * as the hook changes goes to the old hook or the new one. */
void sw_set_log(sw_log_fn fn, void *ctx);

#ifdef __cplusplus
}
#endif
#endif
