/* sw_go's failures: SW_ENOMEM when a task or its stacks cannot be had, and
 * SW_EIO when the pool cannot start, each triggered through the task
 * layer's fault hook (task_int.h), and a working sw_go right after, so a
 * failure leaves nothing half-made.
 *
 * Both need a process whose task layer holds no idle stack and no pool
 * yet: each runs in a child forked before this process starts any task
 * (the child's pool and caches start afresh, as task.h's fork rules say).
 * TSan refuses new threads in a child of a multi-threaded process, and
 * this one is single-threaded when it forks, so these run under all three
 * builds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "steward/owner.h"
#include "steward/task.h"
#include "task/task_int.h"

static void run_child(int (*body)(void))
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(body());
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void count_down(void *arg)
{
    sw_wg_done(arg);
}

/* Whether sw_go works now: a task runs and is waited for. */
static bool go_works(void)
{
    sw_wg *wg = sw_wg_new();
    if (!wg)
        return false;
    sw_wg_add(wg, 1);
    if (sw_go(count_down, wg) != SW_OK)
        return false;
    sw_wg_wait(wg);
    sw_wg_free(wg);
    return true;
}

/* The pool's own memory cannot be had: SW_EIO, and again until it can. */
static int pool_fails(void)
{
    sw__task_fail_after(0);
    if (sw_go(count_down, NULL) != SW_EIO || sw_go(count_down, NULL) != SW_EIO)
        return 1;
    if (sw_owner_pool_size() != 0) /* owners share the pool: it is not up */
        return 2;
    sw__task_fail_after(-1);
    return go_works() ? 0 : 3;
}

/* The pool is up, but no stack is idle and no slab can be mapped; then a
 * slab can be, but not the task. */
static int task_fails(void)
{
    if (sw_owner_pool_size() == 0) /* starts the pool */
        return 1;
    sw__task_fail_after(0);
    if (sw_go(count_down, NULL) != SW_ENOMEM)
        return 2;
    sw__task_fail_after(1); /* the slab of stacks, then not the task */
    if (sw_go(count_down, NULL) != SW_ENOMEM)
        return 3;
    sw__task_fail_after(-1);
    return go_works() ? 0 : 4;
}

static void test_pool_cannot_start(void **state)
{
    (void)state;
    run_child(pool_fails);
}

static void test_no_memory_for_task(void **state)
{
    (void)state;
    run_child(task_fails);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pool_cannot_start),
        cmocka_unit_test(test_no_memory_for_task),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
