/* The Go pattern's Account, written the Go way: a task owns the balance and
 * loops on sw_select over its request channels (deposit, withdraw,
 * balance), and Deposit, Withdraw and Balance are ordinary functions that
 * hide the channels. Each request carries its reply channel, so a caller
 * never gets another's reply. Money is int64 cents: exact.
 *
 * Many client tasks and two plain threads deposit and withdraw at once,
 * some withdrawals beyond the balance failing with "insufficient funds";
 * every client sums what it moved, and the final balance must be the
 * opening one plus the deposits less the withdrawals that went through.
 *
 * Against examples/account_example.c (the same Account on an owner,
 * steward/account.h):
 *   - There, the balance sits in an owner, and sw_account_deposit runs the
 *     request on the caller's own thread when the owner is free (one atomic
 *     operation to take it, one to let go), or the caller that holds it runs
 *     it in a batch. Nothing runs when nobody calls: no task, no channels,
 *     no reply channel per caller, nothing to start or stop.
 *   - Here, every request is two hand-offs over channels (the request in,
 *     the reply out) and two task switches, and the account is a task that
 *     must be started and stopped. In return the Account is the Go code
 *     line for line, and its loop is a select: waiting on one more event (a
 *     ticker, a timeout, a shutdown channel) is one more case.
 *   - bench/run.sh's db section sets the owner's Account against Go's
 *     goroutine Account, and its task section times this shape's round
 *     trip (task.select_ns).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "steward/chan.h"
#include "steward/task.h"

/* ---- the Account: a task and its channels ---- */

typedef struct teller teller;

/* A request on the deposit, withdraw or balance channel. */
struct request {
    int64_t amount; /* deposit, withdraw: > 0; balance: unused */
    teller *from;   /* the reply goes on from->reply */
};

struct reply {
    int status;      /* SW_OK, SW_EFUNDS or SW_EOVERFLOW */
    int64_t balance; /* the balance once the request is done */
};

typedef struct account {
    sw_chan *deposit, *withdraw, *balance; /* of struct request, unbuffered */
    sw_chan *leave;                        /* of teller *: a teller's last word */
    sw_chan *quit;                         /* of nothing: closed to stop the task */
    sw_wg *stopped;                        /* done once the task has returned */
    int64_t money;                         /* the task's alone: nobody else touches it */
} account;

/* A caller's handle on the account: its reply channel. Go makes a reply
 * channel per request and lets the collector free it; in C the caller
 * cannot free a channel it has just received on, since the account's send
 * on it may still be returning (chan.h). So each caller keeps one for all
 * its requests, and hands it back to the account task when done: the
 * task's own sends on it have returned by then, and it frees it. */
struct teller {
    account *acct;
    sw_chan *reply; /* of struct reply, unbuffered: this teller's answers alone */
};

/* The cases of the account's select, in the order of its array. */
enum account_case {
    CASE_DEPOSIT,  /* a deposit request */
    CASE_WITHDRAW, /* a withdrawal request */
    CASE_BALANCE,  /* a balance request */
    CASE_LEAVE,    /* a teller leaving: free it */
    CASE_QUIT,     /* quit was closed: return */
    CASE_COUNT,
};

static void teller_free(teller *t)
{
    sw_chan_free(t->reply);
    free(t);
}

/* Runs one request on the balance; what the caller gets back. */
static struct reply account_apply(account *a, enum account_case c, int64_t amount)
{
    struct reply r = {SW_OK, 0};
    if (c == CASE_DEPOSIT && amount > INT64_MAX - a->money)
        r.status = SW_EOVERFLOW;
    else if (c == CASE_DEPOSIT)
        a->money += amount;
    else if (c == CASE_WITHDRAW && amount > a->money)
        r.status = SW_EFUNDS;
    else if (c == CASE_WITHDRAW)
        a->money -= amount;
    r.balance = a->money;
    return r;
}

/* The account task: Go's `for { select { ... } }`. */
static void account_main(void *arg)
{
    account *a = arg;
    struct request rq[3];
    teller *gone;
    sw_case cases[CASE_COUNT] = {
        [CASE_DEPOSIT] = {a->deposit, SW_RECV, &rq[CASE_DEPOSIT], 0},
        [CASE_WITHDRAW] = {a->withdraw, SW_RECV, &rq[CASE_WITHDRAW], 0},
        [CASE_BALANCE] = {a->balance, SW_RECV, &rq[CASE_BALANCE], 0},
        [CASE_LEAVE] = {a->leave, SW_RECV, &gone, 0},
        [CASE_QUIT] = {a->quit, SW_RECV, NULL, 0},
    };
    for (;;) {
        int i = sw_select(cases, CASE_COUNT, -1);
        if (i < 0 || i == CASE_QUIT || cases[i].status != SW_OK)
            break;
        if (i == CASE_LEAVE) {
            teller_free(gone);
            continue;
        }
        struct reply r = account_apply(a, (enum account_case)i, rq[i].amount);
        sw_chan_send(rq[i].from->reply, &r);
    }
    sw_wg_done(a->stopped);
}

static void account_free(account *a)
{
    sw_chan_free(a->deposit);
    sw_chan_free(a->withdraw);
    sw_chan_free(a->balance);
    sw_chan_free(a->leave);
    sw_chan_free(a->quit);
    sw_wg_free(a->stopped);
    free(a);
}

/* Starts an account holding opening cents, as its own task. SW_OK,
 * SW_ENOMEM, or sw_go's status. */
static int account_start(account **out, int64_t opening)
{
    account *a = calloc(1, sizeof *a);
    if (!a)
        return SW_ENOMEM;
    a->deposit = sw_chan_new(sizeof(struct request), 0);
    a->withdraw = sw_chan_new(sizeof(struct request), 0);
    a->balance = sw_chan_new(sizeof(struct request), 0);
    a->leave = sw_chan_new(sizeof(teller *), 0);
    a->quit = sw_chan_new(0, 0);
    a->stopped = sw_wg_new();
    a->money = opening;
    int rc = SW_ENOMEM;
    if (!a->deposit || !a->withdraw || !a->balance || !a->leave || !a->quit || !a->stopped)
        goto fail;
    sw_wg_add(a->stopped, 1);
    rc = sw_go(account_main, a);
    if (rc != SW_OK)
        goto fail;
    *out = a;
    return SW_OK;
fail:
    account_free(a);
    return rc;
}

/* Stops the account task and frees the account. Every teller must have
 * left, and nobody may use the account once this is called. */
static void account_stop(account *a)
{
    sw_chan_close(a->quit);
    sw_wg_wait(a->stopped);
    account_free(a);
}

/* A new teller on a, or NULL when out of memory. */
static teller *teller_open(account *a)
{
    teller *t = malloc(sizeof *t);
    if (!t)
        return NULL;
    t->acct = a;
    t->reply = sw_chan_new(sizeof(struct reply), 0);
    if (!t->reply) {
        free(t);
        return NULL;
    }
    return t;
}

/* Hands t back to the account task, which frees it. t is gone after. */
static void teller_leave(teller *t)
{
    sw_chan_send(t->acct->leave, &t);
}

/* One request and its reply; the reply's status, and the balance in
 * *balance when it is not NULL. */
static int account_call(teller *t, sw_chan *ch, int64_t amount, int64_t *balance)
{
    struct request rq = {amount, t};
    struct reply r;
    int rc = sw_chan_send(ch, &rq);
    if (rc == SW_OK)
        rc = sw_chan_recv(t->reply, &r);
    if (rc != SW_OK)
        return rc;
    if (balance)
        *balance = r.balance;
    return r.status;
}

/* The Account's three operations, as the Go pattern's methods: SW_OK;
 * SW_EINVAL for an amount <= 0 (nothing is sent); SW_EOVERFLOW past
 * INT64_MAX; SW_EFUNDS for a withdrawal beyond the balance (which stays
 * as it was). Callable from tasks and plain threads alike: a task waiting
 * for its reply parks, freeing its thread; a thread sleeps. */
static int deposit(teller *t, int64_t amount)
{
    return amount <= 0 ? SW_EINVAL : account_call(t, t->acct->deposit, amount, NULL);
}

static int withdraw(teller *t, int64_t amount)
{
    return amount <= 0 ? SW_EINVAL : account_call(t, t->acct->withdraw, amount, NULL);
}

static int64_t balance(teller *t)
{
    int64_t b = 0;
    account_call(t, t->acct->balance, 0, &b);
    return b;
}

/* ---- the clients ---- */

enum {
    CLIENT_TASKS = 1000, /* tasks, each with a teller of its own */
    TASK_ROUNDS = 50,    /* rounds of a client task */
    THREADS = 2,         /* plain threads, each with a teller of its own */
    THREAD_ROUNDS = 5000 /* rounds of a thread */
};

static const int64_t OPENING = 10000; /* $100.00 */

/* What one client moved; written by the client, read by main after it has
 * finished (the wg or the join orders the two). */
struct client {
    account *acct;
    int rounds;
    uint64_t seed;
    int64_t deposited, withdrawn;
    long refused; /* withdrawals that got SW_EFUNDS */
    int failed;   /* set on a status no client should get */
    sw_wg *done;  /* tasks only: done when the client has finished */
};

/* xorshift64: enough to pick amounts. */
static uint64_t next_random(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Withdraws amount through t and counts it in c: moved, refused, or a
 * failure. */
static void client_withdraw(struct client *c, teller *t, int64_t amount)
{
    int rc = withdraw(t, amount);
    if (rc == SW_OK)
        c->withdrawn += amount;
    else if (rc == SW_EFUNDS)
        c->refused++;
    else
        c->failed = 1;
}

/* Each round deposits $3.00 and withdraws $1.00, and one round in four
 * also up to $20.00. Any withdrawal may find the balance short: the other
 * clients take money out between this one's calls. */
static void client_run(struct client *c)
{
    teller *t = teller_open(c->acct);
    if (!t) {
        c->failed = 1;
        return;
    }
    for (int i = 0; i < c->rounds; i++) {
        if (deposit(t, 300) == SW_OK)
            c->deposited += 300;
        else
            c->failed = 1;
        client_withdraw(c, t, 100);
        if (i % 4 == 3)
            client_withdraw(c, t, 1 + (int64_t)(next_random(&c->seed) % 2000));
    }
    teller_leave(t);
}

static void client_task(void *arg)
{
    struct client *c = arg;
    client_run(c);
    sw_wg_done(c->done);
}

static void *client_thread(void *arg)
{
    client_run(arg);
    return NULL;
}

static void print_money(const char *what, int64_t cents)
{
    long long abs = cents < 0 ? -(long long)cents : (long long)cents;
    printf("  %s: %s$%lld.%02lld\n", what, cents < 0 ? "-" : "", abs / 100, abs % 100);
}

static struct client clients[CLIENT_TASKS + THREADS];

/* Runs the clients; 0 when every one ran as it should. */
static int run_clients(account *a)
{
    sw_wg *done = sw_wg_new();
    if (!done)
        return 1;
    int bad = 0;
    for (int i = 0; i < CLIENT_TASKS + THREADS; i++)
        clients[i] = (struct client){.acct = a,
                                     .rounds = i < CLIENT_TASKS ? TASK_ROUNDS : THREAD_ROUNDS,
                                     .seed = 0x9E3779B97F4A7C15u * (uint64_t)(i + 1)};
    for (int i = 0; i < CLIENT_TASKS; i++) {
        clients[i].done = done;
        sw_wg_add(done, 1);
        if (sw_go(client_task, &clients[i]) != SW_OK) {
            sw_wg_done(done);
            bad = 1;
        }
    }
    pthread_t ts[THREADS];
    int started = 0;
    for (; started < THREADS; started++) {
        if (pthread_create(&ts[started], NULL, client_thread, &clients[CLIENT_TASKS + started])) {
            bad = 1;
            break;
        }
    }
    for (int i = 0; i < started; i++)
        pthread_join(ts[i], NULL);
    sw_wg_wait(done);
    sw_wg_free(done);
    return bad;
}

int main(void)
{
    account *a;
    if (account_start(&a, OPENING) != SW_OK)
        return 1;
    printf("Account as a task: %d client tasks of %d rounds and %d threads of %d rounds;\n"
           "each round deposits $3.00 and withdraws $1.00, one in four also up to $20.00\n",
           CLIENT_TASKS, TASK_ROUNDS, THREADS, THREAD_ROUNDS);
    print_money("opening balance", OPENING);
    int bad = run_clients(a);

    int64_t in = 0, out = 0;
    long refused = 0;
    for (int i = 0; i < CLIENT_TASKS + THREADS; i++) {
        in += clients[i].deposited;
        out += clients[i].withdrawn;
        refused += clients[i].refused;
        bad |= clients[i].failed;
    }
    teller *t = teller_open(a);
    if (!t)
        return 1;
    int64_t got = balance(t), want = OPENING + in - out;
    print_money("deposited", in);
    print_money("withdrawn", out);
    printf("  withdrawals refused for insufficient funds: %ld\n", refused);
    print_money("final balance", got);
    print_money("opening + deposited - withdrawn", want);
    printf("  money conserved: %s\n", got == want ? "yes" : "NO");

    int rc = withdraw(t, got + 1);
    printf("  withdraw one cent more than the balance: %s\n", sw_strerror(rc));
    print_money("balance after the refused withdrawal", balance(t));
    printf("  deposit of -$5.00: %s\n", sw_strerror(deposit(t, -500)));
    int ok = !bad && got == want && rc == SW_EFUNDS && balance(t) == got;
    teller_leave(t);
    account_stop(a);
    return ok ? 0 : 1;
}
