/* Internal interface of the task layer: the pool's threads, which run tasks
 * and owners' posts, and the parker's task half. */
#ifndef STEWARD_TASK_INT_H
#define STEWARD_TASK_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "../base/sync.h"

/* Work for one pool thread, run there outside any task: an owner held for
 * its posts (owner.c). */
struct sw__job {
    struct sw__job *next;
    void (*run)(struct sw__job *job);
};

/* Starts the pool if it is not running; returns its thread count, or 0 if
 * its threads could not start. */
unsigned sw__pool_start(void);

/* The pool's thread count: the running pool's, or the one it will start
 * with. */
unsigned sw__pool_threads(void);

/* Has pool thread i (below sw__pool_start()) run job->run(job) soon. */
void sw__pool_submit(unsigned i, struct sw__job *job);

/* Fault injection for tests: after n more of the task layer's allocations
 * (the pool, a task, a slab of stacks), every one fails, until n is set
 * back to -1 (the default). */
void sw__task_fail_after(long n);

#endif
