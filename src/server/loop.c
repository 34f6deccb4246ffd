/* stewardd's shard threads: the event loop, connections, dispatch to the
 * keys' shards, world operations and the shard inboxes. The DESIGN comment
 * is in server.h.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/sync.h"
#include "server/cmd.h"

#define READ_BUDGET 4               /* reads per connection per turn, for fairness */
#define OUT_KEEP ((size_t)64 << 10) /* free an emptied output buffer above this */
#define AWAY_MAX 1024               /* requests of one client away on other shards */

static const uint32_t LISTEN_TAG = 1; /* epoll data of the listening socket */
static const uint32_t EVENT_TAG = 2;  /* and of the eventfd */

/* ---- inboxes ------------------------------------------------------------- */

/* Pushes the chain first..last (linked by next) onto sh's inbox and wakes
 * sh if it may be asleep. */
static void inbox_push(struct srv_shard *sh, struct msg *first, struct msg *last)
{
    struct msg *head = atomic_load_explicit(&sh->inbox, memory_order_relaxed);
    do {
        last->next = head;
        /* seq_cst: orders the push before the load of `sleeping` below, against
         * the consumer's store of `sleeping` before its last look at the inbox
         * (shard_sleep): one of the two sees the other. */
    } while (!atomic_compare_exchange_weak_explicit(&sh->inbox, &head, first, memory_order_seq_cst,
                                                    memory_order_relaxed));
    if (atomic_load_explicit(&sh->sleeping, memory_order_seq_cst) &&
        atomic_exchange_explicit(&sh->sleeping, 0, memory_order_seq_cst)) {
        uint64_t one = 1;
        ssize_t w = write(sh->efd, &one, sizeof one);
        (void)w; /* EAGAIN: the counter is already non-zero, so it is awake */
    }
}

/* Takes the whole inbox, in arrival order. */
static struct msg *inbox_take(struct srv_shard *sh)
{
    /* Acquire: pairs with the pushers' CAS, so the messages' fields are ours. */
    struct msg *m = atomic_exchange_explicit(&sh->inbox, NULL, memory_order_acquire);
    struct msg *rev = NULL;
    while (m) {
        struct msg *next = m->next;
        m->next = rev;
        rev = m;
        m = next;
    }
    return rev;
}

/* ---- messages and reply slots ----------------------------------------------- */

static struct msg *msg_new(struct conn *c, enum msg_kind kind, const sw__resp_cmd *cmd,
                           const struct cmd_def *def)
{
    size_t bytes = sizeof(struct msg);
    if (cmd) {
        bytes += cmd->argc * sizeof(sw__resp_arg);
        for (size_t i = 0; i < cmd->argc; i++)
            bytes += cmd->argv[i].len;
    }
    struct msg *m = malloc(bytes);
    if (!m)
        return NULL;
    memset(m, 0, sizeof *m);
    m->kind = kind;
    m->from = c->sh;
    m->c = c;
    m->cmd = def;
    m->db = c->db;
    sw__resp_buf_init(&m->out, c->proto);
    if (cmd) {
        m->argc = cmd->argc;
        m->argv = (sw__resp_arg *)(m + 1);
        char *p = (char *)(m->argv + cmd->argc);
        for (size_t i = 0; i < cmd->argc; i++) {
            memcpy(p, cmd->argv[i].ptr, cmd->argv[i].len);
            m->argv[i].ptr = p;
            m->argv[i].len = cmd->argv[i].len;
            p += cmd->argv[i].len;
        }
    }
    return m;
}

static void msg_free(struct msg *m)
{
    sw__resp_buf_free(&m->out);
    free(m);
}

void srv_conn_touch(struct conn *c)
{
    if (!c->in_flush_list && !c->dead) {
        c->in_flush_list = true;
        c->flush_next = c->sh->flush;
        c->sh->flush = c;
    }
}

static void conn_close(struct conn *c);

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
            c->closing = true; /* a reply cut short must not be sent: drop the client */
        msg_free(m);
    }
    if (conn_over_limit(c))
        return;
    srv_conn_touch(c);
}

static void queue_slot(struct conn *c, struct msg *m)
{
    m->qnext = NULL;
    if (c->qtail)
        c->qtail->qnext = m;
    else
        c->qhead = m;
    c->qtail = m;
}

/* ---- connections --------------------------------------------------------- */

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

static void conn_close(struct conn *c)
{
    if (c->dead)
        return;
    struct srv_shard *sh = c->sh;
    epoll_ctl(sh->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->dead = true;
    atomic_store_explicit(&c->gone, true, memory_order_relaxed);
    if (c->prev)
        c->prev->next = c->next;
    else
        sh->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    sh->nconns--;
    atomic_fetch_sub_explicit(&sh->srv->nclients, 1, memory_order_relaxed);
    c->next = sh->dead;
    sh->dead = c;
}

/* Frees the closed connections no message refers to any more. */
static void reap(struct srv_shard *sh)
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

static void conn_events(struct conn *c)
{
    uint32_t ev =
        (c->reading_off || c->held || c->closing ? 0 : EPOLLIN) | (c->want_write ? EPOLLOUT : 0);
    struct epoll_event e = {.events = ev, .data.ptr = c};
    epoll_ctl(c->sh->epfd, EPOLL_CTL_MOD, c->fd, &e);
}

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

static void refuse(int fd, const char *msg)
{
    ssize_t w = write(fd, msg, strlen(msg));
    (void)w;
    close(fd);
}

static void accept_one(struct srv_shard *sh, int fd, const struct sockaddr_storage *a)
{
    struct srv *s = sh->srv;
    atomic_fetch_add_explicit(&sh->st_conns, 1, memory_order_relaxed);
    if (atomic_fetch_add_explicit(&s->nclients, 1, memory_order_relaxed) >= s->cfg.maxclients) {
        atomic_fetch_sub_explicit(&s->nclients, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&sh->st_rejected, 1, memory_order_relaxed);
        refuse(fd, "-ERR max number of clients reached\r\n");
        return;
    }
    bool nopass = !s->cfg.requirepass || !s->cfg.requirepass[0];
    if (s->cfg.protected_mode && nopass && !is_loopback(a)) {
        atomic_fetch_sub_explicit(&s->nclients, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&sh->st_rejected, 1, memory_order_relaxed);
        refuse(fd, "-DENIED stewardd is running in protected mode: no password is set, so "
                   "only loopback clients may connect. Set --requirepass, or start it with "
                   "--protected-mode no if you are sure.\r\n");
        return;
    }
    struct conn *c = calloc(1, sizeof *c);
    sw__resp_limits lim = {.max_bulk = s->cfg.max_bulk, .max_query = s->cfg.max_query};
    if (!c || sw__resp_parser_init(&c->parser, &lim) != SW_OK) {
        free(c);
        atomic_fetch_sub_explicit(&s->nclients, 1, memory_order_relaxed);
        close(fd);
        return;
    }
    c->fd = fd;
    c->sh = sh;
    c->id = atomic_fetch_add_explicit(&s->next_id, 1, memory_order_relaxed);
    c->proto = 2;
    c->authed = nopass;
    sw__resp_parser_set_auth_required(&c->parser, !c->authed);
    sw__resp_buf_init(&c->out, 2);
    c->created_ms = c->last_ms = sh->now_ms;
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (a->ss_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)a)->sin_addr, host, sizeof host);
        port = ntohs(((const struct sockaddr_in *)a)->sin_port);
    } else if (a->ss_family == AF_INET6) {
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)a)->sin6_addr, host, sizeof host);
        port = ntohs(((const struct sockaddr_in6 *)a)->sin6_port);
    }
    snprintf(c->addr, sizeof c->addr, "%s:%d", host, port);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct epoll_event e = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(sh->epfd, EPOLL_CTL_ADD, fd, &e) != 0) {
        conn_free(c);
        atomic_fetch_sub_explicit(&s->nclients, 1, memory_order_relaxed);
        close(fd);
        return;
    }
    c->next = sh->conns;
    if (sh->conns)
        sh->conns->prev = c;
    sh->conns = c;
    sh->nconns++;
}

static void accept_some(struct srv_shard *sh)
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

/* ---- world operations -------------------------------------------------------- */

static void wait_word(_Atomic uint32_t *w, uint32_t until)
{
    for (int i = 0; i < 200; i++) {
        if (atomic_load_explicit(w, memory_order_acquire) == until)
            return;
        sw__cpu_relax();
    }
    for (;;) {
        uint32_t v = atomic_load_explicit(w, memory_order_acquire);
        if (v == until)
            return;
        sw__futex_wait(w, v, -1);
    }
}

/* Another shard's world operation asked for this shard: acknowledge, then
 * wait until it is done with our state. */
static void pause_here(struct msg *m)
{
    /* Release: pairs with the pauser's acquire in wait_word, handing it our
     * state; then we wait for its release (state 2) and say we left (3). */
    atomic_store_explicit(&m->pause, 1, memory_order_release);
    sw__futex_wake(&m->pause, 1);
    wait_word(&m->pause, 2);
    /* Release: tells the pauser we are done with its message (it waits for
     * this before reusing it). */
    atomic_store_explicit(&m->pause, 3, memory_order_release);
    sw__futex_wake(&m->pause, 1);
}

static void defer(struct srv_shard *sh, struct msg *m)
{
    m->next = NULL;
    if (sh->deferred_tail)
        sh->deferred_tail->next = m;
    else
        sh->deferred = m;
    sh->deferred_tail = m;
}

/* While waiting for the world lock: answers every pause, whether still in
 * the inbox or already set aside, and sets the other messages aside. */
static void serve_pauses(struct srv_shard *sh)
{
    struct msg **pp = &sh->deferred, *last = NULL;
    while (*pp) {
        struct msg *m = *pp;
        if (m->kind != MSG_PAUSE) {
            last = m;
            pp = &m->next;
            continue;
        }
        *pp = m->next; /* unlinked before pause_here: the pauser reuses it */
        pause_here(m);
    }
    sh->deferred_tail = last;
    struct msg *m = inbox_take(sh);
    while (m) {
        struct msg *next = m->next;
        if (m->kind == MSG_PAUSE)
            pause_here(m);
        else
            defer(sh, m);
        m = next;
    }
}

static void fatal_log(struct srv_shard *sh)
{
    fprintf(stderr,
            "stewardd: shard %u: the log cannot be written or synced; stopping now so that "
            "nothing unsaved is acknowledged (restart recovers every acknowledged write)\n",
            sh->index);
    _exit(1);
}

/* The end of a batch of writes on sh: one write (and fsync) for all. */
static void commit(struct srv_shard *sh)
{
    if (sw__shard_commit(sh->core) != SW_OK)
        fatal_log(sh);
    sh->dirty = false;
}

/* Takes the world: the world lock, then every other shard paused. The
 * connection that needed it keeps it for the rest of its current input
 * (dispatch runs every command of a pipeline directly while it is held,
 * so a pipeline of MSETs pays one pause), and conn_process gives it back. */
static void world_enter(struct srv_shard *me)
{
    struct srv *s = me->srv;
    while (pthread_mutex_trylock(&s->world) != 0) {
        serve_pauses(me);
        sched_yield();
    }
    for (unsigned i = 0; i < s->n; i++) {
        if (i == me->index)
            continue;
        struct msg *p = &me->pauses[i];
        if (p->kind == MSG_PAUSE) /* used before: the shard may still be leaving it */
            wait_word(&p->pause, 3);
        p->kind = MSG_PAUSE;
        atomic_store_explicit(&p->pause, 0, memory_order_relaxed);
        inbox_push(&s->shards[i], p, p);
    }
    for (unsigned i = 0; i < s->n; i++)
        if (i != me->index)
            wait_word(&me->pauses[i].pause, 1);
    me->world_held = true;
}

/* Commits what the world operations wrote to the other shards' logs, then
 * lets them go. */
static void world_leave(struct srv_shard *me)
{
    struct srv *s = me->srv;
    for (unsigned i = 0; i < s->n; i++) {
        if (i == me->index)
            continue;
        if (s->shards[i].dirty)
            commit(&s->shards[i]);
        /* Release: pairs with the acquire in pause_here's wait. */
        atomic_store_explicit(&me->pauses[i].pause, 2, memory_order_release);
        sw__futex_wake(&me->pauses[i].pause, 1);
    }
    me->world_held = false;
    pthread_mutex_unlock(&s->world);
}

/* ---- dispatch --------------------------------------------------------------- */

static void exec_init(struct exec *x, struct srv_shard *sh, struct conn *c, int db, size_t argc,
                      const sw__resp_arg *argv, sw__resp_buf *out)
{
    *x = (struct exec){
        .srv = sh->srv, .self = sh, .c = c, .db = db, .argc = argc, .argv = argv, .out = out};
}

/* Where a command's keys are: -1 all on sh itself (or none), -2 on several
 * shards, or the one other shard's index. */
static int key_home(struct srv_shard *sh, const struct cmd_def *d, const sw__resp_cmd *cmd, int db)
{
    struct srv *s = sh->srv;
    if (d->first <= 0 || s->n == 1)
        return -1;
    int home = -1;
    size_t last = d->last < 0 ? cmd->argc - 1 : (size_t)d->last;
    bool many = false;
    for (size_t i = (size_t)d->first; i <= last && i < cmd->argc; i += (size_t)d->step) {
        struct kkey k;
        if (kkey_build(s, db, &cmd->argv[i], &k) != SW_OK)
            return -2; /* no memory to look: a world operation is always safe */
        int at = (int)(k.sh - s->shards);
        kkey_free(&k);
        if (home == -1)
            home = at;
        else if (home != at)
            many = true;
    }
    if (many)
        return -2;
    return home == (int)sh->index ? -1 : home;
}

static void reply_unknown(sw__resp_buf *out, const sw__resp_cmd *cmd)
{
    char msg[512];
    int n = snprintf(msg, sizeof msg, "ERR unknown command '%.*s', with args beginning with: ",
                     (int)(cmd->argv[0].len > 128 ? 128 : cmd->argv[0].len), cmd->argv[0].ptr);
    for (size_t i = 1; i < cmd->argc && n < (int)sizeof msg - 140; i++)
        n += snprintf(msg + n, sizeof msg - (size_t)n, "'%.*s' ",
                      (int)(cmd->argv[i].len > 128 ? 128 : cmd->argv[i].len), cmd->argv[i].ptr);
    sw__resp_add_error(out, msg);
}

/* The buffer a reply goes to: the output itself while nothing is queued
 * ahead of it, else a new slot at the back of the queue. */
static sw__resp_buf *reply_to(struct conn *c, struct msg **slot)
{
    *slot = NULL;
    if (!c->qhead) {
        c->out.proto = c->proto;
        return &c->out;
    }
    *slot = msg_new(c, MSG_SLOT, NULL, NULL);
    if (!*slot)
        return NULL;
    queue_slot(c, *slot);
    return &(*slot)->out;
}

/* Runs or routes one command. Returns false when the connection must stop
 * parsing for now (the command waits for requests away, or QUIT). */
static bool dispatch(struct conn *c, const sw__resp_cmd *cmd)
{
    struct srv_shard *sh = c->sh;
    struct srv *s = sh->srv;
    const struct cmd_def *d = cmd_lookup(cmd->argv[0].ptr, cmd->argv[0].len);
    int home = -1;
    if (d && !sh->world_held && cmd_arity_ok(d, cmd->argc) &&
        (c->authed || (d->flags & CMD_NOAUTH))) {
        home = (d->flags & CMD_ALL) ? -2 : key_home(sh, d, cmd, c->db);
        if (home == -2 && c->away > 0) {
            c->held = true; /* it must see the effects of those first */
            c->held_cmd = *cmd;
            conn_events(c);
            return false;
        }
    }
    atomic_fetch_add_explicit(&sh->st_cmds, 1, memory_order_relaxed);
    c->cmds++;
    c->last_ms = sh->now_ms;
    if (d && home >= 0) {
        struct msg *m = msg_new(c, MSG_EXEC, cmd, d);
        if (!m) {
            conn_close(c);
            return false;
        }
        queue_slot(c, m);
        c->away++;
        atomic_fetch_add_explicit(&s->inflight, 1, memory_order_relaxed);
        inbox_push(&s->shards[home], m, m);
        return true;
    }
    struct msg *slot;
    sw__resp_buf *out = reply_to(c, &slot);
    if (!out) {
        conn_close(c);
        return false;
    }
    if (!d) {
        reply_unknown(out, cmd);
    } else if (!cmd_arity_ok(d, cmd->argc)) {
        sw__resp_add_errorf(out, "ERR wrong number of arguments for '%s' command", d->name);
    } else if (!c->authed && !(d->flags & CMD_NOAUTH)) {
        sw__resp_add_error(out, "NOAUTH Authentication required.");
    } else {
        struct exec x;
        exec_init(&x, sh, c, c->db, cmd->argc, cmd->argv, out);
        if (home == -2 && !sh->world_held)
            world_enter(sh);
        x.world = sh->world_held;
        d->fn(&x);
    }
    if (slot)
        slot_done(c, slot);
    conn_drain_queue(c);
    return !c->closing && !c->dead;
}

/* Parses and runs what c's buffer holds. */
static void conn_process_input(struct conn *c)
{
    if (c->held) {
        if (c->away > 0)
            return;
        c->held = false;
        if (!dispatch(c, &c->held_cmd))
            return;
    }
    while (!c->dead && !c->held && !c->closing) {
        if (c->away >= AWAY_MAX) {
            /* Backpressure: the rest of the input waits until most of the
             * requests away have come back (conn_write resumes it). Never
             * on the client's own reading: a client may well send its
             * whole pipeline before it reads a reply, so unread output is
             * bounded by the output buffer limit instead. */
            c->reading_off = true;
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
            const char *e = sw__resp_parser_errstr(&c->parser);
            int code = sw__resp_parser_errcode(&c->parser);
            if (code != SW__RESP_PERR_QUERY_LIMIT && code != SW__RESP_PERR_NOMEM) {
                struct msg *slot;
                sw__resp_buf *out = reply_to(c, &slot);
                if (out)
                    sw__resp_add_errorf(out, "ERR %s", e ? e : "Protocol error");
                if (slot)
                    slot_done(c, slot);
                conn_drain_queue(c);
            } else {
                fprintf(stderr, "stewardd: closing client %s: %s\n", c->addr,
                        code == SW__RESP_PERR_NOMEM ? "out of memory" : "query buffer limit");
            }
            c->closing = true;
            return;
        }
        if (!dispatch(c, &cmd))
            return;
    }
}

static void conn_process(struct conn *c)
{
    conn_process_input(c);
    if (c->sh->world_held)
        world_leave(c->sh);
}

static void conn_read(struct conn *c)
{
    struct srv_shard *sh = c->sh;
    if (c->rpos < c->rlen) { /* input left from a stop: it goes first */
        conn_process(c);
        return;
    }
    for (int i = 0; i < READ_BUDGET && !c->dead && !c->held && !c->closing && !c->reading_off;
         i++) {
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
        if (c->closing && !c->dead)
            conn_events(c); /* read no more */
        if ((size_t)n < sizeof c->rbuf)
            return;
    }
}

/* Sends what c's output holds; adjusts its events. */
static void conn_write(struct conn *c)
{
    while (!c->dead && sw__resp_buf_len(&c->out) > 0) {
        ssize_t n = write(c->fd, sw__resp_buf_data(&c->out), sw__resp_buf_len(&c->out));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n <= 0) {
            conn_close(c);
            return;
        }
        atomic_fetch_add_explicit(&c->sh->st_out_bytes, (uint64_t)n, memory_order_relaxed);
        sw__resp_buf_consume(&c->out, (size_t)n);
        c->stalled_since_ms = 0;
    }
    size_t left = sw__resp_buf_len(&c->out);
    if (left == 0 && c->out.cap > OUT_KEEP) {
        sw__resp_buf_free(&c->out);
        sw__resp_buf_init(&c->out, c->proto);
    }
    if (left == 0 && c->closing && !c->qhead) {
        conn_close(c);
        return;
    }
    if (conn_over_limit(c))
        return;
    if (left > 0 && c->stalled_since_ms == 0)
        c->stalled_since_ms = c->sh->now_ms;
    bool want = left > 0;
    bool off = c->away >= AWAY_MAX || (c->reading_off && c->away > AWAY_MAX / 2);
    if (want != c->want_write || off != c->reading_off) {
        bool resume = c->reading_off && !off;
        c->want_write = want;
        c->reading_off = off;
        conn_events(c);
        if (resume)
            conn_process(c); /* a pipeline cut short by the stop may have more parsed */
    }
}

/* ---- the inbox's messages ------------------------------------------------- */

/* Runs another shard's command here; its reply goes home after the commit. */
static void run_exec(struct srv_shard *sh, struct msg *m)
{
    /* A client whose replies already pass its output limit is being
     * dropped, or about to be (take_reply): run nothing more for it, or a
     * pipeline of large replies would all be made, and held, in one turn
     * before the first of them reaches its shard. Relaxed: hints, the
     * origin decides. */
    size_t limit = sh->srv->cfg.obuf_limit;
    if (atomic_load_explicit(&m->c->gone, memory_order_relaxed) ||
        (limit && atomic_load_explicit(&m->c->away_bytes, memory_order_relaxed) > limit)) {
        m->skipped = true;
    } else {
        struct exec x;
        exec_init(&x, sh, NULL, m->db, m->argc, m->argv, &m->out);
        m->cmd->fn(&x);
        atomic_fetch_add_explicit(&m->c->away_bytes, sw__resp_buf_len(&m->out),
                                  memory_order_relaxed);
    }
    m->kind = MSG_REPLY;
    /* outq[to] is kept newest first, as inbox_push wants a chain (its
     * receiver reverses the whole stack); outq_tail[to] is the oldest. */
    unsigned to = m->from->index;
    m->next = sh->outq[to];
    if (!m->next)
        sh->outq_tail[to] = m;
    sh->outq[to] = m;
}

static void take_reply(struct srv_shard *sh, struct msg *m)
{
    struct conn *c = m->c;
    atomic_fetch_sub_explicit(&sh->srv->inflight, 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&c->away_bytes, sw__resp_buf_len(&m->out), memory_order_relaxed);
    c->away--;
    if (c->dead) {
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
    if (!c->dead && c->held && c->away == 0) {
        conn_process(c);
        if (!c->dead && !c->held)
            conn_events(c);
    }
}

static void handle(struct srv_shard *sh, struct msg *m)
{
    switch (m->kind) {
    case MSG_EXEC:
        run_exec(sh, m);
        break;
    case MSG_REPLY:
        take_reply(sh, m);
        break;
    case MSG_PAUSE:
        pause_here(m);
        break;
    case MSG_SLOT:
        break;
    }
}

/* Handles every message: those set aside first, then the inbox's, in
 * arrival order. Everything taken goes to the deferred list first and is
 * handled from there, one at a time: a message's handling may run a
 * command that waits for the world lock, and serve_pauses must then find
 * a PAUSE still waiting behind it. */
static void serve_inbox(struct srv_shard *sh)
{
    struct msg *m = inbox_take(sh);
    while (m) {
        struct msg *next = m->next;
        defer(sh, m);
        m = next;
    }
    while (sh->deferred) {
        m = sh->deferred;
        sh->deferred = m->next;
        if (!sh->deferred)
            sh->deferred_tail = NULL;
        handle(sh, m);
    }
}

/* Sends the replies of this turn home, one push per destination. */
static void send_replies(struct srv_shard *sh)
{
    for (unsigned i = 0; i < sh->srv->n; i++) {
        if (!sh->outq[i])
            continue;
        inbox_push(&sh->srv->shards[i], sh->outq[i], sh->outq_tail[i]);
        sh->outq[i] = sh->outq_tail[i] = NULL;
    }
}

static void flush_all(struct srv_shard *sh)
{
    while (sh->flush) {
        struct conn *c = sh->flush;
        sh->flush = c->flush_next;
        c->in_flush_list = false;
        if (!c->dead)
            conn_write(c);
    }
}

/* ---- cron -------------------------------------------------------------------- */

static void cron(struct srv_shard *sh)
{
    struct srv *s = sh->srv;
    kv_sweep(sh);
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

/* ---- the loop ------------------------------------------------------------------ */

static int turn_timeout(struct srv_shard *sh)
{
    if (sw__shard_compacting(sh->core) || sh->deferred)
        return 0;
    if (atomic_load_explicit(&sh->srv->stopping, memory_order_relaxed))
        return 10;
    int64_t period = 1000 / sh->srv->cfg.hz;
    int64_t left = sh->last_cron_ms + period - sh->now_ms;
    return left < 0 ? 0 : (int)left;
}

/* Waits for events; returns how many. The sleeping flag makes pushers
 * write the eventfd (see server.h). */
static int shard_wait(struct srv_shard *sh, struct epoll_event *ev, int max)
{
    int timeout = turn_timeout(sh);
    if (timeout > 0) {
        atomic_store_explicit(&sh->sleeping, 1, memory_order_seq_cst);
        if (atomic_load_explicit(&sh->inbox, memory_order_seq_cst))
            timeout = 0;
    }
    int n = epoll_wait(sh->epfd, ev, max, timeout);
    atomic_store_explicit(&sh->sleeping, 0, memory_order_relaxed);
    return n;
}

static void shard_stop_clients(struct srv_shard *sh)
{
    epoll_ctl(sh->epfd, EPOLL_CTL_DEL, sh->srv->lfd, NULL);
    while (sh->conns) {
        struct conn *c = sh->conns;
        conn_write(c); /* what is ready goes out; the rest is dropped */
        if (!c->dead)
            conn_close(c);
    }
}

static void *shard_main(void *arg)
{
    struct srv_shard *sh = arg;
    struct srv *s = sh->srv;
    struct epoll_event ev[256];
    bool quiet = false;
    sh->now_ms = sh->last_cron_ms = kv_now();
    for (;;) {
        int n = shard_wait(sh, ev, 256);
        sh->now_ms = kv_now();
        for (int i = 0; i < n; i++) {
            if (ev[i].data.ptr == (void *)(uintptr_t)LISTEN_TAG) {
                accept_some(sh);
            } else if (ev[i].data.ptr == (void *)(uintptr_t)EVENT_TAG) {
                uint64_t v;
                ssize_t r = read(sh->efd, &v, sizeof v);
                (void)r;
            } else {
                struct conn *c = ev[i].data.ptr;
                if (!c->dead && (ev[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
                    conn_read(c);
                if (!c->dead && (ev[i].events & EPOLLOUT))
                    srv_conn_touch(c);
            }
        }
        serve_inbox(sh);
        commit(sh);
        send_replies(sh);
        flush_all(sh);
        if (sh->now_ms - sh->last_cron_ms >= 1000 / s->cfg.hz) {
            sh->last_cron_ms = sh->now_ms;
            cron(sh);
        }
        reap(sh);
        if (atomic_load_explicit(&s->stopping, memory_order_acquire)) {
            if (!quiet) {
                shard_stop_clients(sh);
                quiet = true;
                atomic_fetch_add_explicit(&s->quiet, 1, memory_order_acq_rel);
            }
            if (atomic_load_explicit(&s->quiet, memory_order_acquire) == s->n &&
                atomic_load_explicit(&s->inflight, memory_order_acquire) == 0 &&
                !atomic_load_explicit(&sh->inbox, memory_order_acquire) && !sh->deferred)
                break;
        }
    }
    commit(sh);
    reap(sh);
    return NULL;
}

void srv_stop(struct srv *s)
{
    atomic_store_explicit(&s->stopping, true, memory_order_release);
    for (unsigned i = 0; i < s->n; i++) {
        uint64_t one = 1;
        ssize_t w = write(s->shards[i].efd, &one, sizeof one);
        (void)w;
    }
}

static int shard_setup(struct srv_shard *sh)
{
    sh->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (sh->epfd < 0)
        return -1;
    struct epoll_event e = {.events = EPOLLIN | EPOLLEXCLUSIVE,
                            .data.ptr = (void *)(uintptr_t)LISTEN_TAG};
    if (epoll_ctl(sh->epfd, EPOLL_CTL_ADD, sh->srv->lfd, &e) != 0)
        return -1;
    struct epoll_event w = {.events = EPOLLIN, .data.ptr = (void *)(uintptr_t)EVENT_TAG};
    return epoll_ctl(sh->epfd, EPOLL_CTL_ADD, sh->efd, &w);
}

int srv_run(struct srv *s)
{
    unsigned started = 0;
    int rc = 0;
    for (; started < s->n; started++) {
        struct srv_shard *sh = &s->shards[started];
        if (shard_setup(sh) != 0 || pthread_create(&sh->thread, NULL, shard_main, sh) != 0) {
            fprintf(stderr, "stewardd: cannot start shard %u: %s\n", started, strerror(errno));
            /* The shards not started will never start work: count them quiet. */
            atomic_fetch_add_explicit(&s->quiet, s->n - started, memory_order_acq_rel);
            srv_stop(s);
            rc = -1;
            break;
        }
    }
    for (unsigned i = 0; i < started; i++)
        pthread_join(s->shards[i].thread, NULL);
    return rc;
}
