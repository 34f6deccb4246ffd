/* Channels with Go's semantics for POSIX threads: unbuffered and buffered,
 * close, non-blocking and timed operations, and select.
 *
 * DESIGN
 *
 * Two kinds of channel share one blocking machinery, a lock and two wait
 * queues. An unbuffered channel adds a rendezvous slot: one blocked send or
 * receive waits there lock-free, and the peer that meets it takes no lock.
 * A buffered channel adds a lock-free ring: while the buffer is neither
 * empty nor full and nobody is queued, a send or a receive takes no lock
 * and writes no line the other side writes, except the ring slot the
 * element moves through. (With one lock for everything, measured, most of
 * a buffered operation was the lock's line moving between the two sides.)
 *
 * Who touches what. A channel is one allocation: a header of five cache
 * lines (immutable sizes; the lock, `closed` and the queues, guarded by the
 * lock; the rendezvous slot; the send index; the receive index) and the
 * ring. A blocked
 * operation is described by waiter records on the blocked thread's stack:
 * one `struct waiter` per channel it waits on, all pointing at one `struct
 * op`, which holds the claim word, the parker and the result. A plain send
 * or receive packs op, waiter and an element of up to 8 bytes into one
 * cache line, so a peer completing it touches that line only. A waiter's
 * queue links are guarded by the lock of the channel whose queue holds it;
 * the op's result (and a receiver's element) is written only by the thread
 * that claimed the op, under that lock, before it notifies.
 *
 * The ring. Positions are stamps, lap * one_lap + index, with one_lap the
 * smallest power of two above cap: a slot is one mask away, no division.
 * `sendx` and `recvx` hold the next stamp to send to and to receive from,
 * shifted left by two for flags. A slot's `seq` holds a lap base, shifted
 * left by one for the WAIT flag: L (free for stamp L + index), L + 1 (full
 * with it), L + one_lap (received: free for the next lap). A sender claims
 * a stamp by a CAS on sendx when its slot is free, copies the element in and
 * publishes it by exchanging seq; a receiver claims by a CAS on recvx when
 * the slot is full, copies out and frees it the same way. The claim is the
 * operation's linearisation point: the buffer holds ord(sendx) - ord(recvx)
 * elements, which is what sw_chan_len reports. Between claim and publish (or
 * free) a slot is transient, like a held lock. Code that answers "empty" or
 * "full" (the non-blocking calls, select's poll) decides by the indexes and
 * waits a transient slot out, so a try call never fails while the indexes
 * show an element (a free slot); code that blocks just queues.
 *
 * Flags. X_CLOSED (in sendx) makes every later send claim fail: a send
 * racing close either claimed before it, and its element will be drained,
 * or returns SW_ECLOSED. X_WAITERS (in sendx for senders, recvx for
 * receivers) is set while that side's queue is not empty. A lock-free claim
 * expects the flags clear, so while operations are queued on one side, new
 * ones of that side take the lock and queue behind them (a blocked sender's
 * value joins the tail before any later send), and only the lock holder
 * moves that index: it may look at a slot, claim a waiter, then fill or
 * empty the slot with nobody racing it.
 *
 * No lost wake-up (ring). A blocking call that cannot proceed queues its
 * waiter, sets X_WAITERS and pumps, all under the lock: the pump moves
 * elements from the ring to queued receivers and from queued senders into
 * free slots, in FIFO order, while it can; when the head slot is not ready
 * it arms it, by a CAS setting WAIT on the exact seq it looked at. Every
 * change of a seq is an exchange that returns the old value, so whoever next
 * changes an armed slot (a lock-free sender publishing, a lock-free receiver
 * freeing, another pump) sees WAIT and pumps. Arm and exchange are
 * read-modify-writes of one word, so one of them sees the other; if the
 * slot changed first, the CAS fails and the pump looks again. A pump that
 * finds the channel closed and drained completes every queued receiver with
 * SW_ECLOSED; close pumps after setting X_CLOSED. A blocking call queues at
 * once rather than spinning on the slot first: measured, the spinner's reads
 * pull the line from the peer and made every load slower.
 *
 * Claims. An op is claimed at most once: `claimed` goes 0 -> 1 by one CAS,
 * by a peer (always under the lock of the channel it completes the op on)
 * or by its own thread when its deadline passes. Only the winner writes the
 * result; a peer that loses just drops the waiter from its queue. So a
 * select runs exactly one case even when several channels become ready at
 * once. On an unbuffered channel a value goes straight from sender to parked
 * receiver (and from parked sender to receiver); a closed channel's send
 * queue holds no claimable waiter.
 *
 * The rendezvous slot (unbuffered channels). One line holds the slot's
 * two words, `kind` (EMPTY, SETUP, RECV, SEND, CLAIMED) and `flags` (QSEND,
 * QRECV: that side's queue is not empty, or a lock holder is looking at the
 * slot; CLOSED), its waiter's parker, status and element (or a pointer to
 * a large one). A send or receive that finds the peer's kind claims it by
 * one CAS to CLAIMED, moves the value through the slot's line, writes the
 * status and notifies the parker there; the woken waiter empties the slot
 * by a plain store (nobody else moves the kind out of CLAIMED). A blocking
 * call that finds the slot EMPTY and no flag enters it: a CAS EMPTY ->
 * SETUP, then a look at the flags, backing out (store EMPTY) if one is up;
 * it writes its fields, publishes its kind, and parks. After a timeout it
 * takes itself back out by a CAS of its kind to EMPTY; if that fails a peer
 * claimed it, so it waits for that peer's notification. Anything else (a
 * flag up, the slot busy with our side or a claimed waiter, a try call that
 * finds it empty) takes the lock. A meeting so costs the claimer one
 * transfer of the slot's line and the waiter one transfer back, with no
 * lock word, queue or stack line in between, and no read-modify-write by
 * the waiter once woken. Exactness: the slot's waiter entered while no flag
 * was up, so no waiter of either side was queued: it is older than any
 * queued one and goes first (FIFO), and no waiter of the other side can be
 * queued while it waits, which is why a try call that finds a waiter of
 * its own side there may answer SW_EAGAIN. A lock holder (a send or
 * receive on the locked path, a select, close) raises its side's flag
 * (rv_raise), then waits while the kind is SETUP, before it looks at the
 * slot or the queues. Flag then kind against kind then flag, each pair
 * seq_cst (Dekker): either the entering waiter sees the flag and backs
 * out, or the lock holder sees its SETUP and waits for its kind. From then
 * on nobody enters the slot, so what the lock holder sees of slot and
 * queues together stays true while it decides, queues, or claims the
 * slot's waiter (always before the queued ones); sync_flags drops the
 * flags of empty queues before the lock is released. Close raises CLOSED
 * and fails the slot's waiter like the queued ones. A select's waiters
 * always queue; a select's poll claims a slot's waiter like any lock
 * holder. Waiting out SETUP under the lock cannot deadlock: SETUP is a few
 * stores by a thread that holds no lock.
 *
 * select. When every case is on a buffered (or NULL) channel, the cases are
 * first tried lock-free in a uniformly random order and the first found
 * ready runs; only a case ready at its claim runs. If none is ready, or one
 * needs the lock to tell (queued waiters, a transient slot), select locks
 * every channel in address order and polls in a fresh random order, so
 * "nothing ready" is decided atomically; then it queues a waiter on each
 * channel and pumps the buffered ones, which may complete it at once.
 *
 * No deadlock. A thread holds several channel locks only in sw_select, which
 * takes them in address order (a channel named twice is locked once); no
 * other lock is taken under a channel lock. Spinning under a lock only waits
 * for a transient slot, which its owner finishes without any lock.
 * Notifications (the futex wakes) happen after the locks are released.
 *
 * No lost wake-up (slot). A waiter publishes its kind before it parks, a
 * claimer notifies after its claim (under the lock, when it holds one: the
 * woken waiter needs no lock), and the parker keeps a notification that
 * comes before the park. The slot's parker is reused by the next waiter only
 * after the last one saw NOTIFIED, which is the notifier's last touch of it
 * (a futex_wake that follows is at worst spurious for the next waiter).
 *
 * No lost wake-up (blocking). A waiter is queued under the lock, after the
 * checks that found nothing to do; a peer that later makes it runnable does
 * so under the same lock (for the ring, arming brings the peer there).
 * sw_chan_close claims every queued sender and, once drained, every queued
 * receiver. The parker cannot lose a notification (see sync.h). A thread
 * whose deadline passes must win the claim to return SW_ETIMEDOUT; if a peer
 * won it, the peer is completing the op (possibly still copying into our
 * stack), so the thread waits, without a deadline, for that peer's
 * notification before it returns or touches its waiters again.
 *
 * Lifetime. A lock-free sender (receiver) that finds its slot armed takes
 * the lock after its element (free slot) is visible, to wake the queued
 * peer, so it may touch the channel after another thread has already
 * received that element: sw_chan_free must wait until every call on the
 * channel has returned, as chan.h requires.
 */
#define _POSIX_C_SOURCE 200809L /* sched_yield */
#include "steward/chan.h"

#include <sched.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/sync.h"
#include "chan/chan_int.h"

struct op {
    _Atomic uint32_t claimed; /* 0 -> 1 once; see DESIGN */
    sw__parker parker;
    uint32_t fired; /* the index of the waiter that ran: written by the claimer */
    int status;     /* its result: written by the claimer */
};

struct waiter {
    struct waiter *next, *prev; /* queue links: guarded by the channel lock */
    struct op *op;              /* immutable while queued */
    void *elem;                 /* send: the value; recv: where it goes (may be NULL) */
    uint32_t index;             /* the select case, 0 for send/recv */
    bool queued;                /* guarded by the channel lock */
};

/* A blocked send or receive: its op, its waiter and, for an element of up
 * to SMALL bytes, the element itself, in one cache line: the only line of
 * the blocked thread a peer touches. (Copying through the caller's own
 * variable would cost the peer, and then us, one more cache miss.) */
enum { SMALL = 8 };

struct blocked {
    alignas(SW__CACHE_LINE) struct op op;
    struct waiter w;
    alignas(8) unsigned char small[SMALL];
};

_Static_assert(sizeof(struct blocked) == SW__CACHE_LINE, "a blocked op fills one line");

struct waitq {
    struct waiter *head, *tail;
    size_t n; /* queued waiters, for sw__chan_waiting */
};

/* A ring slot: the sequence word, then elem_size bytes of element. */
struct slot {
    _Atomic uint64_t seq;
};

enum {
    X_CLOSED = 1,          /* sendx: the channel is closed */
    X_WAITERS = 2,         /* sendx / recvx: that side's queue is not empty */
    X_SHIFT = 2,           /* an index holds stamp << X_SHIFT | flags */
    SEQ_WAIT = 1,          /* seq: a pump armed the slot; seq holds base << 1 | WAIT */
    SLOW = 1,              /* a lock-free attempt's answer: take the lock */
    TRANSIENT_SPINS = 128, /* how long a blocking call waits out a transient slot */
};

/* The kinds of an unbuffered channel's rendezvous slot (rv.kind). */
enum rv_kind {
    RV_EMPTY = 0,   /* no waiter in the slot: one may enter it */
    RV_SETUP = 1,   /* a waiter is entering (or backing out): transient, no lock held */
    RV_RECV = 2,    /* a receiver waits there: the first sender to claim it serves it */
    RV_SEND = 3,    /* a sender waits there with its value */
    RV_CLAIMED = 4, /* a peer claimed the waiter; the waiter empties the slot once woken */
};

/* The flags of the slot (rv.flags). */
enum {
    RV_QSEND = 1,  /* sendq is not empty, or a lock holder looks at the slot */
    RV_QRECV = 2,  /* recvq is not empty, or a lock holder looks at the slot */
    RV_CLOSED = 4, /* the channel is closed */
};

/* The rendezvous slot: one waiting send or receive of an unbuffered channel
 * parks here, in a cache line of the channel's own, so that the peer that
 * completes it touches this line only. See DESIGN. */
struct rendezvous {
    _Atomic uint32_t kind;  /* enum rv_kind; see DESIGN for who moves it */
    _Atomic uint32_t flags; /* RV_Q*, RV_CLOSED: changed under the lock */
    sw__parker parker;      /* the waiter's: initialised in SETUP, notified by the claimer */
    int status;             /* the waiter's result: written by the claimer */
    void *elem;             /* written in SETUP: `small`, or the waiter's own buffer */
    alignas(8) unsigned char small[SMALL]; /* an element of up to SMALL bytes */
};

/* The largest capacity: keeps stamps far from wrapping (a ring that large
 * could not be allocated anyway). */
#define MAX_CAP ((size_t)1 << 40)

struct sw_chan {
    /* Immutable after sw_chan_new. */
    size_t elem_size;
    size_t cap;
    size_t stride;     /* bytes per ring slot */
    uint64_t one_lap;  /* buffered: the smallest power of two above cap */
    uint64_t lap_mask; /* one_lap - 1 */
    unsigned lap_shift;
    void *mem; /* what sw_chan_free frees */

    /* The blocking machinery: guarded by lock. */
    alignas(SW__CACHE_LINE) sw__lock lock;
    bool closed; /* buffered channels mirror it in X_CLOSED */
    struct waitq recvq, sendq;

    /* Unbuffered only; see DESIGN. */
    alignas(SW__CACHE_LINE) struct rendezvous rv;

    /* Buffered only; see DESIGN. Written by senders (CAS) and pumps. */
    alignas(SW__CACHE_LINE) _Atomic uint64_t sendx;
    /* Written by receivers (CAS) and pumps. */
    alignas(SW__CACHE_LINE) _Atomic uint64_t recvx;
    alignas(SW__CACHE_LINE) unsigned char ring[];
};

static _Atomic uint64_t *index_for(sw_chan *ch, enum sw_dir dir)
{
    return dir == SW_SEND ? &ch->sendx : &ch->recvx;
}

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
    q->n++;
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
    q->n--;
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

static struct waitq *queue_for(sw_chan *ch, enum sw_dir dir)
{
    return dir == SW_SEND ? &ch->sendq : &ch->recvq;
}

static uint32_t rv_qflag(enum sw_dir dir)
{
    return dir == SW_SEND ? RV_QSEND : RV_QRECV;
}

/* Queues a waiter and raises its side's flag: X_WAITERS on a buffered
 * channel, RV_QSEND or RV_QRECV on an unbuffered one (where the lock holder
 * has raised it already, see rv_raise). Relaxed: the flag only has to make
 * later lock-free CASes fail, and a CAS cannot succeed against a value it
 * does not hold; the pump that follows reads the index after this
 * read-modify-write. */
static void enqueue(sw_chan *ch, enum sw_dir dir, struct waiter *w)
{
    waitq_push(queue_for(ch, dir), w);
    if (ch->cap)
        atomic_fetch_or_explicit(index_for(ch, dir), X_WAITERS, memory_order_relaxed);
    else
        atomic_fetch_or_explicit(&ch->rv.flags, rv_qflag(dir), memory_order_relaxed);
}

/* Drops the flag of a side whose queue is empty (lock held): X_WAITERS, or
 * on an unbuffered channel RV_QSEND / RV_QRECV, which a lock holder may also
 * have raised just to look at the slot (rv_raise). Every lock holder of an
 * unbuffered channel calls it before it releases the lock. Relaxed: it
 * only lets later lock-free CASes succeed again; what they then read is
 * ordered by their own acquire. */
static void sync_flags(sw_chan *ch)
{
    if (!ch->cap) {
        uint32_t f = atomic_load_explicit(&ch->rv.flags, memory_order_relaxed);
        if (!ch->sendq.head && (f & RV_QSEND))
            atomic_fetch_and_explicit(&ch->rv.flags, ~(uint32_t)RV_QSEND, memory_order_relaxed);
        if (!ch->recvq.head && (f & RV_QRECV))
            atomic_fetch_and_explicit(&ch->rv.flags, ~(uint32_t)RV_QRECV, memory_order_relaxed);
        return;
    }
    if (!ch->sendq.head && (atomic_load_explicit(&ch->sendx, memory_order_relaxed) & X_WAITERS))
        atomic_fetch_and_explicit(&ch->sendx, ~(uint64_t)X_WAITERS, memory_order_relaxed);
    if (!ch->recvq.head && (atomic_load_explicit(&ch->recvx, memory_order_relaxed) & X_WAITERS))
        atomic_fetch_and_explicit(&ch->recvx, ~(uint64_t)X_WAITERS, memory_order_relaxed);
}

static void dequeue(sw_chan *ch, enum sw_dir dir, struct waiter *w)
{
    waitq_remove(queue_for(ch, dir), w);
    sync_flags(ch);
}

/* Records a claimed waiter's result and links it into *done, through its
 * free `next` field, for finish() to notify once the lock is released. */
static void claimed(struct waiter *w, int status, struct waiter **done)
{
    w->op->status = status;
    w->op->fired = w->index;
    w->next = *done;
    *done = w;
}

/* Notifies every waiter of done except self (our own op, claimed by our own
 * pump: nobody waits for it); returns whether self was among them. The
 * notification must be our last touch of a waiter's memory. */
static bool finish(struct waiter *done, const struct waiter *self)
{
    bool mine = false;
    while (done) {
        struct waiter *next = done->next; /* read before the waiter may vanish */
        if (done == self) {
            mine = true;
        } else {
            sw__unpark(&done->op->parker);
        }
        done = next;
    }
    return mine;
}

static void copy_elem(sw_chan *ch, void *dst, const void *src)
{
    if (!dst)
        return;
    /* The common word-sized elements get an inlined copy, not a call. */
    if (ch->elem_size == sizeof(uint64_t))
        memcpy(dst, src, sizeof(uint64_t));
    else if (ch->elem_size)
        memcpy(dst, src, ch->elem_size);
}

static void zero_elem(sw_chan *ch, void *dst)
{
    if (dst && ch->elem_size)
        memset(dst, 0, ch->elem_size);
}

/* Spin-waits a little longer each time: pause first, then give the CPU away
 * (the thread we wait for may be descheduled on our core). */
static void backoff(unsigned spins)
{
    if (spins < 32)
        sw__cpu_relax();
    else
        sched_yield();
}

/* ---- the ring: stamps and slots ---- */

static struct slot *slot_of(sw_chan *ch, uint64_t stamp)
{
    return (struct slot *)(void *)(ch->ring + (size_t)(stamp & ch->lap_mask) * ch->stride);
}

static unsigned char *slot_data(struct slot *sl)
{
    return (unsigned char *)(sl + 1);
}

static uint64_t lap_base(sw_chan *ch, uint64_t stamp)
{
    return stamp & ~ch->lap_mask;
}

static uint64_t stamp_next(sw_chan *ch, uint64_t stamp)
{
    uint64_t i = stamp & ch->lap_mask;
    return i + 1 < ch->cap ? stamp + 1 : stamp - i + ch->one_lap;
}

/* How many positions precede a stamp: comparable across laps. */
static uint64_t ordinal(sw_chan *ch, uint64_t stamp)
{
    return (stamp >> ch->lap_shift) * ch->cap + (stamp & ch->lap_mask);
}

static uint64_t stamp_of(uint64_t index)
{
    return index >> X_SHIFT;
}

/* Whether a send at stamp s would find the buffer full. Acquire: the load
 * is ordered after our earlier load of sendx, which gave s. */
static bool ring_full(sw_chan *ch, uint64_t s)
{
    uint64_t r = stamp_of(atomic_load_explicit(&ch->recvx, memory_order_acquire));
    return ordinal(ch, s) >= ordinal(ch, r) + ch->cap;
}

static bool ring_empty(sw_chan *ch)
{
    uint64_t r = stamp_of(atomic_load_explicit(&ch->recvx, memory_order_acquire));
    return stamp_of(atomic_load_explicit(&ch->sendx, memory_order_acquire)) == r;
}

/* Whether an operation of our side must wait by the indexes: the buffer is
 * full (for a send) or empty (for a receive). */
static bool ring_settled(sw_chan *ch, enum sw_dir dir)
{
    if (dir == SW_RECV)
        return ring_empty(ch);
    return ring_full(ch, stamp_of(atomic_load_explicit(&ch->sendx, memory_order_relaxed)));
}

/* Changes a slot's seq; true when the old value was armed, so the caller
 * must pump. Release: pairs with the acquire loads of seq in ring_send,
 * ring_recv and the pumps, and publishes the element copied in (or the
 * reads of the element copied out, before the slot is reused). */
static bool slot_store(struct slot *sl, uint64_t seq)
{
    return atomic_exchange_explicit(&sl->seq, seq, memory_order_release) & SEQ_WAIT;
}

/* Arms a slot whose seq we read as `seq`: true when armed (or already), false
 * when it changed meanwhile and must be looked at again. Release on success:
 * pairs with nothing we need, the one who sees WAIT takes the lock next. */
static bool slot_arm(struct slot *sl, uint64_t seq)
{
    if (seq & SEQ_WAIT)
        return true;
    return atomic_compare_exchange_strong_explicit(&sl->seq, &seq, seq | SEQ_WAIT,
                                                   memory_order_release, memory_order_relaxed);
}

/* Asks for a slot's line in exclusive state: we will read its seq, then
 * write the slot, and a plain load would fetch the line shared, the write
 * then costing a second trip to the other core. */
static void prefetch_for_write(const void *p)
{
#if (defined(__x86_64__) || defined(__i386__)) && !defined(NO_PFW)
    __asm__ volatile("prefetchw %0" : : "m"(*(const char *)p));
#else
    (void)p;
#endif
}

/* ---- the ring: lock-free attempts ----
 * Each returns SW_OK (done), SW_ECLOSED, SW_EAGAIN (the buffer was full, or
 * empty, at one instant), or SLOW: waiters are queued on our side, or the slot
 * stayed transient and `settle` is false. *kick is set when the slot we changed
 * was armed: the caller must pump. With `settle` the attempt waits out a
 * transient slot, so its SW_EAGAIN is exact. */

static int ring_send(sw_chan *ch, const void *elem, bool settle, bool *kick)
{
    uint64_t x = atomic_load_explicit(&ch->sendx, memory_order_relaxed);
    for (unsigned spins = 0;; spins++) {
        if (x & X_CLOSED)
            return SW_ECLOSED;
        if (x & X_WAITERS)
            return SLOW;
        uint64_t s = stamp_of(x);
        struct slot *sl = slot_of(ch, s);
        prefetch_for_write(sl);
        /* Acquire: pairs with the release in slot_store by the receiver that
         * freed the slot, so our copy-in follows its copy-out. */
        uint64_t seq = atomic_load_explicit(&sl->seq, memory_order_acquire);
        int64_t d = (int64_t)((seq >> 1) - lap_base(ch, s));
        if (d == 0) {
            /* Relaxed: the CAS only picks the one sender that owns stamp s;
             * the slot's seq carries the data. */
            if (atomic_compare_exchange_weak_explicit(&ch->sendx, &x, stamp_next(ch, s) << X_SHIFT,
                                                      memory_order_relaxed, memory_order_relaxed)) {
                copy_elem(ch, slot_data(sl), elem);
                *kick = slot_store(sl, (lap_base(ch, s) + 1) << 1);
                return SW_OK;
            }
            continue; /* x was reloaded by the CAS */
        }
        if (d < 0) {
            /* The slot still holds the previous lap: full, or a receiver
             * is between its claim and its free. */
            if (ring_full(ch, s))
                return SW_EAGAIN;
            if (!settle && spins >= TRANSIENT_SPINS)
                return SLOW;
            backoff(spins);
        }
        x = atomic_load_explicit(&ch->sendx, memory_order_relaxed);
    }
}

static int ring_recv(sw_chan *ch, void *elem, bool settle, bool *kick)
{
    uint64_t x = atomic_load_explicit(&ch->recvx, memory_order_relaxed);
    for (unsigned spins = 0;; spins++) {
        if (x & X_WAITERS)
            return SLOW;
        uint64_t s = stamp_of(x);
        struct slot *sl = slot_of(ch, s);
        prefetch_for_write(sl);
        /* Acquire: pairs with the release in slot_store by the sender that
         * published the slot, so our copy-out sees its copy-in. */
        uint64_t seq = atomic_load_explicit(&sl->seq, memory_order_acquire);
        int64_t d = (int64_t)((seq >> 1) - (lap_base(ch, s) + 1));
        if (d == 0) {
            /* Relaxed: as in ring_send. */
            if (atomic_compare_exchange_weak_explicit(&ch->recvx, &x, stamp_next(ch, s) << X_SHIFT,
                                                      memory_order_relaxed, memory_order_relaxed)) {
                copy_elem(ch, elem, slot_data(sl));
                *kick = slot_store(sl, (lap_base(ch, s) + ch->one_lap) << 1);
                return SW_OK;
            }
            continue;
        }
        if (d < 0) {
            /* Not filled yet: empty if no sender claimed stamp s, else a
             * sender is between its claim and its publish. Acquire: ordered
             * after our loads of recvx and seq. */
            uint64_t sx = atomic_load_explicit(&ch->sendx, memory_order_acquire);
            if (stamp_of(sx) == s)
                return (sx & X_CLOSED) ? SW_ECLOSED : SW_EAGAIN;
            if (!settle && spins >= TRANSIENT_SPINS)
                return SLOW;
            backoff(spins);
        }
        x = atomic_load_explicit(&ch->recvx, memory_order_relaxed);
    }
}

/* ---- the ring: pumps (channel lock held) ---- */

/* Moves queued senders' values into free slots, in queue order. While
 * sendq is not empty X_WAITERS is set in sendx, so only we move sendx. */
static bool pump_sends(sw_chan *ch, struct waiter **done)
{
    bool moved = false;
    while (ch->sendq.head) {
        uint64_t x = atomic_load_explicit(&ch->sendx, memory_order_relaxed);
        uint64_t s = stamp_of(x);
        struct slot *sl = slot_of(ch, s);
        /* Acquire: as in ring_send. */
        uint64_t seq = atomic_load_explicit(&sl->seq, memory_order_acquire);
        if ((seq >> 1) != lap_base(ch, s)) {
            if (slot_arm(sl, seq))
                break;
            continue;
        }
        struct waiter *w = waitq_claim(&ch->sendq);
        if (!w)
            break;
        copy_elem(ch, slot_data(sl), w->elem);
        atomic_store_explicit(&ch->sendx,
                              stamp_next(ch, s) << X_SHIFT | (x & (X_WAITERS | X_CLOSED)),
                              memory_order_relaxed);
        /* A WAIT here was armed for the receive side: our caller loops. */
        slot_store(sl, (lap_base(ch, s) + 1) << 1);
        claimed(w, SW_OK, done);
        moved = true;
    }
    return moved;
}

/* Moves buffered elements to queued receivers, in queue order, and fails
 * them all with SW_ECLOSED once the channel is closed and drained. While
 * recvq is not empty X_WAITERS is set in recvx, so only we move recvx. */
static bool pump_recvs(sw_chan *ch, struct waiter **done)
{
    bool moved = false;
    while (ch->recvq.head) {
        uint64_t x = atomic_load_explicit(&ch->recvx, memory_order_relaxed);
        uint64_t s = stamp_of(x);
        struct slot *sl = slot_of(ch, s);
        /* Acquire: as in ring_recv. */
        uint64_t seq = atomic_load_explicit(&sl->seq, memory_order_acquire);
        if ((seq >> 1) == lap_base(ch, s) + 1) {
            struct waiter *w = waitq_claim(&ch->recvq);
            if (!w)
                break;
            copy_elem(ch, w->elem, slot_data(sl));
            atomic_store_explicit(&ch->recvx, stamp_next(ch, s) << X_SHIFT | (x & X_WAITERS),
                                  memory_order_relaxed);
            slot_store(sl, (lap_base(ch, s) + ch->one_lap) << 1);
            claimed(w, SW_OK, done);
            moved = true;
            continue;
        }
        /* Acquire: as in ring_recv. */
        uint64_t sx = atomic_load_explicit(&ch->sendx, memory_order_acquire);
        if ((sx & X_CLOSED) && stamp_of(sx) == s) {
            struct waiter *w;
            while ((w = waitq_claim(&ch->recvq)) != NULL) {
                zero_elem(ch, w->elem);
                claimed(w, SW_ECLOSED, done);
            }
            return true;
        }
        if (slot_arm(sl, seq))
            break;
    }
    return moved;
}

static void pump(sw_chan *ch, struct waiter **done)
{
    for (;;) {
        /* Both sides every round: moving receivers can make room for senders
         * and the other way round. */
        bool recvs = pump_recvs(ch, done);
        bool sends = pump_sends(ch, done);
        if (!recvs && !sends)
            break;
    }
    sync_flags(ch);
}

/* Pumps for a lock-free operation that changed an armed slot. */
static void pump_unlocked(sw_chan *ch)
{
    struct waiter *done = NULL;
    sw__lock_acquire(&ch->lock);
    pump(ch, &done);
    sw__lock_release(&ch->lock);
    finish(done, NULL);
}

/* One attempt by a thread with no waiter queued here (channel lock held):
 * queued operations of our side go first. The answer is exact: a transient
 * slot is waited out, which needs no lock from its owner. */
static int ring_attempt_locked(sw_chan *ch, enum sw_dir dir, void *elem, struct waiter **done)
{
    for (unsigned spins = 0;; spins++) {
        pump(ch, done);
        if (dir == SW_SEND && ch->closed)
            return SW_ECLOSED;
        bool kick = false;
        int rc;
        if (queue_for(ch, dir)->head) {
            /* Ours could not all be served: the slot at the head is not
             * ready. Exact when the buffer is full (empty); else transient. */
            if (ring_settled(ch, dir))
                return SW_EAGAIN;
            rc = SLOW;
        } else {
            rc = dir == SW_SEND ? ring_send(ch, elem, true, &kick)
                                : ring_recv(ch, elem, true, &kick);
        }
        if (kick)
            pump(ch, done);
        if (rc == SW_ECLOSED && dir == SW_RECV)
            zero_elem(ch, elem);
        if (rc != SLOW)
            return rc;
        backoff(spins);
    }
}

/* ---- unbuffered: the rendezvous slot ---- */

_Atomic(sw__chan_hook) sw__chan_timeout_hook;

static uint32_t rv_kind_of(enum sw_dir dir)
{
    return dir == SW_SEND ? RV_SEND : RV_RECV;
}

/* Claims the slot's waiter if it is of `kind`, by a CAS to CLAIMED; the
 * caller then completes it with rv_complete. Acquire: pairs with the
 * waiter's release of its kind in rv_wait, so its fields (and a sender's
 * value) are visible. */
static bool rv_claim(sw_chan *ch, uint32_t kind)
{
    uint32_t k = kind;
    return atomic_compare_exchange_strong_explicit(&ch->rv.kind, &k, RV_CLAIMED,
                                                   memory_order_acquire, memory_order_relaxed);
}

/* Completes the slot's waiter, claimed by us, for an operation of ours in
 * direction dir: moves the value, writes the status, notifies. The
 * notification is our last touch of the slot: the waiter empties it once
 * woken, and another may enter it at once. */
static void rv_complete(sw_chan *ch, enum sw_dir dir, void *elem, int status)
{
    struct rendezvous *rv = &ch->rv;
    if (status == SW_OK && dir == SW_SEND)
        copy_elem(ch, rv->elem, elem);
    else if (status == SW_OK)
        copy_elem(ch, elem, rv->elem);
    rv->status = status;
    sw__unpark(&rv->parker);
}

/* Raises flag (lock held, unbuffered), then waits out a waiter in SETUP:
 * from then until sync_flags drops the flag, no waiter can enter the slot,
 * so what the lock holder sees of the slot and the queues together stays
 * true. Seq_cst, with the load of the kind after it: the other half of the
 * entering waiter's CAS to SETUP and load of the flags (rv_enter). Either
 * that waiter sees our flag and backs out, or we see its SETUP and wait
 * until it has published. A SETUP seen later is a waiter backing out.
 * SETUP is a few stores by a thread that holds no lock, so waiting it out
 * under the lock cannot deadlock. */
static void rv_raise(sw_chan *ch, uint32_t flag)
{
    atomic_fetch_or_explicit(&ch->rv.flags, flag, memory_order_seq_cst);
    for (unsigned spins = 0; atomic_load_explicit(&ch->rv.kind, memory_order_seq_cst) == RV_SETUP;
         spins++)
        backoff(spins);
}

/* Takes the waiter of kind `mine` back out of the slot after a timeout;
 * false when a peer claimed it first. Release: our writes of the slot's
 * fields come before the next waiter's (its SETUP CAS acquires). */
static bool rv_retract(sw_chan *ch, uint32_t mine)
{
    uint32_t k = mine;
    return atomic_compare_exchange_strong_explicit(&ch->rv.kind, &k, RV_EMPTY, memory_order_release,
                                                   memory_order_relaxed);
}

/* Waits in the slot, which we hold in SETUP: writes our fields, publishes
 * our kind, parks until a peer (or close) completes us or the deadline
 * passes, then empties the slot. */
static int rv_wait(sw_chan *ch, enum sw_dir dir, void *elem, int64_t timeout_ns)
{
    struct rendezvous *rv = &ch->rv;
    sw__parker_init(&rv->parker);
    rv->elem = elem;
    if (elem && ch->elem_size <= SMALL) {
        rv->elem = rv->small;
        if (dir == SW_SEND)
            copy_elem(ch, rv->small, elem);
    }
    /* Release: pairs with the acquire of rv_claim. */
    atomic_store_explicit(&rv->kind, rv_kind_of(dir), memory_order_release);
    if (sw__park(&rv->parker, sw__deadline(timeout_ns)) != SW_OK) {
        /* Relaxed: a test sets it before its timed calls. */
        sw__chan_hook hook = atomic_load_explicit(&sw__chan_timeout_hook, memory_order_relaxed);
        if (hook)
            hook(ch);
        if (rv_retract(ch, rv_kind_of(dir)))
            return SW_ETIMEDOUT;
        /* A peer claimed us first and is completing us: wait for it. */
        sw__park(&rv->parker, -1);
    }
    int rc = rv->status;
    if (dir == SW_RECV && rc == SW_OK && rv->elem != elem)
        copy_elem(ch, elem, rv->small);
    else if (dir == SW_RECV && rc != SW_OK)
        zero_elem(ch, elem);
    /* CLAIMED -> EMPTY. A plain store, not a read-modify-write: nobody else
     * moves the kind out of CLAIMED, and a store does not hold us up until
     * the line is ours (our next call may be a send on another channel, and
     * that line's transfer overlaps this one's). Release: our reads of the
     * slot come before the next waiter's writes (its SETUP CAS acquires). */
    atomic_store_explicit(&rv->kind, RV_EMPTY, memory_order_release);
    return rc;
}

/* Enters the empty slot: CAS EMPTY -> SETUP, then a look at the flags,
 * backing out (SETUP -> EMPTY) if one is up. True when we hold the slot in
 * SETUP. Seq_cst: the CAS and the load pair with rv_raise's read-modify-
 * write of the flags and its load of the kind (a store-load fence on each
 * side, as in Dekker's protocol); the CAS also acquires the last waiter's
 * release of the slot. */
static bool rv_enter(sw_chan *ch)
{
    uint32_t k = RV_EMPTY;
    if (!atomic_compare_exchange_strong_explicit(&ch->rv.kind, &k, RV_SETUP, memory_order_seq_cst,
                                                 memory_order_relaxed))
        return false;
    if (atomic_load_explicit(&ch->rv.flags, memory_order_seq_cst) == 0)
        return true;
    atomic_store_explicit(&ch->rv.kind, RV_EMPTY, memory_order_release);
    return false;
}

/* The lock-free attempt of an unbuffered operation: claims a waiting peer in
 * the slot, or (blocking calls) waits in the slot itself. Returns the
 * result, or SLOW when the lock must decide: a flag is up (waiters queued,
 * a lock holder looking, closed), the slot holds a waiter of our side or
 * one being completed (we must queue behind it), or a try call found the
 * slot empty. A try call's SW_EAGAIN comes only from a waiter of our own
 * side in the slot: none of the other side waits anywhere while it does. */
static int rv_op(sw_chan *ch, enum sw_dir dir, void *elem, int64_t timeout_ns)
{
    struct rendezvous *rv = &ch->rv;
    const uint32_t mine = rv_kind_of(dir);
    const uint32_t peer = rv_kind_of(dir == SW_SEND ? SW_RECV : SW_SEND);
    prefetch_for_write(rv);
    for (unsigned spins = 0;; spins++) {
        uint32_t k = atomic_load_explicit(&rv->kind, memory_order_relaxed);
        if (k == peer) {
            if (rv_claim(ch, peer)) {
                rv_complete(ch, dir, elem, SW_OK);
                return SW_OK;
            }
            continue;
        }
        if (k == RV_SETUP) {
            backoff(spins);
            continue;
        }
        if (timeout_ns == 0)
            return k == mine ? SW_EAGAIN : SLOW;
        /* Relaxed: a hint; rv_enter looks again after its CAS. */
        if (k != RV_EMPTY || atomic_load_explicit(&rv->flags, memory_order_relaxed) != 0)
            return SLOW;
        if (rv_enter(ch))
            return rv_wait(ch, dir, elem, timeout_ns);
        if (atomic_load_explicit(&rv->flags, memory_order_relaxed) != 0)
            return SLOW;
    }
}

/* ---- unbuffered: one attempt at each operation (channel lock held) ----
 * The caller has raised a flag (rv_raise), so the slot's waiter, if any,
 * came before every queued one of its side: it goes first. */

static int unbuf_send_locked(sw_chan *ch, const void *elem, struct waiter **done)
{
    if (ch->closed)
        return SW_ECLOSED;
    if (rv_claim(ch, RV_RECV)) {
        rv_complete(ch, SW_SEND, (void *)elem, SW_OK);
        return SW_OK;
    }
    struct waiter *w = waitq_claim(&ch->recvq);
    if (!w)
        return SW_EAGAIN;
    copy_elem(ch, w->elem, elem);
    claimed(w, SW_OK, done);
    return SW_OK;
}

static int unbuf_recv_locked(sw_chan *ch, void *elem, struct waiter **done)
{
    if (rv_claim(ch, RV_SEND)) {
        rv_complete(ch, SW_RECV, elem, SW_OK);
        return SW_OK;
    }
    struct waiter *w = waitq_claim(&ch->sendq);
    if (w) {
        copy_elem(ch, elem, w->elem);
        claimed(w, SW_OK, done);
        return SW_OK;
    }
    if (ch->closed) {
        zero_elem(ch, elem);
        return SW_ECLOSED;
    }
    return SW_EAGAIN;
}

/* One attempt at an operation for a thread with no waiter queued on ch. */
static int attempt_locked(sw_chan *ch, enum sw_dir dir, void *elem, struct waiter **done)
{
    if (ch->cap)
        return ring_attempt_locked(ch, dir, elem, done);
    return dir == SW_SEND ? unbuf_send_locked(ch, elem, done) : unbuf_recv_locked(ch, elem, done);
}

/* ---- blocking ---- */

static void op_init(struct op *op)
{
    atomic_store_explicit(&op->claimed, 0, memory_order_relaxed);
    sw__parker_init(&op->parker);
    op->fired = 0;
    op->status = SW_OK;
}

/* A sender's small value is copied in; a receiver's lands in `small` and
 * blocked_result copies it out. */
static void blocked_init(struct blocked *b, sw_chan *ch, enum sw_dir dir, void *elem)
{
    op_init(&b->op);
    b->w = (struct waiter){.op = &b->op, .elem = elem};
    if (elem && ch->elem_size <= SMALL) {
        if (dir == SW_SEND)
            copy_elem(ch, b->small, elem);
        b->w.elem = b->small;
    }
}

/* The status of a blocked op a peer (or our own pump) completed. */
static int blocked_result(struct blocked *b, sw_chan *ch, enum sw_dir dir, void *elem)
{
    if (dir == SW_RECV && b->w.elem != elem)
        copy_elem(ch, elem, b->small);
    return b->op.status;
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

/* Waits for a queued send or receive; the lock is not held. */
static int await(sw_chan *ch, enum sw_dir dir, struct blocked *b, void *elem, int64_t timeout_ns)
{
    if (op_wait(&b->op, sw__deadline(timeout_ns)))
        return blocked_result(b, ch, dir, elem); /* the claimer already unqueued it */
    sw__lock_acquire(&ch->lock);
    dequeue(ch, dir, &b->w);
    sw__lock_release(&ch->lock);
    return SW_ETIMEDOUT;
}

/* An unbuffered send or receive: the slot when it can, else the lock, the
 * queues, and a waiter on our stack. */
static int unbuf_op(sw_chan *ch, enum sw_dir dir, void *elem, int64_t timeout_ns)
{
    int rc = rv_op(ch, dir, elem, timeout_ns);
    if (rc != SLOW)
        return rc;
    struct waiter *done = NULL;
    sw__lock_acquire(&ch->lock);
    rv_raise(ch, rv_qflag(dir));
    rc = attempt_locked(ch, dir, elem, &done);
    if (rc != SW_EAGAIN || timeout_ns == 0) {
        sync_flags(ch);
        sw__lock_release(&ch->lock);
        finish(done, NULL);
        return rc;
    }
    struct blocked b;
    blocked_init(&b, ch, dir, elem);
    enqueue(ch, dir, &b.w);
    sw__lock_release(&ch->lock);
    return await(ch, dir, &b, elem, timeout_ns);
}

/* The locked path of a buffered send or receive: queue, pump (which may
 * serve us at once), and for a call that must not wait, wait out transient
 * slots so that SW_EAGAIN is exact, then leave the queue. */
static int ring_slow(sw_chan *ch, enum sw_dir dir, void *elem, int64_t timeout_ns)
{
    struct blocked b;
    blocked_init(&b, ch, dir, elem);
    struct waiter *done = NULL;
    sw__lock_acquire(&ch->lock);
    if (dir == SW_SEND && ch->closed) {
        sw__lock_release(&ch->lock);
        return SW_ECLOSED;
    }
    enqueue(ch, dir, &b.w);
    pump(ch, &done);
    if (timeout_ns == 0) {
        for (unsigned spins = 0; b.w.queued; spins++) {
            if (ring_settled(ch, dir)) {
                dequeue(ch, dir, &b.w);
                sw__lock_release(&ch->lock);
                finish(done, NULL);
                return SW_EAGAIN;
            }
            backoff(spins);
            pump(ch, &done);
        }
    }
    sw__lock_release(&ch->lock);
    if (finish(done, &b.w))
        return blocked_result(&b, ch, dir, elem);
    return await(ch, dir, &b, elem, timeout_ns);
}

static int chan_op(sw_chan *ch, enum sw_dir dir, void *elem, int64_t timeout_ns)
{
    if (!ch || (dir == SW_SEND && !elem && ch->elem_size))
        return SW_EINVAL;
    if (!ch->cap)
        return unbuf_op(ch, dir, elem, timeout_ns);
    bool kick = false;
    bool settle = timeout_ns == 0;
    int rc =
        dir == SW_SEND ? ring_send(ch, elem, settle, &kick) : ring_recv(ch, elem, settle, &kick);
    if (kick)
        pump_unlocked(ch);
    if (rc == SW_OK || rc == SW_ECLOSED || (rc == SW_EAGAIN && settle)) {
        if (rc == SW_ECLOSED && dir == SW_RECV)
            zero_elem(ch, elem);
        return rc;
    }
    return ring_slow(ch, dir, elem, timeout_ns);
}

/* ---- the public calls ---- */

sw_chan *sw_chan_new(size_t elem_size, size_t capacity)
{
    size_t stride = 0, ring = 0, size;
    if (capacity > MAX_CAP)
        return NULL;
    if (capacity > 0) {
        if (__builtin_add_overflow(elem_size, sizeof(struct slot) + 7, &stride))
            return NULL;
        stride &= ~(size_t)7; /* keeps every seq word aligned */
        if (__builtin_mul_overflow(stride, capacity, &ring))
            return NULL;
    }
    if (__builtin_add_overflow(sizeof(sw_chan) + SW__CACHE_LINE, ring, &size))
        return NULL;
    /* calloc leaves a large ring to the kernel's zero pages: lap 0's seq
     * values are all 0 (free), so nothing needs writing. */
    void *mem = calloc(1, size);
    if (!mem)
        return NULL;
    uintptr_t at = ((uintptr_t)mem + SW__CACHE_LINE - 1) & ~(uintptr_t)(SW__CACHE_LINE - 1);
    sw_chan *ch = (sw_chan *)at;
    ch->mem = mem;
    ch->lock = (sw__lock)SW__LOCK_INIT;
    ch->elem_size = elem_size;
    ch->cap = capacity;
    ch->stride = stride;
    ch->one_lap = 1;
    while (ch->one_lap <= capacity) {
        ch->one_lap <<= 1;
        ch->lap_shift++;
    }
    ch->lap_mask = ch->one_lap - 1;
    return ch;
}

void sw_chan_free(sw_chan *ch)
{
    if (ch)
        free(ch->mem);
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

/* Claims every waiter of q with a status; receivers get a zeroed element. */
static void claim_all(sw_chan *ch, struct waitq *q, int status, struct waiter **done)
{
    struct waiter *w;
    while ((w = waitq_claim(q)) != NULL) {
        if (q == &ch->recvq)
            zero_elem(ch, w->elem);
        claimed(w, status, done);
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
    struct waiter *done = NULL;
    claim_all(ch, &ch->sendq, SW_ECLOSED, &done);
    if (ch->cap) {
        /* Relaxed: a read-modify-write, so a lock-free sender's CAS either
         * precedes it (its element will be drained) or fails on X_CLOSED. */
        atomic_fetch_or_explicit(&ch->sendx, X_CLOSED, memory_order_relaxed);
        pump(ch, &done); /* receivers get what is left, then SW_ECLOSED */
    } else {
        /* From RV_CLOSED on, nobody enters the slot; its waiter, if any,
         * came first and is failed like the queued ones. */
        rv_raise(ch, RV_CLOSED);
        if (rv_claim(ch, RV_SEND) || rv_claim(ch, RV_RECV))
            rv_complete(ch, SW_SEND, NULL, SW_ECLOSED);
        claim_all(ch, &ch->recvq, SW_ECLOSED, &done);
        sync_flags(ch);
    }
    sw__lock_release(&ch->lock);
    finish(done, NULL);
    return SW_OK;
}

size_t sw_chan_len(sw_chan *ch)
{
    if (!ch || !ch->cap)
        return 0;
    /* Relaxed: a snapshot. recvx first, so the difference is rarely
     * negative; it is clamped to [0, cap] either way. */
    uint64_t r = ordinal(ch, stamp_of(atomic_load_explicit(&ch->recvx, memory_order_relaxed)));
    uint64_t s = ordinal(ch, stamp_of(atomic_load_explicit(&ch->sendx, memory_order_relaxed)));
    if (s <= r)
        return 0;
    return s - r < ch->cap ? (size_t)(s - r) : ch->cap;
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

/* Locks the channels in address order; on each unbuffered one raises the
 * flag of each case's side, so that the slot stays as the poll sees it. */
static void lock_all(sw_case *cases, const struct select_state *s)
{
    sw_chan *prev = NULL;
    for (size_t i = 0; i < s->nlock; i++) {
        sw_case *c = &cases[s->lockorder[i]];
        if (c->chan != prev)
            sw__lock_acquire(&c->chan->lock);
        if (!c->chan->cap)
            rv_raise(c->chan, rv_qflag(c->dir));
        prev = c->chan;
    }
}

static void unlock_all(sw_case *cases, const struct select_state *s)
{
    sw_chan *prev = NULL;
    for (size_t i = s->nlock; i-- > 0;) {
        sw_chan *ch = cases[s->lockorder[i]].chan;
        if (ch != prev) {
            sync_flags(ch);
            sw__lock_release(&ch->lock);
        }
        prev = ch;
    }
}

/* Fisher-Yates: every order equally likely, so among ready cases each is
 * chosen with equal probability. */
static void shuffle(size_t *poll, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t j = i ? sw__rand_below((uint32_t)(i + 1)) : 0;
        poll[i] = poll[j];
        poll[j] = i;
    }
}

static void select_plan(sw_case *cases, size_t n, struct select_state *s)
{
    shuffle(s->poll, n);
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

/* A select whose channels are all buffered (or NULL) first tries its cases
 * lock-free, in a random order, and runs the first one ready. Returns its
 * index, or -1 for the locked path: nothing was ready, or a case needs the
 * lock to tell (waiters queued, a transient slot). */
static int select_fast(sw_case *cases, size_t n, size_t *poll)
{
    for (size_t i = 0; i < n; i++)
        if (cases[i].chan && !cases[i].chan->cap)
            return -1;
    shuffle(poll, n);
    for (size_t k = 0; k < n; k++) {
        sw_case *c = &cases[poll[k]];
        if (!c->chan)
            continue;
        bool kick = false;
        int rc = c->dir == SW_SEND ? ring_send(c->chan, c->elem, false, &kick)
                                   : ring_recv(c->chan, c->elem, false, &kick);
        if (kick)
            pump_unlocked(c->chan);
        if (rc == SW_EAGAIN)
            continue;
        if (rc == SLOW)
            return -1;
        if (rc == SW_ECLOSED && c->dir == SW_RECV)
            zero_elem(c->chan, c->elem);
        c->status = rc;
        return (int)poll[k];
    }
    return -1;
}

static int select_block(sw_case *cases, size_t n, struct select_state *s, struct waiter *done,
                        int64_t timeout_ns)
{
    struct op op;
    op_init(&op);
    for (size_t i = 0; i < n; i++) {
        struct waiter *w = &s->waiters[i];
        *w = (struct waiter){.op = &op, .elem = cases[i].elem, .index = (uint32_t)i};
        if (cases[i].chan)
            enqueue(cases[i].chan, cases[i].dir, w);
    }
    /* A lock-free operation may have changed a ring since our poll: pump
     * each buffered channel once, which may complete our own op at once. */
    sw_chan *prev = NULL;
    for (size_t i = 0; i < s->nlock; i++) {
        sw_chan *ch = cases[s->lockorder[i]].chan;
        if (ch != prev && ch->cap)
            pump(ch, &done);
        prev = ch;
    }
    unlock_all(cases, s);
    finish(done, NULL);

    bool fired = op_wait(&op, sw__deadline(timeout_ns));
    lock_all(cases, s);
    for (size_t i = 0; i < n; i++)
        if (cases[i].chan)
            dequeue(cases[i].chan, cases[i].dir, &s->waiters[i]);
    unlock_all(cases, s);
    if (!fired)
        return SW_ETIMEDOUT;
    cases[op.fired].status = op.status;
    return (int)op.fired;
}

static int select_run(sw_case *cases, size_t n, struct select_state *s, int64_t timeout_ns)
{
    int fast = select_fast(cases, n, s->poll);
    if (fast >= 0)
        return fast;
    select_plan(cases, n, s);
    lock_all(cases, s);
    /* Peers our pumps serve on the way are notified once we unlock. */
    struct waiter *done = NULL;
    for (size_t k = 0; k < n; k++) {
        size_t i = s->poll[k];
        if (!cases[i].chan)
            continue;
        int rc = attempt_locked(cases[i].chan, cases[i].dir, cases[i].elem, &done);
        if (rc == SW_EAGAIN)
            continue;
        unlock_all(cases, s);
        finish(done, NULL);
        cases[i].status = rc;
        return (int)i;
    }
    if (timeout_ns == 0) {
        unlock_all(cases, s);
        finish(done, NULL);
        return SW_EAGAIN;
    }
    return select_block(cases, n, s, done, timeout_ns);
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

size_t sw__chan_waiting(sw_chan *ch, enum sw_dir dir)
{
    size_t n = 0;
    sw__lock_acquire(&ch->lock);
    /* Acquire: a waiter counted here has published its fields. */
    if (!ch->cap && atomic_load_explicit(&ch->rv.kind, memory_order_acquire) == rv_kind_of(dir))
        n++;
    n += queue_for(ch, dir)->n;
    sw__lock_release(&ch->lock);
    return n;
}

int sw__chan_slot(sw_chan *ch)
{
    if (ch->cap)
        return -1;
    /* Acquire: as in sw__chan_waiting. */
    uint32_t kind = atomic_load_explicit(&ch->rv.kind, memory_order_acquire);
    if (kind == RV_SEND)
        return SW_SEND;
    return kind == RV_RECV ? SW_RECV : -1;
}
