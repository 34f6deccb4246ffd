/* Multi-shard transactions: a command whose keys span shards (MSET, MGET,
 * DEL, UNLINK, EXISTS, MSETNX; RENAME, RENAMENX, COPY, MOVE and LCS as
 * pairs; EXEC, its multi-key commands cut into pieces or run as joints)
 * runs as one part per shard of its keys, under key locks, with only
 * those shards taking part. The DESIGN comment
 * is in server.h ("Transactions"); the protocol is modelled in
 * verify/txn.pml.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "base/sync.h"
#include "server/cmd.h"
#include "server/loop_int.h"

/* ---- what a transaction does with its parts -------------------------------- */

enum merge {
    MERGE_OK,    /* +OK, or the first part's error */
    MERGE_SUM,   /* the sum of the parts' integers */
    MERGE_ARRAY, /* the parts' array elements, back in the keys' order */
    MERGE_NX,    /* MSETNX: :1 once written, :0 if a key existed */
    MERGE_EXEC,  /* EXEC: its commands' replies, in queue order */
    MERGE_PAIR,  /* two keys read, then the writes decided from them (pair_ready) */
};

struct txn_kind {
    cmd_fn fn;   /* the command (cmd_def.fn) */
    bool write;  /* exclusive locks (durable: logged, then applied) */
    size_t step; /* arguments per key (2: a key and its value) */
    cmd_fn run;  /* what a part runs: at the grant (a read), or at the apply */
    enum merge merge;
};

static const struct txn_kind kinds[] = {
    {cmd_mget, false, 1, cmd_mget, MERGE_ARRAY}, {cmd_exists, false, 1, cmd_exists, MERGE_SUM},
    {cmd_mset, true, 2, cmd_mset, MERGE_OK},     {cmd_msetnx, true, 2, cmd_mset, MERGE_NX},
    {cmd_del, true, 1, cmd_del, MERGE_SUM}, /* and UNLINK */
    {cmd_rename, true, 1, NULL, MERGE_PAIR},     {cmd_renamenx, true, 1, NULL, MERGE_PAIR},
    {cmd_copy, true, 1, NULL, MERGE_PAIR},       {cmd_move, true, 1, NULL, MERGE_PAIR},
    {cmd_lcs, false, 1, NULL, MERGE_PAIR},
};

/* EXEC: each part runs its queued commands (the queue's on its shard) once
 * every part has locked their keys and the watched ones. */
static const struct txn_kind exec_kind = {cmd_exec, true, 1, NULL, MERGE_EXEC};

const struct txn_kind *txn_kind_of(const struct cmd_def *d, size_t argc)
{
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        const struct txn_kind *k = &kinds[i];
        /* MSET with a key and no value: the command replies the error */
        if (k->fn == d->fn)
            return k->step == 2 && argc % 2 == 0 ? NULL : k;
    }
    return NULL;
}

/* Whether a command of kind k, queued for an EXEC over shards, is a joint
 * there (its writes decided from reads on its shards: "joints", below);
 * the other kinds split into pieces whose replies merge. */
static bool joins(const struct txn_kind *k)
{
    return k->merge == MERGE_NX || k->merge == MERGE_PAIR;
}

bool txn_cuts(const struct cmd_def *d, size_t argc)
{
    return txn_kind_of(d, argc) != NULL; /* every kind: it splits, or it joins */
}

/* What an EXEC's part does next with a joint's piece (msg.step). */
enum piece_step {
    PIECE_READ, /* read, then stop: the coordinator decides */
    PIECE_PASS, /* nothing to write */
    PIECE_PUT,  /* a pair's destination: the source's value */
    PIECE_DEL,  /* a pair's source: deleted (RENAME, RENAMENX, MOVE) */
    PIECE_MSET, /* MSETNX's keys: set */
    PIECE_DONE,
};

/* An EXEC's joint, at its coordinator: the queued command, the shards of a
 * pair's source and destination, and how far its decision is. */
enum joint_state { JOINT_READING, JOINT_PUTTING, JOINT_DONE };
struct joint {
    struct msg *q;
    unsigned src, dst;
    enum joint_state state;
};

/* The coordinator's record of one transaction (the connection's shard). */
struct txn {
    struct conn *c;
    struct txn *cprev, *cnext; /* the connection's transactions under way */
    uint64_t *hash;            /* each key's hash, in order */
    struct msg *slot;          /* the client's reply, in its queue */
    const struct txn_kind *k;
    unsigned parts, left; /* parts, and those not back from this step */
    size_t nkeys;
    uint32_t *owner; /* MERGE_ARRAY: the shard of each key, in order */
    /* EXEC: its queue (linked by qnext), its watch token, and its step:
     * 0 locking, 1 running, 2 committing. */
    struct msg *queue;
    struct wtok *wtok;
    int phase;
    /* A pair: its command (for its options), and the shards of its
     * source (part 0) and destination (part 1); phase 0 reading, 1
     * preparing, 2 applying. */
    struct msg *cmd;
    unsigned src, dst;
    /* The commands it answers: one (slots is &slot), or a gathered run of
     * MGETs or MSETs (txn_gather), each with its reply slot and, for MGET,
     * its key count; slot is the first's, where merges write. */
    size_t ncmds;
    struct msg **slots;
    size_t *cmd_keys;
    /* An EXEC's joints, in queue order, and the first not decided yet;
     * which parts are back at the coordinator, by shard (one allocation). */
    struct joint *joints;
    size_t njoints, jnext;
    bool *home;
    /* An EXEC that SELECTs: the database its last SELECT chose, which the
     * connection takes at the reply unless the EXEC was called off
     * (select_db -1 then); its next commands wait until then. */
    bool db_change;
    int select_db;
    void *room;         /* in t's allocation: hash and owner, for keys given to txn_new */
    struct msg *part[]; /* by shard; NULL where none */
};

/* ---- key locks --------------------------------------------------------------- */

/* One key's lock on one shard: held shared by reads, exclusively by a
 * write, and referred to by every part that holds or waits for it. */
struct klock {
    struct keyent e; /* in the shard's table; e.next links the spare list */
    unsigned refs;
    unsigned waiting; /* parts not granted yet that want it */
    unsigned shared;
    bool excl;
    /* The grant scan that met a waiting part wanting this key first
     * (scan_excl: exclusively), so that later parts wait behind it. */
    uint64_t scan;
    bool scan_excl;
    /* The latest part to take a reference, by its arrival number: a key
     * named twice in one part is locked once. (Not the part's address,
     * which a later part may reuse while the lock lives on.) */
    uint64_t stamp;
    size_t cap;
    char key[];
};

#define KLOCK_KEY 48     /* key bytes of a lock kept for reuse */
#define KLOCK_SPARE 4096 /* locks kept for reuse per shard: a pipelined load's worth */

static struct klock *lt_find(struct ltab *t, uint64_t hash, const char *p, size_t len)
{
    return (struct klock *)keytab_find(&t->t, hash, p, len);
}

/* The lock of a key, made if it has none. NULL when out of memory. */
static struct klock *lt_get(struct ltab *t, uint64_t hash, const char *p, size_t len)
{
    if (!keytab_room(&t->t))
        return NULL;
    struct keyent **slot = keytab_slot(&t->t, hash, p, len);
    if (*slot)
        return (struct klock *)*slot;
    struct klock *l = t->spare;
    if (l && len <= KLOCK_KEY) {
        t->spare = (struct klock *)l->e.next;
        t->nspare--;
        size_t cap = l->cap;
        memset(l, 0, sizeof *l);
        l->cap = cap;
    } else {
        size_t cap = len > KLOCK_KEY ? len : KLOCK_KEY;
        l = calloc(1, sizeof *l + cap);
        if (!l)
            return NULL;
        l->cap = cap;
    }
    memcpy(l->key, p, len);
    l->e = (struct keyent){.hash = hash, .len = len, .key = l->key};
    keytab_link(&t->t, slot, &l->e);
    return l;
}

/* A part lets go of l (neither holding nor waiting any more). */
static void lt_put(struct ltab *t, struct klock *l)
{
    if (--l->refs > 0)
        return;
    assert(!l->excl && l->shared == 0);
    keytab_unlink(&t->t, keytab_slot(&t->t, l->e.hash, l->key, l->e.len));
    if (l->cap == KLOCK_KEY && t->nspare < KLOCK_SPARE) {
        l->e.next = (struct keyent *)t->spare; /* e is first: a klock is its keyent */
        t->spare = l;
        t->nspare++;
    } else {
        free(l);
    }
}

void txn_shard_free(struct srv_shard *sh)
{
    struct keytab *t = &sh->locks.t;
    for (size_t i = 0; i < t->cap; i++)
        for (struct keyent *e = t->b[i], *next; e; e = next) {
            next = e->next;
            free(e);
        }
    for (struct klock *l = sh->locks.spare, *next; l; l = next) {
        next = (struct klock *)l->e.next;
        free(l);
    }
    keytab_free(t);
    sh->locks = (struct ltab){0};
    struct gather *g = &sh->gather;
    free(g->argv);
    free(g->hash);
    free(g->cmd_keys);
    free(g->bytes);
    *g = (struct gather){0};
}

/* Whether l is held against a part (write: at all; read: exclusively). */
static bool held_against(const struct klock *l, bool write)
{
    return l->excl || (write && l->shared);
}

bool txn_key_free(struct srv_shard *sh, uint64_t hash, const char *p, size_t len, bool write)
{
    if (sh->locks.t.n == 0)
        return true;
    struct klock *l = lt_find(&sh->locks, hash, p, len);
    return !l || !held_against(l, write);
}

/* Whether a command with these keys may run on sh now: none of them is
 * locked against it (write: held at all; read: held exclusively). */
bool txn_keys_free(struct srv_shard *sh, const struct cmd_def *d, size_t argc,
                   const sw__resp_arg *argv, int db, const uint64_t *hash)
{
    if (sh->locks.t.n == 0 || d->first <= 0)
        return true;
    bool write = !(d->flags & CMD_READONLY);
    struct keywalk w;
    const sw__resp_arg *a;
    int kdb;
    for (keywalk_init(&w, d, argc, argv, db); keywalk_next(&w, &a, &kdb);) {
        struct kkey k;
        uint64_t h = hash && kdb == db ? hash[a - argv] : 0;
        if (kkey_build_hashed(sh->srv, kdb, a, h, &k) != SW_OK)
            return true; /* the command fails the same way when it runs */
        bool free_here = txn_key_free(sh, k.hash, k.p, k.len, write);
        kkey_free(&k);
        if (!free_here)
            return false;
    }
    return true;
}

/* ---- waiting connections and parked EXECs ------------------------------------ */

void txn_wait(struct conn *c, const sw__resp_cmd *cmd, enum conn_wait why)
{
    struct srv_shard *sh = c->sh;
    assert(c->wait == WAIT_NONE);
    conn_hold(c, cmd);
    c->wait = why;
    c->wait_next = sh->waiting;
    sh->waiting = c;
    if (why != WAIT_LOCK)
        sh->spinning++;
}

/* Takes c off sh's waiting list. */
static void unwait(struct srv_shard *sh, struct conn *c)
{
    struct conn **pp = &sh->waiting;
    while (*pp != c)
        pp = &(*pp)->wait_next;
    *pp = c->wait_next;
    if (c->wait != WAIT_LOCK)
        sh->spinning--;
    c->wait = WAIT_NONE;
    c->wait_next = NULL;
}

/* Runs again the held command of every connection waiting on sh for one of
 * the reasons in mask (1 << enum conn_wait); each waits again if it must. */
static void resume(struct srv_shard *sh, unsigned mask)
{
    struct conn *list = NULL, **tail = &list;
    for (struct conn **pp = &sh->waiting; *pp;) {
        struct conn *c = *pp;
        if (mask & (1u << c->wait)) {
            *pp = c->wait_next;
            if (c->wait != WAIT_LOCK)
                sh->spinning--;
            c->wait = WAIT_NONE;
            *tail = c;
            tail = &c->wait_next;
        } else {
            pp = &c->wait_next;
        }
    }
    *tail = NULL;
    while (list) {
        struct conn *c = list;
        list = c->wait_next;
        c->wait_next = NULL;
        if (c->life != CONN_DEAD)
            conn_resume(c);
    }
}

/* ---- the test seam ---------------------------------------------------------- */

static int64_t now_us(void)
{
    return sw__now_ns() / 1000;
}

/* Sets a part's step aside on an odd shard, if the seam is on; true if
 * it did. Parts keep their order, as they all wait the same time. */
static bool delay(struct srv_shard *sh, struct msg *m)
{
    unsigned us = sh->srv->test_txn_delay_us;
    if (!us || sh->index % 2 == 0 ||
        (m->kind != MSG_LOCK && m->kind != MSG_PREPARE && m->kind != MSG_APPLY &&
         m->kind != MSG_COMMIT))
        return false;
    if (m->due_us) { /* its time has come */
        m->due_us = 0;
        return false;
    }
    m->due_us = now_us() + us;
    msg_append(&sh->delayed, &sh->delayed_tail, m);
    sh->spinning++;
    return true;
}

static void undelay(struct srv_shard *sh)
{
    int64_t now = now_us();
    while (sh->delayed && sh->delayed->due_us <= now) {
        struct msg *m = sh->delayed;
        sh->delayed = m->next;
        if (!sh->delayed)
            sh->delayed_tail = NULL;
        sh->spinning--;
        txn_handle(sh, m);
    }
}

void txn_retry(struct srv_shard *sh)
{
    if (sh->delayed)
        undelay(sh);
    if (sh->spinning)
        resume(sh, 1u << WAIT_WORLD | 1u << WAIT_SCHED | 1u << WAIT_TURN);
}

bool txn_world_may_start(struct conn *c, const sw__resp_cmd *cmd)
{
    struct srv *s = c->sh->srv;
    if (!c->world_wanted) {
        atomic_fetch_add_explicit(&s->world_wanted, 1, memory_order_seq_cst);
        c->world_wanted = true;
    }
    /* seq_cst, against txn_start's increment and load in the other order:
     * one of the two sees the other, so no transaction starts that this
     * does not wait for. It also pairs with finish's release: the
     * transactions' writes on every shard are the world operation's. */
    if (atomic_load_explicit(&s->txns_live, memory_order_seq_cst) > 0) {
        txn_wait(c, cmd, WAIT_WORLD);
        return false;
    }
    return true;
}

void txn_world_done(struct conn *c)
{
    if (!c->world_wanted)
        return;
    c->world_wanted = false;
    atomic_fetch_sub_explicit(&c->sh->srv->world_wanted, 1, memory_order_relaxed);
}

void txn_conn_closed(struct conn *c)
{
    if (c->wait != WAIT_NONE)
        unwait(c->sh, c);
    txn_world_done(c);
}

/* Whether an EXEC parked earlier on sh is c's. */
static bool parked_for(struct srv_shard *sh, const struct conn *c, const struct msg *before)
{
    for (struct msg *m = sh->parked; m != before; m = m->next)
        if (m->c == c)
            return true;
    return false;
}

void txn_exec(struct srv_shard *sh, struct msg *m)
{
    /* Behind a locked key, or behind its connection's earlier EXEC parked
     * here: a client's commands on one shard run in its order. */
    if ((sh->parked && parked_for(sh, m->c, NULL)) ||
        !txn_keys_free(sh, m->cmd, m->argc, m->argv, m->db, m->hash)) {
        msg_append(&sh->parked, &sh->parked_tail, m);
        return;
    }
    route_run_exec(sh, m);
}

/* Runs the parked EXECs whose keys are free now, in order. */
static void unpark(struct srv_shard *sh)
{
    struct msg **pp = &sh->parked, *last = NULL;
    while (*pp) {
        struct msg *m = *pp;
        if (parked_for(sh, m->c, m) ||
            !txn_keys_free(sh, m->cmd, m->argc, m->argv, m->db, m->hash)) {
            last = m;
            pp = &m->next;
            continue;
        }
        *pp = m->next;
        route_run_exec(sh, m);
    }
    sh->parked_tail = last;
}

/* ---- a part on its shard ------------------------------------------------------ */

static void exec_part(struct srv_shard *sh, struct msg *m, cmd_fn fn)
{
    struct exec x = {.srv = sh->srv,
                     .self = sh,
                     .db = m->db,
                     .argc = m->argc,
                     .argv = m->argv,
                     .out = &m->out,
                     .kh = {.argv = m->argv, .db = m->db, .hash = m->hash}};
    fn(&x);
}

/* Sends m back to its coordinator as `kind`, after this turn's commit. */
static void answer(struct srv_shard *sh, struct msg *m, enum msg_kind kind)
{
    m->kind = kind;
    route_send(sh, m->from->index, m);
}

/* Whether a part runs at its grant: a read, or a write that cannot be
 * refused (no log to lack room; not MSETNX, which must see every part
 * first). Its keys stay locked until every part has run, so nobody sees
 * the writes before the whole transaction is in place. */
static bool runs_at_grant(const struct srv *s, const struct txn_kind *k)
{
    return !k->write || (!s->cfg.dir && k->merge != MERGE_NX && k->merge != MERGE_EXEC);
}

/* A failed step of part m: its error is its reply (in this thread's
 * words, for a refusal: kv_refusal). */
static void part_failed(struct srv_shard *sh, struct msg *m, int rc)
{
    struct exec x = {.srv = sh->srv, .self = sh, .out = &m->out};
    m->rc = rc;
    reply_status(&x, rc);
}

/* A write's part, granted: counts the keys that exist (MSETNX's test,
 * DEL's reply) and, on a durable server, logs its writes as its
 * transaction's PART (db/shard.h), to apply them once every part has.
 * MSETNX logs nothing where a key exists: that calls the whole off. */
static void prepare_write(struct srv_shard *sh, struct msg *m)
{
    const struct txn_kind *k = m->tk;
    size_t n = (m->argc - 1) / k->step, built = 0;
    struct kkey *keys = malloc(n * sizeof *keys);
    sw__rec *w = malloc(n * sizeof *w);
    m->rc = keys && w ? SW_OK : SW_ENOMEM;
    for (; m->rc == SW_OK && built < n; built++) {
        size_t at = 1 + built * k->step;
        const sw__resp_arg *key = &m->argv[at];
        struct kkey *kk = &keys[built];
        uint64_t hash = m->hash ? m->hash[at] : 0;
        if ((m->rc = kkey_build_hashed(sh->srv, m->db, key, hash, kk)) != SW_OK)
            break;
        const void *v;
        size_t vlen;
        int64_t e;
        if (k->merge != MERGE_OK)
            m->found += kv_get(kk, &v, &vlen, &e) == SW_OK;
        w[built] = (sw__rec){.type = SW__REC_DEL, .a = kk->p, .alen = kk->len};
        if (k->step == 2) {
            w[built].type = SW__REC_PUT;
            w[built].b = key[1].ptr;
            w[built].blen = key[1].len;
        }
    }
    if (m->rc == SW_OK && !(k->merge == MERGE_NX && m->found) && sh->srv->cfg.dir)
        m->rc = kv_tx_prepare(sh, m->txid, m->nparts, m->partno, w, n, &m->stx);
    if (m->rc != SW_OK)
        part_failed(sh, m, m->rc);
    else if (k->merge == MERGE_SUM)
        sw__resp_add_int(&m->out, m->found);
    while (built > 0)
        kkey_free(&keys[--built]);
    free(keys);
    free(w);
}

/* An EXEC's part, granted: a look at the watched keys (an expired one
 * marks them changed), and the log room its run's end will need, held. */
static void prepare_exec(struct srv_shard *sh, struct msg *m)
{
    multi_look(sh, m->wkeys, m->nwkeys);
    int rc = kv_unit_reserve(sh);
    m->reserved = rc == SW_OK;
    if (rc != SW_OK)
        part_failed(sh, m, rc);
}

/* A pair's part, granted: reads its key, copying the value where the
 * decision needs it (the source's; both of LCS's). */
static void pair_read(struct srv_shard *sh, struct msg *m)
{
    struct kkey k;
    int rc = kkey_of(sh->srv, m, m->db, &m->argv[1], &k);
    if (rc != SW_OK) {
        part_failed(sh, m, rc);
        return;
    }
    const void *v;
    size_t n;
    int64_t e;
    m->found = kv_get(&k, &v, &n, &e) == SW_OK;
    kkey_free(&k);
    if (!m->found || (m->partno == 1 && m->tk->write))
        return;
    if (!(m->val = malloc(n ? n : 1))) {
        part_failed(sh, m, SW_ENOMEM);
        return;
    }
    memcpy(m->val, v, n);
    m->vlen = n;
    m->expire = e;
}

/* Makes a pair's part's write (its key is locked: the value, or the
 * delete, goes where the grant read it). */
static int pair_write(struct srv_shard *sh, struct msg *m)
{
    struct kkey k;
    int rc = kkey_of(sh->srv, m, m->db, &m->argv[1], &k);
    if (rc != SW_OK)
        return rc;
    if (m->put)
        rc = kv_put(&k, m->val ? m->val : "", m->vlen, m->expire);
    else if (m->del && (rc = kv_del(&k)) == SW_ENOTFOUND)
        rc = SW_OK; /* expired since the grant, as its copy has */
    kkey_free(&k);
    return rc;
}

/* A pair's part, decided on (both parts write): logs its write as its
 * transaction's PART, not applied; a memory-only shard has no log, and
 * puts the value now, where a failure (no memory) still calls the whole
 * off. The delete waits for the APPLY, so a failed put loses nothing. */
static void pair_prepare(struct srv_shard *sh, struct msg *m)
{
    m->prepared = true;
    int rc = SW_OK;
    if (sh->srv->cfg.dir) {
        struct kkey k;
        rc = kkey_of(sh->srv, m, m->db, &m->argv[1], &k);
        if (rc == SW_OK) {
            sw__rec w = {.type = SW__REC_DEL, .a = k.p, .alen = k.len};
            if (m->put) {
                w.type = SW__REC_PUT;
                w.b = m->val ? m->val : "";
                w.blen = m->vlen;
                w.num = m->expire;
            }
            rc = kv_tx_prepare(sh, m->txid, m->nparts, m->partno, &w, 1, &m->stx);
            kkey_free(&k);
        }
    } else if (m->put) {
        rc = pair_write(sh, m);
    }
    if (rc != SW_OK)
        part_failed(sh, m, rc);
}

/* A pair's part, to write and let its key go: once PREPAREd, its logged
 * write (on a memory-only shard nothing: its put is made); otherwise a
 * write of its own: COPY's one write, or on a memory-only server the
 * source's delete, which had nothing to prepare. */
static void pair_apply(struct srv_shard *sh, struct msg *m)
{
    int rc = SW_OK;
    if (!m->prepared) {
        rc = pair_write(sh, m);
    } else if (m->stx) {
        kv_tx_decide(sh, m->stx);
        rc = pair_write(sh, m); /* logs nothing: the PART has it */
        kv_tx_applied(sh);
    }
    if (rc != SW_OK)
        part_failed(sh, m, rc);
}

/* A joint's piece, reached by its part (PIECE_READ): a pair's reads (its
 * key; the source's value), or MSETNX's (how many of its keys exist), for
 * the coordinator's decision. The write that may follow holds its log
 * room from now on (the source's delete; MSETNX's sets), so that once the
 * decision is made it is not refused: a refused put, the destination's,
 * is made first, before the source lets go. */
static void joint_read(struct srv_shard *sh, struct msg *p)
{
    size_t bytes = 0;
    if (p->tk->merge == MERGE_PAIR) {
        pair_read(sh, p);
        cmd_fn fn = p->tk->fn;
        struct kkey k;
        if (p->rc != SW_OK || !p->found || p->partno != 0 || fn == cmd_copy || fn == cmd_lcs ||
            kkey_of(sh->srv, p, p->db, &p->argv[1], &k) != SW_OK)
            return; /* (no memory for the key: its delete fails alike) */
        bytes = sw__shard_write_bytes(k.len, 0);
        kkey_free(&k);
    } else {
        for (size_t i = 1; i + 1 < p->argc; i += 2) {
            struct kkey k;
            int rc = kkey_of(sh->srv, p, p->db, &p->argv[i], &k);
            if (rc != SW_OK) {
                part_failed(sh, p, rc);
                return;
            }
            const void *v;
            size_t n;
            int64_t e;
            p->found += kv_get(&k, &v, &n, &e) == SW_OK;
            bytes += sw__shard_write_bytes(k.len, p->argv[i + 1].len);
            kkey_free(&k);
        }
        if (p->found)
            return;
    }
    int rc = kv_hold(sh, bytes);
    if (rc != SW_OK)
        part_failed(sh, p, rc);
    else
        p->held = bytes;
}

/* A joint's piece, decided on: its write, if any (an error is its reply),
 * in the room its read held. */
static void joint_write(struct srv_shard *sh, struct msg *p)
{
    if (p->held)
        kv_release(sh, p->held);
    p->held = 0;
    if (p->step == PIECE_MSET) {
        exec_part(sh, p, cmd_mset); /* +OK, or its error */
    } else if (p->step == PIECE_PUT || p->step == PIECE_DEL) {
        int rc = pair_write(sh, p);
        if (rc != SW_OK)
            part_failed(sh, p, rc);
    }
    p->step = PIECE_DONE;
}

/* m's locks are granted: its first step. */
static void prepare(struct srv_shard *sh, struct msg *m)
{
    if (m->tk->merge == MERGE_EXEC)
        prepare_exec(sh, m);
    else if (m->tk->merge == MERGE_PAIR)
        pair_read(sh, m);
    else if (runs_at_grant(sh->srv, m->tk))
        exec_part(sh, m, m->tk->run);
    else
        prepare_write(sh, m);
}

/* Takes m's locks and runs its first step, then answers. */
static void take(struct srv_shard *sh, struct msg *m)
{
    bool write = m->tk->write;
    for (size_t i = 0; i < m->nlocks; i++) {
        if (write)
            m->locks[i]->excl = true;
        else
            m->locks[i]->shared++;
    }
    prepare(sh, m);
    answer(sh, m, MSG_READY);
}

/* Grants, in arrival order, every waiting part that no holder and no
 * earlier waiting part conflicts with on any key, and runs it. Parts
 * arrive in the one order `sched` gives every shard, so a part waits only
 * for parts of transactions scheduled before its own: no cycle, no
 * deadlock. */
static void grant(struct srv_shard *sh)
{
    uint64_t scan = ++sh->lock_scans;
    struct msg **pp = &sh->pending, *last = NULL;
    while (*pp) {
        struct msg *m = *pp;
        bool write = m->tk->write, ok = true;
        for (size_t i = 0; i < m->nlocks && ok; i++) {
            const struct klock *l = m->locks[i];
            ok = !held_against(l, write) && !(l->scan == scan && (write || l->scan_excl));
        }
        if (!ok) { /* later parts wait behind it on its keys */
            for (size_t i = 0; i < m->nlocks; i++) {
                struct klock *l = m->locks[i];
                l->scan_excl = (l->scan == scan && l->scan_excl) || write;
                l->scan = scan;
            }
            last = m;
            pp = &m->next;
            continue;
        }
        *pp = m->next;
        for (size_t i = 0; i < m->nlocks; i++)
            m->locks[i]->waiting--;
        take(sh, m);
    }
    sh->pending_tail = last;
}

/* A part's keys unlocked: the EXECs and connections waiting may run, and
 * parts waiting may be granted. */
static void unlock(struct srv_shard *sh, struct msg *m)
{
    bool write = m->tk->write, waiters = false;
    for (size_t i = 0; i < m->nlocks; i++) {
        struct klock *l = m->locks[i];
        if (write)
            l->excl = false;
        else
            l->shared--;
        waiters |= l->waiting > 0;
        lt_put(&sh->locks, l);
    }
    if (m->locks != m->lock_room)
        free(m->locks);
    m->locks = NULL;
    m->nlocks = 0;
    /* The commands waiting first, then the parts: each waited since
     * before any part granted now. Only a part waiting for one of these
     * keys can have become free. */
    if (sh->parked)
        unpark(sh);
    resume(sh, 1u << WAIT_LOCK);
    if (waiters)
        grant(sh);
}

/* Calls fn(ctx, k) with each key part m locks (an EXEC's: its commands'
 * and its watched keys), until fn fails; false if one failed, or a key
 * could not be built. */
static bool each_key(struct srv_shard *sh, const struct msg *m, bool (*fn)(void *, struct kkey *),
                     void *ctx)
{
    bool ok = true;
    for (size_t j = 0; j < m->nsubs && ok; j++) {
        const struct msg *q = m->subs[j];
        if (q->joint && q->tk->merge == MERGE_PAIR) { /* a pair's piece: its key, in its database */
            struct kkey k;
            ok = kkey_of(sh->srv, q, q->db, &q->argv[1], &k) == SW_OK && fn(ctx, &k);
            kkey_free(&k);
            continue;
        }
        struct keywalk w;
        const sw__resp_arg *a;
        int db;
        for (keywalk_init(&w, q->cmd, q->argc, q->argv, q->db); ok && keywalk_next(&w, &a, &db);) {
            struct kkey k;
            ok = kkey_of(sh->srv, q, db, a, &k) == SW_OK && fn(ctx, &k);
            kkey_free(&k);
        }
    }
    for (size_t j = 0; j < m->nwkeys && ok; j++) {
        const struct watched *w = &m->wkeys[j];
        struct kkey k = {.hash = w->hash, .p = w->key, .len = w->len, .sh = sh, .db = w->key[0]};
        ok = fn(ctx, &k);
    }
    for (size_t i = 1; i < m->argc && ok; i += m->tk->step) {
        struct kkey k;
        uint64_t hash = m->hash ? m->hash[i] : 0;
        ok = kkey_build_hashed(sh->srv, m->db, &m->argv[i], hash, &k) == SW_OK && fn(ctx, &k);
        kkey_free(&k);
    }
    return ok;
}

struct locking {
    struct srv_shard *sh;
    struct msg *m;
    uint64_t stamp;
    size_t n;
};

static bool count_key(void *ctx, struct kkey *k)
{
    (void)k;
    ((struct locking *)ctx)->n++;
    return true;
}

/* Refers m to k's lock, once however often m names k. */
static bool lock_key(void *ctx, struct kkey *k)
{
    struct locking *x = ctx;
    struct klock *l = lt_get(&x->sh->locks, k->hash, k->p, k->len);
    if (!l)
        return false;
    if (l->stamp != x->stamp) {
        l->stamp = x->stamp;
        l->refs++;
        x->m->locks[x->m->nlocks++] = l;
    }
    return true;
}

/* A part has arrived: it waits for its keys' locks behind the parts that
 * came before it. */
static void enqueue(struct srv_shard *sh, struct msg *m)
{
    struct locking x = {.sh = sh, .m = m, .stamp = ++sh->lock_arrivals};
    if (m->tk->merge == MERGE_EXEC)
        each_key(sh, m, count_key, &x);
    else
        x.n = (m->argc - 1 + m->tk->step - 1) / m->tk->step;
    m->locks =
        x.n && x.n <= m->lock_cap ? m->lock_room : malloc((x.n ? x.n : 1) * sizeof *m->locks);
    if (!m->locks || !each_key(sh, m, lock_key, &x)) {
        /* nothing granted: let go and report */
        for (size_t i = 0; i < m->nlocks; i++)
            lt_put(&sh->locks, m->locks[i]);
        m->nlocks = 0;
        m->rc = SW_ENOMEM;
        answer(sh, m, MSG_READY);
        return;
    }
    /* Free at once when no holder and no part before it wants its keys
     * (a waiting part there, whatever it wants, counts against it). */
    bool write = m->tk->write, free_now = true;
    for (size_t i = 0; i < m->nlocks && free_now; i++)
        free_now = !held_against(m->locks[i], write) && m->locks[i]->waiting == 0;
    if (free_now) {
        take(sh, m);
        return;
    }
    for (size_t i = 0; i < m->nlocks; i++)
        m->locks[i]->waiting++;
    msg_append(&sh->pending, &sh->pending_tail, m);
}

/* An EXEC's part runs its commands, in queue order, each answering into
 * its own reply, then answers DONE. On a durable server their writes are
 * one PART record of the transaction (db/shard.h), and its keys stay
 * locked until the decision; on a memory-only one they are let go at once
 * (every part holds its locks before any runs, and keeps them until it
 * has run all, so none can see another half done). At a joint's piece not
 * read yet it stops instead: it reads, sets its unit aside, and answers
 * STEP; the coordinator's decision sends it on from there. */
static void run_exec_part(struct srv_shard *sh, struct msg *m)
{
    bool durable = sh->srv->cfg.dir;
    if (durable && m->unit && m->unit->on)
        sw__shard_unit_resume(sh->core, m->unit);
    else if (durable)
        sw__shard_unit_begin(sh->core); /* its reservation, taken */
    m->reserved = false;
    for (; m->at < m->nsubs; m->at++) {
        struct msg *q = m->subs[m->at];
        if (q->joint && q->step == PIECE_READ) {
            joint_read(sh, q);
            if (durable)
                sw__shard_unit_suspend(sh->core, m->unit); /* made with the part */
            answer(sh, m, MSG_STEP);
            return;
        }
        if (q->joint) {
            joint_write(sh, q);
            continue;
        }
        struct exec x = {.srv = sh->srv,
                         .self = sh,
                         .db = q->db,
                         .argc = q->argc,
                         .argv = q->argv,
                         .out = &q->out,
                         .kh = {.argv = q->argv, .db = q->db, .hash = q->hash}};
        q->cmd->fn(&x);
    }
    if (durable) {
        if (sw__shard_unit_end_part(sh->core, m->txid, m->nparts, m->partno, &m->stx) != SW_OK)
            srv_log_lost(sh);
        sh->dirty = true;
    } else {
        unlock(sh, m);
    }
    answer(sh, m, MSG_DONE);
}

/* ---- the coordinator ----------------------------------------------------------- */

static void txn_free(struct txn *t)
{
    while (t->queue) {
        struct msg *q = t->queue;
        t->queue = q->qnext;
        msg_free(q);
    }
    multi_tok_done(t->wtok);
    if (t->cmd)
        msg_free(t->cmd);
    if (t->hash != t->room) /* an EXEC's, counted once its queue is taken */
        free(t->hash);
    free(t->joints);
    free(t);
}

bool txn_conn_touches(const struct conn *c, const uint64_t *h, size_t n)
{
    for (const struct txn *t = c->txn_list; t; t = t->cnext)
        for (size_t j = 0; j < t->nkeys; j++)
            for (size_t i = 0; i < n; i++)
                if (t->hash[j] == h[i])
                    return true;
    return false;
}

/* The transaction's outcome is known: its reply goes into the client's
 * slot, and the connection is done with it (what is left, the parts'
 * writes and their end, is the shards'). */
static void hand_reply(struct txn *t)
{
    struct conn *c = t->c;
    c->txns -= t->ncmds;
    if (t->cprev)
        t->cprev->cnext = t->cnext;
    else
        c->txn_list = t->cnext;
    if (t->cnext)
        t->cnext->cprev = t->cprev;
    t->c = NULL;
    if (t->db_change) {
        c->db_pending = false;
        if (t->select_db >= 0)
            c->db = t->select_db;
    }
    /* c lives on until the last: each reply away counts (conn_reap) */
    for (size_t i = 0; i < t->ncmds; i++) {
        struct msg *slot = t->slots[i];
        atomic_fetch_add_explicit(&c->away_bytes, sw__resp_buf_len(&slot->out),
                                  memory_order_relaxed);
        conn_take_reply(c, slot);
    }
}

/* The transaction is over. */
static void finish(struct srv_shard *sh, struct txn *t)
{
    struct srv *s = sh->srv;
    if (t->c)
        hand_reply(t);
    /* Release: pairs with txn_world_may_start's acquire. */
    atomic_fetch_sub_explicit(&s->txns_live, 1, memory_order_release);
    atomic_fetch_sub_explicit(&s->inflight, 1, memory_order_relaxed);
    txn_free(t);
}

/* Sends part i of t away as `kind` (MSG_UNLOCK frees it there). */
static void send_part(struct srv_shard *sh, struct txn *t, unsigned i, enum msg_kind kind)
{
    struct msg *m = t->part[i];
    if (kind == MSG_UNLOCK)
        t->part[i] = NULL;
    m->kind = kind;
    route_send(sh, i, m);
}

/* The status of t's first failed part (its locks refused, or its step),
 * or SW_OK. */
static int parts_rc(struct srv *s, struct txn *t)
{
    for (unsigned i = 0; i < s->n; i++)
        if (t->part[i] && t->part[i]->rc != SW_OK)
            return t->part[i]->rc;
    return SW_OK;
}

/* Sends every part away as `kind` (MSG_UNLOCK frees them there). */
static void send_parts(struct srv_shard *sh, struct txn *t, enum msg_kind kind)
{
    for (unsigned i = 0; i < sh->srv->n; i++)
        if (t->part[i])
            send_part(sh, t, i, kind);
}

/* The first of the n messages at m (NULL where none: a transaction's
 * parts, or a cut command's pieces, by shard) whose reply is an error. */
static const struct msg *first_error(struct msg *const *m, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        if (m[i] && sw__resp_buf_len(&m[i]->out) > 0 && sw__resp_buf_data(&m[i]->out)[0] == '-')
            return m[i];
    return NULL;
}

/* The integer a part replied (":n\r\n"). */
static int64_t part_int(const struct msg *m)
{
    const char *p = sw__resp_buf_data(&m->out);
    size_t len = sw__resp_buf_len(&m->out);
    long long v = 0;
    size_t end = 1;
    while (end < len && p[end] != '\r')
        end++;
    if (len < 1 || p[0] != ':' || !arg_ll(p + 1, end - 1, &v))
        return 0;
    return v;
}

/* The sum of the integers the n messages at m (NULL where none) replied. */
static int64_t sum_ints(struct msg *const *m, unsigned n)
{
    int64_t sum = 0;
    for (unsigned i = 0; i < n; i++)
        if (m[i])
            sum += part_int(m[i]);
    return sum;
}

/* The end of the array element (a bulk string or a null) at p[pos]. */
static size_t elem_end(const char *p, size_t len, size_t pos)
{
    size_t eol = pos;
    while (eol + 1 < len && !(p[eol] == '\r' && p[eol + 1] == '\n'))
        eol++;
    eol += 2;
    long long n;
    if (p[pos] == '$' && arg_ll(p + pos + 1, eol - 2 - pos - 1, &n) && n >= 0)
        return eol + (size_t)n + 2;
    return eol; /* $-1 or _ */
}

/* A cursor into each of the n messages at m (NULL where none) that
 * replied an array: where its elements begin, past the header. */
static void array_starts(struct msg *const *m, unsigned n, size_t *cur)
{
    for (unsigned i = 0; i < n; i++) {
        cur[i] = 0;
        if (!m[i])
            continue;
        const char *p = sw__resp_buf_data(&m[i]->out);
        while (p[cur[i]] != '\n')
            cur[i]++;
        cur[i]++;
    }
}

/* Appends to out the element of the array reply in b at *at, and moves
 * *at past it. */
static void take_elem(sw__resp_buf *out, const sw__resp_buf *b, size_t *at)
{
    const char *p = sw__resp_buf_data(b);
    size_t end = elem_end(p, sw__resp_buf_len(b), *at);
    sw__resp_add_raw(out, p + *at, end - *at);
    *at = end;
}

/* MGET: the parts' values, back in the keys' order, into each command's
 * reply (a gathered run's: each its own keys). */
static void merge_array(struct srv *s, struct txn *t)
{
    size_t cur[s->n], j = 0;
    array_starts(t->part, s->n, cur);
    for (size_t i = 0; i < t->ncmds; i++) {
        sw__resp_buf *out = &t->slots[i]->out;
        size_t last = j + (t->cmd_keys ? t->cmd_keys[i] : t->nkeys);
        sw__resp_add_array(out, last - j);
        for (; j < last; j++)
            take_elem(out, &t->part[t->owner[j]]->out, &cur[t->owner[j]]);
    }
}

/* A gathered run's one outcome (its MSETs', or a failure), written for
 * the first command: the same for the others. */
static void spread(struct txn *t)
{
    const sw__resp_buf *first = &t->slot->out;
    for (size_t i = 1; i < t->ncmds; i++)
        sw__resp_add_raw(&t->slots[i]->out, sw__resp_buf_data(first), sw__resp_buf_len(first));
}

/* A cut command's reply, from its pieces' (MGET's back in its keys'
 * order): the first failed piece's error, if one failed. */
static void merge_pieces(struct srv *s, struct msg *q)
{
    const struct txn_kind *k = txn_kind_of(q->cmd, q->argc);
    struct exec x = {.srv = s, .out = &q->out};
    unsigned n = (unsigned)q->npieces;
    const struct msg *err = first_error(q->pieces, n);
    if (err) {
        sw__resp_add_raw(x.out, sw__resp_buf_data(&err->out), sw__resp_buf_len(&err->out));
        return;
    }
    if (k->merge == MERGE_OK) {
        reply_ok(&x);
        return;
    }
    if (k->merge == MERGE_SUM) {
        sw__resp_add_int(x.out, sum_ints(q->pieces, n));
        return;
    }
    size_t cur[n], nkeys = q->argc - 1;
    array_starts(q->pieces, n, cur);
    const uint32_t *owner = (const uint32_t *)(q->pieces + q->npieces);
    sw__resp_add_array(x.out, nkeys);
    for (size_t j = 0; j < nkeys; j++)
        take_elem(x.out, &q->pieces[owner[j]]->out, &cur[owner[j]]);
}

/* A failed transaction's reply: its first part's error, in the words of
 * that part's thread (a refusal's, kv_refusal), or else rc's. False, and
 * nothing written, when neither failed. */
static bool reply_failure(struct srv *s, struct txn *t, int rc)
{
    const struct msg *err = first_error(t->part, s->n);
    struct exec x = {.srv = s, .out = &t->slot->out};
    if (err)
        sw__resp_add_raw(x.out, sw__resp_buf_data(&err->out), sw__resp_buf_len(&err->out));
    else if (rc != SW_OK)
        reply_status(&x, rc);
    return err || rc != SW_OK;
}

static void reply(struct srv *s, struct txn *t, int rc)
{
    sw__resp_buf *out = &t->slot->out;
    struct exec x = {.srv = s, .out = out};
    if (reply_failure(s, t, rc)) {
        spread(t);
        return;
    }
    if (t->k->merge == MERGE_ARRAY) {
        merge_array(s, t);
        return;
    }
    if (t->k->merge == MERGE_OK) {
        reply_ok(&x);
    } else if (t->k->merge == MERGE_NX) {
        sw__resp_add_int(out, 1);
    } else if (t->k->merge == MERGE_SUM) {
        sw__resp_add_int(out, sum_ints(t->part, s->n));
    }
    spread(t);
}

/* A pair is over: its reply, if not given yet, is its first failed
 * part's where one failed (else the caller wrote it). */
static void pair_end(struct srv_shard *sh, struct txn *t)
{
    int rc = t->c ? parts_rc(sh->srv, t) : SW_OK;
    if (rc != SW_OK)
        reply_failure(sh->srv, t, rc);
    send_parts(sh, t, MSG_UNLOCK);
    finish(sh, t);
}

/* A pair's reply once its writes are in place: RENAME's +OK, the others'
 * :1. */
static void pair_written(sw__resp_buf *out, cmd_fn fn)
{
    struct exec x = {.out = out};
    if (fn == cmd_rename)
        reply_ok(&x);
    else
        sw__resp_add_int(x.out, 1);
}

/* A pair's decision from its two reads (src, dst: its parts', or a
 * joint's pieces'), as the command (fn, x) would decide on one shard: true
 * when it writes (the source's value, moved to dst, is put there; and but
 * for COPY the source is deleted: src->del); false when x->out has its
 * reply, and nothing is written. */
static bool pair_decide(struct exec *x, cmd_fn fn, struct msg *src, struct msg *dst)
{
    int dest_db;
    bool replace = false;
    if (fn == cmd_copy)
        cmd_dest_db(x->argc, x->argv, x->db, &dest_db, &replace);
    if (fn == cmd_lcs) {
        lcs_of(x, src->val ? src->val : "", src->vlen, dst->val ? dst->val : "", dst->vlen);
        return false;
    }
    if (!src->found && (fn == cmd_rename || fn == cmd_renamenx)) {
        reply_err(x, "ERR no such key");
        return false;
    }
    if (!src->found || (dst->found && fn != cmd_rename && !replace)) {
        sw__resp_add_int(x->out, 0);
        return false;
    }
    dst->put = true;
    dst->val = src->val;
    dst->vlen = src->vlen;
    dst->expire = src->expire;
    src->val = NULL;
    src->del = fn != cmd_copy;
    return true;
}

/* Both parts of a pair are READY. Phase 0, both keys read and locked: the
 * command's outcome, decided as it would be on one shard, and the writes
 * it needs, if any: the source's value put at the destination, and for
 * RENAME, RENAMENX and MOVE the source deleted. COPY writes on one shard
 * only: that write is a plain one (APPLY), and the source's lock goes at
 * once. The others PREPARE both parts (phase 1), and once both are, the
 * client has its reply and the parts APPLY (phase 2). The locks of both
 * are held from before the decision until each part's write is made, so
 * no observer sees one write without the other. */
static void pair_ready(struct srv_shard *sh, struct txn *t)
{
    struct srv *s = sh->srv;
    struct msg *src = t->part[t->src], *dst = t->part[t->dst];
    sw__resp_buf *out = &t->slot->out;
    struct exec x = {.srv = s,
                     .self = sh,
                     .db = t->cmd->db,
                     .argc = t->cmd->argc,
                     .argv = t->cmd->argv,
                     .out = out};
    if (parts_rc(s, t) != SW_OK) {
        pair_end(sh, t);
        return;
    }
    if (t->phase == 1) { /* both PARTs logged (or the put made): decided */
        pair_written(&t->slot->out, t->k->fn);
        hand_reply(t);
        t->phase = 2;
        t->left = 2;
        send_parts(sh, t, MSG_APPLY);
        return;
    }
    cmd_fn fn = t->k->fn;
    if (!pair_decide(&x, fn, src, dst)) {
        pair_end(sh, t);
        return;
    }
    t->left = fn == cmd_copy || !s->cfg.dir ? 1 : 2;
    if (fn == cmd_copy) { /* its DONE ends it (pair_done) */
        send_part(sh, t, t->src, MSG_UNLOCK);
        send_part(sh, t, t->dst, MSG_APPLY);
        return;
    }
    t->phase = 1;
    if (s->cfg.dir)
        send_parts(sh, t, MSG_PREPARE);
    else /* the source has nothing to prepare: its delete waits */
        send_part(sh, t, t->dst, MSG_PREPARE);
}

/* A pair's parts have made their writes and let their keys go (COPY's
 * one part: its reply follows from it). */
static void pair_done(struct srv_shard *sh, struct txn *t)
{
    if (t->c && parts_rc(sh->srv, t) == SW_OK)
        pair_written(&t->slot->out, t->k->fn);
    pair_end(sh, t);
}

/* ---- an EXEC's joints ---------------------------------------------------------

   A command queued for an EXEC, with its keys over shards, whose writes
   follow from reads on several of them (MSETNX; RENAME, RENAMENX, COPY,
   MOVE and LCS across two shards) is a joint. It is cut into a piece per
   shard of its keys, as MSET is; but a part that reaches its piece (its
   commands before it run) reads there (joint_read), sets its unit aside
   and answers STEP. Once every part of the joint has stopped there, the
   coordinator decides as the command would on one shard, writes its reply,
   and sends the parts on with their writes: MSETNX's sets, or none; for a
   pair, the destination's put first, and once it is made the source's
   delete (or, if the put failed, nothing: its error is the reply). A
   part's writes before and after its stops are one unit: one PART record,
   as for any EXEC.

   No deadlock: the steps begin once every part holds all its locks, and
   lock nothing more; a part waits only at a joint, for that joint's other
   parts. The joints are decided in queue order, and each part meets its
   own in that order, so every part of the first joint not decided yet has
   passed every earlier one, and reaches it. */

/* Sends shard i's part of t on from where it stopped. */
static void send_on(struct srv_shard *sh, struct txn *t, unsigned i)
{
    t->home[i] = false;
    send_part(sh, t, i, MSG_APPLY);
}

/* Whether shard i's part of t is back, stopped at piece p. */
static bool stopped_at(const struct txn *t, unsigned i, const struct msg *p)
{
    const struct msg *m = t->part[i];
    return t->home[i] && m->at < m->nsubs && m->subs[m->at] == p;
}

/* Every piece of joint j is read: its decision. */
static void joint_decide(struct srv_shard *sh, struct txn *t, struct joint *j)
{
    struct srv *s = sh->srv;
    struct msg *q = j->q;
    const struct txn_kind *k = txn_kind_of(q->cmd, q->argc);
    struct exec x = {
        .srv = s, .self = sh, .db = q->db, .argc = q->argc, .argv = q->argv, .out = &q->out};
    const struct msg *err = first_error(q->pieces, s->n);
    j->state = JOINT_DONE;
    if (err) {
        sw__resp_add_raw(x.out, sw__resp_buf_data(&err->out), sw__resp_buf_len(&err->out));
    } else if (k->merge == MERGE_NX) {
        int64_t found = 0;
        for (unsigned i = 0; i < s->n; i++)
            if (q->pieces[i])
                found += q->pieces[i]->found;
        if (found) /* else its reply follows its sets (joint_reply) */
            sw__resp_add_int(x.out, 0);
        for (unsigned i = 0; i < s->n; i++)
            if (q->pieces[i])
                q->pieces[i]->step = found ? PIECE_PASS : PIECE_MSET;
    } else if (pair_decide(&x, k->fn, q->pieces[j->src], q->pieces[j->dst])) {
        q->pieces[j->dst]->step = PIECE_PUT;
        j->state = JOINT_PUTTING;
        send_on(sh, t, j->dst);
        return;
    }
    for (unsigned i = 0; i < s->n; i++) {
        struct msg *p = q->pieces[i];
        if (!p)
            continue;
        if (p->step == PIECE_READ)
            p->step = PIECE_PASS;
        send_on(sh, t, i);
    }
}

/* A pair's destination has made its put, or failed to: the source's
 * delete follows only a put made. */
static void joint_put_done(struct srv_shard *sh, struct txn *t, struct joint *j)
{
    struct msg *q = j->q, *src = q->pieces[j->src], *dst = q->pieces[j->dst];
    if (dst->rc == SW_OK) {
        src->step = src->del ? PIECE_DEL : PIECE_PASS;
        pair_written(&q->out, q->cmd->fn);
    } else {
        src->step = PIECE_PASS;
        sw__resp_add_raw(&q->out, sw__resp_buf_data(&dst->out), sw__resp_buf_len(&dst->out));
    }
    j->state = JOINT_DONE;
    send_on(sh, t, j->src);
}

/* A part of t is back (stopped at a piece, or done): the joints it
 * completes are decided, in queue order, as far as the parts back allow. */
static void joints_advance(struct srv_shard *sh, struct txn *t)
{
    struct srv *s = sh->srv;
    while (t->jnext < t->njoints) {
        struct joint *j = &t->joints[t->jnext];
        if (j->state == JOINT_READING) {
            for (unsigned i = 0; i < s->n; i++)
                if (j->q->pieces[i] && !stopped_at(t, i, j->q->pieces[i]))
                    return;
            joint_decide(sh, t, j);
        } else if (t->home[j->dst]) { /* JOINT_PUTTING: back from its put */
            joint_put_done(sh, t, j);
        }
        if (j->state != JOINT_DONE)
            return;
        t->jnext++;
    }
}

/* A joint's reply where its decision left it to its writes (MSETNX's,
 * once it set its keys): :1, or its first failed piece's error. */
static void joint_reply(struct srv *s, struct msg *q)
{
    if (sw__resp_buf_len(&q->out) > 0)
        return;
    const struct msg *err = first_error(q->pieces, s->n);
    if (err)
        sw__resp_add_raw(&q->out, sw__resp_buf_data(&err->out), sw__resp_buf_len(&err->out));
    else
        sw__resp_add_int(&q->out, 1);
}

/* Every part is locked and prepared (or refused). */
static void all_ready(struct srv_shard *sh, struct txn *t)
{
    struct srv *s = sh->srv;
    if (t->k->merge == MERGE_PAIR) {
        pair_ready(sh, t);
        return;
    }
    int rc = parts_rc(s, t);
    int64_t found = 0;
    for (unsigned i = 0; i < s->n; i++)
        if (t->part[i])
            found += t->part[i]->found;
    if (t->k->merge == MERGE_EXEC) {
        /* Every key locked, the watched ones too: no write to them can
         * come between this look at the token and the commands. */
        bool dirty = rc == SW_OK && multi_tok_dirty(t->wtok);
        if (rc == SW_OK && !dirty) {
            t->phase = 1;
            t->left = t->parts;
            send_parts(sh, t, MSG_APPLY);
            return;
        }
        if (dirty)
            sw__resp_add_null_array(&t->slot->out);
        else
            reply_failure(s, t, rc);
        t->select_db = -1; /* called off: its SELECTs with it */
        send_parts(sh, t, MSG_UNLOCK);
        finish(sh, t);
        return;
    }
    bool ran = runs_at_grant(s, t->k);
    if (!ran && rc == SW_OK && (t->k->merge != MERGE_NX || found == 0)) {
        /* Decided: every part's PART is logged (and synced, with
         * appendfsync always), so the reply may go now; the parts apply
         * their writes and let their keys go. */
        reply(s, t, SW_OK);
        hand_reply(t);
        t->left = t->parts;
        send_parts(sh, t, MSG_APPLY);
        return;
    }
    if (!ran && rc == SW_OK) /* MSETNX, a key exists: nothing written */
        sw__resp_add_int(&t->slot->out, 0);
    else
        reply(s, t, rc);
    send_parts(sh, t, MSG_UNLOCK);
    finish(sh, t);
}

/* Every part has logged its decision and applied its writes: none needs
 * its PART kept for a compaction any more. */
static void all_done(struct srv_shard *sh, struct txn *t)
{
    send_parts(sh, t, MSG_UNLOCK);
    finish(sh, t);
}

/* Every part of an EXEC has run its commands (and logged them: decided),
 * or, later, committed. */
static void exec_done(struct srv_shard *sh, struct txn *t)
{
    if (t->phase == 1) {
        sw__resp_buf *out = &t->slot->out;
        for (struct msg *q = t->queue; q; q = q->qnext)
            if (q->joint)
                joint_reply(sh->srv, q);
            else if (q->pieces)
                merge_pieces(sh->srv, q);
        size_t n = 0;
        for (const struct msg *q = t->queue; q; q = q->qnext)
            n++;
        sw__resp_add_array(out, n);
        for (const struct msg *q = t->queue; q; q = q->qnext)
            sw__resp_add_raw(out, sw__resp_buf_data(&q->out), sw__resp_buf_len(&q->out));
        hand_reply(t);
        if (sh->srv->cfg.dir) { /* every PART logged: decided */
            t->phase = 2;
            t->left = t->parts;
            send_parts(sh, t, MSG_COMMIT);
            return;
        }
        /* Memory-only, each part let go of its locks at its run and has
         * nothing left on its shard: no UNLOCK to send; the coordinator,
         * which made the parts, frees them here. */
        for (unsigned i = 0; i < sh->srv->n; i++)
            if (t->part[i]) {
                msg_free(t->part[i]);
                t->part[i] = NULL;
            }
    }
    all_done(sh, t);
}

/* The shard of t's part m. */
static unsigned part_shard(const struct srv *s, const struct txn *t, const struct msg *m)
{
    unsigned i = 0;
    while (i < s->n - 1 && t->part[i] != m)
        i++;
    return i;
}

void txn_handle(struct srv_shard *sh, struct msg *m)
{
    struct txn *t = m->txn;
    if (delay(sh, m))
        return;
    switch (m->kind) {
    case MSG_LOCK:
        enqueue(sh, m);
        break;
    case MSG_PREPARE:
        pair_prepare(sh, m);
        answer(sh, m, MSG_READY);
        break;
    case MSG_APPLY:                       /* decided: logs so, writes, and lets the keys go */
        if (m->tk->merge == MERGE_EXEC) { /* an EXEC's runs, then waits for its decision */
            run_exec_part(sh, m);
            break;
        }
        if (m->tk->merge == MERGE_PAIR) {
            pair_apply(sh, m);
            unlock(sh, m);
            answer(sh, m, MSG_DONE);
            break;
        }
        kv_tx_decide(sh, m->stx);
        sw__resp_buf_consume(&m->out, sw__resp_buf_len(&m->out)); /* replied already */
        exec_part(sh, m, m->tk->run);
        kv_tx_applied(sh);
        unlock(sh, m);
        answer(sh, m, MSG_DONE);
        break;
    case MSG_COMMIT: /* an EXEC's part: decided */
        kv_tx_decide(sh, m->stx);
        kv_tx_applied(sh);
        unlock(sh, m);
        answer(sh, m, MSG_DONE);
        break;
    case MSG_UNLOCK: /* the end: called off, or every part's decision logged */
        if (m->reserved)
            kv_unit_unreserve(sh);
        if (m->locks)
            unlock(sh, m);
        kv_tx_forget(sh, m->stx);
        msg_free(m);
        break;
    case MSG_READY:
        if (--t->left == 0)
            all_ready(sh, t);
        break;
    case MSG_STEP: /* an EXEC's part, stopped at a joint's piece */
        t->home[part_shard(sh->srv, t, m)] = true;
        joints_advance(sh, t);
        break;
    case MSG_DONE:
        if (t->joints && t->phase == 1) { /* it may be the put a joint waits for */
            t->home[part_shard(sh->srv, t, m)] = true;
            joints_advance(sh, t);
        }
        if (--t->left > 0)
            break;
        if (t->k->merge == MERGE_EXEC)
            exec_done(sh, t);
        else if (t->k->merge == MERGE_PAIR)
            pair_done(sh, t);
        else
            all_done(sh, t);
        break;
    default:
        assert(!"not a transaction's message");
    }
}

/* The hash (from hash where known: struct keyhash's) and the shard of
 * each key of cmd (step arguments per key) in database db, into khash
 * (where not NULL) and owner. False when a key cannot be built (no
 * memory). */
static bool key_owners(struct srv *s, int db, const sw__resp_cmd *cmd, size_t step,
                       const uint64_t *hash, uint64_t *khash, uint32_t *owner)
{
    for (size_t i = 1, j = 0; i < cmd->argc; i += step, j++) {
        uint64_t h = hash ? hash[i] : 0;
        if (!h) {
            struct kkey k;
            if (kkey_build(s, db, &cmd->argv[i], &k) != SW_OK)
                return false;
            kkey_free(&k);
            h = k.hash;
        }
        owner[j] = srv_shard_of(s, h);
        if (khash)
            khash[j] = h;
    }
    return true;
}

/* The arguments of cmd (step per key; each key's shard in owner) for
 * shard sh: the name, then each of sh's keys with its values, in order,
 * into args; where sub_hash is not NULL, each key's hash (khash) beside it
 * there, and 0 beside the name and the values. Returns how many: 1 when
 * sh has none of the keys. */
static size_t shard_args(const sw__resp_cmd *cmd, size_t step, const uint32_t *owner,
                         const uint64_t *khash, unsigned sh, sw__resp_arg *args, uint64_t *sub_hash)
{
    size_t n = 0;
    if (sub_hash)
        sub_hash[n] = 0;
    args[n++] = cmd->argv[0];
    for (size_t j = 0; 1 + j * step < cmd->argc; j++) {
        if (owner[j] != sh)
            continue;
        for (size_t a = 0; a < step; a++) {
            if (sub_hash)
                sub_hash[n] = a == 0 ? khash[j] : 0;
            args[n++] = cmd->argv[1 + j * step + a];
        }
    }
    return n;
}

/* The parts of cmd: one message per shard of its keys, holding the
 * command's name and that shard's keys (with their values), and the keys'
 * hashes (from hash where known). */
static bool split(struct conn *c, const sw__resp_cmd *cmd, const struct cmd_def *d, struct txn *t,
                  const uint64_t *hash)
{
    struct srv *s = c->sh->srv;
    size_t step = t->k->step, max = 1 + t->nkeys * step;
    if (!key_owners(s, c->db, cmd, step, hash, t->hash, t->owner))
        return false;
    sw__resp_arg small[64], *args = small;
    uint64_t small_hash[64], *sub_hash = small_hash;
    if (max > 64) {
        args = malloc(max * sizeof *args);
        sub_hash = malloc(max * sizeof *sub_hash);
    }
    bool ok = args && sub_hash;
    uint64_t txid = 0;
    if (t->k->write && s->cfg.dir)
        txid = atomic_fetch_add_explicit(&s->next_txid, 1, memory_order_relaxed);
    for (unsigned sh = 0; sh < s->n && ok; sh++) {
        size_t n = shard_args(cmd, step, t->owner, t->hash, sh, args, sub_hash);
        if (n == 1)
            continue;
        sw__resp_cmd sub = {.argc = n, .argv = args};
        struct msg *m = msg_new(c, MSG_LOCK, &sub, d, sub_hash);
        if (!(ok = m != NULL))
            break;
        m->txn = t;
        m->tk = t->k;
        m->txid = txid;
        m->partno = t->parts++;
        t->part[sh] = m;
    }
    for (unsigned sh = 0; sh < s->n && ok; sh++)
        if (t->part[sh])
            t->part[sh]->nparts = t->parts;
    if (args != small) {
        free(args);
        free(sub_hash);
    }
    return ok;
}

/* Counts c's transaction in, unless a world operation waits for the
 * transactions to end: then c waits, and this says false. */
static bool admit(struct conn *c, const sw__resp_cmd *cmd)
{
    struct srv *s = c->sh->srv;
    /* seq_cst: see txn_world_may_start. */
    atomic_fetch_add_explicit(&s->txns_live, 1, memory_order_seq_cst);
    if (atomic_load_explicit(&s->world_wanted, memory_order_seq_cst) > 0) {
        atomic_fetch_sub_explicit(&s->txns_live, 1, memory_order_release);
        txn_wait(c, cmd, WAIT_SCHED);
        return false;
    }
    return true;
}

/* Out of memory making t (NULL: not even that): c closes. */
static bool abandon(struct conn *c, struct txn *t)
{
    struct srv *s = c->sh->srv;
    atomic_fetch_sub_explicit(&s->txns_live, 1, memory_order_release);
    for (unsigned i = 0; t && i < s->n; i++)
        if (t->part[i])
            msg_free(t->part[i]);
    for (size_t i = 0; t && i < t->ncmds; i++)
        if (t->slots[i])
            msg_free(t->slots[i]);
    if (t)
        txn_free(t);
    conn_close(c);
    return false;
}

/* t, its parts made, starts: its replies take their place in c's queue,
 * and its parts leave at the end of the turn, with every other message of
 * it, under sched (route_send_replies). */
static bool launch(struct conn *c, struct txn *t)
{
    struct srv_shard *sh = c->sh;
    struct srv *s = sh->srv;
    t->left = t->parts;
    for (size_t i = 0; i < t->ncmds; i++)
        conn_queue_slot(c, t->slots[i]);
    c->away += t->ncmds;
    c->txns += t->ncmds;
    t->cnext = c->txn_list;
    if (t->cnext)
        t->cnext->cprev = t;
    c->txn_list = t;
    atomic_fetch_add_explicit(&s->inflight, 1, memory_order_relaxed);
    for (unsigned i = 0; i < s->n; i++)
        if (t->part[i])
            route_send(sh, i, t->part[i]);
    sh->scheduling = true;
    return true;
}

/* A new transaction of c, of kind k, answering ncmds commands (their
 * reply slots made), with room for nkeys keys' hash and owner; NULL when
 * out of memory, or a t whose slots are not all made (abandon frees it). */
static struct txn *txn_new(struct conn *c, const struct txn_kind *k, size_t nkeys, size_t ncmds)
{
    size_t parts = c->sh->srv->n * sizeof(struct msg *);
    size_t cmds = ncmds > 1 ? ncmds * (sizeof(struct msg *) + sizeof(size_t)) : 0;
    struct txn *t =
        calloc(1, sizeof *t + parts + cmds + nkeys * (sizeof *t->hash + sizeof *t->owner));
    if (!t)
        return NULL;
    t->c = c;
    t->k = k;
    t->ncmds = ncmds;
    t->slots = &t->slot;
    if (ncmds > 1) {
        t->slots = (struct msg **)((char *)t->part + parts);
        t->cmd_keys = (size_t *)(t->slots + ncmds);
    }
    t->room = (char *)t->part + parts + cmds;
    t->hash = t->room;
    t->owner = (uint32_t *)(t->hash + nkeys);
    for (size_t i = 0; i < ncmds; i++)
        if (!(t->slots[i] = msg_new(c, MSG_SLOT, NULL, NULL, NULL)))
            break;
    t->slot = t->slots[0];
    return t;
}

/* Whether every reply slot of t was made. */
static bool slots_made(const struct txn *t)
{
    for (size_t i = 0; i < t->ncmds; i++)
        if (!t->slots[i])
            return false;
    return true;
}

/* A pair's parts: the source's (part 0) and the destination's (part 1),
 * each with its key, in its database, on two shards (the routing says). */
static bool split_pair(struct conn *c, const sw__resp_cmd *cmd, const struct cmd_def *d,
                       struct txn *t)
{
    struct srv *s = c->sh->srv;
    if (!(t->cmd = msg_new(c, MSG_SLOT, cmd, NULL, NULL)))
        return false;
    uint64_t txid = 0;
    if (t->k->write && s->cfg.dir)
        txid = atomic_fetch_add_explicit(&s->next_txid, 1, memory_order_relaxed);
    struct keywalk w;
    const sw__resp_arg *a;
    int db;
    for (keywalk_init(&w, d, cmd->argc, cmd->argv, c->db); keywalk_next(&w, &a, &db);) {
        struct kkey k;
        if (kkey_build(s, db, a, &k) != SW_OK)
            return false;
        unsigned at = (unsigned)(k.sh - s->shards);
        kkey_free(&k);
        if (t->parts == 2 || t->part[at]) /* one shard after all: the routing had no memory */
            return false;
        t->hash[t->nkeys++] = k.hash;
        sw__resp_arg args[2] = {cmd->argv[0], *a};
        struct msg *m = msg_new(c, MSG_LOCK, &(sw__resp_cmd){.argc = 2, .argv = args}, d, NULL);
        if (!m)
            return false;
        m->txn = t;
        m->tk = t->k;
        m->db = db;
        m->txid = txid;
        m->nparts = 2;
        m->partno = t->parts++;
        *(m->partno == 0 ? &t->src : &t->dst) = at;
        t->part[at] = m;
    }
    return t->parts == 2;
}

bool txn_start(struct conn *c, const sw__resp_cmd *cmd, const struct cmd_def *d,
               const struct txn_kind *k, const uint64_t *hash)
{
    if (!admit(c, cmd))
        return false;
    bool pair = k->merge == MERGE_PAIR;
    size_t nkeys = pair ? 2 : (cmd->argc - 1) / k->step;
    struct txn *t = txn_new(c, k, nkeys, 1);
    if (t && !pair)
        t->nkeys = nkeys; /* split_pair counts its own */
    if (!t || !slots_made(t) || !(pair ? split_pair(c, cmd, d, t) : split(c, cmd, d, t, hash)))
        return abandon(c, t);
    route_count(c);
    return launch(c, t);
}

/* ---- gathering --------------------------------------------------------------

   A pipeline of MGETs over shards costs each MGET a part on every shard
   it reads and three messages per part (LOCK, READY, UNLOCK): the
   messages, not the reads, are most of its cost. So consecutive MGETs, or
   consecutive MSETs, of one connection's input run as one transaction of
   all their keys, whose reply is cut back into each command's (MSET's is
   the same for each).

   Atomic and in order: the commands were all sent before the first was
   answered, so running them at one instant is one of the orders a client
   may see; each is still whole, and within the transaction every shard
   runs its keys in the commands' order (an MSET's later value of a key
   wins, as it would one after the other). What comes after them in the
   connection's input is dispatched only once they have started
   (txn_gather_flush first), so it waits for them as for any transaction.
   A gathered run of MSETs is one unit in the logs, as one MSET is. */

#define GATHER_CMDS 64
#define GATHER_ARGS 1024
#define GATHER_BYTES 65536

/* Whether g, made if it was not, has room for cmd beside what it holds. */
static bool gather_room(struct gather *g, const sw__resp_cmd *cmd)
{
    if (!g->argv) {
        g->argv = malloc(GATHER_ARGS * sizeof *g->argv);
        g->hash = malloc(GATHER_ARGS * sizeof *g->hash);
        g->cmd_keys = malloc(GATHER_CMDS * sizeof *g->cmd_keys);
        g->bytes = malloc(GATHER_BYTES);
        if (!g->argv || !g->hash || !g->cmd_keys || !g->bytes) {
            free(g->argv);
            free(g->hash);
            free(g->cmd_keys);
            free(g->bytes);
            *g = (struct gather){0};
            return false;
        }
    }
    size_t bytes = 0;
    for (size_t i = 0; i < cmd->argc; i++)
        bytes += cmd->argv[i].len;
    return g->ncmds < GATHER_CMDS && g->argc + cmd->argc <= GATHER_ARGS &&
           g->nbytes + bytes <= GATHER_BYTES;
}

/* Copies cmd's keys (and values) into g's combined command, after its
 * name when g holds nothing yet. */
static void gather_add(struct gather *g, const sw__resp_cmd *cmd, const uint64_t *hash)
{
    for (size_t i = g->argc ? 1 : 0; i < cmd->argc; i++) {
        const sw__resp_arg *a = &cmd->argv[i];
        memcpy(g->bytes + g->nbytes, a->ptr, a->len);
        g->argv[g->argc] = (sw__resp_arg){.ptr = g->bytes + g->nbytes, .len = a->len};
        g->hash[g->argc++] = hash && i ? hash[i] : 0;
        g->nbytes += a->len;
    }
    g->cmd_keys[g->ncmds++] = (cmd->argc - 1) / g->k->step;
}

bool txn_gather(struct conn *c, const sw__resp_cmd *cmd, const struct cmd_def *d,
                const struct txn_kind *k, const uint64_t *hash)
{
    struct gather *g = &c->sh->gather;
    assert(!g->c || g->c == c);
    bool kind = k->fn == cmd_mget || k->fn == cmd_mset;
    bool room = kind && gather_room(g, cmd);
    if (g->c && !(room && g->k == k && g->db == c->db)) { /* it cannot join: the run starts */
        if (!txn_gather_flush(c->sh))
            return false;
        room = kind && gather_room(g, cmd);
    }
    if (!room)
        return txn_start(c, cmd, d, k, hash);
    if (!g->c) { /* the run's first: admitted as a transaction of its own would be */
        if (!admit(c, cmd))
            return false;
        *g = (struct gather){.c = c,
                             .k = k,
                             .d = d,
                             .db = c->db,
                             .argv = g->argv,
                             .hash = g->hash,
                             .cmd_keys = g->cmd_keys,
                             .bytes = g->bytes};
    }
    gather_add(g, cmd, hash);
    route_count(c);
    return true;
}

bool txn_gather_flush(struct srv_shard *sh)
{
    struct gather *g = &sh->gather;
    struct conn *c = g->c;
    if (!c)
        return true;
    g->c = NULL;
    size_t ncmds = g->ncmds, argc = g->argc;
    g->ncmds = g->argc = g->nbytes = 0; /* what follows reads the arrays only */
    if (c->life != CONN_OPEN) {         /* closed meanwhile: nobody to answer */
        atomic_fetch_sub_explicit(&sh->srv->txns_live, 1, memory_order_release);
        return false;
    }
    size_t nkeys = (argc - 1) / g->k->step;
    struct txn *t = txn_new(c, g->k, nkeys, ncmds);
    if (t) {
        t->nkeys = nkeys;
        if (ncmds > 1)
            memcpy(t->cmd_keys, g->cmd_keys, ncmds * sizeof *t->cmd_keys);
    }
    sw__resp_cmd all = {.argc = argc, .argv = g->argv};
    if (!t || !slots_made(t) || !split(c, &all, g->d, t, g->hash))
        return abandon(c, t);
    return launch(c, t);
}

/* How many keys queued command q names. */
static size_t queued_key_count(const struct msg *q)
{
    size_t n = 0;
    struct keywalk w;
    const sw__resp_arg *a;
    int db;
    for (keywalk_init(&w, q->cmd, q->argc, q->argv, q->db); keywalk_next(&w, &a, &db);)
        n++;
    return n;
}

/* Cuts queued command q, whose keys span shards, into its pieces
 * (q->pieces): one per shard of its keys, with that shard's keys (and
 * their values) under q's name, in q's database; counts them into nsub.
 * False when out of memory. */
static bool cut(struct conn *c, struct msg *q, size_t *nsub)
{
    struct srv *s = c->sh->srv;
    size_t step = txn_kind_of(q->cmd, q->argc)->step, nkeys = (q->argc - 1) / step;
    q->pieces = calloc(1, s->n * sizeof *q->pieces + nkeys * sizeof(uint32_t));
    /* Scratch: a piece's arguments and their hashes, and each key's hash. */
    uint64_t *sub_hash =
        malloc(q->argc * (sizeof *sub_hash + sizeof(sw__resp_arg)) + nkeys * sizeof(uint64_t));
    uint64_t *khash = sub_hash ? sub_hash + q->argc : NULL;
    sw__resp_arg *args = sub_hash ? (sw__resp_arg *)(khash + nkeys) : NULL;
    sw__resp_cmd all = {.argc = q->argc, .argv = q->argv};
    uint32_t *owner = q->pieces ? (uint32_t *)(q->pieces + s->n) : NULL;
    bool ok = q->pieces && sub_hash && key_owners(s, q->db, &all, step, q->hash, khash, owner);
    if (q->pieces)
        q->npieces = s->n;
    for (unsigned i = 0; ok && i < s->n; i++) {
        sw__resp_cmd sub = {.argc = shard_args(&all, step, owner, khash, i, args, sub_hash),
                            .argv = args};
        if (sub.argc == 1)
            continue;
        struct msg *p = msg_new(c, MSG_SLOT, &sub, q->cmd, sub_hash);
        if ((ok = p != NULL)) {
            p->db = q->db;
            q->pieces[i] = p;
            nsub[i]++;
        }
    }
    free(sub_hash);
    return ok;
}

/* Cuts joint q, of kind k, whose keys span shards, into its pieces
 * (q->pieces): MSETNX as cut does MSET; a pair into its source's (piece
 * partno 0) and its destination's (1), each its key under q's name, in its
 * database. Counts them into nsub. False when out of memory. */
static bool cut_joint(struct conn *c, struct msg *q, const struct txn_kind *k, size_t *nsub)
{
    struct srv *s = c->sh->srv;
    if (k->merge == MERGE_NX && !cut(c, q, nsub))
        return false;
    if (k->merge == MERGE_PAIR) {
        if (!(q->pieces = calloc(s->n, sizeof *q->pieces)))
            return false;
        q->npieces = s->n;
        struct keywalk w;
        const sw__resp_arg *a;
        int db;
        unsigned n = 0;
        for (keywalk_init(&w, q->cmd, q->argc, q->argv, q->db); keywalk_next(&w, &a, &db); n++) {
            struct kkey key;
            if (n == 2 || kkey_of(s, q, db, a, &key) != SW_OK)
                return false;
            unsigned at = (unsigned)(key.sh - s->shards);
            kkey_free(&key);
            if (q->pieces[at]) /* one shard after all: the routing had no memory */
                return false;
            sw__resp_arg args[2] = {q->argv[0], *a};
            uint64_t hash[2] = {0, key.hash};
            struct msg *p =
                msg_new(c, MSG_SLOT, &(sw__resp_cmd){.argc = 2, .argv = args}, q->cmd, hash);
            if (!p)
                return false;
            p->db = db;
            p->partno = n;
            q->pieces[at] = p;
            nsub[at]++;
        }
    }
    q->joint = true;
    for (unsigned i = 0; i < s->n; i++)
        if (q->pieces[i]) {
            q->pieces[i]->joint = true;
            q->pieces[i]->tk = k;
        }
    return true;
}

/* Gives each piece of q (cut, or a joint's) to its shard's part of t; a
 * joint is noted in t->joints, with its source's and destination's shards,
 * and on a durable server each of its parts gets room to set its unit
 * aside where it stops (struct msg's unit). False when out of memory. */
static bool place_pieces(struct txn *t, struct msg *q, bool durable)
{
    struct joint *j = q->joint ? &t->joints[t->njoints++] : NULL;
    if (j)
        j->q = q;
    for (unsigned i = 0; i < q->npieces; i++) {
        struct msg *m = t->part[i], *p = q->pieces[i];
        if (!p)
            continue;
        m->subs[m->nsubs++] = p;
        if (!j)
            continue;
        *(p->partno == 0 ? &j->src : &j->dst) = i; /* (MSETNX's: unused) */
        if (durable && !m->unit && !(m->unit = calloc(1, sizeof *m->unit)))
            return false;
    }
    return true;
}

/* An EXEC's parts: one per shard of its commands' keys (the connection's
 * own for commands without keys) and of its watched keys, each with those
 * commands (or their pieces), in queue order, and those watched keys;
 * and its joints, in queue order. */
static bool split_exec(struct conn *c, const struct cmd_def *d, struct txn *t)
{
    struct srv *s = c->sh->srv;
    struct watched *w;
    size_t nw, nkeys = 0, nsub[s->n], nwk[s->n];
    t->queue = multi_take(c, &t->wtok, &w, &nw);
    memset(nsub, 0, sizeof nsub);
    memset(nwk, 0, sizeof nwk);
    bool ok = true;
    for (struct msg *q = t->queue; q && ok; q = q->qnext) {
        if (q->cmd->fn == cmd_select) { /* answered here; the connection's at the reply */
            struct exec x = {.srv = s, .out = &q->out};
            int db;
            if (select_arg(&x, &q->argv[1], &db)) {
                reply_ok(&x);
                t->select_db = db;
                t->db_change = true;
            }
            continue;
        }
        struct srv_shard *at = multi_cmd_shard(c, q);
        const struct txn_kind *k = at ? NULL : txn_kind_of(q->cmd, q->argc);
        if (at)
            nsub[at->index]++;
        else if (!k) /* keys on several shards: multi_lockable says it cuts */
            ok = false;
        else if (joins(k))
            ok = cut_joint(c, q, k, nsub) && ++t->njoints;
        else
            ok = cut(c, q, nsub);
        nkeys += queued_key_count(q);
    }
    if (ok && t->njoints) {
        t->joints = calloc(1, t->njoints * sizeof *t->joints + s->n * sizeof *t->home);
        ok = t->joints != NULL;
        if (ok)
            t->home = (bool *)(t->joints + t->njoints);
        t->njoints = 0; /* counted again as they are met, below */
    }
    for (size_t j = 0; j < nw; j++)
        nwk[w[j].sh->index]++;
    /* Its keys, for the connection's later commands to wait on
     * (txn_conn_touches): its commands' and its watched keys, since a
     * later write of a watched key must not mark the token before the
     * EXEC has looked at it. */
    nkeys += nw;
    t->hash = ok ? malloc((nkeys ? nkeys : 1) * sizeof *t->hash) : NULL;
    size_t n = t->hash ? route_exec_keys(s, t->queue, w, nw, t->hash, nkeys) : nkeys + 1;
    ok = n <= nkeys;
    if (ok)
        t->nkeys = n;
    uint64_t txid =
        s->cfg.dir ? atomic_fetch_add_explicit(&s->next_txid, 1, memory_order_relaxed) : 0;
    for (unsigned i = 0; i < s->n && ok; i++) {
        if (!nsub[i] && !nwk[i])
            continue;
        struct msg *m = msg_new(c, MSG_LOCK, NULL, d, NULL);
        if (m) {
            t->part[i] = m;
            m->subs = malloc((nsub[i] ? nsub[i] : 1) * sizeof *m->subs);
            m->wkeys = malloc((nwk[i] ? nwk[i] : 1) * sizeof *m->wkeys);
        }
        ok = m && m->subs && m->wkeys;
        if (ok) {
            m->txn = t;
            m->tk = &exec_kind;
            m->txid = txid;
            m->partno = t->parts++;
        }
    }
    if (ok) {
        for (struct msg *q = t->queue; q && ok; q = q->qnext) {
            if (q->pieces) {
                ok = place_pieces(t, q, s->cfg.dir);
                continue;
            }
            if (q->cmd->fn == cmd_select) /* answered above */
                continue;
            struct srv_shard *at = multi_cmd_shard(c, q);
            if ((ok = at != NULL)) {
                struct msg *m = t->part[at->index];
                m->subs[m->nsubs++] = q;
            }
        }
        for (size_t j = 0; j < nw; j++) { /* the keys' copies move to the parts */
            struct msg *m = t->part[w[j].sh->index];
            m->wkeys[m->nwkeys++] = w[j];
        }
        for (unsigned i = 0; i < s->n; i++)
            if (t->part[i])
                t->part[i]->nparts = t->parts;
    }
    if (!ok) {
        for (size_t j = 0; j < nw; j++)
            free(w[j].key);
    }
    free(w);
    return ok;
}

bool txn_start_exec(struct conn *c, const sw__resp_cmd *cmd, const struct cmd_def *d)
{
    if (!admit(c, cmd))
        return false;
    struct txn *t = txn_new(c, &exec_kind, 0, 1);
    if (t)
        t->select_db = -1;
    if (!t || !slots_made(t) || !split_exec(c, d, t))
        return abandon(c, t);
    c->db_pending = t->db_change;
    route_count(c);
    return launch(c, t);
}
