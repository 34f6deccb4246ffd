/* MULTI, EXEC, DISCARD, WATCH and UNWATCH, with Redis 7.0's semantics and
 * words.
 *
 * MULTI: the connection's later commands are checked (name, arity, AUTH;
 * ACCOUNT.* is refused inside a transaction) and queued, each answered
 * +QUEUED; an error flags the transaction, and EXEC then answers
 * -EXECABORT and runs nothing. EXEC runs the queue in order with nothing
 * else in between: on the connection's own shard when every key of the
 * queue (and every watched key) is there, under the key locks' rules for
 * single-shard commands; as a world operation (route.c) when it queued a
 * command for every shard; and otherwise as a transaction on the
 * key locks (txn.c): one part per shard, holding that shard's commands (a
 * command whose keys span shards cut into a piece per shard) and watched
 * keys, which runs them once every part has locked its keys and the token
 * is found clean. Each is atomic to every observer, and one unit in the
 * logs. A queued command runs in the database the SELECTs queued before it
 * chose (mq_db, set as they are queued).
 *
 * WATCH. Each shard keeps, per watched key, the tokens of the connections
 * watching it; every change to a key (a write, a delete, a deadline, an
 * expiry, a FLUSH of a key that exists) marks its tokens dirty, and EXEC
 * answers a null array when its token is dirty. A token is the
 * connection's for one WATCH ... EXEC/DISCARD/UNWATCH span; ending the span
 * retires it (the shards drop retired tokens as they meet them, and in
 * their cron), and the next WATCH takes a new one. WATCH runs on the
 * connection's thread, as a world operation when a key is on another
 * shard, so it can register the key there; it first looks at each key, so
 * a key already expired is removed before it is watched ("WATCH stale keys
 * should not fail EXEC"). EXEC looks at every watched key again before
 * checking the token: a key that expired since is removed then, which
 * marks the token.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "server/cmd.h"
#include "server/loop_int.h"

/* A connection's watch token; see the comment at the top. */
struct wtok {
    _Atomic bool dirty;
    _Atomic bool retired;
    _Atomic unsigned refs; /* the connection's, and one per shard entry */
};

/* A watched key on its shard, with the tokens watching it. */
struct wentry {
    struct keyent e; /* in the shard's table of watched keys */
    size_t ntok, cap;
    struct wtok **tok;
    char key[];
};

static void tok_put(struct wtok *t)
{
    if (atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) == 1)
        free(t);
}

/* ---- a shard's watched keys -------------------------------------------------- */

/* Drops e's retired tokens; true if none is left (e may go). */
static bool w_prune(struct wentry *e)
{
    size_t n = 0;
    for (size_t i = 0; i < e->ntok; i++) {
        if (atomic_load_explicit(&e->tok[i]->retired, memory_order_acquire))
            tok_put(e->tok[i]);
        else
            e->tok[n++] = e->tok[i];
    }
    e->ntok = n;
    return n == 0;
}

static void w_free(struct wentry *e)
{
    for (size_t i = 0; i < e->ntok; i++)
        tok_put(e->tok[i]);
    free(e->tok);
    free(e);
}

/* Registers token t on key k in k's shard. SW_OK or SW_ENOMEM. */
static int w_add(struct kkey *k, struct wtok *t)
{
    struct keytab *tab = &k->sh->watches;
    if (!keytab_room(tab))
        return SW_ENOMEM;
    struct keyent **slot = keytab_slot(tab, k->hash, k->p, k->len);
    struct wentry *e = (struct wentry *)*slot;
    if (!e) {
        e = calloc(1, sizeof *e + k->len);
        if (!e)
            return SW_ENOMEM;
        memcpy(e->key, k->p, k->len);
        e->e = (struct keyent){.hash = k->hash, .len = k->len, .key = e->key};
        keytab_link(tab, slot, &e->e);
    }
    for (size_t i = 0; i < e->ntok; i++)
        if (e->tok[i] == t)
            return SW_OK;
    if (e->ntok == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 2;
        struct wtok **tok = realloc(e->tok, cap * sizeof *tok);
        if (!tok)
            return SW_ENOMEM;
        e->tok = tok;
        e->cap = cap;
    }
    atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
    e->tok[e->ntok++] = t;
    return SW_OK;
}

void multi_touch(struct srv_shard *sh, uint64_t hash, const void *key, size_t len)
{
    struct keytab *tab = &sh->watches;
    if (tab->n == 0)
        return;
    struct keyent **slot = keytab_slot(tab, hash, key, len);
    struct wentry *e = (struct wentry *)*slot;
    if (!e)
        return;
    for (size_t i = 0; i < e->ntok; i++)
        /* Release: pairs with EXEC's acquire (it runs where it may see this
         * shard, so this is belt and braces). */
        atomic_store_explicit(&e->tok[i]->dirty, true, memory_order_release);
    if (w_prune(e)) {
        keytab_unlink(tab, slot);
        w_free(e);
    }
}

void multi_touch_flush(struct srv_shard *sh, int db)
{
    struct keytab *tab = &sh->watches;
    for (size_t i = 0; tab->n && i < tab->cap; i++)
        for (struct keyent *ke = tab->b[i]; ke; ke = ke->next) {
            struct wentry *e = (struct wentry *)ke;
            if (db >= 0 && e->key[0] != (char)db)
                continue;
            struct kkey k = {
                .hash = ke->hash, .p = e->key, .len = ke->len, .sh = sh, .db = e->key[0]};
            const void *v;
            size_t n;
            int64_t exp;
            if (kv_get(&k, &v, &n, &exp) == SW_OK) /* only a key that exists changes */
                for (size_t j = 0; j < e->ntok; j++)
                    atomic_store_explicit(&e->tok[j]->dirty, true, memory_order_release);
        }
}

void multi_gc(struct srv_shard *sh)
{
    struct keytab *tab = &sh->watches;
    for (size_t i = 0; tab->n && i < tab->cap; i++)
        for (struct keyent **slot = &tab->b[i]; *slot;) {
            struct wentry *e = (struct wentry *)*slot;
            if (w_prune(e)) {
                keytab_unlink(tab, slot);
                w_free(e);
            } else {
                slot = &e->e.next;
            }
        }
}

void multi_shard_free(struct srv_shard *sh)
{
    struct keytab *tab = &sh->watches;
    for (size_t i = 0; i < tab->cap; i++)
        for (struct keyent *e = tab->b[i], *next; e; e = next) {
            next = e->next;
            w_free((struct wentry *)e);
        }
    keytab_free(tab);
}

/* ---- a connection's state ------------------------------------------------------ */

static void unwatch(struct conn *c)
{
    if (c->wtok) {
        atomic_store_explicit(&c->wtok->retired, true, memory_order_release);
        tok_put(c->wtok);
        c->wtok = NULL;
    }
    for (size_t i = 0; i < c->nwatched; i++)
        free(c->watched[i].key);
    free(c->watched);
    c->watched = NULL;
    c->nwatched = 0;
}

static void discard(struct conn *c)
{
    while (c->mq_head) {
        struct msg *m = c->mq_head;
        c->mq_head = m->qnext;
        msg_free(m);
    }
    c->mq_tail = NULL;
    c->in_multi = false;
    c->multi_err = false;
}

void multi_conn_closed(struct conn *c)
{
    discard(c);
    unwatch(c);
}

bool multi_queue(struct conn *c, const sw__resp_cmd *cmd, const struct cmd_def *d,
                 const uint64_t *hash)
{
    struct msg *slot;
    sw__resp_buf *out = conn_reply_to(c, &slot);
    if (!out) {
        conn_close(c);
        return false;
    }
    struct exec x = {.srv = c->sh->srv, .self = c->sh, .c = c, .db = c->db, .out = out};
    if (!d) {
        route_reply_unknown(out, cmd);
        c->multi_err = true;
    } else if (!cmd_arity_ok(d, cmd->argc)) {
        sw__resp_add_errorf(out, "ERR wrong number of arguments for '%s' command", d->name);
        c->multi_err = true;
    } else if (!c->authed && !(d->flags & CMD_NOAUTH)) {
        reply_err(&x, "NOAUTH Authentication required.");
        c->multi_err = true;
    } else if ((d->flags & CMD_LEDGER) || d->fn == cmd_shutdown) {
        /* The Ledger is its own store: it cannot join a keyspace
         * transaction all or nothing (docs/server.md). SHUTDOWN is refused
         * there as Redis refuses it. */
        reply_err(&x, "ERR Command not allowed inside a transaction");
        c->multi_err = true;
    } else {
        struct msg *m = msg_new(c, MSG_SLOT, cmd, d, hash);
        if (!m) {
            conn_close(c);
            return false;
        }
        m->db = c->mq_db; /* a SELECT queued before it counts */
        int db;
        if (d->fn == cmd_select && select_arg(NULL, &cmd->argv[1], &db))
            c->mq_db = db;
        m->qnext = NULL;
        if (c->mq_tail)
            c->mq_tail->qnext = m;
        else
            c->mq_head = m;
        c->mq_tail = m;
        sw__resp_add_simple(out, "QUEUED");
    }
    conn_replied(c, slot);
    return c->life == CONN_OPEN;
}

/* Whether a key of queued command m (in database db) is on c's shard. */
static bool key_is_here(struct conn *c, const struct msg *m, int db, const sw__resp_arg *a)
{
    struct kkey k;
    if (kkey_of(c->sh->srv, m, db, a, &k) != SW_OK)
        return false;
    kkey_free(&k);
    return k.sh == c->sh;
}

bool multi_here(struct conn *c)
{
    if (c->sh->srv->n == 1)
        return true;
    for (size_t i = 0; i < c->nwatched; i++)
        if (c->watched[i].sh != c->sh)
            return false;
    for (const struct msg *m = c->mq_head; m; m = m->qnext) {
        const struct cmd_def *d = m->cmd;
        /* A command on every shard, or on the connection (SELECT, which
         * cmd_exec runs here, aside: the commands after it were queued in
         * its database) */
        if ((d->flags & (CMD_ALL | CMD_CONN)) && d->fn != cmd_select)
            return false;
        struct keywalk w;
        const sw__resp_arg *a;
        int db;
        for (keywalk_init(&w, d, m->argc, m->argv, m->db); keywalk_next(&w, &a, &db);)
            if (!key_is_here(c, m, db, a))
                return false;
    }
    return true;
}

bool multi_keys_free(struct conn *c)
{
    for (const struct msg *m = c->mq_head; m; m = m->qnext)
        if (!txn_keys_free(c->sh, m->cmd, m->argc, m->argv, m->db, m->hash))
            return false;
    /* A watched key is read: a write decided elsewhere but not yet applied
     * here holds it, and EXEC must see that write (verify/txn.pml,
     * txn-exec-local). */
    for (size_t i = 0; i < c->nwatched; i++) {
        const struct watched *w = &c->watched[i];
        if (w->sh == c->sh && !txn_key_free(c->sh, w->hash, w->key, w->len, false))
            return false;
    }
    return true;
}

/* The shard of every key of queued command m (NULL: it names none), or
 * false when its keys are on several shards. */
static bool cmd_shard(struct conn *c, const struct msg *m, struct srv_shard **out)
{
    *out = NULL;
    struct keywalk w;
    const sw__resp_arg *a;
    int db;
    for (keywalk_init(&w, m->cmd, m->argc, m->argv, m->db); keywalk_next(&w, &a, &db);) {
        struct kkey k;
        if (kkey_of(c->sh->srv, m, db, a, &k) != SW_OK)
            return false;
        kkey_free(&k);
        if (*out && *out != k.sh)
            return false;
        *out = k.sh;
    }
    return true;
}

bool multi_lockable(struct conn *c)
{
    for (const struct msg *m = c->mq_head; m; m = m->qnext) {
        struct srv_shard *sh;
        if ((m->cmd->flags & CMD_ALL) || ((m->cmd->flags & CMD_CONN) && m->cmd->fn != cmd_select) ||
            (!cmd_shard(c, m, &sh) && !txn_cuts(m->cmd, m->argc)))
            return false;
    }
    return true;
}

struct srv_shard *multi_cmd_shard(struct conn *c, const struct msg *m)
{
    struct srv_shard *sh;
    if (!cmd_shard(c, m, &sh))
        return NULL;
    return sh ? sh : c->sh;
}

struct msg *multi_take(struct conn *c, struct wtok **tok, struct watched **w, size_t *nw)
{
    struct msg *queue = c->mq_head;
    c->mq_head = c->mq_tail = NULL;
    discard(c);
    *tok = c->wtok; /* not retired yet: it must still be marked until checked */
    *w = c->watched;
    *nw = c->nwatched;
    c->wtok = NULL;
    c->watched = NULL;
    c->nwatched = 0;
    return queue;
}

bool multi_tok_dirty(struct wtok *t)
{
    return t && atomic_load_explicit(&t->dirty, memory_order_acquire);
}

void multi_tok_done(struct wtok *t)
{
    if (!t)
        return;
    atomic_store_explicit(&t->retired, true, memory_order_release);
    tok_put(t);
}

void multi_look(struct srv_shard *sh, const struct watched *w, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct kkey k = {
            .hash = w[i].hash, .p = w[i].key, .len = w[i].len, .sh = sh, .db = w[i].key[0]};
        const void *v;
        size_t vlen;
        int64_t e;
        kv_get(&k, &v, &vlen, &e); /* an expired key goes, and marks its tokens */
    }
}

/* ---- the commands ------------------------------------------------------------------ */

void cmd_multi(struct exec *x)
{
    if (x->c->in_multi) {
        reply_err(x, "ERR MULTI calls can not be nested");
        return;
    }
    x->c->in_multi = true;
    x->c->mq_db = x->c->db;
    reply_ok(x);
}

void cmd_discard(struct exec *x)
{
    if (!x->c->in_multi) {
        reply_err(x, "ERR DISCARD without MULTI");
        return;
    }
    discard(x->c);
    unwatch(x->c);
    reply_ok(x);
}

/* Whether a watched key changed (or expired: looking removes it, which
 * marks the token) since WATCH. */
static bool watch_dirty(struct exec *x)
{
    struct conn *c = x->c;
    if (!c->wtok)
        return false;
    for (size_t i = 0; i < c->nwatched; i++) {
        assert(srv_may_touch(c->watched[i].sh));
        multi_look(c->watched[i].sh, &c->watched[i], 1);
    }
    return multi_tok_dirty(c->wtok);
}

void cmd_exec(struct exec *x)
{
    struct conn *c = x->c;
    if (!c->in_multi) {
        reply_err(x, "ERR EXEC without MULTI");
        return;
    }
    bool aborted = c->multi_err, dirty = !aborted && watch_dirty(x);
    /* The queue is taken off the connection before it runs: a command in
     * it that closed the connection would otherwise free it underfoot. */
    struct msg *queue = c->mq_head;
    c->mq_head = c->mq_tail = NULL;
    discard(c);
    unwatch(c);
    if (aborted) {
        reply_err(x, "EXECABORT Transaction discarded because of previous errors.");
    } else if (dirty) {
        sw__resp_add_null_array(x->out);
    } else {
        size_t n = 0;
        for (const struct msg *m = queue; m; m = m->qnext)
            n++;
        sw__resp_add_array(x->out, n);
        for (const struct msg *m = queue; m; m = m->qnext) {
            struct exec y = *x;
            y.db = c->db; /* a SELECT before it in the queue counts */
            y.argc = m->argc;
            y.argv = m->argv;
            y.kh = (struct keyhash){.argv = m->argv, .db = m->db, .hash = m->hash};
            m->cmd->fn(&y);
        }
    }
    while (queue) {
        struct msg *m = queue;
        queue = m->qnext;
        msg_free(m);
    }
}

void cmd_watch(struct exec *x)
{
    struct conn *c = x->c;
    if (c->in_multi) {
        reply_err(x, "ERR WATCH inside MULTI is not allowed");
        return;
    }
    if (!c->wtok) {
        c->wtok = calloc(1, sizeof *c->wtok);
        if (!c->wtok) {
            reply_status(x, SW_ENOMEM);
            return;
        }
        atomic_init(&c->wtok->refs, 1);
    }
    for (size_t i = 1; i < x->argc; i++) {
        struct kkey k;
        if (!key_arg(x, i, &k))
            return;
        const void *v;
        size_t n;
        int64_t e;
        kv_get(&k, &v, &n, &e); /* an expired key goes now, not as a change later */
        struct watched *w = realloc(c->watched, (c->nwatched + 1) * sizeof *w);
        char *copy = w ? malloc(k.len) : NULL;
        if (w)
            c->watched = w;
        if (!copy || w_add(&k, c->wtok) != SW_OK) {
            free(copy);
            kkey_free(&k);
            reply_status(x, SW_ENOMEM);
            return;
        }
        memcpy(copy, k.p, k.len);
        c->watched[c->nwatched++] =
            (struct watched){.sh = k.sh, .hash = k.hash, .len = k.len, .key = copy};
        kkey_free(&k);
    }
    reply_ok(x);
}

void cmd_unwatch(struct exec *x)
{
    unwatch(x->c);
    reply_ok(x);
}
