/* Transactions across shards (db/shard.h): a PART on each shard, the
 * DECIDED marks, what recovery applies and where, and what a compaction
 * must carry. Each test runs a transaction over two shards of a data
 * directory up to some point, drops the shards as a crash would (nothing
 * more reaches the logs), reopens them with sw__shards_open, and reads
 * what they hold.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/base.h"
#include "db/db_int.h"
#include "db/shard.h"
#include "log/datadir.h"
#include "tmpdir.h"

#define N 2

static sw__shard *g_s[N];
static uint64_t g_next;

static void open_all(void)
{
    char err[256] = "";
    unsigned n = N;
    assert_int_equal(sw__datadir_open(g_dir, "kv", &n, N, err, sizeof err), SW_OK);
    int rc = sw__shards_open(g_s, N, g_dir, "kv", SW_FSYNC_ALWAYS, &g_next, err, sizeof err);
    if (rc != SW_OK)
        fail_msg("open: %s", err);
}

/* A crash: what was committed stays, the rest is lost. */
static void crash(void)
{
    for (unsigned i = 0; i < N; i++) {
        sw__journal *j = &g_s[i]->j;
        sw__journal_rewind(j, 0); /* the batch never written */
        sw__shard_close(g_s[i]);
        g_s[i] = NULL;
    }
}

static void commit_all(void)
{
    for (unsigned i = 0; i < N; i++)
        assert_int_equal(sw__shard_commit(g_s[i]), SW_OK);
}

/* What key reads as on shard i: its value, or "" when absent. */
static const char *get(unsigned i, const char *key)
{
    static char buf[64];
    const void *v;
    size_t len;
    int64_t e;
    if (sw__shard_get(g_s[i], sw__hash(key, strlen(key)), key, strlen(key), &v, &len, &e) != SW_OK)
        return "";
    snprintf(buf, sizeof buf, "%.*s", (int)len, (const char *)v);
    return buf;
}

static void put(unsigned i, const char *key, const char *val)
{
    assert_int_equal(sw__shard_put(g_s[i], sw__hash(key, strlen(key)), key, strlen(key), val,
                                   strlen(val), 0, NULL, NULL, NULL),
                     SW_OK);
}

static sw__rec put_rec(const char *key, const char *val)
{
    return (sw__rec){
        .type = SW__REC_PUT, .a = key, .alen = strlen(key), .b = val, .blen = strlen(val)};
}

/* Part i (of N) of txid: it puts key=val on shard i. */
static sw__shard_tx *prepare(unsigned i, uint64_t txid, const char *key, const char *val)
{
    sw__rec w = put_rec(key, val);
    sw__shard_tx *tx = NULL;
    assert_int_equal(sw__shard_tx_prepare(g_s[i], txid, N, i, &w, 1, &tx), SW_OK);
    assert_non_null(tx);
    return tx;
}

/* The decision reaches shard i: it logs so and applies its write. */
static void decide(unsigned i, sw__shard_tx *tx, const char *key, const char *val)
{
    assert_int_equal(sw__shard_tx_decide(g_s[i], tx), SW_OK);
    put(i, key, val);
    sw__shard_tx_applied(g_s[i]);
}

/* Starts a compaction of shard i: overwrites grow its log past twice its
 * data, which starts one at a commit; then runs it until its snapshot is
 * written. */
static void compact_started(unsigned i)
{
    g_s[i]->compact_min = 0;
    for (int round = 0; !sw__shard_compacting(g_s[i]); round++) {
        assert_true(round < 1000);
        for (int k = 0; k < 100; k++)
            put(i, "filler", "0123456789012345678901234567890123456789");
        assert_int_equal(sw__shard_commit(g_s[i]), SW_OK);
    }
    for (int k = 0; k < 100 && !g_s[i]->compact_scanned; k++)
        assert_int_equal(sw__shard_commit(g_s[i]), SW_OK);
}

/* Compacts shard i to the end. */
static void compact(unsigned i)
{
    uint64_t before = sw__shard_compactions(g_s[i]);
    compact_started(i);
    while (sw__shard_compacting(g_s[i]))
        assert_int_equal(sw__shard_commit(g_s[i]), SW_OK);
    assert_int_equal(sw__shard_compactions(g_s[i]), before + 1);
}

/* A transaction of both shards, logged: key a on shard 0 and key b on
 * shard 1 both become val once it applies. */
static void both(const char *val, sw__shard_tx *tx[N])
{
    uint64_t t = g_next++;
    tx[0] = prepare(0, t, "a", val);
    tx[1] = prepare(1, t, "b", val);
    commit_all();
}

/* The same as a world operation's unit across both shards: applied at
 * once, then logged as the transaction's parts (not committed). */
static void unit_both(const char *val, sw__shard_tx *tx[N])
{
    uint64_t t = g_next++;
    for (unsigned i = 0; i < N; i++) {
        sw__shard_unit_begin(g_s[i]);
        put(i, i ? "b" : "a", val);
        assert_int_equal(sw__shard_unit_end_part(g_s[i], t, N, i, &tx[i]), SW_OK);
    }
}

/* Crashes, reopens, and checks what a and b read as. */
static void reopen_expect(const char *a, const char *b)
{
    crash();
    open_all();
    assert_string_equal(get(0, "a"), a);
    assert_string_equal(get(1, "b"), b);
}

static void test_decided_everywhere(void **state)
{
    (void)state;
    open_all();
    uint64_t first = g_next;
    assert_true(first >= 1);
    sw__shard_tx *tx[N];
    both("1", tx);
    assert_string_equal(get(0, "a"), ""); /* logged, not applied */
    decide(0, tx[0], "a", "1");
    decide(1, tx[1], "b", "1");
    commit_all();
    sw__shard_tx_forget(g_s[0], tx[0]);
    sw__shard_tx_forget(g_s[1], tx[1]);
    reopen_expect("1", "1");
    assert_true(g_next > first); /* ids never repeat across a restart */
    crash();
}

/* Every PART logged, no DECIDED anywhere: decided all the same. */
static void test_all_parts_logged(void **state)
{
    (void)state;
    open_all();
    sw__shard_tx *tx[N];
    both("1", tx);
    reopen_expect("1", "1");
    /* Recovery logged the DECIDED each lacked: shard 1's PART may now go
     * (compacted away) and shard 0's still applies. */
    compact(1);
    reopen_expect("1", "1");
    crash();
}

/* A PART missing (the crash came before shard 1 logged it): nothing. */
static void test_part_missing(void **state)
{
    (void)state;
    open_all();
    put(0, "a", "old");
    commit_all();
    uint64_t t = g_next;
    prepare(0, t, "a", "1");
    commit_all();
    prepare(1, t, "b", "1"); /* not committed */
    reopen_expect("old", "");
    /* Written again later, the key keeps its new value. */
    put(0, "a", "new");
    commit_all();
    reopen_expect("new", "");
    crash();
}

/* Called off: the part is forgotten and never applied; the key's later
 * value stays. */
static void test_called_off(void **state)
{
    (void)state;
    open_all();
    sw__shard_tx *a = prepare(0, g_next, "a", "1");
    commit_all();
    sw__shard_tx_forget(g_s[0], a);
    put(0, "a", "after");
    commit_all();
    reopen_expect("after", "");
    crash();
}

/* Shard 0 applied and logged its DECIDED; the crash came before shard 1
 * heard: shard 1 applies at the end of its log. Then the same with shard
 * 0 compacted before the crash: its DECIDED must be carried, or shard 1
 * (whose PART lacks its own DECIDED, shard 0's PART being gone) would
 * drop its part. */
static void test_decided_on_one(void **state)
{
    (void)state;
    open_all();
    sw__shard_tx *tx[N];
    both("1", tx);
    decide(0, tx[0], "a", "1");
    commit_all();
    reopen_expect("1", "1");
    both("2", tx);
    decide(0, tx[0], "a", "2");
    commit_all();
    compact(0);
    reopen_expect("2", "2");
    crash();
}

/* Shard 0 compacted while its part was undecided: its PART is carried,
 * and applies at its DECIDED, after the snapshot's older value. */
static void test_compaction_carries_part(void **state)
{
    (void)state;
    open_all();
    put(0, "a", "old");
    commit_all();
    sw__shard_tx *tx[N];
    both("1", tx);
    compact(0);              /* the snapshot holds a=old, after the carried PART */
    reopen_expect("1", "1"); /* every PART there: decided */
    both("2", tx);
    compact(0);
    decide(0, tx[0], "a", "2"); /* after the snapshot: its DECIDED is where it applies */
    decide(1, tx[1], "b", "2");
    commit_all();
    reopen_expect("2", "2");
    crash();
}

/* Forgotten once over, a transaction's records go with a compaction, and
 * the keys keep their values. */
static void test_forgotten_compacts_away(void **state)
{
    (void)state;
    open_all();
    sw__shard_tx *tx[N];
    both("1", tx);
    decide(0, tx[0], "a", "1");
    decide(1, tx[1], "b", "1");
    commit_all();
    sw__shard_tx_forget(g_s[0], tx[0]);
    sw__shard_tx_forget(g_s[1], tx[1]);
    compact(0);
    put(1, "b", "later");
    commit_all();
    reopen_expect("1", "later");
    crash();
}

/* A unit: several writes on one shard, one record. */
static void test_unit(void **state)
{
    (void)state;
    open_all();
    sw__shard_unit_begin(g_s[0]);
    put(0, "a", "1");
    put(0, "a2", "1");
    assert_int_equal(sw__shard_unit_writes(g_s[0]), 2);
    assert_string_equal(get(0, "a"), "1"); /* applied at once */
    size_t before = sw__journal_mark(&g_s[0]->j);
    assert_int_equal(sw__shard_unit_end(g_s[0]), SW_OK);
    assert_true(sw__journal_mark(&g_s[0]->j) > before); /* logged at the end */
    sw__shard_unit_begin(g_s[0]);                       /* one write: its own record */
    put(0, "a3", "1");
    assert_int_equal(sw__shard_unit_end(g_s[0]), SW_OK);
    put(0, "a", "later"); /* after the unit, in its place */
    commit_all();
    reopen_expect("later", "");
    assert_string_equal(get(0, "a2"), "1");
    assert_string_equal(get(0, "a3"), "1");
    crash();
}

/* A transaction of one part (an EXEC whose keys all live on one other
 * shard): it applies where it stands, whatever its id. */
static void test_one_part(void **state)
{
    (void)state;
    open_all();
    sw__shard_tx *tx;
    uint64_t t = g_next++;
    sw__shard_unit_begin(g_s[1]);
    put(1, "b", "1");
    assert_int_equal(sw__shard_unit_end_part(g_s[1], t, 1, 0, &tx), SW_OK);
    commit_all();
    put(1, "b", "later"); /* after it, in its place */
    commit_all();
    reopen_expect("", "later");
    assert_true(g_next > t);
    crash();
}

/* A unit across shards (a world operation's): its parts are decided only
 * once both are logged. */
static void test_unit_across(void **state)
{
    (void)state;
    open_all();
    sw__shard_tx *tx[N];
    unit_both("1", tx);
    assert_int_equal(sw__shard_commit(g_s[0]), SW_OK); /* shard 1's part never committed */
    reopen_expect("", "");
    unit_both("2", tx);
    commit_all();
    for (unsigned i = 0; i < N; i++) {
        assert_int_equal(sw__shard_tx_decide(g_s[i], tx[i]), SW_OK);
        sw__shard_tx_applied(g_s[i]);
    }
    commit_all();
    for (unsigned i = 0; i < N; i++)
        sw__shard_tx_forget(g_s[i], tx[i]);
    reopen_expect("2", "2");
    crash();
}

/* A unit's part is in the table before its decision, so a compaction's
 * snapshot may hold it: the new file must not replace the log until the
 * part is decided, or a crash would keep half the transaction. */
static void test_unit_compaction_waits(void **state)
{
    (void)state;
    open_all();
    put(0, "a", "old");
    commit_all();
    sw__shard_tx *tx[N];
    unit_both("1", tx);
    assert_int_equal(sw__shard_commit(g_s[0]), SW_OK); /* shard 1's PART is not */
    uint64_t before = sw__shard_compactions(g_s[0]);
    compact_started(0);
    assert_true(g_s[0]->compact_scanned);
    for (int k = 0; k < 10; k++) /* the snapshot is done: the switch waits */
        assert_int_equal(sw__shard_commit(g_s[0]), SW_OK);
    assert_true(sw__shard_compacting(g_s[0]));
    assert_int_equal(sw__shard_compactions(g_s[0]), before);
    reopen_expect("old", "");

    unit_both("2", tx);
    commit_all();
    compact_started(0);
    for (unsigned i = 0; i < N; i++) {
        assert_int_equal(sw__shard_tx_decide(g_s[i], tx[i]), SW_OK);
        sw__shard_tx_applied(g_s[i]);
    }
    commit_all(); /* decided: the switch goes */
    assert_false(sw__shard_compacting(g_s[0]));
    reopen_expect("2", "2");
    crash();
}

/* A unit set aside (an EXEC's part waiting, mid-run, for another shard):
 * the writes made meanwhile log records of their own, the unit's writes
 * before and after are one PART at its end, and no compaction switches
 * meanwhile, its snapshot possibly holding the unit's first writes. */
static void test_unit_suspended(void **state)
{
    (void)state;
    open_all();
    sw__shard_unit u;
    sw__shard_unit_begin(g_s[0]);
    put(0, "a", "1");
    sw__shard_unit_suspend(g_s[0], &u);
    put(0, "x", "meanwhile");
    commit_all();
    free(u.buf); /* never resumed: the crash ends it */
    reopen_expect("", "");
    assert_string_equal(get(0, "x"), "meanwhile");

    uint64_t t = g_next++;
    sw__shard_unit_begin(g_s[0]);
    put(0, "a", "2");
    sw__shard_unit_suspend(g_s[0], &u);
    uint64_t before = sw__shard_compactions(g_s[0]);
    compact_started(0); /* its writes log on their own, and it cannot switch */
    for (int k = 0; k < 10; k++)
        assert_int_equal(sw__shard_commit(g_s[0]), SW_OK);
    assert_true(sw__shard_compacting(g_s[0]));
    assert_int_equal(sw__shard_compactions(g_s[0]), before);
    sw__shard_unit_resume(g_s[0], &u);
    put(0, "a", "3");
    put(0, "a4", "4");
    assert_int_equal(sw__shard_unit_writes(g_s[0]), 3);
    sw__shard_tx *tx[N];
    assert_int_equal(sw__shard_unit_end_part(g_s[0], t, N, 0, &tx[0]), SW_OK);
    sw__shard_unit_begin(g_s[1]);
    put(1, "b", "3");
    assert_int_equal(sw__shard_unit_end_part(g_s[1], t, N, 1, &tx[1]), SW_OK);
    assert_int_equal(sw__shard_commit(g_s[0]), SW_OK); /* shard 1's part never committed */
    reopen_expect("", "");
    assert_string_equal(get(0, "a4"), "");

    t = g_next++;
    sw__shard_unit_begin(g_s[0]);
    put(0, "a", "5");
    sw__shard_unit_suspend(g_s[0], &u);
    put(0, "x", "meanwhile too");
    sw__shard_unit_resume(g_s[0], &u);
    put(0, "a4", "5");
    assert_int_equal(sw__shard_unit_end_part(g_s[0], t, N, 0, &tx[0]), SW_OK);
    sw__shard_unit_begin(g_s[1]);
    sw__shard_unit_suspend(g_s[1], &u); /* before any write */
    sw__shard_unit_resume(g_s[1], &u);
    put(1, "b", "5");
    assert_int_equal(sw__shard_unit_end_part(g_s[1], t, N, 1, &tx[1]), SW_OK);
    commit_all(); /* every part logged: decided */
    reopen_expect("5", "5");
    assert_string_equal(get(0, "a4"), "5");
    assert_string_equal(get(0, "x"), "meanwhile too");
    crash();
}

/* A shard with no unit under way (memory-only, or none begun) sets
 * nothing aside. */
static void test_unit_suspend_none(void **state)
{
    (void)state;
    sw__shard *m;
    char err[128];
    assert_int_equal(sw__shard_open(&m, 0, NULL, "kv", SW_FSYNC_NO, err, sizeof err), SW_OK);
    sw__shard_unit u;
    sw__shard_unit_begin(m);
    sw__shard_unit_suspend(m, &u);
    assert_false(u.on);
    assert_null(u.buf);
    sw__shard_unit_resume(m, &u);
    assert_int_equal(sw__shard_unit_writes(m), 0);
    assert_int_equal(sw__shard_close(m), SW_OK);
}

static void test_errors(void **state)
{
    (void)state;
    open_all();
    sw__shard_tx *tx = NULL;
    sw__rec w = put_rec("a", "1");
    sw__rec bad = {.type = SW__REC_EXPIRE, .a = "a", .alen = 1, .num = 5};
    assert_int_equal(sw__shard_tx_prepare(g_s[0], 0, N, 0, &w, 1, &tx), SW_EINVAL);
    assert_int_equal(sw__shard_tx_prepare(g_s[0], 1, N, N, &w, 1, &tx), SW_EINVAL);
    assert_int_equal(sw__shard_tx_prepare(g_s[0], 1, 0, 0, &w, 1, &tx), SW_EINVAL);
    assert_int_equal(sw__shard_tx_prepare(g_s[0], 1, N, 0, &bad, 1, &tx), SW_EINVAL);
    assert_null(tx);
    crash();

    /* A memory-only shard logs nothing and keeps nothing. */
    sw__shard *m[N];
    uint64_t next;
    char err[128];
    assert_int_equal(sw__shards_open(m, N, NULL, "kv", SW_FSYNC_NO, &next, err, sizeof err), SW_OK);
    assert_int_equal(next, 1);
    assert_int_equal(sw__shard_tx_prepare(m[0], 1, N, 0, &w, 1, &tx), SW_OK);
    assert_null(tx);
    assert_int_equal(sw__shard_tx_decide(m[0], tx), SW_OK);
    sw__shard_tx_applied(m[0]);
    sw__shard_tx_forget(m[0], tx);
    for (unsigned i = 0; i < N; i++)
        sw__shard_close(m[i]);
}

/* A transaction's records in a log that is not stewardd's, and a
 * malformed PART, are refused at open. */
static void test_bad_logs(void **state)
{
    (void)state;
    open_all();
    sw__rec w = put_rec("a", "1");
    sw__shard_tx *tx;
    assert_int_equal(sw__shard_tx_prepare(g_s[0], g_next, N, 0, &w, 1, &tx), SW_OK);
    commit_all();
    crash();
    /* The same log opened as the Db's: no transactions there. */
    sw__shard *s = NULL;
    char err[256] = "";
    assert_int_equal(sw__shard_open(&s, 0, g_dir, "kv", SW_FSYNC_ALWAYS, err, sizeof err), SW_EIO);
    assert_null(s);

    /* A PART whose writes are not records. */
    open_all();
    uint8_t head[8] = {2, 0, 0, 0, 0, 0, 0, 0};
    sw__rec r = {.type = SW__REC_TX_PART, .num = 99, .a = head, .alen = 8, .b = "junk", .blen = 4};
    assert_int_equal(sw__journal_append(&g_s[1]->j, &r), SW_OK);
    commit_all();
    crash();
    unsigned n = N;
    assert_int_equal(sw__datadir_open(g_dir, "kv", &n, N, err, sizeof err), SW_OK);
    assert_int_equal(
        sw__shards_open(g_s, N, g_dir, "kv", SW_FSYNC_ALWAYS, &g_next, err, sizeof err), SW_EIO);
    for (unsigned i = 0; i < N; i++)
        assert_null(g_s[i]);
}

int main(void)
{
    sw_set_log(NULL, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_decided_everywhere, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_all_parts_logged, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_part_missing, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_called_off, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_decided_on_one, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_compaction_carries_part, tmpdir_setup,
                                        tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_forgotten_compacts_away, tmpdir_setup,
                                        tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_unit, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_unit_across, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_one_part, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_unit_compaction_waits, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_unit_suspended, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test(test_unit_suspend_none),
        cmocka_unit_test_setup_teardown(test_errors, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_bad_logs, tmpdir_setup, tmpdir_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
