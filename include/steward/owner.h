/* Owners: make your own goroutine-safe object.
 *
 * An owner holds a piece of state that only it touches. Other threads reach
 * the state by sending the owner a function to run on it: sw_owner_call runs
 * fn(state, arg) and waits for it to finish; sw_owner_post queues it and
 * returns. The owner runs its requests one at a time, each seeing all that
 * the previous ones did, so fn needs no lock: "share memory by
 * communicating".
 *
 * An owner is a serialization domain, not a thread. Where a request runs is
 * the runtime's choice, as with libdispatch's dispatch_sync on a serial
 * queue: a call on a free owner runs on the calling thread (one atomic
 * operation takes the owner, one lets it go); a call on a busy owner is
 * queued, and the thread that holds the owner runs it, with the others
 * queued behind it, as one batch (combining), while the caller waits
 * (spinning briefly, then on its own futex; a task parks instead, and its
 * thread runs other tasks: see task.h). A post never runs inside
 * sw_owner_post: a post to a free owner is run by a thread of a process-wide pool
 * (one per online CPU; the environment variable STEWARD_THREADS overrides
 * it; the same threads run tasks), which starts on first use and costs
 * nothing while idle. A million
 * owners are a million small structs, not a million threads.
 *
 * What this asks of fn: keep it short, as under a mutex; it may run on any
 * thread (no thread-locals, no reliance on thread identity); it must not
 * call sw_owner_call (SW_EINVAL: the runtime counts, per thread, the owner
 * functions running on it) but may post, stop and free.
 *
 * Ordering: requests made by one thread to one owner run in the order it
 * made them. After fork(), the child may start new owners on a fresh pool;
 * owners started before the fork belong to the parent.
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
 * frees it, and it must outlive the owner) and stores its handle in *out
 * (NULL on failure); the handle is the caller's until sw_owner_free.
 * SW_OK; SW_EINVAL if out is NULL; SW_ENOMEM; SW_EIO if the pool's threads
 * cannot be started. Thread safety: any thread. */
int sw_owner_start(sw_owner **out, void *state);

/* Called once after each batch of requests has run, by whichever thread
 * holds the owner, and before any caller of the batch gets its answer: the
 * place for group commit (one write and one fsync for a whole batch;
 * requests can learn the outcome through their own arg). A batch is the
 * holder's own request with what was queued while it ran, up to a bound.
 * It runs as an owner function does (the same rules). */
typedef void (*sw_owner_batch_fn)(void *state);

typedef struct sw_owner_options {
    sw_owner_batch_fn batch_end; /* NULL: none */
} sw_owner_options;

/* As sw_owner_start, with options (NULL: as sw_owner_start; opts is read
 * during the call only). Statuses and thread safety as sw_owner_start. */
int sw_owner_start_ex(sw_owner **out, void *state, const sw_owner_options *opts);

/* Runs fn(state, arg) with the owner held and returns once it has run: on
 * this thread if the owner is free, else on the thread that holds it. The
 * request (and its reply slot) lives on the caller's stack: nothing is
 * allocated, and no other caller can receive this call's completion. A
 * caller that waits may be handed the owner, and then runs the requests
 * queued with its own before it returns (a bounded number).
 * SW_OK: fn ran. SW_ECLOSED: the owner is stopping or stopped; fn did not
 * run. SW_EINVAL: o or fn is NULL, or the caller is itself inside an owner
 * function (which must post instead). Thread safety: any thread, outside
 * owner functions. */
int sw_owner_call(sw_owner *o, sw_owner_fn fn, void *arg);

/* The most bytes of request sw_owner_call_inline carries in its message. */
#define SW_OWNER_INLINE_MAX 40

/* As sw_owner_call, for a request of at most SW_OWNER_INLINE_MAX bytes that
 * travels inside the call's message when the call is queued: fn(state, p)
 * runs with p pointing at the size bytes of the request (req itself when
 * the call runs on this thread; else a copy in the message, copied back to
 * req once fn has returned). fn may read and write those size bytes only,
 * and must not keep the pointer. The message, its reply slot and the
 * request then share one cache line, the only memory of the caller's that
 * another thread touches. Statuses as sw_owner_call; SW_EINVAL also if
 * size > SW_OWNER_INLINE_MAX, or req is NULL and size is not 0.
 * Thread safety: any thread, outside owner functions. */
int sw_owner_call_inline(sw_owner *o, sw_owner_fn fn, void *req, size_t size);

/* Queues fn(state, arg) to run with the owner held and returns without
 * waiting for it; fn never runs inside this call (a post to a free owner
 * goes to a pool thread; later, the thread holding the owner runs it, which
 * may be this thread again if it is then the holder, in a later call or
 * once the owner function posting it returns). arg must live until fn has
 * run.
 * Posts are bounded: past SW_OWNER_POST_LIMIT queued posts per pool thread
 * (owners share them by home thread), a caller waits until there is room;
 * a post made from inside an owner function never waits (it allocates
 * instead, and may fail with SW_ENOMEM).
 * SW_OK: queued; fn will run before the owner stops. SW_ECLOSED: the owner
 * is stopping or stopped. SW_EINVAL: o or fn is NULL.
 * Thread safety: any thread. */
int sw_owner_post(sw_owner *o, sw_owner_fn fn, void *arg);

#define SW_OWNER_POST_LIMIT 4096

/* Stops the owner: calls and posts made from now on get SW_ECLOSED, and
 * every request queued before runs. Called from an ordinary thread it waits
 * until that is done (nothing of the owner runs afterwards; if the owner is
 * free, the stopper runs the stop itself); called from an owner function
 * it returns at once and the thread holding the owner, or the pool,
 * finishes the stop. Stopping a stopped owner does nothing. The handle stays
 * valid, so that late callers get SW_ECLOSED, until sw_owner_free.
 * NULL is a no-op. Thread safety: any thread. */
void sw_owner_stop(sw_owner *o);

/* Stops the owner if needed (as sw_owner_stop) and frees it. No thread may
 * use the handle once this is called. Calls, posts and stops already
 * inside (queued, backing out with SW_ECLOSED, waiting for room, or
 * waiting for the stop) are safe: the last of them to leave frees the
 * handle. Called from an ordinary thread, it returns once the stop is
 * done: nothing touches the state afterwards, and the caller may free it.
 * Called from an owner function it returns at once; the requests queued
 * before it still run on the state, and whoever finishes the stop (or
 * leaves last) frees the owner.
 * NULL is a no-op. Thread safety: any thread, once per owner. */
void sw_owner_free(sw_owner *o);

/* The number of pool threads (starting the pool if needed); 0 if it cannot
 * start. Thread safety: any thread. */
unsigned sw_owner_pool_size(void);

#ifdef __cplusplus
}
#endif
#endif
