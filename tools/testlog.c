/* A helper for the steward-check test: writes a log of N records of every
 * type the Db and the Ledger write, through the log code itself, flushed 16
 * at a time and synced every 64, so that the log adds its own SYNCED marks
 * (one after each sync that a flush follows).
 *
 *     steward-testlog FILE N
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>

#include "log/logfile.h"

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: steward-testlog FILE N\n");
        return 2;
    }
    long n = atol(argv[2]);
    sw__log log;
    char err[320];
    if (sw__log_open(&log, argv[1], NULL, NULL, err, sizeof err) != SW_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    char key[32], val[128];
    for (long i = 0; i < n; i++) {
        int klen = snprintf(key, sizeof key, "key-%ld", i);
        int vlen = snprintf(val, sizeof val, "value-%ld-%0*d", i, (int)(i % 60), 0);
        sw__rec r = {.type = (uint8_t)(1 + i % SW__REC_SNAPSHOT_END),
                     .num = i,
                     .a = key,
                     .alen = (size_t)klen,
                     .b = val,
                     .blen = (size_t)vlen};
        if (sw__log_append(&log, &r) != SW_OK ||
            (i % 16 == 15 && sw__log_flush(&log, i % 64 == 63) != SW_OK)) {
            fprintf(stderr, "%s\n", sw__log_errmsg(&log));
            return 1;
        }
    }
    int rc = sw__log_flush(&log, true);
    if (rc != SW_OK)
        fprintf(stderr, "%s\n", sw__log_errmsg(&log));
    sw__log_close(&log);
    return rc == SW_OK ? 0 : 1;
}
