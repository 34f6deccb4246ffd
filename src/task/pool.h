/* The pool: one thread per CPU (STEWARD_THREADS overrides) that runs tasks
 * (sw_go) and the jobs of the layers beside the task layer: an owner's
 * posts (owner.c) are run as a job on the owner's home thread, between
 * tasks. The scheduler (sched.c) is its implementation.
 *
 * Thread safety: every function, any thread.
 */
#ifndef STEWARD_TASK_POOL_H
#define STEWARD_TASK_POOL_H

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

#endif
