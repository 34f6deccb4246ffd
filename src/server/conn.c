/* A client connection's life on its shard thread: accepted (or refused),
 * read, parsed, its commands handed to route.c, its replies answered in
 * request order through its reply queue, written, kept under the output
 * and query limits, and closed and freed. The DESIGN comment is in
 * server.h; the states are enum conn_life and enum conn_input there.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/loop_int.h"

#define READ_BUDGET 4               /* reads per connection per turn, for fairness */
#define OUT_KEEP ((size_t)64 << 10) /* free an emptied output buffer above this */
#define OUT_HOLD ((size_t)16 << 10) /* output that waits for the replies away (conn_out_waits) */
#define AWAY_MAX 1024               /* requests of one client away on other shards */

static const char REFUSE_FULL[] = "-ERR max number of clients reached\r\n";
static const char REFUSE_PROTECTED[] =
    "-DENIED stewardd is running in protected mode: no password is set, so "
    "only loopback clients may connect. Set --requirepass, or start it with "
    "--protected-mode no if you are sure.\r\n";

void srv_conn_touch(struct conn *c)
{
    assert(srv_may_touch(c->sh));
    if (!c->in_flush_list && c->life != CONN_DEAD) {
        c->in_flush_list = true;
        c->flush_next = c->sh->flush;
        c->sh->flush = c;
    }
}

/* QUIT and the like: read no more, close once the output is sent. */
void conn_close_after_flush(struct conn *c)
{
    if (c->life == CONN_OPEN)
        c->life = CONN_CLOSING;
}

static void conn_events(struct conn *c)
{
    bool in = c->life == CONN_OPEN && c->input == CONN_IN_ON;
    uint32_t ev = (in ? EPOLLIN : 0) | (c->want_write ? EPOLLOUT : 0);
    struct epoll_event e = {.events = ev, .data.ptr = c};
    epoll_ctl(c->sh->epfd, EPOLL_CTL_MOD, c->fd, &e);
}

/* ---- the reply queue and the output limit -------------------------------------- */

/* Every byte of reply c holds and has not sent: its output, the finished
 * replies queued behind one still away, and those other shards have made
 * for it. The output buffer limit is on this sum. */
static size_t conn_pending(struct conn *c)
{
    return sw__resp_buf_len(&c->out) + c->slot_bytes +
           atomic_load_explicit(&c->away_bytes, memory_order_relaxed);
}

/* Closes c if its pending replies pass the output buffer limit; true if
 * it did. */
static bool conn_over_limit(struct conn *c)
{
    size_t limit = c->sh->srv->cfg.obuf_limit, pending = conn_pending(c);
    if (!limit || pending <= limit)
        return false;
    fprintf(stderr, "stewardd: closing client %s: output buffer over the limit (%zu bytes)\n",
            c->addr, pending);
    conn_close(c);
    return true;
}

/* Marks a reply slot of c finished. */
static void slot_done(struct conn *c, struct msg *m)
{
    m->done = true;
    c->slot_bytes += sw__resp_buf_len(&m->out);
}

/* Moves the finished replies at the front of c's queue into its output,
 * closing c if its replies pass the output buffer limit. */
static void conn_drain_queue(struct conn *c)
{
    while (c->qhead && c->qhead->done) {
        struct msg *m = c->qhead;
        c->qhead = m->qnext;
        if (!c->qhead)
            c->qtail = NULL;
        c->slot_bytes -= sw__resp_buf_len(&m->out);
        if (sw__resp_add_raw(&c->out, sw__resp_buf_data(&m->out), sw__resp_buf_len(&m->out)) !=
                SW_OK ||
            m->out.status != SW_OK)
            conn_close_after_flush(c); /* a reply cut short must not be sent: drop the client */
        msg_free(m);
    }
    if (conn_over_limit(c))
        return;
    srv_conn_touch(c);
}

void conn_queue_slot(struct conn *c, struct msg *m)
{
    m->qnext = NULL;
    if (c->qtail)
        c->qtail->qnext = m;
    else
        c->qhead = m;
    c->qtail = m;
}

sw__resp_buf *conn_reply_to(struct conn *c, struct msg **slot)
{
    *slot = NULL;
    if (!c->qhead) {
        c->out.proto = c->proto;
        return &c->out;
    }
    *slot = msg_new(c, MSG_SLOT, NULL, NULL, NULL);
    if (!*slot)
        return NULL;
    conn_queue_slot(c, *slot);
    return &(*slot)->out;
}

void conn_replied(struct conn *c, struct msg *slot)
{
    if (slot)
        slot_done(c, slot);
    conn_drain_queue(c);
}

void conn_hold(struct conn *c, const sw__resp_cmd *cmd)
{
    c->input = CONN_IN_HELD;
    c->held_cmd = *cmd;
    conn_events(c);
}

/* ---- closing ------------------------------------------------------------------ */

static void conn_free(struct conn *c)
{
    while (c->qhead) {
        struct msg *m = c->qhead;
        c->qhead = m->qnext;
        msg_free(m);
    }
    sw__resp_parser_destroy(&c->parser);
    sw__resp_buf_free(&c->out);
    free(c->name);
    free(c->lib_name);
    free(c->lib_ver);
    free(c);
}

void conn_close(struct conn *c)
{
    if (c->life == CONN_DEAD)
        return;
    struct srv_shard *sh = c->sh;
    assert(srv_may_touch(sh));
    epoll_ctl(sh->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->life = CONN_DEAD;
    txn_conn_closed(c);
    multi_conn_closed(c);
    /* Relaxed: a hint for the shards running c's requests (run_exec). */
    atomic_store_explicit(&c->gone, true, memory_order_relaxed);
    if (c->prev)
        c->prev->next = c->next;
    else
        sh->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    atomic_fetch_sub_explicit(&sh->nconns, 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&sh->srv->nclients, 1, memory_order_relaxed);
    c->next = sh->dead;
    sh->dead = c;
}

void conn_reap(struct srv_shard *sh)
{
    struct conn **pp = &sh->dead;
    while (*pp) {
        struct conn *c = *pp;
        if (c->away == 0 && !c->in_flush_list) {
            *pp = c->next;
            conn_free(c);
        } else {
            pp = &c->next;
        }
    }
}

void conn_cron(struct srv_shard *sh)
{
    struct srv *s = sh->srv;
    int64_t now = sh->now_ms;
    for (struct conn *c = sh->conns, *next; c; c = next) {
        next = c->next;
        if (s->cfg.timeout_s > 0 && !c->qhead && now - c->last_ms > s->cfg.timeout_s * 1000) {
            conn_close(c);
            continue;
        }
        if (c->stalled_since_ms && s->cfg.obuf_stall_s > 0 &&
            now - c->stalled_since_ms > s->cfg.obuf_stall_s * 1000) {
            fprintf(stderr, "stewardd: closing client %s: it has not read its replies for %lld s\n",
                    c->addr, (long long)s->cfg.obuf_stall_s);
            conn_close(c);
        }
    }
}

/* ---- accepting ---------------------------------------------------------------- */

static bool is_loopback(const struct sockaddr_storage *a)
{
    if (a->ss_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)a)->sin_addr.s_addr) >> 24) == 127;
    if (a->ss_family == AF_INET6) {
        const struct in6_addr *x = &((const struct sockaddr_in6 *)a)->sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(x) || (IN6_IS_ADDR_V4MAPPED(x) && x->s6_addr[12] == 127);
    }
    return a->ss_family == AF_UNIX;
}

/* "host:port" of a peer or of our end, for logs and CLIENT LIST; an IPv6
 * host in brackets ("[::1]:6380"), as Redis writes it. */
static void format_addr(char *buf, size_t cap, const struct sockaddr_storage *a)
{
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (a->ss_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)a)->sin_addr, host, sizeof host);
        port = ntohs(((const struct sockaddr_in *)a)->sin_port);
    } else if (a->ss_family == AF_INET6) {
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)a)->sin6_addr, host, sizeof host);
        port = ntohs(((const struct sockaddr_in6 *)a)->sin6_port);
    }
    snprintf(buf, cap, a->ss_family == AF_INET6 ? "[%s]:%d" : "%s:%d", host, port);
}

void conn_local_addr(const struct conn *c, char *buf, size_t cap)
{
    struct sockaddr_storage a;
    socklen_t alen = sizeof a;
    /* Asked when listed rather than kept from the accept: CLIENT LIST is
     * rare, accepts are not. */
    if (getsockname(c->fd, (struct sockaddr *)&a, &alen) != 0)
        a.ss_family = AF_UNSPEC;
    format_addr(buf, cap, &a);
}

/* Fills c (zeroed, its parser ready) as a new connection of sh on fd. */
static void conn_init(struct conn *c, struct srv_shard *sh, int fd, bool authed,
                      const struct sockaddr_storage *a, int64_t now_ms)
{
    c->fd = fd;
    c->sh = sh;
    c->id = atomic_fetch_add_explicit(&sh->srv->next_id, 1, memory_order_relaxed);
    c->proto = 2;
    c->life = CONN_OPEN;
    c->input = CONN_IN_ON;
    c->authed = authed;
    sw__resp_parser_set_auth_required(&c->parser, !c->authed);
    sw__resp_buf_init(&c->out, 2);
    c->created_ms = c->last_ms = now_ms;
    format_addr(c->addr, sizeof c->addr, a);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* Starts c's life on sh, its home: its events, and its place among sh's
 * connections; or, failing, ends it. By sh's own thread. */
static void conn_register(struct srv_shard *sh, struct conn *c)
{
    struct epoll_event e = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(sh->epfd, EPOLL_CTL_ADD, c->fd, &e) != 0) {
        close(c->fd);
        conn_free(c);
        atomic_fetch_sub_explicit(&sh->nconns, 1, memory_order_relaxed);
        atomic_fetch_sub_explicit(&sh->srv->nclients, 1, memory_order_relaxed);
        return;
    }
    c->next = sh->conns;
    if (sh->conns)
        sh->conns->prev = c;
    sh->conns = c;
}

/* The shard with the fewest connections, sh where it has as few: a new
 * client's home. However the kernel hands the accepts out (a burst of
 * them mostly to one thread), the clients, and the work they bring,
 * spread over the shards' threads. */
static struct srv_shard *least_loaded(struct srv_shard *sh)
{
    struct srv *s = sh->srv;
    struct srv_shard *home = sh;
    unsigned fewest = atomic_load_explicit(&sh->nconns, memory_order_relaxed);
    for (unsigned i = 0; i < s->n && fewest > 0; i++) {
        unsigned n = atomic_load_explicit(&s->shards[i].nconns, memory_order_relaxed);
        if (n < fewest) {
            fewest = n;
            home = &s->shards[i];
        }
    }
    return home;
}

/* Takes fd, a new client's socket (ours from now on), as a connection of
 * the shard with the fewest (handed to its thread when that is not sh's);
 * or refuses it with a line the client can read; or, out of memory,
 * closes it. */
static void accept_one(struct srv_shard *sh, int fd, const struct sockaddr_storage *a)
{
    struct srv *s = sh->srv;
    const char *refusal = NULL;
    bool nopass = !s->cfg.requirepass || !s->cfg.requirepass[0];
    sw__resp_limits lim = {.max_bulk = s->cfg.max_bulk, .max_query = s->cfg.max_query};
    struct conn *c = NULL;
    atomic_fetch_add_explicit(&sh->st_conns, 1, memory_order_relaxed);
    if (atomic_fetch_add_explicit(&s->nclients, 1, memory_order_relaxed) >= s->cfg.maxclients) {
        refusal = REFUSE_FULL;
        goto fail_counted;
    }
    if (s->cfg.protected_mode && nopass && !is_loopback(a)) {
        refusal = REFUSE_PROTECTED;
        goto fail_counted;
    }
    c = calloc(1, sizeof *c);
    if (!c)
        goto fail_counted;
    if (sw__resp_parser_init(&c->parser, &lim) != SW_OK)
        goto fail_alloc;
    struct srv_shard *home = least_loaded(sh);
    atomic_fetch_add_explicit(&home->nconns, 1, memory_order_relaxed);
    conn_init(c, home, fd, nopass, a, sh->now_ms);
    if (home == sh) {
        conn_register(sh, c);
        return;
    }
    /* Release: c's fields go with it (conn_adopt's acquire). */
    c->next = atomic_load_explicit(&home->incoming, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(&home->incoming, &c->next, c,
                                                  memory_order_release, memory_order_relaxed))
        ;
    srv_wake(home); /* its thread takes it at its next turn */
    return;
fail_alloc:
    free(c);
fail_counted:
    atomic_fetch_sub_explicit(&s->nclients, 1, memory_order_relaxed);
    if (refusal) {
        atomic_fetch_add_explicit(&sh->st_rejected, 1, memory_order_relaxed);
        ssize_t w = write(fd, refusal, strlen(refusal));
        (void)w; /* best effort: the socket closes either way */
    }
    close(fd);
}

void conn_accept(struct srv_shard *sh)
{
    for (int i = 0; i < 16; i++) {
        struct sockaddr_storage a;
        socklen_t alen = sizeof a;
        int fd = accept4(sh->srv->lfd, (struct sockaddr *)&a, &alen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                fprintf(stderr, "stewardd: accept: %s\n", strerror(errno));
            return;
        }
        accept_one(sh, fd, &a);
    }
}

void conn_adopt(struct srv_shard *sh)
{
    struct conn *c = atomic_exchange_explicit(&sh->incoming, NULL, memory_order_acquire);
    while (c) {
        struct conn *next = c->next;
        conn_register(sh, c);
        c = next;
    }
}

void conn_incoming_drop(struct srv_shard *sh)
{
    struct conn *c = atomic_exchange_explicit(&sh->incoming, NULL, memory_order_acquire);
    while (c) {
        struct conn *next = c->next;
        close(c->fd);
        conn_free(c);
        c = next;
    }
}

/* ---- input -------------------------------------------------------------------- */

/* The parser failed on c's input: a malformed request gets its error, then
 * c closes once its replies are sent. */
static void conn_parse_error(struct conn *c)
{
    const char *e = sw__resp_parser_errstr(&c->parser);
    int code = sw__resp_parser_errcode(&c->parser);
    if (code != SW__RESP_PERR_QUERY_LIMIT && code != SW__RESP_PERR_NOMEM) {
        struct msg *slot;
        sw__resp_buf *out = conn_reply_to(c, &slot);
        if (out)
            sw__resp_add_errorf(out, "ERR %s", e ? e : "Protocol error");
        conn_replied(c, slot);
    } else {
        fprintf(stderr, "stewardd: closing client %s: %s\n", c->addr,
                code == SW__RESP_PERR_NOMEM ? "out of memory" : "query buffer limit");
    }
    conn_close_after_flush(c);
}

/* Parses and runs what c's buffer holds. */
static void conn_process_input(struct conn *c)
{
    if (c->input == CONN_IN_HELD) {
        if (c->away > 0 || c->wait != WAIT_NONE)
            return;
        c->input = CONN_IN_ON;
        if (!route_dispatch(c, &c->held_cmd))
            return;
    }
    /* Also while paused: conn_read hands over what is left of rbuf on any
     * event (an error, a hang-up), and the AWAY_MAX check still holds. */
    while (c->life == CONN_OPEN && c->input != CONN_IN_HELD) {
        if (c->away >= AWAY_MAX) {
            /* Backpressure: the rest of the input waits until most of the
             * requests away have come back (conn_write resumes it). Never
             * on the client's own reading: a client may well send its
             * whole pipeline before it reads a reply, so unread output is
             * bounded by the output buffer limit instead. */
            c->input = CONN_IN_PAUSED;
            conn_events(c);
            return;
        }
        sw__resp_cmd cmd;
        size_t used = 0;
        int rc = sw__resp_parse(&c->parser, c->rbuf + c->rpos, c->rlen - c->rpos, &used, &cmd);
        c->rpos += used;
        if (rc == SW_EAGAIN) {
            c->rpos = c->rlen = 0;
            return;
        }
        if (rc != SW_OK) {
            if (txn_gather_flush(c->sh)) /* its error after their replies */
                conn_parse_error(c);
            return;
        }
        if (!route_dispatch(c, &cmd))
            return;
    }
}

/* Processes c's input, starts what it gathered last (txn_gather), then
 * ends the world operation it may have begun. */
static void conn_process(struct conn *c)
{
    conn_process_input(c);
    txn_gather_flush(c->sh); /* what the pass gathered last starts now */
    if (c->sh->world_held) {
        route_world_leave(c->sh);
        txn_world_done(c);
    }
}

void conn_resume(struct conn *c)
{
    if (c->sh->lent) { /* its input runs on its own thread (server.h) */
        assert(c->input == CONN_IN_HELD);
        txn_wait(c, &c->held_cmd, WAIT_TURN);
        return;
    }
    conn_process(c);
    if (c->life != CONN_DEAD && c->input != CONN_IN_HELD)
        conn_events(c);
}

static void conn_read(struct conn *c)
{
    struct srv_shard *sh = c->sh;
    if (c->rpos < c->rlen) { /* input left from a stop: it goes first */
        conn_process(c);
        return;
    }
    for (int i = 0; i < READ_BUDGET && c->life == CONN_OPEN && c->input == CONN_IN_ON; i++) {
        ssize_t n = read(c->fd, c->rbuf, sizeof c->rbuf);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            conn_close(c);
            return;
        }
        if (n < 0)
            return;
        atomic_fetch_add_explicit(&sh->st_in_bytes, (uint64_t)n, memory_order_relaxed);
        c->rpos = 0;
        c->rlen = (size_t)n;
        conn_process(c);
        if (c->life == CONN_CLOSING)
            conn_events(c); /* read no more */
        if ((size_t)n < sizeof c->rbuf)
            return;
    }
}

void conn_take_reply(struct conn *c, struct msg *m)
{
    atomic_fetch_sub_explicit(&c->away_bytes, sw__resp_buf_len(&m->out), memory_order_relaxed);
    c->away--;
    if (c->life == CONN_DEAD) {
        m->done = true;
        sw__resp_buf_free(&m->out); /* nobody will read it; the slot goes with c */
        return;
    }
    slot_done(c, m);
    if (m->skipped) {
        fprintf(stderr, "stewardd: closing client %s: output buffer over the limit\n", c->addr);
        conn_close(c);
        return;
    }
    conn_drain_queue(c);
    if (c->life != CONN_DEAD && c->input == CONN_IN_HELD && c->away == 0 && c->wait == WAIT_NONE)
        conn_resume(c);
}

/* ---- output ------------------------------------------------------------------- */

/* Writes what c's output holds, as far as the socket takes it. Returns
 * false if that closed c. */
static bool conn_send(struct conn *c)
{
    while (c->life != CONN_DEAD && sw__resp_buf_len(&c->out) > 0) {
        ssize_t n = write(c->fd, sw__resp_buf_data(&c->out), sw__resp_buf_len(&c->out));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n <= 0) {
            conn_close(c);
            return false;
        }
        atomic_fetch_add_explicit(&c->sh->st_out_bytes, (uint64_t)n, memory_order_relaxed);
        sw__resp_buf_consume(&c->out, (size_t)n);
        c->stalled_since_ms = 0;
    }
    return true;
}

/* Asks for EPOLLOUT while output is left (want), and pauses input while
 * AWAY_MAX requests are away, resuming it once no more than half are. */
static void conn_set_events(struct conn *c, bool want)
{
    bool paused = c->input == CONN_IN_PAUSED;
    bool off = c->away >= AWAY_MAX || (paused && c->away > AWAY_MAX / 2);
    if (want == c->want_write && off == paused)
        return;
    c->want_write = want;
    if (off != paused) /* held: fewer than AWAY_MAX are away, so off is false */
        c->input = off ? CONN_IN_PAUSED : CONN_IN_ON;
    conn_events(c);
    if (paused && !off)
        conn_process(c); /* a pipeline cut short by the pause may have more parsed */
}

/* Sends what c's output holds; adjusts its events. */
static void conn_write(struct conn *c)
{
    if (!conn_send(c))
        return;
    size_t left = sw__resp_buf_len(&c->out);
    if (left == 0 && c->out.cap > OUT_KEEP) {
        sw__resp_buf_free(&c->out);
        sw__resp_buf_init(&c->out, c->proto);
    }
    if (left == 0 && c->life == CONN_CLOSING && !c->qhead) {
        conn_close(c);
        return;
    }
    if (conn_over_limit(c))
        return;
    if (left > 0 && c->stalled_since_ms == 0)
        c->stalled_since_ms = c->sh->now_ms;
    conn_set_events(c, left > 0);
}

/* Whether c's output may wait for the reply at the head of its queue,
 * still away: a pipeline's replies then leave in one write when that one
 * is back (it touches c), not in one per turn that finished some of
 * them. Replies leave in order anyway, so only those before it wait, and
 * no longer than it takes. Not past OUT_HOLD bytes, nor while the socket
 * has refused some (EPOLLOUT, asked for, would fire at every turn), nor
 * while c's input is stopped (paused, held: a write may resume it). */
static bool conn_out_waits(const struct conn *c)
{
    return c->qhead && c->input == CONN_IN_ON && !c->want_write &&
           sw__resp_buf_len(&c->out) < OUT_HOLD;
}

void conn_flush_all(struct srv_shard *sh)
{
    while (sh->flush) {
        struct conn *c = sh->flush;
        sh->flush = c->flush_next;
        c->in_flush_list = false;
        if (c->life != CONN_DEAD && !conn_out_waits(c))
            conn_write(c);
    }
}

void conn_close_all(struct srv_shard *sh)
{
    while (sh->conns) {
        struct conn *c = sh->conns;
        conn_write(c); /* what is ready goes out; the rest is dropped */
        if (c->life != CONN_DEAD)
            conn_close(c);
    }
}

void conn_ready(struct conn *c, uint32_t events)
{
    if (c->life != CONN_DEAD && (events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
        conn_read(c);
    if (c->life != CONN_DEAD && (events & EPOLLOUT))
        srv_conn_touch(c);
}
