/* Test hooks of the channel layer: what a test needs to see of a channel's
 * insides so that it takes the path it names, instead of sleeping and
 * hoping a peer has blocked. Not for use outside tests.
 */
#ifndef STEWARD_CHAN_CHAN_INT_H
#define STEWARD_CHAN_CHAN_INT_H

#include <stddef.h>

#include "steward/chan.h"

/* The operations queued on ch's dir side: blocked sends (SW_SEND) or
 * receives (SW_RECV), the cases of blocked selects included, and the one
 * waiting in an unbuffered channel's rendezvous slot (counted once it can
 * be claimed). A count taken under the channel's lock; a select woken by
 * another of its cases is counted until it has dequeued itself, before it
 * returns.
 * Thread safety: any thread. */
size_t sw__chan_waiting(sw_chan *ch, enum sw_dir dir);

/* The side (SW_SEND or SW_RECV) of the operation waiting in ch's rendezvous
 * slot, the lock-free place where one blocked send or receive of an
 * unbuffered channel waits; -1 when none waits there (a buffered channel
 * has none). A snapshot: lets a test check which path an operation took.
 * Thread safety: any thread. */
int sw__chan_slot(sw_chan *ch);

/* A test hook: when set, a waiter in ch's rendezvous slot whose deadline
 * has passed calls it, on its own thread, just before it tries to take
 * itself back out of the slot; a peer that claims the waiter from the hook
 * makes the timeout lose that race, deterministically. NULL (never called)
 * unless a test sets it. Thread safety: set it while no timed call runs. */
typedef void (*sw__chan_hook)(sw_chan *ch);
extern _Atomic(sw__chan_hook) sw__chan_timeout_hook;

#endif
