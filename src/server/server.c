/* Opening and closing stewardd: the data directory and each shard's log
 * (replayed), the Ledger, the listening socket, the everysec syncer. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/sync.h"
#include "log/datadir.h"
#include "server/cmd.h"
#include "server/loop_int.h"

static int listen_on(struct srv *s, char *err, size_t errlen)
{
    struct sockaddr_storage a = {0};
    socklen_t alen;
    struct sockaddr_in *v4 = (struct sockaddr_in *)&a;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&a;
    if (inet_pton(AF_INET, s->cfg.bind, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)s->cfg.port);
        alen = sizeof *v4;
    } else if (inet_pton(AF_INET6, s->cfg.bind, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)s->cfg.port);
        alen = sizeof *v6;
    } else {
        snprintf(err, errlen, "--bind %s: not an IPv4 or IPv6 address", s->cfg.bind);
        return SW_EINVAL;
    }
    int fd = socket(a.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, (struct sockaddr *)&a, alen) != 0 || listen(fd, 511) != 0) {
        snprintf(err, errlen, "cannot listen on %s:%d: %s", s->cfg.bind, s->cfg.port,
                 strerror(errno));
        if (fd >= 0)
            close(fd);
        return SW_EIO;
    }
    s->lfd = fd;
    return SW_OK;
}

static int shard_open(struct srv *s, unsigned i, unsigned n, sw__shard *core, char *err,
                      size_t errlen)
{
    struct srv_shard *sh = &s->shards[i];
    sh->srv = s;
    sh->index = i;
    sh->core = core;
    sh->epfd = -1;
    pthread_mutex_init(&sh->turn, NULL);
    sh->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    sh->outq = calloc(n, sizeof *sh->outq);
    sh->outq_tail = calloc(n, sizeof *sh->outq_tail);
    sh->pauses = calloc(n, sizeof *sh->pauses);
    if (sh->efd < 0 || !sh->outq || !sh->outq_tail || !sh->pauses) {
        snprintf(err, errlen, "shard %u: %s", i, strerror(errno ? errno : ENOMEM));
        return SW_ENOMEM;
    }
    kv_attach(sh);
    return SW_OK;
}

static sw__journal *journal_of(void *ctx, size_t i)
{
    return sw__shard_journal(((struct srv *)ctx)->shards[i].core);
}

static int open_ledger(struct srv *s, char *err, size_t errlen)
{
    sw_ledger_options lo = {.dir = s->cfg.dir, .fsync = s->cfg.fsync};
    int rc = sw_ledger_open(&s->ledger, &lo);
    if (rc != SW_OK)
        snprintf(err, errlen, "cannot open the ledger: %s", sw_strerror(rc));
    return rc;
}

int srv_open(struct srv *s, const struct srv_config *cfg, char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    s->cfg = *cfg;
    s->lfd = -1;
    s->start_ms = kv_now();
    atomic_init(&s->next_id, 1);
    pthread_mutex_init(&s->world, NULL);
    pthread_mutex_init(&s->sched, NULL);
    const char *delay = getenv("STEWARDD_TEST_TXN_DELAY_US");
    if (delay)
        s->test_txn_delay_us = (unsigned)strtoul(delay, NULL, 10);
    for (int i = 0; i < 40; i++)
        s->run_id[i] = "0123456789abcdef"[sw__rand64() & 15];
    unsigned n = cfg->shards, dflt = sw__default_shards();
    int rc = sw__check_shards_fsync(n, (int)cfg->fsync, err, errlen);
    if (rc == SW_OK && cfg->dir)
        rc = sw__datadir_open(cfg->dir, "kv", &n, dflt, err, errlen);
    if (rc != SW_OK)
        return rc;
    if (n == 0)
        n = dflt;
    /* aligned as struct srv_shard asks: its inbox on a cache line of its own */
    s->shards = aligned_alloc(_Alignof(struct srv_shard), n * sizeof *s->shards);
    if (s->shards)
        memset(s->shards, 0, n * sizeof *s->shards);
    sw__shard **cores = calloc(n, sizeof *cores);
    uint64_t next_txid = 1;
    if (!s->shards || !cores) {
        free(cores);
        return SW_ENOMEM;
    }
    /* Every shard's log at once: a transaction across shards is settled
     * from all of them (db/shard.h). */
    rc = sw__shards_open(cores, n, s->cfg.dir, "kv", s->cfg.fsync, &next_txid, err, errlen);
    atomic_init(&s->next_txid, next_txid);
    while (rc == SW_OK && s->n < n) {
        rc = shard_open(s, s->n, n, cores[s->n], err, errlen);
        cores[s->n++] = NULL; /* the shard's now, for srv_close to free */
    }
    for (unsigned i = 0; i < n; i++)
        sw__shard_close(cores[i]);
    free(cores);
    if (rc != SW_OK)
        return rc;
    if (cfg->dir && cfg->fsync == SW_FSYNC_EVERYSEC) {
        rc = sw__syncer_start(&s->syncer, journal_of, s, s->n);
        if (rc != SW_OK) {
            snprintf(err, errlen, "cannot start the syncer thread");
            return rc;
        }
    }
    rc = open_ledger(s, err, errlen);
    return rc == SW_OK ? listen_on(s, err, errlen) : rc;
}

void srv_close(struct srv *s)
{
    sw__syncer_stop(&s->syncer);
    for (unsigned i = 0; s->shards && i < s->n; i++) {
        struct srv_shard *sh = &s->shards[i];
        /* A transaction's last messages (its parts' UNLOCKs) leave its
         * coordinator after the transaction stopped counting in inflight,
         * so a shard may have exited before they reached its inbox. Their
         * transaction is gone: nothing else refers to them. */
        for (struct msg *m = atomic_exchange(&sh->inbox, NULL), *next; m; m = next) {
            next = m->next;
            if (m->kind != MSG_PAUSE) /* a world operation's own, never allocated */
                msg_free(m);
        }
        conn_incoming_drop(sh); /* accepted for it as it stopped */
        sw__shard_close(
            sh->core); /* a failure was logged, and stopped the server, when it happened */
        if (sh->epfd >= 0)
            close(sh->epfd);
        if (sh->efd >= 0)
            close(sh->efd);
        free(sh->outq);
        free(sh->outq_tail);
        free(sh->pauses);
        msg_back_free(sh);
        pthread_mutex_destroy(&sh->turn);
        txn_shard_free(sh);
        multi_shard_free(sh);
    }
    free(s->shards);
    if (s->ledger)
        sw_ledger_close(s->ledger);
    if (s->lfd >= 0)
        close(s->lfd);
    pthread_mutex_destroy(&s->world);
    pthread_mutex_destroy(&s->sched);
    msg_spare_drain(); /* what this thread freed */
}
