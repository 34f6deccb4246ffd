/* A Ledger: many accounts spread over shards, with transfers that are all
 * or nothing. Threads move money at random among 200 accounts; a checker
 * takes the total meanwhile. Money is never created or destroyed.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#include "steward/account.h"

enum { ACCOUNTS = 200, THREADS = 8, TRANSFERS = 5000, OPENING = 50000 };

static sw_ledger *ledger;
static _Atomic long done_ok, done_funds;

static void *worker_main(void *arg)
{
    uint64_t x = (uint64_t)(uintptr_t)arg * 0x9E3779B97F4A7C15u + 1;
    for (int i = 0; i < TRANSFERS; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        uint64_t from = x % ACCOUNTS, to = (x >> 24) % ACCOUNTS;
        if (from == to)
            continue;
        int rc = sw_ledger_transfer(ledger, from, to, 1 + (int64_t)((x >> 44) % 20000));
        atomic_fetch_add(rc == SW_OK ? &done_ok : &done_funds, 1);
    }
    return NULL;
}

int main(void)
{
    if (sw_ledger_open(&ledger, NULL) != SW_OK)
        return 1;
    for (uint64_t id = 0; id < ACCOUNTS; id++)
        sw_ledger_create(ledger, id, OPENING);
    int64_t before, during, after;
    uint64_t n;
    sw_ledger_total(ledger, &before, &n);
    printf("Ledger: %llu accounts, total $%lld.%02lld\n", (unsigned long long)n,
           (long long)(before / 100), (long long)(before % 100));

    pthread_t ts[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&ts[i], NULL, worker_main, (void *)(uintptr_t)(i + 1));
    sw_ledger_total(ledger, &during, NULL);
    for (int i = 0; i < THREADS; i++)
        pthread_join(ts[i], NULL);
    sw_ledger_total(ledger, &after, NULL);

    printf("  %d threads made %ld transfers; %ld refused for insufficient funds\n", THREADS,
           atomic_load(&done_ok), atomic_load(&done_funds));
    printf("  total while transfers ran: $%lld.%02lld\n", (long long)(during / 100),
           (long long)(during % 100));
    printf("  total afterwards:          $%lld.%02lld (%s)\n", (long long)(after / 100),
           (long long)(after % 100), after == before && during == before ? "conserved" : "WRONG");
    int64_t b;
    printf("  transfer from a missing account: %s\n",
           sw_strerror(sw_ledger_transfer(ledger, 999999, 1, 100)));
    sw_ledger_balance(ledger, 0, &b);
    printf("  transfer of more than account 0 holds: %s\n",
           sw_strerror(sw_ledger_transfer(ledger, 0, 1, b + 1)));
    sw_ledger_close(ledger);
    return after == before && during == before ? 0 : 1;
}
