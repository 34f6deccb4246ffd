/* A fresh temporary data directory per test, for the tests of durable
 * objects: cmocka setup and teardown functions around one global path. */
#ifndef STEWARD_TESTS_TMPDIR_H
#define STEWARD_TESTS_TMPDIR_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char g_dir[64];

static int tmpdir_setup(void **state)
{
    (void)state;
    strcpy(g_dir, "/tmp/steward-test-XXXXXX");
    if (mkdtemp(g_dir))
        return 0;
    fprintf(stderr, "mkdtemp %s: %s\n", g_dir, strerror(errno));
    return -1;
}

static int tmpdir_teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

#endif
