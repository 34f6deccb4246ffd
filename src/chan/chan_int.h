/* Test hooks of the channel layer: what a test needs to see of a channel's
 * insides so that it takes the path it names, instead of sleeping and
 * hoping a peer has blocked. Not for use outside tests.
 */
#ifndef STEWARD_CHAN_CHAN_INT_H
#define STEWARD_CHAN_CHAN_INT_H

#include <stddef.h>

#include "steward/chan.h"

/* The operations queued on ch's dir side: blocked sends (SW_SEND) or
 * receives (SW_RECV), the cases of blocked selects included. A count taken
 * under the channel's lock; a select woken by another of its cases is
 * counted until it has dequeued itself, before it returns.
 * Thread safety: any thread. */
size_t sw__chan_waiting(sw_chan *ch, enum sw_dir dir);

#endif
