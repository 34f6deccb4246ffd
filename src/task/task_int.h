/* Test hooks of the task layer. Not for use outside tests; the layers
 * above reach the pool through task/pool.h. */
#ifndef STEWARD_TASK_INT_H
#define STEWARD_TASK_INT_H

/* Fault injection for tests: after n more of the task layer's allocations
 * (the pool, a task, a slab of stacks), every one fails, until n is set
 * back to -1 (the default). */
void sw__task_fail_after(long n);

#endif
