/* Channels with Go's semantics, for POSIX threads.
 *
 * A channel carries fixed-size elements (elem_size bytes, copied in and out)
 * between threads. Capacity 0 makes it unbuffered: a send completes only when
 * a receiver takes the value (a rendezvous). Capacity N > 0 buffers up to N
 * elements in FIFO order. Closing a channel wakes every blocked sender and
 * receiver; receivers drain what is buffered, then see SW_ECLOSED.
 *
 * Blocking calls allocate nothing and park on a futex of their own after a
 * short spin; a value goes straight to a parked peer when there is one.
 * Timeouts are relative, in nanoseconds, on CLOCK_MONOTONIC.
 *
 * Where Go panics, steward returns a status: sending on a closed channel and
 * closing it twice give SW_ECLOSED. Passing a NULL channel to the direct calls
 * gives SW_EINVAL (Go would block forever); in sw_select a NULL channel is a
 * case that is never ready, as in Go.
 *
 * Thread safety: every function may be called from any thread at the same
 * time, except sw_chan_free, which requires that no thread uses the channel.
 */
#ifndef STEWARD_CHAN_H
#define STEWARD_CHAN_H

#include <stddef.h>
#include <stdint.h>

#include "steward/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sw_chan sw_chan;

/* A new channel of elements of elem_size bytes (0 is allowed: a pure signal),
 * buffering up to capacity of them (0: unbuffered). The channel and its ring
 * are one allocation. Returns NULL when out of memory or when
 * elem_size * capacity overflows. The caller owns it; free with sw_chan_free. */
sw_chan *sw_chan_new(size_t elem_size, size_t capacity);

/* Frees the channel and any elements still buffered. No thread may be using
 * or blocked on it, and no call on it may still be returning: in particular,
 * a receiver that got a value must not free the channel until the sender's
 * call has returned too (the sender may still be waking a peer). NULL is a
 * no-op. */
void sw_chan_free(sw_chan *ch);

/* Sends the elem_size bytes at elem, waiting as long as it takes.
 * SW_OK: a receiver has it (unbuffered) or it is buffered.
 * SW_ECLOSED: the channel is closed, or was closed while we waited; nothing
 * was sent. SW_EINVAL: ch is NULL, or elem is NULL with elem_size > 0. */
int sw_chan_send(sw_chan *ch, const void *elem);

/* Receives one element into elem (elem may be NULL to discard it).
 * SW_OK: elem holds a sent value. SW_ECLOSED: the channel is closed and
 * drained; elem is zeroed. SW_EINVAL: ch is NULL. */
int sw_chan_recv(sw_chan *ch, void *elem);

/* As sw_chan_send/sw_chan_recv, but never wait: SW_EAGAIN when the call
 * would have to. A closed channel still gives SW_ECLOSED. */
int sw_chan_try_send(sw_chan *ch, const void *elem);
int sw_chan_try_recv(sw_chan *ch, void *elem);

/* As sw_chan_send/sw_chan_recv, waiting at most timeout_ns (< 0: forever,
 * 0: never wait, giving SW_EAGAIN as the try calls do). SW_ETIMEDOUT when the
 * time passes with nothing done; the element is then not sent (or elem is
 * left unchanged). */
int sw_chan_send_timeout(sw_chan *ch, const void *elem, int64_t timeout_ns);
int sw_chan_recv_timeout(sw_chan *ch, void *elem, int64_t timeout_ns);

/* Closes the channel: no more sends; blocked senders get SW_ECLOSED;
 * receivers drain the buffer, then get SW_ECLOSED. SW_ECLOSED if it was
 * already closed; SW_EINVAL if ch is NULL. */
int sw_chan_close(sw_chan *ch);

/* The number of buffered elements and the capacity. sw_chan_len is a
 * snapshot: other threads may change it at once. 0 for NULL. */
size_t sw_chan_len(sw_chan *ch);
size_t sw_chan_cap(sw_chan *ch);

enum sw_dir { SW_SEND, SW_RECV };

/* One case of a select: send *elem on chan, or receive into elem (NULL to
 * discard). status is an output, set on the case that runs. */
typedef struct sw_case {
    sw_chan *chan;
    enum sw_dir dir;
    void *elem;
    int status;
} sw_case;

/* Runs exactly one ready case among cases[0..n) and returns its index, with
 * that case's status set to SW_OK, or SW_ECLOSED for a closed channel (a
 * receive then zeroes elem; a send sends nothing). Among ready cases the
 * choice is uniformly random. A case whose chan is NULL is never ready.
 * timeout_ns < 0 waits forever; 0 never waits and returns SW_EAGAIN when no
 * case is ready (Go's default); > 0 returns SW_ETIMEDOUT when it passes.
 * SW_EINVAL for cases == NULL with n > 0, or a dir that is neither SW_SEND nor
 * SW_RECV. Up to 64 cases the call allocates nothing; beyond that it
 * allocates its bookkeeping and may return SW_ENOMEM. */
int sw_select(sw_case *cases, size_t n, int64_t timeout_ns);

#ifdef __cplusplus
}
#endif
#endif
