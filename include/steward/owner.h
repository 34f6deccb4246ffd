/* Owners: make your own goroutine-safe object.
 *
 * An owner holds a piece of state that only it touches. Other threads reach
 * the state by sending the owner a function to run on it: sw_owner_call runs
 * fn(state, arg) on the owner and waits for it to finish; sw_owner_post queues
 * it and returns. The owner runs its requests one at a time, so fn needs no
 * lock: "share memory by communicating".
 *
 * An owner is logical. Owners live on a fixed, process-wide pool of threads
 * (by default one per online CPU; the environment variable STEWARD_THREADS
 * overrides it) that many owners share, so a million owners are not a
 * million threads. Each owner has a home thread; while its home sleeps it
 * may run on another pool thread that is awake (one at a time all the
 * same), so a light load keeps few threads busy. The pool starts on first
 * use. After fork(), the child may start new owners on a fresh pool; owners
 * started before the fork belong to the parent.
 *
 * Ordering: requests made by one thread to one owner run in the order it
 * made them. fn always runs on a pool thread, never on the caller.
 *
 * fn must not block for long: it holds up the other owners its thread serves.
 * From inside an owner function, use sw_owner_post, never sw_owner_call (a
 * pool thread waiting on a pool thread can deadlock the pool).
 */
#ifndef STEWARD_OWNER_H
#define STEWARD_OWNER_H

#include <stddef.h>

#include "steward/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sw_owner sw_owner;
typedef void (*sw_owner_fn)(void *state, void *arg);

/* Starts an owner of state (which the caller keeps owning: steward never
 * frees it) and stores its handle in *out. SW_OK; SW_EINVAL if out is NULL;
 * SW_ENOMEM, or SW_EIO if the pool's threads cannot be started.
 * Thread safety: any thread. */
int sw_owner_start(sw_owner **out, void *state);

/* Called on the owner after each batch of requests (all that were queued
 * when the owner woke) has run, and before any caller of the batch gets its
 * answer: the place for group commit (one write and one fsync for a whole
 * batch; requests can learn the outcome through their own arg). */
typedef void (*sw_owner_batch_fn)(void *state);

typedef struct sw_owner_options {
    sw_owner_batch_fn batch_end; /* NULL: none */
} sw_owner_options;

/* As sw_owner_start, with options (NULL: as sw_owner_start). */
int sw_owner_start_ex(sw_owner **out, void *state, const sw_owner_options *opts);

/* Runs fn(state, arg) on the owner and waits until it has returned. The
 * request (and its reply slot) lives on the caller's stack: nothing is
 * allocated, and no other caller can receive this call's completion.
 * SW_OK: fn ran. SW_ECLOSED: the owner is stopping or stopped; fn did not
 * run. SW_EINVAL: o or fn is NULL, or the caller is itself an owner function
 * (which must post instead). Thread safety: any thread but the pool's. */
int sw_owner_call(sw_owner *o, sw_owner_fn fn, void *arg);

/* The most bytes of request sw_owner_call_inline carries in its message. */
#define SW_OWNER_INLINE_MAX 40

/* As sw_owner_call, for a request of at most SW_OWNER_INLINE_MAX bytes that
 * travels inside the call's message: the size bytes at req are copied in,
 * fn(state, copy) runs on the owner, and the copy (with whatever fn wrote
 * to it) is copied back to req once fn has returned. fn must not keep the
 * pointer. The message, its reply slot and the request then share one
 * cache line, the only memory of the caller's that the owner's thread
 * touches: the fastest call there is, for small requests. Statuses as
 * sw_owner_call; SW_EINVAL also if size > SW_OWNER_INLINE_MAX, or req is
 * NULL and size is not 0. Thread safety: any thread but the pool's. */
int sw_owner_call_inline(sw_owner *o, sw_owner_fn fn, void *req, size_t size);

/* Queues fn(state, arg) to run on the owner and returns without waiting for
 * it. Posts are bounded: past SW_OWNER_POST_LIMIT queued posts on one pool
 * thread, a caller waits until there is room; a post made from a pool thread
 * never waits (it allocates instead, and may fail with SW_ENOMEM).
 * SW_OK: queued; fn will run before the owner stops. SW_ECLOSED: the owner
 * is stopping or stopped. SW_EINVAL: o or fn is NULL.
 * Thread safety: any thread. */
int sw_owner_post(sw_owner *o, sw_owner_fn fn, void *arg);

#define SW_OWNER_POST_LIMIT 4096

/* Stops the owner: calls and posts made from now on get SW_ECLOSED, and
 * every request queued before runs. Called from an ordinary thread it waits
 * until that is done (the owner's thread is "joined": nothing of it runs
 * afterwards); called from an owner function it returns at once and the pool
 * finishes the stop. Stopping a stopped owner does nothing. The handle stays
 * valid, so that late callers get SW_ECLOSED, until sw_owner_free.
 * NULL is a no-op. Thread safety: any thread. */
void sw_owner_stop(sw_owner *o);

/* Stops the owner if needed (as sw_owner_stop) and frees it. No thread may
 * use the handle once this is called; calls still inside (blocked, or
 * backing out with SW_ECLOSED) are waited for. From an owner function it
 * returns at once and the pool frees the owner when its stop is done.
 * NULL is a no-op. Thread safety: any thread, once per owner. */
void sw_owner_free(sw_owner *o);

/* The number of pool threads (starting the pool if needed); 0 if it cannot
 * start. Thread safety: any thread. */
unsigned sw_owner_pool_size(void);

#ifdef __cplusplus
}
#endif
#endif
