/* Data directories and their meta files (see datadir.h). */
#define _GNU_SOURCE
#include "log/datadir.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "steward/status.h"

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* 1 with *n, 0 when there is no meta file, -1 when it is unreadable or
 * malformed. */
static int meta_read(const char *path, const char *kind, unsigned *n)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return errno == ENOENT ? 0 : -1;
    char k[16] = "";
    unsigned version = 0;
    int ok = fscanf(f, "steward %15s %u shards %u", k, &version, n) == 3 && version == 1 &&
             strcmp(k, kind) == 0 && *n > 0;
    fclose(f);
    return ok ? 1 : -1;
}

static int meta_write(const char *dir, const char *path, const char *kind, unsigned n)
{
    char tmp[PATH_MAX + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "we");
    if (!f)
        return -1;
    int ok = fprintf(f, "steward %s 1 shards %u\n", kind, n) > 0;
    ok = fflush(f) == 0 && ok && fsync(fileno(f)) == 0;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0 || fsync_dir(dir) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

int sw__datadir_open(const char *dir, const char *kind, unsigned *shards, unsigned dflt, char *err,
                     size_t errlen)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create data directory %s: %s", dir, strerror(errno));
        return SW_EIO;
    }
    char meta[PATH_MAX];
    if (snprintf(meta, sizeof meta, "%s/%s.meta", dir, kind) >= (int)sizeof meta) {
        snprintf(err, errlen, "data directory path too long: %s", dir);
        return SW_EINVAL;
    }
    unsigned have = 0;
    int found = meta_read(meta, kind, &have);
    if (found < 0) {
        snprintf(err, errlen, "%s is unreadable or not a steward %s meta file", meta, kind);
        return SW_EIO;
    }
    if (found && *shards && *shards != have) {
        snprintf(err, errlen,
                 "%s holds a %s of %u shards; opening it with %u would misplace keys "
                 "(open with shards = 0 or %u)",
                 dir, kind, have, *shards, have);
        return SW_EINVAL;
    }
    if (found) {
        *shards = have;
        return SW_OK;
    }
    if (!*shards)
        *shards = dflt;
    if (meta_write(dir, meta, kind, *shards) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", meta, strerror(errno));
        return SW_EIO;
    }
    return SW_OK;
}

int sw__datadir_log_path(char *out, size_t cap, const char *dir, const char *kind, unsigned i)
{
    int n = snprintf(out, cap, "%s/%s-shard-%04u.log", dir, kind, i);
    return n > 0 && (size_t)n < cap ? SW_OK : SW_EINVAL;
}

int sw__check_shards_fsync(unsigned shards, int fsync, char *err, size_t errlen)
{
    if (shards > SW__MAX_SHARDS) {
        snprintf(err, errlen, "%u shards: at most %d", shards, SW__MAX_SHARDS);
        return SW_EINVAL;
    }
    if (fsync != SW_FSYNC_EVERYSEC && fsync != SW_FSYNC_ALWAYS && fsync != SW_FSYNC_NO) {
        snprintf(err, errlen, "unknown fsync policy %d", fsync);
        return SW_EINVAL;
    }
    return SW_OK;
}
