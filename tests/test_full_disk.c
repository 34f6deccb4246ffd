/* A full disk, on real small file systems mounted in a private mount
 * namespace (as root, or in a user namespace otherwise), so that nothing
 * outside this process sees them and they go with the process: a 16 MiB
 * tmpfs, and (as root, where mkfs.ext4 and a loop device are at hand) a
 * 32 MiB ext4, data=ordered, where the log's reserved space is unwritten
 * extents and the writes into it go through delayed allocation. Where a
 * file system cannot be had, its tests skip and say why; the fault seam
 * (test_log, test_db_durable, test_ledger_durable) still covers the logic.
 *
 * Each test fills the file system with a filler file, leaves a little room,
 * and writes until the Db or the Ledger refuses: every write answered SW_OK
 * must be there, every one refused must have changed nothing, reads go on,
 * the money is conserved; then the filler goes, and writes go through
 * again, and a reopen finds exactly what was acknowledged.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "support.h"

#include "steward/account.h"
#include "steward/db.h"

/* A small file system: where it is mounted ("" when there is none) and why
 * there is none. */
struct fs {
    const char *name;
    char mnt[64];
    char why[256];
};
static struct fs g_tmpfs = {.name = "tmpfs"}, g_ext4 = {.name = "ext4"};

static const struct fs *g_fs; /* the running test's file system */
static const char *g_mnt;     /* its mount, "" for none */
static char g_dir[128];       /* the data directory of the running test */
static char g_filler[128];    /* the file that fills the disk */

static bool write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text);
    close(fd);
    return ok;
}

/* A mount namespace of our own, made private; false with why set where
 * the machine does not let us. Runs first in main, before any thread
 * exists: a mount namespace is a thread's, and the threads made later
 * inherit it. */
static bool own_namespace(char *why, size_t len)
{
    uid_t uid = geteuid();
    gid_t gid = getegid();
    char map[64];
    if (unshare(CLONE_NEWNS | (uid != 0 ? CLONE_NEWUSER : 0)) != 0) {
        snprintf(why, len, "unshare(%s): %s",
                 uid != 0 ? "CLONE_NEWUSER|CLONE_NEWNS" : "CLONE_NEWNS", strerror(errno));
        return false;
    }
    if (uid != 0) {
        snprintf(map, sizeof map, "0 %u 1", (unsigned)uid);
        bool ok =
            write_file("/proc/self/setgroups", "deny") && write_file("/proc/self/uid_map", map);
        snprintf(map, sizeof map, "0 %u 1", (unsigned)gid);
        if (!ok || !write_file("/proc/self/gid_map", map)) {
            snprintf(why, len, "cannot map our user in a user namespace");
            return false;
        }
    }
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
        snprintf(why, len, "making / private: %s", strerror(errno));
        return false;
    }
    return true;
}

static bool make_mountpoint(struct fs *f)
{
    snprintf(f->mnt, sizeof f->mnt, "/tmp/steward-fulldisk-%s-XXXXXX", f->name);
    if (mkdtemp(f->mnt))
        return true;
    snprintf(f->why, sizeof f->why, "mkdtemp: %s", strerror(errno));
    f->mnt[0] = 0;
    return false;
}

static void mount_tmpfs(struct fs *f)
{
    if (make_mountpoint(f) && mount("tmpfs", f->mnt, "tmpfs", 0, "size=16m,mode=0700") != 0) {
        snprintf(f->why, sizeof f->why, "mount -t tmpfs: %s", strerror(errno));
        rmdir(f->mnt);
        f->mnt[0] = 0;
    }
}

/* An ext4 image on a loop device: mkfs.ext4 and mount(8) do the work. The
 * image is unlinked once mounted; the loop device (autoclear) goes with
 * the mount. */
static void mount_ext4(struct fs *f, bool root)
{
    if (!root) {
        snprintf(f->why, sizeof f->why, "a loop device needs root");
        return;
    }
    if (!make_mountpoint(f))
        return;
    char img[80], cmd[400];
    snprintf(img, sizeof img, "%s.img", f->mnt);
    snprintf(cmd, sizeof cmd,
             "truncate -s 32M '%s' && mkfs.ext4 -q -F '%s' >/dev/null 2>&1 && "
             "mount -o loop '%s' '%s' 2>/dev/null",
             img, img, img, f->mnt);
    int rc = system(cmd);
    unlink(img);
    if (rc != 0) {
        snprintf(f->why, sizeof f->why, "mkfs.ext4 and a loop mount did not work here");
        rmdir(f->mnt);
        f->mnt[0] = 0;
    }
}

static void unmount(struct fs *f)
{
    if (f->mnt[0]) {
        umount2(f->mnt, MNT_DETACH);
        rmdir(f->mnt);
    }
}

static int setup(void **state)
{
    g_fs = *state;
    g_mnt = g_fs->mnt;
    if (!g_mnt[0])
        return 0;
    snprintf(g_dir, sizeof g_dir, "%s/data", g_mnt);
    snprintf(g_filler, sizeof g_filler, "%s/filler", g_mnt);
    return mkdir(g_dir, 0700) == 0 ? 0 : -1;
}

/* Whether the running test has its file system; if not, says why (the
 * test then skips). */
static bool have_fs(void)
{
    if (!g_mnt[0])
        print_message("skipped: no small %s to fill (%s)\n", g_fs->name, g_fs->why);
    return g_mnt[0] != 0;
}

static int teardown(void **state)
{
    (void)state;
    if (!g_mnt[0])
        return 0;
    char cmd[320];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", g_dir, g_filler);
    return system(cmd) == 0 ? 0 : -1;
}

/* Fills the file system, then frees `room` bytes of it. */
static void fill_disk(size_t room)
{
    int fd = open(g_filler, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    static char chunk[1 << 16];
    off_t size = 0;
    for (size_t step = sizeof chunk; step >= 4096; step /= 4) {
        ssize_t n;
        while ((n = write(fd, chunk, step)) > 0)
            size += n;
        assert_int_equal(errno, ENOSPC);
    }
    assert_int_equal(ftruncate(fd, size - (off_t)room), 0);
    close(fd);
}

static void free_disk(void)
{
    assert_int_equal(unlink(g_filler), 0);
}

/* ---- the Db ---- */

#define DB_KEYS 4000
#define VALUE_LEN 2000

static void value_of(int i, char *v)
{
    memset(v, 'a' + i % 26, VALUE_LEN);
    snprintf(v, VALUE_LEN, "v%d", i);
}

static sw_db *db_open(enum sw_fsync fsync)
{
    sw_db *db = NULL;
    sw_db_options o = {.shards = 2, .dir = g_dir, .fsync = fsync};
    assert_int_equal(sw_db_open(&db, &o), SW_OK);
    return db;
}

/* Every key stored (acked) reads back; every refused one is absent. */
static void db_check(sw_db *db, const bool *acked, int n)
{
    static char v[VALUE_LEN], got[VALUE_LEN];
    for (int i = 0; i < n; i++) {
        char k[32];
        int kl = snprintf(k, sizeof k, "key-%d", i);
        size_t len;
        int rc = sw_db_fetch(db, k, (size_t)kl, got, sizeof got, &len);
        if (!acked[i]) {
            assert_int_equal(rc, SW_ENOTFOUND);
            continue;
        }
        value_of(i, v);
        assert_int_equal(rc, SW_OK);
        assert_int_equal(len, VALUE_LEN);
        assert_memory_equal(got, v, VALUE_LEN);
    }
}

static void db_full_disk(enum sw_fsync fsync)
{
    if (!have_fs())
        skip();
    sw_db *db = db_open(fsync);
    assert_int_equal(sw_db_close(db), SW_OK); /* the files exist; no room held */
    fill_disk(256 << 10);
    db = db_open(fsync);
    static bool acked[DB_KEYS];
    static char v[VALUE_LEN];
    int stored = 0, refused = 0, n = 0;
    for (; n < DB_KEYS && refused < 64; n++) {
        char k[32];
        int kl = snprintf(k, sizeof k, "key-%d", n);
        value_of(n, v);
        int rc = sw_db_store(db, k, (size_t)kl, v, VALUE_LEN);
        assert_true(rc == SW_OK || rc == SW_EIO);
        acked[n] = rc == SW_OK;
        stored += rc == SW_OK;
        refused += rc == SW_EIO;
    }
    printf("    %s, %s: %d stored, %d refused on a full disk\n", g_mnt,
           fsync == SW_FSYNC_ALWAYS ? "always" : "everysec", stored, refused);
    assert_true(stored > 0 && refused >= 64);
    db_check(db, acked, n);        /* reads go on */
    for (int i = 0; i < 32; i++) { /* deletes: done or refused, never half */
        char k[32];
        int kl = snprintf(k, sizeof k, "key-%d", i);
        int rc = sw_db_delete(db, k, (size_t)kl);
        assert_int_equal(rc, acked[i] ? rc == SW_EIO ? SW_EIO : SW_OK : SW_ENOTFOUND);
        acked[i] = acked[i] && rc == SW_EIO;
    }
    db_check(db, acked, n);
    free_disk();
    for (int i = 0; i < n; i++) { /* the refused ones go through now */
        if (acked[i])
            continue;
        char k[32];
        int kl = snprintf(k, sizeof k, "key-%d", i);
        value_of(i, v);
        assert_int_equal(sw_db_store(db, k, (size_t)kl, v, VALUE_LEN), SW_OK);
        acked[i] = true;
    }
    assert_int_equal(sw_db_close(db), SW_OK);
    db = db_open(fsync);
    db_check(db, acked, n);
    assert_int_equal(sw_db_count(db), (size_t)n);
    assert_int_equal(sw_db_close(db), SW_OK);
}

static void test_db_always(void **state)
{
    (void)state;
    db_full_disk(SW_FSYNC_ALWAYS);
}

static void test_db_everysec(void **state)
{
    (void)state;
    db_full_disk(SW_FSYNC_EVERYSEC);
}

/* ---- the Ledger ---- */

#define ACCOUNTS 64
#define OPENING 1000000
#define THREADS 2

static sw_ledger *ledger_open(void)
{
    sw_ledger *l = NULL;
    sw_ledger_options o = {.shards = 4, .dir = g_dir, .fsync = SW_FSYNC_ALWAYS};
    assert_int_equal(sw_ledger_open(&l, &o), SW_OK);
    return l;
}

struct mover {
    pthread_t thread;
    sw_ledger *l;
    uint64_t rng;
    int64_t delta[ACCOUNTS]; /* what this thread's transfers moved */
    long ok, refused, other;
};

/* Transfers until 200 in a row are refused. */
static void *mover_main(void *arg)
{
    struct mover *m = arg;
    int streak = 0;
    while (streak < 200) {
        uint64_t from = rng_next(&m->rng) % ACCOUNTS, to = rng_next(&m->rng) % ACCOUNTS;
        int64_t amount = 1 + (int64_t)(rng_next(&m->rng) % 100);
        if (from == to)
            continue;
        int rc = sw_ledger_transfer(m->l, from, to, amount);
        if (rc == SW_OK) {
            m->delta[from] -= amount;
            m->delta[to] += amount;
            m->ok++;
            streak = 0;
        } else if (rc == SW_EIO) {
            m->refused++;
            streak++;
        } else {
            m->other++; /* insufficient funds: no change */
        }
    }
    return NULL;
}

static void ledger_check(sw_ledger *l, const struct mover *m)
{
    int64_t total = 0;
    uint64_t accounts = 0;
    assert_int_equal(sw_ledger_total(l, &total, &accounts), SW_OK);
    assert_int_equal(total, (int64_t)ACCOUNTS * OPENING);
    assert_int_equal(accounts, ACCOUNTS);
    for (uint64_t id = 0; id < ACCOUNTS; id++) {
        int64_t want = OPENING, got = -1;
        for (int t = 0; t < THREADS; t++)
            want += m[t].delta[id];
        assert_int_equal(sw_ledger_balance(l, id, &got), SW_OK);
        assert_int_equal(got, want);
    }
}

static void test_ledger_transfers(void **state)
{
    (void)state;
    if (!have_fs())
        skip();
    sw_ledger *l = ledger_open();
    for (uint64_t id = 0; id < ACCOUNTS; id++)
        assert_int_equal(sw_ledger_create(l, id, OPENING), SW_OK);
    assert_int_equal(sw_ledger_close(l), SW_OK);
    fill_disk(128 << 10);
    l = ledger_open();
    static struct mover m[THREADS];
    memset(m, 0, sizeof m);
    for (int t = 0; t < THREADS; t++) {
        m[t].l = l;
        m[t].rng = seed_stream((uint64_t)t);
        assert_int_equal(pthread_create(&m[t].thread, NULL, mover_main, &m[t]), 0);
    }
    for (int t = 0; t < THREADS; t++)
        pthread_join(m[t].thread, NULL);
    long ok = m[0].ok + m[1].ok, refused = m[0].refused + m[1].refused;
    printf("    %s, ledger: %ld transfers made, %ld refused on a full disk\n", g_mnt, ok, refused);
    assert_true(ok > 0 && refused > 0);
    ledger_check(l, m); /* the money is all there, every refusal changed nothing */
    free_disk();
    assert_int_equal(sw_ledger_transfer(l, 1, 2, 5), SW_OK);
    m[0].delta[1] -= 5;
    m[0].delta[2] += 5;
    ledger_check(l, m);
    assert_int_equal(sw_ledger_close(l), SW_OK);
    l = ledger_open();
    ledger_check(l, m);
    assert_int_equal(sw_ledger_close(l), SW_OK);
}

int main(int argc, char **argv)
{
    char why[256];
    bool root = geteuid() == 0;           /* outside the user namespace, if we make one */
    if (own_namespace(why, sizeof why)) { /* first: before any thread */
        mount_tmpfs(&g_tmpfs);
        mount_ext4(&g_ext4, root);
    } else {
        snprintf(g_tmpfs.why, sizeof g_tmpfs.why, "%s", why);
        snprintf(g_ext4.why, sizeof g_ext4.why, "%s", why);
    }
    seed_init(argc, argv);
    const struct fs *all[] = {&g_tmpfs, &g_ext4};
    for (int i = 0; i < 2; i++)
        if (!all[i]->mnt[0])
            printf("no small %s to fill (%s): its tests skip; the fault seam tests in test_log, "
                   "test_db_durable and test_ledger_durable still run\n",
                   all[i]->name, all[i]->why);
    const struct CMUnitTest tests[] = {
        {"tmpfs: db always", test_db_always, setup, teardown, &g_tmpfs},
        {"tmpfs: db everysec", test_db_everysec, setup, teardown, &g_tmpfs},
        {"tmpfs: ledger transfers", test_ledger_transfers, setup, teardown, &g_tmpfs},
        {"ext4: db always", test_db_always, setup, teardown, &g_ext4},
        {"ext4: db everysec", test_db_everysec, setup, teardown, &g_ext4},
        {"ext4: ledger transfers", test_ledger_transfers, setup, teardown, &g_ext4},
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    unmount(&g_tmpfs);
    unmount(&g_ext4);
    return failed;
}
