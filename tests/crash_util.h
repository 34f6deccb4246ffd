/* The harness the crash tests share: start this same program as a child
 * that reports acknowledged operations as fixed-size records on a pipe,
 * let it run for a while, kill it with SIGKILL, and collect every record it
 * managed to write (each one stands for an acknowledged operation). */
#ifndef STEWARD_TESTS_CRASH_UTIL_H
#define STEWARD_TESTS_CRASH_UTIL_H

#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* This program's path, for starting children. */
static inline void crash_self(char *out, size_t cap)
{
    ssize_t n = readlink("/proc/self/exe", out, cap - 1);
    out[n > 0 ? n : 0] = 0;
}

/* Runs `self --child arg1 arg2` with its stdout on a pipe; after `target`
 * records (or fewer, if it exits), and sometimes a short random pause, kills
 * it. Calls on_record for every record read, in order, and returns the
 * number read, or -1 if the child failed on its own. */
static inline long crash_run(const char *self, const char *arg1, const char *arg2, size_t recsize,
                             long target, unsigned *seed, void (*on_record)(const void *, void *),
                             void *ctx)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    char *argv[] = {(char *)self, "--child", (char *)arg1, (char *)arg2, NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, self, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        return -1;
    }
    unsigned char rec[256];
    long n = 0;
    while (n < target && read(fds[0], rec, recsize) == (ssize_t)recsize) {
        on_record(rec, ctx);
        n++;
    }
    if (rand_r(seed) % 2) {
        struct timespec ts = {0, (long)(rand_r(seed) % 3000) * 1000};
        nanosleep(&ts, NULL);
    }
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    while (read(fds[0], rec, recsize) == (ssize_t)recsize) { /* acknowledged before it died */
        on_record(rec, ctx);
        n++;
    }
    close(fds[0]);
    if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
        return -1;
    return n;
}

#endif
