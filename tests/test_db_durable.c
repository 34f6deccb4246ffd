/* Unit tests of the durable Db: reopen in every fsync mode, the shard count
 * rule, torn tails, corruption, failed writes and syncs (fault injection),
 * and compaction while clients keep writing. */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
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

#include "db/db_int.h"
#include "log/logfile.h"
#include "steward/db.h"

static sw_db *open_dir(unsigned shards, enum sw_fsync fsync)
{
    sw_db *db = NULL;
    sw_db_options opts = {.shards = shards, .dir = g_dir, .fsync = fsync};
    assert_int_equal(sw_db_open(&db, &opts), SW_OK);
    return db;
}

static void store_n(sw_db *db, int from, int to, const char *tag)
{
    char k[32], v[64];
    for (int i = from; i < to; i++) {
        int kl = snprintf(k, sizeof k, "key-%d", i);
        int vl = snprintf(v, sizeof v, "%s-%d", tag, i);
        assert_int_equal(sw_db_store(db, k, (size_t)kl, v, (size_t)vl), SW_OK);
    }
}

static void check_n(sw_db *db, int from, int to, const char *tag)
{
    char k[32], v[64], got[64];
    for (int i = from; i < to; i++) {
        int kl = snprintf(k, sizeof k, "key-%d", i);
        int vl = snprintf(v, sizeof v, "%s-%d", tag, i);
        size_t n = 0;
        assert_int_equal(sw_db_fetch(db, k, (size_t)kl, got, sizeof got, &n), SW_OK);
        assert_int_equal(n, (size_t)vl);
        assert_memory_equal(got, v, n);
    }
}

static void test_reopen_every_mode(void **state)
{
    (void)state;
    const enum sw_fsync modes[] = {SW_FSYNC_ALWAYS, SW_FSYNC_EVERYSEC, SW_FSYNC_NO};
    for (int m = 0; m < 3; m++) {
        tmpdir_teardown(NULL);
        tmpdir_setup(NULL);
        sw_db *db = open_dir(3, modes[m]);
        store_n(db, 0, 1000, "a");
        store_n(db, 0, 500, "b"); /* overwrite half */
        for (int i = 900; i < 1000; i++) {
            char k[32];
            int kl = snprintf(k, sizeof k, "key-%d", i);
            assert_int_equal(sw_db_delete(db, k, (size_t)kl), SW_OK);
        }
        sw_db_store(db, "", 0, "empty key", 9);
        sw_db_store(db, "nul\0key", 7, "v\0v", 3);
        sw_db_close(db);

        db = open_dir(0, modes[m]); /* 0: the directory's shard count */
        assert_int_equal(sw_db_count(db), 900 + 2);
        check_n(db, 0, 500, "b");
        check_n(db, 500, 900, "a");
        char got[16];
        size_t n;
        assert_int_equal(sw_db_fetch(db, "key-950", 7, got, sizeof got, &n), SW_ENOTFOUND);
        assert_int_equal(sw_db_fetch(db, "nul\0key", 7, got, sizeof got, &n), SW_OK);
        assert_int_equal(n, 3);
        assert_memory_equal(got, "v\0v", 3);
        sw_db_close(db);
    }
}

static void test_shard_count_rule(void **state)
{
    (void)state;
    sw_db *db = open_dir(4, SW_FSYNC_NO);
    store_n(db, 0, 100, "x");
    sw_db_close(db);
    sw_db_options other = {.shards = 3, .dir = g_dir};
    assert_int_equal(sw_db_open(&db, &other), SW_EINVAL); /* would misplace keys */
    db = open_dir(4, SW_FSYNC_NO);
    check_n(db, 0, 100, "x");
    /* A second Db on the same directory is refused while the first is open. */
    sw_db *second = NULL;
    sw_db_options same = {.dir = g_dir};
    assert_int_equal(sw_db_open(&second, &same), SW_EEXIST);
    sw_db_close(db);
}

static char *shard_log(unsigned i)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/db-shard-%04u.log", g_dir, i);
    return path;
}

static off_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : -1;
}

/* What the log hook received. */
struct captured {
    int lines, level;
    char first[512];
};

static void capture(void *ctx, int level, const char *msg)
{
    struct captured *c = ctx;
    if (c->lines++ == 0) {
        c->level = level;
        snprintf(c->first, sizeof c->first, "%s", msg);
    }
}

static void test_torn_tail_is_cut(void **state)
{
    (void)state;
    sw_db *db = open_dir(1, SW_FSYNC_ALWAYS);
    store_n(db, 0, 50, "t");
    sw_db_close(db);
    /* A crash mid-append: the last record is cut short. */
    off_t size = file_size(shard_log(0));
    assert_int_equal(truncate(shard_log(0), size - 3), 0);
    struct captured got = {0};
    sw_set_log(capture, &got);
    db = open_dir(1, SW_FSYNC_ALWAYS);
    sw_set_log(NULL, NULL);
    /* The cut was reported through the hook, once, as a warning naming the file. */
    assert_int_equal(got.lines, 1);
    assert_int_equal(got.level, SW_LOG_WARN);
    assert_non_null(strstr(got.first, "steward: warning: "));
    assert_non_null(strstr(got.first, "torn tail"));
    assert_non_null(strstr(got.first, shard_log(0)));
    assert_int_equal(sw_db_count(db), 49); /* the torn record is gone, the rest is back */
    check_n(db, 0, 49, "t");
    store_n(db, 100, 110, "after"); /* appends go after the cut */
    sw_db_close(db);
    db = open_dir(1, SW_FSYNC_ALWAYS);
    check_n(db, 100, 110, "after");
    assert_int_equal(sw_db_count(db), 59);
    sw_db_close(db);
}

static void test_corruption_refused(void **state)
{
    (void)state;
    sw_db *db = open_dir(1, SW_FSYNC_ALWAYS);
    store_n(db, 0, 50, "c");
    sw_db_close(db);
    int fd = open(shard_log(0), O_RDWR);
    unsigned char byte;
    assert_int_equal(pread(fd, &byte, 1, 100), 1);
    byte ^= 0x40; /* a flipped bit in the middle of the file */
    assert_int_equal(pwrite(fd, &byte, 1, 100), 1);
    close(fd);
    off_t size = file_size(shard_log(0));
    sw_db_options opts = {.dir = g_dir};
    assert_int_equal(sw_db_open(&db, &opts), SW_EIO);
    assert_int_equal(file_size(shard_log(0)), size); /* nothing changed on disk */
}

static void test_failed_flush_acknowledges_nothing(void **state)
{
    (void)state;
    const enum sw__log_fault faults[] = {SW__LOG_FAULT_WRITE, SW__LOG_FAULT_SHORT_WRITE,
                                         SW__LOG_FAULT_FSYNC};
    for (int f = 0; f < 3; f++) {
        tmpdir_teardown(NULL);
        tmpdir_setup(NULL);
        sw_db *db = open_dir(1, SW_FSYNC_ALWAYS);
        store_n(db, 0, 10, "ok");
        sw__log_fail_next(faults[f], 1);
        assert_int_equal(sw_db_store(db, "lost", 4, "never acked", 11), SW_EIO);
        sw__log_fail_next(faults[f], 0);
        /* The shard refuses everything from now on: it holds an unstored change. */
        char got[16];
        size_t n;
        assert_int_equal(sw_db_fetch(db, "key-1", 5, got, sizeof got, &n), SW_EIO);
        assert_int_equal(sw_db_store(db, "x", 1, "y", 1), SW_EIO);
        assert_int_equal(sw_db_close(db), SW_EIO); /* closing says so too */
        db = open_dir(1, SW_FSYNC_ALWAYS);
        check_n(db, 0, 10, "ok");
        assert_int_equal(sw_db_fetch(db, "lost", 4, got, sizeof got, &n), SW_ENOTFOUND);
        assert_int_equal(sw_db_count(db), 10);
        assert_int_equal(sw_db_close(db), SW_OK);
    }
}

/* A full disk refuses the write that finds no room, and only it: nothing
 * changes, reads and the writes that fit go on, and the refused write goes
 * through once there is room. (tests/test_full_disk.c does this on a real
 * small file system.) */
static void test_full_disk_refuses_and_resumes(void **state)
{
    (void)state;
    const enum sw_fsync modes[] = {SW_FSYNC_ALWAYS, SW_FSYNC_EVERYSEC};
    size_t big_len = (size_t)3 << 20; /* past the log's reserved space */
    char *big = malloc(big_len), got[16];
    assert_non_null(big);
    memset(big, 'b', big_len);
    for (int m = 0; m < 2; m++) {
        tmpdir_teardown(NULL);
        tmpdir_setup(NULL);
        sw_db *db = open_dir(1, modes[m]);
        store_n(db, 0, 10, "ok");
        sw__log_fail_next(SW__LOG_FAULT_NOSPACE, 1);
        assert_int_equal(sw_db_store(db, "big", 3, big, big_len), SW_EIO);
        sw__log_fail_next(SW__LOG_FAULT_NOSPACE, 0);
        size_t n;
        assert_int_equal(sw_db_fetch(db, "big", 3, got, sizeof got, &n), SW_ENOTFOUND);
        check_n(db, 0, 10, "ok");
        store_n(db, 10, 20, "ok");
        assert_int_equal(sw_db_store(db, "big", 3, big, big_len), SW_OK);
        assert_int_equal(sw_db_close(db), SW_OK);
        db = open_dir(1, modes[m]);
        check_n(db, 0, 20, "ok");
        assert_int_equal(sw_db_fetch(db, "big", 3, NULL, 0, &n), SW_OK);
        assert_int_equal(n, big_len);
        assert_int_equal(sw_db_count(db), 21);
        assert_int_equal(sw_db_close(db), SW_OK);
    }
    free(big);
}

/* The final sync at close fails: the close reports it. */
static void test_close_reports_failed_final_sync(void **state)
{
    (void)state;
    sw_db *db = open_dir(1, SW_FSYNC_NO);
    store_n(db, 0, 10, "s");
    sw__log_fail_next(SW__LOG_FAULT_FSYNC, 1);
    assert_int_equal(sw_db_close(db), SW_EIO);
    sw__log_fail_next(SW__LOG_FAULT_FSYNC, 0);
    db = open_dir(1, SW_FSYNC_NO); /* written, if not synced: the page cache has it */
    check_n(db, 0, 10, "s");
    assert_int_equal(sw_db_close(db), SW_OK);
}

/* Compaction while clients keep writing: writer threads overwrite and
 * delete keys while the log is compacted; the final state, after reopen,
 * must equal what the writers last did (each thread has its own keys). */
struct writer {
    pthread_t thread;
    sw_db *db;
    int id;
    int last[400]; /* last version written; -1 deleted; 0 never */
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    char k[32], v[64];
    uint64_t x = (uint64_t)w->id * 7919 + 1;
    for (int i = 1; i <= 6000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int key = (int)(x % 400);
        int kl = snprintf(k, sizeof k, "w%d-%d", w->id, key);
        if (x % 5 == 0) {
            int rc = sw_db_delete(w->db, k, (size_t)kl);
            if (rc == SW_OK || rc == SW_ENOTFOUND)
                w->last[key] = w->last[key] ? -1 : 0;
            continue;
        }
        int vl = snprintf(v, sizeof v, "v%d-%d-%0*d", i, key, 20, i);
        if (sw_db_store(w->db, k, (size_t)kl, v, (size_t)vl) == SW_OK)
            w->last[key] = i;
    }
    return NULL;
}

static void read_compactions(void *state, void *arg)
{
    *(uint64_t *)arg += sw__shard_compactions(state);
}

static void test_compaction_under_writes(void **state)
{
    (void)state;
    sw_db *db = open_dir(2, SW_FSYNC_NO);
    for (unsigned i = 0; i < 2; i++)
        db->shards[i].compact_min = 64 << 10; /* compact early: the test is small */
    struct writer ws[4];
    for (int i = 0; i < 4; i++) {
        memset(&ws[i], 0, sizeof ws[i]);
        ws[i].db = db;
        ws[i].id = i;
        pthread_create(&ws[i].thread, NULL, writer_main, &ws[i]);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(ws[i].thread, NULL);
    uint64_t compactions = 0;
    for (unsigned i = 0; i < 2; i++) /* read on the owner: it may still be compacting */
        sw_owner_call(db->shards[i].owner, read_compactions, &compactions);
    off_t size = file_size(shard_log(0)) + file_size(shard_log(1));
    sw_db_close(db);
    assert_true(compactions >= 1);
    assert_true(size < 4 * 6000 * 50); /* far below everything ever written */

    db = open_dir(0, SW_FSYNC_NO);
    size_t live = 0;
    for (int t = 0; t < 4; t++)
        for (int key = 0; key < 400; key++) {
            char k[32], v[64], got[64];
            int kl = snprintf(k, sizeof k, "w%d-%d", t, key);
            size_t n = 0;
            int rc = sw_db_fetch(db, k, (size_t)kl, got, sizeof got, &n);
            int last = ws[t].last[key];
            if (last <= 0) {
                assert_int_equal(rc, SW_ENOTFOUND);
                continue;
            }
            live++;
            int vl = snprintf(v, sizeof v, "v%d-%d-%0*d", last, key, 20, last);
            assert_int_equal(rc, SW_OK);
            assert_int_equal(n, (size_t)vl);
            assert_memory_equal(got, v, n);
        }
    assert_int_equal(sw_db_count(db), live);
    sw_db_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_reopen_every_mode, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_shard_count_rule, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_torn_tail_is_cut, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_corruption_refused, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_failed_flush_acknowledges_nothing, tmpdir_setup,
                                        tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_full_disk_refuses_and_resumes, tmpdir_setup,
                                        tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_close_reports_failed_final_sync, tmpdir_setup,
                                        tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_compaction_under_writes, tmpdir_setup,
                                        tmpdir_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
