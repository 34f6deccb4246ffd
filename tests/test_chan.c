/* Unit tests of chan.h: every behaviour and every status the header lists. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "chan/chan_int.h"
#include "steward/chan.h"
#include "support.h"

#define MS 1000000LL

/* Waits until at least n operations are queued on ch's dir side, that is,
 * until they have taken the blocking path: a test then takes the path it
 * names whatever the scheduler does, with no sleep that hopes so. */
static void wait_queued(sw_chan *ch, enum sw_dir dir, size_t n)
{
    while (sw__chan_waiting(ch, dir) < n)
        sleep_us(100);
}

/* A helper thread that runs one channel call, at once or once a peer is
 * blocked on the channel. */
struct call {
    pthread_t thread;
    sw_chan *ch;
    enum after { NOW, AFTER_RECV, AFTER_SEND } after; /* a receive (send) blocked on ch */
    enum { DO_SEND, DO_RECV, DO_CLOSE } what;
    int64_t value;
    int rc;
};

static void *call_main(void *arg)
{
    struct call *c = arg;
    if (c->after != NOW)
        wait_queued(c->ch, c->after == AFTER_RECV ? SW_RECV : SW_SEND, 1);
    if (c->what == DO_SEND)
        c->rc = sw_chan_send(c->ch, &c->value);
    else if (c->what == DO_RECV)
        c->rc = sw_chan_recv(c->ch, &c->value);
    else
        c->rc = sw_chan_close(c->ch);
    return NULL;
}

static void call_start(struct call *c, sw_chan *ch, int what, int64_t value, enum after after)
{
    *c = (struct call){.ch = ch, .what = what, .value = value, .after = after};
    assert_int_equal(pthread_create(&c->thread, NULL, call_main, c), 0);
}

static void call_join(struct call *c)
{
    assert_int_equal(pthread_join(c->thread, NULL), 0);
}

static void test_new_and_sizes(void **state)
{
    (void)state;
    sw_chan *ch = sw_chan_new(sizeof(int64_t), 4);
    assert_non_null(ch);
    assert_int_equal(sw_chan_cap(ch), 4);
    assert_int_equal(sw_chan_len(ch), 0);
    sw_chan_free(ch);
    assert_null(sw_chan_new(SIZE_MAX / 2, 4)); /* elem_size * capacity overflows */
    assert_null(sw_chan_new(1, SIZE_MAX));
    sw_chan_free(NULL);
    assert_int_equal(sw_chan_len(NULL), 0);
    assert_int_equal(sw_chan_cap(NULL), 0);
}

static void test_null_channel(void **state)
{
    (void)state;
    int64_t v = 1;
    assert_int_equal(sw_chan_send(NULL, &v), SW_EINVAL);
    assert_int_equal(sw_chan_recv(NULL, &v), SW_EINVAL);
    assert_int_equal(sw_chan_try_send(NULL, &v), SW_EINVAL);
    assert_int_equal(sw_chan_try_recv(NULL, &v), SW_EINVAL);
    assert_int_equal(sw_chan_send_timeout(NULL, &v, MS), SW_EINVAL);
    assert_int_equal(sw_chan_recv_timeout(NULL, &v, MS), SW_EINVAL);
    assert_int_equal(sw_chan_close(NULL), SW_EINVAL);
    sw_chan *ch = sw_chan_new(sizeof v, 1);
    assert_non_null(ch);
    assert_int_equal(sw_chan_send(ch, NULL), SW_EINVAL); /* no value to send */
    sw_chan_free(ch);
}

static void test_buffered_fifo(void **state)
{
    (void)state;
    sw_chan *ch = sw_chan_new(sizeof(int64_t), 3);
    assert_non_null(ch);
    /* Go round the ring several times so that wrap-around is covered. */
    for (int64_t round = 0; round < 5; round++) {
        for (int64_t i = 0; i < 3; i++)
            assert_int_equal(sw_chan_send(ch, &(int64_t){round * 10 + i}), SW_OK);
        assert_int_equal(sw_chan_len(ch), 3);
        assert_int_equal(sw_chan_try_send(ch, &(int64_t){99}), SW_EAGAIN);
        int64_t v = 0;
        assert_int_equal(sw_chan_recv(ch, &v), SW_OK);
        assert_int_equal(v, round * 10);
        assert_int_equal(sw_chan_try_send(ch, &(int64_t){round * 10 + 3}), SW_OK);
        for (int64_t i = 1; i <= 3; i++) {
            assert_int_equal(sw_chan_try_recv(ch, &v), SW_OK);
            assert_int_equal(v, round * 10 + i);
        }
        assert_int_equal(sw_chan_try_recv(ch, &v), SW_EAGAIN);
    }
    sw_chan_free(ch);
}

static void test_unbuffered_rendezvous(void **state)
{
    (void)state;
    sw_chan *ch = sw_chan_new(sizeof(int64_t), 0);
    assert_non_null(ch);
    int64_t v = 7;
    /* No receiver: an unbuffered send cannot complete now. */
    assert_int_equal(sw_chan_try_send(ch, &v), SW_EAGAIN);
    assert_int_equal(sw_chan_try_recv(ch, &v), SW_EAGAIN);

    struct call c;
    call_start(&c, ch, DO_RECV, 0, NOW);
    assert_int_equal(sw_chan_send(ch, &(int64_t){42}), SW_OK);
    call_join(&c);
    assert_int_equal(c.rc, SW_OK);
    assert_int_equal(c.value, 42);

    call_start(&c, ch, DO_SEND, 43, AFTER_RECV);
    assert_int_equal(sw_chan_recv(ch, &v), SW_OK); /* blocks until the sender comes */
    assert_int_equal(v, 43);
    call_join(&c);
    assert_int_equal(c.rc, SW_OK);
    assert_int_equal(sw_chan_len(ch), 0);
    sw_chan_free(ch);
}

static void test_blocked_sender_fifo(void **state)
{
    (void)state;
    /* A full buffer with a blocked sender: the receiver takes the oldest
     * element, and the blocked value joins the tail. */
    sw_chan *ch = sw_chan_new(sizeof(int64_t), 2);
    assert_non_null(ch);
    assert_int_equal(sw_chan_send(ch, &(int64_t){1}), SW_OK);
    assert_int_equal(sw_chan_send(ch, &(int64_t){2}), SW_OK);
    struct call c;
    call_start(&c, ch, DO_SEND, 3, NOW);
    wait_queued(ch, SW_SEND, 1);
    int64_t v;
    for (int64_t want = 1; want <= 3; want++) {
        assert_int_equal(sw_chan_recv(ch, &v), SW_OK);
        assert_int_equal(v, want);
    }
    call_join(&c);
    assert_int_equal(c.rc, SW_OK);
    sw_chan_free(ch);
}

static void test_close(void **state)
{
    (void)state;
    sw_chan *ch = sw_chan_new(sizeof(int64_t), 4);
    assert_non_null(ch);
    assert_int_equal(sw_chan_send(ch, &(int64_t){1}), SW_OK);
    assert_int_equal(sw_chan_send(ch, &(int64_t){2}), SW_OK);
    assert_int_equal(sw_chan_close(ch), SW_OK);
    assert_int_equal(sw_chan_close(ch), SW_ECLOSED); /* double close */
    assert_int_equal(sw_chan_send(ch, &(int64_t){3}), SW_ECLOSED);
    assert_int_equal(sw_chan_try_send(ch, &(int64_t){3}), SW_ECLOSED);
    assert_int_equal(sw_chan_send_timeout(ch, &(int64_t){3}, MS), SW_ECLOSED);
    int64_t v = -1;
    /* Drain after close: buffered values first, then the zero value. */
    assert_int_equal(sw_chan_recv(ch, &v), SW_OK);
    assert_int_equal(v, 1);
    assert_int_equal(sw_chan_try_recv(ch, &v), SW_OK);
    assert_int_equal(v, 2);
    v = -1;
    assert_int_equal(sw_chan_recv(ch, &v), SW_ECLOSED);
    assert_int_equal(v, 0);
    v = -1;
    assert_int_equal(sw_chan_try_recv(ch, &v), SW_ECLOSED);
    assert_int_equal(v, 0);
    v = -1;
    assert_int_equal(sw_chan_recv_timeout(ch, &v, MS), SW_ECLOSED);
    assert_int_equal(v, 0);
    assert_int_equal(sw_chan_recv(ch, NULL), SW_ECLOSED);
    sw_chan_free(ch);
}

static void test_close_wakes_blocked(void **state)
{
    (void)state;
    enum { N = 4 };
    sw_chan *rx = sw_chan_new(sizeof(int64_t), 0);
    assert_non_null(rx);
    sw_chan *tx = sw_chan_new(sizeof(int64_t), 0);
    assert_non_null(tx);
    struct call r[N], s[N];
    for (int i = 0; i < N; i++) {
        call_start(&r[i], rx, DO_RECV, -1, NOW);
        call_start(&s[i], tx, DO_SEND, i, NOW);
    }
    wait_queued(rx, SW_RECV, N);
    wait_queued(tx, SW_SEND, N);
    assert_int_equal(sw_chan_close(rx), SW_OK);
    assert_int_equal(sw_chan_close(tx), SW_OK);
    for (int i = 0; i < N; i++) {
        call_join(&r[i]);
        call_join(&s[i]);
        assert_int_equal(r[i].rc, SW_ECLOSED);
        assert_int_equal(r[i].value, 0); /* zeroed element */
        assert_int_equal(s[i].rc, SW_ECLOSED);
    }
    sw_chan_free(rx);
    sw_chan_free(tx);
}

static void test_timeouts(void **state)
{
    (void)state;
    sw_chan *ch = sw_chan_new(sizeof(int64_t), 1);
    assert_non_null(ch);
    int64_t v = 5;
    int64_t t0 = now_ns();
    assert_int_equal(sw_chan_recv_timeout(ch, &v, 30 * MS), SW_ETIMEDOUT);
    assert_true(now_ns() - t0 >= 30 * MS);
    assert_int_equal(v, 5); /* unchanged on timeout */
    assert_int_equal(sw_chan_recv_timeout(ch, &v, 0), SW_EAGAIN);

    assert_int_equal(sw_chan_send(ch, &(int64_t){1}), SW_OK);
    t0 = now_ns();
    assert_int_equal(sw_chan_send_timeout(ch, &(int64_t){2}, 30 * MS), SW_ETIMEDOUT);
    assert_true(now_ns() - t0 >= 30 * MS);
    assert_int_equal(sw_chan_send_timeout(ch, &(int64_t){2}, 0), SW_EAGAIN);
    assert_int_equal(sw_chan_len(ch), 1); /* the timed-out value was not sent */
    assert_int_equal(sw_chan_recv(ch, &v), SW_OK);
    assert_int_equal(v, 1);

    /* A timed wait that succeeds before its deadline. */
    struct call c;
    call_start(&c, ch, DO_SEND, 9, AFTER_RECV);
    assert_int_equal(sw_chan_recv_timeout(ch, &v, 5000 * MS), SW_OK);
    assert_int_equal(v, 9);
    call_join(&c);
    sw_chan_free(ch);
}

static void test_zero_size_elements(void **state)
{
    (void)state;
    sw_chan *ch = sw_chan_new(0, 2);
    assert_non_null(ch);
    assert_int_equal(sw_chan_send(ch, NULL), SW_OK);
    assert_int_equal(sw_chan_send(ch, NULL), SW_OK);
    assert_int_equal(sw_chan_try_send(ch, NULL), SW_EAGAIN);
    assert_int_equal(sw_chan_recv(ch, NULL), SW_OK);
    assert_int_equal(sw_chan_len(ch), 1);
    sw_chan_free(ch);
}

/* Elements larger than the 8 bytes a blocked op carries inline, and
 * receives that discard (elem NULL), through every blocking path. */
struct big {
    int64_t v[4];
};

struct bigcall {
    pthread_t thread;
    sw_chan *ch;
    struct big b;
    int rc;
};

static void *big_send_main(void *arg)
{
    struct bigcall *c = arg;
    wait_queued(c->ch, SW_RECV, 1); /* the receive blocks first */
    c->rc = sw_chan_send(c->ch, &c->b);
    return NULL;
}

static void test_big_elements_blocking(void **state)
{
    (void)state;
    for (size_t cap = 0; cap <= 1; cap++) {
        sw_chan *ch = sw_chan_new(sizeof(struct big), cap);
        assert_non_null(ch);
        struct bigcall c = {.ch = ch, .b = {{1, 2, 3, 4}}};
        assert_int_equal(pthread_create(&c.thread, NULL, big_send_main, &c), 0);
        struct big got = {{0}};
        assert_int_equal(sw_chan_recv(ch, &got), SW_OK); /* blocks: the sender comes later */
        assert_int_equal(pthread_join(c.thread, NULL), 0);
        assert_int_equal(c.rc, SW_OK);
        assert_memory_equal(&got, &c.b, sizeof got);
        /* A timed-out receive leaves a big elem unchanged. */
        struct big keep = {{9, 9, 9, 9}}, same = keep;
        assert_int_equal(sw_chan_recv_timeout(ch, &keep, 10 * MS), SW_ETIMEDOUT);
        assert_memory_equal(&keep, &same, sizeof keep);
        /* A blocked receive that discards its element. */
        c.b.v[0] = 5;
        assert_int_equal(pthread_create(&c.thread, NULL, big_send_main, &c), 0);
        assert_int_equal(sw_chan_recv(ch, NULL), SW_OK);
        assert_int_equal(pthread_join(c.thread, NULL), 0);
        assert_int_equal(sw_chan_len(ch), 0);
        /* Close wakes a blocked big receive with a zeroed element. */
        struct call cl;
        call_start(&cl, ch, DO_CLOSE, 0, AFTER_RECV);
        got.v[2] = 7;
        assert_int_equal(sw_chan_recv(ch, &got), SW_ECLOSED);
        assert_int_equal(got.v[2], 0);
        call_join(&cl);
        sw_chan_free(ch);
    }
}

static void test_blocked_receiver_buffered(void **state)
{
    (void)state;
    /* A receiver parked on an empty buffer is woken by a lock-free send,
     * and a closed, drained channel still hands out what was sent. */
    sw_chan *ch = sw_chan_new(sizeof(int64_t), 4);
    assert_non_null(ch);
    struct call r;
    call_start(&r, ch, DO_RECV, -1, NOW);
    wait_queued(ch, SW_RECV, 1);
    assert_int_equal(sw_chan_send(ch, &(int64_t){31}), SW_OK);
    call_join(&r);
    assert_int_equal(r.rc, SW_OK);
    assert_int_equal(r.value, 31);
    call_start(&r, ch, DO_RECV, -1, NOW);
    wait_queued(ch, SW_RECV, 1);
    assert_int_equal(sw_chan_try_send(ch, &(int64_t){32}), SW_OK);
    call_join(&r);
    assert_int_equal(r.value, 32);
    assert_int_equal(sw_chan_send(ch, &(int64_t){33}), SW_OK);
    assert_int_equal(sw_chan_close(ch), SW_OK);
    call_start(&r, ch, DO_RECV, -1, NOW);
    call_join(&r);
    assert_int_equal(r.rc, SW_OK);
    assert_int_equal(r.value, 33);
    call_start(&r, ch, DO_RECV, -1, NOW);
    call_join(&r);
    assert_int_equal(r.rc, SW_ECLOSED);
    assert_int_equal(r.value, 0);
    sw_chan_free(ch);
}

static void test_select_default_and_timeout(void **state)
{
    (void)state;
    sw_chan *a = sw_chan_new(sizeof(int64_t), 0);
    assert_non_null(a);
    int64_t v;
    sw_case cases[] = {{a, SW_RECV, &v, 99}, {NULL, SW_RECV, &v, 99}};
    assert_int_equal(sw_select(cases, 2, 0), SW_EAGAIN);
    int64_t t0 = now_ns();
    assert_int_equal(sw_select(cases, 2, 30 * MS), SW_ETIMEDOUT);
    assert_true(now_ns() - t0 >= 30 * MS);
    /* No cases at all, or only NULL channels: never ready. */
    assert_int_equal(sw_select(NULL, 0, 0), SW_EAGAIN);
    assert_int_equal(sw_select(cases + 1, 1, 10 * MS), SW_ETIMEDOUT);
    /* A ready case wins at once even with a timeout. */
    sw_chan *b = sw_chan_new(sizeof(int64_t), 1);
    assert_non_null(b);
    assert_int_equal(sw_chan_send(b, &(int64_t){8}), SW_OK);
    cases[1].chan = b;
    assert_int_equal(sw_select(cases, 2, 30 * MS), 1);
    assert_int_equal(cases[1].status, SW_OK);
    assert_int_equal(v, 8);
    sw_chan_free(a);
    sw_chan_free(b);
}

static void test_select_invalid(void **state)
{
    (void)state;
    sw_chan *a = sw_chan_new(sizeof(int64_t), 1);
    assert_non_null(a);
    assert_int_equal(sw_select(NULL, 1, 0), SW_EINVAL);
    sw_case bad[] = {{a, (enum sw_dir)7, NULL, 0}};
    assert_int_equal(sw_select(bad, 1, 0), SW_EINVAL);
    sw_case nullsend[] = {{a, SW_SEND, NULL, 0}};
    assert_int_equal(sw_select(nullsend, 1, 0), SW_EINVAL);
    sw_chan_free(a);
}

static void test_select_send_and_closed(void **state)
{
    (void)state;
    sw_chan *a = sw_chan_new(sizeof(int64_t), 1);
    assert_non_null(a);
    int64_t out = 11, in = -1;
    sw_case send[] = {{a, SW_SEND, &out, 99}};
    assert_int_equal(sw_select(send, 1, 0), 0);
    assert_int_equal(send[0].status, SW_OK);
    assert_int_equal(sw_select(send, 1, 0), SW_EAGAIN); /* full */
    assert_int_equal(sw_chan_close(a), SW_OK);
    assert_int_equal(sw_select(send, 1, -1), 0); /* send on closed is ready */
    assert_int_equal(send[0].status, SW_ECLOSED);
    sw_case recv[] = {{a, SW_RECV, &in, 99}};
    assert_int_equal(sw_select(recv, 1, -1), 0);
    assert_int_equal(recv[0].status, SW_OK); /* drains the buffer first */
    assert_int_equal(in, 11);
    in = -1;
    assert_int_equal(sw_select(recv, 1, -1), 0);
    assert_int_equal(recv[0].status, SW_ECLOSED);
    assert_int_equal(in, 0);
    sw_chan_free(a);
}

static void test_select_fairness(void **state)
{
    (void)state;
    /* Two always-ready cases: each must win about half the time. With 20000
     * draws, leaving [45%, 55%] has probability below 1e-40. */
    sw_chan *a = sw_chan_new(sizeof(int64_t), 0);
    assert_non_null(a);
    sw_chan *b = sw_chan_new(sizeof(int64_t), 0);
    assert_non_null(b);
    assert_int_equal(sw_chan_close(a), SW_OK);
    assert_int_equal(sw_chan_close(b), SW_OK);
    int64_t v;
    sw_case cases[] = {{a, SW_RECV, &v, 0}, {b, SW_RECV, &v, 0}};
    int wins[2] = {0, 0};
    enum { DRAWS = 20000 };
    for (int i = 0; i < DRAWS; i++) {
        int rc = sw_select(cases, 2, 0);
        assert_true(rc == 0 || rc == 1);
        wins[rc]++;
    }
    assert_in_range(wins[0], DRAWS * 45 / 100, DRAWS * 55 / 100);
    sw_chan_free(a);
    sw_chan_free(b);
}

static void test_select_fairness_buffered(void **state)
{
    (void)state;
    /* The same over buffered channels, which select polls without locks:
     * both always hold an element, refilled after each win. */
    sw_chan *a = sw_chan_new(sizeof(int64_t), 1);
    assert_non_null(a);
    sw_chan *b = sw_chan_new(sizeof(int64_t), 1);
    assert_non_null(b);
    sw_chan *chans[2] = {a, b};
    assert_int_equal(sw_chan_send(a, &(int64_t){0}), SW_OK);
    assert_int_equal(sw_chan_send(b, &(int64_t){1}), SW_OK);
    int64_t va = -1, vb = -1;
    sw_case cases[] = {{a, SW_RECV, &va, 0}, {b, SW_RECV, &vb, 0}};
    int wins[2] = {0, 0};
    enum { DRAWS = 20000 };
    for (int i = 0; i < DRAWS; i++) {
        int rc = sw_select(cases, 2, 0);
        assert_true(rc == 0 || rc == 1);
        assert_int_equal(cases[rc].status, SW_OK);
        assert_int_equal(rc == 0 ? va : vb, rc);
        wins[rc]++;
        assert_int_equal(sw_chan_send(chans[rc], &(int64_t){rc}), SW_OK);
    }
    assert_in_range(wins[0], DRAWS * 45 / 100, DRAWS * 55 / 100);
    assert_int_equal(sw_chan_len(a), 1);
    assert_int_equal(sw_chan_len(b), 1);
    sw_chan_free(a);
    sw_chan_free(b);
}

static void test_select_blocks_until_ready(void **state)
{
    (void)state;
    sw_chan *a = sw_chan_new(sizeof(int64_t), 0);
    assert_non_null(a);
    sw_chan *b = sw_chan_new(sizeof(int64_t), 0);
    assert_non_null(b);
    int64_t va = -1, vb = -1;
    sw_case cases[] = {{a, SW_RECV, &va, 99}, {b, SW_RECV, &vb, 99}, {NULL, SW_SEND, &va, 99}};
    struct call c;
    call_start(&c, b, DO_SEND, 77, AFTER_RECV);
    assert_int_equal(sw_select(cases, 3, -1), 1);
    assert_int_equal(cases[1].status, SW_OK);
    assert_int_equal(vb, 77);
    assert_int_equal(va, -1); /* the other case did not run */
    call_join(&c);

    /* A blocked select woken by close. */
    call_start(&c, a, DO_CLOSE, 0, AFTER_RECV);
    assert_int_equal(sw_select(cases, 3, -1), 0);
    assert_int_equal(cases[0].status, SW_ECLOSED);
    assert_int_equal(va, 0);
    call_join(&c);

    /* A blocked select whose send case a receiver takes. */
    int64_t out = 5;
    sw_case sendcase[] = {{b, SW_SEND, &out, 99}};
    call_start(&c, b, DO_RECV, -1, AFTER_SEND);
    assert_int_equal(sw_select(sendcase, 1, 5000 * MS), 0);
    assert_int_equal(sendcase[0].status, SW_OK);
    call_join(&c);
    assert_int_equal(c.value, 5);
    sw_chan_free(a);
    sw_chan_free(b);
}

static void test_select_same_channel_twice(void **state)
{
    (void)state;
    sw_chan *a = sw_chan_new(sizeof(int64_t), 1);
    assert_non_null(a);
    int64_t x = 1, y = -1;
    sw_case cases[] = {{a, SW_SEND, &x, 99}, {a, SW_RECV, &y, 99}};
    /* Empty buffer: only the send is ready. */
    assert_int_equal(sw_select(cases, 2, -1), 0);
    /* Full buffer: only the receive is ready. */
    assert_int_equal(sw_select(cases, 2, -1), 1);
    assert_int_equal(y, 1);
    sw_chan_free(a);
}

static void test_select_many_cases(void **state)
{
    (void)state;
    /* More cases than fit on the stack take the allocating path. */
    enum { N = 100 };
    sw_chan *chans[N];
    int64_t vals[N];
    sw_case cases[N];
    for (int i = 0; i < N; i++) {
        chans[i] = sw_chan_new(sizeof(int64_t), 1);
        assert_non_null(chans[i]);
        cases[i] = (sw_case){chans[i], SW_RECV, &vals[i], 99};
    }
    assert_int_equal(sw_select(cases, N, 0), SW_EAGAIN);
    assert_int_equal(sw_chan_send(chans[63], &(int64_t){630}), SW_OK);
    assert_int_equal(sw_select(cases, N, 0), 63);
    assert_int_equal(vals[63], 630);
    struct call c;
    call_start(&c, chans[97], DO_SEND, 970, AFTER_RECV);
    assert_int_equal(sw_select(cases, N, -1), 97);
    assert_int_equal(vals[97], 970);
    call_join(&c);
    for (int i = 0; i < N; i++)
        sw_chan_free(chans[i]);
}

/* ---- the rendezvous slot of unbuffered channels ----
 * The first blocked operation of an unbuffered channel waits in its
 * lock-free slot (sw__chan_slot says so); later ones queue behind it under
 * the lock. These tests drive each path by name. */

static void test_slot_fifo(void **state)
{
    (void)state;
    sw_chan *ch = sw_chan_new(sizeof(int64_t), 0);
    assert_non_null(ch);
    /* Receivers: the slot's, then a queued one, served in arrival order. */
    struct call r1, r2;
    call_start(&r1, ch, DO_RECV, -1, NOW);
    wait_queued(ch, SW_RECV, 1);
    assert_int_equal(sw__chan_slot(ch), SW_RECV);
    call_start(&r2, ch, DO_RECV, -1, NOW);
    wait_queued(ch, SW_RECV, 2);
    assert_int_equal(sw_chan_send(ch, &(int64_t){1}), SW_OK);
    assert_int_equal(sw_chan_send(ch, &(int64_t){2}), SW_OK);
    call_join(&r1);
    call_join(&r2);
    assert_int_equal(r1.rc, SW_OK);
    assert_int_equal(r1.value, 1);
    assert_int_equal(r2.rc, SW_OK);
    assert_int_equal(r2.value, 2);
    assert_int_equal(sw__chan_slot(ch), -1);

    /* Senders: the same, with receives on the main thread. */
    struct call s1, s2;
    call_start(&s1, ch, DO_SEND, 11, NOW);
    wait_queued(ch, SW_SEND, 1);
    assert_int_equal(sw__chan_slot(ch), SW_SEND);
    call_start(&s2, ch, DO_SEND, 12, NOW);
    wait_queued(ch, SW_SEND, 2);
    int64_t v;
    assert_int_equal(sw_chan_recv(ch, &v), SW_OK);
    assert_int_equal(v, 11);
    assert_int_equal(sw_chan_recv(ch, &v), SW_OK);
    assert_int_equal(v, 12);
    call_join(&s1);
    call_join(&s2);
    assert_int_equal(s1.rc, SW_OK);
    assert_int_equal(s2.rc, SW_OK);
    sw_chan_free(ch);
}

/* A select in a helper thread: one case on ch in direction dir, one on a
 * channel nobody uses. */
struct selcall {
    pthread_t thread;
    sw_chan *ch, *idle;
    enum sw_dir dir;
    int64_t value;
    int idx, status;
};

static void *select_main(void *arg)
{
    struct selcall *c = arg;
    int64_t other = 0;
    sw_case cases[2] = {{c->ch, c->dir, &c->value, 0}, {c->idle, SW_RECV, &other, 0}};
    c->idx = sw_select(cases, 2, -1);
    c->status = c->idx >= 0 ? cases[c->idx].status : c->idx;
    return NULL;
}

static void test_slot_and_select(void **state)
{
    (void)state;
    sw_chan *ch = sw_chan_new(sizeof(int64_t), 0);
    assert_non_null(ch);
    sw_chan *idle = sw_chan_new(sizeof(int64_t), 0);
    assert_non_null(idle);
    int64_t v = 5, other = 0;

    /* A select's send case serves the receiver in the slot. */
    struct call r;
    call_start(&r, ch, DO_RECV, -1, NOW);
    wait_queued(ch, SW_RECV, 1);
    assert_int_equal(sw__chan_slot(ch), SW_RECV);
    sw_case cases[2] = {{idle, SW_RECV, &other, 0}, {ch, SW_SEND, &v, 0}};
    assert_int_equal(sw_select(cases, 2, -1), 1);
    assert_int_equal(cases[1].status, SW_OK);
    call_join(&r);
    assert_int_equal(r.value, 5);

    /* A select's receive case takes the value of the sender in the slot. */
    struct call s;
    call_start(&s, ch, DO_SEND, 6, NOW);
    wait_queued(ch, SW_SEND, 1);
    assert_int_equal(sw__chan_slot(ch), SW_SEND);
    sw_case rcases[2] = {{idle, SW_RECV, &other, 0}, {ch, SW_RECV, &v, 0}};
    assert_int_equal(sw_select(rcases, 2, -1), 1);
    assert_int_equal(rcases[1].status, SW_OK);
    assert_int_equal(v, 6);
    call_join(&s);
    assert_int_equal(s.rc, SW_OK);

    /* A receive that comes after a blocked select queues behind it (never
     * in the slot), and the select is served first. */
    for (int dir = SW_SEND; dir <= SW_RECV; dir++) {
        struct selcall sc = {.ch = ch, .idle = idle, .dir = (enum sw_dir)dir, .value = 7};
        assert_int_equal(pthread_create(&sc.thread, NULL, select_main, &sc), 0);
        wait_queued(ch, (enum sw_dir)dir, 1);
        struct call late;
        call_start(&late, ch, dir == SW_SEND ? DO_SEND : DO_RECV, 8, NOW);
        wait_queued(ch, (enum sw_dir)dir, 2);
        assert_int_equal(sw__chan_slot(ch), -1);
        if (dir == SW_SEND) {
            assert_int_equal(sw_chan_recv(ch, &v), SW_OK);
            assert_int_equal(v, 7);
            assert_int_equal(sw_chan_recv(ch, &v), SW_OK);
            assert_int_equal(v, 8);
        } else {
            assert_int_equal(sw_chan_send(ch, &(int64_t){9}), SW_OK);
            assert_int_equal(sw_chan_send(ch, &(int64_t){10}), SW_OK);
        }
        assert_int_equal(pthread_join(sc.thread, NULL), 0);
        call_join(&late);
        assert_int_equal(sc.idx, 0);
        assert_int_equal(sc.status, SW_OK);
        assert_int_equal(late.rc, SW_OK);
        if (dir == SW_RECV) {
            assert_int_equal(sc.value, 9);
            assert_int_equal(late.value, 10);
        }
    }
    sw_chan_free(ch);
    sw_chan_free(idle);
}

static void test_slot_try_and_timeout(void **state)
{
    (void)state;
    sw_chan *ch = sw_chan_new(sizeof(int64_t), 0);
    assert_non_null(ch);
    int64_t v = 3;

    /* A timed wait in the slot leaves it empty and the element unchanged. */
    assert_int_equal(sw_chan_recv_timeout(ch, &v, MS), SW_ETIMEDOUT);
    assert_int_equal(v, 3);
    assert_int_equal(sw__chan_slot(ch), -1);
    assert_int_equal(sw_chan_send_timeout(ch, &v, MS), SW_ETIMEDOUT);
    assert_int_equal(sw__chan_slot(ch), -1);
    assert_int_equal(sw_chan_try_recv(ch, &v), SW_EAGAIN);

    /* try_send claims the receiver in the slot, then (the slot's receiver
     * and a queued one) both by the lock; try_recv likewise. */
    struct call r1, r2;
    call_start(&r1, ch, DO_RECV, -1, NOW);
    wait_queued(ch, SW_RECV, 1);
    assert_int_equal(sw_chan_try_send(ch, &(int64_t){21}), SW_OK);
    call_join(&r1);
    assert_int_equal(r1.value, 21);
    call_start(&r1, ch, DO_RECV, -1, NOW);
    wait_queued(ch, SW_RECV, 1);
    call_start(&r2, ch, DO_RECV, -1, NOW);
    wait_queued(ch, SW_RECV, 2);
    /* A timed receive queues behind both, and times out there. */
    assert_int_equal(sw_chan_recv_timeout(ch, &v, MS), SW_ETIMEDOUT);
    assert_int_equal(sw_chan_try_send(ch, &(int64_t){22}), SW_OK);
    assert_int_equal(sw_chan_try_send(ch, &(int64_t){23}), SW_OK);
    call_join(&r1);
    call_join(&r2);
    assert_int_equal(r1.value, 22);
    assert_int_equal(r2.value, 23);
    assert_int_equal(sw_chan_try_send(ch, &(int64_t){24}), SW_EAGAIN);

    struct call s;
    call_start(&s, ch, DO_SEND, 31, NOW);
    wait_queued(ch, SW_SEND, 1);
    assert_int_equal(sw__chan_slot(ch), SW_SEND);
    assert_int_equal(sw_chan_send_timeout(ch, &v, MS), SW_ETIMEDOUT); /* queued, times out */
    assert_int_equal(sw_chan_try_recv(ch, &v), SW_OK);
    assert_int_equal(v, 31);
    call_join(&s);
    assert_int_equal(s.rc, SW_OK);

    /* A timed wait that a peer completes in time, in the slot. */
    call_start(&s, ch, DO_SEND, 32, AFTER_RECV);
    assert_int_equal(sw_chan_recv_timeout(ch, &v, 5000 * MS), SW_OK);
    assert_int_equal(v, 32);
    call_join(&s);
    sw_chan_free(ch);
}

/* The timeout hook claims the waiter from its own thread: its deadline has
 * passed, but a peer now holds the claim, so the call must complete. */
static int64_t hook_value;
static int hook_rc;

static void claim_from_hook(sw_chan *ch)
{
    if (sw__chan_slot(ch) == SW_RECV)
        hook_rc = sw_chan_try_send(ch, &hook_value);
    else
        hook_rc = sw_chan_try_recv(ch, &hook_value);
}

static void test_slot_timeout_loses(void **state)
{
    (void)state;
    sw_chan *ch = sw_chan_new(sizeof(int64_t), 0);
    assert_non_null(ch);
    atomic_store(&sw__chan_timeout_hook, claim_from_hook);
    hook_value = 51;
    int64_t v = 0;
    assert_int_equal(sw_chan_recv_timeout(ch, &v, MS), SW_OK);
    assert_int_equal(hook_rc, SW_OK);
    assert_int_equal(v, 51);
    v = 52;
    hook_value = 0;
    assert_int_equal(sw_chan_send_timeout(ch, &v, MS), SW_OK);
    assert_int_equal(hook_rc, SW_OK);
    assert_int_equal(hook_value, 52);
    atomic_store(&sw__chan_timeout_hook, NULL);
    assert_int_equal(sw__chan_slot(ch), -1);
    assert_int_equal(sw_chan_recv_timeout(ch, &v, MS), SW_ETIMEDOUT);
    sw_chan_free(ch);
}

static void test_slot_close(void **state)
{
    (void)state;
    sw_chan *ch = sw_chan_new(sizeof(int64_t), 0);
    assert_non_null(ch);
    struct call s;
    call_start(&s, ch, DO_SEND, 41, NOW);
    wait_queued(ch, SW_SEND, 1);
    assert_int_equal(sw__chan_slot(ch), SW_SEND);
    assert_int_equal(sw_chan_close(ch), SW_OK);
    call_join(&s);
    assert_int_equal(s.rc, SW_ECLOSED);
    int64_t v = 1;
    assert_int_equal(sw_chan_recv(ch, &v), SW_ECLOSED); /* the failed send left nothing */
    assert_int_equal(v, 0);
    assert_int_equal(sw_chan_try_send(ch, &v), SW_ECLOSED);
    assert_int_equal(sw_chan_recv_timeout(ch, &v, MS), SW_ECLOSED);
    assert_int_equal(sw__chan_slot(ch), -1);
    sw_chan_free(ch);

    /* Close wakes the receiver in the slot with a zeroed element. */
    ch = sw_chan_new(sizeof(int64_t), 0);
    assert_non_null(ch);
    struct call r;
    call_start(&r, ch, DO_RECV, -1, NOW);
    wait_queued(ch, SW_RECV, 1);
    assert_int_equal(sw__chan_slot(ch), SW_RECV);
    assert_int_equal(sw_chan_close(ch), SW_OK);
    call_join(&r);
    assert_int_equal(r.rc, SW_ECLOSED);
    assert_int_equal(r.value, 0);
    sw_chan_free(ch);
}

static void *big_recv_main(void *arg)
{
    struct bigcall *c = arg;
    wait_queued(c->ch, SW_SEND, 1); /* the send blocks first */
    c->rc = sw_chan_recv(c->ch, &c->b);
    return NULL;
}

static void test_slot_elements(void **state)
{
    (void)state;
    /* A big element from a sender waiting in the slot. */
    sw_chan *ch = sw_chan_new(sizeof(struct big), 0);
    assert_non_null(ch);
    struct bigcall c = {.ch = ch};
    assert_int_equal(pthread_create(&c.thread, NULL, big_recv_main, &c), 0);
    struct big b = {{5, 6, 7, 8}};
    assert_int_equal(sw_chan_send(ch, &b), SW_OK); /* blocks: the receiver comes later */
    assert_int_equal(pthread_join(c.thread, NULL), 0);
    assert_int_equal(c.rc, SW_OK);
    assert_memory_equal(&c.b, &b, sizeof b);
    sw_chan_free(ch);

    /* Zero-size elements both ways through the slot. */
    ch = sw_chan_new(0, 0);
    assert_non_null(ch);
    struct call r;
    call_start(&r, ch, DO_RECV, 0, NOW);
    wait_queued(ch, SW_RECV, 1);
    assert_int_equal(sw_chan_send(ch, NULL), SW_OK);
    call_join(&r);
    assert_int_equal(r.rc, SW_OK);
    call_start(&r, ch, DO_SEND, 0, NOW);
    wait_queued(ch, SW_SEND, 1);
    assert_int_equal(sw_chan_recv(ch, NULL), SW_OK);
    call_join(&r);
    assert_int_equal(r.rc, SW_OK);
    assert_int_equal(sw__chan_slot(ch), -1);
    sw_chan_free(ch);

    /* A buffered channel has no slot. */
    ch = sw_chan_new(sizeof(int64_t), 1);
    assert_non_null(ch);
    assert_int_equal(sw__chan_slot(ch), -1);
    sw_chan_free(ch);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_and_sizes),
        cmocka_unit_test(test_null_channel),
        cmocka_unit_test(test_buffered_fifo),
        cmocka_unit_test(test_unbuffered_rendezvous),
        cmocka_unit_test(test_blocked_sender_fifo),
        cmocka_unit_test(test_close),
        cmocka_unit_test(test_close_wakes_blocked),
        cmocka_unit_test(test_timeouts),
        cmocka_unit_test(test_zero_size_elements),
        cmocka_unit_test(test_big_elements_blocking),
        cmocka_unit_test(test_blocked_receiver_buffered),
        cmocka_unit_test(test_select_default_and_timeout),
        cmocka_unit_test(test_select_invalid),
        cmocka_unit_test(test_select_send_and_closed),
        cmocka_unit_test(test_select_fairness),
        cmocka_unit_test(test_select_fairness_buffered),
        cmocka_unit_test(test_select_blocks_until_ready),
        cmocka_unit_test(test_select_same_channel_twice),
        cmocka_unit_test(test_select_many_cases),
        cmocka_unit_test(test_slot_fifo),
        cmocka_unit_test(test_slot_and_select),
        cmocka_unit_test(test_slot_try_and_timeout),
        cmocka_unit_test(test_slot_timeout_loses),
        cmocka_unit_test(test_slot_close),
        cmocka_unit_test(test_slot_elements),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
