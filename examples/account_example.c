/* The Go pattern's Account, in steward: Deposit, Withdraw and Balance on a
 * balance that one owner holds. Money is int64 cents: exact.
 *
 * Many threads deposit and withdraw at once; the final balance is exact.
 * Then a withdrawal beyond the balance fails with "insufficient funds" and
 * changes nothing.
 */
#include <pthread.h>
#include <stdio.h>

#include "steward/account.h"

enum { THREADS = 8, ROUNDS = 10000 };

static sw_account *acct;

static void *worker_main(void *arg)
{
    (void)arg;
    for (int i = 0; i < ROUNDS; i++) {
        sw_account_deposit(acct, 300);  /* $3.00 in */
        sw_account_withdraw(acct, 100); /* $1.00 out: always covered */
    }
    return NULL;
}

static void print_money(const char *what, int64_t cents)
{
    printf("  %s: $%lld.%02lld\n", what, (long long)(cents / 100), (long long)(cents % 100));
}

int main(void)
{
    if (sw_account_new(&acct, 10000) != SW_OK) /* opens with $100.00 */
        return 1;
    printf("Account: %d threads, each %d deposits of $3.00 and withdrawals of $1.00\n", THREADS,
           ROUNDS);
    print_money("opening balance", sw_account_balance(acct));
    pthread_t ts[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&ts[i], NULL, worker_main, NULL);
    for (int i = 0; i < THREADS; i++)
        pthread_join(ts[i], NULL);
    int64_t want = 10000 + (int64_t)THREADS * ROUNDS * 200;
    int64_t got = sw_account_balance(acct);
    print_money("final balance", got);
    print_money("expected", want);

    int rc = sw_account_withdraw(acct, got + 1);
    printf("  withdraw one cent more than the balance: %s\n", sw_strerror(rc));
    print_money("balance after the refused withdrawal", sw_account_balance(acct));
    printf("  deposit of -$5.00: %s\n", sw_strerror(sw_account_deposit(acct, -500)));
    int ok = got == want && rc == SW_EFUNDS && sw_account_balance(acct) == got;
    sw_account_free(acct);
    return ok ? 0 : 1;
}
