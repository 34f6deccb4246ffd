/* Tasks: goroutines for C.
 *
 * A task is a stackful coroutine. Tasks run M:N on the pool's threads (the
 * threads that also run owners' posts; STEWARD_THREADS sets how many, one
 * per CPU by default), each thread with its own run queue, idle threads
 * stealing from busy ones. A task that blocks in steward frees its thread:
 * every blocking call of steward (sw_chan_send/recv and their timeouts,
 * sw_select, sw_owner_call on a busy owner, sw_sleep, sw_wg_wait) parks the
 * task and lets its thread run another. The same calls on a plain thread
 * park the thread, as they always have, so a task and a thread may talk
 * over one channel in either direction.
 *
 * What blocks the thread: a system call (read, write, fsync, nanosleep, a
 * pthread mutex or condition variable) inside a task blocks the thread it
 * runs on, and with it every task queued there until another thread steals
 * them. Block in steward's calls, not in the kernel, wherever a task may
 * have to wait long. Posting to an owner whose post queue is full
 * (sw_owner_post) also waits on the thread.
 *
 * Stacks: every task has a fixed-size stack, 64 KiB by default
 * (STEWARD_STACK_SIZE in the environment, in bytes, read once when the pool
 * starts; rounded up to whole pages, at least 16 KiB). Stacks are mapped
 * with mmap and only the pages a task touches take memory. Below each stack
 * lies a guard page with no access: a task that overflows its stack dies on
 * it with SIGSEGV, never silently corrupting memory. Deep recursion or big
 * arrays on the stack belong on a thread, or on the heap.
 *
 * Thread-local storage: a task may move from one pool thread to another
 * whenever it parks or yields, so a _Thread_local read before a blocking
 * call may belong to another thread after it. Steward's own per-thread
 * state follows the task.
 *
 * Owner functions: a task may call sw_go inside one. A task that blocks
 * inside one parks holding the owner, as a thread would block holding it.
 * Posts run on the pool's threads outside any task (sw_in_task is 0 there).
 *
 * The process runs as long as main does: tasks still queued or parked when
 * main returns are dropped, as goroutines are. Wait for them with an sw_wg.
 * After fork(), the child has none of the parent's tasks or pool threads;
 * its first sw_go starts a fresh pool. Call fork from a plain thread.
 *
 * Limits: guard pages are set in the page tables (MADV_GUARD_INSTALL,
 * Linux 6.13 and later), 16 stacks to a mapping. On older kernels a guard
 * is an mprotect'd page that splits its mapping, and vm.max_map_count
 * (65530 by default) then caps the tasks alive at once near 32,000.
 */
#ifndef STEWARD_TASK_H
#define STEWARD_TASK_H

#include <stdint.h>

#include "steward/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef void (*sw_task_fn)(void *arg);

/* Starts fn(arg) as a new task; it runs soon, on some pool thread (from a
 * task: first on the starter's thread, once the starter parks or yields).
 * The task ends when fn returns. SW_OK, SW_EINVAL for fn NULL, SW_ENOMEM
 * when no stack could be mapped, SW_EIO when the pool's threads could not
 * start. Allocates nothing on the hot path: finished tasks' stacks are
 * reused. */
int sw_go(sw_task_fn fn, void *arg);

/* Inside a task: lets the other runnable tasks of this thread run first,
 * then carries on. On a plain thread: sched_yield(). */
void sw_yield(void);

/* Waits at least ns nanoseconds (<= 0: as sw_yield), parking the task (its
 * thread runs others meanwhile) or, on a plain thread, sleeping it. */
void sw_sleep(int64_t ns);

/* 1 inside a task, else 0. */
int sw_in_task(void);

/* Go's sync.WaitGroup, for tasks and threads alike: sw_wg_add counts work
 * in (or out, with a negative delta), sw_wg_done counts one out, sw_wg_wait
 * waits until the count is zero (at once if it is). A count below zero (or
 * past INT64_MAX) is a bug in the caller, as in Go: the call logs why
 * (sw_set_log) and aborts.
 * sw_wg_free may follow as soon as sw_wg_wait has returned, if no other
 * call on the WaitGroup is still to come (a sw_wg_done that brought the
 * count to zero may still be returning: it touches the WaitGroup no more).
 * Every call may come from any thread or task at the same time (but
 * sw_wg_free, as said); a NULL wg makes any of them a no-op.
 *
 * Thread safety of the rest: sw_go, sw_yield, sw_sleep and sw_in_task may
 * be called from any thread or task at any time. */
typedef struct sw_wg sw_wg;
sw_wg *sw_wg_new(void); /* NULL when out of memory */
void sw_wg_add(sw_wg *wg, int64_t delta);
void sw_wg_done(sw_wg *wg);
void sw_wg_wait(sw_wg *wg);
void sw_wg_free(sw_wg *wg);

#ifdef __cplusplus
}
#endif
#endif
