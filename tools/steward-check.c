/* steward-check: verifies the logs of a steward data directory.
 *
 *     steward-check [--fix] DIR
 *     steward-check --help | --version
 *
 * Reads every *.log file in DIR (the Db's db-shard-NNNN.log and the Ledger's
 * ledger-shard-NNNN.log), checks every record's length, CRC and fields, and
 * prints one line per file with its records counted by type, then a total.
 * It changes nothing, unless --fix is given: then a torn tail (what an
 * interrupted append leaves) is truncated away, as recovery would do.
 * Corruption before the end of a file is only ever reported: which records
 * to give up is a human's decision.
 *
 * Exit status: 0 when every log is good (torn tails fixed with --fix
 * count as good), 1 when a torn tail remains, 2 on corruption or any error.
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log/logfile.h"

struct result {
    char *name;
    int rc; /* the status of verify or repair */
    char err[320];
    sw__log_info info;
};

/* CMake passes the project's version; stewardd --version prints the same. */
#ifndef STEWARD_VERSION
#error "STEWARD_VERSION must be defined (tools/CMakeLists.txt)"
#endif

static void usage(FILE *out)
{
    fprintf(out, "usage: steward-check [--fix] DIR\n"
                 "Verifies every log (*.log) of the steward data directory DIR.\n"
                 "  --fix          truncate torn tails, as recovery would (default: change "
                 "nothing)\n"
                 "  --help, -h     print this and exit\n"
                 "  --version, -v  print the version and exit\n"
                 "Exit status: 0 all good, 1 torn tail found, 2 corruption or error.\n");
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n > m && strcmp(s + n - m, suffix) == 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct result *)a)->name, ((const struct result *)b)->name);
}

/* Lists the regular *.log files of dir, sorted; -1 when dir cannot be read. */
static long list_logs(const char *dir, struct result **out)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return -1;
    struct result *res = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    char path[4096];
    while ((e = readdir(d)) != NULL) {
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (ends_with(e->d_name, ".log.tmp"))
            printf("note: %s is an unfinished compaction's file; ignored\n", e->d_name);
        if (!ends_with(e->d_name, ".log") || stat(path, &st) < 0 || !S_ISREG(st.st_mode))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            struct result *nr = realloc(res, cap * sizeof *res);
            if (nr == NULL) {
                fprintf(stderr, "steward-check: out of memory\n");
                exit(2);
            }
            res = nr;
        }
        memset(&res[n], 0, sizeof res[n]);
        res[n].name = strdup(e->d_name);
        if (res[n].name == NULL) {
            fprintf(stderr, "steward-check: out of memory\n");
            exit(2);
        }
        n++;
    }
    closedir(d);
    if (n > 0)
        qsort(res, n, sizeof *res, by_name);
    *out = res;
    return (long)n;
}

/* One file's status column. */
static void describe(const struct result *r, bool fix, char *out, size_t len)
{
    const sw__log_info *in = &r->info;
    uint64_t dropped = in->file_size - in->good_size;
    if (r->rc != SW_OK)
        snprintf(out, len, "ERROR: %s", r->err[0] ? r->err : sw_strerror(r->rc));
    else if (in->tail == SW__LOG_CLEAN)
        snprintf(out, len, "ok%s", in->in_use ? " (in use)" : "");
    else if (in->tail == SW__LOG_TORN)
        snprintf(out, len, "torn tail at offset %" PRIu64 ": %" PRIu64 " bytes (%s)%s%s",
                 in->good_size, dropped, in->why, fix ? ", truncated" : "",
                 in->in_use ? " (in use: may be an append in progress)" : "");
    else
        snprintf(out, len,
                 "CORRUPT at offset %" PRIu64 " (%s), %" PRIu64 " bytes to the end; not changed%s",
                 in->good_size, in->why, dropped, in->in_use ? " (in use)" : "");
}

/* Prints the table: only the record types that occur get a column. */
static void print_table(const struct result *res, size_t n, bool fix)
{
    uint64_t total[SW__REC_TYPE_MAX + 1] = {0}, bytes = 0, records = 0;
    for (size_t i = 0; i < n; i++) {
        for (int t = 0; t <= SW__REC_TYPE_MAX; t++)
            total[t] += res[i].info.count[t];
        bytes += res[i].info.file_size;
        records += res[i].info.records;
    }
    printf("%-28s %12s %10s", "FILE", "BYTES", "RECORDS");
    for (int t = 1; t <= SW__REC_TYPE_MAX; t++)
        if (total[t] > 0)
            printf(" %*s",
                   (int)(strlen(sw__rec_type_name(t)) > 8 ? strlen(sw__rec_type_name(t)) : 8),
                   sw__rec_type_name(t));
    printf("  STATUS\n");
    char status[512];
    for (size_t i = 0; i <= n; i++) {
        const sw__log_info *in = i < n ? &res[i].info : NULL;
        printf("%-28s %12" PRIu64 " %10" PRIu64, i < n ? res[i].name : "TOTAL",
               in ? in->file_size : bytes, in ? in->records : records);
        for (int t = 1; t <= SW__REC_TYPE_MAX; t++)
            if (total[t] > 0)
                printf(" %*" PRIu64,
                       (int)(strlen(sw__rec_type_name(t)) > 8 ? strlen(sw__rec_type_name(t)) : 8),
                       in ? in->count[t] : total[t]);
        if (i < n)
            describe(&res[i], fix, status, sizeof status);
        else
            snprintf(status, sizeof status, "%zu file%s", n, n == 1 ? "" : "s");
        printf("  %s\n", status);
    }
}

int main(int argc, char **argv)
{
    bool fix = false;
    const char *dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--fix") == 0) {
            fix = true;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "-v") == 0 || strcmp(argv[i], "--version") == 0) {
            printf("steward-check %s\n", STEWARD_VERSION);
            return 0;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "steward-check: unknown option %s\n", argv[i]);
            usage(stderr);
            return 2;
        } else if (dir != NULL) {
            fprintf(stderr, "steward-check: one DIR only, not %s too\n", argv[i]);
            usage(stderr);
            return 2;
        } else {
            dir = argv[i];
        }
    }
    if (dir == NULL) {
        usage(stderr);
        return 2;
    }
    struct result *res = NULL;
    long n = list_logs(dir, &res);
    if (n < 0) {
        perror(dir);
        return 2;
    }
    int status = 0;
    char path[4096];
    for (long i = 0; i < n; i++) {
        struct result *r = &res[i];
        snprintf(path, sizeof path, "%s/%s", dir, r->name);
        if (fix)
            r->rc = sw__log_repair(path, &r->info, r->err, sizeof r->err);
        else
            r->rc = sw__log_verify(path, NULL, NULL, &r->info, r->err, sizeof r->err);
        if (r->rc != SW_OK || r->info.tail == SW__LOG_CORRUPT)
            status = 2;
        else if (r->info.tail == SW__LOG_TORN && !fix && status == 0)
            status = 1;
    }
    printf("steward-check: %s: %ld log file%s%s\n", dir, n, n == 1 ? "" : "s",
           fix ? " (--fix: torn tails are truncated)" : "");
    if (n > 0)
        print_table(res, (size_t)n, fix);
    printf("%s\n", status == 0   ? "all logs are good"
                   : status == 1 ? "torn tail found: run with --fix to truncate it (recovery "
                                   "would do the same)"
                                 : "corruption or errors found: see STATUS");
    for (long i = 0; i < n; i++)
        free(res[i].name);
    free(res);
    return status;
}
