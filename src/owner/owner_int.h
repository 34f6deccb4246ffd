/* Test hooks of the owner layer. Not for use outside tests. */
#ifndef STEWARD_OWNER_OWNER_INT_H
#define STEWARD_OWNER_OWNER_INT_H

/* Fault injection: after n more of the owner layer's allocations (an
 * owner, the pool and its post nodes, a post's message made when no pooled
 * node is free), every one fails, until n is set back to -1 (the default).
 * Thread safety: any thread; it applies to allocations on every thread. */
void sw__owner_fail_alloc_after(long n);

#endif
