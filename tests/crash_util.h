/* The harness the crash tests share: start this same program as a child
 * that reports acknowledged operations as fixed-size records on a pipe,
 * let it run for a while, kill it with SIGKILL, and collect every record it
 * managed to write (each one stands for an acknowledged operation).
 * Include after cmocka.h: a harness that cannot start a child fails the
 * test. */
#ifndef STEWARD_TESTS_CRASH_UTIL_H
#define STEWARD_TESTS_CRASH_UTIL_H

#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support.h"

extern char **environ;

/* This program's path, for starting children. */
static inline void crash_self(char *out, size_t cap)
{
    ssize_t n = readlink("/proc/self/exe", out, cap - 1);
    if (n <= 0)
        fail_msg("readlink /proc/self/exe: %s", strerror(errno));
    out[n] = 0;
}

/* Runs `self --child arg1 arg2` with its stdout on a pipe; after `target`
 * records (or fewer, if it exits), and on half the runs a pause of up to
 * 3 ms (both drawn from rng), kills it. Calls on_record for every record
 * read, in order, and returns the number read, or -1 if the child failed
 * on its own (its status on stderr). Fails the test if it cannot start the
 * child. */
static inline long crash_run(const char *self, const char *arg1, const char *arg2, size_t recsize,
                             long target, uint64_t *rng, void (*on_record)(const void *, void *),
                             void *ctx)
{
    int fds[2];
    if (pipe(fds) != 0)
        fail_msg("pipe: %s", strerror(errno));
    posix_spawn_file_actions_t fa;
    int rc = posix_spawn_file_actions_init(&fa);
    if (rc == 0)
        rc = posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
    if (rc == 0)
        rc = posix_spawn_file_actions_addclose(&fa, fds[0]);
    if (rc != 0)
        fail_msg("posix_spawn_file_actions: %s", strerror(rc));
    char *argv[] = {(char *)self, "--child", (char *)arg1, (char *)arg2, NULL};
    pid_t pid;
    rc = posix_spawn(&pid, self, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        fail_msg("posix_spawn %s: %s", self, strerror(rc));
    }
    unsigned char rec[256];
    long n = 0;
    while (n < target && read(fds[0], rec, recsize) == (ssize_t)recsize) {
        on_record(rec, ctx);
        n++;
    }
    uint64_t r = rng_next(rng);
    if (r % 2)
        sleep_us((int64_t)(r >> 32) % 3000);
    kill(pid, SIGKILL);
    int status;
    if (waitpid(pid, &status, 0) != pid)
        fail_msg("waitpid: %s", strerror(errno));
    while (read(fds[0], rec, recsize) == (ssize_t)recsize) { /* acknowledged before it died */
        on_record(rec, ctx);
        n++;
    }
    close(fds[0]);
    if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
        fprintf(stderr, "crash child %s %s exited with status %d\n", arg1, arg2,
                WEXITSTATUS(status));
        return -1;
    }
    return n;
}

#endif
