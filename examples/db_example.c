/* The Go pattern's Db, in steward: Store and Fetch on a map that one owner
 * holds, reached only through messages.
 *
 * First the pattern's three people, then a missing key, then many threads
 * storing and fetching at once, each checking that every reply it gets is
 * its own (the usual Go version, with one shared reply channel, hands
 * callers each other's replies under exactly this load).
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "steward/db.h"

enum { THREADS = 16, OPS = 20000 };

static sw_db *db;

static void show(const char *key)
{
    char name[32];
    size_t n;
    int rc = sw_db_fetch(db, key, strlen(key), name, sizeof name, &n);
    if (rc == SW_OK)
        printf("  fetch %s -> %.*s\n", key, (int)n, name);
    else
        printf("  fetch %s -> %s\n", key, sw_strerror(rc));
}

struct worker {
    pthread_t thread;
    int id;
    long mine, wrong;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    char key[32], val[32], got[32];
    for (int i = 0; i < OPS; i++) {
        int kl = snprintf(key, sizeof key, "t%d-k%d", w->id, i % 100);
        int vl = snprintf(val, sizeof val, "t%d-v%d", w->id, i);
        sw_db_store(db, key, (size_t)kl, val, (size_t)vl);
        size_t n = 0;
        if (sw_db_fetch(db, key, (size_t)kl, got, sizeof got, &n) == SW_OK && n == (size_t)vl &&
            memcmp(got, val, n) == 0)
            w->mine++;
        else
            w->wrong++;
    }
    return NULL;
}

int main(void)
{
    if (sw_db_open(&db, NULL) != SW_OK)
        return 1;
    printf("Db: store three people, fetch them and a missing key\n");
    sw_db_store(db, "id-3383", 7, "John", 4);
    sw_db_store(db, "id-2218", 7, "Ralph", 5);
    sw_db_store(db, "id-7741", 7, "Amy", 3);
    show("id-3383");
    show("id-2218");
    show("id-7741");
    show("id-0000");

    printf("Db: %d threads storing and fetching at once, %d times each\n", THREADS, OPS);
    struct worker ws[THREADS];
    for (int i = 0; i < THREADS; i++) {
        ws[i] = (struct worker){.id = i};
        pthread_create(&ws[i].thread, NULL, worker_main, &ws[i]);
    }
    long mine = 0, wrong = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(ws[i].thread, NULL);
        mine += ws[i].mine;
        wrong += ws[i].wrong;
    }
    printf("  %ld replies checked: %ld were the caller's own, %ld were not\n", mine + wrong, mine,
           wrong);
    printf("  keys in the Db: %zu\n", sw_db_count(db));
    sw_db_close(db);
    return wrong == 0 ? 0 : 1;
}
