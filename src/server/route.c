/* Where each command runs: here, on the one other shard that has its keys
 * (an EXEC message that comes back as its reply), as a transaction over the
 * shards of its keys (txn.c), or as a world operation with every other
 * shard paused. Also the messages themselves, the shard inboxes they travel
 * through and the pause protocol. The DESIGN comment is in server.h.
 */
#include <assert.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/sync.h"
#include "server/cmd.h"
#include "server/loop_int.h"

/* Where a command's keys are, besides one other shard's index. */
enum {
    HOME_HERE = -1, /* all on the connection's own shard, or no keys */
    HOME_MANY = -2, /* on several shards, or every shard: a world operation */
};

/* ---- inboxes ------------------------------------------------------------- */

/* Pushes the chain first..last (linked by next) onto sh's inbox; true if
 * sh may be asleep, and the caller must then wake it (srv_wake) or serve
 * it (srv_lend). Any thread. */
static bool inbox_push_quiet(struct srv_shard *sh, struct msg *first, struct msg *last)
{
    struct msg *head = atomic_load_explicit(&sh->inbox, memory_order_relaxed);
    do {
        last->next = head;
        /* seq_cst: orders the push before the load of `sleeping` below, against
         * the consumer's store of `sleeping` before its last look at the inbox
         * (shard_wait): one of the two sees the other. */
    } while (!atomic_compare_exchange_weak_explicit(&sh->inbox, &head, first, memory_order_seq_cst,
                                                    memory_order_relaxed));
    return atomic_load_explicit(&sh->sleeping, memory_order_seq_cst) &&
           atomic_exchange_explicit(&sh->sleeping, 0, memory_order_seq_cst);
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

/* Sets m aside, behind the messages already set aside. */
static void defer(struct srv_shard *sh, struct msg *m)
{
    msg_append(&sh->deferred, &sh->deferred_tail, m);
}

/* ---- messages ------------------------------------------------------------- */

/* Spare messages. A message is mostly freed by another thread than the
 * one that made it (a transaction's parts end where they ran), and with
 * glibc's allocator such a free contends for the maker's arena lock, while
 * the maker, short of messages, allocates more. So every message goes
 * back to its maker, reply buffer and all: a thread keeps those of its own
 * shard it frees, up to MSG_SPARE of each size class (MSG_CLASS_MIN bytes
 * doubled), and pushes another shard's onto that shard's msg_back (one
 * CAS), which the maker takes whole when its own run out. In steady
 * traffic no message reaches the allocator. msg_spare_drain gives a
 * thread's own back as it ends, and srv_close what is left in msg_back. */
#define MSG_CLASSES SRV_MSG_CLASSES
#define MSG_CLASS_MIN 512
#define MSG_SPARE 1024
#define MSG_KEEP_OUT 1024 /* the largest reply buffer kept with a spare */

static _Thread_local struct msg_spares {
    struct msg *head;
    unsigned n; /* freed here since the list was last taken from msg_back */
} spares[MSG_CLASSES];

/* The shard this thread runs (msg_home), whose messages it keeps; NULL on
 * a thread that runs none (a test's), which keeps every message it frees. */
static _Thread_local const struct srv_shard *msg_own;

void msg_home(const struct srv_shard *sh)
{
    msg_own = sh;
}

/* The size class of a message of `bytes`, or MSG_CLASSES for none. */
static unsigned msg_class(size_t bytes)
{
    unsigned k = 0;
    while (k < MSG_CLASSES && bytes > (size_t)MSG_CLASS_MIN << k)
        k++;
    return k;
}

/* Frees the chain m (linked by next), reply buffers too. */
static void msg_chain_free(struct msg *m)
{
    while (m) {
        struct msg *next = m->next;
        sw__resp_buf_free(&m->out);
        free(m);
        m = next;
    }
}

void msg_spare_drain(void)
{
    for (unsigned k = 0; k < MSG_CLASSES; k++) {
        msg_chain_free(spares[k].head);
        spares[k].head = NULL;
        spares[k].n = 0;
    }
}

void msg_back_free(struct srv_shard *sh)
{
    for (unsigned k = 0; k < MSG_CLASSES; k++)
        msg_chain_free(atomic_exchange_explicit(&sh->msg_back[k], NULL, memory_order_acquire));
}

struct msg *msg_new(struct conn *c, enum msg_kind kind, const sw__resp_cmd *cmd,
                    const struct cmd_def *def, const uint64_t *hash)
{
    size_t bytes = sizeof(struct msg), locks = 0, hashes = 0;
    if (cmd) {
        /* a part's locks: one per key at most (txn.c), and argv[0] is none */
        locks = kind == MSG_LOCK ? cmd->argc - 1 : 0;
        hashes = hash ? cmd->argc : 0;
        bytes += cmd->argc * sizeof(sw__resp_arg) + locks * sizeof(struct klock *) +
                 hashes * sizeof(uint64_t);
        for (size_t i = 0; i < cmd->argc; i++)
            bytes += cmd->argv[i].len;
    }
    unsigned k = msg_class(bytes);
    struct msg *m = NULL;
    if (k < MSG_CLASSES) {
        if (!spares[k].head) { /* acquire: pairs with msg_free's push */
            spares[k].head =
                atomic_exchange_explicit(&c->sh->msg_back[k], NULL, memory_order_acquire);
            spares[k].n = 0;
        }
        m = spares[k].head;
    }
    sw__resp_buf out = {0};
    if (m) {
        spares[k].head = m->next;
        if (spares[k].n)
            spares[k].n--;
        out = m->out;
    } else if (!(m = malloc(k < MSG_CLASSES ? (size_t)MSG_CLASS_MIN << k : bytes))) {
        return NULL;
    }
    memset(m, 0, sizeof *m);
    m->size_class = k;
    m->kind = kind;
    m->from = c->sh;
    m->c = c;
    m->cmd = def;
    m->db = c->db;
    m->out = out; /* a spare's buffer, emptied; or none */
    sw__resp_buf_consume(&m->out, sw__resp_buf_len(&m->out));
    sw__resp_buf_set_proto(&m->out, c->proto);
    if (cmd) {
        m->argc = cmd->argc;
        m->argv = (sw__resp_arg *)(m + 1);
        m->lock_room = (struct klock **)(m->argv + cmd->argc);
        m->lock_cap = locks;
        if (hashes) {
            m->hash = (uint64_t *)(m->lock_room + locks);
            memcpy(m->hash, hash, hashes * sizeof *m->hash);
        }
        char *p = (char *)(m->lock_room + locks) + hashes * sizeof(uint64_t);
        for (size_t i = 0; i < cmd->argc; i++) {
            memcpy(p, cmd->argv[i].ptr, cmd->argv[i].len);
            m->argv[i].ptr = p;
            m->argv[i].len = cmd->argv[i].len;
            p += cmd->argv[i].len;
        }
    }
    return m;
}

void msg_free(struct msg *m)
{
    free(m->subs); /* the commands themselves are the coordinator's */
    free(m->unit);
    for (size_t i = 0; i < m->npieces; i++)
        if (m->pieces[i])
            msg_free(m->pieces[i]);
    free(m->pieces);
    for (size_t i = 0; i < m->nwkeys; i++)
        free(m->wkeys[i].key);
    free(m->wkeys);
    free(m->val);
    unsigned k = m->size_class;
    bool mine = !msg_own || m->from == msg_own;
    if (k < MSG_CLASSES && (!mine || spares[k].n < MSG_SPARE)) {
        if (m->out.cap > MSG_KEEP_OUT || m->out.status != SW_OK) {
            sw__resp_buf_free(&m->out);
            sw__resp_buf_init(&m->out, 2); /* its failure does not stick */
        }
        if (mine) {
            m->next = spares[k].head;
            spares[k].head = m;
            spares[k].n++;
            return;
        }
        _Atomic(struct msg *) *back = &m->from->msg_back[k];
        struct msg *head = atomic_load_explicit(back, memory_order_relaxed);
        do /* release: the message's fields go with it */
            m->next = head;
        while (!atomic_compare_exchange_weak_explicit(back, &head, m, memory_order_release,
                                                      memory_order_relaxed));
        return;
    }
    sw__resp_buf_free(&m->out);
    free(m);
}

int kkey_of(struct srv *s, const struct msg *m, int db, const sw__resp_arg *a, struct kkey *k)
{
    uint64_t hash = m->hash && db == m->db ? m->hash[a - m->argv] : 0;
    return kkey_build_hashed(s, db, a, hash, k);
}

/* ---- the world: the pause protocol ------------------------------------------ */

/* Waits until the futex word *w reads `until`. Acquire: pairs with the
 * release store that set it (pause_here, or route_world_leave). */
static void wait_word(_Atomic uint32_t *w, enum msg_pause until)
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

/* Another shard's world operation asked for sh: acknowledge, then wait
 * until it is done with sh's state. A shard holding the world is never
 * asked (one holder at a time), which is why this cannot deadlock. */
static void pause_here(struct srv_shard *sh, struct msg *m)
{
    assert(!sh->world_held);
    (void)sh;
    /* Release: pairs with the pauser's acquire in wait_word (PAUSE_ACKED),
     * handing it our state; then we wait for its release. */
    atomic_store_explicit(&m->pause, PAUSE_ACKED, memory_order_release);
    sw__futex_wake(&m->pause, 1);
    wait_word(&m->pause, PAUSE_RELEASED);
    /* Release: tells the pauser we are done with its message (it waits for
     * PAUSE_LEFT before reusing it). */
    atomic_store_explicit(&m->pause, PAUSE_LEFT, memory_order_release);
    sw__futex_wake(&m->pause, 1);
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
        pause_here(sh, m);
    }
    sh->deferred_tail = last;
    struct msg *m = inbox_take(sh);
    while (m) {
        struct msg *next = m->next;
        if (m->kind == MSG_PAUSE)
            pause_here(sh, m);
        else
            defer(sh, m);
        m = next;
    }
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
            wait_word(&p->pause, PAUSE_LEFT);
        p->kind = MSG_PAUSE;
        /* Relaxed: the push (a seq_cst CAS) publishes it with the message. */
        atomic_store_explicit(&p->pause, PAUSE_SENT, memory_order_relaxed);
        if (inbox_push_quiet(&s->shards[i], p, p))
            srv_wake(&s->shards[i]); /* a lender would stop at the PAUSE */
    }
    for (unsigned i = 0; i < s->n; i++)
        if (i != me->index)
            wait_word(&me->pauses[i].pause, PAUSE_ACKED);
    me->world_held = true;
    atomic_fetch_add_explicit(&me->st_world_ops, 1, memory_order_relaxed);
}

void route_world_leave(struct srv_shard *me)
{
    struct srv *s = me->srv;
    assert(me->world_held);
    for (unsigned i = 0; i < s->n; i++) {
        if (i == me->index)
            continue;
        srv_commit_dirty(&s->shards[i]);
        /* Release: pairs with the acquire in pause_here's wait_word. */
        atomic_store_explicit(&me->pauses[i].pause, PAUSE_RELEASED, memory_order_release);
        sw__futex_wake(&me->pauses[i].pause, 1);
    }
    me->world_held = false;
    pthread_mutex_unlock(&s->world);
}

/* ---- dispatch --------------------------------------------------------------- */

/* x: a command of argc arguments argv (their keys' hashes in db: hash, or
 * NULL) to run on sh in db for c (NULL: a message's, from another shard),
 * replying into out. */
static void exec_init(struct exec *x, struct srv_shard *sh, struct conn *c, int db, size_t argc,
                      const sw__resp_arg *argv, const uint64_t *hash, sw__resp_buf *out)
{
    *x = (struct exec){.srv = sh->srv,
                       .self = sh,
                       .c = c,
                       .db = db,
                       .argc = argc,
                       .argv = argv,
                       .out = out,
                       .kh = {.argv = argv, .db = db, .hash = hash}};
}

/* The hashes of the keys of a command of d in database db, into h (at
 * most cap), taken from memo (struct keyhash's hash, for argv and db)
 * where it has them; how many, or cap + 1 when there are more or one
 * cannot be built. */
static size_t key_hashes(struct srv *s, const struct cmd_def *d, size_t argc,
                         const sw__resp_arg *argv, int db, const uint64_t *memo, uint64_t *h,
                         size_t cap)
{
    size_t n = 0;
    struct keywalk w;
    const sw__resp_arg *a;
    int kdb;
    for (keywalk_init(&w, d, argc, argv, db); keywalk_next(&w, &a, &kdb);) {
        struct kkey k;
        uint64_t known = memo && kdb == db ? memo[a - argv] : 0;
        if (n == cap || kkey_build_hashed(s, kdb, a, known, &k) != SW_OK)
            return cap + 1;
        kkey_free(&k);
        h[n++] = k.hash;
    }
    return n;
}

/* Whether a single-shard command of c still away (an EXEC message, not
 * MULTI's) names one of the n keys whose hashes are in mine (or may:
 * hashes are compared). */
static bool away_touch(struct conn *c, const uint64_t *mine, size_t n)
{
    uint64_t theirs[64];
    struct srv *s = c->sh->srv;
    /* The EXECs away are the queue's unfinished messages with a command
     * (a slot made here has none); their arguments do not change. */
    for (const struct msg *q = c->qhead; q; q = q->qnext) {
        if (!q->cmd || q->done)
            continue;
        size_t m = key_hashes(s, q->cmd, q->argc, q->argv, q->db, q->hash, theirs, 64);
        if (m > 64)
            return true;
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < n; j++)
                if (theirs[i] == mine[j])
                    return true;
    }
    return false;
}

size_t route_exec_keys(struct srv *s, const struct msg *queue, const struct watched *w, size_t nw,
                       uint64_t *h, size_t cap)
{
    size_t n = 0;
    for (const struct msg *q = queue; q; q = q->qnext) {
        size_t m = key_hashes(s, q->cmd, q->argc, q->argv, q->db, q->hash, h + n, cap - n);
        if (m > cap - n)
            return cap + 1;
        n += m;
    }
    for (size_t i = 0; i < nw; i++) {
        if (n == cap)
            return cap + 1;
        h[n++] = w[i].hash;
    }
    return n;
}

/* route_exec_keys for the EXEC c has queued. */
static size_t multi_key_hashes(struct conn *c, uint64_t *h, size_t cap)
{
    return route_exec_keys(c->sh->srv, c->mq_head, c->watched, c->nwatched, h, cap);
}

/* Whether cmd, of d, must wait for c's requests under way, holding c's
 * input: k is its kind when it is a transaction, exec_txn whether it is an
 * EXEC over shards on the key locks, home where its keys are and hash
 * their hashes (key_home's).
 * What must see the effects of the connection's requests under way waits
 * for them:
 * - a transaction (an EXEC over shards too) for its connection's
 *   single-shard commands away on one of its keys: its parts must not
 *   pass them on their shards, and cannot wait there for one (txn.c).
 *   Transactions follow each other without waiting: they reach every
 *   shard in order. So a part never waits for a command's EXEC message,
 *   and the key locks' waits stay in the transactions' one order (txn.c).
 * - an EXEC on this shard for its connection's transactions on one of its
 *   keys (its commands away are on other shards' keys);
 * - MULTI for nothing: it only starts a queue;
 * - a world operation and another command on the connection (WATCH, or
 *   HELLO, whose protocol the replies away are made in) for all of them;
 * - other commands for the transactions with one of their keys (an EXEC's
 *   watched keys count: txn.c's split_exec).
 * Keys too many to compare count as touched. */
static bool must_wait(struct conn *c, const struct cmd_def *d, const sw__resp_cmd *cmd,
                      const struct txn_kind *k, bool exec_txn, int home, const uint64_t *hash)
{
    if (c->db_pending) /* an EXEC away SELECTs: its database first */
        return true;
    uint64_t h[256];
    size_t n, cap = sizeof h / sizeof h[0];
    if (k || exec_txn) {
        if (c->away == c->txns) /* no EXEC away */
            return false;
        n = k ? key_hashes(c->sh->srv, d, cmd->argc, cmd->argv, c->db, hash, h, cap)
              : multi_key_hashes(c, h, cap);
        return n > cap || away_touch(c, h, n);
    }
    if (d->fn == cmd_multi)
        return false;
    bool local_exec = d->fn == cmd_exec && home == HOME_HERE;
    if (!local_exec && (home == HOME_MANY || (d->flags & CMD_CONN)))
        return c->away > 0;
    if (c->txns == 0)
        return false;
    n = local_exec ? multi_key_hashes(c, h, cap)
                   : key_hashes(c->sh->srv, d, cmd->argc, cmd->argv, c->db, hash, h, cap);
    return n > cap || txn_conn_touches(c, h, n);
}

/* The most arguments of a command whose key hashes the dispatcher keeps
 * (on its stack) for the command to use. */
#define KEYHASH_MAX 64

/* Where a command's keys are: HOME_HERE, HOME_MANY, or the one other
 * shard's index. Their hashes, found on the way, go into h (argc of them,
 * struct keyhash's) when argc <= KEYHASH_MAX; *kh says whether they did. */
static int key_home(struct srv_shard *sh, const struct cmd_def *d, const sw__resp_cmd *cmd, int db,
                    uint64_t *h, const uint64_t **kh)
{
    struct srv *s = sh->srv;
    *kh = NULL;
    if (d->first <= 0 || s->n == 1)
        return HOME_HERE;
    bool keep = cmd->argc <= KEYHASH_MAX;
    if (keep) {
        memset(h, 0, cmd->argc * sizeof *h);
        *kh = h;
    }
    int home = HOME_HERE, kdb;
    bool many = false;
    struct keywalk w;
    const sw__resp_arg *a;
    for (keywalk_init(&w, d, cmd->argc, cmd->argv, db); keywalk_next(&w, &a, &kdb);) {
        struct kkey k;
        if (kkey_build(s, kdb, a, &k) != SW_OK)
            return HOME_MANY; /* no memory to look: a world operation is always safe */
        int at = (int)(k.sh - s->shards);
        kkey_free(&k);
        if (keep && kdb == db)
            h[a - cmd->argv] = k.hash;
        if (home == HOME_HERE)
            home = at;
        else if (home != at)
            many = true;
    }
    if (many)
        return HOME_MANY;
    return home == (int)sh->index ? HOME_HERE : home;
}

void route_reply_unknown(sw__resp_buf *out, const sw__resp_cmd *cmd)
{
    char msg[512];
    int n = snprintf(msg, sizeof msg, "ERR unknown command '%.*s', with args beginning with: ",
                     (int)(cmd->argv[0].len > 128 ? 128 : cmd->argv[0].len), cmd->argv[0].ptr);
    for (size_t i = 1; i < cmd->argc && n < (int)sizeof msg - 140; i++)
        n += snprintf(msg + n, sizeof msg - (size_t)n, "'%.*s' ",
                      (int)(cmd->argv[i].len > 128 ? 128 : cmd->argv[i].len), cmd->argv[i].ptr);
    sw__resp_add_error(out, msg);
}

/* Sends cmd (its keys' hashes: hash, or NULL) to shard `home` as an EXEC;
 * its reply slot waits in c's queue. */
static bool send_exec(struct conn *c, const sw__resp_cmd *cmd, const struct cmd_def *d, int home,
                      const uint64_t *hash)
{
    struct srv *s = c->sh->srv;
    struct msg *m = msg_new(c, MSG_EXEC, cmd, d, hash);
    if (!m) {
        conn_close(c);
        return false;
    }
    conn_queue_slot(c, m);
    c->away++;
    atomic_fetch_add_explicit(&s->inflight, 1, memory_order_relaxed);
    if (inbox_push_quiet(&s->shards[home], m, m))
        srv_lend(&s->shards[home]);
    return true;
}

/* ---- units: a command's writes as one record in each log ---------------------- */

/* A command of CMD_UNIT starts: a unit on every shard it may write (its
 * own, or every shard for a world operation). */
static void unit_begin(struct srv_shard *sh)
{
    struct srv *s = sh->srv;
    if (!s->cfg.dir)
        return;
    if (!sh->world_held) { /* the common case: no walk over the shards */
        sw__shard_unit_begin(sh->core);
        return;
    }
    for (unsigned i = 0; i < s->n; i++)
        sw__shard_unit_begin(s->shards[i].core);
}

/* The command is over: each shard logs its writes as one record. Where it
 * wrote on several (a world operation), those records are the parts of a
 * transaction (db/shard.h), logged and committed everywhere before the
 * decision is, so a crash keeps all of them or none; the world operation
 * holds every shard, so this runs the whole protocol at once. */
static void unit_end(struct srv_shard *me)
{
    struct srv *s = me->srv;
    if (!s->cfg.dir)
        return;
    if (!me->world_held) { /* one shard: one record, nothing to decide */
        if (sw__shard_unit_end(me->core) != SW_OK)
            srv_log_lost(me);
        return;
    }
    unsigned parts = 0;
    for (unsigned i = 0; i < s->n; i++)
        parts += sw__shard_unit_writes(s->shards[i].core) > 0;
    uint64_t txid =
        parts > 1 ? atomic_fetch_add_explicit(&s->next_txid, 1, memory_order_relaxed) : 0;
    unsigned part = 0;
    for (unsigned i = 0; i < s->n; i++) {
        struct srv_shard *sh = &s->shards[i];
        sh->unit_tx = NULL;
        int rc = parts > 1 && sw__shard_unit_writes(sh->core) > 0
                     ? sw__shard_unit_end_part(sh->core, txid, parts, part++, &sh->unit_tx)
                     : sw__shard_unit_end(sh->core);
        if (rc != SW_OK)
            srv_log_lost(sh);
    }
    if (parts <= 1)
        return;
    for (unsigned i = 0; i < s->n; i++) { /* every part on disk: decided */
        struct srv_shard *sh = &s->shards[i];
        if (sh->unit_tx) {
            sh->dirty = true;
            srv_commit_dirty(sh);
        }
    }
    for (unsigned i = 0; i < s->n; i++) { /* its writes applied already */
        struct srv_shard *sh = &s->shards[i];
        if (sh->unit_tx) {
            if (sw__shard_tx_decide(sh->core, sh->unit_tx) != SW_OK)
                srv_log_lost(sh);
            sw__shard_tx_applied(sh->core);
            sh->dirty = true;
            srv_commit_dirty(sh);
        }
    }
    for (unsigned i = 0; i < s->n; i++) { /* every decision on disk */
        struct srv_shard *sh = &s->shards[i];
        if (sh->unit_tx) {
            sw__shard_tx_forget(sh->core, sh->unit_tx);
            sh->unit_tx = NULL;
        }
    }
}

/* Runs command d on x, as one unit in the logs if it is of CMD_UNIT. */
static void run_cmd(struct srv_shard *sh, const struct cmd_def *d, struct exec *x)
{
    bool unit = d->flags & CMD_UNIT;
    if (unit)
        unit_begin(sh);
    d->fn(x);
    if (unit)
        unit_end(sh);
}

/* Runs cmd here (d NULL: unknown; its keys' hashes: hash, or NULL), as a
 * world operation for HOME_MANY, or replies the error that stops it. */
static bool run_here(struct conn *c, const sw__resp_cmd *cmd, const struct cmd_def *d, int home,
                     const uint64_t *hash)
{
    struct srv_shard *sh = c->sh;
    struct msg *slot;
    sw__resp_buf *out = conn_reply_to(c, &slot);
    if (!out) {
        conn_close(c);
        return false;
    }
    if (!d) {
        route_reply_unknown(out, cmd);
    } else if (!cmd_arity_ok(d, cmd->argc)) {
        sw__resp_add_errorf(out, "ERR wrong number of arguments for '%s' command", d->name);
    } else if (!c->authed && !(d->flags & CMD_NOAUTH)) {
        sw__resp_add_error(out, "NOAUTH Authentication required.");
    } else {
        struct exec x;
        exec_init(&x, sh, c, c->db, cmd->argc, cmd->argv, hash, out);
        if (home == HOME_MANY && !sh->world_held)
            world_enter(sh);
        x.world = sh->world_held;
        run_cmd(sh, d, &x);
    }
    conn_replied(c, slot);
    return c->life == CONN_OPEN;
}

void route_count(struct conn *c)
{
    atomic_fetch_add_explicit(&c->sh->st_cmds, 1, memory_order_relaxed);
    c->cmds++;
    c->last_ms = c->sh->now_ms;
}

bool route_dispatch(struct conn *c, const sw__resp_cmd *cmd)
{
    struct srv_shard *sh = c->sh;
    assert(srv_may_touch(sh));
    const struct cmd_def *d = cmd_lookup(cmd->argv[0].ptr, cmd->argv[0].len);
    uint64_t hash_room[KEYHASH_MAX];
    const uint64_t *hash = NULL;
    /* MGETs or MSETs gathered just before (txn_gather) start before
     * anything else of c's: each return below that runs, holds or queues
     * cmd otherwise flushes them first. */
    if (c->in_multi && !(d && (d->flags & CMD_TXCTL))) {
        if (!txn_gather_flush(sh))
            return false;
        route_count(c);
        if (d && cmd_arity_ok(d, cmd->argc))
            key_home(sh, d, cmd, c->mq_db, hash_room, &hash);
        return multi_queue(c, cmd, d, hash);
    }
    int home = HOME_HERE;
    if (d && !sh->world_held && cmd_arity_ok(d, cmd->argc) &&
        (c->authed || (d->flags & CMD_NOAUTH))) {
        home = (d->flags & CMD_ALL) ? HOME_MANY : key_home(sh, d, cmd, c->db, hash_room, &hash);
        if (d->fn == cmd_exec)
            home = c->in_multi && !multi_here(c) ? HOME_MANY : HOME_HERE;
        else if ((d->flags & CMD_CONN) && home >= 0)
            home = HOME_MANY; /* it needs its connection: here, with the key's shard paused */
        const struct txn_kind *k = NULL;
        if (home == HOME_MANY && sh->srv->n > 1 && !(d->flags & CMD_ALL))
            k = txn_kind_of(d, cmd->argc);
        if (!k && !txn_gather_flush(sh)) /* before the waits below look at c's */
            return false;
        /* An EXEC whose commands each name keys of one shard runs on the
         * key locks too; others (and one that only answers EXECABORT) as
         * a world operation. */
        bool exec_txn = d->fn == cmd_exec && home == HOME_MANY && sh->srv->n > 1 && !c->multi_err &&
                        multi_lockable(c);
        bool wait = must_wait(c, d, cmd, k, exec_txn, home, hash);
        if (wait) {
            if (txn_gather_flush(sh))
                conn_hold(c, cmd);
            return false;
        }
        if (k)
            return txn_gather(c, cmd, d, k, hash);
        if (exec_txn)
            return txn_start_exec(c, cmd, d);
        if (home == HOME_MANY && sh->srv->n > 1) {
            if (!txn_world_may_start(c, cmd))
                return false;
        } else if (home == HOME_HERE &&
                   !(d->fn == cmd_exec ? !c->in_multi || multi_keys_free(c)
                                       : txn_keys_free(sh, d, cmd->argc, cmd->argv, c->db, hash))) {
            txn_wait(c, cmd, WAIT_LOCK);
            return false;
        }
    }
    if (!txn_gather_flush(sh))
        return false;
    route_count(c);
    if (d && home >= 0)
        return send_exec(c, cmd, d, home, hash);
    return run_here(c, cmd, d, home, hash);
}

/* ---- the inbox's messages ------------------------------------------------- */

void route_send(struct srv_shard *sh, unsigned to, struct msg *m)
{
    /* outq[to] is kept newest first, as inbox_push wants a chain (its
     * receiver reverses the whole stack); outq_tail[to] is the oldest. */
    m->next = sh->outq[to];
    if (!m->next)
        sh->outq_tail[to] = m;
    sh->outq[to] = m;
}

void route_run_exec(struct srv_shard *sh, struct msg *m)
{
    assert(srv_may_touch(sh));
    /* A client whose replies already pass its output limit is being
     * dropped, or about to be (conn_take_reply): run nothing more for it,
     * or a pipeline of large replies would all be made, and held, in one
     * turn before the first of them reaches its shard. Relaxed: hints, the
     * origin decides. */
    size_t limit = sh->srv->cfg.obuf_limit;
    if (atomic_load_explicit(&m->c->gone, memory_order_relaxed) ||
        (limit && atomic_load_explicit(&m->c->away_bytes, memory_order_relaxed) > limit)) {
        m->skipped = true;
    } else {
        struct exec x;
        exec_init(&x, sh, NULL, m->db, m->argc, m->argv, m->hash, &m->out);
        run_cmd(sh, m->cmd, &x);
        atomic_fetch_add_explicit(&m->c->away_bytes, sw__resp_buf_len(&m->out),
                                  memory_order_relaxed);
    }
    m->kind = MSG_REPLY;
    route_send(sh, m->from->index, m);
}

/* An EXEC this shard sent is back with its reply. */
static void take_reply(struct srv_shard *sh, struct msg *m)
{
    assert(m->c->sh == sh && srv_may_touch(sh));
    atomic_fetch_sub_explicit(&sh->srv->inflight, 1, memory_order_relaxed);
    conn_take_reply(m->c, m);
}

static void handle(struct srv_shard *sh, struct msg *m)
{
    switch (m->kind) {
    case MSG_EXEC:
        if (sh->locks.t.n || sh->parked)
            txn_exec(sh, m); /* it may have to wait for a key */
        else
            route_run_exec(sh, m);
        break;
    case MSG_REPLY:
        take_reply(sh, m);
        break;
    case MSG_PAUSE:
        pause_here(sh, m);
        break;
    case MSG_SLOT:
        break;
    case MSG_LOCK:
    case MSG_READY:
    case MSG_APPLY:
    case MSG_DONE:
    case MSG_COMMIT:
    case MSG_PREPARE:
    case MSG_UNLOCK:
    case MSG_STEP:
        txn_handle(sh, m);
        break;
    }
}

/* Everything taken goes to the deferred list first and is handled from
 * there, one at a time, in arrival order after those set aside before: a
 * message's handling may run a command that waits for the world lock, and
 * serve_pauses must then find a PAUSE still waiting behind it. */
void route_serve_inbox(struct srv_shard *sh)
{
    struct msg *m = inbox_take(sh);
    while (m) {
        struct msg *next = m->next;
        defer(sh, m);
        m = next;
    }
    while (sh->deferred) {
        m = sh->deferred;
        if (m->kind == MSG_PAUSE && sh->lent)
            return; /* for its own thread, which srv_lend wakes */
        sh->deferred = m->next;
        if (!sh->deferred)
            sh->deferred_tail = NULL;
        handle(sh, m);
    }
}

bool route_send_replies(struct srv_shard *sh)
{
    /* A turn that started transactions sends their parts under sched, so
     * that every shard receives every transaction's parts in one order
     * (txn.c); its other messages go with them. A shard found asleep is
     * served here (srv_lend) or woken, once sched is let go: it is held
     * for the pushes alone. */
    struct srv *s = sh->srv;
    unsigned wake[s->n], nwake = 0;
    if (sh->scheduling)
        pthread_mutex_lock(&s->sched);
    bool self = sh->outq[sh->index] != NULL;
    for (unsigned i = 0; i < s->n; i++) {
        if (!sh->outq[i])
            continue;
        if (inbox_push_quiet(&s->shards[i], sh->outq[i], sh->outq_tail[i]))
            wake[nwake++] = i;
        sh->outq[i] = sh->outq_tail[i] = NULL;
    }
    if (sh->scheduling) {
        pthread_mutex_unlock(&s->sched);
        sh->scheduling = false;
    }
    for (unsigned i = 0; i < nwake; i++)
        srv_lend(&s->shards[wake[i]]);
    return self;
}
