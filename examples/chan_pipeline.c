/* Channels at work: a three-stage pipeline.
 *
 * A generator sends the numbers 1..N on `jobs`; four workers square them and
 * send the results on `results`; the main thread sums the results, using
 * sw_select with a timeout to print progress while it waits. Closing `jobs`
 * tells the workers to stop, exactly as `close(jobs)` does in Go.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#include "steward/chan.h"

enum { N = 100000, WORKERS = 4 };

static sw_chan *jobs, *results;

static void *generator(void *arg)
{
    (void)arg;
    for (int64_t i = 1; i <= N; i++)
        sw_chan_send(jobs, &i);
    sw_chan_close(jobs);
    return NULL;
}

static void *worker(void *arg)
{
    (void)arg;
    int64_t n;
    while (sw_chan_recv(jobs, &n) == SW_OK) {
        int64_t sq = n * n;
        sw_chan_send(results, &sq);
    }
    return NULL;
}

int main(void)
{
    jobs = sw_chan_new(sizeof(int64_t), 64);
    results = sw_chan_new(sizeof(int64_t), 64);
    if (!jobs || !results)
        return 1;
    pthread_t gen, workers[WORKERS];
    pthread_create(&gen, NULL, generator, NULL);
    for (int i = 0; i < WORKERS; i++)
        pthread_create(&workers[i], NULL, worker, NULL);

    printf("pipeline: 1 generator -> %d workers -> 1 collector, %d numbers\n", WORKERS, N);
    int64_t sum = 0, got = 0, r;
    sw_case cases[] = {{results, SW_RECV, &r, 0}};
    while (got < N) {
        int idx = sw_select(cases, 1, 1000000000); /* wake at least once a second */
        if (idx == SW_ETIMEDOUT) {
            printf("  still waiting, %lld results so far\n", (long long)got);
            continue;
        }
        sum += r;
        got++;
    }
    pthread_join(gen, NULL);
    for (int i = 0; i < WORKERS; i++)
        pthread_join(workers[i], NULL);

    int64_t want = (int64_t)N * (N + 1) * (2 * N + 1) / 6;
    printf("sum of squares 1..%d = %lld (expected %lld): %s\n", N, (long long)sum, (long long)want,
           sum == want ? "ok" : "WRONG");
    int64_t v;
    printf("receive on the closed, drained jobs channel: %s\n",
           sw_strerror(sw_chan_recv(jobs, &v)));
    sw_chan_free(jobs);
    sw_chan_free(results);
    return sum == want ? 0 : 1;
}
