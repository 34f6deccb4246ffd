/* The server-wide commands: INFO, CONFIG, DBSIZE, FLUSHDB, FLUSHALL. Each
 * runs as a world operation, so it may read and change every shard. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>
#include <stdarg.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "log/datadir.h"
#include "server/cmd.h"

/* ---- DBSIZE, FLUSHDB, FLUSHALL --------------------------------------------- */

void cmd_dbsize(struct exec *x)
{
    size_t n = 0;
    for (unsigned i = 0; i < x->srv->n; i++)
        n += x->srv->shards[i].keys[x->db];
    sw__resp_add_int(x->out, (int64_t)n);
}

static bool flush_args(struct exec *x)
{
    if (x->argc > 2 ||
        (x->argc == 2 && !arg_is(&x->argv[1], "sync") && !arg_is(&x->argv[1], "async"))) {
        reply_syntax(x);
        return false;
    }
    return true;
}

static void flush(struct exec *x, int db)
{
    int rc = SW_OK;
    for (unsigned i = 0; i < x->srv->n && rc == SW_OK; i++) /* a full disk refuses it whole */
        rc = kv_flush_room(&x->srv->shards[i], db);
    if (rc == SW_OK)
        rc = kv_room_take(x->srv);
    else
        kv_room_drop(x->srv);
    for (unsigned i = 0; i < x->srv->n && rc == SW_OK; i++)
        rc = kv_flush(&x->srv->shards[i], db);
    if (rc == SW_OK)
        reply_ok(x);
    else
        reply_status(x, rc);
}

void cmd_flushdb(struct exec *x)
{
    if (!flush_args(x))
        return;
    flush(x, x->db);
}

void cmd_flushall(struct exec *x)
{
    if (!flush_args(x))
        return;
    flush(x, -1);
}

/* ---- INFO -------------------------------------------------------------------
 *
 * The sections and fields of redis-server 7.0's INFO that mean something
 * here, with real values, in Redis's order, so that redis-cli (--stat),
 * redis-py's info() and monitoring tools read them unchanged; fields of
 * ours (steward_version, shards, appendfsync, dir) sit among them. Left
 * out, rather than faked: RDB snapshot fields that would claim a save or
 * unsaved changes (stewardd has no snapshots: its log is the copy on
 * disk), peaks and allocator internals nothing here samples, replication
 * beyond "a master with no replicas", and the per-command sections
 * (commandstats, errorstats, latencystats), which nothing here counts.
 * docs/server.md lists them. */

static uint64_t sum_stat(struct srv *s, size_t offset)
{
    uint64_t n = 0;
    for (unsigned i = 0; i < s->n; i++)
        n += atomic_load_explicit((_Atomic uint64_t *)((char *)&s->shards[i] + offset),
                                  memory_order_relaxed);
    return n;
}

#define STAT(s, field) ((unsigned long long)sum_stat(s, offsetof(struct srv_shard, field)))

/* The sum over shards of one instantaneous rate, per second. */
static uint64_t sum_rate(struct srv *s, size_t offset)
{
    uint64_t n = 0;
    for (unsigned i = 0; i < s->n; i++)
        n += kv_rate((const struct srv_rate *)((const char *)&s->shards[i] + offset));
    return n;
}

#define RATE(s, field) sum_rate(s, offsetof(struct srv_shard, field))

static size_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0, rss = 0;
    if (f) {
        if (fscanf(f, "%lu %lu", &pages, &rss) != 2)
            rss = 0;
        fclose(f);
    }
    return rss * (size_t)sysconf(_SC_PAGESIZE);
}

/* Under ASan or TSan malloc is the sanitizer's, which glibc's mallinfo2
 * does not see; the runtime's own count (exported by both) stands in. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZER_MALLOC 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZER_MALLOC 1
#endif
#endif
#ifdef SANITIZER_MALLOC
size_t __sanitizer_get_current_allocated_bytes(void);
#endif

/* Bytes the process has allocated, as Redis's used_memory counts its
 * allocator's: glibc's in-use chunks, mmapped ones included; in ASan and
 * TSan builds the sanitizer's own count. Where neither count is (another
 * malloc preloaded leaves glibc's near 0), the resident size stands in;
 * never less than the tables' bytes (dataset). mallinfo2 walks the free
 * lists, under the world pause: 2 ms with 500,000 free chunks (1,000,000
 * keys loaded, every other one deleted; 2-core VM), against 0.1 ms for
 * INFO server, which a poll once a second (redis-cli --stat) can afford. */
static size_t allocated_bytes(size_t dataset, size_t rss)
{
    size_t n = 0;
#if defined(SANITIZER_MALLOC)
    n = __sanitizer_get_current_allocated_bytes();
#elif defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
    struct mallinfo2 mi = mallinfo2();
    n = mi.uordblks + mi.hblkhd;
#endif
    if (n == 0)
        n = rss;
    return n > dataset ? n : dataset;
}

static void human(char *buf, size_t cap, double b)
{
    const char *u = "BKMGT";
    int i = 0;
    while (b >= 1024 && i < 4) {
        b /= 1024;
        i++;
    }
    if (i == 0)
        snprintf(buf, cap, "%.0fB", b);
    else
        snprintf(buf, cap, "%.2f%c", b, u[i]);
}

/* Appends printf output to a growing string; on failure the string
 * becomes NULL and stays so. */
static void cat(char **s, size_t *len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void cat(char **s, size_t *len, const char *fmt, ...)
{
    if (!*s)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof line)
        n = sizeof line - 1;
    char *g = realloc(*s, *len + (size_t)n + 1);
    if (!g) {
        free(*s);
        *s = NULL;
        return;
    }
    memcpy(g + *len, line, (size_t)n + 1);
    *len += (size_t)n;
    *s = g;
}

static void info_server(struct srv *s, char **o, size_t *n)
{
    struct utsname u;
    uname(&u);
    char exe[512];
    ssize_t l = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[l > 0 ? l : 0] = 0;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long long now_us = (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    int64_t up = (kv_now() - s->start_ms) / 1000;
    cat(o, n,
        "# Server\r\nredis_version:%s\r\nsteward_version:%s\r\nredis_mode:standalone\r\n"
        "os:%s %s %s\r\narch_bits:%d\r\nmultiplexing_api:epoll\r\natomicvar_api:c11-builtin\r\n"
        "process_id:%ld\r\nprocess_supervised:no\r\nrun_id:%s\r\ntcp_port:%d\r\n"
        "server_time_usec:%lld\r\nuptime_in_seconds:%lld\r\nuptime_in_days:%lld\r\n",
        SRV_REDIS_VERSION, SRV_VERSION, u.sysname, u.release, u.machine, (int)(8 * sizeof(void *)),
        (long)getpid(), s->run_id, s->cfg.port, now_us, (long long)up, (long long)(up / 86400));
    cat(o, n, "hz:%d\r\nconfigured_hz:%d\r\nexecutable:%s\r\nshards:%u\r\n", s->cfg.hz, s->cfg.hz,
        exe, s->n);
    /* A line of its own: cat cuts a line at 1 KiB, and a path may be long. */
    cat(o, n, "config_file:%.1000s\r\n\r\n", s->cfg.config_file ? s->cfg.config_file : "");
}

static void info_clients(struct srv *s, char **o, size_t *n)
{
    /* No command blocks a client here (no BLPOP, no WAIT): blocked is 0. */
    cat(o, n, "# Clients\r\nconnected_clients:%u\r\nmaxclients:%u\r\nblocked_clients:0\r\n",
        atomic_load_explicit(&s->nclients, memory_order_relaxed), s->cfg.maxclients);
    /* Each shard's connections, in shard order (a new client goes to the
     * shard with the fewest); one shard at a time: cat cuts at 1 KiB. */
    cat(o, n, "shard_clients:");
    for (unsigned i = 0; i < s->n; i++)
        cat(o, n, i ? ",%u" : "%u",
            atomic_load_explicit(&s->shards[i].nconns, memory_order_relaxed));
    cat(o, n, "\r\n\r\n");
}

static void info_memory(struct srv *s, char **o, size_t *n)
{
    size_t data = 0;
    for (unsigned i = 0; i < s->n; i++)
        data += kv_memory(&s->shards[i]);
    size_t rss = rss_bytes(), used = allocated_bytes(data, rss);
    size_t sys = (size_t)sysconf(_SC_PHYS_PAGES) * (size_t)sysconf(_SC_PAGESIZE);
    char hu[32], hr[32], hs[32];
    human(hu, sizeof hu, (double)used);
    human(hr, sizeof hr, (double)rss);
    human(hs, sizeof hs, (double)sys);
    /* No maxmemory: stewardd never evicts, so its policy is noeviction. */
    cat(o, n,
        "# Memory\r\nused_memory:%zu\r\nused_memory_human:%s\r\nused_memory_rss:%zu\r\n"
        "used_memory_rss_human:%s\r\nused_memory_dataset:%zu\r\ntotal_system_memory:%zu\r\n"
        "total_system_memory_human:%s\r\nmaxmemory:0\r\nmaxmemory_human:0B\r\n"
        "maxmemory_policy:noeviction\r\nmem_fragmentation_ratio:%.2f\r\n"
        "mem_fragmentation_bytes:%lld\r\nmem_allocator:libc\r\n\r\n",
        used, hu, rss, hr, data, sys, hs, used ? (double)rss / (double)used : 0.0,
        (long long)rss - (long long)used);
}

/* The bytes of every shard's log on disk (aof_current_size). */
static unsigned long long log_bytes(struct srv *s)
{
    unsigned long long sum = 0;
    for (unsigned i = 0; i < s->n; i++) {
        char path[4096];
        struct stat st;
        if (sw__datadir_log_path(path, sizeof path, s->cfg.dir, "kv", i) == SW_OK &&
            stat(path, &st) == 0)
            sum += (unsigned long long)st.st_size;
    }
    return sum;
}

static void info_persistence(struct srv *s, char **o, size_t *n)
{
    bool compacting = false, refusing = false;
    unsigned long long compactions = 0;
    for (unsigned i = 0; i < s->n; i++) {
        compacting |= sw__shard_compacting(s->shards[i].core);
        compactions += sw__shard_compactions(s->shards[i].core);
        refusing |= atomic_load_explicit(&s->shards[i].st_refusing, memory_order_relaxed) != 0;
    }
    static const char *const modes[] = {"everysec", "always", "no"};
    /* Recovery ends before the socket opens, so no client sees loading. The
     * AOF is the shards' logs, and a rewrite their compaction. */
    cat(o, n,
        "# Persistence\r\nloading:0\r\nasync_loading:0\r\nrdb_bgsave_in_progress:0\r\n"
        "rdb_last_bgsave_status:ok\r\nrdb_saves:0\r\naof_enabled:%d\r\n"
        "aof_rewrite_in_progress:%d\r\naof_rewrite_scheduled:0\r\naof_rewrites:%llu\r\n"
        "aof_last_write_status:%s\r\n",
        s->cfg.dir != NULL, compacting, compactions, refusing ? "err" : "ok");
    if (s->cfg.dir)
        cat(o, n, "aof_current_size:%llu\r\n", log_bytes(s));
    cat(o, n, "appendfsync:%s\r\ndir:%s\r\n\r\n", modes[s->cfg.fsync],
        s->cfg.dir ? s->cfg.dir : "");
}

static void info_stats(struct srv *s, char **o, size_t *n)
{
    /* No eviction (no maxmemory), so evicted_keys stays 0. */
    cat(o, n,
        "# Stats\r\ntotal_connections_received:%llu\r\ntotal_commands_processed:%llu\r\n"
        "instantaneous_ops_per_sec:%llu\r\ntotal_net_input_bytes:%llu\r\n"
        "total_net_output_bytes:%llu\r\ninstantaneous_input_kbps:%.2f\r\n"
        "instantaneous_output_kbps:%.2f\r\nrejected_connections:%llu\r\nexpired_keys:%llu\r\n"
        "evicted_keys:0\r\nkeyspace_hits:%llu\r\nkeyspace_misses:%llu\r\n"
        "shard_lent_turns:%llu\r\nshard_wakeups:%llu\r\nshard_world_ops:%llu\r\n\r\n",
        STAT(s, st_conns), STAT(s, st_cmds), (unsigned long long)RATE(s, rate_cmds),
        STAT(s, st_in_bytes), STAT(s, st_out_bytes), (double)RATE(s, rate_in) / 1024,
        (double)RATE(s, rate_out) / 1024, STAT(s, st_rejected), STAT(s, st_expired),
        STAT(s, st_hits), STAT(s, st_misses), STAT(s, st_lent_turns), STAT(s, st_wakeups),
        STAT(s, st_world_ops));
}

static void info_replication(struct srv *s, char **o, size_t *n)
{
    (void)s; /* no replication: a master with no replicas, as Redis alone says */
    cat(o, n, "# Replication\r\nrole:master\r\nconnected_slaves:0\r\n\r\n");
}

static void info_cpu(struct srv *s, char **o, size_t *n)
{
    (void)s;
    struct rusage self = {0}, kids = {0};
    getrusage(RUSAGE_SELF, &self);
    getrusage(RUSAGE_CHILDREN, &kids);
    cat(o, n,
        "# CPU\r\nused_cpu_sys:%ld.%06ld\r\nused_cpu_user:%ld.%06ld\r\n"
        "used_cpu_sys_children:%ld.%06ld\r\nused_cpu_user_children:%ld.%06ld\r\n\r\n",
        (long)self.ru_stime.tv_sec, (long)self.ru_stime.tv_usec, (long)self.ru_utime.tv_sec,
        (long)self.ru_utime.tv_usec, (long)kids.ru_stime.tv_sec, (long)kids.ru_stime.tv_usec,
        (long)kids.ru_utime.tv_sec, (long)kids.ru_utime.tv_usec);
}

static void info_cluster(struct srv *s, char **o, size_t *n)
{
    (void)s;
    cat(o, n, "# Cluster\r\ncluster_enabled:0\r\n\r\n");
}

static void info_keyspace(struct srv *s, char **o, size_t *n)
{
    int64_t now = kv_now();
    cat(o, n, "# Keyspace\r\n");
    for (int db = 0; db < SRV_DBS; db++) {
        size_t keys = 0, exp = 0;
        for (unsigned i = 0; i < s->n; i++) {
            keys += s->shards[i].keys[db];
            exp += s->shards[i].expires[db];
        }
        if (keys)
            cat(o, n, "db%d:keys=%zu,expires=%zu,avg_ttl=%lld\r\n", db, keys, exp,
                (long long)kv_avg_ttl(s, db, now));
    }
    cat(o, n, "\r\n");
}

/* INFO's sections in Redis's order. Every one is in "default" as in Redis;
 * "all" and "everything" add nothing more, having no others. */
static const struct info_section {
    const char *name;
    void (*fn)(struct srv *s, char **o, size_t *n);
} info_sections[] = {
    {"server", info_server},     {"clients", info_clients},
    {"memory", info_memory},     {"persistence", info_persistence},
    {"stats", info_stats},       {"replication", info_replication},
    {"cpu", info_cpu},           {"cluster", info_cluster},
    {"keyspace", info_keyspace},
};
#define INFO_SECTIONS (sizeof info_sections / sizeof info_sections[0])

/* Marks in want[] the sections the arguments name, as Redis 7 takes them:
 * any number, in any case; "all", "everything" and "default" every one;
 * names it does not know, nothing. No argument: the default. */
static void info_wanted(const struct exec *x, bool want[INFO_SECTIONS])
{
    for (size_t k = 0; k < INFO_SECTIONS; k++)
        want[k] = x->argc == 1;
    for (size_t a = 1; a < x->argc; a++) {
        const sw__resp_arg *arg = &x->argv[a];
        bool every = arg_is(arg, "all") || arg_is(arg, "everything") || arg_is(arg, "default");
        for (size_t k = 0; k < INFO_SECTIONS; k++)
            want[k] |= every || arg_is(arg, info_sections[k].name);
    }
}

void cmd_info(struct exec *x)
{
    bool want[INFO_SECTIONS];
    info_wanted(x, want);
    char *o = calloc(1, 1);
    size_t n = 0;
    for (size_t k = 0; k < INFO_SECTIONS; k++)
        if (want[k])
            info_sections[k].fn(x->srv, &o, &n);
    if (!o) {
        reply_status(x, SW_ENOMEM);
        return;
    }
    if (n >= 2)
        n -= 2; /* no blank line at the very end */
    sw__resp_add_verbatim(x->out, "txt", o, n);
    free(o);
}

/* ---- CONFIG ---------------------------------------------------------------- */

enum { P_INT, P_SIZE, P_STR, P_RO };

struct param {
    const char *name;
    int kind;
};

static const struct param params[] = {
    {"appendfsync", P_RO},
    {"appendonly", P_RO},
    {"bind", P_RO},
    {"client-output-buffer-limit", P_SIZE},
    {"client-query-buffer-limit", P_SIZE},
    {"databases", P_RO},
    {"dir", P_RO},
    {"hz", P_INT},
    {"maxclients", P_INT},
    {"maxmemory", P_RO},
    {"port", P_RO},
    {"proto-max-bulk-len", P_SIZE},
    {"protected-mode", P_RO},
    {"requirepass", P_STR},
    {"save", P_RO},
    {"shards", P_RO},
    {"timeout", P_INT},
};

static void param_value(struct srv *s, const char *name, char *buf, size_t cap)
{
    static const char *const modes[] = {"everysec", "always", "no"};
    const struct srv_config *c = &s->cfg;
    if (!strcmp(name, "appendfsync"))
        snprintf(buf, cap, "%s", modes[c->fsync]);
    else if (!strcmp(name, "appendonly"))
        snprintf(buf, cap, "%s", c->dir ? "yes" : "no");
    else if (!strcmp(name, "bind"))
        snprintf(buf, cap, "%s", c->bind);
    else if (!strcmp(name, "client-output-buffer-limit"))
        snprintf(buf, cap, "normal %zu 0 %lld", c->obuf_limit, (long long)c->obuf_stall_s);
    else if (!strcmp(name, "client-query-buffer-limit"))
        snprintf(buf, cap, "%zu", c->max_query);
    else if (!strcmp(name, "databases"))
        snprintf(buf, cap, "%d", SRV_DBS);
    else if (!strcmp(name, "dir"))
        snprintf(buf, cap, "%s", c->dir ? c->dir : "");
    else if (!strcmp(name, "hz"))
        snprintf(buf, cap, "%d", c->hz);
    else if (!strcmp(name, "maxclients"))
        snprintf(buf, cap, "%u", c->maxclients);
    else if (!strcmp(name, "port"))
        snprintf(buf, cap, "%d", c->port);
    else if (!strcmp(name, "proto-max-bulk-len"))
        snprintf(buf, cap, "%zu", c->max_bulk);
    else if (!strcmp(name, "protected-mode"))
        snprintf(buf, cap, "%s", c->protected_mode ? "yes" : "no");
    else if (!strcmp(name, "requirepass"))
        snprintf(buf, cap, "%s", c->requirepass ? c->requirepass : "");
    else if (!strcmp(name, "shards"))
        snprintf(buf, cap, "%u", s->n);
    else if (!strcmp(name, "timeout"))
        snprintf(buf, cap, "%lld", (long long)c->timeout_s);
    else /* maxmemory, save */
        snprintf(buf, cap, "%s", !strcmp(name, "save") ? "" : "0");
}

static void config_get(struct exec *x)
{
    bool hit[sizeof params / sizeof params[0]] = {false};
    size_t n = 0;
    for (size_t a = 2; a < x->argc; a++)
        for (size_t i = 0; i < sizeof params / sizeof params[0]; i++)
            if (!hit[i] && glob_match(x->argv[a].ptr, x->argv[a].len, params[i].name,
                                      strlen(params[i].name), true)) {
                hit[i] = true;
                n++;
            }
    sw__resp_add_map(x->out, n);
    for (size_t i = 0; i < sizeof params / sizeof params[0]; i++) {
        if (!hit[i])
            continue;
        char v[256];
        param_value(x->srv, params[i].name, v, sizeof v);
        sw__resp_add_bulk_cstr(x->out, params[i].name);
        sw__resp_add_bulk_cstr(x->out, v);
    }
}

/* Applies one CONFIG SET pair; returns NULL or the error's reason. */
static const char *config_set_one(struct srv *s, const struct param *p, const sw__resp_arg *v)
{
    struct srv_config *c = &s->cfg;
    long long n = 0;
    size_t z = 0;
    if (p->kind == P_RO)
        return "can't set immutable config";
    if (p->kind == P_INT && (!arg_ll(v->ptr, v->len, &n) || n < 0))
        return "argument couldn't be parsed into an integer";
    if (p->kind == P_SIZE && !arg_size(v->ptr, v->len, &z))
        return "argument must be a memory value";
    if (!strcmp(p->name, "hz")) {
        c->hz = n < 1 ? 1 : n > 500 ? 500 : (int)n;
    } else if (!strcmp(p->name, "maxclients")) {
        if (n < 1 || n > 1000000)
            return "argument must be between 1 and 1000000 inclusive";
        c->maxclients = (unsigned)n;
    } else if (!strcmp(p->name, "timeout")) {
        c->timeout_s = n;
    } else if (!strcmp(p->name, "client-output-buffer-limit")) {
        c->obuf_limit = z;
    } else if (!strcmp(p->name, "client-query-buffer-limit")) {
        if (z < 1024 * 1024)
            return "argument must be at least 1mb";
        c->max_query = z;
    } else if (!strcmp(p->name, "proto-max-bulk-len")) {
        if (z < 1024 * 1024)
            return "argument must be at least 1mb";
        c->max_bulk = z;
    } else if (!strcmp(p->name, "requirepass")) {
        char *pw = strndup(v->ptr, v->len);
        if (!pw)
            return "out of memory";
        free(c->requirepass);
        c->requirepass = pw;
    }
    return NULL;
}

static void config_set(struct exec *x)
{
    if (x->argc < 4 || x->argc % 2) {
        reply_err(x, "ERR wrong number of arguments for 'config|set' command");
        return;
    }
    for (size_t a = 2; a < x->argc; a += 2) {
        const struct param *p = NULL;
        for (size_t i = 0; i < sizeof params / sizeof params[0]; i++)
            if (arg_is(&x->argv[a], params[i].name))
                p = &params[i];
        if (!p) {
            sw__resp_add_errorf(x->out,
                                "ERR Unknown option or number of arguments for CONFIG SET - '%.*s'",
                                (int)(x->argv[a].len > 64 ? 64 : x->argv[a].len), x->argv[a].ptr);
            return;
        }
        const char *why = config_set_one(x->srv, p, &x->argv[a + 1]);
        if (why) {
            sw__resp_add_errorf(
                x->out, "ERR CONFIG SET failed (possibly related to argument '%.*s') - %s",
                (int)(x->argv[a].len > 64 ? 64 : x->argv[a].len), x->argv[a].ptr, why);
            return;
        }
    }
    /* The parser limits of every connection follow the new values. */
    sw__resp_limits lim = {.max_bulk = x->srv->cfg.max_bulk, .max_query = x->srv->cfg.max_query};
    for (unsigned i = 0; i < x->srv->n; i++)
        for (struct conn *c = x->srv->shards[i].conns; c; c = c->next)
            sw__resp_parser_set_limits(&c->parser, &lim);
    reply_ok(x);
}

static void reset_stats(struct exec *x)
{
    for (unsigned i = 0; i < x->srv->n; i++) {
        struct srv_shard *sh = &x->srv->shards[i];
        _Atomic uint64_t *st[] = {&sh->st_cmds,     &sh->st_conns,     &sh->st_rejected,
                                  &sh->st_expired,  &sh->st_hits,      &sh->st_misses,
                                  &sh->st_in_bytes, &sh->st_out_bytes, &sh->st_lent_turns,
                                  &sh->st_wakeups,  &sh->st_world_ops};
        for (size_t k = 0; k < sizeof st / sizeof st[0]; k++)
            atomic_store_explicit(st[k], 0, memory_order_relaxed);
    }
    reply_ok(x);
}

void cmd_config(struct exec *x)
{
    if (arg_is(&x->argv[1], "get") && x->argc >= 3)
        config_get(x);
    else if (arg_is(&x->argv[1], "set"))
        config_set(x);
    else if (arg_is(&x->argv[1], "resetstat") && x->argc == 2)
        reset_stats(x);
    else
        sw__resp_add_errorf(x->out, "ERR unknown subcommand '%.*s'. Try CONFIG HELP.",
                            (int)(x->argv[1].len > 64 ? 64 : x->argv[1].len), x->argv[1].ptr);
}
