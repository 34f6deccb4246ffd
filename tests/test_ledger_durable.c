/* Unit tests of the durable Ledger: reopen keeps every balance, a transfer
 * that a crash left half done is refunded exactly once, failed commits
 * acknowledge nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "tmpdir.h"

#include "account/acctmap.h"
#include "base/base.h"
#include "account/ledger_int.h"
#include "log/logfile.h"
#include "steward/account.h"

static sw_ledger *open_dir(unsigned shards)
{
    sw_ledger *l = NULL;
    sw_ledger_options opts = {.shards = shards, .dir = g_dir, .fsync = SW_FSYNC_ALWAYS};
    assert_int_equal(sw_ledger_open(&l, &opts), SW_OK);
    return l;
}

static int64_t balance(sw_ledger *l, uint64_t id)
{
    int64_t b = -1;
    assert_int_equal(sw_ledger_balance(l, id, &b), SW_OK);
    return b;
}

/* The shard an id lives on, as the Ledger computes it. */
static unsigned shard_of(uint64_t id, unsigned n)
{
    return sw__shard_of(sw__mix64(id), n);
}

static void test_reopen_keeps_balances(void **state)
{
    (void)state;
    sw_ledger *l = open_dir(3);
    for (uint64_t id = 0; id < 30; id++)
        assert_int_equal(sw_ledger_create(l, id, 1000), SW_OK);
    for (uint64_t id = 0; id < 30; id++) {
        assert_int_equal(sw_ledger_transfer(l, id, (id + 7) % 30, (int64_t)id + 1), SW_OK);
        assert_int_equal(sw_ledger_deposit(l, id, 5), SW_OK);
    }
    assert_int_equal(sw_ledger_withdraw(l, 3, 100), SW_OK);
    int64_t want[30], total;
    for (uint64_t id = 0; id < 30; id++)
        want[id] = balance(l, id);
    sw_ledger_total(l, &total, NULL);
    sw_ledger_close(l);

    l = open_dir(0);
    for (uint64_t id = 0; id < 30; id++)
        assert_int_equal(balance(l, id), want[id]);
    int64_t after;
    uint64_t n;
    assert_int_equal(sw_ledger_total(l, &after, &n), SW_OK);
    assert_int_equal(after, total);
    assert_int_equal(n, 30);
    assert_int_equal(sw_ledger_create(l, 5, 1), SW_EEXIST); /* creates are durable too */
    sw_ledger_close(l);
    sw_ledger_options other = {.shards = 2, .dir = g_dir};
    assert_int_equal(sw_ledger_open(&l, &other), SW_EINVAL); /* not the directory's count */
}

static void test_half_done_transfer_is_refunded_once(void **state)
{
    (void)state;
    /* Two accounts on different shards. */
    uint64_t a = 1, b = 2;
    while (shard_of(b, 2) == shard_of(a, 2))
        b++;
    sw_ledger *l = open_dir(2);
    sw_ledger_create(l, a, 500);
    sw_ledger_create(l, b, 500);
    assert_int_equal(sw_ledger_transfer(l, a, b, 200), SW_OK);
    sw_ledger_close(l);
    /* A crash that tore the credit (the last record of b's log) away. */
    char path[128];
    snprintf(path, sizeof path, "%s/ledger-shard-%04u.log", g_dir, shard_of(b, 2));
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(truncate(path, st.st_size - 3), 0);

    l = open_dir(2); /* settles: the debit alone is refunded */
    assert_int_equal(balance(l, a), 500);
    assert_int_equal(balance(l, b), 500);
    assert_int_equal(sw_ledger_deposit(l, a, 1), SW_OK); /* an ACCT_SET after the refund */
    sw_ledger_close(l);
    l = open_dir(2); /* and the refund is not made twice */
    assert_int_equal(balance(l, a), 501);
    assert_int_equal(balance(l, b), 500);
    sw_ledger_close(l);
}

static void test_failed_commit_acknowledges_nothing(void **state)
{
    (void)state;
    sw_ledger *l = open_dir(1);
    sw_ledger_create(l, 1, 100);
    sw_ledger_create(l, 2, 100);
    sw__log_fail_next(SW__LOG_FAULT_FSYNC, 1);
    assert_int_equal(sw_ledger_transfer(l, 1, 2, 30), SW_EIO);
    sw__log_fail_next(SW__LOG_FAULT_FSYNC, 0);
    int64_t b;
    assert_int_equal(sw_ledger_balance(l, 1, &b), SW_EIO); /* the shard refuses now */
    assert_int_equal(sw_ledger_close(l), SW_EIO);          /* and closing says so */
    l = open_dir(1);
    assert_int_equal(balance(l, 1), 100);
    assert_int_equal(balance(l, 2), 100);
    assert_int_equal(sw_ledger_close(l), SW_OK);
}

/* Two ids on different shards of a Ledger of n. */
static void cross_pair(unsigned n, uint64_t *a, uint64_t *b)
{
    *a = 1;
    for (*b = 2; shard_of(*b, n) == shard_of(*a, n); (*b)++)
        ;
}

/* A full disk refuses a transfer whole, whichever half finds no room: the
 * credit's room is held from the start, so once the debit is made the
 * credit cannot be refused. A log reserves its first space at its first
 * append after an open, which is where the fault seam strikes here. */
static void test_full_disk_refuses_transfer_whole(void **state)
{
    (void)state;
    uint64_t a, b;
    cross_pair(2, &a, &b);
    sw_ledger *l = open_dir(2);
    assert_int_equal(sw_ledger_create(l, a, 100), SW_OK);
    assert_int_equal(sw_ledger_create(l, b, 100), SW_OK);
    assert_int_equal(sw_ledger_close(l), SW_OK);
    /* 1: the credit's room on b's shard (a's has room: a deposit made
     * it). Were it not held from the start, the debit would go through
     * and the credit be refused, and the money would be gone. */
    l = open_dir(2);
    assert_int_equal(sw_ledger_deposit(l, a, 1), SW_OK);
    sw__log_fail_next(SW__LOG_FAULT_NOSPACE, 1);
    assert_int_equal(sw_ledger_transfer(l, a, b, 31), SW_EIO);
    sw__log_fail_next(SW__LOG_FAULT_NOSPACE, 0);
    assert_int_equal(balance(l, a), 101);
    assert_int_equal(balance(l, b), 100);
    assert_int_equal(sw_ledger_transfer(l, a, b, 1), SW_OK);
    assert_int_equal(sw_ledger_transfer(l, a, b, 30), SW_OK); /* room again */
    assert_int_equal(sw_ledger_close(l), SW_OK);
    /* 2: the debit's room on a's shard (b's has room: a deposit made it). */
    l = open_dir(2);
    assert_int_equal(sw_ledger_deposit(l, b, 1), SW_OK);
    sw__log_fail_next(SW__LOG_FAULT_NOSPACE, 1);
    assert_int_equal(sw_ledger_transfer(l, a, b, 20), SW_EIO);
    sw__log_fail_next(SW__LOG_FAULT_NOSPACE, 0);
    assert_int_equal(balance(l, a), 70);
    assert_int_equal(balance(l, b), 132);
    assert_int_equal(sw_ledger_transfer(l, a, b, 20), SW_OK);
    assert_int_equal(balance(l, a), 50);
    assert_int_equal(balance(l, b), 152);
    assert_int_equal(sw_ledger_close(l), SW_OK);
    /* 3: within one shard, and a plain deposit. */
    tmpdir_teardown(NULL);
    tmpdir_setup(NULL);
    l = open_dir(1);
    assert_int_equal(sw_ledger_create(l, a, 100), SW_OK);
    assert_int_equal(sw_ledger_create(l, b, 100), SW_OK);
    assert_int_equal(sw_ledger_close(l), SW_OK);
    l = open_dir(1);
    sw__log_fail_next(SW__LOG_FAULT_NOSPACE, 1);
    assert_int_equal(sw_ledger_transfer(l, a, b, 5), SW_EIO);
    sw__log_fail_next(SW__LOG_FAULT_NOSPACE, 0);
    assert_int_equal(sw_ledger_close(l), SW_OK);
    l = open_dir(1);
    sw__log_fail_next(SW__LOG_FAULT_NOSPACE, 1);
    assert_int_equal(sw_ledger_deposit(l, a, 5), SW_EIO);
    sw__log_fail_next(SW__LOG_FAULT_NOSPACE, 0);
    int64_t total;
    uint64_t accounts;
    assert_int_equal(sw_ledger_total(l, &total, &accounts), SW_OK);
    assert_int_equal(total, 200);
    assert_int_equal(balance(l, a), 100);
    assert_int_equal(balance(l, b), 100);
    assert_int_equal(sw_ledger_close(l), SW_OK);
}

/* What the log layer did, in order, for test_debit_durable_before_credit:
 * 'O' an open (fd[i] then names the file's shard), 'W' a write, 'S' a
 * completed fdatasync, each with the shard of its file. */
static struct {
    int shard_of_fd[1024];
    char ops[256];
    int shards[256];
    int n;
} g_io;

static void note_io(void *ctx, const sw__io_event *ev)
{
    (void)ctx;
    if (ev->op == SW__IO_OPEN && ev->fd >= 0 && ev->fd < 1024) {
        const char *s = strstr(ev->path, "ledger-shard-");
        g_io.shard_of_fd[ev->fd] = s ? atoi(s + strlen("ledger-shard-")) : -1;
        return;
    }
    if ((ev->op != SW__IO_WRITE && ev->op != SW__IO_DATASYNC) || ev->fd < 0 || ev->fd >= 1024 ||
        g_io.n == 256)
        return;
    g_io.ops[g_io.n] = ev->op == SW__IO_WRITE ? 'W' : 'S';
    g_io.shards[g_io.n++] = g_io.shard_of_fd[ev->fd];
}

/* Under everysec, a cross-shard transfer's debit is on disk before its
 * credit is written: otherwise a power cut may keep the credit alone, and
 * recovery cannot take back money already spent onwards (crash_states
 * found it). The order of the log layer's calls shows it. */
static void test_debit_durable_before_credit(void **state)
{
    (void)state;
    uint64_t a = 1, b = 2;
    while (shard_of(b, 2) == shard_of(a, 2))
        b++;
    sw_ledger *l = NULL;
    sw_ledger_options opts = {.shards = 2, .dir = g_dir, .fsync = SW_FSYNC_EVERYSEC};
    memset(&g_io, 0, sizeof g_io);
    memset(g_io.shard_of_fd, 0xff, sizeof g_io.shard_of_fd);
    sw__log_observe(note_io, NULL);
    assert_int_equal(sw_ledger_open(&l, &opts), SW_OK);
    assert_int_equal(sw_ledger_create(l, a, 500), SW_OK);
    assert_int_equal(sw_ledger_create(l, b, 500), SW_OK);
    int from = (int)shard_of(a, 2), to = (int)shard_of(b, 2);
    int start = g_io.n;
    assert_int_equal(sw_ledger_transfer(l, a, b, 200), SW_OK);
    int end = g_io.n;
    sw__log_observe(NULL, NULL);
    int debit_write = -1, debit_sync = -1, credit_write = -1;
    for (int i = start; i < end; i++) {
        if (g_io.ops[i] == 'W' && g_io.shards[i] == from && debit_write < 0)
            debit_write = i;
        if (g_io.ops[i] == 'S' && g_io.shards[i] == from && debit_write >= 0 && debit_sync < 0)
            debit_sync = i;
        if (g_io.ops[i] == 'W' && g_io.shards[i] == to && credit_write < 0)
            credit_write = i;
    }
    assert_true(debit_write >= 0 && credit_write >= 0);
    assert_true(debit_sync > debit_write); /* synced, though the policy is everysec */
    assert_true(debit_sync < credit_write);
    assert_int_equal(sw_ledger_close(l), SW_OK);
}

/* The final sync at close fails: the close reports it. */
static void test_close_reports_failed_final_sync(void **state)
{
    (void)state;
    sw_ledger *l = NULL;
    sw_ledger_options opts = {.shards = 1, .dir = g_dir, .fsync = SW_FSYNC_NO};
    assert_int_equal(sw_ledger_open(&l, &opts), SW_OK);
    assert_int_equal(sw_ledger_create(l, 7, 100), SW_OK);
    sw__log_fail_next(SW__LOG_FAULT_FSYNC, 1);
    assert_int_equal(sw_ledger_close(l), SW_EIO);
    sw__log_fail_next(SW__LOG_FAULT_FSYNC, 0);
    l = open_dir(1); /* written, if not synced: the page cache still has it */
    assert_int_equal(balance(l, 7), 100);
    assert_int_equal(sw_ledger_close(l), SW_OK);
}

static off_t log_bytes(unsigned shards)
{
    off_t total = 0;
    for (unsigned i = 0; i < shards; i++) {
        char path[128];
        struct stat st;
        snprintf(path, sizeof path, "%s/ledger-shard-%04u.log", g_dir, i);
        if (stat(path, &st) == 0)
            total += st.st_size;
    }
    return total;
}

static void test_compaction(void **state)
{
    (void)state;
    sw_ledger *l = open_dir(3);
    for (uint64_t id = 0; id < 20; id++)
        sw_ledger_create(l, id, 1000);
    for (int i = 0; i < 3000; i++)
        assert_int_equal(sw_ledger_transfer(l, (uint64_t)i % 20,
                                            (uint64_t)(i * 7 + 3) % 20 == (uint64_t)i % 20
                                                ? (uint64_t)(i + 1) % 20
                                                : (uint64_t)(i * 7 + 3) % 20,
                                            1 + i % 5),
                         SW_OK);
    int64_t want[20];
    for (uint64_t id = 0; id < 20; id++)
        want[id] = balance(l, id);
    off_t before = log_bytes(3);
    assert_int_equal(sw__ledger_compact(l), SW_OK);
    off_t after = log_bytes(3);
    assert_true(after < before / 10);    /* 20 accounts, not 3000 transfers */
    for (uint64_t id = 0; id < 20; id++) /* nothing changed */
        assert_int_equal(balance(l, id), want[id]);
    /* Writes after the compaction go to the new files. */
    assert_int_equal(sw_ledger_transfer(l, 0, 1, 1), SW_OK);
    want[0]--, want[1]++;
    sw_ledger_close(l);
    l = open_dir(3);
    for (uint64_t id = 0; id < 20; id++)
        assert_int_equal(balance(l, id), want[id]);
    int64_t total;
    assert_int_equal(sw_ledger_total(l, &total, NULL), SW_OK);
    assert_int_equal(total, 20 * 1000);
    sw_ledger_close(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_reopen_keeps_balances, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_half_done_transfer_is_refunded_once, tmpdir_setup,
                                        tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_failed_commit_acknowledges_nothing, tmpdir_setup,
                                        tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_debit_durable_before_credit, tmpdir_setup,
                                        tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_close_reports_failed_final_sync, tmpdir_setup,
                                        tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_compaction, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_full_disk_refuses_transfer_whole, tmpdir_setup,
                                        tmpdir_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
