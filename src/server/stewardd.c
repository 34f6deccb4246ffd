/* stewardd: steward's Db and Ledger over the Redis protocol.
 *
 *   stewardd [--port 6380] [--bind 127.0.0.1] [--dir PATH]
 *            [--appendfsync always|everysec|no] [--shards N]
 *            [--requirepass PASSWORD] [--maxclients N] [--timeout SECONDS] ...
 *
 * Flags follow redis-server's names; `stewardd --help` lists them all.
 * SIGTERM, SIGINT and SHUTDOWN finish pending work, sync the logs and exit 0.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/cmd.h"

static struct srv g_srv;

static void on_signal(int sig)
{
    (void)sig;
    srv_stop(&g_srv); /* an atomic store and write(2)s: async-signal-safe */
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: stewardd [options]\n"
            "  --port N                      TCP port (default 6380)\n"
            "  --bind ADDR                   address to listen on (default 127.0.0.1)\n"
            "  --dir PATH                    keep the data durable in PATH (default: memory only)\n"
            "  --appendfsync always|everysec|no   when the log is synced (default everysec)\n"
            "  --shards N                    shard threads (default: one per CPU above 4 CPUs, "
            "else CPUs - 1)\n"
            "  --requirepass PASSWORD        clients must AUTH first\n"
            "  --maxclients N                most clients at once (default 10000)\n"
            "  --timeout SECONDS             close clients idle this long (default 0: never)\n"
            "  --client-output-buffer-limit BYTES  close a client whose unread replies pass\n"
            "                                this (default 256mb; 0: no limit)\n"
            "  --client-output-stall SECONDS close a client that reads none of its replies\n"
            "                                for this long (default 60; 0: never)\n"
            "  --proto-max-bulk-len BYTES    largest argument (default 512mb)\n"
            "  --client-query-buffer-limit BYTES  largest request (default 1gb)\n"
            "  --protected-mode yes|no       without a password, refuse non-loopback\n"
            "                                clients (default yes)\n"
            "  --hz N                        background tasks per second (default 10)\n"
            "  --version, --help\n");
}

static bool parse_bytes(const char *s, size_t *out)
{
    return arg_size(s, strlen(s), out);
}

static bool parse_num(const char *s, long long lo, long long hi, long long *out)
{
    long long v;
    if (!arg_ll(s, strlen(s), &v) || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

/* One flag and its value; returns false (with a message) if invalid. */
static bool apply_flag(struct srv_config *c, const char *f, const char *v)
{
    long long n;
    if (!strcmp(f, "port") && parse_num(v, 0, 65535, &n))
        c->port = (int)n;
    else if (!strcmp(f, "bind") && strlen(v) < sizeof c->bind)
        strcpy(c->bind, v);
    else if (!strcmp(f, "dir") && v[0])
        c->dir = strdup(v);
    else if (!strcmp(f, "appendfsync") && !strcmp(v, "always"))
        c->fsync = SW_FSYNC_ALWAYS;
    else if (!strcmp(f, "appendfsync") && !strcmp(v, "everysec"))
        c->fsync = SW_FSYNC_EVERYSEC;
    else if (!strcmp(f, "appendfsync") && !strcmp(v, "no"))
        c->fsync = SW_FSYNC_NO;
    else if (!strcmp(f, "shards") && parse_num(v, 1, 4096, &n))
        c->shards = (unsigned)n;
    else if (!strcmp(f, "requirepass"))
        c->requirepass = strdup(v);
    else if (!strcmp(f, "maxclients") && parse_num(v, 1, 1000000, &n))
        c->maxclients = (unsigned)n;
    else if (!strcmp(f, "timeout") && parse_num(v, 0, 1LL << 40, &n))
        c->timeout_s = n;
    else if (!strcmp(f, "client-output-stall") && parse_num(v, 0, 1LL << 40, &n))
        c->obuf_stall_s = n;
    else if (!strcmp(f, "hz") && parse_num(v, 1, 500, &n))
        c->hz = (int)n;
    else if (!strcmp(f, "client-output-buffer-limit") && parse_bytes(v, &c->obuf_limit))
        ;
    else if (!strcmp(f, "proto-max-bulk-len") && parse_bytes(v, &c->max_bulk) &&
             c->max_bulk >= 1024 * 1024)
        ;
    else if (!strcmp(f, "client-query-buffer-limit") && parse_bytes(v, &c->max_query) &&
             c->max_query >= 1024 * 1024)
        ;
    else if (!strcmp(f, "protected-mode") && (!strcmp(v, "yes") || !strcmp(v, "no")))
        c->protected_mode = !strcmp(v, "yes");
    else {
        fprintf(stderr, "stewardd: bad option --%s %s (see stewardd --help)\n", f, v);
        return false;
    }
    return true;
}

static int parse_args(int argc, char **argv, struct srv_config *c)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            exit(0);
        }
        if (!strcmp(a, "--version") || !strcmp(a, "-v")) {
            printf("stewardd %s\n", SRV_VERSION);
            exit(0);
        }
        if (strncmp(a, "--", 2) != 0 || i + 1 >= argc) {
            fprintf(stderr, "stewardd: %s: expected --option value\n", a);
            usage(stderr);
            return -1;
        }
        if (!apply_flag(c, a + 2, argv[++i]))
            return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct srv_config cfg = {.port = 6380,
                             .bind = "127.0.0.1",
                             .fsync = SW_FSYNC_EVERYSEC,
                             .maxclients = 10000,
                             .obuf_limit = (size_t)256 << 20,
                             .obuf_stall_s = 60,
                             .max_bulk = SW__RESP_MAX_BULK,
                             .max_query = SW__RESP_MAX_QUERY,
                             .protected_mode = true,
                             .hz = 10};
    if (parse_args(argc, argv, &cfg) != 0)
        return 2;
    signal(SIGPIPE, SIG_IGN);
    char err[512] = "";
    int rc = srv_open(&g_srv, &cfg, err, sizeof err);
    if (rc != SW_OK) {
        fprintf(stderr, "stewardd: %s\n", err[0] ? err : sw_strerror(rc));
        srv_close(&g_srv);
        return 1;
    }
    fprintf(stderr, "stewardd %s: pid %ld, listening on %s:%d, %u shards, %s%s%s\n", SRV_VERSION,
            (long)getpid(), cfg.bind, cfg.port, g_srv.n,
            cfg.dir ? "dir " : "memory only (no --dir)", cfg.dir ? cfg.dir : "",
            cfg.dir ? (cfg.fsync == SW_FSYNC_ALWAYS     ? ", appendfsync always"
                       : cfg.fsync == SW_FSYNC_EVERYSEC ? ", appendfsync everysec"
                                                        : ", appendfsync no")
                    : "");
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    rc = srv_run(&g_srv);
    srv_close(&g_srv);
    fprintf(stderr, "stewardd: logs synced, bye\n");
    free(cfg.dir);
    free(g_srv.cfg.requirepass); /* cfg's, or the one CONFIG SET put in its place */
    return rc == 0 ? 0 : 1;
}
