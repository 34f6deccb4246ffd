/* Channels with Go's semantics for POSIX threads: unbuffered and buffered,
 * close, non-blocking and timed operations, and select.
 *
 * DESIGN
 *
 * Who touches what. A channel is one allocation: the header below and, after
 * it, the ring of cap elements. Every field of the header is guarded by the
 * channel's lock, except `count`, which is also read without it (relaxed) by
 * sw_chan_len. A blocked operation is described by waiter records that live
 * on the blocked thread's stack: one `struct waiter` per channel it waits on
 * (one for send/recv, one per case for select), all pointing at one `struct
 * op`, the operation's claim word and parker. A waiter's queue links are
 * guarded by the lock of the channel whose queue holds it; its `elem` and
 * `status` are written only by the thread that claimed the op.
 *
 * Invariants (with the lock held):
 *   - count > 0 implies recvq holds no claimable waiter (receivers take from
 *     the buffer first), and count < cap implies sendq holds none;
 *   - a closed channel's queues hold no claimable waiter;
 *   - an op is claimed at most once: `claimed` goes 0 -> 1 by one CAS, by a
 *     peer that completes it or by its own thread when its deadline passes.
 *     Only the winner of that CAS may write the waiter's elem and status, and
 *     a peer that loses it just drops the waiter from its queue. That is what
 *     makes a select run exactly one case even when several channels become
 *     ready at once.
 *
 * Hand-off. A sender that finds a claimable receiver copies its value
 * straight into the receiver's elem, and a receiver that finds a blocked
 * sender copies straight out of it (through the buffer when it is full, so
 * FIFO order holds). The peer then notifies the op's parker; the blocked
 * thread spins on it briefly, then sleeps on its own futex.
 *
 * No deadlock. A thread holds several channel locks only in sw_select, which
 * takes them in address order (a channel named twice is locked once); no
 * other lock is taken under a channel lock. Notifications (the futex wakes)
 * happen after the lock is released.
 *
 * No lost wake-up. A waiter is queued under the lock, after the checks that
 * found nothing to do; a peer that later makes it runnable does so under the
 * same lock, so it sees the waiter. sw_chan_close claims every waiter of both
 * queues under the lock and notifies each. The parker cannot lose a
 * notification (see sync.h). A thread whose deadline passes must win the
 * claim to return SW_ETIMEDOUT; if a peer won it, the peer is completing the
 * op (possibly still copying into our stack), so the thread waits, without a
 * deadline, for that peer's notification before it returns or touches its
 * waiters again.
 */
#include "steward/chan.h"

#include <stdalign.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "../base/sync.h"

struct op {
    _Atomic uint32_t claimed; /* 0 -> 1 once; see DESIGN */
    sw__parker parker;
    struct waiter *fired; /* written by the claimer before it notifies */
};

struct waiter {
    struct waiter *next, *prev; /* queue links: guarded by the channel lock */
    struct op *op;              /* immutable while queued */
    void *elem;                 /* send: the value; recv: where it goes (may be NULL) */
    size_t index;               /* the select case, 0 for send/recv */
    int status;                 /* written by the claimer */
    bool queued;                /* guarded by the channel lock */
};

struct waitq {
    struct waiter *head, *tail;
};

struct sw_chan {
    sw__lock lock;
    bool closed;
    size_t elem_size; /* immutable */
    size_t cap;       /* immutable */
    size_t head;      /* ring index of the oldest element */
    _Atomic size_t count;
    struct waitq recvq, sendq;
    alignas(max_align_t) unsigned char ring[];
};

/* ---- wait queues (channel lock held) ---- */

static void waitq_push(struct waitq *q, struct waiter *w)
{
    w->next = NULL;
    w->prev = q->tail;
    if (q->tail)
        q->tail->next = w;
    else
        q->head = w;
    q->tail = w;
    w->queued = true;
}

static void waitq_remove(struct waitq *q, struct waiter *w)
{
    if (!w->queued)
        return;
    if (w->prev)
        w->prev->next = w->next;
    else
        q->head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        q->tail = w->prev;
    w->queued = false;
}

/* Pops waiters until one whose op this thread manages to claim; waiters of
 * ops already claimed elsewhere (a select that ran another case, or a timed
 * out op) are dropped. */
static struct waiter *waitq_claim(struct waitq *q)
{
    struct waiter *w;
    while ((w = q->head) != NULL) {
        waitq_remove(q, w);
        uint32_t expect = 0;
        /* Acq_rel: the acquire side orders our reads of w->elem after the
         * waiter's thread published it (its queueing was under the lock we
         * hold, so this is belt and braces); release is not needed here, the
         * notify carries our writes. */
        if (atomic_compare_exchange_strong_explicit(&w->op->claimed, &expect, 1,
                                                    memory_order_acq_rel, memory_order_relaxed))
            return w;
    }
    return NULL;
}

/* Finishes a claimed waiter: its status, then the notification, which must be
 * our last touch of its memory. Called after the channel lock is released. */
static void complete(struct waiter *w, int status)
{
    w->status = status;
    w->op->fired = w;
    sw__unpark(&w->op->parker);
}

/* ---- the ring (channel lock held) ---- */

static unsigned char *slot(sw_chan *ch, size_t i)
{
    size_t at = ch->head + i;
    if (at >= ch->cap)
        at -= ch->cap;
    return ch->ring + at * ch->elem_size;
}

static void copy_elem(sw_chan *ch, void *dst, const void *src)
{
    if (dst && ch->elem_size)
        memcpy(dst, src, ch->elem_size);
}

static void zero_elem(sw_chan *ch, void *dst)
{
    if (dst && ch->elem_size)
        memset(dst, 0, ch->elem_size);
}

static size_t count_of(sw_chan *ch)
{
    return atomic_load_explicit(&ch->count, memory_order_relaxed);
}

static void set_count(sw_chan *ch, size_t n)
{
    /* Relaxed: writers hold the lock; the lock-free reader (sw_chan_len)
     * wants only a recent value. */
    atomic_store_explicit(&ch->count, n, memory_order_relaxed);
}

/* ---- one attempt at each operation (channel lock held) ----
 * Each returns SW_OK or SW_ECLOSED when the operation happened, SW_EAGAIN when
 * it would have to wait. *wake is set to a claimed peer to complete with SW_OK
 * once the lock is released. */

static int send_locked(sw_chan *ch, const void *elem, struct waiter **wake)
{
    if (ch->closed)
        return SW_ECLOSED;
    struct waiter *w = waitq_claim(&ch->recvq);
    if (w) {
        copy_elem(ch, w->elem, elem);
        *wake = w;
        return SW_OK;
    }
    size_t n = count_of(ch);
    if (n < ch->cap) {
        copy_elem(ch, slot(ch, n), elem);
        set_count(ch, n + 1);
        return SW_OK;
    }
    return SW_EAGAIN;
}

static int recv_locked(sw_chan *ch, void *elem, struct waiter **wake)
{
    size_t n = count_of(ch);
    if (n > 0) {
        copy_elem(ch, elem, slot(ch, 0));
        ch->head = ch->head + 1 == ch->cap ? 0 : ch->head + 1;
        /* The buffer was full if a sender waits: its value joins the tail. */
        struct waiter *w = waitq_claim(&ch->sendq);
        if (w) {
            copy_elem(ch, slot(ch, n - 1), w->elem);
            *wake = w;
        } else {
            set_count(ch, n - 1);
        }
        return SW_OK;
    }
    struct waiter *w = waitq_claim(&ch->sendq);
    if (w) {
        copy_elem(ch, elem, w->elem);
        *wake = w;
        return SW_OK;
    }
    if (ch->closed) {
        zero_elem(ch, elem);
        return SW_ECLOSED;
    }
    return SW_EAGAIN;
}

static int attempt_locked(sw_chan *ch, enum sw_dir dir, void *elem, struct waiter **wake)
{
    return dir == SW_SEND ? send_locked(ch, elem, wake) : recv_locked(ch, elem, wake);
}

static struct waitq *queue_for(sw_chan *ch, enum sw_dir dir)
{
    return dir == SW_SEND ? &ch->sendq : &ch->recvq;
}

/* ---- blocking ---- */

static void op_init(struct op *op)
{
    atomic_store_explicit(&op->claimed, 0, memory_order_relaxed);
    sw__parker_init(&op->parker);
    op->fired = NULL;
}

/* Waits for the op to be claimed and completed by a peer, or for the deadline.
 * Returns true when a peer completed it (op->fired says which waiter), false
 * when the deadline passed and this thread claimed the op itself. */
static bool op_wait(struct op *op, int64_t deadline_ns)
{
    if (sw__park(&op->parker, deadline_ns) == SW_OK)
        return true;
    uint32_t expect = 0;
    /* Acquire: pairs with nothing we read; the CAS only decides the winner. */
    if (atomic_compare_exchange_strong_explicit(&op->claimed, &expect, 1, memory_order_acquire,
                                                memory_order_relaxed))
        return false;
    /* A peer claimed us first and is completing the op: wait for it. */
    sw__park(&op->parker, -1);
    return true;
}

static int chan_op(sw_chan *ch, enum sw_dir dir, void *elem, int64_t timeout_ns)
{
    if (!ch || (dir == SW_SEND && !elem && ch->elem_size))
        return SW_EINVAL;
    struct waiter *wake = NULL;
    sw__lock_acquire(&ch->lock);
    int rc = attempt_locked(ch, dir, elem, &wake);
    if (rc != SW_EAGAIN || timeout_ns == 0) {
        sw__lock_release(&ch->lock);
        if (wake)
            complete(wake, SW_OK);
        return rc;
    }
    struct op op;
    struct waiter w = {.op = &op, .elem = elem};
    op_init(&op);
    waitq_push(queue_for(ch, dir), &w);
    sw__lock_release(&ch->lock);

    if (op_wait(&op, sw__deadline(timeout_ns)))
        return w.status; /* the claimer already unqueued w */
    sw__lock_acquire(&ch->lock);
    waitq_remove(queue_for(ch, dir), &w);
    sw__lock_release(&ch->lock);
    return SW_ETIMEDOUT;
}

/* ---- the public calls ---- */

sw_chan *sw_chan_new(size_t elem_size, size_t capacity)
{
    size_t ring;
    if (__builtin_mul_overflow(elem_size, capacity, &ring) || ring > SIZE_MAX - sizeof(sw_chan))
        return NULL;
    sw_chan *ch = calloc(1, sizeof(sw_chan) + ring);
    if (!ch)
        return NULL;
    ch->lock = (sw__lock)SW__LOCK_INIT;
    ch->elem_size = elem_size;
    ch->cap = capacity;
    return ch;
}

void sw_chan_free(sw_chan *ch)
{
    free(ch);
}

int sw_chan_send(sw_chan *ch, const void *elem)
{
    return chan_op(ch, SW_SEND, (void *)elem, -1);
}

int sw_chan_recv(sw_chan *ch, void *elem)
{
    return chan_op(ch, SW_RECV, elem, -1);
}

int sw_chan_try_send(sw_chan *ch, const void *elem)
{
    return chan_op(ch, SW_SEND, (void *)elem, 0);
}

int sw_chan_try_recv(sw_chan *ch, void *elem)
{
    return chan_op(ch, SW_RECV, elem, 0);
}

int sw_chan_send_timeout(sw_chan *ch, const void *elem, int64_t timeout_ns)
{
    return chan_op(ch, SW_SEND, (void *)elem, timeout_ns);
}

int sw_chan_recv_timeout(sw_chan *ch, void *elem, int64_t timeout_ns)
{
    return chan_op(ch, SW_RECV, elem, timeout_ns);
}

/* Claims every waiter of q, links the claimed ones into *list (through their
 * free `next` field) with status set. Receivers get a zeroed element. */
static void claim_all(sw_chan *ch, struct waitq *q, int status, struct waiter **list)
{
    struct waiter *w;
    while ((w = waitq_claim(q)) != NULL) {
        if (q == &ch->recvq)
            zero_elem(ch, w->elem);
        w->status = status;
        w->next = *list;
        *list = w;
    }
}

int sw_chan_close(sw_chan *ch)
{
    if (!ch)
        return SW_EINVAL;
    sw__lock_acquire(&ch->lock);
    if (ch->closed) {
        sw__lock_release(&ch->lock);
        return SW_ECLOSED;
    }
    ch->closed = true;
    struct waiter *list = NULL;
    claim_all(ch, &ch->recvq, SW_ECLOSED, &list);
    claim_all(ch, &ch->sendq, SW_ECLOSED, &list);
    sw__lock_release(&ch->lock);
    while (list) {
        struct waiter *next = list->next; /* read before the waiter may vanish */
        complete(list, list->status);
        list = next;
    }
    return SW_OK;
}

size_t sw_chan_len(sw_chan *ch)
{
    return ch ? count_of(ch) : 0;
}

size_t sw_chan_cap(sw_chan *ch)
{
    return ch ? ch->cap : 0;
}

/* ---- select ---- */

#define SELECT_STACK_CASES 64

/* Bookkeeping of one select: the random poll order, the lock order (non-NULL
 * cases sorted by channel address) and one waiter per case. */
struct select_state {
    size_t *poll;
    size_t *lockorder;
    size_t nlock;
    struct waiter *waiters;
};

static void lock_all(sw_case *cases, const struct select_state *s)
{
    sw_chan *prev = NULL;
    for (size_t i = 0; i < s->nlock; i++) {
        sw_chan *ch = cases[s->lockorder[i]].chan;
        if (ch != prev)
            sw__lock_acquire(&ch->lock);
        prev = ch;
    }
}

static void unlock_all(sw_case *cases, const struct select_state *s)
{
    sw_chan *prev = NULL;
    for (size_t i = s->nlock; i-- > 0;) {
        sw_chan *ch = cases[s->lockorder[i]].chan;
        if (ch != prev)
            sw__lock_release(&ch->lock);
        prev = ch;
    }
}

static void select_plan(sw_case *cases, size_t n, struct select_state *s)
{
    /* Fisher-Yates: every order equally likely, so among ready cases each
     * is chosen with equal probability. */
    for (size_t i = 0; i < n; i++) {
        size_t j = sw__rand_below((uint32_t)(i + 1));
        s->poll[i] = s->poll[j];
        s->poll[j] = i;
    }
    /* Insertion sort by address: selects are small. */
    s->nlock = 0;
    for (size_t i = 0; i < n; i++) {
        if (!cases[i].chan)
            continue;
        size_t j = s->nlock++;
        while (j > 0 && (uintptr_t)cases[s->lockorder[j - 1]].chan > (uintptr_t)cases[i].chan) {
            s->lockorder[j] = s->lockorder[j - 1];
            j--;
        }
        s->lockorder[j] = i;
    }
}

static int select_block(sw_case *cases, size_t n, struct select_state *s, int64_t timeout_ns)
{
    struct op op;
    op_init(&op);
    for (size_t i = 0; i < n; i++) {
        struct waiter *w = &s->waiters[i];
        *w = (struct waiter){.op = &op, .elem = cases[i].elem, .index = i};
        if (cases[i].chan)
            waitq_push(queue_for(cases[i].chan, cases[i].dir), w);
    }
    unlock_all(cases, s);

    bool fired = op_wait(&op, sw__deadline(timeout_ns));
    lock_all(cases, s);
    for (size_t i = 0; i < n; i++)
        if (cases[i].chan)
            waitq_remove(queue_for(cases[i].chan, cases[i].dir), &s->waiters[i]);
    unlock_all(cases, s);
    if (!fired)
        return SW_ETIMEDOUT;
    cases[op.fired->index].status = op.fired->status;
    return (int)op.fired->index;
}

static int select_run(sw_case *cases, size_t n, struct select_state *s, int64_t timeout_ns)
{
    select_plan(cases, n, s);
    lock_all(cases, s);
    for (size_t k = 0; k < n; k++) {
        size_t i = s->poll[k];
        if (!cases[i].chan)
            continue;
        struct waiter *wake = NULL;
        int rc = attempt_locked(cases[i].chan, cases[i].dir, cases[i].elem, &wake);
        if (rc == SW_EAGAIN)
            continue;
        unlock_all(cases, s);
        if (wake)
            complete(wake, SW_OK);
        cases[i].status = rc;
        return (int)i;
    }
    if (timeout_ns == 0) {
        unlock_all(cases, s);
        return SW_EAGAIN;
    }
    return select_block(cases, n, s, timeout_ns);
}

int sw_select(sw_case *cases, size_t n, int64_t timeout_ns)
{
    if (n > 0 && !cases)
        return SW_EINVAL;
    if (n > (size_t)INT32_MAX)
        return SW_EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (cases[i].dir != SW_SEND && cases[i].dir != SW_RECV)
            return SW_EINVAL;
        if (cases[i].chan && cases[i].dir == SW_SEND && !cases[i].elem && cases[i].chan->elem_size)
            return SW_EINVAL;
    }
    if (n <= SELECT_STACK_CASES) {
        size_t poll[SELECT_STACK_CASES], lockorder[SELECT_STACK_CASES];
        struct waiter waiters[SELECT_STACK_CASES];
        struct select_state s = {poll, lockorder, 0, waiters};
        return select_run(cases, n, &s, timeout_ns);
    }
    size_t *idx = malloc(2 * n * sizeof(size_t));
    struct waiter *waiters = malloc(n * sizeof(struct waiter));
    int rc = SW_ENOMEM;
    if (idx && waiters) {
        struct select_state s = {idx, idx + n, 0, waiters};
        rc = select_run(cases, n, &s, timeout_ns);
    }
    free(waiters);
    free(idx);
    return rc;
}
