/* stewardd: steward's Db and Ledger over the Redis protocol.
 *
 *   stewardd [FILE] [--port 6380] [--bind 127.0.0.1] [--dir PATH]
 *            [--appendfsync always|everysec|no] [--shards N]
 *            [--requirepass PASSWORD] [--maxclients N] [--timeout SECONDS] ...
 *
 * FILE is a config file in redis.conf's syntax; flags follow
 * redis-server's names and override it (conf.h); `stewardd --help` lists
 * them all. SIGTERM, SIGINT and SHUTDOWN finish pending work, sync the
 * logs and exit 0. Exit status 2: a bad command line or config file,
 * reported before anything starts; 1: the server failed.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include "server/conf.h"

static struct srv g_srv;

static void on_signal(int sig)
{
    (void)sig;
    srv_stop(&g_srv); /* an atomic store and write(2)s: async-signal-safe */
}

/* One line per option, from conf.c's table: the same names as the
 * directives of a config file. */
static void usage(FILE *f)
{
    fprintf(f, "usage: stewardd [FILE] [--option value]...\n"
               "Reads the config file FILE (redis.conf syntax: one 'option value' per line),\n"
               "then the flags, which override it. Options, with their defaults:\n");
    for (size_t i = 0; i < conf_option_count; i++) {
        const struct conf_option *o = &conf_options[i];
        char flag[64];
        snprintf(flag, sizeof flag, "--%s %s", o->name, o->value);
        fprintf(f, "  %-35s %s (default%s%s)\n", flag, o->help, o->dflt ? " " : ": ",
                o->dflt ? o->dflt : o->unset);
    }
    fprintf(f, "  %-35s %s\n  %-35s %s\n", "--help, -h", "print this and exit", "--version, -v",
            "print the version and exit");
}

int main(int argc, char **argv)
{
    struct srv_config cfg;
    enum conf_action action;
    char err[512] = "";
    if (conf_args(&cfg, argc, argv, &action, err, sizeof err) != SW_OK) {
        fprintf(stderr, "stewardd: %s\n", err);
        return 2;
    }
    if (action != CONF_RUN) {
        if (action == CONF_HELP)
            usage(stdout);
        else
            printf("stewardd %s\n", SRV_VERSION);
        conf_free(&cfg);
        return 0;
    }
    signal(SIGPIPE, SIG_IGN);
    int rc = srv_open(&g_srv, &cfg, err, sizeof err);
    if (rc != SW_OK) {
        fprintf(stderr, "stewardd: %s\n", err[0] ? err : sw_strerror(rc));
        srv_close(&g_srv);
        conf_free(&cfg);
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
    cfg.requirepass = g_srv.cfg.requirepass; /* cfg's, or the one CONFIG SET put in its place */
    conf_free(&cfg);
    return rc == 0 ? 0 : 1;
}
